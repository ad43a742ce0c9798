//! Placement: where each node would run and what it asks of that place, for the `local`
//! executor (this machine, in-process; the Slurm executor's jobs are `slurm/script.rs`).
//! A node's needs come from its stage's [`Resources`] and, for trainer nodes, the
//! Megatron-LM layout it declares for cluster scale. `exp plan` prints a node's placement and what this machine lacks for
//! it; the scheduler gives GPU nodes one GPU slot each, so two trainers never share a GPU.

use crate::resolve::Node;
use exp_stages::Resources;
use std::path::Path;

/// What this machine offers the local executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    pub cpus: usize,
    /// Total memory (0 when unknown).
    pub memory_mb: u64,
    pub gpus: usize,
    /// Whether this `exp` was built with the `cuda` feature.
    pub cuda_built: bool,
}

impl Machine {
    /// Reads this machine: CPUs the process may use, `/proc/meminfo`, and the NVIDIA GPUs
    /// it can see (`CUDA_VISIBLE_DEVICES` when set, else the `/dev/nvidiaN` devices).
    pub fn detect() -> Machine {
        Machine {
            cpus: exp_stages::cores(),
            memory_mb: std::fs::read_to_string("/proc/meminfo").ok().as_deref().map_or(0, mem_total_mb),
            gpus: visible_gpus(std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref(), Path::new("/dev")),
            cuda_built: cfg!(feature = "cuda"),
        }
    }

    /// One line for the head of a plan.
    pub fn describe(&self) -> String {
        let memory = if self.memory_mb > 0 { format!(", {}", gib(self.memory_mb)) } else { String::new() };
        let cuda = if self.cuda_built { "built with cuda" } else { "built without cuda" };
        format!("{} CPUs{memory}, {} GPUs; exp {cuda}", self.cpus, self.gpus)
    }
}

/// Where one node runs and what it needs there.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub executor: &'static str,
    pub resources: Resources,
    /// The Megatron-LM layout a trainer node declares for cluster scale, if any.
    pub layout: Option<Layout>,
    /// The hosts a node that runs only on a cluster needs (Megatron-LM trains it).
    pub cluster: Option<exp_stages::Cluster>,
    /// What the machine lacks for this node, in words (empty: it fits).
    pub unmet: Vec<String>,
}

/// Megatron-LM's parallel layout, as the trainer kinds declare it.
pub use exp_stages::kinds::train::Layout;

/// Where `node` runs on `machine`: the local executor, with the stage's needs.
pub fn place(node: &Node, machine: &Machine) -> Placement {
    let stage = crate::stages::implementation(&node.kind);
    let resources = stage.map_or_else(Resources::default, |s| s.resources(&node.params));
    let layout = stage.and_then(|s| s.layout(&node.params));
    let cluster = stage.and_then(|s| s.cluster(&node.params));
    if cluster.is_some() {
        // What this machine lacks does not matter: only a cluster executor runs it.
        return Placement { executor: "cluster", resources, layout, cluster, unmet: Vec::new() };
    }
    let mut unmet = Vec::new();
    if resources.gpus > 0 && !machine.cuda_built {
        unmet.push("this exp is built without the `cuda` feature".to_string());
    }
    if resources.gpus > machine.gpus {
        unmet.push(format!(
            "needs {} GPU{}, this machine has {}",
            resources.gpus,
            plural(resources.gpus),
            machine.gpus
        ));
    }
    Placement { executor: "local", resources, layout, cluster, unmet }
}

impl Placement {
    /// `local: 1 cpu` or `local: 1 gpu (cuda)`, then the cluster layout if declared.
    /// (Memory is left out: a stage's figure is a default, not an estimate of its model.)
    pub fn describe(&self) -> String {
        if let Some(c) = &self.cluster {
            let l = self.layout.unwrap_or(Layout::NONE);
            return format!(
                "cluster: {} nodes × {} GPUs with Megatron-LM, tp {} × pp {} × cp {} × ep {}; run it with `--executor slurm`",
                c.nodes, c.gpus_per_node, l.tp, l.pp, l.cp, l.ep
            );
        }
        let r = &self.resources;
        let what = if r.gpus > 0 { format!("{} gpu (cuda)", r.gpus) } else { format!("{} cpu", r.cpus) };
        let mut out = format!("{}: {what}", self.executor);
        if let Some(l) = &self.layout {
            out.push_str(&format!(
                "; declares the Megatron-LM layout tp {} × pp {} × cp {} × ep {} (≥ {} GPUs), \
                 which exp's one-device trainer does not use",
                l.tp,
                l.pp,
                l.cp,
                l.ep,
                l.min_gpus()
            ));
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Memory in GiB, one decimal below 10.
fn gib(mb: u64) -> String {
    let g = mb as f64 / 1024.0;
    if g < 10.0 {
        format!("{:.1} GiB", g).replace(".0 GiB", " GiB")
    } else {
        format!("{:.0} GiB", g)
    }
}

/// `MemTotal` of `/proc/meminfo`, in MiB.
fn mem_total_mb(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// The GPUs CUDA would show this process: the entries of `CUDA_VISIBLE_DEVICES` when it
/// is set (an empty value hides every GPU), else the `nvidiaN` device files.
fn visible_gpus(visible: Option<&str>, dev: &Path) -> usize {
    if let Some(list) = visible {
        return list.split(',').filter(|s| !s.trim().is_empty()).count();
    }
    let Ok(entries) = std::fs::read_dir(dev) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("nvidia").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use exp_dsl::Value;
    use std::collections::BTreeMap;

    fn node(kind: &str, params: &[(&str, Value)]) -> Node {
        Node {
            name: "n".into(),
            def: "pretrain".into(),
            kind: kind.into(),
            version: 1,
            params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            inputs: vec![],
            files: vec![],
            file_paths: vec![],
            identity: "x".into(),
            at: "f.med:1:1".into(),
            problem: None,
        }
    }

    const CPU_BOX: Machine = Machine { cpus: 2, memory_mb: 24 * 1024, gpus: 0, cuda_built: false };

    /// The lowered parameters of the definition `name` in `text`.
    fn lowered(text: &str, name: &str) -> BTreeMap<String, Value> {
        let checked = exp_dsl::check_text(
            std::path::Path::new("t.med"),
            text,
            &exp_stages::catalog(),
            &exp_dsl::Options::default(),
        );
        let graph = checked.graph.expect("the test program checks");
        graph.nodes.into_iter().find(|n| n.name == name).expect("the node is defined").params
    }

    #[test]
    fn a_cuda_trainer_on_a_cpu_machine_says_what_is_missing() {
        let params = lowered(
            "experiment \"t\"\n\
             tokenizer tok = sentencepiece(\"t.model\")\n\
             dataset d = tokenize(jsonl(\"x.jsonl\"), tok)\n\
             model base = mixtral(tiny, tokenizer: tok)\n\
             pretrain c = cpt(base, d, device: cuda, parallel: { tp: 2, pp: 4, cp: 1, ep: 4 })\n",
            "c",
        );
        let mut n = node("cpt", &[]);
        n.params = params;
        let p = place(&n, &CPU_BOX);
        assert_eq!(p.resources.gpus, 1);
        assert_eq!(p.layout, Some(Layout { tp: 2, pp: 4, cp: 1, ep: 4 }));
        assert_eq!(p.layout.map(|l| l.min_gpus()), Some(32));
        assert_eq!(p.unmet, ["this exp is built without the `cuda` feature", "needs 1 GPU, this machine has 0"]);
        assert_eq!(
            p.describe(),
            "local: 1 gpu (cuda); declares the Megatron-LM layout tp 2 × pp 4 × cp 1 × ep 4 (≥ 32 GPUs), \
             which exp's one-device trainer does not use"
        );
        let gpu_box = Machine { gpus: 8, cuda_built: true, ..CPU_BOX };
        assert!(place(&n, &gpu_box).unmet.is_empty());
    }

    #[test]
    fn a_cpu_stage_fits_anywhere() {
        let p = place(&node("jsonl", &[]), &CPU_BOX);
        assert_eq!(p.describe(), "local: 1 cpu");
        assert!(p.unmet.is_empty());
    }

    #[test]
    fn gpus_are_counted_from_the_environment_or_the_devices() {
        let dev = tempfile::tempdir().expect("temporary folder");
        for f in ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"] {
            std::fs::write(dev.path().join(f), "").expect("write");
        }
        assert_eq!(visible_gpus(None, dev.path()), 2);
        assert_eq!(visible_gpus(Some("0,3,5"), dev.path()), 3);
        assert_eq!(visible_gpus(Some(""), dev.path()), 0);
        assert_eq!(mem_total_mb("MemTotal:       24576000 kB\nMemFree: 1 kB\n"), 24000);
    }
}
