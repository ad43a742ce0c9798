//! Training data: what one optimiser step sees, as a pure function of the step and the
//! seed, so a resumed run sees exactly what the uninterrupted run saw.
//!
//! - [`Pretraining`]: the `tokenize` stage's Megatron shards concatenated into one token
//!   stream, cut into samples of `seq + 1` tokens (inputs and the targets one token on, as
//!   Megatron-LM's GPT dataset does), shuffled per epoch with the seed.
//! - [`Finetuning`]: one chat record per sequence, the loss masked on the prompt.

use exp_stages::megatron;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// One training sequence: `ids` and, per target position (`ids[1..]`), whether it counts
/// in the loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

/// Where an optimiser step's sequences come from.
pub trait Batches {
    /// Optimiser steps in the whole run.
    fn steps(&self) -> u64;
    /// The global batch of step `step` (0-based).
    fn batch(&self, step: u64) -> Vec<Sequence>;
    /// The largest token id, to check against the model's vocabulary.
    fn max_token(&self) -> u32;
}

/// At most `max` steps of `inner` (`max` = 0: all of them).
pub struct Limited<'a> {
    pub inner: &'a dyn Batches,
    pub max: u64,
}

impl Batches for Limited<'_> {
    fn steps(&self) -> u64 {
        match self.max {
            0 => self.inner.steps(),
            max => self.inner.steps().min(max),
        }
    }

    fn batch(&self, step: u64) -> Vec<Sequence> {
        self.inner.batch(step)
    }

    fn max_token(&self) -> u32 {
        self.inner.max_token()
    }
}

/// The order of `n` items in `epoch`: a seeded shuffle, different per epoch.
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// The `i`-th item of an endless stream of per-epoch shuffles of `n` items.
struct Stream {
    n: usize,
    seed: u64,
    epoch: std::cell::RefCell<(u64, Vec<u32>)>,
}

impl Stream {
    fn new(n: usize, seed: u64) -> Stream {
        Stream { n, seed, epoch: std::cell::RefCell::new((0, permutation(n, seed, 0))) }
    }

    fn get(&self, i: u64) -> usize {
        let (epoch, pos) = (i / self.n as u64, (i % self.n as u64) as usize);
        let mut cached = self.epoch.borrow_mut();
        if cached.0 != epoch {
            *cached = (epoch, permutation(self.n, self.seed, epoch));
        }
        cached.1[pos] as usize
    }
}

pub struct Pretraining {
    tokens: Vec<u32>,
    seq: usize,
    global_batch: usize,
    steps: u64,
    samples: Stream,
}

impl Pretraining {
    /// Reads every `shard_*.idx` of a `tokenize` artifact. `tokens`: how many tokens to
    /// train on (`None`: one epoch).
    pub fn open(
        dir: &Path,
        seq: usize,
        global_batch: usize,
        tokens: Option<u64>,
        seed: u64,
    ) -> Result<Pretraining, String> {
        let mut prefixes: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .map(|p| p.with_extension(""))
            .collect();
        prefixes.sort();
        let mut stream = Vec::new();
        for prefix in &prefixes {
            let shard = megatron::Dataset::open(prefix)?;
            for i in 0..shard.len() {
                stream.extend(shard.get(i));
            }
        }
        let samples = stream.len().saturating_sub(1) / seq;
        if samples == 0 {
            return Err(format!(
                "{}: the corpus has {} tokens in {} shards, fewer than one sequence of {} tokens",
                dir.display(),
                stream.len(),
                prefixes.len(),
                seq + 1
            ));
        }
        let steps =
            exp_stages::kinds::train::pretraining_steps(stream.len() as u64, seq as u64, global_batch as u64, tokens);
        Ok(Pretraining { tokens: stream, seq, global_batch, steps, samples: Stream::new(samples, seed) })
    }

    pub fn corpus_tokens(&self) -> usize {
        self.tokens.len()
    }
}

impl Batches for Pretraining {
    fn steps(&self) -> u64 {
        self.steps
    }

    fn batch(&self, step: u64) -> Vec<Sequence> {
        (0..self.global_batch as u64)
            .map(|j| {
                let sample = self.samples.get(step * self.global_batch as u64 + j);
                let ids = self.tokens[sample * self.seq..sample * self.seq + self.seq + 1].to_vec();
                Sequence { ids, loss_mask: vec![true; self.seq] }
            })
            .collect()
    }

    fn max_token(&self) -> u32 {
        self.tokens.iter().copied().max().unwrap_or(0)
    }
}

pub struct Finetuning {
    records: Vec<Sequence>,
    global_batch: usize,
    steps: u64,
    order: Stream,
}

impl Finetuning {
    /// `records` are already tokenised; `epochs` passes over them, the last step filled
    /// from the next pass's order.
    pub fn new(records: Vec<Sequence>, global_batch: usize, epochs: u64, seed: u64) -> Result<Finetuning, String> {
        if records.is_empty() {
            return Err("no fine-tuning records".into());
        }
        let steps = (records.len() as u64 * epochs).div_ceil(global_batch as u64);
        let order = Stream::new(records.len(), seed);
        Ok(Finetuning { records, global_batch, steps, order })
    }

    /// A chat record: the prompt's tokens are masked, the response's and the end-of-text
    /// token count. The prompt's length in tokens is where the encodings of the prompt
    /// alone and of the whole text part ways, so a token that straddles the boundary
    /// counts as response. Truncated to `seq + 1` tokens.
    pub fn record(prompt: &[u32], full: &[u32], eos: u32, seq: usize) -> Sequence {
        let shared = prompt.iter().zip(full).take_while(|(a, b)| a == b).count();
        let mut ids = full.to_vec();
        ids.push(eos);
        ids.truncate(seq + 1);
        let loss_mask = (1..ids.len()).map(|i| i >= shared).collect();
        Sequence { ids, loss_mask }
    }
}

impl Batches for Finetuning {
    fn steps(&self) -> u64 {
        self.steps
    }

    fn batch(&self, step: u64) -> Vec<Sequence> {
        (0..self.global_batch as u64)
            .map(|j| self.records[self.order.get(step * self.global_batch as u64 + j)].clone())
            .collect()
    }

    fn max_token(&self) -> u32 {
        self.records.iter().flat_map(|r| r.ids.iter().copied()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_appears_once_per_epoch_and_orders_differ_by_epoch() {
        let s = Stream::new(10, 7);
        let first: Vec<usize> = (0..10).map(|i| s.get(i)).collect();
        let second: Vec<usize> = (10..20).map(|i| s.get(i)).collect();
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(first, second);
        // Random access gives the same answer as a sequential walk.
        assert_eq!(Stream::new(10, 7).get(13), second[3]);
    }

    #[test]
    fn prompt_tokens_are_masked() {
        let r = Finetuning::record(&[5, 6, 7], &[5, 6, 7, 8, 9], 2, 100);
        assert_eq!(r.ids, vec![5, 6, 7, 8, 9, 2]);
        // Targets are ids[1..] = 6 7 8 9 2; the first two are prompt tokens.
        assert_eq!(r.loss_mask, vec![false, false, true, true, true]);
        let cut = Finetuning::record(&[5, 6, 7], &[5, 6, 7, 8, 9], 2, 3);
        assert_eq!(cut.ids, vec![5, 6, 7, 8]);
        assert_eq!(cut.loss_mask, vec![false, false, true]);
    }
}
