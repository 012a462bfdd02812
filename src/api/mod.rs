//! OpenAI's public wire format as the router's clients speak it, and its one error shape.

pub mod chat;
pub mod chat_events;
pub mod embeddings;
pub mod end_user;
pub mod error;
pub mod front;
pub mod kept_thinking;
pub mod messages;
pub mod no_answer;
pub mod responses;

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
    } else if path == "/openai/models" || path.starts_with("/openai/models/") || path == "/openai/responses" || path.starts_with("/openai/responses/") {
        format!("/v1{}", &path["/openai".len()..])
    } else if matches!(path, "/chat/completions" | "/embeddings" | "/responses" | "/models") || path.starts_with("/models/") || path.starts_with("/responses/") {
        format!("/v1{path}")
    } else {
        path.to_string()
    }
}

/// The deployment and endpoint an Azure-style path names. The endpoint is read from the end:
/// openai-python's `AzureOpenAI` puts the model into the path as it is, so a catalog name with a
/// `/` (`openrouter/anthropic/claude-3.5-sonnet`) arrives unencoded (openai-node encodes it).
pub fn azure_deployment_path(path: &str) -> Option<(&str, AzureEndpoint)> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, endpoint) = if let Some(d) = rest.strip_suffix("/chat/completions") {
        (d, AzureEndpoint::ChatCompletions)
    } else {
        (rest.strip_suffix("/embeddings")?, AzureEndpoint::Embeddings)
    };
    (!deployment.is_empty()).then_some((deployment, endpoint))
}

/// A body for an Azure-style path: a JSON object whose `model` becomes the path's deployment.
pub fn with_model(body: &[u8], model: &str, max_values: usize) -> Result<Value, ApiError> {
    let mut value = parse_request_object(body, max_values)?;
    value["model"] = Value::String(model.to_string());
    Ok(value)
}

/// The most values a chat request's body may hold (array elements and object members, counted
/// by their separators before anything is built). As a JSON tree each takes some 50 bytes of
/// wasm memory or more: an 8 MiB body of `[0,0,0,...]` is four million values, about 400 MB,
/// past a Worker's 128 MB, and every request in flight on the isolate failed with it. Real chat
/// requests hold a few thousand (long conversations and large tool schemas included).
pub const MAX_CHAT_VALUES: usize = 200_000;

/// The same for embeddings, which take token arrays: OpenAI takes at most 300,000 tokens a
/// request.
pub const MAX_EMBEDDINGS_VALUES: usize = 320_000;

/// A string field of a request object, named by its path (`input[2].call_id`) when it is missing
/// or not a string.
pub(crate) fn required_string<'a>(at: &str, obj: &'a serde_json::Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::missing_field(&format!("{at}.{field}"))),
        Some(_) => Err(ApiError::invalid_value(&format!("{at}.{field}"), format!("'{at}.{field}' must be a string."))),
    }
}

/// A request's `tools`, each in chat's form by `chat_tool` (given its index); `None` for none.
pub(crate) fn translated_tools(asked: &serde_json::Map<String, Value>, chat_tool: impl Fn(usize, &Value) -> Result<Value, ApiError>) -> Result<Option<Vec<Value>>, ApiError> {
    let Some(tools) = asked.get("tools").filter(|v| !v.is_null()) else { return Ok(None) };
    let Some(tools) = tools.as_array() else { return Err(ApiError::invalid_value("tools", "'tools' must be an array.")) };
    let tools = tools.iter().enumerate().map(|(i, t)| chat_tool(i, t)).collect::<Result<Vec<_>, _>>()?;
    Ok((!tools.is_empty()).then_some(tools))
}

/// Parses a body that must be a JSON object, with errors a client can act on.
pub fn parse_json_object(body: &[u8]) -> Result<Value, ApiError> {
    parse_request_object(body, MAX_CHAT_VALUES)
}

/// [`parse_json_object`], refusing a body of more than `max_values` values (413) before it is
/// built.
pub fn parse_request_object(body: &[u8], max_values: usize) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::invalid_json("The request body is empty; send a JSON object."));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid_json(format!("The request body is not valid UTF-8 (at byte {}).", e.valid_up_to())))?;
    let shape = json_shape(text, MAX_JSON_DEPTH);
    if shape.too_deep {
        return Err(ApiError::invalid_json(format!("The request body nests deeper than {MAX_JSON_DEPTH} levels.")));
    }
    if shape.values > max_values {
        return Err(ApiError::too_many_json_values(max_values));
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

/// What a body's JSON would build, read without building anything.
struct JsonShape {
    /// Brackets nest deeper than the limit.
    too_deep: bool,
    /// Containers and the separators between their elements, outside strings: at least the
    /// number of values less one per non-empty container, so about the values a tree would hold.
    values: usize,
}

/// About the values a JSON text holds, as [`parse_request_object`] counts them.
pub(crate) fn json_values(text: &str) -> usize {
    json_shape(text, usize::MAX).values
}

fn json_shape(text: &str, depth_limit: usize) -> JsonShape {
    let (mut depth, mut values, mut in_string, mut escaped) = (0usize, 0usize, false, false);
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
                values += 1;
                if depth > depth_limit {
                    return JsonShape { too_deep: true, values };
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => {}
        }
    }
    JsonShape { too_deep: false, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_of_too_many_values_is_refused_before_it_is_built() {
        // Four million values in 8 MiB: some 400 MB as a tree in wasm.
        let zeros = |n: usize| format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"x":[{}]}}"#, vec!["0"; n].join(","));
        let refused = parse_json_object(zeros(MAX_CHAT_VALUES).as_bytes()).unwrap_err();
        assert_eq!((refused.status, refused.code), (413, "request_too_large"));
        assert!(parse_json_object(zeros(MAX_CHAT_VALUES - 10).as_bytes()).is_ok());
        // Commas and brackets inside strings are text, not values.
        let text = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#, "[,{".repeat(MAX_CHAT_VALUES));
        assert!(parse_json_object(text.as_bytes()).is_ok());
        // Embeddings take OpenAI's 300,000 token ids.
        let ids = format!(r#"{{"model":"m","input":[{}]}}"#, vec!["1"; 300_000].join(","));
        assert!(parse_request_object(ids.as_bytes(), MAX_EMBEDDINGS_VALUES).is_ok());
        assert_eq!(parse_request_object(ids.as_bytes(), MAX_CHAT_VALUES).unwrap_err().status, 413);
    }

    #[test]
    fn azure_v1_paths_are_openai_paths() {
        assert_eq!(openai_path("/openai/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(openai_path("/openai/v1/embeddings"), "/v1/embeddings");
        assert_eq!(openai_path("/openai/models"), "/v1/models");
        assert_eq!(openai_path("/openai/models/gpt-4o"), "/v1/models/gpt-4o");
        // `AzureOpenAI`'s Responses API, with or without a deployment set.
        assert_eq!(openai_path("/openai/responses"), "/v1/responses");
        assert_eq!(openai_path("/openai/responses/resp_1"), "/v1/responses/resp_1");
        assert_eq!(openai_path("/responses"), "/v1/responses");
        assert_eq!(openai_path("/openai/deployments/d/chat/completions"), "/openai/deployments/d/chat/completions");
        assert_eq!(openai_path("/v1/models"), "/v1/models");
        assert_eq!(openai_path("/chat/completions"), "/v1/chat/completions", "a base URL without /v1");
        assert_eq!(openai_path("/embeddings"), "/v1/embeddings");
        assert_eq!(openai_path("/models/gpt-4o"), "/v1/models/gpt-4o");
        assert_eq!(openai_path("/responses/resp_1"), "/v1/responses/resp_1", "a kept response, as the SDKs ask for it");
        assert_eq!(openai_path("/openai/v1/responses/resp_1"), "/v1/responses/resp_1");
        assert_eq!(openai_path("/openai/responses/resp_1"), "/v1/responses/resp_1");
        assert_eq!(openai_path("/usage"), "/usage", "the router's own endpoints keep /v1");
    }

    #[test]
    fn azure_paths_name_their_deployment() {
        assert_eq!(azure_deployment_path("/openai/deployments/fast/chat/completions"), Some(("fast", AzureEndpoint::ChatCompletions)));
        assert_eq!(azure_deployment_path("/openai/deployments/emb/embeddings"), Some(("emb", AzureEndpoint::Embeddings)));
        // A model name with slashes, as openai-python's AzureOpenAI sends it (unencoded).
        assert_eq!(azure_deployment_path("/openai/deployments/openrouter/anthropic/claude-x/chat/completions"), Some(("openrouter/anthropic/claude-x", AzureEndpoint::ChatCompletions)));
        assert_eq!(azure_deployment_path("/openai/deployments/org/emb/embeddings"), Some(("org/emb", AzureEndpoint::Embeddings)));
        for path in ["/openai/deployments//chat/completions", "/openai/deployments/fast/completions", "/openai/deployments/fast", "/v1/chat/completions"] {
            assert_eq!(azure_deployment_path(path), None, "{path}");
        }
        assert_eq!(with_model(br#"{"model":"other","messages":[]}"#, "fast", MAX_CHAT_VALUES).unwrap()["model"], "fast");
        assert_eq!(with_model(br#"{"messages":[]}"#, "fast", MAX_CHAT_VALUES).unwrap()["model"], "fast");
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
