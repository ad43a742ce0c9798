//! Megatron-LM's own dataset code read the toy study's shards (`fixtures/megatron-data/`,
//! made by `make_fixture.py` with core_v0.16.1's IndexedDataset, GPTDataset and blended
//! builder, on a CPU; README beside it): its document and token counts are ours, and the
//! first samples it built, read from the documents and offsets it chose, are the tokens
//! our reader gives. The blend it read is the one `exp` renders for these shards.

use exp_stages::artifacts::Dataset as Listing;
use exp_stages::megatron::launch::Shard;
use exp_stages::megatron::Dataset;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/megatron-data")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).expect("the fixture reads"))
        .expect("JSON")
}

fn numbers(v: &Value) -> Vec<i64> {
    v.as_array().expect("a list").iter().map(|x| x.as_i64().expect("a whole number")).collect()
}

#[test]
fn megatron_counts_the_documents_and_tokens_we_wrote() {
    let e = expected();
    let listing: Listing = exp_stages::artifacts::read(&fixture().join("shards")).expect("dataset.json");
    for (shard, theirs) in listing.shards.iter().zip(e["shards"].as_array().expect("a list")) {
        assert_eq!(theirs["prefix"], shard.prefix.as_str());
        let ours = Dataset::open(&fixture().join("shards").join(&shard.prefix)).expect("the shard opens");
        let m = &theirs["megatron"];
        assert_eq!(m["sequences"], ours.len());
        assert_eq!(m["documents"], ours.document_indices.len() - 1);
        assert_eq!(m["tokens"], ours.lengths.iter().map(|&l| l as u64).sum::<u64>());
        assert_eq!((m["documents"].as_u64(), m["tokens"].as_u64()), (Some(shard.documents), Some(shard.tokens)));
        for doc in theirs["first_documents"].as_array().expect("a list") {
            let tokens: Vec<i64> =
                ours.get(doc["index"].as_u64().expect("a count") as usize).iter().map(|&t| t as i64).collect();
            assert_eq!(doc["length"], tokens.len());
            assert_eq!(numbers(&doc["head"]), tokens[..16]);
            assert_eq!(numbers(&doc["tail"]), tokens[tokens.len() - 4..]);
            assert_eq!(doc["sum"], tokens.iter().sum::<i64>());
        }
    }
}

#[test]
fn megatron_read_the_blend_exp_renders() {
    let e = expected();
    let listing: Listing = exp_stages::artifacts::read(&fixture().join("shards")).expect("dataset.json");
    let shards: Vec<Shard> =
        listing.shards.iter().map(|s| Shard { prefix: s.prefix.clone(), tokens: s.tokens }).collect();
    // `--data-path W1 PREFIX1 …` as `launch.rs` renders it: token counts as weights.
    let rendered: Vec<String> = shards.iter().flat_map(|s| [s.tokens.to_string(), s.prefix.clone()]).collect();
    let theirs: Vec<String> = e["settings"]["data_path"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect();
    assert_eq!(rendered, theirs);
    assert_eq!(e["settings"]["split"], "100,0,0");
}

/// Megatron's sample: the documents and offsets it chose, cut from our reader's tokens.
fn sample(shard: &Dataset, structure: &Value, seq: usize) -> Vec<i64> {
    let mut text: Vec<i64> = Vec::new();
    for part in structure["parts"].as_array().expect("a list") {
        let doc = shard.get(part["document"].as_u64().expect("a count") as usize);
        let offset = part["offset"].as_u64().expect("a count") as usize;
        let end = part["length"].as_u64().map_or(doc.len(), |l| offset + l as usize);
        text.extend(doc[offset..end].iter().map(|&t| t as i64));
    }
    // Megatron pads a short sample with -1 and then reads the padding as 0.
    text.resize(seq + 1, 0);
    text
}

#[test]
fn megatrons_first_samples_are_the_tokens_our_reader_gives() {
    let e = expected();
    let seq = e["settings"]["seq_length"].as_u64().expect("a count") as usize;
    let listing: Listing = exp_stages::artifacts::read(&fixture().join("shards")).expect("dataset.json");
    let shards: Vec<Dataset> = listing
        .shards
        .iter()
        .map(|s| Dataset::open(&fixture().join("shards").join(&s.prefix)).expect("the shard opens"))
        .collect();
    let check = |shard: &Dataset, s: &Value| {
        // A blended sample names its structure; a shard dataset's sample is one.
        let text = sample(shard, s.get("structure").unwrap_or(s), seq);
        for (name, window) in [("tokens", &text[..seq]), ("labels", &text[1..])] {
            assert_eq!(numbers(&s[name]["head"]), window[..16], "sample {}: {name}", s["sample"]);
            assert_eq!(numbers(&s[name]["tail"]), window[seq - 4..], "sample {}: {name}", s["sample"]);
            assert_eq!(s[name]["sum"], window.iter().sum::<i64>(), "sample {}: {name}", s["sample"]);
        }
    };
    let blended = e["blended"]["samples"].as_array().expect("a list");
    assert_eq!(blended.len(), 4);
    for s in blended {
        check(&shards[s["dataset_index"].as_u64().expect("a count") as usize], s);
    }
    for (d, dataset) in e["gpt_datasets"].as_array().expect("a list").iter().enumerate() {
        for s in dataset["samples"].as_array().expect("a list") {
            check(&shards[d], s);
        }
    }
}
