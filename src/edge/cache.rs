//! Storage for the exact response cache (rules in `crate::cache`).
//!
//! Two tiers: the Cache API of the location serving the request (free, fast; on `workers.dev`
//! it stores nothing, so there it always misses), then the `RESPONSE_CACHE` KV namespace (global,
//! eventually consistent: an answer stored in one location is seen elsewhere within about a
//! minute). A KV hit is copied into the local Cache API. Without the KV binding only the Cache
//! API is used. Keys already contain the tenant, so no entry can answer another tenant.

use std::rc::Rc;

use worker::{Cache, Env, Headers, Response};

use super::semantic::Probe;

use crate::cache::CachedAnswer;

/// The local Cache API's URL for `key`, under the host the request came to: Cloudflare asks
/// that cache keys use the Worker's own hostname (another, let alone one that never resolves,
/// costs DNS lookups and latency). Each alias host then keeps its own local copy; KV is shared.
fn cache_url(host: &str, key: &str) -> String {
    let host = if host.is_empty() { "response-cache.invalid" } else { host };
    format!("https://{host}/__costrouter/exact/{key}")
}

async fn put_local(host: &str, key: &str, text: &str, ttl_secs: u64) {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    // A minute at most: a refreshed answer (no-cache) is written to KV and this location's copy,
    // and other locations read KV again within that minute, as they see every other change.
    let _ = headers.set("cache-control", &format!("public, max-age={}", ttl_secs.min(LOCAL_COPY_SECS)));
    let Ok(resp) = Response::ok(text.to_string()).map(|r| r.with_headers(headers)) else { return };
    if let Err(e) = Cache::default().put(cache_url(host, key), resp).await {
        worker::console_warn!("response cache: local put failed: {e}");
    }
}

/// Longest life of an entry's copy in a location's local cache (KV holds the entry itself).
const LOCAL_COPY_SECS: u64 = 60;

/// The stored answer for `key`, if any, readable and within its lifetime (`host`: the one the
/// request came to).
pub async fn lookup(env: &Env, host: &str, key: &str) -> Option<CachedAnswer> {
    let now = super::http::now_unix();
    if let Some(text) = super::crossings::cached_text(&cache_url(host, key)).await {
        if let Ok(answer) = serde_json::from_str::<CachedAnswer>(&text) {
            if answer.is_fresh(now) {
                return Some(answer);
            }
        }
    }
    let kv = env.kv("RESPONSE_CACHE").ok()?;
    let text = kv.get(key).text().await.ok().flatten()?;
    let answer: CachedAnswer = serde_json::from_str(&text).ok().filter(|a: &CachedAnswer| a.is_fresh(now))?;
    // Warm this location for the next hit, for what is left of the entry's life (at most a
    // minute for an entry stored without an expiry).
    let left = answer.remaining_secs(now).map_or(crate::cache::MIN_TTL_SECS, |s| s.max(1) as u64);
    put_local(host, key, &text, left).await;
    Some(answer)
}

/// Stores an answer in both tiers (called after the response has gone).
pub async fn store(env: &Env, host: &str, key: &str, answer: &CachedAnswer, ttl_secs: u64) {
    if ttl_secs == 0 {
        return;
    }
    let answer = CachedAnswer { expires_at: Some(answer.stored_at + ttl_secs as i64), ..answer.clone() };
    let Ok(text) = serde_json::to_string(&answer) else { return };
    put_local(host, key, &text, ttl_secs).await;
    if let Ok(kv) = env.kv("RESPONSE_CACHE") {
        let ttl = ttl_secs.max(crate::cache::MIN_TTL_SECS);
        match kv.put(key, text) {
            Ok(put) => {
                if let Err(e) = put.expiration_ttl(ttl).execute().await {
                    worker::console_warn!("response cache: KV put failed: {e}");
                }
            }
            Err(e) => worker::console_warn!("response cache: KV put failed: {e}"),
        }
    }
}

/// Where a fresh answer is to be cached (set on a miss): its exact key and lifetime, and, when
/// the semantic cache is on, the tenant and probe to file it under by meaning.
#[derive(Clone)]
pub struct CacheSlot {
    /// The host the request came to, for the local Cache API's URL.
    pub host: String,
    pub key: String,
    pub ttl_secs: u64,
    pub semantic: Option<(String, Rc<Probe>)>,
}

impl CacheSlot {
    pub fn pending(self, answer: CachedAnswer) -> PendingStore {
        PendingStore { host: self.host, key: self.key, answer, ttl_secs: self.ttl_secs, semantic: self.semantic }
    }
}

/// An answer waiting to be stored once the response has gone.
#[derive(Clone)]
pub struct PendingStore {
    pub host: String,
    pub key: String,
    pub answer: CachedAnswer,
    pub ttl_secs: u64,
    pub semantic: Option<(String, Rc<Probe>)>,
}

/// Stores a pending answer in the exact cache and, if set, the semantic cache.
pub async fn store_pending(env: &Env, p: &PendingStore) {
    store(env, &p.host, &p.key, &p.answer, p.ttl_secs).await;
    if let Some((tenant, probe)) = &p.semantic {
        if p.ttl_secs > 0 {
            super::semantic::store(env, tenant, probe, &p.answer, p.ttl_secs).await;
        }
    }
}
