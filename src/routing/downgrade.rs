//! Where a request goes when a budget that downgrades (`on_hard_limit = "downgrade"`) has less
//! room than its route could cost: the cheapest models the tenant may use that can take it,
//! chosen as a `cheapest` rule chooses, so the two never disagree on what a model costs or fits.

use super::plan::{estimate_for, route_by, PlanInput};
use super::policy::{Route, Strategy};
use super::RouteDecision;
use crate::catalog::ModelMode;
use crate::money::Usd;

/// Most models a downgrade tries, cheapest first.
pub const DOWNGRADE_MODELS: usize = 3;

/// The downgrade of `decision`: the chat model the tenant may use that is expected to cost least
/// and can take the request (every chat model of the catalog ranked and filtered as `cheapest`
/// ranks its candidates: the request's size and needs against each deployment's own pricing row
/// and adapter cap, keys, `decision`'s regions), then, as its fallbacks (a provider outage must
/// not fail every downgraded request), the next cheapest up to [`DOWNGRADE_MODELS`] while the
/// chain's most possible cost (`worst`) still fits the `room` the refusing budget has left.
/// Each model keeps all its deployments that can serve, cheapest first. `None` if no model can
/// take the request.
pub fn downgrade(input: &PlanInput, decision: &RouteDecision, room: Usd, worst: &dyn Fn(&RouteDecision) -> Usd) -> Option<RouteDecision> {
    let every_chat_model = Route {
        strategy: Strategy::Cheapest,
        candidates: input.catalog.models.values().filter(|m| m.mode == ModelMode::Chat).map(|m| m.name.clone()).collect(),
        weights: Vec::new(),
        regions: decision.regions.clone(),
        min_logprob: None,
        buffer_streams: false,
    };
    let ranked = route_by(&every_chat_model, &decision.rule, "downgrade", input).ok()?.candidates;
    let mut models: Vec<RouteDecision> = Vec::new();
    for candidate in ranked {
        match models.iter_mut().find(|d| d.candidates[0].model == candidate.model) {
            Some(model) => model.candidates.push(candidate),
            None => models.push(RouteDecision { candidates: vec![candidate], cascade: None, route: "downgrade".into(), ..decision.clone() }),
        }
    }
    // In the order of each model's cheapest deployment (as ranked); among models expected to
    // cost the same, the smaller worst case first, as it leaves more room for fallbacks.
    let expected = |d: &RouteDecision| estimate_for(input, &d.candidates[0].price_key, &d.candidates[0].provider, &d.candidates[0].upstream_model).map_or(i64::MAX, |e| e.0);
    let mut models: Vec<_> = models.into_iter().map(|d| ((expected(&d), worst(&d)), d)).collect();
    models.sort_by_key(|(rank, _)| *rank);
    let mut models = models.into_iter().map(|(_, d)| d);
    let mut chain = models.next()?;
    for next in models.take(DOWNGRADE_MODELS - 1) {
        let mut longer = chain.clone();
        longer.candidates.extend(next.candidates);
        if worst(&longer) > room {
            break;
        }
        chain = longer;
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ProviderConfig;
    use crate::routing::plan::tests::{catalog, input, prices};
    use crate::routing::policy::Facts;

    fn requested(model: &str) -> RouteDecision {
        RouteDecision {
            requested: model.into(),
            baseline_price_key: Some(model.into()),
            candidates: Vec::new(),
            route: "requested".into(),
            rule: "default".into(),
            reason: String::new(),
            cascade: None,
            regions: Vec::new(),
        }
    }

    /// One cent per candidate: a chain's length is what decides whether it fits.
    fn cent_each(d: &RouteDecision) -> Usd {
        Usd::parse_decimal("0.01").unwrap().times(d.candidates.len() as u64)
    }

    fn served(d: &RouteDecision) -> Vec<String> {
        d.candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect()
    }

    #[test]
    fn takes_the_cheapest_model_that_fits_then_the_next_while_the_room_holds() {
        let (cat, prices) = (catalog(), prices());
        let facts = Facts { model: "gpt-4o".into(), prompt_tokens: 100, ..Facts::default() };
        let plan = input(&cat, &prices, &facts);
        let room = |cents: &str| Usd::parse_decimal(cents).unwrap();
        let d = downgrade(&plan, &requested("gpt-4o"), room("0.03"), &cent_each).unwrap();
        // tiny, then gpt-4o-mini on both its deployments (3 candidates, 3 cents): haiku's would be a fourth.
        assert_eq!(served(&d), ["tiny@openai", "gpt-4o-mini@openai", "gpt-4o-mini@azure-eu"]);
        assert_eq!((d.route.as_str(), d.requested.as_str(), d.baseline_price_key.as_deref()), ("downgrade", "gpt-4o", Some("gpt-4o")));
        // A cascade's downgrade is a fallback chain: its cheap models' answers are not judged.
        let cascade = RouteDecision { cascade: Some(crate::routing::CascadeSettings { min_logprob: None, buffer_streams: false }), route: "cascade".into(), ..requested("gpt-4o") };
        assert_eq!(downgrade(&plan, &cascade, room("0.03"), &cent_each).unwrap().cascade, None);
        assert_eq!(served(&downgrade(&plan, &requested("gpt-4o"), room("0.02"), &cent_each).unwrap()), ["tiny@openai"], "mini's two deployments do not fit beside tiny");
        assert_eq!(served(&downgrade(&plan, &requested("gpt-4o"), room("1"), &cent_each).unwrap()).len(), 4, "at most three models: tiny, mini (two), haiku");
    }

    #[test]
    fn fits_and_ranks_as_cheapest_does() {
        let (cat, prices) = (catalog(), prices());
        // Past tiny's 1,000-token window; only the output the client asks for must fit besides
        // (none here), as `cheapest` judges.
        let long = Facts { model: "gpt-4o".into(), prompt_tokens: 1_500, ..Facts::default() };
        let plan = input(&cat, &prices, &long);
        assert_eq!(downgrade(&plan, &requested("gpt-4o"), Usd::ZERO, &cent_each).map(|d| served(&d)).unwrap(), ["gpt-4o-mini@openai", "gpt-4o-mini@azure-eu"]);
        let short = Facts { model: "gpt-4o".into(), prompt_tokens: 990, ..Facts::default() };
        assert_eq!(served(&downgrade(&input(&cat, &prices, &short), &requested("gpt-4o"), Usd::ZERO, &cent_each).unwrap()), ["tiny@openai"]);
        let capped = PlanInput { requested_output_tokens: Some(20), output_holds_reasoning: true, expected_output_tokens: 20, ..input(&cat, &prices, &short) };
        assert_eq!(served(&downgrade(&capped, &requested("gpt-4o"), Usd::ZERO, &cent_each).unwrap())[0], "gpt-4o-mini@openai", "990 + 20 tokens do not fit tiny");
    }

    #[test]
    fn stays_inside_the_rule_s_regions_the_tenant_s_models_and_its_keys() {
        let (cat, prices) = (catalog(), prices());
        let facts = Facts { model: "gpt-4o".into(), prompt_tokens: 100, ..Facts::default() };
        let eu = RouteDecision { regions: vec!["eu".into()], ..requested("gpt-4o") };
        let d = downgrade(&input(&cat, &prices, &facts), &eu, Usd::parse_decimal("1").unwrap(), &cent_each).unwrap();
        assert_eq!((served(&d), d.regions.clone()), (vec!["gpt-4o-mini@azure-eu".to_string()], vec!["eu".to_string()]));
        let allowed = vec!["claude-haiku-4-5".to_string(), "gpt-4o".to_string()];
        let held = PlanInput { allowed_models: Some(&allowed), ..input(&cat, &prices, &facts) };
        assert_eq!(served(&downgrade(&held, &requested("gpt-4o"), Usd::ZERO, &cent_each).unwrap()), ["claude-haiku-4-5@anthropic"]);
        let no_openai_key = |p: &ProviderConfig| p.id != "openai";
        let keyless = PlanInput { usable: &no_openai_key, ..input(&cat, &prices, &facts) };
        assert_eq!(served(&downgrade(&keyless, &requested("gpt-4o"), Usd::ZERO, &cent_each).unwrap()), ["gpt-4o-mini@azure-eu"]);
        let nothing = Facts { model: "gpt-4o".into(), prompt_tokens: 500_000, ..Facts::default() };
        assert!(downgrade(&input(&cat, &prices, &nothing), &requested("gpt-4o"), Usd::ZERO, &cent_each).is_none());
    }
}
