//! Tenants and their router keys (virtual keys).
//!
//! Only a SHA-256 of each key is stored, so a leaked KV export reveals no usable key. A key is
//! shown once, when it is created. Keys look like `cr-` followed by 40 base62 characters
//! (about 238 bits), easy to recognise in a secret scanner.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "cr-";
const KEY_BODY_LEN: usize = 40;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub tenant_id: String,
    pub name: String,
    pub created_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Attribution tags for requests made with this key that do not set their own.
    #[serde(default)]
    pub tags: crate::events::Attribution,
    /// The key's tags are its requests' whatever they send (`crate::attribution::KeyTags`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lock_tags: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_plan")]
    pub plan: String,
    /// When set, the only models and aliases this tenant may call.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
}

fn default_plan() -> String {
    "free".to_string()
}

/// Hex SHA-256 of a key: what KV stores and looks up.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new key from 40+ random bytes (the edge supplies them from the platform's CSPRNG).
/// Rejection sampling keeps every character uniformly likely.
pub fn new_key(random: &[u8]) -> Option<String> {
    let mut body = String::with_capacity(KEY_BODY_LEN);
    for &b in random {
        if body.len() == KEY_BODY_LEN {
            break;
        }
        if (b as usize) < 248 {
            body.push(BASE62[b as usize % 62] as char);
        }
    }
    (body.len() == KEY_BODY_LEN).then(|| format!("{KEY_PREFIX}{body}"))
}

/// Whether a URL query parameter carries a credential: one named as credentials usually are
/// (`api_key`, `authorization`, Azure's `subscription-key`...), or a value shaped as a router key
/// under any name. Keys in URLs end up in logs, proxies and browser history, so such requests are
/// refused outright.
pub fn query_param_holds_credential(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    let named = matches!(
        name.as_str(),
        "key" | "api_key" | "apikey" | "access_token" | "token" | "authorization" | "auth" | "bearer" | "x_api_key" | "subscription_key" | "ocp_apim_subscription_key" | "password" | "secret"
    );
    named || looks_like_router_key(value)
}

/// `cr-` and [`KEY_BODY_LEN`] base62 characters, anywhere in `text` (a `Bearer ` prefix, quotes).
fn looks_like_router_key(text: &str) -> bool {
    text.match_indices(KEY_PREFIX).any(|(at, _)| {
        let body = &text.as_bytes()[at + KEY_PREFIX.len()..];
        body.len() >= KEY_BODY_LEN && body[..KEY_BODY_LEN].iter().all(u8::is_ascii_alphanumeric)
    })
}

/// A short non-secret id for a key (its hash's first 12 hex digits), for listings and revocation.
pub fn key_id(key_hash: &str) -> String {
    format!("key_{}", &key_hash[..12])
}

/// What [`key_id`] produces: `key_` and 12 lowercase hex digits. Anything else names no key
/// (and may not even fit in a KV key), so it is refused before any lookup.
pub fn valid_key_id(id: &str) -> bool {
    id.strip_prefix("key_").is_some_and(|hex| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Not a tenant id: `policy:default` is the policy of every tenant without its own, so a tenant
/// of this name would silently set everyone's.
pub const SHARED_POLICY_NAME: &str = "default";

/// Tenant ids appear in KV keys and analytics: keep them to a safe alphabet.
pub fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a tenant's `allowed_models` cannot be taken: an entry that names no model or alias of
/// the catalog (a misspelt one would shut the tenant out of the model it meant, silently).
pub fn unknown_allowed_model(allowed: &[String], catalog: &crate::catalog::Catalog) -> Option<String> {
    let unknown: Vec<&str> = allowed.iter().map(String::as_str).filter(|name| catalog.resolve(name).is_none()).collect();
    if unknown.is_empty() {
        return None;
    }
    let known: Vec<&str> = catalog.models.keys().chain(catalog.aliases.keys()).map(String::as_str).collect();
    Some(format!("'{}' names no model or alias of the catalog; known: {}.", unknown.join("', '"), known.join(", ")))
}

/// The answer to a failed read or write of the tenant and key store (KV). KV refuses with a 429
/// ("KV PUT failed: 429 Too Many Requests") a second write to a key within a second, and any call
/// past the account's daily quota (the Free plan's): told as a limit (a 429), not as a store
/// that cannot be reached; any other failure is an outage the caller may retry (a 503).
pub fn store_failure(message: &str) -> crate::api::ApiError {
    if message.contains(": 429") {
        let which = if message.contains("PUT failed") {
            "this record was written less than a second ago (one write a second to a record), or the account's daily KV write quota is spent"
        } else {
            "the account's daily KV quota is spent"
        };
        crate::api::ApiError::rate_limited(format!("The tenant and key store refused the call: {which}. Try again later."))
    } else {
        crate::api::ApiError::configuration_unavailable(&format!("tenant and key store (KV: {message})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_too_soon_after_another_is_told_to_wait_not_an_outage() {
        let soon = store_failure("KV PUT failed: 429 Too Many Requests");
        assert_eq!((soon.status, soon.code), (429, "rate_limit_exceeded"));
        assert!(soon.message.contains("less than a second ago"), "{}", soon.message);
        let quota = store_failure("KV GET failed: 429 Too Many Requests");
        assert!(quota.status == 429 && quota.message.contains("daily KV quota") && !quota.message.contains("second ago"), "{}", quota.message);
        assert_eq!(store_failure("KV GET failed: 503 (request 4291)").status, 503, "a 429 status, not the digits anywhere");
        let down = store_failure("KV GET failed: 500 Internal Server Error");
        assert_eq!((down.status, down.code), (503, "configuration_unavailable"));
        assert!(down.message.contains("KV GET failed"));
    }

    #[test]
    fn allowed_models_must_name_the_catalogs_models_or_aliases() {
        let catalog = crate::catalog::Catalog::from_json(
            r#"{"version":1,"providers":{"o":{"preset":"openai"}},"models":{"gpt-4o-mini":{"deployments":[{"provider":"o","upstream_model":"gpt-4o-mini"}]}},"aliases":{"fast":"gpt-4o-mini"}}"#,
        )
        .unwrap();
        assert_eq!(unknown_allowed_model(&["fast".into(), "gpt-4o-mini".into()], &catalog), None);
        assert_eq!(unknown_allowed_model(&[], &catalog), None, "none allowed is a choice");
        let why = unknown_allowed_model(&["fast".into(), "gpt4o-mini".into()], &catalog).unwrap();
        assert_eq!(why, "'gpt4o-mini' names no model or alias of the catalog; known: gpt-4o-mini, fast.");
    }

    #[test]
    fn hashes_are_stable_sha256() {
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn keys_use_base62_and_need_enough_randomness() {
        let random: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let key = new_key(&random).unwrap();
        assert!(key.starts_with("cr-") && key.len() == 43);
        assert!(key[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(new_key(&[1u8; 10]).is_none());
        assert!(new_key(&[255u8; 64]).is_none(), "bytes past 247 are rejected, not folded");
    }

    #[test]
    fn a_credential_in_a_query_parameter_is_found_by_its_name_or_its_shape() {
        let key = new_key(&(0..64u8).map(|i| i.wrapping_mul(37)).collect::<Vec<_>>()).unwrap();
        for name in ["key", "API_KEY", "api-key", "authorization", "x-api-key", "subscription-key", "access_token"] {
            assert!(query_param_holds_credential(name, "anything"), "{name}");
        }
        for name in ["q", "cursor", "session"] {
            assert!(query_param_holds_credential(name, &key), "a router key under '{name}'");
            assert!(query_param_holds_credential(name, &format!("Bearer {key}")), "a bearer router key under '{name}'");
        }
        for (name, value) in [("cursor", "eyJhIjoxfQ"), ("group_by", "feature"), ("from", "2026-12-01"), ("q", "cr-short"), ("tenant", "cr-")] {
            assert!(!query_param_holds_credential(name, value), "{name}={value}");
        }
    }

    #[test]
    fn key_ids_are_what_key_id_makes() {
        assert!(valid_key_id(&key_id(&hash_key("cr-anything"))));
        for bad in ["", "key_", "key_123", "key_0123456789ab0", "key_0123456789AB", "KEY_0123456789ab", "0123456789abcdef", &format!("key_{}", "f".repeat(600))] {
            assert!(!valid_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn tenant_ids_are_restricted() {
        assert!(valid_tenant_id("acme-prod_1"));
        for bad in ["", "a/b", "a:b", &"x".repeat(65)] {
            assert!(!valid_tenant_id(bad));
        }
    }
}
