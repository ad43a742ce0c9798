//! The `text` reader: plain text, one document per line or per file.

use super::{file_label, finish, Fields};
use super::{OnError, LANG_FIELD, LICENCE, LIMIT, PATH};
use crate::documents::{Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};
use std::io::Read;

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
