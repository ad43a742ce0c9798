//! The compute-node side: `exp job SPEC` (hidden), what every job script runs. It computes
//! exactly one node from the shared store through the local executor's own code path
//! ([`crate::run::execute`]: inputs read from the store, output written under `tmp/`,
//! published by rename), after checking that every input is published: Slurm treats a
//! dependency on a job it has forgotten as met, so `afterok` alone cannot be trusted.
//! The job prints the stage's log lines (its output file is the node's log) and never
//! touches the index; the driver records what the job published.

use crate::events::{Event, Events};
use crate::resolve::{Input, Node, Resolved};
use crate::run::{execute, Outcome};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Exit codes the driver reads in a job's state.
pub const INPUT_MISSING: u8 = 3;
pub const CLAIMED_ELSEWHERE: u8 = 4;

/// The node a job computes, with its inputs (first, re-indexed), as the driver resolved
/// them: the job does not re-read the experiment, so it computes the identity the driver
/// planned.
#[derive(Debug, Serialize, Deserialize)]
pub struct Spec {
    pub run: i64,
    pub experiment: String,
    pub file: PathBuf,
    pub root: PathBuf,
    /// The inputs, then the node.
    pub nodes: Vec<Node>,
}

impl Spec {
    pub fn of(resolved: &Resolved, i: usize, run: i64) -> Spec {
        let node = &resolved.nodes[i];
        let mut nodes: Vec<Node> = Vec::new();
        let mut inputs = Vec::new();
        for inp in &node.inputs {
            let at = match nodes.iter().position(|n| n.identity == resolved.nodes[inp.node].identity) {
                Some(at) => at,
                None => {
                    let mut source = resolved.nodes[inp.node].clone();
                    source.inputs.clear(); // only its artifact is read
                    nodes.push(source);
                    nodes.len() - 1
                }
            };
            inputs.push(Input { role: inp.role.clone(), node: at });
        }
        nodes.push(Node { inputs, ..node.clone() });
        Spec {
            run,
            experiment: resolved.experiment.clone(),
            file: resolved.file.clone(),
            root: resolved.root.clone(),
            nodes,
        }
    }

    fn into_resolved(self) -> Resolved {
        Resolved { experiment: self.experiment, file: self.file, root: self.root, nodes: self.nodes }
    }
}

/// `exp job`: computes the node of `spec` into the store at `store`.
pub fn run(store: &Path, spec: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read(spec).map_err(|e| anyhow::anyhow!("cannot read the job's spec `{}`: {e}", spec.display()))?;
    let spec: Spec = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("the job's spec `{}` does not parse: {e}", spec.display()))?;
    let run_id = spec.run;
    let resolved = spec.into_resolved();
    let i = resolved.nodes.len() - 1;
    let node = &resolved.nodes[i];
    let store = Store::open_files(store)?;
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    println!("exp job: {} ({}) on {host}, identity {}", node.name, node.kind, node.identity);
    if store.contains(&node.identity) {
        println!("already in the store: nothing to compute");
        return Ok(ExitCode::SUCCESS);
    }
    // Two jobs of one node can only exist if two drivers raced on a stale claim; the
    // claim names the one that computes it.
    let me: Option<u64> = std::env::var("SLURM_JOB_ID").ok().and_then(|j| j.parse().ok());
    if let (Some(me), Some(holder)) = (me, super::claim::holder(&store.root, &node.identity)) {
        if holder.job.is_some_and(|j| j != me) {
            eprintln!("job {} holds the claim on {}: this job computes nothing", holder.job.unwrap_or(0), node.name);
            return Ok(ExitCode::from(CLAIMED_ELSEWHERE));
        }
    }
    let missing: Vec<String> = node
        .inputs
        .iter()
        .map(|inp| &resolved.nodes[inp.node])
        .filter(|source| !store.contains(&source.identity))
        .map(|source| format!("`{}` ({})", source.name, &source.identity[..12.min(source.identity.len())]))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "exp job: input {} of `{}` is not published in the store `{}`: the job it waited for did not \
             complete it (Slurm counts a dependency on a job it has forgotten as met); nothing computed",
            missing.join(", "),
            node.name,
            store.root.display()
        );
        return Ok(ExitCode::from(INPUT_MISSING));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    on_termination(cancel.clone());
    let threads =
        std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|c| c.parse().ok()).unwrap_or_else(exp_stages::cores);
    let printer = Arc::new(Printer { last: Mutex::new(None) });
    let outcome = execute(&resolved, i, &store, &cancel, printer, run_id, threads, false)?;
    Ok(match outcome {
        Outcome::Ran(manifest) => {
            println!("published {} in {:.1}s", node.identity, manifest.seconds);
            ExitCode::SUCCESS
        }
        Outcome::Reused => {
            println!("made meanwhile by another job");
            ExitCode::SUCCESS
        }
        // The stage's log (printed above) ends with the failure.
        Outcome::Failed(_) => ExitCode::FAILURE,
        Outcome::Cancelled => {
            eprintln!("cancelled: nothing published");
            ExitCode::from(143)
        }
    })
}

/// `scancel` and a time limit send SIGTERM first: cancel the stage so it removes its
/// temporary folder, before Slurm's SIGKILL.
fn on_termination(cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("exp job: terminated by a signal; cancelling the stage");
            cancel.store(true, Ordering::Relaxed);
        });
    });
}

/// Prints what the stage reports: its log lines as they come, its progress now and then.
struct Printer {
    last: Mutex<Option<Instant>>,
}

impl Events for Printer {
    fn event(&self, event: Event) {
        match event {
            Event::Log { line, .. } => println!("{line}"),
            Event::Progress { done, total, unit, .. } => {
                let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let finished = total.is_some_and(|t| t == done);
                if finished || last.is_none_or(|l| l.elapsed().as_secs() >= 30) {
                    *last = Some(Instant::now());
                    match total {
                        Some(t) => println!("progress: {done}/{t} {unit}"),
                        None => println!("progress: {done} {unit}"),
                    }
                }
            }
            Event::NodeRunning { .. } => println!("running"),
            _ => {}
        }
    }
}
