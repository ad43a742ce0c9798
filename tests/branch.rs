//! The tiny model trained by the binary on a toy corpus: continued pre-training then
//! fine-tuning, the loss curve in the store, the result a Hugging Face checkpoint our
//! loader (and transformers) reads, evaluated by the study's own `jmedbench` node; an
//! ablation retrains only the models downstream of it; run as Slurm jobs (where a Slurm
//! answers), the branch gives the same bytes.

use crate::util::{plan_state, root, shown_artifact, shown_metric, Dir};

#[test]
fn cpt_then_sft_then_eval_on_the_toy_corpus() {
    let d = Dir::new();
    let on_slurm = crate::slurm::Branch::new(&d, "eval_en_dominant");
    std::thread::scope(|s| {
        // The same branch as Slurm jobs, into another store, side by side with the local run.
        let slurm_run = on_slurm.as_ref().map(|b| s.spawn(|| b.run(&d)));
        local_branch(&d);
        if let (Some(branch), Some(run)) = (&on_slurm, slurm_run) {
            let out = run.join().expect("the Slurm run's thread");
            crate::slurm::the_same_as_local(&d, branch, &out, &d.path().join("store"));
        }
    });
}

/// The branch trained here, checked, and two ablations planned against it.
fn local_branch(d: &Dir) {
    let store = d.path().join("store");
    let store = store.to_str().expect("UTF-8 path");
    let study = root().join("experiments/corpus-expansion.med");
    let study = study.to_str().expect("UTF-8 path");
    let out = d.exp(&["run", "--store", store, "--profile", "toy", "--only", "eval_en_dominant", study]);
    assert_eq!(out.status, 0, "{}", out.stderr);

    let show = |node: &str| d.exp(&["show", "--store", store, "--profile", "toy", study, node]).stdout;
    let cpt = show("cpt_en_dominant");
    let metric = |shown: &str, name: &str| -> f64 { shown_metric(shown, name).parse().expect("a number") };
    // A fresh model starts near ln(99,574) ≈ 11.5; twelve steps bring it down.
    assert!(metric(&cpt, "final_loss") < 11.0, "{cpt}");
    assert!(metric(&cpt, "tokens_per_s") > 0.0 && metric(&cpt, "mfu") > 0.0, "{cpt}");

    let artifact = shown_artifact(d.path(), &cpt);
    let log = std::fs::read_to_string(artifact.join("train_log.jsonl")).expect("a training log");
    let losses: Vec<f64> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["loss"].as_f64().expect("loss"))
        .collect();
    assert_eq!(losses.len(), 12);
    assert!(losses[11] < losses[0] - 0.5, "{losses:?}");
    let (config, _) = exp_trainer::checkpoint::load::<burn::backend::NdArray<f32>>(&artifact, &Default::default())
        .expect("the trained model loads");
    assert_eq!(config.vocab_size, 99_574);
    let config_json = std::fs::read_to_string(artifact.join("config.json")).expect("config.json");
    assert!(config_json.contains("\"rope_theta\"") && config_json.contains("\"torch_dtype\""), "4.x form");

    let sft = show("sft_en_dominant");
    assert!(metric(&sft, "final_loss").is_finite(), "{sft}");

    // Every JMedBench task of the study ran on the fine-tuned model. Likelihoods always
    // answer; a generation may be empty (six SFT steps teach little), and is then a
    // failed item, counted.
    let eval = show("eval_en_dominant");
    for task in ["igakuqa_0shot", "igakuqa_3shot", "jmmlu_med", "pubmedqa", "crade", "jcsts"] {
        assert_eq!(metric(&eval, &format!("{task}/failed")), 0.0, "{task}: {eval}");
    }
    for task in ["nrner", "mrner_disease", "ejmmt_ja-en", "ejmmt_en-ja"] {
        assert!((0.0..=8.0).contains(&metric(&eval, &format!("{task}/failed"))), "{task}: {eval}");
    }
    for avg in ["avg/overall", "avg/ja", "avg/en", "avg/mcqa", "avg/dc", "avg/ner", "avg/mt"] {
        assert!(metric(&eval, avg).is_finite(), "{avg}: {eval}");
    }

    // The ablation changes a web subcorpus of every corpus: the base model and the
    // tokenizer stay cached, the trained models rerun because their data changed.
    let ablation = root().join("experiments/ablation-strict-web.med");
    let plan = d.exp(&["plan", "--store", store, "--profile", "toy", ablation.to_str().expect("UTF-8")]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    let state = |name: &str| plan_state(&plan.stdout, name);
    assert_eq!(state("base"), "cached");
    assert_eq!(state("llmjp"), "cached");
    assert_eq!(state("cpt_en_dominant"), "run");
    assert_eq!(state("sft_en_dominant"), "run");
    assert_eq!(state("eval_en_dominant"), "run");

    // Another learning rate for SFT: the continued pre-training stays cached.
    let ablation = root().join("experiments/ablation-sft-lr.med");
    let plan = d.exp(&["plan", "--store", store, "--profile", "toy", ablation.to_str().expect("UTF-8")]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    let state = |name: &str| plan_state(&plan.stdout, name);
    assert_eq!(state("cpt_en_dominant"), "cached");
    assert_eq!(state("sft_en_dominant"), "run");
    assert_eq!(state("eval_en_dominant"), "run");
}
