//! The bf16 master-weight path (`precision.rs`) on the CPU, where ndarray stores no bf16:
//! `Mixed::EmulatedBf16` rounds each step's compute copy to bf16 values, which is what the
//! GPU's `Mixed::Bf16` computes with, and runs the same code otherwise (the copy, the
//! gradients landing on the fp32 masters, AdamW on them, checkpoints of the masters).

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use exp_stages::megatron::{Dtype, Writer};
use exp_trainer::config::MixtralConfig;
use exp_trainer::data::Pretraining;
use exp_trainer::model::{Init, Mixtral};
use exp_trainer::precision::round_bf16;
use exp_trainer::schedule::{Schedule, Shape};
use exp_trainer::train::{train, Hyper, Mixed, StepMetrics, TrainError};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

type B = Autodiff<NdArray<f32>>;

fn hyper(peak: f64, steps: u64, checkpoint_every: u64, mixed: Mixed) -> Hyper {
    Hyper {
        schedule: Schedule { peak, floor: peak / 10.0, shape: Shape::Cosine, warmup_steps: 0, total_steps: steps },
        betas: (0.9, 0.95),
        eps: 1e-8,
        weight_decay: 0.1,
        grad_clip: 1.0,
        micro_batch: 2,
        aux_loss: 0.01,
        checkpoint_every,
        peak_flops: 1e11,
        workers: 1,
        mixed,
    }
}

fn small() -> MixtralConfig {
    MixtralConfig { hidden_size: 32, intermediate_size: 48, head_dim: 8, ..MixtralConfig::tiny(64) }
}

fn fresh(config: &MixtralConfig) -> Mixtral<B> {
    Mixtral::new(config, Init::Random(&mut Init::seeded(3)), &Default::default())
}

/// A corpus of 30 short documents over a vocabulary of 64, `steps` steps of 4 × 16 tokens.
fn data(dir: &Path, steps: u64) -> Pretraining {
    let mut w = Writer::create(&dir.join("shard_00000"), Dtype::I32).expect("test setup");
    for d in 0..30u32 {
        w.add(&(0..20u32).map(|t| (d * 7 + t * 3) % 64).collect::<Vec<_>>()).expect("test setup");
    }
    w.finish().expect("test setup");
    Pretraining::open(dir, 16, 4, Some(4 * 16 * steps), 5).expect("test setup")
}

/// Cancels the run once step `stop_after` is reported.
struct StopAfter<'a>(Option<u64>, &'a AtomicBool);

impl exp_stages::Reporter for StopAfter<'_> {
    fn progress(&self, _: u64, _: Option<u64>, _: &str) {}
    fn metric(&self, name: &str, step: Option<u64>, _: f64) {
        if name == "loss" && step == self.0 {
            self.1.store(true, Ordering::Relaxed);
        }
    }
    fn log(&self, _: &str) {}
}

fn run(
    model: Mixtral<B>,
    hyper: &Hyper,
    data: &Pretraining,
    checkpoints: Option<&Path>,
    stop_after: Option<u64>,
) -> Result<(Mixtral<B>, Vec<StepMetrics>), TrainError> {
    let cancel = AtomicBool::new(false);
    train(model, &small(), hyper, data, checkpoints, &StopAfter(stop_after, &cancel), &cancel)
}

/// Every parameter value, in the model's order.
fn values(model: &Mixtral<B>) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.extend(param.val().into_data().to_vec::<f32>().expect("f32 parameters"));
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

/// The model with every parameter rounded to bf16 once.
fn rounded(model: Mixtral<B>) -> Mixtral<B> {
    struct Round;
    impl ModuleMapper<B> for Round {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            param.map(|t| {
                let data = t.into_data();
                let shape = data.shape.clone();
                let v: Vec<f32> = data.to_vec::<f32>().expect("f32").into_iter().map(round_bf16).collect();
                Tensor::from_data(TensorData::new(v, shape), &Default::default()).require_grad()
            })
        }
    }
    model.map(&mut Round)
}

fn bits(history: &[StepMetrics]) -> Vec<[u64; 3]> {
    history.iter().map(|m| [m.loss.to_bits(), m.aux_loss.to_bits(), m.grad_norm.to_bits()]).collect()
}

/// Step 1 computes with the masters rounded to bf16, exactly as an fp32 run started from
/// those rounded weights; from step 2 on the two differ, because the masters kept what the
/// rounding dropped.
#[test]
fn the_forward_pass_sees_bf16_weights_and_the_masters_keep_fp32() {
    let dir = tempfile::tempdir().expect("test setup");
    let data = data(dir.path(), 4);
    let config = small();
    let (_, mixed) = run(fresh(&config), &hyper(1e-3, 4, 0, Mixed::EmulatedBf16), &data, None, None).expect("trains");
    let (_, from_rounded) =
        run(rounded(fresh(&config)), &hyper(1e-3, 4, 0, Mixed::Off), &data, None, None).expect("trains");
    let (_, plain) = run(fresh(&config), &hyper(1e-3, 4, 0, Mixed::Off), &data, None, None).expect("trains");
    assert_eq!(bits(&mixed)[0], bits(&from_rounded)[0], "step 1: the same bf16 weights, the same numbers");
    assert_ne!(bits(&mixed)[0], bits(&plain)[0], "step 1 computes with rounded weights, not the fp32 ones");
    assert_ne!(bits(&mixed)[1..], bits(&from_rounded)[1..], "the masters are not the rounded weights");
    // Rounding the weights moves the loss a little, not a lot.
    for (m, p) in mixed.iter().zip(&plain) {
        assert!((m.loss - p.loss).abs() < 1e-2, "bf16 {} against fp32 {}", m.loss, p.loss);
    }
}

/// Updates far below half a bf16 step of their weights (AdamW's first steps move a weight
/// by about the learning rate, 10⁻⁷ here, against weights of about 0.02, whose bf16 step
/// is 2⁻¹³ ≈ 1.2·10⁻⁴): the fp32 masters move, their bf16 copy stays where it was (but
/// for the ~1% of weights that sat next to a rounding boundary), as bf16 parameters,
/// which round each update away, would stay for good.
#[test]
fn small_updates_accumulate_in_the_fp32_masters() {
    let dir = tempfile::tempdir().expect("test setup");
    let data = data(dir.path(), 4);
    let config = small();
    let before = values(&fresh(&config));
    let (after, _) = run(fresh(&config), &hyper(1e-7, 4, 0, Mixed::EmulatedBf16), &data, None, None).expect("trains");
    let after = values(&after);
    assert_eq!(before.len(), after.len());
    let n = before.len() as f64;
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count() as f64;
    let copy_moved = before.iter().zip(&after).filter(|(b, a)| round_bf16(**b) != round_bf16(**a)).count() as f64;
    assert!(moved / n > 0.9, "the masters kept the updates: {moved} of {n} moved");
    assert!(copy_moved / n < 0.05, "bf16 would have lost them: {copy_moved} of {n} bf16 values changed");
    let representable = after.iter().filter(|v| round_bf16(**v) == **v).count() as f64;
    assert!(representable / n < 0.1, "the masters are fp32, not bf16 values: {representable} of {n}");
}

/// The trainer's invariants hold on the mixed path: any number of workers gives the same
/// bits, and a resumed run (its fp32 masters and AdamW state from the checkpoint) equals
/// the uninterrupted one.
#[test]
fn workers_and_resumption_change_nothing_on_the_mixed_path() {
    let dir = tempfile::tempdir().expect("test setup");
    let data = data(dir.path(), 5);
    let config = small();
    let h = |workers: usize, micro_batch: usize, checkpoint_every: u64| Hyper {
        workers,
        micro_batch,
        ..hyper(1e-3, 5, checkpoint_every, Mixed::EmulatedBf16)
    };
    let (_, one) = run(fresh(&config), &h(1, 1, 0), &data, None, None).expect("trains");
    let (_, three) = run(fresh(&config), &h(3, 1, 0), &data, None, None).expect("trains");
    assert_eq!(bits(&one), bits(&three));

    let (whole_model, whole) = run(fresh(&config), &h(1, 2, 2), &data, None, None).expect("trains");
    let checkpoints = tempfile::tempdir().expect("test setup");
    let stopped = run(fresh(&config), &h(1, 2, 2), &data, Some(checkpoints.path()), Some(3));
    assert!(matches!(stopped, Err(TrainError::Cancelled)));
    let (resumed_model, resumed) =
        run(fresh(&config), &h(1, 2, 2), &data, Some(checkpoints.path()), None).expect("resumes");
    assert_eq!(bits(&resumed), bits(&whole));
    assert_eq!(values(&resumed_model), values(&whole_model), "the same fp32 masters at the end");
}
