//! The corpus-expansion study at toy scale: the three corpora built by the binary from
//! the bundled data, and an ablation that reruns only its branch.

use crate::util::{exp_with_env, plan_state, root, Dir};

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

/// Issue 7: the paper's scale is checked and planned without running, and the plan says
/// where each node would run and what this machine lacks for it.
#[test]
fn the_full_scale_study_is_planned_with_where_each_node_runs() {
    let d = Dir::new();
    let store = d.path().join("store");
    let study = root().join("experiments/corpus-expansion.med");
    let args = ["plan", "--store", store.to_str().expect("UTF-8"), study.to_str().expect("UTF-8")];
    // No GPU visible, whatever the machine running the test has.
    let plan = exp_with_env(d.path(), &args, &[("CUDA_VISIBLE_DEVICES", "")]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    let out = &plan.stdout;
    assert!(out.contains("this machine: ") && out.contains(", 0 GPUs;"), "{out}");
    let line = |name: &str| {
        out.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap_or_else(|| panic!("{name} in {out}"))
    };
    // The real corpora are absent: their readers are blocked, and so is all that follows.
    for name in ["pmc_en.input", "en_dominant", "tokens_enja_hybrid", "cpt_en_dominant", "expansion"] {
        assert_eq!(plan_state(out, name), "blocked", "{name}");
    }
    assert!(line("pmc_en.input").contains("matches no file"), "{out}");
    // Corpus stages on CPU slots; training and evaluation of the 8x13B on a GPU.
    for (name, device) in [("en_dominant", "cpu"), ("tokens_en_dominant", "cpu"), ("cpt_enja_balance", "gpu")] {
        assert_eq!(line(name).split_whitespace().nth(4), Some(device), "{}", line(name));
    }
    for name in ["sft_enja_hybrid", "eval_base"] {
        assert_eq!(line(name).split_whitespace().nth(4), Some("gpu"), "{}", line(name));
    }
    // The CPT nodes are Megatron-LM's, in Table 1's layout on 32 nodes of 8 GPUs: only the
    // Slurm executor runs them.
    let detail = out
        .lines()
        .skip_while(|l| l.split_whitespace().nth(1) != Some("cpt_en_dominant"))
        .nth(1)
        .expect("a placement line under the CPT node");
    assert!(
        detail.contains(
            "cluster: 32 nodes × 8 GPUs with Megatron-LM, tp 2 × pp 4 × cp 1 × ep 4; run it with `--executor slurm`"
        ),
        "{detail}"
    );
    let sft = out
        .lines()
        .skip_while(|l| l.split_whitespace().nth(1) != Some("sft_en_dominant"))
        .nth(1)
        .expect("a placement line under the SFT node");
    assert!(sft.contains("needs 1 GPU, this machine has 0"), "{sft}");
    // The toy profile of the same file runs everything on the CPU.
    let toy = exp_with_env(d.path(), &[&args[..3], &["--profile", "toy"], &args[3..]].concat(), &[]);
    assert_eq!(toy.status, 0, "{}", toy.stderr);
    assert!(!toy.stdout.contains(" gpu "), "{}", toy.stdout);
    assert!(toy.stdout.contains("0 blocked"), "{}", toy.stdout);
}
