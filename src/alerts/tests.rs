use super::*;
use crate::money::Usd;
use serde_json::json;

fn cfg() -> AlertConfig {
    let mut c = AlertConfig::default();
    c.spend_spike.min_usd = 0.5;
    c
}

fn minute(minute: i64, feature: &str, requests: u64, errors: u64, retries: u64, usd: f64) -> MinuteRow {
    MinuteRow { minute, feature: feature.into(), requests, errors, retries, cost_nanos: (usd * 1e9) as i64 }
}

const NOW: i64 = 1_800_000_030; // 30 s into a minute

fn steady(feature: &str, per_minute_usd: f64) -> Vec<MinuteRow> {
    let this_minute = NOW - NOW % 60;
    (5..65).map(|i| minute(this_minute - i * 60, feature, 10, 0, 0, per_minute_usd)).collect()
}

#[test]
fn a_spike_against_the_features_own_baseline_is_reported_with_its_numbers() {
    let this_minute = NOW - NOW % 60;
    let mut rows = steady("search", 0.10); // $0.50 per 5 minutes
    rows.extend((0..5).map(|i| minute(this_minute - i * 60, "search", 40, 0, 0, 0.40))); // $2.00 now
    rows.extend(steady("chat", 0.10));
    rows.extend((0..5).map(|i| minute(this_minute - i * 60, "chat", 10, 0, 0, 0.10)));
    let found = detect(&cfg(), NOW, &rows, &[], &[], &[]);
    assert_eq!(found.len(), 1, "{found:#?}");
    let c = &found[0];
    assert_eq!(c.key, "spend_spike:search");
    assert_eq!(c.details["window_spend_usd"], "2");
    assert_eq!(c.details["baseline_average_usd"], "0.5");
    assert_eq!(c.details["window_requests"], 200);
    assert!(c.summary.contains("$2 in the last 5 min, 4.0× its average 5-min spend in the previous"), "{}", c.summary);
}

#[test]
fn small_or_usual_spend_is_no_spike() {
    let this_minute = NOW - NOW % 60;
    // Four times the baseline but under min_usd.
    let mut rows = steady("a", 0.01);
    rows.extend((0..5).map(|i| minute(this_minute - i * 60, "a", 1, 0, 0, 0.04)));
    // Large but within the feature's usual variation (alternating blocks of $0 and $6).
    for b in 0..12i64 {
        let usd = if b % 2 == 0 { 0.0 } else { 1.2 };
        for i in 0..5 {
            rows.push(minute(this_minute - (5 + b * 5 + i) * 60, "b", 1, 0, 0, usd));
        }
    }
    rows.extend((0..5).map(|i| minute(this_minute - i * 60, "b", 1, 0, 0, 1.5)));
    assert_eq!(detect(&cfg(), NOW, &rows, &[], &[], &[]), vec![]);
}

#[test]
fn a_first_burst_with_no_history_is_a_spike_once_it_is_large_enough() {
    let this_minute = NOW - NOW % 60;
    // Back after an idle hour at its usual $0.60 a window (min_usd $0.50): its usual traffic.
    let usual = vec![minute(this_minute, "new", 3, 0, 0, 0.6)];
    assert!(detect(&cfg(), NOW, &usual, &[], &[], &[]).is_empty(), "the first minutes after an idle hour are no spike");
    // Ten times min_usd at once, with nothing before: a runaway of a new or idle feature.
    let rows = vec![minute(this_minute, "new", 3, 0, 0, 5.0)];
    let found = detect(&cfg(), NOW, &rows, &[], &[], &[]);
    assert_eq!(found.len(), 1);
    assert!(found[0].summary.contains("against no spend"), "{}", found[0].summary);
    // Spend older than the window is history, not a spike.
    let old = vec![minute(this_minute - 5 * 60, "new", 3, 0, 0, 5.0)];
    assert!(detect(&cfg(), NOW, &old, &[], &[], &[]).is_empty());
    // A baseline active in half its blocks is not idle: min_usd alone applies.
    let mut half: Vec<MinuteRow> = (0..12i64).filter(|b| b % 2 == 1).map(|b| minute(this_minute - (5 + b * 5) * 60, "half", 1, 0, 0, 0.01)).collect();
    half.push(minute(this_minute, "half", 3, 0, 0, 0.6));
    assert_eq!(detect(&cfg(), NOW, &half, &[], &[], &[]).len(), 1);
}

#[test]
fn an_open_spike_is_judged_against_the_spend_before_it_and_stays_open_while_it_runs() {
    // $0.10 a minute for hours, then a loop at $0.40 a minute (min_usd $0.50 a 5-minute window).
    let spike_from = NOW - NOW % 60 - 30 * 60;
    let rows_until = |now: i64| -> Vec<MinuteRow> {
        let this_minute = (now - 1) - (now - 1).rem_euclid(60);
        (0..120).map(|i| this_minute - i * 60).map(|m| minute(m, "loop", 1, 0, 0, if m >= spike_from { 0.4 } else { 0.1 })).collect()
    };
    // Four minutes in (the cron's first second of a minute): $1.90 against $0.50, a spike.
    let t0 = spike_from + 4 * 60;
    let found = detect(&cfg(), t0, &rows_until(t0), &[], &[], &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    let (_, open) = reconcile(&[], &found, t0);
    // Twelve minutes in, the baseline hour holds eight spike minutes: judged on its own
    // sliding baseline it would resolve; against the spend before it, it holds.
    let t1 = spike_from + 12 * 60;
    assert!(detect(&cfg(), t1, &rows_until(t1), &[], &[], &[]).is_empty(), "a fresh look no longer sees a spike");
    assert_eq!(detect(&cfg(), t1, &rows_until(t1), &[], &[], &open).len(), 1, "the open one is still a spike");
    // Two hours on, the hour before it is gone: judged against the baseline it was raised
    // against, it holds while it runs on...
    let t2 = spike_from + 120 * 60;
    assert_eq!(detect(&cfg(), t2, &rows_until(t2), &[], &[], &open).len(), 1);
    // ...and resolves once the feature is back at its usual $0.10 a minute (judged against
    // nothing, its usual $0.50 a window held it open for good).
    let over_at = spike_from + 150 * 60;
    let t3 = over_at + 10 * 60;
    let this_minute = (t3 - 1) - (t3 - 1).rem_euclid(60);
    let calmer: Vec<MinuteRow> = (0..120).map(|i| this_minute - i * 60).map(|m| minute(m, "loop", 1, 0, 0, if m >= spike_from && m < over_at { 0.4 } else { 0.1 })).collect();
    assert!(detect(&cfg(), t3, &calmer, &[], &[], &open).is_empty());
}

#[test]
fn a_spike_opened_after_an_idle_hour_resolves_once_its_spend_is_usual() {
    // Idle all night, back at 09:00 at its usual $1.20 a minute: $6 a 5-minute window, ten times
    // min_usd ($0.50), so the first window is a spike against no spend.
    let back_at = NOW - NOW % 60 - 60 * 60;
    let rows_until = |now: i64| -> Vec<MinuteRow> {
        let this_minute = (now - 1) - (now - 1).rem_euclid(60);
        (0..120).map(|i| this_minute - i * 60).filter(|m| *m >= back_at).map(|m| minute(m, "batch", 1, 0, 0, 1.2)).collect()
    };
    let t0 = back_at + 5 * 60;
    let found = detect(&cfg(), t0, &rows_until(t0), &[], &[], &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].details["idle_baseline"], true);
    let (_, open) = reconcile(&[], &found, t0);
    // Ten minutes on: held (a runaway from nothing looks the same as a comeback).
    let t1 = back_at + 15 * 60;
    assert_eq!(detect(&cfg(), t1, &rows_until(t1), &[], &[], &open).len(), 1, "held for its baseline's length");
    // An hour on at the same spend: its usual spend, no longer a spike.
    let t2 = back_at + 70 * 60;
    assert!(detect(&cfg(), t2, &rows_until(t2), &[], &[], &open).is_empty(), "resolved, not held all day against the idle hour");
}

#[test]
fn an_open_storm_clears_only_well_below_its_threshold() {
    let this_minute = NOW - NOW % 60;
    let rate = |errors: u64| vec![minute(this_minute, "x", 100, errors, 0, 0.0)];
    let found = detect(&cfg(), NOW, &rate(52), &[], &[], &[]);
    assert_eq!(found.len(), 1);
    let (_, open) = reconcile(&[], &found, NOW);
    // 49%: under the 50% threshold, but an open storm holds until under 40%.
    assert!(detect(&cfg(), NOW, &rate(49), &[], &[], &[]).is_empty());
    assert_eq!(detect(&cfg(), NOW, &rate(49), &[], &[], &open).len(), 1, "no resolve for a rate wavering around the threshold");
    assert!(detect(&cfg(), NOW, &rate(39), &[], &[], &open).is_empty());
}

#[test]
fn an_open_storm_is_held_while_too_few_requests_come_to_judge_it() {
    let this_minute = NOW - NOW % 60;
    let storm = vec![minute(this_minute, "x", 40, 30, 50, 0.0)];
    let (_, open) = reconcile(&[], &detect(&cfg(), NOW, &storm, &[], &[], &[]), NOW);
    assert_eq!(open.len(), 2);
    let later = NOW + 600;
    let later_minute = later - later % 60;
    let keys = |rows: &[MinuteRow], open: &[OpenAlert]| detect(&cfg(), later, rows, &[], &[], open).into_iter().map(|c| c.key).collect::<Vec<_>>();
    // Clients backing off: 5 requests, 4 failing, each retried twice. Not enough to open a
    // storm, but no sign the open one is over.
    let backing_off = vec![minute(this_minute, "x", 40, 30, 50, 0.0), minute(later_minute, "x", 5, 4, 10, 0.0)];
    assert!(keys(&backing_off, &[]).is_empty());
    assert_eq!(keys(&backing_off, &open), vec!["error_storm", "retry_storm"]);
    // Nothing at all in the window, but traffic earlier in the hour: still held.
    assert_eq!(keys(&storm, &open), vec!["error_storm", "retry_storm"]);
    // The few requests succeed without retries: both resolve.
    let recovered = vec![minute(this_minute, "x", 40, 30, 50, 0.0), minute(later_minute, "x", 5, 0, 0, 0.0)];
    assert!(keys(&recovered, &open).is_empty());
    // No traffic for the whole hour and window: nothing left to judge, resolved.
    assert!(keys(&[], &open).is_empty());
    // Rows of refusals only (requests 0) are no traffic either.
    assert!(keys(&[minute(later_minute, "x", 0, 0, 0, 0.0)], &open).is_empty());
}

#[test]
fn error_and_retry_storms_need_volume() {
    let this_minute = NOW - NOW % 60;
    let few = vec![minute(this_minute, "x", 5, 5, 9, 0.0)];
    assert!(detect(&cfg(), NOW, &few, &[], &[], &[]).is_empty());
    let many = vec![minute(this_minute, "x", 15, 10, 20, 0.0), minute(this_minute - 60, "y", 10, 3, 10, 0.0)];
    let keys: Vec<String> = detect(&cfg(), NOW, &many, &[], &[], &[]).into_iter().map(|c| c.key).collect();
    assert_eq!(keys, vec!["error_storm", "retry_storm"]);
}

#[test]
fn budget_thresholds_fire_per_level_and_window() {
    let b = |spent: f64| BudgetLevel { id: "monthly".into(), spent: Usd((spent * 1e12) as i64), hard_limit: Usd(100 * 1_000_000_000_000), window_start: 1000, resets_at: 2000, exhausted: false, downgrades: false };
    let keys = |spent| detect(&cfg(), NOW, &[], &[b(spent)], &[], &[]).into_iter().map(|c| (c.key, c.severity)).collect::<Vec<_>>();
    assert!(keys(49.99).is_empty());
    assert_eq!(keys(50.0), vec![("budget:monthly:50:1000".to_string(), Severity::Info)]);
    assert_eq!(keys(100.0).last().unwrap(), &("budget:monthly:100:1000".to_string(), Severity::Critical));
    assert_eq!(keys(85.0).len(), 2);
    // Spend stops short of the limit: a budget refusing requests for want of room is at 100%.
    let refusing = BudgetLevel { exhausted: true, ..b(99.4) };
    let found = detect(&cfg(), NOW, &[], &[refusing], &[], &[]);
    let full = found.last().unwrap();
    assert_eq!((full.key.as_str(), full.severity), ("budget:monthly:100:1000", Severity::Critical));
    assert!(full.summary.contains("reached 100%") && full.summary.contains("refuses requests"), "{}", full.summary);
    assert_eq!((full.details["refusing"].clone(), full.details["downgrading"].clone()), (json!(true), json!(false)));
    // One that downgrades says so: its requests are served, by a cheaper model.
    let downgrading = BudgetLevel { exhausted: true, downgrades: true, ..b(99.4) };
    let full = detect(&cfg(), NOW, &[], &[downgrading], &[], &[]).pop().unwrap();
    assert!(full.summary.contains("reached 100%") && full.summary.contains("to a cheaper model") && !full.summary.contains("refuses"), "{}", full.summary);
    assert_eq!((full.details["refusing"].clone(), full.details["downgrading"].clone()), (json!(false), json!(true)));
    // Spent to its limit, it has no room for the cheapest model either: it refuses.
    let spent = BudgetLevel { exhausted: true, downgrades: true, ..b(100.0) };
    let full = detect(&cfg(), NOW, &[], &[spent], &[], &[]).pop().unwrap();
    assert_eq!((full.details["refusing"].clone(), full.details["downgrading"].clone()), (json!(true), json!(false)));
    // Spend past the limit refuses every request, before any refusal has marked it exhausted.
    for downgrades in [false, true] {
        let full = detect(&cfg(), NOW, &[], &[BudgetLevel { downgrades, ..b(100.0) }], &[], &[]).pop().unwrap();
        assert_eq!((full.details["refusing"].clone(), full.details["downgrading"].clone()), (json!(true), json!(false)), "downgrades: {downgrades}");
    }
    // Crossed, a level stays so for its window though spend dips (a late settlement taking an
    // expiry charge back): no resolve and second trigger.
    let crossed = detect(&cfg(), NOW, &[], &[b(81.0)], &[], &[]);
    let (_, open) = reconcile(&[], &crossed, NOW);
    let dipped = detect(&cfg(), NOW + 60, &[], &[b(79.0)], &[], &open);
    assert_eq!(dipped.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["budget:monthly:50:1000", "budget:monthly:80:1000"]);
    let next_window = detect(&cfg(), NOW + 60, &[], &[BudgetLevel { window_start: 2000, ..b(10.0) }], &[], &open);
    assert!(next_window.is_empty(), "a new window starts clean: the old window's alerts resolve");
}

#[test]
fn an_opened_circuit_stays_an_alert_for_its_hold_time() {
    let c = CircuitRow { deployment: "openai/gpt-4o".into(), last_opened: NOW - 100, openings: 2 };
    assert_eq!(detect(&cfg(), NOW, &[], &[], std::slice::from_ref(&c), &[])[0].key, "circuit_open:openai/gpt-4o");
    assert!(detect(&cfg(), NOW + 300, &[], &[], &[c], &[]).is_empty());
}

#[test]
fn reconcile_triggers_once_and_resolves_when_the_condition_clears() {
    let c = Condition { key: "k".into(), kind: AlertKind::ErrorStorm, severity: Severity::Error, summary: "s".into(), details: serde_json::json!({}) };
    let (t1, open) = reconcile(&[], std::slice::from_ref(&c), 10);
    assert!(matches!(&t1[..], [Transition::Trigger { alert }] if alert.opened_at == 10));
    let (t2, open) = reconcile(&open, std::slice::from_ref(&c), 70);
    assert!(t2.is_empty(), "still open: nothing sent again");
    assert_eq!(open.len(), 1);
    let (t3, open) = reconcile(&open, &[], 130);
    assert!(matches!(&t3[..], [Transition::Resolve { alert, resolved_at: 130 }] if alert.opened_at == 10));
    assert!(open.is_empty());
}

#[test]
fn each_destination_gets_the_alerts_at_or_above_its_least_severity() {
    let cond = |key: &str, severity| Condition { key: key.into(), kind: AlertKind::BudgetThreshold, severity, summary: "s".into(), details: serde_json::json!({}) };
    let sent = |out: &[(String, Transition)]| out.iter().map(|(d, t)| format!("{d}:{}:{}", t.alert().condition.key, if matches!(t, Transition::Trigger { .. }) { "trigger" } else { "resolve" })).collect::<Vec<_>>();
    // The defaults: PagerDuty from warnings up, the others everything.
    let destinations = AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://ops.example.com/x","webhook_secret":"0123456789abcdef","pagerduty_routing_key":"0123456789abcdef0123456789abcdef"}}"#).unwrap().destinations.configured();
    assert_eq!(destinations, [("webhook", Severity::Info), ("pagerduty", Severity::Warning)]);
    let mut told = Told::new();
    let (t, open) = reconcile(&[], &[cond("half", Severity::Info), cond("most", Severity::Warning)], 10);
    assert_eq!(sent(&fan_out(t, &open, &destinations, &mut told)), ["webhook:half:trigger", "pagerduty:most:trigger", "webhook:most:trigger"]);
    // Still open next run: PagerDuty is not sent the info alert it does not take.
    let (t, open) = reconcile(&open, &[cond("half", Severity::Info), cond("most", Severity::Warning)], 70);
    assert!(fan_out(t, &open, &destinations, &mut told).is_empty());
    // Resolved: each where its trigger went.
    let (t, open) = reconcile(&open, &[], 130);
    assert_eq!(sent(&fan_out(t, &open, &destinations, &mut told)), ["webhook:half:resolve", "pagerduty:most:resolve", "webhook:most:resolve"]);
    // PagerDuty set to take everything while an info alert is open: it is sent that alert, once.
    let (t, open) = reconcile(&[], &[cond("half", Severity::Info)], 190);
    fan_out(t, &open, &destinations, &mut told);
    let everything = [("webhook", Severity::Info), ("pagerduty", Severity::Info)];
    let (t, open) = reconcile(&open, &[cond("half", Severity::Info)], 250);
    assert_eq!(sent(&fan_out(t, &open, &everything, &mut told)), ["pagerduty:half:trigger"]);
    // An info alert open from before destinations were remembered (every destination was sent
    // every alert then): its resolve still reaches PagerDuty, which may have opened an incident.
    let (_, open) = reconcile(&[], &[cond("legacy", Severity::Info)], 310);
    let mut legacy = Told::new();
    assert!(fan_out(Vec::new(), &open, &destinations, &mut legacy).is_empty(), "nothing sent again");
    let (t, open) = reconcile(&open, &[], 370);
    assert_eq!(sent(&fan_out(t, &open, &destinations, &mut legacy)), ["pagerduty:legacy:resolve", "webhook:legacy:resolve"]);
    // A least severity that is not one of the four is refused by name.
    let e = AlertConfig::from_json(br#"{"destinations":{"pagerduty_min_severity":"urgent"}}"#).unwrap_err();
    assert!(e.contains("destinations.pagerduty_min_severity"), "{e}");
}

#[test]
fn an_open_alert_reaches_a_destination_added_after_it_opened_and_resolves_where_it_was_sent() {
    let c = Condition { key: "k".into(), kind: AlertKind::ErrorStorm, severity: Severity::Error, summary: "s".into(), details: serde_json::json!({}) };
    let mut told = Told::new();
    let sent = |out: &[(String, Transition)]| out.iter().map(|(d, t)| format!("{d}:{}", if matches!(t, Transition::Trigger { .. }) { "trigger" } else { "resolve" })).collect::<Vec<_>>();
    // Opens with only a webhook.
    let (t, open) = reconcile(&[], std::slice::from_ref(&c), 10);
    assert_eq!(sent(&fan_out(t, &open, &[("webhook", Severity::Info)], &mut told)), ["webhook:trigger"]);
    // PagerDuty added while it is open: it gets the trigger (the alert's first numbers), once.
    let (t, open) = reconcile(&open, std::slice::from_ref(&c), 70);
    let out = fan_out(t, &open, &[("webhook", Severity::Info), ("pagerduty", Severity::Info)], &mut told);
    assert_eq!(sent(&out), ["pagerduty:trigger"]);
    assert!(matches!(&out[0].1, Transition::Trigger { alert } if alert.opened_at == 10));
    let (t, open) = reconcile(&open, std::slice::from_ref(&c), 130);
    assert!(fan_out(t, &open, &[("webhook", Severity::Info), ("pagerduty", Severity::Info)], &mut told).is_empty());
    // Slack added in the same minute it resolves: no resolve for a trigger Slack never had.
    let (t, open) = reconcile(&open, &[], 190);
    assert_eq!(sent(&fan_out(t, &open, &[("webhook", Severity::Info), ("pagerduty", Severity::Info), ("slack", Severity::Info)], &mut told)), ["pagerduty:resolve", "webhook:resolve"]);
    assert!(told.is_empty());
    // State from before destinations were kept: taken as sent everywhere, nothing resent.
    let (_, open) = reconcile(&[], std::slice::from_ref(&c), 250);
    let mut legacy = Told::new();
    assert!(fan_out(Vec::new(), &open, &[("webhook", Severity::Info), ("slack", Severity::Info)], &mut legacy).is_empty());
}

#[test]
fn config_is_validated_with_the_field_named_and_secrets_are_redacted() {
    let ok = AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://hooks.example.com/x","webhook_secret":"0123456789abcdef-secret"},"spend_spike":{"min_usd":5}}"#).unwrap();
    assert_eq!(ok.spend_spike.factor, 3.0);
    assert_eq!(ok.redacted().destinations.webhook_secret.as_deref(), Some("…cret"));
    let tokened = AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://hooks.example.com/in/T0KEN-abcdefgh?sig=zz12","webhook_secret":"0123456789abcdef-secret"}}"#).unwrap();
    assert_eq!(tokened.redacted().destinations.webhook_url.as_deref(), Some("https://hooks.example.com/…zz12"), "a token in the path or query does not show");
    // Credentials in the URL are refused (the runtime would not send them); one stored before
    // that rule does not show them.
    let basic = br#"{"destinations":{"webhook_url":"https://ops:hunter2-secret@hooks.example.com/in","webhook_secret":"0123456789abcdef-secret"}}"#;
    assert!(AlertConfig::from_json(basic).unwrap_err().contains("must not carry credentials"));
    let stored: AlertConfig = serde_json::from_slice(basic).unwrap();
    assert_eq!(stored.redacted().destinations.webhook_url.as_deref(), Some("https://…@hooks.example.com/…/in"), "credentials in the URL do not show");
    let stored: AlertConfig = serde_json::from_slice(br#"{"destinations":{"webhook_url":"https://ops:pw@hooks.example.com","webhook_secret":"0123456789abcdef-secret"}}"#).unwrap();
    assert_eq!(stored.redacted().destinations.webhook_url.as_deref(), Some("https://…@hooks.example.com"));
    // A backslash, which fetch reads as a slash: refused.
    let slashed = AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://ops.example.com\\hooks\\T0KEN-secret","webhook_secret":"0123456789abcdef-secret"}}"#).unwrap_err();
    assert!(slashed.contains("backslash"), "{slashed}");
    assert!(AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://h.example.com/a@b","webhook_secret":"0123456789abcdef-secret"}}"#).is_ok(), "an @ in the path is no credential");
    let e = AlertConfig::from_json(br#"{"destinations":{"webhook_url":"https://h.example.com"}}"#).unwrap_err();
    assert!(e.contains("webhook_secret is required"), "{e}");
    let e = AlertConfig::from_json(br#"{"spend_spike":{"factr":2}}"#).unwrap_err();
    assert!(e.starts_with("spend_spike"), "{e}");
    let e = AlertConfig::from_json(br#"{"spend_spike":{"window_minutes":7}}"#).unwrap_err();
    assert!(e.contains("multiple of window_minutes"), "{e}");
    let e = AlertConfig::from_json(br#"{"destinations":{"slack_webhook_url":"javascript:alert(1)"}}"#).unwrap_err();
    assert!(e.contains("https URL"), "{e}");
    // Alerts name spend and features: HTTPS, or plain HTTP to this machine only.
    let e = AlertConfig::from_json(br#"{"destinations":{"slack_webhook_url":"http://hooks.example.com/x"}}"#).unwrap_err();
    assert!(e.contains("plain http only to localhost"), "{e}");
    let e = AlertConfig::from_json(br#"{"destinations":{"slack_webhook_url":"http://127.0.0.1.evil.example/x"}}"#).unwrap_err();
    assert!(e.contains("https URL"), "{e}");
    for local in ["http://127.0.0.1:8080/hook", "http://localhost/x", "http://[::1]:9000/y"] {
        AlertConfig::from_json(format!(r#"{{"destinations":{{"slack_webhook_url":"{local}"}}}}"#).as_bytes()).unwrap();
    }
    let e = AlertConfig::from_json(br#"{"destinations":{"pagerduty_routing_key":"short"}}"#).unwrap_err();
    assert!(e.contains("32-character"), "{e}");
}

#[test]
fn bodies_for_each_destination() {
    let c = Condition { key: "spend_spike:search".into(), kind: AlertKind::SpendSpike, severity: Severity::Warning, summary: "Spend spike".into(), details: serde_json::json!({"window_spend_usd": "2"}) };
    let alert = OpenAlert { condition: c, opened_at: 100 };
    let trig = Transition::Trigger { alert: alert.clone() };
    let res = Transition::Resolve { alert, resolved_at: 400 };
    assert_eq!(notify::webhook_body("acme", &trig)["type"], "alert.triggered");
    assert_eq!(notify::webhook_body("acme", &res)["alert"]["resolved_at"], 400);
    let (t_id, r_id) = (notify::webhook_body("acme", &trig)["id"].clone(), notify::webhook_body("acme", &res)["id"].clone());
    assert!(t_id.as_str().unwrap().starts_with("acme:") && t_id != r_id, "{t_id} {r_id}");
    assert_eq!(notify::webhook_body("acme", &trig)["id"], t_id, "the same for a resend");
    let pd = notify::pagerduty_body("acme", "R0UT1NGKEY", &trig);
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "warning");
    let pd_res = notify::pagerduty_body("acme", "R0UT1NGKEY", &res);
    assert_eq!(pd_res["dedup_key"], pd["dedup_key"], "the resolve closes the incident the trigger opened");
    assert_ne!(notify::dedup_key("globex", "spend_spike:search"), notify::dedup_key("acme", "spend_spike:search"));
    assert!(notify::slack_body("acme", &res)["text"].as_str().unwrap().contains("open 5 min"));
}

#[test]
fn a_destination_refusing_the_message_itself_is_not_retried() {
    for status in [500, 502, 503, 504, 408, 425, 429] {
        assert!(notify::delivery_retryable(status), "{status}");
    }
    for status in [301, 302, 307, 400, 401, 403, 404, 410, 413, 422] {
        assert!(!notify::delivery_retryable(status), "{status}");
    }
}

#[test]
fn signature_matches_a_known_hmac() {
    // HMAC-SHA256("key", "1.{}") computed independently (python: hmac.new(b"key", b"1.{}", sha256)).
    let s = notify::sign("key", 1, "{}");
    assert_eq!(s, "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    assert_ne!(notify::sign("key2", 1, "{}"), s);
    assert_ne!(notify::sign("key", 2, "{}"), s);
}

#[test]
fn on_the_crons_scheduled_second_the_window_is_the_minutes_just_completed() {
    // The cron runs at hh:mm:00 exactly; the minute starting then has no traffic yet.
    let on_the_minute = NOW - NOW % 60 + 60;
    let mut rows = steady("search", 0.10);
    rows.extend((0..5).map(|i| minute(NOW - NOW % 60 - i * 60, "search", 40, 0, 0, 0.40)));
    let found = detect(&cfg(), on_the_minute, &rows, &[], &[], &[]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].details["window_spend_usd"], "2", "all five completed minutes count");
    // A one-minute window still sees the minute that just ended.
    let mut one = cfg();
    one.spend_spike.window_minutes = 1;
    let storm = vec![minute(NOW - NOW % 60, "x", 25, 15, 0, 0.0)];
    let keys: Vec<String> = detect(&one, on_the_minute, &storm, &[], &[], &[]).into_iter().map(|c| c.key).collect();
    assert_eq!(keys, vec!["error_storm"]);
}

#[test]
fn an_alerts_later_messages_to_a_destination_wait_for_an_earlier_one_that_failed() {
    let alert = |key: &str| OpenAlert {
        condition: Condition { key: key.into(), kind: AlertKind::SpendSpike, severity: Severity::Warning, summary: String::new(), details: Value::Null },
        opened_at: NOW,
    };
    let trigger = Transition::Trigger { alert: alert("spend_spike:search") };
    let resolve = Transition::Resolve { alert: alert("spend_spike:search"), resolved_at: NOW + 60 };
    let other = Transition::Trigger { alert: alert("error_storm:search") };
    let mut order = DeliveryOrder::default();
    assert!(order.may_send("pagerduty", &trigger));
    order.failed("pagerduty", &trigger);
    assert!(!order.may_send("pagerduty", &resolve), "a resolve must not overtake its trigger");
    assert!(order.may_send("slack", &resolve), "another destination has its own order");
    assert!(order.may_send("pagerduty", &other), "another alert has its own order");
}

/// Runs the cron once a minute over `runs` (minutes since the start), one feature spending
/// `spend(minute)` dollars a minute, with the config `cfg_at(run)` gives; returns each trigger
/// (`true`) and resolve with its run.
fn spike_transitions(cfg_at: &dyn Fn(i64) -> AlertConfig, spend: &dyn Fn(i64) -> f64, runs: std::ops::Range<i64>) -> Vec<(i64, bool)> {
    let start = 1_800_000_000; // a minute's first second
    let mut open: Vec<OpenAlert> = Vec::new();
    let mut out = Vec::new();
    for run in runs {
        let now = start + run * 60;
        let rows: Vec<MinuteRow> = (0..run).map(|m| minute(start + m * 60, "f", 10, 0, 0, spend(m))).collect();
        let active = detect(&cfg_at(run), now, &rows, &[], &[], &open);
        let (transitions, still_open) = reconcile(&open, &active, now);
        out.extend(transitions.iter().map(|t| (run, matches!(t, Transition::Trigger { .. }))));
        open = still_open;
    }
    out
}

#[test]
fn a_runaway_that_climbed_into_its_spike_stays_open_until_it_stops() {
    // $0.30 a minute for two hours, $0.70 for five minutes, then $1.20 (4×) until minute 300.
    // Judged against the part of its baseline still in the rows, the blocks just before it
    // (the climb), it resolved at run 178 while still spending 4× and never fired again.
    let spend = |m: i64| if m < 120 { 0.30 } else if m < 125 { 0.70 } else if m < 300 { 1.20 } else { 0.30 };
    let transitions = spike_transitions(&|_| AlertConfig::default(), &spend, 121..400);
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    assert!(transitions[0].1 && transitions[0].0 < 130, "{transitions:?}");
    assert!(!transitions[1].1 && (301..310).contains(&transitions[1].0), "resolved once spend is back: {transitions:?}");
}

#[test]
fn a_spike_wavering_around_the_dollar_minimum_stays_open() {
    // From $0.04 a minute to five-minute sums of $0.99 and $1.01 around the $1 minimum: it
    // triggered and resolved every other minute, a PagerDuty incident each time.
    let spend = |m: i64| if m < 120 { 0.04 } else if m % 2 == 0 { 0.19 } else { 0.21 };
    let transitions = spike_transitions(&|_| AlertConfig::default(), &spend, 121..400);
    assert_eq!(transitions.iter().filter(|(_, trigger)| *trigger).count(), 1, "{transitions:?}");
    assert!(transitions.iter().all(|(_, trigger)| *trigger), "{transitions:?}");
}

#[test]
fn a_spike_open_when_its_window_changes_is_judged_at_the_new_length() {
    // A spike from minute 120 to 240; at run 235 the window becomes 60 minutes. Against its
    // trigger's 5-minute average, a normal hour looked like a spike and it never resolved.
    let spend = |m: i64| if (120..240).contains(&m) { 0.40 } else { 0.10 };
    let cfg_at = |run: i64| {
        let mut cfg = AlertConfig::default();
        if run >= 235 {
            (cfg.spend_spike.window_minutes, cfg.spend_spike.baseline_minutes) = (60, 60);
        }
        cfg
    };
    let transitions = spike_transitions(&cfg_at, &spend, 121..600);
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    assert!(transitions[0].1 && !transitions[1].1 && (241..300).contains(&transitions[1].0), "{transitions:?}");
}

#[test]
fn a_spike_under_a_small_factor_resolves_at_the_usual_spend() {
    // factor 1.2: a clearing share of the whole bar (0.96× the average) held it open for ever
    // at about the feature's usual spend (5% above it).
    let cfg = |_| {
        let mut cfg = AlertConfig::default();
        cfg.spend_spike.factor = 1.2;
        cfg
    };
    let spend = |m: i64| if m < 120 { 2.0 } else if m < 130 { 2.60 } else { 2.1 };
    let transitions = spike_transitions(&cfg, &spend, 121..300);
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    assert!(transitions[0].1 && !transitions[1].1 && transitions[1].0 <= 140, "{transitions:?}");
}

#[test]
fn a_spike_whose_spend_rose_for_good_resolves_after_its_hold_and_a_later_runaway_alerts() {
    // $0.30 a minute, $1.20 from minute 120 on, then a runaway at $6 from minute 700. Held
    // against the spend before it for ever, the first alert stayed open and the runaway's
    // alert, under the same key, was never raised.
    let spend = |m: i64| if m < 120 { 0.30 } else if m < 700 { 1.20 } else { 6.0 };
    let transitions = spike_transitions(&|_| AlertConfig::default(), &spend, 121..760);
    let hold = detect::SPIKE_HOLD_BASELINES * 60;
    assert_eq!(transitions.len(), 3, "{transitions:?}");
    assert!(transitions[0].1 && transitions[0].0 < 130, "{transitions:?}");
    assert!(!transitions[1].1 && (transitions[0].0 + hold..transitions[0].0 + hold + 5).contains(&transitions[1].0), "{transitions:?}");
    assert!(transitions[2].1 && (700..710).contains(&transitions[2].0), "{transitions:?}");
}

#[test]
fn settings_this_release_cannot_read_release_the_deliveries_handed_over() {
    let outbox = json!([{"id": 3, "destination": "webhook"}, {"id": 4, "destination": "slack"}]);
    let readable = json!({"config": serde_json::to_value(cfg()).unwrap(), "outbox": outbox});
    assert_eq!(settings_or_release(&readable).unwrap(), Some(cfg()));
    assert_eq!(settings_or_release(&json!({"config": null, "outbox": []})).unwrap(), None);
    // A newer release's settings, with a field this one does not know.
    let mut newer = serde_json::to_value(cfg()).unwrap();
    newer["digest_minutes"] = json!(15);
    let release = settings_or_release(&json!({"config": newer, "outbox": outbox})).unwrap_err();
    assert_eq!((release.released, release.delivered.len(), release.failed.len()), (vec![3, 4], 0, 0));
}
