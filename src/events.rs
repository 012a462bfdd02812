//! The cost event: one per request, success or failure, written to Analytics Engine.
//!
//! Schema (positions matter in Analytics Engine SQL, so they are fixed here and in the README):
//! - index1: tenant id
//! - blob1 feature, blob2 team, blob3 environment, blob4 user, blob5 provider, blob6 model,
//!   blob7 route, blob8 cache outcome, blob9 country, blob10 status (HTTP status as text),
//!   blob11 request id, blob12 error code (empty on success)
//! - double1 input tokens, double2 cached input tokens, double3 output tokens,
//!   double4 reasoning tokens, double5 cost USD, double6 baseline cost USD, double7 latency ms,
//!   double8 cache-write tokens
//! - blob13 task class, blob14 policy rule; double9 fallback retries, double10 cascade
//!   escalations, double11 system-prompt tokens
//! - blob15 the API the client called ([`ModelApi`]; empty for a request that called no model)

use serde::{Deserialize, Serialize};

use crate::receipt::Receipt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attribution {
    pub feature: String,
    pub team: String,
    /// Also read as `env`, the name the headers (`x-costrouter-env`), budget scopes and reports
    /// use: a key created with `"tags": {"env": "prod"}` was refused.
    #[serde(alias = "env")]
    pub environment: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEvent {
    pub tenant: String,
    pub attribution: Attribution,
    pub provider: String,
    pub model: String,
    pub route: String,
    pub cache: String,
    pub country: String,
    pub status: u16,
    pub request_id: String,
    pub error_code: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub latency_ms: f64,
    /// What the router learned about the request, for rollups, alerts and recommendations.
    #[serde(default)]
    pub shape: RequestShape,
}

/// The API a client called a model by, whatever provider answered: spend by client kind (Claude
/// Code speaks Messages, Codex Responses, most SDKs chat). Azure's deployment paths are chat's and
/// embeddings' APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelApi {
    ChatCompletions,
    Responses,
    Messages,
    Embeddings,
}

impl ModelApi {
    /// Its name in the cost event (blob15) and the event sink's `shape.api`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat.completions",
            Self::Responses => "responses",
            Self::Messages => "messages",
            Self::Embeddings => "embeddings",
        }
    }
}

/// The parts of a request and its routing that spend analysis needs beyond cost: which class
/// and rule it fell in, how hard it was to serve, and how its prompt was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestShape {
    /// Task class and difficulty band, e.g. `code/hard` (empty when not classified).
    pub class: String,
    /// [`ModelApi::name`] of the API called (empty: no model was called).
    pub api: String,
    /// The policy rule that routed it (empty outside policy routing).
    pub rule: String,
    /// Upstream attempts that failed before the one that answered (fallbacks).
    pub retries: u32,
    /// Cascade steps to a stronger model.
    pub escalations: u32,
    /// Tokens of the system (or developer) prompt.
    pub system_tokens: u64,
    /// System-prompt tokens that repeated a prompt this tenant sent shortly before: the prefix a
    /// provider's prompt cache could discount.
    pub repeated_prefix_tokens: u64,
    /// The output cap the client asked for, if any.
    pub max_output_tokens: Option<u64>,
    /// The answer stopped at the output cap.
    pub length_stop: bool,
    /// Deployments whose circuit breaker opened while serving this request.
    pub circuits_opened: Vec<String>,
    /// Provider calls the request paid for besides the answer it returned (their cost is in the
    /// event's): rolled up under their own model and provider, so spend by model matches what
    /// each provider bills.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_calls: Vec<OtherCall>,
}

/// A provider call a request paid for besides its answer: a cascade's escalated answer, a
/// semantic lookup's embedding, a failed attempt's billed prompt, embeddings batches of a
/// deployment that then failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OtherCall {
    pub provider: String,
    /// The deployment's model, as an answer's event names it.
    pub model: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// Picodollars.
    pub cost: crate::money::Usd,
}

/// The status and error code of a stream its client closed before the end: billed for what the
/// provider sent, and not an error of the route (nginx's 499, "client closed request").
pub const CLIENT_CLOSED_STATUS: u16 = 499;
/// The longest blob of a data point: 15 of them stay under Analytics Engine's 16 KB for a point.
pub const BLOB_MAX_BYTES: usize = 1024;
pub const CLIENT_CLOSED: &str = "client_closed";

impl CostEvent {
    /// Whether the request failed: an error status or code, but not a client that left.
    pub fn is_error(&self) -> bool {
        self.error_code != CLIENT_CLOSED && (self.status >= 400 || !self.error_code.is_empty())
    }

    /// Whether the request failed for the router or a provider (a 5xx, or a provider's own
    /// refusal: `upstream_*`), what an error storm is about. Not the router's refusals of the
    /// request by design (budgets, per-minute limits, policy blocks: their own alerts or the
    /// tenant's rules) nor requests it found malformed, which are errors in reports all the same.
    pub fn is_route_failure(&self) -> bool {
        self.error_code != CLIENT_CLOSED && (self.status >= 500 || self.error_code.starts_with("upstream_"))
    }

    /// Whether the router turned the request away itself (malformed, over a budget or a
    /// per-minute limit, blocked by policy): no provider was asked to serve it. A request a
    /// provider refused (`context_length_exceeded`, a parameter no candidate takes) is filed
    /// under the deployment it last called (`edge::events::record_failure`), so it is not one.
    pub fn is_router_refusal(&self) -> bool {
        self.is_error() && !self.is_route_failure() && self.provider.is_empty()
    }

    /// An event for a request that was answered (fully or as a cut-off stream).
    pub fn from_receipt(tenant: &str, attribution: Attribution, country: &str, status: u16, receipt: &Receipt, latency_ms: f64) -> CostEvent {
        let usage = receipt.usage.unwrap_or_default();
        CostEvent {
            tenant: tenant.to_string(),
            attribution,
            provider: receipt.provider.clone(),
            model: receipt.model.clone(),
            route: receipt.route.clone(),
            cache: receipt.cache.clone(),
            country: country.to_string(),
            status,
            request_id: receipt.request_id.clone(),
            error_code: String::new(),
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            output_tokens: usage.output_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            // With no price for the answer, what its other calls cost (charged to budgets too).
            cost_usd: receipt.charged().as_f64(),
            // No baseline known, or no cost (an unpriced model either side): no saving claimed,
            // so the cost itself. A baseline of 0 is a real one (a free model asked for), and its
            // negative saving real.
            baseline_cost_usd: match (receipt.baseline, receipt.cost) {
                (Some(b), Some(_)) => b.as_f64(),
                _ => receipt.charged().as_f64(),
            },
            latency_ms,
            shape: RequestShape::default(),
        }
    }

    /// Marks an answered request as failed, e.g. a stream cut off after its headers left: it
    /// keeps the cost of what was generated, and says why it failed.
    pub fn with_error_code(mut self, code: &str) -> CostEvent {
        self.error_code = code.to_string();
        self
    }

    /// An event for a request that failed before any model answered: it cost nothing.
    #[allow(clippy::too_many_arguments, reason = "each is its own column of the event, and every caller has all of them at hand")]
    pub fn failure(tenant: &str, attribution: Attribution, country: &str, status: u16, request_id: &str, error_code: &str, model: &str, latency_ms: f64) -> CostEvent {
        CostEvent {
            tenant: tenant.to_string(),
            attribution,
            provider: String::new(),
            model: model.to_string(),
            route: String::new(),
            cache: "none".into(),
            country: country.to_string(),
            status,
            request_id: request_id.to_string(),
            error_code: error_code.to_string(),
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
            reasoning_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.0,
            baseline_cost_usd: 0.0,
            latency_ms,
            shape: RequestShape::default(),
        }
    }

    pub fn blobs(&self) -> [String; 15] {
        self.blob_texts(&self.status.to_string()).map(str::to_string)
    }

    /// [`CostEvent::blobs`] borrowed, `status` the status as text.
    fn blob_texts<'a>(&'a self, status: &'a str) -> [&'a str; 15] {
        [
            &self.attribution.feature,
            &self.attribution.team,
            &self.attribution.environment,
            &self.attribution.user,
            &self.provider,
            &self.model,
            &self.route,
            &self.cache,
            &self.country,
            status,
            &self.request_id,
            &self.error_code,
            &self.shape.class,
            &self.shape.rule,
            &self.shape.api,
        ]
    }

    /// Every token the request's provider calls took, as per-minute token limits count them: its
    /// answer's and those of the calls made before it (a cascade's weak answers, a provider
    /// embedder's lookup, failed attempts that were billed).
    pub fn tokens_used(&self) -> u64 {
        let others = self.shape.other_calls.iter().fold(0u64, |sum, c| sum.saturating_add(c.input_tokens).saturating_add(c.output_tokens));
        self.input_tokens.saturating_add(self.output_tokens).saturating_add(others)
    }

    /// The Analytics Engine data point, as the JSON `writeDataPoint` takes: the tenant as its
    /// index (sampling is per index), [`CostEvent::blobs`] and [`CostEvent::doubles`].
    pub fn data_point(&self) -> String {
        // Written straight from borrowed fields (one per request, on the hot path).
        #[derive(Serialize)]
        struct DataPoint<'a> {
            indexes: [&'a str; 1],
            blobs: [&'a str; 15],
            doubles: [f64; 11],
        }
        // A double that is not finite would be JSON's null, which the dataset refuses.
        let doubles = self.doubles().map(|d| if d.is_finite() { d } else { 0.0 });
        // Analytics Engine refuses a point whose blobs pass 16 KB in all, and the event would be
        // lost: a client's model name is any length (a 404's event names it).
        let status = self.status.to_string();
        let blobs = self.blob_texts(&status).map(|b| &b[..b.floor_char_boundary(BLOB_MAX_BYTES)]);
        serde_json::to_string(&DataPoint { indexes: [&self.tenant], blobs, doubles }).unwrap_or_default()
    }

    pub fn doubles(&self) -> [f64; 11] {
        [
            self.input_tokens as f64,
            self.cached_input_tokens as f64,
            self.output_tokens as f64,
            self.reasoning_tokens as f64,
            self.cost_usd,
            self.baseline_cost_usd,
            self.latency_ms,
            self.cache_write_tokens as f64,
            f64::from(self.shape.retries),
            f64::from(self.shape.escalations),
            self.shape.system_tokens as f64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::PriceTable;
    use crate::receipt::UsageBasis;
    use crate::usage::Usage;

    #[test]
    fn a_keys_environment_tag_may_be_named_env_as_everywhere_else() {
        let read = |json: &str| serde_json::from_str::<Attribution>(json);
        assert_eq!(read(r#"{"env":"prod","team":"core"}"#).unwrap(), Attribution { environment: "prod".into(), team: "core".into(), ..Attribution::default() });
        assert_eq!(read(r#"{"environment":"prod"}"#).unwrap().environment, "prod");
        assert!(read(r#"{"env":"prod","environment":"dev"}"#).is_err(), "one name or the other");
        assert!(read(r#"{"envs":"prod"}"#).is_err(), "anything else is still refused");
        // Written back under its one name.
        assert_eq!(serde_json::to_value(read(r#"{"env":"prod"}"#).unwrap()).unwrap()["environment"], "prod");
    }

    #[test]
    fn the_data_point_is_the_tenant_its_blobs_and_its_doubles() {
        let prices = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2}}}"#).unwrap();
        let usage = Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() };
        let receipt = Receipt::priced("req_1", "openai", "m", "direct", "r", Some(usage), UsageBasis::Estimated, &prices, 0, "m", Some("m"), None);
        let mut event = CostEvent::from_receipt("acme", Attribution { feature: "say \"hi\"\n".into(), ..Attribution::default() }, "US", 200, &receipt, f64::NAN);
        event.cost_usd = f64::INFINITY;
        let point: serde_json::Value = serde_json::from_str(&event.data_point()).unwrap();
        assert_eq!(point["indexes"], serde_json::json!(["acme"]));
        assert_eq!(point["blobs"], serde_json::json!(event.blobs()), "every blob, escaped for JSON");
        assert_eq!(point["blobs"][0], "say \"hi\"\n");
        let doubles = point["doubles"].as_array().unwrap();
        assert_eq!(doubles.len(), event.doubles().len());
        assert!(doubles.iter().all(|d| d.is_f64()), "a NaN or an infinity goes as 0, never null: {doubles:?}");
        assert_eq!((doubles[0].as_f64(), doubles[4].as_f64(), doubles[6].as_f64()), (Some(10.0), Some(0.0), Some(0.0)));
        // A client's model name of any length (a 404's event names it) keeps the point within
        // the dataset's limits: 20 blobs of 16 KB in all, 20 doubles.
        event.model = "é".repeat(20_000);
        let point: serde_json::Value = serde_json::from_str(&event.data_point()).unwrap();
        let blobs = point["blobs"].as_array().unwrap();
        assert!(blobs.len() <= 20 && point["doubles"].as_array().unwrap().len() <= 20);
        assert!(blobs.iter().map(|b| b.as_str().unwrap().len()).sum::<usize>() <= 16 * 1024);
        assert_eq!(blobs[5].as_str().unwrap(), "é".repeat(BLOB_MAX_BYTES / 2), "cut at a character's edge");
    }

    #[test]
    fn an_unpriced_answer_records_what_its_other_calls_cost() {
        let usage = Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() };
        let mut receipt = Receipt::priced("req_1", "vllm", "llama", "cascade", "r", Some(usage), UsageBasis::Reported, &PriceTable::default(), 0, "llama", Some("gpt-4o"), None);
        receipt.add_other_calls(crate::money::Usd::parse_decimal("0.002").unwrap());
        let event = CostEvent::from_receipt("acme", Attribution::default(), "US", 200, &receipt, 1.0);
        assert_eq!((event.cost_usd, event.baseline_cost_usd), (0.002, 0.002), "charged to the budget, and no saving claimed");
    }

    #[test]
    fn the_tokens_a_request_used_include_its_other_calls() {
        let mut event = CostEvent::failure("acme", Attribution::default(), "US", 502, "req_1", "upstream_error", "m", 1.0);
        (event.input_tokens, event.output_tokens) = (100, 20);
        assert_eq!(event.tokens_used(), 120);
        event.shape.other_calls.push(OtherCall { provider: "openai".into(), model: "gpt-4o-mini".into(), input_tokens: 100, cached_input_tokens: 0, output_tokens: 300, cost: crate::money::Usd::ZERO });
        assert_eq!(event.tokens_used(), 520, "a cascade's weak answer took tokens of the minute too");
    }

    #[test]
    fn a_cut_off_stream_keeps_its_cost_and_names_its_error() {
        let prices = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2}}}"#).unwrap();
        let usage = Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() };
        let receipt = Receipt::priced("req_1", "openai", "m", "direct", "r", Some(usage), UsageBasis::Estimated, &prices, 0, "m", Some("m"), None);
        let ok = CostEvent::from_receipt("acme", Attribution::default(), "US", 200, &receipt, 1.0);
        assert_eq!(ok.error_code, "");
        let cut = CostEvent::from_receipt("acme", Attribution::default(), "US", 502, &receipt, 1.0).with_error_code("upstream_stream_error");
        assert_eq!(cut.status, 502);
        assert_eq!(cut.error_code, "upstream_stream_error");
        assert_eq!(cut.blobs()[11], "upstream_stream_error");
        assert_eq!(cut.cost_usd, ok.cost_usd);
        assert!(cut.cost_usd > 0.0);
        assert!(cut.is_error() && !ok.is_error());
        let left = CostEvent::from_receipt("acme", Attribution::default(), "US", CLIENT_CLOSED_STATUS, &receipt, 1.0).with_error_code(CLIENT_CLOSED);
        assert!(!left.is_error(), "a client that leaves is not the route's error");
        assert!(CostEvent::failure("acme", Attribution::default(), "US", 400, "req_2", "invalid_value", "m", 1.0).is_error());
        // An error storm is the route's: 5xx and providers' refusals, not the router's own
        // refusals (a tenant past its budget) nor malformed requests.
        let failure = |status, code| CostEvent::failure("acme", Attribution::default(), "US", status, "r", code, "m", 1.0);
        assert!(cut.is_route_failure() && !left.is_route_failure() && !ok.is_route_failure());
        assert!(failure(503, "upstream_unavailable").is_route_failure());
        assert!(failure(429, "upstream_rate_limited").is_route_failure());
        assert!(failure(400, "upstream_invalid_request").is_route_failure());
        assert!(failure(500, "router_misconfigured").is_route_failure());
        for (status, code) in [(429, "budget_exceeded"), (429, "rate_limit_exceeded"), (403, "blocked_by_policy"), (400, "invalid_value"), (404, "model_not_found")] {
            let e = failure(status, code);
            assert!(e.is_error() && !e.is_route_failure() && e.is_router_refusal(), "{code}");
            // Not a request the route served: outside an error storm's denominator too.
            assert_eq!(crate::rollup::minutely_values(&e, 120)[2], crate::rollup::Value::Int(0), "{code}");
        }
        // Refused by the provider it was sent to, after its fallbacks: a request the route served
        // (its retries count against its own row, not as retries of nothing).
        let mut refused_upstream = failure(400, "context_length_exceeded");
        refused_upstream.provider = "openai".into();
        refused_upstream.shape.retries = 2;
        for served in [&ok, &cut, &left, &failure(503, "upstream_unavailable"), &refused_upstream] {
            assert!(!served.is_router_refusal());
            assert_eq!(crate::rollup::minutely_values(served, 120)[2], crate::rollup::Value::Int(1));
        }
    }

    /// The positions the README's Analytics Engine table (and every query written against it)
    /// names: each field has a distinct value, so a swap of any two shows.
    #[test]
    fn data_point_positions_are_the_documented_ones() {
        let event = CostEvent {
            tenant: "acme".into(),
            attribution: Attribution { feature: "feat".into(), team: "team".into(), environment: "env".into(), user: "user".into() },
            provider: "prov".into(),
            model: "model".into(),
            route: "route".into(),
            cache: "cache".into(),
            country: "CC".into(),
            status: 201,
            request_id: "req".into(),
            error_code: "code".into(),
            input_tokens: 1,
            cached_input_tokens: 2,
            output_tokens: 3,
            reasoning_tokens: 4,
            cost_usd: 5.0,
            baseline_cost_usd: 6.0,
            latency_ms: 7.0,
            cache_write_tokens: 8,
            shape: RequestShape { class: "code/hard".into(), rule: "rule".into(), retries: 9, escalations: 10, system_tokens: 11, api: "messages".into(), ..RequestShape::default() },
        };
        // blob1–blob4 feature, team, environment, user; blob5–blob8 provider, model, route,
        // cache; blob9–blob12 country, status, request id, error code; blob13–blob14 class, rule;
        // blob15 the API called.
        let blobs = ["feat", "team", "env", "user", "prov", "model", "route", "cache", "CC", "201", "req", "code", "code/hard", "rule", "messages"];
        assert_eq!(event.blobs().map(|b| b.to_string()), blobs.map(String::from));
        // double1–double4 input, cached input, output, reasoning tokens; double5–double8 cost,
        // baseline, latency, cache-write tokens; double9–double11 retries, escalations, system tokens.
        assert_eq!(event.doubles(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    }
}
