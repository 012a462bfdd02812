//! The chat request parser the edge runs on every body: bytes → validated `ChatRequest`, and
//! the Responses API's and Anthropic's Messages API's (`api::responses::parse`,
//! `api::messages::parse`), which end in one. Beyond not panicking: a
//! refusal is a 4xx `ApiError` with a message, and an accepted request serializes to a body that
//! is accepted again with the same model and messages. A Responses body's references are
//! resolved too (each to a kept message), and its `previous_response_id` read as a kept turn, as
//! the edge does before parsing it.
#![no_main]

use costrouter::api::chat::ChatRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) {
        use costrouter::api::responses::stored_items;
        match stored_items::referenced_ids(&value) {
            Err(e) => assert!((400..500).contains(&e.status) && !e.message.trim().is_empty()),
            Ok(ids) => {
                let kept = serde_json::json!({"type": "message", "id": "msg_k", "role": "assistant", "content": [{"type": "output_text", "text": "kept"}]});
                let found = ids.into_iter().map(|id| (id, kept.clone())).collect();
                stored_items::resolve(&mut value, &found).unwrap_or_else(|e| panic!("a reference whose item was found is refused: {}", e.message));
                assert!(stored_items::referenced_ids(&value).is_ok_and(|ids| ids.is_empty()), "a reference is left after resolving");
                // A `previous_response_id` as the edge reads it: a chain of one kept turn.
                let earlier = match costrouter::api::responses::earlier_turns::previous_response_id(value.get("previous_response_id")) {
                    Ok(Some(_)) => Some(vec![serde_json::json!({"type": "message", "role": "user", "content": "asked"}), kept]),
                    _ => None,
                };
                if let Err(e) = costrouter::api::responses::from_value(value, true, earlier) {
                    assert!((400..500).contains(&e.status) && !e.message.trim().is_empty());
                }
            }
        }
    }
    match costrouter::api::responses::parse(body, false) {
        Err(e) => {
            assert!((400..500).contains(&e.status), "status {} for a bad Responses body", e.status);
            assert!(!e.message.trim().is_empty(), "an error without a message");
        }
        Ok(asked) => {
            let again = ChatRequest::parse(serde_json::to_string(&asked.chat).unwrap().as_bytes())
                .unwrap_or_else(|e| panic!("a Responses request's chat request is refused: {}", e.message));
            assert_eq!(again.messages.len(), asked.chat.messages.len());
        }
    }
    match costrouter::api::messages::parse(body) {
        Err(e) => {
            assert!((400..500).contains(&e.status), "status {} for a bad Messages body", e.status);
            assert!(!e.message.trim().is_empty(), "an error without a message");
        }
        Ok(asked) => {
            let again = ChatRequest::parse(serde_json::to_string(&asked.chat).unwrap().as_bytes())
                .unwrap_or_else(|e| panic!("a Messages request's chat request is refused: {}", e.message));
            assert_eq!(again.messages.len(), asked.chat.messages.len());
        }
    }
    match ChatRequest::parse(body) {
        Err(e) => {
            assert!((400..500).contains(&e.status), "status {} for a bad body", e.status);
            assert!(!e.message.trim().is_empty(), "an error without a message");
        }
        Ok(req) => {
            let again = ChatRequest::parse(serde_json::to_string(&req).unwrap().as_bytes())
                .unwrap_or_else(|e| panic!("an accepted request re-serialized is refused: {}", e.message));
            assert_eq!(again.model, req.model);
            assert_eq!(again.messages.len(), req.messages.len());
            assert_eq!(again.stream, req.stream);
            for (a, b) in again.messages.iter().zip(&req.messages) {
                assert_eq!(a.role, b.role);
                assert_eq!(a.content, b.content);
            }
        }
    }
});
