//! Alerts at the edge: the cron trigger that evaluates every tenant with alerting configured and
//! delivers what changed, the admin endpoints that configure it, and `GET /v1/alerts`.
//!
//! Detection, deduplication and message bodies are in `crate::alerts`; each tenant's ledger
//! Durable Object keeps its open alerts and an outbox, so a delivery that fails is retried on the
//! next run (up to a limit, then kept in the history with its error) and none is lost.

use serde_json::{json, Value};
use worker::{event, Env, Method, Request, Response, ScheduleContext, ScheduledEvent};

use crate::alerts::{notify, AlertConfig, DeliveryOrder, DeliveryReport, Transition};
use crate::api::ApiError;

use super::http::{self, RequestContext};
use super::spend;

/// The ledger instance that lists the tenants with alerting configured for the cron (no tenant
/// can have this name: `~` is outside tenant ids). One call a run, strongly consistent: earlier
/// releases listed TENANTS KV keys instead, and a KV list a minute is 1,440 a day, past the Free
/// plan's 1,000.
const WATCHLIST_OBJECT: &str = "~alerting";

/// The TENANTS KV keys earlier releases listed the cron's tenants under: read into the watchlist
/// by every run for [`LEGACY_IMPORT_SECS`] after the first that did, then never again. Not only
/// the first: while an upgrade rolls out, isolates of the earlier release may still write them,
/// and a KV list may not show a key written a minute before.
const LEGACY_WATCH_PREFIX: &str = "alerting:";
const LEGACY_IMPORT_SECS: i64 = 3_600;

fn watchlist_object(env: &Env) -> Result<super::crossings::ObjectStub, ApiError> {
    spend::required_ledger(env, WATCHLIST_OBJECT)
}

/// Lists `tenant` for the alerting cron, or (`watched` false) stops listing it.
pub async fn set_watched(env: &Env, tenant: &str, watched: bool) -> Result<(), ApiError> {
    let path = if watched { "/watchlist/add" } else { "/watchlist/remove" };
    spend::call(&watchlist_object(env)?, path, Some(json!({"tenants": [tenant]}))).await.map(drop)
}

/// Tenants evaluated at once by a cron run: a tenant whose webhook is slow to answer holds up only
/// its own slot, not every tenant after it. Each tenant costs a few subrequests, far inside a cron
/// invocation's allowance.
const CONCURRENT_TENANTS: usize = 8;

/// Deliveries waiting for an answer at once in a cron run, all tenants together. A Worker
/// invocation may have six connections waiting for response headers; a fetch past them waits
/// in a queue while its time limit runs, so a healthy destination could time out behind hung
/// ones. Two stay for the ledger calls of the tenants being evaluated.
const CONCURRENT_DELIVERIES: usize = 4;

/// Each delivery gets this long for its response headers (the `TEST_ALERT_DELIVERY_TIMEOUT_MS`
/// var sets it for the integration tests, which cannot wait ten seconds; unset in production).
const DELIVERY_TIMEOUT_MS: u64 = 10_000;

fn delivery_timeout_ms(env: &Env) -> u64 {
    env.var("TEST_ALERT_DELIVERY_TIMEOUT_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(DELIVERY_TIMEOUT_MS)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = (event.schedule() / 1000.0).floor() as i64;
    let tenants = match alerting_tenants(&env, now).await {
        Ok(t) => t,
        Err(e) => {
            worker::console_error!("alerting: tenants not listed: {}", e.message);
            return;
        }
    };
    let (env, slots) = (&env, &tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES));
    futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(tenants), CONCURRENT_TENANTS, |tenant| async move {
        if let Err(e) = evaluate_and_deliver(env, &tenant, now, slots).await {
            worker::console_error!("alerting: tenant {tenant} not evaluated: {}", e.message);
        }
    })
    .await;
}

async fn alerting_tenants(env: &Env, now: i64) -> Result<Vec<String>, ApiError> {
    let registry = watchlist_object(env)?;
    let listed = spend::call(&registry, "/watchlist", None).await?;
    let mut tenants: Vec<String> = serde_json::from_value(listed["tenants"].clone()).map_err(|e| ApiError::internal(format!("the alerting watchlist is unreadable: {e}")))?;
    if listed["first_import"].as_i64().is_none_or(|at| now - at < LEGACY_IMPORT_SECS) {
        // Upgraded from a release that listed them in KV. A failure here (KV's list quota spent
        // for the day) leaves the tenants already listed evaluated, and the next run tries again.
        match import_legacy_watches(env, &registry, now).await {
            Ok(legacy) => {
                tenants.extend(legacy);
                tenants.sort();
                tenants.dedup();
            }
            Err(e) => worker::console_error!("alerting: the tenants an earlier release listed in KV were not read: {}", e.message),
        }
    }
    Ok(tenants)
}

async fn import_legacy_watches(env: &Env, registry: &super::crossings::ObjectStub, now: i64) -> Result<Vec<String>, ApiError> {
    let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
    let names = super::kv_list::names_under(&kv, LEGACY_WATCH_PREFIX).await.map_err(|e| ApiError::internal(format!("KV list failed: {e}")))?;
    let legacy: Vec<String> = names.iter().filter_map(|n| n.strip_prefix(LEGACY_WATCH_PREFIX).map(str::to_string)).collect();
    spend::call(registry, "/watchlist/add", Some(json!({"tenants": legacy, "imported_at": now}))).await?;
    Ok(legacy)
}

/// Turns a deleted tenant's alerting off while keeping it watched (see `AlertConfig::retired`):
/// `true` if it had alerting, whose watch the cron then ends once its alerts are resolved and
/// told; `false` if there is nothing to watch.
pub async fn retire(env: &Env, tenant: &str) -> Result<bool, ApiError> {
    let stub = spend::required_ledger(env, tenant)?;
    Ok(spend::call(&stub, "/alerts/retire", None).await?["retired"] == true)
}

/// One tenant: evaluate in its ledger, send each queued delivery, acknowledge the results. Each
/// destination's deliveries go in their queued order, the destinations at once: one that hangs
/// delays neither the others nor, past one time limit, the run (see [`deliver_in_order`]).
pub async fn evaluate_and_deliver(env: &Env, tenant: &str, now: i64, slots: &tokio::sync::Semaphore) -> Result<usize, ApiError> {
    let stub = spend::required_ledger(env, tenant)?;
    let out = spend::call(&stub, "/alerts/evaluate", Some(json!({"now": now}))).await?;
    let cfg = match crate::alerts::settings_or_release(&out) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return Ok(0),
        Err(release) => {
            if !release.released.is_empty() {
                acknowledge(&stub, &release).await?;
            }
            return Ok(0);
        }
    };
    // A deleted tenant's alerting (`retire`) is watched until its open alerts are resolved and
    // told; then it is let go.
    if cfg.watches_nothing() && out["settled"] == true {
        set_watched(env, tenant, false).await?;
        // Settings stored since the evaluation (an admin PUT, whose listing may have come just
        // before this removal) list the tenant again.
        let view = spend::call(&stub, "/alerts", None).await?;
        // (Settings it cannot read are kept watched: a run that finds nothing to do costs little.)
        let now_watches = match view.get("config").filter(|c| !c.is_null()) {
            None => false,
            Some(c) => serde_json::from_value::<AlertConfig>(c.clone()).map_or(true, |c| !c.watches_nothing()),
        };
        if now_watches {
            set_watched(env, tenant, true).await?;
        }
        return Ok(0);
    }
    let outbox = out["outbox"].as_array().cloned().unwrap_or_default();
    if outbox.is_empty() {
        return Ok(0);
    }
    let mut results = DeliveryReport::default();
    // Each destination's deliveries, in the order they were queued.
    let mut queues: Vec<(&str, Vec<(u64, Transition)>)> = Vec::new();
    for item in &outbox {
        let id = item["id"].as_u64().unwrap_or(0);
        let Ok(transition) = serde_json::from_value::<Transition>(item["transition"].clone()) else {
            results.failed.push((id, "unreadable transition".to_string()));
            continue;
        };
        let destination = item["destination"].as_str().unwrap_or("");
        match queues.iter_mut().find(|(d, _)| *d == destination) {
            Some((_, queue)) => queue.push((id, transition)),
            None => queues.push((destination, vec![(id, transition)])),
        }
    }
    let timeout_ms = delivery_timeout_ms(env);
    let sent = futures_util::future::join_all(queues.into_iter().map(|(destination, queue)| deliver_in_order(env, &cfg, tenant, destination, queue, timeout_ms, slots))).await;
    for outcome in sent {
        results.add(outcome);
    }
    let delivered = results.delivered.len();
    acknowledge(&stub, &results).await?;
    Ok(delivered)
}

/// Tells the tenant's ledger what the run did with the deliveries it handed over.
async fn acknowledge(ledger: &super::crossings::ObjectStub, report: &DeliveryReport) -> Result<(), ApiError> {
    spend::call(ledger, "/alerts/ack", Some(serde_json::to_value(report).map_err(|e| ApiError::internal(e.to_string()))?)).await?;
    Ok(())
}

/// One destination's deliveries, one at a time in their queued order (a resolve must not
/// overtake its trigger, so a failure holds back what follows for the same alert). A delivery
/// that times out means the destination hangs, and a 429 that it wants no more for now: what
/// follows is not tried this run (ten deliveries to a hung webhook would otherwise hold the run,
/// and every lease, for 100 s; to a rate-limited one, each earn another 429), and each counts as
/// a failed attempt, so a destination down for good drains its queue in `MAX_DELIVERY_ATTEMPTS`
/// runs rather than one delivery at a time. Each waits for one of the run's delivery slots
/// ([`CONCURRENT_DELIVERIES`]).
async fn deliver_in_order(env: &Env, cfg: &AlertConfig, tenant: &str, destination: &str, queue: Vec<(u64, Transition)>, timeout_ms: u64, slots: &tokio::sync::Semaphore) -> DeliveryReport {
    let mut done = DeliveryReport::default();
    let mut order = DeliveryOrder::default();
    let mut held: Option<String> = None;
    for (id, transition) in queue {
        if let Some(why) = &held {
            done.failed.push((id, format!("not tried: {why}")));
            continue;
        }
        if !order.may_send(destination, &transition) {
            done.released.push(id);
            continue;
        }
        // The semaphore lives for the whole run and is never closed.
        let Ok(_slot) = slots.acquire().await else {
            done.released.push(id);
            continue;
        };
        match deliver(env, cfg, tenant, destination, &transition, timeout_ms).await {
            Ok(()) => done.delivered.push(id),
            // Refused for good: nothing later for this alert waits behind it.
            Err(DeliveryFailure { why, retryable: false, .. }) => done.given_up.push((id, why)),
            Err(DeliveryFailure { why, retryable: true, holds_destination }) => {
                order.failed(destination, &transition);
                if holds_destination {
                    held = Some(format!("an earlier delivery this run found {destination} unavailable ({why})"));
                }
                done.failed.push((id, why));
            }
        }
    }
    done
}

struct DeliveryFailure {
    why: String,
    /// Whether a later attempt may succeed (see `notify::delivery_retryable`).
    retryable: bool,
    /// No answer came within the time limit, or a 429: nothing more goes to the destination this run.
    holds_destination: bool,
}

impl From<String> for DeliveryFailure {
    fn from(why: String) -> Self {
        DeliveryFailure { why, retryable: true, holds_destination: false }
    }
}

async fn deliver(env: &Env, cfg: &AlertConfig, tenant: &str, destination: &str, t: &Transition, timeout_ms: u64) -> Result<(), DeliveryFailure> {
    let d = &cfg.destinations;
    let (url, body, signature) = match destination {
        "slack" => (d.slack_webhook_url.clone(), notify::slack_body(tenant, t).to_string(), None),
        "webhook" => {
            let body = notify::webhook_body(tenant, t).to_string();
            let sig = d.webhook_secret.as_deref().map(|s| notify::sign(s, http::now_unix(), &body));
            (d.webhook_url.clone(), body, sig)
        }
        "pagerduty" => {
            let url = env.var("PAGERDUTY_EVENTS_URL").map(|v| v.to_string()).unwrap_or_else(|_| notify::PAGERDUTY_EVENTS_URL.to_string());
            // A destination removed since the alert was queued: nothing to send it to (an empty
            // routing key would only earn a 400 a minute until the retries ran out).
            match d.pagerduty_routing_key.as_deref().filter(|k| !k.is_empty()) {
                Some(key) => (Some(url), notify::pagerduty_body(tenant, key, t).to_string(), None),
                None => (None, String::new(), None),
            }
        }
        other => return Err(DeliveryFailure { why: format!("unknown destination '{other}': given up"), retryable: false, holds_destination: false }),
    };
    // Removed from the settings since it was queued: nothing will take it.
    let url = url.ok_or_else(|| DeliveryFailure { why: format!("{destination} is no longer configured: given up"), retryable: false, holds_destination: false })?;
    let mut headers = vec![("content-type".to_string(), "application/json".to_string()), ("user-agent".to_string(), "costrouter-alerts/1".to_string())];
    if let Some(sig) = signature {
        headers.push((notify::SIGNATURE_HEADER.to_string(), sig));
    }
    let up = crate::providers::UpstreamRequest { url, headers, body };
    // The status is the answer: a 2xx body is not read (a receiver that answers 200 and never
    // ends its body would hold the run past the acknowledgement, and the delivery would be
    // handed out again after its lease, a duplicate every ten minutes), and is cancelled.
    let answer = super::upstream::send(&up, timeout_ms, super::upstream::Expect::Stream, None)
        .await
        .map_err(|e| DeliveryFailure { why: e.describe(), retryable: true, holds_destination: matches!(e, super::upstream::SendError::Timeout { .. }) })?;
    if let super::upstream::AnswerBody::Stream(body) = &answer.body {
        let _ = body.cancel();
    }
    match answer.status {
        200..=299 => Ok(()),
        429 => Err(DeliveryFailure { why: format!("{destination} answered HTTP 429"), retryable: true, holds_destination: true }),
        s if notify::delivery_retryable(s) => Err(format!("{destination} answered HTTP {s}").into()),
        s => Err(DeliveryFailure { why: format!("{destination} answered HTTP {s}, which no retry changes: given up"), retryable: false, holds_destination: false }),
    }
}

/// `PUT /admin/tenants/{id}/alerts` (validate, store in the tenant's ledger, list the tenant for
/// the cron) and `GET` (the settings with secrets redacted, open alerts, deliveries).
pub async fn admin(env: &Env, tenant: &str, method: Method, body: Option<Vec<u8>>) -> Result<Value, ApiError> {
    let stub = spend::required_ledger(env, tenant)?;
    if method == Method::Put {
        let body = body.unwrap_or_default();
        let cfg = AlertConfig::from_json(&body).map_err(|m| ApiError::invalid_value("alerts", format!("Invalid alert settings: {m}")))?;
        spend::call(&stub, "/alerts/config", Some(serde_json::to_value(&cfg).map_err(|e| ApiError::internal(e.to_string()))?)).await?;
        // Listed for the cron with or without destinations: a tenant that watches its alerts in
        // GET /v1/alerts, or removed its destinations while alerts were open, is still evaluated
        // (open alerts resolve; transitions go to the history as undelivered).
        set_watched(env, tenant, true).await?;
    }
    spend::call(&stub, "/alerts", None).await
}

/// `GET /v1/alerts`: the calling tenant's open alerts and recent deliveries.
pub async fn list(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = super::auth::authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    // Alerts are about the whole tenant (its spend, its error rates, every budget).
    let scope = principal.report_scope();
    if !scope.is_whole_tenant() {
        return Err(ApiError::permission_denied(format!(
            "This key is locked to {} and reads only that part of the tenant's reports; alerts cover the whole tenant (read them with an unlocked key).",
            scope.describe()
        )));
    }
    let stub = spend::required_ledger(env, &principal.tenant.id)?;
    let mut view = spend::call(&stub, "/alerts", None).await?;
    // Destinations are the admin's business; a tenant key sees the rules and the alerts.
    if let Some(cfg) = view.get_mut("config").and_then(Value::as_object_mut) {
        cfg.remove("destinations");
    }
    http::json(200, &view, &rc.id_headers())
}
