//! A `cpt` node trained by Megatron-LM, as the steps of one Slurm job (the node's job,
//! `exp job` on the allocation's first host):
//!
//! 1. the base Hugging Face checkpoint to Megatron's format with the node's TP/PP/EP,
//!    by Megatron-LM's own converter (`tools/checkpoint/convert.py`, its loader
//!    `mixtral_hf`, our saver `exp_core`: Megatron's `core` saver with its two Mixtral bugs
//!    at this tag fixed), once: the result is kept in the store's cache;
//! 2. training: `pretrain_gpt.py` under `srun`, one `torchrun` per node, every argument
//!    rendered by `launch.rs`; when Megatron stops at `--exit-duration-in-mins` before the
//!    last iteration (the job's time limit is near), the job requeues itself and resumes
//!    from the checkpoint it saved;
//! 3. the result back to a Hugging Face folder by the same converter with our loader
//!    `exp_core` (Megatron's `core` loader made to read every expert-parallel rank and the
//!    router) and our saver `exp_hf` (this tag has no Mixtral saver), and Megatron's log
//!    read into `train_log.jsonl`.
//!
//! The plugins are `python/*.py`, written into the job's cache folder, which goes first
//! on `PYTHONPATH` (`convert.py` imports `loader_<name>` and `saver_<name>`).
//!
//! Where Megatron-LM and its Python are on the cluster is a fact of the cluster, not of
//! the node: `slurm.toml`'s `[megatron]` section, handed to the job as
//! `EXP_MEGATRON_SOURCE` and `EXP_MEGATRON_PYTHON`.

use super::launch::{render, Folders, Launch, Shard};
use crate::artifacts::{self, Dataset, StepMetrics};
use crate::hf_config::MixtralConfig;
use crate::kinds::train::{CptParams, Megatron};
use crate::{Context, StageError};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Our plugins for `convert.py` (`--loader exp_core`, `--saver exp_core`, `--saver exp_hf`).
pub const PLUGINS: [(&str, &str); 3] = [
    ("loader_exp_core.py", include_str!("python/loader_exp_core.py")),
    ("saver_exp_core.py", include_str!("python/saver_exp_core.py")),
    ("saver_exp_hf.py", include_str!("python/saver_exp_hf.py")),
];

/// Minutes before the job's time limit at which Megatron saves and exits.
const SAVE_MARGIN_MINUTES: u64 = 15;

/// Where Megatron-LM is installed on the cluster.
#[derive(Clone, Debug)]
pub struct Install {
    pub source: PathBuf,
    pub python: PathBuf,
}

impl Install {
    /// From the job's environment, checked: the folder holds Megatron-LM at `version`.
    pub fn from_env(version: &str) -> Result<Install, String> {
        let var = |name: &str, key: &str| {
            std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
                format!(
                    "{name} is not set: say where Megatron-LM is on the cluster in slurm.toml, `[megatron] {key} = …`"
                )
            })
        };
        let install =
            Install { source: var("EXP_MEGATRON_SOURCE", "source")?, python: var("EXP_MEGATRON_PYTHON", "python")? };
        install.check(version)?;
        Ok(install)
    }

    /// The source folder is Megatron-LM at the tag `version` (`core_v0.16.1` is
    /// `megatron/core/package_info.py` 0.16.1), and its Python runs.
    pub fn check(&self, version: &str) -> Result<(), String> {
        let info = self.source.join("megatron/core/package_info.py");
        let text = std::fs::read_to_string(&info).map_err(|e| {
            format!(
                "Megatron-LM is not installed at {} ({}: {e}); clone it at tag {version} there, or set `[megatron] source` in slurm.toml",
                self.source.display(),
                info.display()
            )
        })?;
        let part = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix('=').map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        let found = format!("{}.{}.{}", part("MAJOR"), part("MINOR"), part("PATCH"));
        let wanted = version.trim_start_matches("core_v");
        if found != wanted {
            return Err(format!(
                "{} holds Megatron-LM {found}, not {wanted} (tag {version}): the node's numerics are that version's",
                self.source.display()
            ));
        }
        if !self.python.is_file() {
            return Err(format!(
                "the Python of Megatron-LM, {}, does not exist; set `[megatron] python` in slurm.toml",
                self.python.display()
            ));
        }
        Ok(())
    }
}

/// The Slurm allocation the job runs in.
#[derive(Clone, Debug)]
pub struct Allocation {
    pub job: String,
    pub nodes: u64,
    /// The first host: torch's rendezvous.
    pub master: String,
}

impl Allocation {
    pub fn from_env() -> Result<Allocation, String> {
        let job = std::env::var("SLURM_JOB_ID")
            .map_err(|_| "a Megatron-LM node runs as a Slurm job: `exp run --executor slurm`".to_string())?;
        let nodes = std::env::var("SLURM_JOB_NUM_NODES").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
        let list = std::env::var("SLURM_JOB_NODELIST").unwrap_or_else(|_| "localhost".into());
        let hosts = output(Command::new("scontrol").args(["show", "hostnames", &list]))?;
        let master = hosts.lines().next().unwrap_or("localhost").to_string();
        Ok(Allocation { job, nodes, master })
    }

    /// Minutes left before the job's time limit (`None`: no limit).
    pub fn minutes_left(&self) -> Option<u64> {
        let left = output(Command::new("squeue").args(["-h", "-j", &self.job, "-o", "%L"])).ok()?;
        slurm_minutes(left.trim())
    }
}

/// `[days-]hours:minutes:seconds`, `minutes:seconds` as squeue's `%L` prints them.
fn slurm_minutes(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let parts: Vec<u64> = rest.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (h, m) = match parts.as_slice() {
        [h, m, _] => (*h, *m),
        [m, _] => (0, *m),
        _ => return None,
    };
    Some(days * 24 * 60 + h * 60 + m)
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The folders of a node's Megatron work in the store's cache (kept across requeues).
pub fn folders(cache: &Path) -> Folders {
    let at = |name: &str| cache.join(name).display().to_string();
    Folders { base: at("megatron-base"), checkpoints: at("checkpoints"), data_cache: at("data-cache") }
}

/// The corpus's shards with their paths in the store.
pub fn shards(data: &Path) -> Result<Vec<Shard>, StageError> {
    let dataset: Dataset = artifacts::read(data)?;
    Ok(dataset
        .shards
        .iter()
        .map(|s| Shard { prefix: data.join(&s.prefix).display().to_string(), tokens: s.tokens })
        .collect())
}

/// The commands of the three steps, as the job runs them.
pub struct Commands {
    pub convert: Vec<String>,
    pub train: Vec<String>,
    pub export: Vec<String>,
}

/// Renders the job's commands.
#[allow(clippy::too_many_arguments)]
pub fn commands(
    install: &Install,
    m: &Megatron,
    p: &CptParams,
    hf_base: &Path,
    model: &MixtralConfig,
    launch: &Launch,
    folders: &Folders,
    output: &Path,
    master: &str,
    port: u16,
) -> Commands {
    let python = install.python.display().to_string();
    let source = install.source.display().to_string();
    let layout = p.layout();
    let one_task = ["srun", "--nodes=1", "--ntasks=1", "--kill-on-bad-exit=1"].map(String::from);
    let mut convert: Vec<String> = one_task.to_vec();
    convert.extend([
        python.clone(),
        format!("{source}/tools/checkpoint/convert.py"),
        "--model-type".into(),
        "GPT".into(),
        "--loader".into(),
        "mixtral_hf".into(),
        "--saver".into(),
        "exp_core".into(),
        "--load-dir".into(),
        hf_base.display().to_string(),
        "--save-dir".into(),
        format!("{}.tmp", folders.base),
        "--tokenizer-model".into(),
        hf_base.display().to_string(),
        "--megatron-path".into(),
        source.clone(),
        "--target-tensor-parallel-size".into(),
        layout.tp.to_string(),
        "--target-pipeline-parallel-size".into(),
        layout.pp.to_string(),
        "--target-expert-parallel-size".into(),
        layout.ep.to_string(),
    ]);
    // One torchrun per node; each starts gpus_per_node ranks of pretrain_gpt.py.
    let mut train: Vec<String> = [
        "srun".to_string(),
        format!("--nodes={}", m.nodes),
        "--ntasks-per-node=1".into(),
        "--kill-on-bad-exit=1".into(),
        python.clone(),
        "-m".into(),
        "torch.distributed.run".into(),
        format!("--nnodes={}", m.nodes),
        format!("--nproc-per-node={}", m.gpus_per_node),
        "--rdzv-backend=c10d".into(),
        format!("--rdzv-endpoint={master}:{port}"),
        format!("{source}/pretrain_gpt.py"),
    ]
    .to_vec();
    train.extend(launch.args.iter().cloned());
    let mut export: Vec<String> = one_task.to_vec();
    export.extend([
        python,
        format!("{source}/tools/checkpoint/convert.py"),
        "--model-type".into(),
        "GPT".into(),
        "--loader".into(),
        "exp_core".into(),
        "--saver".into(),
        "exp_hf".into(),
        "--load-dir".into(),
        folders.checkpoints.clone(),
        "--save-dir".into(),
        output.display().to_string(),
        "--megatron-path".into(),
        source,
        // Megatron's core loader assumes learned absolute positions unless told.
        "--position-embedding-type".into(),
        "rope".into(),
        "--true-vocab-size".into(),
        model.vocab_size.to_string(),
        "--hf-config".into(),
        hf_base.join("config.json").display().to_string(),
    ]);
    Commands { convert, train, export }
}

/// Megatron's per-iteration log lines (`training_log` in `megatron/training/training.py`)
/// as the steps of `train_log.jsonl`: loss, load-balancing loss, rate and gradient norm;
/// what Megatron does not print is NaN. A line of a run resumed after a requeue replaces
/// the same iteration's line of the run before.
pub fn parse_log(text: &str, global_batch: u64, seq: u64) -> Vec<StepMetrics> {
    let mut steps: std::collections::BTreeMap<u64, StepMetrics> = Default::default();
    for line in text.lines() {
        let Some(rest) = line.split(" iteration ").nth(1) else { continue };
        let Some(step) = rest.split('/').next().and_then(|s| s.trim().parse::<u64>().ok()) else { continue };
        let field = |name: &str| -> f64 {
            line.split('|')
                .find_map(|part| part.trim().strip_prefix(name)?.trim_start().strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(f64::NAN)
        };
        steps.insert(
            step,
            StepMetrics {
                step,
                loss: field("lm loss"),
                aux_loss: field("load_balancing_loss"),
                lr: field("learning rate"),
                grad_norm: field("grad norm"),
                expert_load_max: f64::NAN,
                tokens: step * global_batch * seq,
            },
        );
    }
    steps.into_values().collect()
}

/// Megatron's last saved iteration in `checkpoints` (its `latest_checkpointed_iteration.txt`).
pub fn saved_iteration(checkpoints: &Path) -> Option<u64> {
    std::fs::read_to_string(checkpoints.join("latest_checkpointed_iteration.txt")).ok()?.trim().parse().ok()
}

/// Runs `cmd`, its output appended to `log` and passed on as the node's log lines.
fn run_logged(ctx: &Context, what: &str, cmd: &[String], env: &[(&str, String)], log: &Path) -> Result<(), StageError> {
    ctx.reporter.log(&format!("{what}: {}", shlex::try_join(cmd.iter().map(String::as_str)).unwrap_or_default()));
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(StageError::io(log))?;
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| StageError::Param(format!("{what}: cannot start `{}`: {e}", cmd[0])))?;
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(StageError::io(log))?;
        writeln!(file, "{line}").map_err(StageError::io(log))?;
        ctx.reporter.log(&line);
        if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StageError::Cancelled);
        }
    }
    let status = child.wait().map_err(StageError::io(log))?;
    if !status.success() {
        return Err(StageError::Param(format!(
            "{what} failed ({status}); its output is above and in {}",
            log.display()
        )));
    }
    Ok(())
}

/// The node's work: convert, train (requeueing at the time limit), convert back.
pub fn run(ctx: &Context, p: &CptParams, m: &Megatron, hf_base: &Path, data: &Path) -> Result<(), StageError> {
    let install = Install::from_env(&m.version).map_err(StageError::Param)?;
    let allocation = Allocation::from_env().map_err(StageError::Param)?;
    let model = MixtralConfig::read(&hf_base.join("config.json")).map_err(|e| StageError::Param(e.to_string()))?;
    let cache = ctx.node_cache();
    std::fs::create_dir_all(&cache).map_err(StageError::io(&cache))?;
    let folders = folders(&cache);
    let shards = shards(data)?;
    let tools = cache.join("tools");
    std::fs::create_dir_all(&tools).map_err(StageError::io(&tools))?;
    for (name, text) in PLUGINS {
        let path = tools.join(name);
        std::fs::write(&path, text).map_err(StageError::io(&path))?;
    }
    // A port of its own per job, so two jobs sharing a host do not meet.
    let port = 20_000 + (allocation.job.parse::<u64>().unwrap_or(0) % 20_000) as u16;
    // The time limit counts from now, after the conversion: Megatron's clock starts with it.
    let cmds = |exit: Option<u64>| {
        let launch = render(p, m, &model, &shards, &folders, exit);
        let cmds = commands(&install, m, p, hf_base, &model, &launch, &folders, ctx.out, &allocation.master, port);
        (launch, cmds)
    };
    let log = cache.join("megatron.log");
    let pythonpath = format!("{}:{}", tools.display(), install.source.display());
    let env = [("CUDA_DEVICE_MAX_CONNECTIONS", "1".to_string()), ("PYTHONPATH", pythonpath)];

    let base = PathBuf::from(&folders.base);
    if !base.exists() {
        let partial = PathBuf::from(format!("{}.tmp", folders.base));
        let _ = std::fs::remove_dir_all(&partial);
        run_logged(ctx, "converting the base to Megatron's format", &cmds(None).1.convert, &env, &log)?;
        // convert.py exits 0 even when its saver process died: judge by what it wrote.
        if saved_iteration(&partial).is_none() {
            return Err(StageError::Param(format!(
                "the conversion to Megatron's format wrote no checkpoint in {}; its output is in {}",
                partial.display(),
                log.display()
            )));
        }
        std::fs::rename(&partial, &base).map_err(StageError::io(&base))?;
    }
    let exit = allocation.minutes_left().map(|m| m.saturating_sub(SAVE_MARGIN_MINUTES).max(1));
    let (launch, cmds) = cmds(exit);
    let iters = launch.derived.train_iters;
    if saved_iteration(Path::new(&folders.checkpoints)).is_none_or(|i| i < iters) {
        run_logged(ctx, "training with Megatron-LM", &cmds.train, &env, &log)?;
        let saved = saved_iteration(Path::new(&folders.checkpoints)).unwrap_or(0);
        if saved < iters {
            // Stopped by --exit-duration-in-mins: continue in a fresh allocation.
            output(Command::new("scontrol").args(["requeue", &allocation.job])).map_err(StageError::Param)?;
            return Err(StageError::Param(format!(
                "Megatron-LM saved iteration {saved} of {iters} before the time limit; job {} is requeued to resume",
                allocation.job
            )));
        }
    }
    run_logged(ctx, "converting the result to Hugging Face", &cmds.export, &env, &log)?;
    if !ctx.out.join("config.json").is_file() {
        return Err(StageError::Param(format!(
            "the conversion to Hugging Face wrote no config.json; its output is in {}",
            log.display()
        )));
    }
    let text = std::fs::read_to_string(&log).map_err(StageError::io(&log))?;
    let steps = parse_log(&text, p.optimiser.global_batch, p.optimiser.seq);
    let path = ctx.out.join(artifacts::TRAIN_LOG);
    let mut out = std::fs::File::create(&path).map_err(StageError::io(&path))?;
    for s in &steps {
        writeln!(out, "{}", serde_json::to_string(s).expect("metrics serialise")).map_err(StageError::io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_time_left_in_minutes() {
        assert_eq!(slurm_minutes("1-02:03:04"), Some(24 * 60 + 2 * 60 + 3));
        assert_eq!(slurm_minutes("02:03:04"), Some(123));
        assert_eq!(slurm_minutes("5:00"), Some(5));
        assert_eq!(slurm_minutes("UNLIMITED"), None);
    }

    #[test]
    fn megatron_log_lines_become_steps() {
        let log = " [2026-12-02 06:00:00.000000] iteration        1/      10 | consumed samples:            8 | \
                   elapsed time per iteration (ms): 1234.5 | learning rate: 3.000000E-04 | global batch size:     8 | \
                   lm loss: 1.150000E+01 | load_balancing_loss: 1.020000E+00 | loss scale: 1.0 | grad norm: 4.250 | \
                   number of skipped iterations:   0 | number of nan iterations:   0 |\n\
                   some other line\n\
                   [2026-12-02 06:00:01.000000] iteration        2/      10 | learning rate: 6.000000E-04 | lm loss: 1.100000E+01 |\n";
        let steps = parse_log(log, 8, 256);
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].step, steps[0].loss, steps[0].aux_loss, steps[0].lr), (1, 11.5, 1.02, 3e-4));
        assert_eq!((steps[0].grad_norm, steps[0].tokens), (4.25, 8 * 256));
        assert!(steps[1].grad_norm.is_nan());
    }
}
