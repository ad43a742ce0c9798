//! Snapshot tests of rendered diagnostics: one snapshot per file in
//! `tests/fixtures/invalid/`, the whole output of `exp check` as a user sees it when piped.
//! A fixture `NAME.med` may have a sidecar `NAME.args` with more arguments for `exp check`
//! (one line, split at spaces: `--profile tiny`), for codes that only a command line gives.
//!
//! And the one table of codes ([`exp_dsl::Code`]), the error catalogue of
//! `docs/language.md` (`### E0204: wrong type`) and the fixtures agree: every code has an
//! entry with its title and a fixture whose output shows it; the catalogue and the fixtures
//! show no code the table lacks.

use crate::util::{exp, root, Output};
use exp_dsl::Code;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `exp check` of a fixture, with the arguments of its `.args` file first.
fn check_fixture(dir: &Path, name: &str) -> Output {
    let args_file = dir.join(Path::new(name).with_extension("args"));
    let extra = std::fs::read_to_string(args_file).unwrap_or_default();
    let mut args = vec!["check"];
    args.extend(extra.split_whitespace());
    args.push(name);
    exp(dir, &args)
}

#[test]
fn invalid_fixtures() {
    let dir = root().join("tests/fixtures/invalid");
    insta::glob!("fixtures/invalid/*.med", |path| {
        let name = path.file_name().expect("a file").to_str().expect("UTF-8 name");
        let out = check_fixture(&dir, name);
        assert_eq!(out.status, 1, "{name} must fail: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{name}");
        insta::assert_snapshot!(out.stderr);
    });
}

#[test]
fn warnings_only_fixtures_pass() {
    let dir = root().join("tests/fixtures/warnings");
    insta::glob!("fixtures/warnings/*.med", |path| {
        let name = path.file_name().expect("a file").to_str().expect("UTF-8 name");
        let out = check_fixture(&dir, name);
        assert_eq!(out.status, 0, "{name} has warnings only: {}", out.stderr);
        insta::assert_snapshot!(out.stderr);
    });
}

/// The codes in rendered diagnostics: `error[E0204]: …`, `warning[W0001]: …`.
fn shown_codes(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("error[").or_else(|| l.strip_prefix("warning[")))
        .filter_map(|l| l.split_once("]: ").map(|(code, _)| code.to_string()))
        .collect()
}

/// The catalogue's entries: `### E0204: wrong type` gives `E0204` → `wrong type`.
fn catalogue() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).expect("docs/language.md");
    let start = doc.find("\n## 6. Error catalogue").expect("docs/language.md has §6 Error catalogue");
    let section = &doc[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|l| l.split_once(": "))
        .map(|(code, title)| (code.to_string(), title.to_string()))
        .collect()
}

#[test]
fn every_code_has_a_catalogue_entry_and_a_fixture() {
    let table: BTreeMap<String, &str> = Code::ALL.iter().map(|c| (c.as_str().to_string(), c.title())).collect();
    let documented = catalogue();
    let mut problems = Vec::new();
    for (code, title) in &table {
        match documented.get(code) {
            None => problems.push(format!("{code} has no `### {code}: {title}` entry in docs/language.md §6")),
            Some(t) if t != title => problems
                .push(format!("{code}'s catalogue entry is titled `{t}`, the table (dsl/src/codes.rs) says `{title}`")),
            Some(_) => {}
        }
    }
    for code in documented.keys().filter(|c| !table.contains_key(*c)) {
        problems.push(format!("docs/language.md documents {code}, which dsl/src/codes.rs does not have"));
    }
    // Which codes the fixtures show, run as the snapshot tests run them.
    let mut shown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for folder in ["invalid", "warnings"] {
        let dir = root().join("tests/fixtures").join(folder);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("the fixture folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".med"))
            .collect();
        names.sort();
        for name in names {
            for code in shown_codes(&check_fixture(&dir, &name).stderr) {
                shown.entry(code).or_default().push(format!("{folder}/{name}"));
            }
        }
    }
    for code in table.keys().filter(|c| !shown.contains_key(*c)) {
        problems.push(format!("{code} has no fixture in tests/fixtures/ whose `exp check` output shows it"));
    }
    for (code, fixtures) in shown.iter().filter(|(c, _)| !table.contains_key(*c)) {
        problems.push(format!("{} show {code}, which dsl/src/codes.rs does not have", fixtures.join(", ")));
    }
    assert!(problems.is_empty(), "diagnostic codes, catalogue and fixtures disagree:\n{}", problems.join("\n"));
}
