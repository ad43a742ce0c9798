//! Every runnable stage kind: the corpus stages of `exp-stages` and the trainer's stages
//! of `exp-trainer` (kept in its own crate because burn is slow to build).

use exp_stages::Stage;

/// The implementation of `kind`, when it has one.
pub fn implementation(kind: &str) -> Option<&'static dyn Stage> {
    exp_stages::implementation(kind).or_else(|| exp_trainer::implementation(kind))
}
