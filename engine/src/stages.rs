//! Every runnable stage kind: the registry of `exp-stages` joined with the code of
//! `exp-trainer` (kept in its own crate because burn is slow to build).

use exp_stages::{Kind, Stage};

/// The implementation of `kind`, when it has one.
pub fn implementation(kind: &str) -> Option<&'static dyn Stage> {
    match exp_stages::kind(kind)? {
        Kind::Here(stage) => Some(*stage),
        Kind::Trainer(_) => exp_trainer::implementation(kind),
        Kind::Planned(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry and the two crates' code agree: every registered kind but the planned
    /// ones has code, its code answers to its own schema, and no code is left unregistered.
    #[test]
    fn every_kind_has_a_schema_and_code_unless_planned() {
        for kind in exp_stages::REGISTRY {
            let schema = kind.schema();
            match (kind, implementation(schema.name)) {
                (Kind::Planned(_), None) => {}
                (Kind::Planned(_), Some(_)) => panic!("`{}` is planned but has code: register it", schema.name),
                (_, None) => panic!("`{}` has a schema but no implementation", schema.name),
                (_, Some(stage)) => assert!(std::ptr::eq(stage.schema(), schema), "`{}`: another schema", schema.name),
            }
        }
        for stage in exp_trainer::stages::ALL {
            let name = stage.schema().name;
            assert!(
                matches!(exp_stages::kind(name), Some(Kind::Trainer(s)) if std::ptr::eq(*s, stage.schema())),
                "the trainer implements `{name}`, which the registry does not list as a trainer kind"
            );
        }
    }
}
