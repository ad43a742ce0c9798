//! `mixtral` (a freshly initialised model) and `hf_checkpoint` (a Hugging Face checkpoint
//! on disk) stages. Both produce a model artifact in the Hugging Face layout.

use crate::checkpoint;
use crate::model::{Init, Mixtral};
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use exp_stages::kinds::model::{HfCheckpointParams, MixtralParams, HF_CHECKPOINT, MIXTRAL};
use exp_stages::{Context, Determinism, Stage, StageError};
use std::collections::BTreeMap;

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
        let mut config = p.config();
        if let (Some(dir), None) = (ctx.inputs_for("tokenizer").next(), p.vocab) {
            config.vocab_size = exp_stages::kinds::tokenize::load_tokenizer(&dir.dir)?.vocab_size();
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

    fn determinism(&self, _: &BTreeMap<String, Value>) -> Determinism {
        Determinism::Not("its artifact is where the weights are, which depends on where the experiment is".into())
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
