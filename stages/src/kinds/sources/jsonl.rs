//! The `jsonl` reader: JSON lines, plain, `.gz` or `.zst`.

use super::{file_label, finish, Fields};
use super::{Records, ID_FIELD, LANG_FIELD, LICENCE, LIMIT, META_FIELD, ON_ERROR, PATH, TEXT_FIELD};
use crate::documents::Writer;
use crate::params::typed;
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};

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
        'files: for file in &files {
            let label = file_label(file);
            for (n, line) in crate::files::lines(file)?.enumerate() {
                if fields.full(out.documents) {
                    break 'files;
                }
                ctx.check_cancelled()?;
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("{label}:{}", n + 1);
                let doc = serde_json::from_str::<serde_json::Value>(&line)
                    .map_err(|e| StageError::BadRecord {
                        at: format!("{}:{}", file.display(), n + 1),
                        message: format!("not JSON: {e}"),
                    })
                    .and_then(|record| {
                        fields.document(&at, |name| match record.get(name)? {
                            serde_json::Value::String(s) => Some(s.clone()),
                            serde_json::Value::Null => None,
                            other => Some(other.to_string()),
                        })
                    });
                let Some(doc) = fields.policy(ctx, doc)? else { continue };
                out.write(&doc)?;
                if out.documents % 1000 == 0 {
                    ctx.reporter.progress(out.documents, None, "documents");
                }
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}
