//! The output items of `/v1/responses` answers, kept so that a later request can name them by
//! id (`{"type": "item_reference", "id": "msg_…"}`): what OpenAI's `store` (true unless a
//! request says `false`) lets a client do, and what the Vercel AI SDK does by default with the
//! earlier turns of a conversation (their text and reasoning; AI SDK 5 its function calls too).
//!
//! This is the plain part: which ids a request names, the request with the items put in their
//! place, which items of an answer are kept, and the tenant's setting. The items live in the
//! tenant's `ResponseItems` Durable Object (`edge::response_items`) for `store_days`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::ApiError;

/// OpenAI keeps stored responses 30 days; the router keeps them no longer.
pub const MAX_STORE_DAYS: u32 = 30;
/// References one request may make: each is a row to read.
pub const MAX_REFERENCES: usize = 1000;
/// The longest id a reference may name (the router's are `msg_` + 24 hex digits).
pub const MAX_ID_BYTES: usize = 128;
/// The largest item kept (its JSON): a Durable Object's SQLite value holds 2 MB.
pub const MAX_ITEM_BYTES: usize = 1024 * 1024;

/// A policy's `[responses]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Days the output items of an answer a request let be stored are kept for reference;
    /// 0: none are, and references are refused.
    #[serde(default = "default_store_days")]
    pub store_days: u32,
}

fn default_store_days() -> u32 {
    MAX_STORE_DAYS
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { store_days: default_store_days() }
    }
}

impl StoreSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.store_days > MAX_STORE_DAYS {
            return Err(format!("responses.store_days must be between 0 and {MAX_STORE_DAYS}, not {}", self.store_days));
        }
        Ok(())
    }

    /// Seconds an item kept now lives.
    pub fn lifetime_secs(&self) -> i64 {
        i64::from(self.store_days) * 86_400
    }
}

/// Whether an input item is a reference: `type: "item_reference"`, or, as OpenAI reads it, an
/// item with an `id` and neither a `type` nor a `role` (its type is optional there).
fn is_reference(item: &Value) -> bool {
    match item.get("type") {
        Some(Value::String(kind)) => kind == "item_reference",
        None | Some(Value::Null) => item.get("role").is_none_or(Value::is_null) && item.get("id").is_some_and(|id| !id.is_null()),
        Some(_) => false,
    }
}

/// The ids `body`'s `input` names by reference, in order, each once (none when `input` is a
/// string or no item is a reference). A reference without a usable id is refused here, by its
/// place in `input`.
pub fn referenced_ids(body: &Value) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = Vec::new();
    let Some(items) = body.get("input").and_then(Value::as_array) else { return Ok(ids) };
    for (i, item) in items.iter().enumerate() {
        if !is_reference(item) {
            continue;
        }
        let at = format!("input[{i}].id");
        let id = match item.get("id") {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_BYTES => id,
            Some(Value::String(_)) => return Err(ApiError::invalid_value(&at, format!("'{at}' must be an item's id: 1 to {MAX_ID_BYTES} characters."))),
            None | Some(Value::Null) => return Err(ApiError::missing_field(&at)),
            Some(_) => return Err(ApiError::invalid_value(&at, format!("'{at}' must be a string."))),
        };
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.len() > MAX_REFERENCES {
        return Err(ApiError::invalid_value("input", format!("'input' names {} items by reference; at most {MAX_REFERENCES} are read for one request.", ids.len())));
    }
    Ok(ids)
}

/// `body` with each reference replaced by the item it names (`found`: id → item, as kept).
/// A reference to an item not kept is refused as OpenAI refuses it, with why it may be missing.
pub fn resolve(body: &mut Value, found: &HashMap<String, Value>) -> Result<(), ApiError> {
    let Some(items) = body.get_mut("input").and_then(Value::as_array_mut) else { return Ok(()) };
    for (i, item) in items.iter_mut().enumerate() {
        if !is_reference(item) {
            continue;
        }
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        let Some(kept) = found.get(id) else {
            return Err(ApiError::invalid_value(
                &format!("input[{i}]"),
                format!(
                    "Item with id '{id}' not found. Items are kept only for this tenant, for the days its policy's responses.store_days says (none when 0), from answers whose request did not set 'store' to false and whose route was not held to regions; send the item itself instead."
                ),
            ));
        };
        *item = kept.clone();
    }
    Ok(())
}

/// What an answer leaves to keep once it has ended.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Kept {
    /// Its output items by id, for references.
    pub items: Vec<(String, Value)>,
    /// The turn whole, for a later `previous_response_id` and for retrieval by id.
    pub turn: Option<Turn>,
}

pub use super::earlier_turns::Turn;

impl Kept {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.turn.is_none()
    }
}

/// What of a `response` object to keep: nothing unless it says `store: true` (its request let it
/// be kept, and the tenant keeps answers); else each output item (message, reasoning, function or
/// custom tool call) by id as it was answered, which a client may also send back whole, and the
/// turn (`input`: its request's own input items), each less its text's logprobs (emptied: a
/// request reads none back, and twenty alternatives a token would make a long answer's item too
/// large to keep). An item still too large to keep is left out (a reference to it is then
/// refused as not found); a turn is kept whatever its size (in pieces, [`Turn::texts`]).
pub fn to_keep(response: &Value, input: Vec<Value>) -> Kept {
    if response["store"] != true {
        return Kept::default();
    }
    let mut response = response.clone();
    let output = response.get_mut("output").and_then(Value::as_array_mut);
    for part in output.into_iter().flatten().flat_map(|item| item.get_mut("content").and_then(Value::as_array_mut).into_iter().flatten()) {
        // Emptied rather than removed: an `output_text` part always has the array.
        if let Some(logprobs) = part.as_object_mut().and_then(|part| part.get_mut("logprobs")) {
            *logprobs = Value::Array(Vec::new());
        }
    }
    let items = response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let id = item.get("id")?.as_str()?.to_string();
            let bytes = serde_json::to_string(item).ok()?.len();
            (bytes <= MAX_ITEM_BYTES).then(|| (id, item.clone()))
        })
        .collect();
    let id = response["id"].as_str().map(str::to_string);
    let previous_id = response["previous_response_id"].as_str().map(str::to_string);
    Kept { items, turn: id.map(|id| Turn { id, previous_id, input, response }) }
}

/// The 413 of a request whose items named by reference, or earlier turns named by
/// `previous_response_id`, make it larger than `max_bytes` (`bytes`: how large, when known; the
/// store refuses before it reads them all).
pub fn references_too_large(bytes: Option<usize>, max_bytes: usize) -> ApiError {
    let mut too_large = ApiError::body_too_large(max_bytes);
    let size = bytes.map_or_else(String::new, |b| format!(" {b} bytes,"));
    too_large.message = format!(
        "The request with the items it names by reference and the earlier turns its 'previous_response_id' names would be{size} over this router's limit of {max_bytes} bytes: send fewer references (or fewer earlier turns)."
    );
    too_large
}

/// What a request holds once what it names is put in place (kept items, earlier turns): bytes and
/// JSON values, each held to what a body may hold (`max_bytes`, [`crate::api::MAX_CHAT_VALUES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    pub bytes: usize,
    values: usize,
    pub max_bytes: usize,
}

impl Holding {
    /// What the body alone holds.
    pub fn of_body(body: &[u8], max_bytes: usize) -> Self {
        Self { bytes: body.len(), values: std::str::from_utf8(body).map_or(0, crate::api::json_values), max_bytes }
    }

    /// The bytes the store may still return before the request is too large.
    pub fn bytes_left(&self) -> usize {
        self.max_bytes.saturating_sub(self.bytes)
    }

    /// Adds `texts` (JSON, each a copy put in the request), or refuses the request they make too
    /// large: bytes are measured before values are counted.
    pub fn add<'a>(&mut self, texts: impl Iterator<Item = &'a str> + Clone) -> Result<(), ApiError> {
        let bytes = texts.clone().fold(self.bytes, |sum, text| sum.saturating_add(text.len()));
        if bytes > self.max_bytes {
            return Err(references_too_large(Some(bytes), self.max_bytes));
        }
        let values = texts.fold(self.values, |sum, text| sum.saturating_add(crate::api::json_values(text)));
        if values > crate::api::MAX_CHAT_VALUES {
            return Err(ApiError::too_many_json_values(crate::api::MAX_CHAT_VALUES));
        }
        (self.bytes, self.values) = (bytes, values);
        Ok(())
    }
}

/// The kept items a request names, as the store returns them (their JSON text), read for
/// resolving: the body they make, each in place of each reference to it, may hold no more than a
/// body may (`holding`, which counts them). A text that does not parse is as an item not kept.
pub fn parse_kept(holding: &mut Holding, asked: &Value, kept: HashMap<String, String>) -> Result<HashMap<String, Value>, ApiError> {
    let placed = asked
        .get("input")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| is_reference(item))
        .filter_map(|item| kept.get(item.get("id")?.as_str()?))
        .map(String::as_str);
    holding.add(placed)?;
    Ok(kept.into_iter().filter_map(|(id, text)| Some((id, serde_json::from_str(&text).ok()?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items_to_keep(response: &Value) -> Vec<(String, Value)> {
        to_keep(response, Vec::new()).items
    }

    #[test]
    fn references_are_read_in_order_once_each_and_bad_ones_are_refused_by_place() {
        let body = json!({"input": [
            {"role": "user", "content": "hi"},
            {"type": "item_reference", "id": "msg_1"},
            {"type": "function_call_output", "call_id": "c", "output": "x"},
            {"type": "item_reference", "id": "fc_1_0"},
            {"type": "item_reference", "id": "msg_1"},
        ]});
        assert_eq!(referenced_ids(&body).unwrap(), vec!["msg_1", "fc_1_0"]);
        assert_eq!(referenced_ids(&json!({"input": "hello"})).unwrap(), Vec::<String>::new());
        assert_eq!(referenced_ids(&json!({"model": "m"})).unwrap(), Vec::<String>::new());
        for (reference, param, code) in [
            (json!({"type": "item_reference"}), "input[0].id", "missing_required_parameter"),
            (json!({"type": "item_reference", "id": ""}), "input[0].id", "invalid_value"),
            (json!({"type": "item_reference", "id": 7}), "input[0].id", "invalid_value"),
            (json!({"type": "item_reference", "id": "x".repeat(MAX_ID_BYTES + 1)}), "input[0].id", "invalid_value"),
        ] {
            let err = referenced_ids(&json!({"input": [reference]})).unwrap_err();
            assert_eq!((err.status, err.param.as_deref(), err.code), (400, Some(param), code), "{}", err.message);
        }
        let many: Vec<Value> = (0..=MAX_REFERENCES).map(|i| json!({"type": "item_reference", "id": format!("msg_{i}")})).collect();
        let err = referenced_ids(&json!({"input": many})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input"));
        let at_most: Vec<Value> = (0..MAX_REFERENCES).map(|i| json!({"type": "item_reference", "id": format!("msg_{i}")})).collect();
        assert_eq!(referenced_ids(&json!({"input": at_most})).unwrap().len(), MAX_REFERENCES);
    }

    #[test]
    fn references_are_replaced_by_their_items_and_a_missing_one_is_refused_by_place() {
        let kept = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]});
        let found = HashMap::from([("msg_1".to_string(), kept.clone())]);
        let mut body = json!({"input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_1"}, {"role": "user", "content": "and?"}]});
        resolve(&mut body, &found).unwrap();
        assert_eq!(body["input"], json!([{"role": "user", "content": "hi"}, kept, {"role": "user", "content": "and?"}]));

        let mut body = json!({"input": [{"type": "item_reference", "id": "msg_1"}, {"type": "item_reference", "id": "msg_2"}]});
        let err = resolve(&mut body, &found).unwrap_err();
        assert_eq!((err.status, err.param.as_deref()), (400, Some("input[1]")));
        assert!(err.message.starts_with("Item with id 'msg_2' not found."), "{}", err.message);
    }

    #[test]
    fn every_output_item_with_an_id_is_kept_but_one_too_large() {
        let response = json!({"id": "resp_1", "store": true, "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi"}]},
            {"type": "function_call", "id": "fc_1_0", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "message", "content": []},
            {"type": "message", "id": "msg_big", "content": [{"type": "output_text", "text": "x".repeat(MAX_ITEM_BYTES)}]},
        ]});
        let ids: Vec<String> = items_to_keep(&response).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec!["rs_1", "msg_1", "fc_1_0"]);
        assert_eq!(items_to_keep(&json!({"store": true, "output": null})), vec![]);
        let mut not_stored = response.clone();
        not_stored["store"] = json!(false);
        assert_eq!(items_to_keep(&not_stored), vec![], "a response that says store: false keeps nothing");
    }

    #[test]
    fn an_item_with_an_id_and_neither_type_nor_role_is_a_reference_as_openai_reads_it() {
        let body = json!({"input": [{"id": "msg_1"}, {"role": "assistant", "id": "msg_2", "content": "x"}, {"type": "message", "id": "msg_3", "role": "user", "content": "y"}, {"id": null, "role": "user", "content": "z"}]});
        assert_eq!(referenced_ids(&body).unwrap(), vec!["msg_1"]);
        let mut body = body;
        resolve(&mut body, &HashMap::from([("msg_1".to_string(), json!({"type": "message", "id": "msg_1"}))])).unwrap();
        assert_eq!(body["input"][0], json!({"type": "message", "id": "msg_1"}));
        assert_eq!(body["input"][1]["id"], "msg_2", "a message with its id stays itself");
    }

    #[test]
    fn the_turn_is_kept_with_the_output_whatever_its_size() {
        let response = json!({"id": "resp_2", "previous_response_id": "resp_1", "store": true, "output": [{"type": "message", "id": "msg_2", "content": [{"type": "output_text", "text": "Hi", "logprobs": [{"token": "Hi", "logprob": -0.1}]}]}]});
        let input = vec![json!({"role": "user", "content": "hello"})];
        let kept = to_keep(&response, input.clone());
        let turn = kept.turn.unwrap();
        assert_eq!((turn.id.as_str(), turn.previous_id.as_deref(), &turn.input), ("resp_2", Some("resp_1"), &input));
        assert_eq!(turn.response["output"][0], kept.items[0].1, "the output as its items are kept, less logprobs");
        assert_eq!(turn.response["output"][0]["content"][0]["logprobs"], json!([]));
        let first = to_keep(&json!({"id": "resp_1", "previous_response_id": null, "store": true, "output": []}), input.clone());
        assert_eq!(first.turn.unwrap().previous_id, None);
        assert!(to_keep(&json!({"store": true, "output": []}), input).turn.is_none(), "a response without an id is no turn");
        // Items are each held to a row's size; a turn is kept in pieces.
        let text = "x".repeat(MAX_ITEM_BYTES);
        let big = to_keep(&json!({"id": "resp_3", "store": true, "output": [{"type": "message", "id": "msg_3", "content": text}]}), vec![json!(text)]);
        assert!(big.items.is_empty());
        assert!(big.turn.is_some());
    }

    #[test]
    fn what_is_kept_is_empty_only_without_items_and_turn() {
        assert!(Kept::default().is_empty());
        let answered = json!({"id": "resp_1", "store": true, "output": []});
        let turn_only = to_keep(&answered, Vec::new());
        assert!(turn_only.items.is_empty() && !turn_only.is_empty(), "an answer with no output items still keeps its turn");
        let items_only = Kept { items: vec![("msg_1".into(), json!({}))], turn: None };
        assert!(!items_only.is_empty());
    }

    #[test]
    fn the_store_may_return_what_the_body_leaves_of_the_limit() {
        let mut holding = Holding::of_body(b"{}", 100);
        assert_eq!(holding.bytes_left(), 98);
        holding.add(["x".repeat(50).as_str()].into_iter()).unwrap();
        assert_eq!(holding.bytes_left(), 48);
        assert_eq!(Holding::of_body(&[b' '; 120], 100).bytes_left(), 0, "none past the limit");
    }

    #[test]
    fn logprobs_are_not_kept() {
        let response = json!({"store": true, "output": [{"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": [{"token": "Hi", "logprob": -0.1, "top_logprobs": []}]}]}]});
        assert_eq!(items_to_keep(&response), vec![("msg_1".to_string(), json!({"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []}]}))]);
        // A long answer with twenty alternatives a token is kept, without them.
        let token = json!({"token": "word", "logprob": -0.5, "bytes": [119, 111, 114, 100], "top_logprobs": vec![json!({"token": "word", "logprob": -0.5, "bytes": [119, 111, 114, 100]}); 20]});
        let long = json!({"store": true, "output": [{"type": "message", "id": "msg_2", "content": [{"type": "output_text", "text": "word ".repeat(2000), "logprobs": vec![token; 2000]}]}]});
        assert!(serde_json::to_string(&long).unwrap().len() > MAX_ITEM_BYTES);
        assert_eq!(items_to_keep(&long).len(), 1);
    }

    #[test]
    fn kept_items_hold_no_more_than_a_body_may() {
        let item = |text: &str| json!({"type": "message", "id": "m", "content": [{"type": "output_text", "text": text}]}).to_string();
        let body = br#"{"model":"m","input":[{"type":"item_reference","id":"a"},{"type":"item_reference","id":"b"},{"type":"item_reference","id":"a"}]}"#;
        let asked: Value = serde_json::from_slice(body).unwrap();
        let kept = HashMap::from([("a".to_string(), item("one")), ("b".to_string(), "not json".to_string())]);
        let read = |kept: HashMap<String, String>, max_bytes: usize| parse_kept(&mut Holding::of_body(body, max_bytes), &asked, kept);
        let parsed = read(kept.clone(), 10_000).unwrap();
        assert_eq!(parsed.keys().collect::<Vec<_>>(), vec!["a"], "a text that does not parse is as not kept");
        // Each reference is a copy of its item in the body: `a` counts twice.
        let total = body.len() + 2 * kept["a"].len() + kept["b"].len();
        assert!(read(kept.clone(), total).is_ok());
        let err = read(kept, total - 1).unwrap_err();
        assert_eq!((err.status, err.code), (413, "request_too_large"));
        assert!(err.message.contains(&format!("would be {total} bytes")), "{}", err.message);
        // Few bytes, many values: the count a body is held to counts the items too.
        let many = json!({"type": "message", "id": "m", "content": vec![0; crate::api::MAX_CHAT_VALUES]}).to_string();
        let err = read(HashMap::from([("a".to_string(), many)]), usize::MAX).unwrap_err();
        assert_eq!((err.status, err.code), (413, "request_too_large"));
        assert!(err.message.contains("JSON values"), "{}", err.message);
    }

    #[test]
    fn a_request_whose_items_make_exactly_as_many_values_as_a_body_may_hold_is_read() {
        // As a body of `MAX_CHAT_VALUES` values is parsed and one more is refused, so is a
        // request that reaches that count only with the item it names.
        let body = br#"{"model":"m","input":[{"type":"item_reference","id":"a"}]}"#;
        let asked: Value = serde_json::from_slice(body).unwrap();
        let item = |zeros: usize| json!({"type": "message", "id": "a", "content": vec![0; zeros]}).to_string();
        let values = crate::api::json_values;
        assert_eq!(values(&item(2)), values(&item(1)) + 1, "each further zero is one value more");
        let zeros = crate::api::MAX_CHAT_VALUES - values(std::str::from_utf8(body).unwrap()) - values(&item(1)) + 1;
        let at_limit = HashMap::from([("a".to_string(), item(zeros))]);
        assert_eq!(values(std::str::from_utf8(body).unwrap()) + values(&at_limit["a"]), crate::api::MAX_CHAT_VALUES);
        let read = |kept: HashMap<String, String>| parse_kept(&mut Holding::of_body(body, usize::MAX), &asked, kept);
        assert_eq!(read(at_limit).unwrap()["a"]["content"].as_array().unwrap().len(), zeros);
        let err = read(HashMap::from([("a".to_string(), item(zeros + 1))])).unwrap_err();
        assert_eq!((err.status, err.code), (413, "request_too_large"));
    }

    #[test]
    fn store_days_are_thirty_unless_set_and_never_more() {
        assert_eq!(StoreSettings::default().store_days, 30);
        assert_eq!(StoreSettings::default().lifetime_secs(), 30 * 86_400);
        assert!(StoreSettings { store_days: 0 }.validate().is_ok());
        assert!(StoreSettings { store_days: 30 }.validate().is_ok());
        assert!(StoreSettings { store_days: 31 }.validate().unwrap_err().contains("between 0 and 30"));
    }
}
