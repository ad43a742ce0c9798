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
