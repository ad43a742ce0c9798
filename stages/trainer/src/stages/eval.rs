//! `jmedbench`: evaluates a model on the JMedBench-style tasks. The tasks, prompts,
//! scoring and resume are `exp_stages::eval`; this stage picks the provider (our burn
//! model, or an OpenAI-compatible server) and runs them.

use super::GPU;
use crate::checkpoint;
use crate::provider::Local;
use burn::prelude::Backend;
use exp_dsl::schema::KindSchema;
use exp_dsl::Value;
use exp_stages::eval::openai::OpenAi;
use exp_stages::eval::provider::Provider;
use exp_stages::eval::run::{evaluate, Io, Settings};
use exp_stages::eval::tasks::{self, Task};
use exp_stages::kinds::eval::{
    Device, JmedbenchParams, LocalProvider, OpenaiProvider, Precision, ProviderSpec, JMEDBENCH,
};
use exp_stages::kinds::train::precision_rule;
use exp_stages::mecab::Mecab;
use exp_stages::params::parse;
use exp_stages::{Context, Determinism, Resources, Stage, StageError};
use std::collections::BTreeMap;
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
        let provider = parse::<JmedbenchParams>(params).ok().and_then(|p| p.provider);
        let gpu = matches!(provider, Some(ProviderSpec::Local(LocalProvider { device: Device::Cuda, .. })));
        let served = matches!(provider, Some(ProviderSpec::Openai(_)));
        let cpus = if gpu || served { 1 } else { exp_stages::cores() };
        Resources { cpus, memory_mb: 2048, gpus: usize::from(gpu) }
    }

    fn determinism(&self, params: &BTreeMap<String, Value>) -> Determinism {
        match parse::<JmedbenchParams>(params).ok().and_then(|p| p.provider) {
            Some(ProviderSpec::Openai(_)) => Determinism::Not("a served model answers".into()),
            Some(ProviderSpec::Local(LocalProvider { device: Device::Cuda, .. })) => Determinism::Not(GPU.into()),
            _ => Determinism::Exact,
        }
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: JmedbenchParams = ctx.params()?;
        let data = ctx.root.join(&p.data);
        let tasks = tasks::load_all(&p.tasks, &data, ctx.root)?;
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
        let mecab = if tasks.iter().any(Task::needs_mecab) {
            ctx.reporter.log("building the IPA dictionary for ja-mecab BLEU");
            Some(Mecab::from_ipadic_archive(&tasks::ipadic(&data)?).map_err(|e| StageError::Param(e.to_string()))?)
        } else {
            None
        };
        let settings = Settings {
            batch: p.batch as usize,
            resamples: p.bootstrap as usize,
            seed: p.seed,
            max_new_tokens: p.max_new_tokens as usize,
            // 0: every item.
            limit: (p.limit > 0).then_some(p.limit as usize),
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
        match p.provider {
            Some(ProviderSpec::Openai(OpenaiProvider { url, model, api_key_env })) => {
                let key = std::env::var(api_key_env).ok();
                run(&mut OpenAi::new(&url, &model, key, HTTP_TIMEOUT))
            }
            Some(ProviderSpec::Local(LocalProvider { device: Device::Cuda, precision })) => {
                local_cuda(ctx, precision, &run)
            }
            // bf16 on the CPU is refused when checking (a kind rule).
            Some(ProviderSpec::Local(LocalProvider { device: Device::Cpu, precision: Precision::Bf16 })) => {
                Err(StageError::Param(precision_rule(Device::Cpu, Precision::Bf16).unwrap_or_default()))
            }
            Some(ProviderSpec::Local(LocalProvider { device: Device::Cpu, precision: Precision::Fp32 })) | None => {
                type B = burn::backend::NdArray<f32>;
                run(&mut local::<B>(ctx, Default::default(), "cpu")?.with_cpu_head())
            }
        }
    }
}

/// Our model on the GPU, in fp32 or in bf16 (the device's float type fixed first: burn
/// creates a device's tensors in one type per process).
#[cfg(feature = "cuda")]
fn local_cuda(
    ctx: &Context,
    precision: Precision,
    run: &dyn Fn(&mut dyn Provider) -> Result<(), StageError>,
) -> Result<(), StageError> {
    use crate::precision::Mixed;
    super::device::cuda_available()?;
    let device = burn::backend::cuda::CudaDevice::new(0);
    match precision {
        Precision::Fp32 => {
            type B = burn::backend::Cuda<f32, i32>;
            super::device::policy::<B>(&device, Mixed::Off)?;
            run(&mut local::<B>(ctx, device, "cuda")?)
        }
        Precision::Bf16 => {
            type B = burn::backend::Cuda<burn::tensor::bf16, i32>;
            super::device::policy::<B>(&device, Mixed::Bf16)?;
            run(&mut local::<B>(ctx, device, "cuda-bf16")?)
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn local_cuda(
    _: &Context,
    _: Precision,
    _: &dyn Fn(&mut dyn Provider) -> Result<(), StageError>,
) -> Result<(), StageError> {
    Err(StageError::Param(
        "`local(device: cuda)` needs exp built with the `cuda` feature: cargo build --release --features cuda".into(),
    ))
}

/// Our model from the `model` input, with the `tokenizer` input.
/// It answers on the node's granted threads (one on a GPU, where the node asked for one).
fn local<B: Backend>(ctx: &Context, device: B::Device, device_name: &str) -> Result<Local<B>, StageError> {
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
    // Named by its device, not its folder: `scores.json` must not depend on where the
    // store is (the model is the node's input, already in its identity).
    // Named by its device, not by its folder: `scores.json` must not depend on where the
    // store is (the model is an input, so it is in the node's identity already).
    Ok(Local::new(model, config, tokenizer, device, device_name.to_string(), ctx.threads))
}
