//! `--executor` and `--settings`: the executor a `run` or `plan` uses.

use crate::args::{ExecutorArgs, ExecutorKind};
use exp_engine::run::Executor;
use exp_engine::slurm::{Settings, Slurm};
use std::path::Path;
use std::sync::Arc;

/// The Slurm settings for `experiment`, their diagnostics printed if they have errors
/// (`Ok(None)`).
pub fn settings(explicit: Option<&Path>, experiment: &Path, color: bool) -> anyhow::Result<Option<Settings>> {
    let kinds: Vec<&str> = exp_stages::catalog().kinds.iter().map(|k| k.name).collect();
    match Settings::load(explicit, experiment, &kinds) {
        Ok(s) => Ok(Some(s)),
        Err(problems) => {
            eprint!("{}", problems.render(color));
            let n = problems.diagnostics.len();
            eprintln!("{}: failed ({n} error{})", problems.sources.get(0).name, if n == 1 { "" } else { "s" });
            Ok(None)
        }
    }
}

/// The executor to run with; for Slurm, with its settings checked and the controller
/// reached. `Ok(None)` when the settings have errors (printed).
pub fn executor(
    args: &ExecutorArgs,
    experiment: &Path,
    connect: bool,
    color: bool,
) -> anyhow::Result<Option<Executor>> {
    match args.executor {
        ExecutorKind::Local => {
            if let Some(file) = &args.settings {
                anyhow::bail!("--settings `{}` is for the Slurm executor: add --executor slurm", file.display());
            }
            Ok(Some(Executor::Local))
        }
        ExecutorKind::Slurm => {
            let Some(settings) = settings(args.settings.as_deref(), experiment, color)? else { return Ok(None) };
            let client = if connect { Slurm::connect()? } else { Slurm::default() };
            Ok(Some(Executor::Slurm { settings: Box::new(settings), client: Arc::new(client) }))
        }
    }
}
