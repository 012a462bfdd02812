//! OpenAI's Responses API (`POST /v1/responses`) as a second front door to the chat pipeline.
//!
//! A Responses request is translated into the chat request it means (its `input` items into
//! messages, `instructions` into a system message, its flat tool and format shapes into chat's
//! nested ones), routed, priced and cached as any chat request is, and its answer translated
//! back: a chat completion into a `response` object, a chat stream into the Responses event
//! stream (`response.created` … `response.completed`). Every provider behind the router serves
//! it, since each already speaks chat to the router.
//!
//! An answer is kept, unless the request sets `store` to false or the tenant's policy says
//! `responses.store_days = 0`: its output items, which a later request may name by reference
//! ([`stored_items`]), and the turn, which a later request may continue by its
//! `previous_response_id` ([`earlier_turns`]) and a client may retrieve or delete by id. What
//! needs more state than that is refused with a clear message rather than half-served:
//! `conversation` objects, stored prompts, background runs and the hosted tools (web and file
//! search, code interpreter…).

pub mod earlier_turns;
pub mod stored_items;

use serde_json::{json, Map, Value};

use super::chat::ChatRequest;
use super::chat_events::{ChatEventReader, ChatStreamRewrite};
use super::error::ApiError;
use super::required_string;

/// Every top-level parameter the Responses API defines; any other is refused, as OpenAI does.
const KNOWN_PARAMETERS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "text",
    "reasoning",
    "stream",
    "stream_options",
    "store",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    "truncation",
    "include",
    "previous_response_id",
    "conversation",
    "prompt",
    "background",
];

/// Parameters that need state the router does not keep, and why they are refused.
const STATEFUL_PARAMETERS: &[(&str, &str)] = &[
    ("conversation", "this router stores no conversations; send the whole conversation in 'input'"),
    ("prompt", "this router stores no prompt templates; send the prompt in 'instructions' and 'input'"),
];

/// Chat parameters a Responses request carries under the same name and meaning.
const SAME_NAMED: &[&str] = &[
    "stream",
    "metadata",
    "user",
    "safety_identifier",
    "temperature",
    "top_p",
    "service_tier",
    "parallel_tool_calls",
    "prompt_cache_key",
    "prompt_cache_retention",
];

/// The request echoed in every `response` object (as OpenAI's are): its settings, with the
/// defaults a client reads when it set none.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
];

/// A Responses request as the chat pipeline serves it, and what its answer repeats of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub chat: ChatRequest,
    pub echo: ResponseEcho,
}

/// What a `response` object says of the request that asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEcho {
    /// The model the client named: a stream's first events name it when the first chunk names
    /// none (Azure's is empty), and the end names the one served.
    model: String,
    fields: Map<String, Value>,
    /// The request's own input items, kept with its answer as the turn (none unless it is kept).
    input: Vec<Value>,
}

/// The ids of one response and its output items, derived from the router's request id so that
/// the two can be matched in logs (`req_ab12…` answers as `resp_ab12…`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseIds {
    base: String,
}

impl ResponseIds {
    pub fn for_request(request_id: &str) -> Self {
        Self { base: request_id.strip_prefix("req_").unwrap_or(request_id).to_string() }
    }

    pub fn response(&self) -> String {
        format!("resp_{}", self.base)
    }

    pub(crate) fn message(&self) -> String {
        format!("msg_{}", self.base)
    }

    fn reasoning(&self) -> String {
        format!("rs_{}", self.base)
    }

    fn call(&self, n: usize) -> String {
        format!("fc_{}_{n}", self.base)
    }
}

/// Parses a `/v1/responses` body into the chat request it means. `keeping`: whether the router
/// keeps the answer (its output items and the turn) when the request lets it (`store` not false),
/// which the response's `store` then says. A body naming a `previous_response_id` is refused: no
/// earlier turns are read here (see [`from_value`]).
pub fn parse(body: &[u8], keeping: bool) -> Result<ResponsesRequest, ApiError> {
    from_value(super::parse_json_object(body)?, keeping, None)
}

/// [`parse`] of a body already read as JSON (with its references resolved, `stored_items`), and
/// `earlier`: the items of the earlier turns its `previous_response_id` names, read by the caller
/// (`earlier_turns`), which come before its own input.
pub fn from_value(value: Value, keeping: bool, earlier: Option<Vec<Value>>) -> Result<ResponsesRequest, ApiError> {
    check_parameters(&value)?;
    let Value::Object(mut asked) = value else { return Err(ApiError::invalid_request("The request body must be a JSON object.")) };
    let model = match asked.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("model")),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(ApiError::invalid_value("model", "'model' must be a string.")),
    };
    let input = match asked.get("input") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("input")),
        Some(input) => input,
    };
    let previous = earlier_turns::previous_response_id(asked.get("previous_response_id"))?;
    let mut messages = Vec::new();
    match asked.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(_) => return Err(ApiError::invalid_value("instructions", "'instructions' must be a string.")),
    }
    match (&previous, earlier) {
        (None, _) => {}
        (Some(named), None) if !keeping => return Err(earlier_turns::not_found(named, "this tenant's responses are not kept (its policy's responses.store_days is 0)")),
        (Some(named), None) => return Err(earlier_turns::not_found(named, "no responses are kept where this request was read")),
        // The earlier turns' items are the router's own, as kept: one that does not read is the
        // router's fault, not the client's.
        (Some(named), Some(earlier)) => messages.extend(
            input_messages(&Value::Array(earlier)).map_err(|e| ApiError::internal(format!("The conversation that response '{named}' ends could not be read: {}", e.message)))?,
        ),
    }
    messages.extend(input_messages(input)?);

    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    chat.insert("messages".into(), Value::Array(messages));
    for name in SAME_NAMED {
        if let Some(v) = asked.get(*name).filter(|v| !v.is_null()) {
            chat.insert((*name).into(), v.clone());
        }
    }
    if let Some(cap) = asked.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_completion_tokens".into(), cap.clone());
    }
    if let Some(n) = asked.get("top_logprobs").filter(|v| !v.is_null()) {
        // None asked for (0) is no request for log probabilities: a rule's route would pass
        // over models without them.
        if n.as_u64() != Some(0) {
            chat.insert("logprobs".into(), Value::Bool(true));
        }
        chat.insert("top_logprobs".into(), n.clone());
    }
    if includes(&asked, "message.output_text.logprobs")? {
        chat.insert("logprobs".into(), Value::Bool(true));
    }
    if asked.get("stream") == Some(&Value::Bool(true)) {
        // The usage chunk is what the final `response.completed` reports.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    } else if asked.get("stream_options").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid_value("stream_options", "'stream_options' is only allowed when 'stream' is true."));
    }
    if let Some(reasoning) = asked.get("reasoning").filter(|v| !v.is_null()) {
        let Some(reasoning) = reasoning.as_object() else { return Err(ApiError::invalid_value("reasoning", "'reasoning' must be an object.")) };
        match reasoning.get("effort") {
            None | Some(Value::Null) => {}
            Some(effort @ Value::String(_)) => {
                chat.insert("reasoning_effort".into(), effort.clone());
            }
            Some(_) => return Err(ApiError::invalid_value("reasoning.effort", "'reasoning.effort' must be a string.")),
        }
    }
    let mut text_echo = json!({"format": {"type": "text"}});
    if let Some(text) = asked.get("text").filter(|v| !v.is_null()) {
        let Some(text) = text.as_object() else { return Err(ApiError::invalid_value("text", "'text' must be an object.")) };
        if let Some(format) = text.get("format").filter(|v| !v.is_null()) {
            chat.insert("response_format".into(), response_format(format)?);
            text_echo["format"] = format.clone();
        }
        if let Some(verbosity) = text.get("verbosity").filter(|v| !v.is_null()) {
            chat.insert("verbosity".into(), verbosity.clone());
            text_echo["verbosity"] = verbosity.clone();
        }
    }
    if let Some(tools) = super::translated_tools(&asked, chat_tool)? {
        chat.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = asked.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), chat_tool_choice(choice)?);
    }
    if !chat.contains_key("tools") {
        // The Responses API takes these without tools (the Agents SDK sends them so); chat
        // refuses them ("only allowed when 'tools' are specified").
        chat.remove("parallel_tool_calls");
        chat.remove("tool_choice");
    }
    match asked.get("truncation") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "disabled" || t == "auto" => {}
        Some(_) => return Err(ApiError::invalid_value("truncation", "'truncation' must be 'auto' or 'disabled'.")),
    }

    let chat = ChatRequest::from_value(Value::Object(chat)).map_err(in_responses_terms)?;
    let mut fields = Map::new();
    for name in ECHOED {
        fields.insert((*name).into(), asked.get(*name).cloned().unwrap_or(Value::Null));
    }
    fields.insert("metadata".into(), asked.get("metadata").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!({})));
    fields.insert("parallel_tool_calls".into(), asked.get("parallel_tool_calls").filter(|v| !v.is_null()).cloned().unwrap_or(Value::Bool(true)));
    fields.insert("tool_choice".into(), asked.get("tool_choice").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!("auto")));
    fields.insert("tools".into(), asked.get("tools").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| json!([])));
    // `auto` is taken but nothing is dropped: the response says what was done.
    fields.insert("truncation".into(), json!("disabled"));
    fields.insert("text".into(), text_echo);
    fields.insert("reasoning".into(), json!({"effort": chat.reasoning_effort(), "summary": null}));
    fields.insert("previous_response_id".into(), previous.map_or(Value::Null, Value::String));
    fields.insert("background".into(), Value::Bool(false));
    let store_asked = match asked.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(store)) => *store,
        Some(_) => return Err(ApiError::invalid_value("store", "'store' must be a boolean.")),
    };
    let stores = keeping && store_asked;
    fields.insert("store".into(), Value::Bool(stores));
    let input = if stores { asked.remove("input").map(earlier_turns::own_items).unwrap_or_default() } else { Vec::new() };
    Ok(ResponsesRequest { chat, echo: ResponseEcho { model, fields, input } })
}

/// The refusals a body earns by its parameters' names alone (unknown, or needing state the router
/// does not keep): checked before anything it names is read from the store, so that such a body
/// costs no call and hears what is wrong with it first.
pub fn check_parameters(body: &Value) -> Result<(), ApiError> {
    let Some(asked) = body.as_object() else { return Ok(()) };
    if let Some(unknown) = asked.keys().find(|k| !KNOWN_PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::unknown_parameter(unknown));
    }
    for (name, why) in STATEFUL_PARAMETERS {
        if asked.get(*name).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported_parameter(name, &format!("'{name}' is not supported: {why}.")));
        }
    }
    if asked.get("background").is_some_and(|v| v == &Value::Bool(true)) {
        return Err(ApiError::unsupported_parameter(
            "background",
            "'background' is not supported: this router answers while the request is open and stores no responses to poll.",
        ));
    }
    Ok(())
}

/// A chat request's refusal in the names the client used: `max_completion_tokens` is its
/// `max_output_tokens`, a message is somewhere in its `input` (instructions and joined calls
/// make the indexes differ, so none is given).
fn in_responses_terms(err: ApiError) -> ApiError {
    err.with_param_renamed(|param| {
        Some(if let Some(rest) = param.strip_prefix("max_completion_tokens") {
            format!("max_output_tokens{rest}")
        } else if let Some(rest) = param.strip_prefix("reasoning_effort") {
            format!("reasoning.effort{rest}")
        } else if let Some(rest) = param.strip_prefix("response_format") {
            format!("text.format{}", rest.strip_prefix(".json_schema").unwrap_or(rest))
        } else if param.starts_with("messages") {
            "input".to_string()
        } else if param.starts_with("tools[") {
            param.replacen(".function.", ".", 1).replacen(".custom.", ".", 1)
        } else {
            return None;
        })
    })
}

/// Whether `include` names `what` (its other values concern hosted tools or encrypted reasoning,
/// which the router has none of: there is nothing to include).
fn includes(asked: &Map<String, Value>, what: &str) -> Result<bool, ApiError> {
    match asked.get("include") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Array(items)) => {
            if let Some(i) = items.iter().position(|v| !v.is_string()) {
                return Err(ApiError::invalid_value(&format!("include[{i}]"), "Each 'include' value must be a string."));
            }
            Ok(items.iter().any(|v| v == what))
        }
        Some(_) => Err(ApiError::invalid_value("include", "'include' must be an array of strings.")),
    }
}

/// The chat messages `input` means: a string is one user message; items are messages, function
/// calls (joined to the assistant turn before them, as a chat assistant message carries its tool
/// calls) and their outputs. Reasoning items are dropped: a reasoning model's thoughts are not
/// sent back through chat, and another provider could not read them.
fn input_messages(input: &Value) -> Result<Vec<Value>, ApiError> {
    let items = match input {
        Value::String(text) => return Ok(vec![json!({"role": "user", "content": text})]),
        Value::Array(items) => items,
        _ => return Err(ApiError::invalid_value("input", "'input' must be a string or an array of input items.")),
    };
    if items.is_empty() {
        return Err(ApiError::invalid_value("input", "'input' must contain at least one item."));
    }
    let mut messages: Vec<Value> = Vec::with_capacity(items.len());
    // Images and files from tool outputs: a chat tool message holds text only (OpenAI refuses
    // other parts there), so they follow the run of tool messages as one user message.
    let mut from_tools: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("input[{i}]");
        let Some(obj) = item.as_object() else { return Err(ApiError::invalid_value(&at, format!("'{at}' must be an object."))) };
        let kind = match obj.get("type") {
            // OpenAI's short form of a reference: an id, and neither a type nor a role.
            None | Some(Value::Null) if obj.get("role").is_none_or(Value::is_null) && obj.get("id").is_some_and(|id| !id.is_null()) => "item_reference",
            None | Some(Value::Null) => "message",
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(ApiError::invalid_value(&format!("{at}.type"), format!("'{at}.type' must be a string."))),
        };
        if !matches!(kind, "function_call_output" | "custom_tool_call_output") && !from_tools.is_empty() {
            messages.push(json!({"role": "user", "content": std::mem::take(&mut from_tools)}));
        }
        match kind {
            "message" => messages.push(message(&at, obj)?),
            "function_call" | "custom_tool_call" => {
                let call = tool_call(&at, kind, obj)?;
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        let calls = last.as_object_mut().expect("a message is an object").entry("tool_calls").or_insert_with(|| json!([]));
                        calls.as_array_mut().expect("tool_calls is an array").push(call);
                    }
                    _ => messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = required_string(&at, obj, "call_id")?;
                let content = match obj.get("output") {
                    Some(Value::String(text)) => Value::String(text.clone()),
                    Some(Value::Array(parts)) => {
                        let parts = parts.iter().enumerate().map(|(j, p)| content_part(&format!("{at}.output[{j}]"), p)).collect::<Result<Vec<_>, _>>()?;
                        let (text, other): (Vec<Value>, Vec<Value>) = parts.into_iter().partition(|p| p["type"] == "text");
                        let attached = !other.is_empty();
                        from_tools.extend(other);
                        match (text.is_empty(), attached) {
                            (false, _) => Value::Array(text),
                            // Providers refuse an empty tool result.
                            (true, true) => Value::String("The output is attached in the next message.".into()),
                            (true, false) => Value::String(String::new()),
                        }
                    }
                    None | Some(Value::Null) => return Err(ApiError::missing_field(&format!("{at}.output"))),
                    Some(_) => return Err(ApiError::invalid_value(&format!("{at}.output"), format!("'{at}.output' must be a string or an array of content parts."))),
                };
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
            }
            "reasoning" => {}
            "item_reference" => {
                return Err(ApiError::invalid_value(
                    &format!("{at}.type"),
                    "Items referenced by id are not kept for this tenant (its policy's responses.store_days is 0, or the router has no ResponseItems binding): send the item itself, or set 'store' to false so that your SDK does (the Vercel AI SDK: providerOptions.openai.store = false).",
                ));
            }
            other => {
                return Err(ApiError::invalid_value(
                    &format!("{at}.type"),
                    format!("Input items of type '{other}' are not supported: this router serves messages, function and custom tool calls and their outputs."),
                ))
            }
        }
    }
    if !from_tools.is_empty() {
        messages.push(json!({"role": "user", "content": from_tools}));
    }
    Ok(messages)
}

fn message(at: &str, obj: &Map<String, Value>) -> Result<Value, ApiError> {
    let role = required_string(at, obj, "role")?;
    if !matches!(role, "user" | "system" | "developer" | "assistant") {
        return Err(ApiError::invalid_value(&format!("{at}.role"), format!("'{at}.role' must be one of 'user', 'system', 'developer' or 'assistant'.")));
    }
    let content = match obj.get("content") {
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(parts)) if role == "assistant" => return assistant_message(at, parts),
        Some(Value::Array(parts)) => Value::Array(parts.iter().enumerate().map(|(j, p)| content_part(&format!("{at}.content[{j}]"), p)).collect::<Result<_, _>>()?),
        None | Some(Value::Null) => return Err(ApiError::missing_field(&format!("{at}.content"))),
        Some(_) => return Err(ApiError::invalid_value(&format!("{at}.content"), format!("'{at}.content' must be a string or an array of content parts."))),
    };
    Ok(json!({"role": role, "content": content}))
}

/// An earlier answer sent back: its text parts joined (assistant turns are text to every
/// provider), a refusal kept as chat's `refusal`.
fn assistant_message(at: &str, parts: &[Value]) -> Result<Value, ApiError> {
    let mut text = String::new();
    let mut refusal = None;
    for (j, part) in parts.iter().enumerate() {
        let part_at = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("output_text" | "input_text" | "text") => text.push_str(required_string(&part_at, part.as_object().expect("typed parts are objects"), "text")?),
            Some("refusal") => refusal = Some(required_string(&part_at, part.as_object().expect("typed parts are objects"), "refusal")?.to_string()),
            _ => return Err(ApiError::invalid_value(&format!("{part_at}.type"), format!("An assistant message's parts must be 'output_text' or 'refusal' ('{part_at}')."))),
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if let Some(refusal) = refusal {
        message["refusal"] = Value::String(refusal);
        if text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    Ok(message)
}

/// A user, system or tool-output content part in chat's form.
fn content_part(at: &str, part: &Value) -> Result<Value, ApiError> {
    let Some(obj) = part.as_object() else { return Err(ApiError::invalid_value(at, format!("'{at}' must be an object."))) };
    let kind = required_string(at, obj, "type")?;
    match kind {
        "input_text" | "output_text" | "text" => Ok(json!({"type": "text", "text": required_string(at, obj, "text")?})),
        "input_image" => {
            if obj.get("file_id").is_some_and(|v| !v.is_null()) && obj.get("image_url").is_none_or(Value::is_null) {
                return Err(ApiError::invalid_value(&format!("{at}.file_id"), "Images by 'file_id' are not supported: this router stores no files; send the image as a URL or a data URL in 'image_url'."));
            }
            let mut image = json!({"url": required_string(at, obj, "image_url")?});
            if let Some(detail) = obj.get("detail").filter(|v| !v.is_null()) {
                image["detail"] = detail.clone();
            }
            Ok(json!({"type": "image_url", "image_url": image}))
        }
        "input_file" => {
            if obj.get("file_data").is_none_or(Value::is_null) {
                return Err(ApiError::invalid_value(at, "Files by 'file_id' or 'file_url' are not supported: this router stores and fetches no files; send the file's contents in 'file_data'."));
            }
            let mut file = Map::new();
            for name in ["file_data", "filename"] {
                if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
                    file.insert(name.into(), v.clone());
                }
            }
            Ok(json!({"type": "file", "file": file}))
        }
        "input_audio" => Ok(json!({"type": "input_audio", "input_audio": obj.get("input_audio").cloned().unwrap_or(Value::Null)})),
        other => Err(ApiError::invalid_value(&format!("{at}.type"), format!("Content parts of type '{other}' are not supported ('{at}').")))
    }
}

fn tool_call(at: &str, kind: &str, obj: &Map<String, Value>) -> Result<Value, ApiError> {
    let call_id = required_string(at, obj, "call_id")?;
    let name = required_string(at, obj, "name")?;
    Ok(if kind == "function_call" {
        json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": required_string(at, obj, "arguments")?}})
    } else {
        json!({"id": call_id, "type": "custom", "custom": {"name": name, "input": required_string(at, obj, "input")?}})
    })
}

/// A Responses tool (flat: `{"type":"function","name",...}`) in chat's nested form.
fn chat_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let at = format!("tools[{i}]");
    let Some(obj) = tool.as_object() else { return Err(ApiError::invalid_value(&at, format!("'{at}' must be an object."))) };
    let kind = required_string(&at, obj, "type")?;
    let inner_name = match kind {
        "function" => "function",
        "custom" => "custom",
        other => {
            return Err(ApiError::invalid_value(
                &format!("{at}.type"),
                format!("Tools of type '{other}' are not supported: the hosted tools run on OpenAI's servers, and this router serves function and custom tools only."),
            ))
        }
    };
    required_string(&at, obj, "name")?;
    let mut inner: Map<String, Value> = obj.iter().filter(|(k, v)| k.as_str() != "type" && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(format) = inner.get_mut("format").filter(|f| f["type"] == "grammar") {
        // A grammar's `syntax` and `definition` sit beside its type in the Responses API and
        // inside `grammar` in chat's (Codex's apply_patch tool is one).
        let format = format.as_object_mut().expect("a grammar format is an object");
        let grammar: Map<String, Value> = ["syntax", "definition"].into_iter().filter_map(|k| format.remove(k).map(|v| (k.to_string(), v))).collect();
        format.insert("grammar".into(), Value::Object(grammar));
    }
    Ok(json!({"type": kind, inner_name: inner}))
}

fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    let named = |kind: &str, obj: &Map<String, Value>, at: &str| -> Result<Value, ApiError> { Ok(json!({"type": kind, kind: {"name": required_string(at, obj, "name")?}})) };
    match choice {
        Value::String(_) => Ok(choice.clone()),
        Value::Object(obj) => match obj.get("type").and_then(Value::as_str) {
            Some(kind @ ("function" | "custom")) => named(kind, obj, "tool_choice"),
            Some("allowed_tools") => {
                let tools = obj.get("tools").and_then(Value::as_array).ok_or_else(|| ApiError::missing_field("tool_choice.tools"))?;
                let tools = tools
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let at = format!("tool_choice.tools[{i}]");
                        let tool = t.as_object().ok_or_else(|| ApiError::invalid_value(&at, format!("'{at}' must be an object.")))?;
                        match tool.get("type").and_then(Value::as_str) {
                            Some(kind @ ("function" | "custom")) => named(kind, tool, &at),
                            _ => Err(ApiError::invalid_value(&format!("{at}.type"), "Allowed tools must be function or custom tools.")),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mode = obj.get("mode").cloned().unwrap_or_else(|| json!("auto"));
                Ok(json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}))
            }
            _ => Err(ApiError::invalid_value("tool_choice", "'tool_choice' must be 'none', 'auto', 'required', a function or custom tool, or allowed tools; hosted tools are not supported.")),
        },
        _ => Err(ApiError::invalid_value("tool_choice", "'tool_choice' must be a string or an object.")),
    }
}

/// `text.format` in chat's `response_format` form (a JSON schema's fields nest in `json_schema`).
fn response_format(format: &Value) -> Result<Value, ApiError> {
    let Some(obj) = format.as_object() else { return Err(ApiError::invalid_value("text.format", "'text.format' must be an object.")) };
    match required_string("text.format", obj, "type")? {
        "text" | "json_object" => Ok(format.clone()),
        "json_schema" => {
            required_string("text.format", obj, "name")?;
            let inner: Map<String, Value> = obj.iter().filter(|(k, v)| k.as_str() != "type" && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
            Ok(json!({"type": "json_schema", "json_schema": inner}))
        }
        other => Err(ApiError::invalid_value("text.format.type", format!("'text.format.type' must be 'text', 'json_object' or 'json_schema', not '{other}'."))),
    }
}

/// How an answer ended, as a `response` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
}

impl Ending {
    fn of(finish_reason: Option<&str>) -> Self {
        match finish_reason {
            Some("length") => Self::Incomplete("max_output_tokens"),
            Some("content_filter") => Self::Incomplete("content_filter"),
            _ => Self::Completed,
        }
    }

    /// The response's status, and its items'.
    fn status(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
        }
    }
}

impl ResponseEcho {
    /// Whether the answer is kept (`store` not `false`, and the tenant keeps answers).
    pub fn stores(&self) -> bool {
        self.fields.get("store") == Some(&Value::Bool(true))
    }

    /// The answer is kept nowhere (its route is held to regions): the response says `store: false`.
    pub fn store_nothing(&mut self) {
        self.fields.insert("store".into(), Value::Bool(false));
        self.input = Vec::new();
    }

    /// What of `response` (this echo's answer, ended) to keep, with the request's own input.
    pub fn kept(&mut self, response: &Value) -> stored_items::Kept {
        stored_items::to_keep(response, std::mem::take(&mut self.input))
    }

    /// A `response` object: the echoed request, then what was answered.
    fn response(&self, ids: &ResponseIds, created_at: i64, model: &str, status: &str, output: Vec<Value>, usage: Option<Value>) -> Value {
        let mut response = json!({
            "id": ids.response(),
            "object": "response",
            "created_at": created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": model,
            "output": output,
            "usage": usage,
        });
        let obj = response.as_object_mut().expect("a response is an object");
        for (k, v) in &self.fields {
            obj.insert(k.clone(), v.clone());
        }
        response
    }
}

/// A chat completion (the router's answer to the translated request) as a `response` object.
pub fn from_completion(completion: &Value, echo: &ResponseEcho, ids: &ResponseIds) -> Value {
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let ending = Ending::of(choice["finish_reason"].as_str());
    let mut output = Vec::new();
    let (thought, text) = thought_and_text(message);
    if !thought.is_empty() {
        output.push(reasoning_item(ids, &thought, ending.status()));
    }
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(output_text(&text, output_logprobs(&choice["logprobs"]["content"])));
    }
    if let Some(refusal) = message["refusal"].as_str().filter(|t| !t.is_empty()) {
        parts.push(json!({"type": "refusal", "refusal": refusal}));
    }
    if !parts.is_empty() {
        output.push(json!({"type": "message", "id": ids.message(), "status": ending.status(), "role": "assistant", "content": parts}));
    }
    for (n, call) in message["tool_calls"].as_array().into_iter().flatten().enumerate() {
        output.push(call_item(ids.call(n), call, ending.status()));
    }
    let created_at = completion["created"].as_i64().unwrap_or(0);
    let model = completion["model"].as_str().unwrap_or(&echo.model);
    let mut response = echo.response(ids, created_at, model, ending.status(), output, completion.get("usage").filter(|u| u.is_object()).map(responses_usage));
    if let Ending::Incomplete(reason) = ending {
        response["incomplete_details"] = json!({"reason": reason});
    }
    if let Some(tier) = completion["service_tier"].as_str() {
        // The tier that served it (and was billed), as OpenAI's response says: not the one asked.
        response["service_tier"] = json!(tier);
    }
    response
}

/// A chat message's (or delta's) reasoning and answer text. Reasoning: DeepSeek's and vLLM's
/// `reasoning_content`, OpenRouter's and Groq's `reasoning`. Content is a string, or parts
/// (Mistral's reasoning models: `text` parts, and `thinking` parts holding text parts of their
/// own, which are reasoning too).
pub(crate) fn thought_and_text(message: &Value) -> (String, String) {
    let mut thought = message["reasoning_content"].as_str().or_else(|| message["reasoning"].as_str()).unwrap_or_default().to_string();
    let mut text = String::new();
    match &message["content"] {
        Value::String(s) => text.push_str(s),
        Value::Array(parts) => {
            for part in parts {
                if let Some(s) = part["text"].as_str() {
                    text.push_str(s);
                }
                for inner in part["thinking"].as_array().into_iter().flatten() {
                    thought.push_str(inner["text"].as_str().unwrap_or_default());
                }
            }
        }
        _ => {}
    }
    (thought, text)
}

fn reasoning_item(ids: &ResponseIds, text: &str, status: &str) -> Value {
    json!({"type": "reasoning", "id": ids.reasoning(), "summary": [], "content": [{"type": "reasoning_text", "text": text}], "status": status})
}

fn output_text(text: &str, logprobs: Vec<Value>) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs})
}

fn call_item(id: String, call: &Value, status: &str) -> Value {
    let call_id = call["id"].as_str().unwrap_or_default();
    if call["type"] == "custom" {
        let custom = &call["custom"];
        json!({"type": "custom_tool_call", "id": id, "call_id": call_id, "name": custom["name"].as_str().unwrap_or_default(), "input": custom["input"].as_str().unwrap_or_default(), "status": status})
    } else {
        let function = &call["function"];
        json!({"type": "function_call", "id": id, "call_id": call_id, "name": function["name"].as_str().unwrap_or_default(), "arguments": function["arguments"].as_str().unwrap_or_default(), "status": status})
    }
}

/// Chat's per-token log probabilities in the Responses form, whose `bytes` are never null.
fn output_logprobs(content: &Value) -> Vec<Value> {
    let one = |lp: &Value| {
        let token = lp["token"].as_str().unwrap_or_default();
        let bytes = lp.get("bytes").filter(|b| b.is_array()).cloned().unwrap_or_else(|| json!(token.as_bytes()));
        json!({"token": token, "logprob": lp["logprob"], "bytes": bytes})
    };
    content
        .as_array()
        .into_iter()
        .flatten()
        .map(|lp| {
            let mut entry = one(lp);
            entry["top_logprobs"] = Value::Array(lp["top_logprobs"].as_array().into_iter().flatten().map(one).collect());
            entry
        })
        .collect()
}

/// Chat usage (`prompt_tokens`, ...) in the Responses form (`input_tokens`, ...).
fn responses_usage(usage: &Value) -> Value {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let input = count(&usage["prompt_tokens"]);
    let output = count(&usage["completion_tokens"]);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": count(&usage["prompt_tokens_details"]["cached_tokens"])},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": count(&usage["completion_tokens_details"]["reasoning_tokens"])},
        "total_tokens": usage["total_tokens"].as_u64().unwrap_or(input + output),
    })
}

/// Rewrites the router's chat event stream as the Responses event stream, piece by piece.
///
/// Items open as their first delta arrives (reasoning, the message's text or refusal part, each
/// tool call by its chat index) and stay open until the answer ends, so a provider that
/// interleaves its tool calls' deltas is followed; then each is closed in order and the response
/// completes. The router's cost trailer (an SSE comment) passes through as it is; its error
/// event becomes an `error` event and `response.failed`.
#[derive(Debug)]
pub struct ResponsesStream {
    echo: ResponseEcho,
    ids: ResponseIds,
    created_at: i64,
    model: String,
    reader: ChatEventReader,
    sequence: u64,
    started: bool,
    ended: bool,
    items: Vec<StreamItem>,
    reasoning_at: Option<usize>,
    message_at: Option<usize>,
    /// (chat tool-call index, position in `items`).
    calls_at: Vec<(u64, usize)>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    /// The tier that served the answer, as its chunks say.
    service_tier: Option<String>,
    /// What to keep, once the answer has ended (`stored_items::to_keep`).
    kept: stored_items::Kept,
}

#[derive(Debug)]
enum StreamItem {
    Reasoning { text: String },
    Message { parts: Vec<StreamPart> },
    Call { id: String, call_id: String, name: String, custom: bool, arguments: String },
}

#[derive(Debug)]
struct StreamPart {
    refusal: bool,
    text: String,
    logprobs: Vec<Value>,
}

impl ChatStreamRewrite for ResponsesStream {
    fn reader(&mut self) -> &mut ChatEventReader {
        &mut self.reader
    }

    fn ended(&self) -> bool {
        self.ended
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if !self.started {
            if let Some(model) = chunk["model"].as_str().filter(|m| !m.is_empty()) {
                self.model = model.to_string();
            }
            if let Some(created) = chunk["created"].as_i64().filter(|c| *c > 0) {
                self.created_at = created;
            }
        }
        self.start(out);
        if let Some(model) = chunk["model"].as_str().filter(|m| !m.is_empty()) {
            self.model = model.to_string();
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some(tier) = chunk["service_tier"].as_str() {
            self.service_tier = Some(tier.to_string());
        }
        let Some(choice) = chunk["choices"].as_array().and_then(|c| c.iter().find(|c| c["index"].as_u64().unwrap_or(0) == 0)) else { return };
        let delta = &choice["delta"];
        let (thought, text) = thought_and_text(delta);
        if !thought.is_empty() {
            self.reasoning_delta(&thought, out);
        }
        if !text.is_empty() {
            self.text_delta(false, &text, output_logprobs(&choice["logprobs"]["content"]), out);
        }
        if let Some(refusal) = delta["refusal"].as_str().filter(|t| !t.is_empty()) {
            self.text_delta(true, refusal, Vec::new(), out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.call_delta(call, out);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        let ending = Ending::of(self.finish_reason.as_deref());
        let output = self.close_items(ending.status(), Some(out));
        let usage = self.usage.as_ref().map(responses_usage);
        let kind = match ending {
            Ending::Completed => "response.completed",
            Ending::Incomplete(_) => "response.incomplete",
        };
        let mut response = self.echo.response(&self.ids, self.created_at, &self.model, ending.status(), output, usage);
        if let Ending::Incomplete(reason) = ending {
            response["incomplete_details"] = json!({"reason": reason});
        }
        if let Some(tier) = &self.service_tier {
            response["service_tier"] = json!(tier);
        }
        self.kept = self.echo.kept(&response);
        self.event(out, kind, json!({"response": response}));
        self.ended = true;
    }

    fn kept(&mut self) -> stored_items::Kept {
        std::mem::take(&mut self.kept)
    }

    /// The answer failed after it began: an `error` event, then the response as far as it got.
    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        self.start(out);
        self.event(out, "error", json!({"code": "server_error", "message": message, "param": null}));
        let output = self.close_items("incomplete", None);
        let usage = self.usage.as_ref().map(responses_usage);
        let mut response = self.echo.response(&self.ids, self.created_at, &self.model, "failed", output, usage);
        response["error"] = json!({"code": "server_error", "message": message});
        // Nothing of a failed answer is kept (its items may be cut short): it says so.
        response["store"] = json!(false);
        self.event(out, "response.failed", json!({"response": response}));
        self.ended = true;
    }
}

impl ResponsesStream {
    pub fn new(echo: ResponseEcho, ids: ResponseIds, created_at: i64) -> Self {
        let model = echo.model.clone();
        Self {
            echo,
            ids,
            created_at,
            model,
            reader: ChatEventReader::default(),
            sequence: 0,
            started: false,
            ended: false,
            items: Vec::new(),
            reasoning_at: None,
            message_at: None,
            calls_at: Vec::new(),
            finish_reason: None,
            usage: None,
            service_tier: None,
            kept: Default::default(),
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.echo.response(&self.ids, self.created_at, &self.model, "in_progress", Vec::new(), None);
        self.event(out, "response.created", json!({"response": response.clone()}));
        self.event(out, "response.in_progress", json!({"response": response}));
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        let at = match self.reasoning_at {
            Some(at) => at,
            None => {
                let at = self.open(StreamItem::Reasoning { text: String::new() }, json!({"type": "reasoning", "id": self.ids.reasoning(), "summary": [], "content": []}), out);
                self.reasoning_at = Some(at);
                let id = self.ids.reasoning();
                self.event(out, "response.content_part.added", json!({"item_id": id, "output_index": at, "content_index": 0, "part": {"type": "reasoning_text", "text": ""}}));
                at
            }
        };
        if let StreamItem::Reasoning { text } = &mut self.items[at] {
            text.push_str(delta);
        }
        let id = self.ids.reasoning();
        self.event(out, "response.reasoning_text.delta", json!({"item_id": id, "output_index": at, "content_index": 0, "delta": delta}));
    }

    fn text_delta(&mut self, refusal: bool, delta: &str, logprobs: Vec<Value>, out: &mut Vec<u8>) {
        let id = self.ids.message();
        let at = match self.message_at {
            Some(at) => at,
            None => {
                let at = self.open(StreamItem::Message { parts: Vec::new() }, json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}), out);
                self.message_at = Some(at);
                at
            }
        };
        let StreamItem::Message { parts } = &mut self.items[at] else { return };
        let part_index = match parts.iter().position(|p| p.refusal == refusal) {
            Some(i) => i,
            None => {
                parts.push(StreamPart { refusal, text: String::new(), logprobs: Vec::new() });
                let i = parts.len() - 1;
                let part = if refusal { json!({"type": "refusal", "refusal": ""}) } else { output_text("", Vec::new()) };
                self.event(out, "response.content_part.added", json!({"item_id": id, "output_index": at, "content_index": i, "part": part}));
                i
            }
        };
        let StreamItem::Message { parts } = &mut self.items[at] else { return };
        let part = &mut parts[part_index];
        part.text.push_str(delta);
        if refusal {
            self.event(out, "response.refusal.delta", json!({"item_id": id, "output_index": at, "content_index": part_index, "delta": delta}));
        } else {
            part.logprobs.extend(logprobs.iter().cloned());
            self.event(out, "response.output_text.delta", json!({"item_id": id, "output_index": at, "content_index": part_index, "delta": delta, "logprobs": logprobs}));
        }
    }

    fn call_delta(&mut self, call: &Value, out: &mut Vec<u8>) {
        let index = call["index"].as_u64().unwrap_or(0);
        let custom = call["type"] == "custom" || call.get("custom").is_some_and(Value::is_object);
        let (name, piece) = if custom {
            (call["custom"]["name"].as_str(), call["custom"]["input"].as_str().unwrap_or_default())
        } else {
            (call["function"]["name"].as_str(), call["function"]["arguments"].as_str().unwrap_or_default())
        };
        let at = match self.calls_at.iter().find(|(i, _)| *i == index) {
            Some((_, at)) => *at,
            None => {
                let id = self.ids.call(self.calls_at.len());
                let call_id = call["id"].as_str().unwrap_or_default().to_string();
                let name = name.unwrap_or_default().to_string();
                let announced = if custom {
                    json!({"type": "custom_tool_call", "id": id, "call_id": call_id, "name": name, "input": "", "status": "in_progress"})
                } else {
                    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"})
                };
                let at = self.open(StreamItem::Call { id, call_id, name, custom, arguments: String::new() }, announced, out);
                self.calls_at.push((index, at));
                at
            }
        };
        if piece.is_empty() {
            return;
        }
        let StreamItem::Call { id, arguments, custom, .. } = &mut self.items[at] else { return };
        arguments.push_str(piece);
        let (id, kind) = (id.clone(), if *custom { "response.custom_tool_call_input.delta" } else { "response.function_call_arguments.delta" });
        self.event(out, kind, json!({"item_id": id, "output_index": at, "delta": piece}));
    }

    /// Announces a new output item; its position in `items` is its `output_index`.
    fn open(&mut self, item: StreamItem, announced: Value, out: &mut Vec<u8>) -> usize {
        self.items.push(item);
        let at = self.items.len() - 1;
        self.event(out, "response.output_item.added", json!({"output_index": at, "item": announced}));
        at
    }

    /// Each open item in its final form (`status`: its items' status), closing events sent when
    /// `out` is given.
    fn close_items(&mut self, status: &str, mut out: Option<&mut Vec<u8>>) -> Vec<Value> {
        let mut finished = Vec::with_capacity(self.items.len());
        let items = std::mem::take(&mut self.items);
        for (at, item) in items.iter().enumerate() {
            let done = match item {
                StreamItem::Reasoning { text } => {
                    let id = self.ids.reasoning();
                    if let Some(out) = out.as_deref_mut() {
                        self.event(out, "response.reasoning_text.done", json!({"item_id": id, "output_index": at, "content_index": 0, "text": text}));
                        self.event(out, "response.content_part.done", json!({"item_id": id, "output_index": at, "content_index": 0, "part": {"type": "reasoning_text", "text": text}}));
                    }
                    reasoning_item(&self.ids, text, status)
                }
                StreamItem::Message { parts } => {
                    let id = self.ids.message();
                    let mut content = Vec::with_capacity(parts.len());
                    for (i, part) in parts.iter().enumerate() {
                        let done = if part.refusal { json!({"type": "refusal", "refusal": part.text}) } else { output_text(&part.text, part.logprobs.clone()) };
                        if let Some(out) = out.as_deref_mut() {
                            if part.refusal {
                                self.event(out, "response.refusal.done", json!({"item_id": id, "output_index": at, "content_index": i, "refusal": part.text}));
                            } else {
                                self.event(out, "response.output_text.done", json!({"item_id": id, "output_index": at, "content_index": i, "text": part.text, "logprobs": part.logprobs}));
                            }
                            self.event(out, "response.content_part.done", json!({"item_id": id, "output_index": at, "content_index": i, "part": done.clone()}));
                        }
                        content.push(done);
                    }
                    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
                }
                StreamItem::Call { id, call_id, name, custom, arguments } => {
                    let call = if *custom {
                        json!({"id": call_id, "type": "custom", "custom": {"name": name, "input": arguments}})
                    } else {
                        json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
                    };
                    if let Some(out) = out.as_deref_mut() {
                        if *custom {
                            self.event(out, "response.custom_tool_call_input.done", json!({"item_id": id, "output_index": at, "input": arguments}));
                        } else {
                            self.event(out, "response.function_call_arguments.done", json!({"item_id": id, "output_index": at, "name": name, "arguments": arguments}));
                        }
                    }
                    call_item(id.clone(), &call, status)
                }
            };
            if let Some(out) = out.as_deref_mut() {
                self.event(out, "response.output_item.done", json!({"output_index": at, "item": done.clone()}));
            }
            finished.push(done);
        }
        finished
    }

    fn event(&mut self, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        body["type"] = Value::String(kind.to_string());
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(body.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(body: Value) -> Result<ResponsesRequest, ApiError> {
        from_value(body, false, None)
    }

    fn chat_json(body: Value) -> Value {
        serde_json::to_value(parse_json(body).unwrap().chat).unwrap()
    }

    #[test]
    fn a_plain_request_becomes_the_chat_request_it_means() {
        let chat = chat_json(json!({
            "model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Hi", "max_output_tokens": 50,
            "temperature": 0.2, "reasoning": {"effort": "low", "summary": "auto"}, "metadata": {"feature": "faq"},
            "user": "u1", "store": true, "truncation": "disabled", "include": ["reasoning.encrypted_content"],
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"},
        }));
        assert_eq!(chat["messages"], json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]));
        assert_eq!(chat["max_completion_tokens"], 50);
        assert_eq!(chat["temperature"], 0.2);
        assert_eq!(chat["reasoning_effort"], "low");
        assert_eq!(chat["metadata"], json!({"feature": "faq"}));
        assert_eq!(chat["user"], "u1");
        assert_eq!(chat["verbosity"], "low");
        assert_eq!(chat["response_format"], json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}}));
        for absent in ["store", "truncation", "include", "instructions", "input", "max_output_tokens", "reasoning", "text", "stream", "stream_options", "logprobs"] {
            assert!(chat.get(absent).is_none(), "{absent} in {chat}");
        }
    }

    #[test]
    fn a_previous_response_ids_earlier_turns_come_after_the_instructions_and_before_the_input() {
        let earlier = vec![
            json!({"type": "message", "role": "user", "content": "What is 2+2?"}),
            json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "4", "annotations": []}]}),
            json!({"type": "function_call", "id": "fc_1_0", "call_id": "call_1", "name": "check", "arguments": "{}"}),
        ];
        let body = json!({"model": "m", "instructions": "Be brief.", "previous_response_id": "resp_1", "input": [{"type": "function_call_output", "call_id": "call_1", "output": "ok"}]});
        let mut asked = from_value(body.clone(), true, Some(earlier)).unwrap();
        let chat = serde_json::to_value(&asked.chat).unwrap();
        assert_eq!(chat["messages"], json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "check", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ]));
        assert_eq!(asked.echo.fields["previous_response_id"], "resp_1");
        // The turn kept is the request's own input, linked to the one it followed.
        let answer = asked.echo.response(&ResponseIds::for_request("req_2"), 1, "m", "completed", vec![], None);
        let turn = asked.echo.kept(&answer).turn.unwrap();
        assert_eq!((turn.id.as_str(), turn.previous_id.as_deref()), ("resp_2", Some("resp_1")));
        assert_eq!(turn.input, vec![json!({"type": "function_call_output", "call_id": "call_1", "output": "ok"})]);
        // Read, but not kept: the request said so.
        let mut not_stored = body.clone();
        not_stored["store"] = json!(false);
        let mut asked = from_value(not_stored, true, Some(vec![json!({"role": "user", "content": "hi"})])).unwrap();
        let answer = asked.echo.response(&ResponseIds::for_request("req_3"), 1, "m", "completed", vec![], None);
        assert!(asked.echo.kept(&answer).is_empty());
        // An error in the client's own input is named by its own place, not shifted by the turns.
        let mut bad = body;
        bad["input"] = json!([{"role": "user", "content": "x"}, 7]);
        let err = from_value(bad, true, Some(vec![json!({"role": "user", "content": "hi"}); 3])).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input[1]"));
    }

    #[test]
    fn a_streamed_request_asks_for_the_usage_chunk_and_logprobs_map() {
        let chat = chat_json(json!({"model": "m", "input": "Hi", "stream": true, "top_logprobs": 2}));
        assert_eq!((chat["stream"].clone(), chat["stream_options"].clone()), (json!(true), json!({"include_usage": true})));
        assert_eq!((chat["logprobs"].clone(), chat["top_logprobs"].clone()), (json!(true), json!(2)));
        let chat = chat_json(json!({"model": "m", "input": "Hi", "include": ["message.output_text.logprobs"]}));
        assert_eq!(chat["logprobs"], true);
        let chat = chat_json(json!({"model": "m", "input": "Hi", "top_logprobs": 0}));
        assert!(chat.get("logprobs").is_none(), "none asked for: {chat}");
        let err = parse_json(json!({"model": "m", "input": "Hi", "stream_options": {"include_obfuscation": false}})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("stream_options"));
    }

    #[test]
    fn tools_and_tool_choices_nest_as_chat_has_them() {
        let chat = chat_json(json!({
            "model": "m", "input": "Weather?",
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}, "strict": null},
                {"type": "custom", "name": "sql", "format": {"type": "text"}},
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
        }));
        assert_eq!(chat["tools"], json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}}},
            {"type": "custom", "custom": {"name": "sql", "format": {"type": "text"}}},
        ]));
        assert_eq!(chat["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}));
        let allowed = chat_json(json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]}}));
        assert_eq!(allowed["tool_choice"], json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}}));
        assert_eq!(chat_json(json!({"model": "m", "input": "x", "tool_choice": "required", "tools": [{"type": "function", "name": "f"}]}))["tool_choice"], "required");
    }

    #[test]
    fn a_custom_tools_grammar_nests_as_chat_has_it_and_parallel_calls_need_tools() {
        let chat = chat_json(json!({"model": "m", "input": "x", "parallel_tool_calls": false,
            "tools": [{"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}]}));
        assert_eq!(chat["tools"][0], json!({"type": "custom", "custom": {"name": "apply_patch", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: x"}}}}));
        assert_eq!(chat["parallel_tool_calls"], false);
        for tools in [None, Some(json!([]))] {
            let mut body = json!({"model": "m", "input": "x", "parallel_tool_calls": false, "tool_choice": "auto"});
            if let Some(tools) = tools {
                body["tools"] = tools;
            }
            let chat = serde_json::to_value(&parse_json(body.clone()).unwrap().chat).unwrap();
            assert!(chat.get("parallel_tool_calls").is_none() && chat.get("tool_choice").is_none(), "chat refuses them without tools: {body}");
        }
        let without_tools = parse_json(json!({"model": "m", "input": "x", "parallel_tool_calls": false})).unwrap();
        assert_eq!(from_completion(&json!({"choices": []}), &without_tools.echo, &ResponseIds::for_request("req_1"))["parallel_tool_calls"], false, "echoed as asked");
    }

    #[test]
    fn images_from_a_tool_follow_the_tool_messages_as_a_user_message() {
        let chat = chat_json(json!({"model": "m", "input": [
            {"role": "user", "content": "Screenshots?"},
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "shot", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "one"}, {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_image", "image_url": "data:image/png;base64,BB"}]},
            {"role": "user", "content": "Compare them."},
        ]}));
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 6);
        assert_eq!(messages[2], json!({"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "one"}]}));
        assert_eq!(messages[3], json!({"role": "tool", "tool_call_id": "c2", "content": "The output is attached in the next message."}));
        assert_eq!(messages[4], json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,BB"}},
        ]}));
        assert_eq!(messages[5]["content"], "Compare them.");
        let last = chat_json(json!({"model": "m", "input": [
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_file", "file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"}]},
        ]}));
        assert_eq!(last["messages"][2], json!({"role": "user", "content": [{"type": "file", "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"}}]}));
    }

    #[test]
    fn an_answer_in_content_parts_keeps_its_text_and_thinking() {
        let asked = parse_json(json!({"model": "m", "input": "x"})).unwrap();
        let parts = json!([{"type": "thinking", "thinking": [{"type": "text", "text": "Six times seven."}]}, {"type": "text", "text": "42"}]);
        let completion = json!({"model": "magistral", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": parts}}]});
        let r = from_completion(&completion, &asked.echo, &ResponseIds::for_request("req_p"));
        assert_eq!(r["output"][0]["content"][0]["text"], "Six times seven.");
        assert_eq!(r["output"][1]["content"][0]["text"], "42");
        let stream = format!("data: {}\n\ndata: [DONE]\n\n", json!({"model": "magistral", "choices": [{"index": 0, "delta": {"content": parts}, "finish_reason": "stop"}]}));
        let evs = events(&translate(&stream, false));
        let done = &evs.last().unwrap()["response"];
        assert_eq!((done["output"][0]["type"].as_str(), done["output"][1]["content"][0]["text"].as_str()), (Some("reasoning"), Some("42")));
    }

    #[test]
    fn a_tool_loop_in_items_becomes_chat_turns() {
        let chat = chat_json(json!({"model": "m", "input": [
            {"role": "developer", "content": "Use tools."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris and Rome?"}, {"type": "input_image", "image_url": "https://x/p.png", "detail": "low"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "21C"}]},
            {"type": "function_call", "call_id": "call_3", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_3", "output": "?"},
        ]}));
        assert_eq!(chat["messages"], json!([
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}, {"type": "image_url", "image_url": {"url": "https://x/p.png", "detail": "low"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_3", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_3", "content": "?"},
        ]));
    }

    #[test]
    fn what_needs_stored_state_or_hosted_tools_is_refused_by_name() {
        let cases = [
            (json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}), "previous_response_id", "previous_response_not_found"),
            (json!({"model": "m", "input": "x", "previous_response_id": 1}), "previous_response_id", "invalid_value"),
            (json!({"model": "m", "input": "x", "conversation": "conv_1"}), "conversation", "unsupported_parameter"),
            (json!({"model": "m", "input": "x", "prompt": {"id": "pmpt_1"}}), "prompt", "unsupported_parameter"),
            (json!({"model": "m", "input": "x", "background": true}), "background", "unsupported_parameter"),
            (json!({"model": "m", "input": "x", "messages": []}), "messages", "unknown_parameter"),
            (json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}), "tools[0].type", "invalid_value"),
            (json!({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}), "tool_choice", "invalid_value"),
            (json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}), "input[0].type", "invalid_value"),
            (json!({"model": "m", "input": [{"id": "msg_1"}]}), "input[0].type", "invalid_value"),
            (json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}), "input[0].type", "invalid_value"),
            (json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}), "input[0].content[0].file_id", "invalid_value"),
            (json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]}), "input[0].content[0]", "invalid_value"),
            (json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}), "input[0].role", "invalid_value"),
            (json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]}), "input[0].arguments", "missing_required_parameter"),
            (json!({"model": "m", "input": []}), "input", "invalid_value"),
            (json!({"model": "m", "input": 3}), "input", "invalid_value"),
            (json!({"model": "m"}), "input", "missing_required_parameter"),
            (json!({"input": "x"}), "model", "missing_required_parameter"),
            (json!({"model": "m", "input": "x", "truncation": "sometimes"}), "truncation", "invalid_value"),
            (json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}), "text.format.type", "invalid_value"),
            (json!({"model": "m", "input": "x", "include": [1]}), "include[0]", "invalid_value"),
        ];
        for (body, param, code) in cases {
            let err = parse_json(body.clone()).unwrap_err();
            assert_eq!((err.status, err.param.as_deref(), err.code), (400, Some(param), code), "{body}: {}", err.message);
        }
        // The chat request's own checks, named as the client named the field.
        for (body, param) in [
            (json!({"model": "m", "input": "x", "max_output_tokens": -1}), "max_output_tokens"),
            (json!({"model": "m", "input": "x", "reasoning": {"effort": 3}}), "reasoning.effort"),
            (json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "a", "strict": "yes"}}}), "text.format"),
            (json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "strict": "yes"}]}), "tools[0].strict"),
            (json!({"model": "m", "input": vec![json!({"role": "user", "content": "x"}); super::super::chat::MAX_MESSAGES + 1]}), "input"),
        ] {
            let err = parse_json(body.clone()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
            assert!(!err.message.contains("max_completion_tokens") && !err.message.contains("'messages"), "{}", err.message);
        }
        // Null is as absent, and `background: false` is what every request is.
        assert!(parse_json(json!({"model": "m", "input": "x", "previous_response_id": null, "background": false})).is_ok());
    }

    #[test]
    fn a_completion_answers_as_a_response_object() {
        let asked = parse_json(json!({"model": "cheap", "input": "x", "instructions": "Be brief.", "max_output_tokens": 99, "metadata": {"a": "b"}})).unwrap();
        let completion = json!({"id": "chatcmpl-1", "created": 1_700_000_000, "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Sure.", "reasoning_content": "Think.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}, {"id": "call_10", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}]},
            "logprobs": {"content": [{"token": "Sure", "logprob": -0.1, "bytes": null, "top_logprobs": [{"token": "Sure", "logprob": -0.1, "bytes": [83, 117, 114, 101]}]}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}});
        let ids = ResponseIds::for_request("req_abc");
        let r = from_completion(&completion, &asked.echo, &ids);
        assert_eq!((r["id"].as_str(), r["object"].as_str(), r["status"].as_str(), r["model"].as_str()), (Some("resp_abc"), Some("response"), Some("completed"), Some("gpt-4o-mini")));
        assert_eq!(r["created_at"], 1_700_000_000);
        assert_eq!(r["output"], json!([
            {"type": "reasoning", "id": "rs_abc", "summary": [], "content": [{"type": "reasoning_text", "text": "Think."}], "status": "completed"},
            {"type": "message", "id": "msg_abc", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Sure.", "annotations": [],
                "logprobs": [{"token": "Sure", "logprob": -0.1, "bytes": [83, 117, 114, 101], "top_logprobs": [{"token": "Sure", "logprob": -0.1, "bytes": [83, 117, 114, 101]}]}]}]},
            {"type": "function_call", "id": "fc_abc_0", "call_id": "call_9", "name": "f", "arguments": "{}", "status": "completed"},
            {"type": "custom_tool_call", "id": "fc_abc_1", "call_id": "call_10", "name": "sql", "input": "SELECT 1", "status": "completed"},
        ]));
        assert_eq!(r["usage"], json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15}));
        assert_eq!((r["instructions"].as_str(), r["max_output_tokens"].as_u64(), r["metadata"].clone()), (Some("Be brief."), Some(99), json!({"a": "b"})));
        assert_eq!((r["store"].clone(), r["tool_choice"].clone(), r["tools"].clone(), r["parallel_tool_calls"].clone()), (json!(false), json!("auto"), json!([]), json!(true)));
        assert_eq!(r["text"], json!({"format": {"type": "text"}}));
        assert!(r["error"].is_null() && r["incomplete_details"].is_null());
        assert!(r["service_tier"].is_null(), "none asked, none reported");
        // The tier that served it, not the one asked.
        let asked_auto = parse_json(json!({"model": "cheap", "input": "x", "service_tier": "auto", "truncation": "auto"})).unwrap();
        let mut served = completion.clone();
        served["service_tier"] = json!("default");
        let r = from_completion(&served, &asked_auto.echo, &ids);
        assert_eq!((r["service_tier"].as_str(), r["truncation"].as_str()), (Some("default"), Some("disabled")));
    }

    #[test]
    fn a_completion_cut_at_its_cap_or_refused_says_so() {
        let asked = parse_json(json!({"model": "m", "input": "x"})).unwrap();
        let ids = ResponseIds::for_request("req_1");
        let cut = json!({"model": "m", "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Half"}}]});
        let r = from_completion(&cut, &asked.echo, &ids);
        assert_eq!((r["status"].as_str(), r["incomplete_details"].clone(), r["output"][0]["status"].as_str()), (Some("incomplete"), json!({"reason": "max_output_tokens"}), Some("incomplete")));
        let refused = json!({"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null, "refusal": "I can't."}}]});
        let r = from_completion(&refused, &asked.echo, &ids);
        assert_eq!(r["output"][0]["content"], json!([{"type": "refusal", "refusal": "I can't."}]));
        assert!(r["usage"].is_null());
    }

    fn events(sse: &[u8]) -> Vec<Value> {
        let text = String::from_utf8(sse.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|b| !b.is_empty() && !b.starts_with(':'))
            .map(|b| {
                let (event, data) = b.split_once('\n').unwrap();
                let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(event.strip_prefix("event: "), data["type"].as_str(), "{b}");
                data
            })
            .collect()
    }

    fn translate(chat_sse: &str, one_byte_at_a_time: bool) -> Vec<u8> {
        let asked = parse_json(json!({"model": "cheap", "input": "x", "stream": true})).unwrap();
        let mut s = ResponsesStream::new(asked.echo, ResponseIds::for_request("req_s"), 5);
        let mut out = Vec::new();
        if one_byte_at_a_time {
            for b in chat_sse.as_bytes() {
                out.extend(s.push(std::slice::from_ref(b)));
            }
        } else {
            out.extend(s.push(chat_sse.as_bytes()));
        }
        out.extend(s.finish());
        out
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    const TEXT_STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"service_tier\":\"default\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
        ": costrouter {\"cost_usd\":\"0.000001\"}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn store_is_said_as_kept_and_a_kept_answer_sent_back_by_reference_means_what_it_said() {
        let keeping = |body: Value| from_value(body, true, None);
        assert_eq!(keeping(json!({"model": "m", "input": "x"})).unwrap().echo.fields["store"], true, "OpenAI's default");
        assert_eq!(keeping(json!({"model": "m", "input": "x", "store": null})).unwrap().echo.fields["store"], true);
        assert_eq!(keeping(json!({"model": "m", "input": "x", "store": false})).unwrap().echo.fields["store"], false);
        assert_eq!(from_value(json!({"model": "m", "input": "x", "store": true}), false, None).unwrap().echo.fields["store"], false, "nothing kept for the tenant");
        assert_eq!(keeping(json!({"model": "m", "input": "x", "store": "yes"})).unwrap_err().param.as_deref(), Some("store"));
        let mut region_held = keeping(json!({"model": "m", "input": "x"})).unwrap().echo;
        region_held.store_nothing();
        assert_eq!(region_held.fields["store"], false);

        // An answer with thinking, text and two calls; the next turn names all four items by
        // reference, as the Vercel AI SDK does, and answers the calls.
        let asked = keeping(json!({"model": "m", "input": "Look it up."})).unwrap();
        let completion = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Looking.", "reasoning_content": "Hmm.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}}, {"id": "call_2", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}]}}]});
        let answer = from_completion(&completion, &asked.echo, &ResponseIds::for_request("req_t"));
        assert_eq!(answer["store"], true);
        let kept = stored_items::to_keep(&answer, Vec::new()).items;
        assert_eq!(kept.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["rs_t", "msg_t", "fc_t_0", "fc_t_1"]);
        let mut next = json!({"model": "m", "input": [{"role": "user", "content": "Look it up."},
            {"type": "item_reference", "id": "rs_t"}, {"type": "item_reference", "id": "msg_t"}, {"type": "item_reference", "id": "fc_t_0"}, {"type": "item_reference", "id": "fc_t_1"},
            {"type": "function_call_output", "call_id": "call_1", "output": "one"}, {"type": "custom_tool_call_output", "call_id": "call_2", "output": "two"}]});
        stored_items::resolve(&mut next, &kept.into_iter().collect()).unwrap();
        let chat = serde_json::to_value(keeping(next).unwrap().chat).unwrap();
        assert_eq!(chat["messages"], json!([
            {"role": "user", "content": "Look it up."},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}},
                {"id": "call_2", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": "two"},
        ]));
    }

    #[test]
    fn a_stream_keeps_its_items_once_it_has_ended_whole_and_only_when_stored() {
        let kept_after = |body: Value, chat_sse: &str| {
            let asked = from_value(body, true, None).unwrap();
            let mut s = ResponsesStream::new(asked.echo, ResponseIds::for_request("req_s"), 5);
            let out = s.rewrite_whole(chat_sse.as_bytes());
            let done = events(&out).into_iter().last().unwrap();
            (s.kept(), done)
        };
        let (kept, done) = kept_after(json!({"model": "m", "input": "x", "stream": true}), TEXT_STREAM);
        assert_eq!(done["type"], "response.completed");
        assert_eq!(kept.items, stored_items::to_keep(&done["response"], Vec::new()).items, "the items the completed response holds");
        assert_eq!(kept.items.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["msg_s"]);
        let turn = kept.turn.expect("the turn is kept");
        assert_eq!((turn.id.as_str(), turn.previous_id), ("resp_s", None));
        assert_eq!(turn.input, vec![json!({"type": "message", "role": "user", "content": "x"})], "the request's own input");
        assert_eq!(turn.response, done["response"], "the completed response (its logprobs empty already)");
        assert!(kept_after(json!({"model": "m", "input": "x", "stream": true, "store": false}), TEXT_STREAM).0.is_empty());
        // Cut short: the answer failed, and nothing of it is kept.
        let cut = &TEXT_STREAM[..TEXT_STREAM.find("data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"service_tier\"").unwrap()];
        let (kept, done) = kept_after(json!({"model": "m", "input": "x", "stream": true}), cut);
        assert_eq!(done["type"], "response.failed");
        assert!(kept.is_empty());
        assert_eq!(done["response"]["store"], false, "a failed answer says it is not kept");
    }

    #[test]
    fn a_text_stream_becomes_the_responses_event_sequence() {
        let out = translate(TEXT_STREAM, false);
        let evs = events(&out);
        assert_eq!(types(&evs), [
            "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed",
        ]);
        assert!(evs.iter().enumerate().all(|(i, e)| e["sequence_number"] == i), "sequence numbers count from 0");
        assert_eq!((evs[0]["response"]["status"].as_str(), evs[0]["response"]["created_at"].as_i64(), evs[0]["response"]["id"].as_str()), (Some("in_progress"), Some(77), Some("resp_s")));
        assert_eq!(evs[4]["delta"], "Hel");
        assert_eq!((evs[4]["item_id"].as_str(), evs[4]["output_index"].as_u64(), evs[4]["content_index"].as_u64()), (Some("msg_s"), Some(0), Some(0)));
        let done = &evs[9]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"], json!([{"type": "message", "id": "msg_s", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}]));
        assert_eq!(done["usage"]["total_tokens"], 5);
        assert_eq!(done["service_tier"], "default", "the tier its chunks report");
        assert_eq!(done["model"], "gpt-4o-mini");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(": costrouter {\"cost_usd\":\"0.000001\"}\n\n"), "the cost trailer passes: {text}");
        assert!(!text.contains("[DONE]"), "Responses streams have no [DONE]");
        assert_eq!(translate(TEXT_STREAM, true), out, "pieces of any size read the same");
    }

    #[test]
    fn tool_calls_stream_as_items_of_their_own_even_interleaved() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Two cities.\"}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"c\\\":\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let done = evs.last().unwrap();
        assert_eq!(done["type"], "response.completed");
        assert_eq!(done["response"]["output"], json!([
            {"type": "reasoning", "id": "rs_s", "summary": [], "content": [{"type": "reasoning_text", "text": "Two cities."}], "status": "completed"},
            {"type": "function_call", "id": "fc_s_0", "call_id": "call_a", "name": "w", "arguments": "{}", "status": "completed"},
            {"type": "function_call", "id": "fc_s_1", "call_id": "call_b", "name": "w", "arguments": "{\"c\":1}", "status": "completed"},
        ]));
        let deltas: Vec<(u64, &str)> = evs.iter().filter(|e| e["type"] == "response.function_call_arguments.delta").map(|e| (e["output_index"].as_u64().unwrap(), e["delta"].as_str().unwrap())).collect();
        assert_eq!(deltas, [(2, "{\"c\":"), (1, "{}"), (2, "1}")]);
        let args_done: Vec<&str> = evs.iter().filter(|e| e["type"] == "response.function_call_arguments.done").map(|e| e["arguments"].as_str().unwrap()).collect();
        assert_eq!(args_done, ["{}", "{\"c\":1}"]);
        assert_eq!(evs.iter().filter(|e| e["type"] == "response.output_item.done").count(), 3);
    }

    #[test]
    fn a_stream_cut_at_its_cap_is_incomplete() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Half\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let last = evs.last().unwrap();
        assert_eq!((last["type"].as_str(), last["response"]["status"].as_str()), (Some("response.incomplete"), Some("incomplete")));
        assert_eq!(last["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));
    }

    #[test]
    fn a_failed_or_cut_stream_fails_the_response() {
        let failed = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"The upstream provider ended the stream early.\",\"type\":\"api_error\",\"param\":null,\"code\":\"stream_error\"}}\n\n",
            ": costrouter {\"cost_usd\":\"0.1\"}\n\n",
        );
        let out = translate(failed, false);
        let evs = events(&out);
        assert_eq!(&types(&evs)[evs.len() - 2..], ["error", "response.failed"]);
        assert_eq!(evs[evs.len() - 2]["message"], "The upstream provider ended the stream early.");
        let response = &evs.last().unwrap()["response"];
        assert_eq!((response["status"].as_str(), response["error"]["code"].as_str()), (Some("failed"), Some("server_error")));
        assert_eq!(response["output"][0]["content"][0]["text"], "Par", "what came is kept");
        assert!(String::from_utf8(out).unwrap().ends_with(": costrouter {\"cost_usd\":\"0.1\"}\n\n"), "the trailer after the end passes");
        let cut = "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\ndata: {\"model\":";
        let evs = events(&translate(cut, false));
        assert_eq!(&types(&evs)[evs.len() - 2..], ["error", "response.failed"]);
        let nothing = events(&translate("", false));
        assert_eq!(types(&nothing), ["response.created", "response.in_progress", "error", "response.failed"]);
    }

    #[test]
    fn a_refusal_streams_as_a_refusal_part() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\" help.\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        assert!(types(&evs).contains(&"response.refusal.delta") && types(&evs).contains(&"response.refusal.done"));
        assert_eq!(evs.last().unwrap()["response"]["output"][0]["content"], json!([{"type": "refusal", "refusal": "I can't help."}]));
    }

    #[test]
    fn a_response_echoes_the_tools_and_tool_choice_as_the_client_sent_them() {
        let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]);
        let choice = json!({"type": "function", "name": "get_weather"});
        let asked = parse_json(json!({"model": "m", "input": "x", "tools": tools, "tool_choice": choice})).unwrap();
        let r = from_completion(&json!({"choices": []}), &asked.echo, &ResponseIds::for_request("req_1"));
        assert_eq!((r["tools"].clone(), r["tool_choice"].clone()), (tools, choice), "in the Responses shape, not chat's");
    }

    #[test]
    fn an_earlier_refusal_sent_back_stays_a_refusal() {
        let chat = chat_json(json!({"model": "m", "input": [
            {"role": "user", "content": "x"},
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
            {"role": "user", "content": "Why not?"},
        ]}));
        assert_eq!(chat["messages"][1], json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}));
    }

    #[test]
    fn an_image_is_sent_by_its_url_and_one_without_a_url_names_it_missing() {
        let chat = chat_json(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1", "image_url": "https://x/p.png"}]}]}));
        assert_eq!(chat["messages"][0]["content"], json!([{"type": "image_url", "image_url": {"url": "https://x/p.png"}}]), "a file id beside a URL is no obstacle");
        let err = parse_json(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "detail": "low"}]}]})).unwrap_err();
        assert_eq!((err.param.as_deref(), err.code), (Some("input[0].content[0].image_url"), "missing_required_parameter"), "{}", err.message);
    }

    #[test]
    fn an_answer_stopped_by_a_content_filter_is_incomplete_for_that_reason() {
        let asked = parse_json(json!({"model": "m", "input": "x"})).unwrap();
        let filtered = json!({"model": "m", "choices": [{"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant", "content": "Par"}}]});
        let r = from_completion(&filtered, &asked.echo, &ResponseIds::for_request("req_1"));
        assert_eq!((r["status"].as_str(), r["incomplete_details"].clone()), (Some("incomplete"), json!({"reason": "content_filter"})));
        let stream = "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n";
        let last = events(&translate(stream, false)).pop().unwrap();
        assert_eq!((last["type"].as_str(), last["response"]["incomplete_details"].clone()), (Some("response.incomplete"), json!({"reason": "content_filter"})));
    }

    #[test]
    fn a_stream_whose_last_event_lacks_its_blank_line_still_completes() {
        let chat = "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n";
        let evs = events(&translate(chat, false));
        let last = evs.last().unwrap();
        assert_eq!((last["type"].as_str(), last["response"]["output"][0]["content"][0]["text"].as_str()), (Some("response.completed"), Some("Hi")));
    }

    #[test]
    fn an_azure_streams_empty_first_chunk_hides_neither_the_clock_nor_the_served_model() {
        // Azure's first chunk carries only the prompt filter's results, with no model and no time.
        let chat = concat!(
            "data: {\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
            "data: {\"id\":\"c\",\"created\":77,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"c\",\"created\":77,\"model\":\"\",\"choices\":[]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let created = &evs[0]["response"];
        assert_eq!((created["model"].as_str(), created["created_at"].as_i64()), (Some("cheap"), Some(5)), "the model asked and the router's clock");
        let done = &evs.last().unwrap()["response"];
        assert_eq!((done["status"].as_str(), done["model"].as_str()), (Some("completed"), Some("gpt-4o-mini")), "the model that served it");
    }

    #[test]
    fn a_custom_tool_call_streams_its_input() {
        let chat = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_q\",\"type\":\"custom\",\"custom\":{\"name\":\"sql\",\"input\":\"\"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"custom\":{\"input\":\"SELECT \"}}]}}]}\n\n",
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"custom\":{\"input\":\"1\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let evs = events(&translate(chat, false));
        let deltas: Vec<&str> = evs.iter().filter(|e| e["type"] == "response.custom_tool_call_input.delta").map(|e| e["delta"].as_str().unwrap()).collect();
        assert_eq!(deltas, ["SELECT ", "1"]);
        assert_eq!(evs.last().unwrap()["response"]["output"], json!([
            {"type": "custom_tool_call", "id": "fc_s_0", "call_id": "call_q", "name": "sql", "input": "SELECT 1", "status": "completed"},
        ]));
    }
}
