//! Benchmark: parse + check + lower a generated experiment of 1,000 nodes (goal: under
//! 20 ms on one core). Run with `cargo bench -p exp-dsl --bench check`; figures go in
//! `docs/performance.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use exp_dsl::{check_text, parse, Options};
use std::fmt::Write;
use std::path::Path;

/// 300 sources, 300 filters, 100 corpora of 5 members, and for each corpus a tokenised
/// dataset, a CPT run and an evaluation (written as one loop): 1,000 nodes and a report.
fn experiment() -> String {
    let mut s = String::from("experiment \"bench\"\ntokenizer tok = sentencepiece(\"tok.model\")\nmodel base = mixtral(preset: tiny, tokenizer: tok)\n");
    for i in 0..300 {
        let _ = writeln!(
            s,
            "source s{i} = jsonl(\"data/s{i}.jsonl\", lang: en, limit: {}k, meta: {{ doi: \"doi\" }})",
            i + 1
        );
    }
    for i in 0..300 {
        let _ = writeln!(s, "source f{i} = length(s{i}) {{ min_chars: {}, max_chars: 100k }}", i % 50 + 1);
    }
    let mut names = Vec::new();
    for c in 0..100 {
        let members: Vec<String> = (0..5).map(|m| format!("f{} * {}", (c * 3 + m) % 300, m + 1)).collect();
        let _ = writeln!(
            s,
            "corpus c{c} = {{ {} }} with {{ tokenizer: tok, budget: {}M tokens, seed: {c} }}",
            members.join(", "),
            c + 1
        );
        names.push(format!("c{c}"));
    }
    let _ = writeln!(
        s,
        "for c in [{}] {{\n  dataset d_{{c}} = tokenize(c, tok)\n  pretrain p_{{c}} = cpt(base, d_{{c}}) {{ lr: 1.5e-4 -> 1.5e-5 cosine, warmup: 3%, seq: 256 }}\n  eval e_{{c}} = jmedbench(p_{{c}}, tasks: [igakuqa(shots: 0), igakuqa(shots: 3), crade], data: \"bench\")\n}}",
        names.join(", ")
    );
    s.push_str("report r = compare(e_*)\n");
    s
}

fn bench(c: &mut Criterion) {
    let text = experiment();
    let catalog = exp_stages::catalog();
    let path = Path::new("bench.med");
    let checked = check_text(path, &text, &catalog, &Options::default());
    assert!(!checked.has_errors(), "the generated experiment checks");
    let nodes = checked.graph.as_ref().map_or(0, |g| g.nodes.len());
    assert!(nodes >= 1000, "{nodes} nodes");
    let mut group = c.benchmark_group(format!("{nodes} nodes, {} KiB", text.len() / 1024));
    group.bench_function("parse", |b| b.iter(|| parse::parse(0, &text).expect("parses")));
    group
        .bench_function("parse + check + lower", |b| b.iter(|| check_text(path, &text, &catalog, &Options::default())));
    group.bench_function("fmt", |b| b.iter(|| exp_dsl::format::format_source(&text).expect("formats")));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
