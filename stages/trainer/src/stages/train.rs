//! `cpt` (continued pre-training on a tokenised corpus) and `sft` (fine-tuning on chat
//! records, the loss masked on prompts). Both read the base model, train with
//! [`crate::train::train`] and write the result as a Hugging Face checkpoint, with every
//! step's metrics in the store and in `train_log.jsonl`.

use super::device::{dispatch, peak_flops};
use crate::checkpoint;
use crate::data::{Batches, Finetuning, Limited, Pretraining, Sequence};
use crate::schedule::{Schedule, Shape};
use crate::train::{train, Hyper, StepMetrics, TrainError};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use exp_stages::kinds::train::{CPT, SFT};
use exp_stages::{Context, Resources, Stage, StageError};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Cpt;
pub struct Sft;

/// What differs between the two: the defaults of the paper, and the data.
struct Recipe {
    /// Peak, floor and shape when `lr` is not given.
    lr: (f64, f64, Shape),
    /// Warm-up when not given: a share of the steps or a step count.
    warmup: Warmup,
}

#[derive(Clone, Copy)]
enum Warmup {
    Fraction(f64),
    Steps(u64),
}

const CPT_RECIPE: Recipe = Recipe { lr: (1.5e-4, 1.5e-5, Shape::Cosine), warmup: Warmup::Fraction(0.03) };
const SFT_RECIPE: Recipe = Recipe { lr: (2e-6, 0.0, Shape::Cosine), warmup: Warmup::Steps(20) };

/// On the CPU the trainer asks for every core: one worker per granted core computes
/// micro-batches side by side (the result is the same for any number). On a GPU one
/// thread feeds the device.
fn resources(params: &BTreeMap<String, Value>) -> Resources {
    let gpu = params.get("device") == Some(&Value::Str("cuda".into()));
    let cpus = if gpu { 1 } else { exp_stages::cores() };
    Resources { cpus, memory_mb: 4096, gpus: usize::from(gpu) }
}

impl Stage for Cpt {
    fn schema(&self) -> &'static KindSchema {
        &CPT
    }

    fn resources(&self, params: &BTreeMap<String, Value>) -> Resources {
        resources(params)
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let seq = ctx.int_param("seq").unwrap_or(4096) as usize;
        let global_batch = ctx.int_param("global_batch").unwrap_or(1024) as usize;
        let tokens = ctx.int_param("tokens").map(|t| t as u64);
        let seed = ctx.int_param("seed").unwrap_or(0) as u64;
        let dir = input(ctx, "data")?;
        let data = Pretraining::open(&dir, seq, global_batch, tokens, seed).map_err(StageError::Param)?;
        ctx.reporter.log(&format!(
            "{} tokens in the corpus; {} steps of {global_batch} × {seq} tokens",
            data.corpus_tokens(),
            data.steps()
        ));
        dispatch!(ctx, |B, device| run_training::<B>(ctx, &CPT_RECIPE, &data, device))
    }
}

impl Stage for Sft {
    fn schema(&self) -> &'static KindSchema {
        &SFT
    }

    fn resources(&self, params: &BTreeMap<String, Value>) -> Resources {
        resources(params)
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let seq = ctx.int_param("seq").unwrap_or(4096) as usize;
        let tokenizer = exp_stages::kinds::tokenize::load_tokenizer(&input(ctx, "tokenizer")?)?;
        let eos = tokenizer
            .id_of("</s>")
            .ok_or_else(|| StageError::Param("the tokenizer has no `</s>` piece to end responses".into()))?;
        let mut records: Vec<Sequence> = Vec::new();
        for doc in exp_stages::documents::read(&input(ctx, "data")?)? {
            let doc = doc?;
            let prompt_chars: usize =
                doc.meta.get("prompt_chars").and_then(|n| n.parse().ok()).ok_or_else(|| StageError::BadRecord {
                    at: format!("{} ({})", doc.id, doc.source),
                    message: "no prompt/response split: render SFT data with `format: chat`".into(),
                })?;
            let prompt: String = doc.text.chars().take(prompt_chars).collect();
            records.push(Finetuning::record(&tokenizer.encode(&prompt), &tokenizer.encode(&doc.text), eos, seq));
        }
        let global_batch = ctx.int_param("global_batch").unwrap_or(64) as usize;
        let epochs = ctx.int_param("epochs").unwrap_or(1) as u64;
        let seed = ctx.int_param("seed").unwrap_or(0) as u64;
        let count = records.len();
        let data = Finetuning::new(records, global_batch, epochs, seed).map_err(StageError::Param)?;
        ctx.reporter.log(&format!("{count} chat records; {} steps of {global_batch} records", data.steps()));
        dispatch!(ctx, |B, device| run_training::<B>(ctx, &SFT_RECIPE, &data, device))
    }
}

fn input(ctx: &Context, role: &str) -> Result<PathBuf, StageError> {
    ctx.inputs_for(role).next().map(|i| i.dir.clone()).ok_or_else(|| StageError::Param(format!("no `{role}` input")))
}

fn float(ctx: &Context, name: &str, default: f64) -> f64 {
    ctx.param(name).as_f64().unwrap_or(default)
}

/// The settings from the stage's parameters, the recipe's defaults where absent.
fn hyper(ctx: &Context, recipe: &Recipe, steps: u64) -> Hyper {
    let lr = ctx.param("lr");
    let (peak, floor, shape) = match lr {
        Value::Map(_) => (
            lr.get("peak").and_then(Value::as_f64).unwrap_or(recipe.lr.0),
            lr.get("floor").and_then(Value::as_f64).unwrap_or(recipe.lr.1),
            match lr.get("shape") {
                Some(Value::Str(s)) if s == "linear" => Shape::Linear,
                Some(Value::Str(s)) if s == "constant" => Shape::Constant,
                _ => Shape::Cosine,
            },
        ),
        _ => recipe.lr,
    };
    let warmup = match ctx.param("warmup") {
        Value::Map(m) if m.contains_key("steps") => Warmup::Steps(m["steps"].as_f64().unwrap_or(0.0) as u64),
        Value::Map(m) => Warmup::Fraction(m.get("fraction").and_then(Value::as_f64).unwrap_or(0.0)),
        _ => recipe.warmup,
    };
    let warmup_steps = match warmup {
        Warmup::Fraction(f) => (f * steps as f64).round() as u64,
        Warmup::Steps(s) => s.min(steps),
    };
    let betas = match ctx.param("betas") {
        Value::List(b) if b.len() == 2 => (b[0].as_f64().unwrap_or(0.9), b[1].as_f64().unwrap_or(0.95)),
        _ => (0.9, 0.95),
    };
    Hyper {
        schedule: Schedule { peak, floor, shape, warmup_steps, total_steps: steps },
        betas,
        eps: float(ctx, "eps", 1e-8),
        weight_decay: float(ctx, "weight_decay", 0.1),
        grad_clip: float(ctx, "grad_clip", 1.0),
        micro_batch: ctx.int_param("micro_batch").unwrap_or(1) as usize,
        aux_loss: float(ctx, "aux_loss", 0.01),
        checkpoint_every: ctx.int_param("checkpoint_every").unwrap_or(0) as u64,
        peak_flops: peak_flops(ctx.str_param("device").unwrap_or("cpu")),
        // One on a GPU: the node asked for one slot there.
        workers: ctx.threads.max(1),
    }
}

fn run_training<B: AutodiffBackend>(
    ctx: &Context,
    recipe: &Recipe,
    data: &dyn Batches,
    device: B::Device,
) -> Result<(), StageError> {
    if float(ctx, "dropout", 0.0) > 0.0 {
        return Err(StageError::Param(
            "`dropout` above 0 is not supported by exp's trainer (the paper trains without)".into(),
        ));
    }
    let data = &Limited { inner: data, max: ctx.int_param("max_steps").unwrap_or(0) as u64 };
    let base = checkpoint::model_dir(&input(ctx, "base")?).map_err(|e| StageError::Param(e.to_string()))?;
    let (config, model) = checkpoint::load::<B>(&base, &device).map_err(|e| StageError::Param(e.to_string()))?;
    let hyper = hyper(ctx, recipe, data.steps());
    let checkpoints = ctx.node_cache();
    std::fs::create_dir_all(&checkpoints).map_err(StageError::io(&checkpoints))?;
    let began = std::time::Instant::now();
    let (model, history) =
        train(model, &config, &hyper, data, Some(&checkpoints), ctx.reporter, ctx.cancel).map_err(|e| match e {
            TrainError::Cancelled => StageError::Cancelled,
            other => StageError::Param(other.to_string()),
        })?;
    checkpoint::save(&model.valid(), &config, ctx.out, super::model::SHARD_BYTES)
        .map_err(|e| StageError::Param(e.to_string()))?;
    write_log(ctx, &history)?;
    let last = history.last().map_or(f64::NAN, |m| m.loss);
    ctx.reporter.metric("final_loss", None, last);
    ctx.reporter.log(&format!(
        "{} steps in {:.1} s; final loss {last:.4}",
        history.len(),
        began.elapsed().as_secs_f64()
    ));
    // The run is in the store now; its checkpoints are no longer needed.
    let _ = std::fs::remove_dir_all(&checkpoints);
    Ok(())
}

/// Every step's metrics as JSON lines beside the weights, for plotting.
fn write_log(ctx: &Context, history: &[StepMetrics]) -> Result<(), StageError> {
    let path = ctx.out.join("train_log.jsonl");
    let lines: String = history.iter().map(|m| serde_json::to_string(m).expect("metrics serialise") + "\n").collect();
    std::fs::write(&path, lines).map_err(StageError::io(&path))
}
