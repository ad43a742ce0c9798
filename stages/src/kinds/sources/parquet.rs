//! The `parquet` reader: each row of each Parquet file a record, streamed row group by row
//! group (the KAKEN reports of the recipe come as Parquet).

use super::{file_label, finish, write_all, Fields};
use super::{Records, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::{Document, Writer};
use crate::params::typed;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use std::path::Path;

pub static PARQUET: KindSchema = KindSchema {
    name: "parquet",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[PATH, TEXT_FIELD, ID_FIELD, LANG_FIELD, META_FIELD, LICENCE, LIMIT, ON_ERROR],
    doc: "Parquet files, one row per document",
    typed: typed::<Records>(),
};

pub struct ParquetReader;

/// A cell as text: strings as they are, numbers and the like in their usual spelling,
/// nulls absent.
fn text_of(field: &Field) -> Option<String> {
    match field {
        Field::Null => None,
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => Some(String::from_utf8_lossy(b.data()).into_owned()),
        other => Some(other.to_string()),
    }
}

impl Stage for ParquetReader {
    fn schema(&self) -> &'static KindSchema {
        &PARQUET
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: Records = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::records(&p.fields);
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            let handle = std::fs::File::open(file).map_err(StageError::io(file))?;
            if !write_all(ctx, &mut out, &fields, documents(handle, file, &fields)?)? {
                break;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// The documents of one Parquet file (a `File`, or its bytes), one per row. A file whose
/// footer cannot be read is an error of the whole file; a row that cannot be read is a bad
/// record and ends the file: the row reader does not move past a row group it failed to
/// open and counts rows from the footer, so going on would repeat the error, possibly as
/// often as a corrupt footer claims rows.
pub fn documents<'a, R: ChunkReader + 'static>(
    input: R,
    file: &'a Path,
    fields: &'a Fields,
) -> Result<impl Iterator<Item = Result<Document, StageError>> + 'a, StageError> {
    let label = file_label(file);
    let bad = |message: String| StageError::BadRecord { at: file.display().to_string(), message };
    let reader = SerializedFileReader::new(input).map_err(|e| bad(format!("not a Parquet file: {e}")))?;
    check_footer(reader.metadata()).map_err(bad)?;
    let mut failed = false;
    let rows = RowIter::from_file_into(Box::new(reader)).enumerate().map_while(move |(n, row)| {
        if failed {
            return None;
        }
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                failed = true;
                let at = format!("{}: row {}", file.display(), n + 1);
                return Some(Err(StageError::BadRecord { at, message: e.to_string() }));
            }
        };
        Some(fields.document(&format!("{label}:row {}", n + 1), |name| {
            row.get_column_iter().find(|(column, _)| column.as_str() == name).and_then(|(_, f)| text_of(f))
        }))
    });
    Ok(rows)
}

/// What the parquet crate assumes of a footer and does not check: it panics, reading the
/// rows, on a column chunk whose offset or size is negative
/// (`ColumnChunkMetaData::byte_range`, parquet 60). Found by the `parquet` fuzz target.
fn check_footer(metadata: &ParquetMetaData) -> Result<(), String> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
            if start < 0 || column.compressed_size() < 0 {
                return Err(format!(
                    "not a Parquet file: row group {}, column `{}`: offset {start}, size {}",
                    g + 1,
                    column.column_path(),
                    column.compressed_size()
                ));
            }
        }
    }
    Ok(())
}
