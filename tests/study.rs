//! The corpus-expansion study at toy scale: the three corpora built by the binary from
//! the bundled data, and an ablation that reruns only its branch.

use crate::util::{plan_state, root, Dir};

fn shares(stdout: &str) -> std::collections::BTreeMap<String, f64> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("composition by language"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((cols.first()?.to_string(), cols.get(2)?.trim_end_matches('%').parse().ok()?))
        })
        .collect()
}

#[test]
fn the_three_corpora_and_an_ablation() {
    let d = Dir::new();
    let store = d.path().join("store");
    let store = store.to_str().expect("UTF-8 path");
    let study = root().join("experiments/corpus-expansion.med");
    let study = study.to_str().expect("UTF-8 path");
    let out =
        d.exp(&["run", "--store", store, "--profile", "toy", "--only", "en_dominant,enja_balance,enja_hybrid", study]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let share = |corpus: &str| shares(&d.exp(&["show", "--store", store, "--profile", "toy", study, corpus]).stdout);
    let (dominant, balance, hybrid) = (share("en_dominant"), share("enja_balance"), share("enja_hybrid"));
    // As in the paper's Figure 2: English first, then near-balanced, then more parallel text.
    assert!(dominant["en"] > 50.0 && dominant["en"] > dominant["ja"], "{dominant:?}");
    assert!(balance["ja"] > dominant["ja"] + 10.0, "{dominant:?} {balance:?}");
    assert!((balance["en"] - balance["ja"]).abs() < 15.0, "{balance:?}");
    assert!(hybrid["mixed"] > balance["mixed"], "{balance:?} {hybrid:?}");

    // The ablation changes one subcorpus: only it and the corpora using it are to run.
    let ablation = root().join("experiments/ablation-strict-web.med");
    let plan = d.exp(&["plan", "--store", store, "--profile", "toy", ablation.to_str().expect("UTF-8")]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    let state = |name: &str| plan_state(&plan.stdout, name);
    for changed in ["web_en", "en_dominant", "enja_balance", "enja_hybrid"] {
        assert_eq!(state(changed), "run", "{changed}");
    }
    for shared in ["web_ja", "pmc_en", "pubmed_clinical_par", "bench_ja", "jglobal_en", "textbooks_ja"] {
        assert_eq!(state(shared), "cached", "{shared}");
    }
    assert!(
        plan.stdout.contains("parameter `threshold` changed") || plan.stdout.contains("never run"),
        "{}",
        plan.stdout
    );
}
