//! Generation batched across prompts of different lengths (left padding, per-sequence
//! positions, the padding hidden from attention) equals each prompt decoded alone: token
//! for token, and with `Masking::Spans` logit for logit, bit for bit.

use burn::backend::NdArray;
use burn::prelude::*;
use exp_stages::eval::provider::{Generation, Provider};
use exp_stages::sentencepiece::SentencePiece;
use exp_trainer::config::MixtralConfig;
use exp_trainer::model::{Init, KvCache, Masking, Mixtral};
use exp_trainer::provider::Local;
use std::path::Path;

type B = NdArray<f32>;

fn tokenizer() -> SentencePiece {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    SentencePiece::load(&path).expect("the bundled tokenizer")
}

fn setup(vocab: usize) -> (Mixtral<B>, MixtralConfig) {
    let config = MixtralConfig { hidden_size: 32, intermediate_size: 48, head_dim: 8, ..MixtralConfig::tiny(vocab) };
    let model = Mixtral::new(&config, Init::Random(&mut Init::seeded(5)), &Default::default());
    (model, config)
}

fn ids(rows: &[Vec<i64>]) -> Tensor<B, 2, Int> {
    let (b, n) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [b, n]), &Default::default())
}

fn floats(t: Tensor<B, 3>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("floats")
}

/// Prompts of 3, 11 and 7 tokens (and a long one past 256 keys, so the matrix product's
/// blocks would shift under padding), decoded together and alone.
fn prompts(vocab: usize) -> Vec<Vec<u32>> {
    let mk = |n: usize, salt: usize| (0..n).map(|i| ((i * 7919 + salt * 104_729) % (vocab - 3) + 3) as u32).collect();
    vec![mk(3, 1), mk(11, 2), mk(7, 3), mk(270, 4)]
}

#[test]
fn batched_greedy_equals_each_prompt_alone() {
    let (model, config) = setup(500);
    let prompts = prompts(500);
    let alone: Vec<Vec<u32>> = prompts.iter().map(|p| model.greedy(&config, p, 10)).collect();
    assert_eq!(model.greedy_batch(&config, &prompts, 10, Masking::Spans), alone);
    assert_eq!(model.greedy_batch(&config, &prompts, 10, Masking::Mask), alone);
}

#[test]
fn padded_logits_equal_each_prompt_alone() {
    let (model, config) = setup(500);
    let prompts = prompts(500);
    let width = prompts.iter().map(Vec::len).max().expect("prompts");
    let vocab = config.vocab_size;
    for masking in [Masking::Spans, Masking::Mask] {
        let pad: Vec<usize> = prompts.iter().map(|p| width - p.len()).collect();
        let mut cache = KvCache::padded(&config, pad.clone(), masking);
        let rows: Vec<Vec<i64>> = prompts
            .iter()
            .map(|p| std::iter::repeat_n(0, width - p.len()).chain(p.iter().map(|&t| t as i64)).collect())
            .collect();
        let batch = floats(model.forward_cached(&config, ids(&rows), &mut cache));
        // Then two decoding steps with one new token each.
        let steps: Vec<Vec<i64>> = vec![vec![5, 6, 7, 8], vec![9, 10, 11, 12]];
        let mut stepped = Vec::new();
        for s in &steps {
            let col: Vec<Vec<i64>> = s.iter().map(|&t| vec![t]).collect();
            stepped.push(floats(model.forward_cached(&config, ids(&col), &mut cache)));
        }
        let mut worst = 0f32;
        for (i, p) in prompts.iter().enumerate() {
            let mut alone_cache = KvCache::new(&config);
            let own: Vec<i64> = p.iter().map(|&t| t as i64).collect();
            let want = floats(model.forward_cached(&config, ids(&[own]), &mut alone_cache));
            let got = &batch[(i * width + pad[i]) * vocab..(i + 1) * width * vocab];
            let mut pairs: Vec<(f32, f32)> = got.iter().copied().zip(want).collect();
            for (k, s) in steps.iter().enumerate() {
                let want = floats(model.forward_cached(&config, ids(&[vec![s[i]]]), &mut alone_cache));
                pairs.extend(stepped[k][i * vocab..(i + 1) * vocab].iter().copied().zip(want));
            }
            for (g, w) in pairs {
                if masking == Masking::Spans {
                    assert_eq!(g.to_bits(), w.to_bits(), "prompt {i}: {g} vs {w}");
                }
                worst = worst.max((g - w).abs());
            }
        }
        assert!(worst < 1e-4, "{masking:?}: logits differ by {worst}");
    }
}

#[test]
fn the_provider_generates_the_same_batched_or_not_on_any_threads() {
    let sp = tokenizer();
    let (model, config) = setup(sp.vocab_size());
    let prompts =
        ["翻訳（English => 日本語）：Chest pain with dyspnoea on exertion. => ", "病名：", "Question: fever?\nAnswer:"];
    let requests: Vec<Generation> =
        prompts.iter().map(|p| Generation { prompt: p.to_string(), max_tokens: 12, stop: vec!["。".into()] }).collect();
    let local = |threads: usize| {
        Local::new(model.clone(), config.clone(), tokenizer(), Default::default(), "test".into(), threads)
    };
    let alone = local(1).with_batch_generation(false).generate(&requests);
    assert!(alone.iter().all(|a| a.as_ref().is_ok_and(|t| !t.is_empty())), "{alone:?}");
    for threads in [1, 2] {
        assert_eq!(local(threads).generate(&requests), alone, "{threads} threads");
        assert_eq!(local(threads).with_cpu_head().generate(&requests), alone, "{threads} threads, CPU head");
    }
}

/// Three items after one shared few-shot block (as IgakuQA 3-shot renders them): the
/// block's tokens run once and are reused; the log-likelihoods are those of each context
/// run whole, bit for bit, on one thread or two.
#[test]
fn a_shared_few_shot_prefix_gives_the_same_likelihoods() {
    use exp_stages::eval::provider::Likelihood;
    let sp = tokenizer();
    let (model, config) = setup(sp.vocab_size());
    let shots = "問題: 発熱の原因はどれか。\na: 感染\nb: 骨折\n答え:a\n".repeat(3);
    let questions = [
        "問題: 強皮症腎の患者で認められるのはどれか。\na: 大動脈瘤\nb: ネフローゼ症候群\n答え:",
        "問題: 喘息の治療薬はどれか。\na: 吸入ステロイド\nb: 利尿薬\n答え:",
        "問題: 貧血\n答え:",
    ];
    let requests: Vec<Likelihood> = questions
        .iter()
        .flat_map(|q| {
            ["a", "b", "a,b"].map(|o| Likelihood { context: format!("{shots}{q}"), continuation: o.to_string() })
        })
        .collect();
    let local = |threads: usize| {
        Local::new(model.clone(), config.clone(), tokenizer(), Default::default(), "t".into(), threads)
    };
    let whole = local(1).with_prefix_reuse(false).likelihoods(&requests);
    assert!(whole.iter().all(Result::is_ok), "{whole:?}");
    for threads in [1, 2] {
        let reused = local(threads).likelihoods(&requests);
        for (r, w) in reused.iter().zip(&whole) {
            let (r, w) = (r.as_ref().expect("scored"), w.as_ref().expect("scored"));
            assert_eq!((r.logprob.to_bits(), r.tokens), (w.logprob.to_bits(), w.tokens), "{threads} threads");
        }
    }
}
