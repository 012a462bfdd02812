//! Each provider's stream translator behind the stream driver (`StreamSession`), fed arbitrary
//! upstream bytes cut at arbitrary points, as the edge feeds it, and the client stream it makes
//! rewritten as the Responses API's (`api::responses::ResponsesStream`) and Anthropic's
//! (`api::messages::MessagesStream`), as `/v1/responses` and `/v1/messages` serve it.
//! Properties: every event the client receives is a JSON object (a Responses event names its
//! type and is numbered in order, and the last one ends the response; an Anthropic event names
//! its type, opens content blocks one at a time in order and closes each once, touches only
//! blocks it opened, and ends in `message_stop` after a `message_delta`, or in `error`), and
//! whenever
//! the stream reads cleanly in one piece the client receives the same bytes and outcome
//! whatever the chunking.
#![no_main]

use costrouter::api::chat::ChatRequest;
use costrouter::api::chat_events::ChatStreamRewrite;
use costrouter::api::messages::MessagesStream;
use costrouter::api::responses::{ResponseIds, ResponsesStream};
use costrouter::catalog::ProviderConfig;
use costrouter::providers::{adapter_for, Target};
use costrouter::stream::{StreamOutcome, StreamSession};
use costrouter_fuzz::{all_providers, chunked};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static PROVIDERS: OnceLock<Vec<ProviderConfig>> = OnceLock::new();

fn run(provider: &ProviderConfig, req: &ChatRequest, chunks: &[&[u8]]) -> (Vec<u8>, StreamOutcome) {
    let target = Target { provider, upstream_model: "fuzz-model", api_key: Some("fuzz-key-0123456789") };
    let mut session = StreamSession::new(adapter_for(provider.kind).chat_stream(&target, req), req.wants_stream_usage(), 1_700_000_000, 7);
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(session.push(chunk));
    }
    let (tail, outcome) = session.finish();
    out.extend(tail);
    (out, outcome)
}

/// The chat client stream `out` rewritten by `stream`, fed cut at `cuts`.
fn rewritten(mut stream: impl ChatStreamRewrite, out: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut events = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let end = cut.clamp(at, out.len());
        events.extend(stream.push(&out[at..end]));
        at = end;
    }
    events.extend(stream.push(&out[at..]));
    events.extend(stream.finish());
    events
}

/// The chat client stream `out` as a `/v1/responses` client receives it, cut at `cuts`.
fn as_responses(out: &[u8], cuts: &[usize]) -> Vec<u8> {
    let asked = costrouter::api::responses::from_value(serde_json::json!({"model": "fuzz-model", "input": "hi", "stream": true}), true, None).expect("the fixed request parses");
    rewritten(ResponsesStream::new(asked.echo, ResponseIds::for_request("req_fuzz"), 1_700_000_000), out, cuts)
}

fn assert_responses_events_are_well_formed(events: &[u8]) {
    let text = std::str::from_utf8(events).expect("the Responses stream is UTF-8");
    let mut numbered = 0;
    let mut last = String::new();
    for block in text.split("\n\n").filter(|e| !e.is_empty() && !e.starts_with(':')) {
        let (name, data) = block.split_once('\n').unwrap_or_else(|| panic!("an event without data: {block:?}"));
        let name = name.strip_prefix("event: ").unwrap_or_else(|| panic!("not a named event: {block:?}"));
        let data = data.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {block:?}"));
        let value: serde_json::Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON ({e}): {data:?}"));
        assert_eq!(value["type"], name, "{block:?}");
        assert_eq!(value["sequence_number"], numbered, "numbered in order: {block:?}");
        numbered += 1;
        last = name.to_string();
    }
    assert!(matches!(last.as_str(), "response.completed" | "response.incomplete" | "response.failed"), "the stream ends the response, not with {last:?}");
}

/// The chat client stream `out` as a `/v1/messages` client receives it, cut at `cuts`.
fn as_messages(out: &[u8], cuts: &[usize]) -> Vec<u8> {
    let asked = costrouter::api::messages::from_value(serde_json::json!({"model": "fuzz-model", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .expect("the fixed request parses");
    rewritten(MessagesStream::new(asked.echo, "req_fuzz", 7), out, cuts)
}

fn assert_messages_events_are_well_formed(events: &[u8]) {
    let text = std::str::from_utf8(events).expect("the Messages stream is UTF-8");
    let mut names = Vec::new();
    // Blocks opened, in order, and whether each is closed.
    let mut blocks: Vec<bool> = Vec::new();
    for block in text.split("\n\n").filter(|e| !e.is_empty() && !e.starts_with(':')) {
        let (name, data) = block.split_once('\n').unwrap_or_else(|| panic!("an event without data: {block:?}"));
        let name = name.strip_prefix("event: ").unwrap_or_else(|| panic!("not a named event: {block:?}"));
        let data = data.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {block:?}"));
        let value: serde_json::Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON ({e}): {data:?}"));
        assert_eq!(value["type"], name, "{block:?}");
        assert!(!matches!(names.last().map(String::as_str), Some("message_stop" | "error")), "an event after the end: {block:?}");
        let index = value["index"].as_u64().map(|i| i as usize);
        match name {
            "message_start" => assert!(names.is_empty(), "message_start first, once: {block:?}"),
            "content_block_start" => {
                assert_eq!(index, Some(blocks.len()), "blocks open in order: {block:?}");
                assert!(blocks.iter().all(|closed| *closed), "one block open at a time: {block:?}");
                blocks.push(false);
            }
            "content_block_delta" => assert!(index.is_some_and(|i| i < blocks.len()), "a delta of a block never opened: {block:?}"),
            "content_block_stop" => {
                let i = index.unwrap_or_else(|| panic!("a stop without an index: {block:?}"));
                assert!(i < blocks.len() && !blocks[i], "a block stopped twice or never opened: {block:?}");
                blocks[i] = true;
            }
            "message_delta" => assert!(blocks.iter().all(|closed| *closed), "the message ends with its blocks closed: {block:?}"),
            "message_stop" => assert_eq!(names.last().map(String::as_str), Some("message_delta"), "message_stop after message_delta"),
            "error" | "ping" => {}
            other => panic!("not an Anthropic event: {other:?}"),
        }
        if name != "message_start" && name != "error" {
            assert_eq!(names.first().map(String::as_str), Some("message_start"), "message_start first: {block:?}");
        }
        names.push(name.to_string());
    }
    assert!(matches!(names.last().map(String::as_str), Some("message_stop" | "error")), "the stream ends the message, not with {:?}", names.last());
}

fn assert_client_events_are_json(out: &[u8]) {
    let text = std::str::from_utf8(out).expect("the client stream is UTF-8");
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {event:?}"));
        let value: serde_json::Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON ({e}): {data:?}"));
        assert!(value.is_object(), "not an object: {data:?}");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else { return };
    let providers = PROVIDERS.get_or_init(all_providers);
    let provider = &providers[usize::from(selector >> 1) % providers.len()];
    let include_usage = selector & 1 == 1;
    let body = format!(
        r#"{{"model":"fuzz-model","stream":true,"stream_options":{{"include_usage":{include_usage}}},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let mut req = ChatRequest::parse(body.as_bytes()).expect("the fixed request parses");
    // Half the inputs as `/v1/messages` asks (signed thinking blocks each as it ends), half as
    // chat (together before the finish): both rewritten below.
    req.thinking_blocks_as_they_end = include_usage;

    let (payload, chunks) = chunked(rest);
    let (whole_out, whole_outcome) = run(provider, &req, &[&payload]);
    let (pieces_out, pieces_outcome) = run(provider, &req, &chunks);
    assert_client_events_are_json(&whole_out);
    assert_client_events_are_json(&pieces_out);
    // The chat stream cut where the upstream was (the edge passes on what each read produced).
    let cuts: Vec<usize> = chunks.iter().scan(0, |at, c| {
        *at += c.len();
        Some(*at)
    }).collect();
    // The edge ends the client stream with the cost trailer (and `[DONE]` when complete).
    let mut client = whole_out.clone();
    client.extend(costrouter::stream::trailer(&serde_json::json!({"cost_usd": "0"}), whole_outcome.complete));
    let responses_whole = as_responses(&client, &[]);
    assert_responses_events_are_well_formed(&responses_whole);
    assert_eq!(String::from_utf8_lossy(&as_responses(&client, &cuts)), String::from_utf8_lossy(&responses_whole), "chunking changed the Responses stream");
    let messages_whole = as_messages(&client, &[]);
    assert_messages_events_are_well_formed(&messages_whole);
    assert_eq!(String::from_utf8_lossy(&as_messages(&client, &cuts)), String::from_utf8_lossy(&messages_whole), "chunking changed the Messages stream");
    // A stream that is not UTF-8 fails at a chunk boundary that depends on the chunking, so only
    // clean reads are compared.
    let unreadable = |o: &StreamOutcome| o.error.as_deref().is_some_and(|e| e.contains("could not be read"));
    if !unreadable(&whole_outcome) && !unreadable(&pieces_outcome) {
        assert_eq!(String::from_utf8_lossy(&pieces_out), String::from_utf8_lossy(&whole_out), "chunking changed the client stream ({})", provider.id);
        assert_eq!(pieces_outcome, whole_outcome, "chunking changed the outcome ({})", provider.id);
    }
});
