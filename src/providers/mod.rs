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
mod anthropic_schema;
mod embeddings_answer;
mod gemini_schema;
mod schema_refs;
pub mod openai;
pub mod sse;
mod tool_call_ids;

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::Value;

use crate::api::chat::{ChatRequest, Content, ContentPart, ResponseFormat};
use crate::api::embeddings::{EmbeddingInput, EmbeddingsRequest};
use crate::api::ApiError;
use crate::catalog::{ProviderConfig, ProviderKind};
use crate::usage::Usage;

pub use embeddings_answer::{EmbeddingsAnswer, RawEmbeddings};

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

/// What went wrong with a provider's answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The provider answered with an error status; `message` is its own explanation, redacted.
    #[error("{provider} returned HTTP {status}: {message}")]
    Status { provider: String, status: u16, message: String },
    /// The provider answered 200 with a body we cannot read.
    #[error("{provider} sent a response that could not be read: {detail}")]
    Malformed { provider: String, detail: String },
    /// The provider answered 200 but says the model failed to produce an answer (Gemini's
    /// MALFORMED_FUNCTION_CALL): a failed call, worth another candidate, not an answer.
    #[error("{provider}: the model did not finish an answer ({reason})")]
    /// `usage` is the prompt the provider billed (boxed: the error stays small).
    NoAnswer { provider: String, reason: String, usage: Option<Box<Usage>> },
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
    /// The processing tier the stream said it was served in (OpenAI's `service_tier` on every
    /// chunk), for an estimate of a stream that ends before its usage report.
    fn service_tier(&self) -> crate::usage::ServiceTier {
        crate::usage::ServiceTier::Standard
    }
    /// True once the provider's own end-of-stream marker arrived.
    fn is_complete(&self) -> bool;
    /// Top-level fields of the client's usage chunk as the provider sent them: `usage` itself
    /// (with counts [`Usage`] does not model, which the non-streaming path passes through too)
    /// and what came beside it, such as `system_fingerprint`. `None`, the default for providers
    /// whose usage is translated, makes the driver build `usage` from [`Self::usage`].
    fn usage_chunk_fields(&self) -> Option<&serde_json::Map<String, Value>> {
        None
    }
}

pub trait Provider {
    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError>;
    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError>;
    fn chat_stream(&self, target: &Target, req: &ChatRequest) -> Box<dyn StreamTranslator>;
    /// The provider's own error message from an error body, redacted of anything key-like.
    fn error_message(&self, status: u16, body: &[u8]) -> String {
        error_message_from_body(status, body)
    }
    /// Whose fault a 4xx that is not a fallback status (`routing::disposition`) is. Providers
    /// report some problems of their own deployment as a 400 (Gemini's invalid key, Anthropic's
    /// exhausted credit), and a prompt too long for one model may fit another's window.
    fn rejection(&self, status: u16, body: &[u8]) -> Rejection {
        openai_rejection(status, body)
    }
    /// The wait in milliseconds a refusal's body asks for, for providers that say it there
    /// rather than (or besides) in `retry-after`; the header, when sent, is used first.
    fn wait_in_error(&self, _status: u16, _body: &[u8]) -> Option<f64> {
        None
    }
    /// The output cap this adapter sends `upstream_model` when `req` sets none, if it sends one:
    /// budget reservations and the planner's fit checks count on it instead of the model's
    /// published cap (it may depend on the request, as thinking does on Claude).
    fn default_output_cap(&self, _req: &ChatRequest, _upstream_model: &str) -> Option<u64> {
        None
    }
    /// Whether the model refuses the call after a tool call unless given back the thinking blocks
    /// it wrote with that call, and cannot be told not to think (Claude that always thinks): the
    /// router keeps them for clients that drop them (`api::kept_thinking`).
    fn needs_thinking_returned(&self, _upstream_model: &str) -> bool {
        false
    }
    /// Whether the model samples for `req` whatever its `temperature` says, because the adapter
    /// leaves the temperature out (Claude's extended thinking takes none, nor does any Claude
    /// model from Opus 4.7 on): a temperature-0
    /// request is then not deterministic, and not cached as if it were.
    fn samples_regardless(&self, _req: &ChatRequest, _upstream_model: &str) -> bool {
        false
    }
    /// A parameter of `req` the adapter leaves out, having no form for it, though it changes the
    /// answer, with why. The router passes the deployment over for it when a rule chose the
    /// model; a client that named the model gets its answer without it.
    fn dropped_param(&self, _req: &ChatRequest) -> Option<(&'static str, &'static str)> {
        None
    }
    /// Whether the adapter turns OpenAI's `reasoning_effort` into its provider's own settings,
    /// by model, and leaves it out for models that cannot take them (Claude's extended thinking,
    /// Gemini's thinking budget): the router then sends it whatever the model's pricing row says.
    fn translates_reasoning_effort(&self) -> bool {
        false
    }
    /// The most `upstream_model` would think on `req` because the request asks it to (the
    /// adapter turns its `reasoning_effort` into thinking: Claude's budget, Gemini's budget;
    /// `u64::MAX` where the effort bounds it by no count, as Claude's adaptive thinking and
    /// Gemini 3's levels); `None` when it would not think as asked. A savings baseline on such a
    /// model keeps the served model's reasoning, up to this.
    fn reasoning_as_asked(&self, _req: &ChatRequest, _upstream_model: &str) -> Option<u64> {
        None
    }
    fn embeddings_request(&self, target: &Target, _req: &EmbeddingsRequest) -> Result<UpstreamRequest, ApiError> {
        Err(ApiError::invalid_request(format!("Provider '{}' does not serve embeddings through this router.", target.provider.id)))
    }
    /// `body` is owned: an OpenAI-shaped answer is kept as it came ([`EmbeddingsAnswer::raw`]).
    fn embeddings_response(&self, target: &Target, _body: Vec<u8>) -> Result<EmbeddingsAnswer, UpstreamError> {
        Err(UpstreamError::malformed(&target.provider.id, "embeddings are not supported"))
    }
    /// The most inputs the provider takes in one embeddings call, when it takes fewer than the
    /// router accepts: the edge then sends [`embeddings_batches`] and merges the answers.
    fn embeddings_batch_limit(&self) -> Option<usize> {
        None
    }
}

/// Whether a 429's body says the request alone is larger than the account's per-minute token
/// limit (OpenAI: "Request too large for gpt-4o in organization org-... on tokens per min
/// (TPM): Limit 30000, Requested 45000"): the request's size, not the deployment's load.
pub fn too_large_for_rate_limit(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .map(|v| wrapped_upstream_error(&v).unwrap_or(v))
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_ascii_lowercase))
        .is_some_and(|m| m.starts_with("request too large"))
}

/// `req` cut into requests of at most `limit` inputs each, in input order. A request that fits,
/// or an adapter with no limit, gets `req` itself, so that call is sent exactly as it always was.
pub fn embeddings_batches(req: &EmbeddingsRequest, limit: Option<usize>) -> Vec<Cow<'_, EmbeddingsRequest>> {
    let Some(limit) = limit.filter(|&limit| req.input_count() > limit) else { return vec![Cow::Borrowed(req)] };
    let with_input = |input| {
        Cow::Owned(EmbeddingsRequest {
            model: req.model.clone(),
            input,
            encoding_format: req.encoding_format.clone(),
            dimensions: req.dimensions,
            user: req.user.clone(),
            extra: req.extra.clone(),
        })
    };
    match &req.input {
        EmbeddingInput::Many(texts) => texts.chunks(limit.max(1)).map(|c| with_input(EmbeddingInput::Many(c.to_vec()))).collect(),
        EmbeddingInput::TokenBatches(batches) => batches.chunks(limit.max(1)).map(|c| with_input(EmbeddingInput::TokenBatches(c.to_vec()))).collect(),
        // A single input cannot be cut.
        EmbeddingInput::One(_) | EmbeddingInput::Tokens(_) => vec![Cow::Borrowed(req)],
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

/// Whose fault a provider's 4xx refusal is: it decides whether the next candidate is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The request itself: another deployment would refuse it too, so the client hears it.
    Request,
    /// The deployment's own setup (an invalid or expired key, billing, a location the provider
    /// refuses): the next candidate is tried and the deployment's breaker counts a failure.
    Deployment,
    /// The prompt is too long for this model's window: a model with a larger one may take it.
    /// Says nothing of the deployment's health.
    TooLong,
    /// The output asked for (`max_tokens`) is more than this model writes: another may.
    OutputCap,
    /// A parameter (or value) this deployment does not take: another model or host may. Says
    /// nothing of the deployment's health; the client hears it if no deployment takes it.
    Unsupported,
}

/// The OpenAI dialect's refusals, which OpenAI-compatible hosts (vLLM, Groq, Mistral, Together)
/// word alike: `context_length_exceeded`, or "maximum context length" in the message; a
/// parameter the model or host does not take: OpenAI's `unsupported_parameter` /
/// `unknown_parameter` / `unsupported_value` codes, Azure's and older OpenAI's "Unrecognized
/// request argument supplied", the "Extra inputs are not permitted" of hosts that validate with
/// pydantic (vLLM, Mistral), DeepSeek's "This response_format type is unavailable now" (it takes
/// `json_object`, not `json_schema`), Groq's "This model does not support response format
/// `json_schema`" and, from its older validator, "value is not one of the allowed values" for a
/// `response_format` type; Ollama's "does not support tools" and "does not support image input".
///
/// Also unsupported, as another model or host may take the request: Groq's `tool_use_failed` and
/// `json_validate_failed` (its model failed to write the call or the JSON asked for, as Gemini's
/// MALFORMED_FUNCTION_CALL); Mistral's "Unexpected role 'user' after role 'tool'" (a history
/// OpenAI takes); Ollama's "image URLs are not currently supported" and "does not support
/// thinking"; OpenRouter's "No endpoints found that support ..." (a 404) and its moderation's
/// "requires moderation" (a 403: another host may not moderate). A model the host retired
/// (Groq's `model_decommissioned`, DeepSeek's "Model Not Exist", a 400 `model_not_found`) is the
/// deployment's setup: every request fails there until the catalog changes.
///
/// Also: OpenAI's search models' "Model incompatible request argument supplied" (`temperature`),
/// DeepSeek's thinking mode asking for the `reasoning_content` of earlier turns another model
/// wrote (another deployment takes the history as it is), and an output cap over the model's
/// ("max_tokens is too large", Groq's "`max_completion_tokens` must be less than or equal to").
pub fn openai_rejection(status: u16, body: &[u8]) -> Rejection {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return Rejection::Request };
    match wrapped_upstream_error(&v) {
        Some(inner) => wrapped_rejection(status, &inner),
        None => openai_dialect_rejection(&v),
    }
}

/// An aggregator forwards the error body of whichever provider served the call (OpenRouter's
/// are OpenAI's, Anthropic's, Google's, ...), so each dialect's reading is asked, OpenAI's first;
/// a body none of them reads is the client's request to fix.
fn wrapped_rejection(status: u16, inner: &Value) -> Rejection {
    let body = serde_json::to_vec(inner).unwrap_or_default();
    [openai_dialect_rejection(inner), anthropic::Anthropic.rejection(status, &body), gemini::Gemini.rejection(status, &body)]
        .into_iter()
        .find(|r| *r != Rejection::Request)
        .unwrap_or(Rejection::Request)
}

fn openai_dialect_rejection(v: &Value) -> Rejection {
    let error = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
    let code = error.get("code").and_then(Value::as_str).unwrap_or_default();
    let message = own_error_text(v).unwrap_or_default().to_ascii_lowercase();
    if code == "context_length_exceeded" || message.contains("maximum context length") || message.contains("context length exceeded") {
        return Rejection::TooLong;
    }
    if matches!(code, "model_decommissioned" | "model_not_found") || message.contains("has been decommissioned") || message == "model not exist" {
        return Rejection::Deployment;
    }
    if ["max_tokens", "max_completion_tokens"].iter().any(|p| message.contains(p))
        && ["is too large", "must be less than or equal to"].iter().any(|m| message.contains(m))
    {
        return Rejection::OutputCap;
    }
    if matches!(code, "unsupported_parameter" | "unknown_parameter" | "unsupported_value" | "tool_use_failed" | "json_validate_failed")
        || [
            "unrecognized request argument",
            "incompatible request argument",
            "extra inputs are not permitted",
            "is not supported with this model",
            "is unsupported",
            "type is unavailable",
            "does not support response format",
            "does not support tools",
            "does not support image",
            "does not support thinking",
            "image urls are not currently supported",
            "unexpected role 'user' after role 'tool'",
            "no endpoints found that support",
            "requires moderation",
            // gpt-5.4 and later on function tools beside a reasoning effort: "Function tools with
            // reasoning_effort are not supported for gpt-5.4-mini in /v1/chat/completions. Please
            // use /v1/responses instead."
            "/v1/responses",
        ]
        .iter()
        .any(|m| message.contains(m))
        // Groq's older validator words every refused enum value so; only a `response_format` type
        // is a capability another model may have (a bad `role` is the client's to fix).
        || (message.contains("response_format") && message.contains("is not one of the allowed values"))
        // An effort this model does not take (Groq's gpt-oss takes low, medium and high only:
        // "`reasoning_effort` must be one of `low`, `medium`, or `high`"); another model may.
        || (message.contains("reasoning_effort") && ["must be one of", "is not one of the allowed values"].iter().any(|m| message.contains(m)))
        || (message.contains("reasoning_content") && (message.contains("must be passed back") || message.contains("missing")))
    {
        return Rejection::Unsupported;
    }
    // Azure, on an api-version older than a model or parameter needs: "Model o4-mini is enabled
    // only for api versions 2024-12-01-preview and later" is the deployment's setup (every
    // request fails there until the catalog names a later version); "Prediction is enabled only
    // for ..." is one parameter, which another deployment may take.
    if message.contains("is enabled only for api version") {
        return if message.starts_with("model ") { Rejection::Deployment } else { Rejection::Unsupported };
    }
    // Groq answers a request over the account's per-minute token limit by itself with a 413
    // "Request too large for model ... on tokens per minute (TPM)": another deployment, with
    // other limits, may take it (and if none does, the client hears this).
    if message.starts_with("request too large") {
        return Rejection::Unsupported;
    }
    Rejection::Request
}

/// OpenAI's error codes a client may act on, kept when a provider answers with one (the router's
/// own `upstream_invalid_request` otherwise).
const OPENAI_ERROR_CODES: &[&str] = &[
    "context_length_exceeded", "unsupported_parameter", "unsupported_value", "unknown_parameter", "invalid_value", "invalid_type",
    "missing_required_parameter", "string_above_max_length", "array_above_max_length", "integer_above_max_value",
    "integer_below_min_value", "decimal_above_max_value", "decimal_below_min_value", "empty_array", "content_filter",
    "content_policy_violation", "invalid_image_url", "invalid_image_format", "image_parse_error", "invalid_prompt",
];

/// The client's error for a provider that rejected the request itself (`message` its words,
/// `body` its error body): the provider's status, and OpenAI's code and `param` where it gave them.
pub fn rejected_by(provider: &str, status: u16, message: &str, body: &[u8]) -> ApiError {
    let (code, param) = upstream_code_and_param(body);
    ApiError::upstream_rejected(status, format!("{provider} rejected the request: {message}")).with_upstream_code(code, param)
}

/// The code and `param` of an OpenAI-shaped error body, where they are ones a client may act on:
/// a code OpenAI uses, and a param that names a request field (`messages[2].content`).
pub fn upstream_code_and_param(body: &[u8]) -> (Option<&'static str>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return (None, None) };
    let (code, param) = code_and_param(&v);
    // An aggregator's wrapper carries no code of OpenAI's; the provider's own body may.
    match wrapped_upstream_error(&v).as_ref().map(code_and_param) {
        Some((inner_code, inner_param)) => (inner_code.or(code), inner_param.or(param)),
        None => (code, param),
    }
}

fn code_and_param(v: &Value) -> (Option<&'static str>, Option<String>) {
    let error = v.get("error").unwrap_or(v);
    let code = error.get("code").and_then(Value::as_str).and_then(|c| OPENAI_ERROR_CODES.iter().find(|k| **k == c).copied());
    let param = error
        .get("param")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)))
        .map(str::to_string);
    (code, param)
}

/// The provider's own error body that an aggregator wraps in its own, if it does: OpenRouter
/// answers `{"error": {"message": "Provider returned error", "code": 400, "metadata": {"raw":
/// "<the provider's body>", "provider_name": "OpenAI"}}}`, whose own words say nothing a client
/// or the fallback judgement could act on. Parsed where it is JSON, else taken as a message;
/// unwrapped once (a wrapper inside is not read).
fn wrapped_upstream_error(v: &Value) -> Option<Value> {
    let raw = v.pointer("/error/metadata/raw")?.as_str()?;
    Some(serde_json::from_str::<Value>(raw).ok().filter(Value::is_object).unwrap_or_else(|| serde_json::json!({ "error": { "message": raw } })))
}

/// A provider's message in its parsed error body ([`own_error_text`]), followed by the wrapped
/// provider's own where an aggregator wraps one (`Provider returned error (OpenAI): This model's
/// maximum context length is ...`).
fn error_text(v: &Value) -> Option<String> {
    let own = own_error_text(v);
    let Some(inner) = wrapped_upstream_error(v).as_ref().and_then(own_error_text) else { return own };
    Some(match (own, v.pointer("/error/metadata/provider_name").and_then(Value::as_str)) {
        (Some(own), Some(name)) => format!("{own} ({name}): {inner}"),
        (Some(own), None) => format!("{own}: {inner}"),
        (None, _) => inner,
    })
}

/// A provider's message in its parsed error body: `error.message` (OpenAI, Anthropic, Gemini,
/// Azure), a top-level `message` (vLLM) or `error`, or the validation details of hosts built on
/// pydantic, each as its `msg` and where it points: Mistral's 422s carry them as
/// `{"message": {"detail": [...]}}`, `{"detail": [...], "message": [...]}` or a bare
/// `{"detail": [...]}` ("Extra inputs are not permitted (messages.1.assistant.name)").
fn own_error_text(v: &Value) -> Option<String> {
    let plain = v.pointer("/error/message").or_else(|| v.get("message")).or_else(|| v.get("error")).and_then(Value::as_str);
    if let Some(text) = plain {
        return Some(text.to_string());
    }
    let details = [v.pointer("/message/detail"), v.pointer("/error/message/detail"), v.get("detail"), v.get("message")];
    for detail in details.into_iter().flatten() {
        if let Some(text) = detail.as_str() {
            return Some(text.to_string());
        }
        let described: Vec<String> = detail
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let msg = d.get("msg").and_then(Value::as_str)?;
                let at: Vec<String> = d
                    .get("loc")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|l| l.as_str() != Some("body"))
                    .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                    .collect();
                Some(if at.is_empty() { msg.to_string() } else { format!("{msg} ({})", at.join(".")) })
            })
            .take(5)
            .collect();
        if !described.is_empty() {
            return Some(described.join("; "));
        }
    }
    None
}

/// The provider's message from an error body (see [`error_text`]), redacted and cut to length.
pub fn error_message_from_body(status: u16, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(error_text)
        .unwrap_or_else(|| match status {
            300..=399 => format!("HTTP {status}: a redirect, which the router does not follow (it would carry the provider key elsewhere); check the provider's base_url"),
            _ => format!("HTTP {status}"),
        });
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
    // Quota figures are masked in rate-limit refusals only: elsewhere a figure after "limit" is
    // the request's or the model's ("context limit: 197738 + 8192 > 200000", "the configured
    // limit of 272000 tokens", "exceeds the limit: 20971520 bytes"), which the client needs.
    let lower = text.to_ascii_lowercase();
    let rate_limited = ["rate limit", "quota", "per minute", "per min ", "per day"].iter().any(|m| lower.contains(m));
    // The word before, and whether an organization was named a few words back (Anthropic: "the
    // rate limit for your organization (…) of 20,000 input tokens": its quota follows "of").
    let mut previous = String::new();
    let mut organization_words_left = 0u8;
    // Inside a figure written with separators ("20,000" splits at the comma).
    let mut in_quota_figure = false;
    // A key may also sit in a URL's query (`...:generateContent?key=AIza...`), which a provider
    // echoes or an aggregator's wrapped body carries.
    let redacted: String = text
        .split_inclusive(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ':' | '?' | '&' | '='))
        .map(|piece| {
            let lead_len = piece.len() - piece.trim_start_matches(['(', '[']).len();
            let (lead, rest) = piece.split_at(lead_len);
            let word = rest.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ':' | '.' | ')' | ']' | '?' | '&' | '='));
            let tail = &rest[word.len()..];
            // Organization and project ids (OpenAI's, Groq's and Anthropic's rate-limit messages
            // name them; Google's name the project number) are the operator's account, not the
            // tenant's business. Backticks are looked past for the prefixed ids only (Groq's
            // `org_…`): a long model name in backticks is no id.
            let unquoted = word.trim_matches('`');
            let key_like = ["sk-", "sk_", "AIza", "key-", "gsk_", "xai-", "pk-", "Bearer", "org-", "org_", "proj_"].iter().any(|p| unquoted.starts_with(p) && unquoted.len() > 8)
                || (word.len() >= 32 && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') && word.chars().any(|c| c.is_ascii_digit()));
            let number = !word.is_empty() && word.chars().all(|c| c.is_ascii_digit() || c == '.');
            let said = |words: &[&str]| words.iter().any(|w| previous.eq_ignore_ascii_case(w));
            let project_number = number && said(&["project", "project_number", "projects"]);
            // So are the account's quota and what every tenant together has used of it, right
            // after the word ("Limit 30000, Used 29876"), or after "of" past an organization;
            // the request's own size ("Requested 500") and a wait ("try again in 5 seconds") stay.
            let quota_figure = number && rate_limited && (in_quota_figure || said(&["limit", "used"]) || (organization_words_left > 0 && said(&["of"])));
            if !word.is_empty() {
                in_quota_figure = quota_figure && piece.ends_with(',');
                organization_words_left = if ["organization", "org"].iter().any(|w| word.eq_ignore_ascii_case(w)) { 4 } else { organization_words_left.saturating_sub(1) };
                previous = word.to_string();
            }
            if key_like || quota_figure || project_number {
                format!("{lead}[redacted]{tail}")
            } else {
                piece.to_string()
            }
        })
        .collect();
    redacted
}

/// Tokens a client's output cap keeps for the answer beside thinking (Claude's, Gemini's):
/// without them a thinking budget could take the whole cap and leave an empty answer cut at
/// `length`.
pub const ANSWER_ROOM_BESIDE_THINKING: u64 = 1024;

/// Whether `provider` sends a request's `reasoning_effort` to its host as the client wrote it:
/// not where its adapter turns it into thinking settings (Claude, Gemini) or its quirks do
/// (DeepSeek's `thinking_switch`, which turns `none` and `minimal` into thinking disabled, or
/// `allowed_values`, which drops an effort the host does not list), nor where its quirks leave
/// the parameter out (`keep_only_params` read after `rename_params`, as the adapter applies them).
pub fn sends_effort_as_written(provider: &ProviderConfig) -> bool {
    let q = &provider.quirks;
    let sent_as = q.rename_params.get("reasoning_effort").map_or("reasoning_effort", String::as_str);
    let named = |list: &[String], name: &str| list.iter().any(|p| p == name);
    !adapter_for(provider.kind).translates_reasoning_effort()
        && !q.thinking_switch
        && !q.allowed_values.contains_key("reasoning_effort")
        && !named(&q.drop_params, "reasoning_effort")
        && !named(&q.unsupported_params, "reasoning_effort")
        && q.keep_only_params.as_deref().is_none_or(|keep| named(keep, sent_as))
}

/// What a translating provider (Anthropic, Gemini) refuses before translating, so another
/// deployment may take the request. It has a form for `tools` only: the deprecated `functions`
/// (and the `function_call` parameter choosing among them) would be dropped, and the model answer
/// without the functions the client declared.
pub fn refuse_untranslatable(req: &ChatRequest, provider: &str) -> Result<(), ApiError> {
    for field in ["functions", "function_call"] {
        if req.extra.get(field).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid_value(field, format!("'{field}' (deprecated) cannot be sent to {provider}: declare the functions in 'tools' (and choose with 'tool_choice').")));
        }
    }
    // Parameters that change what the answer is, which the translating providers have no form
    // for: dropped, the client would get a different answer than it asked for (text where it
    // reads `message.audio`, free text where its logit bias forced a label, no web search).
    // Refused, the request goes to a candidate that takes them, or gets this 400.
    let set = |field: &str| req.extra.get(field).filter(|v| !matches!(v, Value::Null | Value::Bool(false)));
    let audio_out = set("audio").is_some() || set("modalities").and_then(Value::as_array).is_some_and(|m| m.iter().any(|x| x != "text"));
    if audio_out {
        return Err(ApiError::invalid_value("modalities", format!("{provider} models answer in text only; audio output ('modalities', 'audio') needs an OpenAI audio model.")));
    }
    if set("logit_bias").is_some_and(|bias| bias.as_object().is_none_or(|b| !b.is_empty())) {
        return Err(ApiError::invalid_value("logit_bias", format!("{provider} models do not take 'logit_bias'.")));
    }
    if set("web_search_options").is_some() {
        return Err(ApiError::invalid_value("web_search_options", format!("{provider} models do not take 'web_search_options' (OpenAI's search models do).")));
    }
    refuse_foreign_types(req, provider)
}

/// What a provider that takes only OpenAI's own types refuses: a content part or a
/// `response_format` of a type a host defines beyond them (vLLM's `video_url`, `structural_tag`),
/// or a JSON mode with a host's schema beside it (Together's). Translated, it would be lost (or
/// the answer constrained to JSON without the schema); sent to OpenAI, refused after a round trip.
pub fn refuse_foreign_types(req: &ChatRequest, provider: &str) -> Result<(), ApiError> {
    match &req.response_format {
        Some(ResponseFormat::Other(format)) => {
            let kind = format.get("type").and_then(Value::as_str).unwrap_or("");
            return Err(ApiError::invalid_value("response_format.type", format!("{provider} models do not take response_format type '{kind}' (OpenAI's are text, json_object and json_schema).")));
        }
        Some(ResponseFormat::JsonObject { extra }) if !extra.is_empty() => {
            let fields = extra.keys().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
            return Err(ApiError::invalid_value("response_format", format!("{provider} models take a json_object response_format without other fields ({fields}); send a schema as type json_schema.")));
        }
        _ => {}
    }
    for (i, message) in req.messages.iter().enumerate() {
        let Some(Content::Parts(parts)) = &message.content else { continue };
        if let Some((j, part)) = parts.iter().enumerate().find(|(_, p)| matches!(p, ContentPart::Other(_))) {
            return Err(foreign_part(part, &format!("messages[{i}].content[{j}]"), provider));
        }
    }
    Ok(())
}

/// The media type to declare for a base64 image. OpenAI neither checks a data URL's type against
/// its bytes nor minds `image/jpg`, so clients mislabel images (a PNG screenshot sent as
/// `image/jpeg`) and write `image/jpg`; Anthropic refuses an image whose bytes are not the type
/// declared ("Image does not match the provided media type") and Gemini refuses `image/jpg`
/// ("Unsupported MIME type"), so a request that works on OpenAI would fail on them. The type comes
/// from the data's first bytes when they are JPEG, PNG, GIF or WebP (by their base64 prefixes:
/// WebP is `RIFF`, four size bytes, `WEBP`); else the declared type in lower case, `image/jpg`
/// read as `image/jpeg`, for the provider to judge.
pub fn image_media_type(declared: &str, data: &str) -> String {
    const SIGNATURES: [(&str, &str); 3] = [("/9j/", "image/jpeg"), ("iVBORw0KGgo", "image/png"), ("R0lGOD", "image/gif")];
    if let Some((_, media_type)) = SIGNATURES.iter().find(|(prefix, _)| data.starts_with(prefix)) {
        return (*media_type).to_string();
    }
    if data.starts_with("UklGR") && data.get(12..16) == Some("RUJQ") {
        return "image/webp".to_string();
    }
    match declared.to_ascii_lowercase().as_str() {
        "image/jpg" => "image/jpeg".to_string(),
        lower => lower.to_string(),
    }
}

/// The refusal of a content part of a type OpenAI does not define.
pub fn foreign_part(part: &ContentPart, param: &str, provider: &str) -> ApiError {
    ApiError::invalid_value(&format!("{param}.type"), format!("{provider} models do not take '{}' content parts (OpenAI's are text, image_url, input_audio, file and refusal).", part.kind()))
}

/// The system-prompt instruction asking for the output `format` describes, for a provider that
/// cannot constrain its output to it: Anthropic, which has no JSON mode, and Gemini before 3
/// when functions are declared. `None` for plain text.
pub fn json_output_instruction(format: Option<&ResponseFormat>) -> Option<String> {
    const ONLY_JSON: &str = "Respond with only a valid JSON object, with no text before or after it.";
    match format? {
        // Another type was refused before translation (`refuse_untranslatable`).
        ResponseFormat::Text | ResponseFormat::Other(_) => None,
        ResponseFormat::JsonObject { .. } => Some(ONLY_JSON.to_string()),
        ResponseFormat::JsonSchema { json_schema } => Some(match &json_schema.schema {
            Some(schema) => format!("{ONLY_JSON} The object must conform to this JSON schema:\n{schema}"),
            None => ONLY_JSON.to_string(),
        }),
    }
}

/// FNV-1a, 64 bits: a stable hash for ids the router derives (the same input gives the same id
/// in every isolate and release), not a defence against anyone choosing inputs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Unix seconds now, for `created` fields; the edge passes it in so the core stays pure.
pub type UnixSeconds = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_too_long_for_one_model_may_go_to_another() {
        let openai = br#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(openai_rejection(400, openai), Rejection::TooLong);
        let vllm = br#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","code":400}"#;
        assert_eq!(openai_rejection(400, vllm), Rejection::TooLong);
        // Groq refuses a field it does not know: another host may take the request.
        let groq = br#"{"error":{"message":"'messages.1' : for 'role:assistant' the following must be satisfied[('messages.1.tool_calls.0' : property 'extra_content' is unsupported)]","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, groq), Rejection::Unsupported);
        let bad = br#"{"error":{"message":"Invalid type for 'messages[0].content'.","type":"invalid_request_error","param":"messages[0].content","code":"invalid_type"}}"#;
        assert_eq!(openai_rejection(400, bad), Rejection::Request);
        assert_eq!(openai_rejection(400, b"<html>"), Rejection::Request);
    }

    #[test]
    fn a_parameter_one_model_or_host_does_not_take_may_go_to_another() {
        let openai = br#"{"error":{"message":"Unsupported parameter: 'reasoning_effort' is not supported with this model.","type":"invalid_request_error","param":"reasoning_effort","code":"unsupported_parameter"}}"#;
        assert_eq!(openai_rejection(400, openai), Rejection::Unsupported);
        let azure = br#"{"error":{"message":"Unrecognized request argument supplied: prompt_cache_key","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(openai_rejection(400, azure), Rejection::Unsupported);
        let vllm = br#"{"object":"error","message":"[{'type': 'extra_forbidden', 'loc': ('body', 'safety_identifier'), 'msg': 'Extra inputs are not permitted'}]","type":"BadRequestError","code":400}"#;
        assert_eq!(openai_rejection(400, vllm), Rejection::Unsupported);
        let value = br#"{"error":{"message":"Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}"#;
        assert_eq!(openai_rejection(400, value), Rejection::Unsupported);
        // DeepSeek takes JSON mode, not a JSON schema: a model that takes one may serve it.
        let deepseek = br#"{"error":{"message":"This response_format type is unavailable now","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(422, deepseek), Rejection::Unsupported);
        // Groq's Llama models, now and before, on a JSON schema they do not take.
        let groq = br#"{"error":{"message":"This model does not support response format `json_schema`. See supported models at https://console.groq.com/docs/structured-outputs#supported-models","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, groq), Rejection::Unsupported);
        let groq_before = br#"{"error":{"message":"'response_format.type' : value is not one of the allowed values ['text','json_object']","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, groq_before), Rejection::Unsupported);
        // Ollama, of a model without tools or vision: another model may have them.
        let tools = br#"{"error":{"message":"registry.ollama.ai/library/gemma:2b does not support tools","type":"api_error","param":null,"code":null}}"#;
        assert_eq!(openai_rejection(400, tools), Rejection::Unsupported);
        let images = br#"{"error":{"message":"this model does not support image input","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, images), Rejection::Unsupported);
        let bad_role = br#"{"error":{"message":"'messages.0.role' : value is not one of the allowed values ['system','user','assistant','tool']","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, bad_role), Rejection::Request, "the client's to fix: no other model takes it either");
    }

    #[test]
    fn refusals_of_search_models_deepseek_thinking_and_output_caps_may_go_elsewhere() {
        let search = br#"{"error":{"message":"Model incompatible request argument supplied: temperature","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(openai_rejection(400, search), Rejection::Unsupported);
        let deepseek = br#"{"error":{"message":"The `reasoning_content` in the thinking mode must be passed back to the API.","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, deepseek), Rejection::Unsupported);
        let deepseek_missing = br#"{"error":{"message":"Missing `reasoning_content` field in the assistant message at message index 2","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, deepseek_missing), Rejection::Unsupported);
        // A field the client left out is the client's to add, wherever it goes.
        let missing = br#"{"error":{"message":"Missing required parameter: 'messages[1].tool_calls[0].function'.","type":"invalid_request_error","param":"messages[1].tool_calls[0].function","code":"missing_required_parameter"}}"#;
        assert_eq!(openai_rejection(400, missing), Rejection::Request, "the client's to fix");
        let openai_cap = br#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}"#;
        assert_eq!(openai_rejection(400, openai_cap), Rejection::OutputCap);
        let groq_cap = br#"{"error":{"message":"`max_completion_tokens` must be less than or equal to `8192`, the maximum value for `max_completion_tokens` is less than the `context_window` for this model","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, groq_cap), Rejection::OutputCap);
        let temperature = br#"{"error":{"message":"temperature must be less than or equal to 2","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, temperature), Rejection::Request, "the client's to fix");
        // gpt-5.4 and later: tools beside a reasoning effort only on the Responses API.
        let tools_effort = br#"{"error":{"message":"Function tools with reasoning_effort are not supported for gpt-5.4-mini in /v1/chat/completions. Please use /v1/responses instead.","type":"invalid_request_error","param":"reasoning_effort","code":null}}"#;
        assert_eq!(openai_rejection(400, tools_effort), Rejection::Unsupported);
        // Azure on an api-version older than the model (the deployment's setup) or a parameter needs.
        let old_version = br#"{"error":{"code":"BadRequest","message":"Model o4-mini is enabled only for api versions 2024-12-01-preview and later"}}"#;
        assert_eq!(openai_rejection(400, old_version), Rejection::Deployment);
        let old_param = br#"{"error":{"code":"BadRequest","message":"Prediction is enabled only for api versions 2025-01-01-preview and later"}}"#;
        assert_eq!(openai_rejection(400, old_param), Rejection::Unsupported);
    }

    #[test]
    fn mistral_validation_errors_are_read_and_judged() {
        // Mistral's 422 for a field it does not know, in the shapes it has used.
        let nested = br#"{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","messages",1,"assistant","reasoning_content"],"msg":"Extra inputs are not permitted","input":null}]},"type":"invalid_request_message_error","param":null,"code":null}"#;
        assert_eq!(error_message_from_body(422, nested), "Extra inputs are not permitted (messages.1.assistant.reasoning_content)");
        assert_eq!(openai_rejection(422, nested), Rejection::Unsupported);
        let beside = br#"{"detail":[{"type":"extra_forbidden","loc":["body","user"],"msg":"Extra inputs are not permitted","input":"u1"}],"message":[],"code":3001}"#;
        assert_eq!(error_message_from_body(422, beside), "Extra inputs are not permitted (user)");
        assert_eq!(openai_rejection(422, beside), Rejection::Unsupported);
        let bare = br#"{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required"},{"type":"int_parsing","loc":["body","max_tokens"],"msg":"Input should be a valid integer"}]}"#;
        assert_eq!(error_message_from_body(422, bare), "Field required (messages); Input should be a valid integer (max_tokens)");
        assert_eq!(openai_rejection(422, bare), Rejection::Request, "the client's to fix");
        assert_eq!(error_message_from_body(404, br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message_from_body(422, br#"{"detail":[]}"#), "HTTP 422");
    }

    #[test]
    fn hosts_refusals_that_another_model_or_deployment_may_not_share() {
        // Retired models: the deployment's setup (the next candidate serves, the breaker hears).
        let groq_retired = br#"{"error":{"message":"The model `llama-3.1-70b-versatile` has been decommissioned and is no longer supported. Please refer to https://console.groq.com/docs/deprecations for a recommendation on which model to use instead.","type":"invalid_request_error","code":"model_decommissioned"}}"#;
        assert_eq!(openai_rejection(400, groq_retired), Rejection::Deployment);
        let deepseek_gone = br#"{"error":{"message":"Model Not Exist","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, deepseek_gone), Rejection::Deployment);
        let not_found = br#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
        assert_eq!(openai_rejection(400, not_found), Rejection::Deployment);
        // The model failed the request, or the host does not take this request: another may.
        let tool_failed = br#"{"error":{"message":"Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.","type":"invalid_request_error","code":"tool_use_failed","failed_generation":"<function=get_weather{}>"}}"#;
        assert_eq!(openai_rejection(400, tool_failed), Rejection::Unsupported);
        let json_failed = br#"{"error":{"message":"Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for more details.","type":"invalid_request_error","code":"json_validate_failed","failed_generation":"{"}}"#;
        assert_eq!(openai_rejection(400, json_failed), Rejection::Unsupported);
        let mistral_order = br#"{"object":"error","message":"Unexpected role 'user' after role 'tool'","type":"invalid_request_message_order","param":null,"code":"3230"}"#;
        assert_eq!(openai_rejection(400, mistral_order), Rejection::Unsupported);
        let ollama_url = br#"{"error":{"message":"image URLs are not currently supported, please use base64 encoded data instead","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(openai_rejection(400, ollama_url), Rejection::Unsupported);
        let ollama_thinking = br#"{"error":{"message":"\"llama3.2\" does not support thinking","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(openai_rejection(400, ollama_thinking), Rejection::Unsupported);
        let openrouter_tools = br#"{"error":{"message":"No endpoints found that support tool use. To learn more about provider routing, visit: https://openrouter.ai/docs/provider-routing","code":404}}"#;
        assert_eq!(openai_rejection(404, openrouter_tools), Rejection::Unsupported);
        let openrouter_flagged = br#"{"error":{"message":"openai/gpt-4o requires moderation on OpenAI. Your input was flagged for \"violence/graphic\". No credits were charged.","code":403,"metadata":{"reasons":["violence/graphic"],"provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}"#;
        assert_eq!(openai_rejection(403, openrouter_flagged), Rejection::Unsupported);
        // An effort this model does not take (Groq's gpt-oss: low, medium, high; its Qwen: none, default).
        let gpt_oss_effort = br#"{"error":{"message":"`reasoning_effort` must be one of `low`, `medium`, or `high`","type":"invalid_request_error","param":"reasoning_effort"}}"#;
        assert_eq!(openai_rejection(400, gpt_oss_effort), Rejection::Unsupported);
        let older_validator = br#"{"error":{"message":"'reasoning_effort' : value is not one of the allowed values ['none','default']","type":"invalid_request_error"}}"#;
        assert_eq!(openai_rejection(400, older_validator), Rejection::Unsupported);
        // Still the client's: a bad value no model takes.
        let bad = br#"{"error":{"message":"'messages' must contain the word 'json' in some form","type":"invalid_request_error","code":null}}"#;
        assert_eq!(openai_rejection(400, bad), Rejection::Request);
    }

    #[test]
    fn an_upstream_code_and_param_are_kept_when_a_client_can_act_on_them() {
        let body = br#"{"error":{"message":"Unsupported parameter: 'max_tokens'","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
        assert_eq!(upstream_code_and_param(body), (Some("unsupported_parameter"), Some("max_tokens".into())));
        let odd = br#"{"error":{"message":"x","param":"a param with <html>","code":"org-123 quota"}}"#;
        assert_eq!(upstream_code_and_param(odd), (None, None));
        assert_eq!(upstream_code_and_param(b"not json"), (None, None));
    }

    #[test]
    fn an_error_openrouter_wraps_is_judged_and_told_by_the_providers_own_words() {
        let wrapped = |raw: &str| serde_json::to_vec(&serde_json::json!({"error": {"message": "Provider returned error", "code": 400, "metadata": {"raw": raw, "provider_name": "OpenAI"}}})).unwrap();
        let too_long = wrapped(r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#);
        assert_eq!(openai_rejection(400, &too_long), Rejection::TooLong);
        assert_eq!(upstream_code_and_param(&too_long), (Some("context_length_exceeded"), Some("messages".to_string())));
        let m = error_message_from_body(400, &too_long);
        assert!(m.starts_with("Provider returned error (OpenAI): This model's maximum context length is 128000"), "{m}");
        // By its code alone, and a provider's body that is not JSON, read as its words.
        let by_code = wrapped(r#"{"error":{"message":"no","code":"unsupported_parameter"}}"#);
        assert_eq!(openai_rejection(400, &by_code), Rejection::Unsupported);
        let plain = wrapped("mistral-large does not support tools");
        assert_eq!(openai_rejection(400, &plain), Rejection::Unsupported);
        assert!(error_message_from_body(400, &plain).ends_with("(OpenAI): mistral-large does not support tools"));
        // The wrapper alone, or a raw that names nothing, stays the client's request to fix.
        assert_eq!(openai_rejection(400, br#"{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"bad things"}}}"#), Rejection::Request);
        assert_eq!(error_message_from_body(400, br#"{"error":{"message":"Provider returned error","code":400}}"#), "Provider returned error");
        // A key the provider echoes inside is redacted as anywhere, in a URL's query too.
        let key = wrapped(r#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijkl1234."}}"#);
        assert_eq!(error_message_from_body(401, &key), "Provider returned error (OpenAI): Incorrect API key provided: [redacted].");
        let in_url = wrapped("POST https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIzaSyD-abcdefghijklmnopqrstuvwxyz12345&alt=sse failed");
        assert_eq!(error_message_from_body(400, &in_url), "Provider returned error (OpenAI): POST https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=[redacted]&alt=sse failed");
        // Other providers' words inside (OpenRouter mostly serves Claude and Gemini), and words
        // read from the start of the message (Groq's TPM refusal, DeepSeek's missing model).
        let claude = wrapped(r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}"#);
        assert_eq!(openai_rejection(400, &claude), Rejection::TooLong);
        let gemini = wrapped(r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#);
        assert_eq!(openai_rejection(400, &gemini), Rejection::TooLong);
        assert_eq!(openai_rejection(400, &wrapped("Multiple candidates is not enabled for this model")), Rejection::Unsupported);
        let groq_tpm = wrapped(r#"{"error":{"message":"Request too large for model `llama-3.3-70b-versatile` on tokens per minute (TPM): Limit 12000, Requested 20000"}}"#);
        assert_eq!(openai_rejection(413, &groq_tpm), Rejection::Unsupported);
        assert!(too_large_for_rate_limit(&groq_tpm));
        assert_eq!(openai_rejection(400, &wrapped(r#"{"error":{"message":"Model Not Exist"}}"#)), Rejection::Deployment);
        // A body with a raw of its own keeps its own code and param where the raw has none.
        let own = br#"{"error":{"message":"Bad","code":"invalid_value","param":"tools","metadata":{"raw":"not json"}}}"#;
        assert_eq!(upstream_code_and_param(own), (Some("invalid_value"), Some("tools".to_string())));
    }

    #[test]
    fn error_messages_are_extracted_and_redacted() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijkl1234. You can find your key at ...","type":"invalid_request_error"}}"#;
        let m = error_message_from_body(401, body);
        assert!(!m.contains("sk-proj"), "{m}");
        assert!(m.contains("Incorrect API key provided: [redacted]."));
        assert_eq!(error_message_from_body(502, b"<html>bad gateway</html>"), "HTTP 502");
        // A redirect is not followed (the key would go with it): the operator is told where to look.
        assert!(error_message_from_body(302, b"").contains("a redirect, which the router does not follow"), "{}", error_message_from_body(302, b""));
        let limit = br#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-AbCdEf123456GhIj on tokens per min (TPM): Limit 30000, Used 29876.","code":"rate_limit_exceeded"}}"#;
        assert!(error_message_from_body(429, limit).contains("in organization [redacted] on tokens"));
        assert!(error_message_from_body(429, limit).contains("Limit [redacted], Used [redacted]."), "{}", error_message_from_body(429, limit));
        assert!(redact_secrets("Used to work; retry in 20s").contains("Used to work"), "only figures after the words");
        assert!(redact_secrets("However, you requested 130000 tokens").contains("requested 130000"), "the client's own size stays");
        // Other providers' account ids and quotas: Anthropic's older rate-limit form, Groq's,
        // Google's project numbers.
        let anthropic = redact_secrets("This request would exceed the rate limit for your organization (0dccdde6-f924-4f1b-bb3b-92ef846e0a5b) of 20,000 input tokens per minute.");
        assert_eq!(anthropic, "This request would exceed the rate limit for your organization ([redacted]) of [redacted],[redacted] input tokens per minute.");
        let groq = redact_secrets("Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01hxyzabcdefg` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5000, Requested 1200.");
        assert!(groq.contains("organization [redacted] service tier"), "{groq}");
        assert!(groq.contains("Limit [redacted], Used [redacted], Requested 1200."), "{groq}");
        let gemini = redact_secrets("Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region' of service 'generativelanguage.googleapis.com' for consumer 'project_number:123456789012'.");
        assert!(gemini.ends_with("'project_number:[redacted]'."), "{gemini}");
        let disabled = redact_secrets("Generative Language API has not been used in project 123456789012 before or it is disabled.");
        assert_eq!(disabled, "Generative Language API has not been used in project [redacted] before or it is disabled.");
        // Figures of the request and the model stay, near the words or not, and a wait.
        for kept in [
            "max_tokens: 100000 > 64000, which is the maximum allowed",
            "input length and `max_tokens` exceed context limit: 197738 + 8192 > 200000, decrease input length or `max_tokens` and try again",
            "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 300000 tokens.",
            "Request payload size exceeds the limit: 20971520 bytes.",
            "Rate limit is exceeded. Try again in 5 seconds.",
            "The model `gpt-4o-mini-search-preview-2025-03-11` does not exist or you do not have access to it.",
            // A figure after "of" is a quota only past an organization; a prefix alone is no key.
            "Rate limit exceeded: your request of 45000 tokens is more than is left this minute.",
            "The org-wide setting does not allow this model.",
        ] {
            assert_eq!(redact_secrets(kept), kept);
        }
        assert!(redact_secrets("Please reduce the length of the messages. You requested 130000 tokens; the limit is exceeded").contains("requested 130000"));
        let long = format!("{{\"error\":{{\"message\":\"{}\"}}}}", "a".repeat(2000));
        assert!(error_message_from_body(400, long.as_bytes()).chars().count() <= 501);
    }

    #[test]
    fn embeddings_over_the_batch_limit_are_cut_in_input_order() {
        let texts: Vec<String> = (0..101).map(|i| format!("doc {i}")).collect();
        let req = EmbeddingsRequest::parse(serde_json::json!({"model": "embed", "input": texts, "dimensions": 768}).to_string().as_bytes()).unwrap();
        let batches = embeddings_batches(&req, Some(100));
        assert_eq!(batches.iter().map(|b| b.input_count()).collect::<Vec<_>>(), vec![100, 1]);
        assert_eq!(batches[1].input, EmbeddingInput::Many(vec!["doc 100".to_string()]));
        assert!(batches.iter().all(|b| b.model == "embed" && b.dimensions == Some(768)));
        // Within the limit, or with none, the request goes as it came.
        assert!(matches!(embeddings_batches(&req, Some(101))[..], [Cow::Borrowed(r)] if std::ptr::eq(r, &req)));
        assert!(matches!(embeddings_batches(&req, None)[..], [Cow::Borrowed(_)]));
        let tokens = EmbeddingsRequest::parse(br#"{"model": "embed", "input": [[1], [2], [3]]}"#).unwrap();
        assert_eq!(embeddings_batches(&tokens, Some(2)).iter().map(|b| b.input.clone()).collect::<Vec<_>>(),
            vec![EmbeddingInput::TokenBatches(vec![vec![1], vec![2]]), EmbeddingInput::TokenBatches(vec![vec![3]])]);
    }

    #[test]
    fn openai_dialect_adapters_send_a_request_as_it_came_and_take_a_wait_from_the_header_only() {
        // The trait's defaults, which OpenAI and Azure keep: no output cap of their own (budgets
        // and fit checks count the model's published one), no thinking of their making, nothing
        // left out, a temperature-0 request answered deterministically (so cached), every
        // embeddings input in one call, and no wait read from a refusal's body.
        let req = ChatRequest::parse(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0,"reasoning_effort":"high","stop":[" "]}"#).unwrap();
        let texts: Vec<String> = (0..crate::api::embeddings::MAX_EMBEDDING_INPUTS).map(|i| format!("doc {i}")).collect();
        let embeddings = EmbeddingsRequest::parse(serde_json::json!({"model": "embed", "input": texts}).to_string().as_bytes()).unwrap();
        let says_wait = br#"{"error":{"message":"Rate limit reached for gpt-4o. Please try again in 20s.","code":"rate_limit_exceeded"}}"#;
        for kind in [ProviderKind::Openai, ProviderKind::Azure] {
            let adapter = adapter_for(kind);
            assert_eq!(adapter.default_output_cap(&req, "gpt-4o"), None, "{kind:?}");
            assert_eq!(adapter.reasoning_as_asked(&req, "o3"), None, "{kind:?}");
            assert!(!adapter.translates_reasoning_effort(), "{kind:?}");
            assert!(!adapter.samples_regardless(&req, "gpt-4o"), "{kind:?}");
            assert_eq!(adapter.dropped_param(&req), None, "{kind:?}");
            assert!(matches!(embeddings_batches(&embeddings, adapter.embeddings_batch_limit())[..], [Cow::Borrowed(r)] if std::ptr::eq(r, &embeddings)), "{kind:?}");
            assert_eq!(adapter.wait_in_error(429, says_wait), None, "{kind:?}");
        }
        // Each provider's own words, read by the shared reader.
        for (kind, body, message) in [
            (ProviderKind::Openai, &br#"{"error":{"message":"Invalid type for 'messages[0].content'.","type":"invalid_request_error","code":"invalid_type"}}"#[..], "Invalid type for 'messages[0].content'."),
            (ProviderKind::Azure, br#"{"error":{"code":"BadRequest","message":"Prediction is enabled only for api versions 2025-01-01-preview and later"}}"#, "Prediction is enabled only for api versions 2025-01-01-preview and later"),
            (ProviderKind::Anthropic, br#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}"#, "messages: at least one message is required"),
            (ProviderKind::Gemini, br#"{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}"#, "* GenerateContentRequest.contents: contents is not specified"),
        ] {
            assert_eq!(adapter_for(kind).error_message(400, body), message, "{kind:?}");
        }
    }

    #[test]
    fn a_429_for_a_request_too_large_for_the_per_minute_limit_is_told_apart() {
        let too_large = br#"{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 45000. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let busy = br#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        assert!(too_large_for_rate_limit(too_large));
        assert!(!too_large_for_rate_limit(busy));
        assert!(!too_large_for_rate_limit(b"not json"));
        // Groq's 413 for the same: another deployment may take it.
        let groq = br#"{"error":{"message":"Request too large for model `llama-3.1-8b-instant` in organization `org_01` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 7412, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        assert_eq!(openai_rejection(413, groq), Rejection::Unsupported);
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
        register_secret("8charkey");
        assert_eq!(redact_secrets("key 8charkey given"), "key [redacted] given", "8 characters are enough");
        // A key straddling the 500-character cut leaves no prefix behind.
        let body = format!(r#"{{"error":{{"message":"{}test-openai-key"}}}}"#, "a".repeat(495));
        assert!(!error_message_from_body(400, body.as_bytes()).contains("test-"));
    }

    #[test]
    fn an_effort_is_sent_as_written_where_nothing_translates_or_drops_it() {
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{
            "openai":{"preset":"openai"},"groq":{"preset":"groq"},"vllm":{"preset":"vllm","base_url":"http://127.0.0.1:8000/v1"},"openrouter":{"preset":"openrouter"},
            "deepseek":{"preset":"deepseek"},"mistral":{"preset":"mistral"},
            "anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1","no_key":true},"gemini":{"kind":"gemini","base_url":"https://generativelanguage.googleapis.com/v1beta","no_key":true},
            "allowed":{"kind":"openai","base_url":"http://127.0.0.1:1/v1","no_key":true,"quirks":{"allowed_values":{"reasoning_effort":["low","medium","high"]}}},
            "dropped":{"kind":"openai","base_url":"http://127.0.0.1:1/v1","no_key":true,"quirks":{"drop_params":["reasoning_effort"]}},
            "renamed":{"kind":"openai","base_url":"http://127.0.0.1:1/v1","no_key":true,"quirks":{"rename_params":{"reasoning_effort":"effort"},"keep_only_params":["model","messages","effort"]}},
            "kept_out":{"kind":"openai","base_url":"http://127.0.0.1:1/v1","no_key":true,"quirks":{"keep_only_params":["model","messages"]}}},
            "models":{},"aliases":{}}"#).unwrap();
        let sends = |id: &str| sends_effort_as_written(&catalog.providers[id]);
        for id in ["openai", "groq", "vllm", "openrouter", "renamed"] {
            assert!(sends(id), "{id}");
        }
        // Claude's and Gemini's adapters and DeepSeek's thinking switch translate it; Mistral's
        // kept parameters and the other quirks leave it out or may.
        for id in ["anthropic", "gemini", "deepseek", "mistral", "allowed", "dropped", "kept_out"] {
            assert!(!sends(id), "{id}");
        }
    }
}
