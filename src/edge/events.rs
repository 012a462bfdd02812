//! Writing cost events and reading attribution tags.
//!
//! Events go to the `COST_EVENTS` Analytics Engine dataset. Locally Analytics Engine writes do
//! nothing, so when (and only when) an `EVENT_SINK` service binding exists, each event is also
//! posted to it as JSON; the integration tests bind it to a collector. Production configuration
//! has no such binding.

use worker::Env;

use crate::api::ApiError;
use crate::events::{Attribution, CostEvent};
use crate::receipt::Receipt;

use super::auth::Principal;
use super::http::RequestContext;

pub fn record(env: &Env, rc: &RequestContext, principal: &Principal, status: u16, receipt: &Receipt) {
    *rc.answered_cost.borrow_mut() = Some(receipt.charged());
    let attribution = rc.attribution.borrow().clone();
    let mut event = CostEvent::from_receipt(&principal.tenant.id, attribution, &rc.country, status, receipt, rc.elapsed_ms());
    event.shape = rc.shape.borrow().clone();
    write(env, &event);
    *rc.event.borrow_mut() = Some(event);
}

/// A stream that broke after its headers left: answered, and billed for what was generated, yet
/// failed; the event carries `error_code` so failures can be counted from events alone.
pub fn record_broken_stream(env: &Env, rc: &RequestContext, principal: &Principal, receipt: &Receipt, status: u16, error_code: &str) {
    let attribution = rc.attribution.borrow().clone();
    let mut event = CostEvent::from_receipt(&principal.tenant.id, attribution, &rc.country, status, receipt, rc.elapsed_ms()).with_error_code(error_code);
    event.shape = rc.shape.borrow().clone();
    write(env, &event);
    *rc.event.borrow_mut() = Some(event);
}

pub fn record_failure(env: &Env, rc: &RequestContext, _principal: Option<&Principal>, err: &ApiError) {
    let tenant = rc.tenant.borrow().clone().unwrap_or_default();
    let attribution = rc.attribution.borrow().clone();
    let model = rc.model.borrow().clone();
    let mut event = CostEvent::failure(&tenant, attribution, &rc.country, err.status, &rc.request_id, err.code, &model, rc.elapsed_ms());
    // Filed under the deployment it last tried and the route that chose it, as its answer would
    // have been: per-model error counts then see the failures of the model that failed.
    if let Some((provider, upstream_model, route)) = rc.last_attempt.borrow().clone() {
        event.provider = provider;
        event.model = upstream_model;
        event.route = route;
    }
    event.shape = rc.shape.borrow().clone();
    // A semantic lookup through a provider embedder, or embeddings batches of a deployment that
    // then failed, were paid for before the request failed (or was refused by a budget): the
    // event says so, and the budgets that cover it are charged.
    let spent = rc.unseen_cost.get();
    if spent > crate::money::Usd::ZERO {
        event.cost_usd = spent.as_f64();
        // Nothing was answered, so nothing saved: the baseline is what was paid.
        event.baseline_cost_usd = event.cost_usd;
        *rc.answered_cost.borrow_mut() = Some(spent);
    }
    write(env, &event);
    *rc.event.borrow_mut() = Some(event);
}

fn write(env: &Env, event: &CostEvent) {
    if let Err(e) = super::crossings::write_data_point(env, "COST_EVENTS", &event.data_point()) {
        worker::console_error!("cost event not written: {e}");
    }
    if has_event_sink(env) {
        let body = serde_json::to_string(event).unwrap_or_default();
        SINK_OUTBOX.with(|o| {
            let mut o = o.borrow_mut();
            // Only a test collector reads these; never let a collector that stopped reading grow
            // the isolate without bound.
            if o.len() < SINK_OUTBOX_LIMIT {
                o.push(body);
            }
        });
    }
}

const SINK_OUTBOX_LIMIT: usize = 10_000;

/// Whether the test-only `EVENT_SINK` service is bound, asked once per isolate (bindings do not
/// change while it lives; asking per event cost three calls into JS and an error's formatting).
fn has_event_sink(env: &Env) -> bool {
    thread_local! {
        static BOUND: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
    }
    BOUND.with(|bound| *bound.get_or_init(|| env.service("EVENT_SINK").is_ok()))
}

thread_local! {
    /// Events waiting to be posted to `EVENT_SINK`. They are posted from a `waitUntil` of the
    /// request that wrote them (`flush_sink`), not from a detached task: a detached subrequest
    /// still pending when its request ends is cancelled by the runtime without ever settling, so
    /// its Rust future, body and JS callbacks were never freed (the isolate grew ~0.7 MB per
    /// 1,000 requests in the load test).
    static SINK_OUTBOX: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether events are waiting for [`flush_sink`].
pub fn sink_pending() -> bool {
    SINK_OUTBOX.with(|o| !o.borrow().is_empty())
}

/// Posts every waiting event to `EVENT_SINK`. Call it inside `ctx.wait_until`.
pub async fn flush_sink(env: &Env) {
    let bodies = SINK_OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut()));
    let Ok(sink) = env.service("EVENT_SINK") else { return };
    for body in bodies {
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(body.into()));
        if let Ok(req) = worker::Request::new_with_init("https://event-sink/events", &init) {
            let _ = sink.fetch_request(req).await;
        }
    }
}

/// Attribution tags for a request: headers, then body `metadata`, then the OpenAI `user` field,
/// then the key's defaults (rules in `crate::attribution`).
pub fn attribution(headers: &super::http::RequestHeaders, principal: &Principal, metadata: Option<&serde_json::Value>, body_user: Option<&str>) -> Result<Attribution, ApiError> {
    crate::attribution::resolve(|name| headers.get(name), metadata, body_user, crate::attribution::KeyTags { tags: &principal.tags, locked: principal.tags_locked })
}

/// Files the request under the tags its headers and key give it, before its body is read: a
/// request refused for its body (broken JSON, a bad parameter, too large) still counts against
/// the feature and team that sent it. The body's own tags replace these once it parses; a
/// malformed tag header leaves the key's tags alone here and is refused with the body's.
pub fn attribute_before_body(rc: &super::http::RequestContext, principal: &Principal) {
    let tags = attribution(&rc.headers, principal, None, None).unwrap_or_else(|_| principal.tags.clone());
    rc.set_attribution(tags);
}
