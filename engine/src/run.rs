//! Running a plan: a tokio scheduler starts every node whose inputs are ready, side by
//! side while their CPU needs fit in `-j` slots and their GPU needs in the machine's GPUs
//! (`placement.rs`). Each node runs on a blocking thread: it takes the node's lock, checks
//! the store again (another run may have just made it), runs the stage into a temporary
//! folder and publishes it. A failing node stops its dependents (and, without
//! `--keep-going`, the launch of anything new); Ctrl-C cancels running stages, whose
//! temporary folders are removed, so the store stays consistent.

use crate::placement::Machine;
use crate::plan::{record, Decision, Step};
use crate::progress::Progress;
use crate::resolve::Resolved;
use crate::store::{Manifest, Store, ARTIFACT, LOG};
use exp_stages::{Context, InputArtifact, Reporter, Resources, StageError};
use indicatif::ProgressBar;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Options {
    /// CPU slots shared by the running nodes.
    pub jobs: usize,
    /// Go on with independent nodes after a failure.
    pub keep_going: bool,
    /// Only these definitions (and what they need), when not empty.
    pub only: Vec<String>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub run: i64,
    pub ran: usize,
    /// Already in the store when planned.
    pub cached: usize,
    /// Made by another run while this one waited for the lock.
    pub reused: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub interrupted: bool,
}

enum Outcome {
    Ran(Manifest),
    Reused,
    Failed(String),
    Cancelled,
}

/// Runs the nodes of `steps` that must run.
pub fn run(resolved: Arc<Resolved>, steps: &[Step], store: Arc<Store>, options: &Options) -> anyhow::Result<Summary> {
    let needed = select(&resolved, &options.only)?;
    let wanted: Vec<bool> = steps.iter().zip(&needed).map(|(s, n)| *n && s.decision != Decision::Cached).collect();
    let experiment = resolved.file.display().to_string();
    let run_id = store.index().start_run(&experiment)?;
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(options.jobs.max(1))
        .enable_all()
        .build()?;
    let mut summary = runtime.block_on(schedule(resolved.clone(), steps, wanted, store.clone(), options, run_id))?;
    summary.run = run_id;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.cached = steps.iter().zip(&needed).filter(|(s, n)| **n && s.decision == Decision::Cached).count();
    // Remember every definition whose artifact now exists: the next plan compares with it.
    let records: Vec<_> = (0..resolved.nodes.len())
        .filter(|&i| store.contains(&resolved.nodes[i].identity))
        .map(|i| record(&resolved, i))
        .collect();
    let index = store.index();
    index.put_definitions(&experiment, run_id, &records)?;
    let status = if summary.interrupted {
        "interrupted"
    } else if summary.failed.is_empty() {
        "ok"
    } else {
        "failed"
    };
    index.finish_run(run_id, status, summary.ran, summary.cached + summary.reused, summary.failed.len())?;
    Ok(summary)
}

/// The nodes this run is about: all of them, or with `--only` the named definitions and
/// the inputs they need.
fn select(resolved: &Resolved, only: &[String]) -> anyhow::Result<Vec<bool>> {
    if only.is_empty() {
        return Ok(vec![true; resolved.nodes.len()]);
    }
    let mut needed = vec![false; resolved.nodes.len()];
    for name in only {
        let Some(i) = resolved.by_name(name) else {
            let hint = exp_dsl::suggest::closest(name, resolved.nodes.iter().map(|n| n.name.as_str()));
            anyhow::bail!(
                "`--only {name}`: no such definition{}",
                hint.map(|h| format!("; did you mean `{h}`?")).unwrap_or_default()
            );
        };
        needed[i] = true;
    }
    for i in (0..resolved.nodes.len()).rev() {
        if needed[i] {
            for inp in &resolved.nodes[i].inputs {
                needed[inp.node] = true;
            }
        }
    }
    Ok(needed)
}

async fn schedule(
    resolved: Arc<Resolved>,
    steps: &[Step],
    mut wanted: Vec<bool>,
    store: Arc<Store>,
    options: &Options,
    run_id: i64,
) -> anyhow::Result<Summary> {
    let n = resolved.nodes.len();
    let jobs = options.jobs.max(1);
    let progress = Arc::new(Progress::new(wanted.iter().filter(|w| **w).count() as u64));
    let cancel = Arc::new(AtomicBool::new(false));
    // CPU slots (-j) and GPU slots: one GPU node per GPU, and one at a time where none is
    // seen (it fails there with its own message rather than waiting forever).
    let gpus = Machine::detect().gpus.max(1);
    let need = |i: usize| -> Slots {
        let r = crate::stages::implementation(&resolved.nodes[i].kind)
            .map_or_else(Resources::default, |s| s.resources(&resolved.nodes[i].params));
        Slots { cpus: r.cpus.clamp(1, jobs), gpus: r.gpus.min(gpus) }
    };
    // Ready nodes start longest chain first, so the long CPT → SFT → evaluation branches
    // begin as soon as their data exists rather than after every short node.
    let height = heights(&resolved);
    let mut holding: BTreeMap<usize, Slots> = BTreeMap::new();
    let mut pending: Vec<usize> =
        (0..n).map(|i| resolved.nodes[i].inputs.iter().filter(|inp| wanted[inp.node]).count()).collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| wanted[i] && pending[i] == 0).collect();
    let mut free = Slots { cpus: jobs, gpus };
    let mut stopping = false;
    let mut summary = Summary::default();
    let mut tasks = tokio::task::JoinSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        while !stopping {
            let Some(&i) = ready.iter().filter(|&&i| need(i).fit(free)).max_by_key(|&&i| (height[i], usize::MAX - i))
            else {
                break;
            };
            ready.remove(&i);
            if let Decision::Blocked(problem) = &steps[i].decision {
                let name = resolved.nodes[i].name.clone();
                progress.println(&format!("✗ {name}: cannot run: {problem}"));
                summary.failed.push((name, problem.clone()));
                summary.skipped += skip_descendants(&resolved, i, &mut wanted, &mut ready);
                stopping |= !options.keep_going;
                continue;
            }
            let taken = need(i).within(free);
            free = free.minus(taken);
            holding.insert(i, taken);
            let bar = progress.node(&resolved.nodes[i].name);
            let (resolved, store, cancel) = (resolved.clone(), store.clone(), cancel.clone());
            tasks.spawn_blocking(move || {
                let started = Instant::now();
                let outcome = execute(&resolved, i, &store, &cancel, &bar, run_id, taken.cpus)
                    .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
                (i, outcome, started.elapsed().as_secs_f64(), bar)
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            _ = &mut ctrl_c, if !cancel.load(Ordering::Relaxed) => {
                cancel.store(true, Ordering::Relaxed);
                stopping = true;
                summary.interrupted = true;
                progress.println("interrupted: cancelling the running stages…");
            }
            Some(joined) = tasks.join_next() => {
                let (i, outcome, seconds, bar) = joined?;
                free = free.plus(holding.remove(&i).expect("a finished node held its slots"));
                let node = &resolved.nodes[i];
                let index = store.index();
                match outcome {
                    Outcome::Ran(manifest) => {
                        let bytes: u64 = manifest.outputs.iter().map(|o| o.bytes).sum();
                        summary.ran += 1;
                        summary.bytes += bytes;
                        let inputs: Vec<(String, String)> =
                            manifest.inputs.iter().map(|i| (i.role.clone(), i.identity.clone())).collect();
                        let metrics: Vec<(String, Option<u64>, f64)> =
                            manifest.metrics.iter().map(|(k, v)| (k.clone(), None, *v)).collect();
                        index.put_node(&node.identity, &node.kind, node.version, &node.name,
                            &serde_json::to_string(&node.params)?, &inputs, bytes, seconds, &metrics)?;
                        index.put_run_node(run_id, &node.name, &node.identity, "ran", seconds, None)?;
                        progress.finished(&bar, &format!("✓ {} ({}, {:.1}s, {})", node.name, node.kind, seconds, human_bytes(bytes)));
                        release(&resolved, i, &wanted, &mut pending, &mut ready);
                    }
                    Outcome::Reused => {
                        summary.reused += 1;
                        index.put_run_node(run_id, &node.name, &node.identity, "reused", seconds, None)?;
                        progress.finished(&bar, &format!("= {} (made meanwhile by another run)", node.name));
                        release(&resolved, i, &wanted, &mut pending, &mut ready);
                    }
                    Outcome::Failed(message) => {
                        index.put_run_node(run_id, &node.name, &node.identity, "failed", seconds, Some(&message))?;
                        progress.finished(&bar, &format!("✗ {} ({}): {message}", node.name, node.at));
                        summary.failed.push((node.name.clone(), message));
                        summary.skipped += skip_descendants(&resolved, i, &mut wanted, &mut ready);
                        stopping |= !options.keep_going;
                    }
                    Outcome::Cancelled => {
                        index.put_run_node(run_id, &node.name, &node.identity, "cancelled", seconds, None)?;
                        progress.finished(&bar, &format!("… {} cancelled", node.name));
                    }
                }
            }
        }
    }
    progress.done();
    Ok(summary)
}

/// Slots of the local machine a node holds while it runs.
#[derive(Clone, Copy, Debug)]
struct Slots {
    cpus: usize,
    gpus: usize,
}

impl Slots {
    /// A node starts once one CPU slot and all its GPUs are free: a multi-threaded stage
    /// asking more CPUs than are free takes what is free (its threads share the cores)
    /// rather than idle the machine until every slot is.
    fn fit(self, free: Slots) -> bool {
        free.cpus >= 1 && self.gpus <= free.gpus
    }
    fn within(self, free: Slots) -> Slots {
        Slots { cpus: self.cpus.min(free.cpus), gpus: self.gpus }
    }
    fn minus(self, used: Slots) -> Slots {
        Slots { cpus: self.cpus - used.cpus, gpus: self.gpus - used.gpus }
    }
    fn plus(self, freed: Slots) -> Slots {
        Slots { cpus: self.cpus + freed.cpus, gpus: self.gpus + freed.gpus }
    }
}

/// The longest chain of nodes from each node to the end of the graph (itself included).
fn heights(resolved: &Resolved) -> Vec<usize> {
    let mut height = vec![1; resolved.nodes.len()];
    // Inputs come before their users, so walking backwards sees every user first.
    for i in (0..resolved.nodes.len()).rev() {
        for inp in &resolved.nodes[i].inputs {
            height[inp.node] = height[inp.node].max(height[i] + 1);
        }
    }
    height
}

/// After node `i` is available, its dependents wait for one input less.
fn release(resolved: &Resolved, i: usize, wanted: &[bool], pending: &mut [usize], ready: &mut BTreeSet<usize>) {
    for (j, node) in resolved.nodes.iter().enumerate().skip(i + 1) {
        if wanted[j] {
            let uses = node.inputs.iter().filter(|inp| inp.node == i).count();
            if uses > 0 {
                pending[j] -= uses;
                if pending[j] == 0 {
                    ready.insert(j);
                }
            }
        }
    }
}

/// Marks everything downstream of a failed node as not to run; returns how many.
fn skip_descendants(resolved: &Resolved, i: usize, wanted: &mut [bool], ready: &mut BTreeSet<usize>) -> usize {
    let mut skipped = 0;
    for j in resolved.descendants(i) {
        if wanted[j] {
            wanted[j] = false;
            ready.remove(&j);
            skipped += 1;
        }
    }
    skipped
}

/// Computes one node into the store.
fn execute(
    resolved: &Resolved,
    i: usize,
    store: &Store,
    cancel: &AtomicBool,
    bar: &ProgressBar,
    run_id: i64,
    threads: usize,
) -> anyhow::Result<Outcome> {
    let node = &resolved.nodes[i];
    let stage = crate::stages::implementation(&node.kind)
        .ok_or_else(|| anyhow::anyhow!("stage `{}` has no implementation yet", node.kind))?;
    bar.set_message("waiting for its lock");
    let _lock = store.lock(&node.identity)?;
    if store.contains(&node.identity) {
        return Ok(Outcome::Reused);
    }
    let temporary = store.temporary(&node.identity)?;
    let reporter = NodeReporter {
        bar: bar.clone(),
        log: Mutex::new(std::fs::File::create(temporary.join(LOG))?),
        metrics: Mutex::new(BTreeMap::new()),
    };
    let inputs: Vec<InputArtifact> = node
        .inputs
        .iter()
        .map(|inp| {
            let source = &resolved.nodes[inp.node];
            InputArtifact {
                role: inp.role.clone(),
                name: source.name.clone(),
                dir: store.artifact_dir(&source.identity),
            }
        })
        .collect();
    let out = temporary.join(ARTIFACT);
    let cache = store.root.join("cache").join(&node.kind);
    std::fs::create_dir_all(&cache)?;
    let ctx = Context {
        name: &node.name,
        params: &node.params,
        inputs: &inputs,
        out: &out,
        root: &resolved.root,
        cache: &cache,
        reporter: &reporter,
        cancel,
        threads,
    };
    bar.set_message("running");
    let started_at = crate::fingerprint::now_ns() / 1_000_000_000;
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| stage.run(&ctx)));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(StageError::Cancelled)) => {
            std::fs::remove_dir_all(&temporary).ok();
            return Ok(Outcome::Cancelled);
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!("the stage panicked: {}", panic_message(&panic))),
    };
    if let Some(message) = failure {
        reporter.log(&format!("failed: {message}"));
        keep_failed_log(store, run_id, &node.name, &temporary);
        std::fs::remove_dir_all(&temporary).ok();
        return Ok(Outcome::Failed(message));
    }
    let metrics = reporter.metrics.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let manifest = Manifest {
        identity: node.identity.clone(),
        encoding: crate::identity::ENCODING.to_string(),
        kind: node.kind.clone(),
        version: node.version,
        name: node.name.clone(),
        experiment: resolved.file.display().to_string(),
        params: node.params.clone(),
        inputs: resolved.input_ids(i),
        files: node.files.clone(),
        outputs: Vec::new(),
        metrics,
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        exp_version: crate::VERSION.to_string(),
    };
    Ok(Outcome::Ran(store.publish(&temporary, manifest)?))
}

/// Keeps a failed node's log under `logs/<run>/` (its temporary folder is removed).
fn keep_failed_log(store: &Store, run_id: i64, name: &str, temporary: &std::path::Path) {
    let dir: PathBuf = store.root.join("logs").join(run_id.to_string());
    if std::fs::create_dir_all(&dir).is_ok() {
        std::fs::copy(temporary.join(LOG), dir.join(format!("{name}.log"))).ok();
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

struct NodeReporter {
    bar: ProgressBar,
    log: Mutex<std::fs::File>,
    /// The last value of each metric (per-step series arrive with the trainer).
    metrics: Mutex<BTreeMap<String, f64>>,
}

impl Reporter for NodeReporter {
    fn progress(&self, done: u64, total: Option<u64>, unit: &str) {
        self.bar.set_message(match total {
            Some(t) => format!("{done}/{t} {unit}"),
            None => format!("{done} {unit}"),
        });
    }

    fn metric(&self, name: &str, _step: Option<u64>, value: f64) {
        // The store keeps numbers: an undefined value (NaN, infinite) is logged instead.
        if !value.is_finite() {
            self.log(&format!("metric {name} is {value}: not stored"));
            return;
        }
        if let Ok(mut m) = self.metrics.lock() {
            m.insert(name.to_string(), value);
        }
    }

    fn log(&self, line: &str) {
        if let Ok(mut f) = self.log.lock() {
            writeln!(f, "{line}").ok();
        }
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
