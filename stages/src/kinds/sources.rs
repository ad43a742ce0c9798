//! Readers: each turns files into one stream of documents (id, text, language, metadata).

use super::LANG;
use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record that cannot be read: fail the node, or skip it and count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Fail,
    Skip,
}

/// How a record becomes a document: the parameters every record reader shares.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordFields {
    pub text: String,
    pub id: Option<String>,
    pub lang: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub licence: Option<String>,
    pub limit: Option<u64>,
    pub on_error: OnError,
}

/// `jsonl` and `parquet`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Records {
    pub path: String,
    #[serde(flatten)]
    pub fields: RecordFields,
}
impl Params for Records {}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CsvParams {
    pub path: String,
    pub header: bool,
    pub columns: Vec<String>,
    #[serde(flatten)]
    pub fields: RecordFields,
}
impl Params for CsvParams {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Line,
    File,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextParams {
    pub path: String,
    pub per: Per,
    pub lang: Option<String>,
    pub licence: Option<String>,
    pub limit: Option<u64>,
}
impl Params for TextParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PubmedParams {
    pub path: String,
    pub licence: Option<String>,
    pub limit: Option<u64>,
    pub on_error: OnError,
}
impl Params for PubmedParams {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JatsParams {
    pub path: String,
    pub limit: Option<u64>,
    pub on_error: OnError,
}
impl Params for JatsParams {}

/// Field mapping shared by the record readers: which record field is the text, the id,
/// and which fields become metadata.
const TEXT_FIELD: Param = Param::with("text", Ty::Str, Default::Str("text"), "record field holding the document text");
const ID_FIELD: Param =
    Param::optional("id", Ty::Str, "record field holding the document id (PMID, DOI, …); a running number when absent");
const LANG_FIELD: Param =
    Param::optional("lang", LANG, "the language of every document, when known; otherwise identified per document");
const META_FIELD: Param = Param::with(
    "meta",
    Ty::Map(&Ty::Str),
    Default::Empty,
    "metadata name → record field, e.g. `{ doi: \"doi\", year: \"pub_year\" }`",
);

const PATH: Param = Param::required("path", Ty::Path, "file or glob, relative to the .med file");
const LICENCE: Param = Param::optional("licence", Ty::Str, "licence of every document, when the files do not say it");
const ON_ERROR: Param = Param::with(
    "on_error",
    Ty::Enum(&["fail", "skip"]),
    Default::Sym("fail"),
    "a record that cannot be read: fail the node, or skip it and count it",
);
const LIMIT: Param = Param::optional(
    "limit",
    Ty::Count { unit: exp_dsl::ast::Unit::Docs, min: 0 },
    "read at most this many documents (toy runs)",
);

pub static JSONL: KindSchema = KindSchema {
    name: "jsonl",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT, ON_ERROR],
    doc: "JSON lines, plain or compressed (.gz, .zst)",
    typed: typed::<Records>(),
};

pub static PARQUET: KindSchema = KindSchema {
    name: "parquet",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT, ON_ERROR],
    doc: "Parquet files, one row per document",
    typed: typed::<Records>(),
};

pub static TEXT: KindSchema = KindSchema {
    name: "text",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        PATH,
        Param::with("per", Ty::Enum(&["line", "file"]), Default::Sym("line"), "one document per line or per file"),
        LANG_FIELD,
        LICENCE,
        LIMIT,
    ],
    doc: "plain text",
    typed: typed::<TextParams>(),
};

pub static CSV: KindSchema = KindSchema {
    name: "csv",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        PATH,
        Param::with("header", Ty::Bool, Default::Bool(true), "whether the first row names the columns"),
        Param::with("columns", Ty::List(&Ty::Str), Default::Empty, "column names, for files without a header"),
        TEXT_FIELD,
        ID_FIELD,
        LANG_FIELD,
        META_FIELD,
        LICENCE,
        LIMIT,
        ON_ERROR,
    ],
    doc: "CSV files (benchmark sets); each row a record",
    typed: typed::<CsvParams>(),
};

pub static PUBMED_XML: KindSchema = KindSchema {
    name: "pubmed_xml",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LICENCE, LIMIT, ON_ERROR],
    doc: "PubMed/MEDLINE XML: title and abstract sections, PMID, DOI, journal, year, MeSH",
    typed: typed::<PubmedParams>(),
};

pub static JATS: KindSchema = KindSchema {
    name: "jats",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LIMIT, ON_ERROR],
    doc: "PMC JATS `.nxml`: body text, ids, and the licence from `<permissions>`",
    typed: typed::<JatsParams>(),
};
