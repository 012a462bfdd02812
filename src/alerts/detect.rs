//! Which alert conditions hold at a moment, from the tenant's own recent rollups.

use serde_json::json;

use super::{AlertConfig, AlertKind, Condition, Severity};
use crate::money::Usd;

/// One row of the per-minute rollup (`rollup::CREATE_MINUTELY`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct MinuteRow {
    pub minute: i64,
    pub feature: String,
    pub requests: u64,
    pub errors: u64,
    pub retries: u64,
    pub cost_nanos: i64,
}

/// A budget's state in its current window.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLevel {
    pub id: String,
    pub spent: Usd,
    pub hard_limit: Usd,
    pub window_start: i64,
    pub resets_at: i64,
    /// The budget refused a request for want of room with little left (`BudgetState::exhausted`):
    /// spent, though its spend stops short of the limit.
    pub exhausted: bool,
    /// It sends what does not fit to a cheaper model (`on_hard_limit: downgrade`) rather than
    /// refusing it.
    pub downgrades: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CircuitRow {
    pub deployment: String,
    pub last_opened: i64,
    pub openings: u64,
}

fn usd(nanos: i64) -> Usd {
    Usd(nanos.saturating_mul(1000))
}

fn feature_label(feature: &str) -> &str {
    if feature.is_empty() { "(untagged)" } else { feature }
}

/// How many times `spend_spike.min_usd` a feature idle for the baseline hour (or new) must spend
/// in one window to be a spike.
pub const IDLE_BURST_MULTIPLE: f64 = 10.0;

/// How many baselines' length an open spend spike (not raised against an idle hour) is judged
/// against the spend before it, before its sliding baseline takes over.
pub const SPIKE_HOLD_BASELINES: i64 = 6;

/// The share of its threshold an open error or retry storm, or of its bars an open spend spike,
/// must fall below to resolve.
pub const STORM_CLEAR_SHARE: f64 = 0.8;

/// Every condition that holds at `now` (Unix seconds).
pub fn detect(cfg: &AlertConfig, now: i64, minutes: &[MinuteRow], budgets: &[BudgetLevel], circuits: &[CircuitRow], open: &[super::OpenAlert]) -> Vec<Condition> {
    let mut out = Vec::new();
    // The window ends with the minute the instant before `now` falls in: the minute in progress,
    // whose rows are still growing, or, when `now` is a minute's first second (the cron's
    // scheduled time always is), the minute just completed. Counting the minute that starts at
    // `now` would count a minute with no traffic yet, and a one-minute window would see nothing.
    let this_minute = (now - 1) - (now - 1).rem_euclid(60);
    let w = i64::from(cfg.spend_spike.window_minutes.max(1));
    let window_start = this_minute - (w - 1) * 60;
    let baseline_start = window_start - i64::from(cfg.spend_spike.baseline_minutes) * 60;
    let blocks = (i64::from(cfg.spend_spike.baseline_minutes) / w).max(1) as usize;

    if cfg.spend_spike.enabled {
        let mut features: Vec<&str> = minutes.iter().filter(|m| m.minute >= window_start && m.minute <= this_minute).map(|m| m.feature.as_str()).collect();
        features.sort_unstable();
        features.dedup();
        for feature in features {
            let rows = minutes.iter().filter(|m| m.feature == feature);
            // A spike already alerted is judged against the spend before it: the baseline
            // sliding over its own minutes would resolve it while it runs on (at 4x normal
            // spend, 12 minutes in). Its baseline ends where the window that triggered it began.
            // A spike opened against an idle hour (a feature back in the morning at its usual
            // spend, large enough to count, or a runaway from nothing: the detector cannot tell)
            // is held so for one baseline's length, then judged against its sliding baseline:
            // frozen, the spend before it is nothing and would hold the alert all day; sliding
            // from the start, a runaway would resolve ten minutes in, as its own minutes became
            // its baseline.
            // Any other spike is held against the spend before it for SPIKE_HOLD_BASELINES
            // baselines (6 hours by default), then judged against its sliding baseline too: spend
            // that rose for good is the feature's spend by then, and held open for ever the alert
            // would hide a runaway from that level (its key stays open).
            let key = format!("spend_spike:{feature}");
            let open_alert = open.iter().find(|a| a.condition.key == key);
            let baseline_secs = i64::from(cfg.spend_spike.baseline_minutes) * 60;
            let open_since = open_alert
                .filter(|a| {
                    let held_for = if a.condition.details["idle_baseline"] == true { baseline_secs } else { SPIKE_HOLD_BASELINES * baseline_secs };
                    this_minute - a.opened_at < held_for
                })
                .map(|a| a.opened_at);
            let baseline_end = open_since.map_or(window_start, |at| (at - w * 60).clamp(baseline_start, window_start));
            let mut current = 0i64;
            let mut requests = 0u64;
            let mut per_block = vec![0i64; blocks];
            for m in rows {
                if m.minute >= window_start && m.minute <= this_minute {
                    current += m.cost_nanos;
                    requests += m.requests;
                } else if m.minute >= baseline_start && m.minute < baseline_end {
                    let block = ((m.minute - baseline_start) / 60 / w) as usize;
                    per_block[block.min(blocks - 1)] += m.cost_nanos;
                }
            }
            // Over the blocks before the spike (all of them, unless one is open).
            let counted = (((baseline_end - baseline_start) / 60 / w).max(0) as usize).min(blocks);
            let per_block = &per_block[..counted];
            let mean = if counted == 0 { 0.0 } else { per_block.iter().sum::<i64>() as f64 / counted as f64 };
            let var = if counted == 0 { 0.0 } else { per_block.iter().map(|b| (*b as f64 - mean).powi(2)).sum::<f64>() / counted as f64 };
            let sd = var.sqrt();
            // An open spike is judged against the baseline it was raised against (its trigger's
            // numbers, kept), not the part of it still in the rows: as the hour slides on, that
            // part shrinks to the blocks just before the spike, the highest when spend climbed
            // into it, and resolved a runaway still at four times normal spend; with none of it
            // left, against nothing, it would be held open while the feature spends its usual.
            // A window changed since is judged against those numbers scaled to it.
            let kept = |field: &str| open_alert.and_then(|a| a.condition.details[field].as_str()?.parse::<f64>().ok()).map(|dollars| dollars * 1e9);
            let kept_scale = open_alert.and_then(|a| a.condition.details["window_minutes"].as_i64()).filter(|&k| k > 0).map_or(1.0, |k| w as f64 / k as f64);
            let (mean, sd) = match open_since {
                Some(_) => (kept("baseline_average_usd").map_or(mean, |m| m * kept_scale), kept("baseline_sd_usd").map_or(sd, |s| s * kept_scale)),
                None => (mean, sd),
            };
            // A baseline with spend in fewer than half its blocks is a feature idle for the hour
            // (overnight, a lunch break, a batch job) or new: its first minutes back are its usual
            // traffic against nothing, so they are a spike only when large by themselves.
            // (An open spike keeps the plain threshold: the hour before it may have gone by.)
            let idle = open_since.is_none() && per_block.iter().filter(|b| **b > 0).count() * 2 < blocks;
            let min_nanos = cfg.spend_spike.min_usd * 1e9 * if idle { IDLE_BURST_MULTIPLE } else { 1.0 };
            let cur = current as f64;
            // An open spike clears only when it is below STORM_CLEAR_SHARE of its excess over
            // the average (of `factor - 1` times it, of 3 deviations) and of `min_usd`, as a
            // storm does: spend wavering around `min_usd` triggered and resolved it every other
            // minute, a new PagerDuty incident each time. A share of the whole bar would hold a
            // spike with a `factor` of 1.25 or less open at the feature's usual spend.
            let share = if open_alert.is_some() { STORM_CLEAR_SHARE } else { 1.0 };
            let factor_bar = mean * (1.0 + share * (cfg.spend_spike.factor - 1.0));
            // A spike is large against the feature's own average and its usual variation, and
            // large in dollars.
            if cur >= share * min_nanos && cur >= factor_bar && cur > mean + share * 3.0 * sd && cur > 0.0 {
                let label = feature_label(feature);
                // Against the average of the baseline's windows, not the baseline's whole span.
                let ratio = if mean > 0.0 { format!("{:.1}× its average {w}-min", cur / mean) } else { "against no".to_string() };
                out.push(Condition {
                    key: format!("spend_spike:{feature}"),
                    kind: AlertKind::SpendSpike,
                    severity: Severity::Warning,
                    summary: format!(
                        "Spend spike on feature '{label}': ${} in the last {w} min, {ratio} spend in the previous {} min (average ${} per {w} min)",
                        usd(current),
                        cfg.spend_spike.baseline_minutes,
                        usd(mean.round() as i64)
                    ),
                    details: json!({
                        "feature": feature, "window_minutes": w, "window_start": window_start,
                        "window_spend_usd": usd(current).to_string(), "window_requests": requests,
                        "baseline_minutes": cfg.spend_spike.baseline_minutes,
                        "baseline_average_usd": usd(mean.round() as i64).to_string(),
                        "baseline_sd_usd": usd(sd.round() as i64).to_string(),
                        "factor": cfg.spend_spike.factor, "min_usd": cfg.spend_spike.min_usd,
                        "idle_baseline": idle,
                    }),
                });
            }
        }
    }

    if cfg.error_storm.enabled {
        let (mut requests, mut errors, mut retries) = (0u64, 0u64, 0u64);
        for m in minutes.iter().filter(|m| m.minute >= window_start && m.minute <= this_minute) {
            requests += m.requests;
            errors += m.errors;
            retries += m.retries;
        }
        let s = &cfg.error_storm;
        // An open storm clears only below STORM_CLEAR_SHARE of its threshold: a rate wavering
        // around it (48%, 52%, 49%) would send a trigger and a resolve every minute.
        let is_open = |key: &str| open.iter().any(|a| a.condition.key == key);
        let bar = |threshold: f64, key: &str| if is_open(key) { threshold * STORM_CLEAR_SHARE } else { threshold };
        // Too few requests to judge a rate: no storm opens, but an open one is held (clients
        // backing off in an outage send few, and a storm must not "resolve" because they did)
        // while what requests there are still fail at its clearing rate, or while none came in
        // the window but some before it. It resolves when the few succeed, or when the tenant
        // has had no traffic at all in the rows read (the spike rule's baseline and the window:
        // an hour and 5 minutes by default): nothing is left to judge.
        let judged = requests >= s.min_requests;
        let quiet_hour = !minutes.iter().any(|m| m.requests > 0);
        // (key, kind, severity, what is counted, its count, the rate's name, its threshold)
        let storms = [
            ("error_storm", AlertKind::ErrorStorm, Severity::Error, "errors", errors, "error_rate", s.error_rate),
            ("retry_storm", AlertKind::RetryStorm, Severity::Warning, "retries", retries, "retries_per_request", s.retries_per_request),
        ];
        for (key, kind, severity, counted, count, rate_name, threshold) in storms {
            let rate = if requests == 0 { 0.0 } else { count as f64 / requests as f64 };
            let holds = if judged { rate >= bar(threshold, key) } else { is_open(key) && !quiet_hour && (requests == 0 || rate >= bar(threshold, key)) };
            if !holds {
                continue;
            }
            let numbers = match kind {
                AlertKind::ErrorStorm => format!("{errors} of {requests} requests failed in the last {w} min"),
                _ => format!("{retries} fallback retries for {requests} requests in the last {w} min"),
            };
            let summary = match (kind, judged) {
                (AlertKind::ErrorStorm, true) => format!("Error storm: {numbers} ({:.0}%)", rate * 100.0),
                (_, true) => format!("Retry storm: {numbers} ({rate:.1} per request)"),
                (AlertKind::ErrorStorm, false) => format!("Error storm held open: {numbers}, too few to judge"),
                (_, false) => format!("Retry storm held open: {numbers}, too few to judge"),
            };
            let mut details = json!({"window_minutes": w, "requests": requests, counted: count, "threshold": threshold});
            if judged {
                details[rate_name] = json!(rate);
            } else {
                details["min_requests"] = json!(s.min_requests);
            }
            out.push(Condition { key: key.into(), kind, severity, summary, details });
        }
    }

    for b in budgets {
        if b.hard_limit.0 <= 0 {
            continue;
        }
        let pct = b.spent.0 as f64 / b.hard_limit.0 as f64 * 100.0;
        let spent_to_limit = b.spent >= b.hard_limit;
        let mut thresholds = cfg.budget_thresholds.0.clone();
        thresholds.sort_unstable();
        thresholds.dedup();
        for t in thresholds {
            // The window start is part of the key: a new window is a new alert, and the old
            // window's alert resolves when its window ends.
            let key = format!("budget:{}:{t}:{}", b.id, b.window_start);
            // A level once crossed stays crossed for its window: spend can dip (a late
            // settlement taking back an expired reservation's charge), and the alert must not
            // resolve and trigger again.
            let crossed_before = open.iter().any(|a| a.condition.key == key);
            // Spend stops short of the limit (a request is admitted only if its most possible
            // cost fits): a budget refusing requests for want of room is at 100%.
            if pct + 1e-9 >= f64::from(t) || (b.exhausted && t <= 100) || crossed_before {
                let severity = match t {
                    100.. => Severity::Critical,
                    80..=99 => Severity::Warning,
                    _ => Severity::Info,
                };
                out.push(Condition {
                    key,
                    kind: AlertKind::BudgetThreshold,
                    severity,
                    summary: if b.exhausted && pct + 1e-9 < f64::from(t) {
                        let action = if b.downgrades { "sends requests whose most possible cost does not fit what is left to a cheaper model" } else { "refuses requests whose most possible cost does not fit what is left" };
                        format!("Budget '{}' reached {t}%: ${} of ${} spent ({pct:.1}%), and it {action}", b.id, b.spent, b.hard_limit)
                    } else {
                        format!("Budget '{}' passed {t}%: ${} of ${} spent ({pct:.1}%)", b.id, b.spent, b.hard_limit)
                    },
                    details: json!({"budget_id": b.id, "threshold_percent": t, "spent_usd": b.spent.to_string(), "hard_limit_usd": b.hard_limit.to_string(),
                        "percent": (pct * 10.0).round() / 10.0, "window_start": b.window_start, "resets_at": b.resets_at,
                        // Spent to its limit (spend can pass it, see README's Budgets), a budget
                        // refuses every request ("is exhausted", `ExceededCause::Spent`), whether or
                        // not one has been refused yet; a downgrading one has no room for even the
                        // cheapest model.
                        "refusing": spent_to_limit || (b.exhausted && !b.downgrades), "downgrading": b.exhausted && b.downgrades && !spent_to_limit}),
                });
            }
        }
    }

    if cfg.circuit_open.enabled {
        let hold = i64::from(cfg.circuit_open.hold_minutes) * 60;
        for c in circuits.iter().filter(|c| now - c.last_opened < hold) {
            out.push(Condition {
                key: format!("circuit_open:{}", c.deployment),
                kind: AlertKind::CircuitOpen,
                severity: Severity::Error,
                summary: format!("Circuit breaker opened for {} ({} openings so far); requests fall back to other deployments", c.deployment, c.openings),
                details: json!({"deployment": c.deployment, "last_opened": c.last_opened, "openings": c.openings, "hold_minutes": cfg.circuit_open.hold_minutes}),
            });
        }
    }
    out
}
