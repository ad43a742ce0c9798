//! `exp status`: the recent runs recorded in a store.

use super::experiment::open_store;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(store: Option<PathBuf>, last: usize) -> anyhow::Result<ExitCode> {
    let path = store.unwrap_or_else(|| PathBuf::from(".exp"));
    if !path.join("index.sqlite").is_file() {
        anyhow::bail!("no store at `{}` (give --store DIR or set EXP_STORE)", path.display());
    }
    let store = open_store(&path)?;
    let runs = store.index().runs(last)?;
    if runs.is_empty() {
        println!("no runs recorded in {}", path.display());
    }
    for r in runs {
        let took = r.finished_at.map_or("running".to_string(), |f| format!("{}s", f - r.started_at));
        println!(
            "run {:>4}  {:<11} {:>3} ran {:>3} cached {:>3} failed  {:>6}  {}",
            r.id, r.status, r.ran, r.cached, r.failed, took, r.experiment
        );
    }
    Ok(ExitCode::SUCCESS)
}
