//! This isolate's deployment health board (circuit breakers and latency averages), and
//! `GET /v1/deployments`, which shows it.

use std::cell::RefCell;

use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::no_answer::{whole_seconds, ProviderWaits};
use crate::api::ApiError;
use crate::routing::health::{deployment_key, Admission, AnswerKind, DeploymentHealth, HealthBoard};

use super::auth::authenticate_reader;
use super::config;
use super::http::{self, now_ms, RequestContext};

thread_local! {
    static BOARD: RefCell<HealthBoard> = RefCell::new(HealthBoard::default());
}

pub fn admit(provider: &str, upstream_model: &str) -> Admission {
    BOARD.with(|b| b.borrow_mut().admit(&deployment_key(provider, upstream_model), now_ms()))
}

pub fn success(provider: &str, upstream_model: &str, kind: AnswerKind, latency_ms: f64) {
    BOARD.with(|b| b.borrow_mut().record_success(&deployment_key(provider, upstream_model), kind, latency_ms, now_ms()));
}

/// A stream produced its first token (see `record_started`).
pub fn started(provider: &str, upstream_model: &str) {
    BOARD.with(|b| b.borrow_mut().record_started(&deployment_key(provider, upstream_model)));
}

/// A call that ended in a client error: no verdict on the deployment (see `record_neutral`).
pub fn neutral(provider: &str, upstream_model: &str) {
    BOARD.with(|b| b.borrow_mut().record_neutral(&deployment_key(provider, upstream_model)));
}

/// Counts a failed call against the deployment's breaker. When that opens it, the request's cost
/// event says so: the ledger turns openings into circuit-open alerts.
pub fn failure(rc: &RequestContext, provider: &str, upstream_model: &str) {
    let key = deployment_key(provider, upstream_model);
    if BOARD.with(|b| b.borrow_mut().record_failure(&key, now_ms())) {
        rc.shape.borrow_mut().circuits_opened.push(key);
    }
}

/// Why a deployment was passed over, for the route reason or the final error.
pub fn refusal(provider: &str, retry_in_ms: f64, held_by: Option<u16>) -> String {
    let secs = (retry_in_ms / 1000.0).ceil();
    match held_by {
        Some(status) => format!("{provider}: held {secs:.0} s more, as it asked with its HTTP {status}"),
        None => format!("{provider}: circuit open (next probe in {secs:.0} s)"),
    }
}

/// A provider's refusal with a fallback status, its body read (chat and embeddings alike);
/// `wait_ms`: the wait it asked for, in a header or its body. On a 429 or 503 the wait is noted
/// for the client, to be passed on if every deployment fails (the SDKs honour it, up to a minute,
/// instead of retrying after their own 0.5 s into the same limits), and the deployment is held
/// that long (`HealthBoard::record_wait`): the calls it says it would refuse are not made.
/// Returns whether the 429 says the request alone is larger than the account's per-minute limit
/// (OpenAI's "Request too large ... on tokens per min"): the request's size, not the deployment's
/// load, so it holds nothing, the caller gives the deployment no verdict, and the wait told is
/// forever (if every call said so, the client is told not to retry). The refusal itself is
/// counted by the caller ([`failure`]).
pub fn refused(provider: &str, upstream_model: &str, status: u16, body: &[u8], wait_ms: Option<f64>, waits: &mut ProviderWaits) -> bool {
    let too_large = status == 429 && crate::providers::too_large_for_rate_limit(body);
    if status == 429 || status == 503 {
        waits.note(if too_large { Some(u32::MAX) } else { wait_ms.map(whole_seconds) });
        if let (Some(wait_ms), false) = (wait_ms, too_large) {
            BOARD.with(|b| b.borrow_mut().record_wait(&deployment_key(provider, upstream_model), status, wait_ms, now_ms()));
        }
    }
    too_large
}

/// The deployment's latency average for answers read this way, and whether it is fresh.
pub fn latency_ms(key: &str, kind: AnswerKind) -> Option<(f64, bool)> {
    BOARD.with(|b| b.borrow().latency_ms(key, kind, now_ms()))
}

/// A deployment's health as a tenant sees it (see [`list`]): no call counts, averages to 100 ms,
/// times to the next whole second.
fn coarsen_for_tenants(fields: &mut serde_json::Map<String, serde_json::Value>) {
    for counter in ["successes", "failures"] {
        fields.remove(counter);
    }
    for average in ["latency_ms", "stream_latency_ms"] {
        if let Some(ms) = fields.get(average).and_then(serde_json::Value::as_f64) {
            fields.insert(average.into(), json!(crate::routing::health::coarse_latency_ms(ms)));
        }
    }
    // Times another tenant's calls set (a hold's end, when an open breaker half-opens, when
    // its probe started), to the second.
    for (object, time) in [("held", "until_ms"), ("breaker", "until_ms"), ("breaker", "probe_started_ms")] {
        if let Some(at) = fields.get_mut(object).and_then(|o| o.get_mut(time)) {
            if let Some(ms) = at.as_f64() {
                *at = json!((ms / 1000.0).ceil() * 1000.0);
            }
        }
    }
}

/// The deployments of the models the tenant may use (all, without `allowed_models`), with this
/// isolate's view of their health. A tenant restricted to some models does not see the traffic
/// counts of the others' deployments (which may be another tenant's own provider account).
pub async fn list(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    let cfg = config::load(env).await?;
    let snapshot: std::collections::HashMap<String, DeploymentHealth> = BOARD.with(|b| b.borrow().snapshot().into_iter().collect());
    let allowed = principal.tenant.allowed_models.as_deref();
    let visible = |model: &str| cfg.catalog.allows(allowed, model);
    // The isolate's figures are every tenant's calls together: a tenant subtracting its own
    // counts would see the others' traffic to each deployment, and polling a live average would
    // give back each other call's own latency (a sample moves it by a fifth of its distance).
    // Tenants see breaker state (failures in a row included: what opens it), holds to the
    // second, and averages to the nearest 100 ms.
    let counts_shown = principal.is_admin_session();
    let mut data = Vec::new();
    for model in cfg.catalog.models.values().filter(|m| visible(&m.name)) {
        for d in &model.deployments {
            let key = deployment_key(&d.provider, &d.upstream_model);
            let mut health = serde_json::to_value(snapshot.get(&key).cloned().unwrap_or_default()).unwrap_or_default();
            if let (false, Some(fields)) = (counts_shown, health.as_object_mut()) {
                coarsen_for_tenants(fields);
            }
            let mut entry = json!({
                "deployment": key,
                "model": model.name,
                "provider": d.provider,
                "region": cfg.catalog.providers.get(&d.provider).and_then(|p| p.region.clone()),
                "health": health,
            });
            // The first day its provider no longer serves it (the router sends it nothing from then
            // on), when it has one.
            if let Some(day) = d.retires_on {
                entry["retires_on"] = json!(day);
            }
            data.push(entry);
        }
    }
    http::json(200, &json!({"object": "list", "scope": "this edge isolate", "data": data}), &rc.id_headers())
}
