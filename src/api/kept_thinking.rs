//! Thinking blocks the router keeps for clients that drop them.
//!
//! A Claude model that always thinks (Opus and Sonnet 5.5, Fable, Mythos) refuses the call after
//! a tool call unless it is given back the thinking blocks it wrote with that call, and it cannot
//! be told not to think. OpenAI's message format has no place for them: the router adds them to
//! the assistant message as `thinking_blocks` (LiteLLM's name), which the official SDKs keep when
//! a client sends the message back as it came, but clients that rebuild messages from their own
//! types (LangChain, most agent frameworks) drop. So, for a model that needs them
//! (`Provider::needs_thinking_returned`), the router keeps each answer's blocks itself, in the
//! tenant's store of kept items, under the id of the first tool call they came with, and gives
//! them back to a later request whose assistant message names that call without them.
//!
//! This module is the pure part: what of an answer (whole or streamed) to keep, which kept blocks
//! a request is missing, and putting them back. `edge::response_items` keeps and reads them.

use std::collections::HashMap;

use serde_json::Value;

use super::chat::{ChatRequest, Message, Role, THINKING_BLOCKS};
use super::responses::stored_items::{MAX_ID_BYTES, MAX_ITEM_BYTES, MAX_REFERENCES};

/// Kept blocks' ids: apart from the Responses API's item ids (`msg_`, `rs_`, `fc_`) in the same
/// store.
const ID_PREFIX: &str = "thinking:";

/// The id a tool call's thinking blocks are kept under.
pub fn kept_id(tool_call_id: &str) -> String {
    format!("{ID_PREFIX}{tool_call_id}")
}

/// Whether `id` names kept thinking, not an item a Responses request may refer to.
pub fn is_kept_id(id: &str) -> bool {
    id.starts_with(ID_PREFIX)
}

/// Whether kept thinking is small enough to keep as one item ([`MAX_ITEM_BYTES`]): a larger one
/// is left out, as a Responses item is, rather than fail the put of the answer's other items.
pub fn fits((id, blocks): &(String, Value)) -> bool {
    id.len() + blocks.to_string().len() <= MAX_ITEM_BYTES
}

/// What to keep of a whole chat completion: its first choice's thinking blocks under its first
/// tool call, when it called tools and thought (an answer without a tool call needs none back:
/// Anthropic wants only the thinking of a turn a tool loop continues).
pub fn of_answer(completion: &Value) -> Option<(String, Value)> {
    let message = completion.pointer("/choices/0/message")?;
    let call = message.get("tool_calls")?.as_array()?.first()?.get("id")?.as_str()?;
    let blocks = message.get(THINKING_BLOCKS).filter(|b| b.as_array().is_some_and(|b| !b.is_empty()))?;
    Some((kept_id(call), blocks.clone()))
}

/// What to keep of a streamed answer, gathered chunk by chunk: the first choice's thinking
/// blocks (`delta.thinking_blocks`, together before the finish or each as it ends) and its
/// first tool call's id (on the call's first delta).
#[derive(Debug, Default)]
pub struct StreamedThinking {
    first_call: Option<String>,
    blocks: Vec<Value>,
}

impl StreamedThinking {
    pub fn on_chunk(&mut self, chunk: &Value) {
        let Some(delta) = chunk.get("choices").and_then(Value::as_array).into_iter().flatten().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0).and_then(|c| c.get("delta")) else {
            return;
        };
        if self.first_call.is_none() {
            self.first_call = delta.pointer("/tool_calls/0/id").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(blocks) = delta.get(THINKING_BLOCKS).and_then(Value::as_array) {
            self.blocks.extend(blocks.iter().cloned());
        }
    }

    /// As [`of_answer`], once the stream has ended.
    pub fn kept(&self) -> Option<(String, Value)> {
        let call = self.first_call.as_deref()?;
        (!self.blocks.is_empty()).then(|| (kept_id(call), Value::Array(self.blocks.clone())))
    }
}

/// The kept ids of the thinking a request's tool loop lacks: each assistant message after the
/// last user message (the turns of the loop the request continues, whose thinking Anthropic
/// wants back) that called tools and came without `thinking_blocks`, by its first call; each
/// once, at most [`MAX_REFERENCES`] of them, of ids no longer than a Responses item's.
pub fn missing(req: &ChatRequest) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for call in req.messages[loop_start(req)..].iter().filter(|m| lacks_thinking(m)).filter_map(|m| m.tool_calls.as_ref()?.first()) {
        let id = kept_id(&call.id);
        if call.id.is_empty() || call.id.len() > MAX_ID_BYTES || ids.contains(&id) {
            continue;
        }
        if ids.len() == MAX_REFERENCES {
            break;
        }
        ids.push(id);
    }
    ids
}

/// Where the tool loop a request continues starts: after its last user message.
fn loop_start(req: &ChatRequest) -> usize {
    req.messages.iter().rposition(|m| m.role == Role::User).map_or(0, |i| i + 1)
}

/// An assistant message sent back without thinking blocks (none, `null` or an empty list).
fn lacks_thinking(m: &Message) -> bool {
    m.role == Role::Assistant && m.extra.get(THINKING_BLOCKS).and_then(Value::as_array).is_none_or(|b| b.is_empty())
}

/// Gives `found` (kept id → blocks as kept, JSON text) back to the messages [`missing`] names,
/// as the `thinking_blocks` a client that kept them would have sent; a text that is not a list
/// of blocks is left out. Returns how many messages got theirs.
pub fn restore(req: &mut ChatRequest, found: &HashMap<String, String>) -> usize {
    let start = loop_start(req);
    let mut restored = 0;
    for m in req.messages[start..].iter_mut().filter(|m| lacks_thinking(m)) {
        let Some(kept) = m.tool_calls.as_ref().and_then(|calls| calls.first()).and_then(|call| found.get(&kept_id(&call.id))) else { continue };
        if let Ok(blocks @ Value::Array(_)) = serde_json::from_str::<Value>(kept) {
            m.extra.insert(THINKING_BLOCKS.to_string(), blocks);
            restored += 1;
        }
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blocks() -> Value {
        json!([{"type": "thinking", "thinking": "The user wants Oslo.", "signature": "sig", "model": "claude-opus-5-5"}])
    }

    fn request(messages: Value) -> ChatRequest {
        ChatRequest::from_value(json!({"model": "claude-opus-5-5", "messages": messages})).unwrap()
    }

    fn call(id: &str) -> Value {
        json!({"id": id, "type": "function", "function": {"name": "weather", "arguments": "{}"}})
    }

    #[test]
    fn an_answer_keeps_its_thinking_under_its_first_tool_call() {
        let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "thinking_blocks": blocks(), "tool_calls": [call("toolu_1"), call("toolu_2")]}}]});
        assert_eq!(of_answer(&answer), Some(("thinking:toolu_1".to_string(), blocks())));
        let no_call = json!({"choices": [{"message": {"role": "assistant", "content": "Sunny.", "thinking_blocks": blocks()}}]});
        assert_eq!(of_answer(&no_call), None, "nothing continues an answer without a tool call");
        let no_thinking = json!({"choices": [{"message": {"role": "assistant", "tool_calls": [call("toolu_1")]}}]});
        assert_eq!(of_answer(&no_thinking), None);
        let empty = json!({"choices": [{"message": {"role": "assistant", "tool_calls": [call("toolu_1")], "thinking_blocks": []}}]});
        assert_eq!(of_answer(&empty), None);
    }

    #[test]
    fn a_stream_keeps_what_its_chunks_carried() {
        let mut streamed = StreamedThinking::default();
        for chunk in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "The user"}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "toolu_9", "type": "function", "function": {"name": "weather", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "toolu_10", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 1, "delta": {"thinking_blocks": [{"type": "thinking", "thinking": "another choice"}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"thinking_blocks": blocks()}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 1}}),
        ] {
            streamed.on_chunk(&chunk);
        }
        assert_eq!(streamed.kept(), Some(("thinking:toolu_9".to_string(), blocks())));
        let mut text_only = StreamedThinking::default();
        text_only.on_chunk(&json!({"choices": [{"index": 0, "delta": {"thinking_blocks": blocks()}}]}));
        assert_eq!(text_only.kept(), None);
    }

    #[test]
    fn a_tool_loop_missing_its_thinking_gets_it_back() {
        let mut req = request(json!([
            {"role": "user", "content": "Weather in Oslo and Bergen, earlier?"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_old")]},
            {"role": "tool", "tool_call_id": "toolu_old", "content": "rain"},
            {"role": "assistant", "content": "Rain."},
            {"role": "user", "content": "And now?"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_1")]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sun"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_2"), call("toolu_3")], "thinking_blocks": blocks()},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "sun"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_4")], "thinking_blocks": null},
            {"role": "tool", "tool_call_id": "toolu_4", "content": "sun"},
        ]));
        // Only the loop the request continues (after its last user message), only where none came.
        assert_eq!(missing(&req), ["thinking:toolu_1", "thinking:toolu_4"]);
        let found = HashMap::from([("thinking:toolu_4".to_string(), blocks().to_string()), ("thinking:toolu_old".to_string(), blocks().to_string())]);
        assert_eq!(restore(&mut req, &found), 1);
        assert_eq!(req.messages[9].extra[THINKING_BLOCKS], blocks());
        assert!(!req.messages[5].extra.contains_key(THINKING_BLOCKS), "not found: left as it came");
        assert!(!req.messages[1].extra.contains_key(THINKING_BLOCKS), "an earlier loop's thinking is not wanted");
        assert_eq!(missing(&req), ["thinking:toolu_1"]);
        let garbled = HashMap::from([("thinking:toolu_1".to_string(), "{\"not\":\"a list\"}".to_string())]);
        assert_eq!(restore(&mut req, &garbled), 0);
        assert!(missing(&request(json!([{"role": "user", "content": "hi"}]))).is_empty());
        // A call left unanswered just before the last user message is an earlier loop's.
        let mut after_unanswered = request(json!([
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_old")]},
            {"role": "user", "content": "Never mind: Bergen?"},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_5")]},
            {"role": "tool", "tool_call_id": "toolu_5", "content": "sun"},
        ]));
        assert_eq!(missing(&after_unanswered), ["thinking:toolu_5"]);
        assert_eq!(restore(&mut after_unanswered, &found), 0, "toolu_old's thinking is kept, and not wanted");
    }

    #[test]
    fn a_request_asks_for_each_id_once_and_within_the_store_s_bounds() {
        let long = "t".repeat(MAX_ID_BYTES + 1);
        let mut messages = vec![json!({"role": "user", "content": "go"})];
        let longest = "t".repeat(MAX_ID_BYTES);
        for id in ["toolu_1", "toolu_1", "", long.as_str(), longest.as_str(), "toolu_2"] {
            messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call(id)]}));
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": "ok"}));
        }
        assert_eq!(missing(&request(Value::Array(messages))), ["thinking:toolu_1".to_string(), kept_id(&longest), "thinking:toolu_2".to_string()]);
        let mut many = vec![json!({"role": "user", "content": "go"})];
        many.extend((0..MAX_REFERENCES + 5).map(|i| json!({"role": "assistant", "content": null, "tool_calls": [call(&format!("toolu_{i}"))]})));
        assert_eq!(missing(&request(Value::Array(many))).len(), MAX_REFERENCES);
        assert!(is_kept_id("thinking:toolu_1") && !is_kept_id("msg_1"));
        assert!(fits(&(kept_id("toolu_1"), blocks())));
        let id = kept_id("toolu_1");
        let at_bound = MAX_ITEM_BYTES - id.len() - r#"[{"t":""}]"#.len();
        assert!(fits(&(id.clone(), json!([{"t": "x".repeat(at_bound)}]))), "id and blocks together, up to the bound");
        assert!(!fits(&(id, json!([{"t": "x".repeat(at_bound + 1)}]))));
        assert!(!fits(&(kept_id("toolu_1"), json!([{"type": "thinking", "thinking": "x".repeat(MAX_ITEM_BYTES)}]))), "left out rather than fail the put");
    }
}
