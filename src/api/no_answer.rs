//! What a client hears when no deployment answered its request (chat and embeddings alike): the
//! refusal that ends it, or the wait before it may try again.

use super::error::{retry_after_headers, ApiError};

/// The waits refusing providers asked for (`retry-after` / `retry-after-ms` on a 429 or 503)
/// over one request's calls.
#[derive(Debug, Default)]
pub struct ProviderWaits {
    /// The shortest: the soonest a retry may find a deployment free.
    soonest: Option<u32>,
    /// How many failed calls came with one.
    told: usize,
}

impl ProviderWaits {
    /// A refusal with a wait (or without one: `None`, which tells nothing).
    pub fn note(&mut self, wait: Option<u32>) {
        if let Some(wait) = wait {
            self.note_held(wait);
            self.told += 1;
        }
    }

    /// A candidate passed over, still held for the wait its provider asked for earlier: it may
    /// take calls again sooner than the ones refused now.
    pub fn note_held(&mut self, wait: u32) {
        self.soonest = Some(self.soonest.map_or(wait, |soonest| soonest.min(wait)));
    }

    /// The headers for a request that failed with `status` after `calls_failed` failed calls:
    /// the soonest wait (1 to 120 s) on a 429 or 503. Only when every failed call was refused
    /// with a wait may it come with `x-should-retry: false` (a wait past what the SDKs honour);
    /// a deployment that failed otherwise (a 500, a timeout) may answer a retry at once.
    pub fn headers(&self, status: u16, calls_failed: usize) -> Vec<(&'static str, String)> {
        let Some(secs) = self.soonest.filter(|_| status == 429 || status == 503) else { return Vec::new() };
        let secs = i64::from(secs.clamp(1, 120));
        if self.told == calls_failed {
            retry_after_headers(secs)
        } else {
            vec![("retry-after", secs.to_string())]
        }
    }
}

/// A wait in milliseconds as the whole seconds a client is told (rounded up).
pub fn whole_seconds(ms: f64) -> u32 {
    (ms / 1000.0).ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The candidates a request passed over without calling them: behind an open breaker, or held
/// for the wait their provider asked for (`routing::health::Admission::Refuse`).
#[derive(Debug, Default)]
pub struct Unavailable {
    skipped: usize,
    /// How many of them a provider holds after refusing with a 429 (a rate limit).
    rate_limited: usize,
    soonest_ms: Option<f64>,
}

impl Unavailable {
    /// A candidate passed over. One held for its provider's wait may take calls again sooner than
    /// those refused during this request: `waits` is told.
    pub fn note(&mut self, retry_in_ms: f64, held_by: Option<u16>, waits: &mut ProviderWaits) {
        if held_by.is_some() {
            waits.note_held(whole_seconds(retry_in_ms));
        }
        self.skipped += 1;
        self.rate_limited += usize::from(held_by == Some(429));
        self.soonest_ms = Some(self.soonest_ms.map_or(retry_in_ms, |soonest| soonest.min(retry_in_ms)));
    }

    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The error for a request none of whose candidates could be called (`model` as
    /// [`ApiError::every_breaker_open`] names it, `why` each one's reason), and its
    /// `retry-after`: the soonest any of them takes calls again. When every one is held by its
    /// provider's rate limit, the client hears the 429 those calls would have brought, as
    /// LiteLLM's router answers when all deployments cool down; else the 503 of open breakers.
    pub fn error(&self, model: &str, why: &[String]) -> (ApiError, Vec<(&'static str, String)>) {
        let error = if self.skipped > 0 && self.rate_limited == self.skipped {
            ApiError::upstream_failed(429, format!("Every deployment for {model} is rate limited by its provider for now: {}.", why.join("; ")))
        } else {
            ApiError::every_breaker_open(model, why)
        };
        let wait = self.soonest_ms.map(|ms| retry_after_headers(((ms / 1000.0).ceil() as i64).clamp(1, 120))).unwrap_or_default();
        (error, wait)
    }
}

/// The error that ends a request no deployment served, when every candidate either refused it
/// as it is or sat behind an open breaker: a provider's refusal (a parameter it does not take, a
/// prompt too long for its window) even beside open breakers, since a retry would meet it again;
/// else, with no breaker open, an adapter's refusal (`None` when there is none); else
/// `breakers_open` (unavailable for now, retried).
pub fn refusal_when_nothing_served(provider_said: Option<ApiError>, adapter_said: Option<ApiError>, circuit_skips: usize, breakers_open: impl FnOnce() -> ApiError) -> Option<ApiError> {
    match (provider_said, circuit_skips) {
        (Some(refusal), _) => Some(refusal),
        (None, 0) => adapter_said,
        (None, _) => Some(breakers_open()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soonest_wait_is_told_and_no_retry_only_when_every_call_was_refused_with_one() {
        let mut waits = ProviderWaits::default();
        assert!(waits.headers(429, 0).is_empty(), "nothing asked");
        waits.note(Some(300));
        waits.note(None);
        waits.note(Some(90));
        assert_eq!(waits.headers(429, 2), vec![("retry-after", "90".to_string()), ("x-should-retry", "false".to_string())]);
        assert_eq!(waits.headers(503, 3), vec![("retry-after", "90".to_string())], "a call failed otherwise");
        assert!(waits.headers(502, 2).is_empty(), "told only on a 429 or 503");
        waits.note(Some(5));
        assert_eq!(waits.headers(429, 3), vec![("retry-after", "5".to_string())]);
        let mut long = ProviderWaits::default();
        long.note(Some(600));
        assert_eq!(long.headers(429, 1)[0], ("retry-after", "120".to_string()), "at most 120 s");
        // A candidate held for a shorter wait than the refusals ask makes the wait shorter; it
        // was no call, so the calls' long waits still decide whether the SDKs may retry.
        long.note_held(20);
        assert_eq!(long.headers(429, 1), vec![("retry-after", "20".to_string())]);
        assert_eq!((whole_seconds(20.0), whole_seconds(1_000.0), whole_seconds(1_000.5)), (1, 1, 2));
    }

    #[test]
    fn candidates_held_by_their_providers_rate_limits_are_a_429_and_the_soonest_is_told() {
        let (mut held, mut waits) = (Unavailable::default(), ProviderWaits::default());
        held.note(12_300.0, Some(429), &mut waits);
        held.note(4_100.0, Some(429), &mut waits);
        assert_eq!(waits.headers(429, 0), vec![("retry-after", "5".to_string())], "a held candidate's wait is one to tell");
        let (error, wait) = held.error("'m'", &["a: held".into(), "b: held".into()]);
        assert_eq!((error.status, error.code), (429, "upstream_rate_limited"));
        assert!(error.message.contains("a: held; b: held"), "{}", error.message);
        assert_eq!(wait, vec![("retry-after", "5".to_string())]);
        // One of them behind an open breaker (or held after a 503): unavailable, not rate limited.
        let (mut mixed, mut waits) = (Unavailable::default(), ProviderWaits::default());
        mixed.note(30_000.0, None, &mut waits);
        assert!(waits.headers(503, 0).is_empty(), "an open breaker is no provider's wait");
        mixed.note(200.0, Some(429), &mut waits);
        let (error, wait) = mixed.error("'m'", &[]);
        assert_eq!((error.status, error.code), (503, "no_available_route"));
        assert_eq!(wait, vec![("retry-after", "1".to_string())], "at least a second");
        assert_eq!(mixed.skipped(), 2);
        assert_eq!(Unavailable::default().error("'m'", &[]).1, vec![]);
    }

    #[test]
    fn a_providers_refusal_beats_open_breakers_and_an_adapters_refusal_does_not() {
        let breakers = || ApiError::every_breaker_open("'m'", &[]);
        let provider = || Some(ApiError::invalid_value("dimensions", "refused by the provider"));
        let adapter = || Some(ApiError::invalid_value("input", "refused by the adapter"));
        assert_eq!(refusal_when_nothing_served(provider(), adapter(), 1, breakers).map(|e| e.param), Some(Some("dimensions".into())));
        assert_eq!(refusal_when_nothing_served(None, adapter(), 0, breakers).map(|e| e.param), Some(Some("input".into())));
        assert_eq!(refusal_when_nothing_served(None, adapter(), 2, breakers).map(|e| e.code), Some("no_available_route"));
        assert!(refusal_when_nothing_served(None, None, 0, breakers).is_none());
    }
}
