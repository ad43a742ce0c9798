//! `exp status`: the recent runs recorded in a store.

use super::experiment::existing_store;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(store: Option<PathBuf>, last: usize) -> anyhow::Result<ExitCode> {
    let store = existing_store(store)?;
    let runs = store.index().runs(last)?;
    if runs.is_empty() {
        println!("no runs recorded in {}", store.root.display());
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
