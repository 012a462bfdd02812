//! The semantic cache's rules: which requests it may answer, and the context bucket an answer is
//! filed under. Only the last user turn is compared by meaning (the embedder and index are in
//! `crate::semantic`); everything else must be identical, so the bucket is a hash of the tenant,
//! the model or alias, the embedder, and the whole normalised request except that turn's text:
//! system prompt, earlier turns, tools, response format and every output-changing parameter.
//! A different tenant, model, tool set or earlier turn is a different bucket, never a hit.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::semantic::BucketKey;

// Same fields as the exact key leaves out: delivery and bookkeeping never change an answer.
use super::key::IGNORED;

/// The embedder that ships with the router (weights in KV `CONFIG` key `embedder`).
pub const STATIC_EMBEDDER: &str = "static";

/// Part of every bucket: changing the normalisation, or what an entry holds, changes this. v2:
/// as the exact cache's v3 (streamed Gemini answers stored without their logprobs).
pub const BUCKET_VERSION: &str = "semantic-v2";

/// Longest last turn compared by meaning: a static embedding of a long text is a blur of its
/// words, so long prompts are left to the exact cache.
pub const MAX_TURN_CHARS: usize = 2_000;

/// A request the semantic cache may answer: its bucket and the text compared by meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticQuery {
    pub bucket: BucketKey,
    pub text: String,
}


/// The query for `body` (a validated chat request), or `None` when the last message is not a
/// user turn made only of text, or that text is empty or longer than [`MAX_TURN_CHARS`].
/// `scope` is the answer's scope (`super::answer_scope`): only requests routed alike share answers.
pub fn query(tenant: &str, scope: &str, embedder_id: &str, body: &Value) -> Option<SemanticQuery> {
    let mut normalized = body.clone();
    let map = normalized.as_object_mut()?;
    for field in IGNORED {
        map.remove(*field);
    }
    let last = map.get_mut("messages")?.as_array_mut()?.last_mut()?.as_object_mut()?;
    let text = turn_text(last)?;
    // The turn's text is compared by meaning; anything else on the message (a name) stays.
    last.insert("content".into(), Value::String(String::new()));
    let canonical = super::key::canonical_json(&normalized);
    let mut h = Sha256::new();
    for part in [BUCKET_VERSION, tenant, scope, embedder_id, canonical.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    Some(SemanticQuery { bucket: h.finalize().into(), text })
}

impl SemanticQuery {
    /// The question's own id within its bucket (a hash of its text): a fresh answer to the same
    /// text replaces the stored one by it, since a provider embedder's vector for the same text
    /// can differ from one call to the next by more than quantization lets a similarity tell.
    pub fn question_id(&self) -> String {
        hex::encode(&Sha256::digest(self.text.as_bytes())[..16])
    }
}

/// The text [`query`] would compare for `body`, without its bucket: for an embedder whose vector
/// decides the bucket (the deployment that made it), embedded before the query is made.
pub fn last_turn_text(body: &Value) -> Option<String> {
    turn_text(body.get("messages")?.as_array()?.last()?.as_object()?)
}

/// The text of `last`, a request's last message, if it is a user turn of text alone, neither
/// empty nor longer than [`MAX_TURN_CHARS`].
fn turn_text(last: &serde_json::Map<String, Value>) -> Option<String> {
    if last.get("role").and_then(Value::as_str) != Some("user") {
        return None;
    }
    let text = match last.get("content")? {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut texts = Vec::new();
            for p in parts {
                if p.get("type").and_then(Value::as_str) != Some("text") {
                    return None; // images, audio, files: not compared by meaning
                }
                texts.push(p.get("text").and_then(Value::as_str)?.to_string());
            }
            texts.join("\n")
        }
        _ => return None,
    };
    let text = text.trim().to_string();
    (!text.is_empty() && text.chars().count() <= MAX_TURN_CHARS).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(system: &str, earlier: &str, last: &str) -> Value {
        json!({"model": "gpt-4o-mini", "temperature": 0, "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": earlier},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": last}]})
    }

    #[test]
    fn only_the_last_user_turn_is_left_out_of_the_bucket() {
        let a = query("acme", "gpt-4o-mini", "static", &body("s", "e", "How do I reset my password?")).unwrap();
        let b = query("acme", "gpt-4o-mini", "static", &body("s", "e", "How can I reset my password?")).unwrap();
        assert_eq!(a.bucket, b.bucket);
        assert_eq!(a.text, "How do I reset my password?");
        let q = |t: &str, m: &str, e: &str, b: &Value| query(t, m, e, b).unwrap().bucket;
        let base = body("s", "e", "x");
        assert_ne!(q("globex", "gpt-4o-mini", "static", &base), a.bucket, "tenant");
        assert_ne!(q("acme", "gpt-4o", "static", &base), a.bucket, "model");
        assert_ne!(q("acme", "gpt-4o-mini", "text-embedding-3-small", &base), a.bucket, "embedder");
        assert_ne!(q("acme", "gpt-4o-mini", "static", &body("other", "e", "x")), a.bucket, "system prompt");
        assert_ne!(q("acme", "gpt-4o-mini", "static", &body("s", "other", "x")), a.bucket, "earlier turn");
        let mut tools = base.clone();
        tools["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
        assert_ne!(q("acme", "gpt-4o-mini", "static", &tools), a.bucket, "tools");
        let mut temp = base.clone();
        temp["temperature"] = json!(0.5);
        assert_ne!(q("acme", "gpt-4o-mini", "static", &temp), a.bucket, "parameters");
        let mut delivery = base.clone();
        delivery["stream"] = json!(true);
        delivery["user"] = json!("u1");
        assert_eq!(q("acme", "gpt-4o-mini", "static", &delivery), a.bucket, "delivery and bookkeeping do not matter");
    }

    #[test]
    fn only_plain_text_user_turns_qualify() {
        let mut tool_last = body("s", "e", "x");
        tool_last["messages"].as_array_mut().unwrap().push(json!({"role": "tool", "tool_call_id": "c", "content": "42"}));
        assert!(query("a", "m", "static", &tool_last).is_none());
        let image = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]});
        assert!(query("a", "m", "static", &image).is_none());
        let parts = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
        assert_eq!(query("a", "m", "static", &parts).unwrap().text, "a\nb");
        assert!(query("a", "m", "static", &body("s", "e", "   ")).is_none());
        assert!(query("a", "m", "static", &body("s", "e", &"x".repeat(MAX_TURN_CHARS + 1))).is_none());
    }
}
