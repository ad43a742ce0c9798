//! Templates: benchmark records to question–option–answer text, chat records to SFT text.

use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, Default, KindSchema, Param, Role, Ty};
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
