//! The answer side of Anthropic's Messages API (`POST /v1/messages`): the chat pipeline's answer
//! to the translated request, written back in Anthropic's terms. A whole chat completion becomes
//! a `message` object, the chat event stream becomes Anthropic's event stream (`message_start`,
//! strictly sequential content blocks, `message_delta`, `message_stop`), and the router's
//! OpenAI-shaped refusals become Anthropic's error shape.

use serde_json::{json, Map, Value};

use crate::api::chat_events::{ChatEventReader, ChatStreamRewrite};
use crate::api::responses::{thought_and_text, ResponseIds};

/// What a `message` object repeats of its request.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesEcho {
    /// The model the client named: the answer names it when the chat answer names none.
    pub model: String,
}

/// `msg_<base>` from the router's request id (`req_ab12` -> `msg_ab12`), so the two can be
/// matched in logs, as the Responses API's ids are.
pub fn message_id(request_id: &str) -> String {
    ResponseIds::for_request(request_id).message()
}

/// A whole chat completion (the router's `chat.completion` JSON) as an Anthropic `message`.
pub fn from_completion(completion: &Value, echo: &MessagesEcho, request_id: &str) -> Value {
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    let (thought, text) = thought_and_text(message);
    match message["thinking_blocks"].as_array().filter(|blocks| !blocks.is_empty()) {
        // The router's Anthropic adapter kept Claude's blocks with their signatures.
        Some(blocks) => content.extend(blocks.iter().filter_map(client_block)),
        // Another provider's reasoning has no signature: shown, and dropped when sent back.
        None if !thought.is_empty() => content.push(json!({"type": "thinking", "thinking": thought, "signature": ""})),
        None => {}
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    // Anthropic has no refusal block: the refusal is the answer's text, its stop reason says so.
    let refusal = message["refusal"].as_str().filter(|r| !r.is_empty());
    if let Some(refusal) = refusal {
        content.push(json!({"type": "text", "text": refusal}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(tool_use(call));
    }
    let model = completion["model"].as_str().filter(|m| !m.is_empty()).unwrap_or(&echo.model);
    let mut answer = json!({
        "id": message_id(request_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str(), refusal.is_some(), message["tool_calls"].as_array().is_some_and(|c| !c.is_empty())),
        "stop_sequence": null,
        "usage": anthropic_usage(completion.get("usage")),
    });
    // Anthropic reports the tier inside `usage`, in its own names (standard, priority, batch).
    if let Some(tier) = completion["service_tier"].as_str() {
        answer["usage"]["service_tier"] = json!(match tier {
            "priority" | "batch" => tier,
            _ => "standard",
        });
    }
    answer
}

/// What the router puts before a signature it hands out (and before a redacted block's data):
/// the model that wrote the block, which alone can verify it. Kept inside the opaque string, so
/// the block has exactly Anthropic's shape, streamed too: a stream's thinking block starts
/// before its signature is known, and a `signature_delta` sets the signature alone.
const SIGNED_BY: &str = "costrouter:";

/// `signature` marked with the `model` that wrote it (see [`SIGNED_BY`]).
fn marked_signature(model: Option<&str>, signature: &str) -> String {
    match model.filter(|m| !m.is_empty()) {
        Some(model) => format!("{SIGNED_BY}{model} {signature}"),
        None => signature.to_string(),
    }
}

/// A signature (or redacted data) a client sent back: the model the router marked it with, and
/// the signature Anthropic wrote. One without the router's mark is Anthropic's as it is.
pub(crate) fn signature_and_model(marked: &str) -> (&str, Option<&str>) {
    match marked.strip_prefix(SIGNED_BY).and_then(|rest| rest.split_once(' ')) {
        Some((model, signature)) => (signature, Some(model)),
        None => (marked, None),
    }
}

/// One of the chat answer's `thinking_blocks` (Anthropic's fields and the `model` that wrote
/// it) as the client's block, the model kept in its signature.
fn client_block(block: &Value) -> Option<Value> {
    let model = block["model"].as_str();
    match block["type"].as_str()? {
        "thinking" => Some(json!({"type": "thinking", "thinking": block["thinking"].as_str().unwrap_or_default(), "signature": marked_signature(model, block["signature"].as_str().unwrap_or_default())})),
        "redacted_thinking" => Some(json!({"type": "redacted_thinking", "data": marked_signature(model, block["data"].as_str().unwrap_or_default())})),
        _ => None,
    }
}

/// A client block with something to verify it by: a thinking block's signature, a redacted
/// block's data.
fn is_signed(block: &Value) -> bool {
    match block["type"].as_str() {
        Some("thinking") => block["signature"].as_str().is_some_and(|s| !s.is_empty()),
        Some("redacted_thinking") => block["data"].as_str().is_some_and(|d| !d.is_empty()),
        _ => false,
    }
}

/// `GET /v1/models` as Anthropic's SDKs and Claude Code read it (they send `anthropic-version`):
/// each of the router's model entries (OpenAI's shape, with its `costrouter` details) as
/// Anthropic's `model` object, one page holding them all. Claude Code lists what it finds in its
/// `/model` picker ("From gateway").
pub fn model_list(entries: &[Value]) -> Value {
    let data: Vec<Value> = entries.iter().map(model_entry).collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": data.first().map_or(Value::Null, |m| m["id"].clone()),
        "last_id": data.last().map_or(Value::Null, |m| m["id"].clone()),
    })
}

/// One model entry in Anthropic's shape: its name is its display name (the catalog has no other),
/// its creation unknown (the epoch, as the router's OpenAI entries say `created: 0`).
pub fn model_entry(entry: &Value) -> Value {
    json!({
        "type": "model",
        "id": entry["id"],
        "display_name": entry["id"],
        "created_at": "1970-01-01T00:00:00Z",
        "costrouter": entry["costrouter"],
    })
}

/// A chat tool call as a `tool_use` block, its arguments string as the `input` object.
fn tool_use(call: &Value) -> Value {
    let (name, input) = if call["type"] == "custom" {
        // A custom tool's input is free text; `input` must be an object.
        (&call["custom"]["name"], json!({"input": call["custom"]["input"].as_str().unwrap_or_default()}))
    } else {
        (&call["function"]["name"], tool_input(call["function"]["arguments"].as_str().unwrap_or_default()))
    };
    json!({"type": "tool_use", "id": call["id"].as_str().unwrap_or_default(), "name": name.as_str().unwrap_or_default(), "input": input})
}

/// Arguments as the object Anthropic's `input` is. Arguments that are no object (a model's
/// broken JSON) stay visible under `_raw_arguments` rather than vanish into `{}`; none at all
/// (some providers send "" for a tool without parameters) is the empty object it means.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => json!({"_raw_arguments": arguments}),
    }
}

/// Anthropic's stop reason for chat's finish reason. Chat's `stop` cannot tell a stop sequence
/// from the end of the turn, so it is `end_turn`; an answer that calls tools is `tool_use`
/// whatever its host said (some say `stop`), as agent loops go on by the stop reason.
fn stop_reason(finish_reason: Option<&str>, refused: bool, calls_tools: bool) -> &'static str {
    if refused {
        return "refusal";
    }
    match finish_reason {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        Some("tool_calls" | "function_call") => "tool_use",
        _ if calls_tools => "tool_use",
        _ => "end_turn",
    }
}

/// Chat usage in Anthropic's form, whose `input_tokens` leaves out the tokens read from the
/// cache and written to it (they are counted apart, in `cache_read_input_tokens` and
/// `cache_creation_input_tokens`). No usage is zeros.
fn anthropic_usage(usage: Option<&Value>) -> Value {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let (prompt, completion, cached, written) = usage.filter(|u| u.is_object()).map_or((0, 0, 0, 0), |u| {
        let details = &u["prompt_tokens_details"];
        (count(&u["prompt_tokens"]), count(&u["completion_tokens"]), count(&details["cached_tokens"]), count(&details["cache_write_tokens"]))
    });
    json!({
        "input_tokens": prompt.saturating_sub(cached).saturating_sub(written),
        "output_tokens": completion,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    })
}

/// A refusal in Anthropic's error shape, from the router's OpenAI-shaped error body and its HTTP
/// status: `{"type":"error","error":{"type","message","code","param"}}`. The router's `code`
/// and `param` are kept (its errors always carry them; Anthropic's clients ignore fields they
/// do not know). A body that is no OpenAI error keeps its text as the message.
pub fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let kind = error_type(status);
    let generic = || format!("The request failed (HTTP {status}).");
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let error = match parsed.as_ref().and_then(|b| b.get("error")).filter(|e| e.is_object()) {
        Some(error) => json!({
            "type": kind,
            "message": error["message"].as_str().map_or_else(generic, str::to_string),
            "code": error["code"],
            "param": error["param"],
        }),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            json!({"type": kind, "message": if text.is_empty() { generic() } else { text.to_string() }})
        }
    };
    json!({"type": "error", "error": error}).to_string().into_bytes()
}

/// Anthropic's error type for an HTTP status, as its API documents them.
fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// The chat pipeline's SSE stream rewritten as Anthropic's event stream, piece by piece.
///
/// Anthropic's content blocks are strictly sequential: one is open at a time, indexed from 0 in
/// the order they open, and each is stopped before the next starts. So a chat delta of another
/// kind than the open block's (reasoning, text, another tool call) stops it and starts the next.
/// The final usage comes last in the chat stream (its usage chunk), so `message_start` reports
/// the router's count of the prompt and `message_delta` the real counts, which the Anthropic
/// SDKs copy into the message.
/// The router's cost trailer (an SSE comment) passes through as it is; its error event, or a
/// stream that stops short, becomes Anthropic's mid-stream `error` event.
#[derive(Debug)]
pub struct MessagesStream {
    id: String,
    /// The model `message_start` names: the first chunk's, else the one asked.
    model: String,
    reader: ChatEventReader,
    started: bool,
    ended: bool,
    /// The block being written (its index, what it holds).
    open: Option<(usize, BlockKind)>,
    /// How many blocks were started: the next one's index.
    started_blocks: usize,
    /// Each tool call's block, by the call's chat index.
    calls: Vec<CallBlock>,
    prompt_tokens: u64,
    /// Thinking text streamed since blocks were last signed (see `signed_blocks`).
    thinking_text: String,
    finish_reason: Option<String>,
    refused: bool,
    usage: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Thinking,
    RedactedThinking,
    Text,
    /// A tool call, by its chat index.
    ToolUse(u64),
}

#[derive(Debug)]
struct CallBlock {
    chat_index: u64,
    block: usize,
    /// A custom tool's free-text input, streamed as the JSON string of `{"input": ...}` (as a
    /// whole answer writes it): its opening is sent when the block starts, its closing `"}`
    /// when the block stops.
    custom: bool,
}

impl ChatStreamRewrite for MessagesStream {
    fn reader(&mut self) -> &mut ChatEventReader {
        &mut self.reader
    }

    fn ended(&self) -> bool {
        self.ended
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if !self.started {
            if let Some(model) = chunk["model"].as_str().filter(|m| !m.is_empty()) {
                self.model = model.to_string();
            }
        }
        self.start(out);
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        // Other choices (n > 1) have no place in a message.
        let Some(choice) = chunk["choices"].as_array().and_then(|c| c.iter().find(|c| c["index"].as_u64().unwrap_or(0) == 0)) else { return };
        let delta = &choice["delta"];
        let (thought, text) = thought_and_text(delta);
        // Signed blocks carry their own text (a replayed answer sends `reasoning_content` beside
        // them: the same text). Unsigned ones (LiteLLM sends each reasoning fragment as a block
        // beside its `reasoning_content`) are the fragment, streamed as such.
        let signed: Vec<Value> = delta["thinking_blocks"].as_array().into_iter().flatten().filter_map(client_block).filter(is_signed).collect();
        if !signed.is_empty() {
            self.signed_blocks(signed, out);
        } else if !thought.is_empty() {
            if !matches!(self.open, Some((_, BlockKind::Thinking))) {
                // A new thinking block: what a signature must match is its text alone.
                self.thinking_text.clear();
            }
            self.thinking_text.push_str(&thought);
            let at = self.block(BlockKind::Thinking, json!({"type": "thinking", "thinking": "", "signature": ""}), out);
            event(out, "content_block_delta", json!({"index": at, "delta": {"type": "thinking_delta", "thinking": thought}}));
        }
        if !text.is_empty() {
            self.text_delta(&text, out);
        }
        // Anthropic has no refusal block: a refusal is text, and the stop reason says so.
        if let Some(refusal) = delta["refusal"].as_str().filter(|r| !r.is_empty()) {
            self.refused = true;
            self.text_delta(refusal, out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.call_delta(call, out);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.stop_open_block(out);
        let delta = json!({"stop_reason": stop_reason(self.finish_reason.as_deref(), self.refused, !self.calls.is_empty()), "stop_sequence": null});
        event(out, "message_delta", json!({"delta": delta, "usage": anthropic_usage(self.usage.as_ref())}));
        event(out, "message_stop", json!({}));
        self.ended = true;
    }

    /// The answer failed after it began: Anthropic's mid-stream `error` event, and nothing after
    /// it (the open block is not stopped: the SDKs raise the error when it comes).
    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        event(out, "error", json!({"error": {"type": "api_error", "message": message}}));
        self.ended = true;
    }
}

impl MessagesStream {
    /// `prompt_tokens`: the router's count of the prompt, which `message_start` reports.
    pub fn new(echo: MessagesEcho, request_id: &str, prompt_tokens: u64) -> Self {
        Self {
            id: message_id(request_id),
            prompt_tokens,
            thinking_text: String::new(),
            model: echo.model,
            reader: ChatEventReader::default(),
            started: false,
            ended: false,
            open: None,
            started_blocks: 0,
            calls: Vec::new(),
            finish_reason: None,
            refused: false,
            usage: None,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            // The chat stream's usage comes at its end (in `message_delta`, which the SDKs read);
            // until then the router's own count of the prompt, for clients that read it here.
            "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 0},
        });
        event(out, "message_start", json!({"message": message}));
    }

    /// Signed thinking blocks (`delta.thinking_blocks`, in the client's form). The router's
    /// Anthropic adapter sends each as it ends for this door
    /// (`ChatRequest::thinking_blocks_as_they_end`), while its text is the open block: the block
    /// whose text is the one streamed (or a signature alone, as LiteLLM sends it) signs it
    /// (`signature_delta`), and it is stopped before the next block starts, as Anthropic streams
    /// it. A replayed answer (a cache hit, a cascade's buffered answer), with nothing streamed,
    /// sends them all at its start: each is written whole. Otherwise the blocks cannot be placed
    /// (a chat stream's, sent together before its finish, after the thinking they sign was
    /// stopped) and are left out: sent back unsigned, the thinking goes as text only.
    fn signed_blocks(&mut self, blocks: Vec<Value>, out: &mut Vec<u8>) {
        let streamed = std::mem::take(&mut self.thinking_text);
        if !streamed.is_empty() {
            if matches!(self.open, Some((_, BlockKind::Thinking))) {
                let own = blocks.iter().find(|b| b["type"] == "thinking" && (b["thinking"] == streamed.as_str() || b["thinking"] == ""));
                if let (Some(own), Some((at, _))) = (own, self.open) {
                    event(out, "content_block_delta", json!({"index": at, "delta": {"type": "signature_delta", "signature": own["signature"]}}));
                }
                self.stop_open_block(out);
            }
            return;
        }
        for block in blocks {
            if block["type"] == "thinking" {
                let at = self.block(BlockKind::Thinking, json!({"type": "thinking", "thinking": "", "signature": ""}), out);
                event(out, "content_block_delta", json!({"index": at, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}}));
                event(out, "content_block_delta", json!({"index": at, "delta": {"type": "signature_delta", "signature": block["signature"]}}));
            } else {
                self.stop_open_block(out);
                self.block(BlockKind::RedactedThinking, block, out);
            }
            // Whole: the next block is another.
            self.stop_open_block(out);
        }
    }

    fn text_delta(&mut self, text: &str, out: &mut Vec<u8>) {
        let at = self.block(BlockKind::Text, json!({"type": "text", "text": ""}), out);
        event(out, "content_block_delta", json!({"index": at, "delta": {"type": "text_delta", "text": text}}));
    }

    fn call_delta(&mut self, call: &Value, out: &mut Vec<u8>) {
        let chat_index = call["index"].as_u64().unwrap_or(0);
        let custom = call["type"] == "custom" || call.get("custom").is_some_and(Value::is_object);
        let (name, piece) = if custom {
            (call["custom"]["name"].as_str(), call["custom"]["input"].as_str().unwrap_or_default())
        } else {
            (call["function"]["name"].as_str(), call["function"]["arguments"].as_str().unwrap_or_default())
        };
        let (at, custom) = match self.calls.iter().find(|c| c.chat_index == chat_index) {
            // A call seen before. Its block is usually the open one; if a provider interleaves
            // its calls' deltas (rare), the block was stopped when the other call's started, and
            // the piece is still sent for that block's index: the Anthropic SDKs add a delta to
            // the block its index names, open or not.
            Some(known) => (known.block, known.custom),
            None => {
                let started = json!({"type": "tool_use", "id": call["id"].as_str().unwrap_or_default(), "name": name.unwrap_or_default(), "input": {}});
                let at = self.block(BlockKind::ToolUse(chat_index), started, out);
                self.calls.push(CallBlock { chat_index, block: at, custom });
                if custom {
                    input_json_delta(out, at, "{\"input\":\"");
                }
                (at, custom)
            }
        };
        if piece.is_empty() {
            return;
        }
        if custom {
            // The JSON string was closed with its block; a late piece would follow the closing
            // `"}` and break the input. (Messages requests declare no custom tools, so only a
            // chat client's custom call interleaved with another could come here.)
            if self.open != Some((at, BlockKind::ToolUse(chat_index))) {
                return;
            }
            let quoted = Value::String(piece.to_string()).to_string();
            input_json_delta(out, at, &quoted[1..quoted.len() - 1]);
        } else {
            input_json_delta(out, at, piece);
        }
    }

    /// The index of the block `kind` goes in: the open one if it holds that kind, else a new
    /// one, started (as `started`) once the open one is stopped.
    fn block(&mut self, kind: BlockKind, started: Value, out: &mut Vec<u8>) -> usize {
        if let Some((at, open)) = self.open {
            if open == kind {
                return at;
            }
        }
        self.stop_open_block(out);
        let at = self.started_blocks;
        self.started_blocks += 1;
        self.open = Some((at, kind));
        event(out, "content_block_start", json!({"index": at, "content_block": started}));
        at
    }

    fn stop_open_block(&mut self, out: &mut Vec<u8>) {
        let Some((at, kind)) = self.open.take() else { return };
        if let BlockKind::ToolUse(chat_index) = kind {
            if self.calls.iter().any(|c| c.chat_index == chat_index && c.custom) {
                input_json_delta(out, at, "\"}");
            }
        }
        event(out, "content_block_stop", json!({"index": at}));
    }

}

fn input_json_delta(out: &mut Vec<u8>, at: usize, partial_json: &str) {
    event(out, "content_block_delta", json!({"index": at, "delta": {"type": "input_json_delta", "partial_json": partial_json}}));
}

/// One event: `event: <type>` and its data, whose `type` (first, as Anthropic writes it) repeats it.
fn event(out: &mut Vec<u8>, kind: &str, body: Value) {
    let mut data = Map::new();
    data.insert("type".into(), Value::String(kind.to_string()));
    if let Value::Object(fields) = body {
        data.extend(fields);
    }
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(Value::Object(data).to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> MessagesEcho {
        MessagesEcho { model: "cheap".into() }
    }

    fn completion(message: Value, finish_reason: &str) -> Value {
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]})
    }

    #[test]
    fn a_text_completion_is_a_message() {
        let mut c = completion(json!({"role": "assistant", "content": "Hello."}), "stop");
        c["usage"] = json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13});
        assert_eq!(from_completion(&c, &echo(), "req_ab12"), json!({
            "id": "msg_ab12", "type": "message", "role": "assistant", "model": "gpt-4o-mini",
            "content": [{"type": "text", "text": "Hello."}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
        }));
        assert_eq!(message_id("abc"), "msg_abc", "an id without the prefix is the base");
        // No model in the completion: the one asked; no usage: zeros; no service tier unless reported.
        let bare = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}]});
        let m = from_completion(&bare, &echo(), "req_1");
        assert_eq!(m["model"], "cheap");
        assert_eq!(m["usage"], json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}));
        assert!(m.get("service_tier").is_none() && m["usage"].get("service_tier").is_none());
        let mut tiered = bare.clone();
        tiered["service_tier"] = json!("priority");
        assert_eq!(from_completion(&tiered, &echo(), "req_1")["usage"]["service_tier"], "priority", "in usage, as Anthropic has it");
        tiered["service_tier"] = json!("default");
        assert_eq!(from_completion(&tiered, &echo(), "req_1")["usage"]["service_tier"], "standard", "in Anthropic's names");
        // Text in parts is joined; no content at all is no block.
        let parts = completion(json!({"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}), "stop");
        assert_eq!(from_completion(&parts, &echo(), "req_1")["content"], json!([{"type": "text", "text": "AB"}]));
        let empty = completion(json!({"role": "assistant", "content": ""}), "stop");
        assert_eq!(from_completion(&empty, &echo(), "req_1")["content"], json!([]));
    }

    #[test]
    fn thinking_blocks_are_kept_with_their_signature_marked_with_their_model() {
        let blocks = json!([
            {"type": "thinking", "thinking": "Think.", "signature": "EqQB", "model": "claude-sonnet-4-5"},
            {"type": "redacted_thinking", "data": "EmwK", "model": "claude-sonnet-4-5"},
        ]);
        let c = completion(json!({"role": "assistant", "content": "Done.", "reasoning_content": "Think.", "thinking_blocks": blocks}), "stop");
        let m = from_completion(&c, &echo(), "req_1");
        assert_eq!(m["content"], json!([
            {"type": "thinking", "thinking": "Think.", "signature": "costrouter:claude-sonnet-4-5 EqQB"},
            {"type": "redacted_thinking", "data": "costrouter:claude-sonnet-4-5 EmwK"},
            {"type": "text", "text": "Done."},
        ]), "the signed blocks, in Anthropic's shape, not the unsigned reasoning_content beside them");
        assert_eq!(signature_and_model("costrouter:claude-sonnet-4-5 EqQB"), ("EqQB", Some("claude-sonnet-4-5")));
        assert_eq!(signature_and_model("EqQB"), ("EqQB", None), "Anthropic's own, as it is");
        assert_eq!(signature_and_model("costrouter:nospace"), ("costrouter:nospace", None));
    }

    #[test]
    fn other_reasoning_is_one_unsigned_thinking_block() {
        for message in [
            json!({"role": "assistant", "content": "Done.", "reasoning_content": "Hmm."}),
            json!({"role": "assistant", "content": "Done.", "reasoning": "Hmm."}),
            json!({"role": "assistant", "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm."}]}, {"type": "text", "text": "Done."}]}),
        ] {
            let m = from_completion(&completion(message.clone(), "stop"), &echo(), "req_1");
            assert_eq!(m["content"], json!([{"type": "thinking", "thinking": "Hmm.", "signature": ""}, {"type": "text", "text": "Done."}]), "{message}");
        }
    }

    #[test]
    fn tool_calls_are_tool_use_blocks_with_their_input_parsed() {
        let c = completion(json!({"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":"}},
            {"id": "call_3", "type": "function", "function": {"name": "list", "arguments": "[1]"}},
            {"id": "call_4", "type": "function", "function": {"name": "now", "arguments": ""}},
            {"id": "call_5", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
        ]}), "tool_calls");
        let m = from_completion(&c, &echo(), "req_1");
        assert_eq!(m["content"], json!([
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"_raw_arguments": "{\"city\":"}},
            {"type": "tool_use", "id": "call_3", "name": "list", "input": {"_raw_arguments": "[1]"}},
            {"type": "tool_use", "id": "call_4", "name": "now", "input": {}},
            {"type": "tool_use", "id": "call_5", "name": "sql", "input": {"input": "SELECT 1"}},
        ]));
        assert_eq!(m["stop_reason"], "tool_use");
    }

    #[test]
    fn finish_reasons_map_to_anthropics_stop_reasons() {
        for (finish, stop) in [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("function_call", "tool_use"), ("content_filter", "refusal"), ("other", "end_turn")] {
            let m = from_completion(&completion(json!({"role": "assistant", "content": "x"}), finish), &echo(), "req_1");
            assert_eq!(m["stop_reason"], stop, "{finish}");
        }
        let no_finish = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]});
        assert_eq!(from_completion(&no_finish, &echo(), "req_1")["stop_reason"], "end_turn");
        let refused = completion(json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}), "stop");
        let m = from_completion(&refused, &echo(), "req_1");
        assert_eq!((m["content"].clone(), m["stop_reason"].clone()), (json!([{"type": "text", "text": "I can't help with that."}]), json!("refusal")));
    }

    #[test]
    fn cache_reads_are_counted_apart_from_the_input() {
        let mut c = completion(json!({"role": "assistant", "content": "x"}), "stop");
        c["usage"] = json!({"prompt_tokens": 2006, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1920}});
        assert_eq!(from_completion(&c, &echo(), "req_1")["usage"], json!({"input_tokens": 86, "output_tokens": 300, "cache_read_input_tokens": 1920, "cache_creation_input_tokens": 0}));
        // Writes too (the router's chat usage carries them as `cache_write_tokens`).
        c["usage"] = json!({"prompt_tokens": 3050, "completion_tokens": 70, "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 1000}});
        assert_eq!(from_completion(&c, &echo(), "req_1")["usage"], json!({"input_tokens": 50, "output_tokens": 70, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1000}));
        // Tool calls under a host's `stop` still say tool_use (agent loops go on by it).
        let mut called = completion(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}), "stop");
        assert_eq!(from_completion(&called, &echo(), "req_1")["stop_reason"], "tool_use");
        called["choices"][0]["finish_reason"] = json!("length");
        assert_eq!(from_completion(&called, &echo(), "req_1")["stop_reason"], "max_tokens");
        // More cached than prompted (a provider's miscount) saturates at zero.
        c["usage"] = json!({"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 9}});
        assert_eq!(from_completion(&c, &echo(), "req_1")["usage"]["input_tokens"], 0);
    }

    /// The events of an Anthropic stream (comments left out), each checked to name its type twice.
    fn events(sse: &[u8]) -> Vec<Value> {
        let text = String::from_utf8(sse.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|b| !b.is_empty() && !b.starts_with(':'))
            .map(|b| {
                let (event, data) = b.split_once('\n').unwrap();
                let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(event.strip_prefix("event: "), data["type"].as_str(), "{b}");
                data
            })
            .collect()
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    fn translate(chat_sse: &str, one_byte_at_a_time: bool) -> Vec<u8> {
        let mut s = MessagesStream::new(echo(), "req_s", 31);
        let mut out = Vec::new();
        if one_byte_at_a_time {
            for b in chat_sse.as_bytes() {
                out.extend(s.push(std::slice::from_ref(b)));
            }
        } else {
            out.extend(s.push(chat_sse.as_bytes()));
        }
        out.extend(s.finish());
        out
    }

    const TEXT_STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"Other choice\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":2,\"total_tokens\":32,\"prompt_tokens_details\":{\"cached_tokens\":20}}}\n\n",
        ": costrouter {\"cost_usd\":\"0.000001\"}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn a_text_stream_becomes_anthropics_event_sequence() {
        let out = translate(TEXT_STREAM, false);
        let evs = events(&out);
        assert_eq!(types(&evs), ["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
        assert_eq!(evs[0]["message"], json!({"id": "msg_s", "type": "message", "role": "assistant", "model": "gpt-4o-mini", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 31, "output_tokens": 0}}), "the router's prompt count until the usage comes");
        assert_eq!(evs[1], json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        assert_eq!(evs[2], json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}));
        assert_eq!(evs[3]["delta"]["text"], "lo", "the other choice is left out");
        assert_eq!(evs[4], json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(evs[5], json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0}}));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("event: message_start\ndata: {\"type\":\"message_start\","), "type first, as Anthropic writes it: {text}");
        assert!(text.contains(": costrouter {\"cost_usd\":\"0.000001\"}\n\n"), "the cost trailer passes: {text}");
        assert!(!text.contains("[DONE]"), "Anthropic streams have no [DONE]");
    }

    #[test]
    fn a_stream_fed_one_byte_at_a_time_reads_as_fed_whole() {
        assert_eq!(translate(TEXT_STREAM, true), translate(TEXT_STREAM, false));
        assert_eq!(translate(REASONING_TEXT_TOOLS, true), translate(REASONING_TEXT_TOOLS, false));
    }

    const REASONING_TEXT_TOOLS: &str = concat!(
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Two \"}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"cities.\"}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking.\"}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"c\\\":\"}}]}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"c\\\":2}\"}}]}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"x\",\"signature\":\"sig\",\"model\":\"m\"}]}}]}\n\n",
        "data: {\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn reasoning_text_and_tool_calls_stream_as_sequential_blocks() {
        let evs = events(&translate(REASONING_TEXT_TOOLS, false));
        let shown: Vec<(String, Value)> = evs.iter().map(|e| (e["type"].as_str().unwrap().to_string(), e["index"].clone())).collect();
        let expected: Vec<(String, Value)> = [
            ("message_start", Value::Null),
            ("content_block_start", json!(0)), ("content_block_delta", json!(0)), ("content_block_delta", json!(0)), ("content_block_stop", json!(0)),
            ("content_block_start", json!(1)), ("content_block_delta", json!(1)), ("content_block_stop", json!(1)),
            ("content_block_start", json!(2)), ("content_block_delta", json!(2)), ("content_block_delta", json!(2)), ("content_block_stop", json!(2)),
            ("content_block_start", json!(3)), ("content_block_delta", json!(3)), ("content_block_stop", json!(3)),
            ("message_delta", Value::Null), ("message_stop", Value::Null),
        ].into_iter().map(|(t, i)| (t.to_string(), i)).collect();
        assert_eq!(shown, expected, "each block stopped before the next starts");
        assert_eq!(evs[0]["message"]["model"], "deepseek-reasoner");
        assert_eq!(evs[1]["content_block"], json!({"type": "thinking", "thinking": "", "signature": ""}));
        assert_eq!(evs[2]["delta"], json!({"type": "thinking_delta", "thinking": "Two "}));
        assert_eq!(evs[5]["content_block"], json!({"type": "text", "text": ""}));
        assert_eq!(evs[8]["content_block"], json!({"type": "tool_use", "id": "call_a", "name": "w", "input": {}}));
        assert_eq!(evs[9]["delta"], json!({"type": "input_json_delta", "partial_json": "{\"c\":"}));
        assert_eq!(evs[12]["content_block"], json!({"type": "tool_use", "id": "call_b", "name": "w", "input": {}}));
        assert_eq!(evs[13]["delta"], json!({"type": "input_json_delta", "partial_json": "{\"c\":2}"}));
        assert_eq!(evs[15]["delta"]["stop_reason"], "tool_use");
        let said_stop = events(&translate(&REASONING_TEXT_TOOLS.replace("\"finish_reason\":\"tool_calls\"", "\"finish_reason\":\"stop\""), false));
        assert_eq!(said_stop[15]["delta"]["stop_reason"], "tool_use", "calls made are tool_use whatever the host's finish reason");
        assert!(!evs.iter().any(|e| e["delta"]["type"] == "signature_delta"), "blocks after the thinking was stopped cannot sign it");
    }

    #[test]
    fn each_signed_block_signs_the_thinking_it_ends_before_the_next_block() {
        // The Anthropic adapter's stream for this door: each block as it ends (interleaved
        // thinking: thinking, a call, thinking again, a redacted block, text).
        let signed = |text: &str, sig: &str| format!("data: {{\"model\":\"claude\",\"choices\":[{{\"index\":0,\"delta\":{{\"thinking_blocks\":[{{\"type\":\"thinking\",\"thinking\":\"{text}\",\"signature\":\"{sig}\",\"model\":\"claude-sonnet-4-5\"}}]}}}}]}}\n\n");
        let delta = |d: &str| format!("data: {{\"model\":\"claude\",\"choices\":[{{\"index\":0,\"delta\":{d}}}]}}\n\n");
        let chat = [
            delta(r#"{"reasoning_content":"Look "}"#),
            delta(r#"{"reasoning_content":"it up."}"#),
            signed("Look it up.", "s1"),
            delta(r#"{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}}]}"#),
            delta(r#"{"reasoning_content":"Now answer."}"#),
            signed("Now answer.", "s2"),
            delta(r#"{"thinking_blocks":[{"type":"redacted_thinking","data":"opaque","model":"claude-sonnet-4-5"}]}"#),
            delta(r#"{"content":"Done."}"#),
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".to_string(),
        ]
        .concat();
        let evs = events(&translate(&chat, false));
        let shown: Vec<String> = evs.iter().map(|e| format!("{} {} {}", e["type"].as_str().unwrap(), e["index"], e["delta"]["type"].as_str().or(e["content_block"]["type"].as_str()).unwrap_or(""))).collect();
        assert_eq!(shown, [
            "message_start null ",
            "content_block_start 0 thinking", "content_block_delta 0 thinking_delta", "content_block_delta 0 thinking_delta", "content_block_delta 0 signature_delta", "content_block_stop 0 ",
            "content_block_start 1 tool_use", "content_block_delta 1 input_json_delta", "content_block_stop 1 ",
            "content_block_start 2 thinking", "content_block_delta 2 thinking_delta", "content_block_delta 2 signature_delta", "content_block_stop 2 ",
            "content_block_start 3 redacted_thinking", "content_block_stop 3 ",
            "content_block_start 4 text", "content_block_delta 4 text_delta", "content_block_stop 4 ",
            "message_delta null ", "message_stop null ",
        ]);
        assert_eq!(evs[4]["delta"]["signature"], "costrouter:claude-sonnet-4-5 s1", "marked with the model that wrote it");
        assert_eq!(evs[11]["delta"]["signature"], "costrouter:claude-sonnet-4-5 s2");
        assert_eq!(evs[13]["content_block"], json!({"type": "redacted_thinking", "data": "costrouter:claude-sonnet-4-5 opaque"}));
        assert_eq!(evs[18]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn a_signature_signs_only_the_thinking_whose_text_it_carries() {
        let delta = |d: &str| format!("data: {{\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{d}}}]}}\n\n");
        let end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let signatures = |chat: String| -> Vec<(Value, Value)> {
            events(&translate(&chat, false)).iter().filter(|e| e["delta"]["type"] == "signature_delta").map(|e| (e["index"].clone(), e["delta"]["signature"].clone())).collect()
        };
        let starts = |chat: String| events(&translate(&chat, false)).iter().filter(|e| e["type"] == "content_block_start").count();
        // LiteLLM: each fragment also as an unsigned block, then the signature alone.
        let litellm = [
            delta(r#"{"reasoning_content":"Let ","thinking_blocks":[{"type":"thinking","thinking":"Let "}]}"#),
            delta(r#"{"reasoning_content":"me think.","thinking_blocks":[{"type":"thinking","thinking":"me think."}]}"#),
            delta(r#"{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"SIG"}]}"#),
            delta(r#"{"content":"Done."}"#),
            end.to_string(),
        ]
        .concat();
        assert_eq!(signatures(litellm.clone()), [(json!(0), json!("SIG"))]);
        assert_eq!(starts(litellm), 2, "one thinking block, then the text");
        // Blocks sent together while the second thinking is open: each signs its own text only.
        let late = [
            delta(r#"{"reasoning_content":"A"}"#),
            delta(r#"{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}"#),
            delta(r#"{"reasoning_content":"B"}"#),
            delta(r#"{"thinking_blocks":[{"type":"thinking","thinking":"A","signature":"sA","model":"m"},{"type":"thinking","thinking":"B","signature":"sB","model":"m"}]}"#),
            end.to_string(),
        ]
        .concat();
        assert_eq!(signatures(late.clone()), [(json!(2), json!("costrouter:m sB"))]);
        assert_eq!(starts(late), 3, "nothing written twice");
    }

    #[test]
    fn a_replayed_answer_writes_its_signed_blocks_whole() {
        // A cache hit or a cascade's buffered answer: the blocks and their text in one delta.
        let chat = concat!(
            "data: {\"model\":\"claude\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"model\":\"claude\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"AB\",\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"A\",\"signature\":\"s1\",\"model\":\"m\"},{\"type\":\"thinking\",\"thinking\":\"B\",\"signature\":\"s2\",\"model\":\"m\"}]}}]}\n\n",
            "data: {\"model\":\"claude\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        );
        let evs = events(&translate(chat, true));
        let thinking: Vec<(Value, Value)> = evs.iter().filter(|e| e["type"] == "content_block_delta" && e["delta"]["type"] != "text_delta").map(|e| (e["index"].clone(), e["delta"].clone())).collect();
        assert_eq!(thinking, [
            (json!(0), json!({"type": "thinking_delta", "thinking": "A"})), (json!(0), json!({"type": "signature_delta", "signature": "costrouter:m s1"})),
            (json!(1), json!({"type": "thinking_delta", "thinking": "B"})), (json!(1), json!({"type": "signature_delta", "signature": "costrouter:m s2"})),
        ], "each block its own text and signature, not the joined reasoning_content");
    }

    #[test]
    fn a_piece_for_a_stopped_tool_block_goes_to_that_blocks_index() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let deltas: Vec<(u64, &str)> = evs.iter().filter(|e| e["type"] == "content_block_delta").map(|e| (e["index"].as_u64().unwrap(), e["delta"]["partial_json"].as_str().unwrap())).collect();
        assert_eq!(deltas, [(0, "{"), (1, "{}"), (0, "}")]);
        assert_eq!(evs.iter().filter(|e| e["type"] == "content_block_start").count(), 2, "no block started twice");
        assert_eq!(evs.iter().filter(|e| e["type"] == "content_block_stop").map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn a_custom_tool_call_streams_as_the_input_object_a_whole_answer_has() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_c\",\"type\":\"custom\",\"custom\":{\"name\":\"sql\",\"input\":\"SELECT \\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"custom\":{\"input\":\" FROM t\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let input: String = evs.iter().filter(|e| e["type"] == "content_block_delta").map(|e| e["delta"]["partial_json"].as_str().unwrap()).collect();
        assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({"input": "SELECT \"a\" FROM t"}));
        // A piece after its block stopped would follow the closing `"}`: it is left out.
        let late = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_c\",\"type\":\"custom\",\"custom\":{\"name\":\"sql\",\"input\":\"SELECT 1\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_d\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"custom\":{\"input\":\" late\"}}]}}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(late, false));
        let input: String = evs.iter().filter(|e| e["type"] == "content_block_delta" && e["index"] == 0).map(|e| e["delta"]["partial_json"].as_str().unwrap()).collect();
        assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({"input": "SELECT 1"}));
    }

    #[test]
    fn a_refusal_streams_as_text_and_stops_for_refusal() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\" help.\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        assert_eq!(evs[1]["content_block"]["type"], "text");
        assert_eq!((evs[2]["delta"]["text"].as_str(), evs[3]["delta"]["text"].as_str(), evs[3]["index"].as_u64()), (Some("I can't"), Some(" help."), Some(0)));
        assert_eq!(evs[evs.len() - 2]["delta"]["stop_reason"], "refusal");
    }

    #[test]
    fn a_failed_or_cut_stream_ends_with_an_error_event() {
        let failed = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"The upstream provider ended the stream early.\",\"type\":\"api_error\",\"param\":null,\"code\":\"stream_error\"}}\n\n",
            "data: [DONE]\n\n",
            ": costrouter {\"cost_usd\":\"0.1\"}\n\n",
        );
        let out = translate(failed, false);
        let evs = events(&out);
        assert_eq!(types(&evs), ["message_start", "content_block_start", "content_block_delta", "error"], "nothing stopped, nothing after the error");
        assert_eq!(evs[3], json!({"type": "error", "error": {"type": "api_error", "message": "The upstream provider ended the stream early."}}));
        assert!(String::from_utf8(out).unwrap().ends_with(": costrouter {\"cost_usd\":\"0.1\"}\n\n"), "the trailer after the end passes");
        let cut = "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\ndata: {\"model\":";
        let evs = events(&translate(cut, false));
        assert_eq!(types(&evs), ["message_start", "content_block_start", "content_block_delta", "error"]);
        assert_eq!(evs[3]["error"]["message"], "The stream ended before the answer was complete.");
        assert_eq!(types(&events(&translate("", false))), ["error"]);
    }

    #[test]
    fn a_stream_without_chunks_still_starts_and_stops_the_message() {
        let evs = events(&translate("data: [DONE]\n\n", false));
        assert_eq!(types(&evs), ["message_start", "message_delta", "message_stop"]);
        assert_eq!(evs[0]["message"]["model"], "cheap", "the model asked");
        assert_eq!(evs[1]["usage"]["input_tokens"], 0);
    }

    #[test]
    fn the_model_list_is_one_page_of_anthropic_model_objects() {
        let entries = [json!({"id": "claude-haiku-4-5", "object": "model", "created": 0, "owned_by": "anthropic", "costrouter": {"serves": "claude-haiku-4-5"}}),
            json!({"id": "fast", "object": "model", "created": 0, "owned_by": "openai", "costrouter": {"serves": "gpt-4o-mini"}})];
        assert_eq!(model_list(&entries), json!({
            "data": [
                {"type": "model", "id": "claude-haiku-4-5", "display_name": "claude-haiku-4-5", "created_at": "1970-01-01T00:00:00Z", "costrouter": {"serves": "claude-haiku-4-5"}},
                {"type": "model", "id": "fast", "display_name": "fast", "created_at": "1970-01-01T00:00:00Z", "costrouter": {"serves": "gpt-4o-mini"}},
            ],
            "has_more": false, "first_id": "claude-haiku-4-5", "last_id": "fast",
        }));
        assert_eq!(model_list(&[]), json!({"data": [], "has_more": false, "first_id": null, "last_id": null}));
    }

    fn error_of(status: u16, body: &[u8]) -> Value {
        serde_json::from_slice(&error_body(status, body)).unwrap()
    }

    #[test]
    fn refusals_take_anthropics_error_shape_and_type_by_status() {
        let body = br#"{"error":{"message":"Missing required parameter: 'model'.","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}"#;
        assert_eq!(error_of(400, body), json!({"type": "error", "error": {"type": "invalid_request_error", "message": "Missing required parameter: 'model'.", "code": "missing_required_parameter", "param": "model"}}));
        let openai = |t: &str| format!(r#"{{"error":{{"message":"m","type":"{t}","param":null,"code":"c"}}}}"#);
        for (status, kind) in [
            (401, "authentication_error"), (402, "billing_error"), (403, "permission_error"), (404, "not_found_error"), (405, "invalid_request_error"),
            (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (503, "overloaded_error"), (529, "overloaded_error"),
        ] {
            let e = error_of(status, openai("whatever").as_bytes());
            assert_eq!((e["error"]["type"].as_str(), e["error"]["message"].as_str(), e["error"]["code"].as_str()), (Some(kind), Some("m"), Some("c")), "{status}");
            assert!(e["error"]["param"].is_null() && e["error"].get("param").is_some(), "param kept, null as it came");
        }
        assert_eq!(error_of(502, b"Bad gateway\n"), json!({"type": "error", "error": {"type": "api_error", "message": "Bad gateway"}}));
        assert_eq!(error_of(500, b""), json!({"type": "error", "error": {"type": "api_error", "message": "The request failed (HTTP 500)."}}));
        assert_eq!(error_of(404, br#"{"detail":"x"}"#)["error"], json!({"type": "not_found_error", "message": "{\"detail\":\"x\"}"}));
    }
}
