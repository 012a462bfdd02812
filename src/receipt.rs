//! What the router tells the client about each request: the `x-costrouter-*` headers, the
//! stream's cost trailer, and the cost event, all from one [`Receipt`].

use serde::Serialize;
use serde_json::{json, Value};

use crate::api::chat::ChatRequest;
use crate::catalog::Catalog;
use crate::money::Usd;
use crate::pricing::{Cost, PriceTable};
use crate::providers::adapter_for;
use crate::usage::Usage;

/// Where the usage behind a cost came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageBasis {
    /// Counted by the provider.
    Reported,
    /// The provider reported none (some hosts omit it); counted by the router from the text.
    Estimated,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    pub request_id: String,
    pub provider: String,
    pub model: String,
    pub route: String,
    pub reason: String,
    pub cache: String,
    pub usage: Option<Usage>,
    pub usage_basis: UsageBasis,
    pub cost: Option<Cost>,
    /// What the model the client asked for would have cost for the same usage.
    pub baseline: Option<Usd>,
    /// Served by the local demo upstream of `make dev`, not a real model.
    pub demo: bool,
    /// What the request's other calls cost (a cascade's escalated answer, a semantic lookup's
    /// embedding, a failed attempt's billed prompt) when its answer has no price: `cost` stays
    /// unknown, and these are still charged to its budgets.
    pub unpriced_extras: Usd,
    /// The pricing rows (and baseline reasoning) `usage` was priced by, for [`Receipt::repriced`].
    #[serde(skip)]
    pub priced_by: PricedBy,
}

/// What [`Receipt::priced`] priced a usage by: the served deployment's pricing row, the requested
/// model's, and the most the requested model would have thought.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PricedBy {
    pub price_key: String,
    pub baseline_price_key: Option<String>,
    pub baseline_reasoning_limit: Option<u64>,
    /// When the request was sent (Unix seconds): both rows are priced as billed then.
    pub sent_unix: i64,
}

/// The usage the requested model is assumed to have had: the served usage, token for token
/// (counted by the served model's tokenizer, with its cache hits), except that it would have
/// written the served model's reasoning tokens only up to `reasoning_limit`
/// ([`requested_model_reasoning_limit`]): none for a model that would not have thought, all for
/// one that reasons at the request's effort, and for one that thinks only when asked (most
/// Claude models), the budget it would have been given: a client asking Sonnet for `low` effort
/// (1,024 tokens) served by a model that thought 8,000 saved nothing on those 7,000. A reasoning
/// baseline served by a model that does not reason is understated the same way, and cannot be
/// helped: nobody knows how long it would have thought.
fn baseline_usage(served: &Usage, same_model: bool, reasoning_limit: Option<u64>) -> Usage {
    if same_model {
        return *served;
    }
    let kept = served.reasoning_tokens.min(reasoning_limit.unwrap_or(0));
    Usage { output_tokens: served.output_tokens.saturating_sub(served.reasoning_tokens - kept), reasoning_tokens: kept, ..*served }
}

/// The most reasoning tokens the model `req` names would have written on it: where its first
/// deployment's adapter turns the request's `reasoning_effort` into thinking itself (Claude,
/// Gemini), the budget it would send (Sonnet 4.5 at `low`: 1,024), unbounded for an effort
/// without a count (adaptive thinking, Gemini 3's levels), none where it sends none; else any
/// number if the model reasons at the request's effort (`ModelPrice::reasons_at`: o4-mini;
/// gpt-5.4-mini only when asked, its default effort being "none"; Gemini 2.5 unasked), none
/// otherwise. Its savings baseline keeps the served model's
/// reasoning tokens up to this.
pub fn requested_model_reasoning_limit(catalog: &Catalog, prices: &PriceTable, req: &ChatRequest) -> Option<u64> {
    let model = catalog.resolve(&req.model)?;
    let deployment = model.deployments.first()?;
    let adapter = adapter_for(catalog.providers.get(&deployment.provider)?.kind);
    // An adapter that turns an effort into thinking itself (Claude's and Gemini 2.5's budgets)
    // says how much, or that it sends none: asked for `low`, Gemini 2.5 Pro thinks at most 1,024
    // tokens, though its row says it reasons.
    if req.reasoning_effort().is_some() && adapter.translates_reasoning_effort() {
        return adapter.reasoning_as_asked(req, &deployment.upstream_model);
    }
    prices.get(&model.price_key).is_some_and(|p| p.reasons_at(req.reasoning_effort())).then_some(u64::MAX)
}

impl Receipt {
    /// The baseline a cached copy of this answer carries: with none known, the answer's own
    /// cost, so that a hit on it claims no more saving than the answer itself.
    pub fn baseline_for_cache(&self) -> Usd {
        self.baseline.or(self.cost.map(|c| c.total)).unwrap_or_default()
    }

    /// Costs `usage` at the served model's price and at the requested model's, both as billed
    /// for a call sent at `sent_unix` (off-peak rates, `ModelPrice::at`);
    /// `baseline_reasoning_limit` from [`requested_model_reasoning_limit`].
    #[allow(clippy::too_many_arguments)]
    pub fn priced(
        request_id: &str,
        provider: &str,
        model: &str,
        route: &str,
        reason: &str,
        usage: Option<Usage>,
        usage_basis: UsageBasis,
        prices: &PriceTable,
        sent_unix: i64,
        price_key: &str,
        baseline_price_key: Option<&str>,
        baseline_reasoning_limit: Option<u64>,
    ) -> Receipt {
        let cost = usage.and_then(|u| prices.get(price_key).map(|p| p.at(sent_unix).charge(&u)));
        // A client that named no model of the catalog (a policy's `auto`) asked for nothing to
        // save against: the served model is its baseline, and no saving is claimed.
        let baseline_key = baseline_price_key.unwrap_or(price_key);
        let baseline = match (baseline_key == price_key, cost) {
            // The model asked for served it: what it was charged is what it costs.
            (true, Some(cost)) => Some(cost.total),
            _ => usage.and_then(|u| prices.get(baseline_key).map(|p| p.at(sent_unix).cost(&baseline_usage(&u, baseline_key == price_key, baseline_reasoning_limit), false).total)),
        };
        Receipt {
            request_id: request_id.to_string(),
            provider: provider.to_string(),
            model: model.to_string(),
            route: route.to_string(),
            reason: reason.to_string(),
            cache: "miss".to_string(),
            usage,
            usage_basis,
            cost,
            baseline,
            demo: false,
            unpriced_extras: Usd::ZERO,
            priced_by: PricedBy {
                price_key: price_key.to_string(),
                baseline_price_key: baseline_price_key.map(str::to_string),
                baseline_reasoning_limit,
                sent_unix,
            },
        }
    }

    /// A fresh receipt for the same request, route and pricing rows, for `usage` known now (a
    /// stream's, at its end), priced as billed when the request was sent, not now; its cache
    /// outcome, demo mark and other calls start anew.
    pub fn repriced(&self, usage: Option<Usage>, usage_basis: UsageBasis, prices: &PriceTable) -> Receipt {
        let by = &self.priced_by;
        Receipt::priced(&self.request_id, &self.provider, &self.model, &self.route, &self.reason, usage, usage_basis, prices, by.sent_unix, &by.price_key, by.baseline_price_key.as_deref(), by.baseline_reasoning_limit)
    }

    /// Adds the cost of the request's other calls: to its cost, or, its answer unpriced, to
    /// what is charged besides.
    pub fn add_other_calls(&mut self, extras: Usd) {
        match self.cost.as_mut() {
            Some(cost) => cost.total += extras,
            None => self.unpriced_extras += extras,
        }
    }

    /// What the request is charged to its budgets: its cost, or what is known of it.
    pub fn charged(&self) -> Usd {
        self.cost.map_or(self.unpriced_extras, |c| c.total)
    }

    pub fn savings(&self) -> Option<Usd> {
        Some(self.baseline? - self.cost?.total)
    }

    /// Response headers; `with_cost` is false for streams, whose headers leave before the cost is known.
    pub fn headers(&self, with_cost: bool) -> Vec<(&'static str, String)> {
        let provider = if self.demo { format!("{} (demo upstream, not a real model)", self.provider) } else { self.provider.clone() };
        let [id, same_id] = request_id_headers(&self.request_id);
        let mut h = vec![
            id,
            same_id,
            ("x-costrouter-provider", provider),
            ("x-costrouter-model", self.model.clone()),
            ("x-costrouter-route", self.route.clone()),
            ("x-costrouter-route-reason", self.reason.clone()),
            ("x-costrouter-cache", self.cache.clone()),
        ];
        if with_cost {
            h.push(("x-costrouter-cost-usd", self.cost.map(|c| c.total.to_string()).unwrap_or_else(|| "unknown".into())));
            h.push(("x-costrouter-baseline-cost-usd", self.baseline.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())));
            if self.usage_basis == UsageBasis::Estimated {
                h.push(("x-costrouter-usage", "estimated".into()));
            }
        } else {
            h.push(("x-costrouter-cost-usd", "in-stream-trailer".into()));
        }
        h.into_iter().map(|(k, v)| (k, header_safe(&v))).collect()
    }

    /// The summary sent at the end of a stream (as an SSE comment) and logged with the event.
    pub fn summary(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "provider": self.provider,
            "model": self.model,
            "route": self.route,
            "cost_usd": self.cost.map(|c| c.total.to_string()),
            "baseline_cost_usd": self.baseline.map(|b| b.to_string()),
            "savings_usd": self.savings().map(|s| s.to_string()),
            "usage": self.usage.map(|u| u.to_openai_json()),
            "usage_basis": self.usage_basis,
            "cache": self.cache,
        })
    }
}

/// The request's id, under the router's name and under the one the OpenAI SDKs expose as
/// `response._request_id`: on every answer that names its request.
pub fn request_id_headers(request_id: &str) -> [(&'static str, String); 2] {
    [("x-costrouter-request-id", request_id.to_string()), ("x-request-id", request_id.to_string())]
}

/// Header values must be visible ASCII: anything else (a newline from a model name in a config,
/// a non-Latin alias) becomes `?`, so a header can never be split or rejected.
pub fn header_safe(value: &str) -> String {
    // One pass: every header of every response goes through here.
    value.chars().take(512).map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_cost_and_baseline() {
        let prices = PriceTable::from_json(r#"{"models":{"cheap":{"input":0.15,"output":0.6},"dear":{"input":2.5,"output":10}}}"#).unwrap();
        let usage = Usage { input_tokens: 1000, output_tokens: 100, ..Usage::default() };
        let r = Receipt::priced("req_1", "openai", "cheap", "direct", "requested model cheap\r\nx: y", Some(usage), UsageBasis::Reported, &prices, 0, "cheap", Some("dear"), None);
        let h: std::collections::HashMap<_, _> = r.headers(true).into_iter().collect();
        assert_eq!(h["x-costrouter-cost-usd"], "0.00021");
        assert_eq!(h["x-costrouter-baseline-cost-usd"], "0.0035");
        assert_eq!(h["x-costrouter-route-reason"], "requested model cheap??x: y");
        assert_eq!(r.savings().unwrap().to_string(), "0.00329");
        assert_eq!(r.summary()["savings_usd"], "0.00329");
    }

    #[test]
    fn other_calls_are_charged_whether_or_not_the_answer_has_a_price() {
        let prices = PriceTable::from_json(r#"{"models":{"cheap":{"input":0.15,"output":0.6}}}"#).unwrap();
        let usage = Usage { input_tokens: 1000, output_tokens: 100, ..Usage::default() };
        let extras = Usd::parse_decimal("0.0001").unwrap();
        let mut priced = Receipt::priced("r", "openai", "cheap", "cascade", "", Some(usage), UsageBasis::Reported, &prices, 0, "cheap", None, None);
        priced.add_other_calls(extras);
        assert_eq!((priced.charged().to_string(), priced.cost.unwrap().total.to_string()), ("0.00031".to_string(), "0.00031".to_string()));
        // A self-hosted model with no price answered after a paid cascade step: its cost is
        // unknown, and the step it escalated from is still charged.
        let mut unpriced = Receipt::priced("r", "vllm", "llama", "cascade", "", Some(usage), UsageBasis::Reported, &prices, 0, "llama", None, None);
        unpriced.add_other_calls(extras);
        assert_eq!((unpriced.cost, unpriced.charged()), (None, extras));
        assert_eq!(unpriced.headers(true).into_iter().find(|(k, _)| *k == "x-costrouter-cost-usd").unwrap().1, "unknown");
    }

    #[test]
    fn a_hosts_own_charge_settles_the_call_and_not_the_baseline() {
        let prices = PriceTable::from_json(r#"{"models":{"llama":{"input":0.1,"output":0.3},"dear":{"input":2.5,"output":10}}}"#).unwrap();
        // The table says $0.00013; the host served it from a dearer provider and says $0.0004.
        let usage = Usage { input_tokens: 1000, output_tokens: 100, billed: Some(Usd::parse_decimal("0.0004").unwrap()), ..Usage::default() };
        let r = Receipt::priced("r", "openrouter", "llama", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, 0, "llama", Some("dear"), None);
        let cost = r.cost.unwrap();
        assert_eq!((cost.total.to_string(), cost.billed_difference.to_string()), ("0.0004".to_string(), "0.00027".to_string()));
        assert_eq!(r.baseline.unwrap().to_string(), "0.0035", "the baseline is the asked model's price for the usage");
        // The model asked for served it: no saving claimed from the host's price.
        let same = Receipt::priced("r", "openrouter", "llama", "direct", "", Some(usage), UsageBasis::Reported, &prices, 0, "llama", Some("llama"), None);
        assert_eq!(same.savings().unwrap(), Usd::ZERO);
    }

    #[test]
    fn a_receipt_prices_the_call_and_its_baseline_as_billed_when_the_request_was_sent() {
        // Both models half price off-peak: at weekends, and weekdays from 10:00 UTC.
        let windows = r#""windows":[{"weekdays":[1,2,3,4,5],"hours_utc":["10:00-00:00"]},{"weekdays":[6,7],"hours_utc":"00:00-00:00"}]"#;
        let prices = PriceTable::from_json(&format!(
            r#"{{"models":{{"flash":{{"input":0.3,"output":1.2,"off_peak":{{"input":0.15,"output":0.6,{windows}}}}},"pro":{{"input":1.32,"output":3.96,"off_peak":{{"input":0.66,"output":1.98,{windows}}}}}}}}}"#
        ))
        .unwrap();
        let usage = Usage { input_tokens: 10_000, output_tokens: 1_000, ..Usage::default() };
        // Saturday 2026-12-05 and Monday 2026-12-07 02:00, UTC.
        let (saturday, monday_peak) = (1_796_428_800, 1_796_601_600 + 2 * 3600);
        let priced = |at: i64| Receipt::priced("r", "deepseek", "flash", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, at, "flash", Some("pro"), None);
        let costs = |r: &Receipt| (r.cost.unwrap().total.to_string(), r.baseline.unwrap().to_string());
        assert_eq!(costs(&priced(saturday)), ("0.0021".to_string(), "0.00858".to_string()), "10,000 × 0.15 + 1,000 × 0.6; 10,000 × 0.66 + 1,000 × 1.98");
        assert_eq!(costs(&priced(monday_peak)), ("0.0042".to_string(), "0.01716".to_string()));
        // A stream's receipt, priced at its end: as billed when it was sent.
        let streamed = Receipt::priced("r", "deepseek", "flash", "cheapest", "", None, UsageBasis::Reported, &prices, saturday, "flash", Some("pro"), None);
        assert_eq!(costs(&streamed.repriced(Some(usage), UsageBasis::Reported, &prices)), ("0.0021".to_string(), "0.00858".to_string()));
    }

    #[test]
    fn a_baseline_that_does_not_reason_leaves_out_the_served_models_reasoning() {
        let prices = PriceTable::from_json(
            r#"{"models":{"o4-mini":{"input":1.1,"output":4.4,"supports_reasoning":true},"gpt-4o":{"input":2.5,"output":10},"o3":{"input":2,"output":8,"supports_reasoning":true}}}"#,
        )
        .unwrap();
        let usage = Usage { input_tokens: 2000, output_tokens: 3000, reasoning_tokens: 2600, ..Usage::default() };
        let priced = |baseline: Option<&str>| Receipt::priced("r", "openai", "o4-mini", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, 0, "o4-mini", baseline, None);
        let r = priced(Some("gpt-4o"));
        assert_eq!(r.cost.unwrap().total.to_string(), "0.0154");
        // gpt-4o would have written the 400 visible tokens: 2000 × 2.5 + 400 × 10, a loss, not a saving.
        assert_eq!(r.baseline.unwrap().to_string(), "0.009");
        assert_eq!(r.savings().unwrap().to_string(), "-0.0064");
        // A reasoning baseline keeps them (no limit: `requested_model_reasoning_limit` of a model
        // that reasons at the request's effort): 2000 × 2 + 3000 × 8.
        let reasoning_baseline = Receipt::priced("r", "openai", "o4-mini", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, 0, "o4-mini", Some("o3"), Some(u64::MAX));
        assert_eq!(reasoning_baseline.baseline.unwrap().to_string(), "0.028");
        // No model asked for (a policy's `auto`): the served model is the baseline, nothing saved.
        assert_eq!(priced(None).savings().unwrap(), Usd::ZERO);
    }

    #[test]
    fn a_baseline_reasons_as_its_row_and_the_request_s_effort_say() {
        let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let asking = |model: &str, effort: Option<&str>| {
            let effort = effort.map(|e| format!(r#","reasoning_effort":"{e}""#)).unwrap_or_default();
            ChatRequest::from_value(serde_json::from_str(&format!(r#"{{"model":"{model}"{effort},"messages":[{{"role":"user","content":"Plan the migration."}}]}}"#)).unwrap()).unwrap()
        };
        let limit = |model: &str, effort: Option<&str>| requested_model_reasoning_limit(&catalog, &prices, &asking(model, effort));
        // o4-mini reasons at any effort it takes; gpt-5.4-mini's default is "none": only when asked.
        assert_eq!((limit("o4-mini", None), limit("o4-mini", Some("low"))), (Some(u64::MAX), Some(u64::MAX)));
        assert_eq!(limit("gpt-5.4-mini", None), None, "answers at once unless asked");
        assert_eq!(limit("gpt-5.4-mini", Some("none")), None);
        assert_eq!(limit("gpt-5.4-mini", Some("medium")), Some(u64::MAX));
        assert_eq!(limit("gpt-4o", Some("high")), None, "gpt-4o does not reason");
        // Where the adapter turns the effort into a budget, that budget, whatever the row says.
        assert_eq!(limit("gemini-2.5-pro", None), Some(u64::MAX), "thinks as it likes unasked");
        assert_eq!(limit("gemini-2.5-pro", Some("low")), Some(1024));
        assert_eq!(limit("gemini-2.5-flash", Some("none")), None, "sent a zero budget");

        // gpt-5.4-mini asked for, o4-mini served: 1,000 prompt, 300 answer and 2,000 reasoning tokens.
        let usage = Usage { input_tokens: 1000, output_tokens: 2300, reasoning_tokens: 2000, ..Usage::default() };
        let priced = |effort: Option<&str>| Receipt::priced("r", "openai", "o4-mini", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, 0, "o4-mini", Some("gpt-5.4-mini"), limit("gpt-5.4-mini", effort));
        // Unasked, gpt-5.4-mini would have written the answer alone: 1000 × 0.75 + 300 × 4.5.
        assert_eq!(priced(None).baseline.unwrap().to_string(), "0.0021");
        // Asked for medium, it would have thought too: 1000 × 0.75 + 2300 × 4.5.
        assert_eq!(priced(Some("medium")).baseline.unwrap().to_string(), "0.0111");
    }

    #[test]
    fn a_baseline_asked_to_think_keeps_the_served_models_reasoning() {
        let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let request = |json: &str| ChatRequest::from_value(serde_json::from_str(json).unwrap()).unwrap();
        let asking = |model: &str, effort: &str| request(&format!(r#"{{"model":"{model}","reasoning_effort":"{effort}","messages":[{{"role":"user","content":"Plan the migration."}}]}}"#));
        let sonnet_high = asking("claude-sonnet-4-5", "high");
        // The Anthropic adapter would have sent Sonnet 4.5 a thinking budget, though its row
        // does not say `supports_reasoning` (it thinks only when asked).
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &sonnet_high), Some(4096));
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &asking("claude-sonnet-4-5", "low")), Some(1024));
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &asking("claude-sonnet-4-5", "minimal")), None, "minimal: no thinking asked");
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &request(r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}"#)), None);
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &asking("gpt-4o", "high")), None, "gpt-4o is sent no effort");
        // Anthropic refuses thinking beside a forced tool choice: Sonnet would not have thought.
        let forced = request(r#"{"model":"claude-sonnet-4-5","reasoning_effort":"high","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required"}"#);
        assert_eq!(requested_model_reasoning_limit(&catalog, &prices, &forced), None);
        assert!(requested_model_reasoning_limit(&catalog, &prices, &asking("gemini-2.5-flash", "low")).is_some_and(|b| b > 0));

        // A policy served Gemini 2.5 Flash: 2,000 prompt, 400 answer and 3,000 thinking tokens.
        let usage = Usage { input_tokens: 2000, output_tokens: 3400, reasoning_tokens: 3000, ..Usage::default() };
        let priced = |reasoning_as_asked: Option<u64>| {
            Receipt::priced("r", "gemini", "gemini-2.5-flash", "cheapest", "", Some(usage), UsageBasis::Reported, &prices, 0, "gemini-2.5-flash", Some("claude-sonnet-4-5"), reasoning_as_asked)
        };
        let r = priced(requested_model_reasoning_limit(&catalog, &prices, &sonnet_high));
        assert_eq!(r.cost.unwrap().total.to_string(), "0.0091");
        // A stream's receipt, priced before its usage came, is priced again at its end alike.
        let streamed = Receipt::priced("r", "gemini", "gemini-2.5-flash", "cheapest", "", None, UsageBasis::Reported, &prices, 0, "gemini-2.5-flash", Some("claude-sonnet-4-5"), requested_model_reasoning_limit(&catalog, &prices, &sonnet_high));
        assert_eq!((streamed.cost, streamed.baseline), (None, None));
        assert_eq!(streamed.repriced(Some(usage), UsageBasis::Reported, &prices), r);
        // Sonnet thinking as much: 2000 × 3 + 3400 × 15, not the 400-token answer's $0.012.
        assert_eq!(r.baseline.unwrap().to_string(), "0.057");
        assert_eq!(r.savings().unwrap().to_string(), "0.0479");
        // Not asked to think, Sonnet would have written the answer alone: 2000 × 3 + 400 × 15.
        assert_eq!(priced(None).baseline.unwrap().to_string(), "0.012");
        // Asked for `low`, Sonnet would have thought at most its 1,024-token budget, not the
        // 3,000 served: 2000 × 3 + (400 + 1024) × 15.
        let low = requested_model_reasoning_limit(&catalog, &prices, &asking("claude-sonnet-4-5", "low"));
        assert_eq!(priced(low).baseline.unwrap().to_string(), "0.02736");
    }

    #[test]
    fn header_values_are_visible_ascii_and_at_most_512_characters() {
        assert_eq!(header_safe("a b~"), "a b~");
        assert_eq!(header_safe("é\tx\u{7f}"), "??x?");
        // Counted in characters: a non-ASCII character becomes one '?'.
        let long = format!("{}{}", "é".repeat(300), "z".repeat(300));
        let safe = header_safe(&long);
        assert_eq!(safe.len(), 512);
        assert_eq!(safe, format!("{}{}", "?".repeat(300), "z".repeat(212)));
    }

    #[test]
    fn demo_and_unknown_costs_are_labelled() {
        let prices = PriceTable::default();
        let mut r = Receipt::priced("req_2", "openai", "m", "direct", "r", None, UsageBasis::Estimated, &prices, 0, "m", None, None);
        r.demo = true;
        let h: std::collections::HashMap<_, _> = r.headers(true).into_iter().collect();
        assert_eq!(h["x-costrouter-cost-usd"], "unknown");
        assert!(h["x-costrouter-provider"].contains("demo upstream"));
        assert_eq!(h["x-costrouter-usage"], "estimated");
    }
}
