//! Each provider's stream translator behind the stream driver (`StreamSession`), fed arbitrary
//! upstream bytes cut at arbitrary points, as the edge feeds it. Properties: every event the
//! client receives is a JSON object, and whenever the stream reads cleanly in one piece the
//! client receives the same bytes and outcome whatever the chunking.
#![no_main]

use costrouter::api::chat::ChatRequest;
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
    let req = ChatRequest::parse(body.as_bytes()).expect("the fixed request parses");

    let (payload, chunks) = chunked(rest);
    let (whole_out, whole_outcome) = run(provider, &req, &[&payload]);
    let (pieces_out, pieces_outcome) = run(provider, &req, &chunks);
    assert_client_events_are_json(&whole_out);
    assert_client_events_are_json(&pieces_out);
    // A stream that is not UTF-8 fails at a chunk boundary that depends on the chunking, so only
    // clean reads are compared.
    let unreadable = |o: &StreamOutcome| o.error.as_deref().is_some_and(|e| e.contains("could not be read"));
    if !unreadable(&whole_outcome) && !unreadable(&pieces_outcome) {
        assert_eq!(String::from_utf8_lossy(&pieces_out), String::from_utf8_lossy(&whole_out), "chunking changed the client stream ({})", provider.id);
        assert_eq!(pieces_outcome, whole_outcome, "chunking changed the outcome ({})", provider.id);
    }
});
