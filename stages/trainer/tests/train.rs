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
        mixed: exp_trainer::train::Mixed::Off,
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

/// Random `[rows, vocab]` logits (spread like a trained model's: a few large ones),
/// targets and the three masks that matter: mixed, all ones, all zeros.
fn loss_inputs(rows: usize, vocab: usize, seed: u64) -> (Vec<f32>, Vec<i64>, [Vec<f32>; 3]) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let logits: Vec<f32> = (0..rows * vocab).map(|_| rng.random_range(-8.0f32..8.0) * rng.random::<f32>()).collect();
    let targets: Vec<i64> = (0..rows).map(|_| rng.random_range(0..vocab as i64)).collect();
    let mixed: Vec<f32> = (0..rows).map(|r| if r % 3 == 1 { 0.0 } else { 1.0 }).collect();
    (logits, targets, [mixed, vec![1.0; rows], vec![0.0; rows]])
}

/// The loss and the gradient of `logits` under `loss`.
fn loss_and_grad(logits: &[f32], shape: [usize; 2], loss: impl Fn(Tensor<B, 2>) -> Tensor<B, 1>) -> (f32, Vec<f32>) {
    let device = Default::default();
    let x = Tensor::<B, 2>::from_data(TensorData::new(logits.to_vec(), shape), &device).require_grad();
    let value = loss(x.clone());
    let scalar: f32 = value.clone().into_scalar();
    let grads = value.mul_scalar(0.5).backward();
    let g = x.grad(&grads).expect("logits get a gradient").into_data().to_vec::<f32>().expect("test setup");
    (scalar, g.iter().map(|v| v * 2.0).collect())
}

fn assert_close(what: &str, ours: &[f32], reference: &[f32], tolerance: f32) {
    assert_eq!(ours.len(), reference.len(), "{what}");
    let worst = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= tolerance, "{what}: largest difference {worst:e} (bound {tolerance:e})");
}

/// The fused cross-entropy (loss and gradient in one pass, both kernels: the CPU's row
/// loop and the tensor-operation form a GPU runs) equals the composed formula, on random
/// logits with a partial, a full and an empty mask; a backward factor (here 0.5) scales it.
#[test]
fn the_fused_cross_entropy_is_the_composed_formula() {
    use exp_trainer::loss::{composed_cross_entropy, fused_cross_entropy_with};
    let (rows, vocab) = (9, 5_003);
    let (logits, targets, masks) = loss_inputs(rows, vocab, 7);
    let device = Default::default();
    let t = || Tensor::<B, 1, Int>::from_data(TensorData::new(targets.clone(), [rows]), &device);
    for mask in &masks {
        let m = || Tensor::<B, 1>::from_data(TensorData::new(mask.clone(), [rows]), &device);
        let (loss, grad) = loss_and_grad(&logits, [rows, vocab], |x| composed_cross_entropy(x, t(), m()));
        assert!(grad.iter().all(|g| g.is_finite()));
        for (name, composed) in [("row kernel", false), ("composed kernel", true)] {
            let (l, g) = loss_and_grad(&logits, [rows, vocab], |x| fused_cross_entropy_with(x, t(), m(), composed));
            assert!((l - loss).abs() <= 2e-6 * loss.abs().max(1.0), "{name}: loss {l} vs {loss}");
            assert_close(name, &g, &grad, 1e-7);
        }
        // Without autodiff: the loss alone, the same value.
        let plain = |v: Vec<f32>, shape: Vec<usize>| TensorData::new(v, shape);
        let l: f32 = cross_entropy(
            Tensor::<NdArray<f32>, 2>::from_data(plain(logits.clone(), vec![rows, vocab]), &device),
            Tensor::from_data(TensorData::new(targets.clone(), [rows]), &device),
            Tensor::from_data(plain(mask.clone(), vec![rows]), &device),
        )
        .into_scalar();
        assert!((l - loss).abs() <= 2e-6 * loss.abs().max(1.0), "inference: loss {l} vs {loss}");
    }
    assert_eq!(loss_and_grad(&logits, [rows, vocab], |x| cross_entropy(x, t(), Tensor::zeros([rows], &device))).0, 0.0);
}

/// The loss of `lm_head` with the logits in a reused buffer gives the loss, and the
/// gradients of the hidden states and of the weight, of the product followed by the
/// composed formula; twice in a row (the second reuses the first's buffer).
#[test]
fn the_fused_lm_head_loss_has_the_gradients_of_the_product() {
    use exp_trainer::loss::{composed_cross_entropy, lm_head_cross_entropy};
    use rand::{Rng, SeedableRng};
    let (rows, hidden, vocab) = (12, 24, 3_001);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut random = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let (h, w) = (random(rows * hidden), random(vocab * hidden));
    let (_, targets, masks) = loss_inputs(rows, vocab, 11);
    let device = Default::default();
    for round in 0..2 {
        for mask in &masks {
            let run = |fused: bool| {
                let h = Tensor::<B, 2>::from_data(TensorData::new(h.clone(), [rows, hidden]), &device).require_grad();
                let w = Tensor::<B, 2>::from_data(TensorData::new(w.clone(), [vocab, hidden]), &device).require_grad();
                let t = Tensor::<B, 1, Int>::from_data(TensorData::new(targets.clone(), [rows]), &device);
                let m = Tensor::<B, 1>::from_data(TensorData::new(mask.clone(), [rows]), &device);
                let loss = if fused {
                    lm_head_cross_entropy(h.clone(), w.clone(), t, m)
                } else {
                    composed_cross_entropy(h.clone().matmul(w.clone().transpose()), t, m)
                };
                let value: f32 = loss.clone().into_scalar();
                let grads = loss.mul_scalar(0.25).backward();
                let g = |x: &Tensor<B, 2>| {
                    x.grad(&grads).expect("a gradient").into_data().to_vec::<f32>().expect("test setup")
                };
                (value, g(&h), g(&w))
            };
            let (loss, gh, gw) = run(false);
            let (l, fh, fw) = run(true);
            assert!((l - loss).abs() <= 2e-6 * loss.abs().max(1.0), "round {round}: loss {l} vs {loss}");
            assert_close("hidden gradient", &fh, &gh, 1e-6);
            assert_close("weight gradient", &fw, &gw, 1e-6);
        }
    }
}
