//! Tokenizers and tokenisation into Megatron-compatible shards.

use super::COUNT;
use crate::artifacts::{Dataset, Shard, TokenizerSummary};
use crate::params::{typed, Params};
use crate::sentencepiece::SentencePiece;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentencePieceParams {
    pub path: String,
}
impl Params for SentencePieceParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeParams {
    pub append_eod: bool,
    pub shard_tokens: u64,
}
impl Params for TokenizeParams {}

pub static SENTENCEPIECE: KindSchema = KindSchema {
    name: "sentencepiece",
    version: 1,
    output: Artifact::Tokenizer,
    role: Role::Plain,
    params: &[Param::required("path", Ty::Path, "SentencePiece `.model` file (the LLM-jp tokenizer)")],
    doc: "a SentencePiece tokenizer",
    typed: typed::<SentencePieceParams>(),
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
    typed: typed::<TokenizeParams>(),
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
        let files = crate::files::expand(ctx.root, &ctx.params::<SentencePieceParams>()?.path)?;
        let [source] = files.as_slice() else {
            return Err(StageError::Param(format!("`path` must name one model file, found {}", files.len())));
        };
        let model = SentencePiece::load(source).map_err(|e| StageError::Param(e.to_string()))?;
        let target = ctx.out.join(MODEL_FILE);
        std::fs::copy(source, &target).map_err(StageError::io(&target))?;
        let summary = TokenizerSummary { kind: "sentencepiece-unigram".into(), vocab_size: model.vocab_size() as u64 };
        crate::artifacts::write(ctx.out, &summary)?;
        ctx.reporter.metric("vocab_size", None, model.vocab_size() as f64);
        Ok(())
    }
}

/// Loads the tokenizer of a tokenizer artifact folder.
pub fn load_tokenizer(dir: &std::path::Path) -> Result<SentencePiece, StageError> {
    SentencePiece::load(&dir.join(MODEL_FILE)).map_err(|e| StageError::Param(e.to_string()))
}

/// Tokenises documents into Megatron `.bin/.idx` shards (`shard_00000.bin`, …): one
/// sequence per document, the end-of-document token `</s>` appended when `append_eod`,
/// encoded on every core in batches and written in document order.
pub struct Tokenize;

/// Documents encoded per parallel batch.
const BATCH: usize = 2048;

impl Stage for Tokenize {
    fn schema(&self) -> &'static KindSchema {
        &TOKENIZE
    }

    fn resources(&self, _params: &std::collections::BTreeMap<String, exp_dsl::Value>) -> crate::stage::Resources {
        crate::stage::Resources { cpus: crate::stage::cores(), ..crate::stage::Resources::default() }
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        use rayon::prelude::*;
        let tokenizer_dir =
            ctx.inputs_for("tokenizer").next().ok_or_else(|| StageError::Param("no tokenizer input".into()))?;
        let tokenizer = load_tokenizer(&tokenizer_dir.dir)?;
        let TokenizeParams { append_eod, shard_tokens } = ctx.params()?;
        let eod = tokenizer
            .id_of("</s>")
            .ok_or_else(|| StageError::Param("the tokenizer has no `</s>` piece to end documents".into()))?;
        let dtype = crate::megatron::Dtype::for_vocab(tokenizer.vocab_size());
        let mut shards: Vec<Shard> = Vec::new();
        let mut writer: Option<crate::megatron::Writer> = None;
        let (mut documents, mut tokens) = (0u64, 0u64);
        for input in ctx.inputs_for("input") {
            let mut docs = crate::documents::read(&input.dir)?;
            loop {
                ctx.check_cancelled()?;
                let batch: Vec<crate::documents::Document> = docs.by_ref().take(BATCH).collect::<Result<_, _>>()?;
                if batch.is_empty() {
                    break;
                }
                let encoded: Vec<Vec<u32>> = batch
                    .par_iter()
                    .map(|d| {
                        let mut ids = tokenizer.encode(&d.text);
                        if append_eod {
                            ids.push(eod);
                        }
                        ids
                    })
                    .collect();
                for ids in encoded {
                    if writer.as_ref().is_some_and(|w| w.tokens >= shard_tokens) {
                        let w = writer.take().expect("checked above");
                        shards.push(finish_shard(w, shards.len())?);
                    }
                    if writer.is_none() {
                        let prefix = ctx.out.join(format!("shard_{:05}", shards.len()));
                        writer =
                            Some(crate::megatron::Writer::create(&prefix, dtype).map_err(StageError::io(&prefix))?);
                    }
                    let w = writer.as_mut().expect("created above");
                    w.add(&ids).map_err(StageError::io(ctx.out))?;
                    documents += 1;
                    tokens += ids.len() as u64;
                }
                ctx.reporter.progress(documents, None, "documents");
            }
        }
        if let Some(w) = writer {
            shards.push(finish_shard(w, shards.len())?);
        }
        let summary = Dataset {
            format: "megatron-mmidx".into(),
            dtype: if dtype == crate::megatron::Dtype::U16 { "uint16" } else { "int32" }.into(),
            vocab_size: tokenizer.vocab_size() as u64,
            eod: if append_eod { Some(eod) } else { None },
            documents,
            tokens,
            shards,
        };
        crate::artifacts::write(ctx.out, &summary)?;
        ctx.reporter.metric("documents", None, documents as f64);
        ctx.reporter.metric("tokens", None, tokens as f64);
        Ok(())
    }
}

fn finish_shard(w: crate::megatron::Writer, index: usize) -> Result<Shard, StageError> {
    let (docs, tokens) = (w.documents(), w.tokens);
    w.finish().map_err(|e| StageError::Io { path: format!("shard_{index:05}").into(), source: e })?;
    Ok(Shard { prefix: format!("shard_{index:05}"), documents: docs as u64, tokens })
}
