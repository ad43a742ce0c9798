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
use exp_stages::hf_weights;
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
        let files = hf_weights::shard_names(&text).map_err(|e| file_error(&index, e))?;
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
            let values = hf_weights::floats(&view).map_err(tensor_error)?;
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

pub use exp_stages::hf_weights::expected_tensors;

/// Checks a checkpoint folder against its `config.json` from the safetensors headers
/// alone (no weights are read): every tensor present, none extra, every shape right.
pub fn check(dir: &Path) -> Result<MixtralConfig, CheckpointError> {
    let config = MixtralConfig::read(&dir.join(CONFIG))?;
    let mut expected = expected_tensors(&config);
    for file in weight_files(dir)? {
        let mut f = std::fs::File::open(&file).map_err(|e| file_error(&file, e))?;
        let header = hf_weights::read_header(&mut f).map_err(|e| file_error(&file, e))?;
        hf_weights::check_header(&header, &mut expected).map_err(|(tensor, message)| CheckpointError::Tensor {
            path: file.clone(),
            tensor,
            message,
        })?;
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
