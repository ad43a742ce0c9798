//! The training loop shared by continued pre-training and fine-tuning: micro-batches
//! accumulated to the global batch, the loss plus the router load-balancing term,
//! global-norm gradient clipping, AdamW with the schedule's learning rate, a checkpoint
//! every N steps and exact resumption from the last one.

use crate::config::MixtralConfig;
use crate::data::{Batches, Sequence};
use crate::model::{load_balancing_loss, Init, Mixtral};
pub use crate::precision::Mixed;
use crate::schedule::Schedule;
use crate::threads::map_in_order;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, TensorData};
use exp_stages::{artifacts, Reporter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Every optimisation setting of the paper's Table 1 and its SFT settings.
#[derive(Clone, Debug)]
pub struct Hyper {
    pub schedule: Schedule,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clipping; 0 turns it off.
    pub grad_clip: f64,
    /// Sequences per forward pass; the global batch is what the data gives per step.
    pub micro_batch: usize,
    pub aux_loss: f64,
    /// Steps between resumable checkpoints; 0: none.
    pub checkpoint_every: u64,
    /// Peak FLOP/s of the device, for the model-FLOPs utilisation.
    pub peak_flops: f64,
    /// Threads computing a step's micro-batches side by side (CPU). Their gradients are
    /// summed in micro-batch order, so any number gives the same bits as one.
    pub workers: usize,
    /// fp32, or bf16 compute with fp32 master weights and AdamW state (`precision.rs`).
    pub mixed: Mixed,
}

/// One step's measurements, as stored with the node (`train_log.jsonl`) and in a
/// checkpoint: an artifact format, so it is defined with the others.
pub use exp_stages::artifacts::StepMetrics;

/// How fast a step ran: reported as metrics (the manifest, the index, the terminal) but
/// never written into the artifact, whose bytes must not depend on the machine.
#[derive(Clone, Copy, Debug)]
pub struct StepTiming {
    pub tokens_per_s: f64,
    pub mfu: f64,
}

/// Reports a step's metrics, and its timings where this process ran it (a step replayed
/// from a checkpoint has none).
fn report(m: &StepMetrics, timing: Option<StepTiming>, reporter: &dyn Reporter) {
    let step = Some(m.step);
    for (name, value) in [
        ("loss", m.loss),
        ("aux_loss", m.aux_loss),
        ("lr", m.lr),
        ("grad_norm", m.grad_norm),
        ("expert_load_max", m.expert_load_max),
    ] {
        reporter.metric(name, step, value);
    }
    if let Some(t) = timing {
        reporter.metric("tokens_per_s", step, t.tokens_per_s);
        reporter.metric("mfu", step, t.mfu);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("step {step}: the loss is {loss}; lower the learning rate or check the data")]
    NotFinite { step: u64, loss: f64 },
    #[error("{0}")]
    Data(String),
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
}

/// Model FLOPs per trained token (PaLM's count: 6 per active non-embedding parameter
/// plus the attention scores, forward and backward).
pub fn flops_per_token(config: &MixtralConfig, seq: usize) -> f64 {
    let (_, active) = config.parameter_counts();
    let non_embedding = active - (config.vocab_size * config.hidden_size) as u64;
    6.0 * non_embedding as f64 + 12.0 * (config.num_hidden_layers * config.q_dim() * seq) as f64
}

/// Trains `model` on `data`. With `checkpoints`, resumes from the newest complete
/// checkpoint found there and writes one every `checkpoint_every` steps; every step's
/// metrics, resumed ones included, go to `reporter` and are returned.
pub fn train<B: AutodiffBackend>(
    mut model: Mixtral<B>,
    config: &MixtralConfig,
    hyper: &Hyper,
    data: &dyn Batches,
    checkpoints: Option<&Path>,
    reporter: &dyn Reporter,
    cancel: &AtomicBool,
) -> Result<(Mixtral<B>, Vec<StepMetrics>), TrainError> {
    if data.max_token() as usize >= config.vocab_size {
        return Err(TrainError::Data(format!(
            "token id {} is outside the model's vocabulary of {}: the tokenizer is larger than the embedding",
            data.max_token(),
            config.vocab_size
        )));
    }
    // The loss's reused logit buffers are freed when the run ends, however it ends.
    let _buffers = ReleaseBuffers;
    let device = model.lm_head.weight.device();
    let mut optim = AdamWConfig::new()
        .with_beta_1(hyper.betas.0 as f32)
        .with_beta_2(hyper.betas.1 as f32)
        .with_epsilon(hyper.eps as f32)
        .with_weight_decay(hyper.weight_decay as f32)
        .init::<B, Mixtral<B>>();
    let mut history: Vec<StepMetrics> = Vec::new();
    let mut start = 0;
    if let Some(dir) = checkpoints {
        if let Some((step, path)) = newest_checkpoint(dir) {
            let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
            let error =
                |e: burn::record::RecorderError| TrainError::Checkpoint { path: path.clone(), message: e.to_string() };
            let record = recorder.load(path.join("model"), &device).map_err(error)?;
            model = Mixtral::new(config, Init::Placeholder, &device).load_record(record);
            optim = optim.load_record(recorder.load(path.join("optim"), &device).map_err(error)?);
            history = artifacts::read_lines(&path.join(artifacts::CHECKPOINT_METRICS))
                .map_err(|e| TrainError::Checkpoint { path: path.clone(), message: e.to_string() })?;
            reporter.log(&format!("resuming from the checkpoint of step {step}"));
            for m in &history {
                report(m, None, reporter);
            }
            start = step;
        }
    }
    // Mixed precision (`precision.rs`): the optimiser keeps fp32 masters; each step
    // computes on `forward`, their bf16 copy, whose gradients come back as fp32.
    model = hyper.mixed.master(model);
    let seq_flops = |tokens: usize, seq: usize| tokens as f64 * flops_per_token(config, seq);
    let total = data.steps();
    for step in start..total {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Cancelled);
        }
        let began = Instant::now();
        let batch = data.batch(step);
        let micros: Vec<&[Sequence]> = batch.chunks(hyper.micro_batch.max(1)).collect();
        let scale = 1.0 / micros.len() as f64;
        let mut accumulator = GradientsAccumulator::<Mixtral<B>>::new();
        let (mut ce_sum, mut aux_sum, mut flops, mut tokens) = (0.0, 0.0, 0.0, 0usize);
        let mut counts = vec![0u64; config.num_local_experts];
        // One micro-batch per worker at a time, accumulated in order as each round ends:
        // at most `workers` sets of gradients are held besides the sum (a global batch of
        // 1,024 micro-batches must not hold 1,024).
        let compute = hyper.mixed.compute(&model);
        let forward = compute.as_ref().unwrap_or(&model);
        for round in micros.chunks(hyper.workers.max(1)) {
            for m in micro_steps(forward, config, hyper, round, &device, scale) {
                accumulator.accumulate(&model, hyper.mixed.master_grads(forward, m.grads));
                for (c, n) in counts.iter_mut().zip(&m.counts) {
                    *c += n;
                }
                ce_sum += m.ce * scale;
                aux_sum += m.aux * scale;
                tokens += m.tokens;
                flops += seq_flops(m.tokens, m.seq);
            }
        }
        drop(compute); // the bf16 copy is stale once the masters move
        let number = step + 1;
        if !ce_sum.is_finite() {
            return Err(TrainError::NotFinite { step: number, loss: ce_sum });
        }
        let mut grads = accumulator.grads();
        let norm = global_norm(&model, &grads);
        if hyper.grad_clip > 0.0 && norm > hyper.grad_clip {
            let mut scaler = GradScale { grads: &mut grads, factor: hyper.grad_clip / (norm + 1e-6) };
            model = model.map(&mut scaler);
        }
        let lr = hyper.schedule.at(number);
        model = optim.step(lr, model, grads);
        let seconds = began.elapsed().as_secs_f64().max(1e-9);
        let mean_load = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        let metrics = StepMetrics {
            step: number,
            loss: ce_sum,
            aux_loss: aux_sum,
            lr,
            grad_norm: norm,
            expert_load_max: counts.iter().copied().max().unwrap_or(0) as f64 / mean_load.max(1e-9),
            tokens: history.last().map_or(0, |m: &StepMetrics| m.tokens) + tokens as u64,
        };
        let timing = StepTiming { tokens_per_s: tokens as f64 / seconds, mfu: flops / seconds / hyper.peak_flops };
        report(&metrics, Some(timing), reporter);
        reporter.progress(number, Some(total), "steps");
        history.push(metrics);
        if let Some(dir) = checkpoints {
            if hyper.checkpoint_every > 0 && number % hyper.checkpoint_every == 0 && number < total {
                write_checkpoint(dir, number, &model, &optim, &history)?;
            }
        }
    }
    Ok((model, history))
}

struct ReleaseBuffers;

impl Drop for ReleaseBuffers {
    fn drop(&mut self) {
        crate::loss::release_buffers();
    }
}

/// What one micro-batch gives: its gradients (already scaled to the global batch), its
/// unscaled losses and what the router did.
struct Micro {
    grads: GradientsParams,
    ce: f64,
    aux: f64,
    counts: Vec<u64>,
    tokens: usize,
    seq: usize,
}

fn micro_step<B: AutodiffBackend>(
    model: &Mixtral<B>,
    config: &MixtralConfig,
    hyper: &Hyper,
    micro: &[Sequence],
    device: &B::Device,
    scale: f64,
) -> Micro {
    let (inputs, targets, mask, seq) = tensors::<B>(micro, device);
    // The loss straight from the last hidden states: the `[tokens, vocab]` logits are
    // never an autodiff tensor (`loss.rs`; on the CPU, a reused buffer that becomes its
    // own gradient).
    let (hidden, routing) = model.forward_hidden(config, inputs);
    let ce = model.lm_head.cross_entropy(hidden, targets, mask);
    let mut counts = vec![0u64; config.num_local_experts];
    for r in &routing {
        for (c, n) in counts.iter_mut().zip(&r.counts) {
            *c += n;
        }
    }
    let aux = load_balancing_loss(&routing);
    let loss = (ce.clone() + aux.clone().mul_scalar(hyper.aux_loss)).mul_scalar(scale);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    Micro {
        grads,
        ce: ce.into_scalar().elem::<f64>(),
        aux: aux.into_scalar().elem::<f64>(),
        counts,
        tokens: micro.len() * seq,
        seq,
    }
}

/// The given micro-batches (one round), in order, on `hyper.workers` threads. Each worker has its
/// own replica of the model: the same parameters (same ids, so the gradients land on the
/// same keys) as fresh autodiff leaves, so the workers' graphs never merge and never wait
/// on each other's backward pass. One worker uses the model itself.
fn micro_steps<B: AutodiffBackend>(
    model: &Mixtral<B>,
    config: &MixtralConfig,
    hyper: &Hyper,
    micros: &[&[Sequence]],
    device: &B::Device,
    scale: f64,
) -> Vec<Micro> {
    if hyper.workers <= 1 {
        return micros.iter().map(|m| micro_step(model, config, hyper, m, device, scale)).collect();
    }
    map_in_order(
        micros,
        hyper.workers,
        || model.clone().map(&mut FreshLeaves),
        |replica, m| micro_step(replica, config, hyper, m, device, scale),
    )
}

/// Makes every parameter a new autodiff leaf with the same value and id.
struct FreshLeaves;

impl<B: AutodiffBackend> ModuleMapper<B> for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.map(|t| t.detach().require_grad())
    }
}

/// Pads a micro-batch to its longest sequence: inputs `ids[..n-1]` as `[batch, seq]`,
/// targets `ids[1..]` and the loss mask (0 on padding and masked positions) flattened.
fn tensors<B: Backend>(
    micro: &[Sequence],
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 1, Int>, Tensor<B, 1>, usize) {
    let seq = micro.iter().map(|s| s.ids.len() - 1).max().unwrap_or(1).max(1);
    let b = micro.len();
    let (mut inputs, mut targets, mut mask) = (vec![0i64; b * seq], vec![0i64; b * seq], vec![0f32; b * seq]);
    for (row, s) in micro.iter().enumerate() {
        for t in 0..s.ids.len() - 1 {
            inputs[row * seq + t] = s.ids[t] as i64;
            targets[row * seq + t] = s.ids[t + 1] as i64;
            mask[row * seq + t] = if s.loss_mask[t] { 1.0 } else { 0.0 };
        }
    }
    (
        Tensor::from_data(TensorData::new(inputs, [b, seq]), device),
        Tensor::from_data(TensorData::new(targets, [b * seq]), device),
        Tensor::from_data(TensorData::new(mask, [b * seq]), device),
        seq,
    )
}

/// The L2 norm of all gradients together, as `torch.nn.utils.clip_grad_norm_` computes it.
fn global_norm<B: AutodiffBackend>(model: &Mixtral<B>, grads: &GradientsParams) -> f64 {
    struct Norm<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Norm<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let squares = g.powf_scalar(2.0).sum();
                self.sum = Some(match self.sum.take() {
                    Some(s) => s + squares,
                    None => squares,
                });
            }
        }
    }
    let mut norm = Norm::<B> { grads, sum: None };
    model.visit(&mut norm);
    norm.sum.map_or(0.0, |s| s.into_scalar().elem::<f64>().sqrt())
}

/// Multiplies every gradient by `factor` (the module passes through unchanged).
struct GradScale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for GradScale<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register::<B::InnerBackend, D>(param.id, g.mul_scalar(self.factor));
        }
        param
    }
}

/// `step-000040` folders, complete ones only (a checkpoint is written under a temporary
/// name and renamed, so a kill mid-write leaves nothing that looks complete).
fn newest_checkpoint(dir: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse::<u64>().ok()?;
            Some((step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
}

fn write_checkpoint<B: AutodiffBackend, O: Optimizer<Mixtral<B>, B>>(
    dir: &Path,
    step: u64,
    model: &Mixtral<B>,
    optim: &O,
    history: &[StepMetrics],
) -> Result<(), TrainError> {
    let path = dir.join(format!("step-{step:06}"));
    let tmp = dir.join(format!(".step-{step:06}.tmp"));
    let error = |message: String| TrainError::Checkpoint { path: path.clone(), message };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| error(e.to_string()))?;
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    recorder.record(model.clone().into_record(), tmp.join("model")).map_err(|e| error(e.to_string()))?;
    recorder.record(optim.to_record(), tmp.join("optim")).map_err(|e| error(e.to_string()))?;
    artifacts::write_lines(&tmp.join(artifacts::CHECKPOINT_METRICS), history).map_err(|e| error(e.to_string()))?;
    exp_stages::faults::point("checkpoint");
    std::fs::rename(&tmp, &path).map_err(|e| error(e.to_string()))?;
    // Only the newest checkpoint is needed to resume.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let other = entry.path();
        if other != path && entry.file_name().to_string_lossy().starts_with("step-") {
            let _ = std::fs::remove_dir_all(other);
        }
    }
    Ok(())
}
