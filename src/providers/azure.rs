//! Azure OpenAI: the OpenAI dialect behind a deployment URL, an `api-version` query parameter and
//! an `api-key` header. The catalog's `upstream_model` is the Azure deployment name and the
//! provider's `base_url` is the resource endpoint ending in `/openai`.

use super::openai::{chat_answer, chat_body, embeddings_answer, embeddings_body, OpenAiStream};
use super::{ChatAnswer, EmbeddingsAnswer, Provider, StreamTranslator, Target, UpstreamError, UpstreamRequest};
use crate::api::chat::ChatRequest;
use crate::api::embeddings::EmbeddingsRequest;
use crate::api::ApiError;

pub struct Azure;

fn url(target: &Target, operation: &str) -> String {
    let version = target.provider.api_version.as_deref().unwrap_or("2024-10-21");
    format!("{}/deployments/{}/{operation}?api-version={version}", target.provider.base_url, target.upstream_model)
}

/// Azure's GA api-versions up to 2024-10-21 know no `developer` role ("Invalid value:
/// 'developer'. Supported values are: 'system', ..."), which current SDKs and agent frameworks
/// send: such a deployment gets those messages as `system`, as OpenAI itself takes them for
/// older models. Versions sort as their dates.
fn takes_developer_role(target: &Target) -> bool {
    target.provider.api_version.as_deref().is_some_and(|v| v >= "2024-12-01-preview")
}

/// `stream_options` and `max_completion_tokens` came with 2024-09-01-preview (GA in 2024-10-21):
/// an older version, such as the GA 2024-06-01 many deployments still pin, refuses them
/// ("Unrecognized request argument supplied: stream_options"), so every stream to it failed, and
/// every request from a client that caps its answer the way OpenAI now asks. Such a deployment's
/// streams go without `stream_options` and report no usage, which the router then estimates, as
/// for any host that reports none; its cap goes as `max_tokens` (the models such a version
/// serves, gpt-4o and older, take either). No version set means the router's default, 2024-10-21.
fn knows_2024_09_params(target: &Target) -> bool {
    target.provider.api_version.as_deref().is_none_or(|v| v >= "2024-09-01-preview")
}

fn auth(target: &Target) -> Vec<(&'static str, String)> {
    target.api_key.map(|k| vec![("api-key", k.to_string())]).unwrap_or_default()
}

impl Provider for Azure {
    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError> {
        // "On your data" makes the operator's Azure resource search an index with its own
        // identity: a tenant could name any index that identity can read, another tenant's too.
        if req.extra.contains_key("data_sources") {
            return Err(ApiError::invalid_value("data_sources", "'data_sources' (Azure OpenAI on your data) is not accepted through this router: it would search with the router operator's Azure identity."));
        }
        let mut body = if takes_developer_role(target) {
            chat_body(req, target.upstream_model, &target.provider.quirks, false)?
        } else {
            let quirks = crate::catalog::Quirks { developer_as_system: true, ..target.provider.quirks.clone() };
            chat_body(req, target.upstream_model, &quirks, false)?
        };
        if !knows_2024_09_params(target) {
            if let Some(obj) = body.as_object_mut() {
                obj.remove("stream_options");
                if let Some(cap) = obj.remove("max_completion_tokens") {
                    obj.entry("max_tokens").or_insert(cap);
                }
            }
        }
        Ok(UpstreamRequest::json_post(url(target, "chat/completions"), auth(target), &body))
    }

    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
        chat_answer(&target.provider.id, body)
    }

    fn chat_stream(&self, target: &Target, _req: &ChatRequest) -> Box<dyn StreamTranslator> {
        Box::new(OpenAiStream::new(&target.provider.id))
    }

    fn embeddings_request(&self, target: &Target, req: &EmbeddingsRequest) -> Result<UpstreamRequest, ApiError> {
        Ok(UpstreamRequest::json_post(url(target, "embeddings"), auth(target), &embeddings_body(req, None, &target.provider.quirks)?))
    }

    fn embeddings_response(&self, target: &Target, body: Vec<u8>) -> Result<EmbeddingsAnswer, UpstreamError> {
        embeddings_answer(&target.provider.id, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ProviderConfig, ProviderKind, Quirks};

    #[test]
    fn builds_deployment_url_with_api_key_header() {
        let p = ProviderConfig {
            id: "azure-eu".into(),
            kind: ProviderKind::Azure,
            base_url: "https://res.openai.azure.com/openai".into(),
            key_secret: Some("AZURE_KEY".into()),
            api_version: Some("2024-10-21".into()),
            region: Some("eu".into()),
            demo: false,
            timeout_ms: 1000,
            answer_timeout_ms: 1000,
            quirks: Quirks::default(),
        };
        let t = Target { provider: &p, upstream_model: "mini-prod", api_key: Some("azkey") };
        let req = ChatRequest::parse(br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let up = Azure.chat_request(&t, &req).unwrap();
        assert_eq!(up.url, "https://res.openai.azure.com/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21");
        assert!(up.headers.contains(&("api-key".into(), "azkey".into())));
        assert!(!up.headers.iter().any(|(k, _)| k == "authorization"));
        assert!(!up.body.contains("\"model\""));
        let on_your_data = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"data_sources":[{"type":"azure_search","parameters":{"endpoint":"https://x.search.windows.net","index_name":"other-tenant"}}]}"#).unwrap();
        let e = Azure.chat_request(&t, &on_your_data).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("data_sources")));
        // 2024-10-21 knows no developer role; 2024-12-01-preview and later do.
        let developer = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"hi"}]}"#).unwrap();
        let role = |p: &ProviderConfig| {
            let up = Azure.chat_request(&Target { provider: p, upstream_model: "d", api_key: None }, &developer).unwrap();
            serde_json::from_str::<serde_json::Value>(&up.body).unwrap()["messages"][0]["role"].as_str().unwrap().to_string()
        };
        assert_eq!(role(&p), "system");
        assert_eq!(role(&ProviderConfig { api_version: Some("2025-04-01-preview".into()), ..p.clone() }), "developer");
        // Streams ask for usage where the version knows `stream_options`; before it, not at all.
        let stream = ChatRequest::parse(br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let options = |version: Option<&str>| {
            let p = ProviderConfig { api_version: version.map(str::to_string), ..p.clone() };
            let up = Azure.chat_request(&Target { provider: &p, upstream_model: "d", api_key: None }, &stream).unwrap();
            serde_json::from_str::<serde_json::Value>(&up.body).unwrap().get("stream_options").cloned()
        };
        assert_eq!(options(Some("2024-10-21")), Some(serde_json::json!({"include_usage": true})));
        assert_eq!(options(Some("2024-09-01-preview")), Some(serde_json::json!({"include_usage": true})));
        assert_eq!(options(None), Some(serde_json::json!({"include_usage": true})));
        assert_eq!(options(Some("2024-06-01")), None);
        assert_eq!(options(Some("2024-02-15-preview")), None);
        // The cap as OpenAI now asks for it goes as the older name where the version knows only that.
        let capped = ChatRequest::parse(br#"{"model":"m","max_completion_tokens":300,"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let caps = |version: &str, req: &ChatRequest| {
            let p = ProviderConfig { api_version: Some(version.to_string()), ..p.clone() };
            let body: serde_json::Value = serde_json::from_str(&Azure.chat_request(&Target { provider: &p, upstream_model: "d", api_key: None }, req).unwrap().body).unwrap();
            (body.get("max_tokens").cloned(), body.get("max_completion_tokens").cloned())
        };
        assert_eq!(caps("2024-06-01", &capped), (Some(serde_json::json!(300)), None));
        assert_eq!(caps("2024-10-21", &capped), (None, Some(serde_json::json!(300))));
        let both = ChatRequest::parse(br#"{"model":"m","max_tokens":200,"max_completion_tokens":300,"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(caps("2024-06-01", &both), (Some(serde_json::json!(300)), None), "the cap the budget holds, as elsewhere");
    }
}
