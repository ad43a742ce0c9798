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
    let mut jobs = index.jobs_of_run(shown)?;
    drop(index);
    refresh(&mut jobs);
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

/// Jobs recorded as still in Slurm's hands are asked of Slurm again (one `squeue`), so the
/// states are current even when no driver is watching them (it was killed, say). Without
/// a reachable Slurm the recorded states are shown.
fn refresh(jobs: &mut [exp_engine::index::JobRecord]) {
    use exp_engine::slurm::client::State;
    let live: Vec<u64> = jobs.iter().filter(|j| State::parse(&j.state).is_live()).map(|j| j.job).collect();
    if live.is_empty() {
        return;
    }
    let Ok(now) = exp_engine::slurm::Slurm::default().states(&live) else { return };
    for j in jobs.iter_mut() {
        if let Some(k) = now.get(&j.job) {
            j.state = k.state.as_str().to_string();
            j.elapsed.clone_from(&k.elapsed);
            j.reason.clone_from(&k.reason);
        }
    }
}
