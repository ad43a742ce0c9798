//! The interface every runnable stage kind implements. A stage reads its inputs'
//! artifact folders and writes its own artifact into `Context::out`, a temporary folder
//! that the engine publishes into the store only when `run` returns `Ok`. A stage never
//! sees the store, the graph or the other stages: what it gets is in its [`Context`].

use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a stage needs from the machine; the scheduler runs nodes side by side only
/// while their needs fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    pub cpus: usize,
    pub memory_mb: u64,
    pub gpus: usize,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { cpus: 1, memory_mb: 512, gpus: 0 }
    }
}

/// A node that runs on whole hosts of a cluster, through a cluster executor only
/// (Megatron-LM): `nodes` hosts of `gpus_per_node` GPUs, one task on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub nodes: usize,
    pub gpus_per_node: usize,
}

/// The CPUs this process may use: what a stage that computes on every core asks for,
/// and the default number of CPU slots.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Where a stage reports progress, metrics and log lines. The engine shows progress
/// live and stores metrics and logs with the node.
pub trait Reporter: Send + Sync {
    /// `done` of `total` units (`None`: unknown total) of what the stage is doing.
    fn progress(&self, done: u64, total: Option<u64>, unit: &str);
    /// A named value, per step where the stage has steps.
    fn metric(&self, name: &str, step: Option<u64>, value: f64);
    fn log(&self, line: &str);
}

/// One input of a node: the parameter it is bound to and the artifact folder.
#[derive(Clone, Debug)]
pub struct InputArtifact {
    pub role: String,
    /// The input's definition name, for messages only.
    pub name: String,
    pub dir: PathBuf,
}

/// Everything a stage run may use.
pub struct Context<'a> {
    /// The definition's name, for messages only.
    pub name: &'a str,
    pub params: &'a BTreeMap<String, Value>,
    /// In the order the lowered node lists them.
    pub inputs: &'a [InputArtifact],
    /// The folder to write the artifact into (empty when the stage starts).
    pub out: &'a Path,
    /// The experiment's folder: `Path` parameters are relative to it.
    pub root: &'a Path,
    /// A folder in the store this stage kind may keep a cache in across runs (e.g.
    /// translations per document), so a rerun or a resumed run redoes no finished work.
    pub cache: &'a Path,
    pub reporter: &'a dyn Reporter,
    pub cancel: &'a AtomicBool,
    /// CPU slots the scheduler gave this node (at most what [`Stage::resources`] asked):
    /// a stage that computes on several threads uses no more.
    pub threads: usize,
}

impl Context<'_> {
    pub fn inputs_for<'s>(&'s self, role: &'s str) -> impl Iterator<Item = &'s InputArtifact> + 's {
        self.inputs.iter().filter(move |i| i.role == role)
    }

    /// Returns `Err(Cancelled)` once the user has asked to stop; long loops call it.
    pub fn check_cancelled(&self) -> Result<(), StageError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(StageError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A folder of [`Context::cache`] for this node's own resumable work (checkpoints,
    /// finished evaluation items): named by a hash of its parameters and its inputs'
    /// store folders, which are named by their identities.
    pub fn node_cache(&self) -> PathBuf {
        let mut h = blake3::Hasher::new();
        h.update(serde_json::to_string(self.params).expect("parameters serialise").as_bytes());
        for i in self.inputs {
            h.update(i.role.as_bytes());
            h.update(i.dir.to_string_lossy().as_bytes());
        }
        self.cache.join(&h.finalize().to_hex()[..32])
    }

    /// The node's parameters as its kind's parameters struct (`crate::params`). Lowering
    /// filled every default, so a value that does not fit is a bug, named here.
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, StageError> {
        crate::params::parse(self.params)
            .map_err(|e| StageError::Param(format!("the parameters of `{}`: {e}", self.name)))
    }
}

/// Why a stage failed. Messages name the file and line, or the record, at fault.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A record the stage cannot use, located as precisely as possible.
    #[error("{at}: {message}")]
    BadRecord { at: String, message: String },
    /// A parameter the checker could not judge (e.g. a glob that matches no file).
    #[error("{0}")]
    Param(String),
    #[error("cancelled")]
    Cancelled,
}

impl StageError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StageError {
        let path = path.into();
        move |source| StageError::Io { path, source }
    }
}

/// A runnable stage kind.
pub trait Stage: Send + Sync {
    fn schema(&self) -> &'static KindSchema;

    fn resources(&self, _params: &BTreeMap<String, Value>) -> Resources {
        Resources::default()
    }

    /// The Megatron-LM layout a trainer declares for cluster scale (`parallel:`), which
    /// plans show beside where the node runs here.
    fn layout(&self, _params: &BTreeMap<String, Value>) -> Option<crate::kinds::train::Layout> {
        None
    }

    /// The hosts a node needs when it runs only on a cluster (`trainer: megatron(…)`);
    /// the local executor refuses such a node.
    fn cluster(&self, _params: &BTreeMap<String, Value>) -> Option<Cluster> {
        None
    }

    /// Whether the node's artifact can be recomputed to the same bytes (what
    /// `exp run --check` expects). A stage whose result comes from outside (a served
    /// model, a remote engine) or from GPU kernels says why not.
    fn determinism(&self, _params: &BTreeMap<String, Value>) -> Determinism {
        Determinism::Exact
    }

    /// Whether the artifact shows the definition names of the node and its inputs (a
    /// report's title, its rows and legends). Names are not part of an identity, except
    /// for such a kind: the same graph under other names is another report.
    fn shows_names(&self) -> bool {
        false
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError>;
}

/// Whether a stage, run again on the same inputs, writes the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Determinism {
    /// Always: any difference is a bug (or a changed environment) that `--check` reports.
    Exact,
    /// Not to be expected, and why (shown by `exp run --check` instead of a failure).
    Not(String),
}
