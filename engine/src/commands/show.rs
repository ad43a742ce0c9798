//! `exp show`: the lowered graph (`--lowered`), the nodes and their state, or one node.

use super::experiment::{open, short};
use crate::args::GraphFormat;
use crate::output;
use anyhow::Context;
use exp_dsl::Options;
use exp_stages::artifacts;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, profile: Option<String>, format: GraphFormat, color: bool) -> anyhow::Result<ExitCode> {
    let catalog = exp_stages::catalog();
    let checked = exp_dsl::check_file(file, &catalog, &Options { profile, all_profiles: false });
    output::print_diagnostics(&checked, color);
    let Some(graph) = &checked.graph else {
        eprintln!("{}: failed ({})", file.display(), output::summary(&checked));
        return Ok(ExitCode::FAILURE);
    };
    let text = match format {
        GraphFormat::Yaml => serde_yaml::to_string(graph).context("writing YAML")?,
        GraphFormat::Json => serde_json::to_string_pretty(graph).context("writing JSON")? + "\n",
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `exp show FILE`: every node and whether the store holds it.
pub fn nodes(
    file: &Path,
    profile: Option<String>,
    store: Option<std::path::PathBuf>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, resolved)) = open(file, profile, store, color)? else { return Ok(ExitCode::FAILURE) };
    for n in &resolved.nodes {
        let state = if store.contains(&n.identity) { "stored " } else { "missing" };
        println!("{state} {:<28} {:<14} {}  {}", n.name, n.kind, short(&n.identity), n.at);
    }
    Ok(ExitCode::SUCCESS)
}

/// `exp show FILE NODE`: one node's manifest, lineage and metrics.
pub fn node(
    file: &Path,
    name: &str,
    profile: Option<String>,
    store: Option<std::path::PathBuf>,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, resolved)) = open(file, profile, store, color)? else { return Ok(ExitCode::FAILURE) };
    let i = find(&resolved, name)?;
    let n = &resolved.nodes[i];
    println!("{} ({} v{}, `{}` at {})", n.name, n.kind, n.version, n.def, n.at);
    println!("identity {}", n.identity);
    println!("inputs:");
    for inp in &n.inputs {
        let up = &resolved.nodes[inp.node];
        println!("  {:<10} {} {}", inp.role, short(&up.identity), up.name);
    }
    print_files(&resolved.root, &n.file_paths, &n.files);
    println!("parameters:\n{}", indent(&serde_yaml::to_string(&n.params)?));
    for j in store.index().jobs_of(&n.identity)? {
        let by = if j.submitted { "submitted by" } else { "waited for by" };
        let elapsed = if j.elapsed.is_empty() { String::new() } else { format!(", {} elapsed", j.elapsed) };
        println!(
            "slurm job {} ({by} run {}): {}{elapsed}; script {}, log {}",
            j.job, j.run, j.state, j.script, j.output
        );
    }
    if !store.contains(&n.identity) {
        println!("not in the store: `exp run` would compute it");
        return Ok(ExitCode::SUCCESS);
    }
    let manifest = store.manifest(&n.identity)?;
    println!(
        "stored at {} (made by `{}` in {:.2}s on {}, exp {})",
        store.object_dir(&n.identity).display(),
        manifest.name,
        manifest.seconds,
        manifest.host,
        manifest.exp_version
    );
    println!("outputs:");
    for o in &manifest.outputs {
        println!("  {:<24} {:>10}  {}", o.path, exp_engine::run::human_bytes(o.bytes), short(&o.hash));
    }
    let artifact = store.artifact_dir(&n.identity);
    if artifact.join(artifacts::COMPOSITION).is_file() {
        print_composition(&artifacts::read(&artifact)?);
    }
    let index = store.index();
    let metrics = index.metrics(&n.identity)?;
    if !metrics.is_empty() {
        println!("metrics:");
        for (name, step, value) in metrics {
            println!("  {name}{} = {value}", step.map(|s| format!("[{s}]")).unwrap_or_default());
        }
    }
    let users = index.users(&n.identity)?;
    if !users.is_empty() {
        println!("used by (stored):");
        for (identity, role, name) in users {
            println!("  {} {name} (as `{role}`)", short(&identity));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn find(resolved: &exp_engine::resolve::Resolved, name: &str) -> anyhow::Result<usize> {
    resolved.by_name(name).ok_or_else(|| {
        let hint = exp_dsl::suggest::closest(name, resolved.nodes.iter().map(|n| n.name.as_str()));
        anyhow::anyhow!(
            "no definition `{name}` in `{}`{}",
            resolved.experiment,
            hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default()
        )
    })
}

/// The files a node reads, by folder: a count and total size per folder (an evaluation
/// reads dozens), the file and its hash where a folder gives one.
fn print_files(root: &Path, paths: &[String], files: &[exp_engine::identity::FileId]) {
    if paths.is_empty() {
        return;
    }
    let mut folders: std::collections::BTreeMap<String, Vec<(&str, &str, u64)>> = Default::default();
    let mut total = 0;
    for (path, f) in paths.iter().zip(files) {
        let p = Path::new(path);
        let folder = p.parent().map_or_else(String::new, |d| d.display().to_string());
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(path);
        let bytes = std::fs::metadata(root.join(p)).map_or(0, |m| m.len());
        total += bytes;
        folders.entry(folder).or_default().push((name, &f.hash, bytes));
    }
    let count = |n: usize| if n == 1 { "1 file".to_string() } else { format!("{n} files") };
    println!("files read: {}, {}", count(paths.len()), exp_engine::run::human_bytes(total));
    for (folder, entries) in &folders {
        let bytes: u64 = entries.iter().map(|e| e.2).sum();
        let shown = if folder.is_empty() { "." } else { folder };
        match entries.as_slice() {
            [(name, hash, _)] => println!("  {shown}/{name}  {}  {}", exp_engine::run::human_bytes(bytes), short(hash)),
            _ => println!("  {shown}/  {}, {}", count(entries.len()), exp_engine::run::human_bytes(bytes)),
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// A mixture's composition as tables: by language, by content type, by member.
fn print_composition(c: &artifacts::Composition) {
    let total = &c.total;
    // Tokens when the mixture had a tokenizer, characters otherwise.
    let by_tokens = total.tokens.is_some();
    let measure = if by_tokens { "tokens" } else { "characters" };
    let of = |tokens: Option<u64>, characters: u64| if by_tokens { tokens.unwrap_or(0) } else { characters };
    let all = of(total.tokens, total.characters).max(1) as f64;
    for (title, groups) in [("language", &total.by_language), ("content type", &total.by_content)] {
        println!("composition by {title} ({measure}):");
        for (name, g) in groups {
            let n = of(g.tokens, g.characters);
            println!("  {name:<26} {n:>12} {:>6.1}%  {:>8} docs", 100.0 * n as f64 / all, g.documents);
        }
    }
    println!("members ({measure}):");
    for m in &c.members {
        let n = of(m.written.tokens, m.written.characters);
        println!(
            "  {:<26} {n:>12} {:>6.1}%  {:>8} docs  weight {:.3}",
            m.name,
            100.0 * n as f64 / all,
            m.written.documents,
            if m.weight.is_finite() { m.weight } else { 0.0 }
        );
    }
    println!("  {:<26} {:>12}", "total", of(total.tokens, total.characters));
}
