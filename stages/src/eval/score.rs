//! Scoring: one [`ItemResult`] per item (what the per-item JSONL holds, and what a
//! resumed run reads back), then per-task metrics with a bootstrap confidence interval,
//! and the averages the recipe reports (per category, per language, overall).
//!
//! Every task has a headline score on a 0–100 scale (accuracy, F1 or Pearson's r × 100,
//! BLEU as is); the averages are means of headline scores. A failed item counts as wrong
//! (accuracy, F1 and BLEU 0; kappa sees JMED-LLM's `None` label); Pearson's r, which is no
//! mean, is computed over the answered items and the failed ones are reported beside it.

use super::tasks::{Category, Gold, Item, Task};
use crate::metrics::{cohen_kappa, pearson, BleuStats, KappaWeights};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashSet};

/// The types of `scores.json` and `items/<task>.jsonl`, defined with the other artifact
/// formats.
pub use crate::artifacts::{Averages, ItemResult, TaskScore};

impl ItemResult {
    pub fn new(item: &Item) -> ItemResult {
        ItemResult {
            id: item.id.clone(),
            file: item.file.clone(),
            group: item.group.clone(),
            gold: item.answer_text.clone(),
            gold_option: match item.gold {
                Gold::Option(g) => Some(g),
                _ => None,
            },
            ..ItemResult::default()
        }
    }

    pub fn failed(id: &str, file: &str, group: &str, error: String) -> ItemResult {
        ItemResult {
            id: id.to_string(),
            file: file.to_string(),
            group: group.to_string(),
            error: Some(error),
            ..ItemResult::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// IgakuQA questions the official script counts as correct whatever the answer (116A71
/// has no correct option).
const ALWAYS_CORRECT: &[&str] = &["116A71"];

/// The official IgakuQA judgement: the sorted predicted letters equal the gold; a gold
/// written `a or d` (112B30) accepts either single letter.
pub fn igakuqa_correct(id: &str, predicted: &[String], gold: &[String]) -> bool {
    if ALWAYS_CORRECT.contains(&id) {
        return true;
    }
    if let ([alternatives], [one]) = (gold, predicted) {
        if alternatives.contains(" or ") && alternatives.split(" or ").any(|a| a == one) {
            return true;
        }
    }
    let mut predicted = predicted.to_vec();
    predicted.sort();
    predicted == gold
}

/// The first option of highest score (ties go to the earlier option, as `np.argmin` of
/// the loss does).
fn argmax(scores: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, s) in scores.enumerate() {
        if s > best.1 {
            best = (i, s);
        }
    }
    best.0
}

/// Fills in the choice from the options' likelihoods.
pub fn judge_choice(item: &Item, likelihoods: &[(f64, usize)], result: &mut ItemResult) {
    let chosen = argmax(likelihoods.iter().map(|l| l.0));
    let chosen_norm = argmax(likelihoods.iter().map(|l| l.0 / l.1.max(1) as f64));
    result.likelihoods = likelihoods.to_vec();
    result.chosen = Some(chosen);
    result.chosen_norm = Some(chosen_norm);
    result.prediction = Some(item.options[chosen].clone());
    match &item.gold {
        Gold::Option(g) => {
            result.correct = Some(chosen == *g);
            result.correct_norm = Some(chosen_norm == *g);
        }
        Gold::Letters { letters, points } => {
            let letters_of = |i: usize| -> Vec<String> { item.options[i].split(',').map(str::to_string).collect() };
            let correct = igakuqa_correct(&item.id, &letters_of(chosen), letters);
            result.correct = Some(correct);
            result.correct_norm = Some(igakuqa_correct(&item.id, &letters_of(chosen_norm), letters));
            result.points = Some((if correct { *points } else { 0.0 }, *points));
        }
        Gold::Entities(_) | Gold::Text(_) => unreachable!("generation tasks have no options"),
    }
}

/// Exact-match entity F1 of one item, as JMED-LLM computes it over the sets of entities
/// (precision 0 for an empty prediction; both empty is a perfect answer).
pub fn entity_f1(predicted: &[String], gold: &[String]) -> f64 {
    let p: HashSet<&str> = predicted.iter().map(|s| s.trim()).collect();
    let g: HashSet<&str> = gold.iter().map(|s| s.trim()).collect();
    if p.is_empty() && g.is_empty() {
        return 1.0;
    }
    let hits = p.intersection(&g).count() as f64;
    f1(hits / p.len().max(1) as f64, hits / g.len().max(1) as f64)
}

/// Partial-match entity F1: a predicted entity counts if it contains a gold entity or is
/// contained in one, and a gold entity is found if some prediction overlaps it so. (JMED-
/// LLM's own "partial" code tests set membership, which makes it exact match with a
/// precision that can exceed 1; this is the measure its name describes.)
pub fn entity_f1_partial(predicted: &[String], gold: &[String]) -> f64 {
    let p: Vec<&str> = dedup(predicted);
    let g: Vec<&str> = dedup(gold);
    if p.is_empty() && g.is_empty() {
        return 1.0;
    }
    let overlaps = |a: &str, b: &str| !a.is_empty() && !b.is_empty() && (a.contains(b) || b.contains(a));
    let precise = p.iter().filter(|x| g.iter().any(|y| overlaps(x, y))).count() as f64;
    let found = g.iter().filter(|y| p.iter().any(|x| overlaps(x, y))).count() as f64;
    f1(precise / p.len().max(1) as f64, found / g.len().max(1) as f64)
}

fn dedup(v: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = v.iter().map(|s| s.trim()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// The metric a task is judged by.
pub fn headline(category: Category) -> &'static str {
    match category {
        Category::Mcqa | Category::Dc => "accuracy",
        Category::Sts => "pearson",
        Category::Ner => "f1",
        Category::Mt => "bleu",
    }
}

/// Every metric of `results` for a task of `category`.
pub fn metrics(category: Category, kappa: Option<KappaWeights>, results: &[&ItemResult]) -> BTreeMap<String, f64> {
    let n = results.len().max(1) as f64;
    let mean = |f: &dyn Fn(&ItemResult) -> f64| results.iter().map(|r| f(r)).sum::<f64>() / n;
    let mut m = BTreeMap::new();
    match category {
        Category::Mcqa | Category::Dc | Category::Sts => {
            m.insert("accuracy".into(), mean(&|r| r.correct.unwrap_or(false) as u8 as f64));
            m.insert("accuracy_norm".into(), mean(&|r| r.correct_norm.unwrap_or(false) as u8 as f64));
            if results.iter().any(|r| r.points.is_some()) {
                let earned: f64 = results.iter().filter_map(|r| r.points).map(|p| p.0).sum();
                let total: f64 = results.iter().filter_map(|r| r.points).map(|p| p.1).sum();
                m.insert("points".into(), earned);
                m.insert("points_total".into(), total);
            }
            if let Some(weights) = kappa {
                // A failed item is JMED-LLM's `None` prediction, a label after every letter.
                let gold: Vec<usize> = results.iter().map(|r| r.gold_option.unwrap_or(usize::MAX)).collect();
                let pred: Vec<usize> = results.iter().map(|r| r.chosen.unwrap_or(usize::MAX)).collect();
                if let Some(k) = cohen_kappa(&gold, &pred, weights) {
                    m.insert("kappa".into(), k);
                }
            }
            if category == Category::Sts {
                let (pred, gold): (Vec<f64>, Vec<f64>) =
                    results.iter().filter_map(|r| Some((r.chosen? as f64, r.gold_option? as f64))).unzip();
                if let Some(r) = pearson(&pred, &gold) {
                    m.insert("pearson".into(), r);
                }
            }
        }
        Category::Ner => {
            m.insert("f1".into(), mean(&|r| r.f1.map_or(0.0, |f| f.0)));
            m.insert("f1_partial".into(), mean(&|r| r.f1.map_or(0.0, |f| f.1)));
        }
        Category::Mt => {
            m.insert("bleu".into(), mean(&|r| r.bleu.unwrap_or(0.0)));
            let mut corpus = BleuStats::default();
            for s in results.iter().filter_map(|r| r.bleu_stats.as_ref()) {
                corpus.add(s);
            }
            m.insert("corpus_bleu".into(), corpus.score(false));
        }
    }
    m
}

/// The headline on the 0–100 scale (BLEU already is).
fn scaled(category: Category, metrics: &BTreeMap<String, f64>) -> Option<f64> {
    let v = *metrics.get(headline(category))?;
    Some(if category == Category::Mt { v } else { v * 100.0 })
}

/// Scores a task from its items' results, with a percentile bootstrap over items.
pub fn score_task(task: &Task, results: &[ItemResult], resamples: usize, seed: u64) -> TaskScore {
    let all: Vec<&ItemResult> = results.iter().collect();
    let metrics = metrics(task.category, task.kappa, &all);
    let score = scaled(task.category, &metrics).unwrap_or(f64::NAN);
    let mut groups: BTreeMap<String, Vec<&ItemResult>> = BTreeMap::new();
    for r in &all {
        groups.entry(r.group.clone()).or_default().push(r);
    }
    let groups = groups
        .into_iter()
        .filter_map(|(g, rs)| Some((g, scaled(task.category, &self::metrics(task.category, task.kappa, &rs))?)))
        .collect();
    TaskScore {
        task: task.id.clone(),
        category: task.category,
        lang: task.lang,
        items: results.len(),
        failed: results.iter().filter(|r| !r.ok()).count(),
        excluded: task.excluded.len(),
        headline: headline(task.category).to_string(),
        score,
        ci: bootstrap(task, &all, resamples, seed),
        metrics,
        groups,
    }
}

/// The 2.5th and 97.5th percentiles (linear interpolation, as NumPy's default) of the
/// headline over `resamples` resamplings of the items with replacement.
fn bootstrap(task: &Task, results: &[&ItemResult], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if resamples == 0 || results.is_empty() {
        return None;
    }
    let task_seed = u64::from_le_bytes(blake3::hash(task.id.as_bytes()).as_bytes()[..8].try_into().expect("8 bytes"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ task_seed);
    let mut values: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let sample: Vec<&ItemResult> =
                (0..results.len()).map(|_| results[rng.random_range(0..results.len())]).collect();
            scaled(task.category, &metrics(task.category, task.kappa, &sample))
        })
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((percentile(&values, 2.5), percentile(&values, 97.5)))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn averages(scores: &[TaskScore]) -> Averages {
    let mean = |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let valid: Vec<&TaskScore> = scores.iter().filter(|s| s.score.is_finite()).collect();
    let mut out = Averages { overall: mean(valid.iter().map(|s| s.score).collect()), ..Averages::default() };
    for s in &valid {
        out.categories.entry(s.category.name().to_string()).or_insert(f64::NAN);
        out.languages.entry(s.lang.name().to_string()).or_insert(f64::NAN);
    }
    for (name, avg) in out.categories.iter_mut() {
        *avg = mean(valid.iter().filter(|s| s.category.name() == name).map(|s| s.score).collect()).unwrap_or(f64::NAN);
    }
    for (name, avg) in out.languages.iter_mut() {
        *avg = mean(valid.iter().filter(|s| s.lang.name() == name).map(|s| s.score).collect()).unwrap_or(f64::NAN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn igakuqa_is_judged_as_the_official_script_judges() {
        assert!(igakuqa_correct("115A1", &strings(&["c", "a"]), &strings(&["a", "c"])));
        assert!(!igakuqa_correct("115A1", &strings(&["a"]), &strings(&["a", "c"])));
        assert!(igakuqa_correct("112B30", &strings(&["d"]), &strings(&["a or d"])));
        assert!(!igakuqa_correct("112B30", &strings(&["b"]), &strings(&["a or d"])));
        assert!(igakuqa_correct("116A71", &strings(&["b"]), &strings(&["e"])));
    }

    #[test]
    fn entity_f1_exact_and_partial() {
        let gold = strings(&["胃癌", "走行異常", "リンパ節"]);
        // 1 of 2 predicted is exact: P 1/2, R 1/3.
        let pred = strings(&["胃癌", "異常"]);
        assert!((entity_f1(&pred, &gold) - 0.4).abs() < 1e-12);
        // Partially both predictions hit (異常 ⊂ 走行異常): P 1, R 2/3.
        assert!((entity_f1_partial(&pred, &gold) - 0.8).abs() < 1e-12);
        assert_eq!(entity_f1(&[], &gold), 0.0);
        assert_eq!(entity_f1(&[], &[]), 1.0);
    }

    #[test]
    fn percentiles_interpolate_as_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert!((percentile(&v, 2.5) - 1.1).abs() < 1e-12);
        assert!((percentile(&v, 97.5) - 4.9).abs() < 1e-12);
    }
}
