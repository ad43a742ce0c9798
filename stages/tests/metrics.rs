//! The metrics against the values SacreBLEU, SciPy and scikit-learn computed on the same
//! inputs (`fixtures/metrics/make_fixture.py`, versions in `versions.txt` there).

use exp_stages::metrics::{bleu_stats_13a, cohen_kappa, pearson, sentence_bleu_13a, tokenize_13a, KappaWeights};

fn expected() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON")
}

#[test]
fn bleu_matches_sacrebleu_13a() {
    let e = expected();
    let cases = e["bleu"].as_array().expect("cases");
    let mut corpus = exp_stages::metrics::BleuStats::default();
    for case in cases {
        let (hyp, reference) = (case["hyp"].as_str().expect("hyp"), case["ref"].as_str().expect("ref"));
        assert_eq!(tokenize_13a(hyp.trim_end()), case["tokens"].as_str().expect("tokens"), "{hyp}");
        let ours = sentence_bleu_13a(hyp, &[reference]);
        let theirs = case["sentence_bleu"].as_f64().expect("score");
        assert!((ours - theirs).abs() < 1e-9, "{hyp}: {ours} vs {theirs}");
        corpus.add(&bleu_stats_13a(hyp, &[reference]));
    }
    let theirs = e["corpus_bleu"].as_f64().expect("corpus");
    assert!((corpus.score(false) - theirs).abs() < 1e-9, "{} vs {theirs}", corpus.score(false));
}

#[test]
fn pearson_and_kappa_match_scipy_and_scikit_learn() {
    let e = expected();
    let floats = |v: &serde_json::Value| -> Vec<f64> { serde_json::from_value(v.clone()).expect("numbers") };
    let r = pearson(&floats(&e["pearson"]["x"]), &floats(&e["pearson"]["y"])).expect("defined");
    assert!((r - e["pearson"]["r"].as_f64().expect("r")).abs() < 1e-12);
    let labels = |v: &serde_json::Value| -> Vec<i64> { serde_json::from_value(v.clone()).expect("labels") };
    let (gold, pred) = (labels(&e["kappa"]["gold"]), labels(&e["kappa"]["pred"]));
    let plain = cohen_kappa(&gold, &pred, KappaWeights::None).expect("defined");
    let linear = cohen_kappa(&gold, &pred, KappaWeights::Linear).expect("defined");
    assert!((plain - e["kappa"]["unweighted"].as_f64().expect("k")).abs() < 1e-12, "{plain}");
    assert!((linear - e["kappa"]["linear"].as_f64().expect("k")).abs() < 1e-12, "{linear}");
    // Undefined cases are None, not NaN.
    assert_eq!(pearson(&[1.0, 1.0], &[2.0, 3.0]), None);
    assert_eq!(cohen_kappa::<i64>(&[], &[], KappaWeights::None), None);
}

/// The IPA dictionary is compiled once per test binary (a few seconds).
fn mecab() -> &'static exp_stages::mecab::Mecab {
    static MECAB: std::sync::OnceLock<exp_stages::mecab::Mecab> = std::sync::OnceLock::new();
    MECAB.get_or_init(|| {
        let archive =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/ipadic/mecab-ipadic-2.7.0-20070801.tar.xz");
        exp_stages::mecab::Mecab::from_ipadic_archive(&archive).expect("the IPA dictionary builds")
    })
}

#[test]
fn japanese_segmentation_matches_mecab_with_ipadic() {
    let e = expected();
    let cases = e["ja_segmentation"].as_array().expect("cases");
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let (text, tokens) = (c["text"].as_str().expect("text"), c["tokens"].as_str().expect("tokens"));
            let ours = mecab().wakati(text);
            (ours != tokens).then(|| format!("{text}\n  ours:  {ours}\n  mecab: {tokens}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn bleu_matches_sacrebleu_ja_mecab() {
    let e = expected();
    let tokenize = |s: &str| mecab().wakati(s);
    let mut corpus = exp_stages::metrics::BleuStats::default();
    for case in e["ja_bleu"].as_array().expect("cases") {
        let (hyp, reference) = (case["hyp"].as_str().expect("hyp"), case["ref"].as_str().expect("ref"));
        assert_eq!(mecab().wakati(hyp), case["tokens"].as_str().expect("tokens"), "{hyp}");
        let stats = exp_stages::metrics::bleu_stats(hyp, &[reference], &tokenize);
        let theirs = case["sentence_bleu"].as_f64().expect("score");
        assert!((stats.score(true) - theirs).abs() < 1e-9, "{hyp}: {} vs {theirs}", stats.score(true));
        corpus.add(&stats);
    }
    let theirs = e["ja_corpus_bleu"].as_f64().expect("corpus");
    assert!((corpus.score(false) - theirs).abs() < 1e-9, "{} vs {theirs}", corpus.score(false));
}
