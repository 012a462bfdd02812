//! `GET /v1/models` and `GET /v1/models/{id}`: the models and aliases this tenant may call, and
//! that some deployment can serve: a model whose every provider lacks its key secret would only
//! answer 503, and one whose every deployment is retired 404; a client picking from the list
//! would pick it.

use serde_json::{json, Value};
use worker::{Env, Response};

use crate::api::ApiError;
use crate::calendar::Date;
use crate::catalog::ModelEntry;

use super::auth::authenticate_client;
use super::config::{self, RouterConfig};
use super::http::{self, RequestContext};

pub async fn list(env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let anthropic = speaks_anthropic(rc);
    let (cfg, allowed) = tenant_view(env, rc).await?;
    let today = http::today();
    let data: Vec<_> = cfg.catalog.public_names().filter(|(name, _)| allowed(name)).filter_map(|(name, model)| entry(env, &cfg, name, model, today)).collect();
    if anthropic {
        // What `/v1/messages` serves: chat models (an embedding model answers no messages).
        let chat: Vec<Value> = data.into_iter().filter(|m| m["costrouter"]["mode"] != "embedding").collect();
        return http::json(200, &crate::api::messages::model_list(&chat), &rc.id_headers());
    }
    http::json(200, &json!({"object": "list", "data": data}), &rc.id_headers())
}

/// A client of Anthropic's API (its SDKs and Claude Code send `anthropic-version` on every call,
/// as Anthropic requires): it is answered in Anthropic's shapes (models, errors, `request-id`) and
/// may send its key as `x-api-key`.
fn speaks_anthropic(rc: &RequestContext) -> bool {
    let anthropic = rc.headers.get("anthropic-version").is_some();
    if anthropic {
        rc.anthropic_door.set(true);
    }
    anthropic
}

/// What openai-python's `client.models.retrieve(id)` calls; `id` as it appears in the path.
pub async fn retrieve(id: &str, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let id = crate::dashboard::percent_decode(id, false);
    let anthropic = speaks_anthropic(rc);
    let (cfg, allowed) = tenant_view(env, rc).await?;
    let today = http::today();
    let named = cfg.catalog.public_names().find(|(name, _)| name == &id && allowed(name));
    // A retired model is told as the chat door tells it.
    if let Some((model, on)) = named.and_then(|(_, model)| model.retired_on(today).map(|on| (model, on))) {
        return Err(ApiError::model_retired(&id, &model.name, on));
    }
    let body = named.and_then(|(name, model)| entry(env, &cfg, name, model, today)).ok_or_else(|| ApiError::model_not_found(&id))?;
    let body = if anthropic { crate::api::messages::model_entry(&body) } else { body };
    http::json(200, &body, &rc.id_headers())
}

/// The configuration and which public names the calling tenant may use.
async fn tenant_view(env: &Env, rc: &RequestContext) -> Result<(std::rc::Rc<RouterConfig>, impl Fn(&str) -> bool), ApiError> {
    let principal = authenticate_client(rc, env).await?;
    rc.set_tenant(&principal);
    let cfg = config::load(env).await?;
    let allowed_models = principal.tenant.allowed_models.clone();
    let catalog = cfg.clone();
    let allowed = move |name: &str| catalog.catalog.allows_name(allowed_models.as_deref(), name);
    Ok((cfg, allowed))
}

/// The model's entry, naming the providers that can serve it; `None` when none can.
fn entry(env: &Env, cfg: &RouterConfig, name: &str, model: &ModelEntry, today: Date) -> Option<Value> {
    let serving: Vec<_> = model.deployments.iter().filter(|d| d.retired_on(today).is_none() && cfg.catalog.providers.get(&d.provider).is_some_and(|p| super::chat::usable(env, p))).collect();
    if serving.is_empty() {
        return None;
    }
    let providers: Vec<&str> = serving.iter().map(|d| d.provider.as_str()).collect();
    // The first day none of those serves it, when each has one: a client sees it coming.
    let retires_on = crate::catalog::last_retirement(serving.iter().copied());
    let price = cfg.prices.get(&model.price_key);
    let mut entry = json!({
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": model.owned_by,
        "costrouter": {
            "serves": model.name,
            "mode": model.mode,
            "providers": providers,
            "context_window": price.and_then(|p| p.context_window),
            "max_input_tokens": price.and_then(|p| p.max_input_tokens),
        }
    });
    if let Some(day) = retires_on {
        entry["costrouter"]["retires_on"] = json!(day);
    }
    Some(entry)
}
