//! An OpenAI-compatible `completions` endpoint as a provider: what vLLM (and llama.cpp's
//! server, TGI, …) serve, so that a large model is evaluated on a GPU server while `exp`
//! runs anywhere. One HTTP request per batch (`prompt` is a list).
//!
//! Likelihoods use `echo` with `logprobs`: the server returns the prompt's tokens with
//! their log-probabilities and character offsets, and the continuation's tokens are those
//! that start at or after the context's end. A token that straddles the boundary belongs
//! to the context (the server tokenises the joined text, as the model sees it).

use super::provider::{Generation, Likelihood, Provider, Scored};
use crate::http::{Client, Secret};
use serde_json::{json, Value as Json};
use std::time::Duration;

pub struct OpenAi {
    /// `http://host:8000/v1`.
    base: String,
    model: String,
    client: Client,
}

impl OpenAi {
    /// `api_key` comes from the environment ([`crate::http`]: it shows in no message).
    pub fn new(base: &str, model: &str, api_key: Option<String>, timeout: Duration) -> OpenAi {
        let client = Client::new(api_key.and_then(Secret::new), timeout);
        OpenAi { base: base.trim_end_matches('/').to_string(), model: model.to_string(), client }
    }

    fn endpoint(&self) -> String {
        format!("{}/completions", self.base)
    }

    /// The `choices` of one request, in prompt order.
    fn complete(&self, body: Json, expected: usize) -> Result<Vec<Json>, String> {
        let endpoint = self.endpoint();
        let reply = self.client.post_json(&endpoint, &body)?;
        let mut choices: Vec<Json> = reply["choices"].as_array().cloned().ok_or_else(|| {
            // A server may answer an error this way, quoting the key it was sent.
            format!("{endpoint}: the reply has no `choices`: {}", self.client.quote(&reply.to_string()))
        })?;
        choices.sort_by_key(|c| c["index"].as_u64().unwrap_or(0));
        if choices.len() != expected {
            return Err(format!("{endpoint}: {} choices for {expected} prompts", choices.len()));
        }
        Ok(choices)
    }
}

/// The continuation's summed log-probability from an `echo` choice.
fn scored(choice: &Json, context_chars: usize, prompt_chars: usize) -> Result<Scored, String> {
    let lp = &choice["logprobs"];
    let (offsets, logprobs) = match (lp["text_offset"].as_array(), lp["token_logprobs"].as_array()) {
        (Some(o), Some(l)) => (o, l),
        _ => {
            return Err(
                "the reply has no `logprobs.text_offset`/`token_logprobs` (does the server support `echo`?)".into()
            )
        }
    };
    let mut out = Scored { logprob: 0.0, tokens: 0 };
    for (offset, logprob) in offsets.iter().zip(logprobs) {
        let offset = offset.as_u64().unwrap_or(0) as usize;
        if offset < context_chars || offset >= prompt_chars {
            continue;
        }
        out.logprob += logprob.as_f64().ok_or("a continuation token without a log-probability")?;
        out.tokens += 1;
    }
    if out.tokens == 0 {
        return Err("the continuation has no token of its own in the server's tokenisation".into());
    }
    Ok(out)
}

impl Provider for OpenAi {
    fn describe(&self) -> String {
        format!("openai({}, model: {})", self.base, self.model)
    }

    fn likelihoods(&mut self, requests: &[Likelihood]) -> Vec<Result<Scored, String>> {
        let prompts: Vec<String> = requests.iter().map(|r| format!("{}{}", r.context, r.continuation)).collect();
        let body = json!({
            "model": self.model, "prompt": prompts, "max_tokens": 1, "temperature": 0,
            "logprobs": 1, "echo": true,
        });
        match self.complete(body, requests.len()) {
            Ok(choices) => choices
                .iter()
                .zip(requests)
                .map(|(c, r)| {
                    let context = r.context.chars().count();
                    scored(c, context, context + r.continuation.chars().count())
                })
                .collect(),
            Err(e) => requests.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn generate(&mut self, requests: &[Generation]) -> Vec<Result<String, String>> {
        let Some(first) = requests.first() else { return Vec::new() };
        let prompts: Vec<&str> = requests.iter().map(|r| r.prompt.as_str()).collect();
        let body = json!({
            "model": self.model, "prompt": prompts, "max_tokens": first.max_tokens, "temperature": 0,
            "stop": first.stop,
        });
        match self.complete(body, requests.len()) {
            Ok(choices) => choices
                .iter()
                .map(|c| c["text"].as_str().map(str::to_string).ok_or_else(|| "a choice without `text`".to_string()))
                .collect(),
            Err(e) => requests.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_are_those_after_the_context() {
        // "Answer: yes" + one generated token; the context is "Answer:" (7 chars).
        let choice = json!({"logprobs": {
            "tokens": ["Answer", ":", " yes", "\n"],
            "text_offset": [0, 6, 7, 11],
            "token_logprobs": [null, -0.5, -1.25, -3.0],
        }});
        assert_eq!(scored(&choice, 7, 11), Ok(Scored { logprob: -1.25, tokens: 1 }));
        assert!(scored(&json!({}), 7, 11).is_err());
    }
}
