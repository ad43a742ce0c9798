//! Property tests. (1) For generated experiments written with random layout and comments,
//! and for every file in `experiments/`: `fmt` is idempotent and the formatted text lowers
//! to the same graph. (2) Parse + check of arbitrary input never panics and always ends
//! (the bounded, stable-Rust companion of the cargo-fuzz target in `dsl/fuzz/`).

mod common;

use common::*;
use exp_dsl::format::format_source;
use proptest::prelude::*;
use std::path::Path;

fn mem() -> std::path::PathBuf {
    workspace().join("experiments/generated.med")
}

/// A generated experiment as a list of tokens; the layout is chosen separately.
#[derive(Debug, Clone)]
struct Program {
    tokens: Vec<String>,
}

fn lang() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("en"), Just("ja"), Just("mixed")]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..5000).prop_map(|n| n.to_string()),
        (1u32..100).prop_map(|n| format!("{n}k")),
        (1u32..9, 1u32..9).prop_map(|(a, b)| format!("{a}.{b}M")),
        (1u32..1000).prop_map(|n| format!("1_{n:03}")),
    ]
}

/// Sources, filters over them, corpora with weights and budgets, a loop over the corpora
/// with interpolated names, and a report over a glob.
fn program() -> impl Strategy<Value = Program> {
    (
        prop::collection::vec((lang(), number(), any::<bool>()), 2..6),
        prop::collection::vec((0usize..6, 1u32..500), 0..3),
        prop::collection::vec((prop::collection::vec(any::<bool>(), 6), 1u32..4, any::<bool>()), 1..3),
        (1u32..9, prop::bool::ANY),
    )
        .prop_map(|(sources, filters, corpora, (seed, use_let))| {
            let mut t: Vec<String> = Vec::new();
            let mut push = |s: &str| t.extend(s.split(' ').filter(|x| !x.is_empty()).map(str::to_string));
            push("experiment \"generated\"");
            push("tokenizer tok = sentencepiece( \"tok.model\" )");
            if use_let {
                push(&format!("let seed = {seed}"));
            }
            for (i, (lang, limit, meta)) in sources.iter().enumerate() {
                let meta = if *meta { " , meta: { doi: \"doi\" , year: \"year\" }" } else { "" };
                push(&format!("source s{i} = jsonl( \"data/s{i}.jsonl\" , lang: {lang} , limit: {limit}{meta} )"));
            }
            let n = sources.len();
            for (j, (of, min)) in filters.iter().enumerate() {
                push(&format!("source f{j} = length( s{} ) {{ min_chars: {min} }}", of % n));
            }
            let mut corpus_names = Vec::new();
            for (k, (pick, weight, budget)) in corpora.iter().enumerate() {
                let mut members: Vec<String> = (0..n).filter(|i| pick[*i]).map(|i| format!("s{i}")).collect();
                if members.is_empty() {
                    members.push("s0".into());
                }
                members[0] = format!("{} * {weight}", members[0]);
                if *budget {
                    members.push(format!("s{} @ 10M tokens", n - 1).replace(' ', "\u{0}"));
                    members.dedup_by(|a, b| a.split(['\u{0}', ' ']).next() == b.split(['\u{0}', ' ']).next());
                }
                let seed = if use_let { "seed" } else { "3" };
                push(&format!("corpus c{k} = {{ {} }} with {{ tokenizer: tok , seed: {seed} }}", members.join(" , ")));
                corpus_names.push(format!("c{k}"));
            }
            push("model base = mixtral( preset: tiny , tokenizer: tok )");
            push(&format!("for c in [ {} ] {{", corpus_names.join(" , ")));
            push("dataset d_{c} = tokenize( c , tok )");
            // A schedule's shape belongs on its line: keep the schedule one token.
            push("pretrain p_{c} = cpt( base , d_{c} ) { lr: 1.5e-4\u{0}->\u{0}1.5e-5\u{0}cosine , warmup: 3% , seq: 256 }");
            push("eval e_{c} = jmedbench( p_{c} , tasks: [ igakuqa( shots: 3 ) , crade ] , data: \"bench\" )");
            push("}");
            push("report r = compare( e_* )");
            // `\0` kept "10M tokens" and the schedule together: they stay on one line.
            let tokens = t.into_iter().map(|x| x.replace('\u{0}', " ")).collect();
            Program { tokens }
        })
}

/// Joins tokens with random whitespace and comments. Inside a definition only spaces,
/// newlines and trailing comments go between tokens; between definitions any of them.
fn layout(p: &Program, seps: &[u8]) -> String {
    let mut out = String::new();
    for (i, tok) in p.tokens.iter().enumerate() {
        out.push_str(tok);
        let next = p.tokens.get(i + 1);
        let starts_item = next.is_some_and(|n| {
            [
                "experiment",
                "tokenizer",
                "let",
                "source",
                "corpus",
                "model",
                "for",
                "dataset",
                "pretrain",
                "eval",
                "report",
                "}",
            ]
            .contains(&n.as_str())
        });
        let sep = seps.get(i % seps.len().max(1)).copied().unwrap_or(0);
        out.push_str(match (starts_item, sep % 6) {
            (true, 0) => "\n\n# a note\n",
            (true, _) => "\n",
            (false, 0..=2) => " ",
            (false, 3) => "  ",
            (false, 4) => "\n    ",
            _ => " # why\n  ",
        });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fmt_is_idempotent_and_preserves_the_graph(p in program(), seps in prop::collection::vec(any::<u8>(), 1..64)) {
        let text = layout(&p, &seps);
        let graph = lower(&mem(), &text, None);
        let once = format_source(&text).expect("formats");
        let twice = format_source(&once).expect("formats again");
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(with_names(&graph), with_names(&lower(&mem(), &once, None)));
        // Every comment survives.
        prop_assert_eq!(text.matches('#').count(), once.matches('#').count());
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = check(&mem(), &text, None);
        let _ = format_source(&text);
    }

    #[test]
    fn mutated_experiments_never_panic(cut in 0usize..20_000, len in 0usize..40, insert in "[ -~\n]{0,12}") {
        let path = workspace().join("experiments/corpus-expansion.med");
        let text = std::fs::read_to_string(&path).expect("the study");
        let start = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count()).unwrap_or(0);
        let end = text[start..].char_indices().map(|(i, _)| start + i).nth(len).unwrap_or(text.len());
        let mutated = format!("{}{insert}{}", &text[..start], &text[end..]);
        let checked = check(&path, &mutated, Some("toy"));
        // Whatever the damage, any error comes with a diagnostic.
        prop_assert!(checked.graph.is_some() || checked.has_errors());
        let _ = format_source(&mutated);
    }
}

#[test]
fn experiments_are_fmt_fixed_points_with_the_same_graph() {
    let mut files = Vec::new();
    for dir in ["experiments", "experiments/lib"] {
        for e in std::fs::read_dir(workspace().join(dir)).expect("experiments/") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "med") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 2);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let formatted = format_source(&text).expect("formats");
        assert_eq!(format_source(&formatted).expect("formats"), formatted, "{}", path.display());
        let checked = check(&path, &text, None);
        for profile in std::iter::once(None).chain(checked.profiles.iter().map(|p| Some(p.as_str()))) {
            let a = lower(&path, &text, profile);
            let b = lower(&path, &formatted, profile);
            assert_eq!(with_names(&a), with_names(&b), "{} {profile:?}", path.display());
        }
    }
}

#[test]
fn binary_input_is_a_diagnostic() {
    let bytes: Vec<u8> = (0..2048u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let dir = tempfile_dir();
    let p = dir.join("garbage.med");
    std::fs::write(&p, bytes).expect("write");
    let checked = exp_dsl::check_file(&p, &exp_stages::catalog(), &exp_dsl::Options::default());
    assert!(checked.has_errors());
    let _ = Path::new(&p);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("exp-dsl-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
