//! `exp fmt`.

use crate::util::{exp, root, Dir};

#[test]
fn the_experiments_are_formatted() {
    let out = exp(&root(), &["fmt", "--check", "experiments/corpus-expansion.med", "experiments/lib/jmedbench.med"]);
    assert_eq!(out.status, 0, "{}", out.stdout);
}

#[test]
fn fmt_rewrites_in_place_and_check_reports_without_writing() {
    let d = Dir::new();
    let messy =
        "experiment   \"x\"   # the study\nsource a=jsonl(\"a.jsonl\",lang:en)\n\n\n\nreport r=corpus_card([{a}])\n";
    d.write("m.med", messy);
    let check = d.exp(&["fmt", "--check", "m.med"]);
    assert_eq!(check.status, 1);
    assert!(check.stdout.contains("m.med is not formatted"), "{}", check.stdout);
    assert!(check.stdout.contains("+source a = jsonl(\"a.jsonl\", lang: en)"), "{}", check.stdout);
    assert_eq!(d.read("m.med"), messy, "--check writes nothing");

    let out = d.exp(&["fmt", "m.med"]);
    assert_eq!(out.status, 0);
    assert_eq!(
        d.read("m.med"),
        "experiment \"x\" # the study\nsource a = jsonl(\"a.jsonl\", lang: en)\n\nreport r = corpus_card([{ a }])\n"
    );
    assert_eq!(d.exp(&["fmt", "--check", "m.med"]).status, 0, "idempotent");
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse() {
    let d = Dir::new();
    d.write("bad.med", "experiment \"x\"\nsource a jsonl()\n");
    let out = d.exp(&["fmt", "bad.med"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("bad.med:2:10"), "{}", out.stderr);
    assert_eq!(d.read("bad.med"), "experiment \"x\"\nsource a jsonl()\n");
}
