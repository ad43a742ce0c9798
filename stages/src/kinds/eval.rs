//! JMedBench-style evaluation: tasks are constructor values listed in `tasks: [...]`.

use super::{COUNT, SEED};
use crate::eval::tasks::TaskSpec;
use crate::params::Params;
use exp_dsl::schema::{Artifact, Broken, Constructor, Default, KindSchema, Param, Read, Role, Ty};
use serde::{Deserialize, Serialize};

/// Every task `jmedbench` can run: the constructors of the task table
/// (`eval::tasks::TABLE`), where each task's parameters, category, languages and built-in
/// templates are declared once.
pub const TASKS: &[Constructor] = &crate::eval::tasks::CONSTRUCTORS;

/// Who computes likelihoods and generations.
pub const PROVIDERS: &[Constructor] = &[
    Constructor {
        name: "local",
        params: &[
            Param::with("device", Ty::Enum(&["cpu", "cuda"]), Default::Sym("cpu"), "where our model runs"),
            Param::with("precision", super::train::PRECISION, Default::Sym("fp32"), super::train::PRECISION_DOC),
        ],
        doc: "our burn model",
    },
    Constructor {
        name: "openai",
        params: &[
            Param::required("url", Ty::Str, "base URL of an OpenAI-compatible server (vLLM)"),
            Param::required("model", Ty::Str, "served model name"),
            Param::with("api_key_env", Ty::Str, Default::Str("OPENAI_API_KEY"), "environment variable holding the key"),
        ],
        doc: "an OpenAI-compatible completions endpoint with `echo` and `logprobs`",
    },
];

/// Where our model runs and in which number format: the trainer's.
pub use super::train::{Device, Precision};

/// A provider as lowered (`{"type": "openai", "url": …}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderSpec {
    Local(LocalProvider),
    Openai(OpenaiProvider),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalProvider {
    pub device: Device,
    pub precision: Precision,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenaiProvider {
    pub url: String,
    pub model: String,
    pub api_key_env: String,
}

/// The parameters of `jmedbench` (its inputs, `model` and `tokenizer`, are edges).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JmedbenchParams {
    pub tasks: Vec<TaskSpec>,
    /// Our model when absent.
    pub provider: Option<ProviderSpec>,
    /// The benchmark data folder, relative to the experiment.
    pub data: String,
    pub batch: u64,
    /// 0: every item.
    pub limit: u64,
    pub max_new_tokens: u64,
    pub bootstrap: u64,
    pub seed: u64,
}
impl Params for JmedbenchParams {
    fn broken(&self) -> Vec<Broken> {
        match &self.provider {
            Some(ProviderSpec::Local(l)) => super::train::precision_rule(l.device, l.precision)
                .map(|message| Broken { param: "provider", message })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What the tasks read in the data folder (not every file there: the folder also
    /// holds corpora), and their template overrides, so a node reruns exactly when a file
    /// one of its tasks reads changes.
    fn reads(&self) -> Option<Vec<Read>> {
        let mut reads: Vec<Read> = Vec::new();
        for spec in &self.tasks {
            let mut add = |read: Read| {
                if !reads.contains(&read) {
                    reads.push(read);
                }
            };
            for (pattern, optional) in crate::eval::tasks::patterns(spec) {
                add(Read { param: "data", base: self.data.clone(), pattern, required: !optional });
            }
            if let Some(template) = crate::eval::tasks::template_override(spec) {
                add(Read { param: "tasks", base: String::new(), pattern: template.to_string(), required: true });
            }
        }
        Some(reads)
    }
}

pub static JMEDBENCH: KindSchema = KindSchema {
    name: "jmedbench",
    // 2: tasks read from `data`; built-in prompt templates (stages/templates/eval).
    // 3: the identity covers the files the tasks read, not the whole `data` folder.
    // 4: `scores.json` names our model's provider by its device, not its store folder.
    // 5: an `openai` provider's failed call quotes the server's reply, its API key redacted.
    version: 5,
    output: Artifact::Scores,
    role: Role::Plain,
    params: &[
        Param::required("model", Ty::Input(&[Artifact::Model]), "the model to evaluate"),
        Param::required("tasks", Ty::List(&Ty::Variant(TASKS)), "tasks to run"),
        Param::optional("tokenizer", Ty::Input(&[Artifact::Tokenizer]), "tokenizer of a local model"),
        Param::with(
            "provider",
            Ty::Variant(PROVIDERS),
            Default::Optional,
            "who computes likelihoods (our model when absent)",
        ),
        Param::required(
            "data",
            Ty::Path,
            "folder of the benchmark sets in their upstream layout (igakuqa/, jmmlu/, jmed-llm/, pubmedqa/, ipadic/)",
        ),
        Param::with("batch", COUNT, Default::Int(8), "items per provider call"),
        Param::with(
            "limit",
            Ty::Int { min: 0, max: i64::MAX },
            Default::Int(0),
            "evaluate a seeded sample of at most this many items per task (0: all; toy runs)",
        ),
        Param::with("max_new_tokens", COUNT, Default::Int(128), "longest generation (NER, MT)"),
        Param::with(
            "bootstrap",
            Ty::Int { min: 0, max: 100_000 },
            Default::Int(1000),
            "bootstrap resamples for confidence intervals",
        ),
        Param::with("seed", SEED, Default::Int(0), "seed of few-shot choice and bootstrap"),
    ],
    doc: "JMedBench-style evaluation: MCQA, NER, DC, STS, MT",
    typed: crate::params::typed::<JmedbenchParams>(),
};

#[cfg(test)]
mod tests {
    use super::*;
    use exp_dsl::Value;
    use std::collections::BTreeMap;

    /// The lowered parameters of a `jmedbench` node with every default (its inputs are
    /// edges, not parameters) read into `JmedbenchParams` and written back unchanged, for
    /// each provider.
    #[test]
    fn the_schema_defaults_fit_the_parameters_struct() {
        let crade =
            Value::map([("type", Value::Str("crade".into())), ("shots", Value::Int(0)), ("template", Value::Null)]);
        let providers = [
            Value::Null,
            Value::map([
                ("type", Value::Str("local".into())),
                ("device", Value::Str("cpu".into())),
                ("precision", Value::Str("fp32".into())),
            ]),
            Value::map([
                ("type", Value::Str("openai".into())),
                ("url", Value::Str("http://localhost:8000".into())),
                ("model", Value::Str("m".into())),
                ("api_key_env", Value::Str("OPENAI_API_KEY".into())),
            ]),
        ];
        for provider in providers {
            let mut params = BTreeMap::new();
            for p in JMEDBENCH.params {
                let v = match (p.name, &p.default) {
                    (_, _) if matches!(p.ty, Ty::Input(_)) => continue,
                    ("tasks", _) => Value::List(vec![crade.clone()]),
                    ("data", _) => Value::Str("data".into()),
                    ("provider", _) => provider.clone(),
                    (_, Default::Int(i)) => Value::Int(*i),
                    (name, d) => panic!("`{name}`: give the test a sample of {d:?}"),
                };
                params.insert(p.name.to_string(), v);
            }
            assert_eq!((JMEDBENCH.typed.round_trip)(&params), Ok(params.clone()));
        }
    }
}
