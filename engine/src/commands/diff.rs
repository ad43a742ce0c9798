//! `exp diff A B`: two experiment graphs compared by identity, definitions matched by name.

use super::experiment::{load, open_store, short, store_path};
use exp_engine::plan::{differences, record};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(
    a: &Path,
    b: &Path,
    profile: Option<String>,
    store: Option<PathBuf>,
    as_json: bool,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(&store_path(b, store))?;
    let (Some(ra), Some(rb)) = (load(a, profile.clone(), &store, color)?, load(b, profile, &store, color)?) else {
        return Ok(ExitCode::FAILURE);
    };
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for (i, n) in ra.nodes.iter().enumerate() {
        match rb.by_name(&n.name) {
            None => only_a.push(json!({ "name": n.name, "kind": n.kind, "identity": n.identity })),
            Some(j) if rb.nodes[j].identity == n.identity => unchanged.push(n.name.clone()),
            Some(j) => changed.push(json!({
                "name": n.name,
                "kind": rb.nodes[j].kind,
                "from": n.identity,
                "to": rb.nodes[j].identity,
                "reasons": differences(&record(&ra, i), &record(&rb, j)),
            })),
        }
    }
    for n in rb.nodes.iter().filter(|n| ra.by_name(&n.name).is_none()) {
        only_b.push(json!({ "name": n.name, "kind": n.kind, "identity": n.identity }));
    }
    let would_run: Vec<String> =
        rb.nodes.iter().filter(|n| !store.contains(&n.identity)).map(|n| n.name.clone()).collect();
    if as_json {
        let out = json!({
            "a": a.display().to_string(), "b": b.display().to_string(),
            "only_in_a": only_a, "only_in_b": only_b, "changed": changed,
            "unchanged": unchanged, "would_run": would_run,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("diff `{}` → `{}`", a.display(), b.display());
    for n in &only_a {
        println!(
            "  - {} ({}) only in {}",
            n["name"].as_str().unwrap_or(""),
            n["kind"].as_str().unwrap_or(""),
            a.display()
        );
    }
    for n in &only_b {
        println!(
            "  + {} ({}) only in {}",
            n["name"].as_str().unwrap_or(""),
            n["kind"].as_str().unwrap_or(""),
            b.display()
        );
    }
    for c in &changed {
        let from = c["from"].as_str().unwrap_or("");
        let to = c["to"].as_str().unwrap_or("");
        println!(
            "  ~ {} ({}) {} → {}",
            c["name"].as_str().unwrap_or(""),
            c["kind"].as_str().unwrap_or(""),
            short(from),
            short(to)
        );
        let reasons: Vec<&str> =
            c["reasons"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
        for r in reasons {
            println!("      {r}");
        }
    }
    println!(
        "{} unchanged, {} changed, {} only in A, {} only in B",
        unchanged.len(),
        changed.len(),
        only_a.len(),
        only_b.len()
    );
    println!(
        "running {} would compute {} node(s){}",
        b.display(),
        would_run.len(),
        if would_run.is_empty() { String::new() } else { format!(": {}", would_run.join(", ")) }
    );
    Ok(ExitCode::SUCCESS)
}
