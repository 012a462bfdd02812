//! The stream driver: upstream SSE bytes in, OpenAI SSE bytes out, whatever the provider.
//!
//! It frames the translator's chunks as `data:` events, stamps `created`, emits exactly one
//! usage chunk at the end when the client asked for it (the router always asks the upstream for
//! usage, so the cost is known; from a host that reports none, the estimate billed), reports a cut-off stream as an OpenAI-style error event instead
//! of ending silently, and writes the cost trailer as an SSE comment, which clients ignore.

use serde_json::{json, Value};

use crate::api::kept_thinking::StreamedThinking;
use crate::providers::sse::SseParser;
use crate::providers::{StreamTranslator, UpstreamError};
use crate::receipt::UsageBasis;
use crate::tokens::TextTally;
use crate::usage::Usage;

/// The `code` of the error event that ends a broken stream (and of its cost event).
pub const STREAM_ERROR_CODE: &str = "upstream_stream_error";

/// Why a stream failed when the provider stopped sending before its end-of-stream marker.
const INCOMPLETE: &str = "The upstream provider ended the stream before it was complete.";

pub struct StreamSession {
    parser: SseParser,
    translator: Box<dyn StreamTranslator>,
    client_wants_usage: bool,
    created: i64,
    /// `id` and `model` of the first chunk, reused for the usage chunk.
    first_chunk: Option<(Value, Value)>,
    error: Option<String>,
    /// Generated text sent, to estimate usage when a host reports none.
    output: TextTally,
    /// A chunk the client would act on has been produced: text, a tool call, a refusal or a
    /// finish reason. Until then a failed stream can still be retried elsewhere.
    committed: bool,
    /// The stream failed because the model did (Gemini's MALFORMED_FUNCTION_CALL), not the
    /// deployment: no verdict for its breaker.
    model_failed: bool,
    /// The HTTP status an error event stood for (Anthropic's rate_limit_error is a 429), so a
    /// request every candidate refuses that way is answered as a refused call would be.
    failure_status: Option<u16>,
    /// A choice finished at its token limit (`finish_reason: "length"`).
    length_stop: bool,
    /// The prompt's size, should the stream end without a usage report: routing's count, exact for
    /// an OpenAI model, made once per request.
    prompt_tokens_estimate: u64,
    /// The answer's thinking and first tool call, gathered only for an answer whose thinking is
    /// kept (`gather_thinking`; `api::kept_thinking`): other streams copy no blocks.
    thinking: Option<StreamedThinking>,
}

/// How a stream ended, for costing and the cost event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOutcome {
    pub usage: Option<Usage>,
    /// The provider's end-of-stream marker arrived and nothing failed.
    pub complete: bool,
    pub error: Option<String>,
    /// The generated text sent, as the usage estimate counts it.
    pub output: TextTally,
    /// The tier the stream said it was served in, for an estimate without a usage report.
    pub service_tier: crate::usage::ServiceTier,
    /// A choice finished at its token limit.
    pub length_stop: bool,
    /// The prompt's size, for usage the provider did not report (see `StreamSession`).
    pub prompt_tokens_estimate: u64,
}

impl StreamOutcome {
    /// The usage to bill. A provider that reports usage at the start of a stream (Anthropic's
    /// `message_start` says one output token) leaves that figure standing when the stream is cut
    /// off or abandoned before its final count; the text already sent was generated and is
    /// billed, so an incomplete stream is billed at least the estimate from that text.
    pub fn billed_usage(&self) -> (Usage, UsageBasis) {
        // As a whole answer's text is estimated (`tokens::estimate_text_tokens`): Chinese,
        // Japanese and Korean near a token a character, not four characters to one.
        let output_estimate = self.output.tokens();
        match self.usage {
            // Reasoning already reported (Gemini's thoughts, counted in each chunk's usage and
            // never streamed as text) was generated as well as the text sent.
            Some(u) if self.complete || u.output_tokens >= u.reasoning_tokens.saturating_add(output_estimate) => (u, UsageBasis::Reported),
            Some(u) => (Usage { output_tokens: u.reasoning_tokens.saturating_add(output_estimate), ..u }, UsageBasis::Estimated),
            None => (
                Usage { input_tokens: self.prompt_tokens_estimate, output_tokens: output_estimate, service_tier: self.service_tier, ..Usage::default() },
                UsageBasis::Estimated,
            ),
        }
    }
}

/// Reasoning tokens a second assumed of a model that reasons unseen (o-series, gpt-5) while its
/// stream is open: such a model streams nothing while it thinks and reports its usage only at
/// the end, so a stream that ends first (the client left, the connection broke) has generated
/// and been billed tokens it never showed. A fast reasoning model's pace; less would under-bill.
pub const UNSEEN_REASONING_TOKENS_PER_SEC: f64 = 100.0;

/// `usage` of an unfinished stream with no usage reported, with the reasoning a model that
/// reasons unseen did while nothing showed: `thinking_ms` from the call to its first visible
/// output (or to its end, if none came) at [`UNSEEN_REASONING_TOKENS_PER_SEC`], added to the
/// visible output's estimate, all of it at most `output_cap`.
pub fn with_unseen_reasoning(usage: Usage, thinking_ms: f64, output_cap: u64) -> Usage {
    let room = output_cap.saturating_sub(usage.output_tokens);
    let reasoning = ((thinking_ms.max(0.0) / 1000.0 * UNSEEN_REASONING_TOKENS_PER_SEC) as u64).min(room);
    Usage { output_tokens: usage.output_tokens.saturating_add(reasoning), reasoning_tokens: reasoning, ..usage }
}

impl StreamSession {
    pub fn new(translator: Box<dyn StreamTranslator>, client_wants_usage: bool, created: i64, prompt_tokens_estimate: u64) -> Self {
        StreamSession {
            parser: SseParser::new(),
            translator,
            client_wants_usage,
            created,
            first_chunk: None,
            error: None,
            output: TextTally::default(),
            committed: false,
            model_failed: false,
            failure_status: None,
            length_stop: false,
            prompt_tokens_estimate,
            thinking: None,
        }
    }

    /// Gathers the answer's thinking blocks and first tool call from here on, to be kept
    /// (`kept_thinking`). Called before the first event.
    pub fn gather_thinking(&mut self) {
        self.thinking = Some(StreamedThinking::default());
    }

    /// What to keep of the gathered thinking ([`StreamedThinking::kept`]), once the stream has
    /// ended without a failure; `None` when none was gathered.
    pub fn kept_thinking(&self) -> Option<(String, Value)> {
        self.thinking.as_ref().filter(|_| self.error.is_none()).and_then(StreamedThinking::kept)
    }

    /// Whether the stream has produced anything the client would act on (see `committed`).
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Whether any generated text has come (content, refusal, reasoning, tool-call arguments).
    pub fn has_output(&self) -> bool {
        self.output.chars() > 0
    }

    /// Why the stream failed, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether the failure was the model's own (see `model_failed`), not the deployment's.
    pub fn model_failed(&self) -> bool {
        self.model_failed
    }

    /// The HTTP status the error event that failed the stream stood for, if it named one.
    pub fn failure_status(&self) -> Option<u16> {
        self.failure_status
    }

    /// Whether the provider's end-of-stream marker has arrived.
    pub fn upstream_complete(&self) -> bool {
        self.translator.is_complete()
    }

    /// The provider sent nothing for `silent_ms` (a stuck host that answered 200 and stopped):
    /// the stream fails as a cut-off one does, with an error event the SDKs raise.
    pub fn stalled(&mut self, silent_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        if self.error.is_none() {
            let silent = if silent_ms.is_multiple_of(1000) { format!("{} s", silent_ms / 1000) } else { format!("{:.1} s", silent_ms as f64 / 1000.0) };
            self.fail(format!("The upstream provider sent nothing for {silent}; the stream was ended."), &mut out);
        }
        out
    }

    /// The upstream closed: translates a last event it sent without the blank line after it
    /// (which `finish` would otherwise read), so whether the stream began can be judged.
    pub fn flush_last_event(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.error.is_none() {
            match self.parser.finish() {
                Ok(Some(event)) => {
                    if self.on_event(&event, &mut out).is_err() {
                        self.fail(format!("{INCOMPLETE} (it was cut in the middle of an event)"), &mut out);
                    }
                }
                Ok(None) => {}
                Err(e) => self.fail(format!("the upstream stream could not be read: {e}"), &mut out),
            }
        }
        out
    }

    /// Upstream bytes in, client bytes out. After a failure, further input is ignored.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.error.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        match self.parser.push(bytes) {
            Ok(events) => {
                for event in events {
                    if let Err(e) = self.on_event(&event, &mut out) {
                        self.model_failed = matches!(e, UpstreamError::NoAnswer { .. });
                        if let UpstreamError::Status { status, .. } = &e {
                            self.failure_status = Some(*status);
                        }
                        self.fail(e.to_string(), &mut out);
                        break;
                    }
                }
            }
            Err(e) => self.fail(format!("the upstream stream could not be read: {e}"), &mut out),
        }
        out
    }

    fn on_event(&mut self, event: &crate::providers::sse::SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamError> {
        for mut chunk in self.translator.on_event(event)? {
            if let Some(obj) = chunk.as_object_mut() {
                if obj.get("created").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    obj.insert("created".into(), json!(self.created));
                }
                // Azure opens its streams with a prompt-filter chunk whose id and model are empty:
                // the usage chunk takes them from the first chunk that has an id.
                let has_id = obj.get("id").and_then(Value::as_str).is_some_and(|id| !id.is_empty());
                if self.first_chunk.is_none() && has_id {
                    self.first_chunk = Some((obj.get("id").cloned().unwrap_or(Value::Null), obj.get("model").cloned().unwrap_or(Value::Null)));
                }
                // OpenAI: with `include_usage`, "all other chunks will also include a usage
                // field, but with a null value" (JS code tests `chunk.usage !== null`).
                if self.client_wants_usage {
                    obj.insert("usage".into(), Value::Null);
                }
            }
            if let Some(thinking) = self.thinking.as_mut() {
                thinking.on_chunk(&chunk);
            }
            let generated = generated_tally(&chunk);
            self.output.dense += generated.dense;
            self.output.other += generated.other;
            let generated = generated.chars();
            self.length_stop |= finished_at_length(&chunk);
            self.committed |= generated > 0 || acts(&chunk);
            write_data(out, &chunk);
        }
        Ok(())
    }

    fn fail(&mut self, message: String, out: &mut Vec<u8>) {
        // The OpenAI SDKs raise an APIError when a stream event carries an `error` object.
        write_data(out, &json!({"error": {"message": message, "type": "api_error", "param": null, "code": STREAM_ERROR_CODE}}));
        self.error = Some(message);
    }

    /// The upstream closed. Returns the last bytes for the client (the usage chunk, or an error
    /// event if the stream was cut off) and the outcome to cost.
    pub fn finish(&mut self) -> (Vec<u8>, StreamOutcome) {
        // A last event without the blank line after it: hosts that end a stream that way send a
        // whole event; one that cannot be read is where the connection was cut.
        let mut out = self.flush_last_event();
        if self.error.is_none() && !self.translator.is_complete() {
            self.fail(INCOMPLETE.to_string(), &mut out);
        }
        let outcome = StreamOutcome {
            usage: self.translator.usage(),
            complete: self.error.is_none(),
            error: self.error.clone(),
            output: self.output,
            service_tier: self.translator.service_tier(),
            length_stop: self.length_stop,
            prompt_tokens_estimate: self.prompt_tokens_estimate,
        };
        if self.error.is_none() && self.client_wants_usage {
            let (id, model) = self.first_chunk.clone().unwrap_or((Value::Null, Value::Null));
            let mut usage_chunk = json!({"id": id, "object": "chat.completion.chunk", "created": self.created, "model": model, "choices": []});
            let obj = usage_chunk.as_object_mut().expect("built as an object");
            match self.translator.usage_chunk_fields() {
                // An OpenAI-dialect host's usage goes out as sent, as in a non-streaming answer:
                // rebuilding it from the billed counts would drop fields such as prediction tokens.
                Some(fields) => obj.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone()))),
                // The counts billed; from a host that reports none, the estimate billed (the
                // trailer says `estimated`), never `null`: client code reads
                // `chunk.usage.total_tokens` on the chunk it asked for.
                None => {
                    obj.insert("usage".into(), outcome.billed_usage().0.to_openai_json());
                }
            }
            write_data(&mut out, &usage_chunk);
        }
        (out, outcome)
    }
}

/// Whether a chunk carries a tool call or a finish reason, which a client acts on even with no
/// text (a tool call's first chunk has its name and empty arguments).
fn acts(chunk: &Value) -> bool {
    chunk.get("choices").and_then(Value::as_array).into_iter().flatten().any(|c| {
        c.get("finish_reason").is_some_and(|f| !f.is_null()) || c.pointer("/delta/tool_calls").and_then(Value::as_array).is_some_and(|t| !t.is_empty())
    })
}

fn finished_at_length(chunk: &Value) -> bool {
    chunk.get("choices").and_then(Value::as_array).into_iter().flatten().any(|c| c.get("finish_reason").and_then(Value::as_str) == Some("length"))
}

/// The generated text in a message or a stream delta: content, refusal and reasoning
/// (`reasoning_content` from DeepSeek, `reasoning` from Groq and others: billed as output like the
/// rest), and tool-call arguments (a function's arguments, a custom tool's free-form input, a
/// legacy `function_call`'s arguments).
pub fn generated_texts(message: &Value) -> impl Iterator<Item = &str> {
    let text = ["content", "refusal", "reasoning_content", "reasoning"].into_iter().filter_map(|f| message.get(f).and_then(Value::as_str));
    // Content as parts (Mistral's reasoning models): each part's text, and the text of a
    // thinking part's own parts.
    let parts = message.get("content").and_then(Value::as_array).into_iter().flatten().flat_map(|part| {
        let thinking = part.get("thinking").and_then(Value::as_array).into_iter().flatten().filter_map(|p| p.get("text").and_then(Value::as_str));
        part.get("text").and_then(Value::as_str).into_iter().chain(thinking)
    });
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/function/arguments").or_else(|| t.pointer("/custom/input")).and_then(Value::as_str));
    let legacy_call = message.pointer("/function_call/arguments").and_then(Value::as_str);
    text.chain(parts).chain(calls).chain(legacy_call)
}

/// The generated text a chunk adds (see [`generated_texts`]).
fn generated_tally(chunk: &Value) -> TextTally {
    let mut tally = TextTally::default();
    for text in chunk.get("choices").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("delta")).flat_map(generated_texts) {
        tally.add(text);
    }
    tally
}

fn write_data(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// A whole `chat.completion` replayed as an OpenAI stream: a rule's fixed answer, a cache hit,
/// or a cascade's buffered answer. Each choice gets a role chunk, its content, refusal and tool
/// calls, and a finish chunk.
pub fn completion_as_sse(completion: &Value, include_usage: bool, summary: &Value) -> Vec<u8> {
    let id = completion.get("id").cloned().unwrap_or(Value::Null);
    let created = completion.get("created").cloned().unwrap_or(Value::Null);
    let model = completion.get("model").cloned().unwrap_or(Value::Null);
    let chunk = |index: &Value, delta: Value, finish: Value, logprobs: Value| {
        let mut chunk = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": logprobs}]});
        // As a live stream (see `StreamSession::on_event`).
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let mut out = Vec::new();
    for choice in completion.get("choices").and_then(Value::as_array).into_iter().flatten() {
        let index = choice.get("index").cloned().unwrap_or(json!(0));
        let message = choice.get("message").cloned().unwrap_or(Value::Null);
        // OpenAI sends each text chunk's logprobs with it and clients concatenate them; our text
        // goes in one chunk, so the whole list rides on the first chunk of text (or the last chunk).
        let mut logprobs = choice.get("logprobs").cloned().filter(|l| !l.is_null());
        write_data(&mut out, &chunk(&index, json!({"role": "assistant", "content": ""}), Value::Null, Value::Null));
        // Other parts of the message (a host's `reasoning_content`, `annotations`, `audio`, a
        // legacy `function_call`) go whole in one delta, as the stream would have carried them
        // in pieces: a client joining deltas gets the same message.
        let extras: serde_json::Map<String, Value> = message
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !matches!(k.as_str(), "role" | "content" | "refusal" | "tool_calls") && !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !extras.is_empty() {
            write_data(&mut out, &chunk(&index, Value::Object(extras), Value::Null, Value::Null));
        }
        for field in ["content", "refusal"] {
            // Content parts (Mistral's reasoning models answer in parts, and stream them as
            // `delta.content` lists) go whole in one delta, as text does.
            let part = match message.get(field) {
                Some(Value::String(text)) if !text.is_empty() => Some(json!({ field: text })),
                Some(Value::Array(parts)) if !parts.is_empty() => Some(json!({ field: parts })),
                _ => None,
            };
            if let Some(delta) = part {
                write_data(&mut out, &chunk(&index, delta, Value::Null, logprobs.take().unwrap_or(Value::Null)));
            }
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            // A host's call that is not an object has no place in a delta (nor any index to take).
            let indexed: Vec<Value> = calls
                .iter()
                .filter_map(Value::as_object)
                .enumerate()
                .map(|(i, c)| {
                    let mut c = c.clone();
                    c.insert("index".into(), json!(i));
                    Value::Object(c)
                })
                .collect();
            write_data(&mut out, &chunk(&index, json!({"tool_calls": indexed}), Value::Null, Value::Null));
        }
        let finish = choice.get("finish_reason").cloned().unwrap_or(json!("stop"));
        write_data(&mut out, &chunk(&index, json!({}), finish, logprobs.take().unwrap_or(Value::Null)));
    }
    if include_usage {
        write_data(&mut out, &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                                     "usage": completion.get("usage").cloned().unwrap_or(Value::Null)}));
    }
    out.extend(trailer(summary, true));
    out
}

/// The cost trailer (an SSE comment, ignored by clients) and, for a complete stream, `[DONE]`.
pub fn trailer(summary: &Value, complete: bool) -> Vec<u8> {
    let mut out = format!(": costrouter {summary}\n\n").into_bytes();
    if complete {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::anthropic::AnthropicStream;
    use crate::providers::openai::OpenAiStream;

    #[test]
    fn a_stream_cut_in_the_middle_of_an_event_says_so() {
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("openai")), false, 100, 5);
        s.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c1\",\"choi");
        let (_, outcome) = s.finish();
        let error = outcome.error.unwrap();
        assert!(error.starts_with("The upstream provider ended the stream before it was complete") && error.contains("middle of an event"), "{error}");
    }

    #[test]
    fn reasoning_and_refusal_deltas_count_as_generated_text() {
        let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"reasoning_content": "abcd", "reasoning": "ef", "refusal": "no", "content": "hi",
            "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]});
        assert_eq!(generated_tally(&chunk).chars(), 4 + 2 + 2 + 2 + 2);
        let custom = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "type": "custom", "custom": {"input": "SELECT 1"}}]}}]});
        assert_eq!(generated_tally(&custom).chars(), 8, "a custom tool's input is generated text too");
        let parts = json!({"choices": [{"delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "42"}]}}]});
        assert_eq!(generated_tally(&parts).chars(), 3 + 2, "content parts' text, a thinking part's too");
    }

    #[test]
    fn a_choice_stopped_at_its_token_limit_is_noted() {
        let (_, outcome) = run(false, UPSTREAM, 64);
        assert!(!outcome.length_stop);
        let (_, outcome) = run(false, &UPSTREAM.replace("\"finish_reason\":\"stop\"", "\"finish_reason\":\"length\""), 64);
        assert!(outcome.length_stop && outcome.complete);
    }

    #[test]
    fn a_session_says_when_it_has_output_is_committed_and_complete() {
        // What the edge primes a stream by: a role chunk commits to nothing, text does, and the
        // provider's end marker completes it.
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("openai")), false, 100, 5);
        assert!(!s.is_committed() && !s.has_output() && s.failure().is_none() && !s.upstream_complete());
        let mut lines = UPSTREAM.split_inclusive("\n\n");
        s.push(lines.next().unwrap().as_bytes());
        assert!(!s.is_committed() && !s.has_output(), "a role and empty content");
        s.push(lines.next().unwrap().as_bytes());
        assert!(s.is_committed() && s.has_output() && !s.upstream_complete());
        for line in lines {
            s.push(line.as_bytes());
        }
        assert!(s.upstream_complete() && s.failure().is_none());
        // A finish reason alone commits too (an empty answer is an answer), without output.
        let mut finished = StreamSession::new(Box::new(OpenAiStream::new("openai")), false, 100, 5);
        finished.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        assert!(finished.is_committed() && !finished.has_output());
        // Garbage fails the session and says why.
        let mut broken = StreamSession::new(Box::new(OpenAiStream::new("openai")), false, 100, 5);
        broken.push(b"data: {nope\n\n");
        assert!(broken.failure().is_some_and(|why| why.contains("invalid JSON")), "{:?}", broken.failure());
    }

    #[test]
    fn chunks_get_a_created_time_and_the_usage_chunk_the_first_real_id() {
        // Azure's first chunk: prompt-filter results, empty id and model, created 0.
        let azure = concat!(
            "data: {\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("azure")), true, 1_700_000_000, 5);
        let mut out = s.push(azure.as_bytes());
        let (tail, outcome) = s.finish();
        out.extend(tail);
        assert!(outcome.complete, "{outcome:?}");
        let chunks: Vec<Value> = events(&out).iter().filter_map(|e| e.strip_prefix("data: {")).map(|e| serde_json::from_str(&format!("{{{e}")).unwrap()).collect();
        assert_eq!(chunks.len(), 3, "{}", String::from_utf8_lossy(&out));
        assert!(chunks.iter().all(|c| c["created"] == 1_700_000_000), "{chunks:?}");
        let usage = chunks.iter().find(|c| c.get("usage").is_some_and(|u| !u.is_null())).unwrap_or_else(|| panic!("no usage chunk: {}", String::from_utf8_lossy(&out)));
        assert_eq!((usage["id"].as_str(), usage["model"].as_str()), (Some("chatcmpl-9"), Some("gpt-4o-mini")));
    }

    #[test]
    fn the_usage_chunk_takes_the_first_id_from_a_host_that_gives_each_chunk_its_own() {
        // llama.cpp's server (before March 2024) and Foundry Local mint a new id for every chunk.
        let upstream = concat!(
            "data: {\"id\":\"chatcmpl-LMLc\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"llama-3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"S\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-B5x5\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"llama-3-q4\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ay\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"chatcmpl-34oh\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"llama-3-q4\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\n",
            "data: [DONE]\n\n",
        );
        let (evs, outcome) = run(true, upstream, 64);
        assert!(outcome.complete, "{outcome:?}");
        let chunk = usage_chunk(&evs).unwrap();
        assert_eq!((&chunk["id"], &chunk["model"], &chunk["usage"]["total_tokens"]), (&json!("chatcmpl-LMLc"), &json!("llama-3"), &json!(6)));
    }

    #[test]
    fn a_tool_calls_first_chunk_commits_the_stream_and_an_empty_list_does_not() {
        // Foundry Local puts `"tool_calls": []` on every delta, the role chunk's included.
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("foundry")), false, 100, 5);
        s.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[]},\"finish_reason\":null}]}\n\n");
        assert!(!s.is_committed(), "no call yet: another deployment may still serve it");
        // A call's first chunk: its name and empty arguments, no generated text yet.
        s.push(b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n");
        assert!(s.is_committed() && !s.has_output(), "the client has begun a call");
    }

    #[test]
    fn a_chinese_stream_without_usage_is_billed_a_token_a_character() {
        // A host that reports no usage: the estimate counts the text as it came, in pieces.
        let upstream = UPSTREAM
            .replace("\"content\":\"Hello\"", "\"content\":\"天空是\"},\"finish_reason\":null}],\"usage\":null}\n\ndata: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"qwen\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"蓝色的。\"")
            .replace("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}", "\"choices\":[],\"usage\":null");
        let (evs, outcome) = run(true, &upstream, 16);
        assert!(outcome.complete && outcome.usage.is_none(), "{evs:?}");
        let (billed, basis) = outcome.billed_usage();
        assert_eq!((billed.output_tokens, basis), (7, UsageBasis::Estimated), "six ideographs a token each, and the full stop");
        assert_eq!(usage_chunk(&evs).unwrap()["usage"]["completion_tokens"], 7);
    }

    #[test]
    fn an_error_event_keeps_the_status_it_stands_for() {
        let mut s = StreamSession::new(Box::new(AnthropicStream::new("anthropic", "claude-haiku-4-5")), false, 100, 5);
        s.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n");
        s.push(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n");
        assert!(s.failure().is_some() && !s.is_committed());
        assert_eq!(s.failure_status(), Some(429));
    }

    const UPSTREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n",
        "data: [DONE]\n\n"
    );

    fn events(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec()).unwrap().split("\n\n").filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    fn run(wants_usage: bool, input: &str, piece: usize) -> (Vec<String>, StreamOutcome) {
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("openai")), wants_usage, 100, 5);
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(piece) {
            out.extend(s.push(chunk));
        }
        let (tail, outcome) = s.finish();
        out.extend(tail);
        (events(&out), outcome)
    }

    #[test]
    fn strips_usage_chunk_unless_asked() {
        let (evs, outcome) = run(false, UPSTREAM, 7);
        assert_eq!(evs.len(), 3);
        assert!(evs.iter().all(|e| !e.contains("\"usage\"")));
        assert!(outcome.complete);
        assert_eq!(outcome.usage.unwrap().input_tokens, 9);
        assert_eq!(outcome.output.chars(), 5);

        assert_usage_fields(&evs, false);
        let (evs, _) = run(true, UPSTREAM, 13);
        assert_eq!(evs.len(), 4);
        assert_usage_fields(&evs, true);
        let last: Value = serde_json::from_str(evs[3].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(last["usage"]["total_tokens"], 10);
        assert_eq!(last["id"], "c1");
        assert_eq!(last["choices"], json!([]));
    }

    fn usage_chunk(evs: &[String]) -> Option<Value> {
        evs.iter().filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ")?).ok()).find(|c| c.get("usage").is_some_and(|u| !u.is_null()))
    }

    /// With `include_usage`, every chunk before the usage chunk has `"usage": null` (OpenAI's
    /// contract); without it, none has the field.
    fn assert_usage_fields(evs: &[String], wants_usage: bool) {
        let chunks: Vec<Value> = evs.iter().filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ")?).ok()).collect();
        let usage_at = chunks.iter().position(|c| c.get("usage").is_some_and(|u| !u.is_null()));
        assert_eq!(usage_at.is_some(), wants_usage, "{evs:?}");
        let before = &chunks[..usage_at.unwrap_or(chunks.len())];
        assert!(!before.is_empty());
        for c in before {
            assert_eq!(c.as_object().unwrap().contains_key("usage"), wants_usage, "{c}");
            assert!(c.get("usage").is_none_or(Value::is_null), "{c}");
        }
    }

    #[test]
    fn usage_chunk_passes_the_hosts_usage_through() {
        let usage = r#"{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13,"prompt_cache_hit_tokens":2,
            "prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"accepted_prediction_tokens":3,"reasoning_tokens":0}}"#
            .replace('\n', "");
        let upstream = UPSTREAM.replace(
            r#""choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}"#,
            &format!(r#""system_fingerprint":"fp_9","choices":[],"usage":{usage}"#),
        );
        let (evs, outcome) = run(true, &upstream, 17);
        let chunk = usage_chunk(&evs).unwrap();
        assert_eq!(chunk["usage"], serde_json::from_str::<Value>(&usage).unwrap());
        assert_eq!(chunk["usage"]["completion_tokens_details"]["accepted_prediction_tokens"], 3);
        assert_eq!((&chunk["id"], &chunk["created"], &chunk["system_fingerprint"]), (&json!("c1"), &json!(100), &json!("fp_9")));
        // Costing keeps the normalised counts (DeepSeek's cache hits included).
        let billed = outcome.usage.unwrap();
        assert_eq!((billed.input_tokens, billed.cached_input_tokens, billed.output_tokens), (9, 2, 4));

        let (evs, outcome) = run(false, &upstream, 17);
        assert!(usage_chunk(&evs).is_none(), "{evs:?}");
        assert_eq!(outcome.usage, Some(billed));
    }

    #[test]
    fn a_translated_providers_usage_chunk_is_rebuilt() {
        let upstream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":6}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let mut s = StreamSession::new(Box::new(AnthropicStream::new("anthropic", "claude")), true, 100, 5);
        let mut out = s.push(upstream.as_bytes());
        let (tail, outcome) = s.finish();
        out.extend(tail);
        assert!(outcome.complete);
        assert_usage_fields(&events(&out), true);
        let chunk = usage_chunk(&events(&out)).unwrap();
        assert_eq!(chunk["usage"], outcome.usage.unwrap().to_openai_json());
        assert_eq!((&chunk["usage"]["prompt_tokens"], &chunk["usage"]["completion_tokens"]), (&json!(125), &json!(6)));
    }

    #[test]
    fn a_stream_the_model_fails_is_told_from_one_the_deployment_fails() {
        let malformed = "data: {\"candidates\": [{\"content\": {\"role\": \"model\"}, \"finishReason\": \"MALFORMED_FUNCTION_CALL\", \"index\": 0}]}\n\n";
        let mut s = StreamSession::new(Box::new(crate::providers::gemini::GeminiStream::new("gemini", "gemini-2.5-flash")), false, 100, 5);
        s.push(malformed.as_bytes());
        assert!(s.failure().is_some() && s.model_failed(), "the model failed: no verdict on the deployment");
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("openai")), false, 100, 5);
        s.push(b"data: {\"error\": {\"message\": \"overloaded\", \"type\": \"server_error\"}}\n\n");
        assert!(s.failure().is_some() && !s.model_failed(), "the host failed");
    }

    #[test]
    fn a_host_that_reports_no_usage_gets_the_estimate_billed_in_the_usage_chunk() {
        // A host that ignores `stream_options` (some Ollama and vLLM versions): no usage chunk.
        let upstream = UPSTREAM.replace("\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}", "\"choices\":[],\"usage\":null");
        let mut s = StreamSession::new(Box::new(OpenAiStream::new("ollama")), true, 100, 42);
        let mut out = s.push(upstream.as_bytes());
        let (tail, outcome) = s.finish();
        out.extend(tail);
        assert!(outcome.complete && outcome.usage.is_none());
        let (billed, basis) = outcome.billed_usage();
        assert_eq!((billed.input_tokens, billed.output_tokens, basis), (42, 2, UsageBasis::Estimated), "the prompt estimate, and 5 characters at 4 a token");
        let chunk = usage_chunk(&events(&out)).unwrap();
        assert_eq!(chunk["usage"], billed.to_openai_json(), "what is billed, not null");
        assert_eq!(chunk["usage"]["total_tokens"], 44);
        assert_eq!((&chunk["id"], &chunk["choices"]), (&json!("c1"), &json!([])));
    }

    #[test]
    fn usage_chunk_skips_azure_prompt_filter_chunk_for_its_id() {
        let filter = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0}]}\n\n";
        let (evs, outcome) = run(true, &format!("{filter}{UPSTREAM}"), 11);
        assert!(outcome.complete);
        assert_eq!(evs.len(), 5, "{evs:?}");
        let last: Value = serde_json::from_str(evs[4].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(last["usage"]["total_tokens"], 10);
        assert_eq!(last["id"], "c1");
        assert_eq!(last["model"], "gpt-4o-mini");
    }

    #[test]
    fn truncated_stream_ends_with_an_error_event() {
        let cut = &UPSTREAM[..UPSTREAM.find("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},").unwrap()];
        let (evs, outcome) = run(true, cut, 64);
        assert!(!outcome.complete);
        assert!(evs.last().unwrap().contains("upstream_stream_error"));
        assert!(!evs.iter().any(|e| e.contains("\"usage\":{")), "no usage chunk after an error");
    }

    #[test]
    fn a_cut_off_stream_bills_the_text_it_sent_even_when_usage_came_first() {
        // Anthropic reports usage in `message_start` (output 1) and the real count only at the end.
        let started = Usage { input_tokens: 900, output_tokens: 1, ..Usage::default() };
        let cut = StreamOutcome { usage: Some(started), complete: false, error: Some("cut".into()), output: TextTally { dense: 0, other: 4_000 }, service_tier: crate::usage::ServiceTier::Standard, length_stop: false, prompt_tokens_estimate: 5 };
        let (usage, basis) = cut.billed_usage();
        assert_eq!((usage.input_tokens, usage.output_tokens, basis), (900, 1_000, UsageBasis::Estimated));

        let whole = StreamOutcome { complete: true, error: None, ..cut.clone() };
        assert_eq!(whole.billed_usage(), (started, UsageBasis::Reported), "a complete stream's own count stands");

        let counted = Usage { output_tokens: 1_200, ..started };
        let cut_after_count = StreamOutcome { usage: Some(counted), ..cut.clone() };
        assert_eq!(cut_after_count.billed_usage(), (counted, UsageBasis::Reported), "a higher reported count is kept");
        // Gemini counts its unseen thoughts in every chunk: they stay billed beside the text.
        let thought = Usage { output_tokens: 1_100, reasoning_tokens: 900, ..started };
        let (usage, basis) = StreamOutcome { usage: Some(thought), ..cut.clone() }.billed_usage();
        assert_eq!((usage.output_tokens, usage.reasoning_tokens, basis), (1_900, 900, UsageBasis::Estimated));

        let unreported = StreamOutcome { usage: None, ..cut.clone() };
        let (usage, basis) = unreported.billed_usage();
        assert_eq!((usage.input_tokens, usage.output_tokens, basis), (5, 1_000, UsageBasis::Estimated));
        // Chinese text is near a token a character, as a whole answer's estimate says, not four
        // characters to one; a stream that said it was served at priority is priced so.
        let chinese = StreamOutcome { usage: None, output: TextTally::of(&"天空是蓝色的。".repeat(100)), service_tier: crate::usage::ServiceTier::Priority, ..cut };
        let (usage, _) = chinese.billed_usage();
        assert_eq!(usage.output_tokens, crate::tokens::estimate_text_tokens(&"天空是蓝色的。".repeat(100)));
        assert!(usage.output_tokens >= 600, "{}", usage.output_tokens);
        assert_eq!(usage.service_tier, crate::usage::ServiceTier::Priority);
    }

    #[test]
    fn a_stream_that_goes_silent_is_ended_as_a_failure() {
        let mut session = StreamSession::new(Box::new(crate::providers::openai::OpenAiStream::new("openai")), true, 7, 12);
        let first = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n";
        assert!(!session.push(first.as_bytes()).is_empty());
        let out = String::from_utf8(session.stalled(300_000)).unwrap();
        assert!(out.contains("upstream_stream_error") && out.contains("sent nothing for 300 s"), "{out}");
        assert!(session.push(b"data: {}\n\n").is_empty(), "nothing after the failure");
        let (tail, outcome) = session.finish();
        assert!(!outcome.complete && outcome.error.as_deref().is_some_and(|e| e.contains("300 s")));
        assert!(tail.is_empty(), "one error event, no usage chunk: {}", String::from_utf8_lossy(&tail));
        assert_eq!(outcome.output.chars(), 3);
    }

    #[test]
    fn garbage_mid_stream_is_an_error_not_a_panic() {
        let (evs, outcome) = run(false, "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {nope\n\ndata: [DONE]\n\n", 5);
        assert_eq!(evs.len(), 2);
        assert!(outcome.error.unwrap().contains("invalid JSON"));
    }

    #[test]
    fn a_completion_replays_as_a_stream() {
        let completion = json!({"id": "c9", "created": 7, "model": "m", "usage": {"total_tokens": 3},
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Hi",
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]});
        let evs = events(&completion_as_sse(&completion, true, &json!({})));
        assert_eq!(evs.len(), 7, "{evs:?}");
        assert!(evs[1].contains("\"content\":\"Hi\""));
        assert!(evs[2].contains("\"index\":0") && evs[2].contains("\"name\":\"f\""));
        assert!(evs[3].contains("\"finish_reason\":\"tool_calls\""));
        assert!(evs[4].contains("\"total_tokens\":3"));
        assert_eq!(evs[6], "data: [DONE]");
        assert_usage_fields(&evs, true);
        assert_usage_fields(&events(&completion_as_sse(&completion, false, &json!({}))), false);
    }

    fn replayed_choices(completion: &Value) -> Vec<Value> {
        let evs = events(&completion_as_sse(completion, false, &json!({})));
        evs.iter().filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ")?).ok()).map(|c| c["choices"][0].clone()).collect()
    }

    #[test]
    fn a_replayed_refusal_is_a_refusal_delta() {
        let completion = json!({"id": "c10", "created": 7, "model": "m", "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]});
        let deltas: Vec<Value> = replayed_choices(&completion).iter().map(|c| c["delta"].clone()).collect();
        assert_eq!(deltas, vec![json!({"role": "assistant", "content": ""}), json!({"refusal": "I can't help with that."}), json!({})]);
    }

    #[test]
    fn a_replay_keeps_the_message_parts_beyond_text_and_tool_calls() {
        let completion = json!({"id": "c12", "created": 7, "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "42", "reasoning_content": "because", "annotations": [], "audio": null,
                "function_call": {"name": "f", "arguments": "{}"}}}]});
        let deltas: Vec<Value> = replayed_choices(&completion).iter().map(|c| c["delta"].clone()).collect();
        assert_eq!(deltas, vec![
            json!({"role": "assistant", "content": ""}),
            json!({"reasoning_content": "because", "function_call": {"name": "f", "arguments": "{}"}}),
            json!({"content": "42"}),
            json!({}),
        ]);
    }

    #[test]
    fn a_replay_sends_content_parts_whole_and_skips_calls_that_are_not_objects() {
        // Mistral's reasoning models answer in parts; replayed, the parts are the content.
        let parts = json!([{"type": "thinking", "thinking": [{"type": "text", "text": "6 x 7"}]}, {"type": "text", "text": "42"}]);
        let completion = json!({"id": "c13", "created": 7, "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": parts, "tool_calls": ["x", {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]});
        let deltas: Vec<Value> = replayed_choices(&completion).iter().map(|c| c["delta"].clone()).collect();
        assert_eq!(deltas, vec![
            json!({"role": "assistant", "content": ""}),
            json!({"content": parts}),
            json!({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
            json!({}),
        ]);
    }

    #[test]
    fn a_replayed_empty_parts_list_sends_no_content_delta() {
        // An answer of tool calls alone, its content an empty list of parts: no content chunk,
        // so the logprobs go with the finish as for any answer without text.
        let completion = json!({"id": "c14", "created": 7, "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": {"content": []},
            "message": {"role": "assistant", "content": [], "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]});
        let sent: Vec<(Value, Value)> = replayed_choices(&completion).iter().map(|c| (c["delta"].clone(), c["logprobs"].clone())).collect();
        assert_eq!(sent, vec![
            (json!({"role": "assistant", "content": ""}), Value::Null),
            (json!({"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}), Value::Null),
            (json!({}), json!({"content": []})),
        ]);
    }

    #[test]
    fn replayed_logprobs_ride_with_the_text() {
        let logprobs = json!({"content": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105], "top_logprobs": []}], "refusal": null});
        let completion = json!({"id": "c11", "created": 7, "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop", "logprobs": logprobs, "message": {"role": "assistant", "content": "Hi"}},
            // No text to carry them (a tool call, or empty content): they come with the finish.
            {"index": 1, "finish_reason": "stop", "logprobs": {"content": []}, "message": {"role": "assistant", "content": ""}}]});
        let choices = replayed_choices(&completion);
        let sent: Vec<(Value, Value)> = choices.iter().map(|c| (c["delta"].clone(), c["logprobs"].clone())).collect();
        assert_eq!(sent, vec![
            (json!({"role": "assistant", "content": ""}), Value::Null),
            (json!({"content": "Hi"}), logprobs),
            (json!({}), Value::Null),
            (json!({"role": "assistant", "content": ""}), Value::Null),
            (json!({}), json!({"content": []})),
        ]);
    }

    #[test]
    fn trailer_is_a_comment_then_done() {
        let t = String::from_utf8(trailer(&json!({"cost_usd":"0.1"}), true)).unwrap();
        assert_eq!(t, ": costrouter {\"cost_usd\":\"0.1\"}\n\ndata: [DONE]\n\n");
    }

    #[test]
    fn an_unfinished_reasoning_stream_is_billed_the_reasoning_its_time_allowed() {
        let seen = Usage { input_tokens: 2000, output_tokens: 12, ..Usage::default() };
        // 90 s of thinking at 100 tokens a second before the 12 tokens shown, under a 100,000 cap.
        let billed = with_unseen_reasoning(seen, 90_000.0, 100_000);
        assert_eq!((billed.input_tokens, billed.output_tokens, billed.reasoning_tokens), (2000, 9012, 9000));
        let capped = with_unseen_reasoning(seen, 90_000.0, 4000);
        assert_eq!((capped.output_tokens, capped.reasoning_tokens), (4000, 3988), "never past the cap");
        assert_eq!(with_unseen_reasoning(seen, 50.0, 4000).output_tokens, 17);
    }
}
