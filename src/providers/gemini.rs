//! Google Gemini (`generativelanguage.googleapis.com/v1beta`): the `generateContent` wire format.
//!
//! Gemini differs from OpenAI in shape more than in meaning: messages are `contents` with roles
//! `user` and `model`, made of `parts`; the system prompt is a separate `systemInstruction`; tool
//! results are `functionResponse` parts named by function rather than by call id; sampling
//! options live in `generationConfig`. A stream is a sequence of whole `GenerateContentResponse`
//! objects, one per SSE event, with no end marker: the chunk carrying `finishReason` is the last.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::gemini_schema::{for_gemini, takes_no_arguments, ConversionBudget, GeminiSchema};
use super::sse::SseEvent;
use super::{fnv1a, json_output_instruction, ChatAnswer, EmbeddingsAnswer, Provider, Rejection, StreamTranslator, Target, UpstreamError, UpstreamRequest};
use crate::api::chat::{AllowedFunctions, AssistantMessage, ChatCompletion, ChatRequest, Choice, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, ToolCall};
use crate::api::embeddings::{EmbeddingInput, EmbeddingsRequest};
use crate::api::ApiError;
use crate::usage::Usage;

pub struct Gemini;

impl Provider for Gemini {
    fn translates_reasoning_effort(&self) -> bool {
        true
    }

    /// A model sent no temperature ([`takes_sampling_params`]) samples as it likes.
    fn samples_regardless(&self, _req: &ChatRequest, upstream_model: &str) -> bool {
        !takes_sampling_params(upstream_model)
    }

    fn reasoning_as_asked(&self, req: &ChatRequest, upstream_model: &str) -> Option<u64> {
        // Without an effort 2.5 Flash and Pro think as they like: unasked, not as asked.
        req.reasoning_effort()?;
        let config = thinking_config(upstream_model, req.reasoning_effort(), req.max_output_tokens())?;
        match config.get("thinkingBudget").and_then(Value::as_i64) {
            Some(0) => None,
            Some(budget) if budget > 0 => Some(budget as u64),
            // A level (Gemini 3) or a dynamic budget (-1): bounded by no count.
            _ => Some(u64::MAX),
        }
    }

    /// Gemini may answer with several function calls at once and has no setting against it: a
    /// client that asked for one at a time may answer only the first.
    fn dropped_param(&self, req: &ChatRequest) -> Option<(&'static str, &'static str)> {
        let offers_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty()) && req.tool_choice.as_ref().is_none_or(|c| c != "none");
        (offers_tools && req.parallel_tool_calls == Some(false)).then_some(("parallel_tool_calls", "Gemini may call several tools at once and has no setting against it"))
    }

    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError> {
        let method = if req.stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
        let url = format!("{}/models/{}:{method}", target.provider.base_url, target.upstream_model);
        Ok(UpstreamRequest::json_post(url, auth(target), &request_body_for(req, &target.provider.id, target.upstream_model)?))
    }

    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
        chat_answer(&target.provider.id, target.upstream_model, body)
    }

    fn chat_stream(&self, target: &Target, _req: &ChatRequest) -> Box<dyn StreamTranslator> {
        Box::new(GeminiStream::new(&target.provider.id, target.upstream_model))
    }

    fn embeddings_request(&self, target: &Target, req: &EmbeddingsRequest) -> Result<UpstreamRequest, ApiError> {
        let texts: Vec<&str> = match &req.input {
            EmbeddingInput::One(s) => vec![s.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            _ => return Err(ApiError::invalid_value("input", "Gemini embedding models take text; token arrays are not supported.")),
        };
        let model = format!("models/{}", target.upstream_model);
        let requests: Vec<Value> = texts
            .into_iter()
            .map(|text| {
                let mut r = json!({"model": model, "content": {"parts": [{"text": text}]}});
                if let Some(d) = req.dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                r
            })
            .collect();
        let url = format!("{}/models/{}:batchEmbedContents", target.provider.base_url, target.upstream_model);
        Ok(UpstreamRequest::json_post(url, auth(target), &json!({ "requests": requests })))
    }

    fn embeddings_response(&self, target: &Target, body: Vec<u8>) -> Result<EmbeddingsAnswer, UpstreamError> {
        // Read into numbers, not a JSON tree (see `EmbeddingsAnswer`): 48 bytes a number in wasm.
        #[derive(serde::Deserialize)]
        struct BatchEmbeddings {
            embeddings: Vec<ContentEmbedding>,
        }
        #[derive(serde::Deserialize)]
        struct ContentEmbedding {
            values: Vec<f64>,
        }
        let batch: BatchEmbeddings = serde_json::from_slice(&body).map_err(|e| UpstreamError::malformed(&target.provider.id, format!("no embeddings in the answer ({e})")))?;
        drop(body);
        // Google's vectors are float32s; scaled in f64, as OpenAI's come (see `unit_length`).
        let vectors = batch.embeddings.into_iter().map(|e| unit_length(e.values).into_iter().map(|x| x as f32).collect()).collect();
        // batchEmbedContents reports no token counts; the caller estimates and says so.
        Ok(EmbeddingsAnswer::vectors(target.upstream_model, vectors, None))
    }

    /// Google refuses a `batchEmbedContents` call of more than 100 requests.
    fn embeddings_batch_limit(&self) -> Option<usize> {
        Some(100)
    }

    fn rejection(&self, _status: u16, body: &[u8]) -> Rejection {
        rejection(body)
    }

    fn wait_in_error(&self, _status: u16, body: &[u8]) -> Option<f64> {
        retry_delay_ms(body)
    }
}

/// Gemini says how long to wait in its error's details, not in a header: a `google.rpc.RetryInfo`
/// whose `retryDelay` is a protobuf duration in JSON ("36s", "3.957525076s").
fn retry_delay_ms(body: &[u8]) -> Option<f64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let details = v.pointer("/error/details")?.as_array()?;
    let info = details.iter().find(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.RetryInfo")))?;
    let secs: f64 = info.get("retryDelay")?.as_str()?.strip_suffix('s')?.parse().ok()?;
    let ms = secs * 1000.0;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// Gemini answers 400 for problems of the deployment's own setup: an invalid or expired key
/// (`API_KEY_INVALID`, `INVALID_ARGUMENT`), and `FAILED_PRECONDITION` for a location it does
/// not serve or a free tier not offered there. A prompt over the window reads "The input token
/// count (…) exceeds the maximum number of tokens allowed (…)". A history whose thought signature
/// does not verify is another deployment's business.
fn rejection(body: &[u8]) -> Rejection {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return Rejection::Request };
    let status = v.pointer("/error/status").and_then(Value::as_str).unwrap_or_default();
    let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let reasons: Vec<&str> = v.pointer("/error/details").and_then(Value::as_array).into_iter().flatten().filter_map(|d| d.get("reason").and_then(Value::as_str)).collect();
    let key_refused = reasons.iter().any(|r| r.starts_with("API_KEY_")) || message.contains("api key not valid") || message.contains("api key expired");
    if key_refused || status == "FAILED_PRECONDITION" {
        Rejection::Deployment
    } else if message.contains("exceeds the maximum number of tokens") {
        Rejection::TooLong
    } else if message.contains("thought signature") || message.contains("thought_signature") {
        // A signature another deployment wrote (sent back without the router's mark) or one
        // missing: another deployment or model may take the request (see `signed_by`).
        Rejection::Unsupported
    } else if message.contains("is not enabled for this model") || message.contains("is not enabled for models/") {
        // What one Gemini model does not offer and another model may: "Multiple candidates is
        // not enabled for this model" (`n` on Gemini 3), "Logprobs is not enabled for
        // models/gemini-2.5-flash-lite".
        Rejection::Unsupported
    } else {
        Rejection::Request
    }
}

/// Gemini's vectors are unit length only at the model's full size (3072 for
/// gemini-embedding-001); cut short with `outputDimensionality` they are not. OpenAI's always
/// are, and clients rank by dot product, so every vector is scaled to unit length. A zero
/// vector has no direction and is left as it is.
fn unit_length(mut values: Vec<f64>) -> Vec<f64> {
    let norm = values.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        values.iter_mut().for_each(|x| *x /= norm);
    }
    values
}

fn auth(target: &Target) -> Vec<(&'static str, String)> {
    target.api_key.map(|k| vec![("x-goog-api-key", k.to_string())]).unwrap_or_default()
}

// ---- Request -------------------------------------------------------------------------------

/// The `generateContent` body for an OpenAI chat request.
pub fn request_body(req: &ChatRequest, upstream_model: &str) -> Result<Value, ApiError> {
    request_body_for(req, "", upstream_model)
}

/// The request for `upstream_model` on the provider `provider` (whose thought signatures, sent
/// back, it takes: see [`signed_by`]).
fn request_body_for(req: &ChatRequest, provider: &str, upstream_model: &str) -> Result<Value, ApiError> {
    super::refuse_untranslatable(req, "Gemini")?;
    req.function_tools_only()?;
    let mut system = Vec::new();
    let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
    // Gemini names a function result by function, OpenAI by call id: remember which is which.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                system.extend(m.content.as_ref().map(Content::text).filter(|t| !t.is_empty()).map(|text| json!({ "text": text })));
                continue;
            }
            Role::User => ("user", user_parts(m, i)?),
            Role::Assistant => ("model", assistant_parts(m, i, &mut call_names, (provider, upstream_model))?),
            Role::Tool | Role::Function => ("user", vec![function_response(m, i, &call_names)?]),
        };
        // Gemini wants turns to alternate, and parallel tool results in one turn.
        match contents.last_mut() {
            _ if parts.is_empty() => {}
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    // Gemini answers 400 "contents is not specified" to a request with only a system prompt (or
    // only empty turns); the client hears why here, as from the Anthropic adapter.
    if contents.is_empty() {
        return Err(ApiError::invalid_value("messages", "Gemini models need at least one user or assistant message with content."));
    }
    let contents: Vec<Value> = contents.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect();
    let declares_functions = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let output_format = match req.response_format.as_ref() {
        Some(format) if declares_functions && !takes_json_output_with_functions(upstream_model) => {
            system.extend(json_output_instruction(Some(format)).map(|text| json!({ "text": text })));
            None
        }
        format => format,
    };
    let mut body = json!({ "contents": contents });
    if !system.is_empty() {
        body["systemInstruction"] = json!({ "parts": system });
    }
    // One budget for every schema the request holds (see `gemini_schema::BUDGET`).
    let mut budget = ConversionBudget::for_request();
    let config = generation_config(req, upstream_model, output_format, &mut budget);
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    // Checked even without tools, but only sent with them: a tool mode alone means nothing.
    let allowed = req.allowed_functions()?;
    let tool_config = req.tool_choice.as_ref().map(|choice| function_calling_config(choice, allowed.as_ref())).transpose()?;
    if let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) {
        let declarations: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.function.as_ref())
            .filter(|function| allowed.as_ref().is_none_or(|a| a.declares(&function.name)))
            .map(|function| {
                let mut d = json!({ "name": function.name });
                if let Some(desc) = &function.description {
                    d["description"] = json!(desc);
                }
                // Gemini rejects an OBJECT schema with no properties: a no-argument function
                // is declared without parameters, and one whose arguments `Schema` cannot hold
                // (a free-form map, at the root or inside; numeric enums) in JSON Schema
                // (`parametersJsonSchema`).
                if let Some(schema) = function.parameters.as_ref().filter(|s| !takes_no_arguments(s)) {
                    match for_gemini(schema, &mut budget) {
                        GeminiSchema::Schema(params) => d["parameters"] = params,
                        GeminiSchema::JsonSchema(params) => d["parametersJsonSchema"] = params,
                    }
                }
                d
            })
            .collect();
        body["tools"] = json!([{ "functionDeclarations": declarations }]);
        if let Some(config) = tool_config {
            body["toolConfig"] = json!({ "functionCallingConfig": config });
        }
    }
    Ok(body)
}

/// Gemini refuses `{"text": ""}` ("required oneof field 'data'"), so empty text is dropped; a
/// turn left with no parts is then omitted by the caller, as an empty assistant turn is.
fn user_parts(m: &Message, i: usize) -> Result<Vec<Value>, ApiError> {
    let parts = match &m.content {
        None => return Ok(vec![]),
        Some(Content::Text(t)) if t.is_empty() => return Ok(vec![]),
        Some(Content::Text(t)) => return Ok(vec![json!({ "text": t })]),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let param = format!("messages[{i}].content[{j}]");
        out.push(match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text, .. } if text.is_empty() => continue,
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text, .. } => json!({ "text": text }),
            ContentPart::ImageUrl { image_url, .. } => image_part(&image_url.url, &format!("{param}.image_url.url"))?,
            ContentPart::InputAudio { input_audio, .. } => {
                let (Some(data), Some(format)) = (input_audio["data"].as_str(), input_audio["format"].as_str()) else {
                    return Err(ApiError::invalid_value(&format!("{param}.input_audio"), "input_audio needs 'data' and 'format'."));
                };
                json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": data}})
            }
            ContentPart::File { file, .. } => match file["file_data"].as_str() {
                Some(url) => inline_data(url, "application/octet-stream", &format!("{param}.file.file_data"))?,
                None => return Err(ApiError::invalid_value(&format!("{param}.file"), "Gemini models take files as 'file_data' data URLs; 'file_id' is not supported.")),
            },
            ContentPart::Other(_) => return Err(super::foreign_part(part, &param, "Gemini")),
        });
    }
    Ok(out)
}

fn image_part(url: &str, param: &str) -> Result<Value, ApiError> {
    if url.starts_with("data:") {
        let (declared, data) = data_url(url, "image/jpeg", param)?;
        return Ok(json!({"inlineData": {"mimeType": super::image_media_type(declared, data), "data": data}}));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::invalid_value(param, "Image URLs must be http(s) URLs or base64 data URLs."));
    }
    let file = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or_default();
    let extension = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let mime = match extension.as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    };
    Ok(json!({"fileData": {"mimeType": mime, "fileUri": url}}))
}

/// `data:<mime>[;params];base64,<data>` → an `inlineData` part.
fn inline_data(url: &str, default_mime: &str, param: &str) -> Result<Value, ApiError> {
    let (mime, data) = data_url(url, default_mime, param)?;
    Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

/// `data:<mime>[;params];base64,<data>` → (mime, data), `default_mime` when none is given.
fn data_url<'a>(url: &'a str, default_mime: &'a str, param: &str) -> Result<(&'a str, &'a str), ApiError> {
    let parsed = url.strip_prefix("data:").and_then(|rest| rest.split_once(',')).filter(|(meta, _)| meta.ends_with(";base64"));
    let Some((meta, data)) = parsed else {
        return Err(ApiError::invalid_value(param, "Data URLs must be base64-encoded (data:<type>;base64,<data>)."));
    };
    Ok((meta.split(';').next().filter(|m| !m.is_empty()).unwrap_or(default_mime), data))
}

/// Gemini 3 rejects a replayed `functionCall` without the `thoughtSignature` it was sent with;
/// Google documents this placeholder for history that lost it (a client that rebuilt its
/// messages, or a call another deployment wrote).
const SIGNATURE_PLACEHOLDER: &str = "skip_thought_signature_validator";

/// A function call's thought signature for an OpenAI client, as Gemini's own OpenAI-compatible
/// endpoint returns it (`extra_content.google.thought_signature`), with the deployment that wrote
/// it (`extra_content.costrouter`): a signature verifies only where it was made, so it is sent
/// back only there (a call routed elsewhere gets the placeholder, which always verifies).
fn signed_call_extra(signature: &str, (provider, model): (&str, &str)) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("extra_content".into(), json!({"google": {"thought_signature": signature}, "costrouter": {"provider": provider, "model": model}}));
    extra
}

/// The thought signature a client sent back on a tool call, if `deployment` wrote it (or it
/// carries no mark of where it came from: Gemini's own OpenAI-compatible endpoint, another gateway).
fn signed_by<'a>(call: &'a ToolCall, (provider, model): (&str, &str)) -> Option<&'a str> {
    let extra = call.extra.get("extra_content")?;
    let signature = extra.pointer("/google/thought_signature")?.as_str().filter(|s| !s.is_empty())?;
    match extra.get("costrouter") {
        Some(mark) => (mark["provider"] == provider && mark["model"] == model).then_some(signature),
        None => Some(signature),
    }
}

fn needs_thought_signature(model: &str) -> bool {
    major_version(model).is_some_and(|v| v >= 3)
}

/// Whether a Gemini `model` (a LiteLLM key such as `gemini/gemini-2.5-flash-lite` too) thinks
/// when a request does not ask it to: 2.5 Flash and Pro and Gemini 3 do; 2.5 Flash-Lite thinks
/// only when sent a budget (see [`thinking_config`]).
pub fn thinks_unasked(model: &str) -> bool {
    let name = version(model.rsplit('/').next().unwrap_or(model));
    !(name.starts_with("2.5") && name.contains("lite"))
}

/// What follows `gemini-` in a model's name (`2.5-flash`), or "" for another family.
fn version(model: &str) -> &str {
    model.trim_start_matches("models/").strip_prefix("gemini-").unwrap_or("")
}

/// The major version of a Gemini model (3 for `gemini-3-pro-preview`).
fn major_version(model: &str) -> Option<u32> {
    numbered_version(model).map(|(major, _)| major)
}

/// The version of a Gemini model as major and minor ((3, 1) for `gemini-3.1-pro-preview`, (3, 0)
/// for `gemini-3-flash-preview`), each the digits it starts with; `None` for a name without one
/// (`gemini-flash-latest`).
fn numbered_version(model: &str) -> Option<(u32, u32)> {
    let leading = |s: &str| s.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>().ok();
    let version = version(model);
    let major = leading(version)?;
    let minor = version.split_once('.').filter(|(before, _)| before.chars().all(|c| c.is_ascii_digit())).and_then(|(_, after)| leading(after));
    Some((major, minor.unwrap_or(0)))
}

fn assistant_parts<'a>(m: &'a Message, i: usize, call_names: &mut HashMap<&'a str, &'a str>, deployment: (&str, &str)) -> Result<Vec<Value>, ApiError> {
    let sign = needs_thought_signature(deployment.1);
    let mut parts = Vec::new();
    if let Some(text) = m.content.as_ref().map(Content::text).filter(|t| !t.is_empty()) {
        parts.push(json!({ "text": text }));
    } else if let Some(refusal) = m.refusal() {
        parts.push(json!({ "text": refusal }));
    }
    // Each call as (its index in `tool_calls`, or `None` for a legacy `function_call`; name;
    // arguments; the thought signature sent back with it, if this deployment wrote it).
    let mut calls: Vec<(Option<usize>, &str, &str, Option<&str>)> = Vec::new();
    for (j, (call, function)) in m.tool_calls.iter().flatten().filter_map(|c| Some((c, c.function.as_ref()?))).enumerate() {
        call_names.insert(&call.id, &function.name);
        calls.push((Some(j), &function.name, &function.arguments, signed_by(call, deployment)));
    }
    // The deprecated `function_call`: one call, answered by a `function` message that names the
    // function. Dropped, it left that answer replying to a call Gemini never saw.
    if let Some(call) = m.extra.get("function_call").filter(|c| !c.is_null() && calls.is_empty()) {
        let name = call.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::invalid_value(&format!("messages[{i}].function_call.name"), "A function call must name its function.")
        })?;
        calls.push((None, name, call.get("arguments").and_then(Value::as_str).unwrap_or_default(), None));
    }
    for (k, (j, name, arguments, signature)) in calls.into_iter().enumerate() {
        // Some clients send "" for a call without arguments.
        let raw = if arguments.trim().is_empty() { "{}" } else { arguments };
        let args: Value = serde_json::from_str(raw).ok().filter(Value::is_object).ok_or_else(|| {
            let param = match j {
                Some(j) => format!("messages[{i}].tool_calls[{j}].function.arguments"),
                None => format!("messages[{i}].function_call.arguments"),
            };
            ApiError::invalid_value(&param, "Tool call arguments must be a JSON object encoded as a string.")
        })?;
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        // Gemini signs the first of parallel calls; on Gemini 3, which requires it, the
        // placeholder stands in where the signature did not come back.
        match signature {
            Some(signature) => part["thoughtSignature"] = json!(signature),
            _ if sign && k == 0 => part["thoughtSignature"] = json!(SIGNATURE_PLACEHOLDER),
            _ => {}
        }
        parts.push(part);
    }
    Ok(parts)
}

fn function_response(m: &Message, i: usize, call_names: &HashMap<&str, &str>) -> Result<Value, ApiError> {
    let name = m.tool_call_id.as_deref().and_then(|id| call_names.get(id).copied()).or(m.name.as_deref()).ok_or_else(|| {
        ApiError::invalid_value(&format!("messages[{i}].tool_call_id"), "This tool message answers no tool call made earlier in 'messages'.")
    })?;
    // A function response holds text: an image or file in a tool result would be lost, so this
    // deployment refuses it and a candidate that takes it serves (Anthropic's tool results do).
    if let Some(Content::Parts(parts)) = &m.content {
        if let Some(k) = parts.iter().position(|p| !matches!(p, ContentPart::Text { .. } | ContentPart::Refusal { .. })) {
            return Err(ApiError::invalid_value(&format!("messages[{i}].content[{k}]"), "Gemini models take only text in a tool result; an image or file there would be lost."));
        }
    }
    let text = m.content.as_ref().map(Content::text).unwrap_or_default();
    // A JSON object result is passed as structure so the model sees fields, not an escaped string.
    let content = serde_json::from_str::<Value>(&text).ok().filter(Value::is_object).unwrap_or(Value::String(text));
    Ok(json!({"functionResponse": {"name": name, "response": {"content": content}}}))
}

/// Gemini 2.5 Pro's least thinking budget: it cannot turn thinking off.
const PRO_MIN_THINKING_BUDGET: u64 = 128;
/// Below this a thinking budget is not worth its round of thought (Flash-Lite's own least is
/// 512): a cap that leaves less goes without thinking.
const MIN_USEFUL_THINKING_BUDGET: u64 = 512;

/// Gemini's thinking settings: OpenAI's `reasoning_effort` as Google's own OpenAI-compatible
/// endpoint maps it — a token budget for 2.5 models (thinking is billed as output, so "none" and
/// "low" are what make a cheap request cheap), a level for Gemini 3 (Flash takes four, Pro two).
///
/// Gemini counts thinking inside `maxOutputTokens`, as OpenAI counts reasoning inside its cap,
/// and 2.5 Flash and Pro think unasked (as much as they like): a request capped at 50 tokens for
/// a label, routed here from a model that does not think, would come back empty, cut at
/// `length`. So a client's cap bounds the budget, asked for or not, and leaves the answer
/// [`super::ANSWER_ROOM_BESIDE_THINKING`], as the Anthropic adapter does; a cap too small for
/// both goes without thinking (2.5 Pro, which cannot, gets its least budget).
fn thinking_config(model: &str, effort: Option<&str>, cap: Option<u64>) -> Option<Value> {
    // The image, speech and live-audio variants of a thinking generation do not think, and
    // answer 400 to thinking settings ("Thinking is not enabled for this model").
    let lower = model.to_ascii_lowercase();
    if ["image", "tts", "audio", "live"].iter().any(|variant| lower.contains(variant)) {
        return None;
    }
    let version = version(model);
    if version.starts_with("2.5") {
        let pro = version.contains("pro");
        // `None`: thinking as the model likes (Flash-Lite thinks only when given a budget).
        let asked: Option<u64> = match effort {
            Some("none") if pro => Some(PRO_MIN_THINKING_BUDGET),
            Some("none") => Some(0),
            Some("minimal" | "low") => Some(1024),
            Some("medium") => Some(8192),
            Some("high") => Some(24576),
            // The most the model takes (below); Anthropic's `max` asks the same.
            Some("xhigh" | "max") => Some(32_768),
            Some(_) => return None,
            None if version.contains("lite") => return None,
            None => None,
        };
        // Gemini refuses a budget above its model's most (2.5 Pro 32,768; Flash and Flash-Lite
        // 24,576): a cap with room for that much thinking leaves the model as it likes.
        let most = if pro { 32_768 } else { 24_576 };
        let budget = match cap {
            Some(cap) => {
                let room = cap.saturating_sub(super::ANSWER_ROOM_BESIDE_THINKING);
                if asked.is_none() && room >= most {
                    return None;
                }
                match asked.map_or(room, |asked| asked.min(room)).min(most) {
                    0 if !pro => 0,
                    budget if budget < MIN_USEFUL_THINKING_BUDGET => if pro { PRO_MIN_THINKING_BUDGET } else { 0 },
                    budget => budget,
                }
            }
            None => asked?.min(most),
        };
        return Some(json!({ "thinkingBudget": budget }));
    }
    let levels = thinking_levels(model)?;
    // Gemini 3 thinks by level, with no budget to bound: a cap with too little room for thinking
    // beside an answer gets the least level, asked for or not, as 2.5 then gets no budget.
    let no_room = cap.is_some_and(|cap| cap.saturating_sub(super::ANSWER_ROOM_BESIDE_THINKING) < MIN_USEFUL_THINKING_BUDGET);
    let effort = if no_room { "none" } else { effort? };
    let rank = |level: &str| THINKING_LEVELS.iter().position(|l| *l == level);
    // `none` is no level: the least the model takes. Else the least it takes at or above the
    // effort asked, so it never thinks less than asked, or above all it takes its most.
    let level = match effort {
        "none" => levels[0],
        "max" => levels[levels.len() - 1],
        asked => {
            let asked = rank(asked)?;
            levels.iter().copied().find(|l| rank(l) >= Some(asked)).unwrap_or(levels[levels.len() - 1])
        }
    };
    Some(json!({ "thinkingLevel": level }))
}

/// Gemini's thinking levels, least first ([`thinking_levels`] takes some of them).
const THINKING_LEVELS: [&str; 5] = ["minimal", "low", "medium", "high", "xhigh"];

/// The thinking levels a Gemini 3 or later model takes, least first, as Google's thinking guide
/// lists them (a level a model does not take is a 400): 3 Pro `low` and `high`; 3.1 Pro adds
/// `medium` (sent `high` for `medium`, it thought and billed more than asked); Flash from 3 to
/// 3.6 four, from `minimal`; Flash from 3.7 (LiteLLM's `supports_minimal_reasoning_effort:
/// false`) and Gemini 4 not `minimal`; `xhigh` only Gemini 4 Neon and Hydrogen. `None`: the
/// model does not think by level (before 3, or no version in its name).
fn thinking_levels(model: &str) -> Option<&'static [&'static str]> {
    let (major, minor) = numbered_version(model)?;
    let version = version(model);
    Some(match (major, minor) {
        (0..=2, _) => return None,
        (3, _) if version.contains("flash") && minor < 7 => &THINKING_LEVELS[..4],
        (3, 0) => &["low", "high"],
        _ if ["neon", "hydrogen"].iter().any(|name| version.contains(name)) => &THINKING_LEVELS[1..],
        _ => &THINKING_LEVELS[1..4],
    })
}

/// Whether Google still reads `temperature` and `topP` for the model: Flash-Lite from 3.5 and
/// Flash from 3.6 take them and ignore them (LiteLLM's `supports_sampling_params: false`, which
/// says a later generation will refuse them), so they are not sent, as the Anthropic adapter
/// drops what Opus 4.7 refuses.
fn takes_sampling_params(model: &str) -> bool {
    let version = version(model);
    let from = if version.contains("flash-lite") { (3, 5) } else { (3, 6) };
    !(version.contains("flash") && numbered_version(model).is_some_and(|v| v >= from))
}

/// Gemini before 3 refuses JSON output together with function declarations ("Function calling
/// with a response mime type: 'application/json' is unsupported"), which the OpenAI Agents SDK
/// sends together: for those models the format is asked for in the system instruction, as the
/// Anthropic adapter does. A name without a version (`gemini-flash-latest`) counts as older.
fn takes_json_output_with_functions(model: &str) -> bool {
    major_version(model).is_some_and(|v| v >= 3)
}

/// Gemini 2.5 and later answer 400 "Penalty is not enabled" to presence and frequency
/// penalties; they are soft hints, dropped as the Anthropic adapter drops them.
fn takes_penalties(model: &str) -> bool {
    let version = version(model);
    version.starts_with("1.") || version.starts_with("2.0")
}

/// `output_format` is the format to constrain the answer to (`response_format`, unless it went
/// into the system instruction instead).
fn generation_config(req: &ChatRequest, upstream_model: &str, output_format: Option<&ResponseFormat>, budget: &mut ConversionBudget) -> Map<String, Value> {
    let logprobs = req.logprobs == Some(true);
    let penalties = takes_penalties(upstream_model);
    let sampling = takes_sampling_params(upstream_model);
    let fields = [
        ("temperature", req.temperature.filter(|_| sampling).map(Value::from)),
        ("topP", req.top_p.filter(|_| sampling).map(Value::from)),
        ("maxOutputTokens", req.max_output_tokens().map(Value::from)),
        ("stopSequences", req.stop.as_ref().map(|s| json!(s.to_vec()))),
        ("candidateCount", req.n.map(Value::from)),
        // Gemini's seed is an int32 (a larger one is a 400); OpenAI takes 64 bits, and eval
        // harnesses draw from 0..2^32. Wrapped, each seed still maps to one Gemini seed.
        ("seed", req.seed.map(|seed| Value::from(seed as i32))),
        ("presencePenalty", req.presence_penalty.filter(|_| penalties).map(Value::from)),
        ("frequencyPenalty", req.frequency_penalty.filter(|_| penalties).map(Value::from)),
        ("responseLogprobs", logprobs.then_some(Value::Bool(true))),
        ("logprobs", req.top_logprobs.filter(|_| logprobs).map(Value::from)),
    ];
    let mut config: Map<String, Value> = fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect();
    if let Some(thinking) = thinking_config(upstream_model, req.reasoning_effort(), req.max_output_tokens()) {
        config.insert("thinkingConfig".into(), thinking);
    }
    match output_format {
        Some(ResponseFormat::JsonObject { .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = &json_schema.schema {
                match for_gemini(schema, budget) {
                    GeminiSchema::Schema(converted) => config.insert("responseSchema".into(), converted),
                    GeminiSchema::JsonSchema(json_schema) => config.insert("responseJsonSchema".into(), json_schema),
                };
            }
        }
        // Another type was refused before translation (`refuse_untranslatable`).
        Some(ResponseFormat::Text | ResponseFormat::Other(_)) | None => {}
    }
    config
}

/// `allowed` is the choice read as `allowed_tools` ([`ChatRequest::allowed_functions`]), whose
/// functions alone are declared: Gemini takes `allowedFunctionNames` with mode ANY only.
fn function_calling_config(choice: &Value, allowed: Option<&AllowedFunctions>) -> Result<Value, ApiError> {
    if let Some(allowed) = allowed {
        return Ok(match (allowed.names.as_slice(), allowed.required) {
            ([], _) => json!({"mode": "NONE"}),
            (names, true) => json!({"mode": "ANY", "allowedFunctionNames": names}),
            (_, false) => json!({"mode": "AUTO"}),
        });
    }
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"mode": "AUTO"})),
            "none" => Ok(json!({"mode": "NONE"})),
            "required" => Ok(json!({"mode": "ANY"})),
            _ => Err(ApiError::invalid_value("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or a function.")),
        },
        _ => match choice.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Ok(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
            None => Err(ApiError::invalid_value("tool_choice", "'tool_choice' must name a function: {\"type\":\"function\",\"function\":{\"name\":...}}.")),
        },
    }
}

// ---- Response ------------------------------------------------------------------------------

/// Finish reasons by which Gemini says the model failed rather than answered (its tool call
/// came out malformed, or was not allowed): passed on as a "stop" with empty content, they would
/// read, and be cached, as a finished answer.
fn failed_generation(provider: &str, candidate: &Value, usage: Option<Usage>) -> Option<UpstreamError> {
    let reason = candidate.get("finishReason").and_then(Value::as_str)?;
    if !matches!(reason, "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" | "MISSING_THOUGHT_SIGNATURE") {
        return None;
    }
    let said = candidate.get("finishMessage").and_then(Value::as_str).map(|m| format!(": {}", super::redact_secrets(m))).unwrap_or_default();
    Some(UpstreamError::NoAnswer { provider: provider.to_string(), reason: format!("{reason}{said}"), usage: usage.map(Box::new) })
}

pub fn chat_answer(provider: &str, upstream_model: &str, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| UpstreamError::malformed(provider, format!("invalid JSON ({e})")))?;
    // The prompt was billed all the same: the usage goes with the error, for the request to pay.
    let billed = value.get("usageMetadata").filter(|m| m.is_object()).map(Usage::from_gemini);
    if let Some(failed) = value.get("candidates").and_then(Value::as_array).into_iter().flatten().find_map(|c| failed_generation(provider, c, billed)) {
        return Err(failed);
    }
    let id = response_id(&value, body);
    let choices: Vec<Choice> = match value.get("candidates").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        Some(candidates) => candidates.iter().enumerate().map(|(pos, c)| candidate_choice(pos, c, &id, (provider, upstream_model))).collect(),
        None if value.pointer("/promptFeedback/blockReason").is_some() => {
            let message = AssistantMessage { role: "assistant".into(), content: None, tool_calls: None, refusal: None, reasoning_content: None, thinking_blocks: None };
            vec![Choice { index: 0, message, finish_reason: Some("content_filter".into()), logprobs: None }]
        }
        None => return Err(UpstreamError::malformed(provider, "no candidates and no promptFeedback in the response")),
    };
    let usage = value.get("usageMetadata").filter(|m| m.is_object()).map(Usage::from_gemini);
    let completion = ChatCompletion {
        id,
        object: "chat.completion".into(),
        // The edge layer overwrites `created` on every translated answer; the core has no clock.
        created: 0,
        model: value.get("modelVersion").and_then(Value::as_str).unwrap_or(upstream_model).to_string(),
        choices,
        usage: usage.map(|u| u.to_openai_json()),
        system_fingerprint: None,
    };
    let body = serde_json::to_value(&completion).map_err(|e| UpstreamError::malformed(provider, e.to_string()))?;
    Ok(ChatAnswer { body, usage })
}

/// `responseId` when Gemini sends one, else a hash of the bytes, so replays get the same id.
fn response_id(value: &Value, raw: &[u8]) -> String {
    match value.get("responseId").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => format!("gemini-{:016x}", fnv1a(raw)),
    }
}

/// Gemini has no function-call ids, so we make them; they must differ between responses, or an
/// agent loop's history repeats ids (Anthropic refuses that, clients pair results wrongly).
/// Derived from the response id, hashed because Anthropic only takes `[A-Za-z0-9_-]` in ids.
fn tool_call_id(response_id: &str, choice: u32, n: usize) -> String {
    format!("call_{:016x}_{choice}_{n}", fnv1a(response_id.as_bytes()))
}

fn candidate_choice(pos: usize, c: &Value, response_id: &str, deployment: (&str, &str)) -> Choice {
    let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64) as u32;
    let (content, calls) = read_parts(c, index, 0, response_id, deployment);
    let finish = finish_reason(c.get("finishReason").and_then(Value::as_str), !calls.is_empty());
    // A thinking model that spent its budget on thoughts sends no parts at all; OpenAI answers
    // `""` then, and SDK users call `.strip()` on it or send the message back in the history.
    let content = match content {
        None if calls.is_empty() && finish != "content_filter" => Some(String::new()),
        other => other,
    };
    let tool_calls = (!calls.is_empty()).then_some(calls);
    let message = AssistantMessage { role: "assistant".into(), content, tool_calls, refusal: None, reasoning_content: None, thinking_blocks: None };
    Choice { index, message, finish_reason: Some(finish.into()), logprobs: logprobs(c) }
}

/// A candidate's visible text (thought summaries skipped) and its function calls, numbered from
/// `first_call` so that a stream's calls are numbered across its chunks, each with its thought
/// signature, if any, marked with the `deployment` that wrote it (see [`signed_call_extra`]).
fn read_parts(candidate: &Value, index: u32, first_call: usize, response_id: &str, deployment: (&str, &str)) -> (Option<String>, Vec<ToolCall>) {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for part in candidate.pointer("/content/parts").and_then(Value::as_array).into_iter().flatten() {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.get_or_insert_with(String::new).push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            calls.push(ToolCall {
                id: tool_call_id(response_id, index, first_call + calls.len()),
                kind: "function".into(),
                function: Some(FunctionCall { name: call.get("name").and_then(Value::as_str).unwrap_or_default().to_string(), arguments: args.to_string() }),
                extra: part.get("thoughtSignature").and_then(Value::as_str).map(|s| signed_call_extra(s, deployment)).unwrap_or_default(),
            });
        }
    }
    (text, calls)
}

/// Gemini's finish reason as OpenAI's. `LANGUAGE` (a language Gemini does not serve) and `OTHER`
/// (stopped for a reason it does not name) end an answer that may be cut short: read as a filter,
/// as LiteLLM reads them, so the answer is not cached as complete and a cascade escalates it.
fn finish_reason(reason: Option<&str>, called_functions: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "IMAGE_SAFETY" | "LANGUAGE" | "OTHER") => "content_filter",
        Some("STOP") | None if called_functions => "tool_calls",
        _ => "stop",
    }
}

/// `logprobsResult` → OpenAI's `logprobs.content`. Gemini omits `logProbability` when it is 0.
fn logprobs(c: &Value) -> Option<Value> {
    let result = c.get("logprobsResult")?;
    let entry = |t: &Value| json!({"token": t["token"], "logprob": t.get("logProbability").and_then(Value::as_f64).unwrap_or(0.0), "bytes": null});
    let top = result.get("topCandidates").and_then(Value::as_array);
    let content: Vec<Value> = (result.get("chosenCandidates")?.as_array()?.iter().enumerate())
        .map(|(step, chosen)| {
            let mut e = entry(chosen);
            let alternatives = top.and_then(|t| t.get(step)?.get("candidates")?.as_array().cloned()).unwrap_or_default();
            e["top_logprobs"] = alternatives.iter().map(entry).collect();
            e
        })
        .collect();
    Some(json!({ "content": content }))
}

// ---- Stream --------------------------------------------------------------------------------

/// Turns `streamGenerateContent?alt=sse` events into OpenAI chunks.
pub struct GeminiStream {
    provider: String,
    model: String,
    /// The deployment's model name, which thought signatures are marked with; `model` becomes
    /// the version Gemini reports.
    upstream_model: String,
    id: Option<String>,
    /// Per candidate index: function calls emitted so far (present once the role was sent).
    calls: BTreeMap<u32, usize>,
    usage: Option<Usage>,
    complete: bool,
}

impl GeminiStream {
    pub fn new(provider: &str, upstream_model: &str) -> Self {
        GeminiStream { provider: provider.into(), model: upstream_model.into(), upstream_model: upstream_model.into(), id: None, calls: BTreeMap::new(), usage: None, complete: false }
    }

    fn chunk(&self, index: u32, delta: Value, finish_reason: Option<&str>) -> Value {
        self.chunk_with_logprobs(index, delta, finish_reason, None)
    }

    fn chunk_with_logprobs(&self, index: u32, delta: Value, finish_reason: Option<&str>, logprobs: Option<Value>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}]})
    }
}

impl StreamTranslator for GeminiStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<Value>, UpstreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(vec![]);
        }
        let value: Value = serde_json::from_str(data).map_err(|e| UpstreamError::malformed(&self.provider, format!("invalid JSON in stream ({e})")))?;
        if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
            let status = err.get("code").and_then(Value::as_u64).filter(|c| (400..600).contains(c)).unwrap_or(502) as u16;
            let message = err.get("message").and_then(Value::as_str).unwrap_or("stream error");
            return Err(UpstreamError::Status { provider: self.provider.clone(), status, message: super::redact_secrets(message) });
        }
        // Every chunk repeats the usage so far; the last one is the total.
        if let Some(meta) = value.get("usageMetadata").filter(|m| m.is_object()) {
            self.usage.get_or_insert_with(Usage::default).merge_max(&Usage::from_gemini(meta));
        }
        let id = self.id.get_or_insert_with(|| response_id(&value, data.as_bytes())).clone();
        if let Some(version) = value.get("modelVersion").and_then(Value::as_str) {
            self.model = version.to_string();
        }
        let candidates = value.get("candidates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::new();
        if candidates.is_empty() {
            if value.pointer("/promptFeedback/blockReason").is_some() {
                out.push(self.chunk(0, json!({"role": "assistant", "content": null}), Some("content_filter")));
                self.complete = true;
            }
            return Ok(out);
        }
        // The stream's usage (this chunk's, else what came before) is billed through the session.
        if let Some(failed) = candidates.iter().find_map(|c| failed_generation(&self.provider, c, None)) {
            return Err(failed);
        }
        for (pos, c) in candidates.iter().enumerate() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64) as u32;
            let started = self.calls.contains_key(&index);
            let first_call = self.calls.get(&index).copied().unwrap_or(0);
            let (text, calls) = read_parts(c, index, first_call, &id, (&self.provider, &self.upstream_model));
            self.calls.insert(index, first_call + calls.len());
            let mut delta = Map::new();
            if !started {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                delta.insert("content".into(), json!(t));
            }
            if !calls.is_empty() {
                // Each call arrives whole in one chunk, its thought signature (`extra`) with it.
                let entries = calls.iter().enumerate().map(|(k, call)| {
                    let mut entry = json!({"index": first_call + k, "id": call.id, "type": "function", "function": call.function});
                    if let Some(entry) = entry.as_object_mut() {
                        entry.extend(call.extra.clone());
                    }
                    entry
                });
                delta.insert("tool_calls".into(), entries.collect());
            }
            if !delta.is_empty() {
                // Each streamed candidate carries the logprobs of its own tokens, as OpenAI's
                // chunks do (the whole answer's are these joined).
                out.push(self.chunk_with_logprobs(index, Value::Object(delta), None, logprobs(c)));
            }
            // OpenAI sends the finish reason in a chunk of its own, with an empty delta.
            if let Some(reason) = c.get("finishReason").and_then(Value::as_str) {
                out.push(self.chunk(index, json!({}), Some(finish_reason(Some(reason), self.calls[&index] > 0))));
            }
        }
        if candidates.iter().all(|c| c.get("finishReason").is_some()) {
            self.complete = true;
        }
        Ok(out)
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn is_complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_a_quota_refusal_asks_for_is_read_from_its_retry_info() {
        let refusal = |delay: &str| format!(r#"{{"error":{{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]}},{{"@type":"type.googleapis.com/google.rpc.Help","links":[]}},{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{delay}"}}]}}}}"#);
        assert_eq!(retry_delay_ms(refusal("36s").as_bytes()), Some(36_000.0));
        assert_eq!(retry_delay_ms(refusal("0.25s").as_bytes()), Some(250.0));
        assert_eq!(retry_delay_ms(refusal("0s").as_bytes()), Some(0.0));
        assert_eq!(Gemini.wait_in_error(429, refusal("36s").as_bytes()), Some(36_000.0), "the adapter's answer to the caller that waits");
        assert_eq!(retry_delay_ms(refusal("1e306s").as_bytes()), None, "a wait that overflows to infinity in ms");
        for unreadable in [refusal("soon"), refusal("-2s"), refusal("36"), r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#.to_string(), "not json".to_string()] {
            assert_eq!(retry_delay_ms(unreadable.as_bytes()), None, "{unreadable}");
        }
    }
    use crate::catalog::{ProviderConfig, ProviderKind, Quirks};
    use crate::pricing::PriceTable;
    use crate::providers::sse::SseParser;

    fn provider() -> ProviderConfig {
        ProviderConfig {
            id: "gemini".into(),
            kind: ProviderKind::Gemini,
            base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
            key_secret: Some("GEMINI_API_KEY".into()),
            api_version: None,
            region: None,
            demo: false,
            timeout_ms: 1000,
            answer_timeout_ms: 1000,
            quirks: Quirks::default(),
        }
    }

    fn body_for(req: Value, model: &str) -> Result<Value, ApiError> {
        request_body(&ChatRequest::from_value(req).unwrap(), model)
    }

    fn answer(body: &str) -> ChatAnswer {
        chat_answer("gemini", "gemini-2.5-pro", body.as_bytes()).unwrap()
    }

    #[test]
    fn an_answer_without_parts_has_empty_content_not_null() {
        // A thinking model that spent max_tokens on thoughts.
        let a = answer(r#"{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"responseId":"r1","usageMetadata":{"promptTokenCount":5,"thoughtsTokenCount":100,"totalTokenCount":105}}"#);
        assert_eq!(a.body["choices"][0]["message"]["content"], "");
        assert_eq!(a.body["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn request_translation() {
        let request = json!({"model": "smart", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
            {"role": "user", "content": [{"type": "text", "text": "What is here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.WEBP?size=large"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/photo"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp_c\":21}"},
            {"role": "user", "content": "Thanks"}],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 100, "max_completion_tokens": 256, "stop": "END", "n": 2, "seed": 7,
            "presence_penalty": 0.5, "frequency_penalty": -0.5, "logprobs": true, "top_logprobs": 3,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true, "schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object", "additionalProperties": false, "required": ["tags"], "properties": {"additionalProperties": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {"k": {"type": "string"}}}}}}}},
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}},
                {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}});
        let body = body_for(request.clone(), "gemini-2.5-pro").unwrap();
        // Gemini 2.5 refuses JSON output beside function declarations: the format is an instruction.
        let instruction = json_output_instruction(ChatRequest::from_value(request.clone()).unwrap().response_format.as_ref()).unwrap();
        assert_eq!(body, json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in English."}, {"text": instruction}]},
            "contents": [
                {"role": "user", "parts": [{"text": "What is here?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.WEBP?size=large"}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}, {"functionCall": {"name": "get_time", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": {"content": "12:00"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"content": {"temp_c": 21}}}}, {"text": "Thanks"}]}],
            "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 256, "stopSequences": ["END"], "candidateCount": 2, "seed": 7,
                "responseLogprobs": true, "logprobs": 3,
                // A 256-token cap leaves no room to think beside the answer: 2.5 Pro's least.
                "thinkingConfig": {"thinkingBudget": 128}},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}, {"name": "get_time"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
        }));
        // Gemini 3 takes both: the schema goes in Gemini's Schema, what it does not hold removed.
        let body = body_for(request, "gemini-3-pro-preview").unwrap();
        assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "Be brief."}, {"text": "Answer in English."}]}));
        assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
        assert_eq!(body["generationConfig"]["responseSchema"], json!({"type": "object", "required": ["tags"], "properties": {"additionalProperties": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}}));
        // A free-form object (Pydantic's dict[str, str], an MCP tool's untyped argument) has no
        // place in Gemini's Schema: the JSON Schema goes in the field that takes it as it is.
        let free_form = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "labels", "schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}, "required": ["labels"]}}},
            "tools": [{"type": "function", "function": {"name": "run", "parameters": {"type": "object", "properties": {"args": {"type": "object"}, "n": {"type": "integer"}}}}},
                {"type": "function", "function": {"name": "plain", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
                // Any arguments at all, a map of them (an MCP tool's): a schema, not no parameters.
                {"type": "function", "function": {"name": "any", "parameters": {"type": "object", "additionalProperties": {"type": "string"}}}},
                {"type": "function", "function": {"name": "rate", "parameters": {"type": "object", "properties": {"stars": {"type": "integer", "enum": [1, 2, 3]}}}}}]});
        let body = request_body(&ChatRequest::from_value(free_form).unwrap(), "gemini-3-flash-preview").unwrap();
        assert!(body["generationConfig"].get("responseSchema").is_none());
        assert_eq!(body["generationConfig"]["responseJsonSchema"], json!({"type": "object",
            "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}, "required": ["labels"]}));
        let declarations = &body["tools"][0]["functionDeclarations"];
        assert_eq!(declarations[0]["parametersJsonSchema"], json!({"type": "object", "properties": {"args": {"type": "object"}, "n": {"type": "integer"}}}));
        assert!(declarations[0].get("parameters").is_none());
        assert_eq!(declarations[1]["parameters"], json!({"type": "object", "properties": {"q": {"type": "string"}}}), "a schema Gemini's Schema holds stays there");
        assert_eq!(declarations[2]["parametersJsonSchema"], json!({"type": "object", "additionalProperties": {"type": "string"}}));
        assert_eq!(declarations[3]["parametersJsonSchema"]["properties"]["stars"]["enum"], json!([1, 2, 3]), "numeric enums kept");
        // reasoning_effort sets how much a model thinks (and bills as output).
        let effort = |model: &str, e: &str| {
            let req = ChatRequest::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": e})).unwrap();
            request_body(&req, model).unwrap()["generationConfig"]["thinkingConfig"].clone()
        };
        assert_eq!(effort("gemini-2.5-flash", "none"), json!({"thinkingBudget": 0}));
        assert_eq!(effort("gemini-2.5-pro", "none"), json!({"thinkingBudget": 128}), "2.5 Pro cannot stop thinking");
        assert_eq!(effort("gemini-2.5-flash-lite", "high"), json!({"thinkingBudget": 24576}));
        assert_eq!(effort("gemini-3-pro-preview", "low"), json!({"thinkingLevel": "low"}));
        assert_eq!(effort("gemini-3-pro-preview", "medium"), json!({"thinkingLevel": "high"}), "3 Pro takes low and high");
        for (e, level) in [("none", "minimal"), ("minimal", "minimal"), ("low", "low"), ("medium", "medium"), ("high", "high")] {
            assert_eq!(effort("gemini-3-flash-preview", e), json!({"thinkingLevel": level}), "3 Flash takes four levels: {e}");
        }
        // A client's cap bounds thinking, asked for or not, leaving the answer 1,024 tokens: a
        // label capped at 50 tokens is not spent thinking (2.5 Flash and Pro think unasked).
        let capped = |model: &str, cap: u64, e: Option<&str>| {
            let mut req = json!({"model": "m", "messages": [{"role": "user", "content": "spam or ham?"}], "max_tokens": cap});
            if let Some(e) = e {
                req["reasoning_effort"] = json!(e);
            }
            request_body(&ChatRequest::from_value(req).unwrap(), model).unwrap()["generationConfig"].clone()
        };
        assert_eq!(capped("gemini-2.5-flash", 50, None), json!({"maxOutputTokens": 50, "thinkingConfig": {"thinkingBudget": 0}}));
        assert_eq!(capped("gemini-2.5-pro", 50, None)["thinkingConfig"], json!({"thinkingBudget": 128}), "2.5 Pro cannot stop thinking");
        assert_eq!(capped("gemini-2.5-flash", 1300, None)["thinkingConfig"], json!({"thinkingBudget": 0}), "276 tokens are not worth thinking");
        assert_eq!(capped("gemini-2.5-flash", 1024 + 512, None)["thinkingConfig"], json!({"thinkingBudget": 512}), "512 tokens are, just");
        assert_eq!(capped("gemini-2.5-flash", 5000, None)["thinkingConfig"], json!({"thinkingBudget": 5000 - 1024}));
        assert_eq!(capped("gemini-2.5-flash", 5000, Some("low"))["thinkingConfig"], json!({"thinkingBudget": 1024}), "what was asked, when it fits");
        assert_eq!(capped("gemini-2.5-flash", 5000, Some("high"))["thinkingConfig"], json!({"thinkingBudget": 5000 - 1024}));
        // A cap with room for the most a model thinks: nothing sent (Gemini refuses a budget past it).
        assert_eq!(capped("gemini-2.5-flash", 32_768, None).get("thinkingConfig"), None);
        assert_eq!(capped("gemini-2.5-pro", 65_536, None).get("thinkingConfig"), None);
        assert_eq!(capped("gemini-2.5-pro", 30_000, None)["thinkingConfig"], json!({"thinkingBudget": 30_000 - 1024}));
        assert_eq!(capped("gemini-2.5-flash", 65_536, Some("high"))["thinkingConfig"], json!({"thinkingBudget": 24_576}));
        assert_eq!(capped("gemini-2.5-flash-lite", 50, None).get("thinkingConfig"), None, "Flash-Lite thinks only when asked");
        // Gemini 3 thinks by level: a cap with no room for thinking gets the least, asked or not.
        assert_eq!(capped("gemini-3-flash-preview", 50, None)["thinkingConfig"], json!({"thinkingLevel": "minimal"}));
        assert_eq!(capped("gemini-3-flash-preview", 50, Some("high"))["thinkingConfig"], json!({"thinkingLevel": "minimal"}));
        assert_eq!(capped("gemini-3-pro-preview", 1500, None)["thinkingConfig"], json!({"thinkingLevel": "low"}), "3 Pro's least");
        assert_eq!(capped("gemini-3-flash-preview", 1536, None).get("thinkingConfig"), None, "room to think: as the model likes");
        assert_eq!(capped("gemini-3-flash-preview", 4000, Some("medium"))["thinkingConfig"], json!({"thinkingLevel": "medium"}));
        let uncapped = ChatRequest::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})).unwrap();
        assert_eq!(request_body(&uncapped, "gemini-2.5-flash").unwrap().get("generationConfig"), None, "no cap, no effort: as the model likes");
        let seeded = ChatRequest::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 3_000_000_000u64})).unwrap();
        assert_eq!(request_body(&seeded, "gemini-2.5-flash").unwrap()["generationConfig"]["seed"], json!(3_000_000_000u64 as u32 as i32), "an int32");
        for variant in ["gemini-2.5-flash-image", "gemini-2.5-flash-preview-tts", "gemini-2.5-flash-native-audio-preview-09-2025", "gemini-live-2.5-flash-preview"] {
            assert_eq!(effort(variant, "high"), Value::Null, "{variant} does not think");
        }
        assert_eq!(effort("gemini-2.0-flash", "low"), Value::Null, "a model that does not think is sent nothing");
        assert_eq!(effort("gemini-2.5-flash", "extreme"), Value::Null);
        // Penalties go only to the models that take them (before 2.5).
        let penalised = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 0.5, "frequency_penalty": -0.5});
        let config = |model: &str| request_body(&ChatRequest::from_value(penalised.clone()).unwrap(), model).unwrap()["generationConfig"].clone();
        assert_eq!(config("gemini-2.0-flash"), json!({"presencePenalty": 0.5, "frequencyPenalty": -0.5}));
        assert_eq!(config("gemini-2.5-flash"), Value::Null, "no generationConfig at all");
        assert_eq!(config("gemini-3-pro-preview"), Value::Null);
    }

    #[test]
    fn json_output_beside_functions_is_an_instruction_before_gemini_3() {
        // What the OpenAI Agents SDK sends: tools, and the final output's schema.
        let agent = json!({"model": "m", "messages": [{"role": "system", "content": "You plan trips."}, {"role": "user", "content": "Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "Plan", "strict": true,
                "schema": {"type": "object", "properties": {"days": {"type": "integer"}}, "required": ["days"], "additionalProperties": false}}}});
        let json_output = ["responseMimeType", "responseSchema", "responseJsonSchema"];
        for model in ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-flash-latest"] {
            let body = body_for(agent.clone(), model).unwrap();
            assert!(json_output.iter().all(|k| body["generationConfig"].get(k).is_none()), "{model}: {}", body["generationConfig"]);
            let system = body["systemInstruction"]["parts"].as_array().unwrap();
            assert_eq!(system[0], json!({"text": "You plan trips."}));
            let instruction = system[1]["text"].as_str().unwrap();
            assert!(instruction.starts_with("Respond with only a valid JSON object"), "{model}: {instruction}");
            assert!(instruction.ends_with(r#"{"type":"object","properties":{"days":{"type":"integer"}},"required":["days"],"additionalProperties":false}"#), "{instruction}");
            assert_eq!(body["tools"][0]["functionDeclarations"][0]["name"], "get_weather");
        }
        // JSON mode alike.
        let mut json_mode = agent.clone();
        json_mode["response_format"] = json!({"type": "json_object"});
        let body = body_for(json_mode, "gemini-2.5-pro").unwrap();
        assert!(body["generationConfig"].get("responseMimeType").is_none());
        assert_eq!(body["systemInstruction"]["parts"][1]["text"], "Respond with only a valid JSON object, with no text before or after it.");
        // Gemini 3 takes both; without functions every model gets JSON output and no instruction.
        let body = body_for(agent.clone(), "gemini-3-pro-preview").unwrap();
        assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
        assert_eq!(body["systemInstruction"]["parts"].as_array().unwrap().len(), 1);
        let mut no_tools = agent;
        no_tools.as_object_mut().unwrap().remove("tools");
        let body = body_for(no_tools, "gemini-2.5-flash").unwrap();
        assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
        assert!(body["generationConfig"].get("responseSchema").is_some());
        assert_eq!(body["systemInstruction"]["parts"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_legacy_function_call_is_sent_with_the_function_result_that_answers_it() {
        let legacy = json!({"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"role": "function", "name": "get_weather", "content": "18C"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
        let body = body_for(legacy.clone(), "gemini-2.5-flash").unwrap();
        assert_eq!(body["contents"], json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}}]}]));
        // Gemini 3 wants the replayed call signed, as a tool call is.
        let body = body_for(legacy.clone(), "gemini-3-pro-preview").unwrap();
        assert_eq!(body["contents"][1]["parts"][0]["thoughtSignature"], SIGNATURE_PLACEHOLDER);
        // A client that sends `"function_call": null` beside its tool calls, or alone, sent no legacy call.
        let mut null_call = legacy.clone();
        null_call["messages"][1] = json!({"role": "assistant", "content": "Let me check.", "function_call": null});
        null_call["messages"].as_array_mut().unwrap().truncate(2);
        assert_eq!(body_for(null_call, "gemini-2.5-flash").unwrap()["contents"][1], json!({"role": "model", "parts": [{"text": "Let me check."}]}));
        let mut bad = legacy;
        bad["messages"][1]["function_call"]["arguments"] = json!("{not json");
        assert_eq!(body_for(bad.clone(), "gemini-2.5-flash").unwrap_err().param.as_deref(), Some("messages[1].function_call.arguments"));
        bad["messages"][1]["function_call"] = json!({"arguments": "{}"});
        assert_eq!(body_for(bad, "gemini-2.5-flash").unwrap_err().param.as_deref(), Some("messages[1].function_call.name"));
    }

    #[test]
    fn allowed_tools_declare_only_the_allowed_functions() {
        let allowed = |mode: &str, names: &[&str]| {
            let entries: Vec<Value> = names.iter().map(|n| json!({"type": "function", "function": {"name": n}})).collect();
            let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "get_weather"}}, {"type": "function", "function": {"name": "get_time"}},
                    {"type": "function", "function": {"name": "send_email"}}],
                "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": entries}}});
            let body = body_for(req, "gemini-2.5-flash").unwrap();
            let declared: Vec<String> = body["tools"][0]["functionDeclarations"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
            (declared, body["toolConfig"]["functionCallingConfig"].clone())
        };
        // Gemini takes allowedFunctionNames with mode ANY only: under AUTO the declarations say it.
        assert_eq!(allowed("auto", &["get_time", "get_weather"]), (vec!["get_weather".into(), "get_time".into()], json!({"mode": "AUTO"})));
        assert_eq!(allowed("required", &["send_email"]), (vec!["send_email".into()], json!({"mode": "ANY", "allowedFunctionNames": ["send_email"]})));
        assert_eq!(allowed("auto", &[]).1, json!({"mode": "NONE"}));
        assert_eq!(allowed("auto", &[]).0.len(), 3);
        let unknown = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "get_time"}}],
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_weather"}}]}}});
        assert_eq!(body_for(unknown, "gemini-2.5-flash").unwrap_err().param.as_deref(), Some("tool_choice.allowed_tools.tools[0]"));
    }

    #[test]
    fn a_refusal_turn_sent_back_is_what_the_model_said() {
        let req = ChatRequest::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "do x"},
            {"role": "assistant", "content": null, "refusal": "I can't do x."}, {"role": "user", "content": "why?"}]})).unwrap();
        assert_eq!(request_body(&req, "gemini-2.5-flash").unwrap()["contents"][1], json!({"role": "model", "parts": [{"text": "I can't do x."}]}));
    }

    #[test]
    fn urls_headers_tool_choice_and_request_errors() {
        let p = provider();
        let user = json!([{"role": "user", "content": "hi"}]);
        let target = Target { provider: &p, upstream_model: "gemini-2.5-flash", api_key: Some("AIzaTestKey") };
        let up = Gemini.chat_request(&target, &ChatRequest::from_value(json!({"model": "m", "messages": user})).unwrap()).unwrap();
        assert_eq!(up.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent");
        assert!(up.headers.contains(&("x-goog-api-key".into(), "AIzaTestKey".into())));
        let keyless = Target { api_key: None, ..target };
        let up = Gemini.chat_request(&keyless, &ChatRequest::from_value(json!({"model": "m", "messages": user, "stream": true})).unwrap()).unwrap();
        assert!(up.url.ends_with("/models/gemini-2.5-flash:streamGenerateContent?alt=sse"));
        assert!(up.headers.iter().all(|(k, _)| k != "x-goog-api-key"));
        assert!(serde_json::from_str::<Value>(&up.body).unwrap().get("generationConfig").is_none());

        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            let body = body_for(json!({"model": "m", "messages": user, "tools": tools, "tool_choice": choice}), "gemini-2.5-flash").unwrap();
            assert_eq!((body["tools"].clone(), body["toolConfig"].clone()), (json!([{"functionDeclarations": [{"name": "f"}]}]), json!({"functionCallingConfig": {"mode": mode}})));
        }
        assert!(body_for(json!({"model": "m", "messages": user, "tool_choice": "auto"}), "gemini-2.5-flash").unwrap().get("toolConfig").is_none());
        let call = |args: &str| json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}]});
        for (messages, extra, param) in [
            (json!([{"role": "user", "content": "hi"}, call("{not json")]), json!({}), "messages[1].tool_calls[0].function.arguments"),
            (json!([{"role": "user", "content": "hi"}, call("[1]")]), json!({}), "messages[1].tool_calls[0].function.arguments"),
            (json!([{"role": "user", "content": "hi"}, call("{}"), {"role": "tool", "tool_call_id": "zz", "content": "x"}]), json!({}), "messages[2].tool_call_id"),
            (json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]), json!({}), "messages[0].content[0].image_url.url"),
            (json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]), json!({}), "messages[0].content[0].image_url.url"),
        ] {
            let mut req = json!({"model": "m", "messages": messages});
            req.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            assert_eq!(body_for(req, "gemini-2.5-flash").unwrap_err().param.as_deref(), Some(param));
        }
        // Parsing refuses a malformed choice; the adapter still does if one reaches it.
        let mut req = ChatRequest::from_value(json!({"model": "m", "messages": user})).unwrap();
        req.tool_choice = Some(json!("sometimes"));
        assert_eq!(request_body(&req, "gemini-2.5-flash").unwrap_err().param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn empty_user_text_is_dropped_and_an_empty_user_turn_omitted() {
        let body = body_for(json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
            {"role": "assistant", "content": "A cat."},
            // A client that sends an empty turn, e.g. "continue" with nothing typed.
            {"role": "user", "content": ""},
            {"role": "assistant", "content": "Anything else?"},
            {"role": "user", "content": [{"type": "text", "text": ""}]},
            {"role": "user", "content": "Its colour?"}]}), "gemini-2.5-flash").unwrap();
        // The model turns either side of the omitted one merge, so turns still alternate.
        assert_eq!(body["contents"], json!([
            {"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}}]},
            {"role": "model", "parts": [{"text": "A cat."}, {"text": "Anything else?"}]},
            {"role": "user", "parts": [{"text": "Its colour?"}]}]));
    }

    #[test]
    fn gemini_3_history_gets_a_thought_signature_placeholder() {
        let messages = json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}, {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}]);
        let parts = |model: &str| body_for(json!({"model": "m", "messages": messages}), model).unwrap()["contents"][1]["parts"].clone();
        let p = parts("gemini-3-pro-preview");
        assert_eq!(p[0], json!({"text": "Checking."}));
        assert_eq!(p[1]["thoughtSignature"], SIGNATURE_PLACEHOLDER);
        assert!(p[2].get("thoughtSignature").is_none());
        assert!(parts("gemini-2.5-pro")[1].get("thoughtSignature").is_none());
    }

    #[test]
    fn thought_signatures_go_back_to_the_deployment_that_wrote_them() {
        // The answer: the signature on the call, marked with the deployment.
        let a = chat_answer("vertex-eu", "gemini-3-pro-preview", br#"{"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2lnLTE="}, {"functionCall": {"name": "g", "args": {}}}], "role": "model"},
            "finishReason": "STOP", "index": 0}], "responseId": "r1"}"#).unwrap();
        let calls = a.body["choices"][0]["message"]["tool_calls"].clone();
        assert_eq!(calls[0]["extra_content"], json!({"google": {"thought_signature": "c2lnLTE="}, "costrouter": {"provider": "vertex-eu", "model": "gemini-3-pro-preview"}}));
        assert!(calls[1].get("extra_content").is_none(), "Gemini signs the first of parallel calls");
        // Sent back as it came: to the same deployment, the signature; elsewhere, the placeholder.
        let history = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": calls},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "1"}, {"role": "tool", "tool_call_id": calls[1]["id"], "content": "2"}]});
        let req = ChatRequest::from_value(history.clone()).unwrap();
        let first_call = |provider: &str, model: &str| request_body_for(&req, provider, model).unwrap()["contents"][1]["parts"][0].clone();
        assert_eq!(first_call("vertex-eu", "gemini-3-pro-preview")["thoughtSignature"], "c2lnLTE=");
        assert_eq!(first_call("vertex-us", "gemini-3-pro-preview")["thoughtSignature"], SIGNATURE_PLACEHOLDER, "another project's key");
        assert_eq!(first_call("vertex-eu", "gemini-3-flash-preview")["thoughtSignature"], SIGNATURE_PLACEHOLDER, "another model");
        assert!(first_call("vertex-eu", "gemini-2.5-pro").get("thoughtSignature").is_none(), "2.5 needs none");
        // A signature without the router's mark (Gemini's own OpenAI-compatible endpoint) is trusted.
        let mut unmarked = history;
        unmarked["messages"][1]["tool_calls"][0]["extra_content"] = json!({"google": {"thought_signature": "c2lnLTI="}});
        let req = ChatRequest::from_value(unmarked).unwrap();
        assert_eq!(request_body_for(&req, "any", "gemini-3-flash-preview").unwrap()["contents"][1]["parts"][0]["thoughtSignature"], "c2lnLTI=");
    }

    #[test]
    fn text_answer_skips_thoughts_and_normalizes_usage() {
        let a = answer(r#"{"candidates": [{"content": {"parts": [{"text": "**Considering the capital**\n\nThe user asks...", "thought": true},
            {"text": "The capital of France is "}, {"text": "Paris."}], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 50, "totalTokenCount": 1170, "cachedContentTokenCount": 400,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}], "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 400}], "thoughtsTokenCount": 120},
            "modelVersion": "gemini-2.5-pro", "responseId": "mK3aaPXcL4SWz7IPkM6X-Qs"}"#);
        assert_eq!(a.body, json!({"id": "mK3aaPXcL4SWz7IPkM6X-Qs", "object": "chat.completion", "created": 0, "model": "gemini-2.5-pro",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "The capital of France is Paris."}, "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 170, "total_tokens": 1170,
                "prompt_tokens_details": {"cached_tokens": 400}, "completion_tokens_details": {"reasoning_tokens": 120}}}));
        let usage = a.usage.unwrap();
        assert_eq!((usage.uncached_input_tokens(), usage.output_tokens, usage.reasoning_tokens), (600, 170, 120));
    }

    #[test]
    fn cost_by_hand_for_both_price_tiers() {
        let table = PriceTable::from_json(r#"{"models":{"gemini-2.5-pro":{"input":1.25,"output":10,"cached_input":0.31,"tiers":[{"above_input_tokens":200000,"input":2.5,"output":15,"cached_input":0.625}]}}}"#).unwrap();
        let price = table.get("gemini-2.5-pro").unwrap();
        let usage = |meta: Value| Usage::from_gemini(&meta);
        // 600 × 1.25 + 400 × 0.31 + (50 + 120) × 10, per million tokens.
        let small = usage(json!({"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 50, "thoughtsTokenCount": 120}));
        assert_eq!(price.cost(&small, false).total.to_string(), "0.002574");
        // Past 200k prompt tokens every token is billed at the tier: 200000 × 2.5 + 50000 × 0.625 + 1200 × 15.
        let large = usage(json!({"promptTokenCount": 250000, "cachedContentTokenCount": 50000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 200}));
        assert_eq!(price.cost(&large, false).total.to_string(), "0.54925");
    }

    #[test]
    fn function_calls_length_and_logprobs() {
        let body = r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris", "unit": "c"}}},
            {"functionCall": {"name": "get_time"}}], "role": "model"}, "finishReason": "STOP", "avgLogprobs": -0.02}],
            "usageMetadata": {"promptTokenCount": 80, "candidatesTokenCount": 18, "totalTokenCount": 98}}"#;
        let a = answer(body);
        let choice = &a.body["choices"][0];
        let call_id = |n| tool_call_id(a.body["id"].as_str().unwrap(), 0, n);
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"], json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": call_id(0), "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}},
            {"id": call_id(1), "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}));
        // No responseId: a deterministic id, and the upstream model name.
        assert_eq!(a.body["id"], answer(body).body["id"]);
        assert!(a.body["id"].as_str().unwrap().starts_with("gemini-"));
        assert_eq!(a.body["model"], "gemini-2.5-pro");

        let a = answer(r#"{"candidates": [{"content": {"parts": [{"text": "Once upon"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0,
            "logprobsResult": {"topCandidates": [{"candidates": [{"token": "Once", "logProbability": -0.1}, {"token": "In", "logProbability": -2.5}]}],
            "chosenCandidates": [{"token": "Once", "logProbability": -0.1}, {"token": " upon"}]}},
            {"content": {"parts": [{"text": "I cannot"}], "role": "model"}, "finishReason": "SAFETY", "index": 1}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 4, "totalTokenCount": 9}, "modelVersion": "gemini-2.0-flash-001"}"#);
        assert_eq!(a.body["choices"][0]["finish_reason"], "length");
        assert_eq!(a.body["choices"][0]["logprobs"], json!({"content": [
            {"token": "Once", "logprob": -0.1, "bytes": null, "top_logprobs": [{"token": "Once", "logprob": -0.1, "bytes": null}, {"token": "In", "logprob": -2.5, "bytes": null}]},
            {"token": " upon", "logprob": 0.0, "bytes": null, "top_logprobs": []}]}));
        assert_eq!((a.body["choices"][1]["index"].clone(), a.body["choices"][1]["finish_reason"].clone()), (json!(1), json!("content_filter")));
        assert_eq!(a.body["model"], "gemini-2.0-flash-001");
    }

    #[test]
    fn tool_call_ids_differ_between_responses_and_stay_put_within_a_stream() {
        // An agent loop: the same call twice, in two answers that differ only by responseId.
        let turn = |response_id: &str| {
            format!(r#"{{"candidates": [{{"content": {{"parts": [{{"functionCall": {{"name": "get_time", "args": {{}}}}}}], "role": "model"}}, "finishReason": "STOP", "index": 0}}], "responseId": "{response_id}"}}"#)
        };
        let ids = |a: &ChatAnswer| a.body["choices"][0]["message"]["tool_calls"][0]["id"].as_str().unwrap().to_string();
        let (first, second) = (answer(&turn("mK3aaPXcL4SWz7IPkM6X-Qs")), answer(&turn("nL4bbQYdM5TXa8JQlN7Y-Rt")));
        assert_ne!(ids(&first), ids(&second));
        assert_eq!(ids(&first), ids(&answer(&turn("mK3aaPXcL4SWz7IPkM6X-Qs"))), "a replayed answer keeps its ids");
        // Anthropic accepts tool_use ids of [A-Za-z0-9_-] only.
        assert!(ids(&first).bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        // Without responseId, answers with different content still get different ids.
        let bare = |city: &str| answer(&format!(r#"{{"candidates": [{{"content": {{"parts": [{{"functionCall": {{"name": "get_weather", "args": {{"city": "{city}"}}}}}}]}}, "finishReason": "STOP"}}]}}"#));
        assert_ne!(ids(&bare("Paris")), ids(&bare("Rome")));

        // A stream: the id of each call is fixed when it is sent, all from the first chunk's responseId.
        let event = |call: &str, finish: &str, response_id: &str| {
            format!("data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"functionCall\": {{\"name\": \"{call}\",\"args\": {{}}}}}}]}},{finish}\"index\": 0}}],\"responseId\": \"{response_id}\"}}\n\n")
        };
        let stream = |response_id: &str| event("a", "", response_id) + &event("b", "\"finishReason\": \"STOP\",", response_id);
        let call_ids = |out: &[Value]| -> Vec<String> {
            out.iter().filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str().map(String::from)).collect()
        };
        let (one, _) = run_stream(&stream("r-one"), 11);
        let (two, _) = run_stream(&stream("r-two"), 11);
        assert_eq!(call_ids(&one), vec![tool_call_id("r-one", 0, 0), tool_call_id("r-one", 0, 1)]);
        assert!(call_ids(&two).iter().all(|id| !call_ids(&one).contains(id)));
    }

    #[test]
    fn blocked_prompts_and_malformed_answers() {
        let a = answer(r#"{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}"#);
        assert_eq!(a.body["choices"], json!([{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter", "logprobs": null}]));
        assert_eq!(a.usage.unwrap().input_tokens, 8);
        for bad in ["<html>", "{}", r#"{"candidates": []}"#] {
            assert!(matches!(chat_answer("gemini", "m", bad.as_bytes()), Err(UpstreamError::Malformed { .. })), "{bad}");
        }
        let m = super::super::error_message_from_body(400, br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}"#);
        assert_eq!(m, "API key not valid. Please pass a valid API key.");
    }

    #[test]
    fn refusals_of_the_deployments_own_setup_are_told_from_the_requests() {
        let bad_key = br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}"#;
        assert_eq!(Gemini.rejection(400, bad_key), Rejection::Deployment);
        // The reason alone, whatever the message says.
        let by_reason = br#"{"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}"#;
        assert_eq!(Gemini.rejection(400, by_reason), Rejection::Deployment);
        let expired = br#"{"error": {"code": 400, "message": "API key expired. Please renew the API key.", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, expired), Rejection::Deployment);
        let location = br#"{"error": {"code": 400, "message": "User location is not supported for the API use.", "status": "FAILED_PRECONDITION"}}"#;
        assert_eq!(Gemini.rejection(400, location), Rejection::Deployment);
        let too_long = br#"{"error": {"code": 400, "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, too_long), Rejection::TooLong);
        let unsigned = br#"{"error": {"code": 400, "message": "Function call `f` in the `2.` content block is missing a `thought_signature`.", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, unsigned), Rejection::Unsupported, "another deployment may take it");
        let bad_request = br#"{"error": {"code": 400, "message": "* GenerateContentRequest.contents: contents is not specified", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, bad_request), Rejection::Request);
        // What this model does not offer and another may.
        let candidates = br#"{"error": {"code": 400, "message": "Multiple candidates is not enabled for this model", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, candidates), Rejection::Unsupported);
        let logprobs = br#"{"error": {"code": 400, "message": "Logprobs is not enabled for models/gemini-2.5-flash-lite", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(Gemini.rejection(400, logprobs), Rejection::Unsupported);
    }

    #[test]
    fn a_request_with_no_turn_to_answer_is_refused_here() {
        for messages in [r#"[{"role":"system","content":"Be brief."}]"#, r#"[{"role":"system","content":"Be brief."},{"role":"user","content":""}]"#] {
            let e = body_for(serde_json::from_str(&format!(r#"{{"model":"m","messages":{messages}}}"#)).unwrap(), "gemini-2.5-flash").unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some("messages")), "{messages}");
        }
    }

    #[test]
    fn base64_images_are_declared_as_their_bytes_are() {
        let image = |url: &str| {
            let request = json!({"model": "g", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
            body_for(request, "gemini-2.5-flash").unwrap()["contents"][0]["parts"][0]["inlineData"]["mimeType"].clone()
        };
        // Gemini refuses `image/jpg` ("Unsupported MIME type"), which OpenAI takes and clients send.
        assert_eq!(image("data:image/jpg;base64,/9j/4AAQSkZJRg"), json!("image/jpeg"));
        assert_eq!(image("data:image/jpg;base64,AAAA"), json!("image/jpeg"));
        assert_eq!(image("data:image/jpeg;base64,iVBORw0KGgoAAAA"), json!("image/png"));
        assert_eq!(image("data:;base64,UklGRiQAAABXRUJQVlA4"), json!("image/webp"));
        assert_eq!(image("data:;base64,AAAA"), json!("image/jpeg"));
        assert_eq!(image("data:IMAGE/HEIC;base64,AAAAHGZ0eXBoZWlj"), json!("image/heic"));
    }

    #[test]
    fn linked_images_and_files_are_declared_by_their_extension_and_data_urls_by_their_type() {
        let part = |content: Value| body_for(json!({"model": "g", "messages": [{"role": "user", "content": [content]}]}), "gemini-2.5-flash").map(|b| b["contents"][0]["parts"][0].clone());
        let linked = |url: &str| part(json!({"type": "image_url", "image_url": {"url": url}})).unwrap()["fileData"]["mimeType"].clone();
        for (url, mime) in [("http://example.com/a.gif", "image/gif"), ("https://example.com/b.HEIC", "image/heic"), ("https://example.com/c.heif#x", "image/heif"),
            ("https://example.com/report.pdf?v=2", "application/pdf")] {
            assert_eq!(linked(url), json!(mime), "{url}");
        }
        // A file comes as a data URL, its type as declared; without one, as bytes of no known type.
        let file = |data: &str| part(json!({"type": "file", "file": {"file_data": data}}));
        assert_eq!(file("data:application/pdf;base64,JVBERi0xLjQ=").unwrap(), json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}}));
        assert_eq!(file("data:;base64,AAAA").unwrap()["inlineData"]["mimeType"], "application/octet-stream");
        assert_eq!(file("data:text/plain,hello").unwrap_err().param.as_deref(), Some("messages[0].content[0].file.file_data"));
    }

    #[test]
    fn a_tool_result_with_an_image_is_refused_rather_than_flattened_to_its_text() {
        let history = |content: &str| format!(r#"{{"model":"m","tools":[{{"type":"function","function":{{"name":"shot"}}}}],"messages":[{{"role":"user","content":"Screenshot?"}},
            {{"role":"assistant","content":null,"tool_calls":[{{"id":"c1","type":"function","function":{{"name":"shot","arguments":"{{}}"}}}}]}},
            {{"role":"tool","tool_call_id":"c1","content":{content}}}]}}"#);
        let image = history(r#"[{"type":"text","text":"here"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]"#);
        let e = body_for(serde_json::from_str(&image).unwrap(), "gemini-2.5-flash").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[2].content[1]"), "{}", e.message);
        let text = history(r#"[{"type":"text","text":"here"}]"#);
        let body = body_for(serde_json::from_str(&text).unwrap(), "gemini-2.5-flash").unwrap();
        assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["response"]["content"], "here");
    }

    #[test]
    fn one_tool_call_at_a_time_is_a_setting_gemini_lacks() {
        let req = |extra: &str| ChatRequest::parse(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#).as_bytes()).unwrap();
        let tools = r#","tools":[{"type":"function","function":{"name":"f"}}]"#;
        assert_eq!(Gemini.dropped_param(&req(&format!(r#"{tools},"parallel_tool_calls":false"#))).map(|d| d.0), Some("parallel_tool_calls"));
        assert_eq!(Gemini.dropped_param(&req(&format!(r#"{tools},"parallel_tool_calls":true"#))), None);
        assert_eq!(Gemini.dropped_param(&req(r#","parallel_tool_calls":false"#)), None, "no tools, nothing to call at once");
        assert_eq!(Gemini.dropped_param(&req(&format!(r#"{tools},"tool_choice":"none","parallel_tool_calls":false"#))), None, "none to be called");
    }

    #[test]
    fn an_answer_gemini_ended_for_another_reason_reads_as_filtered_not_finished() {
        for reason in ["OTHER", "LANGUAGE"] {
            let a = answer(&format!(r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"The first half of"}}]}},"finishReason":"{reason}","index":0}}],"usageMetadata":{{"promptTokenCount":5,"candidatesTokenCount":4}}}}"#));
            assert_eq!(a.body["choices"][0]["finish_reason"], "content_filter", "{reason}");
            assert_eq!(a.body["choices"][0]["message"]["content"], "The first half of", "what came is kept");
        }
    }

    #[test]
    fn each_gemini_generation_is_sent_a_thinking_level_it_takes() {
        let level = |model: &str, effort: &str, cap: Option<u64>| thinking_config(model, Some(effort), cap).map(|c| c["thinkingLevel"].clone());
        // 3.1 Pro takes medium (it was sent high: more thinking, billed, than asked) and not minimal.
        for (effort, sent) in [("none", "low"), ("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "high"), ("max", "high")] {
            assert_eq!(level("gemini-3.1-pro-preview", effort, None), Some(json!(sent)), "3.1 Pro at {effort}");
        }
        // Flash from 3.7 does not take minimal: the least it takes is low, for a small cap too.
        for model in ["gemini-3.7-flash", "gemini-3.8-flash", "models/gemini-3.8-flash"] {
            for (effort, sent) in [("none", "low"), ("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "high")] {
                assert_eq!(level(model, effort, None), Some(json!(sent)), "{model} at {effort}");
            }
            assert_eq!(level(model, "high", Some(50)), Some(json!("low")), "{model} under a small cap");
        }
        for model in ["gemini-3-flash-preview", "gemini-3.1-flash-lite", "gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.6-flash"] {
            assert_eq!(level(model, "none", None), Some(json!("minimal")), "{model}");
            assert_eq!(level(model, "high", Some(50)), Some(json!("minimal")), "{model}");
        }
        // Gemini 4: no minimal; xhigh on Neon and Hydrogen only.
        assert_eq!(level("gemini-4-argon", "minimal", None), Some(json!("low")));
        assert_eq!(level("gemini-4-argon", "xhigh", None), Some(json!("high")));
        assert_eq!(level("gemini-4-hydrogen", "xhigh", None), Some(json!("xhigh")));
        assert_eq!(level("gemini-4-hydrogen", "max", None), Some(json!("xhigh")));
        assert_eq!(level("gemini-4-hydrogen", "none", None), Some(json!("low")));
        assert_eq!(thinking_config("gemini-flash-latest", Some("high"), None), None, "no version: not sent a level it may refuse");
        assert_eq!(thinking_config("gemini-3.8-flash", None, None), None, "unasked, uncapped: as the model likes");
    }

    #[test]
    fn sampling_parameters_go_only_to_gemini_models_that_read_them() {
        let req = ChatRequest::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3, "top_p": 0.8, "seed": 4})).unwrap();
        let config = |model: &str| request_body(&req, model).unwrap()["generationConfig"].clone();
        for model in ["gemini-3.8-flash", "gemini-3.7-flash", "gemini-3.6-flash", "gemini-3.5-flash-lite"] {
            assert_eq!(config(model), json!({"seed": 4}), "{model} ignores them");
            assert!(Gemini.samples_regardless(&req, model), "{model}: a temperature-0 answer is not deterministic");
        }
        assert!(!Gemini.samples_regardless(&req, "gemini-3-flash-preview"));
        for model in ["gemini-3.5-flash", "gemini-3-flash-preview", "gemini-3.1-flash-lite", "gemini-3.1-pro-preview", "gemini-2.5-flash", "gemini-flash-latest"] {
            assert_eq!(config(model), json!({"temperature": 0.3, "topP": 0.8, "seed": 4}), "{model}");
        }
    }

    #[test]
    fn gemini_versions_read_as_major_and_minor() {
        let cases = [("gemini-3.1-pro-preview", Some((3, 1))), ("gemini-3-flash-preview", Some((3, 0))), ("models/gemini-2.5-flash", Some((2, 5))), ("gemini-4-argon", Some((4, 0))), ("gemini-flash-latest", None), ("gemini-live-2.5-flash-preview", None), ("gemini-3.x-flash", Some((3, 0))), ("gemini-3.1pro", Some((3, 1))), ("gemini-3.0.1-flash", Some((3, 0))), ("gemini-3-flash-2.5", Some((3, 0))), ("claude-3-5-sonnet", None)];
        for (model, version) in cases {
            assert_eq!(numbered_version(model), version, "{model}");
        }
    }

    #[test]
    fn xhigh_effort_asks_for_the_most_thinking_the_model_takes() {
        assert_eq!(thinking_config("gemini-2.5-flash", Some("xhigh"), None), Some(json!({"thinkingBudget": 24576})));
        assert_eq!(thinking_config("gemini-2.5-pro", Some("xhigh"), None), Some(json!({"thinkingBudget": 32768})));
        assert_eq!(thinking_config("gemini-2.5-flash", Some("xhigh"), Some(3000)), Some(json!({"thinkingBudget": 1976})), "within the client's cap");
        assert_eq!(thinking_config("gemini-3-pro-preview", Some("xhigh"), None), Some(json!({"thinkingLevel": "high"})));
        // Anthropic's `max` (a client written for Claude, routed here) is the most, as xhigh.
        assert_eq!(thinking_config("gemini-2.5-pro", Some("max"), None), Some(json!({"thinkingBudget": 32768})));
        assert_eq!(thinking_config("gemini-2.5-flash", Some("max"), None), Some(json!({"thinkingBudget": 24576})));
        assert_eq!(thinking_config("gemini-3-flash-preview", Some("max"), None), Some(json!({"thinkingLevel": "high"})));
        assert_eq!(thinking_config("gemini-3-flash-preview", Some("xhigh"), None), Some(json!({"thinkingLevel": "high"})));
    }

    #[test]
    fn the_thinking_a_request_asks_for_is_what_the_planner_prices() {
        // The planner bills a request's expected thinking by this: the budget sent, none for a
        // budget of 0, and no bound for a level (Gemini 3), as Gemini thinks then as it likes.
        assert!(Gemini.translates_reasoning_effort(), "reasoning_effort is translated, not passed on");
        let asked = |model: &str, effort: Option<&str>| {
            let mut req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            if let Some(e) = effort {
                req["reasoning_effort"] = json!(e);
            }
            Gemini.reasoning_as_asked(&ChatRequest::from_value(req).unwrap(), model)
        };
        assert_eq!(asked("gemini-2.5-flash", None), None, "unasked: it thinks as it likes, not as asked");
        assert_eq!(asked("gemini-2.5-flash", Some("none")), None, "a budget of 0 is no thinking");
        assert_eq!(asked("gemini-2.5-pro", Some("none")), Some(128), "2.5 Pro cannot stop thinking");
        assert_eq!(asked("gemini-2.5-flash", Some("low")), Some(1024));
        assert_eq!(asked("gemini-3-flash-preview", Some("low")), Some(u64::MAX), "a level bounds no count");
        assert_eq!(asked("gemini-2.0-flash", Some("high")), None, "a model that does not think");
    }

    #[test]
    fn a_streamed_function_call_carries_its_thought_signature() {
        let stream = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"f\",\"args\": {}},\"thoughtSignature\": \"c2ln\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"responseId\": \"r9\"}\n\n";
        let (chunks, _) = run_stream(stream, stream.len());
        let call = &chunks.iter().find_map(|c| c["choices"][0]["delta"].get("tool_calls")).unwrap()[0];
        assert_eq!(call["extra_content"], json!({"google": {"thought_signature": "c2ln"}, "costrouter": {"provider": "gemini", "model": "gemini-2.5-flash"}}));
    }

    fn run_stream(stream: &str, piece: usize) -> (Vec<Value>, GeminiStream) {
        let (mut parser, mut s, mut out) = (SseParser::new(), GeminiStream::new("gemini", "gemini-2.5-flash"), Vec::new());
        for bytes in stream.as_bytes().chunks(piece) {
            for ev in parser.push(bytes).unwrap() {
                out.extend(s.on_event(&ev).unwrap());
            }
        }
        out.extend(parser.finish().unwrap().map(|ev| s.on_event(&ev).unwrap()).unwrap_or_default());
        (out, s)
    }

    #[test]
    fn stream_text_in_pieces() {
        let stream = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The sky\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 2,\"totalTokenCount\": 31,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 9}],\"thoughtsTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"3a7aaKnTBq6jz7IP0b_x-AQ\"}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" is blue because of Rayleigh scattering.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 9,\"totalTokenCount\": 38,\"thoughtsTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"3a7aaKnTBq6jz7IP0b_x-AQ\"}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 10,\"totalTokenCount\": 39,\"thoughtsTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"3a7aaKnTBq6jz7IP0b_x-AQ\"}\r\n\r\n",
        );
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "3a7aaKnTBq6jz7IP0b_x-AQ", "object": "chat.completion.chunk", "created": 0, "model": "gemini-2.5-flash",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]})
        };
        for piece in [1, 7, 64, stream.len()] {
            let (out, s) = run_stream(stream, piece);
            assert_eq!(out, vec![
                chunk(json!({"role": "assistant", "content": "The sky"}), Value::Null),
                chunk(json!({"content": " is blue because of Rayleigh scattering."}), Value::Null),
                chunk(json!({}), json!("stop")),
            ], "piece {piece}");
            assert!(s.is_complete());
            assert_eq!(s.usage(), Some(Usage { input_tokens: 9, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 30, reasoning_tokens: 20, ..Usage::default() }));
        }
    }

    #[test]
    fn streamed_logprobs_go_with_their_text() {
        let stream = concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Yes\"}],\"role\": \"model\"},\"index\": 0,",
            "\"logprobsResult\": {\"topCandidates\": [{\"candidates\": [{\"token\": \"Yes\", \"logProbability\": -0.2}]}], \"chosenCandidates\": [{\"token\": \"Yes\", \"logProbability\": -0.2}]}}]}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0,",
            "\"logprobsResult\": {\"topCandidates\": [], \"chosenCandidates\": [{\"token\": \".\"}]}}]}\r\n\r\n",
        );
        let (out, _) = run_stream(stream, stream.len());
        assert_eq!(out[0]["choices"][0]["logprobs"], json!({"content": [{"token": "Yes", "logprob": -0.2, "bytes": null, "top_logprobs": [{"token": "Yes", "logprob": -0.2, "bytes": null}]}]}));
        assert_eq!(out[1]["choices"][0]["logprobs"], json!({"content": [{"token": ".", "logprob": 0.0, "bytes": null, "top_logprobs": []}]}));
        assert_eq!(out[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(out[2]["choices"][0]["logprobs"], Value::Null, "the finish chunk carries none (they went with the text)");
    }

    #[test]
    fn a_malformed_function_call_is_a_failed_call_not_an_empty_answer() {
        let body = r#"{"candidates": [{"content": {"role": "model"}, "finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "Malformed function call: print(x", "index": 0}],
            "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}}"#;
        let e = chat_answer("gemini", "gemini-2.5-flash", body.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "gemini: the model did not finish an answer (MALFORMED_FUNCTION_CALL: Malformed function call: print(x)");
        assert!(matches!(e, UpstreamError::NoAnswer { usage: Some(u), .. } if u.input_tokens == 40), "the billed prompt goes with the error");
        let mut s = GeminiStream::new("gemini", "gemini-2.5-flash");
        let ev = SseEvent { event: String::new(), data: body.replace('\n', " ") };
        assert!(matches!(s.on_event(&ev), Err(UpstreamError::NoAnswer { .. })));
        // Other finish reasons are answers as before.
        assert!(chat_answer("gemini", "m", br#"{"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP", "index": 0}]}"#).is_ok());
    }

    #[test]
    fn stream_function_calls_blocks_and_errors() {
        let (out, s) = run_stream(concat!(
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"city\": \"Paris\"}}}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 40,\"candidatesTokenCount\": 6}}\n\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_time\",\"args\": {}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 40,\"candidatesTokenCount\": 12}}\n\n",
        ), 5);
        let deltas: Vec<Value> = out.iter().map(|c| json!([c["choices"][0]["delta"], c["choices"][0]["finish_reason"]])).collect();
        let call_id = |n| tool_call_id(out[0]["id"].as_str().unwrap(), 0, n);
        assert_eq!(deltas, vec![
            json!([{"role": "assistant", "tool_calls": [{"index": 0, "id": call_id(0), "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}, null]),
            json!([{"tool_calls": [{"index": 1, "id": call_id(1), "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}, null]),
            json!([{}, "tool_calls"]),
        ]);
        assert!(out[0]["id"].as_str().unwrap().starts_with("gemini-") && out.iter().all(|c| c["id"] == out[0]["id"] && c["model"] == "gemini-2.5-flash"));
        assert_eq!(s.usage().unwrap().output_tokens, 12);

        let (out, s) = run_stream("data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"},\"usageMetadata\": {\"promptTokenCount\": 7}}\n\n", 9);
        assert_eq!(out[0]["choices"][0]["finish_reason"], "content_filter");
        assert!(s.is_complete());

        let mut s = GeminiStream::new("gemini", "m");
        let ev = |d: &str| SseEvent { event: String::new(), data: d.to_string() };
        let err = s.on_event(&ev(r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#)).unwrap_err();
        assert!(matches!(err, UpstreamError::Status { status: 503, .. }));
        assert!(s.on_event(&ev("not json")).is_err());
        assert!(!s.is_complete());
    }

    #[test]
    fn embeddings_translate_both_ways() {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "gemini-embedding-001", api_key: Some("AIzaTestKey") };
        let req = EmbeddingsRequest::parse(br#"{"model": "embed", "input": ["a", "b"], "dimensions": 768}"#).unwrap();
        let up = Gemini.embeddings_request(&target, &req).unwrap();
        assert_eq!(up.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents");
        assert_eq!(serde_json::from_str::<Value>(&up.body).unwrap(), json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 768},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 768}]}));
        let one = EmbeddingsRequest::parse(br#"{"model": "embed", "input": "a"}"#).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&Gemini.embeddings_request(&target, &one).unwrap().body).unwrap()["requests"],
            json!([{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}}]), "one text, not in a list");
        let tokens = EmbeddingsRequest::parse(br#"{"model": "embed", "input": [1, 2, 3]}"#).unwrap();
        assert_eq!(Gemini.embeddings_request(&target, &tokens).unwrap_err().param.as_deref(), Some("input"));

        let a = Gemini.embeddings_response(&target, br#"{"embeddings": [{"values": [0.0, -1.0]}, {"values": [1.0, 0.0]}]}"#.to_vec()).unwrap();
        assert_eq!(a.usage, None);
        assert_eq!(serde_json::from_slice::<Value>(&a.into_bytes()).unwrap(), json!({"object": "list", "model": "gemini-embedding-001", "usage": {"prompt_tokens": 0, "total_tokens": 0}, "data": [
            {"object": "embedding", "index": 0, "embedding": [0.0, -1.0]}, {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}]}));
        assert!(Gemini.embeddings_response(&target, br#"{"embeddings": [{}]}"#.to_vec()).is_err());
        assert!(Gemini.embeddings_response(&target, br#"{"embeddings": [{"values": [1.0, "x"]}]}"#.to_vec()).is_err());
    }

    #[test]
    fn embeddings_are_scaled_to_unit_length() {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "gemini-embedding-001", api_key: None };
        let a = Gemini.embeddings_response(&target, br#"{"embeddings": [{"values": [3.0, 4.0]}, {"values": [0.0, 0.0]}]}"#.to_vec()).unwrap();
        let body: Value = serde_json::from_slice(&a.into_bytes()).unwrap();
        assert_eq!(body["data"][0]["embedding"], json!([0.6, 0.8]));
        assert_eq!(body["data"][1]["embedding"], json!([0.0, 0.0]), "a zero vector is left as it is");
    }

    #[test]
    fn embeddings_go_to_google_in_batches_of_at_most_100() {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "gemini-embedding-001", api_key: None };
        let texts: Vec<String> = (0..101).map(|i| format!("doc {i}")).collect();
        let req = EmbeddingsRequest::parse(json!({"model": "embed", "input": texts}).to_string().as_bytes()).unwrap();
        let batches = super::super::embeddings_batches(&req, Gemini.embeddings_batch_limit());
        let sizes: Vec<usize> = batches
            .iter()
            .map(|b| serde_json::from_str::<Value>(&Gemini.embeddings_request(&target, b).unwrap().body).unwrap()["requests"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![100, 1]);
    }
}
