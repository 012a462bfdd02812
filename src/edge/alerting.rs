//! Alerts at the edge: the cron trigger that evaluates every tenant with alerting configured and
//! delivers what changed, the admin endpoints that configure it, and `GET /v1/alerts`.
//!
//! Detection, deduplication and message bodies are in `crate::alerts`; each tenant's ledger
//! Durable Object keeps its open alerts and an outbox, so a delivery that fails is retried on the
//! next run (up to a limit, then kept in the history with its error) and none is lost.

use serde_json::{json, Value};
use worker::{event, Env, Method, Request, Response, ScheduleContext, ScheduledEvent};

use crate::alerts::{notify, AlertConfig, DeliveryOrder, Transition};
use crate::api::ApiError;

use super::http::{self, RequestContext};
use super::spend;

/// TENANTS KV keys that list the tenants with alerting configured (the cron reads only these).
const ALERTING_PREFIX: &str = "alerting:";

/// The TENANTS KV key that lists `tenant` for the cron.
pub fn watch_key(tenant: &str) -> String {
    format!("{ALERTING_PREFIX}{tenant}")
}

/// Tenants evaluated at once by a cron run: a tenant whose webhook is slow to answer (up to
/// [`DELIVERY_TIMEOUT_MS`] per delivery) holds up only its own slot, not every tenant after it.
/// Each tenant costs a few subrequests, far inside a cron invocation's allowance.
const CONCURRENT_TENANTS: usize = 8;

/// Each delivery gets this long for its response headers.
const DELIVERY_TIMEOUT_MS: u64 = 10_000;

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = (event.schedule() / 1000.0).floor() as i64;
    let tenants = match alerting_tenants(&env).await {
        Ok(t) => t,
        Err(e) => {
            worker::console_error!("alerting: tenants not listed: {}", e.message);
            return;
        }
    };
    let env = &env;
    futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(tenants), CONCURRENT_TENANTS, |tenant| async move {
        if let Err(e) = evaluate_and_deliver(env, &tenant, now).await {
            worker::console_error!("alerting: tenant {tenant} not evaluated: {}", e.message);
        }
    })
    .await;
}

async fn alerting_tenants(env: &Env) -> Result<Vec<String>, ApiError> {
    let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
    let names = super::kv_list::names_under(&kv, ALERTING_PREFIX).await.map_err(|e| ApiError::internal(format!("KV list failed: {e}")))?;
    Ok(names.iter().filter_map(|n| n.strip_prefix(ALERTING_PREFIX).map(str::to_string)).collect())
}

/// Turns a deleted tenant's alerting off while keeping it watched (see `AlertConfig::retired`):
/// `true` if it had alerting, whose watch the cron then ends once its alerts are resolved and
/// told; `false` if there is nothing to watch.
pub async fn retire(env: &Env, tenant: &str) -> Result<bool, ApiError> {
    let stub = spend::ledger(env, tenant).ok_or_else(|| ApiError::configuration("The LEDGER Durable Object is not bound."))?;
    Ok(spend::call(&stub, "/alerts/retire", None).await?["retired"] == true)
}

/// One tenant: evaluate in its ledger, send each queued delivery, acknowledge the results.
pub async fn evaluate_and_deliver(env: &Env, tenant: &str, now: i64) -> Result<usize, ApiError> {
    let stub = spend::ledger(env, tenant).ok_or_else(|| ApiError::configuration("The LEDGER Durable Object is not bound."))?;
    let out = spend::call(&stub, "/alerts/evaluate", Some(json!({"now": now}))).await?;
    let Some(cfg) = out.get("config").filter(|c| !c.is_null()).and_then(|c| serde_json::from_value::<AlertConfig>(c.clone()).ok()) else {
        return Ok(0);
    };
    // A deleted tenant's alerting (`retire`) is watched until its open alerts are resolved and
    // told; then it is let go.
    if cfg.watches_nothing() && out["settled"] == true {
        let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
        kv.delete(&watch_key(tenant)).await.map_err(|e| ApiError::internal(format!("KV delete failed: {e}")))?;
        return Ok(0);
    }
    let outbox = out["outbox"].as_array().cloned().unwrap_or_default();
    if outbox.is_empty() {
        return Ok(0);
    }
    let mut delivered = Vec::new();
    let mut failed = Vec::new();
    let mut given_up = Vec::new();
    let mut released = Vec::new();
    let mut order = DeliveryOrder::default();
    for item in &outbox {
        let id = item["id"].as_u64().unwrap_or(0);
        let Ok(transition) = serde_json::from_value::<Transition>(item["transition"].clone()) else {
            failed.push(json!([id, "unreadable transition"]));
            continue;
        };
        let destination = item["destination"].as_str().unwrap_or("");
        if !order.may_send(destination, &transition) {
            released.push(id);
            continue;
        }
        match deliver(env, &cfg, tenant, destination, &transition).await {
            Ok(()) => delivered.push(id),
            // Refused for good: nothing later for this alert waits behind it.
            Err(DeliveryFailure { why, retryable: false }) => given_up.push(json!([id, why])),
            Err(DeliveryFailure { why, retryable: true }) => {
                order.failed(destination, &transition);
                failed.push(json!([id, why]));
            }
        }
    }
    spend::call(&stub, "/alerts/ack", Some(json!({"delivered": delivered, "failed": failed, "given_up": given_up, "released": released}))).await?;
    Ok(delivered.len())
}

struct DeliveryFailure {
    why: String,
    /// Whether a later attempt may succeed (see `notify::delivery_retryable`).
    retryable: bool,
}

impl From<String> for DeliveryFailure {
    fn from(why: String) -> Self {
        DeliveryFailure { why, retryable: true }
    }
}

async fn deliver(env: &Env, cfg: &AlertConfig, tenant: &str, destination: &str, t: &Transition) -> Result<(), DeliveryFailure> {
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
        other => return Err(DeliveryFailure { why: format!("unknown destination '{other}': given up"), retryable: false }),
    };
    // Removed from the settings since it was queued: nothing will take it.
    let url = url.ok_or_else(|| DeliveryFailure { why: format!("{destination} is no longer configured: given up"), retryable: false })?;
    let mut headers = vec![("content-type".to_string(), "application/json".to_string()), ("user-agent".to_string(), "costrouter-alerts/1".to_string())];
    if let Some(sig) = signature {
        headers.push((notify::SIGNATURE_HEADER.to_string(), sig));
    }
    let up = crate::providers::UpstreamRequest { url, headers, body };
    // The status is the answer: a 2xx body is not read (a receiver that answers 200 and never
    // ends its body would hold the run past the acknowledgement, and the delivery would be
    // handed out again after its lease, a duplicate every ten minutes), and is cancelled.
    let answer = super::upstream::send(&up, DELIVERY_TIMEOUT_MS, super::upstream::Expect::Stream, None).await.map_err(|e| e.describe())?;
    if let super::upstream::AnswerBody::Stream(body) = &answer.body {
        let _ = body.cancel();
    }
    match answer.status {
        200..=299 => Ok(()),
        s if notify::delivery_retryable(s) => Err(format!("{destination} answered HTTP {s}").into()),
        s => Err(DeliveryFailure { why: format!("{destination} answered HTTP {s}, which no retry changes: given up"), retryable: false }),
    }
}

/// `PUT /admin/tenants/{id}/alerts` (validate, store in the tenant's ledger, list the tenant for
/// the cron) and `GET` (the settings with secrets redacted, open alerts, deliveries).
pub async fn admin(env: &Env, tenant: &str, method: Method, body: Option<Vec<u8>>) -> Result<Value, ApiError> {
    let stub = spend::ledger(env, tenant).ok_or_else(|| ApiError::configuration("The LEDGER Durable Object is not bound."))?;
    if method == Method::Put {
        let body = body.unwrap_or_default();
        let cfg = AlertConfig::from_json(&body).map_err(|m| ApiError::invalid_value("alerts", format!("Invalid alert settings: {m}")))?;
        spend::call(&stub, "/alerts/config", Some(serde_json::to_value(&cfg).map_err(|e| ApiError::internal(e.to_string()))?)).await?;
        let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
        // Listed for the cron with or without destinations: a tenant that watches its alerts in
        // GET /v1/alerts, or removed its destinations while alerts were open, is still evaluated
        // (open alerts resolve; transitions go to the history as undelivered).
        let key = watch_key(tenant);
        kv.put(&key, "1").map_err(|e| ApiError::internal(e.to_string()))?.execute().await.map_err(|e| ApiError::internal(e.to_string()))?;
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
    let stub = spend::ledger(env, &principal.tenant.id).ok_or_else(|| ApiError::configuration("The LEDGER Durable Object is not bound."))?;
    let mut view = spend::call(&stub, "/alerts", None).await?;
    // Destinations are the admin's business; a tenant key sees the rules and the alerts.
    if let Some(cfg) = view.get_mut("config").and_then(Value::as_object_mut) {
        cfg.remove("destinations");
    }
    http::json(200, &view, &rc.id_headers())
}
