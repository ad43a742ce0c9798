//! Tokenizers and tokenisation into Megatron-compatible shards.

use super::COUNT;
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
