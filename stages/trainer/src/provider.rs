//! Our burn model as an evaluation provider (`provider: local(...)`).
//!
//! Likelihoods are computed in batches: the sequences `<s> context continuation` of a
//! batch are padded on the right into one `[batch, len]` forward pass (causal attention
//! makes right padding invisible to the real tokens), and the vocabulary projection is
//! applied only to the positions that predict continuation tokens. The continuation's
//! tokens are those the joined text has beyond the context's own tokens, as the JMedBench
//! harness takes them. Generation is greedy with the key/value cache, one prompt at a
//! time per thread. On the CPU the groups and prompts of one call are shared among the
//! node's threads; every answer is computed as on one thread.

use crate::config::MixtralConfig;
use crate::model::{KvCache, Mixtral};
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
        Local { model, config, tokenizer, device, bos, eos, head, name, threads: threads.max(1), rows: None }
    }

    /// Picks generated tokens with a matrix-vector product on the CPU (for a model whose
    /// tensors live there: the CPU backend).
    pub fn with_cpu_head(mut self) -> Self {
        self.rows = self.model.lm_head.weight.val().into_data().convert::<f32>().to_vec::<f32>().ok();
        self
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
        map_in_order(&groups, self.threads, || (), |_, group| self.score_group(group)).into_iter().flatten().collect()
    }

    fn generate(&mut self, requests: &[Generation]) -> Vec<Result<String, String>> {
        map_in_order(requests, self.threads, || (), |_, r| Ok(self.greedy(r)))
    }
}

impl<B: Backend> Local<B> {
    /// Continuations of one context: the context runs once into a key/value cache, which
    /// is repeated for the continuations, run as one right-padded batch (causal attention
    /// keeps padding invisible to real tokens). The first continuation token is predicted
    /// by the context's last position, the others inside the batch.
    fn score_group(&self, group: &[Likelihood]) -> Vec<Result<Scored, String>> {
        let limit = self.config.max_position_embeddings;
        let split: Vec<(Vec<u32>, Vec<u32>)> = group.iter().map(|r| self.split(r)).collect();
        let longest = split.iter().map(|(_, c)| c.len()).max().unwrap_or(0).min(limit / 2);
        let context = self.prompt_ids(&split[0].0, limit - longest);
        let options: Vec<Vec<u32>> = split.into_iter().map(|(_, c)| c.into_iter().take(longest).collect()).collect();
        if options.iter().any(Vec::is_empty) {
            return group.iter().map(|_| Err("a continuation has no tokens".into())).collect();
        }
        let ints =
            |v: Vec<i64>, shape: [usize; 2]| Tensor::<B, 2, Int>::from_data(TensorData::new(v, shape), &self.device);
        let mut cache = KvCache::new(&self.config);
        let n_ctx = context.len();
        let ctx_hidden = self.model.hidden_states(
            &self.config,
            ints(context.iter().map(|&t| t as i64).collect(), [1, n_ctx]),
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
