//! What `exp plan --executor slurm` shows of a node Megatron-LM trains: its layout, what
//! that implies, and its `pretrain_gpt.py` arguments, rendered as its job will render them
//! (`exp_stages::megatron`). What is known only later is named: the corpus's shards until
//! it is tokenised, the job's time limit (`--exit-duration-in-mins`), the cache folders.

use crate::resolve::Resolved;
use crate::store::Store;
use exp_stages::artifacts::{self, TokenizerSummary};
use exp_stages::hf_config::MixtralConfig;
use exp_stages::kinds::model::{HfCheckpointParams, MixtralParams};
use exp_stages::kinds::train::{CptParams, Trainer};
use exp_stages::megatron::launch::{render, Folders, Shard};
use exp_stages::params::parse;

/// The lines shown under node `i` (none when Megatron-LM does not train it).
pub fn preview(resolved: &Resolved, i: usize, store: &Store) -> Vec<String> {
    let node = &resolved.nodes[i];
    if node.kind != "cpt" {
        return Vec::new();
    }
    let Ok(p) = parse::<CptParams>(&node.params) else { return Vec::new() };
    let Trainer::Megatron(m) = &p.trainer else { return Vec::new() };
    let l = p.layout();
    let mut lines = vec![format!(
        "Megatron-LM {} on {} nodes × {} GPUs: tp {} × pp {} × cp {} × ep {}",
        m.version, m.nodes, m.gpus_per_node, l.tp, l.pp, l.cp, l.ep
    )];
    let model = match base_config(resolved, i, store) {
        Ok(model) => model,
        Err(why) => {
            lines.push(format!("pretrain_gpt.py arguments once {why}"));
            return lines;
        }
    };
    let data = input(resolved, i, "data");
    let (shards, pending) = match data.filter(|&d| store.contains(&resolved.nodes[d].identity)) {
        Some(d) => match exp_stages::megatron::steps::shards(&store.artifact_dir(&resolved.nodes[d].identity)) {
            Ok(s) => (s, None),
            Err(e) => return vec![format!("cannot read the corpus's shards: {e}")],
        },
        None => {
            let name = data.map_or("the data", |d| resolved.nodes[d].name.as_str());
            (vec![Shard { prefix: format!("<shards of {name}>"), tokens: 0 }], Some(name))
        }
    };
    let folders = Folders {
        base: "$CACHE/megatron-base".into(),
        checkpoints: "$CACHE/checkpoints".into(),
        data_cache: "$CACHE/data-cache".into(),
    };
    let launch = render(&p, m, &model, &shards, &folders, None);
    let d = &launch.derived;
    let mut args = launch.args.clone();
    if let Some(name) = pending {
        // Neither the shards' sizes nor the steps are known before tokenising.
        for (flag, what) in [
            ("--train-iters", "<steps>"),
            ("--data-path", "<tokens>"),
            ("--eval-interval", "<steps>"),
            ("--save-interval", "<steps>"),
        ] {
            if let Some(at) = args.iter().position(|a| a == flag) {
                args[at + 1] = what.into();
            }
        }
        lines.push(format!(
            "data-parallel {}, {} micro-batches per step; steps once `{name}` is tokenised",
            d.data_parallel_size, d.num_microbatches
        ));
    } else {
        lines.push(format!(
            "data-parallel {}, {} micro-batches per step, {} steps, warm-up {} steps",
            d.data_parallel_size, d.num_microbatches, d.train_iters, d.warmup_iters
        ));
    }
    lines.push(format!(
        "pretrain_gpt.py {} --exit-duration-in-mins <time left − 15>",
        shlex::try_join(args.iter().map(String::as_str)).unwrap_or_default()
    ));
    lines
}

fn input(resolved: &Resolved, i: usize, role: &str) -> Option<usize> {
    resolved.nodes[i].inputs.iter().find(|inp| inp.role == role).map(|inp| inp.node)
}

/// The base model's configuration, following `base` through earlier training nodes; `Err`
/// says what it waits for.
fn base_config(resolved: &Resolved, i: usize, store: &Store) -> Result<MixtralConfig, String> {
    let Some(b) = input(resolved, i, "base") else { return Err("the node has a base".into()) };
    let base = &resolved.nodes[b];
    match base.kind.as_str() {
        "hf_checkpoint" => {
            let p = parse::<HfCheckpointParams>(&base.params).map_err(|e| e.to_string())?;
            let file = resolved.root.join(&p.path).join("config.json");
            if !file.is_file() {
                return Err(format!("{} is there", file.display()));
            }
            MixtralConfig::read(&file).map_err(|e| e.to_string())
        }
        "mixtral" => {
            let p = parse::<MixtralParams>(&base.params).map_err(|e| e.to_string())?;
            let mut config = p.config();
            if config.vocab_size == 0 {
                let t = input(resolved, b, "tokenizer").ok_or("the base has a vocabulary")?;
                let id = &resolved.nodes[t].identity;
                if !store.contains(id) {
                    return Err(format!("`{}` is in the store (the vocabulary)", resolved.nodes[t].name));
                }
                let summary: TokenizerSummary = artifacts::read(&store.artifact_dir(id)).map_err(|e| e.to_string())?;
                config.vocab_size = summary.vocab_size as usize;
            }
            Ok(config)
        }
        _ => base_config(resolved, b, store),
    }
}
