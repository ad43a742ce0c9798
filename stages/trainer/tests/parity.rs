//! Our Mixtral against transformers' `MixtralForCausalLM` on the committed fixture
//! (`fixtures/mixtral/make_fixture.py`): same logits within 1e-4, same loss with the
//! router load-balancing term, same greedy tokens; and a save → load round trip.

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::TensorData;
use exp_trainer::checkpoint;
use exp_trainer::model::{cross_entropy, load_balancing_loss};
use std::path::PathBuf;

type B = NdArray<f32>;

fn fixture() -> (PathBuf, serde_json::Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mixtral");
    let expected = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("test setup"))
        .expect("test setup");
    (dir.join("model"), expected)
}

fn ids(v: &serde_json::Value) -> Vec<Vec<i64>> {
    serde_json::from_value(v.clone()).expect("test setup")
}

fn tensor(rows: &[Vec<i64>]) -> Tensor<B, 2, Int> {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), &Default::default())
}

#[test]
fn logits_loss_and_greedy_tokens_match_transformers() {
    let (dir, expected) = fixture();
    let (config, model) = checkpoint::load::<B>(&dir, &Default::default()).expect("test setup");
    let inputs = ids(&expected["inputs"]);
    let out = model.forward(&config, tensor(&inputs));
    let ours: Vec<f32> = out.logits.clone().into_data().to_vec().expect("test setup");
    let theirs: Vec<f32> = serde_json::from_value::<Vec<Vec<Vec<f32>>>>(expected["logits"].clone())
        .expect("test setup")
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert_eq!(ours.len(), theirs.len());
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!("largest logit difference from transformers: {worst:e}");
    assert!(worst < 1e-4, "largest logit difference {worst}");

    // transformers' loss: shifted cross-entropy plus coef × load balancing.
    let [b, s] = [inputs.len(), inputs[0].len()];
    let v = config.vocab_size;
    let logits = out.logits.narrow(1, 0, s - 1).reshape([b * (s - 1), v]);
    let targets = tensor(&inputs).narrow(1, 1, s - 1).reshape([b * (s - 1)]);
    let ce = cross_entropy(logits, targets, Tensor::ones([b * (s - 1)], &Default::default()));
    let aux: f32 = load_balancing_loss(&out.routing).into_scalar();
    let loss = ce.into_scalar() + config.router_aux_loss_coef as f32 * aux;
    assert!((aux - expected["aux_loss"].as_f64().expect("test setup") as f32).abs() < 1e-4, "aux {aux}");
    assert!((loss - expected["loss"].as_f64().expect("test setup") as f32).abs() < 1e-4, "loss {loss}");

    let prompt: Vec<u32> = serde_json::from_value(expected["prompt"].clone()).expect("test setup");
    let greedy: Vec<u32> = serde_json::from_value(expected["greedy"].clone()).expect("test setup");
    assert_eq!(model.greedy(&config, &prompt, greedy.len()), greedy);
}

#[test]
fn save_then_load_gives_identical_logits() {
    let (dir, expected) = fixture();
    let (config, model) = checkpoint::load::<B>(&dir, &Default::default()).expect("test setup");
    let inputs = tensor(&ids(&expected["inputs"]));
    let before: Vec<f32> = model.forward(&config, inputs.clone()).logits.into_data().to_vec().expect("test setup");
    for shard_bytes in [usize::MAX, 50_000] {
        let out = tempfile::tempdir().expect("test setup");
        checkpoint::save(&model, &config, out.path(), shard_bytes).expect("test setup");
        assert_eq!(out.path().join(checkpoint::INDEX).exists(), shard_bytes != usize::MAX);
        let (again_config, again) = checkpoint::load::<B>(out.path(), &Default::default()).expect("test setup");
        assert_eq!(again_config.hidden_size, config.hidden_size);
        let after: Vec<f32> = again.forward(&config, inputs.clone()).logits.into_data().to_vec().expect("test setup");
        assert_eq!(before, after);
    }
}

/// A copy of the fixture checkpoint with `config.json` edited by `edit`.
fn with_config(edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let (dir, _) = fixture();
    let copy = tempfile::tempdir().expect("a temporary folder");
    for entry in std::fs::read_dir(&dir).expect("the fixture") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copied");
    }
    let path = copy.path().join(checkpoint::CONFIG);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json")).expect("JSON");
    edit(&mut config);
    std::fs::write(&path, config.to_string()).expect("written");
    copy
}

#[test]
fn a_config_that_does_not_match_the_weights_names_the_tensor() {
    let copy = with_config(|c| c["intermediate_size"] = serde_json::json!(40));
    for message in [
        checkpoint::load::<B>(copy.path(), &Default::default()).map(|_| ()).expect_err("refused").to_string(),
        checkpoint::check(copy.path()).map(|_| ()).expect_err("refused").to_string(),
    ] {
        assert!(message.contains("block_sparse_moe.experts.") && message.contains("shape [48, 32]"), "{message}");
    }
    // One layer fewer in the config: the second layer's tensors are not the model's.
    let copy = with_config(|c| c["num_hidden_layers"] = serde_json::json!(1));
    let message = checkpoint::load::<B>(copy.path(), &Default::default()).map(|_| ()).expect_err("refused").to_string();
    assert!(message.contains("model.layers.1.") && message.contains("not a parameter"), "{message}");
    // One layer more: the third layer's tensors are missing.
    let copy = with_config(|c| c["num_hidden_layers"] = serde_json::json!(3));
    let message = checkpoint::check(copy.path()).map(|_| ()).expect_err("refused").to_string();
    assert!(message.contains("model.layers.2.") && message.contains("missing"), "{message}");
}

#[test]
fn cached_decoding_gives_the_logits_of_a_full_pass() {
    let (dir, expected) = fixture();
    let (config, model) = checkpoint::load::<B>(&dir, &Default::default()).expect("the fixture loads");
    let row = ids(&expected["inputs"])[0].clone();
    let full: Vec<f32> =
        model.forward(&config, tensor(std::slice::from_ref(&row))).logits.into_data().to_vec().expect("floats");
    // The prompt in one call, then one position per call.
    let mut cache = exp_trainer::model::KvCache::new(&config);
    let mut cached: Vec<f32> =
        model.forward_cached(&config, tensor(&[row[..5].to_vec()]), &mut cache).into_data().to_vec().expect("floats");
    for &t in &row[5..] {
        cached.extend(
            model.forward_cached(&config, tensor(&[vec![t]]), &mut cache).into_data().to_vec::<f32>().expect("floats"),
        );
    }
    assert_eq!(cache.len(), row.len());
    let worst = full.iter().zip(&cached).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-5, "largest difference {worst}");
}
