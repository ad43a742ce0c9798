//! Running a plan: a tokio scheduler starts every node whose inputs are ready, side by
//! side while their CPU needs fit in `-j` slots and their GPU needs in the machine's GPUs
//! (`placement.rs`). Each node runs on a blocking thread: it takes the node's lock, checks
//! the store again (another run may have just made it), runs the stage into a temporary
//! folder and publishes it. A failing node stops its dependents (and, without
//! `--keep-going`, the launch of anything new); Ctrl-C cancels running stages, whose
//! temporary folders are removed, so the store stays consistent. The scheduler prints
//! nothing: it reports through [`Events`] (`events.rs`), which the command line renders.

use crate::events::{Event, Events, Finished};
use crate::placement::Machine;
use crate::plan::{record, Decision, Step};
use crate::resolve::Resolved;
use crate::store::{Manifest, Store, ARTIFACT, LOG};
use exp_stages::{Context, InputArtifact, Reporter, Resources, StageError};
use std::cmp::Reverse;
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
    /// Where the nodes are computed.
    pub executor: Executor,
    /// How long nodes may run (`--time-limit`; local executor).
    pub time_limits: Vec<crate::limits::TimeLimit>,
}

/// How long a node stopped at its time limit has to return before it is abandoned (its
/// thread left to the end of the process, its result never published).
const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A node running on the local executor.
struct Running {
    /// Its own cancel flag (Ctrl-C sets every node's; a time limit, its own).
    cancel: Arc<AtomicBool>,
    started: Instant,
    /// When its time limit ends, and the limit as given.
    deadline: Option<(Instant, crate::limits::TimeLimit)>,
    /// When it was told to stop at its limit: abandoned `GRACE` later.
    stopped: Option<Instant>,
}

impl Running {
    /// The message of a node stopped at its limit.
    fn over_limit(&self) -> Option<String> {
        let (_, limit) = self.deadline.as_ref().filter(|_| self.stopped.is_some())?;
        let given = match &limit.target {
            Some(t) => format!("{t}={}", crate::limits::show(limit.limit)),
            None => crate::limits::show(limit.limit),
        };
        Some(format!(
            "stopped: ran past its time limit of {} (`--time-limit {given}`)",
            crate::limits::show(limit.limit)
        ))
    }

    /// The next moment the scheduler must act on this node.
    fn wake(&self) -> Option<Instant> {
        match self.stopped {
            Some(at) => Some(at + GRACE),
            None => self.deadline.as_ref().map(|(at, _)| *at),
        }
    }
}

/// Where a run computes its nodes.
#[derive(Clone, Debug)]
pub enum Executor {
    /// On this machine, in this process.
    Local,
    /// One Slurm job per node, through a reachable Slurm (`slurm/`).
    Slurm { settings: Box<crate::slurm::Settings>, client: Arc<crate::slurm::Slurm> },
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
    /// What a Slurm run asked of Slurm.
    pub slurm: Option<crate::slurm::Counts>,
}

pub(crate) enum Outcome {
    Ran(Manifest),
    Reused,
    Failed(String),
    Cancelled,
}

/// Runs the nodes of `steps` that must run, telling `events` what happens.
pub fn run(
    resolved: Arc<Resolved>,
    steps: &[Step],
    store: Arc<Store>,
    options: &Options,
    events: Arc<dyn Events>,
) -> anyhow::Result<Summary> {
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
    let mut summary = match &options.executor {
        Executor::Local => {
            runtime.block_on(schedule(resolved.clone(), steps, wanted, store.clone(), options, run_id, events))?
        }
        Executor::Slurm { settings, client } => runtime.block_on(crate::slurm::driver::drive(
            resolved.clone(),
            steps,
            wanted,
            store.clone(),
            options,
            settings,
            client,
            run_id,
            events,
        ))?,
    };
    // Not waiting for a stage abandoned at its time limit: its thread ends with the process.
    runtime.shutdown_background();
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
    // A node published by a process that died before recording it (or by a Slurm job
    // whose driver died) is recorded from its manifest once a run finds it stored.
    for (i, step) in steps.iter().enumerate() {
        let node = &resolved.nodes[i];
        if step.decision == Decision::Cached && !index.has_node(&node.identity)? {
            if let Ok(manifest) = store.manifest(&node.identity) {
                index_published(&index, node, &manifest, manifest.seconds)?;
            }
        }
    }
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
        let i = resolved.named(name).map_err(|why| anyhow::anyhow!("`--only {name}`: {why}"))?;
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
    events: Arc<dyn Events>,
) -> anyhow::Result<Summary> {
    let n = resolved.nodes.len();
    let jobs = options.jobs.max(1);
    events.event(Event::RunStarted { run: run_id, nodes: wanted.iter().filter(|w| **w).count() });
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
    // The ready nodes by priority, the first to start last, so picking one does not scan
    // them all (a sweep has tens of thousands ready at once). A node skipped after a
    // failure leaves `ready` but may stay here; it is passed over.
    let mut queue: BTreeSet<(usize, Reverse<usize>)> = ready.iter().map(|&i| (height[i], Reverse(i))).collect();
    let users = users(&resolved);
    let mut free = Slots { cpus: jobs, gpus };
    let mut stopping = false;
    let mut summary = Summary::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: BTreeMap<usize, Running> = BTreeMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        while !stopping {
            // The longest chain first, then the first defined.
            let Some(i) =
                queue.iter().rev().map(|&(_, Reverse(i))| i).filter(|i| ready.contains(i)).find(|&i| need(i).fit(free))
            else {
                break;
            };
            ready.remove(&i);
            queue.remove(&(height[i], Reverse(i)));
            if let Decision::Blocked(problem) = &steps[i].decision {
                let name = resolved.nodes[i].name.clone();
                events.event(Event::Blocked { node: name.clone(), problem: problem.clone() });
                summary.failed.push((name, problem.clone()));
                summary.skipped += skip_descendants(&resolved, i, &mut wanted, &mut ready, &*events);
                stopping |= !options.keep_going;
                continue;
            }
            let taken = need(i).within(free);
            free = free.minus(taken);
            holding.insert(i, taken);
            let node = &resolved.nodes[i];
            events.event(Event::NodeStarted {
                node: node.name.clone(),
                kind: node.kind.clone(),
                cpus: taken.cpus,
                gpus: taken.gpus,
            });
            let flag = Arc::new(AtomicBool::new(false));
            let limit = crate::limits::limit_of(&options.time_limits, &node.name, &node.kind);
            let now = Instant::now();
            let deadline = limit.map(|l| (now + l.limit, l.clone()));
            running.insert(i, Running { cancel: flag.clone(), started: now, deadline, stopped: None });
            let (resolved, store, events) = (resolved.clone(), store.clone(), events.clone());
            tasks.spawn_blocking(move || {
                let started = Instant::now();
                let outcome = execute(&resolved, i, &store, &flag, events, run_id, taken.cpus, true)
                    .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
                (i, outcome, started.elapsed().as_secs_f64())
            });
        }
        if running.is_empty() {
            break;
        }
        let wake = running.values().filter_map(Running::wake).min();
        let ended: Option<(usize, Outcome, f64)> = tokio::select! {
            _ = &mut ctrl_c, if !cancel.load(Ordering::Relaxed) => {
                cancel.store(true, Ordering::Relaxed);
                running.values().for_each(|r| r.cancel.store(true, Ordering::Relaxed));
                stopping = true;
                summary.interrupted = true;
                events.event(Event::Interrupted);
                None
            }
            Some(joined) = tasks.join_next() => {
                let (i, outcome, seconds) = joined?;
                // A node abandoned at its limit was accounted for then.
                running.remove(&i).map(|r| match (r.over_limit(), outcome) {
                    (Some(message), Outcome::Cancelled | Outcome::Failed(_)) => (i, Outcome::Failed(message), seconds),
                    (_, outcome) => (i, outcome, seconds),
                })
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => {
                let now = Instant::now();
                for r in running.values_mut() {
                    if r.stopped.is_none() && r.deadline.as_ref().is_some_and(|(at, _)| *at <= now) {
                        r.cancel.store(true, Ordering::Relaxed);
                        r.stopped = Some(now);
                    }
                }
                // One that did not stop within the grace is given up on (its thread
                // cannot be killed; it never publishes, its cancel flag being set).
                let gone = running.iter().find(|(_, r)| r.stopped.is_some_and(|at| at + GRACE <= now)).map(|(i, _)| *i);
                gone.and_then(|i| running.remove(&i).map(|r| {
                    let message = r.over_limit().unwrap_or_default() + "; the stage did not stop and was abandoned";
                    (i, Outcome::Failed(message), r.started.elapsed().as_secs_f64())
                }))
            }
        };
        let Some((i, outcome, seconds)) = ended else { continue };
        free = free.plus(holding.remove(&i).expect("a finished node held its slots"));
        let node = &resolved.nodes[i];
        let index = store.index();
        let finished = match outcome {
            Outcome::Ran(manifest) => {
                exp_stages::faults::point("published");
                let bytes = index_published(&index, node, &manifest, seconds)?;
                summary.ran += 1;
                summary.bytes += bytes;
                index.put_run_node(run_id, &node.name, &node.identity, "ran", seconds, None)?;
                release(&users, i, &wanted, &mut pending, &mut ready, &mut queue, &height);
                Finished::Ran { bytes }
            }
            Outcome::Reused => {
                summary.reused += 1;
                index.put_run_node(run_id, &node.name, &node.identity, "reused", seconds, None)?;
                release(&users, i, &wanted, &mut pending, &mut ready, &mut queue, &height);
                Finished::Reused
            }
            Outcome::Failed(message) => {
                index.put_run_node(run_id, &node.name, &node.identity, "failed", seconds, Some(&message))?;
                summary.failed.push((node.name.clone(), message.clone()));
                stopping |= !options.keep_going;
                Finished::Failed { message }
            }
            Outcome::Cancelled => {
                index.put_run_node(run_id, &node.name, &node.identity, "cancelled", seconds, None)?;
                Finished::Cancelled
            }
        };
        // Not holding the index while a sink runs: it may read the store.
        drop(index);
        let failed = matches!(finished, Finished::Failed { .. });
        events.event(Event::NodeFinished {
            node: node.name.clone(),
            kind: node.kind.clone(),
            at: node.at.clone(),
            seconds,
            outcome: finished,
        });
        // After the failure's own line, so a front end sees cause before effect.
        if failed {
            summary.skipped += skip_descendants(&resolved, i, &mut wanted, &mut ready, &*events);
        }
    }
    events.event(Event::RunFinished);
    Ok(summary)
}

/// Records a node just published (its lineage and metrics, from its manifest) in the
/// index; returns the artifact's bytes. Both executors record through it.
pub(crate) fn index_published(
    index: &crate::index::Index,
    node: &crate::resolve::Node,
    manifest: &Manifest,
    seconds: f64,
) -> anyhow::Result<u64> {
    let bytes: u64 = manifest.outputs.iter().map(|o| o.bytes).sum();
    let inputs: Vec<(String, String)> = manifest.inputs.iter().map(|i| (i.role.clone(), i.identity.clone())).collect();
    let metrics: Vec<(String, Option<u64>, f64)> =
        manifest.metrics.iter().map(|(k, v)| (k.clone(), None, *v)).collect();
    let params = serde_json::to_string(&node.params)?;
    index.put_node(&node.identity, &node.kind, node.version, &node.name, &params, &inputs, bytes, seconds, &metrics)?;
    Ok(bytes)
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

/// The nodes using each node, once per input they take from it.
fn users(resolved: &Resolved) -> Vec<Vec<usize>> {
    let mut users = vec![Vec::new(); resolved.nodes.len()];
    for (j, node) in resolved.nodes.iter().enumerate() {
        for inp in &node.inputs {
            users[inp.node].push(j);
        }
    }
    users
}

/// After node `i` is available, its dependents wait for one input less.
fn release(
    users: &[Vec<usize>],
    i: usize,
    wanted: &[bool],
    pending: &mut [usize],
    ready: &mut BTreeSet<usize>,
    queue: &mut BTreeSet<(usize, Reverse<usize>)>,
    height: &[usize],
) {
    for &j in &users[i] {
        if wanted[j] {
            pending[j] -= 1;
            if pending[j] == 0 {
                ready.insert(j);
                queue.insert((height[j], Reverse(j)));
            }
        }
    }
}

/// Marks everything downstream of a failed node as not to run; returns how many.
pub(crate) fn skip_descendants(
    resolved: &Resolved,
    i: usize,
    wanted: &mut [bool],
    ready: &mut BTreeSet<usize>,
    events: &dyn Events,
) -> usize {
    let mut dependents = Vec::new();
    for j in resolved.descendants(i) {
        if wanted[j] {
            wanted[j] = false;
            ready.remove(&j);
            dependents.push(resolved.nodes[j].name.clone());
        }
    }
    let skipped = dependents.len();
    if skipped > 0 {
        events.event(Event::Skipped { node: resolved.nodes[i].name.clone(), dependents });
    }
    skipped
}

/// Computes one node into the store: the one code path of both executors (a Slurm job
/// runs it on its compute node). A failed node's log is kept under `logs/<run>/` when
/// `keep_log` (a Slurm job's output is its log already).
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute(
    resolved: &Resolved,
    i: usize,
    store: &Store,
    cancel: &AtomicBool,
    events: Arc<dyn Events>,
    run_id: i64,
    threads: usize,
    keep_log: bool,
) -> anyhow::Result<Outcome> {
    let node = &resolved.nodes[i];
    let _lock = store.lock(&node.identity)?;
    if store.contains(&node.identity) {
        return Ok(Outcome::Reused);
    }
    let temporary = store.temporary(&node.identity)?;
    let cache = store.root.join("cache").join(&node.kind);
    let started_at = crate::clock::now_s();
    let started = Instant::now();
    let metrics = match compute(resolved, i, store, &temporary, &cache, cancel, events, threads)? {
        Computed::Done(metrics) => metrics,
        Computed::Cancelled => {
            std::fs::remove_dir_all(&temporary).ok();
            return Ok(Outcome::Cancelled);
        }
        Computed::Failed(message) => {
            if keep_log {
                keep_failed_log(store, run_id, &node.name, &temporary);
            }
            std::fs::remove_dir_all(&temporary).ok();
            return Ok(Outcome::Failed(message));
        }
    };
    if cancel.load(Ordering::Relaxed) {
        // Stopped (Ctrl-C, its time limit) as it finished: what it wrote is not published.
        std::fs::remove_dir_all(&temporary).ok();
        return Ok(Outcome::Cancelled);
    }
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

/// How a stage's run into a folder ended.
pub(crate) enum Computed {
    /// Its artifact is in `artifact/`; the last value of each metric it reported.
    Done(BTreeMap<String, f64>),
    Failed(String),
    Cancelled,
}

/// Runs node `i`'s stage into `dir` (`artifact/` for its output, `log.txt` for its log),
/// its inputs read from the store and its resumable state under `cache`: what running a
/// node (`execute`) and checking one (`check.rs`) share.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compute(
    resolved: &Resolved,
    i: usize,
    store: &Store,
    dir: &std::path::Path,
    cache: &std::path::Path,
    cancel: &AtomicBool,
    events: Arc<dyn Events>,
    threads: usize,
) -> anyhow::Result<Computed> {
    let node = &resolved.nodes[i];
    let stage = crate::stages::implementation(&node.kind)
        .ok_or_else(|| anyhow::anyhow!("stage `{}` has no implementation yet", node.kind))?;
    let reporter = NodeReporter {
        node: node.name.clone(),
        events,
        log: Mutex::new(std::fs::File::create(dir.join(LOG))?),
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
    let out = dir.join(ARTIFACT);
    std::fs::create_dir_all(cache)?;
    let ctx = Context {
        name: &node.name,
        params: &node.params,
        inputs: &inputs,
        out: &out,
        root: &resolved.root,
        cache,
        reporter: &reporter,
        cancel,
        threads,
    };
    reporter.events.event(Event::NodeRunning { node: node.name.clone() });
    let result = catch_unwind(AssertUnwindSafe(|| stage.run(&ctx)));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(StageError::Cancelled)) => return Ok(Computed::Cancelled),
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!("the stage panicked: {}", panic_message(&panic))),
    };
    if let Some(message) = failure {
        reporter.log(&format!("failed: {message}"));
        return Ok(Computed::Failed(message));
    }
    Ok(Computed::Done(reporter.metrics.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)))
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

/// A stage's reports: sent on as events, and kept with the node (its log file, its metrics
/// for the manifest and the index).
struct NodeReporter {
    node: String,
    events: Arc<dyn Events>,
    log: Mutex<std::fs::File>,
    /// The last value of each metric (per-step series arrive with the trainer).
    metrics: Mutex<BTreeMap<String, f64>>,
}

impl Reporter for NodeReporter {
    fn progress(&self, done: u64, total: Option<u64>, unit: &str) {
        self.events.event(Event::Progress { node: self.node.clone(), done, total, unit: unit.to_string() });
    }

    fn metric(&self, name: &str, step: Option<u64>, value: f64) {
        // The store keeps numbers: an undefined value (NaN, infinite) is logged instead.
        if !value.is_finite() {
            self.log(&format!("metric {name} is {value}: not stored"));
            return;
        }
        if let Ok(mut m) = self.metrics.lock() {
            m.insert(name.to_string(), value);
        }
        self.events.event(Event::Metric { node: self.node.clone(), name: name.to_string(), step, value });
    }

    fn log(&self, line: &str) {
        if let Ok(mut f) = self.log.lock() {
            writeln!(f, "{line}").ok();
        }
        self.events.event(Event::Log { node: self.node.clone(), line: line.to_string() });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps every event, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl Events for Recorder {
        fn event(&self, event: Event) {
            self.0.lock().expect("not poisoned").push(event);
        }
    }

    /// The events that say what happened to which node, one short line each.
    fn lifecycle(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::RunStarted { nodes, .. } => Some(format!("run of {nodes}")),
                Event::NodeStarted { node, kind, cpus, gpus } => {
                    Some(format!("{node} ({kind}) on {cpus} CPU {gpus} GPU"))
                }
                Event::NodeRunning { node } => Some(format!("{node} running")),
                Event::NodeFinished { node, outcome, .. } => Some(format!(
                    "{node} {}",
                    match outcome {
                        Finished::Ran { .. } => "ran",
                        Finished::Reused => "reused",
                        Finished::Failed { .. } => "failed",
                        Finished::Cancelled => "cancelled",
                        Finished::Checked { .. } => "checked",
                    }
                )),
                Event::Skipped { node, dependents } => Some(format!("{node} skips {}", dependents.join(", "))),
                Event::RunFinished => Some("done".into()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_plan_runs_through_the_scheduler_as_events() {
        let dir = tempfile::tempdir().expect("temp");
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
            std::fs::write(path, text).expect("write");
        };
        write("data/en.jsonl", "{\"id\":\"a1\",\"body\":\"an abstract\"}\n{\"id\":\"a2\",\"body\":\"another\"}\n");
        write("data/ja.jsonl", "{\"id\":\"j1\",\"body\":\"fine\"}\n{\"id\":\"j2\" broken\n");
        write(
            "study.med",
            "experiment \"study\"\nsource en = jsonl(\"data/en.jsonl\", text: \"body\", id: \"id\", lang: en)\nsource ja = jsonl(\"data/ja.jsonl\", text: \"body\", id: \"id\", lang: ja)\ncorpus both = { en, ja * 2 }\ncorpus english = { en }\n",
        );
        let file = dir.path().join("study.med");
        let catalog = exp_stages::catalog();
        let checked = exp_dsl::check_file(&file, &catalog, &exp_dsl::Options { profile: None, all_profiles: false });
        let graph = checked.graph.expect("the experiment checks");
        let store = Arc::new(Store::open(&dir.path().join(".exp")).expect("store"));
        let resolved = Arc::new(crate::resolve::resolve(&graph, &file, &catalog, Some(&store.index())));
        let steps = crate::plan::plan(&resolved, &store, &|_| None);
        let recorder = Arc::new(Recorder::default());
        let options =
            Options { jobs: 1, keep_going: true, only: Vec::new(), executor: Executor::Local, time_limits: Vec::new() };

        let summary = run(resolved.clone(), &steps, store.clone(), &options, recorder.clone()).expect("the run");

        let events = recorder.0.lock().expect("not poisoned").clone();
        // Which source starts first depends on the nodes' keys; what happens to each does not.
        let lines = lifecycle(&events);
        let of = |name: &str| -> Vec<&str> {
            lines.iter().filter(|l| l.split(' ').next() == Some(name)).map(String::as_str).collect()
        };
        assert_eq!((lines[0].as_str(), lines[lines.len() - 1].as_str()), ("run of 4", "done"));
        assert_eq!(of("en"), ["en (jsonl) on 1 CPU 0 GPU", "en running", "en ran"]);
        assert_eq!(of("ja"), ["ja (jsonl) on 1 CPU 0 GPU", "ja running", "ja failed", "ja skips both"]);
        // --keep-going: the failure skips only what needs `ja`.
        assert_eq!(of("english"), ["english (mix) on 1 CPU 0 GPU", "english running", "english ran"]);
        assert!(of("both").is_empty(), "{lines:?}");
        // One slot: nodes run one after another, and each one's reports arrive between its
        // start and its end.
        let mut current: Option<&String> = None;
        for e in &events {
            match e {
                Event::NodeStarted { node, .. } => assert!(current.replace(node).is_none(), "{events:?}"),
                Event::NodeFinished { node, .. } => assert_eq!(current.take(), Some(node), "{events:?}"),
                Event::NodeRunning { node }
                | Event::Progress { node, .. }
                | Event::Metric { node, .. }
                | Event::Log { node, .. } => assert_eq!(current, Some(node), "{events:?}"),
                _ => {}
            }
        }
        let failure = events.iter().find_map(|e| match e {
            Event::NodeFinished { node, outcome: Finished::Failed { message }, .. } if node == "ja" => Some(message),
            _ => None,
        });
        assert!(failure.is_some_and(|m| m.contains("data/ja.jsonl:2: not JSON")), "{events:?}");
        assert!(events.contains(&Event::Metric {
            node: "en".into(),
            name: "documents".into(),
            step: None,
            value: 2.0
        }));
        assert!(events
            .iter()
            .any(|e| matches!(e, Event::Log { node, line } if node == "ja" && line.starts_with("failed: "))));
        assert_eq!((summary.ran, summary.failed.len(), summary.skipped), (2, 1, 1));

        // What the events showed is also what the store kept: the metric in the index, the
        // log with the artifact, the failed node's log under `logs/<run>/`.
        let en = &resolved.nodes[resolved.by_name("en").expect("en")].identity;
        assert!(store.index().metrics(en).expect("metrics").contains(&("documents".to_string(), None, 2.0)));
        assert!(store.object_dir(en).join(LOG).is_file());
        let kept = std::fs::read_to_string(store.root.join("logs").join(summary.run.to_string()).join("ja.log"));
        assert!(kept.expect("the failed log is kept").contains("failed: "));
    }
}
