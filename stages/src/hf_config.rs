//! The model's configuration, read from and written to a Hugging Face `config.json`.
//!
//! Real checkpoints come in two dialects: transformers 4.x writes `rope_theta` and
//! `torch_dtype` at the top level; 5.x nests the theta under `rope_parameters` and writes
//! `dtype`. We read both and write the 4.x form, which 5.x loads too.

use serde_json::{json, Map, Value};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct MixtralConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub num_local_experts: usize,
    pub num_experts_per_tok: usize,
    pub max_position_embeddings: usize,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub router_aux_loss_coef: f64,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// The dtype the checkpoint's weights are stored in (`float32`, `bfloat16`, ...).
    pub dtype: String,
}

/// The most tensors a configuration may describe: Mixtral 8×22B has 1,515, the largest
/// released mixtures of experts tens of thousands.
pub const MAX_TENSORS: u64 = 1 << 16;

/// The most parameters a configuration may describe, some hundred times the largest
/// published models; its bytes in `f32` still fit in 64 bits.
pub const MAX_PARAMETERS: u64 = 1 << 50;

/// Why a configuration cannot be used; the message names the file and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl MixtralConfig {
    /// A model small enough to train on a CPU in seconds: what the tests and the toy
    /// experiment use.
    pub fn tiny(vocab_size: usize) -> MixtralConfig {
        MixtralConfig {
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            num_local_experts: 4,
            num_experts_per_tok: 2,
            max_position_embeddings: 1024,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            router_aux_loss_coef: 0.01,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            dtype: "float32".into(),
        }
    }

    /// A CPU benchmark model where the vocabulary projection is not the whole step
    /// (`bench/trainer.sh`, `PRESET=small512`): Mixtral's shape (8 experts, 2 active,
    /// grouped-query attention with half as many key/value heads, expert size twice the
    /// hidden size) at hidden 512, 8 layers, 8 heads of 64. With the LLM-jp vocabulary
    /// (99,574) it has 208,960,000 parameters, 133,462,528 active per token (50,981,888 of
    /// each in the embedding and `lm_head`).
    pub fn small_512(vocab_size: usize) -> MixtralConfig {
        MixtralConfig {
            vocab_size,
            hidden_size: 512,
            intermediate_size: 1024,
            num_hidden_layers: 8,
            num_attention_heads: 8,
            num_key_value_heads: 4,
            head_dim: 64,
            num_local_experts: 8,
            num_experts_per_tok: 2,
            ..MixtralConfig::tiny(vocab_size)
        }
    }

    /// A mixture of experts of about a billion parameters for GPU benchmarks
    /// (`bench/gpu.sh`): Mixtral's shape (8 experts, 2 active, grouped-query attention with
    /// half as many key/value heads) at hidden 1024, 16 layers. With the LLM-jp vocabulary
    /// (99,574) it has 1,059,730,432 parameters, 455,750,656 active per token (203,927,552
    /// of each in the embedding and `lm_head`).
    pub fn moe_1b(vocab_size: usize) -> MixtralConfig {
        MixtralConfig {
            vocab_size,
            hidden_size: 1024,
            intermediate_size: 2048,
            num_hidden_layers: 16,
            num_attention_heads: 16,
            num_key_value_heads: 8,
            head_dim: 64,
            num_local_experts: 8,
            num_experts_per_tok: 2,
            max_position_embeddings: 4096,
            ..MixtralConfig::tiny(vocab_size)
        }
    }

    /// LLM-jp-3 8×13B, the paper's base. From the model card of `llm-jp/llm-jp-3-8x13b`
    /// (40 layers, hidden 5120, 40 heads, 8 routed experts, 2 active, context 4096, 1,018,746,880
    /// embedding and 72,144,081,920 non-embedding parameters): the embedding count gives a
    /// vocabulary of 99,487 (2 × 99,487 × 5120, untied), and the non-embedding count gives
    /// full multi-head attention (40 key/value heads) and experts of 13,824 (LLaMA-2 13B's
    /// feed-forward size); LLaMA-2 blocks use a rotary base of 10,000.
    pub fn llm_jp_8x13b() -> MixtralConfig {
        MixtralConfig {
            vocab_size: 99_487,
            hidden_size: 5120,
            intermediate_size: 13_824,
            num_hidden_layers: 40,
            num_attention_heads: 40,
            num_key_value_heads: 40,
            head_dim: 128,
            num_local_experts: 8,
            num_experts_per_tok: 2,
            max_position_embeddings: 4096,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            router_aux_loss_coef: 0.01,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            dtype: "bfloat16".into(),
        }
    }

    /// Parameters in total and active per token (embedding and `lm_head` included).
    /// Saturating: a configuration too large to count gives `u64::MAX`, which
    /// [`validate`](Self::validate) refuses, never a count that wrapped round to a small one.
    pub fn parameter_counts(&self) -> (u64, u64) {
        let [h, i, e, k, layers, vocab] = [
            self.hidden_size,
            self.intermediate_size,
            self.num_local_experts,
            self.num_experts_per_tok,
            self.num_hidden_layers,
            self.vocab_size,
        ]
        .map(|n| n as u64);
        let [heads, kv_heads, head_dim] =
            [self.num_attention_heads, self.num_key_value_heads, self.head_dim].map(|n| n as u64);
        let mul = |factors: &[u64]| factors.iter().fold(1u64, |p, &f| p.saturating_mul(f));
        let sum = |terms: &[u64]| terms.iter().fold(0u64, |s, &t| s.saturating_add(t));
        let attention = sum(&[mul(&[h, heads, head_dim, 2]), mul(&[h, kv_heads, head_dim, 2])]);
        let expert = mul(&[3, h, i]);
        let shared_per_layer = sum(&[attention, mul(&[2, h]), mul(&[e, h])]);
        let embeddings = mul(&[2, vocab, h]);
        let total = sum(&[embeddings, mul(&[layers, sum(&[shared_per_layer, mul(&[e, expert])])]), h]);
        let active = sum(&[embeddings, mul(&[layers, sum(&[shared_per_layer, mul(&[k, expert])])]), h]);
        (total, active)
    }

    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Checks the shapes fit together.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("num_local_experts", self.num_local_experts),
            ("num_experts_per_tok", self.num_experts_per_tok),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(format!(
                "`num_attention_heads` ({}) must be a multiple of `num_key_value_heads` ({})",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!("`head_dim` ({}) must be even for rotary embeddings", self.head_dim));
        }
        if self.num_experts_per_tok >= self.num_local_experts {
            return Err(format!(
                "`num_experts_per_tok` ({}) must be below `num_local_experts` ({})",
                self.num_experts_per_tok, self.num_local_experts
            ));
        }
        // Bounds that keep every count taken from a configuration in range: parameters and
        // their bytes in 64 bits (`parameter_counts`), and the tensor list a checkpoint is
        // checked against (`hf_weights::expected_tensors`) small. A `config.json` beyond
        // them is a typo or hostile, not a model.
        let (layers, experts) = (self.num_hidden_layers as u64, self.num_local_experts as u64);
        let per_layer = experts.saturating_mul(3).saturating_add(7);
        if layers.saturating_mul(per_layer).saturating_add(3) > MAX_TENSORS {
            return Err(format!(
                "{layers} layers of {experts} experts are more than the {MAX_TENSORS} tensors a checkpoint may have"
            ));
        }
        if self.parameter_counts().0 > MAX_PARAMETERS {
            return Err(format!("the model has more than {MAX_PARAMETERS} parameters"));
        }
        Ok(())
    }

    /// Reads `config.json` in either dialect.
    pub fn read(path: &Path) -> Result<MixtralConfig, ConfigError> {
        let error = |message: String| ConfigError { file: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// The text of a `config.json`, in either dialect.
    pub fn parse(text: &str) -> Result<MixtralConfig, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_json(&value)
    }

    pub fn from_json(value: &Value) -> Result<MixtralConfig, String> {
        let obj = value.as_object().ok_or("not a JSON object")?;
        if let Some(kind) = obj.get("model_type").and_then(Value::as_str) {
            if kind != "mixtral" {
                return Err(format!("`model_type` is `{kind}`; exp trains `mixtral` models"));
            }
        }
        if obj.get("tie_word_embeddings").and_then(Value::as_bool) == Some(true) {
            return Err("`tie_word_embeddings` is true; Mixtral checkpoints have an untied `lm_head`".into());
        }
        let hidden = count(obj, "hidden_size")?;
        let heads = count(obj, "num_attention_heads")?;
        let head_dim = match obj.get("head_dim") {
            None | Some(Value::Null) => {
                if !hidden.is_multiple_of(heads) {
                    return Err(format!(
                        "`hidden_size` ({hidden}) is not a multiple of `num_attention_heads` ({heads})"
                    ));
                }
                hidden / heads
            }
            Some(_) => count(obj, "head_dim")?,
        };
        // 4.x: top-level `rope_theta`; 5.x: `rope_parameters.rope_theta`.
        let rope = obj.get("rope_parameters").and_then(Value::as_object);
        if let Some(kind) = rope.and_then(|r| r.get("rope_type")).and_then(Value::as_str) {
            if kind != "default" {
                return Err(format!(
                    "`rope_parameters.rope_type` is `{kind}`; only `default` rotary embeddings are supported"
                ));
            }
        }
        if let Some(scaling) = obj.get("rope_scaling").filter(|v| !v.is_null()) {
            return Err(format!("`rope_scaling` ({scaling}) is not supported"));
        }
        let rope_theta = match (obj.get("rope_theta"), rope.and_then(|r| r.get("rope_theta"))) {
            (Some(v), _) | (None, Some(v)) => v.as_f64().ok_or("`rope_theta` is not a number")?,
            (None, None) => 1e6, // transformers' default for Mixtral
        };
        let dtype = obj
            .get("torch_dtype")
            .or_else(|| obj.get("dtype"))
            .and_then(Value::as_str)
            .unwrap_or("float32")
            .to_string();
        let config = MixtralConfig {
            vocab_size: count(obj, "vocab_size")?,
            hidden_size: hidden,
            intermediate_size: count(obj, "intermediate_size")?,
            num_hidden_layers: count(obj, "num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: match obj.get("num_key_value_heads") {
                None | Some(Value::Null) => heads,
                Some(_) => count(obj, "num_key_value_heads")?,
            },
            head_dim,
            num_local_experts: count(obj, "num_local_experts")?,
            num_experts_per_tok: count(obj, "num_experts_per_tok")?,
            max_position_embeddings: count(obj, "max_position_embeddings")?,
            rope_theta,
            rms_norm_eps: obj.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-5),
            router_aux_loss_coef: obj.get("router_aux_loss_coef").and_then(Value::as_f64).unwrap_or(0.001),
            bos_token_id: token(obj, "bos_token_id"),
            eos_token_id: token(obj, "eos_token_id"),
            dtype,
        };
        config.validate()?;
        Ok(config)
    }

    /// The transformers 4.x form.
    pub fn to_json(&self) -> Value {
        json!({
            "architectures": ["MixtralForCausalLM"],
            "model_type": "mixtral",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "num_local_experts": self.num_local_experts,
            "num_experts_per_tok": self.num_experts_per_tok,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "router_aux_loss_coef": self.router_aux_loss_coef,
            "hidden_act": "silu",
            "attention_dropout": 0.0,
            "sliding_window": null,
            "tie_word_embeddings": false,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "torch_dtype": self.dtype,
        })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()).expect("a JSON value serialises");
        std::fs::write(path, text + "\n")
    }
}

fn count(obj: &Map<String, Value>, key: &str) -> Result<usize, String> {
    match obj.get(key) {
        None => Err(format!("`{key}` is missing")),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| format!("`{key}` must be a positive whole number, found {v}")),
    }
}

fn token(obj: &Map<String, Value>, key: &str) -> Option<u32> {
    obj.get(key).and_then(Value::as_u64).map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_preset_matches_the_model_card_counts() {
        let (total, _) = MixtralConfig::llm_jp_8x13b().parameter_counts();
        assert_eq!(total, 73_162_828_800);
    }

    #[test]
    fn the_1b_preset_has_the_counts_its_doc_states() {
        let config = MixtralConfig::moe_1b(99_574);
        assert_eq!(config.parameter_counts(), (1_059_730_432, 455_750_656));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn the_small_512_preset_has_the_counts_its_doc_states() {
        let config = MixtralConfig::small_512(99_574);
        assert_eq!(config.parameter_counts(), (208_960_000, 133_462_528));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn both_dialects_read_the_same() {
        let v4 = json!({"model_type": "mixtral", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 4,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "num_local_experts": 4,
            "num_experts_per_tok": 2, "max_position_embeddings": 16, "rope_theta": 500.0, "torch_dtype": "bfloat16"});
        let mut v5 = v4.clone();
        let o = v5.as_object_mut().expect("a valid config");
        o.remove("rope_theta");
        o.remove("torch_dtype");
        o.insert("rope_parameters".into(), json!({"rope_theta": 500.0, "rope_type": "default"}));
        o.insert("dtype".into(), json!("bfloat16"));
        let (a, b) = (
            MixtralConfig::from_json(&v4).expect("a valid config"),
            MixtralConfig::from_json(&v5).expect("a valid config"),
        );
        assert_eq!(a, b);
        assert_eq!(a.rope_theta, 500.0);
        assert_eq!(a.head_dim, 4);
        // What we write reads back identically.
        assert_eq!(MixtralConfig::from_json(&a.to_json()).expect("a valid config"), a);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut v = MixtralConfig::tiny(10).to_json();
        v.as_object_mut().expect("a valid config").remove("num_local_experts");
        assert!(MixtralConfig::from_json(&v).expect_err("an invalid config").contains("num_local_experts"));
        let mut v = MixtralConfig::tiny(10).to_json();
        v["num_key_value_heads"] = json!(3);
        assert!(MixtralConfig::from_json(&v).expect_err("an invalid config").contains("multiple"));
        let mut v = MixtralConfig::tiny(10).to_json();
        v["rope_scaling"] = json!({"type": "yarn"});
        assert!(MixtralConfig::from_json(&v).expect_err("an invalid config").contains("rope_scaling"));
    }
}
