//! `mixtral` (a freshly initialised model) and `hf_checkpoint` (a Hugging Face checkpoint
//! on disk) stages. Both produce a model artifact in the Hugging Face layout.

use crate::checkpoint;
use crate::config::MixtralConfig;
use crate::model::{Init, Mixtral};
use exp_dsl::schema::KindSchema;
use exp_stages::kinds::model::{HfCheckpointParams, MixtralParams, Preset, HF_CHECKPOINT, MIXTRAL};
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
        let p: MixtralParams = ctx.params()?;
        let mut config = match p.preset {
            Preset::LlmJp8x13b => MixtralConfig::llm_jp_8x13b(),
            Preset::Tiny => MixtralConfig::tiny(0),
        };
        if let Some(dir) = ctx.inputs_for("tokenizer").next() {
            config.vocab_size = exp_stages::kinds::tokenize::load_tokenizer(&dir.dir)?.vocab_size();
        }
        let overrides: [(Option<u64>, &mut usize); 9] = [
            (p.hidden, &mut config.hidden_size),
            (p.layers, &mut config.num_hidden_layers),
            (p.heads, &mut config.num_attention_heads),
            (p.kv_heads, &mut config.num_key_value_heads),
            (p.experts, &mut config.num_local_experts),
            (p.top_k, &mut config.num_experts_per_tok),
            (p.intermediate, &mut config.intermediate_size),
            (p.context, &mut config.max_position_embeddings),
            (p.vocab, &mut config.vocab_size),
        ];
        for (given, field) in overrides {
            if let Some(v) = given {
                *field = v as usize;
            }
        }
        if p.hidden.is_some() || p.heads.is_some() {
            config.head_dim = config.hidden_size / config.num_attention_heads;
        }
        if let Some(theta) = p.rope_theta {
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
        let seed = p.seed;
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
        let dir = ctx.root.join(ctx.params::<HfCheckpointParams>()?.path);
        let dir = dir.canonicalize().map_err(StageError::io(&dir))?;
        let config = checkpoint::check(&dir).map_err(|e| StageError::Param(e.to_string()))?;
        let (total, active) = config.parameter_counts();
        ctx.reporter.metric("parameters", None, total as f64);
        ctx.reporter.metric("active_parameters", None, active as f64);
        config.write(&ctx.out.join(checkpoint::CONFIG)).map_err(StageError::io(ctx.out))?;
        exp_stages::artifacts::write(ctx.out, &exp_stages::artifacts::CheckpointPointer { path: dir })?;
        Ok(())
    }
}
