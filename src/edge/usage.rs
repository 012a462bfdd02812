//! `GET /v1/usage?from=&to=&group_by=&granularity=`: the calling tenant's spend, savings, tokens
//! and requests from its hourly rollups. `from` / `to` are Unix seconds or ISO 8601 dates
//! (default: the last 7 days); `group_by` is any of model, provider, route, feature, team, env,
//! user, cache; `granularity` is hour, day, week, month or total (default). Any dimension may also
//! be given as an equality filter (`feature=search&env=prod`). `time_zone` (a tz database name)
//! counts the days, weeks and months and reads dates without an offset on that zone's clock
//! (`crate::report_days`).

use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::api::ApiError;

use crate::routing::local_time::Zone;

use super::auth::authenticate_reader;
use super::http::{self, now_unix, RequestContext};
use super::spend;

/// `from` or `to`: Unix seconds, or an ISO 8601 date or date-time; one that names no offset
/// (`2026-11-01`, `2026-11-01T09:00`) is read on the clock of `zone` when a report gives one,
/// else UTC's.
fn parse_time(name: &str, value: &str, zone: Option<&Zone>) -> Result<i64, ApiError> {
    let refused = || ApiError::invalid_value(name, format!("'{name}' must be Unix seconds or an ISO 8601 date such as 2026-11-01, between 2000 and 2100."));
    let unix = if let Ok(unix) = value.parse::<i64>() {
        unix
    } else if let Some(instant) = crate::report_days::parse_date_time_with_offset(value) {
        instant
    } else if let Some(local) = crate::report_days::parse_local_date_time(value) {
        zone.map_or(local, |z| z.first_instant_at(local))
    } else if zone.is_some() {
        // The runtime's parser would read a form without an offset on UTC's clock, not the zone's.
        return Err(ApiError::invalid_value(
            name,
            format!("'{name}' must be Unix seconds, a date or date-time on the clock of 'time_zone' (2026-11-01, 2026-11-01T09:30:00), or one with an offset or Z (2026-11-01T09:30:00-08:00)."),
        ));
    } else {
        // Other forms, as before reports took a zone: the runtime's parser, which rolls a day
        // past the month's end over (2026-02-30 is March 2), so that is refused first.
        if !crate::rollup::calendar_date_valid(value) {
            return Err(refused());
        }
        let ms = js_sys::Date::parse(value);
        if ms.is_nan() {
            return Err(refused());
        }
        (ms / 1000.0).floor() as i64
    };
    // Rounded to hours and compared after: far-off values would overflow.
    if !(crate::rollup::EARLIEST_REPORT_TIME..=crate::rollup::LATEST_REPORT_TIME).contains(&unix) {
        return Err(refused());
    }
    Ok(unix)
}

fn dollars(nanos: &Value) -> String {
    crate::rollup::nanos_to_dollars(crate::rollup::json_nanos(nanos))
}

/// The tag filters in a report's query (`feature=search&env=prod`, validated), with those the
/// caller's scope adds (`crate::report_scope`): for `/v1/usage` and `/v1/forecast`.
pub fn report_filters(principal: &super::auth::Principal, url: &worker::Url) -> Result<Vec<(&'static str, String)>, ApiError> {
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    principal.report_scope().filters(crate::rollup::parse_filters(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
}

/// For a report held to one end user, feature, team, environment or model (`user=`, ..., or a key
/// locked to such a tag): for each, how many requests of the range are filed under the name the
/// rollups sum that column's overflow under (`rollup::BOUNDED_COLUMNS`), under the same other
/// filters, and a note saying so, since hours that named 1,000 before this one filed its requests
/// there too; keyed by the column's `note_key` (`other_users`, `other_features`, ...). None for
/// a column not filtered on, or with no such requests. A key locked to the tag (`scope`) is told
/// only that there are some: their count is others' traffic, outside its slice.
pub async fn folded_notes(stub: &super::crossings::ObjectStub, from: i64, to: i64, filters: &[(&'static str, String)], scope: &crate::report_scope::ReportScope) -> Result<serde_json::Map<String, Value>, ApiError> {
    let filtered: Vec<&crate::rollup::BoundedColumn> = crate::rollup::BOUNDED_COLUMNS.iter().filter(|b| filters.iter().any(|(dim, _)| *dim == b.dim)).collect();
    // One ledger query per column, at once: a key locked to several tags pays them on every report.
    let counts = futures_util::future::join_all(filtered.iter().map(|bounded| async move {
        let others: Vec<(&'static str, String)> =
            filters.iter().map(|(dim, value)| (*dim, if *dim == bounded.dim { bounded.other.to_string() } else { value.clone() })).collect();
        let raw = spend::usage(stub, from, to, "", "", None, &others, None).await?;
        Ok::<i64, ApiError>(raw["rows"].as_array().into_iter().flatten().map(|r| r["requests"].as_i64().unwrap_or(0)).sum())
    }))
    .await;
    let mut notes = serde_json::Map::new();
    for (bounded, requests) in filtered.into_iter().zip(counts) {
        let requests = requests?;
        if requests == 0 {
            continue;
        }
        let locked = scope.fixes(bounded.dim);
        let how_many = if locked { "Some".to_string() } else { requests.to_string() };
        let noun = bounded.noun;
        let mut note = json!({"note": format!(
            "{how_many} requests in this range were of {noun}s past the {} an hour the rollups name apart, summed under '{}': \
             this {noun}'s figures leave out any of its own among them (the Analytics Engine cost events name every {noun}).",
            crate::rollup::USERS_PER_HOUR, bounded.other)});
        if !locked {
            note["requests"] = json!(requests);
        }
        notes.insert(bounded.note_key.to_string(), note);
    }
    Ok(notes)
}

/// A report's `time_zone` (a tz database name, `America/Los_Angeles`; `UTC`): checked, with a
/// suggestion for a near miss. None when not given: the report counts UTC's days.
pub fn report_zone(name: Option<String>) -> Result<Option<Zone>, ApiError> {
    name.map(|n| Zone::named(&n).map_err(|e| ApiError::invalid_value("time_zone", format!("'time_zone' {e}.")))).transpose()
}

pub async fn report(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    let url = req.url().map_err(http::to_api_error)?;
    let param = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.to_string());
    let now = now_unix();
    let zone = report_zone(param("time_zone"))?;
    let to = param("to").map(|v| parse_time("to", &v, zone.as_ref())).transpose()?.unwrap_or(now + 3600);
    let from = param("from").map(|v| parse_time("from", &v, zone.as_ref())).transpose()?.unwrap_or(now - 7 * 86_400);
    if from >= to {
        return Err(ApiError::invalid_value("from", "'from' must be before 'to'."));
    }
    // Rollups are hourly: the window is rounded out to whole hours, and the answer says so by
    // echoing the hours it covers (10:30-11:30 would otherwise report 10:00-11:00). Counted in a
    // zone, to the hours that begin in it (a day's own, where a midnight falls inside an hour).
    let (from, to) = match zone {
        Some(_) => crate::report_days::round_bounds(from, to),
        None => (from - from.rem_euclid(3600), to + (3600 - to.rem_euclid(3600)) % 3600),
    };
    let group_by = param("group_by").unwrap_or_default();
    let granularity = param("granularity").unwrap_or_default();
    let week_start = param("week_start");
    // Validate here too, so a bad parameter is a clear 400 before the ledger is asked.
    crate::rollup::parse_group_by(&group_by)?;
    let weeks_from = crate::rollup::Granularity::parse(&granularity, week_start.as_deref())?.week_start();
    let filters = report_filters(&principal, &url)?;
    let stub = spend::required_ledger(env, &principal.tenant.id)?;
    let raw = spend::usage(&stub, from, to, &group_by, &granularity, week_start.as_deref(), &filters, zone.as_ref().map(|z| z.name.as_str())).await?;
    let rows = raw["rows"].as_array().cloned().unwrap_or_default();
    let mut total = (0i64, 0i64, 0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut cache_savings = 0i64;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let n = |k: &str| crate::rollup::json_nanos(&r[k]);
            total.0 += n("requests");
            total.1 += n("errors");
            total.2 += n("input_tokens");
            total.3 += n("cached_tokens");
            total.4 += n("output_tokens");
            total.5 += n("cost_nanos");
            total.6 += n("baseline_nanos");
            total.7 += n("cache_hits");
            cache_savings += n("cache_savings_nanos");
            let (routing, cache) = crate::rollup::savings_split(n("cost_nanos"), n("baseline_nanos"), n("cache_savings_nanos"));
            let mut row = json!({
                "start": r["start"],
                "requests": n("requests"), "errors": n("errors"),
                "input_tokens": n("input_tokens"), "cached_input_tokens": n("cached_tokens"), "output_tokens": n("output_tokens"),
                "cost_usd": dollars(&r["cost_nanos"]), "baseline_cost_usd": dollars(&r["baseline_nanos"]),
                "savings_usd": dollars(&json!(n("baseline_nanos") - n("cost_nanos"))),
                "cache_hits": n("cache_hits"),
                "routing_savings_usd": dollars(&json!(routing)), "cache_savings_usd": dollars(&json!(cache)),
            });
            for dim in crate::rollup::DIMENSIONS {
                if let Some(v) = r.get(*dim) {
                    row[*dim] = v.clone();
                }
            }
            row
        })
        .collect();
    let totals = json!({
        "requests": total.0, "errors": total.1, "input_tokens": total.2, "cached_input_tokens": total.3, "output_tokens": total.4,
        "cost_usd": dollars(&json!(total.5)), "baseline_cost_usd": dollars(&json!(total.6)),
        "savings_usd": dollars(&json!(total.6 - total.5)), "cache_hits": total.7,
        "routing_savings_usd": dollars(&json!(crate::rollup::savings_split(total.5, total.6, cache_savings).0)),
        "cache_savings_usd": dollars(&json!(cache_savings)),
    });
    let mut answer = json!({"object": "usage", "tenant": principal.tenant.id, "from": from, "to": to, "granularity": if granularity.is_empty() { "total" } else { &granularity },
            "time_zone": zone.as_ref().map_or("UTC", |z| z.name.as_str()),
            "group_by": group_by, "dimensions": crate::rollup::DIMENSIONS, "filters": filters.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(), "data": data, "totals": totals});
    if let Some(day) = weeks_from {
        answer["week_start"] = json!(day);
    }
    for (key, note) in folded_notes(&stub, from, to, &filters, &principal.report_scope()).await? {
        answer[key] = note;
    }
    http::json(200, &answer, &rc.id_headers())
}
