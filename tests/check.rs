//! `exp check`.

use crate::util::{exp, root, Dir};

#[test]
fn the_study_and_its_library_check_cleanly() {
    let out = exp(&root(), &["check", "experiments/corpus-expansion.med", "experiments/lib/jmedbench.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("experiments/corpus-expansion.med: ok (0 errors, 0 warnings)"), "{}", out.stderr);
}

#[test]
fn errors_exit_1_with_file_line_column() {
    let d = Dir::new();
    d.write("bad.med", "experiment \"x\"\nsource a = jsonl(\"a.jsonl\", lang: fr)\n");
    let out = d.exp(&["check", "bad.med"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("error[E0212]: `fr` is not a valid `lang`"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.med:2:35"), "{}", out.stderr);
    assert!(out.stderr.contains("source a = jsonl(\"a.jsonl\", lang: fr)"), "the source line is shown: {}", out.stderr);
}

#[test]
fn warnings_alone_exit_0_unless_denied() {
    let d = Dir::new();
    d.write("w.med", "experiment \"x\"\nlet unused = 1\n");
    assert_eq!(d.exp(&["check", "w.med"]).status, 0);
    assert_eq!(d.exp(&["check", "--deny-warnings", "w.med"]).status, 1);
}

#[test]
fn plain_when_piped_and_coloured_on_request() {
    let d = Dir::new();
    d.write("bad.med", "experiment \"x\"\nsource a = jsnol(\"a\")\n");
    let plain = d.exp(&["check", "bad.med"]);
    assert!(!plain.stderr.contains('\u{1b}'), "no escapes when piped");
    let coloured = d.exp(&["check", "--color", "always", "bad.med"]);
    assert!(coloured.stderr.contains("\u{1b}["), "escapes with --color always");
}

#[test]
fn one_bad_file_among_several_fails_the_run() {
    let d = Dir::new();
    d.write("good.med", "experiment \"g\"\n");
    d.write("bad.med", "experiment \"b\"\nsource s = nope()\n");
    let out = d.exp(&["check", "good.med", "bad.med"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("good.med: ok"));
    assert!(out.stderr.contains("bad.med: failed (1 error"));
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let d = Dir::new();
    d.write("bad.med", "experiment \"x\"\nsource a = jsnol(\"a\")\n");
    let out = d.exp(&["check", "--format", "json", "bad.med"]);
    assert_eq!(out.status, 1);
    let all: Vec<serde_json::Value> = out.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(all.len(), 2, "an error and an unused-definition warning");
    let first = all.iter().find(|d| d["severity"] == "error").expect("an error");
    assert_eq!(first["code"], "E0201");
    assert_eq!(first["primary"]["line"], 2);
    assert_eq!(first["primary"]["column"], 12);
    assert_eq!(first["help"][0], "did you mean `jsonl`?");
}

#[test]
fn a_missing_file_is_a_diagnostic_not_a_crash() {
    let d = Dir::new();
    let out = d.exp(&["check", "nowhere.med"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("cannot read `nowhere.med`: no such file"), "{}", out.stderr);
}

#[test]
fn every_profile_is_checked() {
    let d = Dir::new();
    d.write("p.med", "experiment \"x\"\nlet n = 10\nprofile toy {\n  let n = -1\n}\nsource s = jsonl(\"s\", limit: n)\nreport r = corpus_card([{ s }])\n");
    let out = d.exp(&["check", "p.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("`limit` must be at least 0"), "{}", out.stderr);
    // Checked with its own values only, the file is fine apart from the report.
    let own = d.exp(&["check", "--profile", "toy", "p.med"]);
    assert_eq!(own.status, 1);
}

#[test]
fn hostile_inputs_get_diagnostics_not_panics() {
    let d = Dir::new();
    let nested = format!("experiment \"x\"\nlet a = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000));
    d.write("nested.med", nested);
    let mut garbage = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    d.write("garbage.med", garbage);
    // 10 MB: one definition repeated, each with its own name (about 190,000)…
    let mut big = String::from("experiment \"big\"\n");
    let mut i = 0;
    while big.len() < 10 << 20 {
        big.push_str(&format!("source s{i} = jsonl(\"data/part-{i}.jsonl\", lang: en) # {i}\n"));
        i += 1;
    }
    // …and a loop asking for a million definitions more: the bound on what loops expand
    // to (E0112) is reached, not memory.
    let list = format!("[{}]", (0..1001).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
    big.push_str(&format!("for a in {list}, b in {list} {{\n  source t_{{a}}_{{b}} = jsonl(\"t.jsonl\")\n}}\n"));
    d.write("big.med", big);
    for (file, code) in [("nested.med", "E0003"), ("garbage.med", "E000"), ("big.med", "E0112")] {
        let out = d.exp(&["check", file]);
        assert_eq!(out.status, 1, "{file}: {}", out.stderr);
        assert!(out.stderr.contains(code), "{file}: {}", &out.stderr[..out.stderr.len().min(2000)]);
        assert!(!out.stderr.contains("panicked"), "{file}");
    }
}

#[test]
fn imports_resolve_relative_to_the_importing_file() {
    let d = Dir::new();
    d.write("lib/suite.med", "let tasks = [igakuqa(shots: 0), crade]\n");
    d.write(
        "study/x.med",
        "experiment \"x\"\nimport \"../lib/suite.med\"\nmodel m = mixtral(preset: tiny)\neval e = jmedbench(m, tasks: tasks, data: \"bench\")\n",
    );
    let out = d.exp(&["check", "study/x.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
}
