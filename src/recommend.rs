//! Savings recommendations from a tenant's own traffic (`GET /v1/recommendations`).
//!
//! - Cheaper routes per task class, from evidence the router already gathered: a cascade whose
//!   cheap first model answered most requests of a class without escalating, or an A/B split
//!   whose cheaper arm failed no more often. Each says what would change and the dollars per
//!   month it would save at the observed volume.
//! - Prompt efficiency per feature: the system prompt's share of input tokens, repeated prefixes
//!   that a provider's prompt cache would discount but was not, and output caps far above what
//!   answers use or so low that answers are cut off.
//! - Models the traffic uses that their providers retire within a quarter (`retires_on`), with
//!   what goes to them: no saving, a change to make before that day.
//!
//! Plain Rust over rollup rows (`crate::rollup`) and the price table. Sums are priced at each
//! model's base rates: long-context tiers depend on single prompts, which rollups do not keep.

use serde::{Deserialize, Serialize};

use crate::calendar::Date;
use crate::money::Usd;
use crate::pricing::{PriceTable, Rates};
use crate::routing::retirements::NOTICE_DAYS;

/// Fewer requests than this behind a claim make no recommendation.
pub const MIN_EVIDENCE: u64 = 20;
/// Share of a class a cascade's first model must answer on its own to be recommended for it.
pub const MIN_ACCEPTANCE: f64 = 0.9;
/// How much more often a split's cheaper arm may fail than the dearer one and still be preferred.
pub const SPLIT_ERROR_MARGIN: f64 = 0.02;

/// One rollup row (sums over the report window), as `rollup::query` returns them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Row {
    pub class: String,
    pub route: String,
    pub rule: String,
    pub model: String,
    pub feature: String,
    pub cache: String,
    pub requests: u64,
    pub errors: u64,
    /// Deployments that failed before the one that answered (summed over the row's requests).
    pub retries: u64,
    pub escalations: u64,
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
    /// Read as `rollup::json_nanos` reads it: past 2^53 it comes as a float, and a row that
    /// failed to read would be left out of the advice.
    #[serde(deserialize_with = "nanos_field")]
    pub cost_nanos: i64,
    pub system_tokens: u64,
    pub repeated_prefix_tokens: u64,
    pub capped_requests: u64,
    pub max_output_tokens: u64,
    pub capped_output_tokens: u64,
    pub length_stops: u64,
    /// Routed by a rule held to regions (data residency): never moved to another model, which
    /// may be served outside them. Not a rollup column: the caller sets it from the policy.
    #[serde(skip)]
    pub held_to_regions: bool,
}

/// What one deployment's calls came to over the window, for a model whose deployments all have
/// a `retires_on` (`retires_on`: the last of them). The caller finds the model by the provider
/// and the served name the usage rows record (`Catalog::model_of_deployment`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetiringTraffic {
    pub model: String,
    pub retires_on: Date,
    /// Requests the deployment answered (calls made beside a request, a cascade's first attempt
    /// or a semantic lookup, have cost and no request of their own).
    pub requests: u64,
    pub cost_nanos: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub kind: &'static str,
    /// The task class, feature or model it is about.
    pub scope: String,
    pub title: String,
    pub detail: String,
    /// Projected from the window to 30 days at the same volume; zero for advice with no direct
    /// dollar effect.
    pub monthly_savings_usd: String,
    #[serde(skip)]
    pub monthly_savings: Usd,
    pub evidence_requests: u64,
    /// The saving over the window by row (index into the rows `recommend` was given), so that
    /// recommendations touching the same traffic are not added up twice in the total.
    #[serde(skip)]
    pub saved_by_row: Vec<(usize, Usd)>,
}

/// What `recommend` found, and the monthly saving of following all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendations {
    pub list: Vec<Recommendation>,
    /// Not the sum of the list: traffic a cheaper route moves is cheaper afterwards, so its
    /// caching and output-cap savings shrink in proportion (they are priced at its current
    /// model); the total never exceeds what the traffic cost.
    pub total_monthly: Usd,
}

fn nanos_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(crate::rollup::json_nanos(&<serde_json::Value as Deserialize>::deserialize(d)?))
}

fn nanos_usd(n: i64) -> Usd {
    Usd(n.saturating_mul(1000))
}

/// The tokens of `row` at `rates` (cached input at the cached price when the model has one).
fn priced(rates: &Rates, input: u64, cached: u64, output: u64) -> Usd {
    let cached_rate = if rates.cached_input.0 > 0 { rates.cached_input } else { rates.input };
    rates.input.times(input.saturating_sub(cached)) + cached_rate.times(cached) + rates.output.times(output)
}

fn monthly(window: Usd, window_days: f64) -> Usd {
    if window_days <= 0.0 {
        return Usd::ZERO;
    }
    Usd((window.0 as f64 * 30.0 / window_days).round() as i64)
}

/// Whether the planner would pass `price`'s model over for requests like these (on their
/// averages: rollups keep no single request's size): a prompt and the output cap asked for past
/// its window, or a cap past what it writes (`PriceInfo::cannot_take`, as the planner checks it).
/// Traffic it would pass over stays where it is, and promises no saving.
fn passed_over(price: &crate::pricing::ModelPrice, requests: u64, input_tokens: u64, capped_requests: u64, cap_sum: u64) -> bool {
    let prompt = input_tokens / requests.max(1);
    let cap = (capped_requests > 0).then(|| cap_sum.div_ceil(capped_requests));
    price.cannot_take(prompt, cap.unwrap_or(1), cap).is_some()
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 * 100.0 }
}

/// A row with its place in the rows `recommend` was given.
type Indexed<'a> = (usize, &'a Row);

/// Every recommendation for the window's rows, largest monthly saving first. `may_route_to`
/// says whether the tenant may be routed to a model (by pricing row name): a cheaper route to a
/// model outside its `allowed_models` is not recommended.
pub fn recommend(rows: &[Row], prices: &PriceTable, window_days: f64, may_route_to: &dyn Fn(&str) -> bool) -> Recommendations {
    let mut out = Vec::new();
    // Only answered, paid-for traffic says anything about routes and prompts.
    let rows: Vec<Indexed> = rows.iter().enumerate().filter(|(_, r)| !r.cache.starts_with("hit") && r.requests > 0).collect();
    let mut classes: Vec<&str> = rows.iter().map(|(_, r)| r.class.as_str()).filter(|c| !c.is_empty()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let in_class: Vec<Indexed> = rows.iter().copied().filter(|(_, r)| r.class == class).collect();
        out.extend(from_cascade(class, &in_class, prices, window_days, may_route_to));
        // Each split rule is its own A/B test: arms of two rules were never drawn against each
        // other.
        let mut split_rules: Vec<&str> = in_class.iter().filter(|(_, r)| r.route == "split").map(|(_, r)| r.rule.as_str()).collect();
        split_rules.sort_unstable();
        split_rules.dedup();
        for rule in split_rules {
            let of_rule: Vec<Indexed> = in_class.iter().copied().filter(|(_, r)| r.route != "split" || r.rule == rule).collect();
            out.extend(from_split(class, rule, &of_rule, prices, window_days, may_route_to));
        }
    }
    let mut features: Vec<&str> = rows.iter().map(|(_, r)| r.feature.as_str()).collect();
    features.sort_unstable();
    features.dedup();
    for feature in features {
        let of_feature: Vec<Indexed> = rows.iter().copied().filter(|(_, r)| r.feature == feature).collect();
        out.extend(prompt_efficiency(feature, &of_feature, prices, window_days));
    }
    out.sort_by(|a, b| b.monthly_savings.cmp(&a.monthly_savings).then(a.scope.cmp(&b.scope)));
    let total_monthly = monthly(combined_saving(&rows, &out), window_days);
    Recommendations { list: out, total_monthly }
}

/// The window's saving if every recommendation is followed: route moves first, then each row's
/// other savings scaled by what the row costs after its move.
fn combined_saving(rows: &[Indexed], recs: &[Recommendation]) -> Usd {
    // (route move, everything else) by row index, summed in one pass over the recommendations:
    // a report may hold 20,000 rows, each named in a recommendation.
    let len = rows.iter().map(|(at, _)| at + 1).max().unwrap_or(0);
    let mut saved = vec![(Usd::ZERO, Usd::ZERO); len];
    for r in recs {
        for (at, s) in &r.saved_by_row {
            let slot = &mut saved[*at];
            if r.kind == "cheaper_route" {
                slot.0 += *s;
            } else {
                slot.1 += *s;
            }
        }
    }
    let mut total = Usd::ZERO;
    for &(at, row) in rows {
        let cost = nanos_usd(row.cost_nanos).max(Usd::ZERO);
        let moved = saved[at].0.min(cost);
        let other = saved[at].1;
        let after_move = if cost.0 > 0 { Usd((other.0 as f64 * (cost - moved).0 as f64 / cost.0 as f64).round() as i64) } else { other };
        total += (moved + after_move).min(cost);
    }
    total
}

/// A cascade's first model answered most of a class alone: the class's other traffic, sent
/// straight to dearer models, could start there too.
fn from_cascade(class: &str, rows: &[Indexed], prices: &PriceTable, window_days: f64, may_route_to: &dyn Fn(&str) -> bool) -> Option<Recommendation> {
    let cascade: Vec<&Row> = rows.iter().map(|(_, r)| *r).filter(|r| r.route == "cascade").collect();
    let total: u64 = cascade.iter().map(|r| r.requests).sum();
    if total < MIN_EVIDENCE {
        return None;
    }
    // Requests answered with no escalation and no error, by model: the first model of the
    // cascade. A row sums many requests, so its escalations and errors are taken off its count
    // (one cut-off stream must not discard the thousand answers beside it).
    let mut accepted: Vec<(&str, u64)> = Vec::new();
    for r in &cascade {
        let clean = r.requests.saturating_sub(r.escalations).saturating_sub(r.errors);
        if clean == 0 {
            continue;
        }
        match accepted.iter_mut().find(|(m, _)| *m == r.model) {
            Some((_, n)) => *n += clean,
            None => accepted.push((&r.model, clean)),
        }
    }
    let (cheap, answered) = accepted.into_iter().max_by_key(|(_, n)| *n)?;
    let acceptance = answered as f64 / total as f64;
    let cheap_price = prices.get(cheap)?;
    let cheap_rates = cheap_price.base;
    if acceptance < MIN_ACCEPTANCE || !may_route_to(cheap) {
        return None;
    }
    // What the cheap model writes per request in the cascade, its reasoning included: a model
    // that reasons writes several times what the dearer one it would replace does, so the other
    // traffic's own output repriced at its rates would promise a saving that is a loss.
    let (cheap_requests, cheap_output) = cascade.iter().filter(|r| r.model == cheap).fold((0u64, 0u64), |(n, o), r| (n + r.requests, o + r.output_tokens));
    let cheap_output_per_request = cheap_output as f64 / cheap_requests.max(1) as f64;
    let mut saving = Usd::ZERO;
    let mut saved_by_row = Vec::new();
    let mut moved = 0u64;
    let mut from_models: Vec<&str> = Vec::new();
    // A split's traffic is left to `from_split`, which prices the same move: counted here too,
    // the saving would be claimed twice.
    for &(at, r) in rows.iter().filter(|(_, r)| r.route != "cascade" && r.route != "split" && r.model != cheap && !r.held_to_regions) {
        if passed_over(cheap_price, r.requests, r.input_tokens, r.capped_requests, r.max_output_tokens) {
            continue;
        }
        let now = nanos_usd(r.cost_nanos);
        let output = r.output_tokens.max((cheap_output_per_request * r.requests as f64).round() as u64);
        let there = priced(&cheap_rates, r.input_tokens, r.cached_tokens, output);
        // Every request pays the cheap attempt; the share the cheap model would not answer
        // escalates and pays what it pays now on top: now − (there + (1 − acceptance) × now).
        let row_saving = Usd((now.0 as f64 * acceptance).round() as i64) - there;
        if row_saving.0 > 0 {
            saving += row_saving;
            saved_by_row.push((at, row_saving));
            moved += r.requests;
            if !from_models.contains(&r.model.as_str()) {
                from_models.push(&r.model);
            }
        }
    }
    if moved == 0 || saving.0 <= 0 {
        return None;
    }
    let m = monthly(saving, window_days);
    Some(Recommendation {
        kind: "cheaper_route",
        scope: class.to_string(),
        title: format!("Start {class} requests at {cheap}"),
        detail: format!(
            "Your cascade answered {answered} of {total} {class} requests ({:.0}%) with {cheap} without escalating, yet {moved} other {class} requests went straight to {}. \
             Routing them through the same cascade would save about ${m} a month at this volume.",
            acceptance * 100.0,
            from_models.join(", ")
        ),
        monthly_savings_usd: m.to_string(),
        monthly_savings: m,
        evidence_requests: total,
        saved_by_row,
    })
}

/// An A/B split whose cheaper arm fails no more often than the dearer one: send it everything.
fn from_split(class: &str, rule: &str, rows: &[Indexed], prices: &PriceTable, window_days: f64, may_route_to: &dyn Fn(&str) -> bool) -> Option<Recommendation> {
    #[derive(Default)]
    struct Arm<'a> {
        model: &'a str,
        requests: u64,
        errors: u64,
        retries: u64,
        input: u64,
        cached: u64,
        output: u64,
        capped: u64,
        cap_sum: u64,
        cost: Usd,
    }
    let mut arms: Vec<Arm> = Vec::new();
    for (_, r) in rows.iter().filter(|(_, r)| r.route == "split" && !r.held_to_regions) {
        let i = match arms.iter().position(|a| a.model == r.model) {
            Some(i) => i,
            None => {
                arms.push(Arm { model: &r.model, ..Arm::default() });
                arms.len() - 1
            }
        };
        let a = &mut arms[i];
        a.requests += r.requests;
        a.errors += r.errors;
        a.retries += r.retries;
        a.input += r.input_tokens;
        a.cached += r.cached_tokens;
        a.output += r.output_tokens;
        a.capped += r.capped_requests;
        a.cap_sum += r.max_output_tokens;
        a.cost += nanos_usd(r.cost_nanos);
    }
    let arms: Vec<Arm> = arms.into_iter().filter(|a| a.requests >= MIN_EVIDENCE && a.output > 0).collect();
    if arms.len() < 2 {
        return None;
    }
    let per_output = |a: &Arm| a.cost.0 as f64 / a.requests as f64;
    let cheap = arms.iter().min_by(|a, b| per_output(a).total_cmp(&per_output(b)))?;
    if !may_route_to(cheap.model) {
        return None;
    }
    let cheap_price = prices.get(cheap.model)?;
    let cheap_rates = cheap_price.base;
    // An arm whose requests the cheap model could not take (the planner passes the cheap arm over
    // for them, so they all land there) stays where it is.
    let fits = |a: &Arm| !passed_over(cheap_price, a.requests, a.input, a.capped, a.cap_sum);
    // A split falls back to its other arms, so a request whose drawn arm failed is served, and
    // recorded, by another arm with a retry. Which arm a retry came from is not recorded (it may
    // be the serving model's own second deployment), so the cheap arm is charged every retry the
    // other arms recorded and they are charged none: a move is recommended only if the cheap arm
    // holds up even then.
    let spilled_from_cheap = |cheap: &Arm| arms.iter().filter(|a| a.model != cheap.model).map(|a| a.retries).sum::<u64>();
    let err_of_cheap = |cheap: &Arm| {
        let spilled = spilled_from_cheap(cheap);
        (cheap.errors + spilled) as f64 / (cheap.requests + spilled) as f64
    };
    let err = |a: &Arm| a.errors as f64 / a.requests as f64;
    // What the dearer arm's requests would cost on the cheap model: their tokens at its rates,
    // or what the cheap arm's own requests cost each (drawn at random, they are the same kind of
    // request), whichever is more: a model that reasons writes several times what one that does
    // not writes for the same request.
    let cheap_cost_each = cheap.cost.0 as f64 / cheap.requests as f64;
    let there = |requests: u64, input: u64, cached: u64, output: u64| priced(&cheap_rates, input, cached, output).max(Usd((cheap_cost_each * requests as f64).round() as i64));
    let mut saving = Usd::ZERO;
    let mut others = Vec::new();
    // Each arm moved, with what it would save and what it costs now.
    let mut moved: Vec<(&str, Usd, Usd)> = Vec::new();
    for a in arms.iter().filter(|a| a.model != cheap.model && fits(a)) {
        if err_of_cheap(cheap) > err(a) + SPLIT_ERROR_MARGIN {
            return None;
        }
        let there = there(a.requests, a.input, a.cached, a.output);
        if there < a.cost {
            saving += a.cost - there;
            moved.push((a.model, a.cost - there, a.cost));
            others.push(format!("{} ({} requests, {:.1}% failed)", a.model, a.requests, err(a) * 100.0));
        }
    }
    // An arm's saving spread over its rows by their cost: priced row by row, the larger of two
    // prices per row would sum past the arm's, and the rows would not add up to the total.
    let saved_by_row = rows
        .iter()
        .filter(|(_, r)| r.route == "split" && !r.held_to_regions)
        .filter_map(|&(at, r)| {
            let (_, arm_saving, arm_cost) = moved.iter().find(|(m, _, _)| *m == r.model)?;
            Some((at, Usd((arm_saving.0 as f64 * nanos_usd(r.cost_nanos).0 as f64 / arm_cost.0 as f64).round() as i64)))
        })
        .collect();
    if saving.0 <= 0 {
        return None;
    }
    let m = monthly(saving, window_days);
    // Two split rules can touch one class: the rule says which to change (rows from before the
    // rollups kept rules have none).
    let (of_rule, in_rule) = if rule.is_empty() { (String::new(), String::new()) } else { (format!(" of rule {rule}"), format!(" (rule {rule})")) };
    Some(Recommendation {
        kind: "cheaper_route",
        scope: class.to_string(),
        title: format!("End the {class} split{of_rule} on {}", cheap.model),
        detail: format!(
            "In your A/B split{in_rule}, {} served {} {class} requests with {:.1}% failed, no worse than {}. Sending the whole split to {} would save about ${m} a month.",
            cheap.model,
            cheap.requests,
            err_of_cheap(cheap) * 100.0,
            others.join(", "),
            cheap.model
        ),
        monthly_savings_usd: m.to_string(),
        monthly_savings: m,
        evidence_requests: arms.iter().map(|a| a.requests).sum(),
        saved_by_row,
    })
}

/// One note per model whose last deployment its provider retires within [`NOTICE_DAYS`] after
/// `today` and that the window's calls went to: what they came to, and what happens from that
/// day. No saving: a change to make before it. Soonest first.
pub fn retiring_models(traffic: &[RetiringTraffic], window_days: f64, today: Date) -> Vec<Recommendation> {
    let mut by_model: Vec<RetiringTraffic> = Vec::new();
    for t in traffic.iter().filter(|t| (1..=NOTICE_DAYS).contains(&(t.retires_on.days - today.days))) {
        match by_model.iter_mut().find(|m| m.model == t.model) {
            Some(m) => {
                m.requests += t.requests;
                m.cost_nanos += t.cost_nanos;
            }
            None => by_model.push(t.clone()),
        }
    }
    by_model.sort_by(|a, b| a.retires_on.cmp(&b.retires_on).then(a.model.cmp(&b.model)));
    by_model
        .into_iter()
        .map(|m| {
            let (model, day, left) = (&m.model, m.retires_on, m.retires_on.days - today.days);
            Recommendation {
                kind: "model_retiring",
                scope: model.clone(),
                title: format!("Move {model} traffic before {day}"),
                detail: format!(
                    "Its provider retires {model} on {day}, in {left} day{}: it answered {} request{} in the window, and its calls cost ${} a month at this volume. From that day requests naming it (or an alias of it) are refused with a 404 and rules pass it over: point your clients, aliases and rules at a current model.",
                    if left == 1 { "" } else { "s" },
                    m.requests,
                    if m.requests == 1 { "" } else { "s" },
                    monthly(nanos_usd(m.cost_nanos), window_days),
                ),
                monthly_savings_usd: Usd::ZERO.to_string(),
                monthly_savings: Usd::ZERO,
                evidence_requests: m.requests,
                saved_by_row: Vec::new(),
            }
        })
        .collect()
}

fn prompt_efficiency(feature: &str, rows: &[Indexed], prices: &PriceTable, window_days: f64) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let label = if feature.is_empty() { "(untagged)".to_string() } else { feature.to_string() };
    let sum = |f: fn(&Row) -> u64| rows.iter().map(|(_, r)| f(r)).sum::<u64>();
    let (requests, input, system, repeated, cached) = (sum(|r| r.requests), sum(|r| r.input_tokens), sum(|r| r.system_tokens), sum(|r| r.repeated_prefix_tokens), sum(|r| r.cached_tokens));
    if requests < MIN_EVIDENCE {
        return out;
    }
    // Repeated system prompts the provider did not bill as cached: what its cache would discount.
    let mut saving = Usd::ZERO;
    let mut caching_by_row = Vec::new();
    for &(at, r) in rows {
        let Some(p) = prices.get(&r.model) else { continue };
        let b = p.base;
        if b.cached_input.0 == 0 || b.cached_input >= b.input {
            continue;
        }
        let uncached_repeats = r.repeated_prefix_tokens.saturating_sub(r.cached_tokens);
        // Where writing the cache costs more than plain input (Anthropic: 1.25x for 5 minutes),
        // each prompt that repeats none before it is written at that premium.
        let first_sends = r.system_tokens.saturating_sub(r.repeated_prefix_tokens);
        let write_premium = if b.cache_write > b.input { (b.cache_write - b.input).times(first_sends) } else { Usd::ZERO };
        // Netted over the feature, not per row: a row that only wrote the cache (its prompts
        // repeated later, in other rows) costs what the others save.
        let row_saving = (b.input - b.cached_input).times(uncached_repeats) - write_premium;
        saving += row_saving;
        caching_by_row.push((at, row_saving));
    }
    let saving = saving.max(Usd::ZERO);
    // Each row's share of the feature's net saving (the rows that save, in proportion): the
    // total of all advice, summed by row, must not count what the rows that only wrote the cache
    // cost back.
    let gross: i64 = caching_by_row.iter().map(|(_, s)| s.0.max(0)).sum();
    let caching_by_row: Vec<(usize, Usd)> =
        caching_by_row.into_iter().map(|(at, s)| (at, if gross > 0 { Usd((s.0.max(0) as f64 * saving.0 as f64 / gross as f64).round() as i64) } else { Usd::ZERO })).collect();
    let share = pct(system, input);
    if repeated > 0 && saving.0 > 0 && pct(cached, repeated) < 50.0 {
        let m = monthly(saving, window_days);
        out.push(Recommendation {
            kind: "prompt_caching",
            scope: label.clone(),
            title: format!("Let the provider cache the system prompt of '{label}'"),
            detail: format!(
                "The system prompt is {share:.0}% of this feature's input tokens; {repeated} of its tokens repeated a prompt sent within 5 minutes, but only {cached} input tokens were billed as cached. \
                 Keep the system prompt byte-identical at the start of the messages (OpenAI caches such prefixes of 1,024+ tokens automatically; Anthropic needs cache_control) to save about ${m} a month."
            ),
            monthly_savings_usd: m.to_string(),
            monthly_savings: m,
            evidence_requests: requests,
            saved_by_row: caching_by_row,
        });
    } else if share >= 60.0 {
        out.push(Recommendation {
            kind: "prompt_size",
            scope: label.clone(),
            title: format!("The system prompt dominates '{label}'"),
            detail: format!("The system prompt is {share:.0}% of this feature's input tokens ({system} of {input}). Trimming it cuts input cost in proportion."),
            monthly_savings_usd: "0".into(),
            monthly_savings: Usd::ZERO,
            evidence_requests: requests,
            saved_by_row: Vec::new(),
        });
    }
    let (capped, cap_sum, used_sum, stops) = (sum(|r| r.capped_requests), sum(|r| r.max_output_tokens), sum(|r| r.capped_output_tokens), sum(|r| r.length_stops));
    if capped >= MIN_EVIDENCE {
        let (avg_cap, avg_used) = (cap_sum as f64 / capped as f64, used_sum as f64 / capped as f64);
        let cost: Usd = rows.iter().map(|(_, r)| nanos_usd(r.cost_nanos)).fold(Usd::ZERO, |a, b| a + b);
        if pct(stops, capped) >= 5.0 {
            // Cut-off answers are paid in full. What raising the cap saves is a retry the rollups
            // do not see (a longer answer costs more), so no saving is claimed: what they cost
            // is told, as what is at stake.
            let cut_share = stops as f64 / requests as f64;
            let at_stake = monthly(Usd((cost.0 as f64 * cut_share).round() as i64), window_days);
            out.push(Recommendation {
                kind: "output_cap",
                scope: label.clone(),
                title: format!("Answers of '{label}' are cut off by max_tokens"),
                detail: format!(
                    "{stops} of {capped} capped answers ({:.0}%) stopped at the cap (average cap {avg_cap:.0} tokens), about ${at_stake} a month of answers paid for in full and cut short; a client that asks again pays twice. Raising the cap or asking for shorter answers gives whole answers (longer ones cost more, so no saving is counted).",
                    pct(stops, capped)
                ),
                monthly_savings_usd: "0".into(),
                monthly_savings: Usd::ZERO,
                evidence_requests: capped,
                saved_by_row: Vec::new(),
            });
        } else if avg_used > 0.0 && avg_cap >= 4.0 * avg_used {
            out.push(Recommendation {
                kind: "output_cap",
                scope: label,
                title: "max_tokens is far above what answers use".to_string(),
                detail: format!(
                    "Requests cap output at {avg_cap:.0} tokens on average but answers use {avg_used:.0}. A cap near what is used reserves less of your budgets per request and stops runaway answers sooner."
                ),
                monthly_savings_usd: "0".into(),
                monthly_savings: Usd::ZERO,
                evidence_requests: capped,
                saved_by_row: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> PriceTable {
        PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"cached_input":0.075},"big":{"input":2.5,"output":10,"cached_input":1.25}}}"#).unwrap()
    }

    fn rec(rows: &[Row], prices: &PriceTable, window_days: f64) -> Vec<Recommendation> {
        recommend(rows, prices, window_days, &|_| true).list
    }

    fn row(class: &str, route: &str, model: &str, requests: u64, escalations: u64, cost_usd: f64) -> Row {
        Row { class: class.into(), route: route.into(), model: model.into(), requests, escalations, input_tokens: requests * 1000, output_tokens: requests * 200, cost_nanos: (cost_usd * 1e9).round() as i64, ..Row::default() }
    }

    #[test]
    fn traffic_to_a_model_retiring_within_a_quarter_is_told_once_per_model_soonest_first() {
        let today = Date { days: 20_000 }; // 2024-10-04
        let traffic = |model: &str, days_left: i64, requests: u64, cost_usd: f64| RetiringTraffic {
            model: model.into(),
            retires_on: Date { days: today.days + days_left },
            requests,
            cost_nanos: (cost_usd * 1e9).round() as i64,
        };
        let found = retiring_models(
            &[
                traffic("mini", 37, 30, 0.3),
                // Another deployment of it, and calls beside requests (a cascade's first attempts).
                traffic("mini", 37, 10, 0.1),
                traffic("mini", 37, 0, 0.2),
                traffic("soon", 1, 1, 0.01),
                traffic("edge", NOTICE_DAYS, 5, 0.05),
                traffic("later", NOTICE_DAYS + 1, 40, 1.0),
                traffic("gone", 0, 40, 1.0),
            ],
            10.0,
            today,
        );
        assert_eq!(found.iter().map(|r| r.scope.as_str()).collect::<Vec<_>>(), ["soon", "mini", "edge"]);
        let mini = &found[1];
        assert_eq!((mini.kind, mini.title.as_str(), mini.evidence_requests), ("model_retiring", "Move mini traffic before 2024-11-10", 40));
        assert!(
            mini.detail.starts_with("Its provider retires mini on 2024-11-10, in 37 days: it answered 40 requests in the window, and its calls cost $1.8 a month at this volume."),
            "{}",
            mini.detail
        );
        assert!(found[0].detail.contains("in 1 day: it answered 1 request in"), "{}", found[0].detail);
        assert!(found.iter().all(|r| r.monthly_savings == Usd::ZERO && r.saved_by_row.is_empty()), "no saving of their own");
    }

    #[test]
    fn a_cascade_that_answers_a_class_cheaply_recommends_it_for_the_rest_of_the_class() {
        // 95 of 100 cascade requests answered by mini; 50 requests of the class go straight to big.
        let rows = vec![
            row("code/easy", "cascade", "mini", 95, 0, 0.0),
            row("code/easy", "cascade", "big", 5, 5, 0.0),
            row("code/easy", "direct", "big", 50, 0, 50.0 * (1000.0 * 2.5 + 200.0 * 10.0) / 1e6),
        ];
        let recs = rec(&rows, &prices(), 3.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        let r = &recs[0];
        assert_eq!(r.kind, "cheaper_route");
        assert_eq!(r.title, "Start code/easy requests at mini");
        // Now: 50 × $0.0045 = $0.225; at mini: 50 × $0.00027 = $0.0135, paid by every request,
        // and the 5% that escalate still pay $0.225 × 0.05: 0.95 × $0.225 − $0.0135 = $0.20025
        // in 3 days → × 10 = $2.0025 a month.
        assert_eq!(r.monthly_savings_usd, "2.0025");
        assert!(r.detail.contains("95 of 100"), "{}", r.detail);
        // The same traffic held to regions by its rule: no advice to move it.
        let mut held = rows.clone();
        held[2].held_to_regions = true;
        assert!(rec(&held, &prices(), 3.0).is_empty(), "data residency is not traded for a saving");
    }

    #[test]
    fn a_cascade_counts_its_first_model_over_all_its_rows_and_holds_at_its_thresholds() {
        let direct = row("code/easy", "direct", "big", 50, 0, 50.0 * 0.0045);
        // mini's answers come in two rows (two features): 50 + 45 of 100, not the larger row.
        let mut search = row("code/easy", "cascade", "mini", 45, 0, 0.0);
        search.feature = "search".into();
        let rows = vec![row("code/easy", "cascade", "mini", 50, 0, 0.0), search, row("code/easy", "cascade", "big", 5, 5, 0.0), direct.clone()];
        let recs = rec(&rows, &prices(), 3.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert!(recs[0].detail.starts_with("Your cascade answered 95 of 100 code/easy requests (95%) with mini"), "{}", recs[0].detail);
        // Exactly MIN_EVIDENCE cascade requests are enough evidence.
        let recs = rec(&[row("code/easy", "cascade", "mini", 20, 0, 0.0), direct.clone()], &prices(), 3.0);
        assert_eq!(recs.len(), 1, "20 requests: {recs:#?}");
        // Exactly MIN_ACCEPTANCE (90 of 100) is enough acceptance.
        let recs = rec(&[row("code/easy", "cascade", "mini", 90, 0, 0.0), row("code/easy", "cascade", "big", 10, 10, 0.0), direct], &prices(), 3.0);
        assert_eq!(recs.len(), 1, "90%: {recs:#?}");
        assert!(recs[0].detail.contains("90 of 100"), "{}", recs[0].detail);
    }

    #[test]
    fn a_cascade_names_each_model_it_would_take_traffic_from_once_and_only_if_moving_it_saves() {
        let mut big_search = row("c", "direct", "big", 50, 0, 50.0 * 0.0045);
        big_search.feature = "search".into();
        // Already costs what mini would charge for it (50 × $0.00027): moving it saves nothing.
        let as_cheap = row("c", "direct", "mid", 50, 0, 50.0 * 0.00027);
        let rows = [row("c", "cascade", "mini", 100, 0, 0.0), row("c", "direct", "big", 50, 0, 50.0 * 0.0045), as_cheap, big_search];
        let recs = rec(&rows, &prices(), 30.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert!(recs[0].detail.contains("yet 100 other c requests went straight to big. Routing"), "{}", recs[0].detail);
        assert_eq!(recs[0].saved_by_row.iter().map(|(at, _)| *at).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn moved_cached_tokens_are_priced_at_the_cheap_model_s_cached_rate() {
        let mut direct = row("c", "direct", "big", 50, 0, 0.2);
        direct.cached_tokens = 40_000;
        let rows = [row("c", "cascade", "mini", 100, 0, 0.0), direct];
        // At mini: 10,000 uncached × $0.15 + 40,000 cached × $0.075 + 10,000 output × $0.60 per
        // million = $0.0105, against $0.20 now.
        assert_eq!(rec(&rows, &prices(), 30.0)[0].monthly_savings_usd, "0.1895");
        // A model with no cached price (0) bills them as input: $0.0135.
        let no_cache_price = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"cached_input":0},"big":{"input":2.5,"output":10}}}"#).unwrap();
        assert_eq!(rec(&rows, &no_cache_price, 30.0)[0].monthly_savings_usd, "0.1865");
    }

    #[test]
    fn rows_with_no_request_of_their_own_are_not_evidence() {
        // A failed attempt's billed prompt is its own row (rollup's other calls): tokens and cost
        // under the failed model, no request. It is not traffic a route would move.
        let mut failed_attempt = row("code/easy", "direct", "big", 0, 0, 50_000.0 * 2.5 / 1e6);
        (failed_attempt.input_tokens, failed_attempt.output_tokens) = (50_000, 0);
        let rows = vec![
            row("code/easy", "cascade", "mini", 95, 0, 0.0),
            row("code/easy", "cascade", "big", 5, 5, 0.0),
            row("code/easy", "direct", "big", 50, 0, 50.0 * 0.0045),
            failed_attempt,
        ];
        let found = recommend(&rows, &prices(), 3.0, &|_| true);
        assert_eq!(found.list.len(), 1, "{:#?}", found.list);
        assert_eq!(found.list[0].monthly_savings_usd, "2.0025", "as without the failed attempt's row");
        assert_eq!(found.total_monthly.to_string(), "2.0025");
    }

    #[test]
    fn a_cheap_model_that_writes_more_is_priced_at_what_it_writes() {
        // The reviewer's case: flash ($0.30 / $2.50) reasons, writing 1,700 tokens an answer in
        // the cascade; gpt-4.1 ($2 / $8) writes 200 for the class's other requests. Repriced at
        // 200, flash looked 75% cheaper; at 1,700 it costs more.
        let prices = PriceTable::from_json(r#"{"models":{"flash":{"input":0.3,"output":2.5},"gpt-4.1":{"input":2,"output":8}}}"#).unwrap();
        let mut cascade = row("c", "cascade", "flash", 100, 0, 0.0);
        (cascade.input_tokens, cascade.output_tokens) = (100 * 500, 100 * 1_700);
        let mut direct = row("c", "direct", "gpt-4.1", 50, 0, 50.0 * (500.0 * 2.0 + 200.0 * 8.0) / 1e6);
        (direct.input_tokens, direct.output_tokens) = (50 * 500, 50 * 200);
        assert!(rec(&[cascade.clone(), direct.clone()], &prices, 30.0).is_empty());
        // Writing as little as the dearer model, the move saves.
        cascade.output_tokens = 100 * 200;
        assert_eq!(rec(&[cascade, direct], &prices, 30.0).len(), 1);
        // A split: the cheap arm's requests cost what they cost, not the dearer arm's tokens
        // repriced.
        let mut cheap_arm = row("c", "split", "flash", 100, 0, 100.0 * (500.0 * 0.3 + 1_700.0 * 2.5) / 1e6);
        (cheap_arm.input_tokens, cheap_arm.output_tokens) = (100 * 500, 100 * 1_700);
        let mut dear_arm = row("c", "split", "gpt-4.1", 100, 0, 100.0 * (500.0 * 2.0 + 200.0 * 8.0) / 1e6);
        (dear_arm.input_tokens, dear_arm.output_tokens) = (100 * 500, 100 * 200);
        assert!(rec(&[cheap_arm.clone(), dear_arm.clone()], &prices, 30.0).is_empty(), "$0.0044 a request against $0.0026");
        cheap_arm.cost_nanos /= 4;
        let recs = rec(&[cheap_arm, dear_arm], &prices, 30.0);
        // ($0.0026 − $0.0011) × 100 requests in 30 days (the tokens repriced would say $0.00065).
        assert_eq!(recs.iter().map(|r| r.monthly_savings_usd.as_str()).collect::<Vec<_>>(), ["0.15"]);
        // The dearer arm's rows (two features, long and short answers) share the saving by
        // their cost and add up to it: priced row by row, the larger price of each summed to
        // less than the total.
        let mut cheap_arm = row("c", "split", "flash", 100, 0, 0.1);
        (cheap_arm.input_tokens, cheap_arm.output_tokens) = (100 * 500, 100 * 1_000);
        let mut long = row("c", "split", "gpt-4.1", 50, 0, 50.0 * (500.0 * 2.0 + 2_000.0 * 8.0) / 1e6);
        (long.input_tokens, long.output_tokens) = (50 * 500, 50 * 2_000);
        let mut short = row("c", "split", "gpt-4.1", 50, 0, 50.0 * (500.0 * 2.0 + 10.0 * 8.0) / 1e6);
        (short.input_tokens, short.output_tokens) = (50 * 500, 50 * 10);
        let recs = rec(&[cheap_arm, long, short], &prices, 30.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        let by_rows = recs[0].saved_by_row.iter().fold(Usd::ZERO, |a, (_, s)| a + *s);
        assert!((by_rows.0 - recs[0].monthly_savings.0).abs() <= 2, "{by_rows} against {}", recs[0].monthly_savings);
        assert!(recs[0].saved_by_row.iter().all(|(_, s)| s.0 > 0), "{:?}", recs[0].saved_by_row);
    }

    #[test]
    fn the_total_counts_traffic_a_route_moves_once() {
        // The reviewer's case: 1,000 direct big requests ($7.00) whose repeated system prompts
        // were not cached, in a class a cascade answers at mini.
        let cascade = [row("support/easy", "cascade", "mini", 100, 0, 0.0)];
        let mut direct = row("support/easy", "direct", "big", 1000, 0, 7.0);
        direct.input_tokens = 2_000_000;
        direct.repeated_prefix_tokens = 1_500_000;
        direct.system_tokens = 1_500_000;
        direct.output_tokens = 200_000;
        let rows = [cascade[0].clone(), direct];
        let found = recommend(&rows, &prices(), 30.0, &|_| true);
        let kinds: Vec<&str> = found.list.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["cheaper_route", "prompt_caching"]);
        let listed = found.list.iter().fold(Usd::ZERO, |a, r| a + r.monthly_savings);
        // Moving to mini saves $7.00 − $0.42 = $6.58; caching at big's discount claims $1.875,
        // more than the $7.00 spent in all. After the move the row costs $0.42 (6% of before),
        // so its caching saving is 6% of $1.875: $0.1125.
        assert_eq!(listed.to_string(), "8.455");
        assert_eq!(found.total_monthly.to_string(), "6.6925");
    }

    #[test]
    fn a_route_the_tenant_may_not_take_or_whose_prompts_do_not_fit_is_not_recommended() {
        let rows = vec![row("c", "cascade", "mini", 100, 0, 0.0), row("c", "direct", "big", 50, 0, 50.0 * 0.0045)];
        assert_eq!(rec(&rows, &prices(), 30.0).len(), 1);
        assert!(recommend(&rows, &prices(), 30.0, &|m| m != "mini").list.is_empty(), "mini is outside allowed_models now");
        let split = vec![row("c", "split", "mini", 100, 0, 100.0 * 0.00027), row("c", "split", "big", 100, 0, 100.0 * 0.0045)];
        assert!(recommend(&split, &prices(), 30.0, &|m| m != "mini").list.is_empty());
        // Prompts of 1,000 tokens on average do not fit a 512-token window.
        let small = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"context_window":512},"big":{"input":2.5,"output":10}}}"#).unwrap();
        assert!(recommend(&rows, &small, 30.0, &|_| true).list.is_empty());
    }

    #[test]
    fn one_error_in_a_row_of_answers_does_not_discard_the_row() {
        let mut answered = row("code/easy", "cascade", "mini", 1000, 0, 0.0);
        answered.errors = 1; // one cut-off stream among a thousand answers
        let rows = vec![answered, row("code/easy", "cascade", "big", 20, 20, 0.0), row("code/easy", "direct", "big", 50, 0, 50.0 * 0.0045)];
        let recs = rec(&rows, &prices(), 3.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert!(recs[0].detail.contains("999 of 1020"), "{}", recs[0].detail);
    }

    #[test]
    fn a_class_with_a_cascade_and_a_split_claims_the_split_traffic_once() {
        let rows = vec![
            row("chat/easy", "cascade", "mini", 95, 0, 0.0),
            row("chat/easy", "cascade", "big", 5, 5, 0.0),
            row("chat/easy", "split", "mini", 100, 0, 100.0 * 0.00027),
            row("chat/easy", "split", "big", 100, 0, 100.0 * 0.0045),
        ];
        let recs = rec(&rows, &prices(), 30.0);
        assert_eq!(recs.len(), 1, "only the split's own recommendation prices its dearer arm: {recs:#?}");
        assert_eq!(recs[0].title, "End the chat/easy split on mini");
    }

    #[test]
    fn weak_or_thin_evidence_recommends_nothing() {
        let low_acceptance = vec![row("c", "cascade", "mini", 80, 0, 0.0), row("c", "cascade", "big", 20, 20, 0.0), row("c", "direct", "big", 50, 0, 1.0)];
        assert!(rec(&low_acceptance, &prices(), 1.0).is_empty());
        let thin = vec![row("c", "cascade", "mini", 10, 0, 0.0), row("c", "direct", "big", 50, 0, 1.0)];
        assert!(rec(&thin, &prices(), 1.0).is_empty());
    }

    #[test]
    fn a_split_moves_to_the_cheaper_arm_only_if_it_fails_no_more_often() {
        let mut cheap = row("chat/easy", "split", "mini", 100, 0, 100.0 * 0.00027);
        let dear = row("chat/easy", "split", "big", 100, 0, 100.0 * 0.0045);
        cheap.errors = 1;
        let recs = rec(&[cheap.clone(), dear.clone()], &prices(), 30.0);
        assert_eq!(recs[0].title, "End the chat/easy split on mini");
        assert_eq!(recs[0].monthly_savings_usd, "0.423");
        cheap.errors = 10;
        assert!(rec(&[cheap.clone(), dear.clone()], &prices(), 30.0).is_empty(), "10% failures against 0% is worse");
        // The cheap arm's failures fell back to the dear arm: they show as its retries, not as
        // errors anywhere, and still count against the cheap arm.
        cheap.errors = 0;
        let mut spilled = dear.clone();
        spilled.requests += 30;
        spilled.retries = 30;
        assert!(rec(&[cheap.clone(), spilled], &prices(), 30.0).is_empty(), "30 of 130 drawn to mini failed over to big");
        // Retries on the cheap arm's own rows (its second deployment answering) never count
        // against the dear arm.
        let mut flaky_deployment = cheap.clone();
        flaky_deployment.retries = 40;
        let mut dear_clean = dear.clone();
        dear_clean.errors = 0;
        let recs = rec(&[flaky_deployment, dear_clean], &prices(), 30.0);
        assert_eq!(recs.len(), 1, "mini answered every draw; big failed none either");
    }

    #[test]
    fn a_split_takes_only_arms_with_evidence_and_moves_every_other_arm_to_the_cheapest_per_request() {
        let arm = |model: &str, requests: u64, cost_each: f64| row("chat/easy", "split", model, requests, 0, requests as f64 * cost_each);
        // A cheap arm drawn fewer than MIN_EVIDENCE times, or one that wrote nothing (its draws
        // all failed over, its rows only billed prompts), is no evidence.
        assert!(rec(&[arm("mini", 19, 0.00027), arm("big", 100, 0.0045)], &prices(), 30.0).is_empty());
        let mut silent = arm("mini", 100, 0.00027);
        silent.output_tokens = 0;
        assert!(rec(&[silent, arm("big", 100, 0.0045)], &prices(), 30.0).is_empty());
        // Three arms of different volumes: the cheapest per request (not per arm) takes both others.
        let recs = rec(&[arm("big", 100, 0.0045), arm("opus", 20, 0.03), arm("mini", 300, 0.00027)], &prices(), 30.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert_eq!(recs[0].title, "End the chat/easy split on mini");
        assert!(recs[0].detail.contains("no worse than big (100 requests, 0.0% failed), opus (20 requests, 0.0% failed). Sending"), "{}", recs[0].detail);
        // $0.45 − $0.027 for big, $0.60 − $0.0054 for opus.
        assert_eq!(recs[0].monthly_savings_usd, "1.0176");
        // An arm that costs what the cheap arm would charge for it saves nothing and is not named.
        let recs = rec(&[arm("mini", 100, 0.00027), arm("mid", 100, 0.00027), arm("big", 100, 0.0045)], &prices(), 30.0);
        assert!(recs[0].detail.contains("no worse than big (100 requests, 0.0% failed). Sending"), "{}", recs[0].detail);
        assert_eq!(recs[0].saved_by_row.iter().map(|(at, _)| *at).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_split_compares_failure_rates_each_over_its_own_draws() {
        let arm = |model: &str, errors: u64, retries: u64, cost_each: f64| Row { errors, retries, ..row("chat/easy", "split", model, 100, 0, 100.0 * cost_each) };
        // SPLIT_ERROR_MARGIN more failures is still within the margin: 2% against 0%.
        assert_eq!(rec(&[arm("mini", 2, 0, 0.00027), arm("big", 0, 0, 0.0045)], &prices(), 30.0).len(), 1);
        // The dearer arm's own failures raise the bar: 6% against 5% moves, 10% against 5% does not.
        let recs = rec(&[arm("mini", 6, 0, 0.00027), arm("big", 5, 0, 0.0045)], &prices(), 30.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert!(recs[0].detail.contains("with 6.0% failed, no worse than big (100 requests, 5.0% failed)"), "{}", recs[0].detail);
        assert!(rec(&[arm("mini", 10, 0, 0.00027), arm("big", 5, 0, 0.0045)], &prices(), 30.0).is_empty());
        // The dearer arm's 2 retries are charged to the cheap arm as 2 failed draws of 102
        // (1.96%), within the margin.
        assert_eq!(rec(&[arm("mini", 0, 0, 0.00027), arm("big", 0, 2, 0.0045)], &prices(), 30.0).len(), 1);
    }

    #[test]
    fn a_split_prices_the_dearer_arm_s_cached_tokens_at_the_cheap_model_s_cached_rate() {
        let cheap = row("chat/easy", "split", "mini", 100, 0, 100.0 * 0.0001);
        let mut dear = row("chat/easy", "split", "big", 100, 0, 0.45);
        (dear.input_tokens, dear.cached_tokens, dear.output_tokens) = (100_000, 80_000, 20_000);
        // At mini: 20,000 uncached × $0.15 + 80,000 cached × $0.075 + 20,000 output × $0.60 per
        // million = $0.021 (more than the cheap arm's $0.0001 a request).
        assert_eq!(rec(&[cheap, dear], &prices(), 30.0)[0].monthly_savings_usd, "0.429");
    }

    #[test]
    fn a_split_claims_only_its_own_rows_in_the_total() {
        // Direct traffic of the class on the dearer arm's model is not the split's to move.
        let rows = [row("chat/easy", "split", "mini", 100, 0, 100.0 * 0.00027), row("chat/easy", "split", "big", 100, 0, 100.0 * 0.0045), row("chat/easy", "direct", "big", 100, 0, 100.0 * 0.0045)];
        let found = recommend(&rows, &prices(), 30.0, &|_| true);
        assert_eq!(found.list.len(), 1, "{:#?}", found.list);
        assert_eq!(found.list[0].monthly_savings_usd, "0.423");
        assert_eq!(found.total_monthly.to_string(), "0.423");
    }

    #[test]
    fn each_split_rule_is_its_own_test_and_held_or_too_long_traffic_stays() {
        let arm = |rule: &str, model: &str, requests: u64, cost: f64| Row { rule: rule.into(), ..row("chat/easy", "split", model, requests, 0, cost) };
        // Two rules in one class: mini against big, big against opus. Opus is never priced as moved
        // to mini, which it was never drawn against.
        let prices = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6},"big":{"input":2.5,"output":10},"opus":{"input":15,"output":75}}}"#).unwrap();
        let rows = vec![arm("support-ab", "mini", 100, 100.0 * 0.00027), arm("support-ab", "big", 100, 100.0 * 0.0045), arm("faq-ab", "big", 100, 100.0 * 0.0045), arm("faq-ab", "opus", 100, 100.0 * 0.03)];
        let recs = rec(&rows, &prices, 30.0);
        let titles: Vec<&str> = recs.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(titles, ["End the chat/easy split of rule faq-ab on big", "End the chat/easy split of rule support-ab on mini"], "{recs:#?}");
        assert!(recs[1].detail.starts_with("In your A/B split (rule support-ab), mini served"), "{}", recs[1].detail);
        assert_eq!(recs[1].monthly_savings_usd, "0.423", "support-ab's big arm alone");
        // A rule held to regions adds nothing to the total.
        let mut held = arm("ab-eu", "big", 1000, 1000.0 * 0.0045);
        held.held_to_regions = true;
        let mut held_mini = arm("ab-eu", "mini", 1000, 1000.0 * 0.00027);
        held_mini.held_to_regions = true;
        let all = recommend(&[arm("ab", "mini", 100, 100.0 * 0.00027), arm("ab", "big", 100, 100.0 * 0.0045), held, held_mini], &prices, 30.0, &|_| true);
        assert_eq!(all.list.len(), 1);
        assert_eq!(all.total_monthly.to_string(), "0.423", "the region-held rows move nowhere");
        // Prompts past the cheap model's window (on the arm's average) stay on their arm.
        let windowed = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"context_window":128000},"big":{"input":2.5,"output":10}}}"#).unwrap();
        let mut long = arm("ab", "big", 100, 100.0 * 0.0045);
        long.input_tokens = 100 * 300_000;
        assert!(rec(&[arm("ab", "mini", 100, 100.0 * 0.00027), long], &windowed, 30.0).is_empty());
    }

    #[test]
    fn traffic_capped_past_what_the_cheap_model_writes_stays_where_it_is() {
        // The planner passes a model over for a max_tokens past its max_output_tokens (or a
        // prompt and cap past its window): such traffic would never move, and saves nothing.
        let capped = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"max_output_tokens":16384,"context_window":128000},"big":{"input":2.5,"output":10}}}"#).unwrap();
        let with_cap = |mut r: Row, cap: u64| {
            r.capped_requests = r.requests;
            r.max_output_tokens = r.requests * cap;
            r
        };
        let cascade = |direct: Row| vec![row("code/easy", "cascade", "mini", 95, 0, 0.0), row("code/easy", "cascade", "big", 5, 5, 0.0), direct];
        let direct = row("code/easy", "direct", "big", 50, 0, 50.0 * 0.0045);
        assert_eq!(rec(&cascade(with_cap(direct.clone(), 16384)), &capped, 3.0).len(), 1, "a cap the cheap model writes moves");
        assert!(rec(&cascade(with_cap(direct.clone(), 32768)), &capped, 3.0).is_empty(), "a cap past it does not");
        // 1,000 prompt tokens and a 127,500 cap pass its 128,000 window (a cap it could write).
        let roomy = PriceTable::from_json(r#"{"models":{"mini":{"input":0.15,"output":0.6,"context_window":128000},"big":{"input":2.5,"output":10}}}"#).unwrap();
        assert!(rec(&cascade(with_cap(direct.clone(), 127_500)), &roomy, 3.0).is_empty(), "prompt and cap past the window");
        assert_eq!(rec(&cascade(with_cap(direct, 126_000)), &roomy, 3.0).len(), 1);
        // The same for a split's dearer arm.
        let arm = |model: &str, cost: f64| Row { rule: "ab".into(), ..row("chat/easy", "split", model, 100, 0, cost) };
        assert_eq!(rec(&[arm("mini", 100.0 * 0.00027), with_cap(arm("big", 100.0 * 0.0045), 8192)], &capped, 30.0).len(), 1);
        assert!(rec(&[arm("mini", 100.0 * 0.00027), with_cap(arm("big", 100.0 * 0.0045), 32768)], &capped, 30.0).is_empty());
    }

    #[test]
    fn repeated_uncached_system_prompts_recommend_prompt_caching() {
        let mut r = row("", "direct", "big", 100, 0, 1.0);
        r.feature = "support".into();
        r.system_tokens = 80_000;
        r.repeated_prefix_tokens = 60_000;
        r.cached_tokens = 0;
        let recs = rec(&[r.clone()], &prices(), 30.0);
        assert_eq!(recs[0].kind, "prompt_caching");
        // 60,000 tokens × ($2.50 − $1.25) per million = $0.075.
        assert_eq!(recs[0].monthly_savings_usd, "0.075");
        assert!(recs[0].detail.contains("80%"), "{}", recs[0].detail);
        r.cached_tokens = 50_000;
        assert_eq!(rec(&[r.clone()], &prices(), 30.0)[0].kind, "prompt_size", "already mostly cached: only the size note");
        // Where a cache write costs more than input (Anthropic, 1.25x), the 20,000 tokens of
        // prompts sent first are written at the premium: 60,000 × $0.90 − 20,000 × $0.25 per
        // million = $0.049.
        let claude = PriceTable::from_json(r#"{"models":{"big":{"input":1,"output":5,"cached_input":0.1,"cache_write":1.25}}}"#).unwrap();
        r.cached_tokens = 0;
        assert_eq!(rec(&[r], &claude, 30.0)[0].monthly_savings_usd, "0.049");
    }

    #[test]
    fn prompt_advice_needs_min_evidence_requests_of_a_feature() {
        let feature = |requests: u64| Row { feature: "support".into(), system_tokens: requests * 800, ..row("", "direct", "big", requests, 0, 0.1) };
        assert!(rec(&[feature(19)], &prices(), 30.0).is_empty());
        assert_eq!(rec(&[feature(20)], &prices(), 30.0)[0].kind, "prompt_size");
    }

    #[test]
    fn prompt_caching_is_advised_only_where_it_saves_and_half_the_repeats_are_not_cached() {
        let mut r = row("", "direct", "big", 100, 0, 1.0);
        (r.feature, r.system_tokens, r.repeated_prefix_tokens) = ("support".into(), 80_000, 60_000);
        // A model with no cached price (none given: input; or 0) saves nothing by caching: only
        // the size note.
        for table in [r#"{"models":{"big":{"input":2.5,"output":10}}}"#, r#"{"models":{"big":{"input":2.5,"output":10,"cached_input":0}}}"#] {
            let recs = rec(&[r.clone()], &PriceTable::from_json(table).unwrap(), 30.0);
            assert_eq!(recs.iter().map(|r| r.kind).collect::<Vec<_>>(), ["prompt_size"], "{table}");
        }
        // Half of the repeats billed as cached already: only the size note.
        r.cached_tokens = 30_000;
        assert_eq!(rec(&[r], &prices(), 30.0).iter().map(|r| r.kind).collect::<Vec<_>>(), ["prompt_size"]);
    }

    #[test]
    fn an_output_cap_is_far_too_high_from_four_times_what_answers_use() {
        let capped = |cap: u64| Row { capped_requests: 100, max_output_tokens: 100 * cap, capped_output_tokens: 100 * 200, ..row("", "direct", "mini", 100, 0, 1.0) };
        assert!(rec(&[capped(600)], &prices(), 30.0).is_empty(), "a cap of 600 for answers of 200");
        let recs = rec(&[capped(800)], &prices(), 30.0);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        assert!(recs[0].detail.starts_with("Requests cap output at 800 tokens on average but answers use 200."), "{}", recs[0].detail);
    }

    #[test]
    fn a_row_whose_cost_passed_2_pow_53_nanodollars_is_read() {
        let row: Row = serde_json::from_value(serde_json::json!({"model": "big", "requests": 5, "cost_nanos": 1.2e16})).unwrap();
        assert_eq!(row.cost_nanos, 12_000_000_000_000_000);
        let missing: Row = serde_json::from_value(serde_json::json!({"model": "big"})).unwrap();
        assert_eq!(missing.cost_nanos, 0);
    }

    #[test]
    fn the_total_never_counts_what_rows_that_only_wrote_the_cache_cost_back() {
        let claude = PriceTable::from_json(r#"{"models":{"big":{"input":1,"output":5,"cached_input":0.1,"cache_write":1.25}}}"#).unwrap();
        // One row only wrote its prompts (1M tokens at the $0.25 premium), the other repeated
        // them uncached (1M tokens, $0.90 saved): $0.65 net for the feature.
        let mut writes = row("", "direct", "big", 100, 0, 1.0);
        (writes.feature, writes.system_tokens, writes.cache) = ("support".into(), 1_000_000, "miss".into());
        let mut repeats = writes.clone();
        (repeats.repeated_prefix_tokens, repeats.cache) = (1_000_000, "bypass".into());
        let all = recommend(&[writes, repeats], &claude, 30.0, &|_| true);
        assert_eq!(all.list[0].monthly_savings_usd, "0.65");
        assert_eq!(all.total_monthly, all.list[0].monthly_savings, "the total is the listed saving, not the $0.90 of the row that saves");
    }

    #[test]
    fn output_caps_cut_off_or_far_too_high() {
        let mut r = row("", "direct", "mini", 100, 0, 1.0);
        r.capped_requests = 100;
        r.max_output_tokens = 100 * 4096;
        r.capped_output_tokens = 100 * 200;
        let recs = rec(&[r.clone()], &prices(), 30.0);
        assert_eq!(recs[0].title, "max_tokens is far above what answers use");
        r.length_stops = 10;
        let recs = rec(&[r], &prices(), 30.0);
        assert_eq!(recs[0].title, "Answers of '(untagged)' are cut off by max_tokens");
        assert_eq!(recs[0].monthly_savings_usd, "0", "a longer answer costs more: no saving claimed");
        assert!(recs[0].detail.contains("about $0.1 a month of answers paid for in full and cut short"), "{}", recs[0].detail);
    }

    #[test]
    fn cache_hits_are_not_evidence() {
        let mut r = row("c", "cascade", "mini", 100, 0, 0.0);
        r.cache = "hit-exact".into();
        assert!(rec(&[r, row("c", "direct", "big", 50, 0, 1.0)], &prices(), 1.0).is_empty());
    }
}
