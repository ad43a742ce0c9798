//! `cpt` (continued pre-training on a tokenised corpus) and `sft` (fine-tuning on chat
//! records, the loss masked on prompts). Both read the base model, train with
//! [`crate::train::train`] and write the result as a Hugging Face checkpoint, with every
//! step's metrics in the store and in `train_log.jsonl`.

use super::device::{dispatch, peak_flops};
use crate::checkpoint;
use crate::data::{Batches, Finetuning, Limited, Pretraining, Sequence};
use crate::schedule::Schedule;
use crate::train::{train, Hyper, Mixed, StepMetrics, TrainError};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use exp_stages::kinds::train::{CptParams, Device, Layout, Optimiser, SftParams, Trainer, CPT, SFT};
use exp_stages::params::parse;
use exp_stages::{Cluster, Context, Determinism, Resources, Stage, StageError};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Cpt;
pub struct Sft;

/// On the CPU any number of workers gives the same bits; on a GPU, not.
fn determinism(device: Option<Device>) -> Determinism {
    if device == Some(Device::Cuda) {
        Determinism::Not(super::GPU.into())
    } else {
        Determinism::Exact
    }
}

/// On the CPU the trainer asks for every core: one worker per granted core computes
/// micro-batches side by side (the result is the same for any number). On a GPU one
/// thread feeds the device.
fn resources(device: Option<Device>) -> Resources {
    let gpu = device == Some(Device::Cuda);
    let cpus = if gpu { 1 } else { exp_stages::cores() };
    Resources { cpus, memory_mb: 4096, gpus: usize::from(gpu) }
}

impl Stage for Cpt {
    fn schema(&self) -> &'static KindSchema {
        &CPT
    }

    fn resources(&self, params: &BTreeMap<String, Value>) -> Resources {
        match parse::<CptParams>(params) {
            // The job on the allocation's first host only starts and watches Megatron-LM.
            Ok(CptParams { trainer: Trainer::Megatron(m), .. }) => {
                Resources { cpus: 1, memory_mb: 4096, gpus: (m.nodes * m.gpus_per_node) as usize }
            }
            p => resources(p.ok().map(|p| p.optimiser.device)),
        }
    }

    fn layout(&self, params: &BTreeMap<String, Value>) -> Option<Layout> {
        parse::<CptParams>(params).ok()?.parallel
    }

    fn determinism(&self, params: &BTreeMap<String, Value>) -> Determinism {
        match parse::<CptParams>(params) {
            Ok(CptParams { trainer: Trainer::Megatron(_), .. }) => Determinism::Not(
                "Megatron-LM trains in bf16 on many GPUs, whose reductions are not bit-reproducible".into(),
            ),
            p => determinism(p.ok().map(|p| p.optimiser.device)),
        }
    }

    fn cluster(&self, params: &BTreeMap<String, Value>) -> Option<Cluster> {
        match parse::<CptParams>(params).ok()?.trainer {
            Trainer::Megatron(m) => Some(Cluster { nodes: m.nodes as usize, gpus_per_node: m.gpus_per_node as usize }),
            Trainer::Exp => None,
        }
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: CptParams = ctx.params()?;
        if let Trainer::Megatron(m) = &p.trainer {
            let base = checkpoint::model_dir(&input(ctx, "base")?).map_err(|e| StageError::Param(e.to_string()))?;
            return exp_stages::megatron::steps::run(ctx, &p, m, &base, &input(ctx, "data")?);
        }
        let o = &p.optimiser;
        let (seq, global_batch) = (o.seq as usize, o.global_batch as usize);
        let dir = input(ctx, "data")?;
        let data = Pretraining::open(&dir, seq, global_batch, p.tokens, o.seed).map_err(StageError::Param)?;
        ctx.reporter.log(&format!(
            "{} tokens in the corpus; {} steps of {global_batch} × {seq} tokens",
            data.corpus_tokens(),
            data.steps()
        ));
        dispatch!(o.device, o.precision, |B, device, mixed| run_training::<B>(ctx, o, &data, device, mixed))
    }
}

impl Stage for Sft {
    fn schema(&self) -> &'static KindSchema {
        &SFT
    }

    fn resources(&self, params: &BTreeMap<String, Value>) -> Resources {
        resources(parse::<SftParams>(params).ok().map(|p| p.optimiser.device))
    }

    fn determinism(&self, params: &BTreeMap<String, Value>) -> Determinism {
        determinism(parse::<SftParams>(params).ok().map(|p| p.optimiser.device))
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: SftParams = ctx.params()?;
        let o = &p.optimiser;
        let seq = o.seq as usize;
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
        let global_batch = o.global_batch as usize;
        let count = records.len();
        let data = Finetuning::new(records, global_batch, p.epochs, o.seed).map_err(StageError::Param)?;
        ctx.reporter.log(&format!("{count} chat records; {} steps of {global_batch} records", data.steps()));
        dispatch!(o.device, o.precision, |B, device, mixed| run_training::<B>(ctx, o, &data, device, mixed))
    }
}

fn input(ctx: &Context, role: &str) -> Result<PathBuf, StageError> {
    ctx.inputs_for(role).next().map(|i| i.dir.clone()).ok_or_else(|| StageError::Param(format!("no `{role}` input")))
}

/// The trainer's settings from the node's parameters, for a run of `steps` steps.
fn hyper(ctx: &Context, o: &Optimiser, steps: u64, mixed: Mixed) -> Hyper {
    Hyper {
        schedule: Schedule {
            peak: o.lr.peak,
            floor: o.lr.floor,
            shape: o.lr.shape,
            warmup_steps: o.warmup.steps(steps),
            total_steps: steps,
        },
        betas: o.betas,
        eps: o.eps,
        weight_decay: o.weight_decay,
        grad_clip: o.grad_clip,
        micro_batch: o.micro_batch as usize,
        aux_loss: o.aux_loss,
        checkpoint_every: o.checkpoint_every,
        peak_flops: peak_flops(o.device),
        // One on a GPU: the node asked for one slot there.
        workers: ctx.threads.max(1),
        mixed,
    }
}

fn run_training<B: AutodiffBackend>(
    ctx: &Context,
    o: &Optimiser,
    data: &dyn Batches,
    device: B::Device,
    mixed: Mixed,
) -> Result<(), StageError> {
    let data = &Limited { inner: data, max: o.max_steps };
    let base = checkpoint::model_dir(&input(ctx, "base")?).map_err(|e| StageError::Param(e.to_string()))?;
    let (config, model) = checkpoint::load::<B>(&base, &device).map_err(|e| StageError::Param(e.to_string()))?;
    let hyper = hyper(ctx, o, data.steps(), mixed);
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
    exp_stages::artifacts::write_lines(&ctx.out.join(exp_stages::artifacts::TRAIN_LOG), history)
}
