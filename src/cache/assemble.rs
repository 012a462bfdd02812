//! Rebuilds a chat completion from the OpenAI-format stream the client received, so a streamed
//! answer can be cached once it is complete.

use serde_json::{json, Map, Value};

#[derive(Default)]
pub struct CompletionAssembler {
    pending: Vec<u8>,
    head: Option<(Value, Value, Value, Value)>, // id, created, model, system_fingerprint
    choices: Vec<ChoiceParts>,
    broken: bool,
}

#[derive(Default, Clone)]
struct ChoiceParts {
    role: Option<String>,
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Vec<Map<String, Value>>,
    /// Token log probabilities (when the request asked for them) arrive per chunk, a slice of
    /// `logprobs.content` / `logprobs.refusal` each; the completion holds them joined.
    logprobs_content: Option<Vec<Value>>,
    logprobs_refusal: Option<Vec<Value>>,
    finish_reason: Option<String>,
}

impl CompletionAssembler {
    /// Feeds bytes of the client-facing SSE stream (any split).
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" || data.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(data) {
                Ok(chunk) if chunk.get("error").is_none_or(Value::is_null) => self.chunk(&chunk),
                _ => self.broken = true,
            }
        }
    }

    fn chunk(&mut self, c: &Value) {
        // Azure opens with a prompt-filter chunk whose id and model are empty: the head comes
        // from the first chunk that names the completion.
        if self.head.is_none() && c.get("id").and_then(Value::as_str).is_some_and(|id| !id.is_empty()) {
            let f = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
            self.head = Some((f("id"), f("created"), f("model"), f("system_fingerprint")));
        }
        for choice in c.get("choices").and_then(Value::as_array).into_iter().flatten() {
            let i = choice.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if i > 128 {
                self.broken = true;
                return;
            }
            if self.choices.len() <= i {
                self.choices.resize(i + 1, ChoiceParts::default());
            }
            let parts = &mut self.choices[i];
            let delta = choice.get("delta").cloned().unwrap_or(Value::Null);
            if carries_unknown_parts(&delta) {
                // A part this rebuild does not keep (a legacy `function_call`, a host's
                // `reasoning_content`, Claude's `thinking_blocks`): the replay would lack it, so
                // the answer is not cached.
                self.broken = true;
                return;
            }
            if let Some(r) = delta.get("role").and_then(Value::as_str) {
                parts.role = Some(r.to_string());
            }
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                parts.content.get_or_insert_with(String::new).push_str(t);
            }
            if let Some(t) = delta.get("refusal").and_then(Value::as_str) {
                parts.refusal.get_or_insert_with(String::new).push_str(t);
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                // A delta without an index, or a new call id at an index already taken, cannot be
                // told apart from its neighbours: joined, two calls would replay as one with both
                // names and both argument strings. (Ollama's every-call-at-index-0 streams arrive
                // here renumbered by the OpenAI stream translator; this guards any other.)
                let Some(k) = call.get("index").and_then(Value::as_u64).map(|k| k as usize).filter(|k| *k <= 128) else {
                    self.broken = true;
                    return;
                };
                while parts.tool_calls.len() <= k {
                    parts.tool_calls.push(Map::new());
                }
                let slot = &mut parts.tool_calls[k];
                let id = call.get("id").and_then(Value::as_str);
                if id.is_some_and(|id| slot.get("id").and_then(Value::as_str).is_some_and(|known| known != id)) {
                    self.broken = true;
                    return;
                }
                for field in ["id", "type"] {
                    if let Some(v) = call.get(field).filter(|v| !v.is_null()) {
                        slot.insert(field.into(), v.clone());
                    }
                }
                // A Gemini call's thought signature comes whole with the call's first delta;
                // kept as it came, so a replay hands the client the same one.
                if let Some(v) = call.get("extra_content").filter(|v| !v.is_null()) {
                    slot.entry("extra_content").or_insert_with(|| v.clone());
                }
                let f = slot.entry("function").or_insert_with(|| json!({"name": "", "arguments": ""}));
                for field in ["name", "arguments"] {
                    if let Some(s) = call.pointer(&format!("/function/{field}")).and_then(Value::as_str) {
                        let joined = format!("{}{s}", f[field].as_str().unwrap_or(""));
                        f[field] = Value::String(joined);
                    }
                }
            }
            if let Some(logprobs) = choice.get("logprobs").filter(|l| !l.is_null()) {
                for (field, joined) in [("content", &mut parts.logprobs_content), ("refusal", &mut parts.logprobs_refusal)] {
                    if let Some(tokens) = logprobs.get(field).and_then(Value::as_array) {
                        joined.get_or_insert_with(Vec::new).extend(tokens.iter().cloned());
                    }
                }
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                parts.finish_reason = Some(r.to_string());
            }
        }
    }

    /// The completion, if the stream was whole: every choice finished, nothing unreadable and
    /// nothing this rebuild would drop.
    pub fn finish(self) -> Option<Value> {
        let (id, created, model, fingerprint) = self.head?;
        if self.broken || self.choices.is_empty() || self.choices.iter().any(|c| c.finish_reason.is_none()) {
            return None;
        }
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut message = json!({"role": c.role.unwrap_or_else(|| "assistant".into()), "content": c.content});
                if let Some(r) = c.refusal {
                    message["refusal"] = json!(r);
                }
                if !c.tool_calls.is_empty() {
                    message["tool_calls"] = Value::Array(c.tool_calls.into_iter().map(Value::Object).collect());
                }
                let logprobs = match (c.logprobs_content, c.logprobs_refusal) {
                    (None, None) => Value::Null,
                    (content, refusal) => json!({"content": content, "refusal": refusal}),
                };
                json!({"index": i, "message": message, "logprobs": logprobs, "finish_reason": c.finish_reason})
            })
            .collect();
        let mut completion = json!({"id": id, "object": "chat.completion", "created": created, "model": model, "choices": choices});
        if !fingerprint.is_null() {
            completion["system_fingerprint"] = fingerprint;
        }
        Some(completion)
    }
}

/// Whether a chunk's `delta` holds anything besides the parts [`CompletionAssembler`] rebuilds
/// (`role`, `content`, `refusal`, tool calls' `index` / `id` / `type` / `function.name` /
/// `function.arguments`). Nulls, empty values, numbers and booleans (per-token metadata such as
/// Together's `token_id`) are no part of the answer.
fn carries_unknown_parts(delta: &Value) -> bool {
    fn has_value(v: &Value) -> bool {
        match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Null | Value::Number(_) | Value::Bool(_) => false,
        }
    }
    fn unknown(obj: Option<&Map<String, Value>>, known: &[&str]) -> bool {
        obj.is_some_and(|o| o.iter().any(|(k, v)| !known.contains(&k.as_str()) && has_value(v)))
    }
    unknown(delta.as_object(), &["role", "content", "refusal", "tool_calls"])
        // Content as parts (Mistral's reasoning models): the rebuild joins text only.
        || delta.get("content").is_some_and(|c| !c.is_string() && has_value(c))
        || delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten().any(|call| {
            unknown(call.as_object(), &["index", "id", "type", "function", "extra_content"]) || unknown(call.get("function").and_then(Value::as_object), &["name", "arguments"])
        })
}
