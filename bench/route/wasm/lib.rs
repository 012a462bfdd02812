//! wasm exports for bench/route/harness.mjs: the route decision the worker makes for each chat
//! request, behind raw pointers. Timing is done by the harness (node's V8 is the engine Workers use).

#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;

use costrouter::api::chat::ChatRequest;
use costrouter::catalog::{Catalog, ProviderConfig};
use costrouter::pricing::PriceTable;
use costrouter::routing::plan::{plan, Outcome, PlanInput};
use costrouter::routing::policy::{Facts, Policy};

struct Setup {
    catalog: Catalog,
    prices: PriceTable,
    policy: Policy,
}

thread_local! {
    static SETUP: RefCell<Option<Setup>> = const { RefCell::new(None) };
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    std::slice::from_raw_parts(ptr, len)
}

unsafe fn text<'a>(ptr: *const u8, len: usize) -> &'a str {
    std::str::from_utf8(bytes(ptr, len)).expect("utf-8")
}

#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    Box::leak(vec![0u8; len].into_boxed_slice()).as_mut_ptr()
}

/// Loads and validates the catalog, prices and policy (what the worker does once per isolate).
/// Returns 0, or 1/2/3 for which one failed to load.
#[no_mangle]
pub unsafe extern "C" fn setup(c: *const u8, cl: usize, p: *const u8, pl: usize, po: *const u8, pol: usize) -> u32 {
    let Ok(catalog) = Catalog::from_json(text(c, cl)) else { return 1 };
    let Ok(prices) = PriceTable::from_json(text(p, pl)) else { return 2 };
    let Ok(policy) = Policy::from_toml("bench.toml", text(po, pol), &catalog) else { return 3 };
    SETUP.with(|s| *s.borrow_mut() = Some(Setup { catalog, prices, policy }));
    0
}

/// Parses a request body only. Returns its message count (so the work is not optimised away).
#[no_mangle]
pub unsafe extern "C" fn parse_only(ptr: *const u8, len: usize) -> u32 {
    ChatRequest::parse(bytes(ptr, len)).map_or(0, |r| r.messages.len() as u32)
}

/// The decision on an already-parsed request, as the worker makes it: facts (classification
/// with the exact prompt token count) then the policy's plan. Returns prompt tokens × 100 +
/// candidates, or 0 when no route was found. `tenant`: `None` counts every text (a prompt the
/// isolate has not seen); the worker passes its tenant, whose long texts seen before are not
/// counted again.
fn decide_parsed(req: &ChatRequest, tenant: Option<&str>) -> u64 {
    SETUP.with(|s| {
        let s = s.borrow();
        let s = s.as_ref().expect("setup first");
        let facts = Facts::for_chat(req, tenant);
        let everyone = |_: &ProviderConfig| true;
        let input = PlanInput {
            catalog: &s.catalog,
            prices: &s.prices,
            facts: &facts,
            // As the worker plans (`edge::chat::route`).
            expected_output_tokens: req.needed_output_tokens().unwrap_or(costrouter::routing::plan::DEFAULT_EXPECTED_OUTPUT_TOKENS),
            choices: req.choices(),
            reasoning_effort: req.reasoning_effort(),
            requested_output_tokens: req.needed_output_tokens(),
            output_holds_reasoning: req.needed_output_tokens().is_some(),
            adapter_output_cap: &|p, upstream_model| costrouter::providers::adapter_for(p.kind).default_output_cap(req, upstream_model),
            reasoning_as_asked: &|p, upstream_model| costrouter::providers::adapter_for(p.kind).reasoning_as_asked(req, upstream_model),
            service_tier: costrouter::usage::ServiceTier::Standard,
            sticky_key: "bench",
            sticky_per_user: false,
            allowed_models: None,
            usable: &everyone,
            latency_ms: &|_| None,
            // A day before any seeded model's retirement: the benchmark's models route whatever
            // day it runs on.
            today: costrouter::calendar::Date { days: costrouter::calendar::days_from_civil(2026, 7, 1) },
        };
        match plan(&s.policy, &input) {
            Ok(Outcome::Route(d)) => facts.prompt_tokens * 100 + d.candidates.len() as u64,
            Ok(_) => facts.prompt_tokens * 100,
            Err(_) => 0,
        }
    })
}

thread_local! {
    static PARSED: RefCell<Option<ChatRequest>> = const { RefCell::new(None) };
}

/// Parses a body and keeps it, so `decide` can be timed without the parse.
#[no_mangle]
pub unsafe extern "C" fn keep(ptr: *const u8, len: usize) -> u32 {
    match ChatRequest::parse(bytes(ptr, len)) {
        Ok(r) => {
            PARSED.with(|p| *p.borrow_mut() = Some(r));
            1
        }
        Err(_) => 0,
    }
}

/// The decision on the kept request, its prompt counted as never seen.
#[no_mangle]
pub extern "C" fn decide() -> u64 {
    PARSED.with(|p| decide_parsed(p.borrow().as_ref().expect("keep first"), None))
}

/// The decision on the kept request for a tenant that sent its texts before (the next turn of a
/// conversation resends the system prompt and history): their counts are looked up.
#[no_mangle]
pub extern "C" fn decide_seen() -> u64 {
    PARSED.with(|p| decide_parsed(p.borrow().as_ref().expect("keep first"), Some("bench")))
}

/// Parse and decide: the whole per-request CPU of routing.
#[no_mangle]
pub unsafe extern "C" fn parse_and_decide(ptr: *const u8, len: usize) -> u64 {
    ChatRequest::parse(bytes(ptr, len)).map_or(0, |r| decide_parsed(&r, None))
}

/// The exact prompt token count alone, on the kept request.
#[no_mangle]
pub extern "C" fn prompt_tokens() -> u64 {
    PARSED.with(|p| costrouter::tokens::prompt_tokens(p.borrow().as_ref().expect("keep first"), None).count)
}

/// Classification alone (it includes the prompt token count), on the kept request.
#[no_mangle]
pub extern "C" fn classify() -> u64 {
    PARSED.with(|p| costrouter::routing::classify::classify(p.borrow().as_ref().expect("keep first"), None).features.prompt_tokens)
}
