//! The `parquet` reader: each row of each Parquet file a record, streamed row group by row
//! group (the KAKEN reports of the recipe come as Parquet).

use super::{file_label, finish, Fields};
use super::{Records, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::Writer;
use crate::params::typed;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

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
        'files: for file in &files {
            let label = file_label(file);
            let bad = |message: String| StageError::BadRecord { at: file.display().to_string(), message };
            let handle = std::fs::File::open(file).map_err(StageError::io(file))?;
            let reader = SerializedFileReader::new(handle).map_err(|e| bad(format!("not a Parquet file: {e}")))?;
            let rows = reader.get_row_iter(None).map_err(|e| bad(e.to_string()))?;
            for (n, row) in rows.enumerate() {
                if fields.full(out.documents) {
                    break 'files;
                }
                ctx.check_cancelled()?;
                let at = format!("{label}:row {}", n + 1);
                let doc = row
                    .map_err(|e| StageError::BadRecord {
                        at: format!("{}: row {}", file.display(), n + 1),
                        message: e.to_string(),
                    })
                    .and_then(|row| {
                        fields.document(&at, |name| {
                            row.get_column_iter()
                                .find(|(column, _)| column.as_str() == name)
                                .and_then(|(_, f)| text_of(f))
                        })
                    });
                let Some(doc) = fields.policy(ctx, doc)? else { continue };
                out.write(&doc)?;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}
