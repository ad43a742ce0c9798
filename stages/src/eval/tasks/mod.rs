//! The tasks `jmedbench` runs: [`TABLE`], one row per task (its constructor in the
//! language, category, languages and built-in templates), the typed task values
//! ([`TaskSpec`]), and how each reads its items from the benchmark data folder, which keeps
//! the upstream layouts, one file per benchmark:
//!
//! ```text
//! igakuqa.rs    <data>/igakuqa/<year>/<exam>-<block>.jsonl, …_translate.jsonl, prompt.jsonl
//! jmmlu.rs      <data>/jmmlu/<subject>.csv                  JMMLU (no header)
//! jmed_llm.rs   <data>/jmed-llm/<task>.csv                  JMED-LLM (header row)
//! pubmedqa.rs   <data>/pubmedqa/pqal.jsonl, test_ground_truth.json
//! ejmmt.rs      the IgakuQA questions and their translations as MT pairs
//! ```
//!
//! Each benchmark file names the files it reads once, as glob patterns its reader expands
//! and [`reads`] lists, so that a node's identity covers exactly the files its tasks read.
//!
//! An item that cannot be read (a missing field, an answer outside the options) is kept
//! as a failure naming its file and item, so that it counts against the task's score.

pub mod ejmmt;
pub mod igakuqa;
pub mod jmed_llm;
pub mod jmmlu;
pub mod pubmedqa;
mod python_list;

pub use python_list::parse_list;

use super::prompt::{Prompted, Template};
use crate::metrics::KappaWeights;
use crate::StageError;
use exp_dsl::schema::{Constructor, Default, Param, Ty};
use exp_dsl::Value;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

impl Prompted for Item {
    fn fields(&self) -> &Json {
        &self.fields
    }
    fn answer(&self) -> &str {
        &self.answer_text
    }
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

impl Task {
    /// Whether scoring the task needs the MeCab segmenter (see [`ja_mecab`]).
    pub fn needs_mecab(&self) -> bool {
        ja_mecab(self.category, self.lang)
    }
}

// --- The table of tasks ------------------------------------------------------------------

const SHOTS: Param =
    Param::with("shots", Ty::Int { min: 0, max: 16 }, Default::Int(0), "few-shot examples in the prompt");
const TEMPLATE: Param = Param::optional("template", Ty::Path, "prompt template replacing the task's own");
const YEARS: Param = Param::with(
    "years",
    Ty::List(&Ty::Int { min: 2006, max: 2100 }),
    Default::Empty,
    "IgakuQA years to evaluate (all in the data folder when empty); the others give the shots",
);
/// The parameters of a task that has no choices of its own.
const PLAIN: &[Param] = &[SHOTS, TEMPLATE];

/// One task `jmedbench` can run.
#[derive(Debug)]
pub struct TaskRow {
    /// Its constructor in the language (`igakuqa(shots: 3)`): name, parameters, doc.
    pub constructor: Constructor,
    pub category: Category,
    /// The languages the task is asked in, each with its built-in template (a name of
    /// `prompt::BUILT_IN`). A task with two has a parameter that picks
    /// ([`TaskSpec::lang`]).
    pub templates: &'static [(Lang, &'static str)],
    /// The kappa JMED-LLM reports for the task.
    pub kappa: Option<KappaWeights>,
}

impl TaskRow {
    /// The built-in template the task is asked with in `lang`.
    pub fn template(&self, lang: Lang) -> Option<&'static str> {
        self.templates.iter().find(|(l, _)| *l == lang).map(|(_, t)| *t)
    }
}

const fn task(
    name: &'static str,
    params: &'static [Param],
    doc: &'static str,
    category: Category,
    templates: &'static [(Lang, &'static str)],
    kappa: Option<KappaWeights>,
) -> TaskRow {
    TaskRow { constructor: Constructor { name, params, doc }, category, templates, kappa }
}

use Category::{Dc, Mcqa, Mt, Ner, Sts};
use Lang::{En, Ja};

/// Every task `jmedbench` can run. Each row's name is a variant of [`TaskSpec`]; the
/// `jmedbench` schema's constructors are [`CONSTRUCTORS`], made from this table.
pub const TABLE: &[TaskRow] = &[
    task(
        "igakuqa",
        igakuqa::PARAMS,
        "IgakuQA, Japanese medical licensing exam (MCQA); shots from a disjoint year",
        Mcqa,
        &[(Ja, "igakuqa"), (En, "igakuqa_en")],
        None,
    ),
    task("jmmlu_med", PLAIN, "JMMLU medical subjects (MCQA)", Mcqa, &[(Ja, "mcqa_ja")], None),
    task("jmed_jmmlu", PLAIN, "JMED-LLM `jmmlu_med` (MCQA)", Mcqa, &[(Ja, "mcqa_ja")], Some(KappaWeights::None)),
    task(
        "pubmedqa",
        PLAIN,
        "PubMedQA yes/no/maybe in English with its abstract, test split",
        Mcqa,
        &[(En, "pubmedqa")],
        None,
    ),
    task("crade", PLAIN, "CRADE document classification", Dc, &[(Ja, "mcqa_ja")], Some(KappaWeights::Linear)),
    task("rrtnm", PLAIN, "RRTNM document classification", Dc, &[(Ja, "mcqa_ja")], Some(KappaWeights::None)),
    task("smdis", PLAIN, "SMDIS document classification", Dc, &[(Ja, "mcqa_ja")], Some(KappaWeights::None)),
    task("jcsts", PLAIN, "JCSTS clinical STS (Pearson)", Sts, &[(Ja, "jmed_sts")], Some(KappaWeights::Linear)),
    task("mrner_disease", PLAIN, "MRNER disease NER (F1)", Ner, &[(Ja, "jmed_ner")], None),
    task("mrner_medicine", PLAIN, "MRNER medicine NER (F1)", Ner, &[(Ja, "jmed_ner")], None),
    task("nrner", PLAIN, "NRNER NER (F1)", Ner, &[(Ja, "jmed_ner")], None),
    task(
        "ejmmt",
        ejmmt::PARAMS,
        "medical MT from the IgakuQA translations (BLEU)",
        Mt,
        &[(Ja, "mt_en_ja"), (En, "mt_ja_en")],
        None,
    ),
];

/// The constructors of [`TABLE`], in its order: `kinds::eval::TASKS`.
pub const CONSTRUCTORS: [Constructor; TABLE.len()] = constructors();

const fn constructors<const N: usize>() -> [Constructor; N] {
    const NONE: Constructor = Constructor { name: "", params: &[], doc: "" };
    let mut out = [NONE; N];
    let mut i = 0;
    while i < N {
        let c = &TABLE[i].constructor;
        out[i] = Constructor { name: c.name, params: c.params, doc: c.doc };
        i += 1;
    }
    out
}

// --- Typed task values ---------------------------------------------------------------

/// A task as the `tasks:` list of a lowered `jmedbench` node holds it: a map tagged by
/// its constructor's name under `type`, with every parameter the constructor declares
/// (lowering fills the defaults; an absent optional one is null). The defaults live in
/// the schema ([`TABLE`]) alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskSpec {
    Igakuqa(igakuqa::Spec),
    JmmluMed(Plain),
    JmedJmmlu(Plain),
    Pubmedqa(Plain),
    Crade(Plain),
    Rrtnm(Plain),
    Smdis(Plain),
    Jcsts(Plain),
    MrnerDisease(Plain),
    MrnerMedicine(Plain),
    Nrner(Plain),
    Ejmmt(ejmmt::Spec),
}

/// The parameters of a task with no choices of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plain {
    pub shots: usize,
    pub template: Option<String>,
}

impl TaskSpec {
    /// A lowered task value (`{"type": "crade", "shots": 0, "template": null}`).
    pub fn from_value(value: &Value) -> Result<TaskSpec, StageError> {
        let bad = |e: serde_json::Error| {
            let name = match value.get("type") {
                Some(Value::Str(s)) => format!("task `{s}`"),
                _ => "a task".to_string(),
            };
            StageError::Param(format!("{name}: {e}"))
        };
        serde_json::from_value(serde_json::to_value(value).map_err(bad)?).map_err(bad)
    }

    /// The constructor's name (`crade`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskSpec::Igakuqa(_) => "igakuqa",
            TaskSpec::JmmluMed(_) => "jmmlu_med",
            TaskSpec::JmedJmmlu(_) => "jmed_jmmlu",
            TaskSpec::Pubmedqa(_) => "pubmedqa",
            TaskSpec::Crade(_) => "crade",
            TaskSpec::Rrtnm(_) => "rrtnm",
            TaskSpec::Smdis(_) => "smdis",
            TaskSpec::Jcsts(_) => "jcsts",
            TaskSpec::MrnerDisease(_) => "mrner_disease",
            TaskSpec::MrnerMedicine(_) => "mrner_medicine",
            TaskSpec::Nrner(_) => "nrner",
            TaskSpec::Ejmmt(_) => "ejmmt",
        }
    }

    /// The task's row of [`TABLE`].
    pub fn row(&self) -> &'static TaskRow {
        let name = self.name();
        TABLE.iter().find(|r| r.constructor.name == name).expect("every task spec has a row (tested)")
    }

    /// The task's id in results: `igakuqa_3shot`, `ejmmt_en-ja`, `crade`.
    pub fn id(&self) -> String {
        match self {
            TaskSpec::Igakuqa(s) => igakuqa::id(s),
            TaskSpec::Ejmmt(s) => ejmmt::id(s),
            other => other.name().to_string(),
        }
    }

    /// The language the task is asked in and counted under: the one its parameters pick,
    /// or its row's only one.
    pub fn lang(&self) -> Lang {
        match self {
            TaskSpec::Igakuqa(s) => s.lang,
            TaskSpec::Ejmmt(s) => s.direction.target(),
            other => other.row().templates[0].0,
        }
    }

    pub fn shots(&self) -> usize {
        self.common().0
    }

    /// Its shots and template override, which every task has.
    fn common(&self) -> (usize, Option<&str>) {
        match self {
            TaskSpec::Igakuqa(s) => (s.shots, s.template.as_deref()),
            TaskSpec::Ejmmt(s) => (s.shots, s.template.as_deref()),
            TaskSpec::JmmluMed(p)
            | TaskSpec::JmedJmmlu(p)
            | TaskSpec::Pubmedqa(p)
            | TaskSpec::Crade(p)
            | TaskSpec::Rrtnm(p)
            | TaskSpec::Smdis(p)
            | TaskSpec::Jcsts(p)
            | TaskSpec::MrnerDisease(p)
            | TaskSpec::MrnerMedicine(p)
            | TaskSpec::Nrner(p) => (p.shots, p.template.as_deref()),
        }
    }
}

// --- The files a task reads -------------------------------------------------------------

/// The IPA dictionary archive that MeCab's `ja-mecab` BLEU segmentation is built from.
pub const IPADIC: &str = "ipadic/*.tar.xz";

/// Whether a task's scoring segments Japanese with MeCab: MT into Japanese (BLEU with
/// `ja-mecab`). Such a task reads [`IPADIC`] too.
pub fn ja_mecab(category: Category, lang: Lang) -> bool {
    category == Category::Mt && lang == Lang::Ja
}

/// The IPA dictionary archive in `data` (the first of [`IPADIC`]).
pub fn ipadic(data: &Path) -> Result<PathBuf, StageError> {
    let folder = data.join("ipadic");
    let none = || {
        StageError::Param(format!(
            "{}: no IPA dictionary (`mecab-ipadic-*.tar.xz`), needed for ja-mecab BLEU",
            folder.display()
        ))
    };
    crate::files::expand(data, IPADIC).map_err(|_| none())?.into_iter().next().ok_or_else(none)
}

/// The files a task reads, as glob patterns relative to the data folder, each with
/// whether it may match nothing.
pub fn patterns(spec: &TaskSpec) -> Vec<(String, bool)> {
    let mut out = match spec {
        TaskSpec::Igakuqa(s) => igakuqa::reads(s.lang),
        TaskSpec::JmmluMed(_) => jmmlu::reads(),
        TaskSpec::Pubmedqa(_) => pubmedqa::reads(),
        TaskSpec::Ejmmt(_) => ejmmt::reads(),
        TaskSpec::JmedJmmlu(_)
        | TaskSpec::Crade(_)
        | TaskSpec::Rrtnm(_)
        | TaskSpec::Smdis(_)
        | TaskSpec::Jcsts(_)
        | TaskSpec::MrnerDisease(_)
        | TaskSpec::MrnerMedicine(_)
        | TaskSpec::Nrner(_) => jmed_llm::reads(spec.name()),
    };
    if ja_mecab(spec.row().category, spec.lang()) {
        out.push((IPADIC.to_string(), false));
    }
    out
}

/// The files a task reads, as glob patterns relative to the `data` folder that
/// [`crate::files::expand`] accepts: exactly what its reader opens (and, for MT into
/// Japanese, the IPA dictionary the stage builds MeCab from). Every pattern matches a
/// file of a complete data folder; `igakuqa/prompt.jsonl` ([`igakuqa::PROMPTS`]) is the
/// one a reader does without, where [`files_read`] skips it. The years a task evaluates
/// do not change what it reads: the other years give its shots.
pub fn reads(spec: &TaskSpec) -> Vec<String> {
    patterns(spec).into_iter().map(|(p, _)| p).collect()
}

/// The files of [`reads`] in `data`, sorted and without repeats; a pattern that matches
/// nothing is an error unless its reader does without it.
pub fn files_read(spec: &TaskSpec, data: &Path) -> Result<Vec<PathBuf>, StageError> {
    let mut files = BTreeSet::new();
    for (pattern, optional) in patterns(spec) {
        match crate::files::expand(data, &pattern) {
            Ok(found) => files.extend(found),
            Err(_) if optional && !data.join(&pattern).exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(files.into_iter().collect())
}

/// The prompt template replacing the task's built-in one, relative to the experiment
/// folder (`root`), not to the data folder.
pub fn template_override(spec: &TaskSpec) -> Option<&str> {
    spec.common().1
}

// --- Loading ------------------------------------------------------------------------------

/// Reads every task of `specs` (the `tasks:` list of the stage) from `data`; template
/// overrides are read from `root`, the experiment folder.
pub fn load_all(specs: &[TaskSpec], data: &Path, root: &Path) -> Result<Vec<Task>, StageError> {
    let mut tasks: Vec<Task> = Vec::new();
    for spec in specs {
        let task = load(spec, &Data::new(data), root)?;
        if tasks.iter().any(|t| t.id == task.id) {
            return Err(StageError::Param(format!("task `{}` is listed twice", task.id)));
        }
        tasks.push(task);
    }
    Ok(tasks)
}

fn load(spec: &TaskSpec, data: &Data, root: &Path) -> Result<Task, StageError> {
    let row = spec.row();
    let read = match spec {
        TaskSpec::Igakuqa(s) => igakuqa::load(data, s)?,
        TaskSpec::JmmluMed(_) => jmmlu::load(data)?,
        TaskSpec::Pubmedqa(_) => pubmedqa::load(data)?,
        TaskSpec::Ejmmt(s) => ejmmt::load(data, s)?,
        TaskSpec::JmedJmmlu(_)
        | TaskSpec::Crade(_)
        | TaskSpec::Rrtnm(_)
        | TaskSpec::Smdis(_)
        | TaskSpec::Jcsts(_)
        | TaskSpec::MrnerDisease(_)
        | TaskSpec::MrnerMedicine(_)
        | TaskSpec::Nrner(_) => jmed_llm::load(data, spec.name(), row.category)?,
    };
    let lang = spec.lang();
    let built_in = row.template(lang).expect("every task has a template in its language (tested)");
    let replacement = template_override(spec).map(|p| root.join(p));
    Ok(Task {
        id: spec.id(),
        category: row.category,
        lang,
        template: Template::load(built_in, replacement.as_deref())?,
        shots: spec.shots(),
        items: read.items,
        pool: read.pool,
        fixed_shots: read.fixed_shots,
        kappa: row.kappa,
        excluded: read.excluded,
    })
}

/// What a benchmark's reader gives a task.
struct Read {
    items: Items,
    pool: Vec<Item>,
    excluded: Vec<String>,
    fixed_shots: bool,
}

impl Read {
    /// Items alone: no pool of their own, nothing excluded, shots drawn per item.
    fn items(items: Items) -> Read {
        Read { items, pool: Vec::new(), excluded: Vec::new(), fixed_shots: false }
    }
}

type Items = Vec<Result<Item, ItemError>>;

/// The data folder as the readers see it. Every file a reader opens goes through
/// [`Data::read`], which records it, so that a test holds [`reads`] to what they open.
struct Data<'a> {
    dir: &'a Path,
    opened: RefCell<BTreeSet<PathBuf>>,
}

impl<'a> Data<'a> {
    fn new(dir: &'a Path) -> Data<'a> {
        Data { dir, opened: RefCell::new(BTreeSet::new()) }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The files a pattern of the data folder matches, sorted; none is an error.
    fn expand(&self, pattern: &str) -> Result<Vec<PathBuf>, StageError> {
        crate::files::expand(self.dir, pattern)
    }

    fn read(&self, path: &Path) -> Result<String, StageError> {
        self.opened.borrow_mut().insert(path.to_path_buf());
        std::fs::read_to_string(path).map_err(StageError::io(path))
    }

    /// A path as items name their file: relative to the data folder.
    fn relative(&self, file: &Path) -> String {
        file.strip_prefix(self.dir).unwrap_or(file).display().to_string()
    }
}

// --- What the readers share ---------------------------------------------------------------

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

/// A multiple-choice item whose answer is an upper-case option letter.
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

/// A CSV row as (column name, value) pairs; without a header the names are the column
/// numbers.
type Row = Vec<(String, String)>;

/// The rows of a CSV file; a malformed row is an error for its item.
fn csv_rows(data: &Data, path: &Path, header: bool) -> Result<Vec<Result<Row, String>>, StageError> {
    let text = data.read(path)?;
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

#[cfg(test)]
mod tests;
