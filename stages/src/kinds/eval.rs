//! JMedBench-style evaluation: tasks are constructor values listed in `tasks: [...]`.

use super::{COUNT, SEED};
use exp_dsl::schema::{Artifact, Constructor, Default, KindSchema, Param, Role, Ty};

const SHOTS: Param =
    Param::with("shots", Ty::Int { min: 0, max: 16 }, Default::Int(0), "few-shot examples in the prompt");
const TEMPLATE: Param = Param::optional("template", Ty::Path, "prompt template replacing the task's own");

const YEARS: Param = Param::with(
    "years",
    Ty::List(&Ty::Int { min: 2006, max: 2100 }),
    Default::Empty,
    "IgakuQA years to evaluate (all in the data folder when empty); the others give the shots",
);

macro_rules! task {
    ($name:literal, $doc:literal) => {
        Constructor { name: $name, params: &[SHOTS, TEMPLATE], doc: $doc }
    };
}

/// Every task `jmedbench` can run.
pub const TASKS: &[Constructor] = &[
    Constructor {
        name: "igakuqa",
        params: &[
            SHOTS,
            YEARS,
            Param::with(
                "lang",
                Ty::Enum(&["ja", "en"]),
                Default::Sym("ja"),
                "original Japanese or the English translation",
            ),
            TEMPLATE,
        ],
        doc: "IgakuQA, Japanese medical licensing exam (MCQA); shots from a disjoint year",
    },
    task!("jmmlu_med", "JMMLU medical subjects (MCQA)"),
    task!("jmed_jmmlu", "JMED-LLM `jmmlu_med` (MCQA)"),
    task!("pubmedqa", "PubMedQA yes/no/maybe in English with its abstract, test split"),
    task!("crade", "CRADE document classification"),
    task!("rrtnm", "RRTNM document classification"),
    task!("smdis", "SMDIS document classification"),
    task!("jcsts", "JCSTS clinical STS (Pearson)"),
    task!("mrner_disease", "MRNER disease NER (F1)"),
    task!("mrner_medicine", "MRNER medicine NER (F1)"),
    task!("nrner", "NRNER NER (F1)"),
    Constructor {
        name: "ejmmt",
        params: &[
            SHOTS,
            Param::required("direction", Ty::Enum(&["en-ja", "ja-en"]), "translation direction"),
            YEARS,
            TEMPLATE,
        ],
        doc: "medical MT from the IgakuQA translations (BLEU)",
    },
];

/// Who computes likelihoods and generations.
pub const PROVIDERS: &[Constructor] = &[
    Constructor {
        name: "local",
        params: &[Param::with("device", Ty::Enum(&["cpu", "cuda"]), Default::Sym("cpu"), "where our model runs")],
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

pub static JMEDBENCH: KindSchema = KindSchema {
    name: "jmedbench",
    // 2: tasks read from `data`; built-in prompt templates (stages/templates/eval).
    version: 2,
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
};
