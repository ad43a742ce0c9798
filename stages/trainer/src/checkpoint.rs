//! Hugging Face checkpoints: a folder with `config.json` and the weights as safetensors,
//! one `model.safetensors` or shards listed by `model.safetensors.index.json`. Tensors are
//! matched to the model by their Hugging Face names; a missing, unexpected or mis-shaped
//! tensor is an error that names it, never a silent partial load.

use crate::config::MixtralConfig;
use crate::model::{Init, Mixtral};
use burn::module::ParamId;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_store::{ApplyError, ModuleSnapshot, TensorSnapshot};
use exp_stages::artifacts::{self, CheckpointPointer};
use exp_stages::StageError;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.json";
pub const SINGLE: &str = "model.safetensors";
pub const INDEX: &str = "model.safetensors.index.json";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor { path: PathBuf, tensor: String, message: String },
}

fn file_error(path: &Path, message: impl ToString) -> CheckpointError {
    CheckpointError::File { path: path.to_path_buf(), message: message.to_string() }
}

/// The safetensors files of a checkpoint folder, in order.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let index = dir.join(INDEX);
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| file_error(&index, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| file_error(&index, format!("not JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| file_error(&index, "no `weight_map` object"))?;
        let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_string)).collect();
        files.sort();
        files.dedup();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join(SINGLE);
    if single.exists() {
        return Ok(vec![single]);
    }
    Err(file_error(dir, format!("no `{SINGLE}` and no `{INDEX}`: not a Hugging Face checkpoint folder")))
}

/// Loads `config.json` and the weights of a checkpoint folder.
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<(MixtralConfig, Mixtral<B>), CheckpointError> {
    let config = MixtralConfig::read(&dir.join(CONFIG))?;
    let mut model = Mixtral::new(&config, Init::Placeholder, device);
    // The backend's float type (f32 on the CPU, maybe bf16 on a GPU): file tensors of
    // any float dtype are converted to it.
    let float = Tensor::<B, 1>::zeros([1], device).dtype();
    let mut snapshots = Vec::new();
    let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in weight_files(dir)? {
        let bytes = std::fs::read(&file).map_err(|e| file_error(&file, e))?;
        let tensors =
            SafeTensors::deserialize(&bytes).map_err(|e| file_error(&file, format!("not safetensors: {e}")))?;
        for (name, view) in tensors.tensors() {
            let tensor_error =
                |message: String| CheckpointError::Tensor { path: file.clone(), tensor: name.clone(), message };
            let values = to_f32(&view).map_err(tensor_error)?;
            let data = TensorData::new(values, view.shape().to_vec()).convert_dtype(float);
            let path: Vec<String> = name.split('.').map(str::to_string).collect();
            snapshots.push(TensorSnapshot::from_data(data, path, Vec::new(), ParamId::new()));
            if let Some(first) = origin.insert(name.clone(), file.clone()) {
                return Err(tensor_error(format!("also stored in {}", first.display())));
            }
        }
    }
    let result = model.apply(snapshots, None, None, false);
    let at = |tensor: &str| origin.get(tensor).cloned().unwrap_or_else(|| dir.to_path_buf());
    if let Some(error) = result.errors.first() {
        let (tensor, message) = match error {
            ApplyError::ShapeMismatch { path, expected, found } => (
                path.clone(),
                format!("shape {:?} in the file, but the config gives {:?}", found.to_vec(), expected.to_vec()),
            ),
            other => (String::new(), format!("{other:?}")),
        };
        return Err(CheckpointError::Tensor { path: at(&tensor), tensor, message });
    }
    if let Some((tensor, _)) = result.missing.first() {
        return Err(CheckpointError::Tensor {
            path: dir.to_path_buf(),
            tensor: tensor.clone(),
            message: format!("missing from the checkpoint ({} tensors missing)", result.missing.len()),
        });
    }
    if let Some(tensor) = result.unused.first() {
        return Err(CheckpointError::Tensor {
            path: at(tensor),
            tensor: tensor.clone(),
            message: "is not a parameter of the model that config.json describes".into(),
        });
    }
    Ok((config, model))
}

fn to_f32(view: &TensorView) -> Result<Vec<f32>, String> {
    let data = view.data();
    let words = |size: usize| data.chunks_exact(size);
    Ok(match view.dtype() {
        Dtype::F32 => words(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect(),
        Dtype::BF16 => words(2).map(|w| half::bf16::from_le_bytes([w[0], w[1]]).to_f32()).collect(),
        Dtype::F16 => words(2).map(|w| half::f16::from_le_bytes([w[0], w[1]]).to_f32()).collect(),
        other => return Err(format!("dtype {other:?} is not a float type the model can load")),
    })
}

/// Writes `config.json` (transformers 4.x form) and the weights as f32 safetensors, in
/// shards of at most `shard_bytes` (one `model.safetensors` when everything fits), with
/// the index transformers and vLLM read.
pub fn save<B: Backend>(
    model: &Mixtral<B>,
    config: &MixtralConfig,
    dir: &Path,
    shard_bytes: usize,
) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let mut config = config.clone();
    config.dtype = "float32".into();
    config.write(&dir.join(CONFIG)).map_err(|e| file_error(&dir.join(CONFIG), e))?;

    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = model
        .collect(None, None, false)
        .into_iter()
        .map(|s| {
            let data = s.to_data().map_err(|e| file_error(dir, format!("{}: {e:?}", s.full_path())))?;
            let data = data.convert_dtype(DType::F32);
            Ok((s.full_path(), data.shape.to_vec(), data.as_bytes().to_vec()))
        })
        .collect::<Result<_, CheckpointError>>()?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));

    let mut shards: Vec<Vec<usize>> = vec![Vec::new()];
    let mut size = 0;
    for (i, (_, _, bytes)) in tensors.iter().enumerate() {
        if size > 0 && size + bytes.len() > shard_bytes {
            shards.push(Vec::new());
            size = 0;
        }
        size += bytes.len();
        shards.last_mut().expect("one shard at least").push(i);
    }
    let metadata = Some([("format".to_string(), "pt".to_string())].into_iter().collect());
    let names: Vec<String> = if shards.len() == 1 {
        vec![SINGLE.to_string()]
    } else {
        (1..=shards.len()).map(|i| format!("model-{i:05}-of-{:05}.safetensors", shards.len())).collect()
    };
    let mut weight_map = serde_json::Map::new();
    for (shard, name) in shards.iter().zip(&names) {
        let views = shard
            .iter()
            .map(|&i| {
                let (tensor, shape, bytes) = &tensors[i];
                weight_map.insert(tensor.clone(), serde_json::Value::String(name.clone()));
                let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape and bytes agree");
                (tensor.clone(), view)
            })
            .collect::<Vec<_>>();
        let path = dir.join(name);
        safetensors::serialize_to_file(views, &metadata, &path).map_err(|e| file_error(&path, e))?;
    }
    if names.len() > 1 {
        let total: usize = tensors.iter().map(|t| t.2.len()).sum();
        let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        let path = dir.join(INDEX);
        std::fs::write(&path, serde_json::to_string_pretty(&index).expect("JSON") + "\n")
            .map_err(|e| file_error(&path, e))?;
    }
    Ok(())
}

/// The tensors a Mixtral of this configuration has, by Hugging Face name, with shapes.
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

/// Checks a checkpoint folder against its `config.json` from the safetensors headers
/// alone (no weights are read): every tensor present, none extra, every shape right.
pub fn check(dir: &Path) -> Result<MixtralConfig, CheckpointError> {
    use std::io::Read;
    let config = MixtralConfig::read(&dir.join(CONFIG))?;
    let mut expected = expected_tensors(&config);
    for file in weight_files(dir)? {
        let mut f = std::fs::File::open(&file).map_err(|e| file_error(&file, e))?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).map_err(|e| file_error(&file, format!("not safetensors: {e}")))?;
        let len = u64::from_le_bytes(len);
        // safetensors' own header limit. `SafeTensors::read_metadata` cannot serve here: it
        // insists on the whole file, and this check reads no weights.
        if len > 100_000_000 {
            return Err(file_error(&file, "not safetensors: implausible header size"));
        }
        let mut header = vec![0u8; len as usize];
        f.read_exact(&mut header).map_err(|e| file_error(&file, format!("header cut short: {e}")))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| file_error(&file, format!("header is not JSON: {e}")))?;
        for (name, info) in header.iter().filter(|(n, _)| *n != "__metadata__") {
            let tensor_error =
                |message: String| CheckpointError::Tensor { path: file.clone(), tensor: name.clone(), message };
            let shape: Vec<usize> = serde_json::from_value(info["shape"].clone())
                .map_err(|_| tensor_error("has no readable shape".into()))?;
            match expected.remove(name) {
                None => return Err(tensor_error("is not a parameter of the model that config.json describes".into())),
                Some(want) if want != shape => {
                    return Err(tensor_error(format!("shape {shape:?} in the file, but the config gives {want:?}")))
                }
                Some(_) => {}
            }
        }
    }
    if let Some((name, _)) = expected.iter().next() {
        return Err(CheckpointError::Tensor {
            path: dir.to_path_buf(),
            tensor: name.clone(),
            message: format!("missing from the checkpoint ({} tensors missing)", expected.len()),
        });
    }
    Ok(config)
}

/// Where a model artifact's weights are: the artifact itself, or, for an
/// `hf_checkpoint` node, the folder it points at (a checkpoint is not copied into the store).
pub fn model_dir(artifact: &Path) -> Result<PathBuf, CheckpointError> {
    let pointer = artifact.join(POINTER);
    if pointer.exists() {
        let read: CheckpointPointer = artifacts::read(artifact).map_err(|e| match e {
            StageError::Io { source, .. } => file_error(&pointer, source),
            StageError::BadRecord { message, .. } => file_error(&pointer, message),
            other => file_error(&pointer, other),
        })?;
        return Ok(read.path);
    }
    Ok(artifact.to_path_buf())
}

/// The file an `hf_checkpoint` artifact holds instead of the weights ([`CheckpointPointer`]).
pub const POINTER: &str = artifacts::CHECKPOINT_POINTER;
