//! Base models: a configured Mixtral-style MoE, or a Hugging Face checkpoint on disk.

use super::{COUNT, SEED};
use crate::hf_config::MixtralConfig;
use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    #[serde(rename = "tiny")]
    Tiny,
    #[serde(rename = "llm-jp-8x13b")]
    LlmJp8x13b,
}

/// The preset's dimensions, each replaced where given.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixtralParams {
    pub preset: Preset,
    pub hidden: Option<u64>,
    pub layers: Option<u64>,
    pub heads: Option<u64>,
    pub kv_heads: Option<u64>,
    pub experts: Option<u64>,
    pub top_k: Option<u64>,
    pub intermediate: Option<u64>,
    pub context: Option<u64>,
    pub vocab: Option<u64>,
    pub rope_theta: Option<f64>,
    pub seed: u64,
}
impl Params for MixtralParams {}

impl MixtralParams {
    /// The preset with each given dimension replaced. The vocabulary is `vocab`, else 0:
    /// the stage takes it from its tokenizer.
    pub fn config(&self) -> MixtralConfig {
        let mut config = match self.preset {
            Preset::LlmJp8x13b => MixtralConfig::llm_jp_8x13b(),
            Preset::Tiny => MixtralConfig::tiny(0),
        };
        let overrides: [(Option<u64>, &mut usize); 9] = [
            (self.hidden, &mut config.hidden_size),
            (self.layers, &mut config.num_hidden_layers),
            (self.heads, &mut config.num_attention_heads),
            (self.kv_heads, &mut config.num_key_value_heads),
            (self.experts, &mut config.num_local_experts),
            (self.top_k, &mut config.num_experts_per_tok),
            (self.intermediate, &mut config.intermediate_size),
            (self.context, &mut config.max_position_embeddings),
            (self.vocab, &mut config.vocab_size),
        ];
        for (given, field) in overrides {
            if let Some(v) = given {
                *field = v as usize;
            }
        }
        if self.hidden.is_some() || self.heads.is_some() {
            config.head_dim = config.hidden_size / config.num_attention_heads;
        }
        if let Some(theta) = self.rope_theta {
            config.rope_theta = theta;
        }
        config
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfCheckpointParams {
    pub path: String,
}
impl Params for HfCheckpointParams {
    /// The configuration and the weights (one file or index and shards), not whatever
    /// else the folder holds (a README, tokenizer files): those do not make the model.
    fn reads(&self) -> Option<Vec<exp_dsl::schema::Read>> {
        let read = |pattern: &str, required: bool| exp_dsl::schema::Read {
            param: "path",
            base: self.path.clone(),
            pattern: pattern.to_string(),
            required,
        };
        Some(vec![read("config.json", true), read("*.safetensors", true), read("model.safetensors.index.json", false)])
    }
}

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
    typed: typed::<MixtralParams>(),
};

pub static HF_CHECKPOINT: KindSchema = KindSchema {
    name: "hf_checkpoint",
    // 2: the identity covers the configuration and the weights, not the whole folder.
    version: 2,
    output: Artifact::Model,
    role: Role::Plain,
    params: &[Param::required("path", Ty::Path, "folder with `config.json` and safetensors (sharded or not)")],
    doc: "a Hugging Face `MixtralForCausalLM` checkpoint",
    typed: typed::<HfCheckpointParams>(),
};
