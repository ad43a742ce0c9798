//! Sources: each reader kind turns files into one stream of documents (id, text, language,
//! metadata), and has its schema, parameters and code in its own module. The record
//! readers (JSON lines, CSV, Parquet) share [`Fields`], the mapping of record fields to a
//! document that the `.med` file gives (`text:`, `id:`, `lang:`, `meta:`, `licence:`,
//! `limit:`), and the parameters that declare it.

pub mod csv;
pub mod jats;
pub mod jsonl;
pub mod parquet;
pub mod pubmed;
pub mod text;

use super::LANG;
use crate::documents::{Document, Writer};
use crate::params::Params;
use crate::stage::{Context, StageError};
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Field mapping shared by the record readers: which record field is the text, the id,
/// and which fields become metadata.
pub(super) const TEXT_FIELD: Param =
    Param::with("text", Ty::Str, Default::Str("text"), "record field holding the document text");
pub(super) const ID_FIELD: Param =
    Param::optional("id", Ty::Str, "record field holding the document id (PMID, DOI, …); a running number when absent");
pub(super) const LANG_FIELD: Param =
    Param::optional("lang", LANG, "the language of every document, when known; otherwise identified per document");
pub(super) const META_FIELD: Param = Param::with(
    "meta",
    Ty::Map(&Ty::Str),
    Default::Empty,
    "metadata name → record field, e.g. `{ doi: \"doi\", year: \"pub_year\" }`",
);

pub(super) const PATH: Param = Param::required("path", Ty::Path, "file or glob, relative to the .med file");
pub(super) const LICENCE: Param =
    Param::optional("licence", Ty::Str, "licence of every document, when the files do not say it");
pub(super) const ON_ERROR: Param = Param::with(
    "on_error",
    Ty::Enum(&["fail", "skip"]),
    Default::Sym("fail"),
    "a record that cannot be read: fail the node, or skip it and count it",
);
pub(super) const LIMIT: Param = Param::optional(
    "limit",
    Ty::Count { unit: exp_dsl::ast::Unit::Docs, min: 0 },
    "read at most this many documents (toy runs)",
);

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

/// How a record becomes a document.
pub struct Fields {
    text: String,
    id: Option<String>,
    lang: String,
    meta: Vec<(String, String)>,
    licence: Option<String>,
    limit: Option<u64>,
    skip_errors: bool,
    skipped: std::cell::Cell<u64>,
}

/// The language written on documents when neither the `.med` file nor the files say it;
/// the language filter identifies them.
pub const UNKNOWN_LANG: &str = "und";

impl Fields {
    /// A record reader's mapping (`jsonl`, `csv`, `parquet`).
    pub fn records(f: &RecordFields) -> Fields {
        Fields {
            text: f.text.clone(),
            id: f.id.clone(),
            meta: f.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..Fields::plain(f.lang.as_deref(), f.licence.as_deref(), f.limit, f.on_error)
        }
    }

    /// A reader whose files say what the text is (`text`, `pubmed_xml`, `jats`).
    pub fn plain(lang: Option<&str>, licence: Option<&str>, limit: Option<u64>, on_error: OnError) -> Fields {
        Fields {
            text: String::new(),
            id: None,
            lang: lang.unwrap_or(UNKNOWN_LANG).to_string(),
            meta: Vec::new(),
            licence: licence.map(str::to_string),
            limit,
            skip_errors: on_error == OnError::Skip,
            skipped: std::cell::Cell::new(0),
        }
    }

    /// Whether `written` documents reach the `limit`.
    pub fn full(&self, written: u64) -> bool {
        self.limit.is_some_and(|l| written >= l)
    }

    /// The document of one record; `field` looks a record field up; `at` locates the record
    /// (`file:line`), for messages and as the id when none is mapped.
    pub fn document(&self, at: &str, field: impl Fn(&str) -> Option<String>) -> Result<Document, StageError> {
        let text = field(&self.text).ok_or_else(|| StageError::BadRecord {
            at: at.to_string(),
            message: format!("no text field `{}` (set `text:` to the field that holds the text)", self.text),
        })?;
        let id = match &self.id {
            Some(f) => field(f)
                .ok_or_else(|| StageError::BadRecord { at: at.to_string(), message: format!("no id field `{f}`") })?,
            None => at.to_string(),
        };
        let mut meta: BTreeMap<String, String> =
            self.meta.iter().filter_map(|(k, f)| field(f).map(|v| (k.clone(), v))).collect();
        if let Some(l) = &self.licence {
            meta.entry("licence".into()).or_insert_with(|| l.clone());
        }
        Ok(Document { id, text, lang: self.lang.clone(), source: at.to_string(), meta })
    }

    /// Applies the `on_error` policy to a record's result: `Ok(None)` for a record skipped
    /// and counted, the error itself when the policy is to fail.
    pub fn policy<T>(&self, ctx: &Context, result: Result<T, StageError>) -> Result<Option<T>, StageError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e @ StageError::BadRecord { .. }) if self.skip_errors => {
                ctx.reporter.log(&format!("skipped: {e}"));
                self.skipped.set(self.skipped.get() + 1);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn skipped(&self) -> u64 {
        self.skipped.get()
    }

    /// The language written on documents whose reader finds none.
    pub fn lang(&self) -> &str {
        &self.lang
    }

    pub fn licence(&self) -> Option<&str> {
        self.licence.as_deref()
    }
}

/// `dir/file.jsonl` → `file.jsonl`: records are located by file name, so moving the data
/// does not change the documents (their identity does not depend on the folder either).
pub fn file_label(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes the documents one reader gives for one file, under the `limit` and the
/// `on_error` policy: the loop every reader's stage runs, so that the readers themselves
/// are plain iterators over any input (`crate::fuzzing` feeds them bytes). `false` once
/// the limit is reached. The limit is looked at before each record is read, so a limit
/// reached never reads (or fails on) the record after it.
pub fn write_all(
    ctx: &Context,
    out: &mut Writer,
    fields: &Fields,
    mut documents: impl Iterator<Item = Result<Document, StageError>>,
) -> Result<bool, StageError> {
    loop {
        if fields.full(out.documents) {
            return Ok(false);
        }
        ctx.check_cancelled()?;
        let Some(doc) = documents.next() else { return Ok(true) };
        let Some(doc) = fields.policy(ctx, doc)? else { continue };
        out.write(&doc)?;
        if out.documents.is_multiple_of(1000) {
            ctx.reporter.progress(out.documents, None, "documents");
        }
    }
}

/// Ends `documents` after the first error that `ends` says the stream cannot go past, so
/// that no reader yields errors forever: a failed decompressor, for one, fails again on
/// every read, and with `on_error: skip` the stage would loop skipping.
pub(super) fn ending_at<I>(documents: I, ends: fn(&StageError) -> bool) -> impl Iterator<Item = I::Item>
where
    I: Iterator<Item = Result<Document, StageError>>,
{
    let mut ended = false;
    documents.map_while(move |doc| {
        if ended {
            return None;
        }
        ended = doc.as_ref().is_err_and(ends);
        Some(doc)
    })
}

/// For [`ending_at`]: an error that is not about one record (an I/O error) ends the stream.
pub(super) fn not_a_record(e: &StageError) -> bool {
    !matches!(e, StageError::BadRecord { .. })
}

/// Reports the counts every reader records.
pub fn finish(ctx: &Context, out: Writer, files: usize, fields: &Fields) -> Result<(), StageError> {
    let (docs, chars) = out.finish()?;
    ctx.reporter.metric("documents", None, docs as f64);
    ctx.reporter.metric("skipped", None, fields.skipped() as f64);
    ctx.reporter.metric("characters", None, chars as f64);
    ctx.reporter.log(&format!("read {docs} documents ({chars} characters) from {files} files"));
    if docs == 0 {
        return Err(StageError::Param("the source produced no documents".into()));
    }
    Ok(())
}
