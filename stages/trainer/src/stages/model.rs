//! `mixtral` (a freshly initialised model) and `hf_checkpoint` (a Hugging Face checkpoint
//! on disk) stages. Both produce a model artifact in the Hugging Face layout.

use crate::checkpoint;
use crate::config::MixtralConfig;
use crate::model::{Init, Mixtral};
use exp_dsl::schema::KindSchema;
use exp_stages::kinds::model::{HF_CHECKPOINT, MIXTRAL};
use exp_stages::{Context, Stage, StageError};

/// Weights are written in shards of at most 2 GB, so no single file gets unwieldy; a
/// tiny model is one file.
pub const SHARD_BYTES: usize = 2_000_000_000;

/// The largest model `mixtral` initialises on this machine; larger ones start from a
/// checkpoint where they train.
const MAX_INIT_BYTES: u64 = 8 << 30;

pub struct MixtralStage;

impl Stage for MixtralStage {
    fn schema(&self) -> &'static KindSchema {
        &MIXTRAL
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let mut config = match ctx.str_param("preset") {
            Some("llm-jp-8x13b") => MixtralConfig::llm_jp_8x13b(),
            _ => MixtralConfig::tiny(0),
        };
        if let Some(dir) = ctx.inputs_for("tokenizer").next() {
            config.vocab_size = exp_stages::kinds::tokenize::load_tokenizer(&dir.dir)?.vocab_size();
        }
        let count = |name: &str| ctx.int_param(name).map(|v| v as usize);
        let overrides: [(&str, &mut usize); 9] = [
            ("hidden", &mut config.hidden_size),
            ("layers", &mut config.num_hidden_layers),
            ("heads", &mut config.num_attention_heads),
            ("kv_heads", &mut config.num_key_value_heads),
            ("experts", &mut config.num_local_experts),
            ("top_k", &mut config.num_experts_per_tok),
            ("intermediate", &mut config.intermediate_size),
            ("context", &mut config.max_position_embeddings),
            ("vocab", &mut config.vocab_size),
        ];
        for (name, field) in overrides {
            if let Some(v) = count(name) {
                *field = v;
            }
        }
        if ctx.int_param("hidden").is_some() || ctx.int_param("heads").is_some() {
            config.head_dim = config.hidden_size / config.num_attention_heads;
        }
        if let Some(theta) = ctx.param("rope_theta").as_f64() {
            config.rope_theta = theta;
        }
        if config.vocab_size == 0 {
            return Err(StageError::Param("the vocabulary size is unknown: give `tokenizer:` or `vocab:`".into()));
        }
        config.validate().map_err(StageError::Param)?;
        let (total, active) = config.parameter_counts();
        if total * 4 > MAX_INIT_BYTES {
            return Err(StageError::Param(format!(
                "{total} parameters ({} GB in f32) is too large to initialise here; start from `hf_checkpoint(...)`",
                total * 4 / 1_000_000_000
            )));
        }
        let seed = ctx.int_param("seed").unwrap_or(0) as u64;
        type B = burn::backend::NdArray<f32>;
        let model: Mixtral<B> = Mixtral::new(&config, Init::Random(&mut Init::seeded(seed)), &Default::default());
        checkpoint::save(&model, &config, ctx.out, SHARD_BYTES).map_err(|e| StageError::Param(e.to_string()))?;
        ctx.reporter.metric("parameters", None, total as f64);
        ctx.reporter.metric("active_parameters", None, active as f64);
        ctx.reporter.log(&format!(
            "Mixtral: {} layers, hidden {}, {} experts (top {}), vocabulary {}: {total} parameters, {active} active",
            config.num_hidden_layers,
            config.hidden_size,
            config.num_local_experts,
            config.num_experts_per_tok,
            config.vocab_size
        ));
        Ok(())
    }
}

pub struct HfCheckpoint;

impl Stage for HfCheckpoint {
    fn schema(&self) -> &'static KindSchema {
        &HF_CHECKPOINT
    }

    /// Checks the checkpoint from its headers and records where it is: the weights stay
    /// where they are (the node's identity already covers their bytes).
    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let path = ctx.str_param("path").ok_or_else(|| StageError::Param("no `path`".into()))?;
        let dir = ctx.root.join(path);
        let dir = dir.canonicalize().map_err(StageError::io(&dir))?;
        let config = checkpoint::check(&dir).map_err(|e| StageError::Param(e.to_string()))?;
        let (total, active) = config.parameter_counts();
        ctx.reporter.metric("parameters", None, total as f64);
        ctx.reporter.metric("active_parameters", None, active as f64);
        config.write(&ctx.out.join(checkpoint::CONFIG)).map_err(StageError::io(ctx.out))?;
        let pointer = serde_json::json!({ "path": dir });
        let file = ctx.out.join(checkpoint::POINTER);
        std::fs::write(&file, pointer.to_string() + "\n").map_err(StageError::io(&file))?;
        Ok(())
    }
}
