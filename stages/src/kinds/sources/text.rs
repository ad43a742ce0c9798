//! The `text` reader: plain text, one document per line or per file.

use super::{ending_at, file_label, finish, not_a_record, write_all, Fields};
use super::{OnError, LANG_FIELD, LICENCE, LIMIT, PATH};
use crate::documents::{Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Role};
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

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
        let mut out = Writer::create(ctx.out)?;
        for file in &files {
            if !write_all(ctx, &mut out, &fields, documents(crate::files::open(file)?, file, p.per, &fields))? {
                break;
            }
        }
        finish(ctx, out, files.len(), &fields)
    }
}

/// The documents of one text stream (already decompressed): one per non-blank line, or
/// the whole text as one unless it is blank. `file` names the stream: its file name is the
/// document's id (`name:line` per line). Text that is not UTF-8 is an I/O error, which
/// ends the stream.
pub fn documents<'a>(
    input: impl Read + 'a,
    file: &'a Path,
    per: Per,
    fields: &'a Fields,
) -> Box<dyn Iterator<Item = Result<Document, StageError>> + 'a> {
    let label = file_label(file);
    let meta: BTreeMap<String, String> =
        fields.licence().map(|l| [("licence".to_string(), l.to_string())].into_iter().collect()).unwrap_or_default();
    let doc = move |id: String, text: String| Document {
        source: id.clone(),
        id,
        text,
        lang: fields.lang().to_string(),
        meta: meta.clone(),
    };
    match per {
        // Read when asked for, as the lines are: a stage whose limit is reached asks no more.
        Per::File => Box::new(
            std::iter::once_with(move || {
                let mut input = input;
                let mut text = String::new();
                match input.read_to_string(&mut text) {
                    Ok(_) => (!text.trim().is_empty()).then(|| Ok(doc(label, text))),
                    Err(e) => Some(Err(StageError::io(file)(e))),
                }
            })
            .flatten(),
        ),
        Per::Line => {
            let lines = BufReader::new(input).lines().enumerate().filter_map(move |(n, line)| match line {
                Ok(line) => (!line.trim().is_empty()).then(|| Ok(doc(format!("{label}:{}", n + 1), line))),
                Err(e) => Some(Err(StageError::io(file)(e))),
            });
            Box::new(ending_at(lines, not_a_record))
        }
    }
}
