//! `exp run`: compute what the store does not hold.

use super::experiment::open;
use super::plan::{make_plan, print_plan};
use exp_engine::progress::Terminal;
use exp_engine::run::{human_bytes, run as execute, Options};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(
    file: &Path,
    profile: Option<String>,
    store: Option<PathBuf>,
    options: &Options,
    dry_run: bool,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, mut resolved)) = open(file, profile.clone(), store, color)? else { return Ok(ExitCode::FAILURE) };
    if matches!(options.executor, exp_engine::run::Executor::Local) {
        std::sync::Arc::make_mut(&mut resolved).on_this_machine();
    }
    let steps = make_plan(&resolved, &store, None, profile, color)?;
    if dry_run {
        print_plan(&resolved, &steps, &store, &options.executor);
        return Ok(ExitCode::SUCCESS);
    }
    let summary = execute(resolved.clone(), &steps, store.clone(), options, Arc::new(Terminal::new()))?;
    eprintln!(
        "run {} of `{}`: {} ran, {} cached, {} failed, {} skipped in {:.1}s; wrote {}",
        summary.run,
        resolved.experiment,
        summary.ran,
        summary.cached + summary.reused,
        summary.failed.len(),
        summary.skipped,
        summary.seconds,
        human_bytes(summary.bytes)
    );
    if let Some(c) = &summary.slurm {
        eprintln!(
            "  slurm: {} jobs submitted, {} found running and waited for; {} sbatch, {} squeue, {} sacct, {} scancel calls",
            c.submitted, c.reattached, c.sbatch, c.squeue, c.sacct, c.scancel
        );
    }
    for (name, message) in &summary.failed {
        // The first line: a Slurm failure's log excerpt was shown with the node's own line.
        eprintln!("  failed: {name}: {}", message.lines().next().unwrap_or(""));
    }
    if !summary.failed.is_empty() {
        eprintln!("  logs of failed nodes: {}", store.root.join("logs").join(summary.run.to_string()).display());
    }
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `exp run --check`: the stored nodes named (or all) computed again and compared.
pub fn check(
    file: &Path,
    names: &[String],
    profile: Option<String>,
    store: Option<PathBuf>,
    jobs: usize,
    color: bool,
) -> anyhow::Result<ExitCode> {
    use exp_engine::check::Verdict;
    let Some((store, mut resolved)) = open(file, profile, store, color)? else { return Ok(ExitCode::FAILURE) };
    std::sync::Arc::make_mut(&mut resolved).on_this_machine();
    let selected: Vec<usize> = if names.is_empty() {
        (0..resolved.nodes.len()).filter(|&i| store.contains(&resolved.nodes[i].identity)).collect()
    } else {
        let mut selected = Vec::new();
        for name in names {
            selected.push(resolved.named(name).map_err(|why| anyhow::anyhow!("`{name}`: {why}"))?);
        }
        selected.sort_unstable();
        selected.dedup();
        selected
    };
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    cancel_on_ctrl_c(cancel.clone());
    let terminal = Arc::new(Terminal::new());
    let events: Arc<dyn exp_engine::events::Events> = terminal;
    let verdicts = exp_engine::check::check(&resolved, &selected, &store, jobs, &cancel, events)?;
    let count = |f: fn(&Verdict) -> bool| verdicts.iter().filter(|(_, v)| f(v)).count();
    // Nodes not recomputed have no progress line of their own: say why here.
    for (i, v) in &verdicts {
        if matches!(v, Verdict::NotDeterministic(_) | Verdict::NotStored(_)) {
            eprintln!("- {}: {}", resolved.nodes[*i].name, exp_engine::check::describe(v));
        }
    }
    eprintln!(
        "checked {} node(s) of `{}`: {} the same, {} differ, {} failed, {} not deterministic, {} not stored",
        verdicts.len(),
        resolved.experiment,
        count(|v| matches!(v, Verdict::Same(_))),
        count(|v| matches!(v, Verdict::Differs { .. })),
        count(|v| matches!(v, Verdict::Failed(_))),
        count(|v| matches!(v, Verdict::NotDeterministic(_))),
        count(|v| matches!(v, Verdict::NotStored(_))),
    );
    Ok(if count(|v| matches!(v, Verdict::Cancelled)) > 0 {
        ExitCode::from(130)
    } else if count(Verdict::fails) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Sets `cancel` on Ctrl-C (a stage checks it between batches and stops).
fn cancel_on_ctrl_c(cancel: Arc<std::sync::atomic::AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
}
