//! What a provider sends back, whole: each adapter's answer, error and embeddings readers fed any
//! bytes, as a broken or hostile host might send them. Properties: no panic (a worker exception);
//! an answer read as a success is a JSON object, which the edge then writes fields into (a
//! non-object there would panic it); usage read from any body, however its counts disagree (more
//! cached tokens than input, more reasoning than output, counts near 2^64), prices at every kind
//! of seeded row (tiers, cache writes, audio, reasoning) without overflowing. The first byte picks
//! the provider and the model.
#![no_main]

use costrouter::catalog::ProviderConfig;
use costrouter::pricing::PriceTable;
use costrouter::providers::{adapter_for, Target};
use costrouter::usage::Usage;
use costrouter_fuzz::all_providers;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static PROVIDERS: OnceLock<Vec<ProviderConfig>> = OnceLock::new();
static PRICES: OnceLock<PriceTable> = OnceLock::new();

/// Seeded rows with each pricing rule: plain, long-context tiers and cache writes, audio,
/// reasoning, spoken output, priority and flex tiers.
const PRICED_AS: [&str; 6] = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "o4-mini", "gpt-4o-audio-preview", "gemini-2.5-pro"];

const MODELS: [&str; 4] = ["gpt-4o-mini", "o4-mini", "claude-sonnet-4-5", "gemini-2.5-flash"];

fn price_everywhere(u: &Usage) {
    let prices = PRICES.get_or_init(|| PriceTable::from_json(include_str!("../../kv-seed/pricing.json")).expect("kv-seed/pricing.json loads"));
    for key in PRICED_AS {
        if let Some(row) = prices.get(key) {
            let cost = row.cost(u, false);
            let _ = row.cost(u, true);
            let charged = row.charge(u);
            assert!(u.billed.is_some() || charged == cost);
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else { return };
    let providers = PROVIDERS.get_or_init(all_providers);
    let provider = &providers[usize::from(selector & 0x0f) % providers.len()];
    let model = MODELS[usize::from(selector >> 4) % MODELS.len()];
    let adapter = adapter_for(provider.kind);
    let target = Target { provider, upstream_model: model, api_key: Some("fuzz-key-0123456789") };
    if let Ok(answer) = adapter.chat_response(&target, body) {
        assert!(answer.body.is_object(), "{} read a success that is not an object", provider.id);
    }
    for status in [400u16, 401, 404, 413, 422, 429, 500, 503, 529] {
        let _ = adapter.error_message(status, body);
        let _ = adapter.rejection(status, body);
        if let Some(wait) = adapter.wait_in_error(status, body) {
            assert!(wait.is_finite() && wait >= 0.0, "{} read a wait of {wait}", provider.id);
        }
    }
    if let Ok(mut answer) = adapter.embeddings_response(&target, body.to_vec()) {
        let _ = answer.first_vector();
        answer.encode_base64();
        answer.report_tokens(7);
        let written = answer.into_bytes();
        // What the provider wrote is passed on where it is not rewritten: a number past f64's
        // range, which serde_json refuses (JavaScript reads it as Infinity), stays one. So the
        // answer must read back whenever the provider's did.
        if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
            assert!(serde_json::from_slice::<serde_json::Value>(&written).is_ok_and(|v| v.is_object()), "{} wrote embeddings that are not an object", provider.id);
        }
    }
    // Usage as each wire format reports it, from whatever JSON the body holds.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        price_everywhere(&Usage::from_anthropic(&value));
        price_everywhere(&Usage::from_gemini(&value));
        if let Some(openai) = Usage::from_openai(&value) {
            price_everywhere(&openai);
        }
        if let Some(embeddings) = Usage::from_openai_embeddings(&value) {
            price_everywhere(&embeddings);
        }
    }
});
