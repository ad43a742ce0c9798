//! `compare`: the study's comparison across models and corpora, from the graph's
//! evaluation nodes (`scores.json`), the corpora (`composition.json`) and the trained
//! models (`train_log.jsonl`). Writes `report.md`, `report.html` (self-contained: the
//! figures are inline SVG), `scores.csv`, `averages.csv` and `figures/*.{svg,png}`: the
//! analogues of the paper's Figure 2 (composition), Figures 3–4 (score by corpus and by
//! category) and Figure 5 (IgakuQA 0/3-shot), and the CPT loss curves.

use super::figures::{Chart, Figure};
use super::table::Table;
use super::text::{html as escape, markdown as md};
use super::NoParams;
use crate::artifacts::{self, Composition, Counts, Scores, StepMetrics, TaskScore};
use crate::params::typed;
use crate::{Context, Stage, StageError};
use exp_dsl::schema::{Artifact, KindSchema, Param, Role, Ty};
use std::collections::BTreeMap;

pub static COMPARE: KindSchema = KindSchema {
    name: "compare",
    // 2: implemented; `by` and `plot` gave way to every table and figure.
    // 3: what users and data wrote (content types, labels) is Markdown-escaped in report.md.
    version: 3,
    output: Artifact::Report,
    role: Role::Plain,
    params: &[
        Param::required("evals", Ty::List(&Ty::Input(&[Artifact::Scores])), "evaluations to compare (e.g. `eval_*`)"),
        Param::optional("corpora", Ty::List(&Ty::Input(&[Artifact::Corpus])), "corpora whose composition to chart"),
        Param::optional(
            "training",
            Ty::List(&Ty::Input(&[Artifact::Model])),
            "trained models whose loss curves to plot (e.g. `cpt_*`)",
        ),
    ],
    doc: "tables and figures comparing models and corpora",
    typed: typed::<NoParams>(),
};

pub struct Compare;

/// One evaluated model: its label (the eval node's name without `eval_`) and scores.
struct Evaluated {
    label: String,
    scores: Scores,
}

/// A corpus's tallies by language (`by_language`) or by content type (`by_content`).
fn groups<'c>(c: &'c Composition, key: &str) -> &'c BTreeMap<String, Counts> {
    if key == "by_language" {
        &c.total.by_language
    } else {
        &c.total.by_content
    }
}

/// The tokens of one language or content type of a corpus, 0 when it has none.
fn tokens_of(c: &Composition, key: &str, part: &str) -> f64 {
    groups(c, key).get(part).and_then(|g| g.tokens).unwrap_or(0) as f64
}

fn label(name: &str) -> String {
    name.strip_prefix("eval_").unwrap_or(name).to_string()
}

fn fmt(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

impl Stage for Compare {
    fn schema(&self) -> &'static KindSchema {
        &COMPARE
    }

    /// The report titles itself, its columns and its curves by definition names.
    fn shows_names(&self) -> bool {
        true
    }

    fn run(&self, ctx: &Context) -> Result<(), StageError> {
        let mut evals: Vec<Evaluated> = ctx
            .inputs_for("evals")
            .map(|i| Ok(Evaluated { label: label(&i.name), scores: artifacts::read(&i.dir)? }))
            .collect::<Result<_, StageError>>()?;
        // Columns in a stable order, whatever order a glob matched them in.
        evals.sort_by(|a, b| a.label.cmp(&b.label));
        let corpora: Vec<(String, Composition)> = ctx
            .inputs_for("corpora")
            .map(|i| Ok((i.name.clone(), artifacts::read(&i.dir)?)))
            .collect::<Result<_, StageError>>()?;
        let training: Vec<(String, Vec<StepMetrics>)> = ctx
            .inputs_for("training")
            .map(|i| Ok((i.name.clone(), artifacts::read_lines(&i.dir.join(artifacts::TRAIN_LOG))?)))
            .collect::<Result<_, StageError>>()?;
        let figures_dir = crate::files::inside(ctx.out, "figures")?;
        std::fs::create_dir_all(&figures_dir).map_err(StageError::io(&figures_dir))?;

        let tasks = task_table(&evals);
        let averages = averages_table(&evals);
        let shots = shots_table(&evals);
        let composition: Vec<(String, Table)> = ["by_language", "by_content"]
            .iter()
            .filter(|_| !corpora.is_empty())
            .map(|key| (key.replace('_', " "), composition_table(&corpora, key)))
            .collect();

        let mut figures = vec![
            Figure {
                name: "score_by_task".into(),
                title: "Score by task (accuracy, F1 or Pearson × 100; BLEU)".into(),
                chart: bars_of(&tasks, 3, "score"),
            },
            Figure {
                name: "score_by_category".into(),
                title: "Averages by category and language".into(),
                chart: bars_of(&averages, 1, "average score"),
            },
        ];
        if !shots.rows.is_empty() {
            figures.push(Figure {
                name: "igakuqa_shots".into(),
                title: "IgakuQA: 0-shot and 3-shot accuracy".into(),
                chart: shots_chart(&evals),
            });
        }
        for (key, title) in
            [("by_language", "Corpus composition by language"), ("by_content", "Corpus composition by content type")]
        {
            if !corpora.is_empty() {
                figures.push(Figure {
                    name: format!("composition_{key}"),
                    title: title.into(),
                    chart: composition_chart(&corpora, key),
                });
            }
        }
        if !training.is_empty() {
            figures.push(Figure {
                name: "training_loss".into(),
                title: "Training loss".into(),
                chart: loss_chart(&training),
            });
        }
        let mut drawn = Vec::new();
        for f in &figures {
            let svg = f.write(&figures_dir).map_err(StageError::Param)?;
            drawn.push((f, svg));
        }

        let write = |name: &str, text: String| -> Result<(), StageError> {
            let path = crate::files::inside(ctx.out, name)?;
            std::fs::write(&path, text).map_err(StageError::io(&path))
        };
        write("scores.csv", tasks.to_csv())?;
        write("averages.csv", averages.to_csv())?;
        let sections: Vec<(String, &Table)> = [
            ("Scores by task".to_string(), &tasks),
            ("Averages (category, language, overall)".to_string(), &averages),
            ("IgakuQA 0-shot and 3-shot".to_string(), &shots),
        ]
        .into_iter()
        .chain(composition.iter().map(|(k, t)| (format!("Corpus composition {k} (tokens)"), t)))
        .filter(|(_, t)| !t.rows.is_empty())
        .collect();
        write("report.md", markdown(ctx.name, &sections, &figures))?;
        write("report.html", html(ctx.name, &sections, &drawn))?;
        for e in &evals {
            if let Some(v) = e.scores.averages.overall {
                ctx.reporter.metric(&format!("overall/{}", e.label), None, v);
            }
        }
        ctx.reporter.log(&format!("{} models, {} corpora, {} figures", evals.len(), corpora.len(), figures.len()));
        Ok(())
    }
}

/// Task × model, the score with its interval.
fn task_table(evals: &[Evaluated]) -> Table {
    let mut tasks: Vec<(String, String, String)> = Vec::new();
    for e in evals {
        for t in &e.scores.tasks {
            let key = (t.task.clone(), t.category.name().to_string(), t.lang.name().to_string());
            if !tasks.contains(&key) {
                tasks.push(key);
            }
        }
    }
    let mut header = vec!["task".to_string(), "category".to_string(), "lang".to_string()];
    header.extend(evals.iter().map(|e| e.label.clone()));
    let rows = tasks
        .iter()
        .map(|(task, category, lang)| {
            let mut row = vec![task.clone(), category.clone(), lang.clone()];
            for e in evals {
                let t = e.scores.tasks.iter().find(|t| t.task == *task);
                row.push(t.map_or_else(String::new, |t: &TaskScore| {
                    // An undefined bound was written as `null`: no interval then.
                    let ci = match t.ci {
                        Some((lo, hi)) if lo.is_finite() && hi.is_finite() => format!(" [{lo:.1}, {hi:.1}]"),
                        _ => String::new(),
                    };
                    format!("{}{ci}", fmt(Some(t.score)))
                }));
            }
            row
        })
        .collect();
    Table { header, rows }
}

/// A model's averages per category (`categories`) or per language (`languages`).
fn group_of<'e>(e: &'e Evaluated, group: &str) -> &'e BTreeMap<String, f64> {
    let a = &e.scores.averages;
    if group == "categories" {
        &a.categories
    } else {
        &a.languages
    }
}

/// Averages per category, per language and overall, per model.
fn averages_table(evals: &[Evaluated]) -> Table {
    let mut keys: Vec<(String, String)> = Vec::new();
    for group in ["categories", "languages"] {
        for e in evals {
            for k in group_of(e, group).keys() {
                if !keys.contains(&(group.to_string(), k.clone())) {
                    keys.push((group.to_string(), k.clone()));
                }
            }
        }
    }
    keys.push(("overall".into(), "overall".into()));
    let mut header = vec!["average".to_string()];
    header.extend(evals.iter().map(|e| e.label.clone()));
    let rows = keys
        .iter()
        .map(|(group, k)| {
            let mut row = vec![k.clone()];
            for e in evals {
                let v = if group == "overall" { e.scores.averages.overall } else { group_of(e, group).get(k).copied() };
                row.push(fmt(v));
            }
            row
        })
        .collect();
    Table { header, rows }
}

/// IgakuQA 0-shot and 3-shot per model.
fn shots_table(evals: &[Evaluated]) -> Table {
    let shot_tasks = |e: &Evaluated| -> Vec<(String, f64)> {
        e.scores
            .tasks
            .iter()
            .filter(|t| t.task.starts_with("igakuqa") && t.score.is_finite())
            .map(|t| (t.task.clone(), t.score))
            .collect()
    };
    let mut names: Vec<String> = evals.iter().flat_map(|e| shot_tasks(e).into_iter().map(|(n, _)| n)).collect();
    names.sort();
    names.dedup();
    let mut header = vec!["model".to_string()];
    header.extend(names.iter().cloned());
    let rows = evals
        .iter()
        .map(|e| {
            let scores = shot_tasks(e);
            let mut row = vec![e.label.clone()];
            row.extend(names.iter().map(|n| fmt(scores.iter().find(|(m, _)| m == n).map(|s| s.1))));
            row
        })
        .collect();
    Table { header, rows: if names.is_empty() { Vec::new() } else { rows } }
}

/// The languages (or content types) any of the corpora has, sorted.
fn composition_parts(corpora: &[(String, Composition)], key: &str) -> Vec<String> {
    let mut parts: Vec<String> = corpora.iter().flat_map(|(_, c)| groups(c, key).keys().cloned()).collect();
    parts.sort();
    parts.dedup();
    parts
}

/// Tokens of each corpus by language or content type, with shares.
fn composition_table(corpora: &[(String, Composition)], key: &str) -> Table {
    let parts = composition_parts(corpora, key);
    let mut header = vec![key.trim_start_matches("by_").to_string()];
    header.extend(corpora.iter().map(|(n, _)| n.clone()));
    let rows = parts
        .iter()
        .map(|p| {
            let mut row = vec![p.clone()];
            for (_, c) in corpora {
                let tokens = tokens_of(c, key, p);
                let total = (c.total.tokens.unwrap_or(0) as f64).max(1.0);
                row.push(format!("{tokens:.0} ({:.1}%)", 100.0 * tokens / total));
            }
            row
        })
        .collect();
    Table { header, rows }
}

/// Bars from a table whose first `skip` columns are labels and the rest one per model.
fn bars_of(table: &Table, skip: usize, y_label: &str) -> Chart {
    let number = |cell: &str| cell.split_whitespace().next().and_then(|v| v.parse::<f64>().ok());
    Chart::Bars {
        categories: table.rows.iter().map(|r| r[0].clone()).collect(),
        series: table.header[skip..]
            .iter()
            .enumerate()
            .map(|(j, model)| (model.clone(), table.rows.iter().map(|r| number(&r[skip + j])).collect()))
            .collect(),
        y_label: y_label.into(),
    }
}

fn shots_chart(evals: &[Evaluated]) -> Chart {
    let table = shots_table(evals);
    // Models along the axis, one bar per setting (0-shot, 3-shot).
    let number = |cell: &str| cell.parse::<f64>().ok();
    Chart::Bars {
        categories: table.rows.iter().map(|r| r[0].clone()).collect(),
        series: table.header[1..]
            .iter()
            .enumerate()
            .map(|(j, setting)| (setting.clone(), table.rows.iter().map(|r| number(&r[1 + j])).collect()))
            .collect(),
        y_label: "accuracy (%)".into(),
    }
}

fn composition_chart(corpora: &[(String, Composition)], key: &str) -> Chart {
    let parts = composition_parts(corpora, key);
    Chart::Stacked {
        categories: corpora.iter().map(|(n, _)| n.clone()).collect(),
        parts: parts.iter().map(|p| (p.clone(), corpora.iter().map(|(_, c)| tokens_of(c, key, p)).collect())).collect(),
    }
}

fn loss_chart(training: &[(String, Vec<StepMetrics>)]) -> Chart {
    Chart::Lines {
        series: training
            .iter()
            .map(|(name, steps)| {
                let points: BTreeMap<u64, f64> =
                    steps.iter().filter(|s| s.loss.is_finite()).map(|s| (s.tokens, s.loss)).collect();
                (name.clone(), points.into_iter().map(|(x, y)| (x as f64, y)).collect())
            })
            .collect(),
        x_label: "tokens".into(),
        y_label: "loss (nats)".into(),
    }
}

fn markdown(title: &str, sections: &[(String, &Table)], figures: &[Figure]) -> String {
    let mut out = format!("# {}\n\nScores are on a 0–100 scale: accuracy, F1 or Pearson's r × 100, BLEU as is; [95% bootstrap interval].\n", md(title));
    for (heading, table) in sections {
        out.push_str(&format!("\n## {}\n\n{}", md(heading), table.to_markdown()));
    }
    out.push_str("\n## Figures\n\n");
    for f in figures {
        out.push_str(&format!("![{}](figures/{}.png)\n\n", md(&f.title), f.name));
    }
    out
}

fn html(title: &str, sections: &[(String, &Table)], figures: &[(&Figure, String)]) -> String {
    let mut body = String::new();
    for (heading, table) in sections {
        body.push_str(&format!("<h2>{}</h2>\n{}", escape(heading), table.to_html()));
    }
    body.push_str("<h2>Figures</h2>\n");
    for (f, svg) in figures {
        body.push_str(&format!(
            "<figure id=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
            escape(&f.name),
            escape(&f.title)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
td:first-child,th:first-child{{text-align:left}}th{{background:#f3f3f3}}figure{{margin:2em 0}}svg{{max-width:100%;height:auto}}\
</style></head><body>\n<h1>{t}</h1>\n<p>Scores are on a 0–100 scale: accuracy, F1 or Pearson's r × 100, BLEU as is; [95% bootstrap interval].</p>\n{body}</body></html>\n",
        t = escape(title)
    )
}
