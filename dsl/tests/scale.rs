//! Large experiments: the 100,000-node sweep that `bench/plan.sh` plans, written with
//! `for` loops, expands and checks (correctness only: its timing is the benchmark's), and a
//! loop past the definition bound is refused with a diagnostic naming it.

mod common;

use common::*;
use exp_dsl::Code;

/// The shape `bench/plan.sh` generates: an anchor source, then for each of `files` files
/// and each of 50 limits a source and a mixture of it with the anchor.
fn sweep(files: usize) -> String {
    let paths: Vec<String> = (0..files).map(|i| format!("\"data/f{i}.jsonl\"")).collect();
    let docs: Vec<String> = (1..=50).map(|k| format!("{k} docs")).collect();
    format!(
        "experiment \"plan-bench\"\n\nsource anchor = jsonl(\"data/anchor.jsonl\", lang: en)\n\n\
         for file in [{}] {{\n  for limit in [{}] {{\n    source src_{{file}}_{{limit}} = jsonl(file, lang: en, limit: limit)\n    \
         corpus mix_{{file}}_{{limit}} = {{ src_{{file}}_{{limit}}, anchor * 2 }} with {{ seed: 1 }}\n  }}\n}}\n",
        paths.join(", "),
        docs.join(", ")
    )
}

#[test]
fn a_sweep_of_100_000_nodes_written_with_loops_expands_and_checks() {
    let text = sweep(1000);
    let checked = check(&workspace().join("plan.med"), &text, None);
    assert!(
        checked.diagnostics.is_empty(),
        "{}",
        exp_dsl::diagnostic::render(&checked.sources, &checked.diagnostics[..3.min(checked.diagnostics.len())], false)
    );
    let g = checked.graph.expect("a graph");
    assert_eq!(g.nodes.len(), 100_001);
    // Every name the loops make is there once, and the last iteration's mixture has the
    // last source and the anchor as members.
    let mut names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 100_001);
    let last = g.by_name("mix_data_f999_jsonl_50").expect("the last mixture");
    let src = g.by_name("src_data_f999_jsonl_50").expect("the last source");
    let anchor = g.by_name("anchor").expect("the anchor");
    let mut members: Vec<&str> = last.inputs.iter().map(|i| i.node.as_str()).collect();
    members.sort_unstable();
    let mut expected = vec![src.key.as_str(), anchor.key.as_str()];
    expected.sort_unstable();
    assert_eq!(members, expected);
    assert_eq!(src.params["limit"], exp_dsl::Value::Int(50));
}

#[test]
fn a_loop_past_the_definition_bound_is_an_error_naming_the_loop() {
    // 1,001 × 1,000 iterations: a few kilobytes asking for a million definitions and more.
    let list = |n: usize| format!("[{}]", (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
    let text = format!(
        "experiment \"x\"\nsource s = jsonl(\"s.jsonl\")\nfor a in {}, b in {} {{\n  report r_{{a}}_{{b}} = corpus_card([{{ s }}])\n}}\n",
        list(1001),
        list(1000)
    );
    let checked = check(&workspace().join("too-many.med"), &text, None);
    assert!(checked.graph.is_none());
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "one error, not one per iteration");
    assert_eq!(errors[0].code, Code::TooManyDefinitions);
    let shown = exp_dsl::diagnostic::render(&checked.sources, &checked.diagnostics, false);
    assert!(shown.contains("the experiment expands to more than 1,000,000 definitions"), "{shown}");
    assert!(shown.contains("too-many.med:3:1"), "{shown}");
    assert!(shown.contains("1,001 × 1,000 iterations of 1 definition"), "{shown}");
}
