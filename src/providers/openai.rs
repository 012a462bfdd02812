//! The OpenAI dialect: OpenAI itself and every OpenAI-compatible host (Groq, Together, DeepSeek,
//! Mistral, OpenRouter, Ollama, vLLM). Hosts differ only by the data in their catalog row
//! (base URL, key, [`Quirks`]); Azure reuses these functions with its own URL and auth.
//!
//! Requests pass through with every field the client sent, so new OpenAI parameters work
//! without a router release. Two things change: `model` becomes the upstream name, and a
//! streaming request always asks for usage, because the cost must be known when the stream ends.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::sse::SseEvent;
use super::{tool_call_ids, ChatAnswer, EmbeddingsAnswer, Provider, StreamTranslator, Target, UpstreamError, UpstreamRequest};
use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::api::ApiError;
use crate::catalog::{Quirks, StreamUsage, ToolCallIdFormat};
use crate::usage::{ServiceTier, Usage};

pub struct OpenAi;

impl Provider for OpenAi {
    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError> {
        let body = chat_body(req, target.upstream_model, &target.provider.quirks, true)?;
        Ok(UpstreamRequest::json_post(format!("{}/chat/completions", target.provider.base_url), bearer(target), &body))
    }

    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
        chat_answer(&target.provider.id, body)
    }

    fn chat_stream(&self, target: &Target, _req: &ChatRequest) -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStream::new(&target.provider.id))
    }

    fn embeddings_request(&self, target: &Target, req: &EmbeddingsRequest) -> Result<UpstreamRequest, ApiError> {
        let body = embeddings_body(req, Some(target.upstream_model), &target.provider.quirks)?;
        Ok(UpstreamRequest::json_post(format!("{}/embeddings", target.provider.base_url), bearer(target), &body))
    }

    fn embeddings_response(&self, target: &Target, body: Vec<u8>) -> Result<EmbeddingsAnswer, UpstreamError> {
        embeddings_answer(&target.provider.id, body)
    }
}

fn bearer(target: &Target) -> Vec<(&'static str, String)> {
    target.api_key.map(|k| vec![("authorization", format!("Bearer {k}"))]).unwrap_or_default()
}

/// The request body for an OpenAI-dialect host. `with_model` is false for Azure, whose URL names
/// the deployment instead.
pub fn chat_body(req: &ChatRequest, upstream_model: &str, quirks: &Quirks, with_model: bool) -> Result<Value, ApiError> {
    if quirks.openai_types_only {
        super::refuse_foreign_types(req, "OpenAI")?;
    }
    let mut body = serde_json::to_value(req).map_err(|e| ApiError::internal(format!("could not encode the request: {e}")))?;
    let obj = body.as_object_mut().expect("a struct serializes to an object");
    if with_model {
        obj.insert("model".into(), Value::String(upstream_model.to_string()));
    } else {
        obj.remove("model");
    }
    if req.stream && quirks.stream_usage == StreamUsage::StreamOptions {
        let options = obj.entry("stream_options").or_insert_with(|| json!({}));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    // `metadata` is the router's attribution (feature, team, ...). OpenAI answers 400 to it
    // unless the completion is stored ("only allowed when 'store' is enabled"), and Azure and
    // strict hosts do not know it: it goes on only beside `store: true`, where it labels the
    // stored completion as the client meant.
    if obj.get("store") != Some(&Value::Bool(true)) {
        obj.remove("metadata");
    }
    // What the router added to an assistant message a client sent back as it came: Claude's
    // thinking blocks, and the mark of the deployment that wrote a Gemini thought signature. No
    // OpenAI-dialect host takes them (`reasoning_content` stays: DeepSeek wants it back; so does
    // the signature itself, for Gemini's own OpenAI-compatible endpoint).
    if let Some(messages) = obj.get_mut("messages").and_then(Value::as_array_mut) {
        for m in messages.iter_mut().filter_map(Value::as_object_mut) {
            m.remove(crate::api::chat::THINKING_BLOCKS);
            // A thought signature the router marked was written by a native Gemini deployment:
            // nothing here can verify it, and strict hosts refuse the field (a client's own,
            // from Gemini's OpenAI-compatible endpoint, goes on for that endpoint).
            for call in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
                if call.get("extra_content").is_some_and(|e| e.get("costrouter").is_some()) {
                    call.remove("extra_content");
                }
            }
        }
    }
    apply_quirks(obj, quirks)?;
    Ok(body)
}

fn apply_quirks(obj: &mut Map<String, Value>, quirks: &Quirks) -> Result<(), ApiError> {
    // Of the two caps, `max_completion_tokens` is the one the budget holds and the other
    // adapters send (`ChatRequest::max_output_tokens`); a host given both may honour a larger
    // `max_tokens` and write past what was held.
    if obj.get("max_completion_tokens").is_some_and(|v| !v.is_null()) {
        obj.remove("max_tokens");
    }
    for p in &quirks.unsupported_params {
        match obj.remove(p) {
            None | Some(Value::Null | Value::Bool(false)) => {}
            // An empty logit bias is none; an empty `web_search_options` is OpenAI's search on.
            Some(Value::Object(o)) if o.is_empty() && p != "web_search_options" => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            // One choice is what every host gives (Groq: "If N is supplied, it must be equal to 1").
            Some(Value::Number(n)) if p == "n" && n.as_u64() == Some(1) => {}
            Some(_) => return Err(ApiError::invalid_value(p, format!("This deployment's host does not take '{p}'."))),
        }
    }
    for p in &quirks.drop_params {
        obj.remove(p);
    }
    // A client that sets `thinking` itself (DeepSeek's own switch) is sent it, and its effort, as written.
    if quirks.thinking_switch && !obj.contains_key("thinking") {
        // Its thinking counts inside the cap (DeepSeek's `max_tokens` "including the COT part"):
        // a cap with no room for thinking beside an answer (a label capped at 50 tokens) goes
        // without thinking, as the Anthropic and Gemini adapters send it, or the thinking takes
        // the whole cap and the answer comes back empty, cut at `length`, and billed.
        let cap = obj.get("max_completion_tokens").or_else(|| obj.get("max_tokens")).and_then(Value::as_u64);
        let no_room = cap.is_some_and(|cap| cap < 2 * super::ANSWER_ROOM_BESIDE_THINKING);
        if no_room || matches!(obj.get("reasoning_effort").and_then(Value::as_str), Some("none" | "minimal")) {
            obj.remove("reasoning_effort");
            obj.insert("thinking".into(), json!({"type": "disabled"}));
        }
    }
    for (p, allowed) in &quirks.allowed_values {
        if obj.get(p).and_then(Value::as_str).is_some_and(|v| !allowed.iter().any(|a| a == v)) {
            obj.remove(p);
        }
    }
    rename_and_keep(obj, &quirks.rename_params, quirks.keep_only_params.as_deref());
    if !quirks.drop_message_fields.is_empty() || quirks.keep_only_message_fields.is_some() {
        for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
            for f in &quirks.drop_message_fields {
                m.remove(f);
            }
            if let Some(keep) = &quirks.keep_only_message_fields {
                m.retain(|k, _| keep.iter().any(|f| f == k));
            }
        }
    }
    if quirks.developer_as_system {
        for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
            if m.get("role").and_then(Value::as_str) == Some("developer") {
                m["role"] = Value::String("system".into());
            }
        }
    }
    if quirks.tool_call_id_format == ToolCallIdFormat::NineAlphanumerics {
        let fit = |id: &mut Value| {
            if let Value::String(text) = id {
                if let Cow::Owned(fitted) = tool_call_ids::as_nine_alphanumerics(text) {
                    *text = fitted;
                }
            }
        };
        for m in obj.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten() {
            m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten().filter_map(|call| call.get_mut("id")).for_each(fit);
            if let Some(id) = m.get_mut("tool_call_id") {
                fit(id);
            }
        }
    }
    Ok(())
}

/// OpenAI's reasoning models (o-series, gpt-5) answer 400 to `max_tokens` (their cap is
/// `max_completion_tokens`, which counts the hidden reasoning too) and to parameters they do not
/// take (`temperature` other than 1, `top_p`, penalties, `logprobs`, `logit_bias`, `stop`).
/// A router that picks such a model for a request written for another must not pass those on;
/// a client that named the model directly gets its answer rather than that 400.
/// Of what [`fit_reasoning_model`] drops, the first parameter `req` sets that changes what the
/// answer is (a stop sequence, logprobs, a logit bias), rather than how it is sampled.
/// `thinks`: as for [`fit_reasoning_model`].
pub fn answer_changing_params(req: &ChatRequest, thinks: bool) -> Option<&'static str> {
    if req.stop.as_ref().is_some_and(|s| !s.to_vec().is_empty()) {
        Some("stop")
    } else if req.logprobs == Some(true) && thinks {
        Some("logprobs")
    } else if req.extra.get("logit_bias").and_then(Value::as_object).is_some_and(|b| !b.is_empty()) {
        Some("logit_bias")
    } else {
        None
    }
}

/// `thinks`: whether the model reasons on this request (`ModelPrice::reasons_at`): gpt-5.1 and
/// later take the sampling parameters and logprobs at effort "none", asked for or their default
/// (and refuse them otherwise); a model that does not take "none" refuses the effort itself,
/// which moves the request on.
pub fn fit_reasoning_model(req: &mut ChatRequest, thinks: bool) {
    if let Some(cap) = req.max_tokens.take() {
        req.max_completion_tokens.get_or_insert(cap);
    }
    if thinks {
        req.temperature = None;
        req.top_p = None;
        req.logprobs = None;
        req.top_logprobs = None;
    }
    req.presence_penalty = None;
    req.frequency_penalty = None;
    req.stop = None;
    req.extra.remove("logit_bias");
}

/// Parameters only reasoning models take: gpt-4o and gpt-4.1 answer 400 to them ("Unsupported
/// parameter: 'reasoning_effort' is not supported with this model"). A request sent through an
/// OpenAI-speaking provider to a model whose pricing row says it does not reason (no
/// `supports_reasoning`) goes without them, whether the client named the model or a rule routed
/// the request there (adapters that translate `reasoning_effort` themselves, by model, get it:
/// `Provider::translates_reasoning_effort`), as
/// [`fit_reasoning_model`] fits the other way; a model with no pricing row is sent them as asked.
pub fn fit_model_without_reasoning(req: &mut ChatRequest) {
    req.extra.remove("reasoning_effort");
    req.extra.remove("verbosity");
}

/// Reads a chat completion; the body is passed to the client as the provider sent it.
pub fn chat_answer(provider: &str, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| UpstreamError::malformed(provider, format!("invalid JSON ({e})")))?;
    if !value.get("choices").is_some_and(Value::is_array) {
        return Err(UpstreamError::malformed(provider, "no 'choices' array in the completion"));
    }
    let tier = ServiceTier::from_response(value.get("service_tier").and_then(Value::as_str));
    let usage = value.get("usage").and_then(Usage::from_openai).map(|u| Usage { service_tier: tier, ..u });
    Ok(ChatAnswer { body: value, usage })
}

/// Renames parameters, then keeps only the listed ones (if a list is given).
fn rename_and_keep(obj: &mut Map<String, Value>, rename: &std::collections::BTreeMap<String, String>, keep_only: Option<&[String]>) {
    for (from, to) in rename {
        if let Some(v) = obj.remove(from) {
            obj.insert(to.clone(), v);
        }
    }
    if let Some(keep) = keep_only {
        obj.retain(|k, _| keep.iter().any(|p| p == k));
    }
}

pub fn embeddings_body(req: &EmbeddingsRequest, upstream_model: Option<&str>, quirks: &Quirks) -> Result<Value, ApiError> {
    let mut body = serde_json::to_value(req).map_err(|e| ApiError::internal(format!("could not encode the request: {e}")))?;
    let obj = body.as_object_mut().expect("a struct serializes to an object");
    match upstream_model {
        Some(m) => obj.insert("model".into(), Value::String(m.to_string())),
        None => obj.remove("model"),
    };
    // The router's attribution; no embeddings API takes it (OpenAI: "Unrecognized request
    // argument supplied: metadata").
    obj.remove("metadata");
    rename_and_keep(obj, &quirks.embeddings_rename_params, quirks.embeddings_keep_only_params.as_deref());
    Ok(body)
}

/// Reads an OpenAI-dialect embeddings answer for its shape (a `data` array, what its vectors are
/// made of) and usage, without building its vectors, and keeps its bytes to pass on.
pub fn embeddings_answer(provider: &str, body: Vec<u8>) -> Result<EmbeddingsAnswer, UpstreamError> {
    // An object, as OpenAI answers: serde would also read a top-level array into the struct.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(UpstreamError::malformed(provider, "the embeddings response is not a JSON object"));
    }
    let shape = crate::providers::embeddings_answer::read_openai_shape(&body).map_err(|e| {
        if e.is_data() {
            UpstreamError::malformed(provider, format!("no 'data' array in the embeddings response ({e})"))
        } else {
            UpstreamError::malformed(provider, format!("invalid JSON ({e})"))
        }
    })?;
    let usage = shape.usage.as_ref().and_then(Usage::from_openai_embeddings);
    Ok(EmbeddingsAnswer::raw(crate::providers::RawEmbeddings { bytes: body, vectors: shape.vectors, floats: shape.floats }, usage))
}

/// Passes OpenAI chunks through, lifting usage out of them.
pub struct OpenAiStream {
    provider: String,
    usage: Option<Usage>,
    /// The host's own usage-chunk fields and the counts they normalise to: the client's usage
    /// chunk carries them as sent when those are the counts billed.
    reported_usage: Option<(Usage, Map<String, Value>)>,
    service_tier: ServiceTier,
    complete: bool,
    tool_call_indexes: ToolCallIndexes,
}

impl OpenAiStream {
    pub fn new(provider: &str) -> Self {
        OpenAiStream { provider: provider.to_string(), usage: None, reported_usage: None, service_tier: ServiceTier::Standard, complete: false, tool_call_indexes: ToolCallIndexes::default() }
    }
}

/// One index per tool call within a choice, as the SDKs need them. Their stream accumulators join
/// tool-call deltas by `index`; Ollama (and some other OpenAI-compatible hosts) send every call
/// at `index: 0`, so two parallel calls would reach the client's code as one, ids, names and
/// arguments run together (`{"a":1}{"b":2}`). A delta with a new `id` at an index another id
/// already holds in its choice goes out at the lowest index no call holds, and the deltas that
/// follow it at that index without an id (its arguments in pieces) go with it.
#[derive(Default)]
struct ToolCallIndexes {
    /// Per choice index, the indexes calls went out at, and whether the call there has shown its id.
    held: std::collections::BTreeMap<(u64, u64), bool>,
    /// Per choice index and call id: the index the call went out at.
    by_id: std::collections::HashMap<(u64, String), u64>,
    /// Per choice index and index the host sent: where the host's latest call at it went out.
    sent_at: std::collections::HashMap<(u64, u64), u64>,
    /// Per choice index: no index below this is free (indexes are never given back, so it only
    /// rises, and finding the next free one costs nothing per call on a long stream).
    free_from: std::collections::HashMap<u64, u64>,
}

impl ToolCallIndexes {
    fn renumber(&mut self, chunk: &mut Map<String, Value>) {
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else { return };
        for choice in choices {
            let choice_index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let Some(calls) = choice.pointer_mut("/delta/tool_calls").and_then(Value::as_array_mut) else { continue };
            for call in calls {
                // A delta without an index cannot be placed (nor can the SDKs place it): left as sent.
                let Some(host_index) = call.get("index").and_then(Value::as_u64) else { continue };
                let id = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty());
                let names = call.pointer("/function/name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
                let (index, continues) = self.place(choice_index, host_index, id, names);
                if index != host_index {
                    call["index"] = json!(index);
                }
                // openai-python's stream helper joins string fields across a call's deltas: an
                // id (or name) sent again would reach the client as `call_3call_3`.
                if continues {
                    if let Some(call) = call.as_object_mut() {
                        call.remove("id");
                        if let Some(function) = call.get_mut("function").and_then(Value::as_object_mut) {
                            function.remove("name");
                        }
                    }
                }
            }
        }
    }

    /// The index a delta the host sent at `host_index` goes out at, and whether it carries an id
    /// for a call that has already shown one (the host repeats it, or gives each piece an id of
    /// its own). `names`: the delta carries the function's name, so it begins a call; a new id on
    /// a delta that does not is a host that gives every piece of one call an id of its own (some
    /// vLLM builds, mlx-openai-server), and the piece goes on with its call.
    fn place(&mut self, choice: u64, host_index: u64, id: Option<&str>, names: bool) -> (u64, bool) {
        let index = match id {
            // The continuation of the call last sent at this index, wherever that went.
            None => self.sent_at.get(&(choice, host_index)).copied().unwrap_or(host_index),
            Some(id) => {
                let key = (choice, id.to_string());
                match self.by_id.get(&key) {
                    // The same call again (some hosts repeat its id on every delta).
                    Some(&index) => {
                        self.sent_at.insert((choice, host_index), index);
                        return (index, true);
                    }
                    None => {
                        let index = match self.held.get(&(choice, host_index)) {
                            // Free, or held by a call whose id had not come yet (this is it).
                            None | Some(false) => host_index,
                            // A piece of the call last begun at this index, under an id of its own.
                            Some(true) if !names => return (self.sent_at.get(&(choice, host_index)).copied().unwrap_or(host_index), true),
                            // Another call holds it: the lowest index none holds.
                            Some(true) => {
                                let free_from = self.free_from.entry(choice).or_insert(0);
                                while self.held.contains_key(&(choice, *free_from)) {
                                    *free_from += 1;
                                }
                                *free_from
                            }
                        };
                        self.by_id.insert(key, index);
                        index
                    }
                }
            }
        };
        let has_id = self.held.entry((choice, index)).or_insert(false);
        *has_id |= id.is_some();
        self.sent_at.insert((choice, host_index), index);
        (index, false)
    }
}

/// The fields of a host's chunk that belong on the client's usage chunk: its usage object as sent,
/// and the response-level fields OpenAI puts on every chunk, including the usage chunk.
fn usage_chunk_fields(chunk: &Map<String, Value>, usage: Value) -> Map<String, Value> {
    let mut fields: Map<String, Value> =
        ["system_fingerprint", "service_tier"].into_iter().filter_map(|k| Some((k.to_string(), chunk.get(k)?.clone()))).collect();
    fields.insert("usage".into(), usage);
    fields
}

impl StreamTranslator for OpenAiStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<Value>, UpstreamError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.complete = true;
            return Ok(vec![]);
        }
        if data.is_empty() {
            return Ok(vec![]);
        }
        let mut chunk: Value =
            serde_json::from_str(data).map_err(|e| UpstreamError::malformed(&self.provider, format!("invalid JSON in stream ({e})")))?;
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = super::redact_secrets(err.get("message").and_then(Value::as_str).unwrap_or("stream error"));
            // Groq's `tool_use_failed` comes as an error event once the stream has begun: the
            // model failed this request (as a whole answer's 400 says), not the deployment.
            if super::openai_rejection(400, data.as_bytes()) == super::Rejection::Unsupported {
                return Err(UpstreamError::NoAnswer { provider: self.provider.clone(), reason: message, usage: self.usage.map(Box::new) });
            }
            return Err(UpstreamError::Status { provider: self.provider.clone(), status: 502, message });
        }
        let obj = chunk.as_object_mut().ok_or_else(|| UpstreamError::malformed(&self.provider, "a stream chunk is not an object"))?;
        // Groq reports stream usage under `x_groq.usage`.
        // Every chunk says which tier serves the stream; the usage chunk may come without it.
        if let Some(tier) = obj.get("service_tier").and_then(Value::as_str) {
            self.service_tier = ServiceTier::from_response(Some(tier));
        }
        let openai_usage = obj.remove("usage").filter(|u| !u.is_null());
        // Only an object in OpenAI's own shape goes to the client as sent (Groq's `x_groq.usage`
        // has no `total_tokens`, which the SDKs' usage type requires).
        let as_sent = openai_usage.as_ref().is_some_and(|u| ["prompt_tokens", "completion_tokens", "total_tokens"].iter().all(|k| u.get(*k).is_some_and(Value::is_u64)));
        let usage = openai_usage.or_else(|| obj.get("x_groq").and_then(|x| x.get("usage")).cloned());
        if let Some((raw, u)) = usage.as_ref().and_then(|raw| Some((raw, Usage::from_openai(raw)?))) {
            let billed = self.usage.get_or_insert_with(Usage::default);
            billed.merge_max(&u);
            // Some hosts repeat cumulative usage in every chunk (Mistral): the report whose counts
            // are the ones billed is the one the client sees.
            if u == *billed && as_sent {
                self.reported_usage = Some((u, usage_chunk_fields(obj, raw.clone())));
            }
        }
        self.tool_call_indexes.renumber(obj);
        let no_choices = obj.get("choices").and_then(Value::as_array).is_none_or(|c| c.is_empty());
        // The usage-only chunk is re-emitted by the stream driver, only if the client asked.
        if no_choices && usage.is_some() {
            return Ok(vec![]);
        }
        Ok(vec![chunk])
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.map(|u| Usage { service_tier: self.service_tier, ..u })
    }

    fn service_tier(&self) -> ServiceTier {
        self.service_tier
    }

    fn is_complete(&self) -> bool {
        self.complete
    }

    fn usage_chunk_fields(&self) -> Option<&Map<String, Value>> {
        // Reports that each hold only part of the maximum counts match none of them: the driver
        // then builds the usage object from the billed counts instead.
        self.reported_usage.as_ref().filter(|(counts, _)| Some(*counts) == self.usage).map(|(_, fields)| fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embeddings_answer_is_passed_on_as_it_came() {
        let floats = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]},{"object":"embedding","index":1,"embedding":[0.3,0.4]}],"model":"m","usage":{"prompt_tokens":5,"total_tokens":5}}"#.to_vec();
        let a = embeddings_answer("openai", floats.clone()).unwrap();
        assert_eq!((a.vector_count(), a.has_float_vectors(), a.usage.map(|u| u.input_tokens)), (2, true, Some(5)));
        assert_eq!(a.first_vector(), Some(vec![0.1, -0.2]));
        assert_eq!(a.into_bytes(), floats, "untouched bytes");
        let b64 = br#"{"data":[{"embedding":"AAAAAA=="}],"usage":{"total_tokens":3}}"#.to_vec();
        let a = embeddings_answer("openai", b64).unwrap();
        assert_eq!((a.vector_count(), a.has_float_vectors(), a.usage.map(|u| u.input_tokens)), (1, false, Some(3)));
        assert!(embeddings_answer("openai", br#"{"object":"list"}"#.to_vec()).is_err(), "no data");
        assert!(embeddings_answer("openai", br#"{"data":[{"embedding":[1,2]}"#.to_vec()).is_err(), "cut off");
        assert_eq!(embeddings_answer("openai", br#"{"data":[]}"#.to_vec()).unwrap().usage, None, "no usage: estimated");
    }
    use crate::catalog::{ProviderConfig, ProviderKind};

    fn provider(quirks: Quirks) -> ProviderConfig {
        ProviderConfig {
            id: "openai".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            key_secret: Some("OPENAI_API_KEY".into()),
            api_version: None,
            region: None,
            demo: false,
            timeout_ms: 1000,
            answer_timeout_ms: 1000,
            quirks,
        }
    }

    fn request(json: &str) -> ChatRequest {
        ChatRequest::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn claudes_thinking_blocks_sent_back_stay_away_from_openai_dialect_hosts() {
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"},
            {"role":"assistant","content":"Hello","reasoning_content":"Greet.","thinking_blocks":[{"type":"thinking","thinking":"Greet.","signature":"s"}]},
            {"role":"user","content":"again"}]}"#);
        let body = chat_body(&req, "m", &Quirks::default(), true).unwrap();
        assert_eq!(body["messages"][1], json!({"role": "assistant", "content": "Hello", "reasoning_content": "Greet."}), "DeepSeek wants reasoning_content back");
        // A thought signature a native Gemini deployment wrote (the router's mark) goes nowhere
        // here; one without the mark (from Gemini's OpenAI-compatible endpoint) goes on.
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",
            "function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"s"},"costrouter":{"provider":"g","model":"m"}}}]},
            {"role":"tool","tool_call_id":"c","content":"1"}]}"#);
        let body = chat_body(&req, "m", &Quirks::default(), true).unwrap();
        assert!(body["messages"][1]["tool_calls"][0].get("extra_content").is_none());
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",
            "function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"s"}}}]},{"role":"tool","tool_call_id":"c","content":"1"}]}"#);
        assert_eq!(chat_body(&req, "m", &Quirks::default(), true).unwrap()["messages"][1]["tool_calls"][0]["extra_content"], json!({"google": {"thought_signature": "s"}}));
    }

    #[test]
    fn a_hosts_own_parts_and_formats_go_on_as_they_came() {
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what happens?"},{"type":"video_url","video_url":{"url":"https://x/v.mp4"}}]}],
            "response_format":{"type":"structural_tag","structures":[],"triggers":["<f>"]}}"#);
        let body = chat_body(&req, "m", &Quirks::default(), true).unwrap();
        assert_eq!(body["messages"][0]["content"][1], json!({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}));
        assert_eq!(body["response_format"], json!({"type": "structural_tag", "structures": [], "triggers": ["<f>"]}));
        // OpenAI's own API (and Azure's) takes only its own types: refused before the round trip.
        let openai = Quirks { openai_types_only: true, ..Quirks::default() };
        let e = chat_body(&req, "m", &openai, true).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("response_format.type"), "{}", e.message);
        let video_only = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"video_url","video_url":{"url":"https://x/v.mp4"}}]}]}"#);
        let e = chat_body(&video_only, "m", &openai, true).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[1].content[0].type"), "{}", e.message);
        assert!(e.message.contains("'video_url'"), "{}", e.message);
        let with_schema = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object","schema":{"type":"object"}}}"#);
        assert_eq!(chat_body(&with_schema, "m", &openai, true).unwrap_err().param.as_deref(), Some("response_format"));
        assert_eq!(chat_body(&with_schema, "m", &Quirks::default(), true).unwrap()["response_format"]["schema"], json!({"type": "object"}), "a host's own schema goes on");
    }

    #[test]
    fn metadata_goes_on_only_beside_store() {
        // OpenAI: "The 'metadata' parameter is only allowed when 'store' is enabled."
        let quirks = Quirks::default();
        let plain = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"feature":"search"}}"#);
        assert!(chat_body(&plain, "m", &quirks, true).unwrap().get("metadata").is_none());
        let unstored = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"feature":"search"},"store":false}"#);
        assert!(chat_body(&unstored, "m", &quirks, true).unwrap().get("metadata").is_none());
        let stored = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"feature":"search"},"store":true}"#);
        assert_eq!(chat_body(&stored, "m", &quirks, true).unwrap()["metadata"], json!({"feature": "search"}));
        let emb = EmbeddingsRequest::parse(br#"{"model":"e","input":"hi","metadata":{"feature":"search"}}"#).unwrap();
        let body = embeddings_body(&emb, Some("e"), &Quirks::default()).unwrap();
        assert!(body.get("metadata").is_none());
        assert_eq!(body["input"], "hi");
    }

    #[test]
    fn a_request_routed_to_a_model_without_reasoning_goes_without_reasoning_params() {
        let mut req = request(r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high","verbosity":"low","temperature":1}"#);
        fit_model_without_reasoning(&mut req);
        let body = chat_body(&req, "gpt-4o-mini", &Quirks::default(), true).unwrap();
        assert!(body.get("reasoning_effort").is_none() && body.get("verbosity").is_none());
        assert_eq!(body["temperature"], 1.0);
    }

    #[test]
    fn passes_everything_through_and_asks_for_stream_usage() {
        let p = provider(Quirks::default());
        let target = Target { provider: &p, upstream_model: "gpt-4o-mini-2024-07-18", api_key: Some("sk-test") };
        let req = request(r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":true,"logit_bias":{"50256":-100},"seed":3}"#);
        let up = OpenAi.chat_request(&target, &req).unwrap();
        assert_eq!(up.url, "https://api.openai.com/v1/chat/completions");
        assert!(up.headers.contains(&("authorization".into(), "Bearer sk-test".into())));
        let body: Value = serde_json::from_str(&up.body).unwrap();
        assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["logit_bias"]["50256"], -100);
        assert_eq!(body["seed"], 3);
    }

    #[test]
    fn a_json_schema_keeps_its_property_order() {
        // Structured output is generated in the schema's key order: sorted, the answer would come
        // before the reasoning written to reach it.
        let p = provider(Quirks::default());
        let target = Target { provider: &p, upstream_model: "gpt-4o", api_key: Some("sk-test") };
        let req = request(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"2+2?"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","strict":true,
            "schema":{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}},"required":["reasoning","answer"],"additionalProperties":false}}}}"#);
        let up = OpenAi.chat_request(&target, &req).unwrap();
        let at = |needle: &str| up.body.find(needle).unwrap_or_else(|| panic!("{needle} in {}", up.body));
        assert!(at("\"reasoning\":{") < at("\"answer\":{"), "{}", up.body);
    }

    #[test]
    fn unknown_fields_inside_parts_tools_and_tool_calls_reach_the_host() {
        // OpenRouter reads Anthropic-style `cache_control` on parts and tools; Gemini's OpenAI
        // endpoint needs the thought signature it put on a tool call back in the history.
        let req = request(
            r#"{"model":"m","messages":[
                {"role":"user","content":[{"type":"text","text":"a long document","cache_control":{"type":"ephemeral"}},
                                          {"type":"image_url","image_url":{"url":"https://x/y.png"},"vendor_hint":1}]},
                {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},
                    "extra_content":{"google":{"thought_signature":"sig"}}}]},
                {"role":"tool","tool_call_id":"c1","content":"ok"}],
              "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"x_vendor":true},"cache_control":{"type":"ephemeral"}}]}"#,
        );
        let body = chat_body(&req, "m", &Quirks::default(), true).unwrap();
        assert_eq!(body["messages"][0]["content"][0], json!({"type": "text", "text": "a long document", "cache_control": {"type": "ephemeral"}}));
        assert_eq!(body["messages"][0]["content"][1]["vendor_hint"], 1);
        assert_eq!(body["messages"][1]["tool_calls"][0]["extra_content"]["google"]["thought_signature"], "sig");
        assert_eq!(body["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
        assert_eq!(body["tools"][0]["function"]["x_vendor"], true);
        // A tool call without extras serializes as before: no empty object appears.
        let plain = request(r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#);
        assert_eq!(chat_body(&plain, "m", &Quirks::default(), true).unwrap()["messages"][0]["tool_calls"][0],
            json!({"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}));
    }

    #[test]
    fn a_host_given_both_caps_gets_the_one_held() {
        // The budget holds max_completion_tokens; Groq, OpenRouter and vLLM are sent the
        // client's fields as named, and one honouring a larger max_tokens would write past it.
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"groq":{"preset":"groq"},"mistral":{"preset":"mistral"}},"models":{},"aliases":{}}"#).unwrap();
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4000,"max_completion_tokens":100}"#);
        assert_eq!(req.max_output_tokens(), Some(100));
        for host in ["groq", "mistral"] {
            let body = chat_body(&req, "llama-3.3-70b-versatile", &catalog.providers[host].quirks, false).unwrap();
            let caps = (body.get("max_tokens").cloned(), body.get("max_completion_tokens").cloned());
            assert!(caps == (None, Some(json!(100))) || caps == (Some(json!(100)), None), "{host}: {caps:?}");
        }
        // One cap alone goes as named.
        let one = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4000}"#);
        assert_eq!(chat_body(&one, "llama-3.3-70b-versatile", &catalog.providers["groq"].quirks, false).unwrap()["max_tokens"], 4000);
    }

    #[test]
    fn the_mistral_preset_sends_only_what_mistral_takes() {
        // Mistral refuses any field it does not know (422 extra_forbidden), and the OpenAI SDKs
        // send new ones: max_completion_tokens, safety_identifier, store, metadata.
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"mistral":{"preset":"mistral"},"deepseek":{"preset":"deepseek"}},
            "models":{"m":{"deployments":[{"provider":"mistral","upstream_model":"mistral-small-latest"}]}},"aliases":{}}"#).unwrap();
        let req = request(r#"{"model":"m","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":"hi"}],"stream":true,
            "max_completion_tokens":64,"seed":9,"safety_identifier":"eu_1","store":false,"metadata":{"feature":"x"},"user":"u","temperature":0.2,
            "prompt_cache_key":"conversation-7"}"#);
        let body = chat_body(&req, "mistral-small-latest", &catalog.providers["mistral"].quirks, true).unwrap();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        // Mistral takes OpenAI's prompt_cache_key (its cached input costs a tenth).
        assert_eq!(keys, ["max_tokens", "messages", "model", "prompt_cache_key", "random_seed", "stream", "temperature"]);
        assert_eq!((body["max_tokens"].clone(), body["random_seed"].clone()), (json!(64), json!(9)));
        assert_eq!(body["messages"][0]["role"], "system");
        // DeepSeek ignores max_completion_tokens (the answer would run to its own default) and
        // refuses the developer role.
        let body = chat_body(&req, "deepseek-chat", &catalog.providers["deepseek"].quirks, true).unwrap();
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("max_completion_tokens").is_none());
        assert_eq!(body["messages"][0]["role"], "system");
        // DeepSeek V4 knows no effort below thinking: none and minimal turn thinking off; the
        // others go as asked (DeepSeek maps them onto high and max); other hosts get none as sent.
        let deepseek = &catalog.providers["deepseek"].quirks;
        let effort = |e: &str, quirks: &Quirks| {
            let req = request(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"reasoning_effort":"{e}"}}"#));
            let body = chat_body(&req, "deepseek-v4-flash", quirks, true).unwrap();
            (body.get("reasoning_effort").cloned(), body.get("thinking").cloned())
        };
        assert_eq!(effort("none", deepseek), (None, Some(json!({"type": "disabled"}))));
        assert_eq!(effort("minimal", deepseek), (None, Some(json!({"type": "disabled"}))));
        assert_eq!(effort("low", deepseek), (Some(json!("low")), None));
        assert_eq!(effort("max", deepseek), (Some(json!("max")), None));
        assert_eq!(effort("none", &Quirks::default()), (Some(json!("none")), None));
        // A cap with no room to think beside an answer: thinking off, whatever the effort.
        let capped = |cap: u64| {
            let req = request(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"max_completion_tokens":{cap}}}"#));
            chat_body(&req, "deepseek-v4-flash", deepseek, true).unwrap().get("thinking").cloned()
        };
        assert_eq!((capped(50), capped(2047), capped(2048)), (Some(json!({"type": "disabled"})), Some(json!({"type": "disabled"})), None));
        // The client's own switch and effort go as written.
        let own = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled"},"reasoning_effort":"max","max_tokens":1500}"#);
        let body = chat_body(&own, "deepseek-v4-flash", deepseek, true).unwrap();
        assert_eq!((body["thinking"].clone(), body["reasoning_effort"].clone()), (json!({"type": "enabled"}), json!("max")));
        // OpenRouter's own fields would serve another model (`models`, `route`): dropped. Its
        // plugins and web search add paid work the catalog's price for this model does not cover,
        // and change the answer: refused by the deployment, so another candidate (or a 400 naming
        // them) answers rather than an unsearched answer passed off as one.
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"or":{"preset":"openrouter"}},"models":{},"aliases":{}}"#).unwrap();
        let routed = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"models":["openai/gpt-5"],"route":"fallback","plugins":[],"provider":{"sort":"price"}}"#);
        let body = chat_body(&routed, "anthropic/claude-haiku-4.5", &catalog.providers["or"].quirks, true).unwrap();
        assert!(body.get("models").is_none() && body.get("route").is_none() && body.get("plugins").is_none());
        assert_eq!(body["provider"], json!({"sort": "price"}));
        for paid in [r#""plugins":[{"id":"web"}]"#, r#""web_search_options":{"search_context_size":"low"}"#, r#""web_search_options":{}"#] {
            let req = request(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],{paid}}}"#));
            let e = chat_body(&req, "anthropic/claude-haiku-4.5", &catalog.providers["or"].quirks, true).unwrap_err();
            assert!(paid.contains(e.param.as_deref().unwrap()), "{paid}: {}", e.message);
        }
        // OpenAI itself keeps both as they came.
        let body = chat_body(&req, "gpt-4o", &Quirks::default(), true).unwrap();
        assert_eq!((body["max_completion_tokens"].clone(), body["messages"][0]["role"].clone()), (json!(64), json!("developer")));
    }

    #[test]
    fn the_mistral_preset_sends_tool_call_ids_of_nine_alphanumerics() {
        // Mistral refuses (400) any tool-call id but nine of [a-zA-Z0-9]: OpenAI's `call_…`,
        // Anthropic's `toolu_…`, the router's own Gemini ids.
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"mistral":{"preset":"mistral"}},"models":{},"aliases":{}}"#).unwrap();
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"Weather in Paris and Rome?"},
            {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_Qx8rZ1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}},
                {"id":"D681PevKs","type":"function","function":{"name":"now","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9","content":"24C"},
            {"role":"tool","tool_call_id":"call_Qx8rZ1","content":"18C"},
            {"role":"tool","tool_call_id":"D681PevKs","content":"12:00"}]}"#);
        let body = chat_body(&req, "mistral-small-latest", &catalog.providers["mistral"].quirks, true).unwrap();
        let calls: Vec<&str> = body["messages"][1]["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        let results: Vec<&str> = (2..5).map(|i| body["messages"][i]["tool_call_id"].as_str().unwrap()).collect();
        assert!(calls.iter().all(|id| id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())), "{calls:?}");
        assert_eq!(results, [calls[1], calls[0], calls[2]], "each result names the call it answers");
        assert_eq!(calls[2], "D681PevKs", "Mistral's own id is kept");
        assert_ne!(calls[0], calls[1]);
        // Other hosts get the ids as they came.
        let body = chat_body(&req, "gpt-4o", &Quirks::default(), true).unwrap();
        assert_eq!(body["messages"][1]["tool_calls"][0]["id"], "call_Qx8rZ1");
    }

    #[test]
    fn reasoning_models_get_their_cap_and_no_sampling_parameters() {
        let mut req = request(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":500,"temperature":0.2,"top_p":0.9,
            "presence_penalty":0.1,"frequency_penalty":0.1,"logprobs":true,"top_logprobs":2,"logit_bias":{"1":2},"stop":["END"],"seed":3}"#);
        fit_reasoning_model(&mut req, true);
        let body = chat_body(&req, "o4-mini", &Quirks::default(), true).unwrap();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["max_completion_tokens", "messages", "model", "seed"]);
        assert_eq!(body["max_completion_tokens"], 500);
        // A client's own max_completion_tokens wins over max_tokens.
        let mut both = request(r#"{"model":"o4-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":500,"max_completion_tokens":800}"#);
        fit_reasoning_model(&mut both, true);
        assert_eq!((both.max_tokens, both.max_completion_tokens), (None, Some(800)));
        // Not reasoning (asked for "none", or left at that default: the caller's `thinks`),
        // gpt-5.1 and later sample and give logprobs as other models do.
        let mut none = request(r#"{"model":"gpt-5.4-mini","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none","temperature":0,"top_p":0.5,"logprobs":true,"top_logprobs":3,"presence_penalty":0.1}"#);
        assert_eq!(answer_changing_params(&none, false), None);
        assert_eq!(answer_changing_params(&none, true), Some("logprobs"));
        fit_reasoning_model(&mut none, false);
        let body = chat_body(&none, "gpt-5.4-mini", &Quirks::default(), true).unwrap();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["logprobs", "messages", "model", "reasoning_effort", "temperature", "top_logprobs", "top_p"]);
    }

    #[test]
    fn what_a_reasoning_model_drops_that_changes_the_answer() {
        let of = |json: &str| answer_changing_params(&request(json), true).map(str::to_string);
        assert_eq!(of(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["\n"]}"#).as_deref(), Some("stop"));
        assert_eq!(of(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#).as_deref(), Some("logprobs"));
        assert_eq!(of(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":5}}"#).as_deref(), Some("logit_bias"));
        assert_eq!(of(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"top_p":0.9,"logprobs":false,"logit_bias":{}}"#), None, "sampling only");
    }

    #[test]
    fn quirks_drop_and_rename_params() {
        let quirks = Quirks {
            stream_usage: StreamUsage::Always,
            drop_params: vec!["user".into(), "stream_options".into()],
            rename_params: [("seed".to_string(), "random_seed".to_string())].into(),
            ..Quirks::default()
        };
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"user":"u1","seed":9}"#);
        let body = chat_body(&req, "mistral-small-latest", &quirks, true).unwrap();
        assert!(body.get("user").is_none() && body.get("stream_options").is_none() && body.get("seed").is_none());
        assert_eq!(body["random_seed"], 9);
    }

    #[test]
    fn unsupported_params_set_are_refused_and_unset_ones_removed() {
        let quirks = Quirks { unsupported_params: vec!["logprobs".into(), "top_logprobs".into(), "logit_bias".into()], ..Quirks::default() };
        for set in [r#""logprobs":true,"top_logprobs":3"#, r#""logit_bias":{"1":100}"#] {
            let req = request(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],{set}}}"#));
            let e = chat_body(&req, "llama", &quirks, true).unwrap_err();
            assert_eq!(e.status, 400, "{set}");
            assert!(set.contains(e.param.as_deref().unwrap()), "{set}: {}", e.message);
        }
        let req = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":false,"logit_bias":{}}"#);
        let body = chat_body(&req, "llama", &quirks, true).unwrap();
        assert!(body.get("logprobs").is_none() && body.get("logit_bias").is_none(), "{body}");
    }

    #[test]
    fn presets_fit_messages_tiers_and_choices_to_groq_and_mistral() {
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"g":{"preset":"groq"},"m":{"preset":"mistral"}},"models":{},"aliases":{}}"#).unwrap();
        let (groq, mistral) = (&catalog.providers["g"].quirks, &catalog.providers["m"].quirks);
        // A history as an SDK writes it back: a named user, an assistant turn with the fields
        // OpenAI's answer had (null ones too) and the `reasoning_content` a Claude answer had.
        let history = r#"{"model":"m","messages":[{"role":"user","name":"ann","content":"hi"},
            {"role":"assistant","content":"hello","refusal":null,"annotations":[],"reasoning_content":"greet back",
             "tool_calls":[{"id":"abcdefghi","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"abcdefghi","name":"f","content":"ok"}],"service_tier":"priority","n":1}"#;
        let body = chat_body(&request(history), "llama", groq, true).unwrap();
        assert!(body["messages"][0].get("name").is_none() && body["messages"][1].get("reasoning_content").is_none(), "{body}");
        assert_eq!(body["messages"][1].get("refusal"), Some(&Value::Null), "Groq takes the fields it knows");
        assert!(body.get("service_tier").is_none(), "not one of Groq's tiers: {body}");
        assert!(body.get("n").is_none(), "one choice, Groq's only: the field goes as unneeded");
        let flex = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"service_tier":"flex"}"#);
        assert_eq!(chat_body(&flex, "llama", groq, true).unwrap()["service_tier"], "flex");
        let two = request(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}"#);
        assert_eq!(chat_body(&two, "llama", groq, true).unwrap_err().param.as_deref(), Some("n"), "another deployment serves n > 1");

        let body = chat_body(&request(history), "mistral-small-latest", mistral, true).unwrap();
        let keys = |i: usize| body["messages"][i].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(0), ["role", "content"]);
        assert_eq!(keys(1), ["role", "content", "tool_calls"]);
        assert_eq!(keys(2), ["role", "content", "tool_call_id"]);
        assert_eq!(body["n"], 1, "Mistral takes n");
    }

    #[test]
    fn mistral_embeddings_name_dimensions_its_way_and_send_only_what_it_takes() {
        let catalog = crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"m":{"preset":"mistral"}},"models":{},"aliases":{}}"#).unwrap();
        let emb: EmbeddingsRequest = serde_json::from_str(r#"{"model":"e","input":["a","b"],"dimensions":256,"user":"u1","encoding_format":"base64"}"#).unwrap();
        let body = embeddings_body(&emb, Some("codestral-embed"), &catalog.providers["m"].quirks).unwrap();
        assert_eq!(body, json!({"model": "codestral-embed", "input": ["a", "b"], "encoding_format": "base64", "output_dimension": 256}));
        let plain = embeddings_body(&emb, Some("text-embedding-3-small"), &Quirks::default()).unwrap();
        assert_eq!((plain["dimensions"].clone(), plain["user"].clone()), (json!(256), json!("u1")), "other hosts as sent");
    }

    #[test]
    fn stream_lifts_usage_and_drops_usage_only_chunk() {
        let mut s = OpenAiStream::new("openai");
        let ev = |d: &str| SseEvent { event: String::new(), data: d.to_string() };
        let out = s.on_event(&ev(r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null,"error":null}"#)).unwrap();
        assert_eq!(out.len(), 1, "a null error is no error, as the SDKs read it");
        assert!(out[0].get("usage").is_none());
        let out = s.on_event(&ev(r#"{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}"#)).unwrap();
        assert!(out.is_empty());
        assert!(!s.is_complete());
        s.on_event(&ev("[DONE]")).unwrap();
        assert!(s.is_complete());
        assert_eq!(s.usage().unwrap().cached_input_tokens, 4);
    }

    #[test]
    fn stream_reads_groq_usage_and_errors() {
        let mut s = OpenAiStream::new("groq");
        let ev = |d: &str| SseEvent { event: String::new(), data: d.to_string() };
        let out = s.on_event(&ev(r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":7,"completion_tokens":3}}}"#)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(s.usage().unwrap().output_tokens, 3);
        assert!(matches!(s.on_event(&ev(r#"{"error":{"message":"overloaded"}}"#)), Err(UpstreamError::Status { status: 502, .. })));
        assert!(s.on_event(&ev("not json")).is_err());
        // The model failing a tool call mid-stream: its failure, not the deployment's.
        let tool_failed = r#"{"error":{"message":"Failed to call a function. Please adjust your prompt.","type":"invalid_request_error","code":"tool_use_failed","status_code":400}}"#;
        match OpenAiStream::new("groq").on_event(&ev(tool_failed)) {
            Err(UpstreamError::NoAnswer { reason, .. }) => assert!(reason.starts_with("Failed to call a function"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_tier_that_served_the_request_is_read_from_the_answer() {
        let a = chat_answer("openai", br#"{"choices":[],"service_tier":"priority","usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}"#).unwrap();
        assert_eq!(a.usage.unwrap().service_tier, ServiceTier::Priority);
        let a = chat_answer("openai", br#"{"choices":[],"service_tier":"default","usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}"#).unwrap();
        assert_eq!(a.usage.unwrap().service_tier, ServiceTier::Standard);
        let ev = |d: &str| SseEvent { event: String::new(), data: d.to_string() };
        let mut s = OpenAiStream::new("openai");
        s.on_event(&ev(r#"{"id":"c","service_tier":"flex","choices":[{"index":0,"delta":{"content":"a"}}]}"#)).unwrap();
        s.on_event(&ev(r#"{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#)).unwrap();
        assert_eq!(s.usage().unwrap().service_tier, ServiceTier::Flex);
    }

    #[test]
    fn a_stream_cut_off_before_its_usage_is_estimated_at_the_tier_it_said() {
        // Every chunk names the tier; the usage chunk, which would carry it too, never came.
        let mut session = crate::stream::StreamSession::new(Box::new(OpenAiStream::new("openai")), true, 100, 40);
        session.push(concat!(r#"data: {"id":"c","object":"chat.completion.chunk","created":5,"model":"o4-mini","service_tier":"flex","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#, "\n\n").as_bytes());
        let (_, outcome) = session.finish();
        assert!(!outcome.complete && outcome.usage.is_none(), "{outcome:?}");
        let (usage, basis) = outcome.billed_usage();
        assert_eq!((usage.input_tokens, usage.output_tokens, usage.service_tier, basis), (40, 2, ServiceTier::Flex, crate::receipt::UsageBasis::Estimated));
    }

    #[test]
    fn stream_keeps_the_billed_usage_report_as_sent() {
        let ev = |d: &str| SseEvent { event: String::new(), data: d.to_string() };
        // Mistral sends cumulative usage on chunks that also carry choices: the last one is billed.
        let mut s = OpenAiStream::new("mistral");
        s.on_event(&ev(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#)).unwrap();
        assert_eq!(s.usage_chunk_fields().unwrap()["usage"]["completion_tokens"], 1);
        let out = s.on_event(&ev(r#"{"id":"c","system_fingerprint":"fp_1","service_tier":"default","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9,"completion_tokens_details":{"accepted_prediction_tokens":3,"reasoning_tokens":0}}}"#)).unwrap();
        assert!(out[0].get("usage").is_none(), "usage leaves the content chunk for the usage chunk");
        let fields = s.usage_chunk_fields().unwrap();
        assert_eq!(fields["usage"]["completion_tokens_details"]["accepted_prediction_tokens"], 3);
        assert_eq!((&fields["system_fingerprint"], &fields["service_tier"]), (&json!("fp_1"), &json!("default")));
        assert_eq!(fields.len(), 3, "{fields:?}");

        // A smaller later report leaves the larger one standing.
        s.on_event(&ev(r#"{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#)).unwrap();
        assert_eq!(s.usage_chunk_fields().unwrap()["usage"]["completion_tokens"], 4);
        assert_eq!(s.usage().unwrap().output_tokens, 4);

        // Reports that each hold part of the maximum match no single object: none is passed on.
        s.on_event(&ev(r#"{"id":"c","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}"#)).unwrap();
        assert_eq!((s.usage().unwrap().input_tokens, s.usage().unwrap().output_tokens), (8, 4));
        assert!(s.usage_chunk_fields().is_none());

        let mut groq = OpenAiStream::new("groq");
        groq.on_event(&ev(r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":7,"completion_tokens":3,"queue_time":0.01}}}"#)).unwrap();
        assert!(groq.usage_chunk_fields().is_none(), "x_groq.usage is not OpenAI's shape: the client gets the rebuilt object");
        assert_eq!(groq.usage().unwrap().output_tokens, 3);

        let silent = OpenAiStream::new("ollama");
        assert!(silent.usage_chunk_fields().is_none());
    }

    /// The tool calls a stream's chunks add up to, joined by index as the SDKs' accumulators join
    /// them (openai-python's `accumulate_delta`: strings concatenated, `index` and `type` kept).
    fn accumulated_tool_calls(chunks: &[Value]) -> Vec<Value> {
        let mut calls: Vec<Value> = Vec::new();
        for chunk in chunks {
            for delta in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = delta["index"].as_u64().unwrap() as usize;
                if index >= calls.len() {
                    calls.insert(index.min(calls.len()), json!({"id": "", "function": {"name": "", "arguments": ""}}));
                }
                let call = &mut calls[index];
                if let Some(id) = delta["id"].as_str() {
                    call["id"] = json!(format!("{}{id}", call["id"].as_str().unwrap()));
                }
                for field in ["name", "arguments"] {
                    if let Some(piece) = delta["function"][field].as_str() {
                        call["function"][field] = json!(format!("{}{piece}", call["function"][field].as_str().unwrap()));
                    }
                }
            }
        }
        calls
    }

    fn stream_chunks(s: &mut OpenAiStream, events: &[&str]) -> Vec<Value> {
        events.iter().flat_map(|d| s.on_event(&SseEvent { event: String::new(), data: d.to_string() }).unwrap()).collect()
    }

    #[test]
    fn parallel_tool_calls_a_host_streams_at_one_index_reach_the_client_as_separate_calls() {
        // As Ollama's OpenAI-compatible endpoint streams two parallel calls: each whole, both at index 0.
        let ollama = [
            r#"{"id":"chatcmpl-386","object":"chat.completion.chunk","created":1737000000,"model":"llama3.1:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":[{"id":"call_x2kd81nq","index":0,"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-386","object":"chat.completion.chunk","created":1737000000,"model":"llama3.1:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":[{"id":"call_7fhq02mz","index":0,"type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-386","object":"chat.completion.chunk","created":1737000000,"model":"llama3.1:8b","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ];
        let chunks = stream_chunks(&mut OpenAiStream::new("ollama"), &ollama);
        assert_eq!(accumulated_tool_calls(&chunks), vec![
            json!({"id": "call_x2kd81nq", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}),
            json!({"id": "call_7fhq02mz", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}),
        ]);

        // Both in one delta, then argument pieces without an id: they follow the call last begun there.
        let pieces = [
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a","index":0,"type":"function","function":{"name":"f","arguments":"{\"a\""}},{"id":"call_b","index":0,"type":"function","function":{"name":"g","arguments":""}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"b\":"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}"#,
        ];
        let chunks = stream_chunks(&mut OpenAiStream::new("ollama"), &pieces);
        let calls = accumulated_tool_calls(&chunks);
        assert_eq!(calls.iter().map(|c| (c["id"].as_str().unwrap(), c["function"]["arguments"].as_str().unwrap())).collect::<Vec<_>>(), vec![("call_a", "{\"a\""), ("call_b", "{\"b\":2}")]);
    }

    #[test]
    fn a_host_that_gives_each_piece_of_a_call_its_own_id_keeps_the_call_whole() {
        // The name under one id, the arguments in pieces under others, all at index 0.
        let pieces = [
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a1","index":0,"type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a2","index":0,"type":"function","function":{"arguments":"{\"city\":"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a3","index":0,"type":"function","function":{"arguments":"\"Paris\"}"}}]}}]}"#,
        ];
        let chunks = stream_chunks(&mut OpenAiStream::new("vllm"), &pieces);
        let calls = accumulated_tool_calls(&chunks);
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["function"], json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}));
        assert_eq!(calls[0]["id"], "call_a1", "the first id only: the SDKs join the ids of a call's deltas");
    }

    #[test]
    fn tool_call_indexes_a_host_sends_right_are_left_alone() {
        // OpenAI's own shape: the id on a call's first delta only, each call at its own index, and
        // a second choice counting from 0 again.
        let openai = [
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"id":"call_3","type":"function","function":{"name":"h","arguments":""}}]}}]}"#,
        ];
        let mut s = OpenAiStream::new("openai");
        for event in openai {
            let sent: Value = serde_json::from_str(event).unwrap();
            assert_eq!(stream_chunks(&mut s, &[event]), vec![sent], "passed through as sent");
        }
    }

    #[test]
    fn an_id_and_name_a_host_repeats_on_every_delta_go_out_once() {
        let repeated = [
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_3","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_3","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_3","type":"function","function":{"name":"get_weather","arguments":"\"Paris\"}"}}]}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_4","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]}"#,
        ];
        let chunks = stream_chunks(&mut OpenAiStream::new("host"), &repeated);
        assert_eq!(accumulated_tool_calls(&chunks), vec![
            json!({"id": "call_3", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}),
            json!({"id": "call_4", "function": {"name": "get_time", "arguments": "{}"}}),
        ]);
        assert_eq!(chunks[1]["choices"][0]["delta"]["tool_calls"][0], json!({"index": 0, "type": "function", "function": {"arguments": "{\"city\":"}}));
    }

    #[test]
    fn non_stream_answer_keeps_body_and_reads_usage() {
        let body = br#"{"id":"x","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi","annotations":[]},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6},"service_tier":"default"}"#;
        let a = chat_answer("openai", body).unwrap();
        assert_eq!(a.body["service_tier"], "default");
        assert_eq!(a.usage.unwrap().input_tokens, 5);
        assert!(chat_answer("openai", b"{}").is_err());
        assert!(chat_answer("openai", b"<html>").is_err());
    }
}
