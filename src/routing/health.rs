//! Deployment health: a circuit breaker and a latency moving average per deployment.
//!
//! State lives in each isolate (the edge runs many): a deployment that keeps failing is skipped
//! by the isolates that saw it fail, without a shared round trip on every request. The clock is
//! passed in, so the state machine is tested natively.
//!
//! Closed → (N consecutive failures) → Open for a cooldown → HalfOpen: one probe request; its
//! success closes the breaker, its failure opens it again.
//!
//! Apart from the breaker, a provider that refuses with a wait (`retry-after` on a 429 or 503)
//! holds its deployment for that long, up to [`MAX_HOLD_MS`]: the calls it said it would refuse
//! are not made (each would cost its request a round trip before the fallback, and the provider
//! more load), as LiteLLM's router cools a deployment down.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cooldown_ms: f64,
    /// Weight of the newest sample in the latency average.
    pub latency_alpha: f64,
    /// How long a probe may stay unanswered before another request may probe: a probe whose
    /// client went away is cancelled with its request and never reports back. Longer than any
    /// provider's time limit to response headers (60 s by default).
    pub probe_timeout_ms: f64,
    /// How long a latency average counts without a new sample. `fastest` sends its requests to
    /// the deployment with the lowest average, so a slower one gets none and its average would
    /// never move: once stale, while another candidate's is fresh, it ranks as unmeasured, which
    /// `fastest` tries first, so one request measures it again (one every this often, per
    /// isolate, while it is slower). When every average is stale (a quiet isolate) they rank as
    /// they were.
    pub latency_stale_ms: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, cooldown_ms: 30_000.0, latency_alpha: 0.2, probe_timeout_ms: 120_000.0, latency_stale_ms: 300_000.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum BreakerState {
    Closed,
    Open { until_ms: f64 },
    HalfOpen { probe_in_flight: bool, probe_started_ms: f64 },
}

/// The longest a provider's own wait holds its deployment. Azure answers an exhausted daily quota
/// with `retry-after: 86400`; a quota raised meanwhile would leave the deployment unused for a
/// day. Past this, one call asks again (and is held again if refused again). 59 s: a request
/// every candidate of which is held is told the time left, which stays within what the SDKs
/// honour (`api::error::LONGEST_RETRY_AFTER_SDKS_HONOUR_SECS`), so they wait and retry.
pub const MAX_HOLD_MS: f64 = 59_000.0;

/// A provider asked for no calls until `until_ms`, refusing with `status` (429 or 503).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hold {
    pub until_ms: f64,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentHealth {
    pub breaker: BreakerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Hold>,
    pub consecutive_failures: u32,
    pub successes: u64,
    pub failures: u64,
    /// Moving average of whole answers' latency (request sent to body read).
    pub latency_ms: Option<f64>,
    /// Moving average of streams' latency to their response headers: a different measure (a
    /// stream starts long before a whole answer would end), so kept apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_latency_ms: Option<f64>,
    /// When each average last took a sample (ms; 0: never).
    #[serde(skip)]
    pub latency_at_ms: f64,
    #[serde(skip)]
    pub stream_latency_at_ms: f64,
}

/// A latency average as shown to tenants (`GET /v1/deployments`, the `fastest` route reason):
/// the nearest 100 ms. The average is every tenant's calls together, and exact figures read
/// twice would give back another tenant's call and how long it took.
pub fn coarse_latency_ms(ms: f64) -> f64 {
    (ms / 100.0).round() * 100.0
}

/// How an answer was read, which decides what its latency measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    Whole,
    Stream,
}

impl Default for DeploymentHealth {
    fn default() -> Self {
        DeploymentHealth {
            breaker: BreakerState::Closed,
            held: None,
            consecutive_failures: 0,
            successes: 0,
            failures: 0,
            latency_ms: None,
            stream_latency_ms: None,
            latency_at_ms: 0.0,
            stream_latency_at_ms: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Allow,
    /// The breaker is half open: this request is the probe.
    Probe,
    /// The breaker is open, or the provider asked for a wait (`held_by`: the status it refused
    /// with); `retry_in_ms` until a call is allowed.
    Refuse { retry_in_ms: f64, held_by: Option<u16> },
}

#[derive(Debug, Default)]
pub struct HealthBoard {
    config: BreakerConfig,
    deployments: HashMap<String, DeploymentHealth>,
}

/// The key of a deployment: provider id and the model name it serves.
pub fn deployment_key(provider: &str, upstream_model: &str) -> String {
    format!("{provider}/{upstream_model}")
}

impl HealthBoard {
    pub fn new(config: BreakerConfig) -> Self {
        HealthBoard { config, deployments: HashMap::new() }
    }

    pub fn admit(&mut self, key: &str, now_ms: f64) -> Admission {
        let h = self.deployments.entry(key.to_string()).or_default();
        match h.held {
            Some(hold) if now_ms < hold.until_ms => return Admission::Refuse { retry_in_ms: hold.until_ms - now_ms, held_by: Some(hold.status) },
            Some(_) => h.held = None,
            None => {}
        }
        match h.breaker {
            BreakerState::Closed => Admission::Allow,
            BreakerState::Open { until_ms } if now_ms < until_ms => Admission::Refuse { retry_in_ms: until_ms - now_ms, held_by: None },
            BreakerState::HalfOpen { probe_in_flight: true, probe_started_ms } if now_ms - probe_started_ms < self.config.probe_timeout_ms => {
                // One probe at a time; others wait a little rather than pile onto a sick deployment.
                Admission::Refuse { retry_in_ms: 1_000.0, held_by: None }
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => {
                h.breaker = BreakerState::HalfOpen { probe_in_flight: true, probe_started_ms: now_ms };
                Admission::Probe
            }
        }
    }

    pub fn record_success(&mut self, key: &str, kind: AnswerKind, latency_ms: f64, now_ms: f64) {
        let (alpha, stale) = (self.config.latency_alpha, self.config.latency_stale_ms);
        let h = self.deployments.entry(key.to_string()).or_default();
        h.successes += 1;
        h.consecutive_failures = 0;
        h.breaker = BreakerState::Closed;
        let (average, at) = match kind {
            AnswerKind::Whole => (&mut h.latency_ms, &mut h.latency_at_ms),
            AnswerKind::Stream => (&mut h.stream_latency_ms, &mut h.stream_latency_at_ms),
        };
        // A stale average is started afresh: it describes the deployment as it was.
        *average = Some(match *average {
            Some(avg) if now_ms - *at <= stale => avg + alpha * (latency_ms - avg),
            _ => latency_ms,
        });
        *at = now_ms;
    }

    /// A stream has produced its first token: the deployment answers, so a half-open breaker
    /// closes now rather than refusing everyone else until the probe's stream ends (up to the
    /// probe timeout). The stream's own verdict, and its latency, still come at its end.
    pub fn record_started(&mut self, key: &str) {
        if let Some(h) = self.deployments.get_mut(key) {
            if matches!(h.breaker, BreakerState::HalfOpen { probe_in_flight: true, .. }) {
                h.breaker = BreakerState::Closed;
                h.consecutive_failures = 0;
            }
        }
    }

    /// A call that says nothing of the deployment's health (the upstream refused this request
    /// with a client error). If it was the half-open probe, the next request probes instead:
    /// otherwise only a success or a failure clears the probe, and the breaker would refuse
    /// every request from then on.
    pub fn record_neutral(&mut self, key: &str) {
        if let Some(h) = self.deployments.get_mut(key) {
            if let BreakerState::HalfOpen { probe_in_flight: true, probe_started_ms } = h.breaker {
                h.breaker = BreakerState::HalfOpen { probe_in_flight: false, probe_started_ms };
            }
        }
    }

    /// Counts a failure; returns true when it opened the breaker (for the circuit-open alert).
    pub fn record_failure(&mut self, key: &str, now_ms: f64) -> bool {
        let (threshold, cooldown) = (self.config.failure_threshold, self.config.cooldown_ms);
        let h = self.deployments.entry(key.to_string()).or_default();
        h.failures += 1;
        h.consecutive_failures += 1;
        // For `fastest`, a failed call is a slow one (the request then waited for a fallback):
        // it counts as a sample of twice the average, so a deployment that fails now and then
        // falls behind one that answers, though its breaker never opens. Only a fresh average
        // grows (a stale one describes the deployment as it was), and never past the probe
        // timeout, so a long run of failures cannot push it out of range.
        let (alpha, stale, ceiling) = (self.config.latency_alpha, self.config.latency_stale_ms, self.config.probe_timeout_ms);
        for (average, at) in [(&mut h.latency_ms, &mut h.latency_at_ms), (&mut h.stream_latency_ms, &mut h.stream_latency_at_ms)] {
            if let Some(avg) = average.as_mut().filter(|_| now_ms - *at <= stale) {
                *avg = (*avg + alpha * *avg).min(ceiling);
                *at = now_ms;
            }
        }
        let probe_failed = matches!(h.breaker, BreakerState::HalfOpen { .. });
        let was_open = matches!(h.breaker, BreakerState::Open { .. });
        if probe_failed || h.consecutive_failures >= threshold {
            h.breaker = BreakerState::Open { until_ms: now_ms + cooldown };
            return !was_open;
        }
        false
    }

    /// The provider refused a call with `status` (429 or 503) and asked for `wait_ms` without
    /// calls: the deployment is held that long, at most [`MAX_HOLD_MS`] (a longer hold it already
    /// has stands). The refusal counts against the breaker too ([`HealthBoard::record_failure`]).
    pub fn record_wait(&mut self, key: &str, status: u16, wait_ms: f64, now_ms: f64) {
        if wait_ms <= 0.0 || !wait_ms.is_finite() {
            return;
        }
        let h = self.deployments.entry(key.to_string()).or_default();
        let until_ms = now_ms + wait_ms.min(MAX_HOLD_MS);
        if h.held.is_none_or(|held| held.until_ms < until_ms) {
            h.held = Some(Hold { until_ms, status });
        }
    }

    /// The average latency of answers read this way, and whether it is fresh (a sample within
    /// `latency_stale_ms`); `None` when unmeasured.
    pub fn latency_ms(&self, key: &str, kind: AnswerKind, now_ms: f64) -> Option<(f64, bool)> {
        let with_age = |average: Option<f64>, at: f64| average.map(|avg| (avg, now_ms - at <= self.config.latency_stale_ms));
        self.deployments.get(key).and_then(|h| match kind {
            AnswerKind::Whole => with_age(h.latency_ms, h.latency_at_ms),
            AnswerKind::Stream => with_age(h.stream_latency_ms, h.stream_latency_at_ms),
        })
    }

    pub fn snapshot(&self) -> Vec<(String, DeploymentHealth)> {
        let mut all: Vec<_> = self.deployments.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_a_probe() {
        let mut b = HealthBoard::new(BreakerConfig { failure_threshold: 3, cooldown_ms: 1000.0, latency_alpha: 0.5, probe_timeout_ms: 60_000.0, ..BreakerConfig::default() });
        let k = "openai/gpt-4o";
        for t in 0..2 {
            assert!(!b.record_failure(k, t as f64));
            assert_eq!(b.admit(k, t as f64), Admission::Allow);
        }
        b.record_success(k, AnswerKind::Whole, 100.0, 5.0);
        b.record_failure(k, 10.0);
        b.record_failure(k, 11.0);
        assert_eq!(b.admit(k, 12.0), Admission::Allow, "a success resets the count");
        assert!(b.record_failure(k, 13.0), "the third failure in a row opens it");
        assert_eq!(b.admit(k, 500.0), Admission::Refuse { retry_in_ms: 513.0, held_by: None });
        assert_eq!(b.admit(k, 1013.0), Admission::Probe);
        assert!(matches!(b.admit(k, 1014.0), Admission::Refuse { .. }), "one probe at a time");
        assert!(b.record_failure(k, 1020.0), "a failed probe opens it again");
        assert_eq!(b.admit(k, 1500.0), Admission::Refuse { retry_in_ms: 520.0, held_by: None }, "a failed probe reopens");
        assert_eq!(b.admit(k, 2020.0), Admission::Probe);
        b.record_success(k, AnswerKind::Whole, 300.0, 2020.0);
        assert_eq!(b.admit(k, 2021.0), Admission::Allow);
    }

    #[test]
    fn latency_for_fastest_counts_failures_as_slow_and_forgets_stale_averages() {
        let mut b = HealthBoard::new(BreakerConfig { latency_alpha: 0.5, latency_stale_ms: 1000.0, ..BreakerConfig::default() });
        let k = "azure-eu/mini";
        b.record_success(k, AnswerKind::Whole, 100.0, 0.0);
        b.record_success(k, AnswerKind::Whole, 300.0, 10.0);
        b.record_success(k, AnswerKind::Stream, 40.0, 10.0);
        assert_eq!((b.latency_ms(k, AnswerKind::Whole, 20.0), b.latency_ms(k, AnswerKind::Stream, 20.0)), (Some((200.0, true)), Some((40.0, true))), "a stream's start is not averaged with whole answers");
        // A failure is a sample of twice the average, in both measures.
        b.record_failure(k, 30.0);
        assert_eq!((b.latency_ms(k, AnswerKind::Whole, 40.0), b.latency_ms(k, AnswerKind::Stream, 40.0)), (Some((300.0, true)), Some((60.0, true))));
        // No sample for longer than latency_stale_ms: stale, and a failure then does not revive it.
        assert_eq!(b.latency_ms(k, AnswerKind::Whole, 1031.0), Some((300.0, false)));
        b.record_failure(k, 1040.0);
        assert_eq!(b.latency_ms(k, AnswerKind::Whole, 1041.0), Some((300.0, false)));
        b.record_success(k, AnswerKind::Whole, 80.0, 1100.0);
        assert_eq!(b.latency_ms(k, AnswerKind::Whole, 1100.0), Some((80.0, true)), "started afresh, not averaged with what it was");
        assert_eq!(b.latency_ms("never/seen", AnswerKind::Whole, 0.0), None);
        // At a clock's real times (milliseconds since 1970) the same: a sample 10 ms after the
        // last is averaged with it.
        let now = 1.8e12;
        b.record_success("late/x", AnswerKind::Whole, 100.0, now);
        b.record_success("late/x", AnswerKind::Whole, 300.0, now + 10.0);
        assert_eq!(b.latency_ms("late/x", AnswerKind::Whole, now + 20.0), Some((200.0, true)));
        // Failures without end stay in range (at most the probe timeout).
        for t in 0..5000 {
            b.record_failure(k, 1100.0 + t as f64 * 0.1);
        }
        assert_eq!(b.latency_ms(k, AnswerKind::Whole, 1600.0), Some((BreakerConfig::default().probe_timeout_ms, true)));
    }

    #[test]
    fn a_probe_that_ends_in_a_client_error_lets_the_next_request_probe() {
        let mut b = HealthBoard::new(BreakerConfig { failure_threshold: 1, cooldown_ms: 1000.0, latency_alpha: 0.5, probe_timeout_ms: 60_000.0, ..BreakerConfig::default() });
        let k = "anthropic/claude-haiku-4-5";
        assert!(b.record_failure(k, 0.0));
        assert_eq!(b.admit(k, 1000.0), Admission::Probe);
        assert_eq!(b.admit(k, 1001.0), Admission::Refuse { retry_in_ms: 1_000.0, held_by: None }, "one probe at a time");
        // The probe's request was refused by the upstream as a client error (a bad image URL).
        b.record_neutral(k);
        assert_eq!(b.admit(k, 1002.0), Admission::Probe, "without this, the breaker refused every request from then on");
        b.record_success(k, AnswerKind::Whole, 50.0, 1002.0);
        assert_eq!(b.admit(k, 1003.0), Admission::Allow);
        b.record_neutral(k);
        assert_eq!(b.admit(k, 1004.0), Admission::Allow, "a client error leaves a closed breaker closed");
    }

    #[test]
    fn a_streaming_probe_reopens_the_deployment_at_its_first_token() {
        let mut b = HealthBoard::new(BreakerConfig { failure_threshold: 1, cooldown_ms: 1000.0, latency_alpha: 0.5, probe_timeout_ms: 60_000.0, ..BreakerConfig::default() });
        let k = "anthropic/claude-haiku-4-5";
        b.record_started(k);
        assert_eq!(b.admit(k, 0.0), Admission::Allow, "a closed breaker is left as it is");
        b.record_failure(k, 0.0);
        assert_eq!(b.admit(k, 1000.0), Admission::Probe);
        assert!(matches!(b.admit(k, 1001.0), Admission::Refuse { .. }));
        b.record_started(k);
        assert_eq!(b.admit(k, 1002.0), Admission::Allow, "others need not wait for the probe's stream to end");
        // An open breaker is not closed by a stream that started before it opened.
        b.record_failure(k, 2000.0);
        b.record_started(k);
        assert!(matches!(b.admit(k, 2001.0), Admission::Refuse { .. }));
    }

    #[test]
    fn a_probe_that_never_reports_back_is_replaced_after_the_probe_timeout() {
        let mut b = HealthBoard::new(BreakerConfig { failure_threshold: 1, cooldown_ms: 1000.0, latency_alpha: 0.5, probe_timeout_ms: 60_000.0, ..BreakerConfig::default() });
        let k = "openai/gpt-4o";
        b.record_failure(k, 0.0);
        assert_eq!(b.admit(k, 1000.0), Admission::Probe);
        // Its client went away: the request was cancelled and reports nothing.
        assert!(matches!(b.admit(k, 60_999.0), Admission::Refuse { .. }));
        assert_eq!(b.admit(k, 61_000.0), Admission::Probe, "not locked out for the isolate's life");
    }

    #[test]
    fn a_provider_that_asks_for_a_wait_holds_its_deployment_that_long_up_to_a_limit() {
        let mut b = HealthBoard::default();
        let k = "azure-eu/mini";
        b.record_failure(k, 0.0);
        b.record_wait(k, 429, 20_000.0, 0.0);
        assert_eq!(b.admit(k, 5_000.0), Admission::Refuse { retry_in_ms: 15_000.0, held_by: Some(429) }, "one refusal holds it: no breaker threshold to reach first");
        assert_eq!(b.admit(k, 20_000.0), Admission::Allow, "then it is asked again (its breaker is still closed)");
        assert_eq!(b.snapshot()[0].1.held, None, "an ended hold is forgotten");
        // A shorter wait does not cut a longer hold short; a daily quota's day is held 59 s.
        b.record_wait(k, 503, 86_400_000.0, 30_000.0);
        b.record_wait(k, 429, 1_000.0, 30_000.0);
        assert_eq!(b.admit(k, 31_000.0), Admission::Refuse { retry_in_ms: MAX_HOLD_MS - 1_000.0, held_by: Some(503) });
        assert_eq!(serde_json::to_value(&b.snapshot()[0].1).unwrap()["held"], serde_json::json!({"until_ms": 89_000.0, "status": 503}));
        assert_eq!(b.admit(k, 89_000.0), Admission::Allow);
        // A longer wait does lengthen a shorter hold.
        b.record_wait(k, 429, 1_000.0, 90_000.0);
        b.record_wait(k, 503, 4_000.0, 90_000.0);
        assert_eq!(b.admit(k, 91_000.0), Admission::Refuse { retry_in_ms: 3_000.0, held_by: Some(503) });
        assert_eq!(b.admit(k, 94_000.0), Admission::Allow);
        // "Retry at once" holds nothing, nor does a wait that is no number.
        for wait in [0.0, f64::INFINITY, f64::NAN] {
            b.record_wait(k, 429, wait, 100_000.0);
            assert_eq!(b.admit(k, 100_000.0), Admission::Allow, "{wait}");
        }
        // A hold outlasts an open breaker's cooldown, and the breaker still opens by its count.
        let mut b = HealthBoard::new(BreakerConfig { failure_threshold: 1, cooldown_ms: 1_000.0, ..BreakerConfig::default() });
        assert!(b.record_failure(k, 0.0));
        b.record_wait(k, 429, 5_000.0, 0.0);
        assert_eq!(b.admit(k, 2_000.0), Admission::Refuse { retry_in_ms: 3_000.0, held_by: Some(429) }, "no probe while held");
        assert_eq!(b.admit(k, 5_000.0), Admission::Probe);
    }

    #[test]
    fn snapshot_is_sorted_and_serializable() {
        let mut b = HealthBoard::default();
        b.record_success("b/x", AnswerKind::Whole, 10.0, 0.0);
        b.record_failure("a/y", 0.0);
        let snap = b.snapshot();
        assert_eq!(snap[0].0, "a/y");
        let v = serde_json::to_value(&snap[1].1).unwrap();
        assert_eq!(v["breaker"]["state"], "closed");
        b.record_success("b/x", AnswerKind::Stream, 10.0, 1.0);
        assert_eq!(b.snapshot()[1].1.successes, 2, "each success counted");
        b.record_failure("a/y", 1.0);
        assert_eq!(b.snapshot()[0].1.failures, 2, "each failure counted");
    }
}
