//! What each construct lowers to: one focused test per construct, through the real
//! stage catalogue.

mod common;

use common::*;
use exp_dsl::{Graph, Node, Value};

fn g(text: &str) -> Graph {
    lower(&workspace().join("mem.med"), text, None)
}

fn node<'a>(g: &'a Graph, name: &str) -> &'a Node {
    g.by_name(name)
        .unwrap_or_else(|| panic!("no node `{name}` in {:?}", g.nodes.iter().map(|n| &n.name).collect::<Vec<_>>()))
}

fn member_names(g: &Graph, corpus: &str) -> Vec<String> {
    let mut names: Vec<String> = node(g, corpus)
        .inputs
        .iter()
        .filter(|i| i.role == "member")
        .map(|i| g.nodes.iter().find(|n| n.key == i.node).expect("member node").name.clone())
        .collect();
    names.sort();
    names
}

const HEAD: &str = "experiment \"t\"\ntokenizer tok = sentencepiece(\"tok.model\")\nsource a = jsonl(\"a.jsonl\", lang: en)\nsource b = jsonl(\"b.jsonl\", lang: ja)\nsource c = jsonl(\"c.jsonl\", lang: ja)\n";

#[test]
fn numbers_units_and_schedules_resolve() {
    let g = g(&format!(
        "{HEAD}corpus m = {{ a, b }} with {{ tokenizer: tok, budget: 44.2B tokens }}\ndataset d = tokenize(m, tok, shard_tokens: 4k)\nmodel base = mixtral(preset: tiny)\npretrain p = cpt(base, d) {{ lr: 1.5e-4 -> 1.5e-5, warmup: 3%, tokens: 2M }}\nfinetune s = sft(p, a, tok) {{ lr: 2e-6, warmup: 20 steps }}\n"
    ));
    assert_eq!(node(&g, "m").params["budget"], Value::Int(44_200_000_000));
    assert_eq!(node(&g, "d").params["shard_tokens"], Value::Int(4000));
    let p = node(&g, "p");
    assert_eq!(p.params["tokens"], Value::Int(2_000_000));
    assert_eq!(p.params["warmup"], Value::map([("fraction", Value::Float(0.03))]));
    assert_eq!(
        p.params["lr"],
        Value::map([
            ("peak", Value::Float(1.5e-4)),
            ("floor", Value::Float(1.5e-5)),
            ("shape", Value::Str("cosine".into()))
        ])
    );
    // The paper's defaults are filled in.
    assert_eq!(p.params["betas"], Value::List(vec![Value::Float(0.9), Value::Float(0.95)]));
    assert_eq!(p.params["global_batch"], Value::Int(1024));
    let s = node(&g, "s");
    assert_eq!(s.params["warmup"], Value::map([("steps", Value::Int(20))]));
    assert_eq!(s.params["lr"].get("shape"), Some(&Value::Str("constant".into())));
    assert_eq!(s.params["betas"], Value::List(vec![Value::Float(0.9), Value::Float(0.98)]));
}

#[test]
fn mixture_algebra_adds_removes_and_inherits() {
    let g = g(&format!(
        "{HEAD}corpus one = {{ a, b * 2 }} with {{ seed: 7 }}\ncorpus two = one + {{ c @ 1M tokens }} with {{ tokenizer: tok }}\ncorpus three = two - {{ b }} + {{ b * 3 }}\nreport r = corpus_card([one, two, three])\n"
    ));
    assert_eq!(member_names(&g, "one"), ["a", "b"]);
    assert_eq!(member_names(&g, "two"), ["a", "b", "c"]);
    assert_eq!(member_names(&g, "three"), ["a", "b", "c"]);
    // `with` is inherited: two keeps one's seed, three keeps both.
    assert_eq!(node(&g, "two").params["seed"], Value::Int(7));
    assert_eq!(node(&g, "three").params["seed"], Value::Int(7));
    assert!(node(&g, "three").inputs.iter().any(|i| i.role == "tokenizer"));
    // Weights and budgets travel with their members (members sorted by key).
    let weights: Vec<f64> = match &node(&g, "three").params["members"] {
        Value::List(ms) => ms.iter().map(|m| m.get("weight").and_then(Value::as_f64).expect("weight")).collect(),
        other => panic!("{other:?}"),
    };
    let mut sorted = weights.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, [1.0, 1.0, 3.0]);
    assert_ne!(node(&g, "two").key, node(&g, "three").key);
}

#[test]
fn member_order_does_not_matter() {
    let g = g(&format!("{HEAD}corpus x = {{ a, b, c }}\ncorpus y = {{ c, a, b }}\nreport r = corpus_card([x, y])\n"));
    assert_eq!(node(&g, "x").key, node(&g, "y").key);
}

#[test]
fn matrix_loops_interpolate_every_combination() {
    let g = g(&format!(
        "{HEAD}model base = mixtral(preset: tiny)\nfor s in [a, b], lr in [1e-4, 3e-4] {{\n  finetune sft_{{s}}_{{lr}} = sft(base, s, tok) {{ lr: lr }}\n}}\nfor lang in [\"en\", \"ja\"] {{\n  source only_{{lang}} = language(c, keep: [lang])\n}}\nreport r = corpus_card([{{ only_en, only_ja }}])\n"
    ));
    for name in ["sft_a_1e_4", "sft_a_3e_4", "sft_b_1e_4", "sft_b_3e_4"] {
        node(&g, name);
    }
    assert_eq!(node(&g, "sft_b_3e_4").params["lr"].get("peak"), Some(&Value::Float(3e-4)));
    assert_eq!(node(&g, "only_ja").params["keep"], Value::List(vec![Value::Str("ja".into())]));
}

#[test]
fn lets_profiles_and_globs() {
    let text = format!(
        "{HEAD}let n = 10\nlet langs = [en]\nprofile small {{\n  let n = 2\n}}\nsource f = language(a, keep: langs) {{}}\nsource g1 = length(f, min_chars: n)\nsource g2 = length(b, min_chars: n)\nreport r = corpus_card([{{ g* }}])\n"
    );
    let path = workspace().join("mem.med");
    let full = lower(&path, &text, None);
    let small = lower(&path, &text, Some("small"));
    assert_eq!(node(&full, "g1").params["min_chars"], Value::Int(10));
    assert_eq!(node(&small, "g1").params["min_chars"], Value::Int(2));
    assert_eq!(member_names(&full, "r.corpora[0]"), ["g1", "g2"]);
}

#[test]
fn override_replaces_an_imported_definition() {
    let dir = std::env::temp_dir().join(format!("exp-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp");
    std::fs::write(
        dir.join("main.med"),
        format!(
            "{HEAD}corpus mix = {{ a, b }}\ncorpus bigger = mix + {{ c }}\nreport r = corpus_card([mix, bigger])\n"
        ),
    )
    .expect("write");
    let variant = "experiment \"variant\"\nimport \"main.med\"\noverride corpus mix = { a }\n";
    let g = lower(&dir.join("variant.med"), variant, None);
    assert_eq!(g.experiment, "variant");
    assert_eq!(member_names(&g, "mix"), ["a"]);
    // What depends on the overridden definition follows it.
    assert_eq!(member_names(&g, "bigger"), ["a", "c"]);
}
