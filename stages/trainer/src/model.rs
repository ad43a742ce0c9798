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

/// The rotary tables for positions `start..start + len`: `cos` and `sin` of shape
/// `[len, head_dim]`, with the frequencies repeated over both halves (`rotate_half` style).
pub struct Rotary<B: Backend> {
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

impl<B: Backend> Rotary<B> {
    pub fn new(config: &MixtralConfig, start: usize, len: usize, device: &B::Device) -> Self {
        let hd = config.head_dim;
        let half = hd / 2;
        let mut cos = Vec::with_capacity(len * hd);
        let mut sin = Vec::with_capacity(len * hd);
        for pos in start..start + len {
            let row: Vec<f64> =
                (0..half).map(|i| pos as f64 / config.rope_theta.powf((2 * i) as f64 / hd as f64)).collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos() as f32));
                sin.extend(row.iter().map(|a| a.sin() as f32));
            }
        }
        Rotary {
            cos: Tensor::from_data(TensorData::new(cos, [len, hd]), device),
            sin: Tensor::from_data(TensorData::new(sin, [len, hd]), device),
        }
    }

    /// `x * cos + rotate_half(x) * sin` on `[batch, heads, seq, head_dim]`.
    fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, s, hd] = x.dims();
        let half = hd / 2;
        let first = x.clone().narrow(3, 0, half);
        let second = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        let cos = self.cos.clone().unsqueeze::<4>().expand([b, h, s, hd]);
        let sin = self.sin.clone().unsqueeze::<4>().expand([b, h, s, hd]);
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
    /// positions see all cached ones.
    fn forward(&self, x: Tensor<B, 3>, rotary: &Rotary<B>, cache: Option<&mut LayerCache<B>>) -> Tensor<B, 3> {
        let [b, s, h] = x.dims();
        let x = x.reshape([b * s, h]);
        let split = |t: Tensor<B, 2>, heads: usize| t.reshape([b, s, heads, self.head_dim]).swap_dims(1, 2);
        let q = rotary.apply(split(self.q_proj.forward(x.clone()), self.heads));
        let mut k = rotary.apply(split(self.k_proj.forward(x.clone()), self.kv_heads));
        let mut v = split(self.v_proj.forward(x), self.kv_heads);
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        // Grouped-query attention: key/value head i serves query heads i·r .. i·r + r - 1,
        // as transformers' `repeat_kv` lays them out.
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let options = AttentionModuleOptions { is_causal: true, ..Default::default() };
        let out = attention(q, k, v, None, None, options);
        self.o_proj.forward(out.swap_dims(1, 2).reshape([b * s, self.heads * self.head_dim])).reshape([b, s, h])
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
        let start = cache.as_ref().map_or(0, |c| c.len);
        let rotary = Rotary::new(config, start, s, &ids.device());
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
}

/// One layer's cached keys and values, `[batch, kv_heads, positions, head_dim]` each.
type LayerCache<B> = Option<(Tensor<B, 4>, Tensor<B, 4>)>;

/// The keys and values of the positions a sequence has seen, per layer.
pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    len: usize,
}

impl<B: Backend> KvCache<B> {
    pub fn new(config: &MixtralConfig) -> Self {
        KvCache { layers: (0..config.num_hidden_layers).map(|_| None).collect(), len: 0 }
    }

    /// The same cache for `n` sequences (a batch-1 cache repeated along the batch), so
    /// that several continuations of one prompt reuse its keys and values.
    pub fn repeat(&self, n: usize) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| l.as_ref().map(|(k, v)| (k.clone().repeat_dim(0, n), v.clone().repeat_dim(0, n))))
            .collect();
        KvCache { layers, len: self.len }
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The causal-LM loss: mean cross-entropy of `targets` over the positions where `mask`
/// is 1, all flattened to `[batch · seq]` rows (`mask` is 0/1; prompt and padding
/// positions are 0). Written as
/// `logsumexp(logits) - logits[target]` rather than a full log-softmax: with a vocabulary
/// of 100k every pass over the logits costs hundreds of megabytes, and this makes fewer.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>, mask: Tensor<B, 1>) -> Tensor<B, 1> {
    let rows = logits.dims()[0];
    let max = logits.clone().max_dim(1).detach();
    // `-max + logits`, not `logits - max`: the backward pass holds `logits`, so an in-place
    // subtraction would first copy all of it; this way the result is simply a new tensor.
    let lse = (max.clone().neg() + logits.clone()).exp().sum_dim(1).log() + max;
    let picked = logits.gather(1, targets.reshape([rows, 1]));
    let count = mask.clone().sum().clamp_min(1.0);
    ((lse - picked).reshape([rows]) * mask).sum() / count
}

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
