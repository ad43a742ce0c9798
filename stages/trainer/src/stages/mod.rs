//! The stage kinds this crate implements, for the engine's registry.

mod device;
mod eval;
mod model;
mod train;

use exp_stages::Stage;

/// The implementation of a trainer stage kind.
pub fn implementation(kind: &str) -> Option<&'static dyn Stage> {
    static IMPLEMENTED: &[&dyn Stage] =
        &[&model::MixtralStage, &model::HfCheckpoint, &train::Cpt, &train::Sft, &eval::Jmedbench];
    IMPLEMENTED.iter().copied().find(|s| s.schema().name == kind)
}
