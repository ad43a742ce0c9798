//! The trainer on an NVIDIA GPU, for `bench/gpu.sh` (built only with `--features cuda`).
//!
//! ```text
//! gpu_bench train <tiny|moe-1b> <fp32|bf16> [steps] [micro_batch] [seq]
//! gpu_bench parity <fp32|bf16>
//! ```
//!
//! `train` trains the preset with the LLM-jp vocabulary on random tokens (one micro-batch
//! per step) and prints one tab-separated row: preset, precision, tokens per step, the
//! median tokens/s and MFU of the steps after the first two (kernel autotuning), the first
//! and last loss. `parity` runs the parity fixture's model (`tests/fixtures/mixtral`) on
//! the GPU and on the CPU and prints the largest logit difference against the tolerance,
//! exiting 1 when it is over.
//!
//! One precision per process: burn 0.21 fixes a device's float type at its first tensor.

use burn::backend::{Autodiff, Cuda, NdArray};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{bf16, TensorData};
use exp_stages::megatron::{Dtype, Writer};
use exp_trainer::checkpoint;
use exp_trainer::config::MixtralConfig;
use exp_trainer::data::Pretraining;
use exp_trainer::model::{Init, Mixtral};
use exp_trainer::precision::{float_policy, Mixed};
use exp_trainer::schedule::{Schedule, Shape};
use exp_trainer::train::{train, Hyper};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// What MFU is measured against: an H100 or H200 SXM's dense bf16 peak (989.4 TFLOP/s;
/// the H200 has the H100's compute and more memory), also for fp32 runs, as MFU is
/// usually quoted. The trainer's stages use the same figure (`stages/device.rs`).
const PEAK_FLOPS: f64 = 989.4e12;

/// The LLM-jp tokenizer's vocabulary, as `bench/trainer.sh` uses it.
const VOCAB: usize = 99_574;

/// Largest logit difference from the CPU on the parity fixture, whose logits reach 0.45.
/// fp32: the GPU's matrix products sum in another order and may use TF32 tensor cores
/// (10 mantissa bits), so 1e-3, ten times the CPU's tolerance against transformers; bf16
/// keeps 8 bits, a relative error of up to 2⁻⁹ at each rounding through two layers: 1e-2,
/// about 2% of the largest logit.
const TOLERANCE_FP32: f32 = 1e-3;
const TOLERANCE_BF16: f32 = 1e-2;

/// Each step's tokens/s, MFU and loss as the trainer reports them.
#[derive(Default)]
struct Steps(Mutex<Vec<(String, f64)>>);

impl exp_stages::Reporter for Steps {
    fn progress(&self, _: u64, _: Option<u64>, _: &str) {}
    fn metric(&self, name: &str, _: Option<u64>, value: f64) {
        self.0.lock().expect("not poisoned").push((name.to_string(), value));
    }
    fn log(&self, _: &str) {}
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn bench<B: AutodiffBackend>(
    device: B::Device,
    mixed: Mixed,
    preset: &str,
    steps: usize,
    micro: usize,
    seq: usize,
) -> String {
    let config = match preset {
        "tiny" => MixtralConfig::tiny(VOCAB),
        "moe-1b" => MixtralConfig::moe_1b(VOCAB),
        other => panic!("unknown preset {other}: tiny or moe-1b"),
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut writer = Writer::create(&dir.path().join("shard_00000"), Dtype::I32).expect("a shard");
    let tokens: Vec<u32> = (0..(steps * micro * seq + 1) as u32).map(|_| rng.random_range(0..VOCAB as u32)).collect();
    writer.add(&tokens).expect("written");
    writer.finish().expect("finished");
    let data = Pretraining::open(dir.path(), seq, micro, None, 0).expect("data");
    let hyper = Hyper {
        schedule: Schedule {
            peak: 3e-4,
            floor: 3e-5,
            shape: Shape::Cosine,
            warmup_steps: 0,
            total_steps: steps as u64,
        },
        betas: (0.9, 0.95),
        eps: 1e-8,
        weight_decay: 0.1,
        grad_clip: 1.0,
        micro_batch: micro,
        aux_loss: 0.01,
        checkpoint_every: 0,
        peak_flops: PEAK_FLOPS,
        workers: 1,
        mixed,
    };
    let model: Mixtral<B> = Mixtral::new(&config, Init::Random(&mut Init::seeded(0)), &device);
    let steps_seen = Steps::default();
    train(model, &config, &hyper, &data, None, &steps_seen, &AtomicBool::new(false)).expect("trains");
    let seen = steps_seen.0.into_inner().expect("not poisoned");
    let series = |name: &str| seen.iter().filter(|(n, _)| n == name).map(|(_, v)| *v).collect::<Vec<_>>();
    let timed = |name: &str| median(series(name).into_iter().skip(2).collect());
    let losses = series("loss");
    let precision = if mixed == Mixed::Bf16 { "bf16" } else { "fp32" };
    format!(
        "{preset}\t{precision}\t{}\t{:.0}\t{:.4}\t{:.4}\t{:.4}",
        micro * seq,
        timed("tokens_per_s"),
        timed("mfu"),
        losses.first().copied().unwrap_or(f64::NAN),
        losses.last().copied().unwrap_or(f64::NAN)
    )
}

/// The fixture's logits on `device`, as f32.
fn logits<B: Backend>(device: &B::Device) -> Vec<f32> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mixtral");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("the fixture"))
            .expect("the fixture");
    let inputs: Vec<Vec<i64>> = serde_json::from_value(expected["inputs"].clone()).expect("the fixture");
    let (config, model) = checkpoint::load::<B>(&dir.join("model"), device).expect("the fixture model");
    let flat: Vec<i64> = inputs.iter().flatten().copied().collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [inputs.len(), inputs[0].len()]), device);
    model.forward(&config, ids).logits.into_data().convert::<f32>().to_vec::<f32>().expect("float logits")
}

fn parity<B: Backend>(device: B::Device, precision: &str, tolerance: f32) -> bool {
    let gpu = logits::<B>(&device);
    let cpu = logits::<NdArray<f32>>(&Default::default());
    assert_eq!(gpu.len(), cpu.len());
    let worst = gpu.iter().zip(&cpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let ok = worst <= tolerance;
    println!(
        "parity\t{precision}\t{} logits\tmax |cuda - cpu| {worst:.2e}\ttolerance {tolerance:.0e}\t{}",
        gpu.len(),
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let precision = args.get(if args.first().map(String::as_str) == Some("train") { 2 } else { 1 });
    let mixed = match precision.map(String::as_str) {
        Some("fp32") => Mixed::Off,
        Some("bf16") => Mixed::Bf16,
        _ => {
            eprintln!("usage: gpu_bench train <tiny|moe-1b> <fp32|bf16> [steps] [micro_batch] [seq]\n       gpu_bench parity <fp32|bf16>");
            std::process::exit(2);
        }
    };
    let device = burn::backend::cuda::CudaDevice::new(0);
    // The device's float type first: every tensor it creates is then in it.
    type F32 = Cuda<f32, i32>;
    type Bf16 = Cuda<bf16, i32>;
    let policy = match mixed {
        Mixed::Bf16 => float_policy::<Bf16>(&device, mixed.device_dtype()),
        _ => float_policy::<F32>(&device, mixed.device_dtype()),
    };
    policy.expect("the device's float type");
    match args[0].as_str() {
        "train" => {
            let preset = args.get(1).map(String::as_str).unwrap_or("tiny");
            let (steps, micro, seq) = (arg(3, 8), arg(4, 8), arg(5, 512));
            let row = match mixed {
                Mixed::Bf16 => bench::<Autodiff<Bf16>>(device, mixed, preset, steps, micro, seq),
                _ => bench::<Autodiff<F32>>(device, mixed, preset, steps, micro, seq),
            };
            println!("{row}");
        }
        "parity" => {
            let ok = match mixed {
                Mixed::Bf16 => parity::<Bf16>(device, "bf16", TOLERANCE_BF16),
                _ => parity::<F32>(device, "fp32", TOLERANCE_FP32),
            };
            std::process::exit(if ok { 0 } else { 1 });
        }
        other => {
            eprintln!("unknown command {other}: train or parity");
            std::process::exit(2);
        }
    }
}
