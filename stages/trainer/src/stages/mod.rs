//! The stage kinds this crate implements, for the engine's registry.

mod device;
mod eval;
mod model;
mod train;

use exp_stages::Stage;

/// Why a node on a GPU is not expected to give the same bits twice (`exp run --check`).
const GPU: &str = "GPU kernels (autotuned, with atomic reductions) are not bit-reproducible";

/// The kinds this crate implements (registered as `Kind::Trainer` in `exp_stages::REGISTRY`).
pub static ALL: &[&dyn Stage] =
    &[&model::MixtralStage, &model::HfCheckpoint, &train::Cpt, &train::Sft, &eval::Jmedbench];

/// The implementation of a trainer stage kind.
pub fn implementation(kind: &str) -> Option<&'static dyn Stage> {
    ALL.iter().copied().find(|s| s.schema().name == kind)
}
