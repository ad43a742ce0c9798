//! `exp report`: where an experiment's reports are, and the comparison's tables.

use super::experiment::open;
use exp_dsl::schema::Artifact;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(file: &Path, profile: Option<String>, store: Option<PathBuf>, color: bool) -> anyhow::Result<ExitCode> {
    let Some((store, resolved)) = open(file, profile.clone(), store, color)? else { return Ok(ExitCode::FAILURE) };
    // The kinds whose artifacts are reports a person reads say so by their output type.
    let is_report = |kind: &str| exp_stages::kind(kind).is_some_and(|k| k.schema().output == Artifact::Report);
    let reports: Vec<_> = resolved.nodes.iter().filter(|n| is_report(&n.kind)).collect();
    if reports.is_empty() {
        anyhow::bail!("`{}` defines no report (`report r = compare(eval_*, …)`)", file.display());
    }
    let mut missing = Vec::new();
    for node in reports {
        let artifact = store.artifact_dir(&node.identity);
        if !artifact.is_dir() {
            missing.push(node.name.clone());
            continue;
        }
        println!("{} ({}): {}", node.name, node.kind, artifact.display());
        for name in ["report.html", "report.md", "scores.csv", "averages.csv", "card.md", "card.html"] {
            if artifact.join(name).is_file() {
                println!("  {name}");
            }
        }
        if let Ok(entries) = std::fs::read_dir(artifact.join("figures")) {
            let mut figures: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(".png"))
                .collect();
            figures.sort();
            println!("  figures/: {}", figures.join(", "));
        }
        if let Ok(md) = std::fs::read_to_string(artifact.join("report.md")) {
            println!("\n{md}");
        }
    }
    if !missing.is_empty() {
        let profile = profile.map(|p| format!(" --profile {p}")).unwrap_or_default();
        eprintln!(
            "not computed yet: {}; run `exp run{profile} --only {} {}`",
            missing.join(", "),
            missing.join(","),
            file.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
