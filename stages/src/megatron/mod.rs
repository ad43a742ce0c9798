//! Megatron-LM, the engine a training node hands its work to at cluster scale
//! (`trainer: megatron(…)`), at the pinned tag `core_v0.16.1`:
//!
//! - `shards.rs`: its indexed dataset (`MMIDIDX` `.bin/.idx`), the format `tokenize` writes;
//! - `layout.rs`: the rules Megatron-LM enforces on a parallel layout, judged by `exp check`;
//! - `launch.rs`: the `pretrain_gpt.py` arguments rendered from a node, and what they imply
//!   (data-parallel size, micro-batches, iterations, the learning rate at each step);
//! - `steps.rs`: the job's three steps (Hugging Face → Megatron, training, back) as
//!   commands, and Megatron's log read back into `train_log.jsonl`.
//!
//! `docs/megatron.md` maps every parameter to its flag.

pub mod launch;
pub mod layout;
mod shards;
pub mod steps;

pub use shards::{Dataset, Dtype, Writer, MAGIC, VERSION};
