//! `render`: documents through a minijinja template. The template sees the document as
//! `doc` (`doc.text`, `doc.id`, `doc.lang`, `doc.meta.<field>`) and a `fromjson` filter
//! for metadata holding JSON (a list of choices, say). With `format: text` the rendered
//! text is the document (question–option–answer text for instruction pre-training).
//! With `format: chat` the template is rendered twice, with `part` set to `"prompt"` and
//! to `"response"`; the document is their concatenation and `meta.prompt_chars` marks
//! where the response starts, so SFT can mask the loss on the prompt.

use crate::documents::{self, Document, Writer};
use crate::params::{typed, Params};
use crate::stage::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
use minijinja::{context, Environment, Value as Jinja};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Chat,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderParams {
    pub template: String,
    pub format: Format,
}
impl Params for RenderParams {}

pub static RENDER: KindSchema = KindSchema {
    name: "render",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        Param::required("input", Ty::Input(&[Artifact::Documents]), "records to render"),
        Param::required("template", Ty::Path, "minijinja template; its content is part of the node's identity"),
        Param::with(
            "format",
            Ty::Enum(&["text", "chat"]),
            Default::Sym("text"),
            "plain training text, or chat turns for SFT",
        ),
    ],
    doc: "render records through a minijinja template",
    typed: typed::<RenderParams>(),
};

pub struct Render;

fn from_json(text: String) -> Result<Jinja, minijinja::Error> {
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| Jinja::from_serialize(&v))
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("not JSON: {e}")))
}

impl Stage for Render {
    fn schema(&self) -> &'static KindSchema {
        &RENDER
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: RenderParams = ctx.params()?;
        let path = ctx.root.join(&p.template);
        let source = std::fs::read_to_string(&path).map_err(StageError::io(&path))?;
        let mut env = Environment::new();
        env.add_filter("fromjson", from_json);
        env.add_template("t", &source).map_err(|e| StageError::BadRecord {
            at: format!("{}:{}", path.display(), e.line().unwrap_or(0)),
            message: e.to_string(),
        })?;
        let template = env.get_template("t").expect("added above");
        let chat = p.format == Format::Chat;
        let mut out = Writer::create(ctx.out)?;
        for input in ctx.inputs_for("input") {
            for doc in documents::read(&input.dir)? {
                ctx.check_cancelled()?;
                let doc = doc?;
                let render = |part: &str| {
                    template.render(context! { doc => &doc, part => part }).map_err(|e| StageError::BadRecord {
                        at: format!("document `{}` ({})", doc.id, doc.source),
                        message: format!("the template {} failed: {e:#}", path.display()),
                    })
                };
                let mut rendered = Document { text: String::new(), ..doc.clone() };
                if chat {
                    let prompt = render("prompt")?;
                    let response = render("response")?;
                    rendered.meta.insert("prompt_chars".into(), prompt.chars().count().to_string());
                    rendered.text = prompt + &response;
                } else {
                    rendered.text = render("text")?;
                }
                if rendered.text.trim().is_empty() {
                    return Err(StageError::BadRecord {
                        at: format!("document `{}`", doc.id),
                        message: "the template rendered nothing".into(),
                    });
                }
                out.write(&rendered)?;
            }
        }
        let (docs, chars) = out.finish()?;
        ctx.reporter.metric("documents", None, docs as f64);
        ctx.reporter.metric("characters", None, chars as f64);
        Ok(())
    }
}
