//! The burn MoE trainer of `exp`: a Mixtral-compatible model, Hugging Face safetensors in
//! and out, the `mixtral`, `hf_checkpoint`, `cpt` and `sft` stages, and `jmedbench` with our model as
//! its provider. It is its own crate
//! because burn costs a minute and a half of a cold build; the DSL and the engine build
//! without it.

pub mod checkpoint;
pub use exp_stages::hf_config as config;
pub mod data;
pub mod loss;
pub mod model;
pub mod precision;
pub mod provider;
pub mod schedule;
pub mod stages;
pub mod threads;
pub mod train;

pub use stages::implementation;
