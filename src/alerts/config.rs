//! A tenant's alert settings: destinations and the rules' thresholds, validated at load.

use serde::{Deserialize, Serialize};

use super::Severity;

/// Set with `PUT /admin/tenants/{id}/alerts`; every rule has a default, so `{"destinations":
/// {...}}` alone is a working configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    pub destinations: Destinations,
    pub spend_spike: SpikeRule,
    pub error_storm: StormRule,
    /// Percentages of each budget's hard limit that raise an alert when crossed.
    pub budget_thresholds: BudgetThresholds,
    pub circuit_open: CircuitRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Destinations {
    /// A Slack incoming-webhook URL.
    pub slack_webhook_url: Option<String>,
    /// Any HTTPS endpoint; each delivery is signed with `webhook_secret` (see `notify::sign`).
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// A PagerDuty Events API v2 integration (routing) key.
    pub pagerduty_routing_key: Option<String>,
    /// The least severe alert each destination is sent. PagerDuty pages someone for every event,
    /// whatever its severity, so it takes warnings and above unless told otherwise (a budget at
    /// 50% is `info`); the others take everything.
    pub slack_min_severity: Severity,
    pub webhook_min_severity: Severity,
    pub pagerduty_min_severity: Severity,
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations {
            slack_webhook_url: None,
            webhook_url: None,
            webhook_secret: None,
            pagerduty_routing_key: None,
            slack_min_severity: Severity::Info,
            webhook_min_severity: Severity::Info,
            pagerduty_min_severity: Severity::Warning,
        }
    }
}

impl Destinations {
    /// The destinations configured, by name, each with the least severe alert it is sent.
    pub fn configured(&self) -> Vec<(&'static str, Severity)> {
        [
            ("slack", self.slack_webhook_url.is_some(), self.slack_min_severity),
            ("webhook", self.webhook_url.is_some(), self.webhook_min_severity),
            ("pagerduty", self.pagerduty_routing_key.is_some(), self.pagerduty_min_severity),
        ]
        .into_iter()
        .filter_map(|(name, on, min)| on.then_some((name, min)))
        .collect()
    }
}

/// Spend over the last `window_minutes`, per feature, against the same feature's own average
/// per window over the `baseline_minutes` before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpikeRule {
    pub enabled: bool,
    /// The window's spend must be at least this multiple of the baseline average...
    pub factor: f64,
    /// ...and at least this many dollars, so that small absolute changes never page anyone.
    pub min_usd: f64,
    pub window_minutes: u32,
    pub baseline_minutes: u32,
}

impl Default for SpikeRule {
    fn default() -> Self {
        SpikeRule { enabled: true, factor: 3.0, min_usd: 1.0, window_minutes: 5, baseline_minutes: 60 }
    }
}

/// Failed requests and fallback retries over the spike rule's window, across the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormRule {
    pub enabled: bool,
    /// Fewer requests than this in the window never make a storm.
    pub min_requests: u64,
    /// Share of requests that failed (0–1).
    pub error_rate: f64,
    /// Fallback retries per request.
    pub retries_per_request: f64,
}

impl Default for StormRule {
    fn default() -> Self {
        StormRule { enabled: true, min_requests: 20, error_rate: 0.5, retries_per_request: 1.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BudgetThresholds(pub Vec<u32>);

impl Default for BudgetThresholds {
    fn default() -> Self {
        BudgetThresholds(vec![50, 80, 100])
    }
}

/// A deployment's circuit breaker opening (in any isolate) stays an open alert for
/// `hold_minutes` after its last opening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitRule {
    pub enabled: bool,
    pub hold_minutes: u32,
}

impl Default for CircuitRule {
    fn default() -> Self {
        CircuitRule { enabled: true, hold_minutes: 5 }
    }
}

/// Shortest webhook secret accepted: HMAC-SHA256 keys shorter than this are guessable.
pub const MIN_SECRET_LEN: usize = 16;

impl AlertConfig {
    /// These settings with every condition off and the destinations kept: what a deleted
    /// tenant's alerting becomes, so that the next run resolves its open alerts where they were
    /// sent (a PagerDuty incident would otherwise stay open) before the cron lets it go.
    pub fn retired(&self) -> AlertConfig {
        AlertConfig {
            destinations: self.destinations.clone(),
            spend_spike: SpikeRule { enabled: false, ..self.spend_spike.clone() },
            error_storm: StormRule { enabled: false, ..self.error_storm.clone() },
            budget_thresholds: BudgetThresholds(Vec::new()),
            circuit_open: CircuitRule { enabled: false, ..self.circuit_open.clone() },
        }
    }

    /// Whether no condition is watched (see [`AlertConfig::retired`]).
    pub fn watches_nothing(&self) -> bool {
        !self.spend_spike.enabled && !self.error_storm.enabled && self.budget_thresholds.0.is_empty() && !self.circuit_open.enabled
    }

    /// Parses and validates; the error names the field at fault.
    pub fn from_json(bytes: &[u8]) -> Result<AlertConfig, String> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let cfg: AlertConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        let d = &self.destinations;
        for (name, url) in [("destinations.slack_webhook_url", &d.slack_webhook_url), ("destinations.webhook_url", &d.webhook_url)] {
            if let Some(u) = url {
                check_url(name, u)?;
            }
        }
        match (&d.webhook_url, &d.webhook_secret) {
            (Some(_), None) => return Err("destinations.webhook_secret is required with webhook_url: every delivery is signed with it.".into()),
            (_, Some(s)) if s.len() < MIN_SECRET_LEN => return Err(format!("destinations.webhook_secret must be at least {MIN_SECRET_LEN} characters.")),
            _ => {}
        }
        if let Some(k) = &d.pagerduty_routing_key {
            if k.len() != 32 || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err("destinations.pagerduty_routing_key must be the 32-character integration key of a PagerDuty Events API v2 integration.".into());
            }
        }
        let s = &self.spend_spike;
        if !(s.factor.is_finite() && s.factor > 1.0) {
            return Err("spend_spike.factor must be a number above 1.".into());
        }
        if !(s.min_usd.is_finite() && s.min_usd >= 0.0) {
            return Err("spend_spike.min_usd must be a number of dollars, 0 or more.".into());
        }
        if !(1..=60).contains(&s.window_minutes) {
            return Err("spend_spike.window_minutes must be between 1 and 60.".into());
        }
        if s.baseline_minutes < s.window_minutes || !s.baseline_minutes.is_multiple_of(s.window_minutes) || s.baseline_minutes > 300 {
            return Err("spend_spike.baseline_minutes must be a multiple of window_minutes, at most 300.".into());
        }
        let e = &self.error_storm;
        if !(e.error_rate > 0.0 && e.error_rate <= 1.0) {
            return Err("error_storm.error_rate must be above 0 and at most 1.".into());
        }
        if !(e.retries_per_request.is_finite() && e.retries_per_request > 0.0) {
            return Err("error_storm.retries_per_request must be a number above 0.".into());
        }
        if e.min_requests == 0 {
            return Err("error_storm.min_requests must be at least 1.".into());
        }
        if let Some(t) = self.budget_thresholds.0.iter().find(|t| **t == 0 || **t > 1000) {
            return Err(format!("budget_thresholds: {t} is not a percentage between 1 and 1000."));
        }
        if !(1..=1440).contains(&self.circuit_open.hold_minutes) {
            return Err("circuit_open.hold_minutes must be between 1 and 1440.".into());
        }
        Ok(())
    }

    /// The configuration as shown back to admins: secrets and webhook paths (which are secrets
    /// for Slack) reduced to their last four characters.
    pub fn redacted(&self) -> AlertConfig {
        let hide = |s: &Option<String>| {
            s.as_ref().map(|v| {
                let tail: Vec<char> = v.chars().rev().take(4).collect();
                format!("…{}", tail.into_iter().rev().collect::<String>())
            })
        };
        // A generic webhook's path or query often holds its token: only the origin shows.
        let origin_only = |s: &Option<String>| {
            s.as_ref().map(|url| {
                let (after_scheme, origin_end) = authority_span(url);
                let tail: Vec<char> = url[origin_end..].chars().rev().take(4).collect();
                // Credentials in the authority (`https://user:pass@host`) are a secret too.
                let authority = &url[after_scheme..origin_end];
                let origin = match authority.rsplit_once('@') {
                    Some((_, host)) => format!("{}…@{host}", &url[..after_scheme]),
                    None => url[..origin_end].to_string(),
                };
                if origin_end == url.len() { origin } else { format!("{origin}/…{}", tail.into_iter().rev().collect::<String>()) }
            })
        };
        let mut out = self.clone();
        out.destinations.webhook_url = origin_only(&self.destinations.webhook_url);
        out.destinations.slack_webhook_url = hide(&self.destinations.slack_webhook_url);
        out.destinations.webhook_secret = hide(&self.destinations.webhook_secret);
        out.destinations.pagerduty_routing_key = hide(&self.destinations.pagerduty_routing_key);
        out
    }
}

/// Where a URL's authority (`user:pass@host:port`) starts and ends: after `://` (or at 0), up to
/// the first `/`, `?` or `#`.
fn authority_span(url: &str) -> (usize, usize) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    (after_scheme, url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i))
}

/// HTTPS, since alerts name spend, features and budgets; plain HTTP only to this machine (a
/// receiver in local development and tests). No credentials in the URL: the Workers runtime
/// sends none of them (checked: `https://user:pass@host` arrives without an `Authorization`
/// header), so a receiver expecting them would refuse every alert. No backslash, which fetch
/// reads as a slash and the redaction of what `GET` shows would not.
fn check_url(name: &str, url: &str) -> Result<(), String> {
    if url.contains('\\') {
        return Err(format!("{name} must not contain a backslash."));
    }
    let (after_scheme, authority_end) = authority_span(url);
    if url[after_scheme..authority_end].contains('@') {
        return Err(format!(
            "{name} must not carry credentials (user:password@): the Workers runtime does not send them. Put a token in the path or query, or check deliveries by their signature."
        ));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://").filter(|_| crate::loopback::is_plain_http_to_loopback(url)));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.chars().any(|c| c.is_whitespace() || c.is_control()) => Ok(()),
        _ if url.starts_with("http://") => Err(format!("{name} must be an https URL (plain http only to localhost).")),
        _ => Err(format!("{name} must be an https URL.")),
    }
}
