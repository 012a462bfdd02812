//! Attribution tags: which feature, team, environment and user a request's spend belongs to.
//!
//! Each tag comes from the first source that names it:
//! 1. the `x-costrouter-feature`, `-team`, `-env`, `-user` headers;
//! 2. the request body's `metadata` object (`feature`, `team`, `env` or `environment`, `user`),
//!    which OpenAI's own API accepts, so SDK users can tag without custom headers;
//! 3. for the user only, the OpenAI `user` field, when it is a usable tag (it is free text);
//! 4. the defaults stored on the router key (`POST /admin/keys` `tags`), so a key issued to one
//!    team's service is attributed without any client change.
//!
//! A malformed tag in a header or in `metadata` is refused rather than dropped: silently
//! dropping it would misfile spend. Key defaults are validated when the key is created.

use serde_json::Value;

use crate::api::ApiError;
use crate::events::Attribution;

/// Longest tag accepted, in bytes.
pub const TAG_MAX_LEN: usize = 64;

/// Letters, digits and `- _ . : @ /`, 1 to [`TAG_MAX_LEN`] bytes: safe in headers, SQL group keys
/// and Analytics Engine blobs, and never free text that could carry a prompt.
pub fn valid_tag(value: &str) -> bool {
    !value.is_empty() && value.len() <= TAG_MAX_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@/".contains(&b))
}

/// What a tag must be, for messages.
pub const TAG_RULE: &str = "1-64 characters of letters, digits and - _ . : @ /";
const _: () = assert!(TAG_MAX_LEN == 64, "TAG_RULE states the length");


/// The four tags, by the header that sets each and the `metadata` keys that may.
const TAGS: [(&str, &[&str]); 4] = [
    ("x-costrouter-feature", &["feature"]),
    ("x-costrouter-team", &["team"]),
    ("x-costrouter-env", &["env", "environment"]),
    ("x-costrouter-user", &["user"]),
];

/// The headers [`resolve`] reads.
pub fn header_names() -> impl Iterator<Item = &'static str> {
    TAGS.iter().map(|(header, _)| *header)
}

fn slot(a: &mut Attribution, i: usize) -> &mut String {
    match i {
        0 => &mut a.feature,
        1 => &mut a.team,
        2 => &mut a.environment,
        _ => &mut a.user,
    }
}

/// A key's own tags, and whether a request may set others in their place. A locked key's tags
/// (`lock_tags` when the key is created) are the request's whatever it sends: team, feature and
/// environment budgets and rules then bind its holder. Tags the key leaves empty the request may
/// still set.
#[derive(Debug, Clone, Copy)]
pub struct KeyTags<'a> {
    pub tags: &'a Attribution,
    pub locked: bool,
}

/// Resolves a request's tags. `header` reads a request header by lower-case name; `metadata` is
/// the body's `metadata` field if any; `body_user` the OpenAI `user` field.
pub fn resolve(
    header: impl Fn(&str) -> Option<String>,
    metadata: Option<&Value>,
    body_user: Option<&str>,
    key: KeyTags,
) -> Result<Attribution, ApiError> {
    let mut tags = Attribution::default();
    let metadata = metadata.and_then(Value::as_object);
    for (i, (header_name, metadata_keys)) in TAGS.iter().enumerate() {
        let from_header = match header(header_name) {
            None => None,
            Some(v) if valid_tag(v.trim()) => Some(v.trim().to_string()),
            Some(_) => return Err(ApiError::invalid_value(header_name, format!("Header '{header_name}' must be {}.", TAG_RULE))),
        };
        let from_metadata = match metadata_keys.iter().find_map(|k| metadata.and_then(|m| m.get(*k)).map(|v| (*k, v))) {
            None => None,
            Some((_, Value::String(s))) if valid_tag(s) => Some(s.clone()),
            // OpenAI takes any string up to 512 characters in `metadata` (`"user": "Jane Doe"`):
            // a request it accepts is not refused here; the value is just not a tag.
            Some((_, Value::String(_))) => None,
            Some((k, _)) => {
                return Err(ApiError::invalid_value(&format!("metadata.{k}"), format!("'metadata.{k}' is an attribution tag and must be a string of {}.", TAG_RULE)))
            }
        };
        let from_user_field = (i == 3).then(|| body_user.filter(|u| valid_tag(u)).map(str::to_string)).flatten();
        let default = Some(slot(&mut key.tags.clone(), i).clone()).filter(|d| !d.is_empty());
        *slot(&mut tags, i) = match default {
            Some(fixed) if key.locked => fixed,
            default => from_header.or(from_metadata).or(from_user_field).or(default).unwrap_or_default(),
        };
    }
    Ok(tags)
}

/// Checks a key's default tags (from the admin API), naming the field at fault.
pub fn validate_defaults(tags: &Attribution) -> Result<(), ApiError> {
    for (i, field) in ["feature", "team", "environment", "user"].iter().enumerate() {
        let v = slot(&mut tags.clone(), i).clone();
        if !v.is_empty() && !valid_tag(&v) {
            return Err(ApiError::invalid_value(&format!("tags.{field}"), format!("'tags.{field}' must be {}.", TAG_RULE)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn open(tags: &Attribution) -> KeyTags<'_> {
        KeyTags { tags, locked: false }
    }

    fn tags(feature: &str, team: &str, environment: &str, user: &str) -> Attribution {
        Attribution { feature: feature.into(), team: team.into(), environment: environment.into(), user: user.into() }
    }

    #[test]
    fn header_names_are_every_header_resolve_reads() {
        // The edge fetches these in one call up front; a header read but not listed would cost a call of its own.
        let asked = std::cell::RefCell::new(Vec::new());
        let record = |name: &str| {
            asked.borrow_mut().push(name.to_string());
            None
        };
        resolve(record, None, None, open(&Attribution::default())).unwrap();
        assert_eq!(*asked.borrow(), header_names().collect::<Vec<_>>());
    }

    #[test]
    fn a_locked_keys_tags_cannot_be_overridden_but_its_empty_ones_can_be_set() {
        let key = tags("", "payments", "prod", "");
        let sent = headers(&[("x-costrouter-team", "other"), ("x-costrouter-env", "dev"), ("x-costrouter-feature", "checkout")]);
        let got = resolve(sent, Some(&json!({"team": "x"})), Some("u-1"), KeyTags { tags: &key, locked: true }).unwrap();
        assert_eq!(got, tags("checkout", "payments", "prod", "u-1"));
        // A malformed header is still refused, locked or not: the client should hear it.
        assert!(resolve(headers(&[("x-costrouter-team", "a b")]), None, None, KeyTags { tags: &key, locked: true }).is_err());
    }

    #[test]
    fn headers_then_metadata_then_user_field_then_key_defaults() {
        let defaults = tags("default-feature", "platform", "prod", "svc-account");
        let none = resolve(headers(&[]), None, None, open(&defaults)).unwrap();
        assert_eq!(none, defaults, "an untagged request takes the key's defaults");

        let meta = json!({"feature": "search", "environment": "staging"});
        let got = resolve(headers(&[("x-costrouter-feature", "checkout")]), Some(&meta), Some("u-42"), open(&defaults)).unwrap();
        assert_eq!(got, tags("checkout", "platform", "staging", "u-42"));

        let got = resolve(headers(&[("x-costrouter-user", "u-1")]), Some(&json!({"user": "u-2", "env": "dev"})), Some("u-3"), open(&Attribution::default())).unwrap();
        assert_eq!(got, tags("", "", "dev", "u-1"));
    }

    #[test]
    fn free_text_user_field_is_ignored_but_bad_tags_are_refused() {
        let got = resolve(headers(&[]), None, Some("Jane Doe <jane@example.com>"), open(&tags("", "", "", "svc"))).unwrap();
        assert_eq!(got.user, "svc", "a free-text user field is not a tag; the key default stands");

        let e = resolve(headers(&[("x-costrouter-team", "a b")]), None, None, open(&Attribution::default())).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("x-costrouter-team")));
        let e = resolve(headers(&[]), Some(&json!({"feature": 7})), None, open(&Attribution::default())).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("metadata.feature"));
        let long = "x".repeat(TAG_MAX_LEN + 1);
        let got = resolve(headers(&[]), Some(&json!({"env": long, "user": "Jane Doe", "feature": "summarize article"})), None, open(&tags("", "", "prod", "svc"))).unwrap();
        assert_eq!(got, tags("", "", "prod", "svc"), "free text OpenAI accepts in metadata is not a tag, not an error");
        assert!(resolve(headers(&[]), Some(&json!({"other": "anything goes"})), None, open(&Attribution::default())).is_ok(), "other metadata is not ours");
        assert!(resolve(headers(&[]), Some(&json!("not an object")), None, open(&Attribution::default())).is_ok());
    }

    #[test]
    fn key_defaults_are_validated_by_field() {
        assert!(validate_defaults(&tags("search", "", "prod", "")).is_ok());
        let e = validate_defaults(&tags("", "team with spaces", "", "")).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tags.team"));
    }
}
