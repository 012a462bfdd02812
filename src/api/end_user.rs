//! The end-user id a client names (`user`, or `safety_identifier`, which OpenAI now asks for in
//! its place), and the id providers are sent instead.
//!
//! Providers use this id to attribute abuse to one end user of an account, and the router calls
//! them from one account for every tenant: sent as it came, two tenants' `"user-1"` would be one
//! user to the provider, and one tenant's abuse could get another's user blocked. It is also
//! often an email address, which OpenAI and Anthropic ask not to be sent. So providers get a
//! hash of the tenant and the id: the same end user of the same tenant keeps the same id there
//! (the provider's per-user view still works), and nothing else can be read from it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::ApiError;

/// The field OpenAI introduced to replace `user` for abuse tracking; kept in a request's `extra`.
pub const SAFETY_IDENTIFIER: &str = "safety_identifier";
const MAX_ID_CHARS: usize = 256;
/// `eu_` + 32 hex characters fits OpenAI's 64-character limit on `safety_identifier`.
const PROVIDER_ID_PREFIX: &str = "eu_";

/// Refuses an end-user id that is not a string of at most 256 characters, naming the field.
pub fn validate(user: &Option<String>, extra: &Map<String, Value>) -> Result<(), ApiError> {
    if user.as_ref().is_some_and(|u| u.chars().count() > MAX_ID_CHARS) {
        return Err(ApiError::invalid_value("user", format!("'user' must be at most {MAX_ID_CHARS} characters.")));
    }
    match extra.get(SAFETY_IDENTIFIER) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => Ok(()),
        Some(_) => Err(ApiError::invalid_value(SAFETY_IDENTIFIER, format!("'{SAFETY_IDENTIFIER}' must be a string of at most {MAX_ID_CHARS} characters."))),
    }
}

/// The end user the client names: `user`, else `safety_identifier`.
pub fn named<'a>(user: &'a Option<String>, extra: &'a Map<String, Value>) -> Option<&'a str> {
    user.as_deref().or_else(|| extra.get(SAFETY_IDENTIFIER).and_then(Value::as_str))
}

/// The id a provider is sent for `id`, an end user of `tenant_id`.
pub fn provider_id(tenant_id: &str, id: &str) -> String {
    let mut hash = Sha256::new();
    // The tenant id has no NUL (it is validated), so the pair cannot be read two ways.
    hash.update(tenant_id.as_bytes());
    hash.update([0]);
    hash.update(id.as_bytes());
    let digest = hash.finalize();
    let mut out = String::from(PROVIDER_ID_PREFIX);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Replaces the client's end-user ids with the ids providers are sent ([`provider_id`]).
pub fn scope_for_provider(user: &mut Option<String>, extra: &mut Map<String, Value>, tenant_id: &str) {
    if let Some(u) = user.as_mut() {
        *u = provider_id(tenant_id, u);
    }
    if let Some(Value::String(s)) = extra.get_mut(SAFETY_IDENTIFIER) {
        *s = provider_id(tenant_id, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extra(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn providers_see_one_opaque_id_per_tenant_and_end_user() {
        let (mut user, mut ext) = (Some("ana@example.com".to_string()), extra(json!({"safety_identifier": "ana@example.com", "seed": 1})));
        scope_for_provider(&mut user, &mut ext, "acme");
        let sent = user.clone().unwrap();
        assert!(sent.starts_with("eu_") && sent.len() == 35 && !sent.contains("ana"), "{sent}");
        assert_eq!(ext["safety_identifier"], json!(sent), "both fields name the same person");
        assert_eq!(ext["seed"], json!(1));
        assert_eq!(provider_id("acme", "ana@example.com"), sent, "stable, so the provider's per-user view still works");
        assert_ne!(provider_id("globex", "ana@example.com"), sent, "another tenant's user of the same name is someone else");
        assert_ne!(provider_id("acme", "bob"), sent);
        assert_ne!(provider_id("acm", "eana@example.com"), provider_id("acme", "ana@example.com"), "the boundary between tenant and id counts");
    }

    #[test]
    fn absent_ids_stay_absent_and_bad_ones_are_refused() {
        let (mut user, mut ext) = (None, extra(json!({})));
        scope_for_provider(&mut user, &mut ext, "acme");
        assert!(user.is_none() && ext.is_empty());
        assert_eq!(named(&None, &extra(json!({"safety_identifier": "u-9"}))), Some("u-9"));
        assert_eq!(named(&Some("u-1".into()), &extra(json!({"safety_identifier": "u-9"}))), Some("u-1"));
        assert!(validate(&None, &extra(json!({"safety_identifier": null}))).is_ok());
        let e = validate(&None, &extra(json!({"safety_identifier": 7}))).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("safety_identifier")));
        assert!(validate(&Some("x".repeat(257)), &Map::new()).is_err());
        assert!(validate(&Some("é".repeat(256)), &Map::new()).is_ok(), "characters, not bytes");
    }
}
