//! `previous_response_id`: a `/v1/responses` request that continues a conversation by naming its
//! last response instead of sending the earlier turns again, as OpenAI's own multi-turn examples
//! (and the Agents SDK's `previous_response_id` mode) do.
//!
//! Each answer a request let be stored is kept as a turn ([`Turn`]: the request's own input and
//! the response), linked to the turn it followed. A request naming one is read as the
//! whole chain, oldest first (each turn's input, then its response's output), then its own input;
//! the earlier turns' `instructions` are not carried over, as OpenAI carries none. This is the
//! plain part: the id a request names, and the chain the tenant's `ResponseItems` object
//! (`edge::response_items`) returns, read into input items within the body's limits.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stored_items::Holding;
use crate::api::ApiError;

/// The most turns a chain is read back through (each a row the store reads).
pub const MAX_TURNS: usize = 10_000;
/// The largest piece of a turn's text one row holds: a Durable Object's SQLite row holds 2 MB, and
/// a turn may be as large as a body (an image in its input) and more.
pub const TURN_PIECE_BYTES: usize = 1_000_000;
/// The longest id a request may name (the router's are `resp_` + 24 hex digits).
pub const MAX_ID_BYTES: usize = 128;

/// One turn of a conversation as kept: what its request sent (its own input, references
/// resolved; not the earlier turns its `previous_response_id` named, each kept as its own turn)
/// and the `response` answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub id: String,
    pub previous_id: Option<String>,
    pub input: Vec<Value>,
    pub response: Value,
}

/// A turn's texts by what they are, as the store keeps them: the input, the response's output
/// (read back by a later turn), and the response less its output (read only when retrieved).
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
pub const RESPONSE: &str = "response";

impl Turn {
    /// The turn's texts (JSON), each cut in pieces of at most [`TURN_PIECE_BYTES`], in order.
    pub fn texts(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut rest = self.response.clone();
        let output = rest.as_object_mut().and_then(|r| r.remove("output")).unwrap_or_else(|| Value::Array(Vec::new()));
        [(INPUT, Value::Array(self.input.clone())), (OUTPUT, output), (RESPONSE, rest)]
            .into_iter()
            .map(|(what, value)| (what, pieces(&value.to_string(), TURN_PIECE_BYTES).into_iter().map(str::to_string).collect()))
            .collect()
    }
}

/// `text` cut in pieces of at most `max` bytes (at least 4), each ending on a character's
/// boundary; one empty piece for an empty text.
pub fn pieces(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    out.push(rest);
    out
}

/// A kept response whole again: the response less its output, and its output (texts as kept).
pub fn retrieved(response: &str, output: &str) -> Option<Value> {
    let mut response: Value = serde_json::from_str(response).ok()?;
    let output: Value = serde_json::from_str(output).ok()?;
    response.as_object_mut()?.insert("output".into(), output);
    Some(response)
}

/// The response a request continues from, if it names one (`field`: its `previous_response_id`).
pub fn previous_response_id(field: Option<&Value>) -> Result<Option<String>, ApiError> {
    match field {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_BYTES => Ok(Some(id.clone())),
        Some(_) => Err(ApiError::invalid_value(
            "previous_response_id",
            format!("'previous_response_id' must be a response's id: a string of 1 to {MAX_ID_BYTES} characters."),
        )),
    }
}

/// What the store answers for a `previous_response_id`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// Each turn's input and its response's output as kept (JSON texts), oldest first; none unless
    /// the whole chain was found and fits.
    pub turns: Vec<(String, String)>,
    /// The response not found: the one named, or one it follows (expired, deleted, or never kept).
    pub missing: Option<String>,
    /// The chain is longer than [`MAX_TURNS`].
    pub too_many: bool,
    /// The turns together pass the bytes the request had left: none were read.
    pub over: bool,
}

/// The refusal of a request naming a response that is not kept (`why`: the reasons it may not be).
pub fn not_found(named: &str, why: &str) -> ApiError {
    ApiError::previous_response_not_found(format!("Previous response with id '{named}' not found: {why}; send the whole conversation in 'input' instead."))
}

/// The earlier turns `chain` holds, as input items in order (each turn's input items, then its
/// response's output items), counted in `holding` as part of the request. `named`: the id the
/// request gave.
pub fn earlier_items(named: &str, chain: Chain, holding: &mut Holding) -> Result<Vec<Value>, ApiError> {
    if let Some(missing) = chain.missing {
        let why = if missing == named {
            "responses are kept only for this tenant, for the days its policy's responses.store_days says, when their request did not set 'store' to false and their route was not held to regions".to_string()
        } else {
            format!("it follows '{missing}', which is no longer kept (deleted, or kept longer ago than the tenant's policy's responses.store_days)")
        };
        return Err(not_found(named, &why));
    }
    if chain.too_many {
        return Err(ApiError::invalid_value(
            "previous_response_id",
            format!("Previous response with id '{named}' ends a conversation of more than {MAX_TURNS} turns, more than this router reads back; send the conversation in 'input' instead."),
        ));
    }
    if chain.over {
        return Err(super::stored_items::references_too_large(None, holding.max_bytes));
    }
    holding.add(chain.turns.iter().flat_map(|(input, output)| [input.as_str(), output.as_str()]))?;
    let unreadable = || ApiError::internal(format!("An earlier turn of the conversation that response '{named}' ends could not be read."));
    let mut items = Vec::new();
    for (input, output) in chain.turns {
        for text in [input, output] {
            let turn_items: Vec<Value> = serde_json::from_str(&text).map_err(|_| unreadable())?;
            items.extend(turn_items);
        }
    }
    Ok(items)
}

/// A request's own `input` as the items a turn keeps (a string is one user message).
pub fn own_items(input: Value) -> Vec<Value> {
    match input {
        Value::String(text) => vec![serde_json::json!({"type": "message", "role": "user", "content": text})],
        Value::Array(items) => items,
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(input: Value, output: Value) -> (String, String) {
        (input.to_string(), output.to_string())
    }

    #[test]
    fn the_named_id_is_read_and_a_bad_one_refused() {
        assert_eq!(previous_response_id(None).unwrap(), None);
        assert_eq!(previous_response_id(Some(&json!(null))).unwrap(), None);
        assert_eq!(previous_response_id(Some(&json!("resp_1"))).unwrap().as_deref(), Some("resp_1"));
        for bad in [json!(""), json!(7), json!(["resp_1"]), json!("r".repeat(MAX_ID_BYTES + 1))] {
            let err = previous_response_id(Some(&bad)).unwrap_err();
            assert_eq!((err.status, err.param.as_deref(), err.code), (400, Some("previous_response_id"), "invalid_value"), "{bad}");
        }
        assert!(previous_response_id(Some(&json!("r".repeat(MAX_ID_BYTES)))).is_ok());
    }

    #[test]
    fn a_chain_is_each_turns_input_then_its_output_oldest_first() {
        let chain = Chain {
            turns: vec![
                turn(json!([{"type": "message", "role": "user", "content": "one"}]), json!([{"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "1"}]}])),
                turn(json!([{"role": "user", "content": "two"}]), json!([{"type": "function_call", "id": "fc_2_0", "call_id": "c", "name": "f", "arguments": "{}"}])),
            ],
            ..Chain::default()
        };
        let body = b"{}";
        let mut holding = Holding::of_body(body, 1 << 20);
        let items = earlier_items("resp_2", chain.clone(), &mut holding).unwrap();
        let kinds: Vec<&str> = items.iter().map(|i| i["content"].as_str().or(i["id"].as_str()).unwrap()).collect();
        assert_eq!(kinds, vec!["one", "msg_1", "two", "fc_2_0"]);
        let counted: usize = chain.turns.iter().map(|(i, r)| i.len() + r.len()).sum();
        assert_eq!(holding.bytes, body.len() + counted, "the turns count as part of the request");
    }

    #[test]
    fn a_chain_not_found_too_long_or_too_large_is_refused_saying_which() {
        let mut holding = Holding::of_body(b"{}", 1 << 20);
        let err = earlier_items("resp_2", Chain { missing: Some("resp_2".into()), ..Chain::default() }, &mut holding).unwrap_err();
        assert_eq!((err.status, err.param.as_deref(), err.code), (400, Some("previous_response_id"), "previous_response_not_found"));
        assert!(err.message.starts_with("Previous response with id 'resp_2' not found: responses are kept only for this tenant"), "{}", err.message);
        let err = earlier_items("resp_2", Chain { missing: Some("resp_1".into()), ..Chain::default() }, &mut holding).unwrap_err();
        assert_eq!(err.code, "previous_response_not_found");
        assert!(err.message.contains("it follows 'resp_1', which is no longer kept (deleted, or"), "{}", err.message);
        let err = earlier_items("resp_2", Chain { too_many: true, ..Chain::default() }, &mut holding).unwrap_err();
        assert_eq!((err.status, err.param.as_deref()), (400, Some("previous_response_id")));
        assert!(err.message.contains("more than 10000 turns"), "{}", err.message);
        let err = earlier_items("resp_2", Chain { over: true, ..Chain::default() }, &mut holding).unwrap_err();
        assert_eq!((err.status, err.code), (413, "request_too_large"));
        // Found, but more than the request has left.
        let big = Chain { turns: vec![turn(json!([{"role": "user", "content": "x".repeat(2000)}]), json!([]))], ..Chain::default() };
        let err = earlier_items("resp_2", big.clone(), &mut Holding::of_body(b"{}", 1000)).unwrap_err();
        assert_eq!((err.status, err.code), (413, "request_too_large"));
        assert!(earlier_items("resp_2", big, &mut Holding::of_body(b"{}", 3000)).is_ok());
        assert_eq!(holding.bytes, 2, "a refused chain counts nothing");
    }

    #[test]
    fn a_turn_that_does_not_read_is_an_error_of_the_router_not_the_client() {
        let mut holding = Holding::of_body(b"{}", 1 << 20);
        for bad in [("not json".to_string(), "[]".to_string()), ("[]".to_string(), "null".to_string())] {
            let err = earlier_items("resp_2", Chain { turns: vec![bad], ..Chain::default() }, &mut holding).unwrap_err();
            assert_eq!(err.status, 500, "{}", err.message);
        }
    }

    #[test]
    fn a_turn_is_kept_as_its_input_its_output_and_the_rest_of_its_response_in_pieces_and_read_back_whole() {
        let response = json!({"id": "resp_1", "object": "response", "output": [{"type": "message", "id": "msg_1", "content": "é".repeat(10)}], "instructions": "Be brief."});
        let turn = Turn { id: "resp_1".into(), previous_id: None, input: vec![json!({"role": "user", "content": "hi"})], response: response.clone() };
        let texts = turn.texts();
        assert_eq!(texts.iter().map(|(what, _)| *what).collect::<Vec<_>>(), [INPUT, OUTPUT, RESPONSE]);
        let whole = |pieces: &[String]| pieces.concat();
        assert_eq!(whole(&texts[0].1), json!([{"role": "user", "content": "hi"}]).to_string());
        assert_eq!(whole(&texts[1].1), response["output"].to_string());
        assert!(!whole(&texts[2].1).contains("msg_1"), "the output is kept once");
        assert_eq!(retrieved(&whole(&texts[2].1), &whole(&texts[1].1)), Some(response));
        assert_eq!(retrieved("not json", "[]"), None);
    }

    #[test]
    fn pieces_end_on_character_boundaries_and_make_the_text_again() {
        let text = "aé€😀".repeat(1000);
        for max in [4, 5, 7, 1000, text.len(), text.len() + 1] {
            let cut = pieces(&text, max);
            assert_eq!(cut.concat(), text, "max {max}");
            assert!(cut.iter().all(|p| p.len() <= max && !p.is_empty()), "max {max}");
            assert_eq!(cut.len() == 1, text.len() <= max);
        }
        assert_eq!(pieces("", 10), vec![""]);
        assert_eq!(pieces("abcdef", 1), vec!["abcd", "ef"], "at least 4 bytes a piece: every character fits");
    }

    #[test]
    fn own_input_is_kept_as_items() {
        assert_eq!(own_items(json!("hi")), vec![json!({"type": "message", "role": "user", "content": "hi"})]);
        assert_eq!(own_items(json!([{"role": "user", "content": "hi"}])), vec![json!({"role": "user", "content": "hi"})]);
    }
}
