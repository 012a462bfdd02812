//! The `SemanticCache` Durable Object: one per tenant, holding that tenant's semantic cache
//! entries in SQLite (vector, guard, answer, expiry) and, in memory, the `SemanticIndex` over
//! them, rebuilt from SQLite when the object wakes. Lookups are a scan of one context bucket
//! (`crate::cache::semantic`), so a tenant's 10,000 entries cost about 2 ms of CPU at most.
//!
//! Internal API (reached only through the `SEMANTIC_CACHE` binding): `POST /lookup`,
//! `POST /insert`.
//!
//! Expired entries are deleted by an alarm as well as by the next insert: stored answers are
//! tenant data, and a tenant whose traffic stops must not keep them past their lifetime.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorageValue, State};

use super::sweep_alarm::SweepAlarm;

use crate::semantic::{max_entries_for, BucketKey, MatchGuard, QuantizedVector, SemanticIndex};

/// Entries kept per tenant, fewer of long vectors (`kept_entries`); the oldest go first.
pub const MAX_ENTRIES: i64 = 10_000;

/// The entries kept of `dims`-number vectors (see `semantic::max_entries_for`).
fn kept_entries(dims: usize) -> usize {
    max_entries_for(dims, MAX_ENTRIES as usize)
}
/// Largest stored answer (JSON bytes): bigger answers are left to the exact cache.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Expired best matches a lookup drops before it answers a miss (each costs a scan).
const EXPIRED_SKIPS_PER_LOOKUP: usize = 4;
/// Least time between two sweeps by alarm: entries expire one after another under steady
/// traffic, and an alarm per entry would wake the object every few seconds for one row.
const SWEEP_GAP_SECS: i64 = 300;
/// Rows one sweep deletes; more left over are swept by an alarm right after.
const SWEEP_BATCH: i64 = 1000;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS semantic_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL, vector TEXT NOT NULL, guard TEXT NOT NULL,
    answer TEXT NOT NULL, expires_at INTEGER NOT NULL, question TEXT)";
/// The column `question` (`SemanticQuery::question_id`) on a table made before it (2026-12-06):
/// it fails, harmlessly, where the column is there.
const ADD_QUESTION: &str = "ALTER TABLE semantic_entries ADD COLUMN question TEXT";
/// A provider embedder's vectors for the same text can differ in their last bits from one call
/// to the next: above this similarity (with a compatible guard) a stored question is also taken
/// to be the one stored again.
const SAME_QUESTION: f32 = 0.9999;

/// The same question stored again is found by its text's id (a provider's vector for it varies;
/// rows stored before the id by their exact vector: a question's similarity to itself after
/// quantization is not exactly 1, so a threshold misses some), and expired rows without a scan
/// of the table.
const INDEXES: [&str; 3] = [
    "CREATE INDEX IF NOT EXISTS semantic_entries_question ON semantic_entries (bucket, vector)",
    "CREATE INDEX IF NOT EXISTS semantic_entries_expiry ON semantic_entries (expires_at)",
    "CREATE INDEX IF NOT EXISTS semantic_entries_text ON semantic_entries (bucket, question)",
];

#[durable_object]
pub struct SemanticCache {
    state: State,
    /// One index per vector size (the static embedder and a provider's differ); `None` until
    /// loaded from SQLite.
    indexes: RefCell<Option<HashMap<usize, SemanticIndex>>>,
    /// The alarm that sweeps expired entries.
    sweep: SweepAlarm,
    /// How many rows `semantic_entries` holds, as this instance counts them (`None`: not counted
    /// yet): counted once per instance, then kept by its inserts and deletes. A `COUNT(*)` on
    /// every insert read the whole table each time, up to `MAX_ENTRIES` rows billed as read.
    entries: Cell<Option<i64>>,
}

#[derive(Deserialize)]
struct LookupBody {
    bucket: String,
    vector: String,
    guard: String,
    threshold: f32,
    now: i64,
}

#[derive(Deserialize)]
struct InsertBody {
    bucket: String,
    vector: String,
    guard: String,
    /// The question's id in its bucket (absent from a worker older than it).
    #[serde(default)]
    question: Option<String>,
    answer: serde_json::Value,
    ttl_secs: i64,
    now: i64,
}

#[derive(Deserialize)]
struct StoredRow {
    id: i64,
    bucket: String,
    vector: String,
    guard: String,
}

fn bad(msg: &str) -> worker::Result<Response> {
    Response::error(msg, 400)
}

fn decode(bucket: &str, vector: &str, guard: &str) -> Option<(BucketKey, QuantizedVector, MatchGuard)> {
    let bucket: BucketKey = hex::decode(bucket).ok()?.try_into().ok()?;
    let vector = QuantizedVector::from_bytes(&hex::decode(vector).ok()?).ok()?;
    let guard = MatchGuard::from_bytes(&hex::decode(guard).ok()?)?;
    Some((bucket, vector, guard))
}

impl SemanticCache {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Loads the live entries into memory the first time the object is asked anything: the
    /// newest, a page at a time, up to `MAX_STORED_NUMBERS` vector numbers (a store filled before
    /// that bound, 10,000 long vectors, would not fit in one read; its older rows stay out of
    /// the index until the next insert evicts them).
    fn ensure_loaded(&self, now: i64) -> worker::Result<()> {
        if self.indexes.borrow().is_some() {
            return Ok(());
        }
        const PAGE: i64 = 500;
        let mut rows: Vec<StoredRow> = Vec::new();
        let mut numbers = 0usize;
        let mut before = i64::MAX;
        while numbers < crate::semantic::MAX_STORED_NUMBERS && rows.len() < MAX_ENTRIES as usize {
            let page: Vec<StoredRow> = self
                .sql()
                .exec(
                    "SELECT id, bucket, vector, guard FROM semantic_entries WHERE expires_at > ? AND id < ? ORDER BY id DESC LIMIT ?",
                    vec![SqlStorageValue::Integer(now), SqlStorageValue::Integer(before), SqlStorageValue::Integer(PAGE)],
                )?
                .to_array()?;
            let Some(last) = page.last() else { break };
            before = last.id;
            // Two hex characters a number.
            numbers += page.iter().map(|r| r.vector.len() / 2).sum::<usize>();
            let last_page = (page.len() as i64) < PAGE;
            rows.extend(page);
            if last_page {
                break;
            }
        }
        let mut indexes: HashMap<usize, SemanticIndex> = HashMap::new();
        // Oldest first, as they were stored.
        for r in rows.into_iter().rev() {
            if let Some((bucket, vector, guard)) = decode(&r.bucket, &r.vector, &r.guard) {
                let index = indexes.entry(vector.dims()).or_insert_with(|| SemanticIndex::new(vector.dims(), kept_entries(vector.dims())));
                let _ = index.insert(bucket, &vector, r.id as u64, guard);
            }
        }
        *self.indexes.borrow_mut() = Some(indexes);
        Ok(())
    }

    /// The rows stored (see `entries`).
    fn entry_count(&self) -> worker::Result<i64> {
        if let Some(n) = self.entries.get() {
            return Ok(n);
        }
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let count: Vec<Count> = self.sql().exec("SELECT COUNT(*) AS n FROM semantic_entries", None)?.to_array()?;
        let n = count.first().map_or(0, |c| c.n);
        self.entries.set(Some(n));
        Ok(n)
    }

    /// Rows added (or, negative, deleted) since the count.
    fn count_change(&self, change: i64) {
        if let Some(n) = self.entries.get() {
            self.entries.set(Some(n + change));
        }
    }

    fn forget(&self, ids_and_buckets: &[(i64, String)]) -> worker::Result<()> {
        let mut guard = self.indexes.borrow_mut();
        for (id, bucket) in ids_and_buckets {
            // An id may already be gone (found twice, as the same question and as a near one).
            let deleted: Vec<serde_json::Value> = self.sql().exec("DELETE FROM semantic_entries WHERE id = ? RETURNING id", vec![SqlStorageValue::Integer(*id)])?.to_array()?;
            self.count_change(-(deleted.len() as i64));
            if let (Some(indexes), Some(key)) = (guard.as_mut(), hex::decode(bucket).ok().and_then(|b| BucketKey::try_from(b).ok())) {
                for index in indexes.values_mut() {
                    index.remove(&key, *id as u64);
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, b: LookupBody) -> worker::Result<Response> {
        let Some((bucket, vector, guard)) = decode(&b.bucket, &b.vector, &b.guard) else { return bad("undecodable lookup") };
        self.ensure_loaded(b.now)?;
        #[derive(Deserialize)]
        struct Answer {
            answer: String,
            expires_at: i64,
        }
        // An expired best match is dropped and the next best tried: a slightly less similar
        // answer that is still fresh is a hit, not hidden behind a dead one.
        for _ in 0..EXPIRED_SKIPS_PER_LOOKUP {
            let found = self.indexes.borrow().as_ref().and_then(|ix| ix.get(&vector.dims())).and_then(|ix| ix.best_match(&bucket, &vector, &guard, b.threshold));
            let Some((id, score)) = found else { break };
            let rows: Vec<Answer> = self.sql().exec("SELECT answer, expires_at FROM semantic_entries WHERE id = ?", vec![SqlStorageValue::Integer(id as i64)])?.to_array()?;
            match rows.into_iter().next() {
                Some(a) if a.expires_at > b.now => {
                    let answer: serde_json::Value = serde_json::from_str(&a.answer).unwrap_or(serde_json::Value::Null);
                    return Response::from_json(&json!({"hit": {"answer": answer, "score": score, "entry": id}}));
                }
                _ => self.forget(&[(id as i64, b.bucket.clone())])?,
            }
        }
        Response::from_json(&json!({"hit": null}))
    }

    async fn insert(&self, b: InsertBody) -> worker::Result<Response> {
        let Some((bucket, vector, guard)) = decode(&b.bucket, &b.vector, &b.guard) else { return bad("undecodable entry") };
        let answer = b.answer.to_string();
        if answer.len() > MAX_ANSWER_BYTES || b.ttl_secs <= 0 {
            return Response::from_json(&json!({"stored": false}));
        }
        self.ensure_loaded(b.now)?;
        // A fresh answer to the same question (a client's cache-control: no-cache, or two misses
        // at once) replaces the old one, which would otherwise keep matching until it expired,
        // and would count against the tenant's limit.
        #[derive(Deserialize)]
        struct Same {
            id: i64,
        }
        // By its exact row, or by its text whatever vector the embedder gave it this time (no
        // `question`, from an older worker: NULL, which equals nothing).
        let same: Vec<Same> = self
            .sql()
            .exec(
                "SELECT id FROM semantic_entries WHERE bucket = ?1 AND ((vector = ?2 AND guard = ?3) OR question = ?4)",
                vec![
                    SqlStorageValue::String(b.bucket.clone()),
                    SqlStorageValue::String(b.vector.clone()),
                    SqlStorageValue::String(b.guard.clone()),
                    b.question.clone().map_or(SqlStorageValue::Null, SqlStorageValue::String),
                ],
            )?
            .to_array()?;
        self.forget(&same.into_iter().map(|s| (s.id, b.bucket.clone())).collect::<Vec<_>>())?;
        let near = self.indexes.borrow().as_ref().and_then(|ix| ix.get(&vector.dims())).and_then(|ix| ix.best_match(&bucket, &vector, &guard, SAME_QUESTION));
        if let Some((old, _)) = near {
            self.forget(&[(old as i64, b.bucket.clone())])?;
        }
        #[derive(Deserialize)]
        struct Id {
            id: i64,
        }
        let ids: Vec<Id> = self
            .sql()
            .exec(
                "INSERT INTO semantic_entries (bucket, vector, guard, answer, expires_at, question) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                vec![
                    SqlStorageValue::String(b.bucket.clone()),
                    SqlStorageValue::String(b.vector.clone()),
                    SqlStorageValue::String(b.guard.clone()),
                    SqlStorageValue::String(answer),
                    SqlStorageValue::Integer(b.now + b.ttl_secs),
                    b.question.clone().map_or(SqlStorageValue::Null, SqlStorageValue::String),
                ],
            )?
            .to_array()?;
        let Some(id) = ids.first().map(|r| r.id) else { return Response::error("insert returned no id", 500) };
        self.count_change(1);
        {
            let mut guard_ix = self.indexes.borrow_mut();
            let indexes = guard_ix.as_mut().expect("loaded above");
            let index = indexes.entry(vector.dims()).or_insert_with(|| SemanticIndex::new(vector.dims(), kept_entries(vector.dims())));
            if index.insert(bucket, &vector, id as u64, guard).is_err() {
                return bad("vector does not fit the index");
            }
        }
        // Expired entries, then the oldest past the per-tenant limit.
        #[derive(Deserialize)]
        struct Gone {
            id: i64,
            bucket: String,
        }
        let mut gone: Vec<Gone> = self.sql().exec("SELECT id, bucket FROM semantic_entries WHERE expires_at <= ? LIMIT 100", vec![SqlStorageValue::Integer(b.now)])?.to_array()?;
        // The expired rows this pass removes are not over the limit: only live ones past it go.
        let excess = self.entry_count()? - gone.len() as i64 - kept_entries(vector.dims()) as i64;
        if excess > 0 {
            let over: Vec<Gone> = self.sql().exec("SELECT id, bucket FROM semantic_entries WHERE expires_at > ? ORDER BY id LIMIT ?", vec![SqlStorageValue::Integer(b.now), SqlStorageValue::Integer(excess)])?.to_array()?;
            gone.extend(over);
        }
        let gone: Vec<(i64, String)> = gone.into_iter().map(|g| (g.id, g.bucket)).collect();
        self.forget(&gone)?;
        self.sweep.no_later_than(&self.state.storage(), Some(b.now + b.ttl_secs)).await?;
        Response::from_json(&json!({"stored": true, "entry": id, "evicted": gone.len()}))
    }

    fn earliest_expiry(&self) -> worker::Result<Option<i64>> {
        SweepAlarm::earliest_expiry(&self.sql(), "semantic_entries")
    }

    /// The alarm: deletes expired entries (a batch at a time) and sets the next sweep for the
    /// earliest expiry left.
    async fn sweep(&self) -> worker::Result<()> {
        let now = (js_sys::Date::now() / 1000.0) as i64;
        self.sweep.sweeping(now);
        #[derive(Deserialize)]
        struct Gone {
            id: i64,
            bucket: String,
        }
        let gone: Vec<Gone> = self
            .sql()
            .exec("SELECT id, bucket FROM semantic_entries WHERE expires_at <= ? ORDER BY expires_at LIMIT ?", vec![SqlStorageValue::Integer(now), SqlStorageValue::Integer(SWEEP_BATCH)])?
            .to_array()?;
        let full_batch = gone.len() as i64 == SWEEP_BATCH;
        self.forget(&gone.into_iter().map(|g| (g.id, g.bucket)).collect::<Vec<_>>())?;
        if full_batch {
            return self.sweep.set(&self.state.storage(), now + 1).await;
        }
        self.sweep.after_sweep(&self.state.storage(), self.earliest_expiry()?, now).await
    }
}

impl DurableObject for SemanticCache {
    fn new(state: State, _env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(CREATE, None) {
            worker::console_error!("semantic table not created: {e}");
        }
        let _ = state.storage().sql().exec(ADD_QUESTION, None);
        for ddl in INDEXES {
            if let Err(e) = state.storage().sql().exec(ddl, None) {
                worker::console_error!("semantic table not created: {e}");
            }
        }
        SemanticCache { state, indexes: RefCell::new(None), sweep: SweepAlarm::new(SWEEP_GAP_SECS), entries: Cell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if self.sweep.first_call() {
            self.sweep.no_later_than(&self.state.storage(), self.earliest_expiry()?).await?;
        }
        let text = req.text().await.unwrap_or_default();
        match req.path().as_str() {
            "/lookup" => match serde_json::from_str(&text) {
                Ok(b) => self.lookup(b),
                Err(e) => bad(&format!("bad lookup: {e}")),
            },
            "/insert" => match serde_json::from_str(&text) {
                Ok(b) => self.insert(b).await,
                Err(e) => bad(&format!("bad insert: {e}")),
            },
            _ => Response::error("unknown semantic cache operation", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.sweep().await?;
        Response::ok("swept")
    }
}
