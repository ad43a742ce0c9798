//! The training loop on the CPU: the loss falls on bundled text, an interrupted and resumed
//! run equals an uninterrupted one step for step, masked targets carry no gradient, and bad
//! data stops the run with a message that says why.

use burn::backend::{Autodiff, NdArray};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use exp_stages::megatron::{Dtype, Writer};
use exp_stages::sentencepiece::SentencePiece;
use exp_trainer::config::MixtralConfig;
use exp_trainer::data::{Batches, Pretraining};
use exp_trainer::model::{cross_entropy, Init, Mixtral};
use exp_trainer::schedule::{Schedule, Shape};
use exp_trainer::train::{train, Hyper, StepMetrics, TrainError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type B = Autodiff<NdArray<f32>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Collects metrics; sets `cancel` once step `stop_after` is reported.
struct Probe<'a> {
    steps: Mutex<Vec<(u64, f64)>>,
    stop_after: Option<u64>,
    cancel: &'a AtomicBool,
}

impl exp_stages::Reporter for Probe<'_> {
    fn progress(&self, _: u64, _: Option<u64>, _: &str) {}
    fn metric(&self, name: &str, step: Option<u64>, value: f64) {
        if name == "loss" {
            self.steps.lock().expect("test setup").push((step.expect("test setup"), value));
            if self.stop_after == step {
                self.cancel.store(true, Ordering::Relaxed);
            }
        }
    }
    fn log(&self, _: &str) {}
}

/// (step, loss) as the reporter saw them.
type Losses = Vec<(u64, f64)>;

fn write_shard(dir: &Path, docs: &[Vec<u32>]) {
    let mut w = Writer::create(&dir.join("shard_00000"), Dtype::I32).expect("test setup");
    for d in docs {
        w.add(d).expect("test setup");
    }
    w.finish().expect("test setup");
}

fn hyper(peak: f64, steps: u64, checkpoint_every: u64) -> Hyper {
    Hyper {
        schedule: Schedule { peak, floor: peak / 10.0, shape: Shape::Cosine, warmup_steps: 2, total_steps: steps },
        betas: (0.9, 0.95),
        eps: 1e-8,
        weight_decay: 0.1,
        grad_clip: 1.0,
        micro_batch: 2,
        aux_loss: 0.01,
        checkpoint_every,
        peak_flops: 1e11,
        workers: 1,
    }
}

fn small(vocab: usize) -> MixtralConfig {
    MixtralConfig { hidden_size: 32, intermediate_size: 48, head_dim: 8, ..MixtralConfig::tiny(vocab) }
}

fn fresh(config: &MixtralConfig, seed: u64) -> Mixtral<B> {
    Mixtral::new(config, Init::Random(&mut Init::seeded(seed)), &Default::default())
}

fn run(
    config: &MixtralConfig,
    hyper: &Hyper,
    data: &Pretraining,
    checkpoints: Option<&Path>,
    stop_after: Option<u64>,
) -> (Result<Vec<StepMetrics>, TrainError>, Losses) {
    let cancel = AtomicBool::new(false);
    let probe = Probe { steps: Mutex::new(Vec::new()), stop_after, cancel: &cancel };
    let result = train(fresh(config, 3), config, hyper, data, checkpoints, &probe, &cancel).map(|(_, h)| h);
    let seen = probe.steps.into_inner().expect("test setup");
    (result, seen)
}

#[test]
fn loss_falls_on_bundled_text_with_the_llm_jp_tokenizer() {
    let tokenizer =
        SentencePiece::load(&root().join("data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")).expect("test setup");
    let text = std::fs::read_to_string(root().join("data/pubmedqa/pqal.jsonl")).expect("test setup");
    let docs: Vec<Vec<u32>> = text
        .lines()
        .take(16)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("test setup");
            let mut ids = tokenizer.encode(v["question"].as_str().expect("test setup"));
            ids.push(2);
            ids
        })
        .collect();
    let dir = tempfile::tempdir().expect("test setup");
    write_shard(dir.path(), &docs);
    let config = small(tokenizer.vocab_size());
    let data = Pretraining::open(dir.path(), 32, 4, Some(4 * 32 * 30), 0).expect("test setup");
    assert_eq!(data.steps(), 30);
    let (result, _) = run(&config, &hyper(2e-2, 30, 0), &data, None, None);
    let history = result.expect("test setup");
    let first = history[0].loss;
    let last: f64 = history[25..].iter().map(|m| m.loss).sum::<f64>() / 5.0;
    assert!((first - (tokenizer.vocab_size() as f64).ln()).abs() < 0.5, "starts near uniform: {first}");
    assert!(last < first - 2.0, "loss {first} → {last}");
    assert!(history.iter().all(|m| m.grad_norm.is_finite()));
}

fn synthetic(dir: &Path, vocab: u32) {
    let docs: Vec<Vec<u32>> = (0..30u32).map(|d| (0..20u32).map(|t| (d * 7 + t * 3) % vocab).collect()).collect();
    write_shard(dir, &docs);
}

/// Micro-batches computed on several threads give the same bits as on one: each is
/// computed alone and their gradients are summed in order.
#[test]
fn workers_change_nothing_but_the_speed() {
    let dir = tempfile::tempdir().expect("test setup");
    synthetic(dir.path(), 64);
    let config = small(64);
    let data = Pretraining::open(dir.path(), 16, 4, Some(4 * 16 * 5), 5).expect("test setup");
    let steps = |micro_batch: usize, workers: usize| {
        let hyper = Hyper { micro_batch, workers, ..hyper(1e-3, 5, 0) };
        let (history, _) = run(&config, &hyper, &data, None, None);
        let bits: Vec<[u64; 3]> = history
            .expect("test setup")
            .iter()
            .map(|m| [m.loss.to_bits(), m.aux_loss.to_bits(), m.grad_norm.to_bits()])
            .collect();
        assert_eq!(bits.len(), 5);
        bits
    };
    // Two micro-batches on two threads; four on three threads (a full round of three,
    // then a round of one).
    assert_eq!(steps(2, 1), steps(2, 2));
    assert_eq!(steps(1, 1), steps(1, 3));
}

#[test]
fn an_interrupted_run_resumes_exactly() {
    let dir = tempfile::tempdir().expect("test setup");
    synthetic(dir.path(), 64);
    let config = small(64);
    let data = Pretraining::open(dir.path(), 16, 4, Some(4 * 16 * 7), 5).expect("test setup");
    let hyper = hyper(1e-3, 7, 2);

    let (whole, _) = run(&config, &hyper, &data, None, None);
    let whole = whole.expect("test setup");
    assert_eq!(whole.len(), 7);

    let checkpoints = tempfile::tempdir().expect("test setup");
    let (stopped, _) = run(&config, &hyper, &data, Some(checkpoints.path()), Some(5));
    assert!(matches!(stopped, Err(TrainError::Cancelled)));
    // Steps 1-5 ran; the newest checkpoint is step 4.
    let (resumed, seen) = run(&config, &hyper, &data, Some(checkpoints.path()), None);
    let resumed = resumed.expect("test setup");
    let losses = |h: &[StepMetrics]| h.iter().map(|m| (m.step, m.loss, m.grad_norm, m.lr)).collect::<Vec<_>>();
    assert_eq!(losses(&resumed), losses(&whole));
    // The resumed run re-reports the history it took over, then trains steps 5-7 again.
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn masked_targets_carry_no_gradient() {
    let config = small(64);
    let model = fresh(&config, 1);
    let device = Default::default();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new((0..16i64).collect::<Vec<_>>(), [2, 8]), &device);
    let mask = Tensor::<B, 1>::from_data(
        TensorData::new((0..16).map(|i| if i % 8 < 4 { 0.0f32 } else { 1.0 }).collect::<Vec<_>>(), [16]),
        &device,
    );
    let grad_of = |targets: Vec<i64>| {
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [16]), &device);
        let (logits, _) = model.forward_flat(&config, ids.clone());
        let loss = cross_entropy(logits, targets, mask.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let g: Tensor<NdArray<f32>, 2> = grads.get(model.lm_head.weight.id).expect("test setup");
        g.into_data().to_vec::<f32>().expect("test setup")
    };
    let base: Vec<i64> = (0..16).map(|i| (i * 5) % 64).collect();
    // Other targets where the mask is 0 (positions 0-3 of each row) ...
    let mut masked_changed = base.clone();
    for row in 0..2 {
        for t in 0..4 {
            masked_changed[row * 8 + t] = 63 - masked_changed[row * 8 + t];
        }
    }
    assert_eq!(grad_of(base.clone()), grad_of(masked_changed));
    // ... change nothing, while another target where it is 1 does.
    let mut unmasked_changed = base.clone();
    unmasked_changed[6] = 63 - unmasked_changed[6];
    assert_ne!(grad_of(base), grad_of(unmasked_changed));
}

#[test]
fn bad_data_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("test setup");
    synthetic(dir.path(), 64);
    // A tokenizer larger than the embedding.
    let data = Pretraining::open(dir.path(), 16, 4, None, 0).expect("test setup");
    let (result, _) = run(&small(32), &hyper(1e-3, 3, 0), &data, None, None);
    let message = result.expect_err("refused").to_string();
    assert!(message.contains("outside the model's vocabulary of 32"), "{message}");
    // An empty shard.
    let empty = tempfile::tempdir().expect("test setup");
    write_shard(empty.path(), &[]);
    let message = Pretraining::open(empty.path(), 16, 4, None, 0).err().expect("test setup");
    assert!(message.contains("fewer than one sequence"), "{message}");
    // A learning rate that blows the model up is stopped at the step it happens.
    let (result, _) = run(&small(64), &hyper(1e12, 6, 0), &data, None, None);
    match result {
        Err(TrainError::NotFinite { step, .. }) => assert!(step >= 2),
        other => panic!("expected a non-finite loss, got {other:?}"),
    }
}
