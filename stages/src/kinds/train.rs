//! Continued pre-training and supervised fine-tuning. Every hyperparameter of the paper's
//! Table 1 (CPT) and SFT settings is a parameter; the defaults are the paper's.

use super::{COUNT, SEED};
use exp_dsl::ast::Unit;
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};

const FLOAT01: Ty = Ty::Float { min: 0.0, max: 1.0 };
const POSITIVE: Ty = Ty::Float { min: 0.0, max: f64::INFINITY };
const BETAS: Ty = Ty::Tuple(&[FLOAT01, FLOAT01]);
const DEVICE: Ty = Ty::Enum(&["cpu", "cuda"]);
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

pub static CPT: KindSchema = KindSchema {
    name: "cpt",
    // 2: `train_log.jsonl` records the tokens seen at each step.
    version: 2,
    output: Artifact::Model,
    role: Role::Pretrain,
    params: &[
        Param::required("base", Ty::Input(&[Artifact::Model]), "the model to continue"),
        Param::required("data", Ty::Input(&[Artifact::Tokens]), "tokenised corpus"),
        Param::with(
            "lr",
            Ty::Schedule,
            Default::Optional,
            "learning rate: peak -> floor shape (paper: 1.5e-4 -> 1.5e-5 cosine)",
        ),
        Param::with("warmup", Ty::Warmup, Default::Optional, "warm-up (paper: 3% of the steps)"),
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
        Param::with(
            "parallel",
            Ty::Struct(PARALLEL),
            Default::Optional,
            "Megatron-LM layout at cluster scale (paper: tp 2, pp 4, cp 1, ep 4)",
        ),
    ],
    doc: "continued pre-training of a MoE model",
};

/// The same node handed to Megatron-LM at cluster scale.
pub static MEGATRON_CPT: KindSchema = KindSchema {
    name: "megatron_cpt",
    version: 1,
    output: Artifact::Model,
    role: Role::Pretrain,
    params: CPT.params,
    doc: "continued pre-training launched with Megatron-LM on a cluster",
};

pub static SFT: KindSchema = KindSchema {
    name: "sft",
    // 2: `train_log.jsonl` records the tokens seen at each step.
    version: 2,
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
        Param::with("lr", Ty::Schedule, Default::Optional, "learning rate (paper: 2e-6)"),
        Param::with("warmup", Ty::Warmup, Default::Optional, "warm-up (paper: 20 steps)"),
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
    ],
    doc: "supervised fine-tuning on chat data",
};
