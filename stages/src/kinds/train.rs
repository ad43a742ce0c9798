//! Continued pre-training and supervised fine-tuning. Every hyperparameter of the paper's
//! Table 1 (CPT) and SFT settings is a parameter; the defaults are the paper's.

use super::model::{HfCheckpointParams, MixtralParams};
use super::{COUNT, SEED};
use crate::hf_config::MixtralConfig;
use crate::params::{rule, typed, Params};
use exp_dsl::ast::Unit;
use exp_dsl::schema::{Artifact, Broken, Constructor, Default, KindSchema, Param, Role, Ty, Upstream};
use exp_dsl::typed::{Schedule, Warmup};
use serde::{Deserialize, Serialize};

const FLOAT01: Ty = Ty::Float { min: 0.0, max: 1.0 };
const POSITIVE: Ty = Ty::Float { min: 0.0, max: f64::INFINITY };
const BETAS: Ty = Ty::Tuple(&[FLOAT01, FLOAT01]);
const DEVICE: Ty = Ty::Enum(&["cpu", "cuda"]);
/// The number format exp's trainer computes in ([`Precision`]).
pub const PRECISION: Ty = Ty::Enum(&["fp32", "bf16"]);
/// What `precision` says, once for `cpt`, `sft` and `jmedbench`'s `local` provider.
pub const PRECISION_DOC: &str = "number format of exp's own model on `device: cuda`: `bf16` computes in bfloat16 \
     (training keeps fp32 master weights and AdamW state; Megatron-LM always trains in bf16)";
const SEQS: Ty = Ty::Count { unit: Unit::Seqs, min: 1 };
const STEPS: Ty = Ty::Count { unit: Unit::Steps, min: 0 };
const EPOCHS: Ty = Ty::Count { unit: Unit::Epochs, min: 1 };

/// Megatron-LM's parallel layout, used when the node runs at cluster scale.
const PARALLEL: &[Param] = &[
    Param::with("tp", COUNT, Default::Int(1), "tensor parallel"),
    Param::with("pp", COUNT, Default::Int(1), "pipeline parallel"),
    Param::with("cp", COUNT, Default::Int(1), "context parallel"),
    Param::with("ep", COUNT, Default::Int(1), "expert parallel"),
];

/// Who computes a training node: part of its identity, since two trainers do not give the
/// same numbers.
pub const TRAINERS: &[Constructor] = &[
    Constructor { name: "exp", params: &[], doc: "exp's own burn trainer, on `device`" },
    Constructor {
        name: "megatron",
        params: &[
            Param::with(
                "version",
                Ty::Enum(&[MEGATRON_VERSION]),
                Default::Sym(MEGATRON_VERSION),
                "Megatron-LM release tag (the flags exp renders are this version's)",
            ),
            Param::with("nodes", COUNT, Default::Int(1), "cluster nodes"),
            Param::with(
                "gpus_per_node",
                COUNT,
                Default::Int(8),
                "GPUs of each node: the world is nodes × gpus_per_node",
            ),
        ],
        doc: "Megatron-LM's `pretrain_gpt.py`, launched through the Slurm executor",
    },
];

/// The Megatron-LM tag exp renders launches for: the last whose training code runs on
/// Python 3.11.
pub const MEGATRON_VERSION: &str = "core_v0.16.1";

pub static CPT: KindSchema = KindSchema {
    name: "cpt",
    // 2: `train_log.jsonl` records the tokens seen at each step.
    // 3: every default in the schema (`lr` and `warmup` were the trainer's).
    // 4: `trainer`: exp's own or Megatron-LM (`megatron_cpt` is gone).
    // 5: `train_log.jsonl` without timings (`tokens_per_s`, `mfu` are metrics only).
    // 6: the fused cross-entropy (`exp-trainer`'s `loss.rs`) rounds differently.
    version: 6,
    output: Artifact::Model,
    role: Role::Pretrain,
    params: &[
        Param::required("base", Ty::Input(&[Artifact::Model]), "the model to continue"),
        Param::required("data", Ty::Input(&[Artifact::Tokens]), "tokenised corpus"),
        Param::with(
            "lr",
            Ty::Schedule,
            Default::Schedule { peak: 1.5e-4, floor: 1.5e-5, shape: "cosine" },
            "learning rate: peak -> floor shape (the paper's)",
        ),
        Param::with("warmup", Ty::Warmup, Default::WarmupFraction(0.03), "warm-up (the paper's: 3% of the steps)"),
        Param::optional("tokens", Ty::TOKENS, "tokens to train on; one epoch of the data when absent"),
        Param::with(
            "max_steps",
            STEPS,
            Default::Int(0),
            "stop after this many optimiser steps, the schedule fitted to them (0: no limit)",
        ),
        Param::with("betas", BETAS, Default::Floats(&[0.9, 0.95]), "AdamW β1, β2"),
        Param::with("eps", POSITIVE, Default::Float(1e-8), "AdamW ε"),
        Param::with("weight_decay", POSITIVE, Default::Float(0.1), "AdamW decoupled weight decay"),
        Param::with("grad_clip", POSITIVE, Default::Float(1.0), "global gradient-norm clipping"),
        Param::with(
            "dropout",
            FLOAT01,
            Default::Float(0.0),
            "dropout (exp's trainer supports 0 only, as the paper trains)",
        ),
        Param::with("global_batch", SEQS, Default::Int(1024), "sequences per optimiser step"),
        Param::with("micro_batch", SEQS, Default::Int(1), "sequences per forward pass"),
        Param::with("seq", COUNT, Default::Int(4096), "sequence length"),
        Param::with("aux_loss", POSITIVE, Default::Float(0.01), "router load-balancing loss coefficient"),
        Param::with(
            "checkpoint_every",
            STEPS,
            Default::Int(0),
            "steps between resumable checkpoints kept in the store's cache (0: none)",
        ),
        Param::with("seed", SEED, Default::Int(0), "data order and initialisation seed"),
        Param::with("device", DEVICE, Default::Sym("cpu"), "where our trainer runs"),
        Param::with("precision", PRECISION, Default::Sym("fp32"), PRECISION_DOC),
        Param::with("trainer", Ty::Variant(TRAINERS), Default::Variant("exp"), "who trains: `exp` or `megatron(…)`"),
        Param::with(
            "parallel",
            Ty::Struct(PARALLEL),
            Default::Optional,
            "Megatron-LM layout at cluster scale (paper: tp 2, pp 4, cp 1, ep 4)",
        ),
    ],
    doc: "continued pre-training of a MoE model",
    typed: typed::<CptParams>(),
};

pub static SFT: KindSchema = KindSchema {
    name: "sft",
    // 2: `train_log.jsonl` records the tokens seen at each step.
    // 3: every default in the schema (`lr`, `warmup`, `aux_loss` were the trainer's).
    // 4: `train_log.jsonl` without timings (`tokens_per_s`, `mfu` are metrics only).
    // 5: the fused cross-entropy (`exp-trainer`'s `loss.rs`) rounds differently.
    version: 5,
    output: Artifact::Model,
    role: Role::Finetune,
    params: &[
        Param::required("base", Ty::Input(&[Artifact::Model]), "the model to fine-tune"),
        Param::required(
            "data",
            Ty::Input(&[Artifact::Documents]),
            "chat-formatted records; the loss is masked on prompts",
        ),
        Param::required("tokenizer", Ty::Input(&[Artifact::Tokenizer]), "the tokenizer"),
        Param::with(
            "lr",
            Ty::Schedule,
            Default::Schedule { peak: 2e-6, floor: 0.0, shape: "cosine" },
            "learning rate (the paper's: 2e-6, cosine)",
        ),
        Param::with("warmup", Ty::Warmup, Default::WarmupSteps(20), "warm-up (the paper's: 20 steps)"),
        Param::with("epochs", EPOCHS, Default::Int(1), "passes over the data"),
        Param::with(
            "max_steps",
            STEPS,
            Default::Int(0),
            "stop after this many optimiser steps, the schedule fitted to them (0: no limit)",
        ),
        Param::with("betas", BETAS, Default::Floats(&[0.9, 0.98]), "AdamW β1, β2"),
        Param::with("eps", POSITIVE, Default::Float(1e-8), "AdamW ε"),
        Param::with("weight_decay", POSITIVE, Default::Float(0.1), "AdamW decoupled weight decay"),
        Param::with("grad_clip", POSITIVE, Default::Float(1.0), "global gradient-norm clipping"),
        Param::with("aux_loss", POSITIVE, Default::Float(0.01), "router load-balancing loss coefficient"),
        Param::with(
            "dropout",
            FLOAT01,
            Default::Float(0.0),
            "dropout (exp's trainer supports 0 only, as the paper trains)",
        ),
        Param::with("global_batch", SEQS, Default::Int(64), "sequences per optimiser step"),
        Param::with("micro_batch", SEQS, Default::Int(1), "sequences per forward pass"),
        Param::with("seq", COUNT, Default::Int(4096), "sequence length"),
        Param::with(
            "checkpoint_every",
            STEPS,
            Default::Int(0),
            "steps between resumable checkpoints kept in the store's cache (0: none)",
        ),
        Param::with("seed", SEED, Default::Int(0), "data order seed"),
        Param::with("device", DEVICE, Default::Sym("cpu"), "where our trainer runs"),
        Param::with("precision", PRECISION, Default::Sym("fp32"), PRECISION_DOC),
    ],
    doc: "supervised fine-tuning on chat data",
    typed: typed::<SftParams>(),
};

/// Where exp's own trainer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

/// The number format of exp's trainer (`precision:`): part of a node's identity, since
/// bf16 gives other numbers than fp32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    /// bfloat16 parameters and activations on the GPU, fp32 master weights and AdamW state.
    Bf16,
}

/// bf16 needs a backend that stores bf16: burn's ndarray (the CPU) computes in f32 only.
pub fn precision_rule(device: Device, precision: Precision) -> Option<String> {
    (precision == Precision::Bf16 && device != Device::Cuda).then(|| {
        "`precision: bf16` needs `device: cuda`: the CPU backend (burn's ndarray) computes in f32 only".to_string()
    })
}

/// Megatron-LM's parallel layout (`parallel: { tp, pp, cp, ep }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub tp: u64,
    pub pp: u64,
    pub cp: u64,
    pub ep: u64,
}

impl Layout {
    /// No parallelism: what Megatron-LM runs when a node gives no `parallel`.
    pub const NONE: Layout = Layout { tp: 1, pp: 1, cp: 1, ep: 1 };

    /// The fewest GPUs the layout runs on. Megatron-LM splits the world into
    /// tp × pp × cp × dp and carves the expert-parallel groups out of the data-parallel
    /// ranks, so dp must be a multiple of ep: the smallest world is tp × pp × cp × ep.
    pub fn min_gpus(&self) -> u64 {
        self.tp * self.pp * self.cp * self.ep
    }
}

/// The optimiser and batch settings `cpt` and `sft` share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Optimiser {
    pub lr: Schedule,
    pub warmup: Warmup,
    pub max_steps: u64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub aux_loss: f64,
    pub dropout: f64,
    pub global_batch: u64,
    pub micro_batch: u64,
    pub seq: u64,
    pub checkpoint_every: u64,
    pub seed: u64,
    pub device: Device,
    pub precision: Precision,
}

impl Optimiser {
    /// The rules of exp's own trainer.
    fn broken(&self) -> Vec<Broken> {
        let mut broken = self.batch_rules();
        broken.extend(rule(self.dropout == 0.0, "dropout", || {
            "exp's trainer supports `dropout: 0` only (the paper trains without)".to_string()
        }));
        if let Some(message) = precision_rule(self.device, self.precision) {
            broken.push(Broken { param: "precision", message });
        }
        broken
    }

    /// The rules of any trainer.
    fn batch_rules(&self) -> Vec<Broken> {
        let (g, m) = (self.global_batch, self.micro_batch);
        [rule(g % m == 0, "micro_batch", || {
            format!("`global_batch` ({g}) must be a whole number of micro-batches of `micro_batch` ({m})")
        })]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The optimiser steps of pre-training on `corpus_tokens` tokens (before `max_steps`), for
/// every trainer: `tokens` ÷ (global batch × sequence) rounded up, or one epoch, every
/// whole sample of `seq` + 1 tokens (a sample's last token is the next one's first).
pub fn pretraining_steps(corpus_tokens: u64, seq: u64, global_batch: u64, tokens: Option<u64>) -> u64 {
    match tokens {
        Some(t) => t.div_ceil(global_batch * seq).max(1),
        None => (corpus_tokens.saturating_sub(1) / seq / global_batch).max(1),
    }
}

/// Who trains a node (`trainer:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trainer {
    Exp,
    Megatron(Megatron),
}

/// `megatron(version, nodes, gpus_per_node)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Megatron {
    pub version: String,
    pub nodes: u64,
    pub gpus_per_node: u64,
}

impl Megatron {
    /// Megatron-LM's world size: one process per GPU.
    pub fn world(&self) -> u64 {
        self.nodes * self.gpus_per_node
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CptParams {
    /// Tokens to train on; one epoch of the data when absent.
    pub tokens: Option<u64>,
    pub parallel: Option<Layout>,
    pub trainer: Trainer,
    #[serde(flatten)]
    pub optimiser: Optimiser,
}

impl CptParams {
    /// The layout Megatron-LM runs: `parallel`, or no parallelism when absent.
    pub fn layout(&self) -> Layout {
        self.parallel.unwrap_or(Layout::NONE)
    }
}

impl Params for CptParams {
    fn broken(&self) -> Vec<Broken> {
        match &self.trainer {
            Trainer::Exp => self.optimiser.broken(),
            // Megatron-LM has dropout; its layout rules that need no model are judged
            // here, those on the model's dimensions where the base is known (`exp check`).
            Trainer::Megatron(m) => {
                let mut broken = self.optimiser.batch_rules();
                broken.extend(crate::megatron::layout::world_rules(&self.layout(), m, &self.optimiser));
                broken
            }
        }
    }

    /// Megatron-LM's rules on the base model's dimensions, where they are known when
    /// checking: a `mixtral` preset, or an `hf_checkpoint` whose `config.json` is there.
    fn broken_upstream(&self, upstream: &Upstream) -> Vec<Broken> {
        let Trainer::Megatron(_) = self.trainer else { return Vec::new() };
        match base_model(upstream) {
            Some(Ok(model)) => crate::megatron::layout::model_rules(&self.layout(), &model, self.optimiser.seq),
            Some(Err(message)) => vec![Broken { param: "base", message }],
            None => Vec::new(),
        }
    }
}

/// The configuration of the model a training node starts from, following `base` through
/// earlier training nodes; `None` where it is not known before running (a checkpoint
/// whose files are not there yet: the plan says so).
pub fn base_model(upstream: &Upstream) -> Option<Result<MixtralConfig, String>> {
    let (node, above) = upstream.input("base")?;
    match node.kind.as_str() {
        "mixtral" => Some(crate::params::parse::<MixtralParams>(&node.params).map(|p| p.config())),
        "hf_checkpoint" => {
            let p = crate::params::parse::<HfCheckpointParams>(&node.params).ok()?;
            let file = upstream.root.join(&p.path).join("config.json");
            file.exists().then(|| MixtralConfig::read(&file).map_err(|e| e.to_string()))
        }
        _ => base_model(&above),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SftParams {
    pub epochs: u64,
    #[serde(flatten)]
    pub optimiser: Optimiser,
}
impl Params for SftParams {
    fn broken(&self) -> Vec<Broken> {
        self.optimiser.broken()
    }
}

#[cfg(test)]
mod precision_tests {
    use super::*;

    /// bf16 only where a backend stores it; fp32 everywhere.
    #[test]
    fn bf16_needs_cuda() {
        assert_eq!(precision_rule(Device::Cuda, Precision::Bf16), None);
        assert_eq!(precision_rule(Device::Cpu, Precision::Fp32), None);
        assert_eq!(precision_rule(Device::Cuda, Precision::Fp32), None);
        let refused = precision_rule(Device::Cpu, Precision::Bf16).expect("refused");
        assert!(refused.contains("device: cuda"), "{refused}");
    }
}
