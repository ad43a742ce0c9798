//! Our model as an evaluation provider: the batched likelihoods, which run a prompt once
//! and its options from a repeated key/value cache, equal the log-probabilities of a plain
//! full forward pass; greedy generation equals the model's own greedy decoding.

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use exp_stages::eval::provider::{Generation, Likelihood, Provider};
use exp_stages::sentencepiece::SentencePiece;
use exp_trainer::config::MixtralConfig;
use exp_trainer::model::{Init, Mixtral};
use exp_trainer::provider::Local;
use std::path::Path;

type B = NdArray<f32>;

fn tokenizer() -> SentencePiece {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    SentencePiece::load(&path).expect("the bundled tokenizer")
}

fn setup() -> (Mixtral<B>, MixtralConfig, SentencePiece) {
    let sp = tokenizer();
    let config =
        MixtralConfig { hidden_size: 32, intermediate_size: 48, head_dim: 8, ..MixtralConfig::tiny(sp.vocab_size()) };
    let model = Mixtral::new(&config, Init::Random(&mut Init::seeded(3)), &Default::default());
    (model, config, sp)
}

/// The summed log-probability of `continuation` after `<s> context`, from one full pass.
fn reference(model: &Mixtral<B>, config: &MixtralConfig, sp: &SentencePiece, context: &str, continuation: &str) -> f64 {
    let ctx = sp.encode(context);
    let full = sp.encode(&format!("{context}{continuation}"));
    let mut ids: Vec<i64> = vec![sp.id_of("<s>").expect("bos") as i64];
    ids.extend(ctx.iter().map(|&t| t as i64));
    let start = ids.len();
    ids.extend(full[ctx.len()..].iter().map(|&t| t as i64));
    let n = ids.len();
    let logits = model
        .forward(config, Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, n]), &Default::default()))
        .logits;
    let logp: Vec<f32> = log_softmax(logits, 2).into_data().convert::<f32>().to_vec().expect("floats");
    let v = config.vocab_size;
    (start..n).map(|p| logp[(p - 1) * v + ids[p] as usize] as f64).sum()
}

#[test]
fn batched_likelihoods_equal_a_full_forward_pass() {
    let (model, config, sp) = setup();
    let q1 = "質問：強皮症腎の患者で認められるのはどれか。\nA. 大動脈瘤\nB. ネフローゼ症候群\n答え：";
    let q2 = "Abstract: Programmed cell death is regulated.\nQuestion: Do mitochondria play a role?\nAnswer:";
    let requests: Vec<Likelihood> =
        [(q1, "大動脈瘤"), (q1, "ネフローゼ症候群"), (q1, "A"), (q2, " yes"), (q2, " maybe")]
            .iter()
            .map(|(c, o)| Likelihood { context: c.to_string(), continuation: o.to_string() })
            .collect();
    let scored = |threads: usize| {
        let mut local =
            Local::new(model.clone(), config.clone(), tokenizer(), Default::default(), "test".into(), threads);
        local.likelihoods(&requests)
    };
    let got = scored(1);
    // The two prompts' groups on two threads: the same numbers, bit for bit.
    assert_eq!(got, scored(2));
    for (r, g) in requests.iter().zip(got) {
        let g = g.expect("scored");
        let want = reference(&model, &config, &sp, &r.context, &r.continuation);
        assert!((g.logprob - want).abs() < 1e-3, "{:?}: {} vs {want}", r.continuation, g.logprob);
        assert!(g.tokens >= 1);
    }
}

#[test]
fn greedy_generation_equals_the_models_own() {
    let (model, config, sp) = setup();
    // Three prompts answered on two threads, each as the model's own greedy decoding,
    // with the backend's matrix product and with the CPU's matrix-vector product.
    let prompts = ["翻訳（English => 日本語）：Chest pain. => ", "Question: fever?\nAnswer:", "病名："];
    let requests: Vec<Generation> =
        prompts.iter().map(|p| Generation { prompt: p.to_string(), max_tokens: 6, stop: vec![] }).collect();
    let local = || Local::new(model.clone(), config.clone(), tokenizer(), Default::default(), "test".into(), 2);
    let out = local().generate(&requests);
    assert_eq!(out, local().with_cpu_head().generate(&requests));
    for (prompt, out) in prompts.iter().zip(&out) {
        let mut ids = vec![sp.id_of("<s>").expect("bos")];
        ids.extend(sp.encode(prompt));
        let mut tokens = model.greedy(&config, &ids, 6);
        if let Some(end) = tokens.iter().position(|&t| Some(t) == sp.id_of("</s>")) {
            tokens.truncate(end);
        }
        assert_eq!(out.as_deref(), Ok(sp.decode(&tokens).as_str()), "{prompt}");
    }
}
