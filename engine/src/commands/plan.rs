//! `exp plan`: what would run, and why.

use super::experiment::{canonical, load, open, short};
use exp_engine::placement::{place, Machine};
use exp_engine::plan::{plan, record, Decision, Step};
use exp_engine::resolve::Resolved;
use exp_engine::run::Executor;
use exp_engine::store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(
    file: &Path,
    profile: Option<String>,
    against: Option<&Path>,
    store: Option<PathBuf>,
    executor: &Executor,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let Some((store, mut resolved)) = open(file, profile.clone(), store, color)? else { return Ok(ExitCode::FAILURE) };
    if matches!(executor, Executor::Local) {
        std::sync::Arc::make_mut(&mut resolved).on_this_machine();
    }
    let steps = make_plan(&resolved, &store, against, profile, color)?;
    print_plan(&resolved, &steps, &store, executor);
    Ok(ExitCode::SUCCESS)
}

/// Plans against the last run of this experiment, or against another file.
pub fn make_plan(
    resolved: &Resolved,
    store: &Store,
    against: Option<&Path>,
    profile: Option<String>,
    color: bool,
) -> anyhow::Result<Vec<Step>> {
    match against {
        Some(other) => {
            let Some(base) = load(other, profile, store, color)? else {
                anyhow::bail!("`{}` has errors", other.display())
            };
            Ok(plan(resolved, store, &|name| base.by_name(name).map(|i| record(&base, i))))
        }
        None => {
            let experiment = canonical(&resolved.file)?;
            let index = store.index();
            let lookup = |name: &str| index.definition(&experiment, name).ok().flatten();
            Ok(plan(resolved, store, &lookup))
        }
    }
}

pub fn print_plan(resolved: &Resolved, steps: &[Step], store: &Store, executor: &Executor) {
    // One line per node: buffered, as 100,000 `println!`s each lock and flush stdout.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_plan(&mut out, resolved, steps, store, executor)
        .and_then(|()| out.flush())
        .expect("printing the plan to stdout");
}

fn write_plan(
    out: &mut impl Write,
    resolved: &Resolved,
    steps: &[Step],
    store: &Store,
    executor: &Executor,
) -> std::io::Result<()> {
    let width = resolved.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0).min(40);
    let kind_width = resolved.nodes.iter().map(|n| n.kind.len()).max().unwrap_or(0);
    let machine = Machine::detect();
    writeln!(out, "plan of `{}` ({}), store {}", resolved.experiment, resolved.file.display(), store.root.display())?;
    match executor {
        Executor::Local => writeln!(out, "this machine: {}", machine.describe())?,
        Executor::Slurm { settings, .. } => writeln!(
            out,
            "executor: slurm, one job per node ({}; at most {} jobs at once)",
            settings.file.as_ref().map_or("default settings".to_string(), |f| format!("settings {}", f.display())),
            settings.max_jobs
        )?,
    }
    let (mut run, mut cached, mut blocked, mut on_gpu) = (0, 0, 0, 0);
    for step in steps {
        let n = &resolved.nodes[step.node];
        let (word, why) = match &step.decision {
            Decision::Cached => {
                cached += 1;
                ("cached ", String::new())
            }
            Decision::Run(reasons) => {
                run += 1;
                ("run    ", reasons.join("; "))
            }
            Decision::Blocked(problem) => {
                blocked += 1;
                ("blocked", problem.clone())
            }
        };
        // Where a node would run matters only for what is not cached.
        let placement = (step.decision != Decision::Cached).then(|| place(n, &machine));
        let device = match &placement {
            None => "",
            Some(p) if p.resources.gpus > 0 => "gpu",
            Some(_) => "cpu",
        };
        on_gpu += usize::from(device == "gpu");
        writeln!(
            out,
            "  {word} {:<width$}  {:<kind_width$}  {}  {device:<3}  {why}",
            n.name,
            n.kind,
            short(&n.identity)
        )?;
        if let (Executor::Slurm { settings, .. }, Some(_)) = (executor, &placement) {
            writeln!(
                out,
                "  {:7} {:<width$}  ↳ sbatch {}",
                "",
                "",
                exp_engine::slurm::script::options(n, settings).join(" ")
            )?;
            for line in exp_engine::megatron::preview(resolved, step.node, store) {
                writeln!(out, "  {:7} {:<width$}  ↳ {line}", "", "")?;
            }
            continue;
        }
        if let Some(p) = placement.filter(|p| p.resources.gpus > 0 || p.layout.is_some() || !p.unmet.is_empty()) {
            let lacks = if p.unmet.is_empty() { String::new() } else { format!("; here: {}", p.unmet.join(", ")) };
            writeln!(out, "  {:7} {:<width$}  ↳ {}{lacks}", "", "", p.describe())?;
        }
    }
    writeln!(out, "{run} to run, {cached} cached, {blocked} blocked")?;
    if on_gpu > 0 && matches!(executor, Executor::Local) {
        writeln!(
            out,
            "{on_gpu} of the nodes to compute need a GPU (one at a time per GPU); the rest run on CPU slots (-j)"
        )?;
    }
    Ok(())
}
