//! The `jsonl` reader: JSON lines, plain, `.gz` or `.zst`.

use super::{ending_at, file_label, finish, not_a_record, write_all, Fields};
use super::{Records, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::{Document, Writer};
use crate::params::typed;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

pub static JSONL: KindSchema = KindSchema {
    name: "jsonl",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT, ON_ERROR],
    doc: "JSON lines, plain or compressed (.gz, .zst)",
    typed: typed::<Records>(),
};

pub struct JsonlReader;

impl Stage for JsonlReader {
    fn schema(&self) -> &'static KindSchema {
        &JSONL
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: Records = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::records(&p.fields);
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            if !write_all(ctx, &mut out, &fields, documents(crate::files::open(file)?, file, &fields))? {
                break;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// The documents of one JSON-lines stream (already decompressed), one per non-blank line.
/// `file` names the stream in messages and, by its file name, in each document's source.
/// A line that is not JSON, or lacks a mapped field, is a bad record; a read error (bytes
/// that are not UTF-8 among them) is an I/O error and the stream's end.
pub fn documents<'a>(
    input: impl Read + 'a,
    file: &'a Path,
    fields: &'a Fields,
) -> impl Iterator<Item = Result<Document, StageError>> + 'a {
    let label = file_label(file);
    let documents = BufReader::new(input).lines().enumerate().filter_map(move |(n, line)| {
        let line = match line {
            Ok(line) if line.trim().is_empty() => return None,
            Ok(line) => line,
            Err(e) => return Some(Err(StageError::io(file)(e))),
        };
        let at = format!("{label}:{}", n + 1);
        let record = serde_json::from_str::<serde_json::Value>(&line).map_err(|e| StageError::BadRecord {
            at: format!("{}:{}", file.display(), n + 1),
            message: format!("not JSON: {e}"),
        });
        Some(record.and_then(|record| {
            fields.document(&at, |name| match record.get(name)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
        }))
    });
    ending_at(documents, not_a_record)
}
