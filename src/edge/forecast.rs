//! `GET /v1/forecast`: this calendar month's spend so far and its projected total with a 95%
//! interval (the math is `crate::forecast`), from the tenant's daily rollups. Takes the same
//! tag filters as `/v1/usage` (`feature=`, `team=`, `env=`, `user=`, ...) and its `time_zone`,
//! whose month and days it then counts.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::ApiError;

use super::auth::authenticate_reader;
use super::http::{self, now_unix, RequestContext};
use super::spend;

fn usd(nanos: i64) -> String {
    crate::rollup::nanos_to_dollars(nanos)
}

pub async fn report(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    let url = req.url().map_err(http::to_api_error)?;
    let filters = super::usage::report_filters(&principal, &url)?;
    let zone = super::usage::report_zone(url.query_pairs().find(|(n, _)| n == "time_zone").map(|(_, v)| v.to_string()))?;
    let now = now_unix();
    let (month_start, month_end) = crate::forecast::month_bounds_in(now, zone.as_ref());
    // The rollups' hours that begin in the month (its midnights may fall inside an hour).
    let (from, to) = match zone {
        Some(_) => crate::report_days::round_bounds(month_start, month_end),
        None => (month_start, month_end),
    };
    let stub = spend::required_ledger(env, &principal.tenant.id)?;
    let raw = spend::usage(&stub, from, to, "", "day", None, &filters, zone.as_ref().map(|z| z.name.as_str())).await?;
    let rows: Vec<(i64, i64)> = raw["rows"]
        .as_array()
        .map(|a| a.iter().map(|r| (r["start"].as_i64().unwrap_or(0), crate::rollup::json_nanos(&r["cost_nanos"]))).collect())
        .unwrap_or_default();
    let f = crate::forecast::forecast_in(&rows, now, zone.as_ref());
    let notes = super::usage::folded_notes(&stub, from, to, &filters, &principal.report_scope()).await?;
    let filters_json: serde_json::Map<String, serde_json::Value> = filters.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let mut answer = json!({
            "object": "forecast", "tenant": principal.tenant.id, "filters": filters_json, "now": now,
            "time_zone": zone.as_ref().map_or("UTC", |z| z.name.as_str()),
            "month_start": f.month_start, "month_end": f.month_end, "days_in_month": f.days_in_month,
            "elapsed_days": f.elapsed_days, "remaining_days": f.remaining_days, "complete_days": f.complete_days,
            "spent_usd": usd(f.spent_nanos),
            "mean_daily_usd": usd(f.mean_daily_nanos.round() as i64), "sd_daily_usd": usd(f.sd_daily_nanos.round() as i64), "spread": f.spread,
            "projected_usd": usd(f.projected_nanos), "low_usd": usd(f.low_nanos), "high_usd": usd(f.high_nanos), "confidence": 0.95,
            "method": "spent + mean daily spend x remaining days; interval +/- 1.96 x sd of the daily totals from the 1st (today as a full day at its pace, weighted by the share of it gone, at least a quarter) x sqrt(remaining days), low end at least spent",
            "daily": f.daily.iter().map(|(start, n)| json!({"start": start, "cost_usd": usd(*n)})).collect::<Vec<_>>(),
        });
    // Every note's field is there, `null` when it has nothing to say (as `other_users` always was).
    for bounded in &crate::rollup::BOUNDED_COLUMNS {
        answer[bounded.note_key] = notes.get(bounded.note_key).cloned().unwrap_or(serde_json::Value::Null);
    }
    http::json(200, &answer, &rc.id_headers())
}
