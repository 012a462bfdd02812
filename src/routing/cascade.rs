//! Cascade: is a cheap model's answer good enough, or should the request escalate?
//!
//! An answer escalates when it fails what the request demanded (its JSON schema, or JSON at
//! all), refuses, stops on its length cap, calls a tool with arguments that are not JSON, or its
//! mean token logprob is below the policy's threshold. The checks are cheap and deterministic.

use serde_json::Value;

use crate::api::chat::{ChatRequest, ResponseFormat};

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    Escalate(String),
}

/// Openings of a refusal, lower-cased, with straight apostrophes (a curly one is read as one);
/// matched at the start of the answer only, so an answer that merely mentions being unable to do
/// something is not a refusal.
const REFUSAL_OPENINGS: &[&str] = &[
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to",
    "i am unable to",
    "i won't be able to",
    "sorry, i can't",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "i'm sorry, but i cannot",
    "i apologize, but i can't",
    "i apologize, but i cannot",
];

/// The most output tokens one answer may have, for this request (an adapter's or a model's own
/// cap; `None`: not known to be capped).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutputCaps {
    /// The model that answered.
    pub answered: Option<u64>,
    /// The model the cascade would escalate to.
    pub stronger: Option<u64>,
    /// That model reasons within its cap too (its pricing row's `supports_reasoning`).
    pub stronger_reasons: bool,
}

/// The stronger model's cap alone.
impl From<Option<u64>> for OutputCaps {
    fn from(stronger: Option<u64>) -> Self {
        OutputCaps { answered: None, stronger, stronger_reasons: false }
    }
}

/// Every choice is judged (with `n` > 1, one weak choice is as served as the first): the first
/// that fails escalates, its reason naming it when there are several.
pub fn judge(answer: &Value, req: &ChatRequest, min_logprob: Option<f64>, caps: impl Into<OutputCaps>) -> Verdict {
    let caps = caps.into();
    let choices = answer.get("choices").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if choices.is_empty() {
        return Verdict::Escalate("no choices".into());
    }
    // What a choice cut on length wrote: usage's count for a single answer; with several, usage
    // counts them all and a cap bounds each, so the answering model's cap (a choice cut without
    // a client cap wrote just that), or, not known, each choice's share.
    let usage = answer.pointer("/usage/completion_tokens").and_then(Value::as_u64);
    let written = match choices.len() {
        1 => usage,
        n => caps.answered.or(usage.map(|all| all.div_ceil(n as u64))),
    };
    let stronger_cap = caps.stronger;
    // The cap went partly on reasoning a stronger model that does not reason would have written
    // its answer with; one that reasons would spend it so too.
    let reasoned = !caps.stronger_reasons && answer.pointer("/usage/completion_tokens_details/reasoning_tokens").and_then(Value::as_u64).is_some_and(|r| r > 0);
    for (i, choice) in choices.iter().enumerate() {
        if let Verdict::Escalate(why) = judge_choice(choice, written, reasoned, req, min_logprob, stronger_cap) {
            return Verdict::Escalate(if choices.len() > 1 { format!("choice {i}: {why}") } else { why });
        }
    }
    Verdict::Accept
}

fn judge_choice(choice: &Value, written: Option<u64>, reasoned: bool, req: &ChatRequest, min_logprob: Option<f64>, stronger_cap: Option<u64>) -> Verdict {
    let finish = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("");
    // Cut off by the client's own cap, or by a cap the stronger model would stop at as soon, a
    // stronger model would be cut off at the same length: both paid, the same cut answer
    // served. Unless nothing was written (a reasoning model spent the cap thinking).
    let message = choice.get("message").cloned().unwrap_or(Value::Null);
    let content = content_text(&message);
    // Text, a refusal, tool calls, a legacy `function_call`, audio, or OpenRouter's generated
    // `images`: what a client is shown (as the cache judges an answer worth keeping).
    let wrote = crate::cache::shows_something(choice) || message.get("images").and_then(Value::as_array).is_some_and(|i| !i.is_empty());
    let stronger_writes_more = match (stronger_cap, written) {
        (Some(cap), Some(written)) => cap > written,
        _ => true,
    };
    if finish == "length" && (!wrote || (req.max_output_tokens().is_none() && stronger_writes_more)) {
        return Verdict::Escalate("stopped on length".into());
    }
    if finish == "content_filter" {
        return Verdict::Escalate("content filter".into());
    }
    if message.get("refusal").and_then(Value::as_str).is_some_and(|r| !r.is_empty()) {
        return Verdict::Escalate("refusal".into());
    }
    // Nothing at all (Gemini's STOP with no parts; a host's empty completion): the client would
    // be served an empty answer the stronger model may well fill.
    if !wrote {
        return Verdict::Escalate("empty answer".into());
    }
    let opening: String = content.trim_start().chars().take(40).collect::<String>().to_lowercase().replace('’', "'");
    if REFUSAL_OPENINGS.iter().any(|r| opening.starts_with(r)) {
        return Verdict::Escalate("refusal".into());
    }
    let content = content.as_str();
    let calls = message.get("tool_calls").and_then(Value::as_array).filter(|c| !c.is_empty());
    if let Some(calls) = calls {
        // A custom tool's input is free text: only function calls carry JSON arguments.
        for call in calls.iter().filter(|c| c.get("function").is_some()) {
            let args = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("");
            if serde_json::from_str::<Value>(args).map_or(true, |v| !v.is_object()) {
                return Verdict::Escalate("tool call arguments are not a JSON object".into());
            }
        }
    }
    // A tool call is the answer of this turn; the JSON format applies to the final text answer.
    // An answer cut at the client's own cap (else it escalated above) is cut JSON, and the
    // stronger model's would be cut at the same length; unless the cap went on reasoning, which
    // a stronger model that does not reason would have written JSON with.
    let format = if calls.is_some() || (finish == "length" && !reasoned) { None } else { req.response_format.as_ref() };
    match format {
        Some(ResponseFormat::JsonObject { .. }) => match serde_json::from_str::<Value>(content) {
            Ok(v) if v.is_object() => {}
            _ => return Verdict::Escalate("answer is not a JSON object".into()),
        },
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let parsed = match serde_json::from_str::<Value>(content) {
                Ok(v) => v,
                Err(_) => return Verdict::Escalate("answer is not JSON".into()),
            };
            if let Some(schema) = &json_schema.schema {
                if let Err(problem) = check_schema(&parsed, schema, "$") {
                    return Verdict::Escalate(format!("answer fails the JSON schema: {problem}"));
                }
            }
        }
        _ => {}
    }
    if let Some(threshold) = min_logprob {
        let logprobs: Vec<f64> = match choice.pointer("/logprobs/content").and_then(Value::as_array) {
            Some(tokens) => tokens.iter().filter_map(|t| t.get("logprob").and_then(Value::as_f64)).collect(),
            // Together's shape (the legacy completions'): one list of numbers.
            None => choice.pointer("/logprobs/token_logprobs").and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_f64).collect()).unwrap_or_default(),
        };
        if !logprobs.is_empty() {
            let mean = logprobs.iter().sum::<f64>() / logprobs.len() as f64;
            if mean < threshold {
                return Verdict::Escalate(format!("mean logprob {mean:.2} below {threshold}"));
            }
        }
    }
    Verdict::Accept
}

/// A message's text: its `content`, or the text of its parts (Mistral's reasoning models answer
/// in parts).
fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts.iter().filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text")).filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

/// The JSON Schema subset structured outputs use: `type` (incl. lists), `properties`,
/// `required`, `items`, `enum`, `const`, `additionalProperties: false`, `anyOf`.
/// Keywords outside it are ignored (never a reason to escalate).
pub fn check_schema(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else { return Ok(()) };
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|alt| check_schema(value, alt, path).is_ok()) {
            return Err(format!("{path} matches none of anyOf"));
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(value, t)) {
            return Err(format!("{path} should be {}", types.join(" or ")));
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!("{path} is not one of the allowed values"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            return Err(format!("{path} should be {c}"));
        }
    }
    if let Some(obj) = value.as_object() {
        for key in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                return Err(format!("{path} is missing required '{key}'"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check_schema(v, sub, &format!("{path}.{k}"))?,
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{path} has unexpected property '{k}'"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_schema(v, items, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn type_matches(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(extra: &str) -> ChatRequest {
        ChatRequest::parse(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#).as_bytes()).unwrap()
    }

    fn answer(content: &str, finish: &str) -> Value {
        json!({"choices":[{"index":0,"message":{"role":"assistant","content":content},"finish_reason":finish}]})
    }

    const SCHEMA: &str = r#","response_format":{"type":"json_schema","json_schema":{"name":"t","schema":{"type":"object","required":["label","score"],"additionalProperties":false,
        "properties":{"label":{"type":"string","enum":["spam","ham"]},"score":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}}}}}}"#;

    #[test]
    fn a_tool_call_turn_is_not_held_to_the_json_format() {
        let call = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"c","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"d","type":"custom","custom":{"name":"sh","input":"ls -l"}}]},"finish_reason":"tool_calls"}]});
        assert_eq!(judge(&call, &req(SCHEMA), None, None), Verdict::Accept);
        assert_eq!(judge(&call, &req(r#","response_format":{"type":"json_object"}"#), None, None), Verdict::Accept);
    }

    #[test]
    fn an_empty_answer_escalates() {
        // Gemini's STOP with no parts reads as "" (and a host may send null or whitespace).
        for content in [json!(""), json!("  \n"), Value::Null, json!([])] {
            let empty = json!({"choices":[{"index":0,"message":{"role":"assistant","content":content},"finish_reason":"stop"}]});
            assert_eq!(judge(&empty, &req(""), None, None), Verdict::Escalate("empty answer".into()), "{content}");
        }
        // An audio answer has no text, nor has a legacy function call or OpenRouter's images.
        let audio = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"audio":{"id":"a","data":"UklGR","transcript":"hi"}},"finish_reason":"stop"}]});
        assert_eq!(judge(&audio, &req(""), None, None), Verdict::Accept);
        let function_call = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"function_call":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},"finish_reason":"function_call"}]});
        assert_eq!(judge(&function_call, &req(""), None, None), Verdict::Accept);
        let images = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"","images":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}]},"finish_reason":"stop"}]});
        assert_eq!(judge(&images, &req(""), None, None), Verdict::Accept);
    }

    #[test]
    fn refusals_with_curly_apostrophes_escalate() {
        for text in ["I can’t help with that.", "I’m unable to do that.", "Sorry, I can’t.", "I apologize, but I can’t do this."] {
            assert_eq!(judge(&answer(text, "stop"), &req(""), None, None), Verdict::Escalate("refusal".into()), "{text}");
        }
    }

    #[test]
    fn an_answer_in_parts_is_judged_by_its_text() {
        let parts = |text: &str| json!({"choices":[{"index":0,"message":{"role":"assistant","content":[
            {"type":"thinking","thinking":[{"type":"text","text":"let me see"}]},{"type":"text","text":text}]},"finish_reason":"stop"}]});
        let json_mode = req(r#","response_format":{"type":"json_object"}"#);
        assert_eq!(judge(&parts(r#"{"a":1}"#), &json_mode, None, None), Verdict::Accept);
        assert_eq!(judge(&parts("I'm unable to answer."), &req(""), None, None), Verdict::Escalate("refusal".into()));
    }

    #[test]
    fn json_cut_at_the_clients_own_cap_is_not_escalated() {
        // The stronger model would be cut at the same five tokens: both paid, the same cut JSON.
        let capped = req(r#","max_tokens":5,"response_format":{"type":"json_object"}"#);
        assert_eq!(judge(&answer(r#"{"label": "sp"#, "length"), &capped, None, None), Verdict::Accept);
        // Not cut, it must be JSON.
        assert_eq!(judge(&answer(r#"{"label": "sp"#, "stop"), &capped, None, None), Verdict::Escalate("answer is not a JSON object".into()));
        // Cut after spending the cap on reasoning: a stronger model that does not reason had it
        // all for the answer.
        let mut reasoned = answer(r#"{"label": "sp"#, "length");
        reasoned["usage"] = json!({"completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 4}});
        assert_eq!(judge(&reasoned, &capped, None, None), Verdict::Escalate("answer is not a JSON object".into()));
        // A stronger model that reasons would spend the cap the same way: kept.
        let reasoning_stronger = OutputCaps { answered: None, stronger: None, stronger_reasons: true };
        assert_eq!(judge(&reasoned, &capped, None, reasoning_stronger), Verdict::Accept);
    }

    #[test]
    fn accepts_good_answers() {
        assert_eq!(judge(&answer("Paris.", "stop"), &req(""), None, None), Verdict::Accept);
        assert_eq!(judge(&answer(r#"{"label":"spam","score":0.9,"tags":["a"]}"#, "stop"), &req(SCHEMA), None, None), Verdict::Accept);
        assert_eq!(judge(&answer("I can't wait to help! Here it is.", "stop"), &req(""), None, None), Verdict::Accept);
    }

    #[test]
    fn escalates_weak_answers() {
        let cases = [
            (answer("Paris", "length"), "", "stopped on length"),
            (answer("I'm sorry, but I can't help with that.", "stop"), "", "refusal"),
            (answer("not json", "stop"), r#","response_format":{"type":"json_object"}"#, "not a JSON object"),
            (answer(r#"{"label":"spam"}"#, "stop"), SCHEMA, "missing required 'score'"),
            (answer(r#"{"label":"eggs","score":1}"#, "stop"), SCHEMA, "$.label is not one of"),
            (answer(r#"{"label":"ham","score":"high"}"#, "stop"), SCHEMA, "$.score should be number"),
            (answer(r#"{"label":"ham","score":1,"extra":1}"#, "stop"), SCHEMA, "unexpected property 'extra'"),
            (answer(r#"{"label":"ham","score":1,"tags":[3]}"#, "stop"), SCHEMA, "$.tags[0] should be string"),
        ];
        for (a, extra, needle) in cases {
            match judge(&a, &req(extra), None, None) {
                Verdict::Escalate(why) => assert!(why.contains(needle), "{needle}: {why}"),
                Verdict::Accept => panic!("{needle}: accepted"),
            }
        }
        for opening in ["I'm sorry, I can't assist with that.", "I apologize, but I cannot share that."] {
            assert_eq!(judge(&answer(opening, "stop"), &req(""), None, None), Verdict::Escalate("refusal".into()), "{opening}");
        }
        // Cut off by the client's own cap: a stronger model would stop at the same length.
        assert_eq!(judge(&answer("Paris is", "length"), &req(r#","max_tokens":3"#), None, None), Verdict::Accept);
        assert_eq!(judge(&answer("", "length"), &req(r#","max_tokens":300"#), None, None), Verdict::Escalate("stopped on length".into()), "all of it spent thinking");
        // No client cap: cut at 16,384 tokens, it escalates only to a model that may write more.
        let mut cut = answer("A long essay", "length");
        cut["usage"] = json!({"prompt_tokens": 10, "completion_tokens": 16384});
        assert_eq!(judge(&cut, &req(""), None, Some(16384)), Verdict::Accept, "the stronger model stops at the same length");
        assert_eq!(judge(&cut, &req(""), None, Some(64000)), Verdict::Escalate("stopped on length".into()));
        assert_eq!(judge(&cut, &req(""), None, None), Verdict::Escalate("stopped on length".into()), "no known cap");
        // Two choices cut at 16,384 each: usage says 32,768, a stronger cap bounds each answer.
        let choice = cut["choices"][0].clone();
        cut["choices"] = json!([choice.clone(), choice]);
        cut["usage"]["completion_tokens"] = json!(32768);
        assert_eq!(judge(&cut, &req(r#","n":2"#), None, Some(32768)), Verdict::Escalate("choice 0: stopped on length".into()), "each may be twice as long");
        assert_eq!(judge(&cut, &req(r#","n":2"#), None, Some(16384)), Verdict::Accept);
        // One choice cut at the answering model's cap of 16,384, the other short: usage says
        // 16,884, but the cut one wrote 16,384, which a stronger model capped alike also stops at.
        let mut uneven = cut.clone();
        uneven["choices"][1]["finish_reason"] = json!("stop");
        uneven["usage"]["completion_tokens"] = json!(16884);
        let caps = |answered, stronger| OutputCaps { answered: Some(answered), stronger: Some(stronger), stronger_reasons: false };
        assert_eq!(judge(&uneven, &req(r#","n":2"#), None, caps(16384, 16384)), Verdict::Accept);
        assert_eq!(judge(&uneven, &req(r#","n":2"#), None, caps(16384, 32768)), Verdict::Escalate("choice 0: stopped on length".into()));
        let refusal = json!({"choices":[{"message":{"role":"assistant","content":null,"refusal":"No."},"finish_reason":"stop"}]});
        assert_eq!(judge(&refusal, &req(""), None, None), Verdict::Escalate("refusal".into()));
        let bad_tool = json!({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]},"finish_reason":"tool_calls"}]});
        assert!(matches!(judge(&bad_tool, &req(""), None, None), Verdict::Escalate(_)));
    }

    #[test]
    fn low_confidence_escalates_only_with_a_threshold() {
        let a = json!({"choices":[{"message":{"role":"assistant","content":"maybe"},"finish_reason":"stop",
            "logprobs":{"content":[{"token":"may","logprob":-2.5},{"token":"be","logprob":-1.5}]}}]});
        assert_eq!(judge(&a, &req(""), None, None), Verdict::Accept);
        assert_eq!(judge(&a, &req(""), Some(-1.0), None), Verdict::Escalate("mean logprob -2.00 below -1".into()));
        assert_eq!(judge(&a, &req(""), Some(-3.0), None), Verdict::Accept);
        // Together's logprobs: a list of numbers beside the tokens.
        let together = json!({"choices":[{"message":{"role":"assistant","content":"maybe"},"finish_reason":"stop",
            "logprobs":{"tokens":["may","be"],"token_logprobs":[-4.0,-5.0]}}]});
        assert_eq!(judge(&together, &req(""), Some(-0.5), None), Verdict::Escalate("mean logprob -4.50 below -0.5".into()));
    }

    #[test]
    fn every_choice_is_judged() {
        let good = json!({"index": 0, "message": {"role": "assistant", "content": r#"{"label":"spam","score":0.9}"#}, "finish_reason": "stop"});
        let bad = json!({"index": 1, "message": {"role": "assistant", "content": "not json"}, "finish_reason": "stop"});
        let two = json!({"choices": [good.clone(), bad]});
        assert_eq!(judge(&two, &req(SCHEMA), None, None), Verdict::Escalate("choice 1: answer is not JSON".into()));
        assert_eq!(judge(&json!({"choices": [good.clone(), good]}), &req(SCHEMA), None, None), Verdict::Accept);
        assert_eq!(judge(&json!({"choices": []}), &req(""), None, None), Verdict::Escalate("no choices".into()));
    }

    #[test]
    fn edges_of_the_judgement() {
        // Reasoning counted as 0 tokens is no cap spent on reasoning: cut JSON is kept.
        let capped = req(r#","max_tokens":5,"response_format":{"type":"json_object"}"#);
        let mut unreasoned = answer(r#"{"label": "sp"#, "length");
        unreasoned["usage"] = json!({"completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 0}});
        assert_eq!(judge(&unreasoned, &capped, None, None), Verdict::Accept);
        // JSON mode wants an object: an array or a number is JSON and still escalates.
        for not_object in ["[1, 2]", "42"] {
            assert_eq!(judge(&answer(not_object, "stop"), &req(r#","response_format":{"type":"json_object"}"#), None, None), Verdict::Escalate("answer is not a JSON object".into()));
        }
        // A mean logprob exactly at the threshold is confident enough.
        let at = json!({"choices":[{"message":{"role":"assistant","content":"yes"},"finish_reason":"stop","logprobs":{"content":[{"token":"yes","logprob":-1.0}]}}]});
        assert_eq!(judge(&at, &req(""), Some(-1.0), None), Verdict::Accept);
        // anyOf is met by any one alternative; a list of types by any one of them.
        let any_of = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert_eq!(check_schema(&json!(3), &any_of, "$"), Ok(()));
        assert_eq!(check_schema(&json!(true), &any_of, "$"), Err("$ matches none of anyOf".into()));
        let nullable = json!({"type": ["string", "null"]});
        assert_eq!(check_schema(&Value::Null, &nullable, "$"), Ok(()));
        assert_eq!(check_schema(&json!(5), &nullable, "$"), Err("$ should be string or null".into()));
    }

    #[test]
    fn every_schema_type_const_and_open_object_is_checked() {
        let typed = |t: &str, v: Value| check_schema(&v, &json!({"type": t}), "$").is_ok();
        for (t, good, bad) in [
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
            ("string", json!("s"), json!(1)),
            ("boolean", json!(false), json!("false")),
            ("null", Value::Null, json!(0)),
            ("number", json!(2.5), json!("2.5")),
            ("integer", json!(3), json!(2.5)),
        ] {
            assert!(typed(t, good.clone()), "{t} takes {good}");
            assert!(!typed(t, bad.clone()), "{t} refuses {bad}");
        }
        assert!(typed("integer", json!(3.0)) && typed("integer", json!(-7)), "a whole number written as a float, or negative");
        assert_eq!(check_schema(&json!("b"), &json!({"const": "a"}), "$"), Err("$ should be \"a\"".into()));
        assert_eq!(check_schema(&json!("a"), &json!({"const": "a"}), "$"), Ok(()));
        // Extra properties pass unless additionalProperties is false.
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(check_schema(&json!({"a": "x", "b": 1}), &open, "$"), Ok(()));
    }
}
