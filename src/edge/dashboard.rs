//! `/dashboard`: the web page, its login and logout, and its static assets.
//!
//! The page and its stylesheet are built into the worker. Its script (bundled with Chart.js by
//! esbuild in `scripts/build-worker.sh`, 75 KiB gzipped) is a static asset (`build/assets/`,
//! wrangler.toml's `[assets]`, read through the `ASSETS` binding): assets do not count toward the
//! Workers plans' script size limit, which the bundle is close to on the Free plan. Every request
//! passes through this code first (`run_worker_first`), so each answer carries the router's own
//! headers. Sessions: see `crate::dashboard`.

use serde_json::json;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use crate::api::ApiError;
use crate::dashboard::{self as core, SessionRecord};

use super::auth;
use super::http::{self, now_unix, RequestContext};

const LOGIN_HTML: &str = include_str!("../../dashboard/login.html");
const APP_HTML: &str = include_str!("../../dashboard/index.html");
const APP_CSS: &str = include_str!("../../dashboard/app.css");

/// The static assets binding (wrangler.toml's `[assets]`): `/dashboard/app.js`.
const ASSETS: &str = "ASSETS";

/// The Workers rate-limiting binding that caps dashboard logins per client address (its limit
/// and period are set in wrangler.toml).
const LOGIN_LIMITER: &str = "LOGIN_LIMITER";

/// Scripts and styles only from this origin, no inline code, data only from this origin, no
/// framing, forms post only here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn handle(req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let path = req.path();
    let own_origin = req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if req.method() == Method::Post && core::cross_site(header("sec-fetch-site").as_deref(), header("origin").as_deref(), &own_origin) {
        return Err(ApiError::permission_denied("Dashboard logins and logouts from other sites are refused."));
    }
    let method_name = http::method_name(&req);
    match (path.as_str(), http::routed_method(&req)) {
        ("/dashboard" | "/dashboard/", Method::Get) => page(&req, env).await,
        ("/dashboard/login", Method::Post) => login(req, env, rc).await,
        // POST only, behind the cross-site check above: a link on another site must not end a session.
        ("/dashboard/logout", Method::Post) => logout(&req, env).await,
        ("/dashboard/session", Method::Get) => session_info(&req, env, rc).await,
        ("/dashboard/tenants", Method::Get) => tenants(&req, env, rc).await,
        ("/dashboard/app.js", Method::Get) => static_asset(req, env).await,
        ("/dashboard/app.css", Method::Get) => asset(APP_CSS, "text/css; charset=utf-8"),
        ("/dashboard/login" | "/dashboard/logout", _) => Err(ApiError::method_not_allowed(&method_name, &path, "POST")),
        ("/dashboard" | "/dashboard/" | "/dashboard/session" | "/dashboard/tenants" | "/dashboard/app.js" | "/dashboard/app.css", _) => {
            Err(ApiError::method_not_allowed(&method_name, &path, "GET"))
        }
        (p, _) => Err(ApiError::not_found_path(p)),
    }
}

fn page_headers() -> Headers {
    let h = Headers::new();
    let _ = h.set("content-type", "text/html; charset=utf-8");
    let _ = h.set("content-security-policy", CSP);
    let _ = h.set("cache-control", "no-store");
    let _ = h.set("x-content-type-options", "nosniff");
    let _ = h.set("referrer-policy", "no-referrer");
    let _ = h.set("x-frame-options", "DENY");
    h
}

fn html(status: u16, body: String, set_cookie: Option<String>) -> Result<Response, ApiError> {
    let headers = page_headers();
    if let Some(c) = set_cookie {
        let _ = headers.set("set-cookie", &c);
    }
    Ok(Response::ok(body).map_err(http::to_api_error)?.with_status(status).with_headers(headers))
}

fn login_page(error: Option<&str>) -> String {
    let message = error.map(|m| format!(r#"<p class="error" role="alert" data-testid="login-error">{}</p>"#, escape(m))).unwrap_or_default();
    LOGIN_HTML.replace("<!--ERROR-->", &message)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn redirect(to: &str, set_cookie: Option<String>) -> Result<Response, ApiError> {
    let headers = Headers::new();
    let _ = headers.set("location", to);
    let _ = headers.set("cache-control", "no-store");
    if let Some(c) = set_cookie {
        let _ = headers.set("set-cookie", &c);
    }
    Ok(Response::empty().map_err(http::to_api_error)?.with_status(303).with_headers(headers))
}

fn asset(body: &'static str, content_type: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    let _ = headers.set("content-type", content_type);
    asset_headers(&headers);
    Ok(Response::ok(body).map_err(http::to_api_error)?.with_headers(headers))
}

/// What every dashboard asset is served with: checked again on each load (a deploy changes it),
/// and never read as another type than it says.
fn asset_headers(headers: &Headers) {
    let _ = headers.set("cache-control", "no-cache");
    let _ = headers.set("x-content-type-options", "nosniff");
}

/// The request's file from the static assets (its type and ETag as the assets service gives
/// them, so a conditional request gets its 304), with the dashboard's asset headers. The assets
/// service is asked for the file alone: of the client's headers only the conditional ones go
/// (not its cookie or key).
async fn static_asset(req: Request, env: &Env) -> Result<Response, ApiError> {
    let assets = env.assets(ASSETS).map_err(|_| {
        ApiError::configuration("The dashboard's script is served from static assets, and this deployment has no ASSETS binding: add wrangler.toml's [assets] section (see README, Deploy).")
    })?;
    let url = req.url().map_err(http::to_api_error)?;
    let conditions = Headers::new();
    for name in ["if-none-match", "if-modified-since"] {
        if let Some(value) = req.headers().get(name).ok().flatten() {
            let _ = conditions.set(name, &value);
        }
    }
    let mut init = RequestInit::new();
    init.with_method(if req.method() == Method::Head { Method::Head } else { Method::Get }).with_headers(conditions);
    let ask = Request::new_with_init(url.as_str(), &init).map_err(http::to_api_error)?;
    let served = assets.fetch_request(ask).await.map_err(http::to_api_error)?;
    if !matches!(served.status_code(), 200 | 304) {
        return Err(ApiError::configuration(format!(
            "The dashboard's script is missing from this deployment's static assets (status {}): deploy with the build's build/assets directory (see README, Deploy).",
            served.status_code()
        )));
    }
    let headers = served.headers().clone();
    asset_headers(&headers);
    Ok(served.with_headers(headers))
}

/// The live session the request's cookie names, if any.
async fn current_session(req: &Request, env: &Env) -> Option<(String, SessionRecord)> {
    let token = auth::session_token(req)?;
    auth::session(env, &token).await.ok().map(|(s, _)| (token, s))
}

/// `GET /dashboard`: the dashboard for a live session, else the login form.
async fn page(req: &Request, env: &Env) -> Result<Response, ApiError> {
    match current_session(req, env).await {
        Some(_) => html(200, APP_HTML.to_string(), None),
        None => html(200, login_page(None), None),
    }
}

/// `POST /dashboard/login` with a form field `key` or JSON `{"key"}`: a router key or the admin
/// token. Success sets the session cookie (303 to /dashboard for a form, JSON otherwise); a
/// refused key gets the login form again with the reason (or an OpenAI-style error), no cookie.
async fn login(mut req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let content_type = req.headers().get("content-type").ok().flatten().unwrap_or_default();
    let form = core::is_form(&content_type);
    let attempt = async {
        // Guessing a key or the admin token by trying is slowed to a few tries a minute per
        // client address. Without the binding (a local setup without it) logins are not limited.
        let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_default();
        if super::crossings::rate_limit(env, LOGIN_LIMITER, &format!("dashboard-login:{}", crate::client_address::limiter_subject(&client))).await == Some(false) {
            // The limiter counts per minute (wrangler.toml).
            rc.tell_retry_after(60);
            return Err(ApiError::rate_limited("Too many login attempts from this address; wait a minute and try again."));
        }
        let body = http::read_any_body(&mut req, &rc.headers, core::LOGIN_BODY_LIMIT).await?;
        let key = core::login_key(&content_type, &body)?;
        let now = now_unix();
        let record = if auth::is_admin_token(env, &key) {
            SessionRecord { tenant_id: None, key_hash: Some(crate::tenants::hash_key(&key)), admin: true, created_at: now, expires_at: now + core::SESSION_TTL_SECS }
        } else {
            let principal = auth::authenticate_key(env, &key).await?;
            SessionRecord {
                tenant_id: Some(principal.tenant.id),
                key_hash: Some(crate::tenants::hash_key(&key)),
                admin: false,
                created_at: now,
                expires_at: now + core::SESSION_TTL_SECS,
            }
        };
        let mut bytes = [0u8; core::TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|_| ApiError::internal("no randomness for a session token"))?;
        let token = hex::encode(bytes);
        let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
        let text = serde_json::to_string(&record).map_err(|e| ApiError::internal(e.to_string()))?;
        let kv_err = |e: worker::kv::KvError| ApiError::internal(format!("session not stored: {e}"));
        kv.put(&core::session_kv_key(&token), text)
            .map_err(kv_err)?
            .expiration_ttl(core::SESSION_TTL_SECS as u64)
            .execute()
            .await
            .map_err(kv_err)?;
        Ok::<_, ApiError>((token, record))
    };
    match attempt.await {
        Ok((token, _)) if form => redirect("/dashboard", Some(core::set_cookie(&token))),
        Ok((token, record)) => {
            let [id, same_id] = rc.id_headers();
            let mut resp = http::json(200, &json!({"object": "dashboard.session", "tenant": record.tenant_id, "admin": record.admin, "expires_at": record.expires_at}), &[id, same_id])?;
            let _ = resp.headers_mut().set("set-cookie", &core::set_cookie(&token));
            Ok(resp)
        }
        Err(e) if form => {
            let message = if e.status == 401 { "That key was not accepted: it is unknown, revoked, or mistyped." } else { e.message.as_str() };
            html(if e.status == 401 { 401 } else { e.status }, login_page(Some(message)), None)
        }
        Err(e) => Err(e),
    }
}

/// `/dashboard/logout`: ends the session (its KV record too) and clears the cookie.
async fn logout(req: &Request, env: &Env) -> Result<Response, ApiError> {
    if let Some(token) = auth::session_token(req).filter(|t| core::valid_token(t)) {
        if let Ok(kv) = env.kv("TENANTS") {
            let _ = kv.delete(&core::session_kv_key(&token)).await;
        }
    }
    redirect("/dashboard", Some(core::clear_cookie()))
}

/// `GET /dashboard/session`: who the session is, for the page.
async fn session_info(req: &Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let token = auth::session_token(req).ok_or_else(core::invalid_session)?;
    let (s, _) = auth::session(env, &token).await?;
    let [id, same_id] = rc.id_headers();
    http::json(200, &json!({"object": "dashboard.session", "tenant": s.tenant_id, "admin": s.admin, "expires_at": s.expires_at}), &[id, same_id])
}

/// `GET /dashboard/tenants`: the tenant ids an admin session may pick from.
async fn tenants(req: &Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let token = auth::session_token(req).ok_or_else(core::invalid_session)?;
    let (s, _) = auth::session(env, &token).await?;
    if !s.admin {
        return Err(ApiError::permission_denied("Only an admin session may list tenants."));
    }
    let kv = env.kv("TENANTS").map_err(|_| ApiError::configuration("The TENANTS KV namespace is not bound."))?;
    let ids = super::admin::tenant_ids(&kv).await?;
    let [id, same_id] = rc.id_headers();
    http::json(200, &json!({"object": "list", "data": ids}), &[id, same_id])
}
