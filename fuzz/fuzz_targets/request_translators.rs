//! Each provider's request translation, fed any request the parser accepts: what the edge does
//! with every body before calling a provider. Properties: no panic (a worker exception); a
//! refusal is a 4xx `ApiError` with a message (the deployment is passed over, or the client told
//! why); an accepted translation is a JSON object. The first byte picks the provider and model, so
//! each translator meets the models whose rules differ (Claude's thinking generations, Gemini 2.5
//! and 3, OpenAI's reasoning models).
#![no_main]

use costrouter::api::chat::ChatRequest;
use costrouter::catalog::{ProviderConfig, ProviderKind};
use costrouter::providers::{adapter_for, Target};
use costrouter_fuzz::all_providers;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static PROVIDERS: OnceLock<Vec<ProviderConfig>> = OnceLock::new();

/// Model names each wire format has rules for.
fn models(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Anthropic => &["claude-3-5-haiku-20241022", "claude-sonnet-4-5", "claude-opus-4-7", "claude-sonnet-5", "claude-fable-5"],
        ProviderKind::Gemini => &["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-3-flash-preview", "gemini-3-pro-preview"],
        ProviderKind::Openai | ProviderKind::Azure => &["gpt-4o-mini", "o4-mini", "llama-3.3-70b-versatile"],
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else { return };
    let Ok(req) = ChatRequest::parse(body) else { return };
    let providers = PROVIDERS.get_or_init(all_providers);
    let provider = &providers[usize::from(selector & 0x0f) % providers.len()];
    let names = models(provider.kind);
    let model = names[usize::from(selector >> 4) % names.len()];
    let adapter = adapter_for(provider.kind);
    let target = Target { provider, upstream_model: model, api_key: Some("fuzz-key-0123456789") };
    // What the planner and the cache ask of the adapter before a call.
    let _ = adapter.default_output_cap(&req, model);
    let _ = adapter.samples_regardless(&req, model);
    let _ = adapter.dropped_param(&req);
    match adapter.chat_request(&target, &req) {
        Err(e) => {
            assert!((400..500).contains(&e.status), "status {} refusing a request for {} {model}: {}", e.status, provider.id, e.message);
            assert!(!e.message.trim().is_empty(), "a refusal without a message ({} {model})", provider.id);
        }
        Ok(up) => {
            let sent: serde_json::Value = serde_json::from_str(&up.body).unwrap_or_else(|e| panic!("the body for {} {model} is not JSON ({e})", provider.id));
            assert!(sent.is_object(), "the body for {} {model} is not an object", provider.id);
        }
    }
});
