//! Every stage kind of `exp`, listed once in [`REGISTRY`]. A kind declares its parameter
//! schema as a constant with its parameters struct beside it ([`params`]); [`catalog`]
//! gives the schemas to the checker. The burn-dependent kinds (model, training,
//! evaluation with our model) have their schema here and their code in `stages/trainer`
//! (`exp-trainer`), so that this crate and the checker stay quick to build.

pub mod artifacts;
pub mod documents;
pub mod eval;
pub mod faults;
pub mod files;
// The readers fed arbitrary bytes: the fuzz targets' and `tests/arbitrary_inputs.rs`'s one
// way in; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod hf_config;
pub mod hf_weights;
pub mod http;
pub mod kinds;
pub mod licence;
pub mod mecab;
pub mod megatron;
pub mod metrics;
pub mod params;
pub mod report;
pub mod sentencepiece;
pub mod stage;

use exp_dsl::schema::{Catalog, KindSchema};
pub use stage::{cores, Cluster, Context, Determinism, InputArtifact, Reporter, Resources, Stage, StageError};

/// Where a stage kind's code is.
pub enum Kind {
    /// Implemented in this crate.
    Here(&'static dyn Stage),
    /// Schema and parameters here, code in `exp-trainer` (`stages/trainer`), which links
    /// burn; the engine joins the two (`engine/src/stages.rs`).
    Trainer(&'static KindSchema),
    /// Declared, so that experiments check and plan, but not implemented yet: a plan
    /// shows its nodes as blocked.
    Planned(&'static KindSchema),
}

impl Kind {
    pub fn schema(&self) -> &'static KindSchema {
        match self {
            Kind::Here(stage) => stage.schema(),
            Kind::Trainer(schema) | Kind::Planned(schema) => schema,
        }
    }
}

/// Every stage kind, in the order `exp stages` lists them: the one registry. Adding a
/// kind is its module (schema, parameters struct, implementation) and one line here.
pub static REGISTRY: &[Kind] = &[
    Kind::Here(&kinds::sources::jsonl::JsonlReader),
    Kind::Here(&kinds::sources::parquet::ParquetReader),
    Kind::Here(&kinds::sources::text::TextReader),
    Kind::Here(&kinds::sources::csv::CsvReader),
    Kind::Here(&kinds::sources::pubmed::PubmedReader),
    Kind::Here(&kinds::sources::jats::JatsReader),
    Kind::Here(&kinds::filters::LicenceFilter),
    Kind::Here(&kinds::filters::LanguageFilter),
    Kind::Here(&kinds::filters::LengthFilter),
    Kind::Here(&kinds::filters::Dedup),
    Kind::Here(&kinds::filters::NearDedup),
    Kind::Here(&kinds::filters::Decontaminate),
    Kind::Here(&kinds::filters::Split),
    Kind::Here(&kinds::translate::Translate),
    Kind::Here(&kinds::parallel::Parallel),
    Kind::Here(&kinds::render::Render),
    Kind::Here(&kinds::mix::Mixer),
    Kind::Here(&kinds::tokenize::SentencePieceStage),
    Kind::Here(&kinds::tokenize::Tokenize),
    Kind::Trainer(&kinds::model::MIXTRAL),
    Kind::Trainer(&kinds::model::HF_CHECKPOINT),
    Kind::Trainer(&kinds::train::CPT),
    Kind::Trainer(&kinds::train::SFT),
    Kind::Trainer(&kinds::eval::JMEDBENCH),
    Kind::Here(&report::compare::Compare),
    Kind::Here(&report::card::CorpusCard),
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    REGISTRY.iter().find(|k| k.schema().name == name)
}

/// The implementation of a stage kind of this crate.
pub fn implementation(name: &str) -> Option<&'static dyn Stage> {
    match kind(name)? {
        Kind::Here(stage) => Some(*stage),
        Kind::Trainer(_) | Kind::Planned(_) => None,
    }
}

/// The catalogue the checker uses: every kind's schema, from the registry.
pub fn catalog() -> Catalog {
    static SCHEMAS: std::sync::LazyLock<Vec<&'static KindSchema>> =
        std::sync::LazyLock::new(|| REGISTRY.iter().map(Kind::schema).collect());
    Catalog { kinds: SCHEMAS.as_slice(), mixture_kind: kinds::mix::MIX.name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exp_dsl::schema::{Default, Ty};

    #[test]
    fn kind_names_are_unique_and_parameters_well_formed() {
        let mut names: Vec<&str> = catalog().kinds.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate stage kind");
        for k in catalog().kinds {
            assert!(k.version >= 1, "{} has no version", k.name);
            let mut params: Vec<&str> = k.params.iter().map(|p| p.name).collect();
            params.sort_unstable();
            let n = params.len();
            params.dedup();
            assert_eq!(n, params.len(), "{} repeats a parameter", k.name);
            for p in k.params {
                // Input parameters cannot have a literal default.
                if matches!(p.ty, Ty::Input(_)) {
                    assert!(matches!(p.default, Default::Required | Default::Optional), "{}.{}", k.name, p.name);
                }
                assert!(!p.doc.is_empty(), "{}.{} is undocumented", k.name, p.name);
            }
        }
    }
}
