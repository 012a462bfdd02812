//! Route decisions: which deployments a request may go to, in which order, and why.
//!
//! This first strategy serves the model the client asked for (through an alias if it named one)
//! and falls back along that model's deployments. Policy-driven strategies (cheapest capable,
//! cascade, splits) plug in here and produce the same [`RouteDecision`].

pub mod classify;
pub mod downgrade;
pub mod cascade;
pub mod health;
pub mod local_time;
pub mod plan;
pub mod policy;
pub mod retirements;

use serde::Serialize;

use crate::api::ApiError;
use crate::calendar::Date;
use crate::catalog::{Catalog, ModelMode, ProviderConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub provider: String,
    pub upstream_model: String,
    /// The public model this candidate serves, and its pricing row.
    pub model: String,
    pub price_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    /// What the client sent in `model`.
    pub requested: String,
    /// The pricing row of the model the client asked for: the baseline savings are measured against.
    pub baseline_price_key: Option<String>,
    /// Tried in order until one answers.
    pub candidates: Vec<Candidate>,
    /// A short name for the route taken (`direct`, `alias`), for headers and events.
    pub route: String,
    /// The policy rule that chose this route (empty when no policy rule did).
    pub rule: String,
    /// Why, in words a person reads in a response header.
    pub reason: String,
    /// Set when the route is a cascade: answers are judged before they are accepted.
    pub cascade: Option<CascadeSettings>,
    /// The data residency the rule requires (empty: none). Whatever narrows the route later (a
    /// budget downgrade) must stay inside these regions.
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CascadeSettings {
    pub min_logprob: Option<f64>,
    pub buffer_streams: bool,
}

/// Routes a request to the model it names. `usable` says whether a provider can be called now
/// (it has its key); providers that cannot, and deployments retired by `today`, are left out,
/// and the reason says so.
pub fn route_direct(
    catalog: &Catalog,
    requested: &str,
    mode: ModelMode,
    allowed_models: Option<&[String]>,
    usable: impl Fn(&ProviderConfig) -> bool,
    today: Date,
) -> Result<RouteDecision, ApiError> {
    let model = catalog.resolve(requested).ok_or_else(|| ApiError::model_not_found(requested))?;
    if !catalog.allows_name(allowed_models, requested) {
        return Err(ApiError::model_not_found(requested));
    }
    if model.mode != mode {
        let wanted = match mode {
            ModelMode::Chat => "chat completions",
            ModelMode::Embedding => "embeddings",
        };
        return Err(ApiError::invalid_value("model", format!("The model '{requested}' does not support {wanted}.")));
    }
    if let Some(on) = model.retired_on(today) {
        return Err(ApiError::model_retired(requested, &model.name, on));
    }
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let mut retired = Vec::new();
    for d in &model.deployments {
        let provider = &catalog.providers[&d.provider];
        if let Some(on) = d.retired_on(today) {
            retired.push(format!("{} (retired {on})", d.provider));
        } else if usable(provider) {
            candidates.push(Candidate {
                provider: d.provider.clone(),
                upstream_model: d.upstream_model.clone(),
                model: model.name.clone(),
                price_key: model.price_key_of(d).to_string(),
            });
        } else {
            skipped.push(d.provider.as_str());
        }
    }
    if candidates.is_empty() {
        // Keys are configuration: a retry in a second would meet the same absence.
        let also_retired = if retired.is_empty() { String::new() } else { format!("; the others are retired: {}", retired.join(", ")) };
        return Err(ApiError::no_route(format!(
            "No deployment of '{}' can be called: no API key is configured for {}{also_retired}.",
            model.name,
            skipped.join(", ")
        ))
        .retry_cannot_help());
    }
    let via_alias = requested != model.name;
    let mut reason = if via_alias {
        format!("alias '{requested}' serves {}", model.name)
    } else {
        format!("requested model {}", model.name)
    };
    if candidates.len() > 1 {
        let chain: Vec<&str> = candidates.iter().map(|c| c.provider.as_str()).collect();
        reason.push_str(&format!("; fallback order {}", chain.join(" > ")));
    }
    if !skipped.is_empty() {
        reason.push_str(&format!("; skipped {} (no key)", skipped.join(", ")));
    }
    if !retired.is_empty() {
        reason.push_str(&format!("; skipped {}", retired.join(", ")));
    }
    Ok(RouteDecision {
        requested: requested.to_string(),
        baseline_price_key: Some(model.price_key.clone()),
        candidates,
        route: if via_alias { "alias".into() } else { "direct".into() },
        rule: String::new(),
        reason,
        cascade: None,
        regions: Vec::new(),
    })
}

/// What to do after an upstream answered with `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Success,
    /// Try the next candidate: rate limits, overload, server errors, timeouts, credentials the
    /// provider refused and an account that cannot pay (OpenRouter's 402): a deployment's
    /// misconfiguration is not the client's fault.
    Fallback,
    /// A refusal the provider's body decides (`providers::Provider::rejection`): usually the
    /// request itself, which another deployment would refuse too.
    ClientError,
}

/// The status a failed call leaves for the client if every candidate fails as it did: a rate limit
/// (429) or an overload (503, and Anthropic's 529 `overloaded_error`, which OpenAI's clients know
/// as 503), both of which the SDKs retry; other failures are answered 502.
pub fn retryable_failure(status: u16) -> Option<u16> {
    match status {
        429 => Some(429),
        503 | 529 => Some(503),
        _ => None,
    }
}

pub fn disposition(status: u16) -> Disposition {
    match status {
        200..=299 => Disposition::Success,
        401 | 402 | 403 | 404 | 408 | 409 | 429 => Disposition::Fallback,
        400..=499 => Disposition::ClientError,
        _ => Disposition::Fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{"version":1,"providers":{
                "openai":{"preset":"openai"},
                "azure":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21"}},
              "models":{"gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini"},{"provider":"azure","upstream_model":"mini"}]},
                        "emb":{"mode":"embedding","deployments":[{"provider":"openai","upstream_model":"text-embedding-3-small"}]}},
              "aliases":{"fast":"gpt-4o-mini"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn routes_through_alias_with_fallback_chain() {
        let d = route_direct(&catalog(), "fast", ModelMode::Chat, None, |_| true, Date { days: 0 }).unwrap();
        assert_eq!(d.route, "alias");
        assert_eq!(d.candidates.len(), 2);
        assert_eq!(d.reason, "alias 'fast' serves gpt-4o-mini; fallback order openai > azure");
    }

    #[test]
    fn skips_providers_without_keys_and_says_so() {
        let d = route_direct(&catalog(), "gpt-4o-mini", ModelMode::Chat, None, |p| p.id == "azure", Date { days: 0 }).unwrap();
        assert_eq!(d.candidates[0].provider, "azure");
        assert!(d.reason.ends_with("skipped openai (no key)"));
        let e = route_direct(&catalog(), "gpt-4o-mini", ModelMode::Chat, None, |_| false, Date { days: 0 }).unwrap_err();
        assert_eq!(e.status, 503);
        assert_eq!(e.retry_headers(), &[("x-should-retry", "false")], "no key now, none in a second: not retried");
    }

    #[test]
    fn a_retired_deployment_is_skipped_and_a_model_with_none_left_is_told_retired() {
        let dated = |openai: &str, azure: &str| {
            let doc = format!(
                r#"{{"version":1,"providers":{{"openai":{{"preset":"openai"}},"azure":{{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21"}}}},
                  "models":{{"gpt-4o-mini":{{"deployments":[{{"provider":"openai","upstream_model":"gpt-4o-mini","retires_on":"{openai}"}},{{"provider":"azure","upstream_model":"mini","retires_on":"{azure}"}}]}}}},
                  "aliases":{{"fast":"gpt-4o-mini"}}}}"#
            );
            Catalog::from_json(&doc).unwrap()
        };
        let day = |s: &str| Date::parse(s).unwrap();
        let c = dated("2027-01-14", "2027-04-14");
        let before = route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |_| true, day("2027-01-13")).unwrap();
        assert_eq!(before.candidates.len(), 2);
        assert!(!before.reason.contains("retired"), "{}", before.reason);
        let between = route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |_| true, day("2027-01-14")).unwrap();
        assert_eq!(between.candidates.iter().map(|c| c.provider.as_str()).collect::<Vec<_>>(), ["azure"]);
        assert_eq!(between.reason, "requested model gpt-4o-mini; skipped openai (retired 2027-01-14)");
        // Azure left without its key: a missing key to set, not a retirement.
        let e = route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |p| p.id == "openai", day("2027-02-01")).unwrap_err();
        assert_eq!(e.status, 503);
        assert_eq!(e.message, "No deployment of 'gpt-4o-mini' can be called: no API key is configured for azure; the others are retired: openai (retired 2027-01-14).");
        let after = route_direct(&c, "fast", ModelMode::Chat, None, |_| true, day("2027-04-14")).unwrap_err();
        assert_eq!((after.status, after.code, after.param.as_deref()), (404, "model_not_found", Some("model")));
        assert_eq!(after.message, "The model 'fast' (gpt-4o-mini) was retired on 2027-04-14: its provider no longer serves it. GET /v1/models lists the models this key may use.");
        // Retired whatever the keys: the client's name is what to change.
        assert_eq!(route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |_| false, day("2027-05-01")).unwrap_err().status, 404);
        assert!(route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |_| true, day("2027-05-01")).unwrap_err().message.starts_with("The model 'gpt-4o-mini' was retired on 2027-04-14:"));
    }

    #[test]
    fn unknown_disallowed_and_wrong_mode_models_are_refused() {
        assert_eq!(route_direct(&catalog(), "gpt-9", ModelMode::Chat, None, |_| true, Date { days: 0 }).unwrap_err().status, 404);
        let allowed = vec!["emb".to_string()];
        assert_eq!(route_direct(&catalog(), "fast", ModelMode::Chat, Some(&allowed), |_| true, Date { days: 0 }).unwrap_err().code, "model_not_found");
        assert_eq!(route_direct(&catalog(), "emb", ModelMode::Chat, None, |_| true, Date { days: 0 }).unwrap_err().param.as_deref(), Some("model"));
    }

    #[test]
    fn rate_limits_and_overloads_are_answered_as_such_when_every_candidate_fails() {
        assert_eq!(retryable_failure(429), Some(429));
        assert_eq!(retryable_failure(503), Some(503));
        assert_eq!(retryable_failure(529), Some(503), "Anthropic's overloaded_error");
        for s in [500, 502, 504, 401] {
            assert_eq!(retryable_failure(s), None, "{s}");
        }
    }

    #[test]
    fn statuses_decide_fallback() {
        assert_eq!(disposition(200), Disposition::Success);
        for s in [401, 402, 429, 500, 502, 503, 504, 529] {
            assert_eq!(disposition(s), Disposition::Fallback, "{s}");
        }
        for s in [400, 413, 422] {
            assert_eq!(disposition(s), Disposition::ClientError, "{s}");
        }
    }
}
