//! `exp status`: the recent runs recorded in a store, and the jobs of a Slurm run.

use super::experiment::existing_store;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(store: Option<PathBuf>, last: usize, run: Option<i64>) -> anyhow::Result<ExitCode> {
    let store = existing_store(store)?;
    let index = store.index();
    let runs = index.runs(last)?;
    if runs.is_empty() {
        println!("no runs recorded in {}", store.root.display());
    }
    for r in &runs {
        let took = r.finished_at.map_or("running".to_string(), |f| format!("{}s", f - r.started_at));
        println!(
            "run {:>4}  {:<11} {:>3} ran {:>3} cached {:>3} failed  {:>6}  {}",
            r.id, r.status, r.ran, r.cached, r.failed, took, r.experiment
        );
    }
    // The jobs of the asked run, or of the newest run that had any.
    let shown = match run {
        Some(r) => Some(r),
        None => runs.iter().map(|r| r.id).find(|&r| index.jobs_of_run(r).is_ok_and(|j| !j.is_empty())),
    };
    let Some(shown) = shown else { return Ok(ExitCode::SUCCESS) };
    let jobs = index.jobs_of_run(shown)?;
    if jobs.is_empty() {
        println!("run {shown} submitted no Slurm job");
        return Ok(ExitCode::SUCCESS);
    }
    let width = jobs.iter().map(|j| j.name.len()).max().unwrap_or(4).max(4);
    println!("\njobs of run {shown} (slurm):");
    println!("  {:<width$}  {:>8}  {:<13} {:>10}  why", "node", "job", "state", "elapsed");
    for j in &jobs {
        let how = if j.submitted { "" } else { " (found running, waited for)" };
        let why = if j.reason == "None" { "" } else { j.reason.as_str() };
        println!("  {:<width$}  {:>8}  {:<13} {:>10}  {why}{how}", j.name, j.job, j.state, j.elapsed);
    }
    Ok(ExitCode::SUCCESS)
}
