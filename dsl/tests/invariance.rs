//! Cosmetic edits change no node: renaming or reordering definitions, reformatting and
//! comments leave every node's kind, parameters and inputs as they were.

mod common;

use common::*;
use exp_dsl::format::format_source;

fn study() -> (std::path::PathBuf, String) {
    let path = workspace().join("experiments/corpus-expansion.med");
    let text = std::fs::read_to_string(&path).expect("the study exists");
    (path, text)
}

/// Replaces whole-word occurrences of `from` (not inside longer identifiers).
fn rename(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().last();
        let after = rest[i + from.len()..].chars().next();
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..i]);
        out.push_str(if is_word(before) || is_word(after) { from } else { to });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn renaming_definitions_changes_no_structure() {
    let (path, text) = study();
    for profile in [None, Some("toy")] {
        let before = lower(&path, &text, profile);
        let mut renamed = text.clone();
        for (from, to) in
            [("en_dominant", "english_first"), ("pmc_en", "pmc_english"), ("base", "start_model"), ("llmjp", "tok")]
        {
            renamed = rename(&renamed, from, to);
        }
        assert_ne!(renamed, text);
        let after = lower(&path, &renamed, profile);
        assert_eq!(structure(&before), structure(&after));
        assert!(after.by_name("english_first").is_some() && after.by_name("cpt_english_first").is_some());
    }
}

#[test]
fn reordering_definitions_changes_nothing() {
    let (path, text) = study();
    let module = exp_dsl::parse::parse(0, &text).expect("parses");
    // Every top-level item, last first.
    let mut items: Vec<&str> = module.items.iter().map(|i| &text[i.span().start..i.span().end]).collect();
    items.reverse();
    let reordered = items.join("\n\n") + "\n";
    for profile in [None, Some("toy")] {
        let a = lower(&path, &text, profile);
        let b = lower(&path, &reordered, profile);
        assert_eq!(with_names(&a), with_names(&b));
        // Output order is independent of source order too.
        let keys = |g: &exp_dsl::Graph| g.nodes.iter().map(|n| (n.key.clone(), n.name.clone())).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
    }
}

#[test]
fn formatting_and_comments_change_nothing() {
    let (path, text) = study();
    let stripped: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    // Squash the layout: every run of spaces outside strings stays, newlines inside
    // brackets go.
    let squashed = stripped.replace(",\n  ", ", ").replace("{\n  ", "{ ").replace("(\n  ", "(");
    let formatted = format_source(&squashed).expect("formats");
    for variant in [&stripped, &squashed, &formatted] {
        for profile in [None, Some("toy")] {
            assert_eq!(with_names(&lower(&path, &text, profile)), with_names(&lower(&path, variant, profile)));
        }
    }
}

#[test]
fn equal_settings_written_differently_are_one_node() {
    let p = workspace().join("mem.med");
    let a = lower(
        &p,
        "experiment \"x\"\nsource s = jsonl(\"a.jsonl\", limit: 4k) { lang: en }\nreport r = corpus_card([{ s }])\n",
        None,
    );
    let b = lower(&p, "experiment \"x\"\nsource t = jsonl(lang: \"en\", path: \"./a.jsonl\", limit: 4_000)\nreport r = corpus_card([{ t * 1 }])\n", None);
    assert_eq!(structure(&a), structure(&b));
}

/// The structural key of a small graph is pinned: a change to lowering or to the key's
/// encoding must be deliberate (update the value and say why in the commit).
#[test]
fn golden_key() {
    let p = workspace().join("mem.med");
    let g =
        lower(&p, "experiment \"x\"\nsource s = jsonl(\"a.jsonl\", lang: en)\nreport r = corpus_card([{ s }])\n", None);
    let s = g.by_name("s").expect("node s");
    assert_eq!(s.key, GOLDEN_SOURCE_KEY, "{}", serde_json::to_string(&s.params).expect("json"));
}

const GOLDEN_SOURCE_KEY: &str = "e4d5a66fb5c7a7ee812439c1aafd1cda82ad48e2976ab3da381a7a7c454e2916";
