//! Mixtral exactly as Hugging Face `MixtralForCausalLM` computes it: token embedding,
//! pre-norm decoder layers (RMSNorm → grouped-query attention with rotary positions →
//! RMSNorm → sparse mixture of SwiGLU experts, each with a residual), a final RMSNorm and
//! an untied `lm_head`.
//!
//! Field names follow the Hugging Face parameter names (`model.layers.0.self_attn.q_proj.weight`,
//! `model.layers.0.block_sparse_moe.experts.3.w1.weight`, ...), so a checkpoint's tensors map
//! onto the module by path with no renaming, and linear weights keep PyTorch's
//! `[out, in]` layout so nothing is transposed on the way in or out.

use crate::config::MixtralConfig;
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{IndexingUpdateOp, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// How fresh parameters are filled.
pub enum Init<'a> {
    /// Normal(0, 0.02) for matrices and ones for norms, as transformers initialises
    /// Mixtral, drawn from one seeded stream in parameter order: the same seed gives the
    /// same model on every backend.
    Random(&'a mut ChaCha8Rng),
    /// Lazy zeros, to be overwritten by a checkpoint (nothing is allocated until then).
    Placeholder,
}

impl Init<'_> {
    fn matrix<B: Backend>(&mut self, rows: usize, cols: usize, device: &B::Device) -> Param<Tensor<B, 2>> {
        match self {
            Init::Placeholder => burn::nn::Initializer::Zeros.init([rows, cols], device),
            Init::Random(rng) => {
                let normal = Normal::new(0.0f32, 0.02).expect("a valid standard deviation");
                let values: Vec<f32> = (0..rows * cols).map(|_| normal.sample(&mut **rng)).collect();
                Param::from_tensor(Tensor::from_data(TensorData::new(values, [rows, cols]), device))
            }
        }
    }

    fn ones<B: Backend>(&mut self, n: usize, device: &B::Device) -> Param<Tensor<B, 1>> {
        match self {
            Init::Placeholder => burn::nn::Initializer::Zeros.init([n], device),
            Init::Random(_) => Param::from_tensor(Tensor::ones([n], device)),
        }
    }

    pub fn seeded(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }
}

/// A bias-free linear layer with PyTorch's `[out, in]` weight.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Linear<B> {
    fn new(input: usize, output: usize, init: &mut Init, device: &B::Device) -> Self {
        Linear { weight: init.matrix(output, input, device) }
    }

    /// `x · Wᵀ` on `[rows, in]`. Two-dimensional on purpose: under autodiff a reshape of a
    /// tensor the backward pass still holds is a full copy, and the `lm_head` output is
    /// `[tokens, vocab]`, hundreds of megabytes.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.val().transpose())
    }

    /// [`cross_entropy`] of `forward(x)`, the logits never a tensor of the autodiff graph:
    /// on the CPU they are written into a reused buffer and become their own gradient
    /// (`loss::lm_head_cross_entropy`).
    pub fn cross_entropy(&self, x: Tensor<B, 2>, targets: Tensor<B, 1, Int>, mask: Tensor<B, 1>) -> Tensor<B, 1> {
        crate::loss::lm_head_cross_entropy(x, self.weight.val(), targets, mask)
    }
}

/// `weight * x / sqrt(mean(x²) + eps)`, as `MixtralRMSNorm`.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    fn new(size: usize, eps: f64, init: &mut Init, device: &B::Device) -> Self {
        RmsNorm { weight: init.ones(size, device), eps }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let variance = x.clone().powf_scalar(2.0).mean_dim(2);
        let normed = x * variance.add_scalar(self.eps).sqrt().recip();
        normed * self.weight.val().unsqueeze::<3>()
    }
}

/// The rotary tables: `cos` and `sin` of shape `[rows, len, head_dim]`, with the
/// frequencies repeated over both halves (`rotate_half` style). One row (positions
/// `start..start + len`) serves a whole batch whose sequences are aligned; a batch of
/// left-padded sequences has a row per sequence, so that each sequence's tokens get the
/// positions they would have alone.
pub struct Rotary<B: Backend> {
    cos: Tensor<B, 3>,
    sin: Tensor<B, 3>,
}

impl<B: Backend> Rotary<B> {
    /// Positions `start..start + len`, for every sequence of a batch.
    pub fn new(config: &MixtralConfig, start: usize, len: usize, device: &B::Device) -> Self {
        Self::per_sequence(config, &[start as i64], len, device)
    }

    /// Positions `starts[i]..starts[i] + len` for sequence `i`; a negative position (a
    /// padding column, which no real token attends to) takes position 0.
    pub fn per_sequence(config: &MixtralConfig, starts: &[i64], len: usize, device: &B::Device) -> Self {
        let hd = config.head_dim;
        let half = hd / 2;
        let rows = starts.len();
        let mut cos = Vec::with_capacity(rows * len * hd);
        let mut sin = Vec::with_capacity(rows * len * hd);
        for &start in starts {
            for pos in start..start + len as i64 {
                let pos = pos.max(0) as f64;
                let row: Vec<f64> =
                    (0..half).map(|i| pos / config.rope_theta.powf((2 * i) as f64 / hd as f64)).collect();
                for _ in 0..2 {
                    cos.extend(row.iter().map(|a| a.cos() as f32));
                    sin.extend(row.iter().map(|a| a.sin() as f32));
                }
            }
        }
        Rotary {
            cos: Tensor::from_data(TensorData::new(cos, [rows, len, hd]), device),
            sin: Tensor::from_data(TensorData::new(sin, [rows, len, hd]), device),
        }
    }

    /// `x * cos + rotate_half(x) * sin` on `[batch, heads, seq, head_dim]`.
    fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, s, hd] = x.dims();
        let half = hd / 2;
        let first = x.clone().narrow(3, 0, half);
        let second = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        let cos = self.cos.clone().unsqueeze_dim::<4>(1).expand([b, h, s, hd]);
        let sin = self.sin.clone().unsqueeze_dim::<4>(1).expand([b, h, s, hd]);
        x * cos + rotated * sin
    }
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    fn new(c: &MixtralConfig, init: &mut Init, device: &B::Device) -> Self {
        Attention {
            q_proj: Linear::new(c.hidden_size, c.q_dim(), init, device),
            k_proj: Linear::new(c.hidden_size, c.kv_dim(), init, device),
            v_proj: Linear::new(c.hidden_size, c.kv_dim(), init, device),
            o_proj: Linear::new(c.q_dim(), c.hidden_size, init, device),
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
        }
    }

    /// `cache`: the keys and values of earlier positions (rotated, before `repeat_kv`),
    /// extended with this call's; the causal mask is aligned bottom-right, so new
    /// positions see all cached ones. A cache of left-padded sequences also hides each
    /// sequence's padding columns from it (see [`Masking`]).
    fn forward(&self, x: Tensor<B, 3>, rotary: &Rotary<B>, cache: Option<&mut LayerCache<B>>) -> Tensor<B, 3> {
        let [b, s, h] = x.dims();
        let x = x.reshape([b * s, h]);
        let split = |t: Tensor<B, 2>, heads: usize| t.reshape([b, s, heads, self.head_dim]).swap_dims(1, 2);
        let q = rotary.apply(split(self.q_proj.forward(x.clone()), self.heads));
        let mut k = rotary.apply(split(self.k_proj.forward(x.clone()), self.kv_heads));
        let mut v = split(self.v_proj.forward(x), self.kv_heads);
        let mut padding = None;
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.kv.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            slot.kv = Some((k.clone(), v.clone()));
            if slot.pad.iter().any(|&p| p > 0) {
                padding = Some((slot.pad.as_slice(), slot.masking));
            }
        }
        let out = match padding {
            None => self.attend(q, k, v, None),
            Some((pad, Masking::Mask)) => {
                let keys = k.dims()[2];
                let hidden: Vec<bool> =
                    pad.iter().flat_map(|&p| (0..s).flat_map(move |_| (0..keys).map(move |c| c < p))).collect();
                let mask = Tensor::<B, 4, Bool>::from_data(TensorData::new(hidden, [b, 1, s, keys]), &q.device())
                    .expand([b, self.heads, s, keys]);
                self.attend(q, k, v, Some(mask))
            }
            Some((pad, Masking::Spans)) => self.attend_spans(q, k, v, pad),
        };
        self.o_proj.forward(out.swap_dims(1, 2).reshape([b * s, self.heads * self.head_dim])).reshape([b, s, h])
    }

    /// Causal attention of `q` over `k`, `v` (before `repeat_kv`), with `mask` (true:
    /// hidden) when given.
    fn attend(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 4> {
        // Grouped-query attention: key/value head i serves query heads i·r .. i·r + r - 1,
        // as transformers' `repeat_kv` lays them out.
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let options = AttentionModuleOptions { is_causal: true, ..Default::default() };
        attention(q, k, v, mask, None, options)
    }

    /// [`Masking::Spans`]: each sequence attends, in a call of its own, over its own
    /// columns only (`pad[i]..`), its padding query rows giving zeros: the very shapes,
    /// and so the very bits, of the sequence run alone.
    fn attend_spans(&self, q: Tensor<B, 4>, k: Tensor<B, 4>, v: Tensor<B, 4>, pad: &[usize]) -> Tensor<B, 4> {
        let [b, heads, s, hd] = q.dims();
        let keys = k.dims()[2];
        let device = q.device();
        let rows = (0..b)
            .map(|i| {
                // The queries are the last `s` columns; those before `pad[i]` are padding.
                let first = pad[i].saturating_sub(keys - s).min(s);
                let zeros = Tensor::<B, 4>::zeros([1, heads, first, hd], &device);
                if first == s {
                    return zeros;
                }
                let span = |t: &Tensor<B, 4>| t.clone().narrow(0, i, 1).narrow(2, pad[i], keys - pad[i]);
                let out = self.attend(q.clone().narrow(0, i, 1).narrow(2, first, s - first), span(&k), span(&v), None);
                if first == 0 {
                    out
                } else {
                    Tensor::cat(vec![zeros, out], 2)
                }
            })
            .collect();
        Tensor::cat(rows, 0)
    }

    fn repeat_kv(&self, t: Tensor<B, 4>) -> Tensor<B, 4> {
        let rep = self.heads / self.kv_heads;
        if rep == 1 {
            return t;
        }
        let [b, h, s, d] = t.dims();
        t.unsqueeze_dim::<5>(2).repeat_dim(2, rep).reshape([b, h * rep, s, d])
    }
}

/// One SwiGLU expert: `w2(silu(w1 x) * w3 x)`.
#[derive(Module, Debug)]
pub struct Expert<B: Backend> {
    pub w1: Linear<B>,
    pub w2: Linear<B>,
    pub w3: Linear<B>,
}

impl<B: Backend> Expert<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.w2.forward(silu(self.w1.forward(x.clone())) * self.w3.forward(x))
    }
}

/// What a MoE block's router did, for the load-balancing loss and the metrics.
pub struct Routing<B: Backend> {
    /// `[tokens, experts]`, before the softmax.
    pub logits: Tensor<B, 2>,
    /// How many (token, slot) choices went to each expert.
    pub counts: Vec<u64>,
}

#[derive(Module, Debug)]
pub struct SparseMoe<B: Backend> {
    pub gate: Linear<B>,
    pub experts: Vec<Expert<B>>,
    pub top_k: usize,
}

impl<B: Backend> SparseMoe<B> {
    fn new(c: &MixtralConfig, init: &mut Init, device: &B::Device) -> Self {
        let gate = Linear::new(c.hidden_size, c.num_local_experts, init, device);
        let experts = (0..c.num_local_experts)
            .map(|_| Expert {
                w1: Linear::new(c.hidden_size, c.intermediate_size, init, device),
                w2: Linear::new(c.intermediate_size, c.hidden_size, init, device),
                w3: Linear::new(c.hidden_size, c.intermediate_size, init, device),
            })
            .collect();
        SparseMoe { gate, experts, top_k: c.num_experts_per_tok }
    }

    /// Softmax over the experts, the top-k kept and their weights renormalised to sum to
    /// one; each expert runs only on the tokens routed to it.
    fn forward(&self, x: Tensor<B, 3>) -> (Tensor<B, 3>, Routing<B>) {
        let [b, s, h] = x.dims();
        let (tokens, k) = (b * s, self.top_k);
        let flat = x.reshape([tokens, h]);
        let logits = self.gate.forward(flat.clone());
        let probs = softmax(logits.clone(), 1);
        let (top, chosen) = probs.topk_with_indices(k, 1);
        let weights = (top.clone() / top.sum_dim(1)).reshape([tokens * k]);
        // The routing decision is data: read it once, group the (token, slot) pairs per expert.
        let chosen: Vec<i64> = chosen.into_data().convert::<i64>().to_vec().expect("routing indices are integers");
        let mut per_expert: Vec<(Vec<i64>, Vec<i64>)> = vec![(Vec::new(), Vec::new()); self.experts.len()];
        for (slot, &e) in chosen.iter().enumerate() {
            let (tokens_of, slots_of) = &mut per_expert[e as usize];
            tokens_of.push((slot / k) as i64);
            slots_of.push(slot as i64);
        }
        let device = flat.device();
        let mut out = Tensor::<B, 2>::zeros([tokens, h], &device);
        for (expert, (token_ids, slots)) in self.experts.iter().zip(&per_expert) {
            if token_ids.is_empty() {
                continue;
            }
            let n = token_ids.len();
            let token_ids = Tensor::<B, 1, Int>::from_data(TensorData::new(token_ids.clone(), [n]), &device);
            let slots = Tensor::<B, 1, Int>::from_data(TensorData::new(slots.clone(), [n]), &device);
            let w = weights.clone().select(0, slots).reshape([n, 1]);
            let y = expert.forward(flat.clone().select(0, token_ids.clone())) * w;
            out = out.select_assign(0, token_ids, y, IndexingUpdateOp::Add);
        }
        let counts = per_expert.iter().map(|(t, _)| t.len() as u64).collect();
        (out.reshape([b, s, h]), Routing { logits, counts })
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: Attention<B>,
    pub block_sparse_moe: SparseMoe<B>,
    pub input_layernorm: RmsNorm<B>,
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> DecoderLayer<B> {
    fn forward(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        cache: Option<&mut LayerCache<B>>,
    ) -> (Tensor<B, 3>, Routing<B>) {
        let x = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rotary, cache);
        let (moe, routing) = self.block_sparse_moe.forward(self.post_attention_layernorm.forward(x.clone()));
        (x + moe, routing)
    }
}

#[derive(Module, Debug)]
pub struct MixtralModel<B: Backend> {
    pub embed_tokens: burn::nn::Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
}

/// The whole causal LM; its parameter paths are the Hugging Face names.
#[derive(Module, Debug)]
pub struct Mixtral<B: Backend> {
    pub model: MixtralModel<B>,
    pub lm_head: Linear<B>,
}

/// A forward pass's result.
pub struct Output<B: Backend> {
    /// `[batch, seq, vocab]`.
    pub logits: Tensor<B, 3>,
    /// One per layer.
    pub routing: Vec<Routing<B>>,
}

impl<B: Backend> Mixtral<B> {
    pub fn new(c: &MixtralConfig, mut init: Init, device: &B::Device) -> Self {
        let init = &mut init;
        let embedding = init.matrix(c.vocab_size, c.hidden_size, device);
        let layers = (0..c.num_hidden_layers)
            .map(|_| DecoderLayer {
                self_attn: Attention::new(c, init, device),
                block_sparse_moe: SparseMoe::new(c, init, device),
                input_layernorm: RmsNorm::new(c.hidden_size, c.rms_norm_eps, init, device),
                post_attention_layernorm: RmsNorm::new(c.hidden_size, c.rms_norm_eps, init, device),
            })
            .collect();
        let norm = RmsNorm::new(c.hidden_size, c.rms_norm_eps, init, device);
        let lm_head = Linear::new(c.hidden_size, c.vocab_size, init, device);
        Mixtral {
            model: MixtralModel { embed_tokens: burn::nn::Embedding { weight: embedding }, layers, norm },
            lm_head,
        }
    }

    /// Logits `[batch, seq, vocab]` for `[batch, seq]` token ids at positions `0..seq`.
    pub fn forward(&self, config: &MixtralConfig, ids: Tensor<B, 2, Int>) -> Output<B> {
        let [b, s] = ids.dims();
        let (logits, routing) = self.forward_flat(config, ids);
        Output { logits: logits.reshape([b, s, config.vocab_size]), routing }
    }

    /// The final hidden states `[batch · seq, hidden]` (before `lm_head`) and the routing:
    /// what training feeds to [`Linear::cross_entropy`] of `lm_head`.
    pub fn forward_hidden(&self, config: &MixtralConfig, ids: Tensor<B, 2, Int>) -> (Tensor<B, 2>, Vec<Routing<B>>) {
        self.hidden(config, ids, None)
    }

    /// Logits as `[batch · seq, vocab]`, what training feeds to [`cross_entropy`] without
    /// ever reshaping the largest tensor of the step.
    pub fn forward_flat(&self, config: &MixtralConfig, ids: Tensor<B, 2, Int>) -> (Tensor<B, 2>, Vec<Routing<B>>) {
        self.run(config, ids, None)
    }

    /// Logits `[batch, seq, vocab]` for `ids` that continue what `cache` holds (positions
    /// `cache.len()..`); the cache is extended with them. What generation uses: each new
    /// token costs one position, not the whole prefix again.
    pub fn forward_cached(
        &self,
        config: &MixtralConfig,
        ids: Tensor<B, 2, Int>,
        cache: &mut KvCache<B>,
    ) -> Tensor<B, 3> {
        let [b, s] = ids.dims();
        let (logits, _) = self.run(config, ids, Some(cache));
        logits.reshape([b, s, config.vocab_size])
    }

    /// The final hidden states `[batch · seq, hidden]` (normalised, before `lm_head`) of
    /// `ids`, continuing what `cache` holds when given: what scoring uses, so that the
    /// vocabulary projection runs only on the positions that are read.
    pub fn hidden_states(
        &self,
        config: &MixtralConfig,
        ids: Tensor<B, 2, Int>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 2> {
        self.hidden(config, ids, cache).0
    }

    fn run(
        &self,
        config: &MixtralConfig,
        ids: Tensor<B, 2, Int>,
        cache: Option<&mut KvCache<B>>,
    ) -> (Tensor<B, 2>, Vec<Routing<B>>) {
        let (hidden, routing) = self.hidden(config, ids, cache);
        (self.lm_head.forward(hidden), routing)
    }

    fn hidden(
        &self,
        config: &MixtralConfig,
        ids: Tensor<B, 2, Int>,
        mut cache: Option<&mut KvCache<B>>,
    ) -> (Tensor<B, 2>, Vec<Routing<B>>) {
        let [b, s] = ids.dims();
        let rotary = match cache.as_ref() {
            // Left-padded sequences: each counts its positions from its first real token.
            Some(c) if c.pad.iter().any(|&p| p > 0) => {
                let starts: Vec<i64> = c.pad.iter().map(|&p| c.len as i64 - p as i64).collect();
                Rotary::per_sequence(config, &starts, s, &ids.device())
            }
            c => Rotary::new(config, c.map_or(0, |c| c.len), s, &ids.device()),
        };
        let mut x = self.model.embed_tokens.forward(ids);
        let mut routing = Vec::with_capacity(self.model.layers.len());
        for (i, layer) in self.model.layers.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.layers[i]);
            let (y, r) = layer.forward(x, &rotary, slot);
            x = y;
            routing.push(r);
        }
        if let Some(c) = cache {
            c.len += s;
        }
        (self.model.norm.forward(x).reshape([b * s, config.hidden_size]), routing)
    }

    /// Greedy decoding of `new` tokens after `prompt`, with the key/value cache.
    pub fn greedy(&self, config: &MixtralConfig, prompt: &[u32], new: usize) -> Vec<u32> {
        let device = self.lm_head.weight.device();
        let mut cache = KvCache::new(config);
        let mut input: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
        let mut out = Vec::with_capacity(new);
        for _ in 0..new {
            let n = input.len();
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(input, [1, n]), &device);
            let last = self.forward_cached(config, ids, &mut cache).narrow(1, n - 1, 1);
            let next: Vec<i64> = last.argmax(2).into_data().convert::<i64>().to_vec().expect("integers");
            out.push(next[0] as u32);
            input = vec![next[0]];
        }
        out
    }

    /// Greedy decoding of `new` tokens after each of `prompts`, of any lengths, as one
    /// batch: the prompts left-padded to the longest (padding id 0) in one pass, then one
    /// token per sequence per step, `masking` hiding the padding. Each sequence gets what
    /// [`Mixtral::greedy`] gives it alone (bit for bit with [`Masking::Spans`]).
    pub fn greedy_batch(
        &self,
        config: &MixtralConfig,
        prompts: &[Vec<u32>],
        new: usize,
        masking: Masking,
    ) -> Vec<Vec<u32>> {
        let device = self.lm_head.weight.device();
        let b = prompts.len();
        let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 || width == 0 {
            return vec![Vec::new(); b];
        }
        let pad: Vec<usize> = prompts.iter().map(|p| width - p.len()).collect();
        let mut cache = KvCache::padded(config, pad, masking);
        let mut input: Vec<i64> = prompts
            .iter()
            .flat_map(|p| std::iter::repeat_n(0, width - p.len()).chain(p.iter().map(|&t| t as i64)))
            .collect();
        let mut n = width;
        let mut out = vec![Vec::with_capacity(new); b];
        for _ in 0..new {
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(input, [b, n]), &device);
            let last = self.forward_cached(config, ids, &mut cache).narrow(1, n - 1, 1);
            let next: Vec<i64> = last.argmax(2).into_data().convert::<i64>().to_vec().expect("integers");
            for (o, &t) in out.iter_mut().zip(&next) {
                o.push(t as u32);
            }
            input = next;
            n = 1;
        }
        out
    }
}

/// How attention hides the left padding of a batch of sequences of different lengths
/// (generation batched across prompts: every sequence's newest token sits in the last
/// column, so a shorter prompt is padded before its first token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Masking {
    /// Each sequence attends over its own columns in an attention call of its own; the
    /// projections, norms and experts still run on the whole batch. Every sequence gets
    /// the bits it gets alone: the masked softmax of one padded call sums its row in a
    /// different order (ndarray's sums run eight lanes, the matrix product 256-wide
    /// blocks, both counted from the row's first column), so results would depend on the
    /// batch. What the CPU uses; there a call costs microseconds.
    #[default]
    Spans,
    /// One attention call for the batch with a boolean key-padding mask: fewer, larger
    /// kernels, for an accelerator; equal to the sequence alone within rounding.
    Mask,
}

/// One layer's cached keys and values, `[batch, kv_heads, columns, head_dim]` each, and
/// the padding columns each sequence starts with.
#[derive(Clone)]
pub struct LayerCache<B: Backend> {
    kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    pad: Vec<usize>,
    masking: Masking,
}

/// The keys and values of the positions a batch of sequences has seen, per layer. The
/// sequences are aligned on their last column; sequence `i` starts with `pad[i]`
/// padding columns (none when `pad` is empty), which no real token attends to.
#[derive(Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    /// Columns cached, padding included.
    len: usize,
    pad: Vec<usize>,
    masking: Masking,
}

impl<B: Backend> KvCache<B> {
    pub fn new(config: &MixtralConfig) -> Self {
        Self::padded(config, Vec::new(), Masking::default())
    }

    /// An empty cache for a batch whose first call's ids start sequence `i` with
    /// `pad[i]` padding tokens.
    pub fn padded(config: &MixtralConfig, pad: Vec<usize>, masking: Masking) -> Self {
        let layer = LayerCache { kv: None, pad: pad.clone(), masking };
        KvCache { layers: vec![layer; config.num_hidden_layers], len: 0, pad, masking }
    }

    /// Single-sequence caches of different lengths as one batch, left-padded with zeros to
    /// the longest: prompts filled one at a time (no padding to compute), then decoded
    /// together.
    pub fn stack(caches: &[KvCache<B>], masking: Masking) -> Self {
        let width = caches.iter().map(|c| c.len).max().unwrap_or(0);
        let pad: Vec<usize> = caches.iter().map(|c| width - c.len).collect();
        let layers = (0..caches.first().map_or(0, |c| c.layers.len()))
            .map(|l| {
                let (mut keys, mut values) = (Vec::new(), Vec::new());
                for (c, &p) in caches.iter().zip(&pad) {
                    assert!(c.pad.iter().all(|&q| q == 0), "stacking caches of single, unpadded sequences");
                    let (k, v) = c.layers[l].kv.clone().expect("a filled cache");
                    let left = |t: Tensor<B, 4>| {
                        let [b, h, _, d] = t.dims();
                        if p == 0 {
                            t
                        } else {
                            Tensor::cat(vec![Tensor::zeros([b, h, p, d], &t.device()), t], 2)
                        }
                    };
                    keys.push(left(k));
                    values.push(left(v));
                }
                LayerCache { kv: Some((Tensor::cat(keys, 0), Tensor::cat(values, 0))), pad: pad.clone(), masking }
            })
            .collect();
        KvCache { layers, len: width, pad, masking }
    }

    /// Keeps the sequences `rows` (in that order), dropping the columns that every one of
    /// them pads: finished sequences leave a batch being decoded.
    pub fn retain(&mut self, rows: &[usize]) {
        let pad: Vec<usize> = rows.iter().map(|&r| self.pad.get(r).copied().unwrap_or(0)).collect();
        let trim = pad.iter().copied().min().unwrap_or(0);
        let pad: Vec<usize> = pad.iter().map(|p| p - trim).collect();
        let width = self.len - trim;
        for layer in &mut self.layers {
            if let Some((k, v)) = layer.kv.take() {
                let index = Tensor::<B, 1, Int>::from_data(
                    TensorData::new(rows.iter().map(|&r| r as i64).collect(), [rows.len()]),
                    &k.device(),
                );
                let keep = |t: Tensor<B, 4>| t.select(0, index.clone()).narrow(2, trim, width);
                layer.kv = Some((keep(k), keep(v)));
            }
            layer.pad.clone_from(&pad);
        }
        self.pad = pad;
        self.len = width;
    }

    /// The same cache for `n` sequences (a batch-1 cache repeated along the batch), so
    /// that several continuations of one prompt reuse its keys and values.
    pub fn repeat(&self, n: usize) -> Self {
        // `repeat_dim` tiles the whole batch `n` times; so does the padding.
        let pad: Vec<usize> = (0..n).flat_map(|_| self.pad.iter().copied()).collect();
        let layers = self
            .layers
            .iter()
            .map(|l| LayerCache {
                kv: l.kv.as_ref().map(|(k, v)| (k.clone().repeat_dim(0, n), v.clone().repeat_dim(0, n))),
                pad: pad.clone(),
                masking: l.masking,
            })
            .collect();
        KvCache { layers, len: self.len, pad, masking: self.masking }
    }

    /// Columns cached so far (padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The causal-LM loss: mean cross-entropy of `targets` over the positions where `mask`
/// is 1, all flattened to `[batch · seq]` rows (`mask` is 0/1; prompt and padding
/// positions are 0). One fused operation, loss and gradient in one pass (`loss.rs`).
pub use crate::loss::cross_entropy;

/// Switch-Transformer load balancing as transformers computes it for Mixtral:
/// `experts · Σ_e f_e · P_e`, with `f_e` the share of (token, slot) choices that went to
/// expert `e` and `P_e` its mean router probability, over all layers' tokens together.
/// Only `P_e` carries a gradient. Perfect balance gives `top_k`.
pub fn load_balancing_loss<B: Backend>(routing: &[Routing<B>]) -> Tensor<B, 1> {
    let experts = routing[0].counts.len();
    let logits = Tensor::cat(routing.iter().map(|r| r.logits.clone()).collect(), 0);
    let rows = logits.dims()[0] as f64;
    let mean_prob = softmax(logits, 1).mean_dim(0).reshape([experts]);
    let mut share = vec![0f32; experts];
    for r in routing {
        for (e, c) in r.counts.iter().enumerate() {
            share[e] += *c as f32 / rows as f32;
        }
    }
    let share = Tensor::<B, 1>::from_data(TensorData::new(share, [experts]), &mean_prob.device());
    (mean_prob * share).sum().mul_scalar(experts as f64)
}
