//! Small HTTP helpers: responses in the router's shapes, bounded body reads, request ids.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::select;
use futures_util::StreamExt;
use serde::Serialize;
use worker::{Delay, Request, Response};

use super::body_stream::BodyStream;

use crate::api::ApiError;
use crate::events::Attribution;
use crate::receipt::header_safe;

use super::auth::Principal;

/// The request headers the router reads on every request, fetched from the runtime in one call
/// when the request arrives. Read one at a time, each `Headers.get` from wasm is a call of its own
/// with its name and value converted each way, and a chat request made eleven. A name outside the
/// list is read from the runtime when asked, so the list matters for speed only.
#[derive(Clone)]
pub struct RequestHeaders {
    live: web_sys::Headers,
    values: Vec<Option<String>>,
}

/// What is fetched up front: the credential, the body's framing, and what the cache controls and
/// attribution read (their own lists, kept true by tests in their modules).
static UP_FRONT: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut names = vec!["authorization", "api-key", "content-length", "content-type"];
    names.extend(crate::cache::ClientControls::HEADERS);
    names.extend(crate::attribution::header_names());
    names
});

impl RequestHeaders {
    pub fn read(req: &Request) -> Self {
        let live = req.headers().0.clone();
        let values = super::crossings::header_values_of(&live, &UP_FRONT);
        RequestHeaders { live, values }
    }

    /// The header's value by lower-case name, `None` when the request has no such header.
    pub fn get(&self, name: &str) -> Option<String> {
        match UP_FRONT.iter().position(|n| *n == name) {
            Some(i) => self.values[i].clone(),
            None => self.live.get(name).ok().flatten(),
        }
    }
}

/// What every handler knows about the request, filled in as it becomes known, so that a
/// failure at any step can still be recorded against the right tenant.
#[derive(Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub headers: RequestHeaders,
    pub started_ms: f64,
    pub country: String,
    /// `request.cf.continent` and `isEUCountry`, for geographic routing rules.
    pub continent: String,
    pub eu: bool,
    pub tenant: RefCell<Option<String>>,
    /// The router key's id (`admin` for admin sessions), once authenticated: key-scoped budgets.
    pub key_id: RefCell<String>,
    /// A call to a model endpoint: its every outcome, failures included, is a cost event
    /// (set by [`RequestContext::calls_model`], which names the API in the event's shape).
    pub model_call: std::cell::Cell<bool>,
    /// The form a `/v1/responses` or `/v1/messages` request's answer is written in, until the
    /// chat path writes the answer: a whole completion, or a replayed stream, is written in it
    /// at once (`respond_with_completion`), a live stream's events as they come
    /// (`stream_response`). Still here after the answer: a refusal, which passes as it is.
    pub answer_form: RefCell<Option<crate::api::front::AnswerForm>>,
    /// What to keep of a whole `/v1/responses` answer (its output items and the turn) before it
    /// goes out (the request let it be stored): see `edge::response_items`.
    pub to_keep: RefCell<crate::api::responses::stored_items::Kept>,
    /// The request came by Anthropic's Messages API (`/v1/messages`, `/v1/messages/...`): its
    /// refusals are written in Anthropic's error shape, and its answers carry `request-id`,
    /// Anthropic's header, which its SDKs report with an error.
    pub anthropic_door: std::cell::Cell<bool>,
    pub model: RefCell<String>,
    pub attribution: RefCell<Attribution>,
    /// Headers for whatever response ends the request (rate-limit status, budget warnings).
    pub extra_headers: RefCell<Vec<(String, String)>>,
    /// What the request paid for that its answer does not show: a provider embedder's call for a
    /// semantic cache lookup (hit or miss), embeddings batches a deployment answered before it
    /// failed, and the prompt a failed attempt was billed for. Added to the request's cost, and
    /// charged even when the request fails.
    pub unseen_cost: std::cell::Cell<crate::money::Usd>,
    /// The tokens the ledger's admission counted against the per-minute limits, once admitted.
    pub admitted_tokens: std::cell::Cell<Option<u64>>,
    /// The prompt's size as routing counted it (exact for an OpenAI model, else estimated): what
    /// a stream that ends without a usage report bills for its prompt.
    pub prompt_tokens: std::cell::Cell<u64>,
    /// The cost of the answer that was returned, once known, for settling the budget.
    pub answered_cost: RefCell<Option<crate::money::Usd>>,
    /// When the request's reservation in its tenant's ledger was made or last renewed (ms), if
    /// it holds money: a long request renews it (`spend::renew_if_due`). Shared with the
    /// detached copy a live stream keeps: the stream's pulls and the request's `waitUntil` task
    /// both renew, and each must see the other's renewal.
    pub reservation_renewed_ms: std::rc::Rc<std::cell::Cell<Option<f64>>>,
    /// A live stream settles its own reservation when it ends.
    pub settles_later: std::cell::Cell<bool>,
    /// The request's cost event, once written, for the tenant's usage rollups.
    pub event: RefCell<Option<crate::events::CostEvent>>,
    /// `x-costrouter-cache` for this request: `bypass` (caching off or refused), `miss`, or a hit.
    pub cache_outcome: RefCell<String>,
    /// Why the caches did not serve a request the policy caches, told last in its route reason
    /// (after the fallbacks and escalations, which the header's length limit must not cut).
    pub cache_bypass: RefCell<Option<&'static str>>,
    /// Where a fresh answer is to be cached, and for how long (set on a cache miss).
    pub cache_slot: RefCell<Option<super::cache::CacheSlot>>,
    /// A fresh answer to cache once the response has gone.
    pub pending_store: RefCell<Option<super::cache::PendingStore>>,
    /// For a live stream: where its end hands over the settlement (see `edge::handoff`).
    pub stream_finish: std::rc::Rc<RefCell<Option<super::handoff::Receiver<super::spend::Finished>>>>,
    /// Class, rule, retries and prompt shape, filled in as the request is served; copied into its
    /// cost event.
    pub shape: RefCell<crate::events::RequestShape>,
    /// The deployment last called for this request and the route that chose it: a request
    /// that fails after routing is filed under them, as its answer would have been.
    pub last_attempt: RefCell<Option<(String, String, String)>>,
    /// Aborted once the client disconnects (the `enable_request_signal` compatibility flag;
    /// without it, never).
    client_signal: web_sys::AbortSignal,
    /// The stand-in for `client_signal` under `TEST_CLIENT_LEAVES_AFTER_MS`, one per request.
    test_client_signal: RefCell<Option<web_sys::AbortSignal>>,
}

/// Browser clients (the OpenAI SDKs with `dangerouslyAllowBrowser`) may call the API from any
/// origin, as OpenAI's own API allows: it is authorized by the key a request carries, never by
/// cookies, which `*` does not let a browser send. The dashboard and the admin API stay
/// same-origin.
pub fn cors_applies(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/openai/") || path == "/healthz"
}

/// Response headers a browser script may read: the router's receipt, OpenAI's request id, the
/// retry and rate-limit headers the SDKs act on.
pub const CORS_EXPOSED: &str = "x-request-id, request-id, x-costrouter-request-id, x-costrouter-provider, x-costrouter-model, x-costrouter-route, \
x-costrouter-route-reason, x-costrouter-cost-usd, x-costrouter-baseline-cost-usd, x-costrouter-cache, x-costrouter-usage, \
x-costrouter-budget-warning, retry-after, x-should-retry, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, \
x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-requests";

/// Lets a page of any origin read `resp` and the headers the SDKs read.
pub fn allow_any_origin(resp: &mut Response) {
    let _ = resp.headers_mut().set("access-control-allow-origin", "*");
    let _ = resp.headers_mut().set("access-control-expose-headers", CORS_EXPOSED);
}

/// The answer to a CORS preflight: any origin, the methods the API takes, and the headers the
/// browser asks to send (the SDKs' `x-stainless-*` among them; refused lists would fail every
/// call).
pub fn cors_preflight(headers: &RequestHeaders) -> Response {
    let asked = headers.get("access-control-request-headers").unwrap_or_default();
    // Echoed while it fits a header value here (512 characters); a longer list, cut, would fail
    // the preflight on the name it cut: any header then, and `authorization`, which `*` leaves out.
    let allow_headers = match asked.trim() {
        "" => "authorization, content-type, api-key, x-api-key".to_string(),
        list if list.len() <= 512 => crate::receipt::header_safe(list),
        _ => "*, authorization".to_string(),
    };
    let out = super::crossings::headers([
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
        ("access-control-allow-headers", allow_headers.as_str()),
        ("access-control-max-age", "86400"),
        // The answer echoes the headers asked for: a cache must key on them.
        ("vary", "access-control-request-headers"),
    ]);
    whole_response(204, out, Vec::new())
}

/// The method a request is routed by: HEAD as GET (uptime probes send it; the runtime sends no
/// body with the answer). One the router takes nowhere is REPORT, which no route takes: workerd
/// passes on any method (WebDAV's PROPFIND, say), and workers-rs reads one it does not know as
/// GET. Messages name the method as sent ([`method_name`]).
pub fn routed_method(req: &Request) -> worker::Method {
    use worker::Method;
    match method_name(req).as_str() {
        "GET" | "HEAD" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => Method::Report,
    }
}

/// The request's method as sent, upper-cased (workerd passes on only a valid token).
pub fn method_name(req: &Request) -> String {
    req.inner().method().to_ascii_uppercase()
}

impl RequestContext {
    /// Adds a call to `candidate` that used `usage`, billed at its pricing row, to what the
    /// request paid for unseen (`unseen_cost`, and the event's other calls); returns its cost
    /// when there is one.
    pub fn charge_unseen(&self, prices: &crate::pricing::PriceTable, candidate: &crate::routing::Candidate, usage: &crate::usage::Usage) -> Option<crate::money::Usd> {
        let cost = prices.get(&candidate.price_key)?.at(self.sent_unix()).charge(usage).total;
        (cost > crate::money::Usd::ZERO).then(|| {
            self.charge_other_call(&candidate.provider, &candidate.upstream_model, usage, cost);
            cost
        })
    }

    /// Adds a call the request paid for besides its answer, at `cost`, to what it paid for unseen
    /// and to the event's other calls (filed under `model` on `provider`).
    pub fn charge_other_call(&self, provider: &str, model: &str, usage: &crate::usage::Usage, cost: crate::money::Usd) {
        self.unseen_cost.set(self.unseen_cost.get() + cost);
        self.note_other_call(provider, model, usage, cost);
    }

    /// Takes back the last call noted for `model` on `provider` at `cost`: it became the answer.
    pub fn forget_other_call(&self, provider: &str, model: &str, cost: crate::money::Usd) {
        let mut shape = self.shape.borrow_mut();
        if let Some(at) = shape.other_calls.iter().rposition(|c| c.provider == provider && c.model == model && c.cost == cost) {
            shape.other_calls.remove(at);
        }
    }

    /// Notes a call the request paid for besides its answer, for the rollups (see
    /// `events::OtherCall`); its cost is counted by the caller.
    pub fn note_other_call(&self, provider: &str, model: &str, usage: &crate::usage::Usage, cost: crate::money::Usd) {
        self.shape.borrow_mut().other_calls.push(crate::events::OtherCall {
            provider: provider.to_string(),
            model: model.to_string(),
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            output_tokens: usage.output_tokens,
            cost,
        });
    }

    pub fn new(req: &Request) -> Self {
        let mut bytes = [0u8; 12];
        // getrandom uses crypto.getRandomValues; it does not fail on workerd.
        let _ = getrandom::fill(&mut bytes);
        // The `cf` object workers-rs read when it received the request: each read of
        // `request.cf` builds it again in the runtime.
        let cf = req.cf();
        let country = cf.and_then(|c| c.country()).unwrap_or_default();
        let continent = cf.and_then(|c| c.continent()).unwrap_or_default();
        // Cloudflare sends "1" for an EU country.
        let eu = cf.is_some_and(|c| c.is_eu_country());
        RequestContext {
            request_id: format!("req_{}", hex::encode(bytes)),
            headers: RequestHeaders::read(req),
            started_ms: now_ms(),
            country,
            continent,
            eu,
            tenant: RefCell::new(None),
            key_id: RefCell::new(String::new()),
            model_call: std::cell::Cell::new(false),
            answer_form: RefCell::new(None),
            to_keep: RefCell::new(Default::default()),
            anthropic_door: std::cell::Cell::new(false),
            model: RefCell::new(String::new()),
            attribution: RefCell::new(Attribution::default()),
            extra_headers: RefCell::new(Vec::new()),
            unseen_cost: Default::default(),
            admitted_tokens: Default::default(),
            prompt_tokens: Default::default(),
            answered_cost: RefCell::new(None),
            reservation_renewed_ms: Default::default(),
            settles_later: std::cell::Cell::new(false),
            event: RefCell::new(None),
            stream_finish: Default::default(),
            cache_outcome: RefCell::new("bypass".into()),
            cache_bypass: RefCell::new(None),
            cache_slot: RefCell::new(None),
            pending_store: RefCell::new(None),
            shape: RefCell::new(Default::default()),
            last_attempt: RefCell::new(None),
            client_signal: req.inner().signal(),
            test_client_signal: RefCell::new(None),
        }
    }

    /// Whether the client has disconnected (under `TEST_CLIENT_LEAVES_AFTER_MS`, once the
    /// stand-in set up by the first provider call has fired).
    pub fn client_left(&self) -> bool {
        match self.test_client_signal.borrow().as_ref() {
            Some(stand_in) => stand_in.aborted(),
            None => self.client_signal.aborted(),
        }
    }

    /// What a provider call needs to give up on an answer nobody waits for: the client's
    /// signal, and how long after it fires (see `upstream::send`).
    pub fn client_watch(&self, env: &worker::Env) -> Option<(web_sys::AbortSignal, f64)> {
        // Local workerd never aborts request.signal (it does not cancel a request whose client
        // disconnects), so tests stand in a timer for the client: a var no deployment sets.
        let signal = match client_watch_vars(env).test_leaves_after_ms {
            Some(ms) => self.test_client_signal.borrow_mut().get_or_insert_with(|| web_sys::AbortSignal::timeout_with_u32(ms)).clone(),
            None => self.client_signal.clone(),
        };
        Some((signal, client_watch_vars(env).abandon_after_ms))
    }

    pub fn set_tenant(&self, principal: &Principal) {
        *self.tenant.borrow_mut() = Some(principal.tenant.id.clone());
        *self.key_id.borrow_mut() = principal.key_id.clone();
    }

    pub fn set_model(&self, model: &str) {
        *self.model.borrow_mut() = model.chars().take(128).collect();
    }

    pub fn add_header(&self, name: &str, value: String) {
        self.extra_headers.borrow_mut().push((name.to_string(), value));
    }

    /// The request's id as the response headers name it (`receipt::request_id_headers`).
    pub fn id_headers(&self) -> [(&'static str, String); 2] {
        crate::receipt::request_id_headers(&self.request_id)
    }

    /// Asks the client to wait `secs` before trying again (`api::error::retry_after_headers`).
    pub fn tell_retry_after(&self, secs: i64) {
        for (name, value) in crate::api::error::retry_after_headers(secs) {
            self.add_header(name, value);
        }
    }

    pub fn set_attribution(&self, attribution: Attribution) {
        *self.attribution.borrow_mut() = attribution;
    }

    /// The request calls a model by `api`: its every outcome is a cost event saying so.
    pub fn calls_model(&self, api: crate::events::ModelApi) {
        self.model_call.set(true);
        self.shape.borrow_mut().api = api.name().to_string();
    }

    /// An owned copy for work that outlives the handler (a stream's final accounting).
    pub fn detached(&self) -> RequestContext {
        self.clone()
    }

    /// When the request came (Unix seconds): its every call is priced as billed then
    /// (`ModelPrice::at`), a stream at its end too.
    pub fn sent_unix(&self) -> i64 {
        (self.started_ms / 1000.0) as i64
    }

    pub fn elapsed_ms(&self) -> f64 {
        now_ms() - self.started_ms
    }
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub fn now_unix() -> i64 {
    (now_ms() / 1000.0) as i64
}

/// Today (UTC), the day deployments' `retires_on` are judged at.
pub fn today() -> crate::calendar::Date {
    crate::calendar::Date::of_unix(now_unix())
}

/// Headers of every JSON answer the router writes itself: reports a dashboard session reads with
/// its cookie are kept out of any cache, and no browser reads an answer as anything but JSON.
const OWN_JSON_HEADERS: [(&str, &str); 3] = [("content-type", "application/json"), ("cache-control", "no-store, private"), ("x-content-type-options", "nosniff")];

pub fn json<T: Serialize>(status: u16, body: &T, extra: &[(&str, String)]) -> Result<Response, ApiError> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::internal(format!("could not encode the response: {e}")))?;
    let headers = super::crossings::headers(OWN_JSON_HEADERS.into_iter().chain(extra.iter().map(|(k, v)| (*k, v.as_str()))));
    Ok(whole_response(status, headers, text.into_bytes()))
}

/// A JSON body already serialized (an embeddings answer passed on as its provider sent it).
pub fn json_bytes(status: u16, body: Vec<u8>, extra: &[(&str, String)]) -> Response {
    let headers = super::crossings::headers(std::iter::once(("content-type", "application/json")).chain(extra.iter().map(|(k, v)| (*k, v.as_str()))));
    whole_response(status, headers, body)
}

pub fn error_response(err: &ApiError, request_id: &str) -> Response {
    let retry = err.retry_headers().iter().copied();
    let allow = err.allow.map(|methods| ("allow", methods));
    let ids = crate::receipt::request_id_headers(request_id);
    let headers = super::crossings::headers(OWN_JSON_HEADERS.into_iter().chain(ids.iter().map(|(k, v)| (*k, v.as_str()))).chain(retry).chain(allow));
    whole_response(err.status, headers, err.to_body().into_bytes())
}

/// A refusal of a `/v1/messages` request in Anthropic's error shape (`api::messages::error_body`),
/// its status and headers kept. A stream (never a refusal) passes as it is.
pub async fn in_anthropic_error_shape(mut resp: Response) -> Response {
    if matches!(resp.body(), worker::ResponseBody::Stream(_)) {
        return resp;
    }
    let status = resp.status_code();
    let headers = resp.headers().clone();
    let _ = headers.delete("content-length");
    let body = resp.bytes().await.unwrap_or_default();
    whole_response(status, headers, crate::api::messages::error_body(status, &body))
}

/// A response with this whole body and exactly these headers. `Response::ok` and
/// `Response::from_bytes` would first set a content type of their own, a runtime call whose
/// result `with_headers` throws away, on every response.
pub fn whole_response(status: u16, headers: worker::Headers, body: Vec<u8>) -> Response {
    worker::ResponseBuilder::new().with_status(status).with_headers(headers).fixed(body)
}

/// Reads a JSON body, refusing more than `limit` bytes (by `content-length` first, then by
/// count) and any content type but JSON or plain text.
pub async fn read_body(req: &mut Request, headers: &RequestHeaders, limit: usize) -> Result<Vec<u8>, ApiError> {
    read_limited(req, headers, limit, refuse_unless_json).await
}

/// Reads a body of any content type (the dashboard's login form), refusing more than `limit` bytes.
pub async fn read_any_body(req: &mut Request, headers: &RequestHeaders, limit: usize) -> Result<Vec<u8>, ApiError> {
    read_limited(req, headers, limit, |_| Ok(())).await
}

/// Workers do not decompress request bodies: a gzip body would read as broken JSON.
fn refuse_encoded(headers: &RequestHeaders) -> Result<(), ApiError> {
    match headers.get("content-encoding").map(|e| e.trim().to_ascii_lowercase()) {
        Some(e) if !e.is_empty() && e != "identity" => Err(ApiError::unsupported_media_type(format!(
            "Content-Encoding '{}' is not supported; send the body uncompressed.",
            header_safe(&e)
        ))),
        _ => Ok(()),
    }
}

fn refuse_unless_json(content_type: &str) -> Result<(), ApiError> {
    let content_type = content_type.to_ascii_lowercase();
    if !content_type.is_empty() && !content_type.contains("json") && !content_type.starts_with("text/plain") {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type '{}' is not supported; send application/json.",
            header_safe(&content_type)
        )));
    }
    Ok(())
}

/// The size checks come before `accept_type`, so an oversized body is a 413 whatever its type.
async fn read_limited(req: &mut Request, headers: &RequestHeaders, limit: usize, accept_type: impl Fn(&str) -> Result<(), ApiError>) -> Result<Vec<u8>, ApiError> {
    let declared_length = headers.get("content-length").and_then(|l| l.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > limit as u64) {
        drain(req).await;
        return Err(ApiError::body_too_large(limit));
    }
    if let Err(e) = accept_type(&headers.get("content-type").unwrap_or_default()).and_then(|_| refuse_encoded(headers)) {
        drain(req).await;
        return Err(e);
    }
    let unreadable = || ApiError::invalid_request("The request body could not be read.");
    // With a content-length (checked above) the runtime reads the body in one native call, much
    // cheaper than chunk by chunk; a missing body reads as empty. Asked before `request.body`,
    // whose first read makes the runtime wrap the body's stream in a JS object, one more for the
    // collector to finalize.
    if declared_length.is_some() {
        return req.bytes().await.map_err(|_| unreadable());
    }
    // Read chunk by chunk: a body without `content-length` (chunked) is never buffered past the
    // limit, however long it is (or if it never ends).
    let Some(raw) = req.inner().body() else { return Ok(Vec::new()) };
    let mut stream = BodyStream::new(&raw);
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if body.len() + chunk.len() > limit {
            discard_rest(&mut stream).await;
            return Err(ApiError::body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `result`, its body drained first when it is a refusal made before the body was read (see
/// [`drain`]).
pub async fn drained_on_refusal<T>(req: &mut Request, result: Result<T, ApiError>) -> Result<T, ApiError> {
    if result.is_err() {
        drain(req).await;
    }
    result
}

/// Reads and drops (for a bounded time) the body of a request refused before its body was read,
/// so that the client, still sending, reads the refusal instead of a reset connection.
pub async fn drain(req: &mut Request) {
    if let Some(raw) = req.inner().body() {
        discard_rest(&mut BodyStream::new(&raw)).await;
    }
}

/// How long the rest of an oversized chunked body is read and dropped before the 413 goes out.
const DISCARD_MS: u64 = 2_000;

/// Reads and drops what is left of a body, for at most [`DISCARD_MS`]. Answering while the client
/// is still sending makes the runtime reset the connection, and the client would see that instead
/// of the 413; a body that never ends still gets its answer once the time is up.
async fn discard_rest(stream: &mut BodyStream) {
    let draining = Box::pin(async {
        while let Some(Ok(_)) = stream.next().await {}
    });
    let deadline = Box::pin(Delay::from(Duration::from_millis(DISCARD_MS)));
    let _ = select(draining, deadline).await;
}

/// API keys in URLs end up in logs and browser history; such requests are refused outright.
pub fn has_key_in_query(req: &Request) -> bool {
    // Most requests have no query at all: skip parsing the URL for them.
    if !req.inner().url().contains('?') {
        return false;
    }
    req.url().is_ok_and(|url| url.query_pairs().any(|(k, v)| crate::tenants::query_param_holds_credential(&k, &v)))
}

pub fn to_api_error(e: worker::Error) -> ApiError {
    ApiError::internal(format!("edge runtime error: {e}"))
}

/// Unix seconds as RFC 3339 UTC (`2026-11-23T00:00:00Z`), for messages people read.
pub fn rfc3339(unix: i64) -> String {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix as f64 * 1000.0)).to_iso_string().as_string().unwrap_or_default().replace(".000Z", "Z")
}

/// How long a provider call may still wait for its answer once the client has left: inside the
/// 30 s the runtime grants `waitUntil` then, with time left to bill and settle the call. The
/// `ABANDON_AFTER_CLIENT_LEFT_MS` var (100 to 25,000) exists for tests, which cannot wait 20 s.
pub fn abandon_after_ms(env: &worker::Env) -> f64 {
    client_watch_vars(env).abandon_after_ms
}

#[derive(Clone, Copy)]
struct ClientWatchVars {
    abandon_after_ms: f64,
    test_leaves_after_ms: Option<u32>,
}

thread_local! {
    /// Read once per isolate: vars are fixed for a deployment, and each read crosses into JS.
    static CLIENT_WATCH_VARS: std::cell::Cell<Option<ClientWatchVars>> = const { std::cell::Cell::new(None) };
}

fn client_watch_vars(env: &worker::Env) -> ClientWatchVars {
    CLIENT_WATCH_VARS.with(|cached| {
        cached.get().unwrap_or_else(|| {
            const DEFAULT_MS: f64 = 20_000.0;
            let vars = ClientWatchVars {
                abandon_after_ms: env
                    .var("ABANDON_AFTER_CLIENT_LEFT_MS")
                    .ok()
                    .and_then(|v| v.to_string().trim().parse::<f64>().ok())
                    .filter(|ms| (100.0..=25_000.0).contains(ms))
                    .unwrap_or(DEFAULT_MS),
                test_leaves_after_ms: env.var("TEST_CLIENT_LEAVES_AFTER_MS").ok().and_then(|v| v.to_string().parse::<u32>().ok()),
            };
            cached.set(Some(vars));
            vars
        })
    })
}
