//! JMED-LLM: `<data>/jmed-llm/<task>.csv` with a header row (`question`, `option*`,
//! `answer`, `tag`). Multiple-choice tasks (its copy of JMMLU's medical subjects and the
//! document classifications) ask for the answer letter; JCSTS asks for a similarity grade;
//! the NER tasks generate a Python list of entities.

use super::{choice_item, csv_rows, field, parse_list, Category, Data, Gold, Item, ItemError, Items, Read, Row};
use crate::StageError;
use serde_json::json;

/// JMED-LLM's name of a task, which names its file and its items (`crade:3`): the task's
/// own, but for `jmed_jmmlu`, which is JMED-LLM's `jmmlu_med` (so named apart from JMMLU's
/// own `jmmlu_med` task).
pub fn stem(task: &str) -> &str {
    match task {
        "jmed_jmmlu" => "jmmlu_med",
        other => other,
    }
}

/// The file a task reads, relative to the data folder.
pub fn file(task: &str) -> String {
    format!("jmed-llm/{}.csv", stem(task))
}

/// The files `load` reads, relative to the data folder, with whether each may be absent.
pub(super) fn reads(task: &str) -> Vec<(String, bool)> {
    vec![(file(task), false)]
}

/// The items of task `task`, read as its category asks.
pub(super) fn load(data: &Data, task: &str, category: Category) -> Result<Read, StageError> {
    let task = stem(task);
    let items = match category {
        Category::Ner => ner(data, task)?,
        Category::Sts => sts(data, task)?,
        _ => choice(data, task)?,
    };
    Ok(Read::items(items))
}

/// Where an item comes from, for its messages.
struct At {
    id: String,
    file: String,
}

impl At {
    fn fail(&self, message: impl Into<String>) -> ItemError {
        ItemError { id: self.id.clone(), file: self.file.clone(), message: message.into() }
    }
}

/// Each row of the file of `task` (JMED-LLM's name) as an item (`<task>:<row>`): `make`
/// gets the row and its `question` and `answer` fields.
fn rows(
    data: &Data,
    task: &str,
    make: impl Fn(&At, &Row, &str, &str) -> Result<Item, ItemError>,
) -> Result<Items, StageError> {
    let path = data.path(&file(task));
    let file = data.relative(&path);
    Ok(csv_rows(data, &path, true)?
        .into_iter()
        .enumerate()
        .map(|(n, row)| {
            let at = At { id: format!("{task}:{}", n + 1), file: file.clone() };
            let row = row.map_err(|m| at.fail(m))?;
            let question = field(&row, "question").ok_or_else(|| at.fail("no `question` field"))?;
            let answer = field(&row, "answer").ok_or_else(|| at.fail("no `answer` field"))?;
            make(&at, &row, question, answer)
        })
        .collect())
}

fn choice(data: &Data, task: &str) -> Result<Items, StageError> {
    rows(data, task, |at, row, question, answer| {
        // Options are the non-empty `option*` columns (RRTNM has 2 to 5).
        let options: Vec<String> = row
            .iter()
            .filter(|(k, v)| k.starts_with("option") && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
            .collect();
        choice_item(&at.file, at.id.clone(), field(row, "tag").unwrap_or(task), question, options, answer)
    })
}

/// JCSTS: the options A–F are the similarity grades 5 down to 0. The item asks for the
/// grade as a number (the options are ` 0` … ` 5`, as the JMedBench harness asks STS).
fn sts(data: &Data, task: &str) -> Result<Items, StageError> {
    Ok(choice(data, task)?
        .into_iter()
        .map(|item| {
            let mut item = item?;
            let Gold::Option(letter) = item.gold else { unreachable!("choice items have an option") };
            let grades = item.options.len();
            if grades != 6 {
                return Err(ItemError {
                    id: item.id,
                    file: item.file,
                    message: format!("{grades} options, expected the 6 grades 5..0"),
                });
            }
            let score = grades - 1 - letter;
            item.options = (0..grades).map(|g| format!(" {g}")).collect();
            item.gold = Gold::Option(score);
            item.answer_text = format!(" {score}");
            Ok(item)
        })
        .collect())
}

fn ner(data: &Data, task: &str) -> Result<Items, StageError> {
    rows(data, task, |at, row, question, answer| {
        let entities =
            parse_list(answer).ok_or_else(|| at.fail(format!("`answer` is not a list literal: {answer:?}")))?;
        Ok(Item {
            id: at.id.clone(),
            file: at.file.clone(),
            group: field(row, "tag").unwrap_or(task).to_string(),
            fields: json!({"question": question}),
            options: Vec::new(),
            answer_text: answer.to_string(),
            gold: Gold::Entities(entities),
        })
    })
}
