//! The weights of a Hugging Face checkpoint as far as they need no model code: the shard
//! index, the tensors a Mixtral of a configuration has, the safetensors header (names and
//! shapes) checked against them, and a tensor's data as `f32`. The trainer
//! (`exp_trainer::checkpoint`) loads and checks checkpoints with these; they live here,
//! not beside burn, so that the fuzz targets (`stages/fuzz/`) and the tests reach the
//! parsing of untrusted files without building burn.

use crate::hf_config::MixtralConfig;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Read;

/// safetensors' own limit on a header (`safetensors::tensor::MAX_HEADER_SIZE`).
pub const MAX_HEADER: u64 = 100_000_000;

/// The shard files a `model.safetensors.index.json` names (its `weight_map` values),
/// sorted, each once.
pub fn shard_names(index: &str) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(index).map_err(|e| format!("not JSON: {e}"))?;
    let map = value.get("weight_map").and_then(Value::as_object).ok_or("no `weight_map` object")?;
    let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_string)).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The tensors a Mixtral of this configuration has, by Hugging Face name, with shapes.
/// Their number is bounded by `MixtralConfig::validate` (`MAX_TENSORS`).
pub fn expected_tensors(c: &MixtralConfig) -> BTreeMap<String, Vec<usize>> {
    let mut t = BTreeMap::new();
    let h = c.hidden_size;
    t.insert("model.embed_tokens.weight".to_string(), vec![c.vocab_size, h]);
    t.insert("model.norm.weight".to_string(), vec![h]);
    t.insert("lm_head.weight".to_string(), vec![c.vocab_size, h]);
    for l in 0..c.num_hidden_layers {
        let p = format!("model.layers.{l}");
        t.insert(format!("{p}.input_layernorm.weight"), vec![h]);
        t.insert(format!("{p}.post_attention_layernorm.weight"), vec![h]);
        t.insert(format!("{p}.self_attn.q_proj.weight"), vec![c.q_dim(), h]);
        t.insert(format!("{p}.self_attn.k_proj.weight"), vec![c.kv_dim(), h]);
        t.insert(format!("{p}.self_attn.v_proj.weight"), vec![c.kv_dim(), h]);
        t.insert(format!("{p}.self_attn.o_proj.weight"), vec![h, c.q_dim()]);
        t.insert(format!("{p}.block_sparse_moe.gate.weight"), vec![c.num_local_experts, h]);
        for e in 0..c.num_local_experts {
            let x = format!("{p}.block_sparse_moe.experts.{e}");
            t.insert(format!("{x}.w1.weight"), vec![c.intermediate_size, h]);
            t.insert(format!("{x}.w2.weight"), vec![h, c.intermediate_size]);
            t.insert(format!("{x}.w3.weight"), vec![c.intermediate_size, h]);
        }
    }
    t
}

/// The JSON header at the start of a safetensors stream: an 8-byte little-endian length,
/// then that many bytes of JSON. Reads nothing past it, so a check needs no weights
/// (`SafeTensors::read_metadata` cannot serve here: it insists on the whole file).
pub fn read_header(input: &mut impl Read) -> Result<Map<String, Value>, String> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len).map_err(|e| format!("not safetensors: {e}"))?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err("not safetensors: implausible header size".into());
    }
    // Grown as bytes arrive, not allocated at the length the file claims: eight bytes
    // saying 100 MB must not cost 100 MB.
    let mut header = Vec::new();
    input.take(len).read_to_end(&mut header).map_err(|e| format!("header cut short: {e}"))?;
    if header.len() as u64 != len {
        return Err(format!("header cut short: {} of its {len} bytes", header.len()));
    }
    serde_json::from_slice(&header).map_err(|e| format!("header is not JSON: {e}"))
}

/// Checks one file's header against the tensors still `expected`, removing those it
/// holds: each of its tensors must be expected (not already seen in another file) and of
/// the expected shape. The error names the tensor.
pub fn check_header(
    header: &Map<String, Value>,
    expected: &mut BTreeMap<String, Vec<usize>>,
) -> Result<(), (String, String)> {
    for (name, info) in header.iter().filter(|(n, _)| *n != "__metadata__") {
        let tensor_error = |message: String| (name.clone(), message);
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| tensor_error("has no readable shape".into()))?;
        match expected.remove(name) {
            None => return Err(tensor_error("is not a parameter of the model that config.json describes".into())),
            Some(want) if want != shape => {
                return Err(tensor_error(format!("shape {shape:?} in the file, but the config gives {want:?}")))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A tensor's values as `f32`, from any float dtype a checkpoint stores.
pub fn floats(view: &TensorView) -> Result<Vec<f32>, String> {
    let data = view.data();
    let words = |size: usize| data.chunks_exact(size);
    Ok(match view.dtype() {
        Dtype::F32 => words(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect(),
        Dtype::BF16 => words(2).map(|w| half::bf16::from_le_bytes([w[0], w[1]]).to_f32()).collect(),
        Dtype::F16 => words(2).map(|w| half::f16::from_le_bytes([w[0], w[1]]).to_f32()).collect(),
        other => return Err(format!("dtype {other:?} is not a float type the model can load")),
    })
}
