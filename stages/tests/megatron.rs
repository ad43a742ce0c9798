//! The Megatron-LM launch checked against Megatron-LM's own code, without torch here:
//! `fixtures/megatron/cases.json` is what `exp` renders for the study's three CPT nodes at
//! full scale (32 nodes × 8 GPUs) and for layouts around them; `validated.json` is what
//! Megatron-LM core_v0.16.1's `parse_args()`, `validate_args()`, micro-batch calculator,
//! transformer config and `initialize_model_parallel` made of them
//! (`fixtures/megatron/validate.py`, README beside it). This test fails when the rendering
//! drifts from the fixture (`EXP_UPDATE_FIXTURES=1` rewrites `cases.json`; then rerun the
//! script), when `exp` accepts a layout Megatron refuses or the reverse, and when a value
//! `exp` states (data-parallel size, micro-batches, iterations, warm-up, the learning rate
//! of chosen steps) is not Megatron's.

use exp_dsl::{check_file, Options};
use exp_stages::hf_config::MixtralConfig;
use exp_stages::kinds::train::{CptParams, Layout, Megatron, Trainer};
use exp_stages::megatron::launch::{render, Folders, Launch, Shard};
use exp_stages::megatron::layout::{model_rules, world_rules};
use exp_stages::params::parse;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/megatron")
}

/// The three CPT nodes of `experiments/corpus-expansion.med` at full scale.
fn study() -> Vec<(String, CptParams)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/corpus-expansion.med");
    let checked = check_file(&file, &exp_stages::catalog(), &Options::default());
    let graph = checked.graph.expect("the study checks");
    graph
        .nodes
        .iter()
        .filter(|n| n.kind == "cpt")
        .map(|n| (n.name.clone(), parse::<CptParams>(&n.params).expect("cpt parameters")))
        .collect()
}

/// A corpus of `tokens` in shards of at most 10B tokens, as `tokenize` would list them.
fn shards(corpus: &str, tokens: u64) -> Vec<Shard> {
    let per = 10_000_000_000;
    (0..tokens.div_ceil(per))
        .map(|i| Shard {
            prefix: format!("/store/objects/{corpus}/artifact/shard_{i:05}"),
            tokens: per.min(tokens - i * per),
        })
        .collect()
}

fn folders(name: &str) -> Folders {
    let at = |f: &str| format!("/store/cache/cpt/{name}/{f}");
    Folders { base: at("megatron-base"), checkpoints: at("checkpoints"), data_cache: at("data-cache") }
}

struct Case {
    name: String,
    params: CptParams,
    model: MixtralConfig,
    shards: Vec<Shard>,
}

impl Case {
    fn megatron(&self) -> &Megatron {
        match &self.params.trainer {
            Trainer::Megatron(m) => m,
            Trainer::Exp => panic!("{}: not a Megatron-LM node", self.name),
        }
    }

    fn launch(&self) -> Launch {
        render(&self.params, self.megatron(), &self.model, &self.shards, &folders(&self.name), Some(1425))
    }

    /// What exp's checker says of the layout.
    fn refused(&self) -> Vec<String> {
        let layout = self.params.layout();
        let mut broken = world_rules(&layout, self.megatron(), &self.params.optimiser);
        broken.extend(model_rules(&layout, &self.model, self.params.optimiser.seq));
        broken.into_iter().map(|b| b.message).collect()
    }
}

/// The study's nodes, then one change at a time from the first.
fn cases() -> Vec<Case> {
    // Each corpus's budget: its tokens once tokenised, near enough for a launch.
    let budget = |name: &str| match name {
        "cpt_en_dominant" => 44_200_000_000u64,
        "cpt_enja_balance" => 75_600_000_000,
        "cpt_enja_hybrid" => 79_600_000_000,
        other => panic!("a CPT node the test does not know: {other}"),
    };
    let mut study = study();
    study.sort_by_key(|(name, _)| budget(name));
    let mut out: Vec<Case> = study
        .into_iter()
        .map(|(name, params)| Case {
            shards: shards(&name, budget(&name)),
            name,
            params,
            model: MixtralConfig::llm_jp_8x13b(),
        })
        .collect();
    assert_eq!(out.len(), 3, "the study has three CPT nodes");
    let first = &out[0];
    let with = |name: &str, change: &dyn Fn(&mut CptParams, &mut MixtralConfig)| {
        let (mut params, mut model) = (first.params.clone(), first.model.clone());
        change(&mut params, &mut model);
        Case { name: name.into(), params, model, shards: first.shards.clone() }
    };
    let layout = |tp, pp, cp, ep| Some(Layout { tp, pp, cp, ep });
    let world = |p: &mut CptParams, nodes, gpus_per_node| {
        p.trainer = Trainer::Megatron(Megatron { version: "core_v0.16.1".into(), nodes, gpus_per_node })
    };
    let variants = [
        with("tp3", &|p, _| p.parallel = layout(3, 4, 1, 4)),
        with("tp3-world192", &|p, _| {
            p.parallel = layout(3, 4, 1, 4);
            world(p, 24, 8);
        }),
        with("pp3-world192", &|p, _| {
            p.parallel = layout(2, 3, 1, 4);
            world(p, 24, 8);
        }),
        with("ep3", &|p, _| p.parallel = layout(2, 4, 1, 3)),
        with("ep16", &|p, _| p.parallel = layout(2, 1, 1, 16)),
        with("world100", &|p, _| world(p, 25, 4)),
        with("world16-expert-grid", &|p, _| world(p, 2, 8)),
        with("global-batch1000", &|p, _| p.optimiser.global_batch = 1000),
        with("micro-batch3", &|p, _| p.optimiser.micro_batch = 3),
        with("seq8192", &|p, _| p.optimiser.seq = 8192),
        with("heads40-tp16", &|p, _| p.parallel = layout(16, 1, 1, 1)),
        with("groups20-tp8", &|p, m| {
            p.parallel = layout(8, 1, 1, 1);
            m.num_key_value_heads = 20;
        }),
        with("groups8-tp16-heads64", &|p, m| {
            p.parallel = layout(16, 1, 1, 1);
            (m.num_attention_heads, m.num_key_value_heads, m.head_dim) = (64, 8, 80);
        }),
        with("cp2-seq4095", &|p, _| {
            p.parallel = layout(2, 4, 2, 4);
            p.optimiser.seq = 4095;
        }),
        with("cp2", &|p, _| p.parallel = layout(2, 4, 2, 4)),
        with("world8-ep8", &|p, _| {
            p.parallel = layout(1, 1, 1, 8);
            world(p, 1, 8);
        }),
        with("tiny-world1", &|p, m| {
            *m = MixtralConfig::tiny(99_574);
            p.parallel = layout(1, 1, 1, 1);
            world(p, 1, 1);
            (p.optimiser.global_batch, p.optimiser.micro_batch, p.optimiser.seq) = (8, 2, 256);
        }),
        with("tiny-world2-ep2", &|p, m| {
            *m = MixtralConfig::tiny(99_574);
            p.parallel = layout(1, 1, 1, 2);
            world(p, 1, 2);
            (p.optimiser.global_batch, p.optimiser.micro_batch, p.optimiser.seq) = (8, 2, 256);
        }),
    ];
    out.extend(variants);
    out
}

fn rendered() -> Value {
    Value::Array(
        cases()
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "world_size": c.megatron().world(),
                    "env": { "CUDA_DEVICE_MAX_CONNECTIONS": "1" },
                    "argv": c.launch().args,
                })
            })
            .collect(),
    )
}

#[test]
fn the_rendered_arguments_are_the_ones_megatron_checked() {
    let path = fixtures().join("cases.json");
    let now = rendered();
    if std::env::var_os("EXP_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&now).expect("JSON") + "\n")
            .expect("the fixture is written");
    }
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture reads")).expect("JSON");
    assert_eq!(
        now, fixture,
        "the launch changed: EXP_UPDATE_FIXTURES=1 rewrites cases.json; then rerun validate.py (README) for validated.json"
    );
}

#[test]
fn exp_refuses_the_layouts_megatron_refuses_and_states_its_values() {
    let validated: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("validated.json")).expect("the fixture reads"))
            .expect("JSON");
    let cases = cases();
    assert_eq!(validated.len(), cases.len(), "validated.json is of another cases.json: rerun validate.py");
    for (case, v) in cases.iter().zip(&validated) {
        assert_eq!(v["name"], case.name.as_str());
        let accepted = v["accepted"].as_bool().expect("true or false");
        let refused = case.refused();
        assert_eq!(
            refused.is_empty(),
            accepted,
            "{}: Megatron-LM {} ({}: {}); exp says {refused:?}",
            case.name,
            if accepted { "accepts it" } else { "refuses it" },
            v["refused_by"],
            v["error"]
        );
        if !accepted {
            continue;
        }
        let ours = case.launch().derived;
        let theirs = &v["derived"];
        let name = &case.name;
        assert_eq!(theirs["world_size"], ours.world_size, "{name}");
        assert_eq!(theirs["data_parallel_size"], ours.data_parallel_size, "{name}");
        assert_eq!(theirs["num_microbatches"], ours.num_microbatches, "{name}");
        assert_eq!(theirs["train_iters"], ours.train_iters, "{name}");
        let warmup = theirs["lr_warmup_steps_in_iters"].as_f64().expect("a number");
        assert!(
            (warmup - ours.warmup_iters).abs() <= 1e-9 * warmup.max(1.0),
            "{name}: warm-up {warmup} vs {}",
            ours.warmup_iters
        );
        let lr = theirs["lr"].as_object().expect("a record");
        assert_eq!(lr.len(), ours.lr.len(), "{name}: the steps the rate is stated at");
        for (k, ours) in &ours.lr {
            let theirs = lr[&k.to_string()].as_f64().expect("a number");
            assert!((theirs - ours).abs() <= 1e-15 * theirs.abs().max(1e-300), "{name}: lr at {k}: {theirs} vs {ours}");
        }
    }
}

#[test]
fn the_study_trains_on_256_gpus_in_its_papers_layout() {
    let cases = cases();
    let first = &cases[0];
    assert_eq!(first.megatron().world(), 256);
    assert_eq!(first.params.layout(), Layout { tp: 2, pp: 4, cp: 1, ep: 4 });
    let d = first.launch().derived;
    // 44.2B tokens ÷ (1024 × 4096).
    assert_eq!((d.data_parallel_size, d.num_microbatches, d.train_iters), (32, 32, 10_538));
}
