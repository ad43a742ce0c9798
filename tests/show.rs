//! `exp show --lowered` and `exp stages`.

use crate::util::{exp, root, Dir};

fn lowered(args: &[&str]) -> serde_yaml::Value {
    let out = exp(&root(), args);
    assert_eq!(out.status, 0, "{}", out.stderr);
    serde_yaml::from_str(&out.stdout).expect("YAML")
}

#[test]
fn the_study_lowers_to_its_graph() {
    let g = lowered(&["show", "--lowered", "experiments/corpus-expansion.med"]);
    let nodes = g["nodes"].as_sequence().expect("nodes");
    let by_name = |n: &str| nodes.iter().find(|x| x["name"] == n).unwrap_or_else(|| panic!("node {n}"));
    // Three corpora, each a flat mixture.
    let dominant = by_name("en_dominant");
    let balance = by_name("enja_balance");
    let hybrid = by_name("enja_hybrid");
    let members = |n: &serde_yaml::Value| {
        n["inputs"].as_sequence().expect("inputs").iter().filter(|i| i["role"] == "member").count()
    };
    assert_eq!(members(dominant), 12);
    assert_eq!(members(balance), 12 + 9);
    assert_eq!(members(hybrid), 12 + 9 - 2 + 2);
    assert_eq!(balance["params"]["budget"], 75_600_000_000u64);
    // Table 1, with units resolved.
    let cpt = by_name("cpt_enja_hybrid");
    assert_eq!(cpt["kind"], "cpt");
    assert_eq!(cpt["params"]["lr"]["peak"], 1.5e-4);
    assert_eq!(cpt["params"]["lr"]["floor"], 1.5e-5);
    assert_eq!(cpt["params"]["lr"]["shape"], "cosine");
    assert_eq!(cpt["params"]["warmup"]["fraction"], 0.03);
    assert_eq!(cpt["params"]["global_batch"], 1024);
    assert_eq!(cpt["params"]["parallel"]["ep"], 4);
    // Evaluations of three fine-tuned models and the base, compared in one report.
    let report = by_name("expansion");
    let evals = report["inputs"].as_sequence().expect("inputs").iter().filter(|i| i["role"] == "evals").count();
    assert_eq!(evals, 4);
}

#[test]
fn the_toy_profile_changes_only_what_it_sets() {
    let full = lowered(&["show", "--lowered", "experiments/corpus-expansion.med"]);
    let toy = lowered(&["show", "--lowered", "--profile", "toy", "experiments/corpus-expansion.med"]);
    assert_eq!(toy["profile"], "toy");
    let find = |g: &serde_yaml::Value, n: &str| {
        g["nodes"].as_sequence().expect("nodes").iter().find(|x| x["name"] == n).cloned().expect("node")
    };
    assert_eq!(find(&toy, "cpt_en_dominant")["params"]["seq"], 256);
    assert_eq!(find(&full, "cpt_en_dominant")["params"]["seq"], 4096);
    assert_eq!(find(&toy, "base")["kind"], "mixtral");
    assert_eq!(find(&full, "base")["kind"], "hf_checkpoint");
    // The tokenizer is the same file in both.
    assert_eq!(find(&toy, "llmjp")["key"], find(&full, "llmjp")["key"]);
}

#[test]
fn json_output_and_unknown_profiles() {
    let out = exp(&root(), &["show", "--lowered", "--format", "json", "experiments/corpus-expansion.med"]);
    assert_eq!(out.status, 0);
    let g: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(g["experiment"], "corpus-expansion");
    let bad = exp(&root(), &["show", "--lowered", "--profile", "tyo", "experiments/corpus-expansion.med"]);
    assert_eq!(bad.status, 1);
    assert!(bad.stderr.contains("the experiment has no profile `tyo`"), "{}", bad.stderr);
    assert!(bad.stderr.contains("did you mean `toy`?"), "{}", bad.stderr);
}

#[test]
fn stages_lists_kinds_and_their_parameters() {
    let d = Dir::new();
    let all = d.exp(&["stages"]);
    assert_eq!(all.status, 0);
    assert!(all.stdout.contains("cpt"));
    let cpt = d.exp(&["stages", "cpt"]);
    assert!(cpt.stdout.contains("warmup"), "{}", cpt.stdout);
    assert!(cpt.stdout.contains("default (0.9, 0.95)"), "{}", cpt.stdout);
    let typo = d.exp(&["stages", "cpy"]);
    assert_eq!(typo.status, 2);
    assert!(typo.stderr.contains("did you mean `cpt`?"), "{}", typo.stderr);
}
