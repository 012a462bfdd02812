//! Anthropic's Messages API (`POST /v1/messages`, what the Anthropic SDKs and Claude Code call)
//! as a third front door to the chat pipeline.
//!
//! A Messages request is translated into the chat request it means (`system` a system message,
//! `tool_use` blocks an assistant turn's tool calls, `tool_result` blocks tool messages, thinking
//! blocks sent back as `thinking_blocks`, `cache_control` marks kept where chat carries them),
//! routed, priced and cached as any chat request is, and its answer translated back by
//! [`answer`]: a chat completion into a `message`, a chat stream into Anthropic's event stream.
//! Every provider behind the router serves it, so a Claude Code session can be routed to
//! whichever model a tenant's policy picks.
//!
//! What needs Anthropic's own servers is refused by name rather than half-served: server tools
//! (web search, code execution, ...), Anthropic-defined client tools (bash, text editor, computer
//! use), MCP servers, containers, files by id, citations' search results.

pub mod answer;

pub use answer::*;

use serde_json::{json, Map, Value};

use super::chat::ChatRequest;
use super::error::ApiError;
use super::required_string;

/// The Messages API's top-level parameters that are translated; with the ignored and the
/// refused ones below, every parameter it defines: any other is refused as unknown.
const TRANSLATED_PARAMETERS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "output_format",
    "cache_control",
];

/// Parameters taken and left unused, and why nothing is lost: they tune how Anthropic's own
/// servers run a request (Claude Code sends `context_management`).
const IGNORED_PARAMETERS: &[&str] = &[
    // Clearing old thinking or tool results from the context as it grows: an optimisation;
    // the conversation is sent as the client gave it.
    "context_management",
    // Anthropic's fast output mode and account-level profile and diagnostics.
    "speed",
    "user_profile_id",
    "diagnostics",
    // Anthropic's own model fallbacks: the router's policy chooses and falls back.
    "fallbacks",
    // Anthropic's capacity tiers; the router has none to choose.
    "service_tier",
    // Chat has no top-k; a sampling hint, as LiteLLM drops what a provider does not take.
    "top_k",
];

/// Parameters that need Anthropic's own servers, and why they are refused.
const ANTHROPIC_ONLY_PARAMETERS: &[(&str, &str)] = &[
    ("container", "this router runs no code-execution containers"),
    ("mcp_servers", "this router connects to no MCP servers; declare the tools and run them in the client"),
    // Where Anthropic runs the model: the router's own `regions` policies say where a request
    // may go, and one asked of Anthropic cannot be kept by another provider.
    ("inference_geo", "set where requests may be served with the router's `regions` policy"),
];

/// The thinking budget each effort stands for where the router turns efforts into Anthropic's
/// budgets (`providers::anthropic`): a budget asked for is sent as the least effort whose
/// budget holds it, so the model never thinks less than asked, up to the most (`max`, which
/// Claude Code's 31,999-token budget is).
const EFFORT_BUDGETS: &[(&str, u64)] = &[("low", 1_024), ("medium", 2_048), ("high", 4_096), ("xhigh", 8_192), ("max", 16_384)];

/// The effort Anthropic's adaptive thinking runs at when none is named.
const ADAPTIVE_DEFAULT_EFFORT: &str = "high";

/// A Messages request as the chat pipeline serves it, and what its answer repeats of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    pub chat: ChatRequest,
    pub echo: MessagesEcho,
}

/// Parses a `/v1/messages` body into the chat request it means.
pub fn parse(body: &[u8]) -> Result<MessagesRequest, ApiError> {
    from_value(super::parse_json_object(body)?)
}

pub fn from_value(value: Value) -> Result<MessagesRequest, ApiError> {
    let Value::Object(asked) = value else { return Err(ApiError::invalid_request("The request body must be a JSON object.")) };
    let chat = chat_request(&asked, true)?;
    let model = chat["model"].as_str().unwrap_or_default().to_string();
    let mut chat = ChatRequest::from_value(chat).map_err(in_messages_terms)?;
    // Anthropic's stream signs each thinking block before the next one starts (see
    // `answer::MessagesStream`).
    chat.thinking_blocks_as_they_end = true;
    chat.output_cap_is_ceiling = true;
    Ok(MessagesRequest { chat, echo: MessagesEcho { model } })
}

/// `/v1/messages/count_tokens`' body (a Messages request without `max_tokens`) as the chat
/// request whose prompt it counts.
pub fn parse_for_count(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let Value::Object(asked) = super::parse_json_object(body)? else { return Err(ApiError::invalid_request("The request body must be a JSON object.")) };
    ChatRequest::from_value(chat_request(&asked, false)?).map_err(in_messages_terms)
}

fn chat_request(asked: &Map<String, Value>, answering: bool) -> Result<Value, ApiError> {
    let defined = |k: &str| TRANSLATED_PARAMETERS.contains(&k) || IGNORED_PARAMETERS.contains(&k) || ANTHROPIC_ONLY_PARAMETERS.iter().any(|(name, _)| *name == k);
    if let Some(unknown) = asked.keys().find(|k| !defined(k)) {
        return Err(ApiError::unknown_parameter(unknown));
    }
    for (name, why) in ANTHROPIC_ONLY_PARAMETERS {
        if asked.get(*name).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported_parameter(name, &format!("'{name}' is not supported: {why}.")));
        }
    }
    let model = match asked.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("model")),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(ApiError::invalid_value("model", "'model' must be a string.")),
    };
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model));
    let mut messages = Vec::new();
    match asked.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(Value::Array(blocks)) => {
            let parts = blocks.iter().enumerate().map(|(i, b)| text_part(&format!("system[{i}]"), b)).collect::<Result<Vec<_>, _>>()?;
            if !parts.is_empty() {
                messages.push(json!({"role": "system", "content": parts}));
            }
        }
        Some(_) => return Err(ApiError::invalid_value("system", "'system' must be a string or an array of text blocks.")),
    }
    match asked.get("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing_field("messages")),
        Some(Value::Array(turns)) => {
            for (i, turn) in turns.iter().enumerate() {
                turn_messages(i, turn, &mut messages)?;
            }
        }
        Some(_) => return Err(ApiError::invalid_value("messages", "'messages' must be an array of messages.")),
    }
    chat.insert("messages".into(), Value::Array(messages));
    match asked.get("max_tokens") {
        Some(cap @ Value::Number(_)) => {
            chat.insert("max_tokens".into(), cap.clone());
        }
        None | Some(Value::Null) if !answering => {}
        None | Some(Value::Null) => return Err(ApiError::missing_field("max_tokens")),
        Some(_) => return Err(ApiError::invalid_value("max_tokens", "'max_tokens' must be an integer.")),
    }
    for name in ["temperature", "top_p"] {
        if let Some(v) = asked.get(name).filter(|v| !v.is_null()) {
            chat.insert(name.into(), v.clone());
        }
    }
    if let Some(stops) = asked.get("stop_sequences").filter(|v| !v.is_null()) {
        if !stops.as_array().is_some_and(|s| s.iter().all(Value::is_string)) {
            return Err(ApiError::invalid_value("stop_sequences", "'stop_sequences' must be an array of strings."));
        }
        if stops.as_array().is_some_and(|s| !s.is_empty()) {
            chat.insert("stop".into(), stops.clone());
        }
    }
    if let Some(metadata) = asked.get("metadata").filter(|v| !v.is_null()) {
        let Some(metadata) = metadata.as_object() else { return Err(ApiError::invalid_value("metadata", "'metadata' must be an object.")) };
        match metadata.get("user_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(user)) => {
                chat.insert("user".into(), Value::String(user.clone()));
            }
            Some(_) => return Err(ApiError::invalid_value("metadata.user_id", "'metadata.user_id' must be a string.")),
        }
    }
    if answering && asked.get("stream") == Some(&Value::Bool(true)) {
        chat.insert("stream".into(), Value::Bool(true));
        // The usage chunk is what the final `message_delta` reports.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    } else if !matches!(asked.get("stream"), None | Some(Value::Null | Value::Bool(_))) {
        return Err(ApiError::invalid_value("stream", "'stream' must be a boolean."));
    }
    if let Some(effort) = reasoning_effort(asked)? {
        chat.insert("reasoning_effort".into(), Value::String(effort));
    }
    if let Some(format) = output_format(asked)? {
        chat.insert("response_format".into(), format);
    }
    if let Some(tools) = super::translated_tools(asked, chat_tool)? {
        chat.insert("tools".into(), Value::Array(tools));
    }
    if let Some(mark) = asked.get("cache_control").filter(|v| !v.is_null()) {
        // Automatic caching: the breakpoint goes on the last block that can hold one, as
        // Anthropic places it, unless the request's own marks already take the four Anthropic
        // allows (a fifth is a 400).
        if cache_marks(&chat["messages"]) + cache_marks(chat.get("tools").unwrap_or(&Value::Null)) < MAX_CACHE_BREAKPOINTS {
            if let Some(Value::Array(messages)) = chat.get_mut("messages") {
                mark_last_block(messages, mark);
            }
        }
    }
    if let Some(choice) = asked.get("tool_choice").filter(|v| !v.is_null()) {
        let (choice, parallel) = chat_tool_choice(choice)?;
        // Anthropic takes a choice without tools; chat refuses one ("only allowed when 'tools'
        // are specified").
        if chat.contains_key("tools") {
            chat.extend(choice.map(|c| ("tool_choice".to_string(), c)));
            chat.extend(parallel.map(|p| ("parallel_tool_calls".to_string(), Value::Bool(p))));
        }
    }
    Ok(Value::Object(chat))
}

/// The chat messages one Messages turn means. A user turn's `tool_result` blocks become tool
/// messages (chat keeps them apart from the user's words; Anthropic puts them first in the turn)
/// and the rest one user message after them; an assistant turn's `tool_use` blocks become its
/// tool calls and its thinking blocks its `thinking_blocks`.
fn turn_messages(i: usize, turn: &Value, messages: &mut Vec<Value>) -> Result<(), ApiError> {
    let at = format!("messages[{i}]");
    let Some(obj) = turn.as_object() else { return Err(ApiError::invalid_value(&at, format!("'{at}' must be an object."))) };
    let role = required_string(&at, obj, "role")?;
    if role != "user" && role != "assistant" {
        return Err(ApiError::invalid_value(&format!("{at}.role"), format!("'{at}.role' must be 'user' or 'assistant' (a system prompt goes in 'system').")));
    }
    let blocks = match obj.get("content") {
        Some(Value::String(text)) => {
            messages.push(json!({"role": role, "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        None | Some(Value::Null) => return Err(ApiError::missing_field(&format!("{at}.content"))),
        Some(_) => return Err(ApiError::invalid_value(&format!("{at}.content"), format!("'{at}.content' must be a string or an array of content blocks."))),
    };
    if role == "assistant" {
        messages.push(assistant_message(&at, blocks)?);
        return Ok(());
    }
    let mut parts = Vec::new();
    // Images and documents from tool results: a chat tool message holds text only (OpenAI
    // refuses other parts there), so they follow the tool messages in the user message.
    let mut from_tools = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let block_at = format!("{at}.content[{j}]");
        let Some(b) = block.as_object() else { return Err(ApiError::invalid_value(&block_at, format!("'{block_at}' must be an object."))) };
        if required_string(&block_at, b, "type")? == "tool_result" {
            messages.push(tool_message(&block_at, b, &mut from_tools)?);
        } else {
            parts.push(user_part(&block_at, block)?);
        }
    }
    from_tools.extend(parts);
    if !from_tools.is_empty() || blocks.is_empty() {
        messages.push(json!({"role": "user", "content": from_tools}));
    }
    Ok(())
}

/// The most cache breakpoints (`cache_control` marks) Anthropic takes in one request.
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// How many `cache_control` marks `value` holds, at any depth.
fn cache_marks(value: &Value) -> usize {
    match value {
        Value::Object(fields) => fields.iter().map(|(k, v)| usize::from(k == "cache_control" && !v.is_null()) + cache_marks(v)).sum(),
        Value::Array(items) => items.iter().map(cache_marks).sum(),
        _ => 0,
    }
}

/// Puts a cache breakpoint on the last content block of the last message that has one (a text
/// or image part, or a string made one), unless it carries one already.
fn mark_last_block(messages: &mut [Value], mark: &Value) {
    for message in messages.iter_mut().rev() {
        match &mut message["content"] {
            Value::String(text) => {
                let text = std::mem::take(text);
                message["content"] = json!([{"type": "text", "text": text, "cache_control": mark}]);
                return;
            }
            Value::Array(parts) if !parts.is_empty() => {
                if let Some(last) = parts.last_mut().and_then(Value::as_object_mut) {
                    last.entry("cache_control").or_insert_with(|| mark.clone());
                }
                return;
            }
            _ => {}
        }
    }
}

fn tool_message(at: &str, b: &Map<String, Value>, from_tools: &mut Vec<Value>) -> Result<Value, ApiError> {
    let id = required_string(at, b, "tool_use_id")?;
    let mut content = match b.get("content") {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            let attached_before = from_tools.len();
            for (k, block) in blocks.iter().enumerate() {
                let part = user_part(&format!("{at}.content[{k}]"), block)?;
                if part["type"] == "text" {
                    texts.push(part);
                } else {
                    from_tools.push(part);
                }
            }
            match (texts.is_empty(), from_tools.len() > attached_before) {
                (false, _) => Value::Array(texts),
                // Providers refuse an empty tool result.
                (true, true) => Value::String("The output is attached in the next message.".into()),
                (true, false) => Value::String(String::new()),
            }
        }
        Some(_) => return Err(ApiError::invalid_value(&format!("{at}.content"), format!("'{at}.content' must be a string or an array of content blocks."))),
    };
    if b.get("is_error") == Some(&Value::Bool(true)) {
        // Chat has no error flag on a tool message: the model reads it in the text, as
        // Anthropic's own models are shown it.
        content = match content {
            Value::String(text) => Value::String(format!("Error: {text}")),
            Value::Array(mut parts) => {
                parts.insert(0, json!({"type": "text", "text": "Error:"}));
                Value::Array(parts)
            }
            other => other,
        };
    }
    let mut message = json!({"role": "tool", "tool_call_id": id, "content": content});
    if let Some(mark) = b.get("cache_control").filter(|v| !v.is_null()) {
        // A breakpoint on the result: chat carries it on the message's last part.
        if let Value::String(text) = &message["content"] {
            message["content"] = json!([{"type": "text", "text": text}]);
        }
        if let Some(last) = message["content"].as_array_mut().and_then(|p| p.last_mut()) {
            last["cache_control"] = mark.clone();
        }
    }
    Ok(message)
}

/// An earlier answer sent back: its text, tool calls and thinking in chat's form.
fn assistant_message(at: &str, blocks: &[Value]) -> Result<Value, ApiError> {
    let mut texts: Vec<Value> = Vec::new();
    let mut calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut thoughts = String::new();
    for (j, block) in blocks.iter().enumerate() {
        let block_at = format!("{at}.content[{j}]");
        let Some(b) = block.as_object() else { return Err(ApiError::invalid_value(&block_at, format!("'{block_at}' must be an object."))) };
        match required_string(&block_at, b, "type")? {
            "text" => texts.push(text_part(&block_at, block)?),
            "tool_use" => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": required_string(&block_at, b, "id")?,
                    "type": "function",
                    "function": {"name": required_string(&block_at, b, "name")?, "arguments": input.to_string()},
                }));
            }
            "thinking" => {
                let text = required_string(&block_at, b, "thinking")?;
                thoughts.push_str(text);
                // Unsigned thinking (another host's reasoning) cannot be verified by Anthropic:
                // only its text goes back, for hosts that read it (DeepSeek).
                let (signature, model) = answer::signature_and_model(b.get("signature").and_then(Value::as_str).unwrap_or_default());
                if !signature.is_empty() {
                    thinking_blocks.push(with_writer(json!({"type": "thinking", "thinking": text, "signature": signature}), model));
                }
            }
            "redacted_thinking" => {
                let (data, model) = answer::signature_and_model(required_string(&block_at, b, "data")?);
                thinking_blocks.push(with_writer(json!({"type": "redacted_thinking", "data": data}), model));
            }
            other => return Err(unsupported_block(&block_at, other)),
        }
    }
    let marked = texts.iter().any(|t| t.get("cache_control").is_some());
    let content = if marked {
        Value::Array(texts)
    } else if texts.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(texts.iter().filter_map(|t| t["text"].as_str()).collect())
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !thinking_blocks.is_empty() {
        message[super::chat::THINKING_BLOCKS] = Value::Array(thinking_blocks);
    }
    if !thoughts.is_empty() {
        message["reasoning_content"] = Value::String(thoughts);
    }
    Ok(message)
}

/// A thinking block in chat's `thinking_blocks` form: marked with the model that wrote it, when
/// the router marked its signature so (the Anthropic adapter sends a block back to that model
/// only: a signature is valid nowhere else).
fn with_writer(mut block: Value, model: Option<&str>) -> Value {
    if let Some(model) = model {
        block["model"] = json!(model);
    }
    block
}

/// A text block (`{"type":"text","text", "cache_control"?}`) as a chat text part.
fn text_part(at: &str, block: &Value) -> Result<Value, ApiError> {
    let Some(b) = block.as_object() else { return Err(ApiError::invalid_value(at, format!("'{at}' must be an object."))) };
    match required_string(at, b, "type")? {
        "text" => {}
        other => return Err(ApiError::invalid_value(&format!("{at}.type"), format!("'{at}' must be a text block, not '{other}'."))),
    }
    let mut part = json!({"type": "text", "text": required_string(at, b, "text")?});
    keep_cache_mark(b, &mut part);
    Ok(part)
}

/// A user turn's block (text, image, document) as a chat content part.
fn user_part(at: &str, block: &Value) -> Result<Value, ApiError> {
    let Some(b) = block.as_object() else { return Err(ApiError::invalid_value(at, format!("'{at}' must be an object."))) };
    let kind = required_string(at, b, "type")?;
    let mut part = match kind {
        "text" => return text_part(at, block),
        "image" => {
            let source = source(at, b)?;
            let url = match required_string(&format!("{at}.source"), source, "type")? {
                "base64" => format!("data:{};base64,{}", required_string(&format!("{at}.source"), source, "media_type")?, required_string(&format!("{at}.source"), source, "data")?),
                "url" => required_string(&format!("{at}.source"), source, "url")?.to_string(),
                other => return Err(unsupported_source(at, other)),
            };
            json!({"type": "image_url", "image_url": {"url": url}})
        }
        "document" => {
            let source = source(at, b)?;
            match required_string(&format!("{at}.source"), source, "type")? {
                "base64" => {
                    let data = format!("data:{};base64,{}", required_string(&format!("{at}.source"), source, "media_type")?, required_string(&format!("{at}.source"), source, "data")?);
                    let mut file = json!({"file_data": data});
                    if let Some(title) = b.get("title").and_then(Value::as_str) {
                        file["filename"] = json!(title);
                    }
                    json!({"type": "file", "file": file})
                }
                // A plain-text document is its text.
                "text" => json!({"type": "text", "text": required_string(&format!("{at}.source"), source, "data")?}),
                other => return Err(unsupported_source(at, other)),
            }
        }
        other => return Err(unsupported_block(at, other)),
    };
    keep_cache_mark(b, &mut part);
    Ok(part)
}

fn source<'a>(at: &str, b: &'a Map<String, Value>) -> Result<&'a Map<String, Value>, ApiError> {
    match b.get("source") {
        Some(Value::Object(source)) => Ok(source),
        None | Some(Value::Null) => Err(ApiError::missing_field(&format!("{at}.source"))),
        Some(_) => Err(ApiError::invalid_value(&format!("{at}.source"), format!("'{at}.source' must be an object."))),
    }
}

fn unsupported_source(at: &str, kind: &str) -> ApiError {
    ApiError::invalid_value(
        &format!("{at}.source.type"),
        format!("Sources of type '{kind}' are not supported ('{at}'): this router stores and fetches no files; send the bytes as 'base64' (images by 'url' too)."),
    )
}

fn unsupported_block(at: &str, kind: &str) -> ApiError {
    ApiError::invalid_value(
        &format!("{at}.type"),
        format!("Content blocks of type '{kind}' are not supported ('{at}'): this router serves text, image, document, tool_use, tool_result and thinking blocks."),
    )
}

/// Anthropic's prompt-cache breakpoint, which chat carries on content parts and tools too (the
/// Anthropic adapter sends it on; other providers ignore it).
fn keep_cache_mark(b: &Map<String, Value>, part: &mut Value) {
    if let Some(mark) = b.get("cache_control").filter(|v| !v.is_null()) {
        part["cache_control"] = mark.clone();
    }
}

/// A Messages tool (`{"name","description","input_schema"}`) as a chat function tool.
fn chat_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let at = format!("tools[{i}]");
    let Some(t) = tool.as_object() else { return Err(ApiError::invalid_value(&at, format!("'{at}' must be an object."))) };
    match t.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "custom" => {}
        Some(Value::String(kind)) => {
            return Err(ApiError::invalid_value(
                &format!("{at}.type"),
                format!("Tools of type '{kind}' are not supported ('{at}'): Anthropic's server tools and Anthropic-defined client tools need Anthropic's models; declare the tool with a name and an 'input_schema'."),
            ))
        }
        Some(_) => return Err(ApiError::invalid_value(&format!("{at}.type"), format!("'{at}.type' must be a string."))),
    }
    let mut function = json!({"name": required_string(&at, t, "name")?});
    match t.get("input_schema") {
        Some(schema @ Value::Object(_)) => function["parameters"] = schema.clone(),
        None | Some(Value::Null) => return Err(ApiError::missing_field(&format!("{at}.input_schema"))),
        Some(_) => return Err(ApiError::invalid_value(&format!("{at}.input_schema"), format!("'{at}.input_schema' must be a JSON schema object."))),
    }
    for name in ["description", "strict"] {
        if let Some(v) = t.get(name).filter(|v| !v.is_null()) {
            function[name] = v.clone();
        }
    }
    let mut chat_tool = json!({"type": "function", "function": function});
    keep_cache_mark(t, &mut chat_tool);
    Ok(chat_tool)
}

/// A Messages tool choice as chat's, and its `disable_parallel_tool_use` as
/// `parallel_tool_calls`.
fn chat_tool_choice(choice: &Value) -> Result<(Option<Value>, Option<bool>), ApiError> {
    let Some(c) = choice.as_object() else { return Err(ApiError::invalid_value("tool_choice", "'tool_choice' must be an object.")) };
    let chat_choice = match required_string("tool_choice", c, "type")? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({"type": "function", "function": {"name": required_string("tool_choice", c, "name")?}}),
        other => return Err(ApiError::invalid_value("tool_choice.type", format!("'tool_choice.type' must be 'auto', 'any', 'tool' or 'none', not '{other}'."))),
    };
    let parallel = match c.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(disabled)) => Some(!disabled),
        Some(_) => return Err(ApiError::invalid_value("tool_choice.disable_parallel_tool_use", "'tool_choice.disable_parallel_tool_use' must be a boolean.")),
    };
    Ok((Some(chat_choice), parallel))
}

/// The effort a request's `thinking` (a budget) or `output_config.effort` asks for. A budget is
/// the least effort whose budget holds it; `disabled` and `adaptive` without an effort leave the
/// model at its default.
fn reasoning_effort(asked: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let effort = match asked.get("output_config").and_then(|c| c.get("effort")).filter(|v| !v.is_null()) {
        None => None,
        Some(effort) => match effort.as_str() {
            Some(effort @ ("low" | "medium" | "high" | "xhigh" | "max")) => Some(effort.to_string()),
            _ => return Err(ApiError::invalid_value("output_config.effort", "'output_config.effort' must be 'low', 'medium', 'high', 'xhigh' or 'max'.")),
        },
    };
    let Some(thinking) = asked.get("thinking").filter(|v| !v.is_null()) else { return Ok(effort) };
    let Some(t) = thinking.as_object() else { return Err(ApiError::invalid_value("thinking", "'thinking' must be an object.")) };
    match required_string("thinking", t, "type")? {
        "enabled" => {
            let Some(budget) = t.get("budget_tokens").and_then(Value::as_u64) else {
                return Err(ApiError::invalid_value("thinking.budget_tokens", "'thinking.budget_tokens' must be a positive integer when thinking is enabled."));
            };
            let by_budget = EFFORT_BUDGETS.iter().find(|(_, b)| budget <= *b).unwrap_or(&EFFORT_BUDGETS[EFFORT_BUDGETS.len() - 1]).0;
            Ok(Some(effort.unwrap_or_else(|| by_budget.to_string())))
        }
        // Thinking turned off is the router's `none`, whatever effort is named: the model is not
        // made to think (nor billed for it), and one that cannot stop is passed over.
        "disabled" => Ok(Some("none".to_string())),
        "adaptive" => Ok(Some(effort.unwrap_or_else(|| ADAPTIVE_DEFAULT_EFFORT.to_string()))),
        other => Err(ApiError::invalid_value("thinking.type", format!("'thinking.type' must be 'enabled', 'adaptive' or 'disabled', not '{other}'."))),
    }
}

/// Structured outputs (`output_format`, or `output_config.format`) as chat's `response_format`.
fn output_format(asked: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let (at, format) = match (asked.get("output_config").and_then(|c| c.get("format")).filter(|v| !v.is_null()), asked.get("output_format").filter(|v| !v.is_null())) {
        (Some(f), _) => ("output_config.format", f),
        (None, Some(f)) => ("output_format", f),
        (None, None) => return Ok(None),
    };
    let Some(f) = format.as_object() else { return Err(ApiError::invalid_value(at, format!("'{at}' must be an object."))) };
    match required_string(at, f, "type")? {
        "json_schema" => match f.get("schema") {
            Some(schema @ Value::Object(_)) => Ok(Some(json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}))),
            _ => Err(ApiError::invalid_value(&format!("{at}.schema"), format!("'{at}.schema' must be a JSON schema object."))),
        },
        other => Err(ApiError::invalid_value(&format!("{at}.type"), format!("'{at}.type' must be 'json_schema', not '{other}'."))),
    }
}

/// A chat request's refusal in the names the client used.
fn in_messages_terms(err: ApiError) -> ApiError {
    err.with_param_renamed(|param| {
        Some(if param.starts_with("stop") {
            "stop_sequences".to_string()
        } else if param.starts_with("reasoning_effort") {
            "thinking".to_string()
        } else if param.starts_with("response_format") {
            "output_format".to_string()
        } else if param == "user" {
            "metadata.user_id".to_string()
        } else if param.starts_with("messages") {
            // System prompts, tool messages and split turns make chat's indexes differ.
            "messages".to_string()
        } else if param.starts_with("tools[") {
            param.replacen(".function.parameters", ".input_schema", 1).replacen(".function.", ".", 1)
        } else {
            return None;
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_json(body: Value) -> Value {
        serde_json::to_value(from_value(body).unwrap().chat).unwrap()
    }

    fn refusal(body: Value) -> ApiError {
        from_value(body).unwrap_err()
    }

    #[test]
    fn a_plain_request_becomes_the_chat_request_it_means() {
        let chat = chat_json(json!({
            "model": "claude-haiku-4-5", "max_tokens": 1024, "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello"}],
            "temperature": 0.2, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"}, "service_tier": "auto",
        }));
        assert_eq!(chat["model"], "claude-haiku-4-5");
        assert_eq!(chat["messages"], json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]));
        assert_eq!((chat["max_tokens"].clone(), chat["temperature"].clone(), chat["top_p"].clone()), (json!(1024), json!(0.2), json!(0.9)));
        assert_eq!(chat["stop"], json!(["END"]));
        assert_eq!(chat["user"], "u-1");
        assert!(chat.get("top_k").is_none() && chat.get("service_tier").is_none() && chat.get("stream").is_none_or(|s| s == false));
        let echo = from_value(json!({"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]})).unwrap().echo;
        assert_eq!(echo, MessagesEcho { model: "claude-haiku-4-5".into() });
    }

    #[test]
    fn its_cap_is_a_ceiling_and_its_stream_signs_thinking_as_it_goes() {
        let asked = from_value(json!({"model": "m", "max_tokens": 32000, "messages": [{"role": "user", "content": "q"}]})).unwrap();
        assert!(asked.chat.output_cap_is_ceiling && asked.chat.thinking_blocks_as_they_end);
    }

    #[test]
    fn a_streamed_request_asks_for_the_usage_chunk() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 8, "stream": true, "messages": [{"role": "user", "content": "Hi"}]}));
        assert_eq!((chat["stream"].clone(), chat["stream_options"].clone()), (json!(true), json!({"include_usage": true})));
    }

    #[test]
    fn a_tool_loop_becomes_chat_turns_with_cache_marks_kept() {
        let chat = chat_json(json!({
            "model": "m", "max_tokens": 100,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "List files"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I should run ls.", "signature": "sig-1"},
                    {"type": "text", "text": "Running ls."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt\nb.txt", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "Now count them."},
                ]},
            ],
        }));
        assert_eq!(chat["messages"][0], json!({"role": "system", "content": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]}));
        let assistant = &chat["messages"][2];
        assert_eq!(assistant["content"], "Running ls.");
        assert_eq!(assistant["tool_calls"], json!([{"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]));
        assert_eq!(assistant["thinking_blocks"], json!([{"type": "thinking", "thinking": "I should run ls.", "signature": "sig-1"}]));
        assert_eq!(assistant["reasoning_content"], "I should run ls.");
        assert_eq!(chat["messages"][3], json!({"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "a.txt\nb.txt", "cache_control": {"type": "ephemeral"}}]}));
        assert_eq!(chat["messages"][4], json!({"role": "user", "content": [{"type": "text", "text": "Now count them."}]}));
        assert_eq!(chat["messages"].as_array().unwrap().len(), 5);
        assert_eq!(chat["tools"][0]["function"]["parameters"]["properties"]["command"]["type"], "string");
        assert_eq!(chat["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
        assert_eq!((chat["tool_choice"].clone(), chat["parallel_tool_calls"].clone()), (json!("auto"), json!(false)));
    }

    #[test]
    fn a_signature_the_router_marked_goes_back_to_the_model_that_wrote_it() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": "costrouter:claude-sonnet-4-5 EqQB"},
                {"type": "redacted_thinking", "data": "costrouter:claude-sonnet-4-5 EmwK"},
                {"type": "text", "text": "Hi"},
            ]},
            {"role": "user", "content": "again"},
        ]}));
        assert_eq!(chat["messages"][1]["thinking_blocks"], json!([
            {"type": "thinking", "thinking": "Hmm.", "signature": "EqQB", "model": "claude-sonnet-4-5"},
            {"type": "redacted_thinking", "data": "EmwK", "model": "claude-sonnet-4-5"},
        ]));
    }

    #[test]
    fn unsigned_thinking_goes_back_as_text_only_and_tool_choices_map() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "streamed", "signature": ""}, {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "boom", "is_error": true}]},
        ], "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "f"}}));
        let assistant = &chat["messages"][1];
        assert!(assistant.get("thinking_blocks").is_none(), "a thinking block without a signature cannot be verified");
        assert_eq!((assistant["reasoning_content"].clone(), assistant["content"].clone()), (json!("streamed"), Value::Null));
        assert_eq!(chat["messages"][2], json!({"role": "tool", "tool_call_id": "t", "content": "Error: boom"}));
        assert_eq!(chat["messages"].as_array().unwrap().len(), 3, "a turn of tool results alone adds no user message");
        assert_eq!(chat["tool_choice"], json!({"type": "function", "function": {"name": "f"}}));
        let any = chat_json(json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}], "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}}));
        assert_eq!(any["tool_choice"], "required");
        let without_tools = chat_json(json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}], "tool_choice": {"type": "none"}}));
        assert!(without_tools.get("tool_choice").is_none(), "chat refuses a choice without tools");
    }

    #[test]
    fn images_and_documents_become_parts_and_those_of_tool_results_follow_them() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "document", "title": "spec.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
            ]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "screenshot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]}]},
        ]}));
        assert_eq!(chat["messages"][0]["content"], json!([
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "spec.pdf"}},
            {"type": "text", "text": "plain words"},
        ]));
        assert_eq!(chat["messages"][2], json!({"role": "tool", "tool_call_id": "t", "content": "The output is attached in the next message."}));
        assert_eq!(chat["messages"][3], json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]}));
    }

    #[test]
    fn thinking_budgets_and_efforts_become_chat_efforts_never_thinking_less() {
        let effort = |extra: Value| {
            let mut body = json!({"model": "m", "max_tokens": 64000, "messages": [{"role": "user", "content": "q"}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            chat_json(body).get("reasoning_effort").cloned()
        };
        assert_eq!(effort(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})), Some(json!("low")));
        assert_eq!(effort(json!({"thinking": {"type": "enabled", "budget_tokens": 1025}})), Some(json!("medium")));
        assert_eq!(effort(json!({"thinking": {"type": "enabled", "budget_tokens": 4000}})), Some(json!("high")));
        assert_eq!(effort(json!({"thinking": {"type": "enabled", "budget_tokens": 8192}})), Some(json!("xhigh")));
        assert_eq!(effort(json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})), Some(json!("max")), "Claude Code's largest budget");
        assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), Some(json!("none")));
        assert_eq!(effort(json!({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}})), Some(json!("none")), "thinking turned off stays off");
        assert_eq!(effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}})), Some(json!("medium")));
        assert_eq!(effort(json!({"thinking": {"type": "adaptive"}})), Some(json!("high")), "adaptive thinks at Anthropic's default effort");
        assert_eq!(effort(json!({"output_config": {"effort": "xhigh"}})), Some(json!("xhigh")));
        assert_eq!(effort(json!({})), None);
        let format = chat_json(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}], "output_format": {"type": "json_schema", "schema": {"type": "object"}}}));
        assert_eq!(format["response_format"], json!({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": true}}));
    }

    #[test]
    fn what_needs_anthropics_servers_or_is_malformed_is_refused_by_name() {
        let base = || json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert_eq!(refusal(with("mcp_servers", json!([{"type": "url"}]))).param.as_deref(), Some("mcp_servers"));
        assert_eq!(refusal(with("container", json!("c"))).code, "unsupported_parameter");
        assert_eq!(refusal(with("inference_geo", json!("us"))).param.as_deref(), Some("inference_geo"));
        // Claude Code sends context_management; it and the other tuning knobs are taken.
        for (name, value) in [("context_management", json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]})), ("speed", json!("fast")), ("top_k", json!(5)), ("service_tier", json!("auto"))] {
            assert!(from_value(with(name, value)).is_ok(), "{name}");
        }
        assert_eq!(refusal(with("frequency_penalty", json!(1))).code, "unknown_parameter");
        let server_tool = refusal(with("tools", json!([{"type": "web_search_20250305", "name": "web_search"}])));
        assert_eq!(server_tool.param.as_deref(), Some("tools[0].type"));
        assert!(server_tool.message.contains("web_search_20250305"));
        let no_cap = refusal(json!({"model": "m", "messages": []}));
        assert_eq!((no_cap.code, no_cap.param.as_deref()), ("missing_required_parameter", Some("max_tokens")));
        assert_eq!(refusal(with("messages", json!([{"role": "system", "content": "x"}]))).param.as_deref(), Some("messages[0].role"));
        let by_id = refusal(with("messages", json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}])));
        assert_eq!(by_id.param.as_deref(), Some("messages[0].content[0].source.type"));
        let search = refusal(with("messages", json!([{"role": "user", "content": [{"type": "search_result", "source": "s", "title": "t", "content": []}]}])));
        assert!(search.message.contains("'search_result' are not supported"), "{}", search.message);
        assert_eq!(refusal(with("thinking", json!({"type": "enabled"}))).param.as_deref(), Some("thinking.budget_tokens"));
        assert_eq!(refusal(with("stop_sequences", json!("END"))).param.as_deref(), Some("stop_sequences"));
    }

    #[test]
    fn a_chat_refusal_names_the_field_as_the_client_sent_it() {
        let bad_temperature = refusal(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}], "temperature": 9}));
        assert_eq!(bad_temperature.param.as_deref(), Some("temperature"));
        let bad_effort = refusal(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}], "output_config": {"effort": "enormous"}}));
        assert_eq!(bad_effort.param.as_deref(), Some("output_config.effort"), "{}", bad_effort.message);
        let many_stops = refusal(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}], "stop_sequences": ["a", "b", "c", "d", "e"]}));
        assert_eq!(many_stops.param.as_deref(), Some("stop_sequences"), "{}", many_stops.message);
    }

    #[test]
    fn a_top_level_cache_mark_goes_on_the_last_block() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 5, "cache_control": {"type": "ephemeral"}, "system": "S", "messages": [
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"},
        ]}));
        assert_eq!(chat["messages"][3], json!({"role": "user", "content": [{"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}}]}));
        assert_eq!(chat["messages"][1]["content"], "first", "one breakpoint");
        let parts = chat_json(json!({"model": "m", "max_tokens": 5, "cache_control": {"type": "ephemeral", "ttl": "1h"}, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]},
        ]}));
        assert_eq!(parts["messages"][0]["content"][1]["cache_control"], json!({"type": "ephemeral"}), "a block's own mark stays");
        // Four marks of the request's own already: Anthropic takes no fifth.
        let mark = json!({"type": "ephemeral"});
        let full = chat_json(json!({"model": "m", "max_tokens": 5, "cache_control": mark,
            "system": [{"type": "text", "text": "S", "cache_control": mark}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": mark}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": mark}]},
                {"role": "assistant", "content": [{"type": "text", "text": "b", "cache_control": mark}]},
                {"role": "user", "content": "last"},
            ]}));
        assert_eq!(full["messages"][3]["content"], "last", "{full}");
    }

    #[test]
    fn a_top_level_cache_mark_goes_on_the_last_part_passing_over_turns_without_one() {
        let mark = json!({"type": "ephemeral"});
        let parts = chat_json(json!({"model": "m", "max_tokens": 5, "cache_control": mark, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ]}));
        assert_eq!(parts["messages"][0]["content"], json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": mark}]), "the last part of parts");
        // A turn with no blocks has nowhere to hold the mark: it goes on the turn before.
        let empty_last = chat_json(json!({"model": "m", "max_tokens": 5, "cache_control": mark, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": []},
        ]}));
        assert_eq!(empty_last["messages"][2], json!({"role": "user", "content": []}));
        assert_eq!(empty_last["messages"][1]["content"], json!([{"type": "text", "text": "ok", "cache_control": mark}]));
        assert!(empty_last["messages"][0]["content"][0].get("cache_control").is_none(), "one breakpoint");
    }

    #[test]
    fn an_empty_tool_result_is_empty_text_not_an_attachment_note() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": []}]},
        ]}));
        assert_eq!(chat["messages"][2], json!({"role": "tool", "tool_call_id": "t", "content": ""}));
        assert_eq!(chat["messages"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn custom_tools_keep_their_description_and_strictness() {
        let chat = chat_json(json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}], "tools": [
            {"type": "custom", "name": "f", "description": "Find things", "strict": true, "input_schema": {"type": "object"}},
            {"name": "g", "description": null, "input_schema": {"type": "object"}},
        ]}));
        assert_eq!(chat["tools"][0], json!({"type": "function", "function": {"name": "f", "description": "Find things", "strict": true, "parameters": {"type": "object"}}}));
        assert!(chat["tools"][1]["function"].get("description").is_none(), "a null description is none");
    }

    #[test]
    fn output_config_format_is_the_response_format_before_output_format() {
        let format = |extra: Value| {
            let mut body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            chat_json(body)["response_format"]["json_schema"]["schema"].clone()
        };
        let schema = |title: &str| json!({"type": "json_schema", "schema": {"type": "object", "title": title}});
        assert_eq!(format(json!({"output_config": {"format": schema("config")}})), json!({"type": "object", "title": "config"}));
        assert_eq!(format(json!({"output_config": {"format": schema("config")}, "output_format": schema("old")}))["title"], "config");
        assert_eq!(format(json!({"output_config": {"format": null}, "output_format": schema("old")}))["title"], "old");
    }

    #[test]
    fn a_count_request_needs_no_cap_and_never_streams() {
        let chat = parse_for_count(br#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"Hello"}],"stream":true}"#).unwrap();
        assert!(!chat.stream);
        assert_eq!(chat.messages.len(), 1);
    }
}
