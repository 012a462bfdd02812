//! The ledger Durable Object: one per tenant, holding its budgets, open reservations and
//! per-minute counters. A Durable Object handles one event at a time and its in-memory state is
//! changed without awaiting in between, so reserve-then-check is atomic: concurrent requests
//! cannot jointly pass a hard limit. State is persisted after every change (SQLite-backed
//! storage; the output gate holds the reply until the write is durable).
//!
//! Internal API (reached only through the `LEDGER` binding, never from the internet):
//! `POST /admit` (rate limits + reservation), `/finish` (settle or release + rollup), `/renew` (a
//! live stream's reservation extended), `/reserve`
//! (a downgraded route's new reservation), `/usage`;
//! `GET /state`; `PUT /config`; alerts: `/alerts/config`, `/alerts/evaluate`, `/alerts/ack`,
//! `GET /alerts` (see `crate::alerts` and `edge::alerting`); the alerting cron's list of tenants,
//! kept by the instance named `~alerting` only: `/watchlist`, `/watchlist/add`, `/watchlist/remove`.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::alerts::{self, AlertConfig, CircuitRow, MinuteRow, OpenAlert, Transition};
use crate::budget::{BudgetSpec, Covered, Ledger as BudgetLedger, OnHardLimit, RateLimits, Reservation};
use crate::events::CostEvent;
use crate::rollup;
use worker::SqlStorageValue;
use crate::money::Usd;

const STORAGE_KEY: &str = "ledger";
const ALERT_CONFIG_KEY: &str = "alert_config";
const ALERT_STATE_KEY: &str = "alert_state";

/// Transitions kept for `GET /v1/alerts`, and deliveries tried before one is given up (and kept
/// in the history as undelivered, with its last error).
const ALERT_HISTORY: usize = 200;
/// One a minute for half an hour: the first attempt and 30 retries.
const MAX_DELIVERY_ATTEMPTS: u32 = 31;

/// Open alerts, deliveries not yet made, and what happened before: one stored value, written
/// only when an evaluation or an acknowledgement changed it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, Deserialize)]
struct AlertState {
    open: Vec<OpenAlert>,
    outbox: Vec<Delivery>,
    history: std::collections::VecDeque<Delivery>,
    next_id: u64,
    /// The destinations each open alert's trigger was queued for (`alerts::fan_out`).
    #[serde(default)]
    told: alerts::Told,
    /// The latest moment (a cron run's scheduled time) this tenant was evaluated at. A run that
    /// reaches the tenant after a later run did (a slow run, overtaken) does not evaluate its
    /// earlier moment: it would reopen what the later run resolved, and resolve it again after.
    #[serde(default)]
    evaluated_at: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
struct Delivery {
    id: u64,
    destination: String,
    transition: Transition,
    attempts: u32,
    #[serde(default)]
    last_error: String,
    #[serde(default)]
    delivered: bool,
    /// Until when a cron run has it (unix seconds): a run that takes longer than a minute
    /// (slow destinations) must not find the next run sending the same deliveries again.
    #[serde(default)]
    leased_until: i64,
}

/// How long a run holds the deliveries it was handed; past it, a run that died without
/// acknowledging them is taken to have sent none.
const DELIVERY_LEASE_SECS: i64 = 600;

#[derive(Deserialize)]
struct EvaluateBody {
    now: i64,
}

/// `/watchlist/add` and `/watchlist/remove`: tenants to list for the alerting cron or to stop
/// listing; `imported_at` (unix seconds) marks an add of the tenants earlier releases listed in
/// KV, and the first is kept (see `alerting::alerting_tenants`).
#[derive(Deserialize)]
struct WatchlistBody {
    tenants: Vec<String>,
    #[serde(default)]
    imported_at: Option<i64>,
}

#[durable_object]
pub struct Ledger {
    state: State,
    ledger: RefCell<Option<BudgetLedger>>,
    /// Requests finished lately: a `/finish` batch sent again is not applied twice. The same ids
    /// are kept in `finished_requests` (SQL, written with the batch), for a batch sent again to
    /// an instance that restarted after applying it.
    finished: RefCell<crate::budget::RecentIds>,
    /// When `finished_requests` was last purged of old ids (unix seconds; 0: not yet).
    finished_purged_at: std::cell::Cell<i64>,
    /// The names the current hour's rollup rows hold in each bounded column (users, tags,
    /// models; see `rollup::USERS_PER_HOUR`).
    hour_names: RefCell<rollup::HourNames>,
    /// The stored value must be written with the next change even if it looks unchanged: it
    /// still holds reservations from before they had rows.
    stored_value_stale: std::cell::Cell<bool>,
    /// The alarm that drops rollup rows past retention, made sure of on the instance's first
    /// call of any kind, a report or an alert evaluation as well (rows from before the sweep
    /// existed, of a tenant that sends nothing more, or whose alarm was lost).
    retention_sweep: super::sweep_alarm::SweepAlarm,
    /// The time of the rollup rows the operation running wrote, if it wrote any (for the
    /// retention sweep, once they are stored).
    rows_written_at: std::cell::Cell<Option<i64>>,
    /// Calls still to fail, by operation (`TEST_LEDGER_FAIL`, "/finish:1,/renew:3": integration
    /// tests of the transaction and of the worker's retries; no deployment sets it). A `/finish`
    /// fails midway, after its rollups are written; any other before it changes anything.
    failures_to_inject: RefCell<std::collections::HashMap<String, u32>>,
}

#[derive(Deserialize)]
struct ReserveBody {
    request_id: String,
    amount: Usd,
    #[serde(default)]
    team: String,
    #[serde(default)]
    feature: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    key_id: String,
    now: i64,
}

/// `/renew`: a live stream's reservation, extended (`budget::Ledger::renew`).
#[derive(Deserialize)]
struct RenewBody {
    request_id: String,
    now: i64,
}

/// `/admit`: the per-minute limits, then the reservation, in one round trip.
#[derive(Deserialize)]
struct AdmitBody {
    #[serde(flatten)]
    reserve: ReserveBody,
    tokens: u64,
    /// Whether a budget set to downgrade sends the request on (chat); see `spend::admit`.
    #[serde(default = "yes")]
    may_downgrade: bool,
}

fn yes() -> bool {
    true
}

/// `/unadmit`: what `/admit` counted for a request (see `spend::unadmit`).
#[derive(Deserialize)]
struct UnadmitBody {
    #[serde(default)]
    key_id: String,
    tokens: u64,
    now: i64,
}

/// `/finish`: for a batch of finished requests, settle (or, with no `actual`, release) each
/// reservation and add each cost event to the rollups (see `spend::finish`).
#[derive(Deserialize)]
struct FinishBody {
    items: Vec<Finished>,
    now: i64,
}

#[derive(Deserialize)]
struct Finished {
    request_id: String,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    actual: Option<Usd>,
    #[serde(default)]
    event: Option<CostEvent>,
    /// The tokens its admission counted against the per-minute limits, if it was admitted.
    #[serde(default)]
    admitted_tokens: Option<u64>,
}

/// `PUT /admin/tenants/{id}/budgets`: a field left out keeps what is stored (a rate-limit change
/// must not drop the budgets, and with them their spend this window); `[]` / `{}` clears one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    #[serde(default)]
    pub budgets: Option<Vec<BudgetSpec>>,
    #[serde(default)]
    pub limits: Option<RateLimits>,
}

#[derive(Deserialize)]
struct UsageQuery {
    from: i64,
    to: i64,
    #[serde(default)]
    group_by: String,
    #[serde(default)]
    granularity: String,
    /// Equality filters, `[[dimension, value], ...]` (see `rollup::parse_filters`).
    #[serde(default)]
    filters: Vec<(String, String)>,
    /// The tz database zone whose days, weeks and months a report counts (`crate::report_days`);
    /// UTC's when none.
    #[serde(default)]
    time_zone: Option<String>,
    /// The weekday weeks start on (`rollup::Granularity::parse`); Monday when none.
    #[serde(default)]
    week_start: Option<String>,
}

impl Ledger {
    fn sql_value(v: rollup::Value) -> SqlStorageValue {
        match v {
            rollup::Value::Int(i) => SqlStorageValue::Integer(i),
            rollup::Value::Text(t) => SqlStorageValue::String(t),
        }
    }

    /// One operation on the ledger, and what it changed written: the reservations it made,
    /// renewed, settled or let expire, a row each, and the rest of the ledger as one value if
    /// that changed (compared without the reservations: cloning those for every request cost
    /// more the more requests were in flight). Synchronous: it runs inside the storage
    /// transaction `fetch` opens. Persists only what changed: a tenant without budgets or limits
    /// costs no write here.
    fn apply(&self, path: &str, text: &[u8]) -> worker::Result<Applied> {
        if path != "/finish" {
            self.injected_failure(path)?;
        }
        let mut guard = self.ledger.borrow_mut();
        let ledger = guard.as_mut().ok_or_else(|| worker::Error::RustError("the ledger is not loaded".into()))?;
        let before = ledger.without_reservations();
        let reply = match path {
            "/admit" => {
                let b: AdmitBody = parse(text)?;
                let r = &b.reserve;
                match ledger.admit_rate(&r.key_id, b.tokens, r.now) {
                    Err(limited) => json!({"ok": false, "limited": limited}),
                    Ok(status) => {
                        let covered = Covered { team: &r.team, feature: &r.feature, env: &r.env, key_id: &r.key_id };
                        match ledger.reserve(&r.request_id, r.amount, &covered, r.now) {
                            Ok(res) => json!({"ok": true, "status": status, "soft_warnings": res.soft_warnings, "held": res.held,
                                "controlled": !ledger.specs.is_empty() || ledger.limits != RateLimits::default()}),
                            Err(e) => {
                                // Refused, it is sent nowhere: not counted against the minute.
                                // A downgrade is still counted: the worker reserves the cheaper
                                // route next (`/reserve`, no second count).
                                if !(b.may_downgrade && e.on_hard_limit == OnHardLimit::Downgrade) {
                                    ledger.unadmit_rate(&r.key_id, b.tokens, r.now);
                                }
                                json!({"ok": false, "status": status, "exceeded": e})
                            }
                        }
                    }
                }
            }
            "/finish" => {
                let mut b: FinishBody = parse(text)?;
                // The worker sends a batch again when its call fails; what was applied then is
                // not applied twice (settlement, spend and rollups all add). The rollups, the
                // ids and the settlements are stored together or not at all (one transaction,
                // see `fetch`), so a batch is either applied whole or sent again whole.
                // One statement each for the whole batch, looking up and recording its ids
                // (a JSON array bound once): a statement per request cost more than the
                // rollups themselves.
                let sql = self.state.storage().sql();
                b.items.retain(|item| !self.finished.borrow().contains(&item.request_id));
                if !b.items.is_empty() {
                    let applied: Vec<FoundId> = sql.exec(FIND_FINISHED, vec![request_ids(&b.items)])?.to_array()?;
                    let applied: std::collections::HashSet<String> = applied.into_iter().map(|row| row.request_id).collect();
                    b.items.retain(|item| !applied.contains(&item.request_id));
                }
                self.record(b.items.iter().filter_map(|item| item.event.as_ref()), b.now)?;
                self.injected_failure(path)?;
                if !b.items.is_empty() {
                    sql.exec(RECORD_FINISHED, vec![SqlStorageValue::Integer(b.now), request_ids(&b.items)])?;
                }
                if b.now - self.finished_purged_at.get() >= 60 {
                    sql.exec("DELETE FROM finished_requests WHERE at < ?", vec![SqlStorageValue::Integer(b.now - FINISHED_KEPT_SECS)])?;
                    self.finished_purged_at.set(b.now);
                }
                for item in &b.items {
                    let tags = item.event.as_ref().map(|e| &e.attribution);
                    let tag = |f: fn(&crate::events::Attribution) -> &String| tags.map_or("", |a| f(a).as_str());
                    let covered = Covered { team: tag(|a| &a.team), feature: tag(|a| &a.feature), env: tag(|a| &a.environment), key_id: &item.key_id };
                    ledger.finish(&item.request_id, item.actual.unwrap_or(Usd::ZERO), &covered, b.now);
                    if let (Some(admitted), Some(event)) = (item.admitted_tokens, &item.event) {
                        ledger.count_used_tokens(&item.key_id, admitted, event.tokens_used(), b.now);
                    }
                    self.finished.borrow_mut().remember(&item.request_id);
                }
                json!({"ok": true, "finished": b.items.len()})
            }
            "/renew" => {
                let b: RenewBody = parse(text)?;
                json!({"ok": true, "renewed": ledger.renew(&b.request_id, b.now)})
            }
            "/unadmit" => {
                // A request whose downgrade found nothing that fits: refused after all, it is
                // taken back out of the minute (as `/admit` does for a plain refusal).
                let b: UnadmitBody = parse(text)?;
                ledger.unadmit_rate(&b.key_id, b.tokens, b.now);
                json!({"ok": true})
            }
            "/reserve" => {
                let b: ReserveBody = parse(text)?;
                let covered = Covered { team: &b.team, feature: &b.feature, env: &b.env, key_id: &b.key_id };
                match ledger.reserve(&b.request_id, b.amount, &covered, b.now) {
                    Ok(r) => json!({"ok": true, "soft_warnings": r.soft_warnings, "held": r.held}),
                    Err(e) => json!({"ok": false, "exceeded": e}),
                }
            }
            "/config" => {
                let c: LedgerConfig = parse(text)?;
                if let Err(why) = ledger.update(c.budgets, c.limits, worker::Date::now().as_millis() as i64 / 1000) {
                    return Ok(Applied::Response(Response::error(why, 400)?));
                }
                json!({"ok": true})
            }
            "/state" => {
                let ledger = ledger.as_of(super::http::now_unix());
                return Ok(Applied::Response(Response::from_json(&json!({"budgets": ledger.specs, "states": ledger.states, "limits": ledger.limits,
                    "open_reservations": ledger.reservations.len(), "alerts": ledger.alerts}))?));
            }
            "/reservations" => {
                // For the admin API only: every request in flight, with what it holds.
                let ledger = ledger.as_of(super::http::now_unix());
                return Ok(Applied::Response(Response::from_json(&json!({"reservations": ledger.reservations}))?));
            }
            _ => return Ok(Applied::Response(Response::error("unknown ledger operation", 404)?)),
        };
        let value = ledger.without_reservations();
        let value = (self.stored_value_stale.get() || value != before).then_some(value);
        let changed = ledger.take_changed_reservations();
        self.store(ledger, value.as_ref(), &changed)?;
        self.stored_value_stale.set(false);
        Ok(Applied::Reply(reply))
    }

    /// An error if `TEST_LEDGER_FAIL` asks for `path` to fail once more (see `failures_to_inject`).
    fn injected_failure(&self, path: &str) -> worker::Result<()> {
        let mut left = self.failures_to_inject.borrow_mut();
        match left.get_mut(path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(worker::Error::RustError(format!("TEST_LEDGER_FAIL: {path} made to fail")))
            }
            _ => Ok(()),
        }
    }

    /// Drops what memory holds beyond storage, after a transaction that stored nothing.
    fn forget_unstored(&self) {
        *self.ledger.borrow_mut() = None;
        *self.finished.borrow_mut() = Default::default();
        *self.hour_names.borrow_mut() = Default::default();
        self.rows_written_at.set(None);
    }

    /// Adds a batch of requests to the hourly and minutely rollups (rows that share a key summed
    /// first, see `rollup::batch_rows`); drops rows past retention now and then.
    fn record<'a>(&self, events: impl IntoIterator<Item = &'a CostEvent> + Clone, now: i64) -> worker::Result<()> {
        let sql = self.state.storage().sql();
        let hour = rollup::hour_of(now);
        if !self.hour_names.borrow().knows(hour) {
            // Once an hour per instance: the names its rows already hold (after a restart).
            for column in rollup::bounded_columns() {
                let named: Vec<NamedRow> = sql.exec(&rollup::names_of_hour(column), vec![SqlStorageValue::Integer(hour)])?.to_array()?;
                self.hour_names.borrow_mut().load(hour, column, named.into_iter().map(|row| row.name));
            }
        }
        let (hourly, minutely) = rollup::batch_rows(events.clone(), now, &mut self.hour_names.borrow_mut());
        if !minutely.is_empty() {
            self.rows_written_at.set(Some(now));
        }
        for row in hourly {
            sql.exec(rollup::UPSERT, row.into_iter().map(Self::sql_value).collect::<Vec<_>>())?;
        }
        for row in minutely {
            sql.exec(rollup::UPSERT_MINUTELY, row.into_iter().map(Self::sql_value).collect::<Vec<_>>())?;
        }
        for deployment in events.into_iter().flat_map(|e| &e.shape.circuits_opened) {
            sql.exec(rollup::UPSERT_CIRCUIT, vec![SqlStorageValue::String(deployment.clone()), SqlStorageValue::Integer(now)])?;
        }
        if now % 97 == 0 {
            Self::drop_expired(&sql, now)?;
        }
        Ok(())
    }

    fn drop_expired(sql: &worker::SqlStorage, now: i64) -> worker::Result<()> {
        for (statement, before) in rollup::expired_rows(now) {
            sql.exec(statement, vec![SqlStorageValue::Integer(before)])?;
        }
        Ok(())
    }

    /// The alarm: drops the rows past retention and sets the next sweep for the next to expire.
    /// Rows are otherwise dropped only as new ones arrive, so a tenant that stops sending (or is
    /// deleted) would keep its usage past the retention the README states.
    async fn sweep(&self) -> worker::Result<()> {
        let now = (js_sys::Date::now() / 1000.0) as i64;
        self.retention_sweep.sweeping(now);
        Self::drop_expired(&self.state.storage().sql(), now)?;
        self.retention_sweep.after_sweep(&self.state.storage(), self.next_expiry()?, now).await
    }

    /// When the ledger's oldest rollup rows expire (`None`: it holds none).
    fn next_expiry(&self) -> worker::Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Oldest {
            hour: Option<i64>,
            minute: Option<i64>,
        }
        let oldest: Vec<Oldest> = self.state.storage().sql().exec(rollup::OLDEST_ROWS, None)?.to_array()?;
        Ok(oldest.first().and_then(|o| rollup::next_expiry(o.hour, o.minute)))
    }

    /// The reservations as stored, one row each (see [`Ledger::store`]).
    fn reservation_rows(&self) -> worker::Result<Vec<(String, Reservation)>> {
        let rows: Vec<ReservationRow> = self.state.storage().sql().exec(SELECT_RESERVATIONS, None)?.to_array()?;
        rows.into_iter()
            .map(|row| {
                let reservation = serde_json::from_str(&row.reservation).map_err(|e| worker::Error::RustError(format!("reservation {} is unreadable: {e}", row.request_id)))?;
                Ok((row.request_id, reservation))
            })
            .collect()
    }

    /// Writes a change of `ledger` (inside the operation's transaction): the reservations named in
    /// `changed`, a row each (written if the ledger still holds them, deleted if not), then the
    /// rest of the ledger, `value`, if it changed.
    fn store(&self, ledger: &BudgetLedger, value: Option<&BudgetLedger>, changed: &std::collections::BTreeSet<String>) -> worker::Result<()> {
        if !changed.is_empty() {
            let (mut kept, mut gone) = (Vec::new(), Vec::new());
            for id in changed {
                match ledger.reservations.get(id) {
                    Some(r) => kept.push((id.as_str(), serde_json::to_string(r)?)),
                    None => gone.push(id.as_str()),
                }
            }
            let sql = self.state.storage().sql();
            // In slices: a bound value may hold at most 2 MB, and a ledger stored before
            // reservations had rows gives them all rows in its first change.
            for slice in kept.chunks(ROWS_PER_STATEMENT) {
                sql.exec(UPSERT_RESERVATIONS, vec![SqlStorageValue::String(serde_json::to_string(slice)?)])?;
            }
            for slice in gone.chunks(ROWS_PER_STATEMENT) {
                sql.exec(DELETE_RESERVATIONS, vec![SqlStorageValue::String(serde_json::to_string(slice)?)])?;
            }
        }
        if let Some(value) = value {
            // As workers-rs' `Storage::put` stores it (and `get` reads it back), but through the
            // synchronous key-value API, the one a transaction can hold.
            let value = serde_wasm_bindgen::to_value(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
            super::crossings::kv_put(self.state.as_raw(), STORAGE_KEY, &value)?;
        }
        Ok(())
    }

    // Alert values are stored as JSON text: their tagged and flattened serde shapes round-trip
    // through serde_json exactly, with no JS object conversion in between.
    /// A stored value, `None` when there is none. A value that cannot be read (a storage error,
    /// or a shape this code does not know, after a rollback) is an error, never `None`: taken
    /// for absent, it would be written over with an empty one and lost.
    async fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> worker::Result<Option<T>> {
        let text: Option<String> = self.state.storage().get(key).await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| worker::Error::RustError(format!("stored {key} is unreadable: {e}")))).transpose()
    }

    async fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> worker::Result<()> {
        self.state.storage().put(key, serde_json::to_string(value)?).await
    }

    /// The alerting cron's tenants, sorted, and when those of earlier releases' KV keys were first
    /// taken in (`null`: never).
    async fn watchlist(&self) -> worker::Result<Response> {
        #[derive(Deserialize)]
        struct Row {
            tenant: String,
        }
        let rows: Vec<Row> = self.state.storage().sql().exec("SELECT tenant FROM alerting_watchlist ORDER BY tenant", None)?.to_array()?;
        let first_import = self.get_json::<i64>(WATCHLIST_FIRST_IMPORT_KEY).await?;
        Response::from_json(&json!({"tenants": rows.into_iter().map(|r| r.tenant).collect::<Vec<_>>(), "first_import": first_import}))
    }

    async fn change_watchlist(&self, add: bool, body: WatchlistBody) -> worker::Result<Response> {
        let sql = self.state.storage().sql();
        let statement = if add { "INSERT OR IGNORE INTO alerting_watchlist (tenant) VALUES (?)" } else { "DELETE FROM alerting_watchlist WHERE tenant = ?" };
        for tenant in body.tenants {
            sql.exec(statement, vec![SqlStorageValue::String(tenant)])?;
        }
        if let Some(at) = body.imported_at.filter(|_| add) {
            if self.get_json::<i64>(WATCHLIST_FIRST_IMPORT_KEY).await?.is_none() {
                self.put_json(WATCHLIST_FIRST_IMPORT_KEY, &at).await?;
            }
        }
        Response::from_json(&json!({"ok": true}))
    }

    async fn alert_state(&self) -> worker::Result<AlertState> {
        Ok(self.get_json(ALERT_STATE_KEY).await?.unwrap_or_default())
    }

    /// Runs the detector over this tenant's recent rollups and budgets, reconciles with the open
    /// alerts, and queues one delivery per transition and destination. Returns what is queued
    /// (including earlier deliveries not yet acknowledged) with the destinations' settings.
    async fn evaluate_alerts(&self, now: i64, budget_levels: Vec<alerts::BudgetLevel>) -> worker::Result<Response> {
        let Some(cfg) = self.get_json::<AlertConfig>(ALERT_CONFIG_KEY).await? else {
            return Response::from_json(&json!({"outbox": [], "config": null}));
        };
        let sql = self.state.storage().sql();
        let since = now - i64::from(cfg.spend_spike.baseline_minutes + cfg.spend_spike.window_minutes + 1) * 60;
        let minutes: Vec<MinuteRow> = sql
            .exec("SELECT minute, feature, requests, errors, retries, cost_nanos FROM usage_minutely WHERE minute >= ?", vec![SqlStorageValue::Integer(since)])?
            .to_array()?;
        let circuits: Vec<CircuitRow> = sql.exec("SELECT deployment, last_opened, openings FROM circuit_openings", None)?.to_array()?;
        let mut st = self.alert_state().await?;
        let before = st.clone();
        if now >= st.evaluated_at {
            st.evaluated_at = now;
            let active = alerts::detect(&cfg, now, &minutes, &budget_levels, &circuits, &st.open);
            let (transitions, open) = alerts::reconcile(&st.open, &active, now);
            st.open = open;
            let destinations = cfg.destinations.configured();
            let deliveries = alerts::fan_out(transitions.clone(), &st.open, &destinations, &mut st.told);
            // A transition no destination is sent (none configured, or none that takes its
            // severity) is still kept in the history, with why.
            for t in transitions.iter().filter(|t| !deliveries.iter().any(|(_, sent)| sent == *t)) {
                let why = if destinations.is_empty() { "no destination configured".to_string() } else { format!("no destination takes {} alerts", t.alert().condition.severity.word()) };
                st.next_id += 1;
                push_history(&mut st.history, Delivery { id: st.next_id, destination: "none".into(), transition: t.clone(), attempts: 0, last_error: why, delivered: false, leased_until: 0 });
            }
            for (dest, t) in deliveries {
                st.next_id += 1;
                st.outbox.push(Delivery { id: st.next_id, destination: dest, transition: t, attempts: 0, last_error: String::new(), delivered: false, leased_until: 0 });
            }
        }
        // This run gets what no other run holds, and for a destination with a delivery held
        // elsewhere nothing after it: a resolve must not overtake its trigger. Leases run on the
        // clock, not the run's scheduled time: a run that reaches this tenant minutes late must
        // still hold what it is handed for the whole lease.
        let clock = super::http::now_unix();
        let mut busy: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut handed = Vec::new();
        for d in st.outbox.iter_mut() {
            if d.leased_until > clock || busy.contains(&d.destination) {
                busy.insert(d.destination.clone());
                continue;
            }
            d.leased_until = clock + DELIVERY_LEASE_SECS;
            handed.push(d.clone());
        }
        // Written when something changed besides the moment evaluated: a quiet tenant costs no
        // write a minute. An earlier run arriving after a later one that changed nothing finds
        // the same state the later one did, which it may move as that moment's evaluation says.
        let changed = AlertState { evaluated_at: before.evaluated_at, ..st.clone() } != before;
        if changed {
            self.put_json(ALERT_STATE_KEY, &st).await?;
        }
        // Nothing open and nothing left to send (what this run was handed is acknowledged
        // before the next): a retired tenant's watch may end (`alerting::evaluate_and_deliver`).
        let settled = st.open.is_empty() && st.outbox.is_empty();
        Response::from_json(&json!({"outbox": handed, "config": cfg, "settled": settled}))
    }

    /// Every condition off, destinations kept (`AlertConfig::retired`): the tenant is deleted.
    /// Answers whether it had alerting to retire.
    async fn retire_alerts(&self) -> worker::Result<Response> {
        let Some(cfg) = self.get_json::<AlertConfig>(ALERT_CONFIG_KEY).await? else {
            return Response::from_json(&json!({"retired": false}));
        };
        self.put_json(ALERT_CONFIG_KEY, &cfg.retired()).await?;
        Response::from_json(&json!({"retired": true}))
    }

    async fn ack_alerts(&self, ack: alerts::DeliveryReport) -> worker::Result<Response> {
        let mut st = self.alert_state().await?;
        let outbox = std::mem::take(&mut st.outbox);
        for mut d in outbox {
            if ack.delivered.contains(&d.id) {
                d.attempts += 1;
                d.delivered = true;
                push_history(&mut st.history, d);
            } else if let Some((_, why)) = ack.given_up.iter().find(|(id, _)| *id == d.id) {
                d.attempts += 1;
                d.last_error = why.clone();
                push_history(&mut st.history, d);
            } else if let Some((_, why)) = ack.failed.iter().find(|(id, _)| *id == d.id) {
                d.attempts += 1;
                d.leased_until = 0;
                d.last_error = why.clone();
                if d.attempts >= MAX_DELIVERY_ATTEMPTS {
                    push_history(&mut st.history, d);
                } else {
                    st.outbox.push(d);
                }
            } else {
                if ack.released.contains(&d.id) {
                    d.leased_until = 0;
                }
                st.outbox.push(d);
            }
        }
        self.put_json(ALERT_STATE_KEY, &st).await?;
        Response::from_json(&json!({"ok": true, "pending": st.outbox.len()}))
    }

    async fn alerts_view(&self) -> worker::Result<Response> {
        let cfg: Option<AlertConfig> = self.get_json(ALERT_CONFIG_KEY).await?;
        let st = self.alert_state().await?;
        let history: Vec<&Delivery> = st.history.iter().rev().collect();
        Response::from_json(&json!({"config": cfg.map(|c| c.redacted()), "open": st.open, "pending_deliveries": st.outbox, "history": history}))
    }

    fn usage(&self, q: &UsageQuery) -> worker::Result<Response> {
        let dims = match rollup::parse_group_by(&q.group_by) {
            Ok(d) => d,
            Err(e) => return Response::error(e.message, 400),
        };
        let granularity = match rollup::Granularity::parse(&q.granularity, q.week_start.as_deref()) {
            Ok(g) => g,
            Err(e) => return Response::error(e.message, 400),
        };
        let filters = match rollup::parse_filters(q.filters.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(f) => f,
            Err(e) => return Response::error(e.message, 400),
        };
        let zone = match q.time_zone.as_deref().map(crate::routing::local_time::Zone::named).transpose() {
            Ok(z) => z,
            Err(e) => return Response::error(e, 400),
        };
        let (filed_from, filed_to) = rollup::filed_span(q.from, q.to, super::http::now_unix());
        let buckets = crate::report_days::Buckets::new(granularity, zone.as_ref(), filed_from, filed_to);
        let names: Vec<&str> = filters.iter().map(|(d, _)| *d).collect();
        let mut binds = vec![SqlStorageValue::Integer(q.from), SqlStorageValue::Integer(q.to)];
        binds.extend(filters.into_iter().map(|(_, v)| SqlStorageValue::String(v)));
        let mut rows: Vec<serde_json::Value> = self.state.storage().sql().exec(&rollup::query(&dims, &buckets.sql, &names), binds)?.to_array()?;
        if rows.len() > rollup::MAX_REPORT_ROWS {
            return Response::error(rollup::too_many_rows_message(), 400);
        }
        for row in &mut rows {
            row["start"] = buckets.start(row["start"].as_i64().unwrap_or_default()).into();
        }
        Response::from_json(&json!({"rows": rows}))
    }
}

/// The money held for requests in flight, a row per request (`budget::Reservation` as JSON): a
/// request writes its own row, however many others are in flight.
const CREATE_RESERVATIONS: &str = "CREATE TABLE IF NOT EXISTS reservations (request_id TEXT PRIMARY KEY, reservation TEXT NOT NULL)";
const SELECT_RESERVATIONS: &str = "SELECT request_id, reservation FROM reservations";
/// Writes a JSON array of `[request_id, reservation]` pairs (`WHERE true`: SQLite's upsert
/// after a SELECT needs one, or it reads `ON` as a join's).
const UPSERT_RESERVATIONS: &str = "INSERT INTO reservations (request_id, reservation) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true ON CONFLICT (request_id) DO UPDATE SET reservation = excluded.reservation";
/// Rows written or deleted by one statement: a reservation's row is about 150 bytes, the bound
/// JSON at most a few hundred KB.
const ROWS_PER_STATEMENT: usize = 1_000;
/// Deletes the rows of a JSON array of request ids.
const DELETE_RESERVATIONS: &str = "DELETE FROM reservations WHERE request_id IN (SELECT value FROM json_each(?))";

/// `TEST_LEDGER_FAIL` read: "/finish:1,/renew:3" (a malformed part is ignored; unset in any deployment).
fn failures_to_inject(env: &Env) -> std::collections::HashMap<String, u32> {
    let spec = env.var("TEST_LEDGER_FAIL").map(|v| v.to_string()).unwrap_or_default();
    spec.split(',').filter_map(|part| part.trim().rsplit_once(':')).filter_map(|(path, n)| Some((path.to_string(), n.parse().ok()?))).collect()
}

/// What an operation answers: its reply to be sent as JSON, or a response of its own (a read,
/// or a refusal that changed nothing).
enum Applied {
    Reply(serde_json::Value),
    Response(Response),
}

#[derive(Deserialize)]
struct ReservationRow {
    request_id: String,
    reservation: String,
}

/// Requests whose `/finish` was applied, by id (see `Ledger::finished`).
/// The tenants with alerting configured, kept by one ledger instance (`alerting::WATCHLIST_OBJECT`)
/// and empty in every other.
const CREATE_WATCHLIST: &str = "CREATE TABLE IF NOT EXISTS alerting_watchlist (tenant TEXT PRIMARY KEY)";
/// When (unix seconds) the watchlist first took in the tenants earlier releases listed in KV
/// (`alerting:` keys).
const WATCHLIST_FIRST_IMPORT_KEY: &str = "alerting_watchlist_first_import";

const CREATE_FINISHED: &str = "CREATE TABLE IF NOT EXISTS finished_requests (request_id TEXT PRIMARY KEY, at INTEGER NOT NULL)";
/// The purge of old ids reads only what it deletes.
const INDEX_FINISHED: &str = "CREATE INDEX IF NOT EXISTS finished_requests_at ON finished_requests (at)";
/// Which of a JSON array of request ids were applied already.
const FIND_FINISHED: &str = "SELECT f.request_id AS request_id FROM json_each(?) AS j JOIN finished_requests AS f ON f.request_id = j.value";
/// Records a JSON array of request ids as applied at a time (bound first).
const RECORD_FINISHED: &str = "INSERT OR IGNORE INTO finished_requests (request_id, at) SELECT value, ?1 FROM json_each(?2)";

#[derive(Deserialize)]
struct NamedRow {
    name: String,
}

#[derive(Deserialize)]
struct FoundId {
    request_id: String,
}

/// The items' request ids as the JSON array `FIND_FINISHED` and `RECORD_FINISHED` bind.
fn request_ids(items: &[Finished]) -> SqlStorageValue {
    SqlStorageValue::String(serde_json::to_string(&items.iter().map(|item| item.request_id.as_str()).collect::<Vec<_>>()).unwrap_or_default())
}

/// How long a finished request's id is kept in SQL: the worker resends a batch within 15 s, and
/// keeps one it never got through for at most `finish_queue::RESEND_WITHIN_SECS`.
const FINISHED_KEPT_SECS: i64 = 3_600;

const _: () = assert!(crate::finish_queue::RESEND_WITHIN_SECS < FINISHED_KEPT_SECS, "a batch resent must still be recognised");

/// The rollup tables, and the one-time move of version 1 hourly rows.
fn create_tables(state: &State) -> worker::Result<()> {
    let sql = state.storage().sql();
    for ddl in [rollup::CREATE_TABLE, rollup::CREATE_MINUTELY, rollup::CREATE_CIRCUITS, CREATE_FINISHED, INDEX_FINISHED, CREATE_RESERVATIONS, CREATE_WATCHLIST] {
        sql.exec(ddl, None)?;
    }
    let v1: Vec<serde_json::Value> = sql.exec(rollup::HAS_V1, None)?.to_array()?;
    if !v1.is_empty() {
        for step in rollup::MIGRATE_V1 {
            sql.exec(step, None)?;
        }
    }
    Ok(())
}

impl DurableObject for Ledger {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = create_tables(&state) {
            // Every operation then fails (the reservations table is one of them) rather than
            // run on a ledger it could not store.
            worker::console_error!("ledger tables not created: {e}");
        }
        Ledger {
            state,
            ledger: RefCell::new(None),
            finished: RefCell::new(Default::default()),
            finished_purged_at: std::cell::Cell::new(0),
            hour_names: RefCell::new(rollup::HourNames::default()),
            stored_value_stale: std::cell::Cell::new(false),
            retention_sweep: super::sweep_alarm::SweepAlarm::new(rollup::SWEEP_GAP_SECS),
            rows_written_at: std::cell::Cell::new(None),
            failures_to_inject: RefCell::new(failures_to_inject(&env)),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        if self.retention_sweep.first_call() {
            let checked = match self.next_expiry() {
                Ok(at) => self.retention_sweep.no_later_than(&self.state.storage(), at).await,
                Err(e) => Err(e),
            };
            // Not this call's failure: the next instance checks again.
            if let Err(e) = checked {
                worker::console_error!("ledger retention alarm not checked: {e}");
            }
        }
        // Bytes, not text: a JS string is copied into wasm a character at a time, and a `/finish`
        // batch is a few hundred KB at a few thousand requests a second (4.5% of the isolate's
        // time in a CPU profile under load; an ArrayBuffer is one copy). Read before the ledger
        // is loaded: while a body is awaited, other calls run, and one that fails drops the
        // ledger from memory (`forget_unstored`); nothing is awaited between the load and its use.
        let text = req.bytes().await.unwrap_or_default();
        if self.ledger.borrow().is_none() {
            // An unreadable ledger (a storage error, or a shape this code does not know after a
            // rollback) fails the call: taken for an empty one, it would be saved over the
            // tenant's budgets, limits and spend on the next change.
            let stored: Option<BudgetLedger> = match self.state.storage().get(STORAGE_KEY).await {
                Ok(stored) => stored,
                Err(e) => {
                    worker::console_error!("ledger state unreadable, nothing changed: {e}");
                    return Response::error("the ledger's stored state could not be read; nothing was changed", 500);
                }
            };
            let rows = match self.reservation_rows() {
                Ok(rows) => rows,
                Err(e) => {
                    worker::console_error!("ledger reservations unreadable, nothing changed: {e}");
                    return Response::error("the ledger's stored reservations could not be read; nothing was changed", 500);
                }
            };
            // Another event may have loaded it while we awaited; keep the first.
            let mut slot = self.ledger.borrow_mut();
            if slot.is_none() {
                let (ledger, holds_reservations) = BudgetLedger::from_stored(stored.unwrap_or_default(), rows);
                *slot = Some(ledger);
                if holds_reservations {
                    self.stored_value_stale.set(true);
                }
            }
        }
        // Usage reports read SQL tables and need no in-memory state.
        match path.as_str() {
            "/usage" => return self.usage(&parse(&text)?),
            "/alerts/config" => {
                let cfg = match AlertConfig::from_json(&text) {
                    Ok(c) => c,
                    Err(e) => return Response::error(e, 400),
                };
                self.put_json(ALERT_CONFIG_KEY, &cfg).await?;
                return Response::from_json(&json!({"ok": true}));
            }
            "/alerts/evaluate" => {
                let b: EvaluateBody = parse(&text)?;
                let Some(levels) = self.ledger.borrow().as_ref().map(|l| l.levels(b.now)) else {
                    // Never taken for "no budget near a limit": that would resolve open alerts.
                    return Response::error("the ledger is not loaded", 500);
                };
                return self.evaluate_alerts(b.now, levels).await;
            }
            "/alerts/ack" => return self.ack_alerts(parse(&text)?).await,
            "/watchlist" => return self.watchlist().await,
            "/watchlist/add" | "/watchlist/remove" => return self.change_watchlist(path == "/watchlist/add", parse(&text)?).await,
            "/alerts/retire" => return self.retire_alerts().await,
            "/alerts" => return self.alerts_view().await,
            _ => {}
        }
        // The operation and everything it writes are one storage transaction: stored whole, or
        // (a write failed) not at all, and the memory of it dropped with it, so that the next
        // call starts again from what is stored (a `/finish` the worker then sends again is
        // applied, not taken as done).
        let mut outcome = None;
        let committed = super::crossings::in_transaction(self.state.as_raw(), &mut || {
            let result = self.apply(&path, &text);
            let ok = result.is_ok();
            outcome = Some(result);
            ok
        });
        match (committed, outcome) {
            (Ok(()), Some(Ok(Applied::Reply(reply)))) => {
                if let Some(at) = self.rows_written_at.take() {
                    // The minute rows just written are the first to expire. Their batch is
                    // stored: a failure here is logged, not sent back (the worker would send the
                    // batch again for nothing), and the next batch tries again.
                    if let Err(e) = self.retention_sweep.no_later_than(&self.state.storage(), rollup::next_expiry(None, Some(at))).await {
                        worker::console_error!("ledger retention alarm not set: {e}");
                    }
                }
                Response::from_json(&reply)
            }
            (Ok(()), Some(Ok(Applied::Response(response)))) => Ok(response),
            (_, Some(Err(e))) => {
                self.forget_unstored();
                // The ledger's own error (storage, a malformed call): no prompt or key is in it.
                worker::console_error!("ledger {path} failed, nothing of the operation was stored: {e}");
                Err(e)
            }
            (Err(e), _) => {
                self.forget_unstored();
                worker::console_error!("ledger {path} write failed, nothing of the operation was stored: {e:?}");
                Err(worker::Error::from(e))
            }
            (Ok(()), None) => Err(worker::Error::RustError("the ledger operation did not run".into())),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.sweep().await?;
        Response::ok("swept")
    }
}

fn push_history(history: &mut std::collections::VecDeque<Delivery>, d: Delivery) {
    history.push_back(d);
    while history.len() > ALERT_HISTORY {
        history.pop_front();
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> worker::Result<T> {
    serde_json::from_slice(body).map_err(|e| worker::Error::RustError(format!("bad ledger request: {e}")))
}
