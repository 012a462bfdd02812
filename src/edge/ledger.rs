//! The ledger Durable Object: one per tenant, holding its budgets, open reservations and
//! per-minute counters. A Durable Object handles one event at a time and its in-memory state is
//! changed without awaiting in between, so reserve-then-check is atomic: concurrent requests
//! cannot jointly pass a hard limit. State is persisted after every change (SQLite-backed
//! storage; the output gate holds the reply until the write is durable).
//!
//! Internal API (reached only through the `LEDGER` binding, never from the internet):
//! `POST /admit` (rate limits + reservation), `/finish` (settle or release + rollup), `/reserve`
//! (a downgraded route's new reservation), `/usage`;
//! `GET /state`; `PUT /config`.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::budget::{BudgetSpec, Covered, Ledger as BudgetLedger, RateLimits};
use crate::events::CostEvent;
use crate::rollup;
use worker::SqlStorageValue;
use crate::money::Usd;

const STORAGE_KEY: &str = "ledger";

#[durable_object]
pub struct Ledger {
    state: State,
    ledger: RefCell<Option<BudgetLedger>>,
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

/// `/admit`: the per-minute limits, then the reservation, in one round trip.
#[derive(Deserialize)]
struct AdmitBody {
    #[serde(flatten)]
    reserve: ReserveBody,
    tokens: u64,
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
    actual: Option<Usd>,
    #[serde(default)]
    event: Option<CostEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    #[serde(default)]
    pub budgets: Vec<BudgetSpec>,
    #[serde(default)]
    pub limits: RateLimits,
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
}

impl Ledger {
    fn sql_value(v: rollup::Value) -> SqlStorageValue {
        match v {
            rollup::Value::Int(i) => SqlStorageValue::Integer(i),
            rollup::Value::Text(t) => SqlStorageValue::String(t),
        }
    }

    /// Adds one request to the hourly rollups; drops rows past retention now and then.
    fn record(&self, event: &CostEvent, now: i64) -> worker::Result<()> {
        let sql = self.state.storage().sql();
        let values = rollup::upsert_values(event, now).into_iter().map(Self::sql_value).collect::<Vec<_>>();
        sql.exec(rollup::UPSERT, values)?;
        if now % 97 == 0 {
            sql.exec("DELETE FROM usage_hourly WHERE hour < ?", vec![SqlStorageValue::Integer(now - rollup::RETENTION_SECS)])?;
        }
        Ok(())
    }

    fn usage(&self, q: &UsageQuery) -> worker::Result<Response> {
        let dims = match rollup::parse_group_by(&q.group_by) {
            Ok(d) => d,
            Err(e) => return Response::error(e.message, 400),
        };
        let granularity = match rollup::Granularity::parse(&q.granularity) {
            Ok(g) => g,
            Err(e) => return Response::error(e.message, 400),
        };
        let filters = match rollup::parse_filters(q.filters.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(f) => f,
            Err(e) => return Response::error(e.message, 400),
        };
        let names: Vec<&str> = filters.iter().map(|(d, _)| *d).collect();
        let mut binds = vec![SqlStorageValue::Integer(q.from), SqlStorageValue::Integer(q.to)];
        binds.extend(filters.into_iter().map(|(_, v)| SqlStorageValue::String(v)));
        let rows: Vec<serde_json::Value> =
            self.state.storage().sql().exec(&rollup::query_filtered(&dims, granularity, &names), binds)?.to_array()?;
        Response::from_json(&json!({"rows": rows}))
    }
}

impl DurableObject for Ledger {
    fn new(state: State, _env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(rollup::CREATE_TABLE, None) {
            worker::console_error!("usage table not created: {e}");
        }
        Ledger { state, ledger: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if self.ledger.borrow().is_none() {
            let stored: Option<BudgetLedger> = self.state.storage().get(STORAGE_KEY).await.unwrap_or(None);
            // Another event may have loaded it while we awaited; keep the first.
            let mut slot = self.ledger.borrow_mut();
            if slot.is_none() {
                *slot = Some(stored.unwrap_or_default());
            }
        }
        let path = req.path();
        let text = req.text().await.unwrap_or_default();
        let before: BudgetLedger;
        // Usage reports read SQL tables and need no in-memory state.
        if path == "/usage" {
            return self.usage(&parse(&text)?);
        }
        let reply = {
            let mut guard = self.ledger.borrow_mut();
            let ledger = guard.as_mut().expect("loaded above");
            before = ledger.clone();
            match path.as_str() {
                "/admit" => {
                    let b: AdmitBody = parse(&text)?;
                    let r = &b.reserve;
                    match ledger.admit_rate(&r.key_id, b.tokens, r.now) {
                        Err(limited) => json!({"ok": false, "limited": limited}),
                        Ok(status) => {
                            let covered = Covered { team: &r.team, feature: &r.feature, env: &r.env, key_id: &r.key_id };
                            match ledger.reserve(&r.request_id, r.amount, &covered, r.now) {
                                Ok(res) => json!({"ok": true, "status": status, "soft_warnings": res.soft_warnings, "alerts": res.alerts,
                                    "controlled": !ledger.specs.is_empty() || ledger.limits != RateLimits::default()}),
                                Err(e) => json!({"ok": false, "status": status, "exceeded": e}),
                            }
                        }
                    }
                }
                "/finish" => {
                    let b: FinishBody = parse(&text)?;
                    for item in &b.items {
                        ledger.settle(&item.request_id, item.actual.unwrap_or(Usd::ZERO), b.now);
                        if let Some(event) = &item.event {
                            self.record(event, b.now)?;
                        }
                    }
                    json!({"ok": true, "finished": b.items.len()})
                }
                "/reserve" => {
                    let b: ReserveBody = parse(&text)?;
                    let covered = Covered { team: &b.team, feature: &b.feature, env: &b.env, key_id: &b.key_id };
                    match ledger.reserve(&b.request_id, b.amount, &covered, b.now) {
                        Ok(r) => json!({"ok": true, "soft_warnings": r.soft_warnings, "alerts": r.alerts}),
                        Err(e) => json!({"ok": false, "exceeded": e}),
                    }
                }
                "/config" => {
                    let c: LedgerConfig = parse(&text)?;
                    let mut ids = std::collections::BTreeSet::new();
                    if let Some(dup) = c.budgets.iter().find(|b| !ids.insert(b.id.clone())) {
                        return Response::error(format!("duplicate budget id '{}'", dup.id), 400);
                    }
                    ledger.specs = c.budgets;
                    ledger.limits = c.limits;
                    ledger.states.retain(|id, _| ledger.specs.iter().any(|s| &s.id == id));
                    json!({"ok": true})
                }
                "/state" => {
                    return Response::from_json(&json!({"budgets": ledger.specs, "states": ledger.states, "limits": ledger.limits,
                        "open_reservations": ledger.reservations.len(), "alerts": ledger.alerts}));
                }
                _ => return Response::error("unknown ledger operation", 404),
            }
        };
        // Persist only what changed: a tenant without budgets or limits costs no write here.
        let snapshot = self.ledger.borrow().clone().filter(|l| *l != before);
        if let Some(l) = snapshot {
            self.state.storage().put(STORAGE_KEY, &l).await?;
        }
        Response::from_json(&reply)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> worker::Result<T> {
    serde_json::from_str(text).map_err(|e| worker::Error::RustError(format!("bad ledger request: {e}")))
}
