//! The files one stage writes and another stage, `exp show`, a report or the corpus card
//! reads: each file's name as a constant and its content as a serde type, and the only
//! code that writes and reads them ([`write`]/[`read`] for JSON files, [`write_lines`]/
//! [`read_lines`] for JSON lines). Nothing reads these files as untyped JSON, and a
//! value that cannot be serialised is an error naming the file, never an empty file.
//!
//! The bytes are those the writers produced before this module existed: the files that
//! were built through `serde_json::json!` (which sorts keys) declare their fields in
//! alphabetical order, the others in the order they always had; the tests pin both.
//! `serde_json` writes a non-finite number as `null`; the readers take `null` back as
//! NaN where a number is expected (a task whose Pearson's r is undefined, say).
//!
//! Not here: `documents.jsonl` keeps its streaming reader and writer in
//! [`crate::documents`] (re-exported below); the Hugging Face files (`config.json`,
//! `model.safetensors.index.json`) follow Hugging Face's format in `exp-trainer`; the
//! engine writes `manifest.json` with its own type (`exp_engine::store::Manifest`) and
//! [`Manifest`] here is the same shape as the corpus card reads it (a test in the engine
//! ties the two).

use crate::metrics::BleuStats;
use crate::stage::StageError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::documents::{Document, FILE as DOCUMENTS};
pub use crate::eval::tasks::{Category, Lang};

/// A mixture's tallies (`mix`).
pub const COMPOSITION: &str = "composition.json";
/// What a filter dropped, per reason.
pub const DROPPED: &str = "dropped.json";
/// The documents a translation failed for.
pub const TRANSLATION_FAILURES: &str = "failed.json";
/// A `sentencepiece` tokenizer's summary (beside `tokenizer.model`).
pub const TOKENIZER: &str = "tokenizer.json";
/// A `tokenize` artifact's summary of its Megatron shards.
pub const DATASET: &str = "dataset.json";
/// An evaluation's scores: every task, its metrics and the averages.
pub const SCORES: &str = "scores.json";
/// The same scores as CSV rows (`task,category,lang,metric,value`), for plots.
pub const SCORES_CSV: &str = "scores.csv";
/// The folder of an evaluation's per-item results, one [`items_file`] per task.
pub const ITEMS: &str = "items";
/// A trained model's metrics, one [`StepMetrics`] per line.
pub const TRAIN_LOG: &str = "train_log.jsonl";
/// The metrics so far, one [`StepMetrics`] per line, inside a resumable checkpoint.
pub const CHECKPOINT_METRICS: &str = "metrics.jsonl";
/// What an `hf_checkpoint` artifact holds instead of the weights.
pub const CHECKPOINT_POINTER: &str = "checkpoint.json";
/// The engine's record of a stored node, beside its `artifact/` folder.
pub const MANIFEST: &str = "manifest.json";

/// How a JSON file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `serde_json`'s pretty printing, no newline at the end.
    Pretty,
    /// One compact line ending in a newline.
    Line,
}

/// A JSON artifact file: its name in the folder that holds it, and its layout.
pub trait JsonFile: Serialize + DeserializeOwned {
    const NAME: &'static str;
    const LAYOUT: Layout = Layout::Pretty;
}

fn unwritable(path: &Path, e: serde_json::Error) -> StageError {
    StageError::BadRecord { at: path.display().to_string(), message: format!("cannot be written as JSON: {e}") }
}

/// Writes `value` as `dir/<T::NAME>`.
pub fn write<T: JsonFile>(dir: &Path, value: &T) -> Result<(), StageError> {
    let path = dir.join(T::NAME);
    let bytes = match T::LAYOUT {
        Layout::Pretty => serde_json::to_vec_pretty(value),
        Layout::Line => serde_json::to_vec(value).map(|mut b| {
            b.push(b'\n');
            b
        }),
    }
    .map_err(|e| unwritable(&path, e))?;
    std::fs::write(&path, bytes).map_err(StageError::io(&path))
}

/// Reads `dir/<T::NAME>`.
pub fn read<T: JsonFile>(dir: &Path) -> Result<T, StageError> {
    let path = dir.join(T::NAME);
    let bytes = std::fs::read(&path).map_err(StageError::io(&path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| StageError::BadRecord { at: path.display().to_string(), message: e.to_string() })
}

/// Writes `records` as JSON lines: one compact record per line, each ending in a newline.
pub fn write_lines<T: Serialize>(path: &Path, records: &[T]) -> Result<(), StageError> {
    let mut bytes = Vec::new();
    for r in records {
        serde_json::to_writer(&mut bytes, r).map_err(|e| unwritable(path, e))?;
        bytes.push(b'\n');
    }
    std::fs::write(path, bytes).map_err(StageError::io(path))
}

/// Reads a JSON lines file; a line that is not a record is an error naming it.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, StageError> {
    let text = std::fs::read_to_string(path).map_err(StageError::io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| StageError::BadRecord {
                at: format!("{}:{}", path.display(), i + 1),
                message: e.to_string(),
            })
        })
        .collect()
}

/// `items/<task>.jsonl` of an evaluation artifact, relative to it: one [`ItemResult`] per line.
pub fn items_file(task: &str) -> PathBuf {
    Path::new(ITEMS).join(format!("{task}.jsonl"))
}

/// Deserialisers that take `null` (how `serde_json` writes NaN and infinities) as NaN.
mod nan {
    use serde::{Deserialize, Deserializer};
    use std::collections::BTreeMap;

    fn or_nan(v: Option<f64>) -> f64 {
        v.unwrap_or(f64::NAN)
    }

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(or_nan(Option::deserialize(d)?))
    }

    pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(f64, f64)>, D::Error> {
        Ok(Option::<(Option<f64>, Option<f64>)>::deserialize(d)?.map(|(a, b)| (or_nan(a), or_nan(b))))
    }

    pub fn map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        Ok(BTreeMap::<String, Option<f64>>::deserialize(d)?.into_iter().map(|(k, v)| (k, or_nan(v))).collect())
    }
}

// --- mix: composition.json ------------------------------------------------------------

/// `composition.json`: per member and in total, what a mixture wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    pub members: Vec<MemberTally>,
    pub total: Tally,
}

impl JsonFile for Composition {
    const NAME: &'static str = COMPOSITION;
}

/// One member of a mixture: how it was weighted, what was read and what was written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberTally {
    pub content: String,
    pub name: String,
    /// Documents read from the member.
    pub read: u64,
    /// Tokens of the member, when the mixture had a tokenizer.
    pub tokens_read: Option<u64>,
    /// Passes over the member (after budgets).
    #[serde(deserialize_with = "nan::number")]
    pub weight: f64,
    pub written: Tally,
}

/// Documents, characters and (with a tokenizer) tokens, by language and content type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub by_content: BTreeMap<String, Counts>,
    pub by_language: BTreeMap<String, Counts>,
    pub characters: u64,
    pub documents: u64,
    pub tokens: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub characters: u64,
    pub documents: u64,
    pub tokens: Option<u64>,
}

// --- filters: dropped.json ------------------------------------------------------------

/// `dropped.json`: per reason, how many documents a filter dropped and a sample of ids.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Dropped(pub BTreeMap<String, DroppedFor>);

impl JsonFile for Dropped {
    const NAME: &'static str = DROPPED;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DroppedFor {
    pub documents: u64,
    pub sample: Vec<String>,
}

// --- translate: failed.json -----------------------------------------------------------

/// `failed.json`: how many documents a translation failed for, and a sample with why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TranslationFailures {
    pub failed: u64,
    pub sample: Vec<TranslationFailure>,
}

impl JsonFile for TranslationFailures {
    const NAME: &'static str = TRANSLATION_FAILURES;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TranslationFailure {
    pub id: String,
    pub why: String,
}

// --- tokenizers and tokenised data: tokenizer.json, dataset.json ----------------------

/// `tokenizer.json`: what kind of tokenizer `tokenizer.model` is, and its vocabulary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenizerSummary {
    pub kind: String,
    pub vocab_size: u64,
}

impl JsonFile for TokenizerSummary {
    const NAME: &'static str = TOKENIZER;
}

/// `dataset.json`: the Megatron shards of a `tokenize` artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub documents: u64,
    /// `uint16` or `int32`.
    pub dtype: String,
    /// The end-of-document token appended to every document, if any.
    pub eod: Option<u32>,
    /// `megatron-mmidx`.
    pub format: String,
    pub shards: Vec<Shard>,
    pub tokens: u64,
    pub vocab_size: u64,
}

impl JsonFile for Dataset {
    const NAME: &'static str = DATASET;
}

/// One `.bin/.idx` pair of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub documents: u64,
    /// `shard_00000`: the files are `<prefix>.bin` and `<prefix>.idx`.
    pub prefix: String,
    pub tokens: u64,
}

// --- evaluation: scores.json, items/<task>.jsonl --------------------------------------

/// `scores.json`: what an evaluation produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub provider: String,
    pub tasks: Vec<TaskScore>,
    pub averages: Averages,
}

impl JsonFile for Scores {
    const NAME: &'static str = SCORES;
}

/// A task's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    pub task: String,
    pub category: Category,
    pub lang: Lang,
    pub items: usize,
    pub failed: usize,
    pub excluded: usize,
    /// The metric the averages use.
    pub headline: String,
    /// The headline on a 0–100 scale, and its 95% bootstrap interval.
    #[serde(deserialize_with = "nan::number")]
    pub score: f64,
    #[serde(default, deserialize_with = "nan::pair")]
    pub ci: Option<(f64, f64)>,
    #[serde(deserialize_with = "nan::map")]
    pub metrics: BTreeMap<String, f64>,
    /// The headline per group (IgakuQA block, subject, tag).
    #[serde(deserialize_with = "nan::map")]
    pub groups: BTreeMap<String, f64>,
}

/// The averages of headline scores the recipe reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    #[serde(deserialize_with = "nan::map")]
    pub categories: BTreeMap<String, f64>,
    #[serde(deserialize_with = "nan::map")]
    pub languages: BTreeMap<String, f64>,
    pub overall: Option<f64>,
}

/// The outcome of one item: a line of `items/<task>.jsonl`, and of the resume file an
/// interrupted evaluation reads back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: String,
    pub file: String,
    pub group: String,
    /// Why the item failed; a failed item has no prediction and scores as wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The chosen option (summed log-likelihood) or the generated text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<String>,
    /// Option indices chosen by the summed and the length-normalised log-likelihood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_norm: Option<usize>,
    /// The gold option index (choice tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_option: Option<usize>,
    pub gold: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_norm: Option<bool>,
    /// IgakuQA: the points earned and the question's points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<(f64, f64)>,
    /// Per option: summed log-probability and token count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub likelihoods: Vec<(f64, usize)>,
    /// NER: the entities read from the output, and the exact and partial F1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<(f64, f64)>,
    /// MT: the item's BLEU and its statistics (summed for corpus BLEU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleu_stats: Option<BleuStats>,
}

/// Metrics about how a node's run went (its speed, what a cache spared it), not about
/// what it made: kept in the manifest and the index, never shown in an artifact.
pub const RUN_METRICS: &[&str] = &["tokens_per_s", "mfu", "from_cache"];

// --- training: train_log.jsonl, checkpoint.json ---------------------------------------

/// One training step's measurements: a line of `train_log.jsonl` (and of a resumable
/// checkpoint's `metrics.jsonl`). Only what the step computed: its timings (tokens per
/// second, MFU) depend on the machine and the moment, so they go to the node's metrics
/// (the manifest and the index), never into an artifact's bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    #[serde(deserialize_with = "nan::number")]
    pub loss: f64,
    #[serde(deserialize_with = "nan::number")]
    pub aux_loss: f64,
    #[serde(deserialize_with = "nan::number")]
    pub lr: f64,
    #[serde(deserialize_with = "nan::number")]
    pub grad_norm: f64,
    /// Tokens routed to the busiest expert over the mean, all layers together: 1 is
    /// perfect balance.
    #[serde(deserialize_with = "nan::number")]
    pub expert_load_max: f64,
    /// Tokens trained on up to and including this step (the x axis of a loss curve).
    #[serde(default)]
    pub tokens: u64,
}

/// `checkpoint.json`: where an `hf_checkpoint` node's weights are (they are not copied
/// into the store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointPointer {
    pub path: PathBuf,
}

impl JsonFile for CheckpointPointer {
    const NAME: &'static str = CHECKPOINT_POINTER;
    const LAYOUT: Layout = Layout::Line;
}

// --- the store: manifest.json ---------------------------------------------------------

/// A stored node's `manifest.json`, as the engine writes it (`exp_engine::store::Manifest`,
/// whose identity types live in the engine); the corpus card follows lineage through it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub identity: String,
    pub encoding: String,
    pub kind: String,
    pub version: u32,
    /// The definition that produced it (a label: the same artifact may serve other names).
    pub name: String,
    pub experiment: String,
    pub params: BTreeMap<String, exp_dsl::Value>,
    pub inputs: Vec<ManifestInput>,
    pub files: Vec<ManifestFile>,
    pub outputs: Vec<ManifestOutput>,
    #[serde(deserialize_with = "nan::map")]
    pub metrics: BTreeMap<String, f64>,
    pub started_at: i64,
    pub seconds: f64,
    pub host: String,
    pub exp_version: String,
}

impl JsonFile for Manifest {
    const NAME: &'static str = MANIFEST;
}

/// An input of a stored node: its role and the input's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInput {
    pub role: String,
    pub identity: String,
}

/// A file a stored node read, relative to its experiment, with its content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub hash: String,
}

/// One file of a stored artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOutput {
    pub path: String,
    pub bytes: u64,
    pub hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Debug;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary folder")
    }

    /// Written then read, a value is equal to itself, and the bytes are laid out as
    /// `LAYOUT` says.
    fn round_trip<T: JsonFile + PartialEq + Debug>(value: &T) -> Vec<u8> {
        let d = dir();
        write(d.path(), value).expect("writes");
        assert_eq!(&read::<T>(d.path()).expect("reads"), value);
        let bytes = std::fs::read(d.path().join(T::NAME)).expect("the file");
        match T::LAYOUT {
            Layout::Pretty => assert_eq!(bytes, serde_json::to_vec_pretty(value).expect("serialises")),
            Layout::Line => {
                assert_eq!(bytes, [serde_json::to_vec(value).expect("serialises"), b"\n".to_vec()].concat())
            }
        }
        bytes
    }

    /// The bytes a `serde_json::json!` writer produced (keys sorted at every level): the
    /// files that were written that way keep their bytes.
    fn as_json_macro_wrote<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::to_value(value).expect("a value")).expect("serialises")
    }

    fn counts(documents: u64, tokens: Option<u64>) -> Counts {
        Counts { characters: 10 * documents, documents, tokens }
    }

    fn composition() -> Composition {
        let tally = |documents: u64| Tally {
            by_content: BTreeMap::from([("abstract".to_string(), counts(documents, Some(7 * documents)))]),
            by_language: BTreeMap::from([
                ("en".to_string(), counts(documents - 1, Some(7))),
                ("ja".to_string(), counts(1, None)),
            ]),
            characters: 10 * documents,
            documents,
            tokens: Some(7 * documents),
        };
        Composition {
            members: vec![MemberTally {
                content: "abstract".into(),
                name: "pubmed".into(),
                read: 3,
                tokens_read: Some(21),
                weight: 1.5,
                written: tally(4),
            }],
            total: tally(4),
        }
    }

    #[test]
    fn composition_round_trips_with_the_bytes_of_before() {
        let c = composition();
        assert_eq!(round_trip(&c), as_json_macro_wrote(&c));
        // As `mix` wrote it: the members and the total, through `json!`.
        let before = serde_json::json!({ "members": c.members, "total": c.total });
        assert_eq!(round_trip(&c), serde_json::to_vec_pretty(&before).expect("serialises"));
    }

    #[test]
    fn dropped_round_trips_with_the_bytes_of_before() {
        let d = Dropped(BTreeMap::from([
            ("too short".to_string(), DroppedFor { documents: 2, sample: vec!["a".into(), "b".into()] }),
            ("licence".to_string(), DroppedFor { documents: 1, sample: vec!["c".into()] }),
        ]));
        assert_eq!(round_trip(&d), as_json_macro_wrote(&d));
        assert!(String::from_utf8(round_trip(&Dropped::default())).expect("text") == "{}");
    }

    #[test]
    fn translation_failures_round_trip_with_the_bytes_of_before() {
        let f = TranslationFailures {
            failed: 3,
            sample: vec![TranslationFailure { id: "a".into(), why: "timeout".into() }],
        };
        assert_eq!(round_trip(&f), as_json_macro_wrote(&f));
    }

    #[test]
    fn tokenizer_and_dataset_round_trip_with_the_bytes_of_before() {
        let t = TokenizerSummary { kind: "sentencepiece-unigram".into(), vocab_size: 99_487 };
        assert_eq!(round_trip(&t), as_json_macro_wrote(&t));
        let d = Dataset {
            documents: 5,
            dtype: "int32".into(),
            eod: Some(2),
            format: "megatron-mmidx".into(),
            shards: vec![
                Shard { documents: 3, prefix: "shard_00000".into(), tokens: 40 },
                Shard { documents: 2, prefix: "shard_00001".into(), tokens: 12 },
            ],
            tokens: 52,
            vocab_size: 99_487,
        };
        assert_eq!(round_trip(&d), as_json_macro_wrote(&d));
        assert_eq!(round_trip(&Dataset { eod: None, shards: Vec::new(), ..d.clone() }), {
            as_json_macro_wrote(&Dataset { eod: None, shards: Vec::new(), ..d })
        });
    }

    fn scores() -> Scores {
        let task = TaskScore {
            task: "medmcqa".into(),
            category: Category::Mcqa,
            lang: Lang::En,
            items: 4,
            failed: 1,
            excluded: 0,
            headline: "accuracy".into(),
            score: 50.0,
            ci: Some((12.5, 87.5)),
            metrics: BTreeMap::from([("accuracy".to_string(), 0.5), ("accuracy_norm".to_string(), 0.25)]),
            groups: BTreeMap::from([("anatomy".to_string(), 50.0)]),
        };
        Scores {
            provider: "stub".into(),
            averages: Averages {
                categories: BTreeMap::from([("mcqa".to_string(), 50.0)]),
                languages: BTreeMap::from([("en".to_string(), 50.0)]),
                overall: Some(50.0),
            },
            tasks: vec![task.clone(), TaskScore { task: "jmmlu".into(), lang: Lang::Ja, ci: None, ..task }],
        }
    }

    #[test]
    fn scores_round_trip() {
        let s = scores();
        let bytes = round_trip(&s);
        // Fields in the order the evaluation always wrote them, not sorted.
        let text = String::from_utf8(bytes).expect("text");
        assert!(text.starts_with("{\n  \"provider\": \"stub\",\n  \"tasks\": ["), "{text}");
        assert!(
            text.find("\"task\"") < text.find("\"category\"") && text.find("\"groups\"") < text.find("\"averages\"")
        );
    }

    #[test]
    fn undefined_scores_are_written_as_null_and_read_as_nan() {
        let mut s = scores();
        s.tasks[0].score = f64::NAN;
        s.tasks[0].ci = Some((f64::NAN, 1.0));
        s.tasks[0].metrics.insert("pearson".into(), f64::NAN);
        s.averages.categories.insert("sts".into(), f64::NAN);
        let d = dir();
        write(d.path(), &s).expect("writes");
        let text = std::fs::read_to_string(d.path().join(SCORES)).expect("the file");
        assert!(text.contains("\"score\": null") && text.contains("\"sts\": null"), "{text}");
        let back: Scores = read(d.path()).expect("reads");
        assert!(back.tasks[0].score.is_nan() && back.tasks[0].metrics["pearson"].is_nan());
        assert!(back.tasks[0].ci.is_some_and(|(lo, hi)| lo.is_nan() && hi == 1.0));
        assert!(back.averages.categories["sts"].is_nan());
        assert_eq!(back.tasks[1], s.tasks[1]);
    }

    #[test]
    fn items_round_trip_as_lines() {
        let items = vec![
            ItemResult {
                id: "q1".into(),
                file: "medmcqa/test.jsonl".into(),
                group: "anatomy".into(),
                prediction: Some("b".into()),
                chosen: Some(1),
                chosen_norm: Some(0),
                gold_option: Some(1),
                gold: "b".into(),
                correct: Some(true),
                correct_norm: Some(false),
                likelihoods: vec![(-3.5, 2), (-1.25, 4)],
                ..ItemResult::default()
            },
            ItemResult {
                id: "q2".into(),
                gold: "翻訳".into(),
                bleu: Some(12.5),
                bleu_stats: Some(BleuStats { correct: [3, 2, 1, 0], total: [4, 3, 2, 1], hyp_len: 4, ref_len: 5 }),
                entities: Some(vec!["肺炎".into()]),
                f1: Some((0.5, 0.75)),
                points: Some((1.0, 3.0)),
                ..ItemResult::default()
            },
            ItemResult::default(),
        ];
        let d = dir();
        let path = d.path().join(items_file("medmcqa"));
        std::fs::create_dir_all(path.parent().expect("items/")).expect("items/");
        write_lines(&path, &items).expect("writes");
        assert_eq!(read_lines::<ItemResult>(&path).expect("reads"), items);
        // As the evaluation wrote them: one `to_string` per line.
        let before: String = items.iter().map(|r| serde_json::to_string(r).expect("serialises") + "\n").collect();
        assert_eq!(std::fs::read_to_string(&path).expect("the file"), before);
        assert_eq!(items_file("medmcqa"), Path::new("items/medmcqa.jsonl"));
    }

    #[test]
    fn train_log_round_trips_as_lines() {
        let step = |step: u64| StepMetrics {
            step,
            loss: 2.5 / step as f64,
            aux_loss: 0.01,
            lr: 1e-4,
            grad_norm: 0.75,
            expert_load_max: 1.125,
            tokens: 512 * step,
        };
        let log: Vec<StepMetrics> = (1..=3).map(step).collect();
        let d = dir();
        let path = d.path().join(TRAIN_LOG);
        write_lines(&path, &log).expect("writes");
        assert_eq!(read_lines::<StepMetrics>(&path).expect("reads"), log);
        let before: String = log.iter().map(|m| serde_json::to_string(m).expect("serialises") + "\n").collect();
        assert_eq!(std::fs::read_to_string(&path).expect("the file"), before);
        // A log written before `tokens` was recorded still reads; a broken line names itself.
        std::fs::write(&path, "{\"step\":1,\"loss\":2.0,\"aux_loss\":0.0,\"lr\":0.1,\"grad_norm\":null,\"expert_load_max\":1.0}\n{\"step\":").expect("write");
        let err = read_lines::<StepMetrics>(&path).expect_err("a torn line");
        assert!(err.to_string().contains(&format!("{}:2", path.display())), "{err}");
        std::fs::write(
            &path,
            "{\"step\":1,\"loss\":2.0,\"aux_loss\":0.0,\"lr\":0.1,\"grad_norm\":null,\"expert_load_max\":1.0}\n",
        )
        .expect("write");
        let old = read_lines::<StepMetrics>(&path).expect("reads");
        assert!(old[0].tokens == 0 && old[0].grad_norm.is_nan());
    }

    #[test]
    fn checkpoint_pointer_round_trips_as_one_line() {
        let p = CheckpointPointer { path: "/models/llm-jp-3-8x1.8b".into() };
        let bytes = round_trip(&p);
        // As `hf_checkpoint` wrote it: `json!({"path": dir}).to_string() + "\n"`.
        let before = serde_json::json!({ "path": p.path }).to_string() + "\n";
        assert_eq!(String::from_utf8(bytes).expect("text"), before);
    }

    #[test]
    fn manifest_round_trips() {
        let m = Manifest {
            identity: "ab".repeat(32),
            encoding: "exp-identity/1".into(),
            kind: "mix".into(),
            version: 1,
            name: "corpus".into(),
            experiment: "study".into(),
            params: BTreeMap::from([
                ("seed".to_string(), exp_dsl::Value::Int(3)),
                ("budget".to_string(), exp_dsl::Value::Null),
                ("share".to_string(), exp_dsl::Value::Float(0.5)),
            ]),
            inputs: vec![ManifestInput { role: "member".into(), identity: "cd".repeat(32) }],
            files: vec![ManifestFile { path: "data/a.jsonl".into(), hash: "ef".repeat(32) }],
            outputs: vec![ManifestOutput { path: "documents.jsonl".into(), bytes: 12, hash: "01".repeat(32) }],
            metrics: BTreeMap::from([("documents".to_string(), 4.0)]),
            started_at: 1_700_000_000,
            seconds: 0.25,
            host: "here".into(),
            exp_version: "0.1.0".into(),
        };
        round_trip(&m);
    }

    #[test]
    fn a_value_that_cannot_be_written_is_an_error_and_no_file() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Keys(BTreeMap<(u8, u8), u8>);
        impl JsonFile for Keys {
            const NAME: &'static str = "keys.json";
        }
        let d = dir();
        let err = write(d.path(), &Keys(BTreeMap::from([((1, 2), 3)]))).expect_err("a map with tuple keys");
        assert!(err.to_string().contains("keys.json"), "{err}");
        assert!(!d.path().join("keys.json").exists());
        let err = write_lines(&d.path().join("keys.jsonl"), &[Keys(BTreeMap::from([((1, 2), 3)]))]).expect_err("no");
        assert!(err.to_string().contains("keys.jsonl") && !d.path().join("keys.jsonl").exists(), "{err}");
    }

    #[test]
    fn reading_names_the_file() {
        let d = dir();
        let err = read::<Composition>(d.path()).expect_err("no file");
        assert!(err.to_string().contains(COMPOSITION), "{err}");
        std::fs::write(d.path().join(COMPOSITION), "{\"members\": []}").expect("write");
        let err = read::<Composition>(d.path()).expect_err("no total");
        assert!(err.to_string().contains(COMPOSITION) && err.to_string().contains("total"), "{err}");
    }
}
