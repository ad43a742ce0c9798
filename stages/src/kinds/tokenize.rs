//! Tokenizers and tokenisation into Megatron-compatible shards.

use super::COUNT;
use crate::sentencepiece::SentencePiece;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};

pub static SENTENCEPIECE: KindSchema = KindSchema {
    name: "sentencepiece",
    version: 1,
    output: Artifact::Tokenizer,
    role: Role::Plain,
    params: &[Param::required("path", Ty::Path, "SentencePiece `.model` file (the LLM-jp tokenizer)")],
    doc: "a SentencePiece tokenizer",
};

pub static TOKENIZE: KindSchema = KindSchema {
    name: "tokenize",
    version: 1,
    output: Artifact::Tokens,
    role: Role::Plain,
    params: &[
        Param::required("input", Ty::Input(&[Artifact::Documents]), "corpus or documents to tokenise"),
        Param::required("tokenizer", Ty::Input(&[Artifact::Tokenizer]), "the tokenizer"),
        Param::with("append_eod", Ty::Bool, Default::Bool(true), "end each document with the end-of-document token"),
        Param::with("shard_tokens", COUNT, Default::Int(1_000_000_000), "tokens per `.bin/.idx` shard"),
    ],
    doc: "tokenise into Megatron `.bin/.idx` shards",
};

/// The tokenizer artifact: the model file, checked to load, as `tokenizer.model`, and a
/// summary in `tokenizer.json`.
pub struct SentencePieceStage;

/// File name of the model inside a tokenizer artifact.
pub const MODEL_FILE: &str = "tokenizer.model";

impl Stage for SentencePieceStage {
    fn schema(&self) -> &'static KindSchema {
        &SENTENCEPIECE
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let files = crate::files::expand(ctx.root, ctx.str_param("path").unwrap_or_default())?;
        let [source] = files.as_slice() else {
            return Err(StageError::Param(format!("`path` must name one model file, found {}", files.len())));
        };
        let model = SentencePiece::load(source).map_err(|e| StageError::Param(e.to_string()))?;
        let target = ctx.out.join(MODEL_FILE);
        std::fs::copy(source, &target).map_err(StageError::io(&target))?;
        let summary = serde_json::json!({ "kind": "sentencepiece-unigram", "vocab_size": model.vocab_size() });
        let path = ctx.out.join("tokenizer.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&summary).unwrap_or_default())
            .map_err(StageError::io(&path))?;
        ctx.reporter.metric("vocab_size", None, model.vocab_size() as f64);
        Ok(())
    }
}

/// Loads the tokenizer of a tokenizer artifact folder.
pub fn load_tokenizer(dir: &std::path::Path) -> Result<SentencePiece, StageError> {
    SentencePiece::load(&dir.join(MODEL_FILE)).map_err(|e| StageError::Param(e.to_string()))
}
