//! JMedBench-style evaluation, without any model code: the tasks and their data
//! ([`tasks`]), the prompt templates ([`prompt`]), the interface to whoever computes
//! likelihoods and generations ([`provider`], with the OpenAI-compatible HTTP one in
//! [`openai`]), the scoring of items and tasks ([`score`]) and the driver that runs a list
//! of tasks with resume ([`run`]). The `jmedbench` stage that puts our burn model behind
//! the provider interface lives in `exp-trainer`.
//!
//! How each task is scored follows the reference implementations, so that scores compare:
//! - MCQA, document classification and STS pick the option of highest log-likelihood,
//!   summed over its tokens and (`_norm`) divided by its token count, as the JMedBench
//!   harness (`nii-nlp/med-eval`) does; kappa as JMED-LLM reports it;
//! - IgakuQA candidates are the letter sets of the asked size, scored as the official
//!   `evaluate_main.py` scores (sorted letters equal the gold, point-weighted score);
//! - NER generates greedily; entities are read from a Python list literal as JMED-LLM
//!   reads them; per-item set F1 averaged over items;
//! - MT generates greedily; BLEU per item averaged (med-eval's per-sentence
//!   `corpus_bleu`) and corpus BLEU, `ja-mecab` for Japanese targets, `13a` for English.

pub mod openai;
pub mod prompt;
pub mod provider;
pub mod run;
pub mod score;
pub mod tasks;
