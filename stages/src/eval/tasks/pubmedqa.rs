//! PubMedQA (PQA-L): `<data>/pubmedqa/pqal.jsonl` (question, abstract, decision) and
//! `test_ground_truth.json` (the 500 test questions' answers).

use super::{Data, Gold, Item, ItemError, Items, Read};
use crate::StageError;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// The labelled questions with their abstracts.
pub const QUESTIONS: &str = "pubmedqa/pqal.jsonl";
/// The test split: question id → answer.
pub const TEST: &str = "pubmedqa/test_ground_truth.json";

/// The files `load` reads, relative to the data folder, with whether each may be absent.
pub(super) fn reads() -> Vec<(String, bool)> {
    vec![(QUESTIONS.to_string(), false), (TEST.to_string(), false)]
}

/// The 500 test questions with their abstracts; the other 500 are the few-shot pool.
pub(super) fn load(data: &Data) -> Result<Read, StageError> {
    let path = data.path(QUESTIONS);
    let truth_path = data.path(TEST);
    let truth: BTreeMap<String, String> = serde_json::from_str(&data.read(&truth_path)?)
        .map_err(|e| StageError::Param(format!("{}: {e}", truth_path.display())))?;
    let file = data.relative(&path);
    let answers = ["yes", "no", "maybe"];
    // The continuations carry the space that separates them from `Answer:`.
    let options: Vec<String> = answers.iter().map(|a| format!(" {a}")).collect();
    let mut items: Items = Vec::new();
    let mut pool = Vec::new();
    for (n, line) in data.read(&path)?.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let item = (|| {
            let fail = |id: &str, message: String| ItemError { id: id.to_string(), file: file.clone(), message };
            let row: Json =
                serde_json::from_str(line).map_err(|e| fail(&format!("line {}", n + 1), format!("not JSON: {e}")))?;
            let id = row["pmid"].as_str().map(str::to_string).unwrap_or_else(|| format!("line {}", n + 1));
            let get = |k: &str| row[k].as_str().ok_or_else(|| fail(&id, format!("no `{k}`")));
            let (question, context) = (get("question")?, get("abstract")?);
            let answer = truth.get(&id).map(String::as_str).map_or_else(|| get("final_decision"), Ok)?;
            let gold = answers
                .iter()
                .position(|o| *o == answer)
                .ok_or_else(|| fail(&id, format!("answer `{answer}` is not one of yes, no, maybe")))?;
            Ok((
                truth.contains_key(&id),
                Item {
                    id: id.clone(),
                    file: file.clone(),
                    group: "pubmedqa".into(),
                    fields: json!({"question": question, "context": context}),
                    options: options.clone(),
                    gold: Gold::Option(gold),
                    answer_text: answer.to_string(),
                },
            ))
        })();
        match item {
            Ok((true, item)) => items.push(Ok(item)),
            Ok((false, item)) => pool.push(item),
            Err(e) => items.push(Err(e)),
        }
    }
    Ok(Read { pool, ..Read::items(items) })
}
