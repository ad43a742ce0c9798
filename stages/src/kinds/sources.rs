//! Readers: each turns files into one stream of documents (id, text, language, metadata).

use super::LANG;
use crate::documents::{self, Document};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use exp_dsl::Value;

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
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT],
    doc: "JSON lines, plain or compressed (.gz, .zst)",
};

pub static PARQUET: KindSchema = KindSchema {
    name: "parquet",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT],
    doc: "Parquet files, one row per document",
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
    ],
    doc: "CSV files (benchmark sets); each row a record",
};

pub static PUBMED_XML: KindSchema = KindSchema {
    name: "pubmed_xml",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LICENCE, LIMIT],
    doc: "PubMed/MEDLINE XML: title and abstract sections, PMID, DOI, journal, year, MeSH",
};

pub static JATS: KindSchema = KindSchema {
    name: "jats",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, LIMIT],
    doc: "PMC JATS `.nxml`: body text, ids, and the licence from `<permissions>`",
};

/// Reads JSON lines (plain, `.gz` or `.zst`) into documents, mapping fields as the
/// parameters say.
pub struct JsonlReader;

impl Stage for JsonlReader {
    fn schema(&self) -> &'static KindSchema {
        &JSONL
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let files = crate::files::expand(ctx.root, ctx.str_param("path").unwrap_or_default())?;
        let text_field = ctx.str_param("text").unwrap_or("text");
        let id_field = ctx.str_param("id");
        let lang = ctx.str_param("lang").unwrap_or("und");
        let licence = ctx.str_param("licence");
        let limit = ctx.int_param("limit").map(|l| l.max(0) as u64);
        let meta: Vec<(String, String)> = match ctx.param("meta") {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| match v {
                    Value::Str(s) => Some((k.clone(), s.clone())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut out = documents::Writer::create(ctx.out)?;
        'files: for file in &files {
            let shown = file.display().to_string();
            for (n, line) in crate::files::lines(file)?.enumerate() {
                if limit.is_some_and(|l| out.documents >= l) {
                    break 'files;
                }
                ctx.check_cancelled()?;
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("{shown}:{}", n + 1);
                let record: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| StageError::BadRecord { at: at.clone(), message: format!("not JSON: {e}") })?;
                let field = |name: &str| -> Option<String> {
                    match record.get(name)? {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    }
                };
                let text = field(text_field).ok_or_else(|| StageError::BadRecord {
                    at: at.clone(),
                    message: format!("no text field `{text_field}` (set `text:` to the field that holds the text)"),
                })?;
                let id = match id_field {
                    Some(f) => field(f).ok_or_else(|| StageError::BadRecord {
                        at: at.clone(),
                        message: format!("no id field `{f}`"),
                    })?,
                    None => at.clone(),
                };
                let mut doc_meta: std::collections::BTreeMap<String, String> =
                    meta.iter().filter_map(|(k, f)| field(f).map(|v| (k.clone(), v))).collect();
                if let Some(l) = licence {
                    doc_meta.entry("licence".into()).or_insert_with(|| l.to_string());
                }
                out.write(&Document { id, text, lang: lang.to_string(), source: at, meta: doc_meta })?;
                if out.documents % 1000 == 0 {
                    ctx.reporter.progress(out.documents, None, "documents");
                }
            }
        }
        let (docs, chars) = out.finish()?;
        ctx.reporter.metric("documents", None, docs as f64);
        ctx.reporter.metric("characters", None, chars as f64);
        ctx.reporter.log(&format!("read {docs} documents ({chars} characters) from {} files", files.len()));
        Ok(())
    }
}
