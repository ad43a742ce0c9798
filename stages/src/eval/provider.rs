//! Who computes likelihoods and generations: our burn model (in `exp-trainer`), an
//! OpenAI-compatible server ([`super::openai`]), or in tests a provider whose answers are
//! known. Requests come in batches; each answer is its own `Result`, so one refused item
//! fails alone.

/// Score `continuation` after `context`.
#[derive(Clone, Debug)]
pub struct Likelihood {
    pub context: String,
    pub continuation: String,
}

/// The sum of the continuation tokens' log-probabilities and how many tokens it has.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    pub logprob: f64,
    pub tokens: usize,
}

/// Generate greedily after `prompt`, at most `max_tokens`, stopping before any of `stop`.
#[derive(Clone, Debug)]
pub struct Generation {
    pub prompt: String,
    pub max_tokens: usize,
    pub stop: Vec<String>,
}

pub trait Provider {
    /// What the results JSON records about who answered.
    fn describe(&self) -> String;
    fn likelihoods(&mut self, requests: &[Likelihood]) -> Vec<Result<Scored, String>>;
    fn generate(&mut self, requests: &[Generation]) -> Vec<Result<String, String>>;
}

/// The text before the first stop string.
pub fn cut_at_stop<'a>(text: &'a str, stop: &[String]) -> &'a str {
    let end = stop.iter().filter_map(|s| text.find(s.as_str())).min().unwrap_or(text.len());
    &text[..end]
}
