//! Providers: one trait, one file per wire format.
//!
//! A provider adapter translates an OpenAI request into the provider's HTTP request, and the
//! provider's answer (whole or streamed) back into OpenAI's format, extracting usage on the way.
//! Adapters are plain functions of data: they never perform I/O, so they are tested natively
//! with recorded payloads. The edge layer sends what they build and feeds back what arrives.
//!
//! Adding a provider means adding a file here and a [`ProviderKind`] arm in [`adapter_for`];
//! the router only ever sees the trait.

pub mod anthropic;
pub mod azure;
pub mod gemini;
mod gemini_schema;
pub mod openai;
pub mod sse;

use std::cell::RefCell;

use serde_json::Value;

use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::api::ApiError;
use crate::catalog::{ProviderConfig, ProviderKind};
use crate::usage::Usage;

/// One concrete place to send a request: a provider and the model name it knows.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub provider: &'a ProviderConfig,
    pub upstream_model: &'a str,
    /// The key from the provider's Worker secret; `None` for hosts that need none.
    pub api_key: Option<&'a str>,
}

/// An HTTP request for the edge to send.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl UpstreamRequest {
    pub fn json_post(url: String, headers: Vec<(&str, String)>, body: &Value) -> UpstreamRequest {
        let mut all = vec![("content-type".to_string(), "application/json".to_string())];
        all.extend(headers.into_iter().map(|(k, v)| (k.to_string(), v)));
        UpstreamRequest { url, headers: all, body: body.to_string() }
    }
}

/// A non-streaming chat answer: an OpenAI `chat.completion` object, with the usage it reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatAnswer {
    /// OpenAI-dialect bodies pass through as sent; translating providers build a
    /// [`crate::api::chat::ChatCompletion`] and serialize it here.
    pub body: Value,
    /// `None` when the provider reported no usage; the caller then estimates and says so.
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsAnswer {
    pub body: Value,
    pub usage: Option<Usage>,
}

/// What went wrong with a provider's answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The provider answered with an error status; `message` is its own explanation, redacted.
    #[error("{provider} returned HTTP {status}: {message}")]
    Status { provider: String, status: u16, message: String },
    /// The provider answered 200 with a body we cannot read.
    #[error("{provider} sent a response that could not be read: {detail}")]
    Malformed { provider: String, detail: String },
}

impl UpstreamError {
    pub fn malformed(provider: &str, detail: impl Into<String>) -> Self {
        UpstreamError::Malformed { provider: provider.to_string(), detail: detail.into() }
    }
}

/// One stream of provider events turned into OpenAI chunks.
pub trait StreamTranslator {
    /// Handles one server-sent event; returns the OpenAI `chat.completion.chunk`s it becomes.
    /// Usage is never returned as a chunk: the stream driver emits one usage chunk at the end.
    fn on_event(&mut self, event: &sse::SseEvent) -> Result<Vec<Value>, UpstreamError>;
    /// Usage seen so far (final once the stream completed).
    fn usage(&self) -> Option<Usage>;
    /// True once the provider's own end-of-stream marker arrived.
    fn is_complete(&self) -> bool;
}

pub trait Provider {
    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError>;
    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError>;
    fn chat_stream(&self, target: &Target, req: &ChatRequest) -> Box<dyn StreamTranslator>;
    /// The provider's own error message from an error body, redacted of anything key-like.
    fn error_message(&self, status: u16, body: &[u8]) -> String {
        error_message_from_body(status, body)
    }
    /// The output cap this adapter sends when the request sets none, if it sends one: budget
    /// reservations count on it instead of the model's published cap.
    fn default_output_cap(&self) -> Option<u64> {
        None
    }
    fn embeddings_request(&self, target: &Target, _req: &EmbeddingsRequest) -> Result<UpstreamRequest, ApiError> {
        Err(ApiError::invalid_request(format!("Provider '{}' does not serve embeddings through this router.", target.provider.id)))
    }
    fn embeddings_response(&self, target: &Target, _body: &[u8]) -> Result<EmbeddingsAnswer, UpstreamError> {
        Err(UpstreamError::malformed(&target.provider.id, "embeddings are not supported"))
    }
}

pub fn adapter_for(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::Openai => &openai::OpenAi,
        ProviderKind::Azure => &azure::Azure,
        ProviderKind::Anthropic => &anthropic::Anthropic,
        ProviderKind::Gemini => &gemini::Gemini,
    }
}

/// Most providers put their message at `error.message` (OpenAI, Anthropic, Gemini, Azure).
pub fn error_message_from_body(status: u16, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("message")).or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    // Redacted before truncation, so a cut can never leave the start of a key behind.
    truncate_chars(&redact_secrets(&message), 500)
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

thread_local! {
    /// Credentials the router sends upstream, registered by the edge as it reads them, so that
    /// an upstream echoing one back in full is masked even when it looks like no key at all.
    static KNOWN_SECRETS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Remembers a credential so that [`redact_secrets`] masks it wherever it appears. Values under
/// 8 characters are not registered: masking them would garble ordinary words.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 8 {
        return;
    }
    KNOWN_SECRETS.with(|known| {
        let mut known = known.borrow_mut();
        if !known.iter().any(|k| k == secret) {
            if known.len() >= 64 {
                known.remove(0);
            }
            known.push(secret.to_string());
        }
    });
}

/// Masks every registered credential, and anything that looks like an API key (providers
/// sometimes echo part of a bad key).
pub fn redact_secrets(text: &str) -> String {
    let text = KNOWN_SECRETS.with(|known| known.borrow().iter().fold(text.to_string(), |t, k| t.replace(k.as_str(), "[redacted]")));
    let redacted: String = text
        .split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == ':')
        .map(|piece| {
            let word = piece.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ':' | '.' | ')'));
            let tail = &piece[word.len()..];
            let key_like = ["sk-", "sk_", "AIza", "key-", "gsk_", "xai-", "pk-", "Bearer"].iter().any(|p| word.starts_with(p) && word.len() > 8)
                || (word.len() >= 32 && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') && word.chars().any(|c| c.is_ascii_digit()));
            if key_like {
                format!("[redacted]{tail}")
            } else {
                piece.to_string()
            }
        })
        .collect();
    redacted
}

/// Unix seconds now, for `created` fields; the edge passes it in so the core stays pure.
pub type UnixSeconds = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_extracted_and_redacted() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijkl1234. You can find your key at ...","type":"invalid_request_error"}}"#;
        let m = error_message_from_body(401, body);
        assert!(!m.contains("sk-proj"), "{m}");
        assert!(m.contains("Incorrect API key provided: [redacted]."));
        assert_eq!(error_message_from_body(502, b"<html>bad gateway</html>"), "HTTP 502");
        let long = format!("{{\"error\":{{\"message\":\"{}\"}}}}", "a".repeat(2000));
        assert!(error_message_from_body(400, long.as_bytes()).chars().count() <= 501);
    }

    #[test]
    fn registered_credentials_are_masked_whatever_they_look_like() {
        register_secret("test-openai-key");
        register_secret("short");
        let body = br#"{"error":{"message":"Invalid key test-openai-key given (Authorization: Bearer test-openai-key)"}}"#;
        let m = error_message_from_body(401, body);
        assert!(!m.contains("test-openai-key"), "{m}");
        assert!(m.starts_with("Invalid key [redacted] given"), "{m}");
        assert_eq!(redact_secrets("a short note"), "a short note", "values under 8 characters are not masked");
        // A key straddling the 500-character cut leaves no prefix behind.
        let body = format!(r#"{{"error":{{"message":"{}test-openai-key"}}}}"#, "a".repeat(495));
        assert!(!error_message_from_body(400, body.as_bytes()).contains("test-"));
    }
}
