//! Filters: documents in, fewer documents out. Each records what it dropped and why.

use super::{LANG, NONNEG, SEED};
use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceParams {
    pub keep: Vec<String>,
}
impl Params for LicenceParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageParams {
    pub keep: Vec<String>,
}
impl Params for LanguageParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthParams {
    pub min_chars: u64,
    pub max_chars: Option<u64>,
}
impl Params for LengthParams {
    fn broken(&self) -> Vec<exp_dsl::schema::Broken> {
        let max = self.max_chars.unwrap_or(u64::MAX);
        crate::params::rule(self.min_chars <= max, "max_chars", || {
            format!("`max_chars` ({max}) is below `min_chars` ({}): every document would be dropped", self.min_chars)
        })
        .into_iter()
        .collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupParams {
    pub by: Vec<String>,
}
impl Params for DedupParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearDedupParams {
    pub threshold: f64,
    pub permutations: u64,
    pub shingle: u64,
    pub seed: u64,
}
impl Params for NearDedupParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontaminateParams {
    pub ngram: u64,
}
impl Params for DecontaminateParams {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Train,
    Test,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitParams {
    pub keep: Side,
    pub ids: Option<String>,
    pub test_share: f64,
    pub seed: u64,
}
impl Params for SplitParams {}

const INPUT: Param = Param::required("input", Ty::Input(&[Artifact::Documents]), "the documents to filter");

pub static LICENCE: KindSchema = KindSchema {
    name: "licence",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "keep",
            Ty::List(&Ty::Str),
            Default::Strs(&["CC0", "CC-BY"]),
            "licence identifiers to keep; unknown licences are dropped",
        ),
    ],
    doc: "keep documents whose normalised licence is in `keep`",
    typed: typed::<LicenceParams>(),
};

pub static LANGUAGE: KindSchema = KindSchema {
    name: "language",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[INPUT, Param::required("keep", Ty::List(&LANG), "languages to keep")],
    doc: "keep documents identified as one of the languages",
    typed: typed::<LanguageParams>(),
};

pub static LENGTH: KindSchema = KindSchema {
    name: "length",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with("min_chars", NONNEG, Default::Int(1), "drop documents shorter than this"),
        Param::optional("max_chars", NONNEG, "drop documents longer than this"),
    ],
    doc: "length and simple quality rules",
    typed: typed::<LengthParams>(),
};

pub static DEDUP: KindSchema = KindSchema {
    name: "dedup",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "by",
            Ty::List(&Ty::Enum(&["id", "doi", "pmid", "text"])),
            Default::Strs(&["id"]),
            "identifiers compared",
        ),
        Param::optional(
            "against",
            Ty::List(&Ty::Input(&[Artifact::Documents])),
            "other sources whose documents win over these",
        ),
    ],
    doc: "exact deduplication by identifiers, within the input and against other sources",
    typed: typed::<DedupParams>(),
};

pub static NEAR_DEDUP: KindSchema = KindSchema {
    name: "near_dedup",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::with(
            "threshold",
            Ty::Fraction,
            Default::Float(0.8),
            "Jaccard similarity above which two documents are duplicates",
        ),
        Param::with("permutations", Ty::Int { min: 16, max: 1024 }, Default::Int(128), "MinHash permutations"),
        Param::with("shingle", Ty::Int { min: 1, max: 64 }, Default::Int(5), "characters per shingle"),
        Param::with("seed", SEED, Default::Int(0), "MinHash seed"),
    ],
    doc: "near-duplicate removal with MinHash and LSH",
    typed: typed::<NearDedupParams>(),
};

pub static DECONTAMINATE: KindSchema = KindSchema {
    name: "decontaminate",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::required(
            "against",
            Ty::List(&Ty::Input(&[Artifact::Documents])),
            "evaluation sets that must not leak into training data",
        ),
        Param::with(
            "ngram",
            Ty::Int { min: 1, max: 64 },
            Default::Int(13),
            "n-gram length (characters for Japanese, words for English)",
        ),
    ],
    doc: "drop documents sharing an n-gram with an evaluation set",
    typed: typed::<DecontaminateParams>(),
};

pub static SPLIT: KindSchema = KindSchema {
    name: "split",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        INPUT,
        Param::required("keep", Ty::Enum(&["train", "test"]), "which side to keep"),
        Param::optional("ids", Ty::Path, "file listing the ids of the test side (e.g. PubMedQA's ground truth)"),
        Param::with(
            "test_share",
            Ty::Fraction,
            Default::Float(0.5),
            "share of documents on the test side when no id list is given",
        ),
        Param::with("seed", SEED, Default::Int(0), "seed of the random split"),
    ],
    doc: "split a benchmark into its training and test sides without leakage",
    typed: typed::<SplitParams>(),
};
