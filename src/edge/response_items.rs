//! The `ResponseItems` Durable Object, one per tenant: the output items of the tenant's
//! `/v1/responses` answers, kept for `responses.store_days` so that a later request can name
//! them by reference (`api::responses::stored_items`), and its client.
//!
//! Internal API (reached only through the `RESPONSE_ITEMS` binding): `POST /get`, `POST /put`,
//! `POST /forget`. An answer's items are put before its last bytes go to the client, so the
//! client's next request, which may name them, finds them (the wait is bounded: an answer is not
//! held up long by a slow object). Expired items are deleted by an alarm: they are tenant data.
//! Each call says the tenant's lifetime now, which the object keeps: an item kept longer ago is
//! not found, and a lowered lifetime sets the alarm at once, which sweeps what it no longer
//! covers (a batch at a time). A tenant whose policy keeps nothing any more (`store_days = 0`)
//! is told so once per isolate (`/forget`), and its items go the same way.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorageValue, State};

use super::config::RouterConfig;
use super::crossings::ObjectStub;
use super::http::now_unix;
use super::sweep_alarm::SweepAlarm;
use crate::api::responses::stored_items;
use crate::api::responses::ResponsesRequest;
use crate::api::ApiError;

const BINDING: &str = "RESPONSE_ITEMS";
/// Least time between two sweeps by alarm (items expire one after another).
const SWEEP_GAP_SECS: i64 = 3600;
/// Rows one sweep deletes; more left over are swept by an alarm right after.
const SWEEP_BATCH: i64 = 1000;
/// The lifetime of an object never told one (none is kept longer).
const DEFAULT_LIFETIME_SECS: i64 = stored_items::MAX_STORE_DAYS as i64 * 86_400;
/// Ids one query reads (a Durable Object's SQL takes at most 100 bound values).
const IDS_PER_QUERY: usize = 50;
/// The longest an answer waits for its items to be kept before it goes out all the same.
const KEEP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS response_items (id TEXT PRIMARY KEY, item TEXT NOT NULL, kept_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS response_items_expiry ON response_items (expires_at)",
    "CREATE INDEX IF NOT EXISTS response_items_kept ON response_items (kept_at)",
    // The tenant's lifetime as last said (one row), for the sweep.
    "CREATE TABLE IF NOT EXISTS response_items_lifetime (one INTEGER PRIMARY KEY CHECK (one = 1), secs INTEGER NOT NULL)",
];

#[derive(Serialize, Deserialize)]
struct GetBody {
    ids: Vec<String>,
    now: i64,
    /// The tenant's lifetime now: an item kept before `now - lifetime_secs` is not found. The
    /// worker always says it; a read without it (the tests') uses the one kept and changes nothing.
    lifetime_secs: Option<i64>,
    /// The most item bytes to read: past them the answer says `over` and holds no items.
    max_bytes: usize,
}

#[derive(Serialize, Deserialize, Default)]
struct Found {
    /// Id → the item's JSON text, as kept.
    items: HashMap<String, String>,
    over: bool,
}

#[derive(Serialize, Deserialize)]
struct PutBody {
    items: Vec<(String, Value)>,
    now: i64,
    lifetime_secs: i64,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    item: String,
}

#[derive(Deserialize)]
struct Sized {
    bytes: Option<i64>,
}

#[derive(Deserialize)]
struct Secs {
    secs: i64,
}

#[durable_object]
pub struct ResponseItems {
    state: State,
    sweep: SweepAlarm,
}

impl ResponseItems {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// The ids' live rows, `what` (`id, item` or the items' total length), a query per
    /// [`IDS_PER_QUERY`] ids.
    fn live<T: serde::de::DeserializeOwned>(&self, what: &str, ids: &[String], now: i64, lifetime_secs: i64) -> worker::Result<Vec<T>> {
        let mut rows = Vec::new();
        for ids in ids.chunks(IDS_PER_QUERY) {
            let marks = vec!["?"; ids.len()].join(", ");
            let mut values: Vec<SqlStorageValue> = ids.iter().map(|id| SqlStorageValue::String(id.clone())).collect();
            values.push(SqlStorageValue::Integer(now));
            values.push(SqlStorageValue::Integer(now - lifetime_secs));
            rows.extend(self.sql().exec(&format!("SELECT {what} FROM response_items WHERE id IN ({marks}) AND expires_at > ? AND kept_at > ?"), values)?.to_array::<T>()?);
        }
        Ok(rows)
    }

    /// The items named, unless together they pass `max_bytes`: measured first, so that the
    /// object never loads more than the request may hold.
    async fn get(&self, body: GetBody) -> worker::Result<Response> {
        let lifetime_secs = match body.lifetime_secs {
            Some(secs) => {
                self.note_lifetime(secs, body.now).await?;
                secs
            }
            None => self.lifetime()?.unwrap_or(DEFAULT_LIFETIME_SECS),
        };
        let sizes: Vec<Sized> = self.live("SUM(length(CAST(item AS BLOB))) AS bytes", &body.ids, body.now, lifetime_secs)?;
        let bytes = sizes.iter().map(|s| s.bytes.unwrap_or(0).max(0) as u64).sum::<u64>();
        if bytes > body.max_bytes as u64 {
            return Response::from_json(&Found { items: HashMap::new(), over: true });
        }
        let rows: Vec<Row> = self.live("id, item", &body.ids, body.now, lifetime_secs)?;
        Response::from_json(&Found { items: rows.into_iter().map(|r| (r.id, r.item)).collect(), over: false })
    }

    /// Keeps the tenant's lifetime as said now; a lower one than kept sets the alarm at once, to
    /// sweep what it no longer covers.
    async fn note_lifetime(&self, secs: i64, now: i64) -> worker::Result<()> {
        let before = self.lifetime()?;
        if before == Some(secs) {
            return Ok(());
        }
        self.sql().exec("INSERT OR REPLACE INTO response_items_lifetime (one, secs) VALUES (1, ?)", vec![SqlStorageValue::Integer(secs)])?;
        if before.is_some_and(|before| secs < before) {
            self.sweep.set(&self.state.storage(), now).await?;
        }
        Ok(())
    }

    fn lifetime(&self) -> worker::Result<Option<i64>> {
        let kept: Vec<Secs> = self.sql().exec("SELECT secs FROM response_items_lifetime", None)?.to_array()?;
        Ok(kept.first().map(|k| k.secs))
    }

    /// Keeps an answer's items, all or none (one transaction).
    async fn put(&self, body: PutBody) -> worker::Result<Response> {
        self.note_lifetime(body.lifetime_secs, body.now).await?;
        let expires_at = body.now + body.lifetime_secs;
        let mut failure = None;
        let stored = super::crossings::in_transaction(self.state.as_raw(), &mut || {
            for (id, item) in &body.items {
                let row = vec![SqlStorageValue::String(id.clone()), SqlStorageValue::String(item.to_string()), SqlStorageValue::Integer(body.now), SqlStorageValue::Integer(expires_at)];
                if let Err(e) = self.sql().exec("INSERT OR REPLACE INTO response_items (id, item, kept_at, expires_at) VALUES (?, ?, ?, ?)", row) {
                    failure = Some(e);
                    return false;
                }
            }
            true
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if let Err(e) = stored {
            return Err(worker::Error::from(e));
        }
        self.sweep.no_later_than(&self.state.storage(), Some(expires_at)).await?;
        Response::ok("kept")
    }

    fn earliest_expiry(&self) -> worker::Result<Option<i64>> {
        SweepAlarm::earliest_expiry(&self.sql(), "response_items")
    }

    /// The alarm: deletes expired items, and those kept longer ago than the tenant's lifetime now
    /// (a batch at a time), and sets the next sweep.
    async fn sweep(&self) -> worker::Result<()> {
        let now = now_unix();
        self.sweep.sweeping(now);
        #[derive(Deserialize)]
        struct Gone {
            #[allow(dead_code)]
            id: String,
        }
        let kept_since = now - self.lifetime()?.unwrap_or(DEFAULT_LIFETIME_SECS);
        let gone: Vec<Gone> = self
            .sql()
            .exec(
                "DELETE FROM response_items WHERE id IN (SELECT id FROM response_items WHERE expires_at <= ? OR kept_at <= ? LIMIT ?) RETURNING id",
                vec![SqlStorageValue::Integer(now), SqlStorageValue::Integer(kept_since), SqlStorageValue::Integer(SWEEP_BATCH)],
            )?
            .to_array()?;
        if gone.len() as i64 == SWEEP_BATCH {
            return self.sweep.set(&self.state.storage(), now + 1).await;
        }
        self.sweep.after_sweep(&self.state.storage(), self.earliest_expiry()?, now).await
    }
}

impl DurableObject for ResponseItems {
    fn new(state: State, _env: Env) -> Self {
        for ddl in SCHEMA {
            if let Err(e) = state.storage().sql().exec(ddl, None) {
                worker::console_error!("response items table not created: {e}");
            }
        }
        ResponseItems { state, sweep: SweepAlarm::new(SWEEP_GAP_SECS) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if self.sweep.first_call() {
            self.sweep.no_later_than(&self.state.storage(), self.earliest_expiry()?).await?;
        }
        let text = req.text().await.unwrap_or_default();
        match req.path().as_str() {
            "/get" => match serde_json::from_str(&text) {
                Ok(b) => self.get(b).await,
                Err(e) => Response::error(format!("bad get: {e}"), 400),
            },
            "/forget" => {
                self.note_lifetime(0, now_unix()).await?;
                Response::ok("forgetting")
            }
            "/put" => match serde_json::from_str(&text) {
                Ok(b) => self.put(b).await,
                Err(e) => Response::error(format!("bad put: {e}"), 400),
            },
            _ => Response::error("unknown response items operation", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.sweep().await?;
        Response::ok("swept")
    }
}

/// The tenant's object and how long its answers' items are kept (seconds; 0: they are not, nor
/// can a request name any): its policy's `responses.store_days`. `None` without the binding.
/// The stub is made once and serves every call of the request.
async fn tenant_store(env: &Env, cfg: &RouterConfig, tenant: &str) -> Result<Option<(ObjectStub, i64)>, ApiError> {
    let Some(stub) = ObjectStub::named(env, BINDING, tenant) else { return Ok(None) };
    Ok(Some((stub, super::config::policy_for(env, cfg, tenant).await?.responses.lifetime_secs())))
}

/// A `/v1/responses` body parsed, its references to the tenant's kept items resolved first.
pub async fn parse_request(env: &Env, cfg: &RouterConfig, tenant: &str, body: &[u8]) -> Result<ResponsesRequest, ApiError> {
    let store = tenant_store(env, cfg, tenant).await?;
    let lifetime = store.as_ref().map_or(0, |(_, secs)| *secs);
    let keeping = lifetime > 0;
    if let Some((stub, _)) = &store {
        if keeping {
            TOLD_TO_FORGET.with(|told| told.borrow_mut().remove(tenant));
        } else if TOLD_TO_FORGET.with(|told| told.borrow_mut().insert(tenant.to_string())) {
            forget(stub).await;
        }
    }
    let mut value = crate::api::parse_json_object(body)?;
    let ids = if keeping { stored_items::referenced_ids(&value)? } else { Vec::new() };
    if let Some((stub, _)) = store.as_ref().filter(|_| !ids.is_empty()) {
        let kept = get(stub, ids, lifetime, cfg.max_body_bytes.saturating_sub(body.len())).await?.ok_or_else(|| stored_items::references_too_large(None, cfg.max_body_bytes))?;
        let found = stored_items::parse_kept(body, &value, kept, cfg.max_body_bytes)?;
        stored_items::resolve(&mut value, &found)?;
    }
    crate::api::responses::from_value(value, keeping)
}

thread_local! {
    /// Tenants whose object this isolate has told that nothing is kept any more.
    static TOLD_TO_FORGET: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
}

/// One call to the tenant's object, waited for at most [`KEEP_WAIT`]: `None` when it had not
/// answered by then (the call goes on; the answer does not wait for it).
async fn call_within_wait(stub: &ObjectStub, url: &str, body: &[u8]) -> Option<Result<(u16, String), String>> {
    let call = std::pin::pin!(stub.call(url, Some(body)));
    let timeout = std::pin::pin!(worker::Delay::from(KEEP_WAIT));
    match futures_util::future::select(call, timeout).await {
        futures_util::future::Either::Left((answered, _)) => Some(answered),
        futures_util::future::Either::Right(_) => None,
    }
}

/// Tells the tenant's object that its policy keeps nothing now (`store_days = 0`): it sweeps
/// what it holds. Once per isolate and tenant (a tenant that never kept anything pays one call).
async fn forget(stub: &ObjectStub) {
    if let Some(Err(e)) = call_within_wait(stub, "https://response-items/forget", b"{}").await {
        worker::console_error!("response items: forget failed: {e}");
    }
}

/// The kept items' texts by id; `None` when they pass `max_bytes` (the object reads none then).
async fn get(stub: &ObjectStub, ids: Vec<String>, lifetime_secs: i64, max_bytes: usize) -> Result<Option<HashMap<String, String>>, ApiError> {
    let unavailable = || ApiError::configuration_unavailable("stored response items");
    let body = serde_json::to_vec(&GetBody { ids, now: now_unix(), lifetime_secs: Some(lifetime_secs), max_bytes }).map_err(|_| unavailable())?;
    match stub.call("https://response-items/get", Some(&body)).await {
        Ok((200, text)) => match serde_json::from_str::<Found>(&text) {
            Ok(found) => Ok((!found.over).then_some(found.items)),
            Err(_) => Err(unavailable()),
        },
        Ok((status, _)) => {
            worker::console_error!("response items: get answered {status}");
            Err(unavailable())
        }
        Err(e) => {
            worker::console_error!("response items: get failed: {e}");
            Err(unavailable())
        }
    }
}

/// Keeps `items` (an answer's, by id) for the tenant's lifetime: awaited before the answer's
/// last bytes go out, for at most [`KEEP_WAIT`]. A failure is logged and the answer goes out all
/// the same (a later reference to its items is then refused as not found).
pub async fn keep(env: &Env, cfg: &RouterConfig, tenant: &str, items: Vec<(String, Value)>) {
    if items.is_empty() {
        return;
    }
    let (stub, lifetime) = match tenant_store(env, cfg, tenant).await {
        Ok(Some((stub, secs))) if secs > 0 => (stub, secs),
        Ok(_) => return,
        Err(e) => {
            worker::console_error!("response items not kept: the tenant's policy could not be read ({})", e.code);
            return;
        }
    };
    let Ok(body) = serde_json::to_vec(&PutBody { items, now: now_unix(), lifetime_secs: lifetime }) else { return };
    match call_within_wait(&stub, "https://response-items/put", &body).await {
        Some(Ok((200, _))) => {}
        Some(Ok((status, _))) => worker::console_error!("response items: put answered {status}"),
        Some(Err(e)) => worker::console_error!("response items: put failed: {e}"),
        None => worker::console_error!("response items: put still unanswered after {} s; the answer goes out", KEEP_WAIT.as_secs()),
    }
}
