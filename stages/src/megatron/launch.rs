//! The arguments of Megatron-LM's `pretrain_gpt.py` for a `cpt` node, rendered from its
//! parameters, the base model's dimensions and the tokenised corpus, and the values they
//! imply as Megatron-LM computes them. `docs/megatron.md` is the same mapping for users;
//! `stages/tests/megatron.rs` checks the rendering against a fixture that Megatron-LM's own
//! `parse_args()` and `validate_args()` accepted.
//!
//! Choices (each in the docs):
//! - iterations: `--train-iters`, the steps exp's own trainer would take on the same node
//!   (tokens ÷ (global batch × sequence), or one epoch), so the schedule, the warm-up and
//!   checkpoints count in steps; `--train-samples` is never given (they exclude each other);
//! - the data: each shard of the corpus weighted by its token count (Megatron normalises
//!   the weights), all of it for training (`--split 100,0,0`, no evaluation);
//! - the tokenizer: the shards are already token ids, so Megatron needs only the
//!   vocabulary size, which the base checkpoint fixes: `NullTokenizer` with the base's
//!   vocabulary, so no rank loads a tokenizer model (on the LLM-jp model Megatron's
//!   `SentencePieceTokenizer` pads to the same 99,584 rows; its end-of-document id differs,
//!   which matters only with `--eod-mask-loss` or `--reset-*`, never rendered);
//! - checkpoints: the base converted to Megatron's format is `--pretrained-checkpoint`;
//!   `--load` and `--save` are one folder in the store's cache, so a job requeued after its
//!   time limit resumes where it saved; all in the `torch` format, the one Megatron's
//!   checkpoint converter writes and reads.

use super::layout::data_parallel;
use crate::hf_config::MixtralConfig;
use crate::kinds::train::{CptParams, Megatron};
use exp_dsl::typed::{Shape, Warmup};
use serde::Serialize;
use std::collections::BTreeMap;

/// One shard of the corpus: its path prefix (without `.bin`/`.idx`) and its tokens.
#[derive(Clone, Debug)]
pub struct Shard {
    pub prefix: String,
    pub tokens: u64,
}

/// Where the job's Megatron checkpoints are.
#[derive(Clone, Debug)]
pub struct Folders {
    /// The base model converted to Megatron's format.
    pub base: String,
    /// Saved during training and loaded on resume.
    pub checkpoints: String,
    /// Megatron's dataset index cache (never beside the shards: they are in the store).
    pub data_cache: String,
}

/// What the launch implies, as Megatron-LM computes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Derived {
    pub world_size: u64,
    pub data_parallel_size: u64,
    pub num_microbatches: u64,
    pub train_iters: u64,
    /// Megatron's warm-up in iterations (a fraction of the iterations need not be whole).
    pub warmup_iters: f64,
    /// The learning rate of the optimiser step of iterations 1, 2, the end of the
    /// warm-up, the middle and the last.
    pub lr: BTreeMap<u64, f64>,
}

/// A rendered launch.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The arguments after `pretrain_gpt.py`.
    pub args: Vec<String>,
    pub derived: Derived,
}

/// The steps of a run: those exp's own trainer takes on the same node.
pub fn train_iters(p: &CptParams, corpus_tokens: u64) -> u64 {
    let o = &p.optimiser;
    let steps = crate::kinds::train::pretraining_steps(corpus_tokens, o.seq, o.global_batch, p.tokens);
    match o.max_steps {
        0 => steps,
        max => steps.min(max),
    }
}

/// Renders the arguments of `pretrain_gpt.py`. `exit_minutes`: the job's time left, less
/// the time a checkpoint takes to save (`--exit-duration-in-mins`); known only in the job.
pub fn render(
    p: &CptParams,
    m: &Megatron,
    model: &MixtralConfig,
    shards: &[Shard],
    folders: &Folders,
    exit_minutes: Option<u64>,
) -> Launch {
    let o = &p.optimiser;
    let layout = p.layout();
    let corpus_tokens: u64 = shards.iter().map(|s| s.tokens).sum();
    let iters = train_iters(p, corpus_tokens);
    let mut a = Args::default();

    // The model, from the base's config.json.
    a.flag("--num-layers", model.num_hidden_layers);
    a.flag("--hidden-size", model.hidden_size);
    a.flag("--ffn-hidden-size", model.intermediate_size);
    a.flag("--num-attention-heads", model.num_attention_heads);
    a.flag("--kv-channels", model.head_dim);
    if model.num_key_value_heads != model.num_attention_heads {
        a.switch("--group-query-attention");
        a.flag("--num-query-groups", model.num_key_value_heads);
    }
    a.flag("--seq-length", o.seq);
    a.flag("--max-position-embeddings", model.max_position_embeddings);
    a.flag("--position-embedding-type", "rope");
    a.flag("--rotary-base", number(model.rope_theta));
    a.flag("--normalization", "RMSNorm");
    a.flag("--norm-epsilon", number(model.rms_norm_eps));
    a.switch("--swiglu");
    a.switch("--untie-embeddings-and-output-weights");
    a.switch("--disable-bias-linear");
    a.flag("--attention-dropout", number(o.dropout));
    a.flag("--hidden-dropout", number(o.dropout));
    a.flag("--num-experts", model.num_local_experts);
    a.flag("--moe-router-topk", model.num_experts_per_tok);
    a.flag("--moe-ffn-hidden-size", model.intermediate_size);
    a.flag("--moe-router-load-balancing-type", "aux_loss");
    a.flag("--moe-aux-loss-coeff", number(o.aux_loss));
    // No `--moe-grouped-gemm`: its experts are named apart from the converter's
    // (`linear_fc1.weight<i>` in one module), so a converted base would not load.
    a.flag("--moe-token-dispatcher-type", "alltoall");
    a.flag("--tokenizer-type", "NullTokenizer");
    // NullTokenizer's vocabulary is this many ids plus its end-of-document id.
    a.flag("--vocab-size", model.vocab_size - 1);

    // The layout.
    a.flag("--tensor-model-parallel-size", layout.tp);
    a.flag("--pipeline-model-parallel-size", layout.pp);
    a.flag("--context-parallel-size", layout.cp);
    a.flag("--expert-model-parallel-size", layout.ep);
    if layout.tp > 1 {
        a.switch("--sequence-parallel");
    }
    a.switch("--use-distributed-optimizer");

    // Table 1.
    a.flag("--micro-batch-size", o.micro_batch);
    a.flag("--global-batch-size", o.global_batch);
    a.flag("--train-iters", iters);
    a.flag("--lr", number(o.lr.peak));
    a.flag("--min-lr", number(o.lr.floor));
    a.flag("--lr-decay-style", decay_style(o.lr.shape));
    match o.warmup {
        Warmup::Fraction(f) => a.flag("--lr-warmup-fraction", number(f)),
        Warmup::Steps(s) => a.flag("--lr-warmup-iters", s),
    }
    a.flag("--optimizer", "adam");
    a.flag("--adam-beta1", number(o.betas.0));
    a.flag("--adam-beta2", number(o.betas.1));
    a.flag("--adam-eps", number(o.eps));
    a.flag("--weight-decay", number(o.weight_decay));
    a.flag("--clip-grad", number(o.grad_clip));
    a.switch("--bf16");
    a.flag("--seed", o.seed);

    // The data.
    a.0.push("--data-path".into());
    for s in shards {
        a.0.push(s.tokens.to_string());
        a.0.push(s.prefix.clone());
    }
    a.flag("--split", "100,0,0");
    a.flag("--eval-iters", 0);
    // Needed though nothing is evaluated: Megatron divides by it when sizing its datasets.
    a.flag("--eval-interval", iters);
    a.flag("--data-cache-path", &folders.data_cache);

    // Checkpoints, resume and the time limit.
    a.flag("--pretrained-checkpoint", &folders.base);
    a.flag("--load", &folders.checkpoints);
    a.flag("--save", &folders.checkpoints);
    a.flag("--save-interval", if o.checkpoint_every > 0 { o.checkpoint_every } else { iters });
    // The format the converter writes and reads, in both directions.
    a.flag("--ckpt-format", "torch");
    if let Some(minutes) = exit_minutes {
        a.flag("--exit-duration-in-mins", minutes);
    }
    a.flag("--log-interval", 1);

    let world = m.world();
    let dp = data_parallel(&layout, world);
    let warmup_iters = match o.warmup {
        Warmup::Fraction(f) => f * iters as f64,
        Warmup::Steps(s) => s as f64,
    };
    let schedule = Scheduler {
        max_lr: o.lr.peak,
        min_lr: o.lr.floor,
        shape: o.lr.shape,
        global_batch: o.global_batch,
        warmup_samples: match o.warmup {
            Warmup::Fraction(f) => f * (iters * o.global_batch) as f64,
            Warmup::Steps(s) => (s * o.global_batch) as f64,
        },
        decay_samples: iters * o.global_batch,
    };
    let w = warmup_iters.round() as u64;
    let lr = [1, 2, w, w + 1, iters / 2, iters]
        .into_iter()
        .filter(|k| (1..=iters).contains(k))
        .map(|k| (k, schedule.lr_of_iteration(k)))
        .collect();
    Launch {
        args: a.0,
        derived: Derived {
            world_size: world,
            data_parallel_size: dp,
            num_microbatches: o.global_batch / (o.micro_batch * dp).max(1),
            train_iters: iters,
            warmup_iters,
            lr,
        },
    }
}

#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn flag(&mut self, name: &str, value: impl ToString) {
        self.0.push(name.into());
        self.0.push(value.to_string());
    }
    fn switch(&mut self, name: &str) {
        self.0.push(name.into());
    }
}

/// A number as Python reads it back exactly (`f64`'s shortest round-trip form); whole
/// numbers without a fraction, so integer flags (`--rotary-base`) parse.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:?}")
    }
}

fn decay_style(shape: Shape) -> &'static str {
    match shape {
        Shape::Cosine => "cosine",
        Shape::Linear => "linear",
        Shape::Constant => "constant",
    }
}

/// Megatron-LM's `OptimizerParamScheduler` (`megatron/core/optimizer_param_scheduler.py`),
/// counting in samples as it does for iteration-based training.
struct Scheduler {
    max_lr: f64,
    min_lr: f64,
    shape: Shape,
    global_batch: u64,
    warmup_samples: f64,
    decay_samples: u64,
}

impl Scheduler {
    /// The rate at `num_steps` samples (`get_lr`, with the warm-up starting from 0).
    fn lr_at(&self, num_steps: u64) -> f64 {
        let n = num_steps as f64;
        if self.warmup_samples > 0.0 && n <= self.warmup_samples {
            return self.max_lr * n / self.warmup_samples;
        }
        if self.shape == Shape::Constant {
            return self.max_lr;
        }
        if num_steps > self.decay_samples {
            return self.min_lr;
        }
        let ratio = (n - self.warmup_samples) / (self.decay_samples as f64 - self.warmup_samples);
        let coefficient = match self.shape {
            Shape::Cosine => 0.5 * ((std::f64::consts::PI * ratio).cos() + 1.0),
            Shape::Linear => 1.0 - ratio,
            Shape::Constant => 1.0,
        };
        self.min_lr + coefficient * (self.max_lr - self.min_lr)
    }

    /// The rate the optimiser step of iteration `k` (1-based) uses: the scheduler has
    /// advanced by one global batch after each earlier iteration.
    fn lr_of_iteration(&self, k: u64) -> f64 {
        self.lr_at((k - 1) * self.global_batch)
    }
}
