//! Router configuration from KV, validated, cached per isolate.
//!
//! The catalog and the pricing table live in the `CONFIG` KV namespace (`catalog`, `pricing`),
//! seeded from `kv-seed/`. Each isolate keeps the last valid copy for [`ttl_ms`] so a
//! request does not pay a KV read; a document that fails validation is logged (without its
//! content) and the last valid copy, or the copy built into the worker, stays in use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use worker::Env;

use crate::api::ApiError;
use crate::catalog::Catalog;
use crate::pricing::PriceTable;
use crate::routing::policy::Policy;

use super::http::now_ms;

/// How long an isolate keeps the catalog, pricing and policies it read, unless the
/// `CONFIG_TTL_SECS` var says otherwise.
const DEFAULT_CONFIG_TTL_MS: f64 = 30_000.0;
/// After a failed KV read, the copy kept is asked for again this soon, not after the whole TTL
/// (and not on every request).
const RETRY_READ_AFTER_MS: f64 = 5_000.0;

thread_local! {
    /// [`ttl_ms`], read once per isolate (vars are fixed for an isolate's life).
    static CONFIG_TTL_MS: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// How long a copy read from KV is kept: the `CONFIG_TTL_SECS` var (seconds, fractions allowed,
/// at most an hour), else 30 s. It is how soon a change to the catalog, pricing or a policy
/// reaches every isolate; the integration tests shorten it to see a change applied.
fn ttl_ms(env: &Env) -> f64 {
    CONFIG_TTL_MS.with(|ttl| {
        ttl.get().unwrap_or_else(|| {
            let from_var = env.var("CONFIG_TTL_SECS").ok().and_then(|v| v.to_string().trim().parse::<f64>().ok());
            // Longer than an hour is held to an hour (a typo of 7200 should not become 30 s);
            // zero, negative or unreadable is the default.
            let ms = from_var.filter(|s| *s > 0.0).map_or(DEFAULT_CONFIG_TTL_MS, |s| s.min(3_600.0) * 1_000.0);
            ttl.set(Some(ms));
            ms
        })
    })
}

/// The time to stamp a copy kept after a failed read with, so that it expires in
/// [`RETRY_READ_AFTER_MS`] (or its TTL, if shorter).
fn stamp_to_retry_soon(env: &Env) -> f64 {
    let ttl = ttl_ms(env);
    now_ms() - ttl + RETRY_READ_AFTER_MS.min(ttl)
}
const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

pub struct RouterConfig {
    pub catalog: Catalog,
    pub prices: PriceTable,
    pub max_body_bytes: usize,
}

/// The valid copy an isolate keeps: when it was read, the config, and the fingerprint of the
/// catalog and pricing texts it was parsed from (kept together: two requests reloading at once
/// must not pair one's config with the other's texts).
struct Kept {
    read_at: f64,
    config: Rc<RouterConfig>,
    parsed_from: u64,
}

thread_local! {
    static CACHED: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

fn texts_fingerprint(catalog: &str, pricing: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x636f_6e66_6967).build_hasher();
    h.write(catalog.as_bytes());
    h.write_u8(0xff); // not valid UTF-8: no text ends where the other starts
    h.write(pricing.as_bytes());
    h.finish()
}

const BUILT_IN_CATALOG: &str = include_str!("../../kv-seed/catalog.json");
const BUILT_IN_PRICING: &str = include_str!("../../kv-seed/pricing.json");

pub async fn load(env: &Env) -> Result<Rc<RouterConfig>, ApiError> {
    let ttl = ttl_ms(env);
    if let Some(cfg) = CACHED.with(|c| c.borrow().as_ref().filter(|k| now_ms() - k.read_at < ttl).map(|k| k.config.clone())) {
        return Ok(cfg);
    }
    let previous = CACHED.with(|c| c.borrow().as_ref().map(|k| (k.config.clone(), k.parsed_from)));
    let max_body_bytes = env.var("MAX_BODY_BYTES").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(DEFAULT_MAX_BODY_BYTES);
    // Without a CONFIG namespace (a bare `wrangler dev`) the built-in seed applies. A read that
    // fails is not an absent document: the seed's providers and regions are not the operator's.
    let texts = match env.kv("CONFIG") {
        Ok(kv) => match (kv.get("catalog").text().await, kv.get("pricing").text().await) {
            (Ok(catalog), Ok(pricing)) => Some((catalog, pricing)),
            _ => None,
        },
        Err(_) => Some((None, None)),
    };
    let Some((catalog_text, pricing_text)) = texts else {
        worker::console_error!("the configuration could not be read from KV; keeping the previous one");
        let (config, parsed_from) = previous.ok_or_else(|| ApiError::configuration_unavailable("catalog and pricing"))?;
        CACHED.with(|c| *c.borrow_mut() = Some(Kept { read_at: stamp_to_retry_soon(env), config: config.clone(), parsed_from }));
        return Ok(config);
    };
    let (catalog_text, pricing_text) = (catalog_text.as_deref().unwrap_or(BUILT_IN_CATALOG), pricing_text.as_deref().unwrap_or(BUILT_IN_PRICING));
    // Unchanged since the copy kept (the usual case, every TTL): not parsed and checked again,
    // which for a LiteLLM-sized price table is tens of milliseconds on the request that comes.
    let fingerprint = texts_fingerprint(catalog_text, pricing_text);
    if let Some((config, _)) = previous.as_ref().filter(|(_, parsed_from)| *parsed_from == fingerprint) {
        CACHED.with(|c| *c.borrow_mut() = Some(Kept { read_at: now_ms(), config: config.clone(), parsed_from: fingerprint }));
        return Ok(config.clone());
    }
    let (cfg, parsed_from) = match parse(catalog_text, pricing_text) {
        Ok((catalog, prices)) => (Rc::new(RouterConfig { catalog, prices, max_body_bytes }), fingerprint),
        Err(problem) => {
            // Without a valid copy of its own, an isolate does not route by the built-in seed,
            // whose providers and regions are not the operator's (a model held to an EU
            // deployment would go to the seed's US one), as when the read fails; it asks again
            // on the next request.
            let Some(previous) = previous else {
                worker::console_error!("configuration in KV rejected, and no valid one yet: {problem}");
                return Err(ApiError::configuration_unavailable("catalog and pricing"));
            };
            worker::console_error!("configuration in KV rejected, keeping the previous one: {problem}");
            previous
        }
    };
    CACHED.with(|c| *c.borrow_mut() = Some(Kept { read_at: now_ms(), config: cfg.clone(), parsed_from }));
    Ok(cfg)
}

fn parse(catalog: &str, pricing: &str) -> Result<(Catalog, PriceTable), String> {
    let catalog = Catalog::from_json(catalog).map_err(|e| e.to_string())?;
    let prices = PriceTable::from_json(pricing).map_err(|e| e.to_string())?;
    catalog.check_prices(&prices).map_err(|e| e.to_string())?;
    for defect in &prices.defects {
        worker::console_warn!("pricing defect (costrouter policy check refuses it; the rest is served): {defect}");
    }
    Ok((catalog, prices))
}

thread_local! {
    /// Provider keys by secret name, as read from this isolate's `env`. Secrets and vars are
    /// fixed for an isolate's life (changing one deploys a new version, in new isolates), and
    /// each read from `env` is several calls into JS; routing asks for every catalog provider's
    /// key on every request.
    static PROVIDER_KEYS: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
}

/// A provider's key from its Worker secret (or a plain var in local development). Every key
/// read is registered for redaction, so no upstream text that echoes it reaches a client.
pub fn provider_key(env: &Env, secret_name: &str) -> Option<String> {
    if let Some(known) = PROVIDER_KEYS.with(|k| k.borrow().get(secret_name).cloned()) {
        // Registered again: the redaction list keeps only the latest few dozen.
        if let Some(key) = &known {
            crate::providers::register_secret(key);
        }
        return known;
    }
    let key = env
        .secret(secret_name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(secret_name).map(|v| v.to_string()))
        .ok()
        .filter(|k| !k.trim().is_empty());
    if let Some(key) = &key {
        crate::providers::register_secret(key);
    }
    PROVIDER_KEYS.with(|k| k.borrow_mut().insert(secret_name.to_string(), key.clone()));
    key
}

thread_local! {
    /// By tenant: when read, the KV key it came from (`None`: the built-in default), the policy.
    static POLICIES: RefCell<HashMap<String, CachedPolicy>> = RefCell::new(HashMap::new());
}

const BUILT_IN_POLICY: &str = include_str!("../../policies/default.toml");

/// The tenant's policy (`policy:<tenant>` in CONFIG), else `policy:default`, else the built-in
/// default. The first of those KV holds is the one that applies: if it fails validation against
/// the catalog (a typo pushed, or a catalog change that removed a model it names), the isolate
/// keeps the last valid version it had, and without one refuses the tenant's requests. Falling
/// through to a more general policy would silently drop the tenant's residency and block rules.
/// The last field: the policy is held over (KV's copy failed to read or to validate), so it is
/// the only valid copy the isolate has, kept when the cache is trimmed.
type CachedPolicy = (f64, Option<String>, Rc<Policy>, bool);

pub async fn policy_for(env: &Env, cfg: &RouterConfig, tenant: &str) -> Result<Rc<Policy>, ApiError> {
    let cached = POLICIES.with(|c| c.borrow().get(tenant).cloned());
    let ttl = ttl_ms(env);
    if let Some((_, _, p, _)) = cached.as_ref().filter(|(at, _, _, _)| now_ms() - at < ttl) {
        return Ok(p.clone());
    }
    let known = &cfg.catalog;
    let mut chosen = None;
    if let Ok(kv) = env.kv("CONFIG") {
        for key in [format!("policy:{tenant}"), format!("policy:{}", crate::tenants::SHARED_POLICY_NAME)] {
            let read = kv.get(&key).text().await;
            if read.is_err() {
                // Not an absent policy: falling through to a more general one would drop this
                // tenant's residency and block rules for as long as KV misbehaves.
                worker::console_error!("the policy {key} could not be read from KV; keeping the last one");
                let (_, source, last, _) = cached.ok_or_else(|| ApiError::configuration_unavailable("routing policy"))?;
                POLICIES.with(|c| c.borrow_mut().insert(tenant.to_string(), (stamp_to_retry_soon(env), source, last.clone(), true)));
                return Ok(last);
            }
            if let Ok(Some(text)) = read {
                match Policy::from_toml(&key, &text, known) {
                    Ok(p) => {
                        // What loaded but may be a typo (a when.model the catalog lacks): said where
                        // an operator's log tail sees it, not only by `costrouter policy check`.
                        if cached.is_none() {
                            for note in &p.notes {
                                worker::console_warn!("policy note: {note}");
                            }
                            for defect in &p.defects {
                                worker::console_warn!("policy defect (costrouter policy check refuses it; the rest is served): {defect}");
                            }
                        }
                        chosen = Some((Some(key), Rc::new(p), false));
                    }
                    Err(e) => {
                        worker::console_error!("policy rejected: {e}");
                        // Only a valid version of the same policy: the default this isolate
                        // served before the tenant had a policy of its own lacks its rules.
                        let last_valid = cached.filter(|(_, source, _, _)| source.as_deref() == Some(key.as_str())).map(|(_, _, p, _)| p).ok_or_else(|| {
                            ApiError::configuration(format!("This tenant's routing policy ({key}) failed validation, so no request is routed until it is fixed: {e}"))
                        })?;
                        chosen = Some((Some(key), last_valid, true));
                    }
                }
                break;
            }
        }
    }
    let (source, policy, held) = chosen.unwrap_or_else(|| {
        (None, Rc::new(Policy::from_toml("policies/default.toml", BUILT_IN_POLICY, known).unwrap_or_else(|_| fallback_policy())), false)
    });
    POLICIES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 10_000 {
            // Trimmed of what KV gives again, not of held-over copies: another tenant's traffic
            // must not turn a tenant with a broken policy pushed from its last valid one to 500s.
            c.retain(|_, (_, _, _, held)| *held);
        }
        c.insert(tenant.to_string(), (now_ms(), source, policy.clone(), held));
    });
    Ok(policy)
}

/// Used only if the built-in default cannot load (it is tested natively, so this is belt and braces).
fn fallback_policy() -> Policy {
    use crate::routing::policy::{Action, Condition, Route, Rule, Strategy};
    Policy {
        notes: Vec::new(),
        defects: Vec::new(),
        name: "built-in".into(),
        description: String::new(),
        hosts: Vec::new(),
        cache: Default::default(),
        responses: Default::default(),
        rules: vec![Rule {
            name: "requested".into(),
            line: 0,
            when: Condition::default(),
            action: Action::Route(Route { strategy: Strategy::Requested, candidates: vec![], weights: vec![], regions: vec![], min_logprob: None, buffer_streams: false }),
        }],
    }
}
