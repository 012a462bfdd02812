//! The worker's side of the ledger: reserve before the upstream call, settle or release after,
//! count per-minute limits. Each call is one request to the tenant's `Ledger` Durable Object.

use serde_json::{json, Value};
use worker::Env;

use super::crossings::ObjectStub;

use super::auth::Principal;
use super::http::RequestContext;
use crate::api::ApiError;
use crate::budget::{Exceeded, RateLimited, RateStatus};
use crate::money::Usd;

/// The tenant's ledger; `None` when no `LEDGER` binding exists (budgets are then not enforced,
/// which `wrangler.toml` never configures, but a partial local setup might).
pub fn ledger(env: &Env, tenant: &str) -> Option<ObjectStub> {
    ObjectStub::named(env, "LEDGER", tenant)
}

/// [`ledger`] for the calls that cannot go on without it (reports, alerts, admin): an unbound
/// namespace is the operator's configuration error.
pub fn required_ledger(env: &Env, tenant: &str) -> Result<ObjectStub, ApiError> {
    ledger(env, tenant).ok_or_else(|| ApiError::configuration("The LEDGER Durable Object is not bound."))
}

pub(super) async fn call(stub: &ObjectStub, path: &str, body: Option<Value>) -> Result<Value, ApiError> {
    call_with_body(stub, path, body.map(|b| b.to_string()).as_deref()).await
}

async fn call_with_body(stub: &ObjectStub, path: &str, body: Option<&str>) -> Result<Value, ApiError> {
    // As bytes: one copy out of wasm, where a JS string is decoded from UTF-8 (a `/finish` batch
    // is a few hundred KB under load).
    let (status, text) = stub.call(&format!("https://ledger{path}"), body.map(str::as_bytes)).await.map_err(|e| ApiError::internal(format!("ledger unreachable: {e}")))?;
    if status >= 500 {
        // The ledger failed (its stored state unreadable, storage down): the router's error,
        // retried by `finish`, not the caller's.
        return Err(ApiError::internal(format!("ledger: {text}")));
    }
    if status != 200 {
        return Err(ApiError::invalid_request(format!("ledger: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("ledger answered badly: {e}")))
}

pub struct Reservation {
    pub soft_warnings: Vec<String>,
    /// Whether it holds money against a budget (see `budget::Reserved::held`).
    pub held: bool,
}

/// The reservation a ledger's `ok` reply to `/admit` or `/reserve` describes. A reply without
/// `held`, from a ledger deployed before it, is taken to hold money.
fn reservation(v: &Value) -> Reservation {
    let soft_warnings = v["soft_warnings"].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default();
    Reservation { soft_warnings, held: v["held"] != false }
}

/// Counts a request against the per-minute limits and reserves `amount` against the budgets that
/// cover it (its attribution tags and key). A rate limit refuses at once (429 with
/// `retry-after`, or `x-should-retry: false` for a request larger than a token limit, which no
/// wait admits); the `x-ratelimit-*` headers go on the response either way; a budget's refusal
/// comes back for the caller to act on (chat may downgrade, see `edge::chat`).
pub async fn admit_request(rc: &RequestContext, stub: &ObjectStub, principal: &Principal, tokens: u64, amount: Usd, now: i64, may_downgrade: bool) -> Result<Result<Reservation, Exceeded>, ApiError> {
    let attribution = rc.attribution.borrow().clone();
    let admitted = admit(stub, &principal.tenant.id, &rc.request_id, tokens, amount, &attribution.team, &attribution.feature, &attribution.environment, &principal.key_id, now, may_downgrade).await?;
    if !matches!(admitted, Err(Refusal::RateLimited(_))) {
        // Counted against the per-minute limits (a budget's refusal is taken back out by the
        // ledger, or by `unadmit` after a downgrade that finds nothing).
        rc.admitted_tokens.set(Some(tokens));
    }
    let (status, reserved) = match admitted {
        Ok((status, reservation)) => (status, Ok(reservation)),
        Err(Refusal::RateLimited(limited)) if !limited.retryable() => {
            return Err(ApiError::rate_limited(limited.message()).retry_cannot_help());
        }
        Err(Refusal::RateLimited(mut limited)) => {
            // The next minute admits it: at most the 59 s the SDKs honour (a wait of 60 or 61 s,
            // at a minute's first second or for a call stamped in the last one, would read as
            // "do not retry"; retried a second early, it is told to wait that second).
            limited.retry_after_secs = limited.retry_after_secs.min(crate::api::error::LONGEST_RETRY_AFTER_SDKS_HONOUR_SECS);
            rc.tell_retry_after(limited.retry_after_secs);
            return Err(ApiError::rate_limited(limited.message()));
        }
        Err(Refusal::Exceeded(ex, status)) => (status, Err(ex)),
    };
    for (name, value) in status.headers() {
        rc.add_header(name, value);
    }
    Ok(reserved)
}

/// Tells the client which soft limits its request passed, and notes when its reservation was
/// made, if it holds money (a long request renews it, see [`renew_if_due`]).
pub fn note_reserved(rc: &RequestContext, reserved: &Reservation) {
    rc.reservation_renewed_ms.set(reserved.held.then(super::http::now_ms));
    if !reserved.soft_warnings.is_empty() {
        rc.add_header("x-costrouter-budget-warning", format!("soft limit passed: {}", reserved.soft_warnings.join(", ")));
    }
}

/// The client's error for a budget that refused a request of most possible cost `amount`:
/// spent out (until it resets), too small for this request whatever else runs, or held for now
/// by requests in flight, which a retry may outlast (see `budget::Exceeded::cause`).
/// `downgraded_to`: the model a downgrading budget sent the request to before this refusal.
pub fn exceeded(ex: &Exceeded, amount: Usd, downgraded_to: Option<&str>) -> ApiError {
    let resets_at = super::http::rfc3339(ex.resets_at);
    match ex.cause(amount) {
        crate::budget::ExceededCause::Spent => ApiError::budget_exceeded(&ex.budget_id, &ex.limit.to_string(), &ex.spent.to_string(), &resets_at),
        crate::budget::ExceededCause::RequestTooLarge => ApiError::budget_too_small_for(&ex.budget_id, &amount.to_string(), &ex.left().to_string(), &resets_at, downgraded_to),
        crate::budget::ExceededCause::HeldInFlight => ApiError::budget_held(&ex.budget_id, &ex.left().to_string(), &ex.reserved.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn reserve(stub: &ObjectStub, request_id: &str, amount: Usd, team: &str, feature: &str, env_tag: &str, key_id: &str, now: i64) -> Result<Result<Reservation, Exceeded>, ApiError> {
    let v = call(stub, "/reserve", Some(json!({"request_id": request_id, "amount": amount, "team": team, "feature": feature, "env": env_tag, "key_id": key_id, "now": now}))).await?;
    if v["ok"] == true {
        return Ok(Ok(reservation(&v)));
    }
    Ok(Err(serde_json::from_value(v["exceeded"].clone()).map_err(|e| ApiError::internal(e.to_string()))?))
}

/// Longest a renewal may hold up what the request is doing (a stream's next bytes).
const RENEW_WAIT: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Keeps the request's reservation holding money past its 15 minutes: renewed once
/// [`renew_every_ms`] has gone by since it was made or last renewed (a long stream, a fallback
/// chain of slow whole answers). A failure is logged, not the request's: the next renewal may
/// reach the ledger, and an expired reservation's request is still charged when it ends.
pub async fn renew_if_due(env: &Env, rc: &RequestContext, tenant: &str) {
    let Some(at) = rc.reservation_renewed_ms.get() else { return };
    if super::http::now_ms() - at < renew_every_ms(env) {
        return;
    }
    rc.reservation_renewed_ms.set(Some(super::http::now_ms()));
    let Some(stub) = ledger(env, tenant) else { return };
    let request_id = &rc.request_id;
    let renewal = std::pin::pin!(call(&stub, "/renew", Some(json!({"request_id": request_id, "now": super::http::now_unix()}))));
    let timeout = std::pin::pin!(worker::Delay::from(RENEW_WAIT));
    let answered = match futures_util::future::select(renewal, timeout).await {
        futures_util::future::Either::Left((answer, _)) => Some(answer),
        futures_util::future::Either::Right(_) => None,
    };
    // A renewal that failed is tried again a tenth of the interval later, not a whole interval:
    // two failures five minutes apart would otherwise let the reservation lapse while its
    // request runs (its money free for others, the request still charged when it settles).
    let retry_soon = || rc.reservation_renewed_ms.set(Some(super::http::now_ms() - renew_every_ms(env) * (1.0 - RETRY_FAILED_RENEWAL_AFTER)));
    match answered {
        Some(Ok(v)) if v["renewed"] == true => {}
        Some(Ok(_)) => {
            worker::console_warn!("ledger renew: request {request_id} holds no reservation any more");
            // Nothing left to keep held: no more renewals.
            rc.reservation_renewed_ms.set(None);
        }
        Some(Err(e)) => {
            worker::console_warn!("ledger renew failed for request {request_id}: {}", e.message);
            retry_soon();
        }
        None => {
            worker::console_warn!("ledger renew for request {request_id} not answered within {} ms", RENEW_WAIT.as_millis());
            retry_soon();
        }
    }
}

/// Milliseconds until the request's reservation is next due for renewal (0 when due), rounded up:
/// a timer that fired a fraction early would find the renewal not yet due. `None` if it holds none.
pub fn renewal_due_in_ms(env: &Env, rc: &RequestContext) -> Option<f64> {
    let renewed_at = rc.reservation_renewed_ms.get()?;
    Some((renewed_at + renew_every_ms(env) - super::http::now_ms()).max(0.0).ceil())
}

/// Awaits `work` (a provider call, embeddings batches, a live stream's end), renewing the
/// request's reservation whenever it falls due meanwhile, all in the task that awaits (a
/// stream's pulls are tasks of their own: `StreamState::next_upstream`): one whole answer may
/// take longer than the reservation's 15 minutes (a deployment's `answer_timeout_ms` has no
/// upper bound), and a model may think for minutes without sending a byte. `work` is polled on,
/// not dropped, when the timer fires.
pub async fn renewing<F: std::future::Future>(env: &Env, rc: &RequestContext, tenant: &str, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    loop {
        let Some(wait_ms) = renewal_due_in_ms(env, rc) else { return work.await };
        let due = worker::Delay::from(std::time::Duration::from_millis(wait_ms as u64));
        if let futures_util::future::Either::Left((out, _)) = futures_util::future::select(work.as_mut(), due).await {
            return out;
        }
        renew_if_due(env, rc, tenant).await;
    }
}

/// After a failed renewal, the share of the renewal interval before the next try.
const RETRY_FAILED_RENEWAL_AFTER: f64 = 0.1;

/// How often a live stream renews its reservation, in milliseconds: `budget::RESERVATION_RENEW_SECS`,
/// or `TEST_RESERVATION_RENEW_MS` (integration tests, which cannot wait five minutes; no
/// deployment sets it).
pub fn renew_every_ms(env: &Env) -> f64 {
    env.var("TEST_RESERVATION_RENEW_MS")
        .ok()
        .and_then(|v| v.to_string().parse::<f64>().ok())
        .filter(|ms| *ms >= 50.0)
        .unwrap_or(crate::budget::RESERVATION_RENEW_SECS as f64 * 1000.0)
}

// Tenants this isolate saw with no budgets and no per-minute limits, whose requests skip the
// ledger before calling a provider: budgets or limits set meanwhile take effect within its 5 s
// (at once on the isolate that set them).
thread_local! {
    static UNCONTROLLED: std::cell::RefCell<crate::uncontrolled_tenants::UncontrolledTenants> = std::cell::RefCell::default();
}

/// Whether the tenant was recently seen with no budgets and no limits: then there is nothing to
/// reserve or count, and the request goes out without a ledger round trip.
pub fn known_uncontrolled(tenant: &str) -> bool {
    UNCONTROLLED.with(|c| c.borrow().known(tenant, super::http::now_ms()))
}

/// Drops what this isolate knows of a tenant's controls (its budgets or limits just changed).
pub fn forget_control(tenant: &str) {
    UNCONTROLLED.with(|c| c.borrow_mut().forget(tenant));
}

/// Why `/admit` refused a request.
pub enum Refusal {
    RateLimited(RateLimited),
    /// A budget would pass its hard limit; the per-minute limits had admitted the request.
    Exceeded(Exceeded, RateStatus),
}

/// Takes a request a budget refused after all (its downgrade found nothing that fits) back out
/// of the per-minute counts its `/admit` added. Bookkeeping: a failure is logged, and the
/// client still hears the budget's refusal.
pub async fn unadmit(stub: &ObjectStub, rc: &RequestContext, principal: &Principal, tokens: u64, now: i64) {
    let body = json!({"key_id": principal.key_id, "tokens": tokens, "now": now});
    if let Err(e) = call(stub, "/unadmit", Some(body)).await {
        worker::console_error!("ledger unadmit failed for request {}: {}", rc.request_id, e.message);
    }
}

/// The per-minute limits and the reservation in one round trip to the ledger.
#[allow(clippy::too_many_arguments)]
/// `may_downgrade`: whether a budget set to downgrade may send the request to a cheaper route
/// (chat), so that its refusal still counts against the per-minute limits; embeddings may not.
pub async fn admit(stub: &ObjectStub, tenant: &str, request_id: &str, tokens: u64, amount: Usd, team: &str, feature: &str, env_tag: &str, key_id: &str, now: i64, may_downgrade: bool) -> Result<Result<(RateStatus, Reservation), Refusal>, ApiError> {
    let asked_at = UNCONTROLLED.with(|c| c.borrow().changes());
    let v = call(stub, "/admit", Some(json!({"request_id": request_id, "tokens": tokens, "amount": amount, "team": team, "feature": feature, "env": env_tag, "key_id": key_id, "now": now, "may_downgrade": may_downgrade}))).await?;
    let bad = |e: serde_json::Error| ApiError::internal(e.to_string());
    if v["ok"] == true {
        UNCONTROLLED.with(|c| c.borrow_mut().note(tenant, v["controlled"] != false, asked_at, super::http::now_ms()));
        return Ok(Ok((serde_json::from_value(v["status"].clone()).map_err(bad)?, reservation(&v))));
    }
    if !v["limited"].is_null() {
        return Ok(Err(Refusal::RateLimited(serde_json::from_value(v["limited"].clone()).map_err(bad)?)));
    }
    Ok(Err(Refusal::Exceeded(serde_json::from_value(v["exceeded"].clone()).map_err(bad)?, serde_json::from_value(v["status"].clone()).map_err(bad)?)))
}

/// How long finished requests wait to be sent to their tenant's ledger together (group commit).
/// A Durable Object handles one call at a time, and a call that writes costs about as much for
/// one request as for fifty: batching is what lets one tenant's traffic go past a few hundred
/// requests a second. Reservations are released at most this much later.
const GROUP_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Pauses before each `/finish` attempt: at once, then five more over about 15 s (inside the 30 s
/// `waitUntil` grants after the response), for a ledger reset by a deploy or overloaded.
const FINISH_RETRY_PAUSES_MS: [u64; 6] = [0, 250, 1_000, 2_000, 4_000, 8_000];

#[derive(serde::Serialize)]
struct FinishedItem<'a> {
    request_id: &'a str,
    key_id: &'a str,
    actual: Option<Usd>,
    event: Option<&'a crate::events::CostEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    admitted_tokens: Option<u64>,
}

thread_local! {
    static FINISH_QUEUE: std::cell::RefCell<crate::finish_queue::FinishQueue> = std::cell::RefCell::new(Default::default());
}

/// A request that has ended, for its tenant's ledger: what it cost (`None`: release its
/// reservation) and its cost event for the rollups.
pub struct Finished {
    pub tenant: String,
    /// For the budgets scoped to a key, should the request have reserved nothing.
    pub key_id: String,
    pub request_id: String,
    pub actual: Option<Usd>,
    pub event: Option<crate::events::CostEvent>,
    /// What its admission counted against the per-minute token limits, if it was admitted: the
    /// ledger counts the tokens used beyond that (`Ledger::count_used_tokens`).
    pub admitted_tokens: Option<u64>,
    /// A streamed answer to cache, once whole.
    pub cache_store: Option<super::cache::PendingStore>,
}

/// Settles the request's reservation to `actual` (or releases it, with `None`) and adds its cost
/// event to the rollups. Called after the response has gone, inside `waitUntil`.
///
/// The first request to find no open batch for its tenant opens one and sends it after
/// [`GROUP_COMMIT`]; its `waitUntil` keeps the isolate alive until the batch is written. Requests
/// that join an open batch return at once: awaiting a flush that another request's context
/// drives would resolve their promise from that context, which workerd refuses (it cancels the
/// continuation, leaving the joining request's `waitUntil` pending until its time limit).
pub async fn finish(env: &Env, done: Finished) {
    let item = match serde_json::to_string(&FinishedItem { request_id: &done.request_id, key_id: &done.key_id, actual: done.actual, event: done.event.as_ref(), admitted_tokens: done.admitted_tokens }) {
        Ok(item) => item,
        Err(e) => {
            worker::console_error!("a finished request could not be encoded for the ledger: {e}");
            return;
        }
    };
    let tenant = done.tenant;
    if env.durable_object("LEDGER").is_err() {
        return;
    }
    if !FINISH_QUEUE.with(|q| q.borrow_mut().add(&tenant, item, super::http::now_ms())) {
        return;
    }
    worker::Delay::from(GROUP_COMMIT).await;
    let now = super::http::now_unix();
    let fresh = FINISH_QUEUE.with(|q| q.borrow_mut().take_open(&tenant, now, super::http::now_ms()));
    // The stub is made by the request that sends, not by every request that joins its batch (a
    // stub per request was 2% of the isolate's time under load).
    let Some(stub) = ledger(env, &tenant) else {
        worker::console_error!("ledger finish: no stub for the tenant's ledger");
        return;
    };
    // A ledger that cannot be reached (reset by a deploy, overloaded) is asked again: without the
    // batch its reservations would hold money for 15 minutes and its spend would never count.
    if let Some(send) = fresh {
        let delivered = send_finished(&stub, &send, &FINISH_RETRY_PAUSES_MS).await;
        FINISH_QUEUE.with(|q| q.borrow_mut().report(&tenant, send.id, delivered));
    }
    // Batches an earlier sender could not deliver, or was cancelled before it did: once each,
    // on their own (one the ledger keeps refusing never holds up a fresh one), stamped with
    // their own time (their rollups fall in the minute they finished).
    let (due, dropped) = FINISH_QUEUE.with(|q| q.borrow_mut().due(&tenant, now, super::http::now_ms()));
    if dropped > 0 {
        worker::console_error!("ledger finish: {dropped} finished requests dropped, undelivered for {} s", crate::finish_queue::RESEND_WITHIN_SECS);
    }
    for send in due {
        let delivered = send_finished(&stub, &send, &[0]).await;
        FINISH_QUEUE.with(|q| q.borrow_mut().report(&tenant, send.id, delivered));
    }
}

/// Sends one `/finish` batch stamped `now`, after each of `pauses_ms` in turn until the ledger
/// takes it. The ledger skips requests it already finished, so a batch it applied before failing
/// to answer is not counted twice. `false`: not delivered, and worth sending again (the ledger
/// failed or could not be reached; a batch it refuses as malformed never will be taken).
async fn send_finished(stub: &ObjectStub, send: &crate::finish_queue::Send, pauses_ms: &[u64]) -> bool {
    for (attempt, pause_ms) in pauses_ms.iter().enumerate() {
        if *pause_ms > 0 {
            worker::Delay::from(std::time::Duration::from_millis(*pause_ms)).await;
        }
        match call_with_body(stub, "/finish", Some(&send.body)).await {
            Ok(_) => return true,
            Err(e) if e.status >= 500 && attempt + 1 < pauses_ms.len() => continue,
            Err(e) => {
                worker::console_error!("ledger finish failed for a batch of {} after {} attempts: {}", send.count, attempt + 1, e.message);
                return e.status < 500;
            }
        }
    }
    true
}

pub async fn configure(stub: &ObjectStub, config: &Value) -> Result<Value, ApiError> {
    call(stub, "/config", Some(config.clone())).await
}

pub async fn state(stub: &ObjectStub) -> Result<Value, ApiError> {
    call(stub, "/state", None).await
}

/// [`state`] with every reservation in flight (request id, budgets, amount, expiry): for the
/// admin API, not a tenant key (another key's requests, and it grows with the traffic).
pub async fn state_with_reservations(stub: &ObjectStub) -> Result<Value, ApiError> {
    let mut state = state(stub).await?;
    state["reservations"] = call(stub, "/reservations", None).await?["reservations"].take();
    Ok(state)
}

/// The tenant's usage rollups between `from` and `to`, restricted to rows whose dimensions equal
/// the filters (validated by `rollup::parse_filters`; none: all of them), its days, weeks and
/// months those of `time_zone` (a checked tz database name) when one is given.
#[allow(clippy::too_many_arguments)]
pub async fn usage(stub: &ObjectStub, from: i64, to: i64, group_by: &str, granularity: &str, week_start: Option<&str>, filters: &[(&str, String)], time_zone: Option<&str>) -> Result<Value, ApiError> {
    call(stub, "/usage", Some(json!({"from": from, "to": to, "group_by": group_by, "granularity": granularity, "week_start": week_start, "filters": filters, "time_zone": time_zone}))).await
}
