//! Every stage kind of `exp`. Each kind lives in one module of [`kinds`] and declares its
//! parameter schema as a constant; [`catalog`] gathers them for the checker. The
//! implementations (readers, filters, the burn trainer, evaluation) land beside the
//! schemas as they are built; the burn-dependent trainer lives in its own crate,
//! `stages/trainer` (`exp-trainer`), so this one stays quick to build.

pub mod documents;
pub mod eval;
pub mod files;
pub mod filters;
pub mod kinds;
pub mod licence;
pub mod mecab;
pub mod megatron;
pub mod metrics;
pub mod parallel;
pub mod readers;
pub mod render;
pub mod report;
pub mod sentencepiece;
pub mod stage;
pub mod translate;

use exp_dsl::schema::{Catalog, KindSchema};
pub use stage::{cores, Context, InputArtifact, Reporter, Resources, Stage, StageError};

/// All stage kinds, in the order `exp stages` lists them.
pub static KINDS: &[&KindSchema] = &[
    &kinds::sources::JSONL,
    &kinds::sources::PARQUET,
    &kinds::sources::TEXT,
    &kinds::sources::CSV,
    &kinds::sources::PUBMED_XML,
    &kinds::sources::JATS,
    &kinds::filters::LICENCE,
    &kinds::filters::LANGUAGE,
    &kinds::filters::LENGTH,
    &kinds::filters::DEDUP,
    &kinds::filters::NEAR_DEDUP,
    &kinds::filters::DECONTAMINATE,
    &kinds::filters::SPLIT,
    &kinds::translate::TRANSLATE,
    &kinds::translate::PARALLEL,
    &kinds::render::RENDER,
    &kinds::mix::MIX,
    &kinds::tokenize::SENTENCEPIECE,
    &kinds::tokenize::TOKENIZE,
    &kinds::model::MIXTRAL,
    &kinds::model::HF_CHECKPOINT,
    &kinds::train::CPT,
    &kinds::train::MEGATRON_CPT,
    &kinds::train::SFT,
    &kinds::eval::JMEDBENCH,
    &kinds::report::COMPARE,
    &kinds::report::CORPUS_CARD,
];

/// The implementation of a stage kind, when it has one yet.
pub fn implementation(kind: &str) -> Option<&'static dyn Stage> {
    static IMPLEMENTED: &[&dyn Stage] = &[
        &readers::jsonl::JsonlReader,
        &readers::text::TextReader,
        &readers::csv::CsvReader,
        &readers::parquet::ParquetReader,
        &readers::xml::JatsReader,
        &readers::pubmed::PubmedReader,
        &filters::LicenceFilter,
        &filters::LengthFilter,
        &filters::LanguageFilter,
        &filters::Dedup,
        &filters::NearDedup,
        &filters::Decontaminate,
        &filters::Split,
        &translate::Translate,
        &parallel::Parallel,
        &render::Render,
        &kinds::mix::Mixer,
        &kinds::tokenize::SentencePieceStage,
        &kinds::tokenize::Tokenize,
        &report::compare::Compare,
        &report::card::CorpusCard,
    ];
    IMPLEMENTED.iter().copied().find(|s| s.schema().name == kind)
}

/// The catalogue the checker uses.
pub fn catalog() -> Catalog {
    Catalog { kinds: KINDS, mixture_kind: kinds::mix::MIX.name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exp_dsl::schema::{Default, Ty};

    #[test]
    fn kind_names_are_unique_and_parameters_well_formed() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate stage kind");
        for k in KINDS {
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
