//! The `ResponseItems` Durable Object, one per tenant: the tenant's `/v1/responses` answers,
//! kept for `responses.store_days`: their output items, so that a later request can name them by
//! reference (`api::responses::stored_items`), and each answer as a turn (its request's own input
//! and the response), so that a later request can continue from it by `previous_response_id`
//! (`api::responses::earlier_turns`) and a client can retrieve or delete it by id; and its client.
//!
//! Internal API (reached only through the `RESPONSE_ITEMS` binding): `POST /get` (items),
//! `POST /turns` (the chain a response ends), `POST /response`, `POST /delete`, `POST /put`,
//! `POST /forget`. An answer is put before its last bytes go to the client, so the client's next
//! request, which may name it, finds it (the wait is bounded: an answer is not held up long by a
//! slow object). Expired items and turns are deleted by an alarm: they are tenant data.
//! Each call says the tenant's lifetime now, which the object keeps: an item kept longer ago is
//! not found, and a lowered lifetime sets the alarm at once, which sweeps what it no longer
//! covers (a batch at a time). A tenant whose policy keeps nothing any more (`store_days = 0`)
//! is told so once per isolate (`/forget`), and its items go the same way.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorageValue, State};

use super::config::RouterConfig;
use super::http::RequestContext;
use super::crossings::ObjectStub;
use super::http::now_unix;
use super::sweep_alarm::SweepAlarm;
use crate::api::responses::earlier_turns::{self, Chain};
use crate::api::responses::stored_items::{self, Holding, Kept, Turn};
use crate::api::responses::ResponsesRequest;
use crate::api::ApiError;

const BINDING: &str = "RESPONSE_ITEMS";
/// Least time between two sweeps by alarm (items expire one after another).
const SWEEP_GAP_SECS: i64 = 3600;
/// Rows one sweep deletes; more left over are swept by an alarm right after.
const SWEEP_BATCH: i64 = 1000;
/// The lifetime of a deleted tenant's object: nothing is found or kept, every row is swept (kept
/// before `now + 1`), and no later call's lifetime replaces it (a stream that ends after the
/// delete, a key a stale cache still honours).
const CLOSED: i64 = -1;
/// The lifetime of an object never told one (none is kept longer).
const DEFAULT_LIFETIME_SECS: i64 = stored_items::MAX_STORE_DAYS as i64 * 86_400;
/// Ids one query reads (a Durable Object's SQL takes at most 100 bound values).
const IDS_PER_QUERY: usize = 50;
/// The longest an answer waits for its items to be kept before it goes out all the same.
const KEEP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

const SCHEMA: [&str; 10] = [
    "CREATE TABLE IF NOT EXISTS response_items (id TEXT PRIMARY KEY, item TEXT NOT NULL, kept_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS response_items_expiry ON response_items (expires_at)",
    "CREATE INDEX IF NOT EXISTS response_items_kept ON response_items (kept_at)",
    // Each answer as a turn: `previous_id` links it to the turn it continued.
    "CREATE TABLE IF NOT EXISTS response_turns (id TEXT PRIMARY KEY, previous_id TEXT, kept_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS response_turns_expiry ON response_turns (expires_at)",
    "CREATE INDEX IF NOT EXISTS response_turns_kept ON response_turns (kept_at)",
    // A turn's texts (`earlier_turns::Turn::texts`: input, output, response), each in pieces
    // `n` = 0, 1…, since a turn may be larger than a row holds; swept as their turn is.
    "CREATE TABLE IF NOT EXISTS response_turn_texts (turn_id TEXT NOT NULL, what TEXT NOT NULL, n INTEGER NOT NULL, text TEXT NOT NULL, kept_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (turn_id, what, n))",
    "CREATE INDEX IF NOT EXISTS response_turn_texts_expiry ON response_turn_texts (expires_at)",
    "CREATE INDEX IF NOT EXISTS response_turn_texts_kept ON response_turn_texts (kept_at)",
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
    #[serde(default)]
    turn: Option<Turn>,
    now: i64,
    lifetime_secs: i64,
}

/// A call naming one turn: `/turns` (the chain it ends, at most `max_bytes`), `/response`,
/// `/delete`.
#[derive(Serialize, Deserialize)]
struct TurnBody {
    id: String,
    now: i64,
    lifetime_secs: Option<i64>,
    #[serde(default)]
    max_bytes: usize,
}

#[derive(Serialize, Deserialize, Default)]
struct Retrieved {
    /// The response less its output, and its output: JSON texts, as kept.
    response: Option<(String, String)>,
}

#[derive(Deserialize)]
struct Link {
    id: String,
    previous_id: Option<String>,
}

#[derive(Deserialize)]
struct TurnText {
    turn_id: String,
    what: String,
    text: String,
}

/// The chain of turns ending at the first `?`, live at `now` (the next two), at most
/// [`earlier_turns::MAX_TURNS`] + 1 deep (the next three, and the last): one more than may be
/// read, to tell a chain too long from one complete. A query on `chain` follows.
const CHAIN: &str = "WITH RECURSIVE chain(id, previous_id, depth) AS (\
    SELECT id, previous_id, 0 FROM response_turns WHERE id = ? AND expires_at > ? AND kept_at > ? \
    UNION ALL \
    SELECT r.id, r.previous_id, chain.depth + 1 FROM response_turns r JOIN chain ON r.id = chain.previous_id \
    WHERE r.expires_at > ? AND r.kept_at > ? AND chain.depth < ?) ";
/// A chain's turns' texts a later turn reads, joined to `chain`.
const CHAIN_TEXTS: &str = "FROM chain JOIN response_turn_texts t ON t.turn_id = chain.id AND t.what IN ('input', 'output')";

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
        let lifetime_secs = self.lifetime_said(body.lifetime_secs, body.now).await?;
        let sizes: Vec<Sized> = self.live("SUM(length(CAST(item AS BLOB))) AS bytes", &body.ids, body.now, lifetime_secs)?;
        let bytes = sizes.iter().map(|s| s.bytes.unwrap_or(0).max(0) as u64).sum::<u64>();
        if bytes > body.max_bytes as u64 {
            return Response::from_json(&Found { items: HashMap::new(), over: true });
        }
        let rows: Vec<Row> = self.live("id, item", &body.ids, body.now, lifetime_secs)?;
        Response::from_json(&Found { items: rows.into_iter().map(|r| (r.id, r.item)).collect(), over: false })
    }

    /// The lifetime a call said, kept; or, for a call that said none (the tests'), the one kept.
    async fn lifetime_said(&self, said: Option<i64>, now: i64) -> worker::Result<i64> {
        match said {
            Some(secs) => self.note_lifetime(secs, now).await,
            None => Ok(self.lifetime()?.unwrap_or(DEFAULT_LIFETIME_SECS)),
        }
    }

    /// The chain of turns `body.id` ends, oldest first, unless it is broken, too long, or larger
    /// than `body.max_bytes`: measured first, so that the object never loads more than the
    /// request may hold.
    async fn turns(&self, body: TurnBody) -> worker::Result<Response> {
        let lifetime_secs = self.lifetime_said(body.lifetime_secs, body.now).await?;
        let bounds = || {
            let live = [SqlStorageValue::Integer(body.now), SqlStorageValue::Integer(body.now - lifetime_secs)];
            let mut values = vec![SqlStorageValue::String(body.id.clone())];
            values.extend(live.clone());
            values.extend(live);
            values.push(SqlStorageValue::Integer(earlier_turns::MAX_TURNS as i64));
            values
        };
        let links: Vec<Link> = self.sql().exec(&format!("{CHAIN} SELECT id, previous_id FROM chain ORDER BY depth"), bounds())?.to_array()?;
        let mut chain = Chain::default();
        match links.last() {
            None => chain.missing = Some(body.id.clone()),
            Some(_) if links.len() > earlier_turns::MAX_TURNS => chain.too_many = true,
            Some(Link { previous_id: Some(previous), .. }) => chain.missing = Some(previous.clone()),
            Some(_) => {
                let sizes: Vec<Sized> = self.sql().exec(&format!("{CHAIN} SELECT SUM(length(CAST(t.text AS BLOB))) AS bytes {CHAIN_TEXTS}"), bounds())?.to_array()?;
                if sizes.first().and_then(|s| s.bytes).unwrap_or(0).max(0) as u64 > body.max_bytes as u64 {
                    chain.over = true;
                } else {
                    let texts: Vec<TurnText> = self.sql().exec(&format!("{CHAIN} SELECT t.turn_id AS turn_id, t.what AS what, t.text AS text {CHAIN_TEXTS} ORDER BY chain.depth DESC, t.what, t.n"), bounds())?.to_array()?;
                    let mut whole: HashMap<String, (String, String)> = HashMap::new();
                    for t in texts {
                        let (input, output) = whole.entry(t.turn_id).or_default();
                        if t.what == earlier_turns::INPUT { input } else { output }.push_str(&t.text);
                    }
                    // Oldest first; a turn whose texts are gone (swept a moment before it) is as
                    // one not kept.
                    for link in links.into_iter().rev() {
                        match whole.remove(&link.id) {
                            Some((input, output)) if !input.is_empty() && !output.is_empty() => chain.turns.push((input, output)),
                            _ => {
                                chain = Chain { missing: Some(link.id), ..Chain::default() };
                                break;
                            }
                        }
                    }
                }
            }
        }
        Response::from_json(&chain)
    }

    /// The live turn `id`'s texts `whats` (each whole, in that order), if it is kept.
    fn turn_texts<const N: usize>(&self, id: &str, now: i64, lifetime_secs: i64, whats: [&str; N]) -> worker::Result<Option<[String; N]>> {
        let values = vec![SqlStorageValue::String(id.to_string()), SqlStorageValue::Integer(now), SqlStorageValue::Integer(now - lifetime_secs)];
        let live: Vec<Value> = self.sql().exec("SELECT id FROM response_turns WHERE id = ? AND expires_at > ? AND kept_at > ?", values)?.to_array()?;
        if live.is_empty() {
            return Ok(None);
        }
        let mut texts: [String; N] = std::array::from_fn(|_| String::new());
        for (what, text) in whats.iter().zip(texts.iter_mut()) {
            let values = vec![SqlStorageValue::String(id.to_string()), SqlStorageValue::String(what.to_string())];
            for piece in self.sql().exec("SELECT turn_id, what, text FROM response_turn_texts WHERE turn_id = ? AND what = ? ORDER BY n", values)?.to_array::<TurnText>()? {
                text.push_str(&piece.text);
            }
        }
        Ok(Some(texts))
    }

    /// Deletes a turn, its texts and its output items (all or none); says whether it was kept.
    async fn delete(&self, body: TurnBody) -> worker::Result<Response> {
        let lifetime_secs = self.lifetime_said(body.lifetime_secs, body.now).await?;
        let Some([output]) = self.turn_texts(&body.id, body.now, lifetime_secs, [earlier_turns::OUTPUT])? else {
            return Response::from_json(&serde_json::json!({"deleted": false}));
        };
        let output: Vec<Value> = serde_json::from_str(&output).unwrap_or_default();
        // Its output items, and the thinking kept with its tool calls (`api::kept_thinking`).
        let thinking = output.iter().filter(|i| i["type"] == "function_call").filter_map(|i| i["call_id"].as_str().map(crate::api::kept_thinking::kept_id));
        let items: Vec<String> = output.iter().filter_map(|i| i["id"].as_str().map(str::to_string)).chain(thinking).collect();
        let mut failure = None;
        let deleted = super::crossings::in_transaction(self.state.as_raw(), &mut || {
            let mut run = |query: &str, id: &str| match self.sql().exec(query, vec![SqlStorageValue::String(id.to_string())]) {
                Ok(_) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            };
            run("DELETE FROM response_turns WHERE id = ?", &body.id)
                && run("DELETE FROM response_turn_texts WHERE turn_id = ?", &body.id)
                && items.iter().all(|item| run("DELETE FROM response_items WHERE id = ?", item))
        });
        if let Some(e) = failure {
            return Err(e);
        }
        deleted.map_err(worker::Error::from)?;
        Response::from_json(&serde_json::json!({"deleted": true}))
    }

    /// Keeps the tenant's lifetime as said now, and answers the one that holds: a lower one than
    /// kept sets the alarm at once, to sweep what it no longer covers; once [`CLOSED`], nothing
    /// said changes it.
    async fn note_lifetime(&self, secs: i64, now: i64) -> worker::Result<i64> {
        let before = self.lifetime()?;
        if before == Some(CLOSED) || before == Some(secs) {
            return Ok(before.unwrap_or(secs));
        }
        self.sql().exec("INSERT OR REPLACE INTO response_items_lifetime (one, secs) VALUES (1, ?)", vec![SqlStorageValue::Integer(secs)])?;
        if secs == CLOSED || before.is_some_and(|before| secs < before) {
            self.sweep.set(&self.state.storage(), now).await?;
        }
        Ok(secs)
    }

    fn lifetime(&self) -> worker::Result<Option<i64>> {
        let kept: Vec<Secs> = self.sql().exec("SELECT secs FROM response_items_lifetime", None)?.to_array()?;
        Ok(kept.first().map(|k| k.secs))
    }

    /// Keeps an answer's items and its turn, all or none (one transaction).
    async fn put(&self, body: PutBody) -> worker::Result<Response> {
        if self.note_lifetime(body.lifetime_secs, body.now).await? == CLOSED {
            // The tenant was deleted: an answer that ends after its deletion is not kept.
            return Response::from_json(&serde_json::json!({"kept": false}));
        }
        let expires_at = body.now + body.lifetime_secs;
        let (now, until) = (SqlStorageValue::Integer(body.now), SqlStorageValue::Integer(expires_at));
        let mut rows: Vec<(&str, Vec<SqlStorageValue>)> = body
            .items
            .iter()
            .map(|(id, item)| {
                let row = vec![SqlStorageValue::String(id.clone()), SqlStorageValue::String(item.to_string()), now.clone(), until.clone()];
                ("INSERT OR REPLACE INTO response_items (id, item, kept_at, expires_at) VALUES (?, ?, ?, ?)", row)
            })
            .collect();
        if let Some(turn) = &body.turn {
            let id = SqlStorageValue::String(turn.id.clone());
            let previous = turn.previous_id.clone().map_or(SqlStorageValue::Null, SqlStorageValue::String);
            rows.push(("INSERT OR REPLACE INTO response_turns (id, previous_id, kept_at, expires_at) VALUES (?, ?, ?, ?)", vec![id.clone(), previous, now.clone(), until.clone()]));
            rows.push(("DELETE FROM response_turn_texts WHERE turn_id = ?", vec![id.clone()]));
            for (what, pieces) in turn.texts() {
                for (n, piece) in pieces.into_iter().enumerate() {
                    let row = vec![id.clone(), SqlStorageValue::String(what.to_string()), SqlStorageValue::Integer(n as i64), SqlStorageValue::String(piece), now.clone(), until.clone()];
                    rows.push(("INSERT INTO response_turn_texts (turn_id, what, n, text, kept_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)", row));
                }
            }
        }
        let mut failure = None;
        let stored = super::crossings::in_transaction(self.state.as_raw(), &mut || {
            for (query, row) in &rows {
                if let Err(e) = self.sql().exec(query, row.clone()) {
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
        let items = SweepAlarm::earliest_expiry(&self.sql(), "response_items")?;
        let turns = SweepAlarm::earliest_expiry(&self.sql(), "response_turns")?;
        Ok(items.into_iter().chain(turns).min())
    }

    /// The alarm: deletes expired items and turns, and those kept longer ago than the tenant's
    /// lifetime now (a batch of each at a time), and sets the next sweep.
    async fn sweep(&self) -> worker::Result<()> {
        let now = now_unix();
        self.sweep.sweeping(now);
        let kept_since = now - self.lifetime()?.unwrap_or(DEFAULT_LIFETIME_SECS);
        let mut more = false;
        for table in ["response_items", "response_turns", "response_turn_texts"] {
            let gone: Vec<Value> = self
                .sql()
                .exec(
                    &format!("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE expires_at <= ? OR kept_at <= ? LIMIT ?) RETURNING rowid"),
                    vec![SqlStorageValue::Integer(now), SqlStorageValue::Integer(kept_since), SqlStorageValue::Integer(SWEEP_BATCH)],
                )?
                .to_array()?;
            more |= gone.len() as i64 == SWEEP_BATCH;
        }
        if more {
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
                #[derive(Deserialize, Default)]
                struct Forget {
                    #[serde(default)]
                    for_good: bool,
                }
                let forget: Forget = serde_json::from_str(&text).unwrap_or_default();
                self.note_lifetime(if forget.for_good { CLOSED } else { 0 }, now_unix()).await?;
                Response::from_json(&serde_json::json!({"forgetting": true}))
            }
            "/put" => match serde_json::from_str(&text) {
                Ok(b) => self.put(b).await,
                Err(e) => Response::error(format!("bad put: {e}"), 400),
            },
            "/turns" => match serde_json::from_str(&text) {
                Ok(b) => self.turns(b).await,
                Err(e) => Response::error(format!("bad turns: {e}"), 400),
            },
            "/response" => match serde_json::from_str::<TurnBody>(&text) {
                Ok(b) => {
                    let lifetime_secs = self.lifetime_said(b.lifetime_secs, b.now).await?;
                    let texts = self.turn_texts(&b.id, b.now, lifetime_secs, [earlier_turns::OUTPUT, earlier_turns::RESPONSE])?;
                    Response::from_json(&Retrieved { response: texts.map(|[output, rest]| (output, rest)) })
                }
                Err(e) => Response::error(format!("bad response: {e}"), 400),
            },
            "/delete" => match serde_json::from_str(&text) {
                Ok(b) => self.delete(b).await,
                Err(e) => Response::error(format!("bad delete: {e}"), 400),
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
        note_keeping(stub, tenant, keeping).await;
    }
    let mut value = crate::api::parse_json_object(body)?;
    crate::api::responses::check_parameters(&value)?;
    let mut holding = Holding::of_body(body, cfg.max_body_bytes);
    let mut ids = if keeping { stored_items::referenced_ids(&value)? } else { Vec::new() };
    // Kept thinking is no item: a reference naming its id is one to an item not kept.
    ids.retain(|id| !crate::api::kept_thinking::is_kept_id(id));
    if let Some((stub, _)) = store.as_ref().filter(|_| !ids.is_empty()) {
        let kept = get(stub, ids, lifetime, holding.bytes_left()).await?.ok_or_else(|| stored_items::references_too_large(None, cfg.max_body_bytes))?;
        let found = stored_items::parse_kept(&mut holding, &value, kept)?;
        stored_items::resolve(&mut value, &found)?;
    }
    let previous = if keeping { earlier_turns::previous_response_id(value.get("previous_response_id"))? } else { None };
    let earlier = match (store.as_ref(), previous) {
        (Some((stub, _)), Some(named)) => {
            let chain = call(stub, "turns", &TurnBody { id: named.clone(), now: now_unix(), lifetime_secs: Some(lifetime), max_bytes: holding.bytes_left() }).await?;
            Some(earlier_turns::earlier_items(&named, chain, &mut holding)?)
        }
        _ => None,
    };
    crate::api::responses::from_value(value, keeping, earlier)
}

/// `GET /v1/responses/{id}`: a kept response, as it was answered.
pub async fn retrieve(env: &Env, rc: &RequestContext, id: &str) -> Result<Response, ApiError> {
    let (stub, lifetime) = tenant_turns(env, rc, id).await?;
    let found: Retrieved = call(&stub, "response", &TurnBody { id: id.to_string(), now: now_unix(), lifetime_secs: Some(lifetime), max_bytes: 0 }).await?;
    let response = found.response.and_then(|(output, rest)| earlier_turns::retrieved(&rest, &output)).ok_or_else(|| response_not_found(id))?;
    super::http::json(200, &response, &rc.id_headers())
}

/// `DELETE /v1/responses/{id}`: a kept response, with its output items.
pub async fn delete(env: &Env, rc: &RequestContext, id: &str) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    struct Deleted {
        deleted: bool,
    }
    let (stub, lifetime) = tenant_turns(env, rc, id).await?;
    let done: Deleted = call(&stub, "delete", &TurnBody { id: id.to_string(), now: now_unix(), lifetime_secs: Some(lifetime), max_bytes: 0 }).await?;
    if !done.deleted {
        return Err(response_not_found(id));
    }
    super::http::json(200, &serde_json::json!({"id": id, "object": "response", "deleted": true}), &rc.id_headers())
}

/// The calling tenant's object and lifetime, for a call naming response `id`: none kept, a 404.
async fn tenant_turns(env: &Env, rc: &RequestContext, id: &str) -> Result<(ObjectStub, i64), ApiError> {
    let principal = super::auth::authenticate_client(rc, env).await?;
    rc.set_tenant(&principal);
    let cfg = super::config::load(env).await?;
    match tenant_store(env, &cfg, &principal.tenant.id).await? {
        Some((stub, lifetime)) if lifetime > 0 => {
            note_keeping(&stub, &principal.tenant.id, true).await;
            Ok((stub, lifetime))
        }
        Some((stub, _)) => {
            note_keeping(&stub, &principal.tenant.id, false).await;
            Err(response_not_found(id))
        }
        None => Err(response_not_found(id)),
    }
}

fn response_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Response with id '{id}' not found. Responses are kept only for the tenant that asked for them, for the days its policy's responses.store_days says, when their request did not set 'store' to false and their route was not held to regions."
    ))
}

/// One call to the tenant's object, its JSON answer read as `T`.
async fn call<T: serde::de::DeserializeOwned>(stub: &ObjectStub, operation: &str, body: &impl Serialize) -> Result<T, ApiError> {
    let unavailable = || ApiError::configuration_unavailable("stored responses");
    let body = serde_json::to_vec(body).map_err(|_| unavailable())?;
    match stub.call(&format!("https://response-items/{operation}"), Some(&body)).await {
        Ok((200, text)) => serde_json::from_str(&text).map_err(|_| unavailable()),
        Ok((status, _)) => {
            worker::console_error!("response items: {operation} answered {status}");
            Err(unavailable())
        }
        Err(e) => {
            worker::console_error!("response items: {operation} failed: {e}");
            Err(unavailable())
        }
    }
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

/// A deleted tenant's kept answers, prompts among them, swept now rather than left to expire:
/// its object is told to keep nothing for good (`POST /forget`, `for_good`: no later call keeps
/// anything or finds anything) and its alarm deletes everything. An error
/// when the object could not be told, so that the delete is called again (it resumes there).
pub async fn forget_deleted_tenant(env: &Env, tenant: &str) -> Result<(), ApiError> {
    let Some(stub) = ObjectStub::named(env, BINDING, tenant) else { return Ok(()) };
    call::<Value>(&stub, "forget", &serde_json::json!({"for_good": true})).await.map(|_| ())
}

/// Tells the tenant's object, when its policy keeps nothing now (`store_days = 0`), once per
/// isolate and tenant until it keeps again, so that the object sweeps what it holds (the prompts
/// of its turns among them) whichever call of the tenant's comes first.
async fn note_keeping(stub: &ObjectStub, tenant: &str, keeping: bool) {
    if keeping {
        TOLD_TO_FORGET.with(|told| told.borrow_mut().remove(tenant));
    } else if TOLD_TO_FORGET.with(|told| told.borrow_mut().insert(tenant.to_string())) {
        forget(stub).await;
    }
}

/// Tells the tenant's object that its policy keeps nothing now (`store_days = 0`): it sweeps
/// what it holds. A tenant that never kept anything pays one call.
async fn forget(stub: &ObjectStub) {
    if let Some(Err(e)) = call_within_wait(stub, "https://response-items/forget", b"{}").await {
        worker::console_error!("response items: forget failed: {e}");
    }
}

/// The kept items' texts by id; `None` when they pass `max_bytes` (the object reads none then).
async fn get(stub: &ObjectStub, ids: Vec<String>, lifetime_secs: i64, max_bytes: usize) -> Result<Option<HashMap<String, String>>, ApiError> {
    let found: Found = call(stub, "get", &GetBody { ids, now: now_unix(), lifetime_secs: Some(lifetime_secs), max_bytes }).await?;
    Ok((!found.over).then_some(found.items))
}

/// The thinking blocks kept under `ids` (`api::kept_thinking`), as kept, by id; none when the
/// tenant keeps nothing, or its object fails or takes longer than [`KEEP_WAIT`] (logged: the
/// request goes as it came, and the model refuses it as it would have).
pub async fn kept_thinking(env: &Env, cfg: &RouterConfig, tenant: &str, ids: Vec<String>) -> HashMap<String, String> {
    let Some((stub, lifetime)) = keeping_store(env, cfg, tenant, "kept thinking not read").await else { return HashMap::new() };
    let Ok(body) = serde_json::to_vec(&GetBody { ids, now: now_unix(), lifetime_secs: Some(lifetime), max_bytes: cfg.max_body_bytes }) else { return HashMap::new() };
    let found = match call_within_wait(&stub, "https://response-items/get", &body).await {
        Some(Ok((200, text))) => match serde_json::from_str::<Found>(&text) {
            Ok(found) if !found.over => Ok(found.items),
            Ok(_) => Err("more than a body's bytes".to_string()),
            Err(_) => Err("an answer that is not JSON".to_string()),
        },
        Some(Ok((status, _))) => Err(format!("get answered {status}")),
        Some(Err(e)) => Err(e),
        None => Err(format!("unanswered after {} s", KEEP_WAIT.as_secs())),
    };
    found.unwrap_or_else(|why| {
        worker::console_error!("kept thinking not read: {why}");
        HashMap::new()
    })
}

/// The tenant's object and lifetime when its policy keeps answers. One that keeps nothing now
/// (its chat answers' thinking, kept before, among what it holds) has its object told, once
/// per isolate, so that it sweeps; a policy that cannot be read is logged after `doing`.
async fn keeping_store(env: &Env, cfg: &RouterConfig, tenant: &str, doing: &str) -> Option<(ObjectStub, i64)> {
    match tenant_store(env, cfg, tenant).await {
        Ok(Some((stub, secs))) if secs > 0 => Some((stub, secs)),
        Ok(Some((stub, _))) => {
            note_keeping(&stub, tenant, false).await;
            None
        }
        Ok(None) => None,
        Err(e) => {
            worker::console_error!("{doing}: the tenant's policy could not be read ({})", e.code);
            None
        }
    }
}

/// Keeps what an answer left (its items by id, its turn) for the tenant's lifetime: awaited
/// before the answer's last bytes go out, for at most [`KEEP_WAIT`]. A failure is logged and the
/// answer goes out all the same (a later reference to it is then refused as not found).
pub async fn keep(env: &Env, cfg: &RouterConfig, tenant: &str, kept: Kept) {
    if kept.is_empty() {
        return;
    }
    let Some((stub, lifetime)) = keeping_store(env, cfg, tenant, "response items not kept").await else { return };
    let Ok(body) = serde_json::to_vec(&PutBody { items: kept.items, turn: kept.turn, now: now_unix(), lifetime_secs: lifetime }) else { return };
    match call_within_wait(&stub, "https://response-items/put", &body).await {
        Some(Ok((200, _))) => {}
        Some(Ok((status, _))) => worker::console_error!("response items: put answered {status}"),
        Some(Err(e)) => worker::console_error!("response items: put failed: {e}"),
        None => worker::console_error!("response items: put still unanswered after {} s; the answer goes out", KEEP_WAIT.as_secs()),
    }
}
