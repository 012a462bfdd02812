//! `GET /v1/recommendations?days=N`: savings recommendations from the calling tenant's own
//! rollups over the last N days (default 7, at most 90); the analysis is `crate::recommend`.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::ApiError;
use crate::catalog::ModelMode;
use crate::recommend::{recommend, retiring_models, RetiringTraffic, Row};
use crate::routing::retirements::NOTICE_DAYS;

use super::auth::authenticate_reader;
use super::http::{self, now_unix, RequestContext};
use super::{config, spend};

pub async fn list(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    let url = req.url().map_err(http::to_api_error)?;
    let days = match url.query_pairs().find(|(k, _)| k == "days") {
        None => 7,
        Some((_, v)) => v.parse::<i64>().ok().filter(|d| (1..=90).contains(d)).ok_or_else(|| ApiError::invalid_value("days", "'days' must be a whole number from 1 to 90."))?,
    };
    let cfg = config::load(env).await?;
    let stub = spend::required_ledger(env, &principal.tenant.id)?;
    let now = now_unix();
    let from = now - days * 86_400;
    // The ledger refuses a report past its row limit with advice (from/to, granularity, group_by)
    // that this endpoint does not take: say what this caller can change.
    // A key locked to tags gets recommendations from its own slice of the traffic.
    let scope = principal.report_scope();
    let slice = scope.filters(Vec::new())?;
    let traffic = if scope.is_whole_tenant() { "this tenant's traffic".to_string() } else { format!("the traffic of {}", scope.describe()) };
    let raw = spend::usage(&stub, from, now + 3600, "class,route,rule,model,feature,cache", "total", None, &slice, None).await.map_err(|e| match e.status {
        400 => ApiError::invalid_value(
            "days",
            format!("Over the last {days} days {traffic} has more than {} distinct groups of task class, route, rule, model, feature and cache outcome, too many to analyse at once: ask for fewer days.", crate::rollup::MAX_REPORT_ROWS),
        ),
        _ => e,
    })?;
    // Traffic a rule holds to regions is not advised onto another model (it may be served
    // outside them).
    let policy = config::policy_for(env, &cfg, &principal.tenant.id).await?;
    let held_rules: Vec<&str> = policy
        .rules
        .iter()
        .filter(|r| matches!(&r.action, crate::routing::policy::Action::Route(route) if !route.regions.is_empty()))
        .map(|r| r.name.as_str())
        .collect();
    let mut rows: Vec<Row> = raw["rows"].as_array().map(|a| a.iter().filter_map(|r| serde_json::from_value(r.clone()).ok()).collect()).unwrap_or_default();
    // Usage is recorded under the name the provider served (`llama-3.1-8b-instant`, an Azure
    // deployment); recommendations name and price it by its model's pricing row, which names the
    // model (a deployment's own row, `gpt-4o-mini-data-zone`, is no name to route to; its rows'
    // costs are what they were billed all the same).
    for row in &mut rows {
        if let Some(model) = cfg.catalog.model_of_served(&row.model) {
            row.model = model.price_key.clone();
        }
        row.held_to_regions = held_rules.contains(&row.rule.as_str());
    }
    // Projected from the days the traffic spans, not the days asked for: ten days of traffic
    // asked about over ninety would read a ninth of its volume.
    let hourly = spend::usage(&stub, from, now + 3600, "", "hour", None, &slice, None).await?;
    let first_hour = hourly["rows"].as_array().and_then(|r| r.iter().filter_map(|row| row["start"].as_i64()).filter(|s| *s > 0).min());
    let observed_days = first_hour.map_or(days as f64, |first| ((now - first) as f64 / 86_400.0).clamp(1.0, days as f64));
    // A chat model of the catalog priced under that row, which the tenant may be routed to (as
    // routing checks: by the model's name, or an alias of it, in `allowed_models`) and which is
    // still served.
    let allowed = principal.tenant.allowed_models.as_deref();
    let today = super::http::today();
    // Not one its provider retires within the notice the same answer would give of it.
    let served_on = |m: &crate::catalog::ModelEntry| m.retires_on().is_none_or(|day| day.days - today.days > NOTICE_DAYS);
    let may_route_to = |price_key: &str| {
        cfg.catalog.models.iter().any(|(name, m)| m.mode == ModelMode::Chat && m.price_key == price_key && cfg.catalog.allows(allowed, name) && served_on(m))
    };
    let recs = recommend(&rows, &cfg.prices, observed_days, &may_route_to);
    // Calls by deployment (provider and the name it served), each to the one model of the
    // tenant's with that deployment (the usage rows' model column alone may be several models');
    // asked of the ledger only when some model has a day.
    let by_deployment = if cfg.catalog.models.values().any(|m| m.retires_on().is_some()) {
        spend::usage(&stub, from, now + 3600, "provider,model,cache", "total", None, &slice, None).await?
    } else {
        json!({})
    };
    let retiring: Vec<RetiringTraffic> = by_deployment["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| !row["cache"].as_str().unwrap_or("").starts_with("hit"))
        .filter_map(|row| {
            let model = cfg.catalog.model_of_deployment(row["provider"].as_str()?, row["model"].as_str()?, |name| cfg.catalog.allows(allowed, name))?;
            Some(RetiringTraffic {
                model: model.name.clone(),
                retires_on: model.retires_on()?,
                requests: row["requests"].as_u64().unwrap_or(0),
                cost_nanos: crate::rollup::json_nanos(&row["cost_nanos"]),
            })
        })
        .collect();
    // A change to make by a day comes before savings to take at any time.
    let list: Vec<_> = retiring_models(&retiring, observed_days, today).into_iter().chain(recs.list).collect();
    let body = json!({
        "object": "list",
        "window": {"from": from, "to": now, "days": days, "observed_days": observed_days},
        "total_monthly_savings_usd": recs.total_monthly.to_string(),
        "data": list,
    });
    http::json(200, &body, &rc.id_headers())
}
