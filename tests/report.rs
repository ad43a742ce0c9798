//! `compare` and `exp report` through the binary: two tiny models evaluated, compared in
//! tables and figures; the HTML page rendered by a real headless Chromium.

use crate::util::{headless_dom, root, shown_artifact, Dir};

fn experiment() -> String {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    format!(
        r#"experiment "report-e2e"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
let tasks = [igakuqa(shots: 0, years: [2021]), igakuqa(shots: 3, years: [2021]), crade, jcsts]
for seed in [1, 2] {{
  model m_{{seed}} = mixtral(preset: tiny, tokenizer: llmjp, seed: seed)
  eval eval_m_{{seed}} = jmedbench(m_{{seed}}, tasks: tasks, tokenizer: llmjp, data: "{data}", limit: 4, bootstrap: 20)
}}
report comparison = compare(eval_*)
"#
    )
}

#[test]
fn a_comparison_of_two_models_in_tables_and_figures() {
    let d = Dir::new();
    d.write("study.med", experiment());
    let out = d.exp(&["run", "study.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let artifact = shown_artifact(d.path(), &d.exp(&["show", "study.med", "comparison"]).stdout);

    let md = std::fs::read_to_string(artifact.join("report.md")).expect("report.md");
    assert!(md.contains("| task | category | lang | m_1 | m_2 |"), "{md}");
    assert!(md.contains("| igakuqa_3shot | mcqa | ja |"), "{md}");
    assert!(md.contains("## IgakuQA 0-shot and 3-shot"), "{md}");
    let csv = std::fs::read_to_string(artifact.join("scores.csv")).expect("scores.csv");
    assert_eq!(csv.lines().count(), 5, "a header and four tasks: {csv}");
    for figure in ["score_by_task", "score_by_category", "igakuqa_shots"] {
        let png = std::fs::read(artifact.join(format!("figures/{figure}.png"))).expect("a PNG");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{figure}.png");
        let svg = std::fs::read_to_string(artifact.join(format!("figures/{figure}.svg"))).expect("an SVG");
        assert!(svg.contains("<svg") && svg.contains("m_2"), "{figure}.svg has its legend");
    }

    // `exp report` names the files and prints the tables.
    let report = d.exp(&["report", "study.med"]);
    assert_eq!(report.status, 0, "{}", report.stderr);
    assert!(report.stdout.contains("report.html") && report.stdout.contains("| igakuqa_0shot |"), "{}", report.stdout);

    // A real browser renders the page: its tables and its inline figures.
    if let Some(dom) = headless_dom(&artifact.join("report.html")) {
        assert_eq!(dom.matches("<table>").count(), 3, "tasks, averages, IgakuQA: {dom}");
        assert_eq!(dom.matches("<svg").count(), 3, "three figures inline");
        assert!(dom.contains("<td>igakuqa_3shot</td>"));
    }
}

#[test]
fn exp_report_names_what_is_not_computed_yet() {
    let d = Dir::new();
    d.write("study.med", experiment());
    let out = d.exp(&["report", "study.med"]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr.contains("not computed yet: comparison; run `exp run --only comparison study.med`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_corpus_card_from_the_stored_lineage() {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let d = Dir::new();
    d.write(
        "card.med",
        format!(
            r#"experiment "card-e2e"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
source pmc = licence(jats("{data}/pmc-oa/*.nxml"), keep: ["CC0", "CC-BY"])
source abstracts = jsonl("{data}/pubmedqa/pqal.jsonl", text: "abstract", id: "pmid", lang: en, licence: "MIT")
corpus papers = {{ pmc, abstracts }} with {{
  tokenizer: llmjp,
  seed: 1,
  content: {{ pmc: "paper full text", abstracts: "paper abstracts" }},
}}
report card = corpus_card([papers])
"#
        ),
    );
    let out = d.exp(&["run", "card.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let artifact = shown_artifact(d.path(), &d.exp(&["show", "card.med", "card"]).stdout);
    let card = std::fs::read_to_string(artifact.join("card.md")).expect("card.md");
    let identity = |name: &str| -> String {
        let shown = d.exp(&["show", "card.med", name]).stdout;
        shown.lines().find_map(|l| l.strip_prefix("identity ")).expect("an identity").to_string()
    };
    // The corpus, its composition, each member and the chain that made it.
    assert!(card.contains(&format!("Identity `{}`", identity("papers"))), "{card}");
    assert!(card.contains("| paper full text |") && card.contains("| abstracts | paper abstracts |"), "{card}");
    // The licence filter with what it kept and dropped, and the reader below it with
    // the files it read.
    assert!(card.contains("**licence**(`keep: [\"CC0\",\"CC-BY\"]`) — dropped "), "{card}");
    assert!(card.contains(&format!("identity `{}`", &identity("pmc")[..12])), "{card}");
    assert!(card.contains("**jats**(") && card.contains("file `path/pone.0000217.nxml` blake3 `"), "{card}");
    assert!(card.contains("licence: \"MIT\""), "{card}");
}
