//! Calls to OpenAI-compatible servers (`jmedbench`'s `openai` provider, `translate`'s
//! `openai` engine): a JSON POST with an API key read from the environment. The `.med`
//! file names only the variable (`api_key_env`), so the key is in no parameter, manifest
//! or identity; [`Secret`] keeps it out of everything else. It is sent in the
//! `Authorization` header and nowhere else, and every message of a call (an HTTP error
//! with the body the server answered, a reply that cannot be read) has it taken out:
//! servers echo a key they refuse ("Incorrect API key provided: sk-…"), and such
//! messages reach the node's log and, as failed items or translations, its artifact.

use serde_json::Value as Json;
use std::time::Duration;

/// An API key. Its `Debug` does not show it; [`Secret::redact`] takes it out of a text.
pub struct Secret(String);

/// What a message shows where the key was.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// The key; none when it is empty, which would send a blank `Bearer` and would
    /// redact nothing.
    pub fn new(key: String) -> Option<Secret> {
        (!key.is_empty()).then_some(Secret(key))
    }

    /// The key in the environment variable `name`, if set and not empty.
    pub fn from_env(name: &str) -> Option<Secret> {
        std::env::var(name).ok().and_then(Secret::new)
    }

    /// `text` with every occurrence of the key replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, REDACTED)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

/// A client of one server, with its key.
pub struct Client {
    agent: ureq::Agent,
    key: Option<Secret>,
}

/// How much of a reply a message quotes.
const QUOTED: usize = 200;

impl Client {
    pub fn new(key: Option<Secret>, timeout: Duration) -> Client {
        // An error status is read like any reply, so that its message can quote what the
        // server said (redacted) instead of a bare status code.
        let agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build();
        Client { agent: agent.into(), key }
    }

    /// POSTs `body` to `endpoint` and reads the JSON reply. An error names the endpoint
    /// and quotes the start of the reply, with the key taken out.
    pub fn post_json(&self, endpoint: &str, body: &Json) -> Result<Json, String> {
        self.call(endpoint, body).map_err(|e| self.redact(&e))
    }

    fn call(&self, endpoint: &str, body: &Json) -> Result<Json, String> {
        let mut request = self.agent.post(endpoint);
        if let Some(Secret(key)) = &self.key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send_json(body).map_err(|e| format!("{endpoint}: {e}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string().map_err(|e| format!("{endpoint}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{endpoint}: HTTP {}: {}", status.as_u16(), self.quote(&text)));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("{endpoint}: the reply is not JSON ({e}): {}", self.quote(&text)))
    }

    /// `text` without the key.
    pub fn redact(&self, text: &str) -> String {
        self.key.as_ref().map_or_else(|| text.to_string(), |k| k.redact(text))
    }

    /// The start of a reply, for a message: redacted before it is cut, so that no part
    /// of the key is left at the cut.
    pub fn quote(&self, reply: &str) -> String {
        self.redact(reply).chars().take(QUOTED).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_nowhere_but_where_it_is_sent() {
        let key = Secret::new("sk-test-0123".into()).expect("a key");
        assert_eq!(format!("{key:?}"), "Secret([redacted])");
        assert_eq!(
            key.redact("Incorrect API key provided: sk-test-0123 (sk-test-0123)"),
            "Incorrect API key provided: [redacted] ([redacted])"
        );
        assert!(Secret::new(String::new()).is_none(), "an empty key would redact nothing and send a blank one");
        let client = Client::new(None, Duration::from_secs(1));
        assert_eq!(client.redact("nothing to hide"), "nothing to hide");
        // A key across the cut is taken out whole, not left as a prefix.
        let client = Client::new(Secret::new("sk-test-0123".into()), Duration::from_secs(1));
        let reply = format!("{}sk-test-0123", "x".repeat(QUOTED - 4));
        assert_eq!(client.quote(&reply), format!("{}[red", "x".repeat(QUOTED - 4)));
    }
}
