//! OpenAI's public wire format as the router's clients speak it, and its one error shape.

pub mod chat;
pub mod embeddings;
pub mod end_user;
pub mod error;
pub mod no_answer;

pub use error::{ApiError, ErrorType};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Nesting deeper than this is refused before serde sees it: serde_json's own recursion limit
/// (128) would turn a hostile body into an error anyway, but a clear message is kinder.
const MAX_JSON_DEPTH: usize = 64;

/// An endpoint the Azure OpenAI SDKs call: `AzureOpenAI(azure_endpoint=<router>)` posts to
/// `/openai/deployments/{deployment}/chat/completions?api-version=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureEndpoint {
    ChatCompletions,
    Embeddings,
}

/// The deployment and endpoint of an Azure-style path; the deployment names the model, as on
/// Azure, whatever the body's `model` says.
/// The OpenAI path a request names, for the Azure SDKs' other spellings of it: Azure's "v1"
/// API (`OpenAI(base_url="https://<resource>.openai.azure.com/openai/v1/")`, Microsoft's
/// documented setup since 2025) puts every `/v1/...` path under `/openai`, and `AzureOpenAI`
/// lists models at `/openai/models`. And the model endpoints without `/v1`, as a client whose base
/// URL is the bare host calls them (LiteLLM's proxy serves both, and its users set it so).
pub fn openai_path(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/openai/v1/") {
        format!("/v1/{rest}")
    } else if path == "/openai/models" || path.starts_with("/openai/models/") {
        format!("/v1{}", &path["/openai".len()..])
    } else if matches!(path, "/chat/completions" | "/embeddings" | "/models") || path.starts_with("/models/") {
        format!("/v1{path}")
    } else {
        path.to_string()
    }
}

pub fn azure_deployment_path(path: &str) -> Option<(&str, AzureEndpoint)> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, endpoint) = rest.split_once('/')?;
    let endpoint = match endpoint {
        "chat/completions" => AzureEndpoint::ChatCompletions,
        "embeddings" => AzureEndpoint::Embeddings,
        _ => return None,
    };
    (!deployment.is_empty()).then_some((deployment, endpoint))
}

/// A body for an Azure-style path: a JSON object whose `model` becomes the path's deployment.
pub fn with_model(body: &[u8], model: &str) -> Result<Value, ApiError> {
    let mut value = parse_json_object(body)?;
    value["model"] = Value::String(model.to_string());
    Ok(value)
}

/// Parses a body that must be a JSON object, with errors a client can act on.
pub fn parse_json_object(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::invalid_json("The request body is empty; send a JSON object."));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid_json(format!("The request body is not valid UTF-8 (at byte {}).", e.valid_up_to())))?;
    if json_depth_exceeds(text, MAX_JSON_DEPTH) {
        return Err(ApiError::invalid_json(format!("The request body nests deeper than {MAX_JSON_DEPTH} levels.")));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::invalid_json(format!(
            "We could not parse the JSON body of your request: {} (line {}, column {}).",
            describe_json_error(&e),
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid_request("The request body must be a JSON object."));
    }
    Ok(value)
}

fn describe_json_error(e: &serde_json::Error) -> String {
    // serde_json appends " at line X column Y"; we report position ourselves.
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Deserializes into a typed request; a type error's `param` is the JSON path at fault.
pub fn deserialize_with_path<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if path == "." { format!("Invalid request: {inner}.") } else { format!("Invalid value for '{path}': {inner}.") };
        let err = ApiError::invalid_request(message);
        if path == "." {
            err
        } else {
            err.with_param(path)
        }
    })
}

/// Counts bracket depth outside strings without building anything.
fn json_depth_exceeds(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_v1_paths_are_openai_paths() {
        assert_eq!(openai_path("/openai/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(openai_path("/openai/v1/embeddings"), "/v1/embeddings");
        assert_eq!(openai_path("/openai/models"), "/v1/models");
        assert_eq!(openai_path("/openai/models/gpt-4o"), "/v1/models/gpt-4o");
        assert_eq!(openai_path("/openai/deployments/d/chat/completions"), "/openai/deployments/d/chat/completions");
        assert_eq!(openai_path("/v1/models"), "/v1/models");
        assert_eq!(openai_path("/chat/completions"), "/v1/chat/completions", "a base URL without /v1");
        assert_eq!(openai_path("/embeddings"), "/v1/embeddings");
        assert_eq!(openai_path("/models/gpt-4o"), "/v1/models/gpt-4o");
        assert_eq!(openai_path("/usage"), "/usage", "the router's own endpoints keep /v1");
    }

    #[test]
    fn azure_paths_name_their_deployment() {
        assert_eq!(azure_deployment_path("/openai/deployments/fast/chat/completions"), Some(("fast", AzureEndpoint::ChatCompletions)));
        assert_eq!(azure_deployment_path("/openai/deployments/emb/embeddings"), Some(("emb", AzureEndpoint::Embeddings)));
        for path in ["/openai/deployments//chat/completions", "/openai/deployments/fast/completions", "/openai/deployments/fast", "/v1/chat/completions"] {
            assert_eq!(azure_deployment_path(path), None, "{path}");
        }
        assert_eq!(with_model(br#"{"model":"other","messages":[]}"#, "fast").unwrap()["model"], "fast");
        assert_eq!(with_model(br#"{"messages":[]}"#, "fast").unwrap()["model"], "fast");
    }

    #[test]
    fn rejects_non_objects_and_garbage_with_400() {
        for body in ["", "  ", "[]", "42", "\"x\"", "{", "{\"a\":}", "null", "{\"a\":1}}"] {
            let e = parse_json_object(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400, "{body:?}");
        }
        assert_eq!(parse_json_object(&[0xff, 0xfe]).unwrap_err().code, "invalid_json");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(parse_json_object(deep.as_bytes()).unwrap_err().message.contains("nests deeper"));
        let brackets_in_strings = format!("{{\"a\":\"{}\"}}", "[".repeat(100));
        assert!(parse_json_object(brackets_in_strings.as_bytes()).is_ok());
    }
}
