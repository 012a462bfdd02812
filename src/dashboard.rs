//! The dashboard's sessions, in plain Rust: the login body, the session cookie and the record a
//! session keeps in KV. The edge (`edge::dashboard`, `edge::auth`) does the I/O.
//!
//! A browser never holds a router key after logging in: `POST /dashboard/login` checks the key
//! (or the admin token) once and sets an HttpOnly, Secure, SameSite=Strict cookie holding a
//! random token; KV keeps `session:<sha256(token)>` → [`SessionRecord`] with a 12 h expiry. The
//! token itself is stored nowhere.

use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::tenants::hash_key;

/// `__Host-`: browsers take the cookie only from this host, Secure, with `Path=/` and no
/// `Domain`, so a page on a sibling subdomain of a custom domain cannot plant its own session
/// (another tenant's, its owner's) for the dashboard to read first.
pub const SESSION_COOKIE: &str = "__Host-costrouter_session";
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// Bytes of randomness in a session token (hex-encoded in the cookie).
pub const TOKEN_BYTES: usize = 32;
/// Largest login body read.
pub const LOGIN_BODY_LIMIT: usize = 4096;

/// What a session stands for. It remembers which key opened it (by hash, as KV stores keys):
/// revoking a tenant key, or rotating the admin token, ends the sessions it opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub key_hash: Option<String>,
    #[serde(default)]
    pub admin: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The KV key for a session token.
pub fn session_kv_key(token: &str) -> String {
    format!("session:{}", hash_key(token))
}

/// A token as the cookie carries it: `2 × TOKEN_BYTES` lowercase hex digits. Anything else is
/// not looked up.
pub fn valid_token(token: &str) -> bool {
    token.len() == 2 * TOKEN_BYTES && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn set_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={SESSION_TTL_SECS}; HttpOnly; Secure; SameSite=Strict")
}

pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|part| part.trim().split_once('=')).find(|(k, _)| k.trim() == name).map(|(_, v)| v.trim())
}

/// `application/x-www-form-urlencoded` pairs.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k, true), percent_decode(v, true))
    }).collect()
}

/// `%XX` escapes decoded; `+` is a space in a form, itself in a URL path.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => match s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a login came from an HTML form (answer with a page) rather than a script (JSON).
pub fn is_form(content_type: &str) -> bool {
    content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
}

/// The key a login body carries: a form field `key`, or JSON `{"key": "..."}`.
pub fn login_key(content_type: &str, body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid_request("The login body is not UTF-8."))?;
    let key = if is_form(content_type) {
        parse_form(text).into_iter().find(|(k, _)| k == "key").map(|(_, v)| v)
    } else if content_type.is_empty() || content_type.to_ascii_lowercase().contains("json") {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| ApiError::invalid_request("The login body must be JSON {\"key\": \"...\"} or a form with a 'key' field."))?;
        v.get("key").and_then(|k| k.as_str()).map(str::to_string)
    } else {
        return Err(ApiError::unsupported_media_type("Send the login as application/x-www-form-urlencoded or application/json."));
    };
    let key = key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).ok_or_else(|| ApiError::missing_field("key"))?;
    if key.len() > 256 {
        return Err(ApiError::invalid_api_key());
    }
    Ok(key)
}

/// A session cookie that names no live session (expired, logged out, or never issued).
pub fn invalid_session() -> ApiError {
    ApiError {
        status: 401,
        error_type: crate::api::ErrorType::AuthenticationError,
        code: "invalid_session",
        param: None,
        message: "The dashboard session has expired or was ended; log in again at /dashboard.".into(),
        allow: None,
        final_answer: false,
    }
}

/// Whether a state-changing dashboard request (login, logout) was sent by a page of another
/// site (login CSRF): browsers say so in `Sec-Fetch-Site`, which no page can set. A browser too
/// old to send it still sends `Origin` on a cross-origin POST, which must then be the dashboard's
/// own (`own_origin`, `scheme://host[:port]` of the request). Requests with neither (curl,
/// scripts) are not a browser being tricked; the session cookie's SameSite=Strict covers the rest.
pub fn cross_site(sec_fetch_site: Option<&str>, origin: Option<&str>, own_origin: &str) -> bool {
    match sec_fetch_site {
        Some(v) => !matches!(v.trim().to_ascii_lowercase().as_str(), "same-origin" | "none"),
        // "null" is what an opaque origin (a sandboxed frame, a file) sends: not ours either.
        None => origin.is_some_and(|o| !o.trim().eq_ignore_ascii_case(own_origin)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_locked_down() {
        let c = set_cookie(&"ab".repeat(32));
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        assert_eq!(cookie_value("a=1; __Host-costrouter_session=xyz ; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value("costrouter_session=planted", SESSION_COOKIE), None, "only the __Host- cookie counts");
        assert_eq!(cookie_value("xcostrouter_session=1", SESSION_COOKIE), None);
        assert_eq!(cookie_value("", SESSION_COOKIE), None);
    }

    #[test]
    fn tokens_are_64_hex_digits() {
        assert!(valid_token(&"0f".repeat(32)));
        assert!(!valid_token(&"0F".repeat(32)));
        assert!(!valid_token(&"0f".repeat(31)));
        assert!(!valid_token("session:abc"));
        assert_eq!(session_kv_key("t"), format!("session:{}", hash_key("t")));
    }

    #[test]
    fn login_bodies_form_and_json() {
        let form = "application/x-www-form-urlencoded";
        assert_eq!(login_key(form, b"key=cr-abc%2B1+2&x=y").unwrap(), "cr-abc+1 2");
        assert_eq!(login_key(form, b"key=%zz%4").unwrap(), "%zz%4");
        assert_eq!(login_key("application/json", br#"{"key":" cr-abc "}"#).unwrap(), "cr-abc");
        assert_eq!(login_key("", br#"{"key":"k"}"#).unwrap(), "k");
        assert_eq!(login_key(form, b"other=1").unwrap_err().status, 400);
        assert_eq!(login_key("application/json", b"{").unwrap_err().status, 400);
        assert_eq!(login_key("application/json", br#"{"key":5}"#).unwrap_err().status, 400);
        assert_eq!(login_key("text/html", b"key=x").unwrap_err().status, 415);
        assert_eq!(login_key(form, format!("key={}", "a".repeat(300)).as_bytes()).unwrap_err().status, 401);
        assert_eq!(login_key(form, &[0xff, 0xfe]).unwrap_err().status, 400);
    }

    #[test]
    fn cross_site_posts() {
        let own = "https://router.example.com";
        assert!(!cross_site(None, None, own));
        assert!(!cross_site(Some("same-origin"), None, own));
        assert!(!cross_site(Some("none"), None, own));
        assert!(cross_site(Some("cross-site"), None, own));
        assert!(cross_site(Some("same-site"), None, own));
        // A browser without Sec-Fetch-Site: its Origin decides.
        assert!(!cross_site(None, Some("https://router.example.com"), own));
        assert!(cross_site(None, Some("https://evil.example"), own));
        assert!(cross_site(None, Some("null"), own));
    }
}
