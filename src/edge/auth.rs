//! Who is calling: a tenant's router key, or the admin token.
//!
//! Keys are looked up by their SHA-256 in the `TENANTS` KV namespace (`key:<hash>` → key record,
//! `tenant:<id>` → tenant). Lookups are cached per isolate for a few seconds; a revoked key stops
//! working within that time plus KV's own propagation (up to 60 s across locations).

use std::cell::RefCell;
use std::collections::HashMap;

use worker::{Env, Request};

use crate::api::ApiError;
use crate::tenants::{hash_key, KeyRecord, Tenant};

use super::http::{now_ms, RequestContext, RequestHeaders};

const AUTH_CACHE_TTL_MS: f64 = 5_000.0;
const AUTH_CACHE_MAX: usize = 10_000;

#[derive(Clone)]
pub struct Principal {
    pub tenant: Tenant,
    /// Which of the tenant's keys was used: per-key budgets and limits hang off it (issue 4).
    pub key_id: String,
    /// The key's default attribution tags.
    pub tags: crate::events::Attribution,
    /// Whether those tags are fixed for its requests (`lock_tags`).
    pub tags_locked: bool,
}

impl Principal {
    /// What this credential may read of its tenant's reports.
    pub fn report_scope(&self) -> crate::report_scope::ReportScope {
        crate::report_scope::ReportScope::for_key(&self.key_id, &self.tags, self.tags_locked)
    }
}

thread_local! {
    static CACHE: RefCell<HashMap<String, (f64, Principal)>> = RefCell::new(HashMap::new());
}

/// The credential a client sent: `Authorization: Bearer <key>` (OpenAI SDKs, and Anthropic's
/// with an auth token), else `api-key` (Azure SDKs); an `Authorization` of another scheme, which
/// a proxy between may add, does not hide it. (`x-api-key` counts for Anthropic's clients only:
/// [`authenticate_client`].)
pub fn presented_key(headers: &RequestHeaders) -> Option<String> {
    let bearer = headers.get("authorization").and_then(|auth| {
        let (scheme, rest) = auth.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_string()).filter(|k| !k.is_empty())
    });
    bearer.or_else(|| headers.get("api-key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
}

pub async fn authenticate(headers: &RequestHeaders, env: &Env) -> Result<Principal, ApiError> {
    let key = presented_key(headers).ok_or_else(ApiError::missing_api_key)?;
    authenticate_key(env, &key).await
}

/// [`authenticate`], where a request answered in Anthropic's terms (`RequestContext::anthropic_door`:
/// the Messages API's paths, a model list asked with `anthropic-version`) may send its key as
/// `x-api-key`, as Anthropic's SDKs and Claude Code do. Elsewhere a gateway's own `x-api-key`
/// must not stand for the client's credential (a dashboard session's report read would be
/// judged by it).
pub async fn authenticate_client(rc: &RequestContext, env: &Env) -> Result<Principal, ApiError> {
    let headers = &rc.headers;
    let x_api_key = || headers.get("x-api-key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    let key = presented_key(headers).or_else(|| rc.anthropic_door.get().then(x_api_key).flatten()).ok_or_else(ApiError::missing_api_key)?;
    authenticate_key(env, &key).await
}

/// The tenant a router key belongs to (the dashboard's login checks a key this way too).
pub async fn authenticate_key(env: &Env, key: &str) -> Result<Principal, ApiError> {
    if key.len() > 256 {
        return Err(ApiError::invalid_api_key());
    }
    let hash = hash_key(key);
    let cached = CACHE.with(|c| c.borrow().get(&hash).filter(|(at, _)| now_ms() - at < AUTH_CACHE_TTL_MS).map(|(_, p)| p.clone()));
    if let Some(p) = cached {
        return Ok(p);
    }
    let principal = principal_for_key_hash(env, &hash).await?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= AUTH_CACHE_MAX {
            c.clear();
        }
        c.insert(hash, (now_ms(), principal.clone()));
    });
    Ok(principal)
}

/// Where a key's revocation is written besides its record: a record is rewritten whole (tag
/// updates), and one read from a stale KV copy would otherwise undo a revocation.
pub fn revoked_marker(hash: &str) -> String {
    format!("revoked:{hash}")
}

fn tenants_kv(env: &Env) -> Result<worker::kv::KvStore, ApiError> {
    env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))
}

/// A JSON record of the TENANTS namespace. A read that fails is KV being unavailable (503, which
/// the SDKs retry); a record that does not parse is a misconfiguration (500).
async fn read_record<T: serde::de::DeserializeOwned>(kv: &worker::kv::KvStore, key: &str, what: &str) -> Result<Option<T>, ApiError> {
    let text = kv.get(key).text().await.map_err(|_| ApiError::configuration_unavailable(&format!("{what}s")))?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| ApiError::configuration(format!("A {what} in KV is not valid.")))).transpose()
}

/// The tenant and key behind a key's SHA-256, if the key exists and is not revoked.
async fn principal_for_key_hash(env: &Env, hash: &str) -> Result<Principal, ApiError> {
    let kv = tenants_kv(env)?;
    let (record_key, marker_key) = (format!("key:{hash}"), revoked_marker(hash));
    let (record, marker) = futures_util::future::join(read_record::<KeyRecord>(&kv, &record_key, "key record"), kv.get(&marker_key).text()).await;
    let record: KeyRecord = match record? {
        Some(r) => r,
        None => return Err(ApiError::invalid_api_key()),
    };
    let marked = marker.map_err(|_| ApiError::configuration_unavailable("key records"))?.is_some();
    if record.revoked_at.is_some() || marked {
        return Err(ApiError::invalid_api_key());
    }
    let tenant: Tenant = match read_record(&kv, &format!("tenant:{}", record.tenant_id), "tenant record").await? {
        Some(t) => t,
        // A key whose tenant was deleted is as good as revoked.
        None => return Err(ApiError::invalid_api_key()),
    };
    Ok(Principal { tenant, key_id: record.key_id, tags: record.tags, tags_locked: record.lock_tags })
}

/// Who may read a tenant's reports (`/v1/usage`, `/v1/budgets`, `/v1/deployments`,
/// `/v1/forecast`): a router key, as everywhere, or a dashboard session cookie (see
/// `crate::dashboard`). An admin session reads the tenant named by `?tenant=`; any other
/// credential may name only its own tenant there. A request that sends a key is judged by the key
/// alone, whatever cookie it carries.
pub async fn authenticate_reader(req: &Request, headers: &RequestHeaders, env: &Env) -> Result<Principal, ApiError> {
    let url = req.url().map_err(super::http::to_api_error)?;
    let wanted = url.query_pairs().find(|(k, _)| k == "tenant").map(|(_, v)| v.to_string());
    if let Some(t) = &wanted {
        if !crate::tenants::valid_tenant_id(t) {
            return Err(ApiError::invalid_value("tenant", "'tenant' must be a tenant id (letters, digits, '-', '_')."));
        }
    }
    // A key, not any `Authorization`: a browser behind HTTP Basic auth sends that header on every
    // request, and the dashboard's session must still read.
    let sends_key = presented_key(headers).is_some();
    let principal = match (sends_key, session_token(req)) {
        (false, Some(token)) => session_principal(env, &token, wanted.as_deref()).await?,
        _ => authenticate(headers, env).await?,
    };
    match wanted {
        Some(t) if t != principal.tenant.id => Err(ApiError::permission_denied("This credential may read only its own tenant's data.")),
        _ => Ok(principal),
    }
}

/// The session token from the request's cookie, if it sent one.
pub fn session_token(req: &Request) -> Option<String> {
    let header = req.headers().get("cookie").ok().flatten()?;
    crate::dashboard::cookie_value(&header, crate::dashboard::SESSION_COOKIE).map(str::to_string)
}

/// The session record a token names, if stored and not expired. Says nothing about whether the
/// credential that opened it still holds: use [`session`].
async fn stored_session(env: &Env, token: &str) -> Result<crate::dashboard::SessionRecord, ApiError> {
    if !crate::dashboard::valid_token(token) {
        return Err(crate::dashboard::invalid_session());
    }
    let kv = tenants_kv(env)?;
    let record: crate::dashboard::SessionRecord = match read_record(&kv, &crate::dashboard::session_kv_key(token), "session record").await? {
        Some(r) => r,
        None => return Err(crate::dashboard::invalid_session()),
    };
    if record.expires_at <= super::http::now_unix() {
        return Err(crate::dashboard::invalid_session());
    }
    Ok(record)
}

/// The live session a token names: stored, not expired, and its credential still holds (the
/// admin token it was opened with is still the current one; the router key it was opened with is
/// still valid, whose principal comes along). Every use of a session goes through here, so
/// rotating the token or revoking the key ends the session everywhere at once, the page and the
/// tenant list included.
pub async fn session(env: &Env, token: &str) -> Result<(crate::dashboard::SessionRecord, Option<Principal>), ApiError> {
    let record = stored_session(env, token).await?;
    if record.admin {
        let current = admin_token(env).map(|t| hash_key(&t));
        if current.is_none() || current != record.key_hash {
            return Err(crate::dashboard::invalid_session());
        }
        return Ok((record, None));
    }
    let hash = record.key_hash.clone().ok_or_else(crate::dashboard::invalid_session)?;
    let principal = principal_for_key_hash(env, &hash).await.map_err(|e| if e.status == 401 { crate::dashboard::invalid_session() } else { e })?;
    Ok((record, Some(principal)))
}

async fn session_principal(env: &Env, token: &str, wanted: Option<&str>) -> Result<Principal, ApiError> {
    let (record, principal) = session(env, token).await?;
    if let Some(principal) = principal {
        return Ok(principal);
    }
    debug_assert!(record.admin);
    let id = wanted.ok_or_else(|| ApiError::invalid_value("tenant", "An admin session reads one tenant at a time: add ?tenant=<id>."))?;
    let tenant: Tenant = match read_record(&tenants_kv(env)?, &format!("tenant:{id}"), "tenant record").await? {
        Some(t) => t,
        None => return Err(ApiError::not_found(format!("No tenant '{id}'."))),
    };
    Ok(Principal { tenant, key_id: ADMIN_SESSION_KEY_ID.into(), tags: Default::default(), tags_locked: false })
}

/// The `key_id` of an admin's dashboard session (router keys' ids are `key_` and hex).
const ADMIN_SESSION_KEY_ID: &str = "admin";

impl Principal {
    /// An admin reading a tenant through a dashboard session, rather than the tenant's own key.
    pub fn is_admin_session(&self) -> bool {
        self.key_id == ADMIN_SESSION_KEY_ID
    }
}

/// Whether `presented` is the admin token (compared in constant time).
pub fn is_admin_token(env: &Env, presented: &str) -> bool {
    admin_token(env).is_some_and(|expected| constant_time_eq(presented.as_bytes(), expected.as_bytes()))
}

fn admin_token(env: &Env) -> Option<String> {
    env.secret("ADMIN_TOKEN")
        .map(|s| s.to_string())
        .or_else(|_| env.var("ADMIN_TOKEN").map(|v| v.to_string()))
        .ok()
        .filter(|t| t.len() >= 16)
}

/// Admin endpoints need the `ADMIN_TOKEN` secret; a tenant key is refused with 403.
pub fn require_admin(headers: &RequestHeaders, env: &Env) -> Result<(), ApiError> {
    let presented = presented_key(headers).ok_or_else(ApiError::missing_api_key)?;
    let expected = admin_token(env).ok_or_else(|| ApiError::permission_denied("The admin API is disabled: set an ADMIN_TOKEN secret of at least 16 characters."))?;
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::permission_denied("Admin endpoints require the admin token."))
    }
}

/// Compares without an early exit, so response time does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0 && a.len() == b.len()
}

/// Drops a key from this isolate's cache (after revocation through this isolate).
pub fn forget(hash: &str) {
    CACHE.with(|c| c.borrow_mut().remove(hash));
}

/// Drops every key of a tenant from this isolate's cache (after its record changed through this
/// isolate: a narrowed `allowed_models` or a new plan applies to its next request here).
pub fn forget_tenant(tenant_id: &str) {
    CACHE.with(|c| c.borrow_mut().retain(|_, (_, principal)| principal.tenant.id != tenant_id));
}
