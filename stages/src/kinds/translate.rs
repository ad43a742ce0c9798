//! `translate`: documents into another language through an external engine: a
//! translation memory file (exact source text → translation), a command speaking JSON
//! lines on stdin/stdout (`{"id", "text", "to"}` in, `{"id", "text"}` or
//! `{"id", "error"}` out), or an OpenAI-compatible chat endpoint (what vLLM serves).
//! Every translation is cached in the store by (engine, target language, source text), so
//! a rerun or a resumed run only translates what is missing. Translations that fail
//! after the retries are excluded and counted, as in the recipe.

use super::{COUNT, LANG, NONNEG};
use crate::artifacts::{TranslationFailure, TranslationFailures};
use crate::documents::{self, Document, Writer};
use crate::http::{Client, Secret};
use crate::params::{parse, typed, Params};
use crate::stage::{Context, Determinism, Stage, StageError};
use exp_dsl::schema::{Artifact, Constructor, Default, KindSchema, Param, Role, Ty};
use exp_dsl::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    // 2: an `openai` engine's failed call quotes the server's reply, its API key redacted.
    version: 2,
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

pub struct Translate;

enum Engine {
    Memory(HashMap<String, String>),
    Command { run: String },
    OpenAi { url: String, model: String, client: Client, temperature: f64 },
}

impl Engine {
    fn from(ctx: &Context, spec: &EngineSpec) -> Result<Engine, StageError> {
        match spec {
            EngineSpec::Memory { path, source_field: src, target_field: tgt } => {
                let path = ctx.root.join(path);
                let mut memory = HashMap::new();
                for (n, line) in crate::files::lines(&path)?.enumerate() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let record: serde_json::Value = serde_json::from_str(&line).map_err(|e| StageError::BadRecord {
                        at: format!("{}:{}", path.display(), n + 1),
                        message: format!("not JSON: {e}"),
                    })?;
                    if let (Some(s), Some(t)) = (record[src].as_str(), record[tgt].as_str()) {
                        memory.insert(s.to_string(), t.to_string());
                    }
                }
                Ok(Engine::Memory(memory))
            }
            EngineSpec::Command { run } => Ok(Engine::Command { run: run.clone() }),
            EngineSpec::Openai { url, model, api_key_env, temperature } => Ok(Engine::OpenAi {
                url: url.clone(),
                model: model.clone(),
                client: Client::new(Secret::from_env(api_key_env), HTTP_TIMEOUT),
                temperature: *temperature,
            }),
        }
    }

    /// Translates a batch: per document, the translation or why there is none.
    fn translate(&self, docs: &[&Document], to: &str) -> Result<Vec<Result<String, String>>, StageError> {
        match self {
            Engine::Memory(m) => Ok(docs
                .iter()
                .map(|d| m.get(&d.text).cloned().ok_or_else(|| "not in the translation memory".into()))
                .collect()),
            Engine::Command { run } => run_command(run, docs, to),
            Engine::OpenAi { url, model, client, temperature } => {
                Ok(docs.iter().map(|d| openai(client, url, model, *temperature, &d.text, to)).collect())
            }
        }
    }
}

/// One process per batch: writes every document as a JSON line, reads as many lines back.
fn run_command(run: &str, docs: &[&Document], to: &str) -> Result<Vec<Result<String, String>>, StageError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(run)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| StageError::Param(format!("cannot start `{run}`: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let lines: Vec<String> =
        docs.iter().map(|d| serde_json::json!({ "id": d.id, "text": d.text, "to": to }).to_string()).collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            if writeln!(stdin, "{l}").is_err() {
                break;
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut by_id: HashMap<String, Result<String, String>> = HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| StageError::Param(format!("`{run}`: {e}")))?;
        let Ok(reply) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue; // garbage lines are not translations; the documents count as failed
        };
        let id = reply["id"].as_str().unwrap_or_default().to_string();
        let result = match (reply["text"].as_str(), reply["error"].as_str()) {
            (Some(t), _) if !t.trim().is_empty() => Ok(t.to_string()),
            (_, Some(e)) => Err(e.to_string()),
            _ => Err("an empty translation".to_string()),
        };
        by_id.insert(id, result);
    }
    writer.join().ok();
    let status = child.wait().map_err(|e| StageError::Param(format!("`{run}`: {e}")))?;
    if !status.success() && by_id.is_empty() {
        return Err(StageError::Param(format!("`{run}` exited with {status} and translated nothing")));
    }
    Ok(docs.iter().map(|d| by_id.remove(&d.id).unwrap_or_else(|| Err("no answer from the command".into()))).collect())
}

/// How long one translation request may take.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn openai(client: &Client, url: &str, model: &str, temperature: f64, text: &str, to: &str) -> Result<String, String> {
    let language = if to == "ja" { "Japanese" } else { "English" };
    let body = serde_json::json!({
        "model": model,
        "temperature": temperature,
        "messages": [
            { "role": "system", "content": format!("Translate the user's text into {language}. Reply with the translation only.") },
            { "role": "user", "content": text },
        ],
    });
    let endpoint = format!("{}/chat/completions", url.trim_end_matches('/'));
    let reply = client.post_json(&endpoint, &body)?;
    reply["choices"][0]["message"]["content"]
        .as_str()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{endpoint}: no translation in the reply"))
}

/// The cache file of one translation.
fn cache_path(cache: &Path, engine: &str, to: &str, text: &str) -> PathBuf {
    let key = blake3::Hasher::new()
        .update(engine.as_bytes())
        .update(b"\0")
        .update(to.as_bytes())
        .update(b"\0")
        .update(text.as_bytes())
        .finalize()
        .to_hex()
        .to_string();
    cache.join(&key[..2]).join(key)
}

fn cache_put(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("cache files are in a folder"))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// Documents per engine call.
const BATCH: usize = 64;

impl Stage for Translate {
    fn schema(&self) -> &'static KindSchema {
        &TRANSLATE
    }

    fn determinism(&self, params: &BTreeMap<String, Value>) -> Determinism {
        match parse::<TranslateParams>(params).map(|p| p.engine) {
            Ok(EngineSpec::Openai { .. }) => {
                Determinism::Not("a served model translates (even at temperature 0)".into())
            }
            _ => Determinism::Exact,
        }
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let p: TranslateParams = ctx.params()?;
        let engine = Engine::from(ctx, &p.engine)?;
        // The cache of translations is keyed by the engine as written and, for a
        // translation memory, by the memory's bytes: an edited memory translates anew.
        let mut engine_id = serde_json::to_string(&p.engine).map_err(|e| StageError::Param(e.to_string()))?;
        if let EngineSpec::Memory { path, .. } = &p.engine {
            let file = ctx.root.join(path);
            let bytes = std::fs::read(&file).map_err(StageError::io(&file))?;
            engine_id.push_str(blake3::hash(&bytes).to_hex().as_str());
        }
        let (to, retries, concurrency) = (p.to, p.retries as usize, p.concurrency as usize);
        let mut out = Writer::create(ctx.out)?;
        let mut failures: Vec<(String, String)> = Vec::new();
        let (mut cached, mut translated) = (0u64, 0u64);
        for input in ctx.inputs_for("input") {
            let mut docs = documents::read(&input.dir)?;
            loop {
                ctx.check_cancelled()?;
                let batch: Vec<Document> = docs.by_ref().take(BATCH * concurrency).collect::<Result<_, _>>()?;
                if batch.is_empty() {
                    break;
                }
                let mut results: Vec<Option<Result<String, String>>> = batch
                    .iter()
                    .map(|d| std::fs::read_to_string(cache_path(ctx.cache, &engine_id, &to, &d.text)).ok().map(Ok))
                    .collect();
                cached += results.iter().filter(|r| r.is_some()).count() as u64;
                for _attempt in 0..=retries {
                    let missing: Vec<usize> =
                        (0..batch.len()).filter(|&i| !matches!(results[i], Some(Ok(_)))).collect();
                    if missing.is_empty() {
                        break;
                    }
                    let chunks: Vec<Vec<usize>> = missing.chunks(BATCH).map(<[usize]>::to_vec).collect();
                    let answers: Vec<Result<Vec<Result<String, String>>, StageError>> = std::thread::scope(|s| {
                        let handles: Vec<_> = chunks
                            .iter()
                            .map(|chunk| {
                                let docs: Vec<&Document> = chunk.iter().map(|&i| &batch[i]).collect();
                                let (engine, to) = (&engine, &to);
                                s.spawn(move || engine.translate(&docs, to))
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| {
                                h.join()
                                    .unwrap_or_else(|_| Err(StageError::Param("a translation thread panicked".into())))
                            })
                            .collect()
                    });
                    for (chunk, answer) in chunks.iter().zip(answers) {
                        for (&i, result) in chunk.iter().zip(answer?) {
                            if let Ok(t) = &result {
                                cache_put(&cache_path(ctx.cache, &engine_id, &to, &batch[i].text), t)
                                    .map_err(StageError::io(ctx.cache))?;
                                translated += 1;
                            }
                            results[i] = Some(result);
                        }
                    }
                }
                for (doc, result) in batch.iter().zip(results) {
                    match result {
                        Some(Ok(text)) => {
                            let mut meta = doc.meta.clone();
                            meta.insert("translated_from".into(), doc.lang.clone());
                            out.write(&Document {
                                id: doc.id.clone(),
                                text,
                                lang: to.clone(),
                                source: doc.source.clone(),
                                meta,
                            })?;
                        }
                        Some(Err(why)) => failures.push((doc.id.clone(), why)),
                        None => failures.push((doc.id.clone(), "not translated".into())),
                    }
                }
                ctx.reporter.progress(out.documents, None, "translated");
            }
        }
        let kept = out.documents;
        out.finish()?;
        let sample =
            failures.iter().take(50).map(|(id, why)| TranslationFailure { id: id.clone(), why: why.clone() }).collect();
        crate::artifacts::write(ctx.out, &TranslationFailures { failed: failures.len() as u64, sample })?;
        ctx.reporter.metric("translated", None, kept as f64);
        ctx.reporter.metric("failed", None, failures.len() as f64);
        ctx.reporter.metric("from_cache", None, cached as f64);
        ctx.reporter.log(&format!(
            "{kept} documents translated ({cached} from the cache, {translated} new); {} failed and excluded",
            failures.len()
        ));
        Ok(())
    }
}
