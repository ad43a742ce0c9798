//! Our burn model as an evaluation provider (`provider: local(...)`).
//!
//! Likelihoods are computed in batches: the sequences `<s> context continuation` of a
//! batch are padded on the right into one `[batch, len]` forward pass (causal attention
//! makes right padding invisible to the real tokens), and the vocabulary projection is
//! applied only to the positions that predict continuation tokens. The continuation's
//! tokens are those the joined text has beyond the context's own tokens, as the JMedBench
//! harness takes them; the token prefix every context of a call shares (a few-shot block)
//! runs once into a cache the items reuse. Generation is greedy with the key/value cache,
//! a call's prompts decoded as one left-padded batch per thread. On the CPU the groups and prompts of one call are shared among the
//! node's threads; every answer is computed as on one thread.

use crate::config::MixtralConfig;
use crate::model::{KvCache, Masking, Mixtral};
use crate::threads::map_in_order;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use exp_stages::eval::provider::{cut_at_stop, Generation, Likelihood, Provider, Scored};
use exp_stages::sentencepiece::SentencePiece;

pub struct Local<B: Backend> {
    model: Mixtral<B>,
    config: MixtralConfig,
    tokenizer: SentencePiece,
    device: B::Device,
    bos: Option<u32>,
    eos: Option<u32>,
    /// `lm_head`'s weight transposed to `[hidden, vocab]` and laid out so once: burn-ndarray
    /// copies a transposed operand into standard layout on every matmul, which for the
    /// vocabulary projection of one generated token cost more than the whole model.
    head: Tensor<B, 2>,
    /// What `describe` says (the model's folder).
    name: String,
    /// Threads answering a call's requests side by side (CPU); each request is computed
    /// exactly as on one thread.
    threads: usize,
    /// On the CPU, `lm_head`'s weight as rows of floats (`[vocab][hidden]`): a generated
    /// token's logits are one matrix-vector product, which the backend's matrix product
    /// computes by first packing the whole weight (25 MB for the tiny preset) on every
    /// token: 70% of generation time in `perf`.
    rows: Option<Vec<f32>>,
    /// Generation decodes a call's prompts as one batch per thread (false: one prompt at
    /// a time, as before; kept for the benchmark's "before" row).
    batch_generation: bool,
    /// Likelihoods run the token prefix all contexts of a call share once (see
    /// `shared_prefix`).
    prefix_reuse: bool,
}

impl<B: Backend> Local<B> {
    pub fn new(
        model: Mixtral<B>,
        config: MixtralConfig,
        tokenizer: SentencePiece,
        device: B::Device,
        name: String,
        threads: usize,
    ) -> Self {
        let bos = tokenizer.id_of("<s>");
        let eos = tokenizer.id_of("</s>");
        let head = Tensor::from_data(model.lm_head.weight.val().transpose().into_data(), &device);
        Local {
            model,
            config,
            tokenizer,
            device,
            bos,
            eos,
            head,
            name,
            threads: threads.max(1),
            rows: None,
            batch_generation: true,
            prefix_reuse: true,
        }
    }

    /// Picks generated tokens with a matrix-vector product on the CPU (for a model whose
    /// tensors live there: the CPU backend).
    pub fn with_cpu_head(mut self) -> Self {
        self.rows = self.model.lm_head.weight.val().into_data().convert::<f32>().to_vec::<f32>().ok();
        self
    }

    /// Generation one prompt at a time (`false`) or batched across prompts (`true`, the
    /// default): the same tokens either way.
    pub fn with_batch_generation(mut self, on: bool) -> Self {
        self.batch_generation = on;
        self
    }

    /// The next token after each row of `last` (`[rows, hidden]`), as [`Self::next_token`]
    /// picks it for one row: on the CPU each weight row is read once for all rows.
    fn next_tokens(&self, last: Tensor<B, 2>) -> Vec<i64> {
        let [n, hidden] = last.dims();
        let Some(rows) = &self.rows else {
            let logits = last.matmul(self.head.clone());
            return logits.argmax(1).into_data().convert::<i64>().to_vec::<i64>().unwrap_or_else(|_| vec![0; n]);
        };
        let Ok(h) = last.into_data().convert::<f32>().to_vec::<f32>() else { return vec![0; n] };
        let mut best = vec![(0usize, f32::NEG_INFINITY); n];
        for (id, row) in rows.chunks_exact(hidden).enumerate() {
            for (b, x) in best.iter_mut().zip(h.chunks_exact(hidden)) {
                let logit = dot(row, x);
                if logit > b.1 {
                    *b = (id, logit);
                }
            }
        }
        best.into_iter().map(|(id, _)| id as i64).collect()
    }

    /// The next token after `last` (`[1, hidden]`): the highest logit, the first on ties.
    fn next_token(&self, last: Tensor<B, 2>) -> i64 {
        let Some(rows) = &self.rows else {
            let logits = last.matmul(self.head.clone());
            return logits.argmax(1).into_data().convert::<i64>().to_vec::<i64>().map(|v| v[0]).unwrap_or(0);
        };
        let Ok(h) = last.into_data().convert::<f32>().to_vec::<f32>() else { return 0 };
        let mut best = (0usize, f32::NEG_INFINITY);
        for (id, row) in rows.chunks_exact(h.len()).enumerate() {
            let logit = dot(row, &h);
            if logit > best.1 {
                best = (id, logit);
            }
        }
        best.0 as i64
    }

    /// `<s>` then the text's tokens, keeping the last `room` when longer.
    fn prompt_ids(&self, ids: &[u32], room: usize) -> Vec<u32> {
        let mut out: Vec<u32> = self.bos.into_iter().collect();
        let keep = room.saturating_sub(out.len()).max(1);
        out.extend_from_slice(&ids[ids.len().saturating_sub(keep)..]);
        out
    }

    /// The continuation's tokens: those of `context + continuation` beyond the context's
    /// (the continuation alone when the joined text re-tokenises the boundary away).
    fn split(&self, r: &Likelihood) -> (Vec<u32>, Vec<u32>) {
        let context = self.tokenizer.encode(&r.context);
        let full = self.tokenizer.encode(&format!("{}{}", r.context, r.continuation));
        let continuation = if full.len() > context.len() {
            full[context.len()..].to_vec()
        } else {
            self.tokenizer.encode(&r.continuation)
        };
        (context, continuation)
    }
}

impl<B: Backend> Provider for Local<B> {
    fn describe(&self) -> String {
        format!("local({})", self.name)
    }

    fn likelihoods(&mut self, requests: &[Likelihood]) -> Vec<Result<Scored, String>> {
        // The options of one question share its prompt: consecutive requests with the
        // same context are one group, whose context runs once.
        let mut groups = Vec::new();
        let mut start = 0;
        while start < requests.len() {
            let end = start + requests[start..].iter().take_while(|r| r.context == requests[start].context).count();
            groups.push(&requests[start..end]);
            start = end;
        }
        let prepared: Vec<Prepared> = groups.iter().map(|g| self.prepare(g)).collect();
        let shared = if self.prefix_reuse { self.shared_prefix(&prepared) } else { None };
        let jobs: Vec<(&[Likelihood], &Prepared)> = groups.iter().copied().zip(&prepared).collect();
        map_in_order(
            &jobs,
            self.threads,
            || (),
            |_, (group, (context, options))| self.score_group(group, context, options, shared.as_ref()),
        )
        .into_iter()
        .flatten()
        .collect()
    }

    fn generate(&mut self, requests: &[Generation]) -> Vec<Result<String, String>> {
        if !self.batch_generation {
            return map_in_order(requests, self.threads, || (), |_, r| Ok(self.greedy(r)));
        }
        // One batch per thread; every sequence's tokens are what it gets alone
        // (`Masking::Spans`), so how the requests are split changes nothing but speed.
        let per = requests.len().div_ceil(self.threads).max(1);
        let chunks: Vec<&[Generation]> = requests.chunks(per).collect();
        map_in_order(&chunks, self.threads, || (), |_, c| self.greedy_batch(c)).into_iter().flatten().map(Ok).collect()
    }
}

impl<B: Backend> Local<B> {
    /// Continuations of one context: the context runs once into a key/value cache, which
    /// is repeated for the continuations, run as one right-padded batch (causal attention
    /// keeps padding invisible to real tokens). The first continuation token is predicted
    /// by the context's last position, the others inside the batch.
    /// A group's context ids (`<s>` first, cut to leave room for the options) and its
    /// options' ids.
    fn prepare(&self, group: &[Likelihood]) -> Prepared {
        let limit = self.config.max_position_embeddings;
        let split: Vec<(Vec<u32>, Vec<u32>)> = group.iter().map(|r| self.split(r)).collect();
        let longest = split.iter().map(|(_, c)| c.len()).max().unwrap_or(0).min(limit / 2);
        let context = self.prompt_ids(&split[0].0, limit - longest);
        let options: Vec<Vec<u32>> = split.into_iter().map(|(_, c)| c.into_iter().take(longest).collect()).collect();
        (context, options)
    }

    /// The token prefix every context of a call shares (a few-shot block), run once into a
    /// cache: the longest common prefix of the token ids (not of the text: the tokeniser
    /// may merge across the boundary), short of each context's last token, cut down to a
    /// multiple of 8 columns. That multiple keeps the reuse bit-identical on the CPU: the
    /// prefix rows' softmax sums then only gain whole zero chunks in ndarray's eight-lane
    /// sum, and their products trailing zero terms.
    fn shared_prefix(&self, prepared: &[Prepared]) -> Option<(usize, KvCache<B>)> {
        if prepared.len() < 2 {
            return None;
        }
        let first = &prepared[0].0;
        let mut n = prepared.iter().map(|(c, _)| c.len().saturating_sub(1)).min()?;
        for (c, _) in &prepared[1..] {
            n = n.min(first.iter().zip(c).take_while(|(a, b)| a == b).count());
        }
        let n = n / 8 * 8;
        if n < 8 {
            return None;
        }
        let mut cache = KvCache::new(&self.config);
        let ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(first[..n].iter().map(|&t| t as i64).collect(), [1, n]),
            &self.device,
        );
        self.model.hidden_states(&self.config, ids, Some(&mut cache));
        Some((n, cache))
    }

    /// Few-shot prefix reuse across a call's items (`true`, the default) or each context
    /// run whole (`false`, the benchmark's "before"): the same log-likelihoods, bit for bit.
    pub fn with_prefix_reuse(mut self, on: bool) -> Self {
        self.prefix_reuse = on;
        self
    }

    fn score_group(
        &self,
        group: &[Likelihood],
        context: &[u32],
        options: &[Vec<u32>],
        shared: Option<&(usize, KvCache<B>)>,
    ) -> Vec<Result<Scored, String>> {
        if options.iter().any(Vec::is_empty) {
            return group.iter().map(|_| Err("a continuation has no tokens".into())).collect();
        }
        let longest = options.iter().map(Vec::len).max().unwrap_or(0);
        let ints =
            |v: Vec<i64>, shape: [usize; 2]| Tensor::<B, 2, Int>::from_data(TensorData::new(v, shape), &self.device);
        // The shared prefix's cache, then only this context's own tokens.
        let (skip, mut cache) = match shared {
            Some((n, cache)) if *n < context.len() => (*n, cache.clone()),
            _ => (0, KvCache::new(&self.config)),
        };
        let n_ctx = context.len() - skip;
        let ctx_hidden = self.model.hidden_states(
            &self.config,
            ints(context[skip..].iter().map(|&t| t as i64).collect(), [1, n_ctx]),
            Some(&mut cache),
        );
        let last = ctx_hidden.narrow(0, n_ctx - 1, 1);
        // Option i's tokens 1.. are predicted by its positions 0..len-1 in the batch.
        let (n, len) = (options.len(), longest);
        let mut ids = vec![0i64; n * len];
        let mut rows = Vec::new();
        for (i, o) in options.iter().enumerate() {
            for (p, &t) in o.iter().enumerate() {
                ids[i * len + p] = t as i64;
                if p + 1 < o.len() {
                    rows.push((i * len + p) as i64);
                }
            }
        }
        let mut batch_cache = cache.repeat(n);
        let hidden = self.model.hidden_states(&self.config, ints(ids, [n, len]), Some(&mut batch_cache));
        let picked = if rows.is_empty() {
            last.clone()
        } else {
            let m = rows.len();
            Tensor::cat(
                vec![last, hidden.select(0, Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [m]), &self.device))],
                0,
            )
        };
        let logprobs: Vec<f32> =
            match log_softmax(picked.matmul(self.head.clone()), 1).into_data().convert::<f32>().to_vec() {
                Ok(v) => v,
                Err(e) => return group.iter().map(|_| Err(format!("reading log-probabilities: {e:?}"))).collect(),
            };
        let vocab = self.config.vocab_size;
        // Row 0 is the context's last position; then each option's rows in order.
        let mut row = 1;
        options
            .iter()
            .map(|o| {
                let mut sum = logprobs[o[0] as usize] as f64;
                for &t in &o[1..] {
                    sum += logprobs[row * vocab + t as usize] as f64;
                    row += 1;
                }
                if sum.is_finite() {
                    Ok(Scored { logprob: sum, tokens: o.len() })
                } else {
                    Err(format!("the log-likelihood is {sum}"))
                }
            })
            .collect()
    }

    fn greedy(&self, r: &Generation) -> String {
        let room = self.config.max_position_embeddings.saturating_sub(r.max_tokens).max(1);
        let prompt = self.prompt_ids(&self.tokenizer.encode(&r.prompt), room);
        let mut cache = KvCache::new(&self.config);
        let mut input: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
        let mut out: Vec<u32> = Vec::new();
        let mut text = String::new();
        for _ in 0..r.max_tokens {
            let n = input.len();
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(input, [1, n]), &self.device);
            // Only the last position's logits are needed (the prompt may be long).
            let last = self.model.hidden_states(&self.config, ids, Some(&mut cache)).narrow(0, n - 1, 1);
            let next = self.next_token(last);
            if Some(next as u32) == self.eos {
                break;
            }
            out.push(next as u32);
            text = self.tokenizer.decode(&out);
            if r.stop.iter().any(|s| text.contains(s.as_str())) {
                break;
            }
            input = vec![next];
        }
        cut_at_stop(&text, &r.stop).to_string()
    }
}

impl<B: Backend> Local<B> {
    /// Greedy generation for several prompts at once: each prompt fills its own cache
    /// (no padding to compute), the caches are stacked left-padded, and one token per
    /// unfinished sequence is decoded per step; a finished sequence leaves the batch.
    fn greedy_batch(&self, requests: &[Generation]) -> Vec<String> {
        let ints = |v: Vec<i64>, n: usize| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [n, 1]), &self.device);
        let mut caches = Vec::with_capacity(requests.len());
        let mut lasts = Vec::with_capacity(requests.len());
        for r in requests {
            let room = self.config.max_position_embeddings.saturating_sub(r.max_tokens).max(1);
            let prompt = self.prompt_ids(&self.tokenizer.encode(&r.prompt), room);
            let n = prompt.len();
            let mut cache = KvCache::new(&self.config);
            let ids = Tensor::<B, 2, Int>::from_data(
                TensorData::new(prompt.iter().map(|&t| t as i64).collect(), [1, n]),
                &self.device,
            );
            lasts.push(self.model.hidden_states(&self.config, ids, Some(&mut cache)).narrow(0, n - 1, 1));
            caches.push(cache);
        }
        let mut outs: Vec<Vec<u32>> = vec![Vec::new(); requests.len()];
        let mut texts: Vec<String> = vec![String::new(); requests.len()];
        if requests.is_empty() {
            return texts;
        }
        let mut cache = KvCache::stack(&caches, Masking::Spans);
        drop(caches);
        // The sequences still being decoded, by request index.
        let mut live: Vec<usize> = (0..requests.len()).collect();
        let mut next = self.next_tokens(Tensor::cat(lasts, 0));
        let mut step = 0;
        loop {
            let mut keep = Vec::new();
            for (row, (&i, &t)) in live.iter().zip(&next).enumerate() {
                let r = &requests[i];
                if step >= r.max_tokens || Some(t as u32) == self.eos {
                    continue;
                }
                outs[i].push(t as u32);
                texts[i] = self.tokenizer.decode(&outs[i]);
                if r.stop.iter().any(|s| texts[i].contains(s.as_str())) || step + 1 >= r.max_tokens {
                    continue;
                }
                keep.push(row);
            }
            if keep.is_empty() {
                break;
            }
            if keep.len() < live.len() {
                cache.retain(&keep);
                next = keep.iter().map(|&row| next[row]).collect();
                live = keep.iter().map(|&row| live[row]).collect();
            }
            let last = self.model.hidden_states(&self.config, ints(next, live.len()), Some(&mut cache));
            next = self.next_tokens(last);
            step += 1;
        }
        requests.iter().zip(texts).map(|(r, t)| cut_at_stop(&t, &r.stop).to_string()).collect()
    }
}

/// A group's context ids and its options' ids.
type Prepared = (Vec<u32>, Vec<Vec<u32>>);

/// `a · b` in eight lanes, which the compiler keeps in vector registers.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
