//! The `csv` reader: each row a record, columns named by the header or by `columns:`.

use super::{file_label, finish, Fields};
use super::{RecordFields, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::Writer;
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};

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
        let (header, given) = (p.header, p.columns);
        let mut out = Writer::create(ctx.out)?;
        'files: for file in &files {
            let label = file_label(file);
            let mut reader =
                csv::ReaderBuilder::new().has_headers(header).flexible(false).from_reader(crate::files::open(file)?);
            let mut columns = given.clone();
            if header && columns.is_empty() {
                let h = reader.headers().map_err(|e| StageError::BadRecord {
                    at: format!("{}:1", file.display()),
                    message: e.to_string(),
                })?;
                // A byte-order mark is not part of the first column's name.
                columns = h.iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect();
            }
            if columns.is_empty() {
                return Err(StageError::Param(format!(
                    "{}: no header; name the columns with `columns: [...]`",
                    file.display()
                )));
            }
            for (n, row) in reader.records().enumerate() {
                if fields.full(out.documents) {
                    break 'files;
                }
                ctx.check_cancelled()?;
                let line = n + 1 + usize::from(header);
                let at = format!("{label}:{line}");
                let doc = row
                    .map_err(|e| StageError::BadRecord {
                        at: format!("{}:{line}", file.display()),
                        message: e.to_string(),
                    })
                    .and_then(|row| {
                        if row.len() != columns.len() {
                            return Err(StageError::BadRecord {
                                at: format!("{}:{line}", file.display()),
                                message: format!(
                                    "{} columns, expected {} ({})",
                                    row.len(),
                                    columns.len(),
                                    columns.join(", ")
                                ),
                            });
                        }
                        fields.document(&at, |name| {
                            let i = columns.iter().position(|c| c == name)?;
                            Some(row.get(i)?.trim_start_matches('\u{feff}').to_string())
                        })
                    });
                let Some(doc) = fields.policy(ctx, doc)? else { continue };
                out.write(&doc)?;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}
