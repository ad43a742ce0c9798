//! The evaluation driver: for each task, the items not yet done are rendered, sent to the
//! provider in batches and judged; every finished item is appended to a resume file in
//! the stage's cache, so an interrupted evaluation resumes where it stopped. The artifact
//! gets `scores.json`, `scores.csv` and `items/<task>.jsonl`.

use super::provider::{cut_at_stop, Generation, Likelihood, Provider};
use super::score::{self, averages, ItemResult};
use super::tasks::{parse_list, Category, Gold, Item, Lang, Task};
use crate::artifacts::{self, Scores, ITEMS, SCORES_CSV};
use crate::mecab::Mecab;
use crate::metrics::{bleu_stats, tokenize_13a};
use crate::{Reporter, StageError};
use rand::seq::index::sample;
use rand::SeedableRng;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Items per provider call.
    pub batch: usize,
    /// Bootstrap resamples for the confidence intervals (0: none).
    pub resamples: usize,
    /// Seeds the few-shot choice, the item sample and the bootstrap.
    pub seed: u64,
    pub max_new_tokens: usize,
    /// Evaluate a seeded sample of at most this many items per task.
    pub limit: Option<usize>,
}

/// What an evaluation produced: what `scores.json` holds.
pub type Outcome = Scores;

/// Where the work happens, as the stage gives it.
pub struct Io<'a> {
    /// Resume files, one per task, in the stage's cache.
    pub resume: &'a Path,
    /// The artifact folder.
    pub out: &'a Path,
    pub reporter: &'a dyn Reporter,
    pub cancelled: &'a dyn Fn() -> bool,
}

/// Runs every task and writes the results.
pub fn evaluate(
    tasks: &[Task],
    provider: &mut dyn Provider,
    mecab: Option<&Mecab>,
    settings: &Settings,
    io: &Io,
) -> Result<Outcome, StageError> {
    std::fs::create_dir_all(io.resume).map_err(StageError::io(io.resume))?;
    let items_dir = io.out.join(ITEMS);
    std::fs::create_dir_all(&items_dir).map_err(StageError::io(&items_dir))?;
    let selected: Vec<Vec<usize>> = tasks.iter().map(|t| select(t, settings)).collect();
    let total: u64 = selected.iter().map(|s| s.len() as u64).sum();
    let mut done = 0u64;
    let mut scores = Vec::new();
    for (task, chosen) in tasks.iter().zip(&selected) {
        for why in &task.excluded {
            io.reporter.log(&format!("{}: excluded: {why}", task.id));
        }
        let resume_file = io.resume.join(format!("{}.jsonl", task.id));
        let mut finished = read_finished(&resume_file);
        let mut journal = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&resume_file)
            .map_err(StageError::io(&resume_file))?;
        let started = std::time::Instant::now();
        let todo: Vec<usize> = chosen.iter().copied().filter(|&i| !finished.contains_key(&item_id(task, i))).collect();
        done += (chosen.len() - todo.len()) as u64;
        io.reporter.progress(done, Some(total), "items");
        for batch in todo.chunks(settings.batch.max(1)) {
            if (io.cancelled)() {
                return Err(StageError::Cancelled);
            }
            for result in run_batch(task, batch, provider, mecab, settings) {
                if result.ok() {
                    let line = serde_json::to_string(&result).map_err(|e| StageError::BadRecord {
                        at: resume_file.display().to_string(),
                        message: format!("cannot be written as JSON: {e}"),
                    })?;
                    writeln!(journal, "{line}").map_err(StageError::io(&resume_file))?;
                    crate::faults::point("journal");
                } else {
                    // The error names the task, the file and the item.
                    io.reporter.log(result.error.as_deref().unwrap_or("failed"));
                }
                finished.insert(result.id.clone(), result);
            }
            journal.flush().map_err(StageError::io(&resume_file))?;
            done += batch.len() as u64;
            io.reporter.progress(done, Some(total), "items");
        }
        if !todo.is_empty() {
            let secs = started.elapsed().as_secs_f64();
            io.reporter.log(&format!(
                "{}: {} items in {secs:.1}s ({:.2} items/s)",
                task.id,
                todo.len(),
                todo.len() as f64 / secs
            ));
        }
        let results: Vec<ItemResult> = chosen.iter().filter_map(|&i| finished.remove(&item_id(task, i))).collect();
        artifacts::write_lines(&io.out.join(artifacts::items_file(&task.id)), &results)?;
        scores.push(score::score_task(task, &results, settings.resamples, settings.seed));
    }
    let outcome = Outcome { provider: provider.describe(), averages: averages(&scores), tasks: scores };
    write_scores(io.out, &outcome)?;
    report(&outcome, io.reporter);
    Ok(outcome)
}

fn item_id(task: &Task, i: usize) -> String {
    match &task.items[i] {
        Ok(item) => item.id.clone(),
        Err(e) => e.id.clone(),
    }
}

fn rng_for(seed: u64, parts: &[&str]) -> rand_chacha::ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    rand_chacha::ChaCha8Rng::from_seed(*h.finalize().as_bytes())
}

/// The items to evaluate: all, or a seeded sample of `limit` in file order.
fn select(task: &Task, settings: &Settings) -> Vec<usize> {
    let n = task.items.len();
    match settings.limit {
        Some(limit) if limit < n => {
            let mut chosen = sample(&mut rng_for(settings.seed, &[&task.id, "sample"]), n, limit).into_vec();
            chosen.sort_unstable();
            chosen
        }
        _ => (0..n).collect(),
    }
}

/// The few-shot items for `item`: the same for every item when the task fixes them
/// (IgakuQA), otherwise drawn per item; from the task's pool, or from its other items.
fn shots_for<'t>(task: &'t Task, item: &Item, seed: u64) -> Vec<&'t Item> {
    if task.shots == 0 {
        return Vec::new();
    }
    let candidates: Vec<&Item> = if task.pool.is_empty() {
        task.items.iter().filter_map(|i| i.as_ref().ok()).filter(|i| i.id != item.id).collect()
    } else {
        task.pool.iter().collect()
    };
    let key = if task.fixed_shots { "" } else { item.id.as_str() };
    let k = task.shots.min(candidates.len());
    sample(&mut rng_for(seed, &[&task.id, "shots", key]), candidates.len(), k)
        .into_iter()
        .map(|i| candidates[i])
        .collect()
}

/// Evaluates one batch of items; one result per item, in order.
fn run_batch(
    task: &Task,
    batch: &[usize],
    provider: &mut dyn Provider,
    mecab: Option<&Mecab>,
    settings: &Settings,
) -> Vec<ItemResult> {
    // Render prompts; an unreadable item or a failed render fails that item only.
    let rendered: Vec<Result<(&Item, String), ItemResult>> = batch
        .iter()
        .map(|&i| match &task.items[i] {
            Err(e) => Err(ItemResult::failed(&e.id, &e.file, "", format!("{}: {}: {}", task.id, e.file, e.message))),
            Ok(item) => task
                .template
                .render(item, &shots_for(task, item, settings.seed))
                .map(|prompt| (item, prompt))
                .map_err(|e| failed(task, item, e)),
        })
        .collect();
    let ready: Vec<&(&Item, String)> = rendered.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut answers: HashMap<String, ItemResult> = HashMap::new();
    if task.category == Category::Mcqa || task.category == Category::Dc || task.category == Category::Sts {
        let requests: Vec<Likelihood> = ready
            .iter()
            .flat_map(|(item, prompt)| {
                item.options.iter().map(|o| Likelihood { context: prompt.clone(), continuation: o.clone() })
            })
            .collect();
        let mut scored = provider.likelihoods(&requests).into_iter();
        for (item, _) in &ready {
            let per_option: Vec<_> = scored.by_ref().take(item.options.len()).collect();
            let result = match per_option.into_iter().collect::<Result<Vec<_>, String>>() {
                Ok(l) => {
                    let mut r = ItemResult::new(item);
                    score::judge_choice(item, &l.iter().map(|s| (s.logprob, s.tokens)).collect::<Vec<_>>(), &mut r);
                    r
                }
                Err(e) => failed(task, item, e),
            };
            answers.insert(item.id.clone(), result);
        }
    } else {
        let stop = vec!["\n".to_string()];
        let requests: Vec<Generation> = ready
            .iter()
            .map(|(_, prompt)| Generation {
                prompt: prompt.clone(),
                max_tokens: settings.max_new_tokens,
                stop: stop.clone(),
            })
            .collect();
        for ((item, _), out) in ready.iter().zip(provider.generate(&requests)) {
            let result = match out {
                Ok(text) => judge_generation(task, item, cut_at_stop(&text, &stop).trim(), mecab),
                Err(e) => failed(task, item, e),
            };
            answers.insert(item.id.clone(), result);
        }
    }
    rendered
        .into_iter()
        .map(|r| match r {
            Err(failure) => failure,
            Ok((item, _)) => answers.remove(&item.id).unwrap_or_else(|| failed(task, item, "no answer".into())),
        })
        .collect()
}

fn failed(task: &Task, item: &Item, why: String) -> ItemResult {
    let mut r = ItemResult::new(item);
    r.error = Some(format!("{}: {}: item {}: {why}", task.id, item.file, item.id));
    r
}

/// Judges a generated answer (its first line).
fn judge_generation(task: &Task, item: &Item, output: &str, mecab: Option<&Mecab>) -> ItemResult {
    if output.is_empty() {
        return failed(task, item, "the model produced nothing".into());
    }
    let mut r = ItemResult::new(item);
    r.prediction = Some(output.to_string());
    match &item.gold {
        Gold::Entities(gold) => {
            // JMED-LLM reads the answer as a Python list; anything else holds no entity.
            let entities = parse_list(output).unwrap_or_default();
            r.f1 = Some((score::entity_f1(&entities, gold), score::entity_f1_partial(&entities, gold)));
            r.entities = Some(entities);
        }
        Gold::Text(reference) => {
            let stats = match task.lang {
                // As the JMedBench harness: NFKC for Japanese, then `ja-mecab`.
                Lang::Ja => {
                    let Some(mecab) = mecab else {
                        return failed(task, item, "no Japanese segmenter (the IPA dictionary) was loaded".into());
                    };
                    let (hyp, reference): (String, String) = (output.nfkc().collect(), reference.nfkc().collect());
                    bleu_stats(&hyp, &[&reference], &|s| mecab.wakati(s))
                }
                Lang::En => bleu_stats(output, &[reference], &tokenize_13a),
            };
            // The harness's per-item score is `corpus_bleu` of the one sentence (no
            // effective order), averaged over items.
            r.bleu = Some(stats.score(false));
            r.bleu_stats = Some(stats);
        }
        Gold::Option(_) | Gold::Letters { .. } => unreachable!("choice tasks are scored by likelihood"),
    }
    r
}

/// The finished items of an interrupted run (a torn last line is ignored).
fn read_finished(path: &Path) -> HashMap<String, ItemResult> {
    let Ok(text) = std::fs::read_to_string(path) else { return HashMap::new() };
    text.lines()
        .filter_map(|l| serde_json::from_str::<ItemResult>(l).ok())
        .filter(ItemResult::ok)
        .map(|r| (r.id.clone(), r))
        .collect()
}

/// `scores.json` (everything) and `scores.csv` (one row per task and metric, for plots).
fn write_scores(out: &Path, outcome: &Outcome) -> Result<(), StageError> {
    artifacts::write(out, outcome)?;
    let mut csv = String::from("task,category,lang,metric,value\n");
    for t in &outcome.tasks {
        let mut row = |metric: &str, value: f64| {
            csv.push_str(&format!("{},{},{},{metric},{value}\n", t.task, t.category.name(), t.lang.name()));
        };
        row("score", t.score);
        if let Some((lo, hi)) = t.ci {
            row("ci_low", lo);
            row("ci_high", hi);
        }
        row("items", t.items as f64);
        row("failed", t.failed as f64);
        for (m, v) in &t.metrics {
            row(m, *v);
        }
    }
    let path = out.join(SCORES_CSV);
    std::fs::write(&path, csv).map_err(StageError::io(&path))
}

/// The metrics `exp show` lists: `<task>/<metric>` and `avg/<category|language|overall>`.
/// An undefined value (Pearson's r of constant predictions) is NaN, which the engine
/// logs rather than stores.
fn report(outcome: &Outcome, reporter: &dyn Reporter) {
    for t in &outcome.tasks {
        reporter.metric(&format!("{}/score", t.task), None, t.score);
        if let Some((lo, hi)) = t.ci {
            reporter.metric(&format!("{}/ci_low", t.task), None, lo);
            reporter.metric(&format!("{}/ci_high", t.task), None, hi);
        }
        reporter.metric(&format!("{}/failed", t.task), None, t.failed as f64);
        for (m, v) in &t.metrics {
            reporter.metric(&format!("{}/{m}", t.task), None, *v);
        }
    }
    let a = &outcome.averages;
    for (name, v) in a.categories.iter().chain(&a.languages) {
        reporter.metric(&format!("avg/{name}"), None, *v);
    }
    if let Some(v) = a.overall {
        reporter.metric("avg/overall", None, v);
    }
}
