//! Admin API (guarded by the `ADMIN_TOKEN` secret): tenants and their router keys.
//!
//! - `PUT /admin/tenants/{id}` `{"name","plan","allowed_models"}`: create or update a tenant.
//! - `GET /admin/tenants/{id}`
//! - `DELETE /admin/tenants/{id}`: revoke every key of the tenant, then remove it for good.
//! - `POST /admin/keys` `{"tenant_id","name","tags"}`: a new key, shown once in the answer;
//!   `tags` (`feature`, `team`, `environment`, `user`) attribute its requests that set none.
//! - `PATCH /admin/keys/{key_id}` `{"tags":{...}}`: replace a key's default tags.
//! - `GET /admin/keys?tenant_id=...[&limit=N&cursor=...]`: the tenant's keys (ids, names, tags;
//!   never the key), a page at a time.
//! - `DELETE /admin/keys/{key_id}`: revoke.
//! - `PUT /admin/tenants/{id}/budgets` `{"budgets":[...],"limits":{...}}`, `GET` the same path:
//!   set and read budgets, per-minute limits and their live state.

use serde::Deserialize;
use serde_json::json;
use worker::{kv::KvStore, Env, Method, Request, Response};

use crate::api::ApiError;
use crate::attribution::validate_defaults;
use crate::events::Attribution;
use crate::tenants::{hash_key, key_id, new_key, valid_key_id, valid_tenant_id, KeyRecord, Tenant};

use super::auth::{forget, require_admin};
use super::spend;
use super::http::{self, now_unix, read_body, RequestContext};

const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// The rate limiter on admin calls per client address (wrangler.toml), so a weak admin token
/// cannot be guessed by trying. Every call counts, good or bad: counting only failures would
/// still answer a right guess.
const ADMIN_LIMITER: &str = "ADMIN_LIMITER";

pub async fn handle(mut req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_default();
    if super::crossings::rate_limit(env, ADMIN_LIMITER, &format!("admin:{}", crate::client_address::limiter_subject(&client))).await == Some(false) {
        rc.tell_retry_after(60);
        super::http::drain(&mut req).await;
        return Err(ApiError::rate_limited("Too many admin calls from this address; wait a minute and try again."));
    }
    if let Err(e) = require_admin(&rc.headers, env) {
        super::http::drain(&mut req).await;
        return Err(e);
    }
    let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches("/admin/").split('/').filter(|s| !s.is_empty()).collect();
    let rid = rc.id_headers();
    // HEAD is answered as GET, as everywhere else.
    let method_name = super::http::method_name(&req);
    match (super::http::routed_method(&req), segments.as_slice()) {
        (Method::Put, ["tenants", id]) => {
            let body = read_body(&mut req, &rc.headers, ADMIN_BODY_LIMIT).await?;
            let tenant = put_tenant(&kv, env, id, &body).await?;
            // At once on this isolate; elsewhere within the auth cache's 5 s and KV's propagation.
            super::auth::forget_tenant(id);
            http::json(200, &tenant, &rid)
        }
        (Method::Put, ["tenants", id, "budgets"]) => {
            get_tenant(&kv, id).await?.ok_or_else(|| ApiError::not_found(format!("No tenant '{id}'.")))?;
            let body = read_body(&mut req, &rc.headers, ADMIN_BODY_LIMIT).await?;
            let config = crate::api::parse_json_object(&body)?;
            // Validate here, where the admin gets a clear error, before the ledger sees it.
            let check: LedgerConfigCheck = crate::api::deserialize_with_path(config.clone())?;
            crate::budget::check_budgets(&check.budgets).map_err(|m| ApiError::invalid_value("budgets", m))?;
            let stub = spend::required_ledger(env, id)?;
            spend::configure(&stub, &config).await?;
            spend::forget_control(id);
            http::json(200, &spend::state(&stub).await?, &rid)
        }
        (m @ (Method::Put | Method::Get), ["tenants", id, "alerts"]) => {
            get_tenant(&kv, id).await?.ok_or_else(|| ApiError::not_found(format!("No tenant '{id}'.")))?;
            let body = if m == Method::Put { Some(read_body(&mut req, &rc.headers, ADMIN_BODY_LIMIT).await?) } else { None };
            http::json(200, &super::alerting::admin(env, id, m, body).await?, &rid)
        }
        (Method::Get, ["tenants", id, "budgets"]) => {
            get_tenant(&kv, id).await?.ok_or_else(|| ApiError::not_found(format!("No tenant '{id}'.")))?;
            let stub = spend::required_ledger(env, id)?;
            http::json(200, &spend::state_with_reservations(&stub).await?, &rid)
        }
        (Method::Get, ["tenants"]) => http::json(200, &json!({"object": "list", "data": tenant_ids(&kv).await?}), &rid),
        (Method::Get, ["tenants", id]) => {
            let tenant = get_tenant(&kv, id).await?.ok_or_else(|| ApiError::not_found(format!("No tenant '{id}'.")))?;
            http::json(200, &tenant, &rid)
        }
        (Method::Delete, ["tenants", id]) => http::json(200, &delete_tenant(env, &kv, id).await?, &rid),
        (Method::Post, ["keys"]) => {
            let body = read_body(&mut req, &rc.headers, ADMIN_BODY_LIMIT).await?;
            http::json(201, &create_key(&kv, &body).await?, &rid)
        }
        (Method::Get, ["keys"]) => {
            let url = req.url().map_err(http::to_api_error)?;
            let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string());
            let tenant_id = param("tenant_id").ok_or_else(|| ApiError::missing_field("tenant_id"))?;
            let limit = match param("limit") {
                None => KEYS_PAGE_LIMIT,
                Some(l) => l.parse::<usize>().ok().filter(|l| (1..=KEYS_PAGE_LIMIT).contains(l)).ok_or_else(|| ApiError::invalid_value("limit", format!("'limit' is a whole number from 1 to {KEYS_PAGE_LIMIT}.")))?,
            };
            http::json(200, &list_keys(&kv, &tenant_id, limit, param("cursor")).await?, &rid)
        }
        (Method::Patch, ["keys", id]) => {
            let body = read_body(&mut req, &rc.headers, ADMIN_BODY_LIMIT).await?;
            http::json(200, &set_key_tags(&kv, id, &body).await?, &rid)
        }
        (Method::Delete, ["keys", id]) => http::json(200, &revoke_key(&kv, id).await?, &rid),
        // A known path asked with another method: 405 naming the methods it takes.
        (_, ["tenants"]) => {
            super::http::drain(&mut req).await;
            Err(ApiError::method_not_allowed(&method_name, &path, "GET, HEAD"))
        }
        (_, ["tenants", _]) => {
            super::http::drain(&mut req).await;
            Err(ApiError::method_not_allowed(&method_name, &path, "DELETE, GET, HEAD, PUT"))
        }
        (_, ["tenants", _, "budgets" | "alerts"]) => {
            super::http::drain(&mut req).await;
            Err(ApiError::method_not_allowed(&method_name, &path, "GET, HEAD, PUT"))
        }
        (_, ["keys"]) => {
            super::http::drain(&mut req).await;
            Err(ApiError::method_not_allowed(&method_name, &path, "GET, HEAD, POST"))
        }
        (_, ["keys", _]) => {
            super::http::drain(&mut req).await;
            Err(ApiError::method_not_allowed(&method_name, &path, "PATCH, DELETE"))
        }
        _ => Err(ApiError::not_found_path(&path)),
    }
}

/// A KV read or write that failed: retryable, as auth's KV failures are, not a 500
/// (`tenants::store_failure`).
fn kv_error(e: impl std::fmt::Display) -> ApiError {
    crate::tenants::store_failure(&e.to_string())
}

/// Every tenant's id (`GET /admin/tenants`, and the tenants an admin's dashboard session may
/// pick from), in KV's order: by id.
pub async fn tenant_ids(kv: &KvStore) -> Result<Vec<String>, ApiError> {
    let names = super::kv_list::names_under(kv, "tenant:").await.map_err(|e| ApiError::internal(format!("KV list failed: {e}")))?;
    Ok(names.iter().map(|n| n.trim_start_matches("tenant:").to_string()).collect())
}

async fn get_tenant(kv: &KvStore, id: &str) -> Result<Option<Tenant>, ApiError> {
    if !valid_tenant_id(id) {
        return Err(ApiError::invalid_value("tenant_id", "Tenant ids are 1-64 letters, digits, '-' or '_'."));
    }
    kv.get(&format!("tenant:{id}")).json().await.map_err(kv_error)
}

/// The shape `PUT /admin/tenants/{id}/budgets` accepts (checked before it reaches the ledger).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LedgerConfigCheck {
    #[serde(default)]
    budgets: Vec<crate::budget::BudgetSpec>,
    #[serde(default)]
    limits: crate::budget::RateLimits,
}

/// `PUT /admin/tenants/{id}`: a field left out keeps its stored value (a plan change must not
/// drop the tenant's model restriction); `"allowed_models": null` lifts the restriction.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantBody {
    /// As `GET` answers it, so a record read, edited and sent back is taken; it must be the
    /// path's.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default, deserialize_with = "present")]
    allowed_models: Option<Option<Vec<String>>>,
}

/// A field that is present, as `Some` (of `None` when it is `null`); absent, `#[serde(default)]`
/// gives `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn put_tenant(kv: &KvStore, env: &Env, id: &str, body: &[u8]) -> Result<Tenant, ApiError> {
    if !valid_tenant_id(id) {
        return Err(ApiError::invalid_value("tenant_id", "Tenant ids are 1-64 letters, digits, '-' or '_'."));
    }
    if id == crate::tenants::SHARED_POLICY_NAME {
        return Err(ApiError::invalid_value("tenant_id", "'default' is reserved: policy:default is the policy of every tenant without its own."));
    }
    if kv.get(&deleted_marker(id)).text().await.map_err(kv_error)?.is_some() {
        return Err(ApiError::conflict(format!("Tenant '{id}' was deleted, and ids are not given again (its ledger and history stay under it); choose another id.")));
    }
    let b: TenantBody = crate::api::deserialize_with_path(crate::api::parse_json_object(body)?)?;
    if b.id.as_deref().is_some_and(|body_id| body_id != id) {
        return Err(ApiError::invalid_value("id", format!("The body names tenant '{}' but the path '{id}'; a tenant's id cannot change.", b.id.unwrap_or_default())));
    }
    if let Some(Some(allowed)) = &b.allowed_models {
        // A misspelt name would shut the tenant out of that model without a word.
        let cfg = super::config::load(env).await?;
        if let Some(why) = crate::tenants::unknown_allowed_model(allowed, &cfg.catalog) {
            return Err(ApiError::invalid_value("allowed_models", why));
        }
    }
    // Read from KV, which another location may serve stale for up to a minute: an update made
    // right after another one elsewhere can start from the record before it.
    let stored = get_tenant(kv, id).await?;
    let tenant = Tenant {
        id: id.to_string(),
        name: b.name.or_else(|| stored.as_ref().map(|t| t.name.clone())).unwrap_or_default(),
        plan: b.plan.or_else(|| stored.as_ref().map(|t| t.plan.clone())).unwrap_or_else(|| "free".into()),
        allowed_models: b.allowed_models.unwrap_or_else(|| stored.and_then(|t| t.allowed_models)),
    };
    let text = serde_json::to_string(&tenant).map_err(kv_error)?;
    kv.put(&format!("tenant:{id}"), text).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    Ok(tenant)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    tenant_id: String,
    #[serde(default)]
    name: String,
    /// Default attribution tags for the key's requests (`feature`, `team`, `environment`, `user`).
    #[serde(default)]
    tags: Attribution,
    /// Whether those tags are fixed: a request cannot set others in their place.
    #[serde(default)]
    lock_tags: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyTagsBody {
    /// Each left as it was when absent.
    #[serde(default)]
    tags: Option<Attribution>,
    #[serde(default)]
    lock_tags: Option<bool>,
}

async fn create_key(kv: &KvStore, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let b: KeyBody = crate::api::deserialize_with_path(crate::api::parse_json_object(body)?)?;
    validate_defaults(&b.tags)?;
    if get_tenant(kv, &b.tenant_id).await?.is_none() {
        return Err(ApiError::not_found(format!("No tenant '{}'; create it with PUT /admin/tenants/{{id}} first.", b.tenant_id)));
    }
    // A key id is 48 bits of the key's hash: a new key whose id another key already has is drawn
    // again, or revoking one by id would revoke (or leave behind) the other, maybe another tenant's.
    let (key, hash) = 'draw: {
        for _ in 0..4 {
            let mut random = [0u8; 64];
            getrandom::fill(&mut random).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
            let key = new_key(&random).ok_or_else(|| ApiError::internal("could not generate a key"))?;
            let hash = hash_key(&key);
            if kv.get(&format!("keyid:{}", key_id(&hash))).text().await.map_err(kv_error)?.is_none() {
                break 'draw (key, hash);
            }
        }
        return Err(ApiError::internal("could not draw a key whose id is free"));
    };
    let record = KeyRecord { key_id: key_id(&hash), tenant_id: b.tenant_id.clone(), name: b.name.chars().take(128).collect(), created_at: now_unix(), revoked_at: None, tags: b.tags, lock_tags: b.lock_tags };
    let text = serde_json::to_string(&record).map_err(kv_error)?;
    kv.put(&format!("key:{hash}"), text).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    kv.put(&format!("keyid:{}", record.key_id), hash.clone()).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    kv.put(&format!("{}{}", tenant_keys_prefix(&record.tenant_id), record.key_id), hash).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    Ok(json!({"key": key, "key_id": record.key_id, "tenant_id": record.tenant_id, "name": record.name, "created_at": record.created_at,
              "tags": record.tags, "lock_tags": record.lock_tags, "note": "Store this key now: only its hash is kept, it cannot be shown again."}))
}

/// TENANTS KV keys listing a tenant's keys (`<prefix><key id>` → the key's hash).
fn tenant_keys_prefix(tenant_id: &str) -> String {
    format!("tenantkey:{tenant_id}:")
}

/// The most keys `GET /admin/keys` lists in one answer: each costs up to three KV reads, and a
/// Worker invocation may make 1,000.
const KEYS_PAGE_LIMIT: usize = 100;

/// One page of a tenant's keys, in key-id order; `next_cursor` (with `has_more`) asks for the
/// next (KV's own list cursor, passed back as `cursor`).
async fn list_keys(kv: &KvStore, tenant_id: &str, limit: usize, cursor: Option<String>) -> Result<serde_json::Value, ApiError> {
    if !valid_tenant_id(tenant_id) {
        return Err(ApiError::invalid_value("tenant_id", "Tenant ids are 1-64 letters, digits, '-' or '_'."));
    }
    let mut list = kv.list().prefix(tenant_keys_prefix(tenant_id)).limit(limit as u64);
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        list = list.cursor(c);
    }
    // A cursor KV does not know is the client's mistake; KV refuses it like any failed list.
    let page = list.execute().await.map_err(|e| match e.to_string().to_ascii_lowercase().contains("cursor") {
        true => ApiError::invalid_value("cursor", "'cursor' is not one this listing gave; pass back 'next_cursor' as it came."),
        false => kv_error(e),
    })?;
    let more = !page.list_complete && page.cursor.is_some();
    let mut keys = Vec::new();
    for name in page.keys.into_iter().map(|k| k.name) {
        let Some(hash) = kv.get(&name).text().await.map_err(kv_error)? else { continue };
        if let Some(record) = kv.get(&format!("key:{hash}")).json::<KeyRecord>().await.map_err(kv_error)? {
            let record = with_revocation(kv, &hash, record).await?;
            keys.push(json!({"key_id": record.key_id, "name": record.name, "created_at": record.created_at, "revoked_at": record.revoked_at, "tags": record.tags, "lock_tags": record.lock_tags}));
        }
    }
    Ok(json!({"object": "list", "data": keys, "has_more": more, "next_cursor": if more { page.cursor } else { None }}))
}

/// The most keys one `DELETE /admin/tenants/{id}` revokes (three KV operations each, inside a
/// Worker invocation's 1,000); the answer's `has_more` asks for another call.
const KEYS_REVOKED_PER_DELETE: usize = 250;

/// TENANTS KV key of a deleted tenant's tombstone: its id is never given to a tenant again.
fn deleted_marker(id: &str) -> String {
    format!("tenant-deleted:{id}")
}

/// `DELETE /admin/tenants/{id}`: the tenant's keys revoked (a `revoked:` marker each, which
/// auth honours, then its listing entry removed, so a call that stops half way, or at
/// [`KEYS_REVOKED_PER_DELETE`], resumes where it stopped), its alert evaluation stopped, and,
/// once no key is left, its kept Responses answers swept (they hold its prompts), a tombstone
/// written and its record removed. The id is not given again:
/// a tenant created under it would inherit the deleted one's ledger (budgets, spend, usage
/// history, alert channels), and any key a location with a stale view created for it. The
/// ledger and any policy of its own are kept.
async fn delete_tenant(env: &Env, kv: &KvStore, id: &str) -> Result<serde_json::Value, ApiError> {
    let tenant = get_tenant(kv, id).await?;
    let page = kv.list().prefix(tenant_keys_prefix(id)).limit(KEYS_REVOKED_PER_DELETE as u64).execute().await.map_err(kv_error)?;
    if tenant.is_none() && page.keys.is_empty() {
        return Err(ApiError::not_found(format!("No tenant '{id}'.")));
    }
    let now = now_unix().to_string();
    let mut revoked = 0;
    for entry in &page.keys {
        if let Some(hash) = kv.get(&entry.name).text().await.map_err(kv_error)? {
            // The marker first: a delete that stops here has still revoked.
            kv.put(&super::auth::revoked_marker(&hash), now.clone()).map_err(kv_error)?.execute().await.map_err(kv_error)?;
            forget(&hash);
            revoked += 1;
        }
        kv.delete(&entry.name).await.map_err(kv_error)?;
    }
    let more = !page.list_complete;
    if !more {
        // Alerting off, watched until its open alerts are resolved where they were sent. Without
        // a LEDGER binding there is no alerting (its settings live there) to retire.
        if super::spend::ledger(env, id).is_some() && !super::alerting::retire(env, id).await? {
            super::alerting::set_watched(env, id, false).await?;
        }
        super::response_items::forget_deleted_tenant(env, id).await?;
        kv.put(&deleted_marker(id), now).map_err(kv_error)?.execute().await.map_err(kv_error)?;
        kv.delete(&format!("tenant:{id}")).await.map_err(kv_error)?;
    }
    Ok(json!({"id": id, "deleted": !more, "keys_revoked": revoked, "has_more": more,
              "note": if more { "More keys are left: call again to revoke them and finish." } else { "Its keys are revoked, its kept Responses answers are being deleted, and the id will not be given again; its ledger (budgets, spend, usage history) and any policy of its own are kept." }}))
}

/// A key's record and the hash it is stored under, by key id.
async fn key_by_id(kv: &KvStore, id: &str) -> Result<(String, KeyRecord), ApiError> {
    if !valid_key_id(id) {
        return Err(ApiError::invalid_value("key_id", "Key ids are 'key_' followed by 12 hex digits, as listed by GET /admin/keys."));
    }
    let hash = kv.get(&format!("keyid:{id}")).text().await.map_err(kv_error)?.ok_or_else(|| ApiError::not_found(format!("No key '{id}'.")))?;
    let record: KeyRecord = kv.get(&format!("key:{hash}")).json().await.map_err(kv_error)?.ok_or_else(|| ApiError::not_found(format!("No key '{id}'.")))?;
    let record = with_revocation(kv, &hash, record).await?;
    Ok((hash, record))
}

/// A key's record with its revocation time from the revocation marker, which outlives a record
/// rewritten from a stale copy (see `auth::revoked_marker`).
async fn with_revocation(kv: &KvStore, hash: &str, mut record: KeyRecord) -> Result<KeyRecord, ApiError> {
    if record.revoked_at.is_none() {
        let marker = kv.get(&super::auth::revoked_marker(hash)).text().await.map_err(kv_error)?;
        record.revoked_at = marker.and_then(|at| at.parse().ok());
    }
    Ok(record)
}

/// Replaces a key's default tags; cached lookups pick them up within the auth cache's few seconds.
async fn set_key_tags(kv: &KvStore, id: &str, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let b: KeyTagsBody = crate::api::deserialize_with_path(crate::api::parse_json_object(body)?)?;
    if b.tags.is_none() && b.lock_tags.is_none() {
        return Err(ApiError::invalid_request("Send 'tags', 'lock_tags' or both."));
    }
    if let Some(tags) = &b.tags {
        validate_defaults(tags)?;
    }
    let (hash, mut record) = key_by_id(kv, id).await?;
    record.tags = b.tags.unwrap_or(record.tags);
    record.lock_tags = b.lock_tags.unwrap_or(record.lock_tags);
    let text = serde_json::to_string(&record).map_err(kv_error)?;
    kv.put(&format!("key:{hash}"), text).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    forget(&hash);
    Ok(json!({"key_id": record.key_id, "name": record.name, "tags": record.tags, "lock_tags": record.lock_tags}))
}

async fn revoke_key(kv: &KvStore, id: &str) -> Result<serde_json::Value, ApiError> {
    let (hash, mut record) = key_by_id(kv, id).await?;
    if record.revoked_at.is_none() {
        let at = now_unix();
        // The marker first: a revocation that stops half way has still revoked.
        kv.put(&super::auth::revoked_marker(&hash), at.to_string()).map_err(kv_error)?.execute().await.map_err(kv_error)?;
        record.revoked_at = Some(at);
        let text = serde_json::to_string(&record).map_err(kv_error)?;
        kv.put(&format!("key:{hash}"), text).map_err(kv_error)?.execute().await.map_err(kv_error)?;
    }
    forget(&hash);
    Ok(json!({"key_id": record.key_id, "revoked_at": record.revoked_at}))
}
