//! The `text` reader: plain text, one document per line or per file.

use super::{file_label, finish, Fields};
use crate::documents::{Document, Writer};
use crate::kinds::sources::{OnError, Per, TextParams, TEXT};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::KindSchema;
use std::io::Read;

pub struct TextReader;

impl Stage for TextReader {
    fn schema(&self) -> &'static KindSchema {
        &TEXT
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: TextParams = ctx.params()?;
        let files = crate::files::expand(ctx.root, &p.path)?;
        let fields = Fields::plain(p.lang.as_deref(), p.licence.as_deref(), p.limit, OnError::Fail);
        let per_file = p.per == Per::File;
        let mut out = Writer::create(ctx.out)?;
        let meta: std::collections::BTreeMap<String, String> = fields
            .licence()
            .map(|l| [("licence".to_string(), l.to_string())].into_iter().collect())
            .unwrap_or_default();
        let doc = |id: String, text: String| Document {
            source: id.clone(),
            id,
            text,
            lang: fields.lang().to_string(),
            meta: meta.clone(),
        };
        'files: for file in &files {
            let label = file_label(file);
            if per_file {
                let mut text = String::new();
                crate::files::open(file)?.read_to_string(&mut text).map_err(StageError::io(file))?;
                if !text.trim().is_empty() {
                    out.write(&doc(label, text))?;
                }
                if fields.full(out.documents) {
                    break;
                }
                continue;
            }
            for (n, line) in crate::files::lines(file)?.enumerate() {
                if fields.full(out.documents) {
                    break 'files;
                }
                ctx.check_cancelled()?;
                let line = line?;
                if !line.trim().is_empty() {
                    out.write(&doc(format!("{label}:{}", n + 1), line))?;
                }
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}
