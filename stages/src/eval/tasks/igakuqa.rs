//! IgakuQA, the Japanese medical licensing exam, in the upstream layout:
//!
//! ```text
//! <data>/igakuqa/<year>/<exam>-<block>.jsonl             questions, answers, points
//! <data>/igakuqa/<year>/<exam>-<block>_translate.jsonl   English translations
//! <data>/igakuqa/prompt.jsonl                            the official few-shot questions
//! ```
//!
//! The translations are read beside their question files; the medical MT task
//! (`ejmmt.rs`) pairs the two.

use super::{choices_json, Data, Gold, Item, ItemError, Items, Lang, Read, LETTERS, SHOTS, TEMPLATE, YEARS};
use crate::StageError;
use exp_dsl::schema::{Default, Param, Ty};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The question files, `<year>/<exam>-<block>`, before their ending.
const BLOCKS: &str = "igakuqa/*/*-[A-Z]";
/// The ending of a block's questions.
const QUESTIONS_END: &str = ".jsonl";
/// The ending of a block's English translations.
const TRANSLATIONS_END: &str = "_translate.jsonl";
/// The official few-shot questions; a data folder without them gives shots from the other
/// years alone.
pub const PROMPTS: &str = "igakuqa/prompt.jsonl";

/// Every block's questions.
pub fn questions() -> String {
    format!("{BLOCKS}{QUESTIONS_END}")
}

/// Every block's English translations.
pub fn translations() -> String {
    format!("{BLOCKS}{TRANSLATIONS_END}")
}

/// The translations of the questions in `questions` (`112-A.jsonl` → `112-A_translate.jsonl`).
fn translation_of(questions: &Path) -> PathBuf {
    let name = questions.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    questions.with_file_name(format!("{}{TRANSLATIONS_END}", name.strip_suffix(QUESTIONS_END).unwrap_or(name)))
}

/// The parameters of `igakuqa(...)`.
pub const PARAMS: &[Param] = &[
    SHOTS,
    YEARS,
    Param::with("lang", Ty::Enum(&["ja", "en"]), Default::Sym("ja"), "original Japanese or the English translation"),
    TEMPLATE,
];

/// `igakuqa(...)` as lowered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub shots: usize,
    /// The evaluated years (all when empty); the others give the shots.
    pub years: Vec<u32>,
    pub lang: Lang,
    pub template: Option<String>,
}

/// `igakuqa_3shot`, `igakuqa_en_0shot`.
pub fn id(spec: &Spec) -> String {
    let base = match spec.lang {
        Lang::Ja => "igakuqa",
        Lang::En => "igakuqa_en",
    };
    format!("{base}_{}shot", spec.shots)
}

/// The files `load` reads, relative to the data folder, with whether each may be absent.
pub(super) fn reads(lang: Lang) -> Vec<(String, bool)> {
    match lang {
        Lang::Ja => vec![(questions(), false), (PROMPTS.to_string(), true)],
        Lang::En => vec![(questions(), false), (translations(), false)],
    }
}

/// One IgakuQA question as the files hold it.
pub(super) struct Question {
    pub id: String,
    pub text: String,
    pub choices: Vec<String>,
    pub answer: Vec<String>,
    pub points: f64,
}

/// The year folder and block (`112-A`) of a question file.
pub(super) fn year_and_block(path: &Path) -> (String, String) {
    let year = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default();
    let block = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    (year.to_string(), block.to_string())
}

/// The questions of one file, in English (from its translations) when `en`.
pub(super) fn questions_of(data: &Data, path: &Path, en: bool) -> Result<Vec<Result<Question, ItemError>>, StageError> {
    let file = data.relative(path);
    let translations: HashMap<String, Json> = if en {
        data.read(&translation_of(path))?
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter_map(|j| Some((j["problem_id"].as_str()?.to_string(), j)))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(data
        .read(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let fail = |id: &str, message: String| ItemError { id: id.to_string(), file: file.clone(), message };
            let row: Json =
                serde_json::from_str(line).map_err(|e| fail(&format!("line {}", n + 1), format!("not JSON: {e}")))?;
            let id = row["problem_id"].as_str().map(str::to_string).unwrap_or_else(|| format!("line {}", n + 1));
            let source = if en {
                translations.get(&id).ok_or_else(|| fail(&id, "no English translation".into()))?
            } else {
                &row
            };
            let (text_key, choices_key) =
                if en { ("problem_text_en", "choices_en") } else { ("problem_text", "choices") };
            let text = source[text_key].as_str().ok_or_else(|| fail(&id, format!("no `{text_key}`")))?.to_string();
            let choices: Vec<String> = source[choices_key]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut answer: Vec<String> = row["answer"]
                .as_array()
                .ok_or_else(|| fail(&id, "no `answer` list".into()))?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            answer.sort();
            let points = match &row["points"] {
                Json::String(s) => s.parse::<f64>().map_err(|_| fail(&id, format!("`points` is {s:?}")))?,
                Json::Number(n) => n.as_f64().unwrap_or(1.0),
                _ => 1.0,
            };
            Ok(Question { id, text, choices, answer, points })
        })
        .collect())
}

/// The question as an item: the candidates are every set of as many letters as the gold
/// has (the prompt says how many to choose, as the official prompt does), written as the
/// official predictions are (`a,c`).
fn item(q: Question, file: &str, group: &str) -> Result<Item, ItemError> {
    let n = q.choices.len();
    let letters: Vec<String> = LETTERS.chars().take(n).map(|c| c.to_string()).collect();
    let k = q.answer.len().max(1);
    let fail = |message: String| ItemError { id: q.id.clone(), file: file.to_string(), message };
    for a in &q.answer {
        // `a or d` (112B30) accepts either letter.
        if !a.split(" or ").all(|l| letters.contains(&l.to_string())) {
            return Err(fail(format!("answer `{a}` is not one of the options {}", letters.join(","))));
        }
    }
    let options: Vec<String> = combinations(n, k)
        .iter()
        .map(|c| c.iter().map(|&i| letters[i].as_str()).collect::<Vec<_>>().join(","))
        .collect();
    let answer_text = q.answer.join(",");
    Ok(Item {
        id: q.id.clone(),
        file: file.to_string(),
        group: group.to_string(),
        fields: json!({
            "question": q.text,
            "choices": choices_json(&q.choices, false),
            "letters": letters.join(","),
            "k": k,
        }),
        options,
        gold: Gold::Letters { letters: q.answer, points: q.points },
        answer_text,
    })
}

/// Index sets of size `k` from `0..n`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, k, &mut Vec::new(), &mut out);
    out
}

/// Whether questions of `year` are evaluated (rather than given as shots).
pub(super) fn evaluated(years: &[u32], year: &str) -> bool {
    years.is_empty() || years.iter().any(|y| y.to_string() == year)
}

/// The evaluated years' questions, and the few-shot pool: the other bundled years and
/// the official prompt questions (years disjoint from the evaluated ones). Numeric-answer
/// questions have no options to compare: excluded, and said so.
pub(super) fn load(data: &Data, spec: &Spec) -> Result<Read, StageError> {
    let en = spec.lang == Lang::En;
    let mut items: Items = Vec::new();
    let mut pool = Vec::new();
    let mut excluded = Vec::new();
    let mut seen_years = Vec::new();
    for path in data.expand(&questions())? {
        let (year, group) = year_and_block(&path);
        let file = data.relative(&path);
        let evaluated = evaluated(&spec.years, &year);
        seen_years.push(year);
        for q in questions_of(data, &path, en)? {
            let q = match q {
                Ok(q) if q.choices.is_empty() => {
                    if evaluated {
                        excluded.push(format!("{file}: {}: no options (numeric answer)", q.id));
                    }
                    continue;
                }
                Ok(q) => item(q, &file, &group),
                Err(e) => Err(e),
            };
            match (evaluated, q) {
                (true, q) => items.push(q),
                (false, Ok(item)) => pool.push(item),
                (false, Err(_)) => {}
            }
        }
    }
    if let Some(missing) = spec.years.iter().find(|y| !seen_years.contains(&y.to_string())) {
        seen_years.sort();
        seen_years.dedup();
        return Err(StageError::Param(format!(
            "IgakuQA year {missing} is not in {} (it has {})",
            data.path("igakuqa").display(),
            seen_years.join(", ")
        )));
    }
    let prompts = data.path(PROMPTS);
    if prompts.exists() && !en {
        let file = data.relative(&prompts);
        pool.extend(
            questions_of(data, &prompts, false)?.into_iter().filter_map(|q| item(q.ok()?, &file, "prompt").ok()),
        );
    }
    Ok(Read { items, pool, excluded, fixed_shots: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_sets_of_the_asked_size() {
        assert_eq!(combinations(5, 1).len(), 5);
        assert_eq!(combinations(5, 2).len(), 10);
        assert_eq!(combinations(5, 3)[0], vec![0, 1, 2]);
    }

    #[test]
    fn translations_sit_beside_their_questions() {
        assert_eq!(
            translation_of(Path::new("d/igakuqa/2018/112-A.jsonl")),
            Path::new("d/igakuqa/2018/112-A_translate.jsonl")
        );
    }
}
