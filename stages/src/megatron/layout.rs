//! The rules Megatron-LM (`core_v0.16.1`) enforces on a parallel layout before it trains,
//! judged by `exp` when checking, so that a layout Megatron would refuse never reaches a
//! cluster queue. Each rule names where Megatron checks it:
//!
//! | rule | Megatron-LM |
//! |---|---|
//! | world ÷ (tp × pp × cp) | `validate_args` (`megatron/training/arguments.py`) |
//! | world ÷ (tp × ep × pp), the expert grid (expert tensor parallel = tp) | `initialize_model_parallel` (`megatron/core/parallel_state.py`) |
//! | global batch ÷ (micro batch × data-parallel size) | the micro-batch calculator (`megatron/core/num_microbatches_calculator.py`) |
//! | sequence ÷ 2 cp when cp > 1 | `validate_args` |
//! | layers ÷ pp | `validate_args` |
//! | experts ÷ ep | `validate_args` |
//! | heads ÷ tp; query groups a multiple or a divisor of tp | `TransformerConfig.__post_init__` |
//! | position embeddings ≥ sequence | `validate_args` |
//!
//! `stages/tests/megatron.rs` checks that the layouts refused here are the ones Megatron's
//! own code refuses (fixture made by `stages/tests/fixtures/megatron/validate.py`).

use crate::hf_config::MixtralConfig;
use crate::kinds::train::{Layout, Megatron, Optimiser};
use crate::params::rule;
use exp_dsl::schema::Broken;

/// Megatron-LM's data-parallel size: the world divided by the model-parallel grid.
pub fn data_parallel(layout: &Layout, world: u64) -> u64 {
    world / (layout.tp * layout.pp * layout.cp)
}

/// The rules on the node's own parameters (no model needed), reported by `exp check` at
/// the parameter.
pub fn world_rules(layout: &Layout, m: &Megatron, o: &Optimiser) -> Vec<Broken> {
    let world = m.world();
    let Layout { tp, pp, cp, ep } = *layout;
    let grid = tp * pp * cp;
    let mut broken: Vec<Broken> = [
        rule(world.is_multiple_of(grid), "parallel", || {
            format!(
                "Megatron-LM needs the world size ({world} GPUs: {} nodes × {}) divisible by tp × pp × cp ({tp} × {pp} × {cp} = {grid})",
                m.nodes, m.gpus_per_node
            )
        }),
        rule(world.is_multiple_of(tp * ep * pp), "parallel", || {
            format!(
                "Megatron-LM needs the world size ({world} GPUs) divisible by tp × ep × pp ({tp} × {ep} × {pp} = {}): \
                 the expert-parallel groups are carved out of the data-parallel ranks",
                tp * ep * pp
            )
        }),
        rule(cp == 1 || o.seq.is_multiple_of(2 * cp), "seq", || {
            format!("Megatron-LM needs `seq` ({}) to be a multiple of 2 × cp ({}) when cp > 1", o.seq, 2 * cp)
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if world.is_multiple_of(grid) {
        let dp = data_parallel(layout, world);
        let (g, mb) = (o.global_batch, o.micro_batch);
        broken.extend(rule(g.is_multiple_of(mb * dp), "global_batch", || {
            format!(
                "Megatron-LM needs `global_batch` ({g}) divisible by `micro_batch` × data-parallel size ({mb} × {dp} = {}; \
                 data-parallel size = {world} GPUs ÷ (tp × pp × cp))",
                mb * dp
            )
        }));
    }
    broken
}

/// The rules on the model's dimensions (the base's `config.json` or preset).
pub fn model_rules(layout: &Layout, model: &MixtralConfig, seq: u64) -> Vec<Broken> {
    let Layout { tp, pp, ep, .. } = *layout;
    let (layers, heads, groups, experts) = (
        model.num_hidden_layers as u64,
        model.num_attention_heads as u64,
        model.num_key_value_heads as u64,
        model.num_local_experts as u64,
    );
    let positions = model.max_position_embeddings as u64;
    [
        rule(layers.is_multiple_of(pp), "parallel", || {
            format!("Megatron-LM needs the model's {layers} layers divisible by pp ({pp})")
        }),
        rule(experts.is_multiple_of(ep), "parallel", || {
            format!("Megatron-LM needs the model's {experts} experts divisible by ep ({ep})")
        }),
        rule(heads.is_multiple_of(tp), "parallel", || {
            format!("Megatron-LM needs the model's {heads} attention heads divisible by tp ({tp})")
        }),
        rule(groups.is_multiple_of(tp) || tp.is_multiple_of(groups), "parallel", || {
            format!("Megatron-LM needs the model's {groups} key/value heads (query groups) a multiple or a divisor of tp ({tp})")
        }),
        rule(positions >= seq, "seq", || {
            format!("`seq` ({seq}) is longer than the model's {positions} position embeddings")
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::train::{Device, Precision};
    use exp_dsl::typed::{Schedule, Shape, Warmup};

    fn optimiser(global_batch: u64, micro_batch: u64, seq: u64) -> Optimiser {
        Optimiser {
            lr: Schedule { peak: 1.5e-4, floor: 1.5e-5, shape: Shape::Cosine },
            warmup: Warmup::Fraction(0.03),
            max_steps: 0,
            betas: (0.9, 0.95),
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: 1.0,
            aux_loss: 0.01,
            dropout: 0.0,
            global_batch,
            micro_batch,
            seq,
            checkpoint_every: 0,
            seed: 42,
            device: Device::Cuda,
            precision: Precision::Bf16,
        }
    }

    const PAPER: Layout = Layout { tp: 2, pp: 4, cp: 1, ep: 4 };

    fn cluster(nodes: u64) -> Megatron {
        Megatron { version: "core_v0.16.1".into(), nodes, gpus_per_node: 8 }
    }

    #[test]
    fn the_papers_layout_on_256_gpus_is_accepted() {
        assert_eq!(world_rules(&PAPER, &cluster(32), &optimiser(1024, 1, 4096)), vec![]);
        assert_eq!(model_rules(&PAPER, &MixtralConfig::llm_jp_8x13b(), 4096), vec![]);
        assert_eq!(data_parallel(&PAPER, 256), 32);
    }

    #[test]
    fn each_broken_rule_names_its_parameter() {
        let params = |b: Vec<Broken>| b.iter().map(|b| b.param).collect::<Vec<_>>();
        // 100 GPUs: not a multiple of 8, and so no data-parallel size to judge the batch by.
        let odd = Megatron { version: "core_v0.16.1".into(), nodes: 25, gpus_per_node: 4 };
        assert_eq!(params(world_rules(&PAPER, &odd, &optimiser(1024, 1, 4096))), ["parallel", "parallel"]);
        assert_eq!(params(world_rules(&PAPER, &cluster(32), &optimiser(1000, 1, 4096))), ["global_batch"]);
        let cp2 = Layout { cp: 2, ..PAPER };
        assert_eq!(params(world_rules(&cp2, &cluster(32), &optimiser(1024, 1, 4095))), ["seq"]);
        let big = MixtralConfig::llm_jp_8x13b();
        assert_eq!(params(model_rules(&Layout { pp: 3, ..PAPER }, &big, 4096)), ["parallel"]);
        assert_eq!(params(model_rules(&Layout { tp: 16, ..PAPER }, &big, 4096)), ["parallel", "parallel"]);
        // 8 query groups on tp 16 are shared, two ranks to a group.
        let gqa = MixtralConfig { num_attention_heads: 64, num_key_value_heads: 8, ..big.clone() };
        assert_eq!(params(model_rules(&Layout { tp: 16, pp: 1, ..PAPER }, &gqa, 4096)), Vec::<&str>::new());
        assert_eq!(params(model_rules(&PAPER, &big, 8192)), ["seq"]);
    }
}
