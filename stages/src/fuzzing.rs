//! Arbitrary bytes into every reader of untrusted files: the one way in for the cargo-fuzz
//! targets (`stages/fuzz/`) and for the bounded pass that `cargo test` runs
//! (`stages/tests/arbitrary_inputs.rs`). Each function takes the bytes as the content of
//! one file and drives the reader's own code (the functions its stage calls) to the end,
//! passing over bad records as `on_error: skip` does. Errors are the expected answer to
//! most inputs; what must never happen is a panic, a hang, or an allocation out of
//! proportion to the input.

use crate::documents::Document;
use crate::hf_config::MixtralConfig;
use crate::hf_weights;
use crate::kinds::sources::{self, Fields, OnError, RecordFields};
use crate::sentencepiece::SentencePiece;
use crate::stage::StageError;
use std::io::Read;
use std::path::Path;

/// One fuzz target: its name (the cargo-fuzz binary, and the folder of its seeds,
/// `stages/fuzz/corpus/<name>/`) and what it does with one input. `feed` returns how many
/// items (documents, tensors, token ids) the reader made of the input, so that a test can
/// tell the seeds a reader accepts from those it refuses.
pub struct Target {
    pub name: &'static str,
    pub feed: fn(&[u8]) -> usize,
}

pub const TARGETS: &[Target] = &[
    Target { name: "jsonl", feed: jsonl },
    Target { name: "jsonl_gz", feed: jsonl_gz },
    Target { name: "jsonl_zst", feed: jsonl_zst },
    Target { name: "csv", feed: csv },
    Target { name: "parquet", feed: parquet },
    Target { name: "text", feed: text },
    Target { name: "pubmed_xml", feed: pubmed_xml },
    Target { name: "jats", feed: jats },
    Target { name: "hf_config", feed: hf_config },
    Target { name: "safetensors", feed: safetensors },
    Target { name: "sentencepiece", feed: sentencepiece },
];

/// A decompressed stream is cut after this many bytes: a few kilobytes of zstd can stand
/// for gigabytes, which is the data's size and not a reader's fault, and the fuzzer's
/// time is better spent on inputs that differ.
const MAX_DECOMPRESSED: u64 = 16 << 20;

/// What `on_error: skip` does with a file: a bad record is passed over, any other error
/// ends the file. The count of documents read.
fn drain(documents: impl Iterator<Item = Result<Document, StageError>>) -> usize {
    let mut read = 0;
    for doc in documents {
        match doc {
            Ok(_) => read += 1,
            Err(StageError::BadRecord { .. }) => {}
            Err(_) => break,
        }
    }
    read
}

/// A record reader's mapping, with every kind of field in use.
fn records(text: &str, id: Option<&str>, meta: &[(&str, &str)]) -> Fields {
    Fields::records(&RecordFields {
        text: text.into(),
        id: id.map(str::to_string),
        lang: None,
        meta: meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        licence: Some("CC-BY-4.0".into()),
        limit: None,
        on_error: OnError::Skip,
    })
}

/// JSON lines as IgakuQA's (`data/igakuqa/`) are mapped.
fn jsonl_as(data: &[u8], name: &str) -> usize {
    let file = Path::new(name);
    let Ok(input) = crate::files::decompress(file, data) else { return 0 };
    let fields = records("problem_text", Some("problem_id"), &[("answer", "answer"), ("points", "points")]);
    drain(sources::jsonl::documents(input.take(MAX_DECOMPRESSED), file, &fields))
}

pub fn jsonl(data: &[u8]) -> usize {
    jsonl_as(data, "fuzz.jsonl")
}

/// The bytes as a gzip stream (`.jsonl.gz`).
pub fn jsonl_gz(data: &[u8]) -> usize {
    jsonl_as(data, "fuzz.jsonl.gz")
}

/// The bytes as a zstd stream (`.jsonl.zst`).
pub fn jsonl_zst(data: &[u8]) -> usize {
    jsonl_as(data, "fuzz.jsonl.zst")
}

/// Both ways a CSV file is read: with a header row (JMED-LLM's files) and without, the
/// columns named (JMMLU's).
pub fn csv(data: &[u8]) -> usize {
    let file = Path::new("fuzz.csv");
    let fields = records("question", None, &[("answer", "answer"), ("tag", "tag")]);
    let with_header = sources::csv::documents(data, file, true, &[], &fields).map(drain).unwrap_or(0);
    let columns = ["question", "A", "B", "C", "D", "answer"].map(String::from);
    let named = sources::csv::documents(data, file, false, &columns, &fields).map(drain).unwrap_or(0);
    with_header + named
}

/// The bytes as a Parquet file, mapped as the fixture `pairs.parquet` is.
pub fn parquet(data: &[u8]) -> usize {
    let file = Path::new("fuzz.parquet");
    let fields = records("text", Some("id"), &[("year", "year"), ("note", "note")]);
    let input = bytes::Bytes::copy_from_slice(data);
    sources::parquet::documents(input, file, &fields).map(drain).unwrap_or(0)
}

/// Plain text, one document per line and one per file.
pub fn text(data: &[u8]) -> usize {
    let file = Path::new("fuzz.txt");
    let fields = Fields::plain(Some("ja"), Some("CC-BY-4.0"), None, OnError::Skip);
    [sources::text::Per::Line, sources::text::Per::File]
        .into_iter()
        .map(|per| drain(sources::text::documents(data, file, per, &fields)))
        .sum()
}

pub fn pubmed_xml(data: &[u8]) -> usize {
    let file = Path::new("fuzz.xml");
    let fields = Fields::plain(None, Some("PubMed"), None, OnError::Skip);
    drain(sources::pubmed::documents(data, file, &fields))
}

/// One JATS article; the stage reads the file as UTF-8 first, as here.
pub fn jats(data: &[u8]) -> usize {
    let Ok(xml) = std::str::from_utf8(data) else { return 0 };
    usize::from(sources::jats::article(xml, "fuzz.nxml").is_ok())
}

/// A `config.json`, and what is computed from one that loads: its parameter counts, the
/// tensors its checkpoint is checked against, and the `config.json` written back.
pub fn hf_config(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let Ok(config) = MixtralConfig::parse(text) else { return 0 };
    let _ = config.parameter_counts();
    let _ = MixtralConfig::parse(&config.to_json().to_string());
    hf_weights::expected_tensors(&config).len()
}

/// The configuration the `safetensors` seeds are a checkpoint of (`stages/fuzz/make_corpus.py`
/// writes them): every tensor kind, a few bytes each.
pub fn micro_config() -> MixtralConfig {
    MixtralConfig {
        vocab_size: 8,
        hidden_size: 4,
        intermediate_size: 4,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 2,
        num_local_experts: 2,
        num_experts_per_tok: 1,
        max_position_embeddings: 16,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-5,
        router_aux_loss_coef: 0.01,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        dtype: "float32".into(),
    }
}

/// A safetensors file, both ways the trainer reads one: `checkpoint::check` (the header
/// alone, against the tensors of [`micro_config`]) and `checkpoint::load` (the whole file
/// through the `safetensors` crate, every tensor's data as `f32`).
pub fn safetensors(data: &[u8]) -> usize {
    let mut expected = hf_weights::expected_tensors(&micro_config());
    if let Ok(header) = hf_weights::read_header(&mut &data[..]) {
        let _ = hf_weights::check_header(&header, &mut expected);
    }
    let Ok(tensors) = safetensors::SafeTensors::deserialize(data) else { return 0 };
    let mut loaded = 0;
    for (_, view) in tensors.tensors() {
        if let Ok(values) = hf_weights::floats(&view) {
            // `load` hands these to burn's `TensorData::new`, which panics unless the
            // values fill the shape.
            assert_eq!(values.len(), view.shape().iter().product::<usize>(), "values for {:?}", view.shape());
            loaded += 1;
        }
    }
    loaded
}

/// A SentencePiece `.model`, and, when it loads, a short text encoded and decoded.
pub fn sentencepiece(data: &[u8]) -> usize {
    let Ok(model) = SentencePiece::from_bytes(data, "fuzz.model") else { return 0 };
    let ids = model.encode("Hello, 世界! \u{2581}tabs\tand <0x41> <s> \u{1F600}");
    let _ = model.decode(&ids);
    ids.len()
}
