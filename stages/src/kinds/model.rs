//! Base models: a configured Mixtral-style MoE, or a Hugging Face checkpoint on disk.

use super::{COUNT, SEED};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};

pub static MIXTRAL: KindSchema = KindSchema {
    name: "mixtral",
    version: 1,
    output: Artifact::Model,
    role: Role::Plain,
    params: &[
        Param::required(
            "preset",
            Ty::Enum(&["tiny", "llm-jp-8x13b"]),
            "`tiny` for CPU runs; `llm-jp-8x13b` is the paper's base configuration",
        ),
        Param::optional("hidden", COUNT, "hidden size (overrides the preset)"),
        Param::optional("layers", COUNT, "decoder layers"),
        Param::optional("heads", COUNT, "attention heads"),
        Param::optional("kv_heads", COUNT, "key/value heads (grouped-query attention)"),
        Param::optional("experts", COUNT, "experts per MoE block"),
        Param::optional("top_k", COUNT, "experts routed per token"),
        Param::optional("intermediate", COUNT, "expert feed-forward size"),
        Param::optional("context", COUNT, "maximum sequence length"),
        Param::optional("vocab", COUNT, "vocabulary size (normally the tokenizer's)"),
        Param::optional("rope_theta", Ty::Float { min: 1.0, max: f64::INFINITY }, "rotary embedding base"),
        Param::optional(
            "tokenizer",
            Ty::Input(&[Artifact::Tokenizer]),
            "tokenizer whose vocabulary sizes the embedding",
        ),
        Param::with("seed", SEED, Default::Int(0), "initialisation seed"),
    ],
    doc: "a freshly initialised Mixtral-style MoE",
};

pub static HF_CHECKPOINT: KindSchema = KindSchema {
    name: "hf_checkpoint",
    version: 1,
    output: Artifact::Model,
    role: Role::Plain,
    params: &[Param::required("path", Ty::Path, "folder with `config.json` and safetensors (sharded or not)")],
    doc: "a Hugging Face `MixtralForCausalLM` checkpoint",
};
