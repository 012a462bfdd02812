//! The client address a per-address rate limit counts (admin calls, dashboard logins).

use std::net::{IpAddr, Ipv6Addr};

/// An IPv4 address as it is; an IPv6 address by its /64 prefix, since one host (any VPS) holds a
/// whole /64 and could otherwise take a fresh allowance per address. Anything else as given.
pub fn limiter_subject(address: &str) -> String {
    match address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(|| address.to_string(), |v4| v4.to_string()),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_of_one_64_share_an_allowance() {
        assert_eq!(limiter_subject("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(limiter_subject("2001:db8:1:2:ffff:ffff:ffff:ffff"), limiter_subject("2001:db8:1:2::9"));
        assert_ne!(limiter_subject("2001:db8:1:2::1"), limiter_subject("2001:db8:1:3::1"));
        assert_eq!(limiter_subject("203.0.113.7"), "203.0.113.7");
        assert_eq!(limiter_subject("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(limiter_subject(""), "");
    }
}
