//! `GET /v1/models`: the models and aliases this tenant may call.

use serde_json::json;
use worker::{Env, Response};

use crate::api::ApiError;

use super::auth::authenticate;
use super::http::{self, RequestContext};
use super::config;

pub async fn list(env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = authenticate(&rc.headers, env).await?;
    rc.set_tenant(&principal);
    let cfg = config::load(env).await;
    let allowed = principal.tenant.allowed_models.as_deref();
    let data: Vec<_> = cfg
        .catalog
        .public_names()
        .filter(|(name, model)| allowed.is_none_or(|a| a.iter().any(|m| m == name || *m == model.name)))
        .map(|(name, model)| {
            json!({
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": model.owned_by,
                "costrouter": {
                    "serves": model.name,
                    "mode": model.mode,
                    "providers": model.deployments.iter().map(|d| d.provider.as_str()).collect::<Vec<_>>(),
                    "context_window": cfg.prices.get(&model.price_key).and_then(|p| p.context_window),
                }
            })
        })
        .collect();
    http::json(200, &json!({"object": "list", "data": data}), &[("x-costrouter-request-id", rc.request_id.clone())])
}
