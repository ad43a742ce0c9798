//! A node's job: its `sbatch` options, from the stage's own [`Resources`] and the
//! settings, and its script, rendered with minijinja from `templates/job.sh.j2` and kept
//! under `logs/<run>/` beside the job's output (the node's log) and its spec (the node and
//! its inputs, as the job reads them).

use super::job::Spec;
use super::settings::Settings;
use crate::resolve::{Node, Resolved};
use exp_stages::Resources;
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../../templates/job.sh.j2");

/// What a node asks of Slurm, as `sbatch` options (without the ones naming files, which
/// depend on the run).
pub fn options(node: &Node, settings: &Settings) -> Vec<String> {
    let stage = crate::stages::implementation(&node.kind);
    let r = stage.map_or_else(Resources::default, |s| s.resources(&node.params));
    let job = settings.job(&node.kind, &node.name);
    let mut out = Vec::new();
    for (flag, value) in [("--partition", &job.partition), ("--account", &job.account), ("--qos", &job.qos)] {
        if let Some(v) = value {
            out.push(format!("{flag}={v}"));
        }
    }
    if let Some(t) = &job.time {
        out.push(format!("--time={t}"));
    }
    match stage.and_then(|s| s.cluster(&node.params)) {
        // Whole hosts, one task each (the trainer starts its own processes); `--requeue`
        // lets the job continue from its checkpoint after its time limit.
        Some(c) => out.extend([
            format!("--nodes={}", c.nodes),
            "--ntasks-per-node=1".into(),
            format!("--gpus-per-node={}", c.gpus_per_node),
            "--exclusive".into(),
            "--requeue".into(),
        ]),
        None => out.extend(gpus(r.gpus, settings.gpus_per_node)),
    }
    out.push(format!("--cpus-per-task={}", job.cpus.unwrap_or(r.cpus).max(1)));
    out.push(format!("--mem={}", job.mem.clone().unwrap_or_else(|| format!("{}M", r.memory_mb.max(1)))));
    out.extend(job.sbatch.iter().cloned());
    out
}

/// GPUs as `sbatch` options: a node asking more GPUs than one cluster node has spans
/// whole nodes (one task per node; the trainer starts its own processes).
fn gpus(gpus: usize, per_node: usize) -> Vec<String> {
    if gpus > per_node {
        vec![
            format!("--nodes={}", gpus.div_ceil(per_node)),
            format!("--gpus-per-node={per_node}"),
            "--ntasks-per-node=1".into(),
        ]
    } else if gpus > 0 {
        vec![format!("--gpus={gpus}")]
    } else {
        Vec::new()
    }
}

/// The files of one job.
pub struct Files {
    pub script: PathBuf,
    pub spec: PathBuf,
    /// The job's stdout and stderr: the node's log.
    pub output: PathBuf,
}

impl Files {
    pub fn of(store: &Path, run: i64, name: &str) -> Files {
        let dir = store.join("logs").join(run.to_string());
        Files {
            script: dir.join(format!("{name}.sh")),
            spec: dir.join(format!("{name}.json")),
            output: dir.join(format!("{name}.log")),
        }
    }
}

/// Writes the job of node `i`: its spec and its script. `store` and `exp` are absolute
/// (the job runs in the experiment's folder on another host).
pub fn write(
    resolved: &Resolved,
    i: usize,
    run: i64,
    store: &Path,
    exp: &Path,
    settings: &Settings,
) -> anyhow::Result<Files> {
    let node = &resolved.nodes[i];
    let files = Files::of(store, run, &node.name);
    std::fs::create_dir_all(files.script.parent().expect("logs/<run>/"))?;
    let spec = Spec::of(resolved, i, run);
    std::fs::write(&files.spec, serde_json::to_vec_pretty(&spec)?)?;
    let job = settings.job(&node.kind, &node.name);
    let mut env = minijinja::Environment::new();
    env.add_filter("sh", |s: String| shlex::try_quote(&s).map(|q| q.into_owned()).unwrap_or(s));
    env.add_template("job.sh", TEMPLATE)?;
    let text = env.get_template("job.sh")?.render(minijinja::context! {
        name => node.name,
        kind => node.kind,
        identity => node.identity,
        experiment => resolved.file.display().to_string(),
        run => run,
        version => crate::VERSION,
        output => files.output.display().to_string(),
        chdir => resolved.root.display().to_string(),
        options => options(node, settings),
        setup => job.setup,
        megatron => settings.megatron.as_ref().map(|m| minijinja::context! {
            source => m.source.display().to_string(),
            python => m.python.display().to_string(),
        }),
        exp => exp.display().to_string(),
        store => store.display().to_string(),
        spec => files.spec.display().to_string(),
    })?;
    std::fs::write(&files.script, text)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_beyond_one_cluster_node_ask_whole_nodes() {
        assert!(gpus(0, 8).is_empty());
        assert_eq!(gpus(1, 8), ["--gpus=1"]);
        assert_eq!(gpus(8, 8), ["--gpus=8"]);
        // The paper's CPT: 256 H100 on 32 nodes of 8.
        assert_eq!(gpus(256, 8), ["--nodes=32", "--gpus-per-node=8", "--ntasks-per-node=1"]);
        assert_eq!(gpus(12, 8), ["--nodes=2", "--gpus-per-node=8", "--ntasks-per-node=1"]);
    }
}
