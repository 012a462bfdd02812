//! The worker's side of the ledger: reserve before the upstream call, settle or release after,
//! count per-minute limits. Each call is one request to the tenant's `Ledger` Durable Object.

use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit, Stub};

use crate::api::ApiError;
use crate::budget::{Exceeded, RateLimited, RateStatus};
use crate::money::Usd;

/// The tenant's ledger; `None` when no `LEDGER` binding exists (budgets are then not enforced,
/// which `wrangler.toml` never configures, but a partial local setup might).
pub fn ledger(env: &Env, tenant: &str) -> Option<Stub> {
    let ns = env.durable_object("LEDGER").ok()?;
    ns.id_from_name(tenant).ok()?.get_stub().ok()
}

async fn call(stub: &Stub, path: &str, body: Option<Value>) -> Result<Value, ApiError> {
    let mut init = RequestInit::new();
    match body {
        Some(b) => init.with_method(Method::Post).with_body(Some(b.to_string().into())),
        None => init.with_method(Method::Get),
    };
    let req = Request::new_with_init(&format!("https://ledger{path}"), &init).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut resp = stub.fetch_with_request(req).await.map_err(|e| ApiError::internal(format!("ledger unreachable: {e}")))?;
    let text = resp.text().await.unwrap_or_default();
    if resp.status_code() != 200 {
        return Err(ApiError::invalid_request(format!("ledger: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("ledger answered badly: {e}")))
}

pub struct Reservation {
    pub soft_warnings: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn reserve(stub: &Stub, request_id: &str, amount: Usd, team: &str, feature: &str, env_tag: &str, key_id: &str, now: i64) -> Result<Result<Reservation, Exceeded>, ApiError> {
    let v = call(stub, "/reserve", Some(json!({"request_id": request_id, "amount": amount, "team": team, "feature": feature, "env": env_tag, "key_id": key_id, "now": now}))).await?;
    if v["ok"] == true {
        let soft_warnings = v["soft_warnings"].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default();
        return Ok(Ok(Reservation { soft_warnings }));
    }
    Ok(Err(serde_json::from_value(v["exceeded"].clone()).map_err(|e| ApiError::internal(e.to_string()))?))
}

pub async fn settle(stub: &Stub, request_id: &str, actual: Usd, now: i64) {
    if let Err(e) = call(stub, "/settle", Some(json!({"request_id": request_id, "actual": actual, "now": now}))).await {
        worker::console_error!("ledger settle failed for {request_id}: {}", e.message);
    }
}

pub async fn release(stub: &Stub, request_id: &str, now: i64) {
    if let Err(e) = call(stub, "/release", Some(json!({"request_id": request_id, "now": now}))).await {
        worker::console_error!("ledger release failed for {request_id}: {}", e.message);
    }
}

pub async fn rate(stub: &Stub, key_id: &str, tokens: u64, now: i64) -> Result<Result<RateStatus, RateLimited>, ApiError> {
    let v = call(stub, "/rate", Some(json!({"key_id": key_id, "tokens": tokens, "now": now}))).await?;
    if v["ok"] == true {
        return Ok(Ok(serde_json::from_value(v["status"].clone()).map_err(|e| ApiError::internal(e.to_string()))?));
    }
    Ok(Err(serde_json::from_value(v["limited"].clone()).map_err(|e| ApiError::internal(e.to_string()))?))
}

pub async fn configure(stub: &Stub, config: &Value) -> Result<Value, ApiError> {
    call(stub, "/config", Some(config.clone())).await
}

pub async fn state(stub: &Stub) -> Result<Value, ApiError> {
    call(stub, "/state", None).await
}

/// Adds a finished request to the tenant's hourly rollups.
pub async fn record(stub: &Stub, event: &crate::events::CostEvent, now: i64) {
    if let Err(e) = call(stub, "/record", Some(json!({"event": event, "now": now}))).await {
        worker::console_error!("usage rollup not recorded for {}: {}", event.request_id, e.message);
    }
}

pub async fn usage(stub: &Stub, from: i64, to: i64, group_by: &str, granularity: &str) -> Result<Value, ApiError> {
    call(stub, "/usage", Some(json!({"from": from, "to": to, "group_by": group_by, "granularity": granularity}))).await
}
