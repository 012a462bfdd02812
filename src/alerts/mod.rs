//! Anomaly alerts: what a tenant wants watched and where to send it ([`AlertConfig`]), which
//! conditions hold now ([`detect`]), what changed since the last evaluation ([`reconcile`]), and
//! the message each destination expects ([`notify`]).
//!
//! Plain Rust: the ledger Durable Object feeds the detector its own rollups and keeps the open
//! alerts; a cron trigger in the edge shell runs it every minute and delivers what it returns.

mod config;
mod detect;
pub mod notify;

pub use config::{AlertConfig, CircuitRule, Destinations, SpikeRule, StormRule};
pub use detect::{detect, BudgetLevel, CircuitRow, MinuteRow};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    SpendSpike,
    ErrorStorm,
    RetryStorm,
    BudgetThreshold,
    CircuitOpen,
}

/// PagerDuty's four severities, which the other destinations reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// As in the settings and PagerDuty's events (`info`, `warning`, `error`, `critical`).
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// A condition that holds at evaluation time. `key` identifies it across evaluations: the same
/// key twice is the same alert, still open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub key: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub summary: String,
    /// The numbers behind the summary, for receivers that read fields.
    pub details: Value,
}

/// An alert that was triggered and not yet resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    #[serde(flatten)]
    pub condition: Condition,
    pub opened_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Transition {
    Trigger { alert: OpenAlert },
    Resolve { alert: OpenAlert, resolved_at: i64 },
}

impl Transition {
    pub fn alert(&self) -> &OpenAlert {
        match self {
            Transition::Trigger { alert } | Transition::Resolve { alert, .. } => alert,
        }
    }
}

/// Keeps one alert's messages to one destination in order while an outbox (oldest first) is
/// sent: once a delivery fails, the later ones for the same alert and destination wait for the
/// next round, unsent and with no attempt counted. Sent out of order, a resolve would reach
/// PagerDuty before its trigger, which would then open an incident nothing ever closes.
/// What a cron run did with the deliveries its tenant's ledger handed it (the worker's report,
/// `/alerts/ack`), by delivery id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DeliveryReport {
    #[serde(default)]
    pub delivered: Vec<u64>,
    /// Failed, to be tried again (up to the attempts allowed), with why.
    #[serde(default)]
    pub failed: Vec<(u64, String)>,
    /// Refused for good by the destination (see `notify::delivery_retryable`): to the history at
    /// once, with why.
    #[serde(default)]
    pub given_up: Vec<(u64, String)>,
    /// Handed out but not attempted (held back behind an earlier failure, or behind a destination
    /// that hung): free for the next run, no attempt counted.
    #[serde(default)]
    pub released: Vec<u64>,
}

/// The alert settings a ledger's `/alerts/evaluate` answer carries (`config`; `Ok(None)` if it has
/// none), or, where this release cannot read them, the report releasing the deliveries the answer
/// handed over (`outbox`) to the next run: a cron run of the old release meeting a ledger of the
/// new one during a deploy (its settings with a field added) would otherwise leave them under
/// their lease, unsent, for ten minutes.
pub fn settings_or_release(evaluated: &Value) -> Result<Option<AlertConfig>, DeliveryReport> {
    let Some(config) = evaluated.get("config").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    serde_json::from_value::<AlertConfig>(config.clone()).map(Some).map_err(|_| DeliveryReport {
        released: evaluated["outbox"].as_array().into_iter().flatten().filter_map(|item| item["id"].as_u64()).collect(),
        ..DeliveryReport::default()
    })
}

impl DeliveryReport {
    pub fn add(&mut self, other: DeliveryReport) {
        self.delivered.extend(other.delivered);
        self.failed.extend(other.failed);
        self.given_up.extend(other.given_up);
        self.released.extend(other.released);
    }
}

#[derive(Debug, Default)]
pub struct DeliveryOrder {
    held: std::collections::BTreeSet<(String, String)>,
}

impl DeliveryOrder {
    /// Whether this delivery may be sent now (no earlier one for its alert and destination failed).
    pub fn may_send(&self, destination: &str, t: &Transition) -> bool {
        !self.held.contains(&(destination.to_string(), t.alert().condition.key.clone()))
    }

    /// A delivery failed: hold back what follows it for the same alert and destination.
    pub fn failed(&mut self, destination: &str, t: &Transition) {
        self.held.insert((destination.to_string(), t.alert().condition.key.clone()));
    }
}

/// What changed between the open alerts and the conditions that hold now: a condition not yet
/// open triggers, an open alert whose condition no longer holds resolves, and a condition that
/// stays open sends nothing again (deduplication). Open alerts after the transitions are returned
/// too, in key order.
pub fn reconcile(open: &[OpenAlert], active: &[Condition], now: i64) -> (Vec<Transition>, Vec<OpenAlert>) {
    let mut transitions = Vec::new();
    let mut still_open = Vec::new();
    for alert in open {
        match active.iter().find(|c| c.key == alert.condition.key) {
            // Keep the first trigger's numbers: the receiver already has them.
            Some(_) => still_open.push(alert.clone()),
            None => transitions.push(Transition::Resolve { alert: alert.clone(), resolved_at: now }),
        }
    }
    for c in active {
        if !open.iter().any(|a| a.condition.key == c.key) && !still_open.iter().any(|a: &OpenAlert| a.condition.key == c.key) {
            let alert = OpenAlert { condition: c.clone(), opened_at: now };
            transitions.push(Transition::Trigger { alert: alert.clone() });
            still_open.push(alert);
        }
    }
    still_open.sort_by(|a, b| a.condition.key.cmp(&b.condition.key));
    (transitions, still_open)
}

/// Destinations each open alert's trigger was queued for, by alert key.
pub type Told = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// Who gets what this run: each trigger goes to every destination that takes its severity
/// (`destinations`: each configured one with the least severe alert it takes); a resolve to the
/// destinations that were sent its trigger and are still configured (a resolve for an incident
/// PagerDuty never opened is noise); and an alert still open goes, as a trigger, to a destination
/// added since it opened (or that has come to take its severity), which would otherwise hear of
/// it only when it resolves. `still_open`: the open alerts after `reconcile`. An open alert
/// `told` has no entry for (state from before it was kept, when every destination was sent every
/// alert) is taken to have reached every current destination: its resolve goes to all of them,
/// so that an incident PagerDuty opened for it is closed.
pub fn fan_out(transitions: Vec<Transition>, still_open: &[OpenAlert], destinations: &[(&str, Severity)], told: &mut Told) -> Vec<(String, Transition)> {
    let all: std::collections::BTreeSet<String> = destinations.iter().map(|(d, _)| d.to_string()).collect();
    let taking = |severity: Severity| -> std::collections::BTreeSet<String> {
        destinations.iter().filter(|(_, min)| severity >= *min).map(|(d, _)| d.to_string()).collect()
    };
    let mut out = Vec::new();
    let mut triggered_now = std::collections::BTreeSet::new();
    for t in transitions {
        let key = t.alert().condition.key.clone();
        match &t {
            Transition::Trigger { alert } => {
                let targets = taking(alert.condition.severity);
                out.extend(targets.iter().map(|d| (d.clone(), t.clone())));
                told.insert(key.clone(), targets);
                triggered_now.insert(key);
            }
            Transition::Resolve { .. } => {
                let sent_trigger = told.remove(&key).unwrap_or_else(|| all.clone());
                out.extend(all.intersection(&sent_trigger).map(|d| (d.clone(), t.clone())));
            }
        }
    }
    for alert in still_open.iter().filter(|a| !triggered_now.contains(&a.condition.key)) {
        let targets = taking(alert.condition.severity);
        let sent = told.entry(alert.condition.key.clone()).or_insert_with(|| all.clone());
        for d in targets.difference(&sent.clone()) {
            out.push((d.clone(), Transition::Trigger { alert: alert.clone() }));
            sent.insert(d.clone());
        }
    }
    told.retain(|key, _| still_open.iter().any(|a| &a.condition.key == key));
    out
}

#[cfg(test)]
mod tests;
