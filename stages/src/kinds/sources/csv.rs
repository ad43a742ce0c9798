//! The `csv` reader: each row a record, columns named by the header or by `columns:`.

use super::{ending_at, file_label, finish, not_a_record, write_all, Fields};
use super::{RecordFields, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::{Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CsvParams {
    pub path: String,
    pub header: bool,
    pub columns: Vec<String>,
    #[serde(flatten)]
    pub fields: RecordFields,
}
impl Params for CsvParams {}

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

pub struct CsvReader;

impl Stage for CsvReader {
    fn schema(&self) -> &'static KindSchema {
        &CSV
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: CsvParams = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::records(&p.fields);
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            let rows = documents(crate::files::open(file)?, file, p.header, &p.columns, &fields)?;
            if !write_all(ctx, &mut out, &fields, rows)? {
                break;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// The documents of one CSV stream (already decompressed), one per row. With `header` the
/// first row names the columns unless `given` does; without, `given` must. A header that
/// cannot be read, or no column names, is an error of the whole file; a row that cannot
/// be read or has the wrong number of columns is a bad record; a read error ends the
/// stream.
pub fn documents<'a>(
    input: impl Read + 'a,
    file: &'a Path,
    header: bool,
    given: &[String],
    fields: &'a Fields,
) -> Result<impl Iterator<Item = Result<Document, StageError>> + 'a, StageError> {
    let label = file_label(file);
    let mut reader = csv::ReaderBuilder::new().has_headers(header).flexible(false).from_reader(input);
    let mut columns = given.to_vec();
    if header && columns.is_empty() {
        let h = reader.headers().map_err(|e| error(e, file, 1))?;
        // A byte-order mark is not part of the first column's name.
        columns = h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect();
    }
    if columns.is_empty() {
        return Err(StageError::Param(format!(
            "{}: no header; name the columns with `columns: [...]`",
            file.display()
        )));
    }
    let rows = reader.into_records().enumerate().map(move |(n, row)| {
        let line = n + 1 + usize::from(header);
        let row = row.map_err(|e| error(e, file, line))?;
        if row.len() != columns.len() {
            return Err(StageError::BadRecord {
                at: format!("{}:{line}", file.display()),
                message: format!("{} columns, expected {} ({})", row.len(), columns.len(), columns.join(", ")),
            });
        }
        fields.document(&format!("{label}:{line}"), |name| {
            let i = columns.iter().position(|c| c == name)?;
            Some(row.get(i)?.trim_start_matches('\u{feff}').to_string())
        })
    });
    Ok(ending_at(rows, not_a_record))
}

/// A CSV error at `line`: a read error is an I/O error (the `on_error` policy does not
/// skip it: the reader cannot go on), anything else a bad record.
fn error(e: csv::Error, file: &Path, line: usize) -> StageError {
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => StageError::Io { path: file.to_path_buf(), source },
        _ => StageError::BadRecord { at: format!("{}:{line}", file.display()), message },
    }
}
