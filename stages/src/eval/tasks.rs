//! The tasks `jmedbench` runs and how each reads its items from the benchmark data
//! folder, which keeps the upstream layouts:
//!
//! ```text
//! <data>/igakuqa/<year>/<exam>-<block>.jsonl      questions, answers, points
//! <data>/igakuqa/<year>/<exam>-<block>_translate.jsonl   English translations
//! <data>/igakuqa/prompt.jsonl                     the official few-shot questions
//! <data>/jmmlu/<subject>.csv                      JMMLU (no header)
//! <data>/jmed-llm/<task>.csv                      JMED-LLM (header row)
//! <data>/pubmedqa/pqal.jsonl, test_ground_truth.json
//! ```
//!
//! An item that cannot be read (a missing field, an answer outside the options) is kept
//! as a failure naming its file and item, so that it counts against the task's score.

use super::prompt::Template;
use crate::metrics::KappaWeights;
use crate::StageError;
use exp_dsl::Value;
use serde::Serialize;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Mcqa,
    Dc,
    Sts,
    Ner,
    Mt,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Mcqa => "mcqa",
            Category::Dc => "dc",
            Category::Sts => "sts",
            Category::Ner => "ner",
            Category::Mt => "mt",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// What a correct answer is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gold {
    /// The index of the correct option (for STS, the option index is the score).
    Option(usize),
    /// IgakuQA: the answer letters (sorted) and the question's points.
    Letters { letters: Vec<String>, points: f64 },
    /// NER: the gold entities.
    Entities(Vec<String>),
    /// MT: the reference translation.
    Text(String),
}

/// One question of a task.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub id: String,
    /// The file it came from, relative to the data folder.
    pub file: String,
    /// A sub-group to break scores down by (IgakuQA block, subject, tag).
    pub group: String,
    /// What the template sees as `item` (`question`, `choices`, `context`, `source`, …).
    pub fields: Json,
    /// The continuations whose likelihoods are compared; empty for generation tasks.
    pub options: Vec<String>,
    pub gold: Gold,
    /// The gold answer as the few-shot block shows it.
    pub answer_text: String,
}

/// An item that could not be read.
#[derive(Clone, Debug, Serialize)]
pub struct ItemError {
    pub id: String,
    pub file: String,
    pub message: String,
}

/// A task ready to run.
pub struct Task {
    /// Unique in a run: `igakuqa_3shot`, `ejmmt_en-ja`, `crade`.
    pub id: String,
    pub category: Category,
    pub lang: Lang,
    pub template: Template,
    pub shots: usize,
    pub items: Vec<Result<Item, ItemError>>,
    /// Few-shot candidates disjoint from `items`; when empty, the other items of the task.
    pub pool: Vec<Item>,
    /// Drawn once for the whole task (IgakuQA, as the official prompt does) rather than
    /// per item.
    pub fixed_shots: bool,
    /// The kappa JMED-LLM reports for the task, if any.
    pub kappa: Option<KappaWeights>,
    /// Questions the task cannot ask this way (IgakuQA's numeric-answer questions have no
    /// options to compare), with why; logged and reported, never silently dropped.
    pub excluded: Vec<String>,
}

/// Reads every task of `specs` (the `tasks:` list of the stage) from `data`.
pub fn load_all(specs: &[Value], data: &Path, root: &Path) -> Result<Vec<Task>, StageError> {
    let mut tasks: Vec<Task> = Vec::new();
    for spec in specs {
        let task = load(spec, data, root)?;
        if tasks.iter().any(|t| t.id == task.id) {
            return Err(StageError::Param(format!("task `{}` is listed twice", task.id)));
        }
        tasks.push(task);
    }
    Ok(tasks)
}

fn load(spec: &Value, data: &Path, root: &Path) -> Result<Task, StageError> {
    let Value::Map(m) = spec else {
        return Err(StageError::Param(format!("a task must be a constructor such as `crade`, not {spec:?}")));
    };
    let kind = match m.get("type") {
        Some(Value::Str(s)) => s.as_str(),
        _ => return Err(StageError::Param("a task without a name".into())),
    };
    let shots = match m.get("shots") {
        Some(Value::Int(n)) => *n as usize,
        _ => 0,
    };
    let years: Vec<String> = match m.get("years") {
        Some(Value::List(ys)) => ys.iter().filter_map(|y| y.as_f64()).map(|y| (y as i64).to_string()).collect(),
        _ => Vec::new(),
    };
    let str_of = |key: &str| match m.get(key) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let override_template = str_of("template").map(|p| root.join(p));
    let lang_en = str_of("lang").as_deref() == Some("en");
    // A task with no few-shot pool of its own, no kappa and nothing excluded; the arms
    // below add what theirs has.
    let task = |id: String, category: Category, lang: Lang, template: &str, items: Items| -> Result<Task, StageError> {
        Ok(Task {
            id,
            category,
            lang,
            template: Template::load(template, override_template.as_deref())?,
            shots,
            items,
            pool: Vec::new(),
            fixed_shots: false,
            kappa: None,
            excluded: Vec::new(),
        })
    };
    let jmed = |name: &str, category: Category, kappa: Option<KappaWeights>| -> Result<Task, StageError> {
        let (items, template) = match category {
            Category::Ner => (jmed_ner(data, name)?, "jmed_ner"),
            Category::Sts => (jmed_sts(data, name)?, "jmed_sts"),
            _ => (jmed_choice(data, name)?, "mcqa_ja"),
        };
        Ok(Task { kappa, ..task(name.to_string(), category, Lang::Ja, template, items)? })
    };
    match kind {
        "igakuqa" => {
            let (items, pool, excluded) = igakuqa(data, &years, lang_en)?;
            let base = if lang_en { "igakuqa_en" } else { "igakuqa" };
            let lang = if lang_en { Lang::En } else { Lang::Ja };
            let t = task(format!("{base}_{shots}shot"), Category::Mcqa, lang, base, items)?;
            Ok(Task { pool, fixed_shots: true, excluded, ..t })
        }
        "jmmlu_med" => task("jmmlu_med".into(), Category::Mcqa, Lang::Ja, "mcqa_ja", jmmlu(data)?),
        "jmed_jmmlu" => {
            Ok(Task { id: "jmed_jmmlu".into(), ..jmed("jmmlu_med", Category::Mcqa, Some(KappaWeights::None))? })
        }
        "pubmedqa" => {
            let (items, pool) = pubmedqa(data)?;
            Ok(Task { pool, ..task("pubmedqa".into(), Category::Mcqa, Lang::En, "pubmedqa", items)? })
        }
        "crade" => jmed("crade", Category::Dc, Some(KappaWeights::Linear)),
        "rrtnm" => jmed("rrtnm", Category::Dc, Some(KappaWeights::None)),
        "smdis" => jmed("smdis", Category::Dc, Some(KappaWeights::None)),
        "jcsts" => jmed("jcsts", Category::Sts, Some(KappaWeights::Linear)),
        "mrner_disease" | "mrner_medicine" | "nrner" => jmed(kind, Category::Ner, None),
        "ejmmt" => {
            let direction = str_of("direction").unwrap_or_else(|| "en-ja".into());
            let to_ja = direction == "en-ja";
            let (items, pool) = ejmmt(data, &years, to_ja)?;
            let (lang, template) = if to_ja { (Lang::Ja, "mt_en_ja") } else { (Lang::En, "mt_ja_en") };
            Ok(Task { pool, ..task(format!("ejmmt_{direction}"), Category::Mt, lang, template, items)? })
        }
        other => Err(StageError::Param(format!("unknown task `{other}`"))),
    }
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyz";

fn choices_json(texts: &[String], upper: bool) -> Json {
    Json::Array(
        texts
            .iter()
            .zip(LETTERS.chars())
            .map(|(t, l)| json!({"letter": if upper { l.to_ascii_uppercase() } else { l }.to_string(), "text": t}))
            .collect(),
    )
}

fn read(path: &Path) -> Result<String, StageError> {
    std::fs::read_to_string(path).map_err(StageError::io(path))
}

fn relative(data: &Path, file: &Path) -> String {
    file.strip_prefix(data).unwrap_or(file).display().to_string()
}

// --- IgakuQA ---------------------------------------------------------------------------

/// One IgakuQA question as the files hold it.
struct Question {
    id: String,
    text: String,
    choices: Vec<String>,
    answer: Vec<String>,
    points: f64,
}

fn igakuqa_file(path: &Path, data: &Path, en: bool) -> Result<Vec<Result<Question, ItemError>>, StageError> {
    let file = relative(data, path);
    let translations: HashMap<String, Json> = if en {
        let t = path.with_file_name(format!(
            "{}_translate.jsonl",
            path.file_stem().and_then(|s| s.to_str()).unwrap_or_default()
        ));
        read(&t)?
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter_map(|j| Some((j["problem_id"].as_str()?.to_string(), j)))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(read(path)?
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
fn igakuqa_item(q: Question, file: &str, group: &str) -> Result<Item, ItemError> {
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

/// A task's items (a failure per unreadable one) and its few-shot pool.
type ItemsAndPool = (Items, Vec<Item>);
type Items = Vec<Result<Item, ItemError>>;
type Loaded = (Items, Vec<Item>, Vec<String>);

/// The evaluated years' questions, and the few-shot pool: the other bundled years and
/// the official prompt questions (years disjoint from the evaluated ones).
fn igakuqa(data: &Path, years: &[String], en: bool) -> Result<Loaded, StageError> {
    let mut items = Vec::new();
    let mut pool = Vec::new();
    let mut excluded = Vec::new();
    let mut seen_years = Vec::new();
    for path in crate::files::expand(data, "igakuqa/*/*-[A-Z].jsonl")? {
        let year = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let group = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let file = relative(data, &path);
        let evaluated = years.is_empty() || years.contains(&year);
        seen_years.push(year);
        for q in igakuqa_file(&path, data, en)? {
            let q = match q {
                Ok(q) if q.choices.is_empty() => {
                    if evaluated {
                        excluded.push(format!("{file}: {}: no options (numeric answer)", q.id));
                    }
                    continue;
                }
                Ok(q) => igakuqa_item(q, &file, &group),
                Err(e) => Err(e),
            };
            match (evaluated, q) {
                (true, q) => items.push(q),
                (false, Ok(item)) => pool.push(item),
                (false, Err(_)) => {}
            }
        }
    }
    if let Some(missing) = years.iter().find(|y| !seen_years.contains(y)) {
        return Err(StageError::Param(format!(
            "IgakuQA year {missing} is not in {} (it has {})",
            data.join("igakuqa").display(),
            dedup(seen_years).join(", ")
        )));
    }
    let prompts = data.join("igakuqa/prompt.jsonl");
    if prompts.exists() && !en {
        let file = relative(data, &prompts);
        pool.extend(
            igakuqa_file(&prompts, data, false)?
                .into_iter()
                .filter_map(|q| igakuqa_item(q.ok()?, &file, "prompt").ok()),
        );
    }
    Ok((items, pool, excluded))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

// --- JMMLU and JMED-LLM ---------------------------------------------------------------

fn choice_item(
    file: &str,
    id: String,
    group: &str,
    question: &str,
    options: Vec<String>,
    answer: &str,
) -> Result<Item, ItemError> {
    let letters: Vec<String> =
        LETTERS.chars().take(options.len()).map(|c| c.to_ascii_uppercase().to_string()).collect();
    let answer = answer.trim();
    let Some(gold) = letters.iter().position(|l| l == answer) else {
        return Err(ItemError {
            id,
            file: file.to_string(),
            message: format!("answer `{answer}` is not one of the options {}", letters.join(",")),
        });
    };
    if question.trim().is_empty() {
        return Err(ItemError { id, file: file.to_string(), message: "empty question".into() });
    }
    Ok(Item {
        id,
        file: file.to_string(),
        group: group.to_string(),
        fields: json!({"question": question, "choices": choices_json(&options, true)}),
        answer_text: options[gold].clone(),
        options,
        gold: Gold::Option(gold),
    })
}

/// Rows of a CSV file with a header, as maps; a malformed row is an error item.
/// A CSV row as (column name, value) pairs.
type Row = Vec<(String, String)>;

fn csv_rows(path: &Path, header: bool) -> Result<Vec<Result<Row, String>>, StageError> {
    let text = read(path)?;
    let mut reader = csv::ReaderBuilder::new().has_headers(header).flexible(true).from_reader(text.as_bytes());
    let names: Vec<String> = if header {
        reader
            .headers()
            .map_err(|e| StageError::Param(format!("{}: {e}", path.display())))?
            .iter()
            .map(str::to_string)
            .collect()
    } else {
        Vec::new()
    };
    Ok(reader
        .records()
        .map(|r| {
            let r = r.map_err(|e| e.to_string())?;
            Ok(r.iter()
                .enumerate()
                .map(|(i, v)| (names.get(i).cloned().unwrap_or_else(|| i.to_string()), v.to_string()))
                .collect())
        })
        .collect())
}

fn field<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn jmmlu(data: &Path) -> Result<Items, StageError> {
    let mut items = Vec::new();
    for path in crate::files::expand(data, "jmmlu/*.csv")? {
        let file = relative(data, &path);
        let subject = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        for (n, row) in csv_rows(&path, false)?.into_iter().enumerate() {
            let id = format!("{subject}:{}", n + 1);
            items.push(row.map_err(|m| ItemError { id: id.clone(), file: file.clone(), message: m }).and_then(|row| {
                if row.len() < 6 {
                    return Err(ItemError {
                        id: id.clone(),
                        file: file.clone(),
                        message: format!("{} columns, expected question, A, B, C, D, answer", row.len()),
                    });
                }
                let options = row[1..5].iter().map(|(_, v)| v.clone()).collect();
                choice_item(&file, id.clone(), &subject, &row[0].1, options, &row[5].1)
            }));
        }
    }
    Ok(items)
}

fn jmed_file(data: &Path, name: &str) -> PathBuf {
    data.join("jmed-llm").join(format!("{name}.csv"))
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

/// Each row of a JMED-LLM file as an item (`<name>:<row>`): `make` gets the row and its
/// `question` and `answer` fields.
fn jmed_items(
    data: &Path,
    name: &str,
    make: impl Fn(&At, &Row, &str, &str) -> Result<Item, ItemError>,
) -> Result<Items, StageError> {
    let path = jmed_file(data, name);
    let file = relative(data, &path);
    Ok(csv_rows(&path, true)?
        .into_iter()
        .enumerate()
        .map(|(n, row)| {
            let at = At { id: format!("{name}:{}", n + 1), file: file.clone() };
            let row = row.map_err(|m| at.fail(m))?;
            let question = field(&row, "question").ok_or_else(|| at.fail("no `question` field"))?;
            let answer = field(&row, "answer").ok_or_else(|| at.fail("no `answer` field"))?;
            make(&at, &row, question, answer)
        })
        .collect())
}

fn jmed_choice(data: &Path, name: &str) -> Result<Items, StageError> {
    jmed_items(data, name, |at, row, question, answer| {
        // Options are the non-empty `option*` columns (RRTNM has 2 to 5).
        let options: Vec<String> = row
            .iter()
            .filter(|(k, v)| k.starts_with("option") && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
            .collect();
        choice_item(&at.file, at.id.clone(), field(row, "tag").unwrap_or(name), question, options, answer)
    })
}

/// JCSTS: the options A–F are the similarity grades 5 down to 0. The item asks for the
/// grade as a number (the options are ` 0` … ` 5`, as the JMedBench harness asks STS).
fn jmed_sts(data: &Path, name: &str) -> Result<Items, StageError> {
    Ok(jmed_choice(data, name)?
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

fn jmed_ner(data: &Path, name: &str) -> Result<Items, StageError> {
    jmed_items(data, name, |at, row, question, answer| {
        let entities =
            parse_list(answer).ok_or_else(|| at.fail(format!("`answer` is not a list literal: {answer:?}")))?;
        Ok(Item {
            id: at.id.clone(),
            file: at.file.clone(),
            group: field(row, "tag").unwrap_or(name).to_string(),
            fields: json!({"question": question}),
            options: Vec::new(),
            answer_text: answer.to_string(),
            gold: Gold::Entities(entities),
        })
    })
}

/// A Python list of string literals (`['胃癌', "走行\u3000異常"]`), what JMED-LLM's gold
/// answers are and what it reads from a model's output with `eval`. `None` for anything
/// else.
pub fn parse_list(text: &str) -> Option<Vec<String>> {
    let mut chars = text.trim().chars().peekable();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars>| {
        while c.peek().is_some_and(|c| c.is_whitespace()) {
            c.next();
        }
    };
    if chars.next()? != '[' {
        return None;
    }
    let mut out = Vec::new();
    loop {
        skip_ws(&mut chars);
        match chars.next()? {
            ']' => break,
            quote @ ('\'' | '"') => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        c if c == quote => break,
                        '\\' => match chars.next()? {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            'u' => s.push(hex_char(&mut chars, 4)?),
                            'U' => s.push(hex_char(&mut chars, 8)?),
                            'x' => s.push(hex_char(&mut chars, 2)?),
                            c @ ('\\' | '\'' | '"') => s.push(c),
                            c => {
                                s.push('\\');
                                s.push(c);
                            }
                        },
                        c => s.push(c),
                    }
                }
                out.push(s);
                skip_ws(&mut chars);
                match chars.next()? {
                    ',' => continue,
                    ']' => break,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    skip_ws(&mut chars);
    chars.next().is_none().then_some(out)
}

fn hex_char(chars: &mut std::iter::Peekable<std::str::Chars>, digits: usize) -> Option<char> {
    let hex: String = (0..digits).map(|_| chars.next()).collect::<Option<String>>()?;
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

// --- PubMedQA ----------------------------------------------------------------------------

/// The 500 test questions (`test_ground_truth.json`) with their abstracts; the other 500
/// are the few-shot pool.
fn pubmedqa(data: &Path) -> Result<ItemsAndPool, StageError> {
    let path = data.join("pubmedqa/pqal.jsonl");
    let truth_path = data.join("pubmedqa/test_ground_truth.json");
    let truth: BTreeMap<String, String> = serde_json::from_str(&read(&truth_path)?)
        .map_err(|e| StageError::Param(format!("{}: {e}", truth_path.display())))?;
    let file = relative(data, &path);
    let answers = ["yes", "no", "maybe"];
    // The continuations carry the space that separates them from `Answer:`.
    let options: Vec<String> = answers.iter().map(|a| format!(" {a}")).collect();
    let mut items = Vec::new();
    let mut pool = Vec::new();
    for (n, line) in read(&path)?.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
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
    Ok((items, pool))
}

// --- Medical MT from the IgakuQA translations ------------------------------------------

/// Pairs of a question in Japanese and its English translation; the evaluated years give
/// the items, the other years the few-shot pool.
fn ejmmt(data: &Path, years: &[String], to_ja: bool) -> Result<ItemsAndPool, StageError> {
    let mut items = Vec::new();
    let mut pool = Vec::new();
    for path in crate::files::expand(data, "igakuqa/*/*-[A-Z].jsonl")? {
        let year = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let file = relative(data, &path);
        let group = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let ja = igakuqa_file(&path, data, false)?;
        let en = igakuqa_file(&path, data, true)?;
        for (ja, en) in ja.into_iter().zip(en) {
            let pair = match (ja, en) {
                (Ok(j), Ok(e)) => Ok((j.id, j.text, e.text)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            let item = pair.map(|(id, ja, en)| {
                let (source, target) = if to_ja { (en, ja) } else { (ja, en) };
                Item {
                    id,
                    file: file.clone(),
                    group: group.clone(),
                    fields: json!({"source": source}),
                    options: Vec::new(),
                    answer_text: target.clone(),
                    gold: Gold::Text(target),
                }
            });
            if years.is_empty() || years.contains(&year) {
                items.push(item);
            } else if let Ok(item) = item {
                pool.push(item);
            }
        }
    }
    Ok((items, pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_list_literals() {
        assert_eq!(parse_list("['胃癌', '走行異常']"), Some(vec!["胃癌".to_string(), "走行異常".to_string()]));
        assert_eq!(parse_list(r"['２０ｍｇ／\u3000ｄａｙ']"), Some(vec!["２０ｍｇ／\u{3000}ｄａｙ".to_string()]));
        assert_eq!(parse_list(r#"[ "a\"b" , 'c' ]"#), Some(vec!["a\"b".to_string(), "c".to_string()]));
        assert_eq!(parse_list("[]"), Some(vec![]));
        assert_eq!(parse_list("胃癌、走行異常"), None);
        assert_eq!(parse_list("['unterminated"), None);
        assert_eq!(parse_list("['a'] trailing"), None);
    }

    #[test]
    fn letter_sets_of_the_asked_size() {
        assert_eq!(combinations(5, 1).len(), 5);
        assert_eq!(combinations(5, 2).len(), 10);
        assert_eq!(combinations(5, 3)[0], vec![0, 1, 2]);
    }
}
