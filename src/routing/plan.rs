//! From a policy's decision to an ordered list of deployments to try, with the reason.

use crate::api::ApiError;
use crate::calendar::Date;
use crate::catalog::{Catalog, ModelMode, ProviderConfig};
use crate::pricing::PriceTable;
use crate::usage::{ServiceTier, Usage};

use super::policy::{split_pick, Action, Facts, Policy, Route, Strategy};
use super::{route_direct, Candidate, RouteDecision};

/// What a policy decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Route(RouteDecision),
    /// Refused by a rule: the message goes to the client as a 403-style error. `why` is what the
    /// rule matched on ("risk irreversible"), the only clue a wrongly refused user has.
    Block { rule: String, why: String, message: String },
    /// Answered by a rule without calling a model.
    Respond { rule: String, why: String, text: String },
}

/// Everything the planner needs besides the policy.
pub struct PlanInput<'a> {
    pub catalog: &'a Catalog,
    pub prices: &'a PriceTable,
    pub facts: &'a Facts,
    /// Output tokens to assume for each choice when estimating.
    pub expected_output_tokens: u64,
    /// How many answers the request asks for (`n`): each is generated and billed.
    pub choices: u64,
    /// The request's `reasoning_effort`: a model that reasons at it (`ModelPrice::reasons_at`) is
    /// expected to write [`expected_reasoning_tokens`] for it when the client sets no output cap.
    pub reasoning_effort: Option<&'a str>,
    /// The output cap the client set (`max_tokens` / `max_completion_tokens`), if any: a model
    /// that cannot write that many is passed over, since its provider would refuse the request
    /// with a 400, which ends the fallback chain.
    pub requested_output_tokens: Option<u64>,
    /// Whether `expected_output_tokens` already holds whatever a model thinks, so that estimates
    /// add no reasoning to it: a client's cap does (a model thinks inside it; the worker sets
    /// this when the client sets one), and so does an audited call's logged output when the
    /// logged model reasons (its bill counted the reasoning as output).
    pub output_holds_reasoning: bool,
    /// The output cap a deployment's adapter sends (provider, upstream model) when the client
    /// sets none, if it sends one (`Provider::default_output_cap` for this request).
    pub adapter_output_cap: &'a dyn Fn(&ProviderConfig, &str) -> Option<u64>,
    /// The thinking a deployment's adapter sends for the request's `reasoning_effort`
    /// (`Provider::reasoning_as_asked`): a model that thinks only when asked (Claude 3.7 to 4.6,
    /// whose rows do not say `supports_reasoning`) is estimated with it, up to the reasoning
    /// expected, or asked for `xhigh` it would look as cheap as if it answered at once.
    pub reasoning_as_asked: &'a dyn Fn(&ProviderConfig, &str) -> Option<u64>,
    /// The processing tier asked for (OpenAI's `service_tier`): estimates price at its rates.
    pub service_tier: ServiceTier,
    /// Keeps a user on the same arm of a split (`split_sticky_key`).
    pub sticky_key: &'a str,
    /// Whether `sticky_key` is a user's, not the request's own id.
    pub sticky_per_user: bool,
    pub allowed_models: Option<&'a [String]>,
    pub usable: &'a dyn Fn(&ProviderConfig) -> bool,
    /// Moving-average latency of a deployment (by [`super::health::deployment_key`]), if measured.
    pub latency_ms: &'a dyn Fn(&str) -> Option<(f64, bool)>,
    /// The day (UTC) deployments' `retires_on` are judged at: those retired by it are passed over.
    pub today: Date,
}

pub fn plan(policy: &Policy, input: &PlanInput) -> Result<Outcome, ApiError> {
    // A tenant held to some models asks by their names only, under any rule (a block or a canned
    // answer too): a name of the catalog outside them is no model of theirs (a name that is
    // none, like `auto`, is left to the policy).
    let requested = input.facts.model.as_str();
    if input.catalog.resolve(requested).is_some() && !input.catalog.allows_name(input.allowed_models, requested) {
        return Err(ApiError::model_not_found(requested));
    }
    let Some((rule, why)) = policy.first_match(input.facts) else {
        return Err(ApiError::no_route(format!("No rule of policy '{}' matches this request.", policy.name)).retry_cannot_help());
    };
    let prefix = format!("rule '{}' ({why})", rule.name);
    match &rule.action {
        Action::Block(message) => Ok(Outcome::Block { rule: rule.name.clone(), why, message: message.clone() }),
        Action::Respond(text) => Ok(Outcome::Respond { rule: rule.name.clone(), why, text: text.clone() }),
        Action::Route(route) => route_by(route, &rule.name, &prefix, input).map(Outcome::Route),
    }
}

/// Whether the tenant may be routed to a candidate the policy names (see `Catalog::allows`).
fn allowed(input: &PlanInput, resolved: &str) -> bool {
    input.catalog.allows(input.allowed_models, resolved)
}

/// Why a deployment cannot take the request once its adapter fills in an output cap the client
/// left out (Anthropic requires one and is sent 4,096), if it cannot. Such a provider counts
/// that cap against the context window and refuses the request with a 400, which would end the
/// fallback chain, where the planner's own check assumed only the expected output.
/// Shared with the budget downgrade, which picks its model the same way.
pub fn adapter_output_cap_misfit(prices: &PriceTable, price_key: &str, adapter_output_cap: Option<u64>, prompt_tokens: u64, requested_output_tokens: Option<u64>) -> Option<String> {
    if requested_output_tokens.is_some() {
        return None;
    }
    let cap = adapter_output_cap?;
    prices.get(price_key)?.cannot_take(prompt_tokens, cap, Some(cap))
}

/// What keeps a user on one arm of a split: the tenant and user, so one tenant's `user` ids
/// never share another's arms. The user is the attribution's; where the body's end-user id
/// (`user`, `safety_identifier`) was not one attribution keeps (a base64 id with `+` or `=`, an
/// email with `+`, over 64 characters), that id as sent, so such a user stays on one arm too.
/// Without a user each request is drawn on its own, by `request_id` (keyed by the tenant alone, a
/// whole tenant's traffic would land on one arm and the test would say nothing). The worker and
/// `costrouter route` draw alike.
pub fn split_sticky_key(tenant: &str, user: &str, end_user_as_sent: Option<&str>, request_id: &str) -> SplitKey {
    match (user, end_user_as_sent) {
        ("", None | Some("")) => SplitKey { key: request_id.to_string(), per_user: false },
        ("", Some(sent)) => SplitKey { key: format!("{tenant}:{sent}"), per_user: true },
        (user, _) => SplitKey { key: format!("{tenant}:{user}"), per_user: true },
    }
}

/// What a split draws its arm by (`split_sticky_key`), and whether that is a user (the reason
/// says "sticky per user") or the request alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitKey {
    pub key: String,
    pub per_user: bool,
}

/// Output tokens assumed when a request sets no cap, for estimates and context-window checks (the
/// worker's and the command line's `route`).
pub const DEFAULT_EXPECTED_OUTPUT_TOKENS: u64 = 512;

/// Reasoning tokens `cheapest` expects of a model that reasons unasked (its pricing row says
/// `supports_reasoning`) when the client sets no output cap: a rough medium-effort answer's.
pub const EXPECTED_REASONING_TOKENS: u64 = 2_000;

/// [`expected_cost`] of this request on the pricing row `price_key`, served by `provider`'s
/// `upstream_model`, if the table has it.
pub(super) fn estimate_for(input: &PlanInput, price_key: &str, provider: &str, upstream_model: &str) -> Option<crate::money::Usd> {
    let p = input.prices.get(price_key)?;
    let as_asked = input.catalog.providers.get(provider).and_then(|config| (input.reasoning_as_asked)(config, upstream_model));
    Some(expected_cost(p, input.facts.prompt_tokens, input.expected_output_tokens, input.reasoning_effort, as_asked, input.choices, input.output_holds_reasoning, input.service_tier))
}

/// What a request is expected to cost on the model priced `p`, as `cheapest` and a budget
/// downgrade rank models: the prompt, and `expected_output_tokens` for each of `choices` answers,
/// plus [`expected_reasoning_tokens`] for the effort it runs at (the request's `reasoning_effort`,
/// else the row's default) each on a model that reasons at it (`ModelPrice::reasons_at`) when
/// the client set no output cap (`capped`; a cap holds the reasoning). Without them a reasoning
/// model would look as cheap as one that answers at once, and cost several times what was
/// expected; with them, one that reasons only when asked (gpt-5.4-mini) would look four times
/// dearer than it is.
/// `reasoning_as_asked`: the thinking budget a model that thinks only when asked is sent for the
/// request's effort (see [`PlanInput::reasoning_as_asked`]); it is expected to think that much,
/// at most the reasoning expected.
#[allow(clippy::too_many_arguments)]
pub fn expected_cost(p: &crate::pricing::ModelPrice, prompt_tokens: u64, expected_output_tokens: u64, reasoning_effort: Option<&str>, reasoning_as_asked: Option<u64>, choices: u64, capped: bool, service_tier: ServiceTier) -> crate::money::Usd {
    let expected = expected_reasoning_tokens(p.effort_at(reasoning_effort));
    let reasoning = match (capped, p.reasons_at(reasoning_effort), reasoning_as_asked) {
        (true, _, _) => 0,
        (false, true, _) => expected,
        (false, false, Some(budget)) => budget.min(expected),
        (false, false, None) => 0,
    };
    let output_tokens = (expected_output_tokens + reasoning).saturating_mul(choices.max(1));
    p.cost(&Usage { input_tokens: prompt_tokens, output_tokens, service_tier, ..Usage::default() }, false).total
}

/// [`EXPECTED_REASONING_TOKENS`] scaled to the request's `reasoning_effort`, doubling with each
/// step as the Anthropic adapter's thinking budgets do: "none" and "minimal" think (almost) not at
/// all (Gemini is sent a zero budget), "low" half, "high" twice, "xhigh" four times and Anthropic's
/// own "max" eight times (left at the default, "xhigh" ranked cheaper than "high").
pub fn expected_reasoning_tokens(reasoning_effort: Option<&str>) -> u64 {
    match reasoning_effort {
        Some("none" | "minimal") => 0,
        Some("low") => EXPECTED_REASONING_TOKENS / 2,
        Some("high") => EXPECTED_REASONING_TOKENS * 2,
        Some("xhigh") => EXPECTED_REASONING_TOKENS * 4,
        Some("max") => EXPECTED_REASONING_TOKENS * 8,
        _ => EXPECTED_REASONING_TOKENS,
    }
}

/// Why the deployment priced `price_key` cannot take the request's prompt and the output it asks
/// for (without a cap, the provider writes into whatever room is left, as OpenAI does: one
/// token), by that row, if it cannot; and whether the output asked for is what to change (the
/// client's `max_tokens` is past what it writes, or the prompt fits and only the output overruns
/// the window), else the prompt itself is too long.
fn size_misfit(input: &PlanInput, price_key: &str) -> Option<(String, bool)> {
    let price = input.prices.get(price_key)?;
    let prompt = input.facts.prompt_tokens;
    let why = price.cannot_take(prompt, input.requested_output_tokens.unwrap_or(1), input.requested_output_tokens)?;
    let prompt_fits = price.context_window.is_none_or(|w| prompt < w) && price.max_input_tokens.is_none_or(|l| prompt <= l);
    Some((why, input.requested_output_tokens.is_some() && prompt_fits))
}

pub(super) fn route_by(route: &Route, rule_name: &str, prefix: &str, input: &PlanInput) -> Result<RouteDecision, ApiError> {
    let requested = input.facts.model.as_str();
    let baseline_price_key = input.catalog.resolve(requested).map(|m| m.price_key.clone());
    if route.strategy == Strategy::Requested && route.regions.is_empty() {
        let mut d = route_direct(input.catalog, requested, ModelMode::Chat, input.allowed_models, input.usable, input.today)?;
        d.reason = format!("{prefix}: {}", d.reason);
        d.rule = rule_name.to_string();
        return Ok(d);
    }
    if route.strategy == Strategy::Requested {
        // A name that is no model, or not this tenant's, is the client's mistake (404), not a
        // residency refusal to retry.
        let model = input.catalog.resolve(requested).ok_or_else(|| ApiError::model_not_found(requested))?;
        if !input.catalog.allows_name(input.allowed_models, requested) {
            return Err(ApiError::model_not_found(requested));
        }
        if model.mode != ModelMode::Chat {
            return Err(ApiError::invalid_value("model", format!("The model '{requested}' does not support chat completions.")));
        }
        if let Some(on) = model.retired_on(input.today) {
            return Err(ApiError::model_retired(requested, &model.name, on));
        }
    }
    let names: Vec<String> = match route.strategy {
        Strategy::Requested => vec![requested.to_string()],
        Strategy::Fallback | Strategy::Cheapest | Strategy::Fastest | Strategy::Cascade => route.candidates.clone(),
        Strategy::Split => {
            let pick = split_pick(&route.candidates, &route.weights, &format!("{rule_name}:{}", input.sticky_key));
            let mut order = vec![route.candidates[pick].clone()];
            order.extend(route.candidates.iter().enumerate().filter(|(i, _)| *i != pick).map(|(_, c)| c.clone()));
            order
        }
    };
    let mut notes: Vec<String> = Vec::new();
    let mut models: Vec<(&crate::catalog::ModelEntry, Option<crate::money::Usd>)> = Vec::new();
    // Candidates passed over for the request's size (a prompt over the window, an output over
    // the cap) and for anything a later request could find different (no key, a region): if
    // only size stood in the way, the client has a request to change (a 400), not an outage to
    // wait out. Names that can never serve (unknown, not a chat model, not allowed, retired)
    // count for neither.
    let (mut too_long, mut too_much_output, mut otherwise) = (0usize, 0usize, 0usize);
    // Models whose every deployment's pricing row says it cannot do what the request asks (take
    // its images, answer in its JSON schema), and each such reason met.
    let (mut lacking, mut lacked) = (0usize, Vec::<&'static str>::new());
    for name in &names {
        let Some(model) = input.catalog.resolve(name) else {
            notes.push(format!("{name} unknown"));
            continue;
        };
        if model.mode != ModelMode::Chat {
            notes.push(format!("{} is not a chat model", model.name));
            continue;
        }
        if !allowed(input, &model.name) {
            notes.push(format!("{} not in this tenant's allowed_models", model.name));
            continue;
        }
        if let Some(on) = model.retired_on(input.today) {
            notes.push(format!("{} retired {on}", model.name));
            continue;
        }
        let live: Vec<&crate::catalog::DeploymentRef> = model.deployments.iter().filter(|d| d.retired_on(input.today).is_none()).collect();
        // Each deployment by its own pricing row (an Azure deployment may hold less than the
        // model's): a model none of whose deployments can take the request is passed over here,
        // a deployment that cannot beside one that can below.
        let misfits: Option<Vec<(String, bool)>> = live.iter().map(|d| size_misfit(input, model.price_key_of(d))).collect();
        if let Some(misfits) = misfits {
            if misfits.iter().any(|(_, output_to_change)| *output_to_change) {
                too_much_output += 1;
            } else {
                too_long += 1;
            }
            // (A model not retired has a deployment that is not.)
            if misfits.iter().all(|(why, _)| *why == misfits[0].0) {
                notes.push(format!("{} {}", model.name, misfits[0].0));
            } else {
                notes.extend(live.iter().zip(&misfits).map(|(d, (why, _))| format!("{} on {} {why}", model.name, d.provider)));
            }
            continue;
        }
        // The model's first deployment stands for it until each deployment is ranked (below).
        let first = live[0];
        let estimate = estimate_for(input, &model.price_key, &first.provider, &first.upstream_model);
        if !models.iter().any(|(m, _)| m.name == model.name) {
            models.push((model, estimate));
        }
    }
    if route.strategy == Strategy::Cheapest {
        // Unpriced models sort last: a cost we cannot estimate is not cheap.
        models.sort_by_key(|(_, est)| est.map(|e| e.0).unwrap_or(i64::MAX));
    }
    let mut candidates = Vec::new();
    for (model, _) in &models {
        let before = candidates.len();
        // Deployments the region and key filters let through, those of them too small (and of
        // those, the ones that cannot write the output asked for), and those whose pricing row (a
        // deployment may have its own) says they cannot do what is asked.
        let (mut eligible, mut misfits, mut output_misfits, mut unable) = (0usize, 0usize, 0usize, 0usize);
        for d in &model.deployments {
            let provider = &input.catalog.providers[&d.provider];
            if let Some(on) = d.retired_on(input.today) {
                notes.push(format!("{} on {} retired {on}", model.name, d.provider));
                continue;
            }
            if !provider.serves_regions(&route.regions) {
                notes.push(format!("{} on {} outside regions {}", model.name, d.provider, route.regions.join("/")));
                continue;
            }
            if !(input.usable)(provider) {
                notes.push(format!("{} has no key", d.provider));
                continue;
            }
            eligible += 1;
            if let Some(why) = input.prices.get(model.price_key_of(d)).and_then(|p| p.lacks(input.facts.needs())) {
                notes.push(format!("{} on {} {why}", model.name, d.provider));
                unable += 1;
                if !lacked.contains(&why) {
                    lacked.push(why);
                }
                continue;
            }
            if let Some((why, output_to_change)) = size_misfit(input, model.price_key_of(d)) {
                notes.push(format!("{} on {} {why}", model.name, d.provider));
                misfits += 1;
                output_misfits += usize::from(output_to_change);
                continue;
            }
            if let Some(why) = adapter_output_cap_misfit(input.prices, model.price_key_of(d), (input.adapter_output_cap)(provider, &d.upstream_model), input.facts.prompt_tokens, input.requested_output_tokens) {
                notes.push(format!("{} on {} {why}", model.name, d.provider));
                misfits += 1;
                continue;
            }
            candidates.push(Candidate { provider: d.provider.clone(), upstream_model: d.upstream_model.clone(), model: model.name.clone(), price_key: model.price_key_of(d).to_string() });
        }
        if candidates.len() == before {
            // Every deployment that could serve here too small, by its own row or for the prompt
            // with its adapter's own output cap, is a size refusal too; none here at all (no key,
            // outside the regions) is not.
            if unable > 0 && unable == eligible {
                lacking += 1;
            } else if misfits > 0 && misfits + unable == eligible {
                if output_misfits > 0 {
                    too_much_output += 1;
                } else {
                    too_long += 1;
                }
            } else {
                otherwise += 1;
            }
        }
    }
    if route.strategy == Strategy::Cheapest {
        // Each deployment by its own price (stable: the catalog's order among equals), unpriced last.
        candidates.sort_by_key(|c| estimate_for(input, &c.price_key, &c.provider, &c.upstream_model).map_or(i64::MAX, |e| e.0));
    }
    if route.strategy == Strategy::Fastest {
        let latency = |c: &Candidate| (input.latency_ms)(&super::health::deployment_key(&c.provider, &c.upstream_model));
        // A stale average ranks as unmeasured (first, to be measured again) while another is
        // fresh; when none is (a quiet isolate), the stale ones rank as they were.
        let any_fresh = candidates.iter().any(|c| matches!(latency(c), Some((_, true))));
        let rank = |c: &Candidate| match latency(c) {
            Some((ms, fresh)) if fresh || !any_fresh => ms,
            _ => -1.0,
        };
        candidates.sort_by(|a, b| rank(a).total_cmp(&rank(b)));
    }
    if candidates.is_empty() {
        let why = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
        if otherwise == 0 && too_long == 0 && too_much_output == 0 && lacking > 0 {
            // Every need some candidate failed, so the client sees them all at once (the notes
            // say which candidate lacks what; the field named is the first).
            let needs: Vec<&str> = lacked.iter().map(|w| if w.contains("images") { "images" } else { "an answer in a JSON schema" }).collect();
            let param = if lacked.iter().any(|w| w.contains("images")) { "messages" } else { "response_format" };
            let message = match needs.as_slice() {
                [one] if one.starts_with("images") => format!("{prefix}: the request has images and no candidate takes images{why}."),
                [_] => format!("{prefix}: the request asks for an answer in a JSON schema and no candidate takes one{why}."),
                _ => format!("{prefix}: the request asks for {} and no candidate takes all of them{why}.", needs.join(" and ")),
            };
            return Err(ApiError::invalid_value(param, message));
        }
        if otherwise == 0 && too_much_output > 0 {
            return Err(ApiError::invalid_value("max_tokens", format!("{prefix}: max_tokens is more than the candidates can write or hold{why}.")));
        }
        if otherwise == 0 && too_long > 0 {
            return Err(ApiError::context_length_exceeded(format!("{prefix}: the request does not fit the context window of any candidate{why}.")));
        }
        // What passed the candidates over here is configuration (unknown or disallowed models,
        // no key, outside the regions), not the moment: open breakers are judged later, and
        // answered as retryable (`ApiError::every_breaker_open`).
        return Err(if route.regions.is_empty() {
            ApiError::no_route(format!("{prefix}: no candidate can serve this request{why}."))
        } else {
            ApiError::no_route(format!("{prefix}: data residency requires {} and no deployment there can serve this request{why}.", route.regions.join("/")))
        }
        .retry_cannot_help());
    }
    let strategy = match route.strategy {
        Strategy::Requested => "requested",
        Strategy::Fallback => "fallback",
        Strategy::Cheapest => "cheapest",
        Strategy::Split => "split",
        Strategy::Fastest => "fastest",
        Strategy::Cascade => "cascade",
    };
    let mut reason = format!("{prefix}: {strategy}");
    let escalates = candidates.iter().any(|c| c.model != candidates[0].model);
    match route.strategy {
        Strategy::Cheapest => {
            // Each model at the price of its cheapest deployment that can serve (candidates are in
            // price order), as the request was ranked.
            let mut ranked: Vec<String> = Vec::new();
            for c in &candidates {
                let entry = format!("{} ${}", c.model, estimate_for(input, &c.price_key, &c.provider, &c.upstream_model).map(|e| e.to_string()).unwrap_or_else(|| "?".into()));
                if !ranked.iter().any(|r| r.split(' ').next() == Some(c.model.as_str())) {
                    ranked.push(entry);
                }
            }
            reason.push_str(&format!(" of {} (estimated) -> {}", ranked.join(", "), candidates[0].model));
        }
        Strategy::Split => {
            let drawn = input.catalog.resolve(&names[0]).map_or(names[0].as_str(), |m| m.name.as_str());
            let how = if input.sticky_per_user { "sticky per user" } else { "drawn for this request" };
            if candidates[0].model == drawn {
                reason.push_str(&format!(" arm {drawn} ({how})"));
            } else {
                reason.push_str(&format!(" arm {drawn} ({how}) passed over, -> {}", candidates[0].model));
            }
        }
        Strategy::Fastest => {
            let ms = (input.latency_ms)(&super::health::deployment_key(&candidates[0].provider, &candidates[0].upstream_model));
            let measured = match ms {
                Some((m, true)) => format!("~{:.0} ms average", super::health::coarse_latency_ms(m)),
                Some((m, false)) => format!("~{:.0} ms average, stale", super::health::coarse_latency_ms(m)),
                None => "not yet measured".into(),
            };
            reason.push_str(&format!(" -> {}@{} ({measured})", candidates[0].model, candidates[0].provider));
        }
        Strategy::Cascade if escalates => reason.push_str(&format!(" starting at {}, escalating on a weak answer", candidates[0].model)),
        Strategy::Cascade => reason.push_str(&format!(" at {}, with no stronger model available to escalate to, so not judged", candidates[0].model)),
        _ => reason.push_str(&format!(" -> {}", candidates[0].model)),
    }
    if !route.regions.is_empty() {
        reason.push_str(&format!("; regions {}", route.regions.join("/")));
    }
    if candidates.len() > 1 {
        let chain: Vec<String> = candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect();
        reason.push_str(&format!("; fallback order {}", chain.join(" > ")));
    }
    if !notes.is_empty() {
        reason.push_str(&format!("; skipped {}", notes.join(", ")));
    }
    // A cascade with nothing to escalate to judges nothing: its answers are the first model's
    // fallback chain's, and are recorded so (the recommendations read a cascade's answers as
    // ones its first model passed).
    let judged = route.strategy == Strategy::Cascade && escalates;
    let cascade = judged.then_some(super::CascadeSettings { min_logprob: route.min_logprob, buffer_streams: route.buffer_streams });
    let strategy = if route.strategy == Strategy::Cascade && !judged { "fallback" } else { strategy };
    Ok(RouteDecision {
        requested: requested.to_string(),
        baseline_price_key,
        candidates,
        route: strategy.to_string(),
        rule: rule_name.to_string(),
        reason,
        cascade,
        regions: route.regions.clone(),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::routing::classify::TaskClass;

    pub(in crate::routing) fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{"version":1,"providers":{
                "openai":{"preset":"openai","region":"us"},
                "azure-eu":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21","region":"eu"},
                "anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1","key_secret":"ANTHROPIC_API_KEY","region":"us"}},
              "models":{"gpt-4o":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o"}]},
                        "gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini"},{"provider":"azure-eu","upstream_model":"mini"}]},
                        "claude-haiku-4-5":{"deployments":[{"provider":"anthropic","upstream_model":"claude-haiku-4-5"}]},
                        "tiny":{"deployments":[{"provider":"openai","upstream_model":"tiny"}]},
                        "emb":{"mode":"embedding","deployments":[{"provider":"azure-eu","upstream_model":"emb"}]}},
              "aliases":{"gpt4o":"gpt-4o"}}"#,
        )
        .unwrap()
    }

    pub(in crate::routing) fn prices() -> PriceTable {
        PriceTable::from_json(
            r#"{"models":{"gpt-4o":{"input":2.5,"output":10,"context_window":128000},"gpt-4o-mini":{"input":0.15,"output":0.6,"context_window":128000,"max_output_tokens":16384},
               "claude-haiku-4-5":{"input":1,"output":5,"context_window":200000,"max_output_tokens":64000},"tiny":{"input":0.01,"output":0.01,"context_window":1000},
               "emb":{"input":0.02}}}"#,
        )
        .unwrap()
    }

    const POLICY: &str = r#"
version = 1
name = "t"
[[rules]]
name = "eu"
when = { eu = true }
route = { strategy = "fallback", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], regions = ["eu"] }
[[rules]]
name = "simple"
when = { task = ["classification"] }
route = { strategy = "cheapest", candidates = ["claude-haiku-4-5", "gpt-4o-mini", "tiny"] }
[[rules]]
name = "ab"
when = { feature = ["search"] }
route = { strategy = "split", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], weights = [50, 50] }
[[rules]]
name = "quick"
when = { feature = ["quick"] }
route = { strategy = "fastest", candidates = ["gpt-4o-mini"] }
[[rules]]
name = "default"
route = { strategy = "requested" }
"#;

    /// The caps the adapters send for a request that asks for nothing in particular.
    fn no_request_caps(p: &ProviderConfig, upstream_model: &str) -> Option<u64> {
        let plain = crate::api::chat::ChatRequest::from_value(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})).unwrap();
        crate::providers::adapter_for(p.kind).default_output_cap(&plain, upstream_model)
    }

    fn every_provider_usable(_: &ProviderConfig) -> bool {
        true
    }

    fn nothing_measured(_: &str) -> Option<(f64, bool)> {
        None
    }

    /// What the tests plan with unless they say otherwise: 500 expected output tokens, one
    /// choice, no client cap, standard tier, user "u", every model allowed and every provider
    /// usable, no latency measured.
    pub(in crate::routing) fn input<'a>(cat: &'a Catalog, prices: &'a PriceTable, facts: &'a Facts) -> PlanInput<'a> {
        PlanInput {
            catalog: cat,
            prices,
            facts,
            expected_output_tokens: 500,
            choices: 1,
            reasoning_effort: None,
            requested_output_tokens: None,
            output_holds_reasoning: false,
            adapter_output_cap: &no_request_caps,
            reasoning_as_asked: &|_, _| None,
            service_tier: ServiceTier::Standard,
            sticky_key: "u",
            sticky_per_user: !facts.user.is_empty(),
            allowed_models: None,
            usable: &every_provider_usable,
            latency_ms: &nothing_measured,
            today: Date { days: 0 },
        }
    }

    fn run(facts: Facts, usable: &dyn Fn(&ProviderConfig) -> bool) -> Result<Outcome, ApiError> {
        run_capped(facts, usable, None)
    }

    fn run_capped(facts: Facts, usable: &dyn Fn(&ProviderConfig) -> bool, max_tokens: Option<u64>) -> Result<Outcome, ApiError> {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let prices = prices();
        let latency = |k: &str| match k {
            "openai/gpt-4o-mini" => Some((300.0, true)),
            "azure-eu/mini" => Some((120.0, true)),
            _ => None,
        };
        plan(&policy, &PlanInput { requested_output_tokens: max_tokens, output_holds_reasoning: max_tokens.is_some(), sticky_key: "user-7", usable, latency_ms: &latency, ..input(&cat, &prices, &facts) })
    }

    fn route(o: Outcome) -> RouteDecision {
        match o {
            Outcome::Route(d) => d,
            other => panic!("expected a route, got {other:?}"),
        }
    }

    #[test]
    fn block_and_respond_rules_say_what_they_matched() {
        let cat = catalog();
        let text = POLICY.replacen("[[rules]]", "[[rules]]\nname = \"no-payments\"\nwhen = { feature = [\"pay\"] }\nblock = \"Payments need a human.\"\n[[rules]]\nname = \"faq\"\nwhen = { feature = [\"faq\"] }\nrespond = \"Open 9-5.\"\n[[rules]]", 1);
        let policy = Policy::from_toml("t.toml", &text, &cat).unwrap();
        let prices = prices();
        let outcome = |feature: &str| plan(&policy, &input(&cat, &prices, &Facts { feature: feature.into(), ..Facts::default() })).unwrap();
        match outcome("pay") {
            Outcome::Block { rule, why, message } => assert_eq!((rule.as_str(), why.as_str(), message.as_str()), ("no-payments", "feature pay", "Payments need a human.")),
            other => panic!("expected a block, got {other:?}"),
        }
        match outcome("faq") {
            Outcome::Respond { rule, why, .. } => assert_eq!((rule.as_str(), why.as_str()), ("faq", "feature faq")),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn cheapest_orders_by_estimate_and_respects_context_windows() {
        let d = route(run(Facts { task: Some(TaskClass::Classification), prompt_tokens: 2000, model: "gpt4o".into(), ..Facts::default() }, &|_| true).unwrap());
        assert_eq!(d.candidates[0].model, "gpt-4o-mini");
        assert_eq!(d.candidates.last().unwrap().model, "claude-haiku-4-5");
        assert!(d.reason.contains("skipped tiny window 1000 < 2001 tokens"), "{}", d.reason);
        assert!(d.reason.starts_with("rule 'simple' (task classification): cheapest of gpt-4o-mini $0.0006"), "{}", d.reason);
        assert_eq!(d.baseline_price_key.as_deref(), Some("gpt-4o"));
    }

    #[test]
    fn cheapest_ranks_each_host_of_a_model_by_its_own_price() {
        // Llama on two hosts at their own prices (a deployment's `price_key`), the dearer one first
        // in the catalog, and gpt-4o-mini priced between them.
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{"together":{"preset":"together"},"groq":{"preset":"groq"},"openai":{"preset":"openai"}},
              "models":{"llama":{"price_key":"llama-together","deployments":[{"provider":"together","upstream_model":"l"},{"provider":"groq","upstream_model":"l","price_key":"llama-groq"}]},
                        "gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini"}]}}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(r#"{"models":{"llama-together":{"input":0.88,"output":0.88},"llama-groq":{"input":0.05,"output":0.08,"supports_response_schema":false},"gpt-4o-mini":{"input":0.15,"output":0.6}}}"#).unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"gpt-4o-mini\", \"llama\"] }\n", &cat).unwrap();
        let facts = Facts { model: "x".into(), prompt_tokens: 1000, ..Facts::default() };
        let d = route(plan(&policy, &input(&cat, &prices, &facts)).unwrap());
        let order: Vec<String> = d.candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect();
        assert_eq!(order, ["llama@groq", "gpt-4o-mini@openai", "llama@together"], "{}", d.reason);
        assert!(d.reason.contains("cheapest of llama $"), "the model at its cheapest host's price: {}", d.reason);
        let order = |d: &RouteDecision| d.candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect::<Vec<_>>();
        // Without Groq (no key), Llama is priced as the host that serves it.
        let no_groq = |p: &ProviderConfig| p.id != "groq";
        let d = route(plan(&policy, &PlanInput { usable: &no_groq, ..input(&cat, &prices, &facts) }).unwrap());
        assert_eq!(order(&d), ["gpt-4o-mini@openai", "llama@together"], "{}", d.reason);
        let together = estimate_for(&input(&cat, &prices, &facts), "llama-together", "together", "llama").unwrap();
        assert!(d.reason.contains(&format!("cheapest of gpt-4o-mini $0.00045, llama ${together}")), "{}", d.reason);
        // A capability is judged by each deployment's own row: the Groq host takes no schema.
        let schema = Facts { has_schema: true, ..facts.clone() };
        let d = route(plan(&policy, &input(&cat, &prices, &schema)).unwrap());
        assert_eq!(order(&d), ["gpt-4o-mini@openai", "llama@together"], "{}", d.reason);
        assert!(d.reason.contains("llama on groq does not take a JSON schema"), "{}", d.reason);
    }

    #[test]
    fn cheapest_prices_the_requested_service_tier() {
        // At priority rates gpt-4o-mini costs more than claude-haiku-4-5 for this request.
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let prices = PriceTable::from_json(
            r#"{"models":{"gpt-4o":{"input":2.5,"output":10,"context_window":128000},
               "gpt-4o-mini":{"input":0.15,"output":0.6,"context_window":128000,"service_tiers":{"priority":{"input":2,"output":8}}},
               "claude-haiku-4-5":{"input":1,"output":5,"context_window":200000},"tiny":{"input":0.01,"output":0.01,"context_window":1000}}}"#,
        )
        .unwrap();
        let facts = Facts { task: Some(TaskClass::Classification), prompt_tokens: 2000, model: "gpt4o".into(), ..Facts::default() };
        let first = |tier| {
            route(plan(&policy, &PlanInput { service_tier: tier, ..input(&cat, &prices, &facts) }).unwrap()).candidates[0].model.clone()
        };
        assert_eq!(first(ServiceTier::Standard), "gpt-4o-mini");
        assert_eq!(first(ServiceTier::Priority), "claude-haiku-4-5");
    }

    #[test]
    fn a_request_too_big_for_every_candidate_is_the_clients_400_not_an_outage() {
        let facts = |tokens| Facts { task: Some(TaskClass::Classification), prompt_tokens: tokens, model: "gpt4o".into(), ..Facts::default() };
        let e = run(facts(300_000), &|_| true).unwrap_err();
        assert_eq!((e.status, e.code, e.param.as_deref()), (400, "context_length_exceeded", Some("messages")), "{}", e.message);
        // Claude's window holds the prompt but not with the 4,096 tokens its adapter asks for.
        let e = run(facts(197_000), &|_| true).unwrap_err();
        assert_eq!(e.code, "context_length_exceeded", "{}", e.message);
        let e = run_capped(facts(100), &|_| true, Some(100_000)).unwrap_err();
        assert_eq!((e.status, e.code, e.param.as_deref()), (400, "invalid_value", Some("max_tokens")), "{}", e.message);
        // Without a cap the answer takes the room left, as at the provider: a prompt just under
        // the window of the rule's only model (gpt-4o-mini, 128k) still routes.
        let quick = |tokens| Facts { feature: "quick".into(), prompt_tokens: tokens, model: "gpt4o".into(), ..Facts::default() };
        assert!(run(quick(127_900), &|_| true).is_ok());
        assert_eq!(run(quick(128_001), &|_| true).unwrap_err().code, "context_length_exceeded");
        // With a cap: the prompt alone filling the window is too long, whatever the cap; a prompt
        // that leaves room, over the window only with the cap, has the cap to change.
        let code = |tokens, cap| run_capped(quick(tokens), &|_| true, Some(cap)).unwrap_err().code;
        assert_eq!(code(128_000, 100), "context_length_exceeded");
        assert_eq!(code(200_000, 100), "context_length_exceeded");
        assert_eq!(code(120_000, 10_000), "invalid_value");
        // Passed over for another reason (no key), it is still the 503 of an outage, also when
        // another candidate is too small (tiny, for 2,000 tokens).
        assert_eq!(run(facts(100), &|_| false).unwrap_err().status, 503);
        let e = run(facts(2_000), &|_| false).unwrap_err();
        assert_eq!(e.status, 503, "{}", e.message);
    }

    #[test]
    fn a_model_that_cannot_write_max_tokens_is_passed_over() {
        // gpt-4o-mini is the cheapest, but writes at most 16,384 tokens; 20,000 were asked for.
        let facts = Facts { task: Some(TaskClass::Classification), prompt_tokens: 2000, model: "gpt4o".into(), ..Facts::default() };
        let d = route(run_capped(facts.clone(), &|_| true, Some(20_000)).unwrap());
        assert_eq!(d.candidates[0].model, "claude-haiku-4-5");
        assert!(d.reason.contains("gpt-4o-mini writes at most 16384 tokens < max_tokens 20000"), "{}", d.reason);
        assert_eq!(route(run_capped(facts, &|_| true, Some(16_384)).unwrap()).candidates[0].model, "gpt-4o-mini", "a cap it can write is fine");
    }

    #[test]
    fn the_output_cap_an_adapter_fills_in_counts_against_the_window() {
        // Anthropic is sent max_tokens 4,096 when the client sets none and refuses a prompt that
        // leaves less than that in the window; with the client's own smaller cap it fits.
        let facts = Facts { task: Some(TaskClass::Classification), prompt_tokens: 197_000, model: "gpt4o".into(), ..Facts::default() };
        let e = run(facts.clone(), &|_| true).unwrap_err();
        assert!(e.message.contains("claude-haiku-4-5 on anthropic window 200000 < 201096 tokens"), "{}", e.message);
        assert_eq!(route(run_capped(facts, &|_| true, Some(1_000)).unwrap()).candidates[0].model, "claude-haiku-4-5");
    }

    #[test]
    fn eu_traffic_stays_in_eu_or_fails_closed() {
        let d = route(run(Facts { eu: true, model: "gpt-4o".into(), ..Facts::default() }, &|_| true).unwrap());
        assert_eq!(d.candidates.len(), 1);
        assert_eq!(d.candidates[0].provider, "azure-eu");
        assert!(d.reason.ends_with("-> gpt-4o-mini; regions eu; skipped gpt-4o-mini on openai outside regions eu, claude-haiku-4-5 on anthropic outside regions eu"), "no fallback order for one candidate: {}", d.reason);
        let e = run(Facts { eu: true, model: "gpt-4o".into(), ..Facts::default() }, &|p| p.id != "azure-eu").unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.contains("data residency requires eu"), "{}", e.message);
        assert_eq!(e.retry_headers(), &[("x-should-retry", "false")], "the regions will not change in a second: not retried");
        // Without regions, candidates passed over for the configuration (no key) likewise.
        let e = run(Facts { feature: "quick".into(), model: "gpt-4o".into(), ..Facts::default() }, &|_| false).unwrap_err();
        assert!(e.message.contains("no candidate can serve this request"), "{}", e.message);
        assert_eq!(e.retry_headers(), &[("x-should-retry", "false")]);
    }

    #[test]
    fn a_policy_none_of_whose_rules_matches_is_refused_as_not_worth_retrying() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"only-eu\"\n[[rules]]\nname = \"eu\"\nwhen = { eu = true }\nroute = { strategy = \"requested\" }\n", &cat).unwrap();
        let facts = Facts { model: "gpt-4o".into(), ..Facts::default() };
        let e = plan(&policy, &input(&cat, &prices(), &facts)).unwrap_err();
        assert_eq!((e.status, e.code), (503, "no_available_route"));
        assert_eq!(e.retry_headers(), &[("x-should-retry", "false")]);
    }

    #[test]
    fn requested_with_regions_answers_404_for_a_name_that_is_no_model() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"eu\"\n[[rules]]\nname = \"eu\"\nroute = { strategy = \"requested\", regions = [\"eu\"] }\n", &cat).unwrap();
        let prices = prices();
        let run = |model: &str, allowed: Option<&[String]>| {
            let facts = Facts { model: model.into(), ..Facts::default() };
            plan(&policy, &PlanInput { allowed_models: allowed, ..input(&cat, &prices, &facts) })
        };
        assert_eq!(run("gpt-9", None).unwrap_err().status, 404);
        let only_haiku = ["claude-haiku-4-5".to_string()];
        assert_eq!(run("gpt-4o", Some(&only_haiku)).unwrap_err().status, 404, "not this tenant's");
        assert_eq!(route(run("gpt-4o-mini", None).unwrap()).candidates[0].provider, "azure-eu");
        // An embedding model is the client's mistake too, as without regions (it was a 503
        // "data residency" refusal, which SDKs retry).
        let e = run("emb", None).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("model")), "{}", e.message);
    }

    #[test]
    fn retired_deployments_and_models_are_passed_over_from_their_day_on() {
        let text = serde_json::to_string(&catalog()).unwrap();
        assert!(!text.contains("retires_on"), "a catalog without days writes none");
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{
                "openai":{"preset":"openai","region":"us"},
                "azure-eu":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21","region":"eu"},
                "anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1","key_secret":"ANTHROPIC_API_KEY","region":"us"}},
              "models":{"gpt-4o":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o"}]},
                        "gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini","retires_on":"2027-01-14"},{"provider":"azure-eu","upstream_model":"mini","retires_on":"2027-04-14"}]},
                        "claude-haiku-4-5":{"deployments":[{"provider":"anthropic","upstream_model":"claude-haiku-4-5"}]},
                        "tiny":{"deployments":[{"provider":"openai","upstream_model":"tiny"}]},
                        "emb":{"mode":"embedding","deployments":[{"provider":"azure-eu","upstream_model":"emb"}]}},
              "aliases":{"gpt4o":"gpt-4o"}}"#,
        )
        .unwrap();
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let prices = prices();
        let on = |day: &str, facts: Facts| plan(&policy, &PlanInput { today: Date::parse(day).unwrap(), ..input(&cat, &prices, &facts) });
        let simple = || Facts { task: Some(TaskClass::Classification), prompt_tokens: 500, model: "gpt-4o".into(), ..Facts::default() };
        let d = route(on("2027-01-13", simple()).unwrap());
        assert_eq!(d.candidates.iter().map(|c| c.provider.as_str()).collect::<Vec<_>>(), ["openai", "openai", "azure-eu", "anthropic"], "{}", d.reason);
        // From OpenAI's day, its deployment is passed over and Azure's serves.
        let d = route(on("2027-01-14", simple()).unwrap());
        assert_eq!(d.candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect::<Vec<_>>(), ["tiny@openai", "gpt-4o-mini@azure-eu", "claude-haiku-4-5@anthropic"]);
        assert!(d.reason.ends_with("; skipped gpt-4o-mini on openai retired 2027-01-14"), "{}", d.reason);
        // From Azure's, the model.
        let d = route(on("2027-04-14", simple()).unwrap());
        assert_eq!(d.candidates.iter().map(|c| c.model.as_str()).collect::<Vec<_>>(), ["tiny", "claude-haiku-4-5"]);
        assert!(d.reason.contains("skipped gpt-4o-mini retired 2027-04-14"), "{}", d.reason);
        // A split's retired arm is passed over for the other.
        let search = || Facts { feature: "search".into(), model: "gpt-4o".into(), ..Facts::default() };
        assert_eq!(route(on("2027-04-13", search()).unwrap()).candidates[0].model, "gpt-4o-mini", "the arm drawn");
        let d = route(on("2027-05-01", search()).unwrap());
        assert_eq!(d.candidates[0].model, "claude-haiku-4-5", "{}", d.reason);
        assert!(d.reason.contains("arm gpt-4o-mini (drawn for this request) passed over, -> claude-haiku-4-5"), "{}", d.reason);
        // A rule left with nothing but retired models: configuration to change, not retried.
        let e = on("2027-05-01", Facts { feature: "quick".into(), model: "gpt-4o".into(), ..Facts::default() }).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(e.message.ends_with("no candidate can serve this request (gpt-4o-mini retired 2027-04-14)."), "{}", e.message);
        assert_eq!(e.retry_headers(), &[("x-should-retry", "false")]);
        // Beside a retired candidate, the one left refusing the request's size is still the
        // client's 400, not an outage.
        let tiny_only = Policy::from_toml("t.toml", "version = 1\nname = \"t\"\n[[rules]]\nname = \"r\"\nroute = { strategy = \"cheapest\", candidates = [\"gpt-4o-mini\", \"tiny\"] }\n", &cat).unwrap();
        let sized = |day: &str| plan(&tiny_only, &PlanInput { today: Date::parse(day).unwrap(), ..input(&cat, &prices, &Facts { prompt_tokens: 1_500, model: "gpt-4o".into(), ..Facts::default() }) });
        let e = sized("2027-05-01").unwrap_err();
        assert_eq!((e.status, e.code), (400, "context_length_exceeded"), "{}", e.message);
        assert!(e.message.contains("gpt-4o-mini retired 2027-04-14; tiny window 1000 < 1501 tokens"), "{}", e.message);
        // A client naming it: told it is retired, under the default rule or one with regions.
        let e = on("2027-05-01", Facts { model: "gpt-4o-mini".into(), ..Facts::default() }).unwrap_err();
        assert_eq!((e.status, e.code), (404, "model_not_found"));
        assert!(e.message.starts_with("The model 'gpt-4o-mini' was retired on 2027-04-14:"), "{}", e.message);
        let regional = Policy::from_toml("t.toml", "version = 1\nname = \"eu\"\n[[rules]]\nname = \"eu\"\nroute = { strategy = \"requested\", regions = [\"eu\"] }\n", &cat).unwrap();
        let e = plan(&regional, &PlanInput { today: Date::parse("2027-05-01").unwrap(), ..input(&cat, &prices, &Facts { model: "gpt-4o-mini".into(), ..Facts::default() }) }).unwrap_err();
        assert_eq!((e.status, e.code), (404, "model_not_found"), "{}", e.message);
        let d = route(plan(&regional, &PlanInput { today: Date::parse("2027-04-13").unwrap(), ..input(&cat, &prices, &Facts { model: "gpt-4o-mini".into(), ..Facts::default() }) }).unwrap());
        assert_eq!(d.candidates[0].provider, "azure-eu");
    }

    #[test]
    fn a_policy_candidate_is_allowed_through_an_allowed_alias_of_it() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"big\"\nroute = { strategy = \"fallback\", candidates = [\"gpt-4o\"] }\n", &cat).unwrap();
        let prices = prices();
        let facts = Facts { model: "gpt4o".into(), ..Facts::default() };
        let allowed = ["gpt4o".to_string()];
        let d = route(plan(&policy, &PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) }).unwrap());
        assert_eq!(d.candidates[0].model, "gpt-4o", "the tenant may use gpt-4o through its alias: {}", d.reason);
    }

    #[test]
    fn a_tenant_held_to_some_models_cannot_ask_by_another_name_of_the_catalog_under_any_rule() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"gpt-4o-mini\"] }\n", &cat).unwrap();
        let prices = prices();
        let allowed = ["gpt-4o-mini".to_string()];
        let run = |model: &str| {
            let facts = Facts { model: model.into(), ..Facts::default() };
            plan(&policy, &PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) })
        };
        let e = run("gpt-4o").unwrap_err();
        assert_eq!((e.status, e.code), (404, "model_not_found"), "savings would be priced against a model the tenant cannot use: {}", e.message);
        assert_eq!(route(run("gpt-4o-mini").unwrap()).candidates[0].model, "gpt-4o-mini");
        assert_eq!(route(run("auto").unwrap()).candidates[0].model, "gpt-4o-mini", "a name that is no model is the policy's to route");
        // A block or a canned answer too: the name is no model of theirs, whatever the rule does.
        for action in ["block = \"No.\"", "respond = \"Open 9-5.\""] {
            let text = format!("version = 1\nname = \"p\"\n[[rules]]\nname = \"any\"\n{action}\n");
            let policy = Policy::from_toml("t.toml", &text, &cat).unwrap();
            let facts = Facts { model: "gpt-4o".into(), ..Facts::default() };
            let e = plan(&policy, &PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) }).unwrap_err();
            assert_eq!((e.status, e.code), (404, "model_not_found"), "{action}");
        }
    }

    #[test]
    fn cheapest_counts_every_choice_and_the_reasoning_a_model_does_unasked() {
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{"openai":{"preset":"openai"}},
              "models":{"o4-mini":{"deployments":[{"provider":"openai","upstream_model":"o4-mini"}]},"gpt-4.1":{"deployments":[{"provider":"openai","upstream_model":"gpt-4.1"}]}},"aliases":{}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(r#"{"models":{"o4-mini":{"input":1.1,"output":4.4,"supports_reasoning":true},"gpt-4.1":{"input":2,"output":8}}}"#).unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"o4-mini\", \"gpt-4.1\"] }\n", &cat).unwrap();
        let facts = Facts { model: "auto".into(), prompt_tokens: 1000, ..Facts::default() };
        let run = |cap: Option<u64>, choices: u64| {
            route(plan(&policy, &PlanInput { expected_output_tokens: cap.unwrap_or(512), choices, requested_output_tokens: cap, output_holds_reasoning: cap.is_some(), ..input(&cat, &prices, &facts) }).unwrap())
        };
        // 1,000 in, 512 out: o4-mini $0.0033 against gpt-4.1's $0.0061 as list prices, but its
        // unseen reasoning (2,000 tokens expected) makes it $0.0121.
        let d = run(None, 1);
        assert_eq!(d.candidates[0].model, "gpt-4.1", "{}", d.reason);
        assert!(d.reason.contains("o4-mini $0.0121") && d.reason.contains("gpt-4.1 $0.006096"), "{}", d.reason);
        // A cap from the client holds the reasoning too: then list prices decide.
        assert_eq!(run(Some(512), 1).candidates[0].model, "o4-mini");
        assert!(run(Some(512), 3).reason.contains("gpt-4.1 $0.014288"), "three answers' output: {}", run(Some(512), 3).reason);
    }

    #[test]
    fn fastest_measures_a_stale_deployment_again_unless_every_average_is_stale() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let prices = prices();
        let facts = Facts { model: "gpt-4o-mini".into(), feature: "quick".into(), ..Facts::default() };
        let first = |openai: Option<(f64, bool)>, azure: Option<(f64, bool)>| {
            let latency = move |k: &str| if k == "openai/gpt-4o-mini" { openai } else { azure };
            let d = route(plan(&policy, &PlanInput { latency_ms: &latency, ..input(&cat, &prices, &facts) }).unwrap());
            (d.candidates[0].provider.clone(), d.reason)
        };
        assert_eq!(first(Some((300.0, true)), Some((120.0, true))).0, "azure-eu");
        // openai slower once, long ago: measured again by this request while azure's is fresh.
        let (provider, reason) = first(Some((300.0, false)), Some((120.0, true)));
        assert_eq!(provider, "openai", "{reason}");
        assert!(reason.contains("300 ms average, stale"), "{reason}");
        // A quiet isolate, every average stale: ranked as they were, not in policy order.
        assert_eq!(first(Some((300.0, false)), Some((120.0, false))).0, "azure-eu");
        assert_eq!(first(None, Some((120.0, true))).0, "openai", "unmeasured first");
        assert_eq!(first(None, Some((0.5, true))).0, "openai", "unmeasured first, before a deployment under a millisecond too");
    }

    #[test]
    fn a_cascade_with_no_stronger_model_left_says_so() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"c\"\nroute = { strategy = \"cascade\", candidates = [\"gpt-4o-mini\", \"claude-haiku-4-5\"] }\n", &cat).unwrap();
        let prices = prices();
        let facts = Facts { model: "x".into(), ..Facts::default() };
        let run = |usable: &dyn Fn(&ProviderConfig) -> bool| route(plan(&policy, &PlanInput { usable, ..input(&cat, &prices, &facts) }).unwrap());
        assert!(run(&|_| true).reason.contains("starting at gpt-4o-mini, escalating on a weak answer"));
        let d = run(&|p| p.id != "anthropic");
        assert!(d.reason.contains("at gpt-4o-mini, with no stronger model available to escalate to, so not judged"), "{}", d.reason);
        assert_eq!((d.route.as_str(), d.cascade), ("fallback", None), "recorded as the fallback chain it is");
        assert_eq!(run(&|_| true).route, "cascade");
    }

    #[test]
    fn a_model_stated_to_lack_what_a_request_needs_is_passed_over() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"tiny\", \"gpt-4o-mini\"] }\n", &cat).unwrap();
        let only_tiny = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"t\"\nroute = { strategy = \"fallback\", candidates = [\"tiny\"] }\n", &cat).unwrap();
        let plain = Facts { model: "x".into(), ..Facts::default() };
        // The capability tiny's row denies, a request that needs it, the field a 400 names.
        let needing_images = Facts { has_images: true, ..plain.clone() };
        let needing_schema = Facts { has_schema: true, ..plain.clone() };
        for (capability, needing, param, words, refusal) in [
            ("supports_vision", &needing_images, "messages", "does not take images", "the request has images and no candidate takes images"),
            ("supports_response_schema", &needing_schema, "response_format", "does not take a JSON schema", "the request asks for an answer in a JSON schema and no candidate takes one"),
        ] {
            let prices = PriceTable::from_json(&format!(r#"{{"models":{{"tiny":{{"input":0.01,"output":0.01,"{capability}":false}},"gpt-4o-mini":{{"input":0.15,"output":0.6}}}}}}"#)).unwrap();
            let run = |facts: &Facts| plan(&policy, &input(&cat, &prices, facts));
            // A request that needs neither (JSON mode without a schema among them) is the cheap model's.
            assert_eq!(route(run(&plain).unwrap()).candidates[0].model, "tiny", "{capability}");
            let d = route(run(needing).unwrap());
            assert_eq!(d.candidates.iter().map(|c| c.model.as_str()).collect::<Vec<_>>(), ["gpt-4o-mini", "gpt-4o-mini"], "{}", d.reason);
            assert!(d.reason.contains(&format!("tiny on openai {words}")), "{}", d.reason);
            let e = plan(&only_tiny, &input(&cat, &prices, needing)).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{}", e.message);
            assert!(e.message.contains(refusal), "{}", e.message);
        }
        // Each candidate lacking one of two needs: the refusal names both, for one fix.
        let prices = PriceTable::from_json(r#"{"models":{"tiny":{"input":0.01,"output":0.01,"supports_vision":false},"gpt-4o-mini":{"input":0.15,"output":0.6,"supports_response_schema":false}}}"#).unwrap();
        let both = Facts { has_images: true, has_schema: true, ..plain.clone() };
        let e = plan(&policy, &input(&cat, &prices, &both)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"), "{}", e.message);
        assert!(e.message.contains("asks for images and an answer in a JSON schema and no candidate takes all of them"), "{}", e.message);
        assert!(e.message.contains("tiny on openai does not take images") && e.message.contains("gpt-4o-mini on openai does not take a JSON schema"), "{}", e.message);
        // One candidate lacking a need and another passed over for something else: the images
        // are not all there is to change (or there is nothing the client can change).
        let prices = PriceTable::from_json(r#"{"models":{"tiny":{"input":0.01,"output":0.01,"supports_vision":false},"gpt-4o-mini":{"input":0.15,"output":0.6,"context_window":1000}}}"#).unwrap();
        let long = Facts { prompt_tokens: 5_000, ..needing_images.clone() };
        assert_eq!(plan(&policy, &input(&cat, &prices, &long)).unwrap_err().code, "context_length_exceeded");
        let with_claude = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"tiny\", \"claude-haiku-4-5\"] }\n", &cat).unwrap();
        let no_anthropic_key = |p: &ProviderConfig| p.id != "anthropic";
        let e = plan(&with_claude, &PlanInput { usable: &no_anthropic_key, ..input(&cat, &prices, &needing_images) }).unwrap_err();
        assert_eq!(e.status, 503, "{}", e.message);
    }

    #[test]
    fn a_size_refusal_stays_a_400_when_other_deployments_are_outside_the_regions() {
        // Claude with a deployment in the US and one in the EU, 200k window: a 197k prompt with
        // the 4,096 output the Anthropic adapter fills in does not fit in the EU; the US
        // deployment, outside the regions, is no reason to call it a residency failure.
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{
                "anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1","key_secret":"A","region":"us"},
                "anthropic-eu":{"kind":"anthropic","base_url":"https://eu.example.com/v1","key_secret":"A","region":"eu"}},
              "models":{"claude-haiku-4-5":{"deployments":[{"provider":"anthropic","upstream_model":"h"},{"provider":"anthropic-eu","upstream_model":"h"}]}}}"#,
        )
        .unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"eu\"\n[[rules]]\nname = \"eu\"\nroute = { strategy = \"fallback\", candidates = [\"claude-haiku-4-5\"], regions = [\"eu\"] }\n", &cat).unwrap();
        let prices = prices();
        let facts = Facts { model: "claude-haiku-4-5".into(), prompt_tokens: 197_000, ..Facts::default() };
        let e = plan(&policy, &input(&cat, &prices, &facts)).unwrap_err();
        assert_eq!(e.status, 400, "{}", e.message);
    }

    #[test]
    fn a_split_reason_says_how_the_arm_was_drawn_and_when_it_was_passed_over() {
        let with_user = Facts { feature: "search".into(), model: "gpt-4o".into(), user: "u-1".into(), ..Facts::default() };
        assert!(route(run(with_user.clone(), &|_| true).unwrap()).reason.contains("(sticky per user)"));
        let anonymous = Facts { user: String::new(), ..with_user.clone() };
        assert!(route(run(anonymous.clone(), &|_| true).unwrap()).reason.contains("(drawn for this request)"));
        // A user whose id attribution did not keep is still drawn by it.
        let (cat, prices) = (catalog(), prices());
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let untagged = plan(&policy, &PlanInput { sticky_key: "acme:q1w+Zx/9Ab==", sticky_per_user: true, ..input(&cat, &prices, &anonymous) }).unwrap();
        assert!(route(untagged).reason.contains("(sticky per user)"));
        // The drawn arm has no key: the reason names it and the model that serves instead.
        let drawn = route(run(with_user.clone(), &|_| true).unwrap()).candidates[0].model.clone();
        let serves_drawn = |p: &ProviderConfig| if drawn == "gpt-4o-mini" { p.id == "openai" || p.id == "azure-eu" } else { p.id == "anthropic" };
        let d = route(run(with_user, &|p| !serves_drawn(p)).unwrap());
        assert!(d.reason.contains(&format!("arm {drawn} (sticky per user) passed over, -> ")), "{}", d.reason);
    }

    #[test]
    fn split_is_sticky_and_keeps_the_other_arm_as_fallback() {
        let f = Facts { feature: "search".into(), model: "gpt-4o".into(), ..Facts::default() };
        let a = route(run(f.clone(), &|_| true).unwrap());
        let b = route(run(f, &|_| true).unwrap());
        assert_eq!(a.candidates, b.candidates);
        assert_eq!(a.route, "split");
        let models: std::collections::BTreeSet<_> = a.candidates.iter().map(|c| c.model.clone()).collect();
        assert_eq!(models.len(), 2);
    }

    #[test]
    fn a_split_keeps_a_user_whose_id_attribution_refuses_on_one_arm() {
        // Attribution keeps the tag; an id it refuses (`+`, `/`, `=`) is still the user, as sent.
        assert_eq!(split_sticky_key("acme", "u-1", Some("u-1"), "req_1").key, "acme:u-1");
        assert_eq!(split_sticky_key("acme", "u-1", Some("other"), "req_1").key, "acme:u-1", "the header's user wins, as in attribution");
        assert_eq!(split_sticky_key("acme", "", Some("q1w+Zx/9Ab=="), "req_1").key, "acme:q1w+Zx/9Ab==");
        assert_eq!(split_sticky_key("acme", "", Some("q1w+Zx/9Ab=="), "req_2").key, "acme:q1w+Zx/9Ab==");
        assert_eq!(split_sticky_key("globex", "", Some("q1w+Zx/9Ab=="), "req_2").key, "globex:q1w+Zx/9Ab==", "per tenant");
        // No user at all: each request is drawn on its own.
        assert_eq!(split_sticky_key("acme", "", None, "req_1").key, "req_1");
        assert_eq!(split_sticky_key("acme", "", Some(""), "req_2").key, "req_2");
        assert!(split_sticky_key("acme", "", Some("q1w+Zx/9Ab=="), "req_1").per_user);
        assert!(!split_sticky_key("acme", "", None, "req_1").per_user);
    }

    #[test]
    fn fastest_orders_deployments_by_measured_latency() {
        let d = route(run(Facts { feature: "quick".into(), model: "gpt-4o".into(), ..Facts::default() }, &|_| true).unwrap());
        assert_eq!(d.candidates[0].provider, "azure-eu");
        assert!(d.reason.contains("-> gpt-4o-mini@azure-eu (~100 ms average)"), "{}", d.reason);
    }

    #[test]
    fn default_rule_serves_the_requested_model() {
        let d = route(run(Facts { model: "gpt4o".into(), ..Facts::default() }, &|_| true).unwrap());
        assert_eq!(d.candidates[0].upstream_model, "gpt-4o");
        assert!(d.reason.starts_with("rule 'default' (always): alias 'gpt4o' serves gpt-4o"), "{}", d.reason);
    }

    #[test]
    fn expected_reasoning_grows_with_the_effort() {
        let efforts = [Some("none"), Some("minimal"), Some("low"), Some("medium"), None, Some("high"), Some("xhigh"), Some("max")];
        let tokens: Vec<u64> = efforts.iter().map(|e| expected_reasoning_tokens(*e)).collect();
        assert_eq!(tokens, [0, 0, 1_000, 2_000, 2_000, 4_000, 8_000, 16_000]);
        // Each step past "low" twice the one before, as the Anthropic adapter's budgets are.
        assert!(tokens.windows(2).all(|w| w[0] <= w[1]), "{tokens:?}");
        assert_eq!(expected_reasoning_tokens(Some("xhigh")), 2 * expected_reasoning_tokens(Some("high")));
        assert_eq!(expected_reasoning_tokens(Some("thorough")), EXPECTED_REASONING_TOKENS, "an effort no adapter knows: the default");
    }

    #[test]
    fn a_model_whose_default_effort_is_none_is_estimated_with_reasoning_only_when_asked() {
        let cat = Catalog::from_json(include_str!("../../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../../kv-seed/pricing.json")).unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"claude-haiku-4-5\", \"gpt-5.4-mini\"] }\n", &cat).unwrap();
        let facts = Facts { model: "auto".into(), prompt_tokens: 1_000, ..Facts::default() };
        let run = |effort: Option<&str>| route(plan(&policy, &PlanInput { expected_output_tokens: 512, reasoning_effort: effort, ..input(&cat, &prices, &facts) }).unwrap());
        // gpt-5.4-mini answers at once unless asked to think: 1000 × 0.75 + 512 × 4.5, under
        // Haiku's 1000 × 1 + 512 × 5 (it was estimated with 2,000 reasoning tokens, at $0.01205).
        let unasked = run(None);
        assert_eq!(unasked.candidates[0].model, "gpt-5.4-mini", "{}", unasked.reason);
        assert!(unasked.reason.contains("gpt-5.4-mini $0.003054") && unasked.reason.contains("claude-haiku-4-5 $0.00356"), "{}", unasked.reason);
        assert_eq!(run(Some("none")).candidates[0].model, "gpt-5.4-mini");
        // Asked for medium it thinks (Haiku, behind no adapter here, is sent no thinking).
        let asked = run(Some("medium"));
        assert_eq!(asked.candidates[0].model, "claude-haiku-4-5", "{}", asked.reason);
        assert!(asked.reason.contains("gpt-5.4-mini $0.012054"), "{}", asked.reason);
    }

    #[test]
    fn cheapest_expects_more_reasoning_at_each_higher_effort() {
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{"openai":{"preset":"openai"},"anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1","key_secret":"A"}},
              "models":{"o4-mini":{"deployments":[{"provider":"openai","upstream_model":"o4-mini"}]},"claude-sonnet-4-5":{"deployments":[{"provider":"anthropic","upstream_model":"claude-sonnet-4-5"}]}}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(r#"{"models":{"o4-mini":{"input":1.1,"output":4.4,"supports_reasoning":true},"claude-sonnet-4-5":{"input":3,"output":15}}}"#).unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"cheap\"\nroute = { strategy = \"cheapest\", candidates = [\"o4-mini\", \"claude-sonnet-4-5\"] }\n", &cat).unwrap();
        let facts = Facts { model: "auto".into(), prompt_tokens: 4_000, ..Facts::default() };
        let run = |effort: Option<&str>| {
            route(plan(&policy, &PlanInput { expected_output_tokens: 512, reasoning_effort: effort, ..input(&cat, &prices, &facts) }).unwrap())
        };
        // 4,000 in, 512 out: Sonnet $0.01968; o4-mini $0.0066528 plus its reasoning at 4.4 a million.
        // Here Sonnet is sent no thinking (as behind an OpenAI-dialect host, which keeps no effort).
        for (effort, first) in [(Some("none"), "o4-mini"), (Some("low"), "o4-mini"), (Some("medium"), "o4-mini"), (Some("high"), "claude-sonnet-4-5"), (Some("xhigh"), "claude-sonnet-4-5"), (Some("max"), "claude-sonnet-4-5")] {
            assert_eq!(run(effort).candidates[0].model, first, "{effort:?}: {}", run(effort).reason);
        }
        // xhigh was taken for medium (2,000 tokens, $0.0154528), below high's $0.0242528.
        let d = run(Some("xhigh"));
        assert!(d.reason.contains("claude-sonnet-4-5 $0.01968") && d.reason.contains("o4-mini $0.0418528"), "8,000 tokens: {}", d.reason);

        // Sonnet 4.5 on Anthropic's own API thinks when asked: its adapter sends a budget for the
        // effort (1,024 / 2,048 / 4,096 / 8,192 / 16,384), estimated up to the reasoning expected.
        // Asked to think, it is the dearer model at every effort (at xhigh $0.13968, not $0.01968).
        let run_as_asked = |effort: &str| {
            let chat = crate::api::chat::ChatRequest::parse(format!(r#"{{"model":"auto","reasoning_effort":"{effort}","messages":[{{"role":"user","content":"Plan it."}}]}}"#).as_bytes()).unwrap();
            let as_asked = |p: &ProviderConfig, upstream: &str| crate::providers::adapter_for(p.kind).reasoning_as_asked(&chat, upstream);
            route(plan(&policy, &PlanInput { expected_output_tokens: 512, reasoning_effort: Some(effort), reasoning_as_asked: &as_asked, ..input(&cat, &prices, &facts) }).unwrap())
        };
        for effort in ["low", "medium", "high", "xhigh", "max"] {
            assert_eq!(run_as_asked(effort).candidates[0].model, "o4-mini", "{effort}: {}", run_as_asked(effort).reason);
        }
        assert!(run_as_asked("xhigh").reason.contains("claude-sonnet-4-5 $0.13968"), "{}", run_as_asked("xhigh").reason);
        // Told not to think, it answers at once and is the cheaper again.
        assert_eq!(run_as_asked("none").candidates[0].model, "o4-mini", "none: neither thinks, o4-mini's tokens are cheaper");
    }

    #[test]
    fn each_deployment_is_held_to_its_own_rows_window_and_output_cap() {
        // gpt-4.1 on OpenAI (1M window, 32k output) and on an EU Azure deployment priced by its own
        // row, which holds 128k and writes 16k.
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{
                "azure-eu":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21","region":"eu"},
                "openai":{"preset":"openai","region":"us"}},
              "models":{"gpt-4.1":{"deployments":[{"provider":"azure-eu","upstream_model":"g41","price_key":"gpt-4.1-azure"},{"provider":"openai","upstream_model":"gpt-4.1"}]}}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(
            r#"{"models":{"gpt-4.1":{"input":2,"output":8,"context_window":1047576,"max_output_tokens":32768},
               "gpt-4.1-azure":{"input":2.2,"output":8.8,"context_window":128000,"max_output_tokens":16384}}}"#,
        )
        .unwrap();
        let anywhere = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"f\"\nroute = { strategy = \"fallback\", candidates = [\"gpt-4.1\"] }\n", &cat).unwrap();
        let in_eu = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"f\"\nroute = { strategy = \"fallback\", candidates = [\"gpt-4.1\"], regions = [\"eu\"] }\n", &cat).unwrap();
        let run = |policy: &Policy, prompt_tokens: u64, max_tokens: Option<u64>| {
            let facts = Facts { model: "gpt-4.1".into(), prompt_tokens, ..Facts::default() };
            plan(policy, &PlanInput { requested_output_tokens: max_tokens, output_holds_reasoning: max_tokens.is_some(), ..input(&cat, &prices, &facts) })
        };
        let providers = |d: &RouteDecision| d.candidates.iter().map(|c| c.provider.clone()).collect::<Vec<_>>();
        assert_eq!(providers(&route(run(&anywhere, 100_000, None).unwrap())), ["azure-eu", "openai"]);
        // Azure would refuse 300k: OpenAI alone serves, and the reason says why.
        let d = route(run(&anywhere, 300_000, None).unwrap());
        assert_eq!(providers(&d), ["openai"], "{}", d.reason);
        assert!(d.reason.contains("skipped gpt-4.1 on azure-eu window 128000 < 300001 tokens"), "{}", d.reason);
        let d = route(run(&anywhere, 1_000, Some(20_000)).unwrap());
        assert_eq!(providers(&d), ["openai"], "{}", d.reason);
        assert!(d.reason.contains("gpt-4.1 on azure-eu writes at most 16384 tokens < max_tokens 20000"), "{}", d.reason);
        // Held to the EU, what Azure cannot take is the client's 400, as for a model too small.
        let e = run(&in_eu, 300_000, None).unwrap_err();
        assert_eq!((e.status, e.code), (400, "context_length_exceeded"), "{}", e.message);
        let e = run(&in_eu, 1_000, Some(20_000)).unwrap_err();
        assert_eq!((e.status, e.code, e.param.as_deref()), (400, "invalid_value", Some("max_tokens")), "{}", e.message);
        // No deployment takes it: each says why, and the cap is what to change when the prompt
        // fits the larger window.
        let e = run(&anywhere, 1_100_000, None).unwrap_err();
        assert_eq!(e.code, "context_length_exceeded", "{}", e.message);
        assert!(e.message.contains("gpt-4.1 on azure-eu window 128000 < 1100001 tokens; gpt-4.1 on openai window 1047576 < 1100001 tokens"), "{}", e.message);
        let e = run(&anywhere, 1_040_000, Some(20_000)).unwrap_err();
        assert_eq!((e.code, e.param.as_deref()), ("invalid_value", Some("max_tokens")), "{}", e.message);
    }

    #[test]
    fn a_prompt_limit_apart_from_the_window_holds_the_prompt_alone() {
        // gpt-5.4 mini takes 272k of prompt in a 400k window; Gemini 1,048,576 of prompt beside
        // 65,536 of output, with no window over both.
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{"openai":{"preset":"openai"},"gemini":{"kind":"gemini","base_url":"https://generativelanguage.googleapis.com/v1beta","key_secret":"G"}},
              "models":{"mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-5.4-mini"}]},
                        "flash":{"deployments":[{"provider":"gemini","upstream_model":"gemini-2.5-flash"}]}}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(
            r#"{"models":{"mini":{"input":0.75,"output":4.5,"context_window":400000,"max_input_tokens":272000,"max_output_tokens":128000},
               "flash":{"input":0.3,"output":2.5,"max_input_tokens":1048576,"max_output_tokens":65536}}}"#,
        )
        .unwrap();
        let policy = |model: &str| Policy::from_toml("t.toml", &format!("version = 1\nname = \"p\"\n[[rules]]\nname = \"f\"\nroute = {{ strategy = \"fallback\", candidates = [\"{model}\"] }}\n"), &cat).unwrap();
        let run = |model: &str, prompt_tokens: u64, max_tokens: Option<u64>| {
            let facts = Facts { model: model.into(), prompt_tokens, ..Facts::default() };
            plan(&policy(model), &PlanInput { requested_output_tokens: max_tokens, output_holds_reasoning: max_tokens.is_some(), ..input(&cat, &prices, &facts) })
        };
        // Prompt and output past 272k together, each within its own limit: taken.
        assert_eq!(route(run("mini", 250_000, Some(100_000)).unwrap()).candidates[0].model, "mini");
        assert_eq!(route(run("flash", 1_040_000, Some(60_000)).unwrap()).candidates[0].model, "flash");
        // The prompt alone past its limit: too long, whatever the cap.
        let e = run("mini", 280_000, Some(1_000)).unwrap_err();
        assert_eq!(e.code, "context_length_exceeded", "{}", e.message);
        assert!(e.message.contains("mini takes at most 272000 prompt tokens < 280000"), "{}", e.message);
        let e = run("flash", 1_050_000, None).unwrap_err();
        assert_eq!(e.code, "context_length_exceeded", "{}", e.message);
        // At both limits at once it fits the window exactly; one more output token is a cap to change.
        assert_eq!(route(run("mini", 272_000, Some(128_000)).unwrap()).candidates[0].model, "mini");
        let e = run("mini", 272_000, Some(128_001)).unwrap_err();
        assert_eq!((e.code, e.param.as_deref()), ("invalid_value", Some("max_tokens")), "{}", e.message);
    }

    #[test]
    fn a_model_whose_deployments_each_fail_one_way_is_passed_over_for_its_size() {
        // One deployment's row takes no images, the other's holds 8k: for a long request with
        // images, the prompt is too long wherever the images are taken.
        let cat = Catalog::from_json(
            r#"{"version":1,"providers":{"openai":{"preset":"openai"},"azure":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21"}},
              "models":{"m":{"deployments":[{"provider":"openai","upstream_model":"m","price_key":"m-text"},{"provider":"azure","upstream_model":"m"}]}}}"#,
        )
        .unwrap();
        let prices = PriceTable::from_json(r#"{"models":{"m-text":{"input":1,"output":1,"supports_vision":false},"m":{"input":1,"output":1,"context_window":8000}}}"#).unwrap();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"f\"\nroute = { strategy = \"fallback\", candidates = [\"m\"] }\n", &cat).unwrap();
        let facts = Facts { model: "m".into(), prompt_tokens: 10_000, has_images: true, ..Facts::default() };
        let e = plan(&policy, &input(&cat, &prices, &facts)).unwrap_err();
        assert_eq!((e.status, e.code), (400, "context_length_exceeded"), "{}", e.message);
        assert!(e.message.contains("m on openai does not take images; m on azure window 8000 < 10001 tokens"), "{}", e.message);
    }

    #[test]
    fn a_fallback_keeps_the_policys_order_whatever_the_prices() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", "version = 1\nname = \"p\"\n[[rules]]\nname = \"f\"\nroute = { strategy = \"fallback\", candidates = [\"gpt-4o\", \"gpt-4o-mini\"] }\n", &cat).unwrap();
        let prices = prices();
        let facts = Facts { model: "auto".into(), ..Facts::default() };
        let d = route(plan(&policy, &input(&cat, &prices, &facts)).unwrap());
        let models: Vec<&str> = d.candidates.iter().map(|c| c.model.as_str()).collect();
        assert_eq!(models, ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini"], "{}", d.reason);
        assert_eq!(d.reason, "rule 'f' (always): fallback -> gpt-4o; fallback order gpt-4o@openai > gpt-4o-mini@openai > gpt-4o-mini@azure-eu");
    }

    #[test]
    fn a_policy_candidate_outside_the_tenants_allowed_models_is_passed_over() {
        let cat = catalog();
        let policy = Policy::from_toml("t.toml", POLICY, &cat).unwrap();
        let prices = prices();
        let facts = Facts { task: Some(TaskClass::Classification), model: "auto".into(), ..Facts::default() };
        let allowed = ["claude-haiku-4-5".to_string()];
        let d = route(plan(&policy, &PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) }).unwrap());
        assert!(d.candidates.iter().all(|c| c.model == "claude-haiku-4-5"), "{}", d.reason);
        assert!(d.reason.contains("skipped gpt-4o-mini not in this tenant's allowed_models, tiny not in this tenant's allowed_models"), "{}", d.reason);
        // None of them: nothing the client can change in the request, and nothing to wait for.
        let allowed = ["gpt-4o".to_string()];
        let e = plan(&policy, &PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) }).unwrap_err();
        assert_eq!((e.status, e.code), (503, "no_available_route"), "{}", e.message);
    }

    #[test]
    fn a_split_keeps_a_user_by_tenant_and_user_and_draws_an_anonymous_request_by_its_id() {
        assert_eq!(split_sticky_key("acme", "u-1", None, "req-1").key, "acme:u-1");
        assert_ne!(split_sticky_key("acme", "u-1", None, "req-1").key, split_sticky_key("other", "u-1", None, "req-1").key, "one tenant's user ids never share another's arms");
        assert_eq!(split_sticky_key("acme", "", None, "req-1").key, "req-1");
        assert_ne!(split_sticky_key("acme", "", None, "req-1"), split_sticky_key("acme", "", None, "req-2"));
    }
}
