//! The one user-facing error shape: OpenAI's `{"error":{"message","type","param","code"}}`.
//!
//! Every failure in the router, whether a bad request, a missing key or an upstream outage,
//! ends up as an [`ApiError`] so that clients see one predictable format and one status code
//! per kind of failure. Upstream bodies are never passed through raw: they may carry provider
//! account details, so the router only keeps the provider's message text.

use serde::Serialize;
use serde_json::json;

/// The `type` field clients switch on; the names are OpenAI's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    PermissionError,
    NotFoundError,
    RateLimitError,
    InsufficientQuota,
    ApiError,
    ServiceUnavailable,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub error_type: ErrorType,
    pub code: &'static str,
    pub param: Option<String>,
    pub message: String,
    /// For a 405: the methods the path takes, for the `Allow` header RFC 9110 asks for.
    pub allow: Option<&'static str>,
    /// A retry cannot succeed: what refused the request will not change in the seconds the SDKs
    /// retry within (see [`ApiError::retry_cannot_help`]).
    pub final_answer: bool,
}

/// The longest `retry-after` both OpenAI SDKs wait for: openai-python honours up to 60 s,
/// openai-node less than 60 s. Past it they ignore it and retry at once (their own 0.5 to 8 s
/// backoff), into the same refusal.
pub const LONGEST_RETRY_AFTER_SDKS_HONOUR_SECS: i64 = 59;

/// The headers asking a client to wait `secs` before trying again: `retry-after`, and, for a
/// wait longer than the SDKs honour, `x-should-retry: false`, so that they hand the error (and
/// the wait, in its headers) to the caller instead of spending their retries at once.
pub fn retry_after_headers(secs: i64) -> Vec<(&'static str, String)> {
    let mut headers = vec![("retry-after", secs.to_string())];
    if secs > LONGEST_RETRY_AFTER_SDKS_HONOUR_SECS {
        headers.push(("x-should-retry", "false".to_string()));
    }
    headers
}

impl ApiError {
    fn new(status: u16, error_type: ErrorType, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error_type, code, param: None, message: message.into(), allow: None, final_answer: false }
    }

    /// Marks a refusal that no retry can turn around (a route the configuration does not have,
    /// a request larger than a per-minute limit): the SDKs, which retry every 429 and 5xx, are
    /// told `x-should-retry: false`.
    pub fn retry_cannot_help(mut self) -> Self {
        self.final_answer = true;
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The refusal in the names of another API's request that was translated into the one
    /// refused (`/v1/responses`, `/v1/messages`): `rename` gives the client's name for a
    /// parameter, `None` where it is the same; the message names it so too.
    pub fn with_param_renamed(mut self, rename: impl FnOnce(&str) -> Option<String>) -> Self {
        let Some(param) = self.param.clone() else { return self };
        let Some(renamed) = rename(&param) else { return self };
        self.message = self.message.replace(&format!("'{param}'"), &format!("'{renamed}'"));
        self.param = Some(renamed);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "invalid_request_error", message)
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "invalid_json", message)
    }

    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "invalid_value", message).with_param(param)
    }

    /// A parameter the API has never defined (OpenAI's wording and code).
    pub fn unknown_parameter(param: &str) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "unknown_parameter", format!("Unknown parameter: '{param}'.")).with_param(param)
    }

    /// A parameter the API defines that the router cannot honour; `message` says why.
    pub fn unsupported_parameter(param: &str, message: &str) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "unsupported_parameter", message).with_param(param)
    }

    pub fn missing_field(param: &str) -> Self {
        Self::new(
            400,
            ErrorType::InvalidRequestError,
            "missing_required_parameter",
            format!("Missing required parameter: '{param}'."),
        )
        .with_param(param)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, ErrorType::InvalidRequestError, "unsupported_media_type", message)
    }

    pub fn body_too_large(limit_bytes: usize) -> Self {
        Self::new(
            413,
            ErrorType::InvalidRequestError,
            "request_too_large",
            format!("Request body exceeds the limit of {limit_bytes} bytes."),
        )
    }

    pub fn too_many_json_values(limit: usize) -> Self {
        Self::new(
            413,
            ErrorType::InvalidRequestError,
            "request_too_large",
            format!("The request body holds more than {limit} JSON values (array elements and object members); send fewer (token arrays to embed in several requests)."),
        )
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequestError,
            "model_not_found",
            format!("The model '{model}' does not exist or you do not have access to it. GET /v1/models lists the models this key may use."),
        )
        .with_param("model")
    }

    /// A model none of whose deployments its providers serve any longer (`retires_on`): 404
    /// `model_not_found`, as OpenAI answers a model it has shut down.
    pub fn model_retired(requested: &str, model: &str, on: crate::calendar::Date) -> Self {
        let named = if requested == model { format!("'{model}'") } else { format!("'{requested}' ({model})") };
        Self::new(
            404,
            ErrorType::InvalidRequestError,
            "model_not_found",
            format!("The model {named} was retired on {on}: its provider no longer serves it. GET /v1/models lists the models this key may use."),
        )
        .with_param("model")
    }

    pub fn missing_api_key() -> Self {
        Self::new(
            401,
            ErrorType::AuthenticationError,
            "missing_api_key",
            "You didn't provide an API key. Send your costrouter key as 'Authorization: Bearer <key>'.",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(401, ErrorType::AuthenticationError, "invalid_api_key", "Incorrect or revoked API key provided.")
    }

    pub fn key_in_query_string() -> Self {
        Self::new(
            400,
            ErrorType::InvalidRequestError,
            "key_in_query_string",
            "API keys are not accepted in the URL, where they end up in logs. Send them in the Authorization header; consider rotating this key.",
        )
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(403, ErrorType::PermissionError, "permission_denied", message)
    }

    pub fn blocked_by_policy(rule: &str, why: &str, message: &str) -> Self {
        Self::new(403, ErrorType::PermissionError, "blocked_by_policy", format!("Blocked by policy rule '{rule}' ({why}): {message}"))
    }

    pub fn not_found_path(path: &str) -> Self {
        Self::new(404, ErrorType::InvalidRequestError, "unknown_url", format!("Unknown request URL: {path}."))
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &'static str) -> Self {
        let mut e = Self::new(405, ErrorType::InvalidRequestError, "method_not_allowed", format!("Method {method} is not allowed on {path}; use {allowed}."));
        // HEAD is answered wherever GET is.
        e.allow = Some(if allowed == "GET" { "GET, HEAD" } else { allowed });
        e
    }

    /// A `previous_response_id` naming a response not kept (OpenAI's code).
    pub fn previous_response_not_found(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "previous_response_not_found", message).with_param("previous_response_id")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorType::NotFoundError, "not_found", message)
    }

    /// The request conflicts with what exists (an admin call re-creating a deleted tenant).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, ErrorType::InvalidRequestError, "conflict", message)
    }

    /// A hard budget is spent: which budget, how much, and when it resets (RFC 3339, UTC).
    pub fn budget_exceeded(budget: &str, limit: &str, used: &str, resets_at: &str) -> Self {
        Self::new(
            429,
            ErrorType::InsufficientQuota,
            "budget_exceeded",
            format!("Budget '{budget}' is exhausted: ${used} of ${limit} spent. It resets at {resets_at}."),
        )
    }

    /// A request whose most possible cost is more than a budget has left: waiting for requests
    /// in flight does not help (it would not fit with none), a smaller `max_tokens` may.
    /// `downgraded_to`: the cheapest model a downgrading budget already sent it to, where asking
    /// for a cheaper model is no advice.
    pub fn budget_too_small_for(budget: &str, amount: &str, left: &str, resets_at: &str, downgraded_to: Option<&str>) -> Self {
        let message = match downgraded_to {
            None => format!("This request's most possible cost, ${amount} (its prompt and output cap at the model's prices), is more than the ${left} budget '{budget}' has left until {resets_at}. Set a lower max_tokens, or ask for a cheaper model."),
            Some(model) => format!("Even downgraded to {model}, the cheapest model that can take it, this request's most possible cost, ${amount} (its prompt and output cap at that model's prices), is more than the ${left} budget '{budget}' has left until {resets_at}. Set a lower max_tokens."),
        };
        Self::new(429, ErrorType::InsufficientQuota, "budget_exceeded", message)
    }

    /// A budget with room for the request, held for now by requests in flight (their most possible
    /// costs): a retry once they finish may pass.
    pub fn budget_held(budget: &str, left: &str, held: &str) -> Self {
        Self::new(
            429,
            ErrorType::RateLimitError,
            "budget_held",
            format!("Budget '{budget}' has ${left} left, but requests in flight hold ${held} of it until they finish (each its most possible cost): retry shortly."),
        )
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(429, ErrorType::RateLimitError, "rate_limit_exceeded", message)
    }

    /// Every candidate failed or none could be tried; `status` is the upstream's if all failed alike.
    pub fn upstream_failed(status: u16, message: impl Into<String>) -> Self {
        let (status, error_type, code) = match status {
            429 => (429, ErrorType::RateLimitError, "upstream_rate_limited"),
            503 => (503, ErrorType::ServiceUnavailable, "upstream_unavailable"),
            504 => (504, ErrorType::ApiError, "upstream_timeout"),
            _ => (502, ErrorType::ApiError, "upstream_error"),
        };
        Self::new(status, error_type, code, message)
    }

    /// The upstream rejected the request itself (4xx other than auth and rate limits):
    /// the client's fault, so the client sees the provider's explanation with the same status.
    pub fn upstream_rejected(status: u16, message: impl Into<String>) -> Self {
        let status = if (400..500).contains(&status) { status } else { 400 };
        Self::new(status, ErrorType::InvalidRequestError, "upstream_invalid_request", message)
    }

    /// The prompt does not fit the model's window (OpenAI's own code and param for it, which the
    /// SDKs surface on `BadRequestError` and clients trim history on).
    pub fn context_length_exceeded(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, "context_length_exceeded", message).with_param("messages")
    }

    /// Keeps a provider's own error code (when it is one OpenAI also uses) and `param`.
    pub fn with_upstream_code(mut self, code: Option<&'static str>, param: Option<String>) -> Self {
        if let Some(code) = code {
            self.code = code;
        }
        if param.is_some() {
            self.param = param;
        }
        self
    }

    pub fn no_route(message: impl Into<String>) -> Self {
        Self::new(503, ErrorType::ServiceUnavailable, "no_available_route", message)
    }

    /// Nothing was sent: every deployment of `model` is behind an open circuit breaker
    /// (unavailable for now, not an upstream error); `why` lists them.
    /// `model`: the model as the message names it, quoted (`'gpt-4o'`, or with what a rule
    /// routed it to).
    pub fn every_breaker_open(model: &str, why: &[String]) -> Self {
        Self::no_route(format!("No deployment for {model} can take requests now: {}.", why.join("; ")))
    }

    /// The router's own configuration could not be read just now (a KV outage) and it has no
    /// earlier copy: routing on a guess could break the tenant's residency or block rules, so
    /// the request is refused as unavailable, and the SDKs retry it.
    pub fn configuration_unavailable(what: &str) -> Self {
        Self::new(503, ErrorType::ServiceUnavailable, "configuration_unavailable", format!("The router could not read its {what} just now; retry shortly."))
    }

    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(500, ErrorType::ApiError, "router_misconfigured", message)
    }

    /// The client left before its answer came (recorded as 499; nobody reads the response).
    pub fn client_closed(message: impl Into<String>) -> Self {
        Self::new(crate::events::CLIENT_CLOSED_STATUS, ErrorType::ApiError, crate::events::CLIENT_CLOSED, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorType::ApiError, "internal_error", message)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    pub fn to_body(&self) -> String {
        self.to_json().to_string()
    }

    /// Headers telling the official SDKs whether to retry: they retry every 429 and 5xx (twice by
    /// default) unless told `x-should-retry: false`. A spent budget or a broken configuration
    /// will not change in the next second, and each retry costs a ledger call; a rate limit
    /// or an upstream failure may.
    pub fn retry_headers(&self) -> &'static [(&'static str, &'static str)] {
        match (self.status, self.code) {
            _ if self.final_answer => &[("x-should-retry", "false")],
            (_, "budget_exceeded" | "router_misconfigured") => &[("x-should-retry", "false")],
            (429, _) => &[("retry-after", "1")],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_openai_shape() {
        let err = ApiError::missing_field("messages");
        let v = err.to_json();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages");
        assert_eq!(v["error"]["code"], "missing_required_parameter");
        assert!(v["error"]["message"].as_str().unwrap().contains("messages"));
        assert_eq!(err.status, 400);
    }

    #[test]
    fn the_sdks_are_told_not_to_retry_what_a_retry_cannot_fix() {
        assert_eq!(ApiError::budget_exceeded("m", "5", "5", "2026-12-05T00:00:00Z").retry_headers(), &[("x-should-retry", "false")]);
        assert_eq!(ApiError::configuration("x").retry_headers(), &[("x-should-retry", "false")]);
        assert_eq!(ApiError::rate_limited("x").retry_headers(), &[("retry-after", "1")]);
        assert_eq!(ApiError::budget_too_small_for("m", "0.66", "0.5", "2026-12-05T00:00:00Z", None).retry_headers(), &[("x-should-retry", "false")]);
        assert_eq!(ApiError::budget_held("m", "0.5", "0.4").retry_headers(), &[("retry-after", "1")], "requests in flight finish");
        assert!(ApiError::missing_field("messages").retry_headers().is_empty());
        let too_large = ApiError::rate_limited("x").retry_cannot_help();
        assert_eq!(too_large.retry_headers(), &[("x-should-retry", "false")], "and no retry-after: no wait helps");
        assert_eq!(ApiError::no_route("x").retry_cannot_help().retry_headers(), &[("x-should-retry", "false")]);
        assert!(ApiError::every_breaker_open("'m'", &[]).retry_headers().is_empty(), "a breaker closes again: retried");
    }

    #[test]
    fn a_wait_longer_than_the_sdks_honour_comes_with_no_retry() {
        assert_eq!(retry_after_headers(1), vec![("retry-after", "1".to_string())]);
        assert_eq!(retry_after_headers(59), vec![("retry-after", "59".to_string())]);
        // openai-node ignores 60 s (it waits for less than 60,000 ms), and both ignore more.
        for secs in [60, 61, 120] {
            assert_eq!(retry_after_headers(secs), vec![("retry-after", secs.to_string()), ("x-should-retry", "false".to_string())]);
        }
    }

    #[test]
    fn upstream_statuses_map_to_router_statuses() {
        assert_eq!(ApiError::upstream_failed(429, "x").status, 429);
        assert_eq!(ApiError::upstream_failed(500, "x").status, 502);
        assert_eq!(ApiError::upstream_failed(503, "x").status, 503);
        assert_eq!(ApiError::upstream_rejected(422, "x").status, 422);
        assert_eq!(ApiError::upstream_rejected(200, "x").status, 400);
    }
}
