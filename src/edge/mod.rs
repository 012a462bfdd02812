//! The edge shell: the only code that touches `worker` types. Each handler reads the request,
//! calls the plain-Rust core, and writes a response. Every path ends in a response: errors
//! become OpenAI-shaped bodies, never a worker exception.

mod admin;
mod alerting;
mod auth;
mod body_stream;
mod cache;
mod chat;
mod config;
mod crossings;
mod dashboard;
mod embeddings;
mod events;
mod forecast;
mod handoff;
mod health;
mod ledger;
mod live_heap;
mod spend;
mod http;
mod kv_list;
mod models;
mod recommendations;
mod response_items;
mod semantic;
mod semantic_store;
mod sweep_alarm;
mod upstream;
mod usage;

use worker::{event, Context, Env, Method, Request, Response};

use crate::events::ModelApi;
use crate::api::ApiError;
use http::{error_response, RequestContext};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    // The request is served inside `waitUntil` and its response handed back here. A client that
    // disconnects cancels this handler, and with it every subrequest it awaits, but not a
    // `waitUntil` task (which has 30 s more): an answer the provider is already generating, and
    // will bill, is still read, charged, recorded and settled.
    let (answer, answered) = handoff::channel();
    let cors = http::cors_applies(&crate::api::openai_path(&req.path()));
    ctx.wait_until(serve(req, env, answer));
    Ok(answered.await.unwrap_or_else(|| {
        // A browser reads even this answer only with the CORS headers every API answer has.
        let mut resp = error_response(&ApiError::internal("the request ended without an answer"), "");
        if cors {
            http::allow_any_origin(&mut resp);
        }
        resp
    }))
}

/// Answers one request through `answer`, then does what follows the response: settling the
/// reservation, writing the rollups, storing a cache entry, posting events.
async fn serve(req: Request, env: Env, answer: handoff::Sender<Response>) {
    let rc = RequestContext::new(&req);
    let path = crate::api::openai_path(&req.path());
    let cors = http::cors_applies(&path);
    // Anthropic's SDKs read Anthropic's error shape from every path of its API they call.
    rc.anthropic_door.set(path == "/v1/messages" || path.starts_with("/v1/messages/"));
    let result = dispatch(req, &env, &rc).await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            // Requests refused before a tenant is known still count in the event stream. A
            // tenant's own failed report calls (a bad `/v1/usage` parameter) are not model
            // traffic: as events they would count as requests and errors in its rollups, and a
            // polling script could raise an error-storm alert.
            if rc.model_call.get() || rc.tenant.borrow().is_none() {
                events::record_failure(&env, &rc, None, &err);
            }
            error_response(&err, &rc.request_id)
        }
    };
    if rc.anthropic_door.get() {
        if resp.status_code() >= 400 {
            resp = http::in_anthropic_error_shape(resp).await;
        }
        let _ = resp.headers_mut().set("request-id", &rc.request_id);
    }
    for (name, value) in rc.extra_headers.borrow().iter() {
        let _ = resp.headers_mut().set(name, &crate::receipt::header_safe(value));
    }
    if cors {
        http::allow_any_origin(&mut resp);
    }
    if rc.client_left() {
        // Nobody will read a live stream's body: cancelling it ends the stream as one the
        // client left, which settles it for what the provider sent so far.
        if let worker::ResponseBody::Stream(body) = resp.body() {
            let _ = wasm_bindgen_futures::JsFuture::from(body.cancel()).await;
        }
    }
    answer.send(resp);
    // A live stream settles and rolls itself up when it ends; otherwise the request's reservation
    // is settled (or released) and its rollup written in one ledger call, after the response has
    // gone, off the client's critical path.
    if rc.settles_later.get() {
        let ended = rc.stream_finish.borrow_mut().take();
        if let Some(ended) = ended {
            // The stream renews its reservation as the client pulls; a client that stops
            // reading stops the pulls, and the reservation would lapse under a stream still
            // running (its expiry charge can be forgotten, `budget::Ledger::keep_expired`, and
            // the money held for others while the request runs on). Renewed here as well.
            let tenant = rc.tenant.borrow().clone();
            let finished = match tenant {
                Some(tenant) => spend::renewing(&env, &rc, &tenant, ended).await,
                None => ended.await,
            };
            if let Some(mut finished) = finished {
                if let Some(s) = finished.cache_store.take() {
                    cache::store_pending(&env, &s).await;
                }
                spend::finish(&env, finished).await;
            }
            events::flush_sink(&env).await;
        }
        return;
    }
    let pending_store = rc.pending_store.borrow_mut().take();
    let store = async {
        if let Some(s) = pending_store {
            cache::store_pending(&env, &s).await;
        }
    };
    let event = rc.event.borrow_mut().take();
    let tenant = rc.tenant.borrow().clone();
    let settle = async {
        // Only requests that made a cost event can hold a reservation or have a rollup to add.
        if let (Some(tenant), true) = (tenant, event.is_some()) {
            let (request_id, actual, key_id) = (rc.request_id.clone(), *rc.answered_cost.borrow(), rc.key_id.borrow().clone());
            let admitted_tokens = rc.admitted_tokens.get();
            spend::finish(&env, spend::Finished { tenant, key_id, request_id, actual, event, admitted_tokens, cache_store: None }).await;
        }
    };
    let flush = async {
        if events::sink_pending() {
            events::flush_sink(&env).await;
        }
    };
    futures_util::future::join3(store, settle, flush).await;
}

async fn dispatch(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let path = crate::api::openai_path(&req.path());
    let method = http::routed_method(&req);
    // A browser's preflight (an OPTIONS that names the method it wants to send); a plain OPTIONS
    // is refused with 405 and the Allow header, as before.
    if method == Method::Options && http::cors_applies(&path) && rc.headers.get("access-control-request-method").is_some() {
        return Ok(http::cors_preflight(&rc.headers));
    }
    if http::has_key_in_query(&req) {
        return Err(ApiError::key_in_query_string());
    }
    match (path.as_str(), method) {
        ("/healthz", Method::Get) => http::json(200, &serde_json::json!({"status": "ok"}), &[]),
        ("/v1/models", Method::Get) => models::list(env, rc).await,
        (p, Method::Get) if p.starts_with("/v1/models/") => models::retrieve(&p["/v1/models/".len()..], env, rc).await,
        ("/v1/deployments", Method::Get) => health::list(req, env, rc).await,
        ("/v1/budgets", Method::Get) => budgets(req, env, rc).await,
        ("/v1/usage", Method::Get) => usage::report(req, env, rc).await,
        ("/v1/forecast", Method::Get) => forecast::report(req, env, rc).await,
        ("/v1/alerts", Method::Get) => alerting::list(req, env, rc).await,
        ("/v1/recommendations", Method::Get) => recommendations::list(req, env, rc).await,
        (p, _) if p == "/dashboard" || p.starts_with("/dashboard/") => dashboard::handle(req, env, rc).await,
        ("/v1/chat/completions", Method::Post) => {
            rc.calls_model(ModelApi::ChatCompletions);
            chat::handle(req, env, rc, chat::Front::Chat).await
        }
        ("/v1/responses", Method::Post) => {
            rc.calls_model(ModelApi::Responses);
            chat::handle(req, env, rc, chat::Front::Responses).await
        }
        (p, Method::Get) if kept_response_id(p).is_some() => response_items::retrieve(env, rc, kept_response_id(p).unwrap_or_default()).await,
        (p, Method::Delete) if kept_response_id(p).is_some() => response_items::delete(env, rc, kept_response_id(p).unwrap_or_default()).await,
        (p, _) if p.starts_with("/v1/responses/") && kept_response_id(p).is_none() => Err(responses_path_not_served(&p["/v1/responses/".len()..])),
        ("/v1/messages", Method::Post) => {
            rc.calls_model(ModelApi::Messages);
            chat::handle(req, env, rc, chat::Front::Messages).await
        }
        ("/v1/messages/count_tokens", Method::Post) => chat::count_message_tokens(req, env, rc).await,
        (p, _) if p.starts_with("/v1/messages/") && p != "/v1/messages/count_tokens" => Err(ApiError::not_found(format!(
            "'{p}' is not served by this router: of Anthropic's Messages API it serves POST /v1/messages and POST /v1/messages/count_tokens (no batches)."
        ))),
        ("/v1/embeddings", Method::Post) => {
            rc.calls_model(ModelApi::Embeddings);
            embeddings::handle(req, env, rc, None).await
        }
        (p, Method::Post) if crate::api::azure_deployment_path(p).is_some() => azure_deployment(req, env, rc, &path).await,
        (p, _) if p.starts_with("/admin/") => admin::handle(req, env, rc).await,
        (p, _) => Err(allowed_methods(p).map_or_else(|| ApiError::not_found_path(p), |allowed| ApiError::method_not_allowed(&http::method_name(&req), p, allowed))),
    }
}

/// The id in `/v1/responses/{id}`, a kept response's path (`resp_…`, the form of every response
/// id, so that `/v1/responses/compact` and the like are not read as one).
fn kept_response_id(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/responses/").filter(|id| id.starts_with("resp_") && !id.contains('/') && id.len() <= crate::api::responses::earlier_turns::MAX_ID_BYTES)
}

/// Another path under `/v1/responses/`: a kept response's endpoints the router does not serve
/// (`input_items`, `cancel`), or another endpoint of the Responses API (`input_tokens`,
/// `compact`).
fn responses_path_not_served(rest: &str) -> ApiError {
    if rest.starts_with("resp_") {
        ApiError::not_found(format!(
            "'/v1/responses/{rest}' is not served by this router: of a kept response it serves GET and DELETE /v1/responses/{{id}} (it lists no input items, and runs nothing in the background to cancel)."
        ))
    } else {
        ApiError::not_found(format!("'/v1/responses/{rest}' is not served by this router: of the Responses API it serves POST /v1/responses, and GET and DELETE /v1/responses/{{id}}."))
    }
}

/// The methods a path of the router's own (outside `/admin/` and `/dashboard`, which answer for
/// themselves) takes, for a 405; `None`: no such path, a 404.
fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/healthz" | "/v1/models" | "/v1/deployments" | "/v1/budgets" | "/v1/usage" | "/v1/forecast" | "/v1/alerts" | "/v1/recommendations" => Some("GET"),
        p if p.starts_with("/v1/models/") => Some("GET"),
        p if kept_response_id(p).is_some() => Some("GET, DELETE"),
        "/v1/chat/completions" | "/v1/embeddings" | "/v1/responses" | "/v1/messages" | "/v1/messages/count_tokens" => Some("POST"),
        p if crate::api::azure_deployment_path(p).is_some() => Some("POST"),
        _ => None,
    }
}

/// `POST /openai/deployments/{deployment}/chat/completions` (or `/embeddings`), as the Azure
/// OpenAI SDKs send it: the deployment is the model.
async fn azure_deployment(req: Request, env: &Env, rc: &RequestContext, path: &str) -> Result<Response, ApiError> {
    let Some((deployment, endpoint)) = crate::api::azure_deployment_path(path) else { return Err(ApiError::not_found_path(path)) };
    let model = crate::dashboard::percent_decode(deployment, false);
    match endpoint {
        crate::api::AzureEndpoint::ChatCompletions => {
            rc.calls_model(ModelApi::ChatCompletions);
            chat::handle(req, env, rc, chat::Front::AzureDeployment(&model)).await
        }
        crate::api::AzureEndpoint::Embeddings => {
            rc.calls_model(ModelApi::Embeddings);
            embeddings::handle(req, env, rc, Some(&model)).await
        }
    }
}

/// `GET /v1/budgets`: the calling tenant's budgets and their state, and nobody else's (a key
/// locked to tags: the budgets on its slice, see `crate::report_scope`).
async fn budgets(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = auth::authenticate_reader(&req, &rc.headers, env).await?;
    rc.set_tenant(&principal);
    let stub = spend::required_ledger(env, &principal.tenant.id)?;
    http::json(200, &principal.report_scope().budgets_view(spend::state(&stub).await?), &rc.id_headers())
}
