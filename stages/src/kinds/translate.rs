//! Machine translation.

use super::{COUNT, LANG, NONNEG};
use crate::params::{typed, Params};
use exp_dsl::schema::{Artifact, Constructor, Default, KindSchema, Param, Role, Ty};
use serde::{Deserialize, Serialize};

/// An engine of [`ENGINES`], as lowered (`type` names the constructor).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum EngineSpec {
    Command { run: String },
    Openai { url: String, model: String, api_key_env: String, temperature: f64 },
    Memory { path: String, source_field: String, target_field: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateParams {
    pub to: String,
    pub engine: EngineSpec,
    pub concurrency: u64,
    pub retries: u64,
}
impl Params for TranslateParams {}

/// The MT engines `translate` can call.
pub const ENGINES: &[Constructor] = &[
    Constructor {
        name: "command",
        params: &[Param::required("run", Ty::Str, "command line of a process speaking JSON lines on stdin/stdout")],
        doc: "an external process",
    },
    Constructor {
        name: "openai",
        params: &[
            Param::required("url", Ty::Str, "base URL of an OpenAI-compatible server (vLLM)"),
            Param::required("model", Ty::Str, "model name served there"),
            Param::with("api_key_env", Ty::Str, Default::Str("OPENAI_API_KEY"), "environment variable holding the key"),
            Param::with("temperature", Ty::Float { min: 0.0, max: 2.0 }, Default::Float(0.0), "sampling temperature"),
        ],
        doc: "an OpenAI-compatible HTTP endpoint",
    },
    Constructor {
        name: "memory",
        params: &[
            Param::required("path", Ty::Path, "translation memory (JSONL of source/target pairs)"),
            Param::with("source_field", Ty::Str, Default::Str("source"), "field with the source text"),
            Param::with("target_field", Ty::Str, Default::Str("target"), "field with the translation"),
        ],
        doc: "a translation memory file",
    },
];

pub static TRANSLATE: KindSchema = KindSchema {
    name: "translate",
    version: 1,
    output: Artifact::Documents,
    role: Role::Plain,
    params: &[
        Param::required("input", Ty::Input(&[Artifact::Documents]), "documents to translate"),
        Param::required("to", LANG, "target language"),
        Param::required("engine", Ty::Variant(ENGINES), "the MT engine"),
        Param::with("concurrency", COUNT, Default::Int(4), "translations in flight"),
        Param::with("retries", NONNEG, Default::Int(3), "retries of a failed translation before it is excluded"),
    ],
    doc: "translate documents; failed translations are excluded and counted",
    typed: typed::<TranslateParams>(),
};

