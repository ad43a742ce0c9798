//! Training throughput of the CPU trainer, for `bench/trainer.sh`:
//! `cargo run --release -p exp-trainer --example train_bench -- [steps] [micro_batch] [seq] [workers] [preset]`,
//! `preset` `tiny` (the default) or `small512` (`MixtralConfig::small_512`).
//! Random tokens, the LLM-jp vocabulary size, one micro-batch per worker and step (with one
//! worker, the same work `bench/trainer.py` gives PyTorch); prints the mean tokens/s of
//! the steps after the first.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use burn::backend::{Autodiff, NdArray};
use exp_stages::megatron::{Dtype, Writer};
use exp_trainer::config::MixtralConfig;
use exp_trainer::data::Pretraining;
use exp_trainer::model::{Init, Mixtral};
use exp_trainer::schedule::{Schedule, Shape};
use exp_trainer::train::{train, Hyper};
use rand::{Rng, SeedableRng};
use std::sync::atomic::AtomicBool;

/// Keeps each step's tokens/s (a timing: reported, never in the training log).
#[derive(Default)]
struct Rates(std::sync::Mutex<Vec<f64>>);
impl exp_stages::Reporter for Rates {
    fn progress(&self, _: u64, _: Option<u64>, _: &str) {}
    fn metric(&self, name: &str, _: Option<u64>, value: f64) {
        if name == "tokens_per_s" {
            self.0.lock().expect("not poisoned").push(value);
        }
    }
    fn log(&self, _: &str) {}
}

fn main() {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (steps, micro, seq, workers) = (arg(1, 6), arg(2, 2), arg(3, 256), arg(4, 1).max(1));
    let preset = std::env::args().nth(5).unwrap_or_else(|| "tiny".into());
    let config = match preset.as_str() {
        "tiny" => MixtralConfig::tiny(99_574),
        "small512" => MixtralConfig::small_512(99_574),
        other => panic!("unknown preset {other}: tiny or small512"),
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut writer = Writer::create(&dir.path().join("shard_00000"), Dtype::I32).expect("a shard");
    let tokens: Vec<u32> =
        (0..(steps * micro * workers * seq + 1) as u32).map(|_| rng.random_range(0..99_574)).collect();
    writer.add(&tokens).expect("written");
    writer.finish().expect("finished");
    let data = Pretraining::open(dir.path(), seq, micro * workers, None, 0).expect("data");
    let hyper = Hyper {
        schedule: Schedule {
            peak: 1e-3,
            floor: 1e-4,
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
        peak_flops: 1.0,
        workers,
        mixed: exp_trainer::train::Mixed::Off,
    };
    type B = Autodiff<NdArray<f32>>;
    let model: Mixtral<B> = Mixtral::new(&config, Init::Random(&mut Init::seeded(0)), &Default::default());
    let rates = Rates::default();
    train(model, &config, &hyper, &data, None, &rates, &AtomicBool::new(false)).expect("trains");
    let rates = rates.0.into_inner().expect("not poisoned");
    let timed = &rates[1..];
    let mean = timed.iter().sum::<f64>() / timed.len() as f64;
    let threads =
        if workers == 1 { "1 thread".to_string() } else { format!("{workers} micro-batches on {workers} threads") };
    println!("exp-trainer (burn 0.21.0, ndarray, {preset}, {threads})\t{mean:.0}");
}
