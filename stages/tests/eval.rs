//! The evaluation driver against a provider whose answers are known: every metric and
//! average is checked against what those answers must give, failures are counted, and
//! an interrupted evaluation resumes without asking for finished items again.

use exp_stages::eval::provider::{Generation, Likelihood, Provider, Scored};
use exp_stages::eval::run::{evaluate, Io, Outcome, Settings};
use exp_stages::eval::tasks::ejmmt::{self, Direction};
use exp_stages::eval::tasks::{igakuqa, load_all, Gold, Lang, Plain, Task, TaskSpec};
use exp_stages::metrics::{cohen_kappa, pearson, KappaWeights};
use exp_stages::Reporter;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("stages/ has a parent").to_path_buf()
}

/// A task without choices of its own, at its defaults.
fn plain() -> Plain {
    Plain { shots: 0, template: None }
}

fn igakuqa_2021(shots: usize) -> TaskSpec {
    TaskSpec::Igakuqa(igakuqa::Spec { shots, years: vec![2021], lang: Lang::Ja, template: None })
}

fn ejmmt_2021(direction: Direction) -> TaskSpec {
    TaskSpec::Ejmmt(ejmmt::Spec { shots: 0, direction, years: vec![2021], template: None })
}

#[derive(Default)]
struct Collect {
    logs: Mutex<Vec<String>>,
    metrics: Mutex<BTreeMap<String, f64>>,
}

impl Reporter for Collect {
    fn progress(&self, _: u64, _: Option<u64>, _: &str) {}
    fn metric(&self, name: &str, _: Option<u64>, value: f64) {
        self.metrics.lock().expect("lock").insert(name.to_string(), value);
    }
    fn log(&self, line: &str) {
        self.logs.lock().expect("lock").push(line.to_string());
    }
}

/// What the provider does for the item at position `i` of its task's sample: 0 answer
/// right, 1 answer wrong by the sum but right once normalised by length (choices) or
/// half right (generation), 2 refuse or say nothing.
fn behaviour(i: usize) -> usize {
    i % 3
}

/// Answers by the item a prompt belongs to, from a table built from the tasks.
struct Known {
    /// Prompt → (position in the sample, gold continuation or reference, first gold entity).
    by_prompt: HashMap<String, (usize, String, String)>,
    calls: usize,
}

impl Known {
    fn new(tasks: &[Task], samples: &[Vec<usize>]) -> Known {
        let mut by_prompt = HashMap::new();
        for (t, sample) in tasks.iter().zip(samples) {
            for (pos, &i) in sample.iter().enumerate() {
                let Ok(item) = t.items[i].as_ref() else { continue };
                let prompt = t.template.render(item, &[]).expect("renders");
                let gold = match &item.gold {
                    Gold::Option(g) => item.options[*g].clone(),
                    Gold::Letters { letters, .. } => letters.join(","),
                    Gold::Text(r) => r.clone(),
                    Gold::Entities(_) => item.answer_text.clone(),
                };
                let first = match &item.gold {
                    Gold::Entities(e) => format!("['{}']", e[0]),
                    _ => String::new(),
                };
                by_prompt.insert(prompt, (pos, gold, first));
            }
        }
        Known { by_prompt, calls: 0 }
    }
}

impl Provider for Known {
    fn describe(&self) -> String {
        "known".into()
    }

    fn likelihoods(&mut self, requests: &[Likelihood]) -> Vec<Result<Scored, String>> {
        self.calls += requests.len();
        requests
            .iter()
            .map(|r| {
                let (pos, gold, _) = &self.by_prompt[&r.context];
                let is_gold = &r.continuation == gold;
                match (behaviour(*pos), is_gold) {
                    (2, _) => Err("refused".into()),
                    (0, true) => Ok(Scored { logprob: -1.0, tokens: 1 }),
                    (_, true) => Ok(Scored { logprob: -4.0, tokens: 4 }),
                    (_, false) => Ok(Scored { logprob: -2.0, tokens: 1 }),
                }
            })
            .collect()
    }

    fn generate(&mut self, requests: &[Generation]) -> Vec<Result<String, String>> {
        self.calls += requests.len();
        requests
            .iter()
            .map(|r| {
                let (pos, gold, first) = &self.by_prompt[&r.prompt];
                Ok(match behaviour(*pos) {
                    0 => gold.clone(),
                    1 if first.is_empty() => "zzz qqq".into(),
                    1 => first.clone(),
                    _ => "   ".into(),
                })
            })
            .collect()
    }
}

/// The sample `evaluate` takes: `limit` of each task, in file order.
fn samples(tasks: &[Task], limit: usize) -> Vec<Vec<usize>> {
    // With `limit` at least the task's size every item is taken; the tests use a data
    // folder small enough, or check the sample through the results.
    tasks.iter().map(|t| (0..t.items.len().min(limit)).collect()).collect()
}

fn settings() -> Settings {
    Settings { batch: 4, resamples: 200, seed: 7, max_new_tokens: 16, limit: None }
}

/// A data folder with `n` items of each bundled set the tests use.
fn small_data(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = workspace().join("data");
    let copy_lines = |rel: &str, lines: usize| {
        let text = std::fs::read_to_string(src.join(rel)).expect("bundled file");
        let out = dir.path().join(rel);
        std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
        std::fs::write(out, text.lines().take(lines).map(|l| format!("{l}\n")).collect::<String>()).expect("write");
    };
    for block in ["A", "B"] {
        copy_lines(&format!("igakuqa/2021/115-{block}.jsonl"), n);
        copy_lines(&format!("igakuqa/2021/115-{block}_translate.jsonl"), n);
    }
    // CSV records span lines: keep whole records, spread over the file (JMED-LLM's are
    // sorted by answer).
    for name in ["crade", "jcsts", "nrner"] {
        let text = std::fs::read_to_string(src.join(format!("jmed-llm/{name}.csv"))).expect("csv");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let out = dir.path().join(format!("jmed-llm/{name}.csv"));
        std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
        let mut writer = csv::Writer::from_path(&out).expect("create");
        writer.write_record(reader.headers().expect("header")).expect("header");
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
        for r in records.iter().step_by(records.len() / n).take(n) {
            writer.write_record(r).expect("record");
        }
        writer.flush().expect("flush");
    }
    dir
}

fn run(tasks: &[Task], provider: &mut dyn Provider, resume: &Path, out: &Path, report: &Collect) -> Outcome {
    let never = || false;
    let io = Io { resume, out, reporter: report, cancelled: &never };
    let mecab = exp_stages::mecab::Mecab::from_ipadic_archive(
        &workspace().join("data/ipadic/mecab-ipadic-2.7.0-20070801.tar.xz"),
    )
    .expect("dictionary");
    evaluate(tasks, provider, Some(&mecab), &settings(), &io).expect("evaluates")
}

#[test]
fn known_answers_give_the_expected_metrics_and_averages() {
    let data = small_data(9);
    let specs = vec![
        igakuqa_2021(0),
        TaskSpec::Crade(plain()),
        TaskSpec::Jcsts(plain()),
        TaskSpec::Nrner(plain()),
        ejmmt_2021(Direction::JaEn),
        ejmmt_2021(Direction::EnJa),
    ];
    let tasks = load_all(&specs, data.path(), data.path()).expect("tasks load");
    let sample = samples(&tasks, usize::MAX);
    let mut provider = Known::new(&tasks, &sample);
    let (resume, out) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let report = Collect::default();
    let outcome = run(&tasks, &mut provider, resume.path(), out.path(), &report);

    for (t, score) in tasks.iter().zip(&outcome.tasks) {
        let n = t.items.len();
        let count = |b: usize| (0..n).filter(|&i| behaviour(i) == b).count() as f64;
        assert_eq!(score.items, n, "{}", t.id);
        assert_eq!(score.failed as f64, count(2), "{}: failed items are counted", t.id);
        let m = &score.metrics;
        match t.id.as_str() {
            "igakuqa_0shot" | "crade" | "jcsts" => {
                assert!((m["accuracy"] - count(0) / n as f64).abs() < 1e-12, "{}: {m:?}", t.id);
                assert!((m["accuracy_norm"] - (count(0) + count(1)) / n as f64).abs() < 1e-12, "{}", t.id);
            }
            _ => {}
        }
        // The predictions the provider forced, to check kappa and Pearson independently.
        let chosen: Vec<usize> = (0..n)
            .map(|i| {
                let item = t.items[i].as_ref().expect("item");
                let gold = match item.gold {
                    Gold::Option(g) => g,
                    _ => 0,
                };
                match behaviour(i) {
                    0 => gold,
                    1 => usize::from(gold == 0),
                    _ => usize::MAX,
                }
            })
            .collect();
        let golds: Vec<usize> = (0..n)
            .map(|i| match t.items[i].as_ref().expect("item").gold {
                Gold::Option(g) => g,
                _ => 0,
            })
            .collect();
        match t.id.as_str() {
            "igakuqa_0shot" => {
                let points: f64 = (0..n)
                    .filter(|&i| behaviour(i) == 0)
                    .map(|i| match &t.items[i].as_ref().expect("item").gold {
                        Gold::Letters { points, .. } => *points,
                        _ => 0.0,
                    })
                    .sum();
                assert_eq!(m["points"], points);
            }
            "crade" => {
                let k = cohen_kappa(&golds, &chosen, KappaWeights::Linear).expect("kappa");
                assert!((m["kappa"] - k).abs() < 1e-12, "{} vs {k}", m["kappa"]);
            }
            "jcsts" => {
                let (x, y): (Vec<f64>, Vec<f64>) = chosen
                    .iter()
                    .zip(&golds)
                    .filter(|(c, _)| **c != usize::MAX)
                    .map(|(c, g)| (*c as f64, *g as f64))
                    .unzip();
                let r = pearson(&x, &y).expect("defined");
                assert!((m["pearson"] - r).abs() < 1e-12);
                assert!((score.score - 100.0 * r).abs() < 1e-9, "the STS headline is Pearson × 100");
            }
            "nrner" => {
                // Right: F1 1; one gold entity of |gold|: 2/(1+|gold|); nothing: failed.
                let expected: f64 = (0..n)
                    .map(|i| match (&t.items[i].as_ref().expect("item").gold, behaviour(i)) {
                        (_, 0) => 1.0,
                        (Gold::Entities(g), 1) => {
                            let unique = g.iter().collect::<std::collections::HashSet<_>>().len() as f64;
                            2.0 / (1.0 + unique)
                        }
                        _ => 0.0,
                    })
                    .sum::<f64>()
                    / n as f64;
                assert!((m["f1"] - expected).abs() < 1e-12, "{} vs {expected}", m["f1"]);
            }
            "ejmmt_ja-en" | "ejmmt_en-ja" => {
                assert!((m["bleu"] - 100.0 * count(0) / n as f64).abs() < 1e-9, "{}: {m:?}", t.id);
            }
            other => panic!("unexpected task {other}"),
        }
        // The interval brackets the score.
        let (lo, hi) = score.ci.expect("bootstrapped");
        assert!(lo <= score.score + 1e-9 && score.score <= hi + 1e-9, "{}: {lo} {} {hi}", t.id, score.score);
    }
    // Averages are means of headline scores.
    let by = |f: &dyn Fn(&exp_stages::eval::score::TaskScore) -> bool| {
        let xs: Vec<f64> = outcome.tasks.iter().filter(|s| f(s)).map(|s| s.score).collect();
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    let a = &outcome.averages;
    assert!((a.overall.expect("overall") - by(&|_| true)).abs() < 1e-9);
    assert!((a.categories["mt"] - by(&|s| s.category.name() == "mt")).abs() < 1e-9);
    assert!((a.languages["en"] - by(&|s| s.lang.name() == "en")).abs() < 1e-9);
    // The metrics reach the reporter, and the artifact has the per-item results.
    let metrics = report.metrics.lock().expect("lock");
    assert_eq!(metrics["crade/accuracy"], outcome.tasks[1].metrics["accuracy"]);
    assert!(metrics.contains_key("avg/overall") && metrics.contains_key("avg/dc") && metrics.contains_key("avg/ja"));
    let items = std::fs::read_to_string(out.path().join("items/crade.jsonl")).expect("items");
    assert_eq!(items.lines().count(), tasks[1].items.len());
    let failure = items.lines().find(|l| l.contains("\"error\"")).expect("a failed item");
    assert!(failure.contains("crade: jmed-llm/crade.csv: item crade:3: refused"), "{failure}");
    assert!(out.path().join("scores.json").exists() && out.path().join("scores.csv").exists());
    // A generation that says nothing names the task, file and item.
    let ner = std::fs::read_to_string(out.path().join("items/nrner.jsonl")).expect("items");
    assert!(ner.contains("nrner: jmed-llm/nrner.csv: item nrner:3: the model produced nothing"), "{ner}");
}

#[test]
fn a_resumed_evaluation_does_not_redo_finished_items() {
    let data = small_data(12);
    let tasks = load_all(&[TaskSpec::Crade(plain())], data.path(), data.path()).expect("tasks load");
    let sample = samples(&tasks, usize::MAX);
    let (resume, out) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let report = Collect::default();
    // Stop after the first batch of 4 items.
    let mut provider = Known::new(&tasks, &sample);
    let batches = std::cell::Cell::new(0);
    let stop = || {
        batches.set(batches.get() + 1);
        batches.get() > 1
    };
    let io = Io { resume: resume.path(), out: out.path(), reporter: &report, cancelled: &stop };
    let interrupted = evaluate(&tasks, &mut provider, None, &settings(), &io);
    assert!(matches!(interrupted, Err(exp_stages::StageError::Cancelled)));
    let options = |i: usize| tasks[0].items[i].as_ref().expect("item").options.len();
    assert_eq!(provider.calls, (0..4).map(options).sum::<usize>());
    // Resumed: the 4 done items are not asked again, except the one that failed (item 3).
    let mut provider = Known::new(&tasks, &sample);
    let outcome = run(&tasks, &mut provider, resume.path(), out.path(), &report);
    assert_eq!(provider.calls, options(2) + (4..12).map(options).sum::<usize>());
    assert_eq!(outcome.tasks[0].items, 12);
    assert_eq!(outcome.tasks[0].failed, 4);
}

#[test]
fn unreadable_items_and_templates_fail_with_task_file_and_item() {
    let data = small_data(3);
    // An answer outside the options.
    let path = data.path().join("jmed-llm/crade.csv");
    let text = std::fs::read_to_string(&path).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut writer = csv::Writer::from_path(&path).expect("rewrite");
    writer.write_record(reader.headers().expect("header")).expect("header");
    for (i, r) in reader.records().enumerate() {
        let mut r: Vec<String> = r.expect("record").iter().map(str::to_string).collect();
        if i == 1 {
            *r.last_mut().expect("answer") = "Z".into();
        }
        writer.write_record(&r).expect("record");
    }
    writer.flush().expect("flush");
    // A template that asks for a field items do not have.
    std::fs::write(data.path().join("bad.j2"), "{{ item.no_such_field }}").expect("template");
    let specs = vec![TaskSpec::Crade(plain()), TaskSpec::Jcsts(Plain { shots: 0, template: Some("bad.j2".into()) })];
    let tasks = load_all(&specs, data.path(), data.path()).expect("tasks load");
    let bad = tasks[0].items[1].as_ref().expect_err("answer Z");
    assert_eq!((bad.id.as_str(), bad.file.as_str()), ("crade:2", "jmed-llm/crade.csv"));
    assert!(bad.message.contains("answer `Z` is not one of the options A,B,C,D"), "{}", bad.message);
    let (resume, out) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let report = Collect::default();
    let mut provider = Known::new(&tasks[..1], &samples(&tasks[..1], usize::MAX));
    let outcome = run(&tasks, &mut provider, resume.path(), out.path(), &report);
    assert_eq!(outcome.tasks[0].failed, 2, "the unreadable item and the refused one");
    assert_eq!(outcome.tasks[1].failed, 3, "every item of the broken template");
    let logs = report.logs.lock().expect("lock").join("\n");
    assert!(logs.contains("crade: jmed-llm/crade.csv: answer `Z`"), "{logs}");
    assert!(logs.contains("bad.j2: cannot render"), "{logs}");
}

#[test]
fn igakuqa_few_shots_come_from_other_years_and_are_fixed_by_the_seed() {
    let data = workspace().join("data");
    let specs = vec![igakuqa_2021(3)];
    let tasks = load_all(&specs, &data, &data).expect("tasks load");
    let t = &tasks[0];
    assert!(t.items.iter().all(|i| i.as_ref().map_or(true, |i| i.file.starts_with("igakuqa/2021/"))));
    assert!(t.pool.iter().all(|i| !i.file.starts_with("igakuqa/2021/")));
    assert!(!t.excluded.is_empty(), "numeric-answer questions are reported");
    // Multi-answer questions ask for as many letters as the gold has.
    let multi = t
        .items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .find(|i| matches!(&i.gold, Gold::Letters { letters, .. } if letters.len() == 2))
        .expect("a two-answer question");
    assert_eq!(multi.options.len(), 10);
    assert!(multi.options.contains(&"a,b".to_string()));
}
