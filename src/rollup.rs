//! Usage rollups: hourly totals per tenant by model, provider, route, tags and cache outcome,
//! kept in the tenant's ledger (SQLite), and the queries `GET /v1/usage` runs over them.
//!
//! Money is stored as integer nanodollars: rollups are for reading trends, and nanodollars keep
//! sums exact well past any realistic hourly spend while staying within JavaScript's safe
//! integers (±9·10^15 nanodollars = ±9 million USD per row) as rows cross into the runtime.

use crate::api::ApiError;
use crate::events::CostEvent;

/// Dimensions a rollup row is keyed by, and that `group_by` may name.
pub const DIMENSIONS: &[&str] = &["model", "provider", "route", "feature", "team", "env", "user", "cache", "class", "rule"];

/// The hourly table. Version 2 added the `class` and `rule` dimensions and the retry, escalation
/// and prompt-shape sums; [`MIGRATE_V1`] carries version 1 rows over once.
pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS usage_hourly_v2 (
    hour INTEGER NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, route TEXT NOT NULL,
    feature TEXT NOT NULL, team TEXT NOT NULL, env TEXT NOT NULL, user TEXT NOT NULL, cache TEXT NOT NULL,
    class TEXT NOT NULL, rule TEXT NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    baseline_nanos INTEGER NOT NULL, cache_hits INTEGER NOT NULL,
    retries INTEGER NOT NULL, escalations INTEGER NOT NULL, system_tokens INTEGER NOT NULL,
    repeated_prefix_tokens INTEGER NOT NULL, capped_requests INTEGER NOT NULL, max_output_tokens INTEGER NOT NULL,
    capped_output_tokens INTEGER NOT NULL, length_stops INTEGER NOT NULL,
    PRIMARY KEY (hour, model, provider, route, feature, team, env, user, cache, class, rule))";

/// Whether a version 1 table exists (run [`MIGRATE_V1`] when it returns a row).
pub const HAS_V1: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'usage_hourly'";

/// Copies version 1 rows into version 2 (with empty class and rule) and drops the old table.
pub const MIGRATE_V1: &[&str] = &[
    "INSERT OR IGNORE INTO usage_hourly_v2 SELECT hour, model, provider, route, feature, team, env, user, cache, '', '',
        requests, errors, input_tokens, cached_tokens, output_tokens, cost_nanos, baseline_nanos, cache_hits,
        0, 0, 0, 0, 0, 0, 0, 0 FROM usage_hourly",
    "DROP TABLE usage_hourly",
];

pub const UPSERT: &str = "INSERT INTO usage_hourly_v2 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
    input_tokens = input_tokens + excluded.input_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,
    output_tokens = output_tokens + excluded.output_tokens, cost_nanos = cost_nanos + excluded.cost_nanos,
    baseline_nanos = baseline_nanos + excluded.baseline_nanos, cache_hits = cache_hits + excluded.cache_hits,
    retries = retries + excluded.retries, escalations = escalations + excluded.escalations,
    system_tokens = system_tokens + excluded.system_tokens, repeated_prefix_tokens = repeated_prefix_tokens + excluded.repeated_prefix_tokens,
    capped_requests = capped_requests + excluded.capped_requests, max_output_tokens = max_output_tokens + excluded.max_output_tokens,
    capped_output_tokens = capped_output_tokens + excluded.capped_output_tokens, length_stops = length_stops + excluded.length_stops";

/// Per-minute totals by feature: the short history the anomaly detector compares against.
pub const CREATE_MINUTELY: &str = "CREATE TABLE IF NOT EXISTS usage_minutely (
    minute INTEGER NOT NULL, feature TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
    retries INTEGER NOT NULL, cost_nanos INTEGER NOT NULL, PRIMARY KEY (minute, feature))";

pub const UPSERT_MINUTELY: &str = "INSERT INTO usage_minutely VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors,
    retries = retries + excluded.retries, cost_nanos = cost_nanos + excluded.cost_nanos";

/// Minute rows are kept this long: the detector's baseline plus its window, with room.
pub const MINUTELY_RETENTION_SECS: i64 = 6 * 3600;

/// The last time each deployment's circuit breaker opened (any isolate), for alerts.
pub const CREATE_CIRCUITS: &str = "CREATE TABLE IF NOT EXISTS circuit_openings (
    deployment TEXT PRIMARY KEY, last_opened INTEGER NOT NULL, openings INTEGER NOT NULL)";

/// A batch re-sent late carries an opening older than one recorded since: the latest stays.
pub const UPSERT_CIRCUIT: &str = "INSERT INTO circuit_openings VALUES (?, ?, 1)
    ON CONFLICT DO UPDATE SET last_opened = MAX(last_opened, excluded.last_opened), openings = openings + 1";

/// Rows older than this are dropped: now and then as new ones arrive, and by the ledger's alarm
/// (see [`next_expiry`]) for a tenant that sends nothing more.
pub const RETENTION_SECS: i64 = 400 * 86_400;

/// The least time between two of the ledger's retention sweeps by alarm: rows expire an hour
/// (minute rows a minute) after another, and an alarm each would wake a quiet tenant's ledger
/// for one row at a time. Rows are kept past their retention by up to this much.
pub const SWEEP_GAP_SECS: i64 = 86_400;

/// When the next rows of a ledger expire, from its oldest hourly row's hour and oldest minute
/// row's minute (`None` when it has none of them); `None` when it holds no rows.
pub fn next_expiry(oldest_hour: Option<i64>, oldest_minute: Option<i64>) -> Option<i64> {
    [oldest_hour.map(|h| h + RETENTION_SECS + 1), oldest_minute.map(|m| m + MINUTELY_RETENTION_SECS + 1)].into_iter().flatten().min()
}

/// The statements that drop rows past retention at `now`, with the time each binds.
pub fn expired_rows(now: i64) -> [(&'static str, i64); 2] {
    [
        ("DELETE FROM usage_hourly_v2 WHERE hour < ?", now - RETENTION_SECS),
        ("DELETE FROM usage_minutely WHERE minute < ?", now - MINUTELY_RETENTION_SECS),
    ]
}

/// The oldest hour and minute a ledger's rows hold, for [`next_expiry`].
pub const OLDEST_ROWS: &str = "SELECT (SELECT MIN(hour) FROM usage_hourly_v2) AS hour, (SELECT MIN(minute) FROM usage_minutely) AS minute";

pub fn nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// A nanodollar sum as the ledger's SQL hands it over: an integer, or, past 2^53 (about $9
/// million), the float the runtime turned it into (read as 0, a report would hide such spend).
pub fn json_nanos(v: &serde_json::Value) -> i64 {
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64)).unwrap_or(0)
}

/// Nanodollars as plain decimal dollars without trailing zeros, as `money::Usd` shows
/// picodollars, but with no cap short of i64's (a report's sum may pass Usd's $9.2 million).
pub fn nanos_to_dollars(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let (whole, frac) = (n.unsigned_abs() / 1_000_000_000, n.unsigned_abs() % 1_000_000_000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", format!("{frac:09}").trim_end_matches('0'))
    }
}

/// One value per `?` of [`UPSERT`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Text(String),
}

pub fn upsert_values(event: &CostEvent, unix_now: i64) -> Vec<Value> {
    let hour = hour_of(unix_now);
    let a = &event.attribution;
    let shape = &event.shape;
    let text = |s: &str| Value::Text(s.to_string());
    // As the event says, so the rollups' savings match the headers and Analytics Engine's.
    let baseline = event.baseline_cost_usd;
    vec![
        Value::Int(hour),
        text(&event.model),
        text(&event.provider),
        text(&event.route),
        text(&a.feature),
        text(&a.team),
        text(&a.environment),
        text(&a.user),
        text(&event.cache),
        text(&shape.class),
        text(&shape.rule),
        Value::Int(1),
        Value::Int(i64::from(event.is_error())),
        Value::Int(event.input_tokens as i64),
        Value::Int(event.cached_input_tokens as i64),
        Value::Int(event.output_tokens as i64),
        Value::Int(nanos(event.cost_usd)),
        Value::Int(nanos(baseline)),
        Value::Int(i64::from(event.cache.starts_with("hit"))),
        Value::Int(i64::from(shape.retries)),
        Value::Int(i64::from(shape.escalations)),
        Value::Int(shape.system_tokens as i64),
        Value::Int(shape.repeated_prefix_tokens as i64),
        Value::Int(i64::from(shape.max_output_tokens.is_some())),
        Value::Int(shape.max_output_tokens.unwrap_or(0) as i64),
        Value::Int(if shape.max_output_tokens.is_some() { event.output_tokens as i64 } else { 0 }),
        Value::Int(i64::from(shape.length_stop)),
    ]
}

/// One value per `?` of [`UPSERT_MINUTELY`].
pub fn minutely_values(event: &CostEvent, unix_now: i64) -> Vec<Value> {
    vec![
        Value::Int(unix_now - unix_now.rem_euclid(60)),
        Value::Text(event.attribution.feature.clone()),
        // Minute rows feed the alerts only. A storm's rate is over the requests the router
        // tried to serve: its own refusals (a client hammering a spent budget) would dilute it.
        Value::Int(i64::from(!event.is_router_refusal())),
        Value::Int(i64::from(event.is_route_failure())),
        Value::Int(i64::from(event.shape.retries)),
        Value::Int(nanos(event.cost_usd)),
    ]
}

/// Leading values of an [`upsert_values`] row that form its primary key (hour and dimensions);
/// every value after them is a count that adds up.
pub const HOURLY_KEY_LEN: usize = 11;
/// The same for [`minutely_values`] (minute, feature).
pub const MINUTELY_KEY_LEN: usize = 2;

/// The positions of the tags and the end user in an [`upsert_values`] row.
const FEATURE_COLUMN: usize = 4;
const TEAM_COLUMN: usize = 5;
const ENV_COLUMN: usize = 6;
const USER_COLUMN: usize = 7;
/// Positions of the model, the provider, the tokens and the cost in an [`upsert_values`] row.
const MODEL_COLUMN: usize = 1;
const PROVIDER_COLUMN: usize = 2;
const INPUT_TOKENS_COLUMN: usize = 13;
const CACHED_TOKENS_COLUMN: usize = 14;
const OUTPUT_TOKENS_COLUMN: usize = 15;
const COST_COLUMN: usize = 16;
const BASELINE_COLUMN: usize = 17;

/// The row of a call a request paid for besides its answer (`answer_row`: the answer's): the
/// same hour, route and tags under the call's model and provider, with its tokens and cost and
/// no request, error, baseline or shape of its own (the request counts once, on its answer).
fn other_call_values(answer_row: &[Value], call: &crate::events::OtherCall) -> Vec<Value> {
    let mut row: Vec<Value> = answer_row[..HOURLY_KEY_LEN].to_vec();
    row[MODEL_COLUMN] = Value::Text(call.model.clone());
    row[PROVIDER_COLUMN] = Value::Text(call.provider.clone());
    row.extend((HOURLY_KEY_LEN..answer_row.len()).map(|column| {
        Value::Int(match column {
            INPUT_TOKENS_COLUMN => call.input_tokens as i64,
            CACHED_TOKENS_COLUMN => call.cached_input_tokens as i64,
            OUTPUT_TOKENS_COLUMN => call.output_tokens as i64,
            COST_COLUMN => nanos(call.cost.as_f64()),
            _ => 0,
        })
    }));
    row
}

/// The most end users one hour's rows of a tenant name apart. The `user` tag comes from the
/// request body's `user` (OpenAI asks for a hashed end-user id there), so an app with many users
/// would otherwise write a row per user, model, route and tag every hour, kept 400 days in one
/// ledger's SQLite (10 GB at most), and every report would scan them. The same bound holds the
/// other names a client chooses: feature, team and environment tags (a tag per document or job)
/// and the model a failed request named; full, a ledger's SQLite refuses every write, and with
/// them every settlement.
pub const USERS_PER_HOUR: usize = 1_000;
/// The user the hour's rows name once [`USERS_PER_HOUR`] are named: not a valid tag, so never
/// a user's own. Totals stay whole; only the split by user is lost past the bound.
pub const OTHER_USERS: &str = "(other users)";

/// A column an hour's rows hold to [`USERS_PER_HOUR`] names.
#[derive(Debug)]
pub struct BoundedColumn {
    /// Its position in an [`upsert_values`] row.
    column: usize,
    /// Its name in the table, and the report filter that names one of its values.
    pub dim: &'static str,
    /// The name the rest are summed under: none a valid tag, nor a catalog model's name.
    pub other: &'static str,
    /// The field of a report held to one of its values that says how many requests went under
    /// `other` (see `edge::usage::folded_notes`); the field's name past `other_` names them.
    pub note_key: &'static str,
    /// What one of its values is, in that note.
    pub noun: &'static str,
}

/// The columns an hour's rows hold to [`USERS_PER_HOUR`] names each.
pub const BOUNDED_COLUMNS: [BoundedColumn; 5] = [
    BoundedColumn { column: USER_COLUMN, dim: "user", other: OTHER_USERS, note_key: "other_users", noun: "end user" },
    BoundedColumn { column: FEATURE_COLUMN, dim: "feature", other: "(other features)", note_key: "other_features", noun: "feature" },
    BoundedColumn { column: TEAM_COLUMN, dim: "team", other: "(other teams)", note_key: "other_teams", noun: "team" },
    BoundedColumn { column: ENV_COLUMN, dim: "env", other: "(other environments)", note_key: "other_environments", noun: "environment" },
    BoundedColumn { column: MODEL_COLUMN, dim: "model", other: "(other models)", note_key: "other_models", noun: "model" },
];

/// The query that reads the names an hour's rows hold in `column` (see [`HourNames::load`]).
pub fn names_of_hour(column: &str) -> String {
    format!("SELECT DISTINCT {column} AS name FROM usage_hourly_v2 WHERE hour = ?")
}

/// The bounded columns' names, for [`names_of_hour`] and [`HourNames::load`].
pub fn bounded_columns() -> impl Iterator<Item = &'static str> {
    BOUNDED_COLUMNS.iter().map(|b| b.dim)
}

/// The start of the hour `unix` falls in: the hour a rollup row is filed under.
pub fn hour_of(unix: i64) -> i64 {
    unix - unix.rem_euclid(3600)
}

/// The names the current hour's rows hold in each bounded column, to hold them to
/// [`USERS_PER_HOUR`] each.
#[derive(Debug, Default)]
pub struct HourNames {
    /// `None` until loaded: the names the table already holds for the hour ([`names_of_hour`]).
    hour: Option<i64>,
    names: [std::collections::HashSet<String>; BOUNDED_COLUMNS.len()],
}

impl HourNames {
    /// Whether the names of `hour` are loaded; if not, read each of [`bounded_columns`] with
    /// [`names_of_hour`] and [`HourNames::load`] them.
    pub fn knows(&self, hour: i64) -> bool {
        self.hour == Some(hour)
    }

    /// Starts `hour` with no names, unless it is the hour held.
    fn start(&mut self, hour: i64) {
        if !self.knows(hour) {
            *self = HourNames { hour: Some(hour), ..HourNames::default() };
        }
    }

    /// The names `column` (one of [`bounded_columns`]) holds in `hour`'s rows.
    pub fn load(&mut self, hour: i64, column: &str, names: impl IntoIterator<Item = String>) {
        self.start(hour);
        if let Some(i) = BOUNDED_COLUMNS.iter().position(|b| b.dim == column) {
            self.names[i] = names.into_iter().filter(|n| !n.is_empty()).collect();
        }
    }

    /// Whether a row of `hour` may name `value` in the bounded column `i`: a name it holds, or
    /// one more while it holds fewer than the bound. Rows of an hour not loaded (a batch
    /// straddling the hour) start it afresh.
    fn file(&mut self, hour: i64, i: usize, value: &str) -> bool {
        if value.is_empty() {
            return true;
        }
        self.start(hour);
        let names = &mut self.names[i];
        if names.contains(value) {
            return true;
        }
        if names.len() >= USERS_PER_HOUR {
            return false;
        }
        names.insert(value.to_string());
        true
    }
}

/// The hourly and minutely rows for a batch of events, with the rows of events that share a key
/// summed into one: a batch of a tenant's requests is mostly the same model, route and feature,
/// so the ledger runs a few upserts per batch instead of two per request. `names` holds the hour
/// to [`USERS_PER_HOUR`] names in each bounded column (users, tags, models).
pub fn batch_rows<'a>(events: impl IntoIterator<Item = &'a CostEvent>, unix_now: i64, names: &mut HourNames) -> (Vec<Vec<Value>>, Vec<Vec<Value>>) {
    let (mut hourly, mut minutely) = (Vec::new(), Vec::new());
    let hour = hour_of(unix_now);
    for event in events {
        let mut row = upsert_values(event, unix_now);
        for (i, bounded) in BOUNDED_COLUMNS.iter().enumerate() {
            let filed = matches!(&row[bounded.column], Value::Text(value) if names.file(hour, i, value));
            if !filed {
                row[bounded.column] = Value::Text(bounded.other.to_string());
            }
        }
        // The minute rows name the feature the hour's rows do.
        let mut minute_row = minutely_values(event, unix_now);
        minute_row[1] = row[FEATURE_COLUMN].clone();
        // The calls the request paid for besides its answer go under their own model and
        // provider; the answer's row keeps the rest of the event's cost (and its baseline). A
        // request that failed saved nothing (its baseline is what it paid): each call's row then
        // takes its own cost as its baseline too, so no model is credited a saving.
        let others: i64 = event.shape.other_calls.iter().map(|c| nanos(c.cost.as_f64())).sum();
        let failed = event.status >= 400;
        for column in [COST_COLUMN, BASELINE_COLUMN].into_iter().filter(|&c| c == COST_COLUMN || failed) {
            if let Value::Int(v) = &mut row[column] {
                *v = (*v - others).max(0);
            }
        }
        for call in &event.shape.other_calls {
            let mut call_row = other_call_values(&row, call);
            if failed {
                call_row[BASELINE_COLUMN] = call_row[COST_COLUMN].clone();
            }
            add_row(&mut hourly, call_row, HOURLY_KEY_LEN);
        }
        add_row(&mut hourly, row, HOURLY_KEY_LEN);
        add_row(&mut minutely, minute_row, MINUTELY_KEY_LEN);
    }
    (hourly, minutely)
}

/// Adds `row` into the row of `rows` with the same key, or appends it. Batches hold few distinct
/// keys, so a scan is cheaper than hashing every key.
fn add_row(rows: &mut Vec<Vec<Value>>, row: Vec<Value>, key_len: usize) {
    let Some(existing) = rows.iter_mut().find(|r| r[..key_len] == row[..key_len]) else {
        rows.push(row);
        return;
    };
    for (sum, v) in existing[key_len..].iter_mut().zip(&row[key_len..]) {
        if let (Value::Int(a), Value::Int(b)) = (sum, v) {
            *a += b;
        }
    }
}


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    /// Calendar days, weeks and months, in UTC or a report's time zone
    /// (`crate::report_days::Buckets`).
    Day,
    /// Weeks from `starts_on`, an ISO weekday (1 Monday, the default, to 7 Sunday).
    Week { starts_on: u8 },
    Month,
    /// One bucket for the whole range.
    Total,
}

/// The days a week may start on (`week_start`), Monday first as ISO's weekdays count them.
pub const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl Granularity {
    /// A report's `granularity`, and for weeks the day they start on (`week_start`, a weekday's
    /// English name in any case; Monday when none, as ISO 8601's weeks).
    pub fn parse(s: &str, week_start: Option<&str>) -> Result<Granularity, ApiError> {
        let granularity = match s {
            "hour" => Granularity::Hour,
            "day" => Granularity::Day,
            "week" => Granularity::Week { starts_on: 1 },
            "month" => Granularity::Month,
            "total" | "" => Granularity::Total,
            other => return Err(ApiError::invalid_value("granularity", format!("'granularity' must be hour, day, week, month or total; got '{other}'."))),
        };
        let Some(day) = week_start else { return Ok(granularity) };
        let Granularity::Week { .. } = granularity else {
            return Err(ApiError::invalid_value("week_start", "'week_start' applies to granularity=week only."));
        };
        match WEEKDAYS.iter().position(|w| w.eq_ignore_ascii_case(day)) {
            Some(i) => Ok(Granularity::Week { starts_on: i as u8 + 1 }),
            None => Err(ApiError::invalid_value("week_start", format!("'week_start' must be one of {}; got '{day}'.", WEEKDAYS.join(", ")))),
        }
    }

    /// The day weekly buckets start on, as [`Granularity::parse`] reads it (`None` for other
    /// granularities).
    pub fn week_start(self) -> Option<&'static str> {
        match self {
            Granularity::Week { starts_on } => Some(WEEKDAYS[usize::from(starts_on) - 1]),
            _ => None,
        }
    }
}

/// Validates `group_by` against [`DIMENSIONS`] (the names go into SQL, so nothing else may).
pub fn parse_group_by(s: &str) -> Result<Vec<&'static str>, ApiError> {
    let mut dims = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let dim = DIMENSIONS.iter().find(|d| **d == part).ok_or_else(|| {
            ApiError::invalid_value("group_by", format!("Unknown group_by dimension '{part}'; use any of {}.", DIMENSIONS.join(", ")))
        })?;
        if !dims.contains(dim) {
            dims.push(*dim);
        }
    }
    Ok(dims)
}


/// Savings split by where they came from, in nanodollars: `(routing, cache)`. Cache savings are
/// what cache hits would have cost (their baseline; a hit itself costs nothing), routing savings
/// the rest: baseline − cost of the requests a provider answered.
pub fn savings_split(cost_nanos: i64, baseline_nanos: i64, cache_savings_nanos: i64) -> (i64, i64) {
    (baseline_nanos - cost_nanos - cache_savings_nanos, cache_savings_nanos)
}

/// Equality filters on dimensions (`feature=search&env=prod`): each name must be one of
/// [`DIMENSIONS`] (names go into SQL), each value 1–128 characters without control characters
/// (values are bound, never spliced). Other names are not filters and are skipped.
pub fn parse_filters<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut filters: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in pairs {
        let Some(dim) = DIMENSIONS.iter().find(|d| **d == name) else { continue };
        if value.is_empty() || value.chars().count() > 128 || value.chars().any(char::is_control) {
            return Err(ApiError::invalid_value(dim, format!("Filter '{dim}' must be 1-128 characters without control characters.")));
        }
        if filters.iter().any(|(d, _)| d == dim) {
            return Err(ApiError::invalid_value(dim, format!("Filter '{dim}' is given more than once.")));
        }
        filters.push((dim, value.to_string()));
    }
    Ok(filters)
}

/// The span a report's `from` and `to` may name (2000-01-01 to 2100-01-01 UTC).
pub const EARLIEST_REPORT_TIME: i64 = 946_684_800;
pub const LATEST_REPORT_TIME: i64 = 4_102_444_800;

/// Whether a date-time that begins with a calendar date (`2026-02-28`, `2026-02-28T12:00Z`)
/// names a day its month has; `true` for anything else, left to the date parser.
pub fn calendar_date_valid(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).filter(|d| d.iter().all(u8::is_ascii_digit)).map(|d| d.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')));
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else { return true };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return true;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The part of a report's `[from, to)` that can hold rollup rows at `now`: none is filed ahead of
/// its time nor kept past [`RETENTION_SECS`] (a day's slack each side, for the sweep's own lag).
/// A report's bucket SQL is written over it (`crate::report_days::Buckets`): a month report to
/// 2100 would otherwise make every row pass the months between 2100 and its own.
pub fn filed_span(from: i64, to: i64, now: i64) -> (i64, i64) {
    (from.max(now - RETENTION_SECS - 2 * 86_400), to.min(now + 86_400))
}

/// The most rows a usage report returns. An hourly report over months grouped by user could
/// otherwise build millions of rows in the Durable Object's memory; past this the report is
/// refused with a 400 saying how to narrow it (the query asks for one row more, to know).
pub const MAX_REPORT_ROWS: usize = 20_000;

/// The 400 for a report past [`MAX_REPORT_ROWS`].
pub fn too_many_rows_message() -> String {
    format!("The report has more than {MAX_REPORT_ROWS} rows: narrow the range (from/to), use a coarser granularity, group by fewer dimensions, or filter.")
}

/// The query for a usage report over `[from, to)`, grouped by `bucket` (SQL of the `hour`
/// column, `crate::report_days::Buckets::sql`, written by this crate and never from a request)
/// as each row's `start`, then by `dims`, with `AND <dim> = ?` for each filter dimension
/// (validated by [`parse_filters`]); binds `from`, `to`, then the filter values in order.
pub fn query(dims: &[&str], bucket: &str, filters: &[&str]) -> String {
    let mut select = vec![format!("{bucket} AS start")];
    select.extend(dims.iter().map(|d| d.to_string()));
    select.push(
        "SUM(requests) AS requests, SUM(errors) AS errors, SUM(input_tokens) AS input_tokens, SUM(cached_tokens) AS cached_tokens, \
         SUM(output_tokens) AS output_tokens, SUM(cost_nanos) AS cost_nanos, SUM(baseline_nanos) AS baseline_nanos, SUM(cache_hits) AS cache_hits, \
         SUM(retries) AS retries, SUM(escalations) AS escalations, SUM(system_tokens) AS system_tokens, \
         SUM(repeated_prefix_tokens) AS repeated_prefix_tokens, SUM(capped_requests) AS capped_requests, \
         SUM(max_output_tokens) AS max_output_tokens, SUM(capped_output_tokens) AS capped_output_tokens, SUM(length_stops) AS length_stops, \
         SUM(CASE WHEN cache LIKE 'hit%' THEN baseline_nanos - cost_nanos ELSE 0 END) AS cache_savings_nanos"
            .to_string(),
    );
    let mut group = vec!["start".to_string()];
    group.extend(dims.iter().map(|d| d.to_string()));
    let filter: String = filters.iter().filter(|f| DIMENSIONS.contains(f)).map(|f| format!(" AND {f} = ?")).collect();
    format!(
        "SELECT {} FROM usage_hourly_v2 WHERE hour >= ? AND hour < ?{filter} GROUP BY {} ORDER BY {} LIMIT {}",
        select.join(", "),
        group.join(", "),
        group.join(", "),
        MAX_REPORT_ROWS + 1
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_row_is_swept_at_its_expiry_and_not_before() {
        // Whichever table expires first sets the alarm; the statements then drop exactly it.
        let (hour, minute) = (1_700_000_000 - 1_700_000_000 % 3600, 1_750_000_000 - 1_750_000_000 % 60);
        let drops = |at: i64, row: i64, table: usize| row < super::expired_rows(at)[table].1;
        let at = super::next_expiry(Some(hour), None).unwrap();
        assert!(drops(at, hour, 0) && !drops(at - 1, hour, 0));
        let at = super::next_expiry(None, Some(minute)).unwrap();
        assert!(drops(at, minute, 1) && !drops(at - 1, minute, 1));
        // The earlier of the two, whichever it is.
        assert_eq!(super::next_expiry(Some(hour), Some(minute)), Some(hour + super::RETENTION_SECS + 1));
        assert_eq!(super::next_expiry(Some(minute), Some(minute)), Some(minute + super::MINUTELY_RETENTION_SECS + 1));
        assert_eq!(super::next_expiry(None, None), None);
    }

    use super::*;
    use crate::events::Attribution;

    #[test]
    fn group_by_is_whitelisted() {
        assert_eq!(parse_group_by("model, feature,model").unwrap(), vec!["model", "feature"]);
        assert_eq!(parse_group_by("").unwrap(), Vec::<&str>::new());
        let e = parse_group_by("model; DROP TABLE usage_hourly").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("group_by"));
        assert_eq!(Granularity::parse("week", None).unwrap(), Granularity::Week { starts_on: 1 });
        assert_eq!(Granularity::parse("", None).unwrap(), Granularity::Total);
        assert_eq!(Granularity::parse("year", None).unwrap_err().param.as_deref(), Some("granularity"));
    }

    #[test]
    fn weeks_start_on_the_day_asked() {
        assert_eq!(WEEKDAYS.map(|d| Granularity::parse("week", Some(d)).unwrap()), [1, 2, 3, 4, 5, 6, 7].map(|starts_on| Granularity::Week { starts_on }));
        assert_eq!(Granularity::parse("week", Some("Sunday")).unwrap(), Granularity::Week { starts_on: 7 });
        assert_eq!(WEEKDAYS.map(|d| Granularity::parse("week", Some(d)).unwrap().week_start()), WEEKDAYS.map(Some));
        assert_eq!((Granularity::parse("week", None).unwrap().week_start(), Granularity::Day.week_start()), (Some("monday"), None));
        let unknown = Granularity::parse("week", Some("sun")).unwrap_err();
        assert_eq!((unknown.param.as_deref(), unknown.message.as_str()), (Some("week_start"), "'week_start' must be one of monday, tuesday, wednesday, thursday, friday, saturday, sunday; got 'sun'."));
        for other in ["day", "month", "hour", ""] {
            let e = Granularity::parse(other, Some("sunday")).unwrap_err();
            assert_eq!((e.param.as_deref(), e.message.as_str()), (Some("week_start"), "'week_start' applies to granularity=week only."), "{other}");
        }
    }

    #[test]
    fn queries_group_by_bucket_and_dimensions() {
        let q = query(&["model", "team"], "(hour / 86400)", &[]);
        assert!(q.starts_with("SELECT (hour / 86400) AS start, model, team, SUM(requests)"), "{q}");
        assert!(q.ends_with(&format!("GROUP BY start, model, team ORDER BY start, model, team LIMIT {}", MAX_REPORT_ROWS + 1)), "{q}");
    }

    #[test]
    fn a_report_is_bucketed_over_the_hours_that_can_hold_rows() {
        let now = 1_796_600_000;
        assert_eq!(filed_span(EARLIEST_REPORT_TIME, LATEST_REPORT_TIME, now), (now - RETENTION_SECS - 2 * 86_400, now + 86_400));
        assert_eq!(filed_span(now - 3600, now + 3600, now), (now - 3600, now + 3600), "inside it: as asked");
    }

    #[test]
    fn savings_split_into_routing_and_cache() {
        // A routed request: cost 2, baseline 10; a cache hit of a request whose model costs 5.
        assert_eq!(savings_split(2, 15, 5), (8, 5));
        assert_eq!(savings_split(0, 0, 0), (0, 0));
        // A route dearer than the model asked for (a cascade escalation) is negative routing savings.
        assert_eq!(savings_split(12, 10, 0), (-2, 0));
        assert!(query(&[], "0", &[]).contains("SUM(CASE WHEN cache LIKE 'hit%' THEN baseline_nanos - cost_nanos ELSE 0 END) AS cache_savings_nanos"));
    }

    #[test]
    fn filters_are_whitelisted_and_bound() {
        let f = parse_filters([("feature", "search"), ("from", "1"), ("env", "prod"), ("tenant", "x")]).unwrap();
        assert_eq!(f, vec![("feature", "search".to_string()), ("env", "prod".to_string())]);
        assert_eq!(parse_filters([("team", "")]).unwrap_err().param.as_deref(), Some("team"));
        assert!(parse_filters([("user", "a\nb")]).is_err());
        assert!(parse_filters([("user", "a"), ("user", "b")]).is_err());
        assert!(parse_filters([("user", "x".repeat(129).as_str())]).is_err());
        let longest = "é".repeat(128);
        assert_eq!(parse_filters([("user", longest.as_str())]).unwrap(), vec![("user", longest.clone())], "128 characters, not bytes, is the bound");
        // A value that looks like SQL is just a value: it is bound, not spliced.
        let f = parse_filters([("feature", "x' OR 1=1 --")]).unwrap();
        let names: Vec<&str> = f.iter().map(|(d, _)| *d).collect();
        let q = query(&["model"], "0", &names);
        assert!(q.contains("WHERE hour >= ? AND hour < ? AND feature = ? GROUP BY start, model"), "{q}");
        assert!(!q.contains("OR 1=1"));
        assert_eq!(q.matches('?').count(), 3);
        // Names that are not dimensions never reach the SQL.
        assert!(!query(&[], "hour", &["1=1; DROP TABLE usage_hourly"]).contains("DROP"));
    }

    fn sample_event(feature: &str, output_tokens: u64, cost_usd: f64) -> CostEvent {
        CostEvent {
            tenant: "t".into(),
            attribution: Attribution { feature: feature.into(), ..Attribution::default() },
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            route: "direct".into(),
            cache: "miss".into(),
            country: String::new(),
            status: 200,
            request_id: "r".into(),
            error_code: String::new(),
            input_tokens: 10,
            cached_input_tokens: 2,
            output_tokens,
            reasoning_tokens: 0,
            cache_write_tokens: 0,
            cost_usd,
            baseline_cost_usd: 0.0002,
            latency_ms: 1.0,
            shape: crate::events::RequestShape::default(),
        }
    }

    #[test]
    fn events_become_hourly_rows() {
        let e = CostEvent {
            shape: crate::events::RequestShape { class: "code/hard".into(), retries: 2, max_output_tokens: Some(100), ..Default::default() },
            ..sample_event("search", 5, 0.0000123456789)
        };
        let v = upsert_values(&e, 7_205);
        assert_eq!(v[0], Value::Int(7_200));
        assert_eq!(v[4], Value::Text("search".into()));
        assert_eq!(v[9], Value::Text("code/hard".into()));
        assert_eq!(v[11], Value::Int(1), "one request");
        assert_eq!(v[12], Value::Int(0), "no error");
        assert_eq!(v[16], Value::Int(12_346));
        assert_eq!(v[17], Value::Int(200_000));
        assert_eq!(v[19], Value::Int(2), "retries");
        assert_eq!(&v[23..26], &[Value::Int(1), Value::Int(100), Value::Int(5)], "capped request, its cap, its output");
        assert_eq!(UPSERT.matches('?').count(), v.len());
        let m = minutely_values(&e, 7_205);
        assert_eq!(m[0], Value::Int(7_200), "the minute that second 7,205 falls in");
        assert_eq!(m[2], Value::Int(1), "one request");
        assert_eq!(m[4], Value::Int(2), "retries");
        assert_eq!(UPSERT_MINUTELY.matches('?').count(), m.len());
        // A free model asked for and a paid one served: the negative saving stays, as the event
        // and the response headers say it.
        let free = CostEvent { baseline_cost_usd: 0.0, ..sample_event("search", 5, 0.000001) };
        assert_eq!(upsert_values(&free, 7_205)[17], Value::Int(0));
    }

    #[test]
    fn a_batch_sums_rows_that_share_a_key() {
        let event = sample_event;
        let (a, b, c) = (event("search", 5, 0.000001), event("chat", 7, 0.000002), event("search", 11, 0.000004));
        let (hourly, minutely) = batch_rows([&a, &b, &c], 7_205, &mut HourNames::default());
        assert_eq!(hourly.len(), 2, "search and chat");
        let search = &hourly[0];
        assert_eq!(search[4], Value::Text("search".into()));
        assert_eq!(search[11], Value::Int(2), "two requests");
        assert_eq!(search[15], Value::Int(16), "5 + 11 output tokens");
        assert_eq!(search[16], Value::Int(5_000), "1,000 + 4,000 nanodollars");
        // Summing rows first gives what upserting each event would have.
        let one_by_one: Vec<i64> = [&a, &c].iter().map(|e| match upsert_values(e, 7_205)[16] { Value::Int(n) => n, _ => 0 }).collect();
        assert_eq!(search[16], Value::Int(one_by_one.iter().sum()));
        assert_eq!(hourly[1][11], Value::Int(1));
        assert_eq!(minutely.len(), 2);
        assert_eq!(minutely[0][2], Value::Int(2));
        // Another hour is another row.
        let (later, _) = batch_rows([&a], 7_205 + 3_600, &mut HourNames::default());
        assert_eq!(later[0][0], Value::Int(10_800));
    }

    #[test]
    fn sums_past_9_million_dollars_read_and_show_whole() {
        assert_eq!(json_nanos(&serde_json::json!(12_345)), 12_345);
        assert_eq!(json_nanos(&serde_json::json!(1.2e16)), 12_000_000_000_000_000, "a float past 2^53");
        assert_eq!(json_nanos(&serde_json::json!(null)), 0);
        assert_eq!(nanos_to_dollars(12_000_000_000_000_000), "12000000");
        assert_eq!(nanos_to_dollars(1_500), "0.0000015");
        assert_eq!(nanos_to_dollars(-2_500_000_000), "-2.5");
        assert_eq!(nanos_to_dollars(0), "0");
        assert_eq!(nanos_to_dollars(12_346), crate::money::Usd(12_346_000).to_string(), "as Usd shows it");
    }

    #[test]
    fn report_dates_must_be_days_of_their_month() {
        // Leap years: every fourth, but not a century's, unless it is a fourth century's (2000).
        for ok in ["2026-02-28", "2024-02-29", "2000-02-29", "2000-02-29T12:00:00Z", "2026-12-31T23:00:00Z", "2026-11-01T00:00:00+05:00", "2026-04-30", "2026-01-31"] {
            assert!(calendar_date_valid(ok), "{ok}");
        }
        // Only text that begins with YYYY-MM-DD is judged: the rest is the date parser's.
        for other in ["not a date", "1795305600", "2026-02/30", "2026/02-30", "2026/02/30"] {
            assert!(calendar_date_valid(other), "{other}");
        }
        for bad in ["2026-02-29", "2026-02-30", "2000-02-30", "2024-02-30", "2026-04-31", "2026-06-31", "2026-09-31", "2026-11-31", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32", "2100-02-29T00:00Z", "1900-02-29"] {
            assert!(!calendar_date_valid(bad), "{bad}");
        }
    }

    #[test]
    fn calls_paid_for_besides_the_answer_are_rows_of_their_own_model() {
        // A cascade: gpt-4o-mini's answer ($0.000002) escalated to gpt-4o, whose answer the event
        // carries with the total cost ($0.000012).
        let mut e = sample_event("search", 5, 0.000012);
        e.model = "gpt-4o".into();
        e.shape.other_calls.push(crate::events::OtherCall {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_tokens: 20,
            cached_input_tokens: 12,
            output_tokens: 7,
            cost: crate::money::Usd(2_000_000),
        });
        let (hourly, _) = batch_rows([&e], 7_205, &mut HourNames::default());
        assert_eq!(hourly.len(), 2);
        let of = |model: &str| hourly.iter().find(|r| r[MODEL_COLUMN] == Value::Text(model.into())).unwrap().clone();
        let (answer, escalated) = (of(&e.model), of("gpt-4o-mini"));
        assert_eq!(answer[COST_COLUMN], Value::Int(10_000), "the answer's own cost");
        assert_eq!(escalated[COST_COLUMN], Value::Int(2_000));
        assert_eq!((answer[11].clone(), escalated[11].clone()), (Value::Int(1), Value::Int(0)), "one request, on its answer");
        assert_eq!(escalated[INPUT_TOKENS_COLUMN], Value::Int(20));
        assert_eq!(escalated[CACHED_TOKENS_COLUMN], Value::Int(12), "its own cache reads, for its cache hit rate");
        assert_eq!(escalated[OUTPUT_TOKENS_COLUMN], Value::Int(7));
        assert_eq!(escalated[17], Value::Int(0), "the baseline stays on the answer");
        assert_eq!(escalated[4], Value::Text("search".into()), "the request's tags");
        let total: i64 = hourly.iter().map(|r| match r[COST_COLUMN] { Value::Int(n) => n, _ => 0 }).sum();
        assert_eq!(total, nanos(e.cost_usd), "the total stays the event's");

        // A request that failed after a billed attempt (Gemini's failed answer, then a 500): its
        // event's baseline is its cost, and no row shows a saving or a loss.
        let mut failed = CostEvent::failure("acme", Attribution::default(), "US", 502, "req_2", "upstream_error", "gpt-4o", 1.0);
        failed.cost_usd = 0.125;
        failed.baseline_cost_usd = 0.125;
        failed.shape.other_calls.push(crate::events::OtherCall { provider: "gemini".into(), model: "gemini-2.5-pro".into(), input_tokens: 100_000, cached_input_tokens: 0, output_tokens: 0, cost: crate::money::Usd::parse_decimal("0.125").unwrap() });
        let (hourly, _) = batch_rows([&failed], 7_205, &mut HourNames::default());
        for r in &hourly {
            assert_eq!(r[COST_COLUMN], r[BASELINE_COLUMN], "no saving on {:?}", r[MODEL_COLUMN]);
        }
        let of = |model: &str| hourly.iter().find(|r| r[MODEL_COLUMN] == Value::Text(model.into())).unwrap().clone();
        assert_eq!(of("gemini-2.5-pro")[COST_COLUMN], Value::Int(125_000_000));
        assert_eq!(of("gpt-4o")[BASELINE_COLUMN], Value::Int(0));
    }

    #[test]
    fn an_hour_names_a_bounded_number_of_end_users() {
        let by = |user: String| {
            let mut e = sample_event("search", 1, 0.000001);
            e.attribution.user = user;
            e
        };
        let mut users = HourNames::default();
        // The table already names 998 users this hour (read when the ledger wakes).
        users.load(7_200, "user", (0..998).map(|i| format!("u{i}")));
        let events: Vec<CostEvent> = ["u5", "new-a", "new-b", "new-c", "", "new-d", "u7", "new-a"].into_iter().map(|u| by(u.to_string())).collect();
        let (hourly, _) = batch_rows(&events, 7_205, &mut users);
        let named: Vec<(String, i64)> = hourly.iter().map(|r| match (&r[USER_COLUMN], &r[11]) { (Value::Text(u), Value::Int(n)) => (u.clone(), *n), _ => unreachable!() }).collect();
        assert_eq!(named, [("u5", 1), ("new-a", 2), ("new-b", 1), (OTHER_USERS, 2), ("", 1), ("u7", 1)].map(|(u, n)| (u.to_string(), n)),
            "the 999th and 1,000th users are named, later ones summed; known users and no user stay");
        // The next hour starts afresh.
        let (next, _) = batch_rows([&by("new-c".into())], 7_205 + 3_600, &mut users);
        assert_eq!(next[0][USER_COLUMN], Value::Text("new-c".into()));
        assert!(!crate::attribution::valid_tag(OTHER_USERS), "never a user's own tag");
    }

    #[test]
    fn an_hour_names_a_bounded_number_of_tags_and_models() {
        // A tag per document, and a failed request per made-up model name: 5,000 of each.
        let events: Vec<CostEvent> = (0..5_000)
            .map(|i| {
                let mut e = sample_event(&format!("doc-{i}"), 1, 0.000001);
                (e.attribution.team, e.attribution.environment, e.model) = (format!("job-{i}"), format!("env-{i}"), format!("model-{i}"));
                e
            })
            .collect();
        let mut names = HourNames::default();
        let (hourly, minutely) = batch_rows(&events, 7_205, &mut names);
        assert_eq!(hourly.len(), USERS_PER_HOUR + 1, "a thousand named, the rest summed in one row");
        assert_eq!(minutely.len(), USERS_PER_HOUR + 1, "the minute rows name the features the hour's do");
        let last = hourly.last().unwrap();
        for (column, other) in [(FEATURE_COLUMN, "(other features)"), (TEAM_COLUMN, "(other teams)"), (ENV_COLUMN, "(other environments)"), (MODEL_COLUMN, "(other models)")] {
            assert_eq!(last[column], Value::Text(other.into()));
            assert!(!crate::attribution::valid_tag(other));
        }
        assert_eq!(last[11], Value::Int(4_000), "every request counted");
        // A name the hour holds keeps its row; the table's names are read back on wake-up.
        let mut woken = HourNames::default();
        woken.load(7_200, "feature", (0..1_000).map(|i| format!("doc-{i}")));
        let (rows, _) = batch_rows([&events[7], &events[4_999]], 7_205, &mut woken);
        assert_eq!((rows[0][FEATURE_COLUMN].clone(), rows[1][FEATURE_COLUMN].clone()), (Value::Text("doc-7".into()), Value::Text("(other features)".into())));
    }

    #[test]
    fn a_woken_ledger_reads_back_the_names_of_every_bounded_column() {
        // What the ledger does on its first batch of an hour: for each bounded column, run
        // names_of_hour with the hour bound and load the rows' `name`s.
        let mut names = HourNames::default();
        for column in bounded_columns() {
            assert!(DIMENSIONS.contains(&column), "{column} is a column of the table");
            let q = names_of_hour(column);
            assert!(q.contains(&format!("SELECT DISTINCT {column} AS name FROM usage_hourly_v2 WHERE hour = ?")), "{q}");
            assert_eq!(q.matches('?').count(), 1, "the hour, the only bind");
            names.load(7_200, column, (0..USERS_PER_HOUR).map(|i| format!("n{i}")));
        }
        assert!(names.knows(7_200));
        // The hour is full in every bounded column: a request naming new ones is summed in each.
        let mut e = sample_event("new", 1, 0.000001);
        (e.attribution.user, e.attribution.team, e.attribution.environment, e.model) = ("new".into(), "new".into(), "new".into(), "new".into());
        let (hourly, _) = batch_rows([&e], 7_205, &mut names);
        let folded: Vec<Value> = BOUNDED_COLUMNS.iter().map(|b| hourly[0][b.column].clone()).collect();
        assert_eq!(folded, BOUNDED_COLUMNS.iter().map(|b| Value::Text(b.other.into())).collect::<Vec<_>>());
        let (known, _) = batch_rows([&sample_event("n7", 1, 0.000001)], 7_205, &mut names);
        assert_eq!(known[0][FEATURE_COLUMN], Value::Text("n7".into()), "a name the table holds keeps its row");
    }

    #[test]
    fn hourly_rows_are_kept_400_days() {
        let now = 1_800_000_000;
        let kept_from = expired_rows(now)[0].1;
        assert!(hour_of(now - 399 * 86_400) >= kept_from, "a report over the last 399 days finds its rows");
        assert!(hour_of(now - 401 * 86_400) < kept_from);
    }

    #[test]
    fn minute_rows_outlast_the_longest_spend_spike_baseline() {
        // The widest spike rule a tenant may set: a 60-minute window against 300 minutes before it.
        let cfg = crate::alerts::AlertConfig::from_json(br#"{"spend_spike":{"window_minutes":60,"baseline_minutes":300}}"#).unwrap();
        // A wider one is refused: allowing it would need longer retention than this test checks.
        for wider in [r#"{"spend_spike":{"window_minutes":60,"baseline_minutes":360}}"#, r#"{"spend_spike":{"window_minutes":61,"baseline_minutes":244}}"#] {
            assert!(crate::alerts::AlertConfig::from_json(wider.as_bytes()).is_err());
        }
        let minute = 1_800_000_000; // 2027-01-15 08:00 UTC
        // At a minute's first second (the cron's time) the baseline reaches furthest back.
        for now in [minute, minute + 30] {
            // Eight hours of a feature spending $1 a minute, then $10 a minute for the last hour.
            let rows: Vec<crate::alerts::MinuteRow> = (1..=8 * 60)
                .map(|ago| {
                    let at = minute - ago * 60;
                    let cost_nanos = if at >= minute - 3_600 { 10_000_000_000 } else { 1_000_000_000 };
                    crate::alerts::MinuteRow { minute: at, feature: "search".into(), requests: 1, errors: 0, retries: 0, cost_nanos }
                })
                .collect();
            let kept_from = expired_rows(now)[1].1;
            let swept: Vec<crate::alerts::MinuteRow> = rows.iter().filter(|r| r.minute >= kept_from).cloned().collect();
            assert!(swept.len() < rows.len(), "the sweep drops the oldest");
            let with_all = crate::alerts::detect(&cfg, now, &rows, &[], &[], &[]);
            assert_eq!(with_all.len(), 1, "{with_all:?}");
            assert_eq!(with_all[0].details["idle_baseline"], false, "judged against the spend before it");
            assert_eq!(crate::alerts::detect(&cfg, now, &swept, &[], &[], &[]), with_all, "at {now}");
        }
    }

    #[test]
    fn a_report_too_large_says_its_bound_and_how_to_narrow_it() {
        let message = too_many_rows_message();
        for says in [MAX_REPORT_ROWS.to_string().as_str(), "from/to", "granularity", "group by", "filter"] {
            assert!(message.contains(says), "{message} says {says}");
        }
    }
}
