//! The body each destination expects for a trigger or a resolve, and the webhook signature.
//!
//! - Slack incoming webhooks: `{"text": ...}` (mrkdwn).
//! - Generic webhook: a JSON document (`type` `alert.triggered` / `alert.resolved`) signed as
//!   `x-costrouter-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the
//!   scheme Stripe uses: the receiver recomputes it and rejects old timestamps (replays).
//! - PagerDuty Events API v2: `trigger` / `resolve` with a `dedup_key` per tenant and alert, so
//!   PagerDuty itself also folds duplicates and resolves the incident it opened.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Transition;

pub const SIGNATURE_HEADER: &str = "x-costrouter-signature";

/// PagerDuty's Events API v2 endpoint (the edge may point it elsewhere for tests).
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Whether a destination that answered `status` (not 2xx) may take the same delivery later: a
/// 5xx, a timeout (408), "too early" (425) or "slow down" (429). Any other 4xx refuses the message
/// itself (a Slack webhook removed: 404 / 410; PagerDuty's 400 for a bad routing key), and a 3xx
/// is never followed (the URL is the tenant's, not where it points): every retry would earn the
/// same answer for half an hour, so such a delivery is given up at once, as Alertmanager does.
pub fn delivery_retryable(status: u16) -> bool {
    status >= 500 || matches!(status, 408 | 425 | 429)
}

pub fn slack_body(tenant: &str, t: &Transition) -> Value {
    let a = &t.alert().condition;
    let text = match t {
        Transition::Trigger { .. } => format!(":rotating_light: *costrouter alert* ({}, tenant `{tenant}`)\n{}", a.severity.word(), a.summary),
        Transition::Resolve { alert, resolved_at } => {
            format!(":white_check_mark: *costrouter resolved* (tenant `{tenant}`, open {} min)\n{}", (resolved_at - alert.opened_at).max(0) / 60, a.summary)
        }
    };
    json!({ "text": text })
}

pub fn webhook_body(tenant: &str, t: &Transition) -> Value {
    let alert = t.alert();
    let (kind, resolved_at) = match t {
        Transition::Trigger { .. } => ("alert.triggered", None),
        Transition::Resolve { resolved_at, .. } => ("alert.resolved", Some(*resolved_at)),
    };
    json!({
        // The same for every delivery of this transition: a receiver drops a resend (a run that
        // could not acknowledge hands it out again) by it.
        "id": format!("{tenant}:{}:{}:{}", alert.condition.key, alert.opened_at, if resolved_at.is_some() { "resolved" } else { "triggered" }),
        "type": kind,
        "tenant": tenant,
        "alert": {
            "key": alert.condition.key,
            "kind": alert.condition.kind,
            "severity": alert.condition.severity,
            "summary": alert.condition.summary,
            "details": alert.condition.details,
            "opened_at": alert.opened_at,
            "resolved_at": resolved_at,
        }
    })
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// PagerDuty's deduplication key: stable per tenant and alert, and no longer than its 255 limit.
pub fn dedup_key(tenant: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\n{key}").as_bytes());
    format!("costrouter-{}", &hex::encode(digest)[..40])
}

pub fn pagerduty_body(tenant: &str, routing_key: &str, t: &Transition) -> Value {
    let alert = t.alert();
    let dedup = dedup_key(tenant, &alert.condition.key);
    match t {
        Transition::Trigger { .. } => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                // PagerDuty truncates summaries at 1024 characters.
                "summary": alert.condition.summary.chars().take(1024).collect::<String>(),
                "source": format!("costrouter/{tenant}"),
                "severity": alert.condition.severity.word(),
                "component": "costrouter",
                "class": alert.condition.kind,
                "custom_details": alert.condition.details,
            },
        }),
        Transition::Resolve { .. } => json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup }),
    }
}

