//! What the scheduler (`run.rs`) tells its front end while it runs. The scheduler prints
//! nothing itself: the command line renders these events as progress bars and lines
//! (`progress.rs`); the Slurm driver (`slurm/driver.rs`) reports through the same
//! events, and another front end (a `--json` stream) can consume them. Every event names
//! its node by definition name, unique within an experiment, so a consumer needs nothing
//! but the events.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Run `run` begins; `nodes` nodes are to be computed (those cached are not counted).
    RunStarted { run: i64, nodes: usize },
    /// A node was granted its slots (where it runs: CPU slots and GPUs of this machine);
    /// it now waits for its lock.
    NodeStarted { node: String, kind: String, cpus: usize, gpus: usize },
    /// It holds its lock and its artifact is still missing: its stage runs.
    NodeRunning { node: String },
    /// `done` of `total` (`None`: unknown) units of what the stage is doing.
    Progress { node: String, done: u64, total: Option<u64>, unit: String },
    /// A metric the stage reported; the last value of each is stored with the artifact.
    Metric { node: String, name: String, step: Option<u64>, value: f64 },
    /// A line the stage logged; it is also written to the node's `log.txt`.
    Log { node: String, line: String },
    /// A started node ended; `at` is its definition's `file:line:column`.
    NodeFinished { node: String, kind: String, at: String, seconds: f64, outcome: Finished },
    /// The Slurm executor submitted the node's job, to start after the jobs in `after`.
    Submitted { node: String, job: u64, after: Vec<u64> },
    /// The node's job was submitted by an earlier or another driver and is still in
    /// Slurm's hands (`state`): this run waits for it rather than submitting it again.
    Reattached { node: String, job: u64, state: String },
    /// The node's job changed state (`PENDING`, `RUNNING`…).
    JobState { node: String, job: u64, state: String },
    /// A node that cannot be computed (a missing file, an unimplemented stage); never started.
    Blocked { node: String, problem: String },
    /// Nodes that will not run because `node` failed or was blocked.
    Skipped { node: String, dependents: Vec<String> },
    /// Something the run goes on despite (a status query Slurm did not answer).
    Warning { message: String },
    /// Ctrl-C: the running stages are being cancelled and nothing new starts.
    Interrupted,
    /// The scheduler is done (the run's records are written after this).
    RunFinished,
}

/// How a started node ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Finished {
    /// Computed and published: `bytes` of artifact.
    Ran {
        bytes: u64,
    },
    /// Made meanwhile by another run, found once its lock was free.
    Reused,
    Failed {
        message: String,
    },
    Cancelled,
    /// Recomputed by `exp run --check` and compared with the stored artifact (`same`:
    /// nothing differs), `verdict` in words.
    Checked {
        same: bool,
        verdict: String,
    },
}

/// Where the scheduler sends its events. Called from the scheduler and from the threads
/// the stages run on, in the order things happen for each node.
pub trait Events: Send + Sync {
    fn event(&self, event: Event);
}

/// Any closure is a sink: a `--json` stream is `|e: Event| println!("{}", serde_json::json!(e))`.
impl<F: Fn(Event) + Send + Sync> Events for F {
    fn event(&self, event: Event) {
        self(event)
    }
}
