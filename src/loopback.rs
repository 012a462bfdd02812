//! Whether a URL stays on this machine: where plain `http://` is allowed (a local receiver or
//! model host in development and tests) and everything else must be `https://`, since what goes
//! there (provider keys, alerts naming spend) must not cross a network in the clear.

/// Whether `url` is `http://` to localhost, 127.0.0.1 or ::1. The host is read as fetch's URL
/// parser reads it: a `\` ends it as `/` does (`http://evil.example\@localhost/` goes to
/// evil.example), and user info before an `@` is not the host.
pub fn is_plain_http_to_loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    matches!(host.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for url in ["http://localhost/hook", "http://127.0.0.1:8787/x", "http://[::1]:9000/", "http://user@localhost/", "http://LOCALHOST"] {
            assert!(is_plain_http_to_loopback(url), "{url}");
        }
        for url in [
            "https://localhost/",
            "http://ops.example.com/hook",
            "http://ops.example.com\\@localhost/hook",
            "http://localhost.example.com/",
            "http://127.0.0.1.example.com/",
            "http://evil.example#@localhost",
        ] {
            assert!(!is_plain_http_to_loopback(url), "{url}");
        }
    }
}
