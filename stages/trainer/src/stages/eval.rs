//! `jmedbench`: evaluates a model on the JMedBench-style tasks. The tasks, prompts,
//! scoring and resume are `exp_stages::eval`; this stage picks the provider (our burn
//! model, or an OpenAI-compatible server) and runs them.

use crate::checkpoint;
use crate::provider::Local;
use burn::prelude::Backend;
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use exp_stages::eval::openai::OpenAi;
use exp_stages::eval::provider::Provider;
use exp_stages::eval::run::{evaluate, Io, Settings};
use exp_stages::eval::tasks::{self, Category, Lang};
use exp_stages::kinds::eval::JMEDBENCH;
use exp_stages::mecab::Mecab;
use exp_stages::{Context, Resources, Stage, StageError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Jmedbench;

/// How long the HTTP provider waits for one batch.
const HTTP_TIMEOUT: Duration = Duration::from_secs(600);

impl Stage for Jmedbench {
    fn schema(&self) -> &'static KindSchema {
        &JMEDBENCH
    }

    /// Our model on the CPU answers on every core it is given; on a GPU, or through a
    /// server, one thread does.
    fn resources(&self, params: &BTreeMap<String, Value>) -> Resources {
        let provider = params.get("provider");
        let gpu = matches!(provider, Some(Value::Map(m)) if m.get("device") == Some(&Value::Str("cuda".into())));
        let served = matches!(provider, Some(Value::Map(m)) if m.get("type") == Some(&Value::Str("openai".into())));
        let cpus = if gpu || served { 1 } else { exp_stages::cores() };
        Resources { cpus, memory_mb: 2048, gpus: usize::from(gpu) }
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let data = ctx.root.join(ctx.str_param("data").ok_or_else(|| StageError::Param("`data` is required".into()))?);
        let Value::List(specs) = ctx.param("tasks") else {
            return Err(StageError::Param("`tasks` must be a list".into()));
        };
        let tasks = tasks::load_all(specs, &data, ctx.root)?;
        for t in &tasks {
            let failed = t.items.iter().filter(|i| i.is_err()).count();
            ctx.reporter.log(&format!(
                "{}: {} items ({failed} unreadable), {} excluded, template {}",
                t.id,
                t.items.len(),
                t.excluded.len(),
                t.template.name
            ));
        }
        let mecab = if tasks.iter().any(|t| t.category == Category::Mt && t.lang == Lang::Ja) {
            ctx.reporter.log("building the IPA dictionary for ja-mecab BLEU");
            Some(Mecab::from_ipadic_archive(&ipadic(&data)?).map_err(|e| StageError::Param(e.to_string()))?)
        } else {
            None
        };
        let count = |name: &str, default: i64| ctx.int_param(name).unwrap_or(default).max(0) as usize;
        let settings = Settings {
            batch: count("batch", 8),
            resamples: count("bootstrap", 1000),
            seed: ctx.int_param("seed").unwrap_or(0) as u64,
            max_new_tokens: count("max_new_tokens", 128),
            limit: ctx.int_param("limit").filter(|&l| l > 0).map(|l| l as usize),
        };
        let resume = ctx.node_cache();
        let cancelled = || ctx.check_cancelled().is_err();
        let io = Io { resume: &resume, out: ctx.out, reporter: ctx.reporter, cancelled: &cancelled };
        let run = |provider: &mut dyn Provider| -> Result<(), StageError> {
            let outcome = evaluate(&tasks, provider, mecab.as_ref(), &settings, &io)?;
            // Every item is in the artifact now; the resume files have done their job.
            let _ = std::fs::remove_dir_all(&resume);
            for t in &outcome.tasks {
                let ci = t.ci.map(|(lo, hi)| format!(" [{lo:.1}, {hi:.1}]")).unwrap_or_default();
                ctx.reporter.log(&format!(
                    "{}: {} {:.2}{ci} over {} items ({} failed)",
                    t.task, t.headline, t.score, t.items, t.failed
                ));
            }
            if let Some(overall) = outcome.averages.overall {
                ctx.reporter.log(&format!("average over tasks: {overall:.2}"));
            }
            Ok(())
        };
        match ctx.param("provider") {
            Value::Map(p) if p.get("type") == Some(&Value::Str("openai".into())) => {
                let text = |k: &str| match p.get(k) {
                    Some(Value::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                let url = text("url").ok_or_else(|| StageError::Param("`openai` needs `url`".into()))?;
                let model = text("model").ok_or_else(|| StageError::Param("`openai` needs `model`".into()))?;
                let key = std::env::var(text("api_key_env").unwrap_or_else(|| "OPENAI_API_KEY".into())).ok();
                run(&mut OpenAi::new(&url, &model, key, HTTP_TIMEOUT))
            }
            provider => {
                let device = match provider {
                    Value::Map(p) => p.get("device").cloned(),
                    _ => None,
                };
                match device {
                    Some(Value::Str(d)) if d == "cuda" => local_cuda(ctx, &run),
                    _ => {
                        type B = burn::backend::NdArray<f32>;
                        run(&mut local::<B>(ctx, Default::default())?.with_cpu_head())
                    }
                }
            }
        }
    }
}

#[cfg(feature = "cuda")]
fn local_cuda(ctx: &Context, run: &dyn Fn(&mut dyn Provider) -> Result<(), StageError>) -> Result<(), StageError> {
    super::device::cuda_available()?;
    type B = burn::backend::Cuda<f32, i32>;
    run(&mut local::<B>(ctx, burn::backend::cuda::CudaDevice::new(0))?)
}

#[cfg(not(feature = "cuda"))]
fn local_cuda(_: &Context, _: &dyn Fn(&mut dyn Provider) -> Result<(), StageError>) -> Result<(), StageError> {
    Err(StageError::Param(
        "`local(device: cuda)` needs exp built with the `cuda` feature: cargo build --release --features cuda".into(),
    ))
}

/// Our model from the `model` input, with the `tokenizer` input.
/// It answers on the node's granted threads (one on a GPU, where the node asked for one).
fn local<B: Backend>(ctx: &Context, device: B::Device) -> Result<Local<B>, StageError> {
    let input = |role: &str| {
        ctx.inputs_for(role).next().map(|i| i.dir.clone()).ok_or_else(|| {
            StageError::Param(format!("evaluating our own model needs `{role}:` (or give `provider: openai(...)`)"))
        })
    };
    let tokenizer = exp_stages::kinds::tokenize::load_tokenizer(&input("tokenizer")?)?;
    let dir = checkpoint::model_dir(&input("model")?).map_err(|e| StageError::Param(e.to_string()))?;
    let (config, model) = checkpoint::load::<B>(&dir, &device).map_err(|e| StageError::Param(e.to_string()))?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(StageError::Param(format!(
            "the tokenizer has {} pieces but the model's vocabulary is {}",
            tokenizer.vocab_size(),
            config.vocab_size
        )));
    }
    Ok(Local::new(model, config, tokenizer, device, dir.display().to_string(), ctx.threads))
}

/// The IPA dictionary sources in the data folder (`ipadic/*.tar.xz`).
fn ipadic(data: &Path) -> Result<PathBuf, StageError> {
    let folder = data.join("ipadic");
    let found = std::fs::read_dir(&folder)
        .map_err(StageError::io(&folder))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.xz"));
    found.ok_or_else(|| {
        StageError::Param(format!(
            "{}: no IPA dictionary (`mecab-ipadic-*.tar.xz`), needed for ja-mecab BLEU",
            folder.display()
        ))
    })
}
