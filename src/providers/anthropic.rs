//! Anthropic's Messages API (`POST {base_url}/messages`), translated both ways.
//!
//! Anthropic differs from OpenAI in ways the translation must absorb: the system prompt is a
//! top-level field, roles must alternate user/assistant, tool results are user-turn blocks,
//! `max_tokens` is required, and temperature stops at 1. What cannot be expressed (`n` > 1,
//! logprobs, audio input) is refused up front with an OpenAI-style error naming the parameter.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::sse::SseEvent;
use super::{json_output_instruction, tool_call_ids, ChatAnswer, Provider, Rejection, StreamTranslator, Target, UpstreamError, UpstreamRequest};
use crate::api::chat::{AllowedFunctions, AssistantMessage, ChatCompletion, ChatRequest, Choice, Content, ContentPart, FunctionCall, Message, ResponseFormat, Role, ToolCall, THINKING_BLOCKS};
use crate::api::ApiError;
use crate::usage::Usage;

pub struct Anthropic;

const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; OpenAI clients usually leave it out.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// The core has no clock: the edge layer overwrites `created` on every translated answer/chunk.
const CREATED_PLACEHOLDER: i64 = 0;

impl Provider for Anthropic {
    fn default_output_cap(&self, req: &ChatRequest, upstream_model: &str) -> Option<u64> {
        Some(output_budget(req, upstream_model).0)
    }

    fn translates_reasoning_effort(&self) -> bool {
        true
    }

    fn reasoning_as_asked(&self, req: &ChatRequest, upstream_model: &str) -> Option<u64> {
        // A budget or an adaptive effort is sent only for an effort the request asked for.
        match output_budget(req, upstream_model).1 {
            Thinking::Budget(budget) => Some(budget),
            Thinking::Adaptive(_) => Some(u64::MAX),
            Thinking::ModelDefault | Thinking::Disabled => None,
        }
    }

    fn needs_thinking_returned(&self, upstream_model: &str) -> bool {
        matches!(thinking_style(upstream_model), ThinkingStyle::Adaptive { always: true, .. })
    }

    fn samples_regardless(&self, req: &ChatRequest, upstream_model: &str) -> bool {
        let (_, thinking) = output_budget(req, upstream_model);
        matches!(thinking, Thinking::Budget(_)) || matches!(thinking_style(upstream_model), ThinkingStyle::Adaptive { .. })
    }

    fn dropped_param(&self, req: &ChatRequest) -> Option<(&'static str, &'static str)> {
        stop_sequences(req).1.then_some(("stop", "Anthropic refuses stop sequences of whitespace only"))
    }

    fn chat_request(&self, target: &Target, req: &ChatRequest) -> Result<UpstreamRequest, ApiError> {
        let body = request_body(req, target.upstream_model)?;
        let mut headers = vec![("anthropic-version", API_VERSION.to_string())];
        if let Some(key) = target.api_key {
            headers.push(("x-api-key", key.to_string()));
        }
        Ok(UpstreamRequest::json_post(format!("{}/messages", target.provider.base_url), headers, &body))
    }

    fn chat_response(&self, target: &Target, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
        chat_answer(&target.provider.id, target.upstream_model, body)
    }

    fn chat_stream(&self, target: &Target, req: &ChatRequest) -> Box<dyn StreamTranslator> {
        let mut stream = AnthropicStream::new(&target.provider.id, target.upstream_model);
        stream.thinking_blocks_as_they_end = req.thinking_blocks_as_they_end;
        Box::new(stream)
    }
    // Anthropic errors are `{"type":"error","error":{"type","message"}}`: the default reader fits.

    /// Anthropic answers an exhausted credit balance with a 400 `invalid_request_error` (a
    /// problem of the operator's account, not the request), a prompt over the window with
    /// "prompt is too long", and `max_tokens` over a model's cap with "… > N, which is the
    /// maximum allowed number of output tokens".
    fn rejection(&self, _status: u16, body: &[u8]) -> Rejection {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if message.contains("credit balance") {
            Rejection::Deployment
        } else if message.contains("maximum allowed number of output tokens") {
            Rejection::OutputCap
        } else if message.contains("prompt is too long") || message.contains("exceed context limit") {
            Rejection::TooLong
        } else if [
            "does not support assistant message prefill",
            "prefilling assistant messages is not supported",
            "cannot both be specified for this model",
            "is deprecated for this model",
            "is not supported for this model",
            "forces tool use",
            "expected `thinking` or `redacted_thinking`",
            "invalid `signature` in `thinking` block",
            "schema is too complex",
            "too many recursive definitions in schema",
        ]
        .iter()
        .any(|m| message.contains(m))
        {
            // What one Claude model refuses and another takes: Claude 4.6 refuses a conversation
            // ending in an assistant turn (a prefill), Claude 4.5 `temperature` beside `top_p`.
            // And what another model or host may take: thinking blocks sent back without the
            // router's mark of the model that wrote them (a signature is that model's alone), a
            // structured-output schema Anthropic's grammar cannot compile. And a parameter a newer
            // model refuses that this adapter did not know it would (`temperature` on Opus 4.7,
            // "thinking.type.enabled" from then on), for a model named outside Anthropic's scheme;
            // and a model that always thinks (Sonnet 5.5) refusing a forced tool choice, or a tool
            // loop whose thinking the client did not send back: another model may take them.
            Rejection::Unsupported
        } else {
            Rejection::Request
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request

fn request_body(req: &ChatRequest, model: &str) -> Result<Value, ApiError> {
    super::refuse_untranslatable(req, "Anthropic")?;
    req.function_tools_only()?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(ApiError::invalid_value("n", "Anthropic models return a single choice; 'n' must be 1."));
    }
    if req.logprobs == Some(true) {
        return Err(ApiError::invalid_value("logprobs", "Anthropic models do not return logprobs."));
    }

    let (max_tokens, thinking) = output_budget(req, model);
    let style = thinking_style(model);
    let mut system: Vec<String> = Vec::new();
    // The system prompt as blocks too, used instead of the string when a part marks a cache
    // breakpoint (`cache_control`): the mark must sit on a block.
    let mut system_blocks: Vec<Value> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(m.content.as_ref().map(Content::text));
                system_blocks.extend(content_blocks(m.content.as_ref(), i).unwrap_or_default());
                continue;
            }
            Role::User => ("user", content_blocks(m.content.as_ref(), i)?),
            Role::Assistant => ("assistant", assistant_blocks(m, i, thinking.is_on(style).then_some(model))?),
            Role::Tool => ("user", vec![tool_result(m, i)?]),
            Role::Function => {
                return Err(ApiError::invalid_value(
                    &format!("messages[{i}].role"),
                    "The deprecated 'function' role is not supported for Anthropic models; use 'tool' messages.",
                ))
            }
        };
        // Anthropic rejects messages without content; dropping one keeps the rest valid.
        if blocks.is_empty() {
            continue;
        }
        // Roles must alternate, so consecutive turns of one role (tool results included) merge.
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(ApiError::invalid_value("messages", "Anthropic models need at least one user or assistant message with content."));
    }
    // A prefill (the answer goes on from it) may not end in whitespace: Anthropic answers 400
    // "final assistant content cannot end with trailing whitespace". The model writes the space.
    if let Some(("assistant", blocks)) = turns.last_mut() {
        if let Some(Value::String(text)) = blocks.last_mut().filter(|b| b["type"] == "text").and_then(|b| b.get_mut("text")) {
            text.truncate(text.trim_end().len());
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // Anthropic wants tool results first in their user turn, and thinking first in an
            // assistant turn merged from several messages; the sort is stable.
            blocks.sort_by_key(|b| !matches!(b["type"].as_str(), Some("tool_result" | "thinking" | "redacted_thinking")));
            json!({ "role": role, "content": blocks })
        })
        .collect();

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));
    body.insert("messages".into(), Value::Array(messages));
    // A JSON schema the model's grammar can hold constrains the answer (structured outputs);
    // otherwise, and for JSON mode, which has no schema, an instruction in the system prompt asks
    // for it (the way Anthropic documents for models without structured outputs).
    let output_schema = structured_output_schema(req, model);
    let instruction = if output_schema.is_some() { None } else { json_output_instruction(req.response_format.as_ref()) };
    if system_blocks.iter().any(|b| b.get("cache_control").is_some()) {
        system_blocks.extend(instruction.as_deref().and_then(text_block));
        body.insert("system".into(), Value::Array(system_blocks));
    } else {
        system.extend(instruction);
        system.retain(|s| !s.trim().is_empty());
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
    }
    let mut output_config = Map::new();
    if let Some(schema) = output_schema {
        output_config.insert("format".into(), json!({ "type": "json_schema", "schema": schema }));
    }
    match thinking {
        Thinking::ModelDefault => {}
        Thinking::Budget(budget) => {
            body.insert("thinking".into(), json!({ "type": "enabled", "budget_tokens": budget }));
        }
        Thinking::Adaptive(effort) => {
            body.insert("thinking".into(), json!({ "type": "adaptive" }));
            output_config.insert("effort".into(), json!(effort));
        }
        Thinking::Disabled => {
            body.insert("thinking".into(), json!({ "type": "disabled" }));
        }
    }
    if !output_config.is_empty() {
        body.insert("output_config".into(), Value::Object(output_config));
    }
    // Opus 4.7 and later models refuse `temperature` and `top_p` (400, "deprecated for this
    // model"); they are left out, as for OpenAI's reasoning models. A model thinking with a budget
    // samples at temperature 1 only, and takes top_p from 0.95 up: what else the client set is
    // left out rather than refused.
    let samples_as_asked = !matches!(style, ThinkingStyle::Adaptive { .. });
    if let Some(t) = req.temperature.filter(|_| samples_as_asked && !matches!(thinking, Thinking::Budget(_))) {
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    // Recent Claude models reject temperature and top_p together; temperature is the common knob.
    if let Some(p) = req.top_p.filter(|&p| samples_as_asked && !body.contains_key("temperature") && (!matches!(thinking, Thinking::Budget(_)) || p >= 0.95)) {
        body.insert("top_p".into(), json!(p));
    }
    let (stops, _) = stop_sequences(req);
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    // OpenAI's newer `safety_identifier` names the end user too (both arrive as opaque ids).
    if let Some(user) = req.user.as_deref().or_else(|| req.extra.get("safety_identifier").and_then(Value::as_str)) {
        body.insert("metadata".into(), json!({ "user_id": user }));
    }
    if let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) {
        // Anthropic has no allowed-tools choice: only the allowed tools are declared.
        let allowed = req.allowed_functions()?;
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| Some((t, t.function.as_ref()?)))
            .filter(|(_, function)| allowed.as_ref().is_none_or(|a| a.declares(&function.name)))
            .map(|(t, function)| {
                let mut tool = json!({
                    "name": function.name,
                    "input_schema": function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let Some(d) = &function.description {
                    tool["description"] = json!(d);
                }
                if let Some(mark) = t.extra.get("cache_control") {
                    tool["cache_control"] = mark.clone();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(req.tool_choice.as_ref(), allowed.as_ref(), req.parallel_tool_calls)? {
            body.insert("tool_choice".into(), choice);
        }
    }
    // No tools sent (none declared, or none of them allowed): the history's, if it called any.
    if body.get("tools").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        declare_tools_of_history(&mut body);
    }
    Ok(Value::Object(body))
}

/// Anthropic refuses a history with tool calls in it unless the request declares tools ("Requests
/// which include `tool_use` or `tool_result` blocks must define tools"); OpenAI takes one, as in
/// the common last turn of a tool loop that asks for the answer without offering the tools again.
/// The tools the history called are declared, with any input, and the model may call none of them
/// (`tool_choice: none`), as the client offered none.
fn declare_tools_of_history(body: &mut Map<String, Value>) {
    let mut names: Vec<&str> = Vec::new();
    let blocks = body.get("messages").and_then(Value::as_array).into_iter().flatten().filter_map(|m| m["content"].as_array()).flatten();
    for block in blocks.filter(|b| b["type"] == "tool_use") {
        if let Some(name) = block["name"].as_str().filter(|n| !names.contains(n)) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return;
    }
    let tools: Vec<Value> = names.iter().map(|name| json!({ "name": name, "input_schema": { "type": "object" } })).collect();
    body.insert("tools".into(), Value::Array(tools));
    body.insert("tool_choice".into(), json!({ "type": "none" }));
}

/// Anthropic's least thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;
use super::ANSWER_ROOM_BESIDE_THINKING;

/// How a Claude model takes thinking, by its name (Anthropic's model migration guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThinkingStyle {
    /// Claude 3.5 and before: no thinking.
    Unable,
    /// Claude 3.7 to 4.6: `{type: "enabled", budget_tokens}`, only when asked.
    Budget,
    /// Opus 4.7 and every later model: `{type: "adaptive"}` with `output_config.effort`; a
    /// budget, `temperature` and `top_p` are refused. `by_default`: the model thinks when
    /// `thinking` is left out (every Claude 5); `always`: and cannot be told not to (Opus and
    /// Sonnet from 5.5, Fable, Mythos).
    Adaptive { by_default: bool, always: bool },
}

/// The style by name, as LiteLLM 1.110.2's rows flag the models (`thinking_on_by_default`:
/// Opus 5, Sonnet 5, Haiku 5.5; `thinking_always_on`: Opus 5.5, Sonnet 5.5, Fable 5 and 5.1,
/// Mythos 5 and 5.1); a later version of a family is taken to keep its family's style.
fn thinking_style(model: &str) -> ThinkingStyle {
    let name = model.to_ascii_lowercase();
    // Fable and Mythos came after Opus 4.7, some without a version (`claude-mythos-preview`).
    if name.contains("claude-fable") || name.contains("claude-mythos") {
        return ThinkingStyle::Adaptive { by_default: true, always: true };
    }
    let version = claude_version(model);
    // A family's newest by its alias (LiteLLM's `claude-sonnet-latest`, Sonnet 5.5 in 1.110.2):
    // the newest style (an alias with a version, `claude-3-7-sonnet-latest`, is read by it).
    if version.is_none() && ["claude-opus-latest", "claude-sonnet-latest", "claude-haiku-latest"].iter().any(|alias| name.ends_with(alias)) {
        return ThinkingStyle::Adaptive { by_default: true, always: !name.contains("haiku") };
    }
    match version {
        Some((3, Some(7..))) | Some((4, None | Some(0..=6))) => ThinkingStyle::Budget,
        Some((major @ 4.., minor)) => {
            let always = !name.contains("haiku") && (major, minor.unwrap_or(0)) >= (5, 5);
            ThinkingStyle::Adaptive { by_default: always || major >= 5, always }
        }
        _ => ThinkingStyle::Unable,
    }
}

/// Whether `model` thinks when a request does not ask it to (every Claude 5, Fable, Mythos).
pub fn thinks_unasked(model: &str) -> bool {
    matches!(thinking_style(model), ThinkingStyle::Adaptive { by_default: true, .. })
}

/// What the request body says of thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thinking {
    /// Nothing: the model's own default (no thinking, but for the models that think by default).
    ModelDefault,
    /// `{type: "enabled", budget_tokens}`.
    Budget(u64),
    /// `{type: "adaptive"}`, with this `output_config.effort`.
    Adaptive(&'static str),
    /// `{type: "disabled"}`: a model that thinks by default, told not to.
    Disabled,
}

impl Thinking {
    /// Whether the model thinks on this request (its thinking blocks are then sent back).
    fn is_on(self, style: ThinkingStyle) -> bool {
        match self {
            Thinking::Budget(_) | Thinking::Adaptive(_) => true,
            Thinking::Disabled => false,
            Thinking::ModelDefault => matches!(style, ThinkingStyle::Adaptive { by_default: true, .. }),
        }
    }
}

/// `max_tokens` to send `model` and what to say of thinking. OpenAI's output cap counts
/// reasoning too, so a client's cap holds a thinking budget, which then leaves the answer
/// [`ANSWER_ROOM_BESIDE_THINKING`] (a cap too small for both goes without thinking); with no
/// cap, the answer keeps its usual room beside the budget, or beside what adaptive thinking
/// is expected to take at its effort.
fn output_budget(req: &ChatRequest, model: &str) -> (u64, Thinking) {
    let style = thinking_style(model);
    let thinking = requested_thinking(req, model, style);
    match (req.max_output_tokens(), thinking) {
        (Some(cap), Thinking::Budget(budget)) => {
            let budget = budget.min(cap.saturating_sub(ANSWER_ROOM_BESIDE_THINKING));
            (cap, if budget >= MIN_THINKING_BUDGET { Thinking::Budget(budget) } else { Thinking::ModelDefault })
        }
        // A cap with no room for thinking beside an answer goes without it, as with a budget:
        // thinking would spend it and the answer come back empty, cut at `length`. A model that
        // cannot be told not to think is held to its least effort, whatever was asked (as Gemini
        // 3 is sent its least level).
        (Some(cap), thinking) if thinking.is_on(style) && cap < MIN_THINKING_BUDGET + ANSWER_ROOM_BESIDE_THINKING => match style {
            ThinkingStyle::Adaptive { always: true, .. } => (cap, Thinking::Adaptive("low")),
            ThinkingStyle::Adaptive { by_default: true, .. } => (cap, Thinking::Disabled),
            _ => (cap, Thinking::ModelDefault),
        },
        (Some(cap), thinking) => (cap, thinking),
        (None, Thinking::Budget(budget)) => (DEFAULT_MAX_TOKENS + budget, thinking),
        // Adaptive thinking has no budget: the room a budget at the same effort would have.
        (None, Thinking::Adaptive(effort)) => (DEFAULT_MAX_TOKENS + effort_thinking_budget(effort).unwrap_or(4096), thinking),
        // A model thinking by default does so at its default effort, `high`.
        (None, Thinking::ModelDefault) if thinking.is_on(style) => (DEFAULT_MAX_TOKENS + 4096, thinking),
        (None, _) => (DEFAULT_MAX_TOKENS, thinking),
    }
}

/// OpenAI's `reasoning_effort` as a Claude thinking budget in tokens, as LiteLLM maps it (and
/// `xhigh` twice `high`); "minimal" and "none" think not at all.
fn effort_thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        "xhigh" => Some(8192),
        "max" => Some(16384),
        _ => None,
    }
}

/// OpenAI's `reasoning_effort` as Anthropic's `output_config.effort`, for adaptive thinking
/// (Anthropic's own `max` is passed on too).
fn adaptive_effort(effort: &str) -> Option<&'static str> {
    ["low", "medium", "high", "xhigh", "max"].into_iter().find(|e| *e == effort)
}

/// The stop sequences Anthropic takes, and whether any was left out. It refuses a sequence of
/// whitespace only ("\n" is a common one) with a 400, which would end the fallback chain; such a
/// sequence is left out (as LiteLLM does), and the answer may run past a newline the client meant
/// to stop at: the router passes a Claude model a rule chose over for it (`dropped_param`).
fn stop_sequences(req: &ChatRequest) -> (Vec<String>, bool) {
    let all = req.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default();
    let count = all.len();
    let kept: Vec<String> = all.into_iter().filter(|s| !s.trim().is_empty()).collect();
    let dropped = kept.len() < count;
    (kept, dropped)
}

/// What to ask `model` of thinking. Up to Claude 4.6 it thinks only when asked, with a budget;
/// from Opus 4.7 adaptively, at the effort asked; Claude 5 (Opus 5, Sonnet 5, Haiku 5.5) thinks
/// unless told not to (a client's "none" or "minimal" effort), Opus and Sonnet 5.5, Fable and
/// Mythos always. Thinking is not asked for where
/// Anthropic refuses it: a forced tool choice, a conversation ending in an assistant turn (a
/// prefill), and the call after a tool call unless the client sent that turn's thinking blocks
/// back (Anthropic wants them; OpenAI's message format has no place for them, and only a client
/// that returns the message as it came, `thinking_blocks` included, keeps them); a model that
/// thinks by default is told not to in all three (one that always thinks cannot be: Anthropic's
/// refusal then passes it over).
fn requested_thinking(req: &ChatRequest, model: &str, style: ThinkingStyle) -> Thinking {
    let effort = req.reasoning_effort();
    let forced_tool = req.tools.as_ref().is_some_and(|t| !t.is_empty())
        && match req.tool_choice.as_ref() {
            Some(Value::String(s)) => s == "required",
            Some(choice) => choice["type"] == "function" || req.allowed_functions().ok().flatten().is_some_and(|a| a.required),
            None => false,
        };
    let after_tool_call = req
        .messages
        .iter()
        .rfind(|m| m.role == Role::Assistant)
        .is_some_and(|m| m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) && returned_thinking_blocks(m, model).is_empty());
    let may_think = !forced_tool && !ends_with_prefill(req) && !after_tool_call;
    match style {
        ThinkingStyle::Unable => Thinking::ModelDefault,
        ThinkingStyle::Budget => match effort.and_then(effort_thinking_budget) {
            Some(budget) if may_think => Thinking::Budget(budget),
            _ => Thinking::ModelDefault,
        },
        // It cannot be told not to think: what the client asked is its effort.
        ThinkingStyle::Adaptive { always: true, .. } => effort.and_then(adaptive_effort).map_or(Thinking::ModelDefault, Thinking::Adaptive),
        ThinkingStyle::Adaptive { by_default, .. } => match effort.and_then(adaptive_effort) {
            Some(effort) if may_think => Thinking::Adaptive(effort),
            _ if by_default && (!may_think || matches!(effort, Some("none" | "minimal"))) => Thinking::Disabled,
            _ => Thinking::ModelDefault,
        },
    }
}

/// Whether the conversation ends in an assistant turn (a prefill: the answer is to go on from it).
fn ends_with_prefill(req: &ChatRequest) -> bool {
    req.messages.iter().rfind(|m| !matches!(m.role, Role::System | Role::Developer)).is_some_and(|m| m.role == Role::Assistant)
}

/// The schema for `output_config.format`, when the client asked for a JSON schema, the model
/// takes structured outputs (Claude 4.5 and later: Sonnet 4.5, Haiku 4.5, Opus 4.5, ...; Opus
/// 4.1 had them in beta only) and the grammar holds the schema as it is (see
/// `anthropic_schema`). Not with a prefill, which Anthropic refuses beside structured outputs.
fn structured_output_schema(req: &ChatRequest, model: &str) -> Option<Value> {
    let Some(ResponseFormat::JsonSchema { json_schema }) = req.response_format.as_ref() else { return None };
    if !matches!(claude_version(model), Some((5.., _)) | Some((4, Some(5..)))) {
        return None;
    }
    if ends_with_prefill(req) {
        return None;
    }
    super::anthropic_schema::to_output_schema(json_schema.schema.as_ref()?)
}

/// A Claude model's version from its name (`claude-3-7-sonnet-20250219`, `claude-sonnet-4-5`,
/// `claude-opus-4-1-20250805`, `claude-opus-4-20250514`): the first number under 100 after
/// `claude-` is the major version, the one after it (if any) the minor; a date is neither.
/// `None` for a name without one.
fn claude_version(model: &str) -> Option<(u32, Option<u32>)> {
    let model = model.to_ascii_lowercase();
    let rest = model.split("claude-").nth(1)?;
    let mut numbers = rest.split(['-', '.', '@']).filter_map(|part| part.parse::<u32>().ok().filter(|n| *n < 100));
    Some((numbers.next()?, numbers.next()))
}

/// Anthropic rejects empty and whitespace-only text blocks.
fn text_block(text: &str) -> Option<Value> {
    (!text.trim().is_empty()).then(|| json!({ "type": "text", "text": text }))
}

/// `data:<media type>[;<parameter>...];base64,<data>` → (media type, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    Some((media_type.split(';').next().unwrap_or(media_type).trim(), data))
}

fn content_blocks(content: Option<&Content>, i: usize) -> Result<Vec<Value>, ApiError> {
    let parts = match content {
        None => return Ok(vec![]),
        Some(Content::Text(t)) => return Ok(text_block(t).into_iter().collect()),
        Some(Content::Parts(parts)) => parts,
    };
    let mut blocks = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        let param = format!("messages[{i}].content[{k}]");
        let before = blocks.len();
        match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text, .. } => blocks.extend(text_block(text)),
            ContentPart::ImageUrl { image_url, .. } => {
                let url = image_url.url.as_str();
                let source = match data_url(url) {
                    Some((media_type, data)) => json!({ "type": "base64", "media_type": super::image_media_type(media_type, data), "data": data }),
                    None if url.starts_with("https://") || url.starts_with("http://") => json!({ "type": "url", "url": url }),
                    None => {
                        return Err(ApiError::invalid_value(
                            &format!("{param}.image_url.url"),
                            "Image URLs must be http(s) URLs or base64 'data:' URLs.",
                        ))
                    }
                };
                blocks.push(json!({ "type": "image", "source": source }));
            }
            // OpenAI sends PDFs inline as `file.file_data`; Anthropic calls them documents.
            ContentPart::File { file, .. } => match file.get("file_data").and_then(Value::as_str).and_then(data_url) {
                Some(("application/pdf", data)) => blocks.push(json!({
                    "type": "document",
                    "source": { "type": "base64", "media_type": "application/pdf", "data": data },
                })),
                _ => return Err(ApiError::invalid_value(&param, "Anthropic models accept files only as inline base64 PDF 'file_data'.")),
            },
            ContentPart::InputAudio { .. } => return Err(ApiError::invalid_value(&param, "Anthropic models do not accept audio input.")),
            ContentPart::Other(_) => return Err(super::foreign_part(part, &param, "Anthropic")),
        }
        // A prompt-cache breakpoint, as LiteLLM and Anthropic's own OpenAI-style clients mark it
        // on a content part, goes on the block made from that part.
        if let (Some(mark), Some(block)) = (part.extra().get("cache_control"), blocks.get_mut(before)) {
            block["cache_control"] = mark.clone();
        }
    }
    Ok(blocks)
}

/// An assistant turn's blocks; with `thinking_for` (the model, when thinking is on) the thinking
/// blocks the client sent back that it can take go first (Anthropic wants them there in a tool
/// loop; without thinking they are left out, as on a turn with nothing else to say).
fn assistant_blocks(m: &Message, i: usize, thinking_for: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let mut blocks = content_blocks(m.content.as_ref(), i)?;
    if let (true, Some(refusal)) = (blocks.is_empty(), m.refusal()) {
        blocks.push(json!({"type": "text", "text": refusal}));
    }
    let says_something = !blocks.is_empty() || m.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
    if let Some(model) = thinking_for.filter(|_| says_something) {
        blocks.splice(0..0, returned_thinking_blocks(m, model));
    }
    for (j, (call, function)) in m.tool_calls.iter().flatten().filter_map(|c| Some((c, c.function.as_ref()?))).enumerate() {
        let args = function.arguments.trim();
        // Some clients send "" for a call without arguments; Anthropic needs an object.
        let input = if args.is_empty() { Some(json!({})) } else { serde_json::from_str::<Value>(args).ok().filter(Value::is_object) };
        let input = input.ok_or_else(|| {
            ApiError::invalid_value(
                &format!("messages[{i}].tool_calls[{j}].function.arguments"),
                "Tool call arguments must be a JSON object encoded as a string.",
            )
        })?;
        blocks.push(json!({ "type": "tool_use", "id": tool_call_ids::for_anthropic(&call.id), "name": function.name, "input": input }));
    }
    Ok(blocks)
}

/// The thinking blocks a client sent back on an assistant message (`thinking_blocks`, as this
/// router and LiteLLM return them) that `model` can take, in Anthropic's form. A signature is
/// valid only on the model that wrote it: a block this router marked with another model (the
/// next call of a tool loop routed elsewhere) is left out, as is a block of another shape.
fn returned_thinking_blocks(m: &Message, model: &str) -> Vec<Value> {
    let blocks = m.extra.get(THINKING_BLOCKS).and_then(Value::as_array).into_iter().flatten();
    blocks
        .filter(|b| b.get("model").and_then(Value::as_str).is_none_or(|written_by| written_by == model))
        .filter_map(|b| match b["type"].as_str()? {
            "thinking" => Some(json!({ "type": "thinking", "thinking": b["thinking"].as_str()?, "signature": b["signature"].as_str().filter(|s| !s.is_empty())? })),
            "redacted_thinking" => Some(json!({ "type": "redacted_thinking", "data": b["data"].as_str()? })),
            _ => None,
        })
        .collect()
}

/// What a tool result with nothing in it says: Anthropic refuses an empty or blank result (as it
/// refuses any empty text) where OpenAI takes it, and tools often return nothing (a write, a
/// command with no output).
const EMPTY_TOOL_RESULT: &str = "(no output)";

fn tool_result(m: &Message, i: usize) -> Result<Value, ApiError> {
    let content = match &m.content {
        Some(Content::Text(t)) if !t.trim().is_empty() => json!(t),
        Some(Content::Text(_)) | None => json!(EMPTY_TOOL_RESULT),
        parts => match content_blocks(parts.as_ref(), i)? {
            blocks if blocks.is_empty() => json!(EMPTY_TOOL_RESULT),
            blocks => Value::Array(blocks),
        },
    };
    let id = tool_call_ids::for_anthropic(m.tool_call_id.as_deref().unwrap_or_default());
    Ok(json!({ "type": "tool_result", "tool_use_id": id, "content": content }))
}

/// `allowed` is the choice read as `allowed_tools` ([`ChatRequest::allowed_functions`]), whose
/// tools alone are declared.
fn tool_choice(choice: Option<&Value>, allowed: Option<&AllowedFunctions>, parallel: Option<bool>) -> Result<Option<Value>, ApiError> {
    let invalid = || ApiError::invalid_value("tool_choice", "'tool_choice' must be \"auto\", \"required\", \"none\", {\"type\":\"function\",\"function\":{\"name\":...}} or {\"type\":\"allowed_tools\",...}.");
    let mut mapped = match (choice, allowed) {
        // `none` has no parallelism to disable.
        (_, Some(allowed)) if allowed.names.is_empty() => return Ok(Some(json!({ "type": "none" }))),
        (_, Some(allowed)) if allowed.required => json!({ "type": "any" }),
        (_, Some(_)) | (None, None) => json!({ "type": "auto" }),
        (Some(Value::String(s)), None) => match s.as_str() {
            "auto" => json!({ "type": "auto" }),
            "required" => json!({ "type": "any" }),
            "none" => return Ok(Some(json!({ "type": "none" }))),
            _ => return Err(invalid()),
        },
        (Some(v), None) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) if v["type"] == "function" => json!({ "type": "tool", "name": name }),
            _ => return Err(invalid()),
        },
    };
    if parallel == Some(false) {
        mapped["disable_parallel_tool_use"] = json!(true);
        return Ok(Some(mapped));
    }
    Ok(choice.map(|_| mapped))
}

// ---------------------------------------------------------------------------------------------
// Response

fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn (a server-tool loop paused: the turn is usable).
        _ => "stop",
    }
}

fn chat_answer(provider: &str, upstream_model: &str, body: &[u8]) -> Result<ChatAnswer, UpstreamError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| UpstreamError::malformed(provider, format!("invalid JSON ({e})")))?;
    let blocks = value.get("content").and_then(Value::as_array).ok_or_else(|| UpstreamError::malformed(provider, "no 'content' array in the message"))?;
    let mut text = String::new();
    let mut thinking = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("thinking" | "redacted_thinking") => {
                thinking.push_str(block["thinking"].as_str().unwrap_or_default());
                thinking_blocks.extend(thinking_block_for_client(block, upstream_model));
            }
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                kind: "function".to_string(),
                function: Some(FunctionCall {
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    arguments: block.get("input").filter(|v| !v.is_null()).map_or_else(|| "{}".to_string(), Value::to_string),
                }),
                extra: Map::new(),
            }),
            // Server-tool blocks have no OpenAI counterpart.
            _ => {}
        }
    }
    let usage = value.get("usage").filter(|u| u.is_object()).map(Usage::from_anthropic);
    let completion = ChatCompletion {
        id: value["id"].as_str().unwrap_or_default().to_string(),
        object: "chat.completion".to_string(),
        created: CREATED_PLACEHOLDER,
        model: value["model"].as_str().unwrap_or(upstream_model).to_string(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".to_string(),
                // OpenAI sends null content for a pure tool-call turn.
                content: if text.is_empty() && !tool_calls.is_empty() { None } else { Some(text) },
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
                reasoning_content: (!thinking.is_empty()).then_some(thinking),
                thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
            },
            finish_reason: Some(finish_reason(value["stop_reason"].as_str().unwrap_or("end_turn")).to_string()),
            logprobs: None,
        }],
        usage: usage.map(|u| u.to_openai_json()),
        system_fingerprint: None,
    };
    let body = serde_json::to_value(&completion).map_err(|e| UpstreamError::malformed(provider, format!("could not encode ({e})")))?;
    Ok(ChatAnswer { body, usage })
}

/// A thinking or redacted-thinking content block as the client gets it back in
/// `thinking_blocks`: Anthropic's fields, marked with the `model` that wrote it (see
/// `returned_thinking_blocks`). `None` for another block.
fn thinking_block_for_client(block: &Value, model: &str) -> Option<Value> {
    match block["type"].as_str()? {
        "thinking" => Some(json!({ "type": "thinking", "thinking": block["thinking"].as_str().unwrap_or_default(), "signature": block["signature"].as_str().unwrap_or_default(), "model": model })),
        "redacted_thinking" => Some(json!({ "type": "redacted_thinking", "data": block["data"], "model": model })),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// Turns Anthropic's typed SSE events into OpenAI chunks. Anthropic numbers content blocks
/// (text, thinking and tool_use together); OpenAI numbers tool calls alone, hence `tool_blocks`.
pub struct AnthropicStream {
    provider: String,
    id: String,
    model: String,
    usage: Option<Usage>,
    tool_blocks: HashMap<u64, ToolBlock>,
    /// Thinking blocks being streamed, by content-block index (see
    /// `AssistantMessage::thinking_blocks`).
    thinking_blocks: HashMap<u64, Value>,
    /// Thinking blocks ended, with their signatures: sent together, as one `delta.thinking_blocks`
    /// before the finish chunk. Sent one delta per block, the SDKs' stream helpers broke on a
    /// second (openai-python joins list deltas by an `index` the blocks do not have, and raises;
    /// openai-node keeps the last list only), and a tool loop sent back less than Claude wrote.
    ended_thinking_blocks: Vec<Value>,
    /// Each thinking block is sent as it ends instead (`ChatRequest::thinking_blocks_as_they_end`).
    thinking_blocks_as_they_end: bool,
    /// The deployment's model name, which the thinking blocks are marked with (see
    /// `returned_thinking_blocks`); `model` becomes the name Anthropic reports.
    upstream_model: String,
    complete: bool,
}

/// A tool_use content block as the client sees it: its OpenAI tool-call index, and whether any
/// of its arguments have been sent (a tool without parameters streams only empty fragments).
struct ToolBlock {
    call_index: usize,
    sent_arguments: bool,
}

impl AnthropicStream {
    pub fn new(provider: &str, upstream_model: &str) -> Self {
        AnthropicStream {
            provider: provider.to_string(),
            id: String::new(),
            model: upstream_model.to_string(),
            usage: None,
            tool_blocks: HashMap::new(),
            thinking_blocks: HashMap::new(),
            ended_thinking_blocks: Vec::new(),
            thinking_blocks_as_they_end: false,
            upstream_model: upstream_model.to_string(),
            complete: false,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": CREATED_PLACEHOLDER,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null }],
        })
    }

    fn add_usage(&mut self, usage: Option<&Value>) {
        if let Some(u) = usage.filter(|u| u.is_object()) {
            // message_delta's counts are cumulative, so the larger of each count is the total.
            self.usage.get_or_insert_with(Usage::default).merge_max(&Usage::from_anthropic(u));
        }
    }
}

impl StreamTranslator for AnthropicStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<Value>, UpstreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(vec![]);
        }
        let ev: Value = serde_json::from_str(data).map_err(|e| UpstreamError::malformed(&self.provider, format!("invalid JSON in stream ({e})")))?;
        let out = match ev["type"].as_str().unwrap_or(&event.event) {
            "message_start" => {
                let message = &ev["message"];
                if let Some(id) = message["id"].as_str() {
                    self.id = id.to_string();
                }
                if let Some(model) = message["model"].as_str() {
                    self.model = model.to_string();
                }
                self.add_usage(message.get("usage"));
                vec![self.chunk(json!({ "role": "assistant", "content": "" }), None)]
            }
            "content_block_start" => {
                let block = &ev["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let k = self.tool_blocks.len();
                        self.tool_blocks.insert(ev["index"].as_u64().unwrap_or_default(), ToolBlock { call_index: k, sent_arguments: false });
                        let call = json!({ "index": k, "id": block["id"], "type": "function", "function": { "name": block["name"], "arguments": "" } });
                        vec![self.chunk(json!({ "tool_calls": [call] }), None)]
                    }
                    Some("text") if !block["text"].as_str().unwrap_or_default().is_empty() => {
                        vec![self.chunk(json!({ "content": block["text"] }), None)]
                    }
                    Some("thinking" | "redacted_thinking") => {
                        // Completed by the deltas that follow; sent when the block ends.
                        self.thinking_blocks.extend(thinking_block_for_client(block, &self.upstream_model).map(|b| (ev["index"].as_u64().unwrap_or_default(), b)));
                        vec![]
                    }
                    _ => vec![],
                }
            }
            "content_block_delta" => {
                let delta = &ev["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => vec![self.chunk(json!({ "content": delta["text"] }), None)],
                    Some("input_json_delta") => {
                        let partial = delta["partial_json"].as_str().unwrap_or_default();
                        match ev["index"].as_u64().and_then(|i| self.tool_blocks.get_mut(&i)) {
                            // Anthropic opens every tool input with an empty fragment; skip it.
                            Some(tool) if !partial.is_empty() => {
                                tool.sent_arguments = true;
                                let k = tool.call_index;
                                vec![self.chunk(json!({ "tool_calls": [{ "index": k, "function": { "arguments": partial } }] }), None)]
                            }
                            _ => vec![],
                        }
                    }
                    Some("thinking_delta") => match delta["thinking"].as_str().filter(|t| !t.is_empty()) {
                        Some(thinking) => {
                            if let Some(Value::String(text)) = ev["index"].as_u64().and_then(|i| self.thinking_blocks.get_mut(&i)).and_then(|b| b.get_mut("thinking")) {
                                text.push_str(thinking);
                            }
                            vec![self.chunk(json!({ "reasoning_content": thinking }), None)]
                        }
                        None => vec![],
                    },
                    Some("signature_delta") => {
                        if let Some(block) = ev["index"].as_u64().and_then(|i| self.thinking_blocks.get_mut(&i)) {
                            block["signature"] = delta["signature"].clone();
                        }
                        vec![]
                    }
                    // citations_delta: no OpenAI counterpart.
                    _ => vec![],
                }
            }
            "content_block_stop" if ev["index"].as_u64().is_some_and(|i| self.thinking_blocks.contains_key(&i)) => {
                let ended = ev["index"].as_u64().and_then(|i| self.thinking_blocks.remove(&i));
                match ended {
                    Some(block) if self.thinking_blocks_as_they_end => vec![self.chunk(json!({ "thinking_blocks": [block] }), None)],
                    ended => {
                        self.ended_thinking_blocks.extend(ended);
                        vec![]
                    }
                }
            }
            "content_block_stop" => match ev["index"].as_u64().and_then(|i| self.tool_blocks.get(&i)) {
                // A tool without parameters streams only empty fragments; the joined arguments
                // would be "", which clients JSON.parse. The non-streaming answer says "{}".
                Some(tool) if !tool.sent_arguments => {
                    vec![self.chunk(json!({ "tool_calls": [{ "index": tool.call_index, "function": { "arguments": "{}" } }] }), None)]
                }
                _ => vec![],
            },
            "message_delta" => {
                self.add_usage(ev.get("usage"));
                let reason = ev.pointer("/delta/stop_reason").and_then(Value::as_str).map(finish_reason);
                let mut out = Vec::new();
                if !self.ended_thinking_blocks.is_empty() {
                    let blocks = std::mem::take(&mut self.ended_thinking_blocks);
                    out.push(self.chunk(json!({ "thinking_blocks": blocks }), None));
                }
                out.push(self.chunk(json!({}), reason));
                out
            }
            "message_stop" => {
                self.complete = true;
                vec![]
            }
            "error" => {
                let kind = ev.pointer("/error/type").and_then(Value::as_str).unwrap_or_default();
                let message = ev.pointer("/error/message").and_then(Value::as_str).unwrap_or("stream error");
                let status = match kind {
                    "overloaded_error" => 529,
                    "rate_limit_error" => 429,
                    _ => 500,
                };
                return Err(UpstreamError::Status { provider: self.provider.clone(), status, message: super::redact_secrets(message) });
            }
            // ping, and event types Anthropic may add later.
            _ => vec![],
        };
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
    use crate::catalog::{ProviderConfig, ProviderKind, Quirks};
    use crate::providers::sse::SseParser;

    fn provider() -> ProviderConfig {
        ProviderConfig {
            id: "anthropic".into(),
            kind: ProviderKind::Anthropic,
            base_url: "https://api.anthropic.com/v1".into(),
            key_secret: Some("ANTHROPIC_API_KEY".into()),
            api_version: None,
            region: None,
            demo: false,
            timeout_ms: 1000,
            answer_timeout_ms: 1000,
            quirks: Quirks::default(),
        }
    }

    fn translate(json: &str) -> Result<Value, ApiError> {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "claude-sonnet-4-5-20250929", api_key: Some("sk-ant-test") };
        let up = Anthropic.chat_request(&target, &ChatRequest::parse(json.as_bytes()).unwrap())?;
        assert_eq!(up.url, "https://api.anthropic.com/v1/messages");
        assert!(up.headers.contains(&("x-api-key".into(), "sk-ant-test".into())));
        assert!(up.headers.contains(&("anthropic-version".into(), "2023-06-01".into())));
        Ok(serde_json::from_str(&up.body).unwrap())
    }

    #[test]
    fn empty_tool_results_say_so_since_anthropic_refuses_empty_content() {
        let turn = |content: &str| {
            let body = translate(&format!(
                r#"{{"model":"c","messages":[{{"role":"user","content":"save it"}},
                  {{"role":"assistant","content":null,"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"save","arguments":"{{}}"}}}}]}},
                  {{"role":"tool","tool_call_id":"call_1","content":{content}}}],"tools":[{{"type":"function","function":{{"name":"save"}}}}]}}"#
            ))
            .unwrap();
            body["messages"][2]["content"][0]["content"].clone()
        };
        for empty in [r#""""#, r#"" \n""#, r#"[{"type":"text","text":""}]"#, "[]"] {
            assert_eq!(turn(empty), json!("(no output)"), "{empty}");
        }
        assert_eq!(turn(r#""saved""#), json!("saved"));
        assert_eq!(turn(r#"[{"type":"text","text":"saved"}]"#), json!([{"type": "text", "text": "saved"}]));
    }

    #[test]
    fn base64_images_are_declared_as_their_bytes_are() {
        let image = |url: &str| {
            let body = translate(&format!(r#"{{"model":"c","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"{url}"}}}}]}}]}}"#)).unwrap();
            body["messages"][0]["content"][0]["source"]["media_type"].clone()
        };
        // PNG bytes labelled JPEG (a screenshot), JPEG labelled `image/jpg`, a type with a parameter.
        assert_eq!(image("data:image/jpeg;base64,iVBORw0KGgoAAAA"), json!("image/png"));
        assert_eq!(image("data:image/jpg;base64,/9j/4AAQSkZJRg"), json!("image/jpeg"));
        assert_eq!(image("data:image/png;charset=utf-8;base64,iVBORw0KGgoAAAA"), json!("image/png"));
        assert_eq!(image("data:image/gif;base64,R0lGODlhAQABAAAAACw="), json!("image/gif"));
        assert_eq!(image("data:image/png;base64,UklGRiQAAABXRUJQVlA4"), json!("image/webp"));
        // A RIFF file that is not WebP (a WAV) keeps its declared type.
        assert_eq!(image("data:image/webp;base64,UklGRgAAAABXQVZFZm10IA=="), json!("image/webp"));
        assert_eq!(image("data:audio/wav;base64,UklGRgAAAABXQVZFZm10IA=="), json!("audio/wav"));
        // Bytes of no known type: the declared type, `jpg` read as `jpeg`, for Anthropic to judge.
        assert_eq!(image("data:IMAGE/JPG;base64,AAAA"), json!("image/jpeg"));
        assert_eq!(image("data:image/bmp;base64,Qk0AAA"), json!("image/bmp"));
    }

    #[test]
    fn whitespace_stop_sequences_are_dropped_since_anthropic_refuses_them() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"stop":["\n","END"," "]}"#).unwrap();
        assert_eq!(body["stop_sequences"], json!(["END"]));
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"stop":"\n"}"#).unwrap();
        assert!(body.get("stop_sequences").is_none());
    }

    #[test]
    fn cache_control_marks_reach_anthropic_blocks_and_tools() {
        let body = translate(
            r#"{"model":"claude","response_format":{"type":"json_object"},"messages":[
                {"role":"system","content":[{"type":"text","text":"A long, stable system prompt.","cache_control":{"type":"ephemeral","ttl":"1h"}}]},
                {"role":"user","content":[{"type":"text","text":"The big document","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Question?"}]}],
              "tools":[{"type":"function","function":{"name":"f"},"cache_control":{"type":"ephemeral"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            body["system"],
            json!([{"type": "text", "text": "A long, stable system prompt.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                   {"type": "text", "text": "Respond with only a valid JSON object, with no text before or after it."}])
        );
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "text", "text": "The big document", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Question?"}])
        );
        assert_eq!(body["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
        // Without a mark the system prompt stays one string, as before.
        let plain = translate(r#"{"model":"claude","messages":[{"role":"system","content":[{"type":"text","text":"Be brief."}]},{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(plain["system"], "Be brief.");
    }

    #[test]
    fn request_translates_system_images_tools_and_merges_turns() {
        let body = translate(r#"{"model":"claude","messages":[
            {"role":"system","content":"Be brief."},
            {"role":"developer","content":[{"type":"text","text":"Use metric units."}]},
            {"role":"user","content":[{"type":"text","text":"What is in these?"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
                {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}}]},
            {"role":"user","content":"And the weather in Paris and Rome?"},
            {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"18C"},
            {"role":"tool","tool_call_id":"call_2","content":"24C"},
            {"role":"user","content":"Thanks"}],
            "temperature":1.6,"top_p":0.9,"stop":"END","stream":true,"user":"u-42","seed":7,"max_tokens":300,
            "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
                     {"type":"function","function":{"name":"now"}}]}"#)
        .unwrap();
        let expected = json!({
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 300,
            "system": "Be brief.\n\nUse metric units.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    {"type": "text", "text": "And the weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                    {"type": "text", "text": "Thanks"}]}],
            "temperature": 1.0,
            "stop_sequences": ["END"],
            "stream": true,
            "metadata": {"user_id": "u-42"},
            "tools": [
                {"name": "get_weather", "description": "Weather by city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}}],
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn reasoning_effort_asks_claude_to_think_where_it_can() {
        let body = |extra: &str| translate(&format!(r#"{{"model":"c","messages":[{{"role":"user","content":"Prove it."}}],"temperature":0.2,"top_p":0.5{extra}}}"#)).unwrap();
        // No cap from the client: the budget beside the usual room for the answer.
        let high = body(r#","reasoning_effort":"high""#);
        assert_eq!(high["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert_eq!(high["max_tokens"], 4096 + 4096);
        assert!(high.get("temperature").is_none() && high.get("top_p").is_none(), "thinking takes temperature 1 and top_p >= 0.95 only: {high}");
        // Reservations and fit checks count exactly what is sent: the budget where the model thinks.
        let high = ChatRequest::parse(br#"{"model":"c","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"}"#).unwrap();
        assert_eq!(Anthropic.default_output_cap(&high, "claude-sonnet-4-5"), Some(8192));
        assert_eq!(Anthropic.default_output_cap(&high, "claude-3-haiku-20240307"), Some(4096), "a model that cannot think");
        // The client's cap holds the thinking (OpenAI counts reasoning in it) and room for the
        // answer, and stays its cap.
        let capped = body(r#","reasoning_effort":"medium","max_tokens":2500"#);
        assert_eq!((capped["thinking"]["budget_tokens"].clone(), capped["max_tokens"].clone()), (json!(1476), json!(2500)));
        assert_eq!(body(r#","reasoning_effort":"low","max_tokens":20000"#)["thinking"]["budget_tokens"], 1024);
        let small = body(r#","reasoning_effort":"high","max_tokens":1500"#);
        assert!(small.get("thinking").is_none() && small["temperature"] == 0.2, "no room for Anthropic's least budget beside an answer: {small}");
        // Thinking takes no temperature: the answer samples whatever the request says, as the
        // cache must know; without thinking, the temperature is sent and holds.
        let request = |extra: &str| ChatRequest::parse(format!(r#"{{"model":"c","messages":[{{"role":"user","content":"x"}}],"temperature":0{extra}}}"#).as_bytes()).unwrap();
        assert!(Anthropic.samples_regardless(&request(r#","reasoning_effort":"low""#), "claude-sonnet-4-5"));
        assert!(!Anthropic.samples_regardless(&request(r#","reasoning_effort":"high","max_tokens":1500"#), "claude-sonnet-4-5"), "no room to think");
        assert!(!Anthropic.samples_regardless(&request(""), "claude-sonnet-4-5"));
        assert!(!Anthropic.samples_regardless(&request(r#","reasoning_effort":"low""#), "claude-3-haiku-20240307"), "a model that cannot think");
        let top_p = body(r#","reasoning_effort":"low","top_p":0.97"#.replace(r#","top_p":0.5"#, "").as_str());
        assert_eq!(top_p["top_p"], json!(0.97));
        for none in ["", r#","reasoning_effort":"minimal""#, r#","reasoning_effort":"none""#] {
            let plain = body(none);
            assert!(plain.get("thinking").is_none(), "{none}");
            assert_eq!((plain["temperature"].clone(), plain["max_tokens"].clone()), (json!(0.2), json!(4096)));
        }
        use ThinkingStyle::*;
        let (adaptive, by_default, always) = (Adaptive { by_default: false, always: false }, Adaptive { by_default: true, always: false }, Adaptive { by_default: true, always: true });
        for (model, style) in [
            ("claude-sonnet-4-5-20250929", Budget), ("claude-opus-4-1", Budget), ("claude-haiku-4-5", Budget), ("claude-3-7-sonnet-latest", Budget),
            ("claude-sonnet-4-5@20250929", Budget), ("claude-opus-4-20250514", Budget), ("claude-sonnet-4-6", Budget), ("claude-opus-4-6", Budget),
            ("claude-opus-4-7", adaptive), ("claude-opus-4-8", adaptive), ("claude-opus-4-8-20260601", adaptive),
            // Claude 5 thinks by default (LiteLLM's `thinking_on_by_default`), Opus and Sonnet from
            // 5.5 always (`thinking_always_on`), as Fable and Mythos; Haiku 5.5 by default only.
            ("claude-opus-5", by_default), ("claude-sonnet-5", by_default), ("claude-opus-5-20261001", by_default),
            ("claude-haiku-5-5", by_default), ("claude-haiku-5-5-20261101", by_default),
            ("claude-opus-5-5", always), ("claude-sonnet-5-5", always), ("claude-sonnet-5.5", always), ("claude-opus-5-5-20261101", always),
            ("claude-opus-6", always), ("claude-fable-5", always), ("claude-fable-5-1", always), ("claude-mythos-5", always), ("claude-mythos-preview", always),
            ("claude-sonnet-latest", always), ("claude-opus-latest", always), ("vertex_ai/claude-opus-latest", always), ("claude-haiku-latest", by_default),
            ("claude-3-7-sonnet-latest", Budget), ("claude-3-5-haiku-latest", Unable),
            ("claude-3-5-sonnet-20241022", Unable), ("claude-3-haiku-20240307", Unable), ("claude-2.1", Unable), ("my-claude", Unable),
        ] {
            assert_eq!(thinking_style(model), style, "{model}");
        }
        // A version number is under 100 (a date is not one): 100 is neither major nor minor.
        assert_eq!(claude_version("claude-opus-4-100"), Some((4, None)));
    }

    /// The request body for `model` (`translate` uses Claude Sonnet 4.5).
    fn translate_for(model: &str, json: &str) -> Value {
        let p = provider();
        let target = Target { provider: &p, upstream_model: model, api_key: Some("sk-ant-test") };
        serde_json::from_str(&Anthropic.chat_request(&target, &ChatRequest::parse(json.as_bytes()).unwrap()).unwrap().body).unwrap()
    }

    #[test]
    fn opus_4_7_and_later_think_adaptively_and_take_no_sampling_parameters() {
        let ask = |model: &str, extra: &str| translate_for(model, &format!(r#"{{"model":"c","messages":[{{"role":"user","content":"Prove it."}}],"temperature":0.2,"top_p":0.5{extra}}}"#));
        // Asked to reason: adaptive thinking at that effort, room for it beside the answer, and
        // neither `budget_tokens` nor a sampling parameter (both 400 on these models).
        for model in ["claude-opus-4-7", "claude-opus-4-8", "claude-sonnet-5", "claude-fable-5"] {
            let high = ask(model, r#","reasoning_effort":"high""#);
            assert_eq!(high["thinking"], json!({"type": "adaptive"}), "{model}");
            assert_eq!(high["output_config"], json!({"effort": "high"}), "{model}");
            assert_eq!(high["max_tokens"], 4096 + 4096, "{model}");
            assert!(high.get("temperature").is_none() && high.get("top_p").is_none(), "{model}: {high}");
            assert_eq!(ask(model, r#","reasoning_effort":"xhigh","max_tokens":30000"#)["output_config"]["effort"], "xhigh", "{model}");
            assert_eq!(ask(model, r#","reasoning_effort":"xhigh","max_tokens":30000"#)["max_tokens"], 30000, "the client's cap, as sent: {model}");
        }
        // Not asked: each model's default. Opus 4.7 does not think; Sonnet 5 and Fable 5 do, so
        // the answer is given room for it.
        let plain = ask("claude-opus-4-7", "");
        assert!(plain.get("thinking").is_none() && plain.get("temperature").is_none() && plain.get("output_config").is_none(), "{plain}");
        assert_eq!(plain["max_tokens"], 4096);
        for model in ["claude-sonnet-5", "claude-fable-5"] {
            let plain = ask(model, "");
            assert!(plain.get("thinking").is_none(), "{model}: {plain}");
            assert_eq!(plain["max_tokens"], 4096 + 4096, "{model}");
        }
        // "none": Sonnet 5 is told not to think; Fable 5 cannot be (a 400); Opus 4.7 does not anyway.
        assert_eq!(ask("claude-sonnet-5", r#","reasoning_effort":"none""#)["thinking"], json!({"type": "disabled"}));
        assert!(ask("claude-fable-5", r#","reasoning_effort":"minimal""#).get("thinking").is_none());
        assert!(ask("claude-opus-4-7", r#","reasoning_effort":"none""#).get("thinking").is_none());
        // A structured output and an effort share `output_config`.
        let schema = r#","reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"],"additionalProperties":false}}}"#;
        let both = ask("claude-opus-4-8", schema);
        assert_eq!((both["output_config"]["effort"].clone(), both["output_config"]["format"]["type"].clone()), (json!("low"), json!("json_schema")), "{both}");
        // After a tool call whose thinking the client did not send back: Sonnet 5 is told not to
        // think (Anthropic wants the thinking of that turn), Opus 4.7 is not asked to.
        let after_call = r#","reasoning_effort":"high","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"42"}]}"#;
        let req = |model: &str| translate_for(model, &format!(r#"{{"model":"c"{after_call}"#));
        assert_eq!(req("claude-sonnet-5")["thinking"], json!({"type": "disabled"}));
        assert!(req("claude-opus-4-7").get("thinking").is_none());
        // A forced tool choice likewise; Fable 5 cannot be told (Anthropic's refusal passes it over).
        let forced = r#"{"model":"c","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","messages":[{"role":"user","content":"x"}]}"#;
        assert_eq!(translate_for("claude-sonnet-5", forced)["thinking"], json!({"type": "disabled"}));
        assert_eq!(translate_for("claude-sonnet-5", forced)["max_tokens"], 4096, "no room kept for thinking it will not do");
        assert!(translate_for("claude-fable-5", forced).get("thinking").is_none());
        // Opus 5 and Haiku 5.5 think by default as Sonnet 5 does, so they are told not to (left
        // unsaid, Anthropic would refuse the forced tool); Opus and Sonnet 5.5 cannot be told.
        for model in ["claude-opus-5", "claude-haiku-5-5"] {
            assert_eq!(translate_for(model, forced)["thinking"], json!({"type": "disabled"}), "{model}");
            assert_eq!(ask(model, r#","reasoning_effort":"none""#)["thinking"], json!({"type": "disabled"}), "{model}");
            assert_eq!(ask(model, "")["max_tokens"], 4096 + 4096, "room for the thinking it does unasked: {model}");
        }
        for model in ["claude-opus-5-5", "claude-sonnet-5-5"] {
            assert!(translate_for(model, forced).get("thinking").is_none(), "{model}");
            assert!(ask(model, r#","reasoning_effort":"none""#).get("thinking").is_none(), "{model}");
            assert_eq!(ask(model, r#","reasoning_effort":"low""#)["output_config"], json!({"effort": "low"}), "{model}");
        }
        let fable_refusal = br#"{"type":"error","error":{"type":"invalid_request_error","message":"Thinking may not be enabled when tool_choice forces tool use."}}"#;
        assert_eq!(Anthropic.rejection(400, fable_refusal), Rejection::Unsupported);
        // A cap with no room for thinking beside the answer: none (Sonnet 5 told so).
        let small = ask("claude-sonnet-5", r#","max_tokens":50"#);
        assert_eq!((small["thinking"].clone(), small["max_tokens"].clone()), (json!({"type": "disabled"}), json!(50)));
        assert!(ask("claude-opus-4-7", r#","reasoning_effort":"high","max_tokens":1500"#).get("thinking").is_none());
        // Fable 5 cannot be told not to think (Anthropic refuses `disabled`): under such a cap it
        // thinks at its least effort, asked or not, so the answer keeps what room there is.
        for extra in [r#","max_tokens":50"#, r#","reasoning_effort":"high","max_tokens":1500"#] {
            let small = ask("claude-fable-5", extra);
            assert_eq!((small["thinking"].clone(), small["output_config"].clone()), (json!({"type": "adaptive"}), json!({"effort": "low"})), "{extra}");
        }
        assert_eq!(ask("claude-fable-5", r#","reasoning_effort":"high","max_tokens":2048"#)["output_config"], json!({"effort": "high"}), "room for both: as asked");
        assert_eq!(ask("claude-opus-4-7", r#","reasoning_effort":"high","max_tokens":2048"#)["thinking"], json!({"type": "adaptive"}));
        // These models sample whatever the request says: a temperature-0 request is not cached
        // as deterministic.
        let zero = ChatRequest::parse(br#"{"model":"c","messages":[{"role":"user","content":"x"}],"temperature":0}"#).unwrap();
        assert!(Anthropic.samples_regardless(&zero, "claude-opus-4-7"));
        assert!(!Anthropic.samples_regardless(&zero, "claude-sonnet-4-6"));
        // Reservations count what is sent.
        assert_eq!(Anthropic.default_output_cap(&zero, "claude-sonnet-5"), Some(8192));
        assert_eq!(Anthropic.default_output_cap(&zero, "claude-opus-4-7"), Some(4096));
    }

    #[test]
    fn a_tool_call_history_without_tools_declares_the_tools_it_called_and_lets_none_be_called() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"Weather in Paris?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lyon\"}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"18C"},{"role":"tool","tool_call_id":"call_2","content":"20C"},
            {"role":"user","content":"Summarise."}]}"#).unwrap();
        assert_eq!(body["tools"], json!([{"name": "get_weather", "input_schema": {"type": "object"}}]));
        assert_eq!(body["tool_choice"], json!({"type": "none"}));
        let plain = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert!(plain.get("tools").is_none() && plain.get("tool_choice").is_none());
        // Tools the client declares are the tools, as before.
        let declared = translate(r#"{"model":"c","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"g","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"42"}]}"#).unwrap();
        assert_eq!(declared["tools"].as_array().unwrap().len(), 1);
        assert_eq!(declared["tools"][0]["name"], "f");
        // Tools declared but none of them allowed: all are declared, and none may be called.
        let none_allowed = translate(r#"{"model":"c","tools":[{"type":"function","function":{"name":"f"}}],
            "tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},"messages":[{"role":"user","content":"x"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"g","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"42"}]}"#).unwrap();
        assert_eq!(none_allowed["tools"].as_array().map(|t| t[0]["name"].clone()), Some(json!("f")));
        assert_eq!(none_allowed["tool_choice"], json!({"type": "none"}));
    }

    #[test]
    fn a_prefill_ending_in_whitespace_is_trimmed() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"Name a colour."},{"role":"assistant","content":"The colour is: "}]}"#).unwrap();
        assert_eq!(body["messages"][1]["content"], json!([{"type": "text", "text": "The colour is:"}]));
        let earlier = translate(r#"{"model":"c","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b \n"},{"role":"user","content":"c"}]}"#).unwrap();
        assert_eq!(earlier["messages"][1]["content"][0]["text"], "b \n", "only the last turn, the prefill");
    }

    #[test]
    fn thinking_is_left_off_where_anthropic_refuses_it() {
        let tools = r#""tools":[{"type":"function","function":{"name":"f"}}]"#;
        let thinks = |json: &str| translate(json).unwrap().get("thinking").is_some();
        assert!(thinks(&format!(r#"{{"model":"c","reasoning_effort":"low","messages":[{{"role":"user","content":"x"}}],{tools},"tool_choice":"auto"}}"#)));
        for forced in [r#""required""#, r#"{"type":"function","function":{"name":"f"}}"#, r#"{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"f"}}]}}"#] {
            assert!(!thinks(&format!(r#"{{"model":"c","reasoning_effort":"low","messages":[{{"role":"user","content":"x"}}],{tools},"tool_choice":{forced}}}"#)), "{forced}");
        }
        // A prefill, and the call after a tool call (its thinking blocks cannot be sent back).
        assert!(!thinks(r#"{"model":"c","reasoning_effort":"low","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"{"}]}"#));
        assert!(!thinks(&format!(r#"{{"model":"c","reasoning_effort":"low",{tools},"messages":[{{"role":"user","content":"x"}},
            {{"role":"assistant","content":null,"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},
            {{"role":"tool","tool_call_id":"call_1","content":"42"}}]}}"#)));
        // The call after a tool call whose thinking blocks came back with its message thinks
        // too, and those blocks open the assistant turn, as Anthropic requires.
        let tool_loop = |blocks: &str, effort: &str| {
            format!(
                r#"{{"model":"c",{effort}{tools},"messages":[{{"role":"user","content":"x"}},
                {{"role":"assistant","content":"Let me look.","thinking_blocks":{blocks},"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},
                {{"role":"tool","tool_call_id":"call_1","content":"42"}}]}}"#
            )
        };
        let sent_back = r#"[{"type":"thinking","thinking":"Call f.","signature":"sig-1"},{"type":"redacted_thinking","data":"enc"},{"type":"other"}]"#;
        let body = translate(&tool_loop(sent_back, r#""reasoning_effort":"low","#)).unwrap();
        assert!(body.get("thinking").is_some());
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type": "thinking", "thinking": "Call f.", "signature": "sig-1"}, {"type": "redacted_thinking", "data": "enc"},
                   {"type": "text", "text": "Let me look."}, {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}])
        );
        // Written by another model (the loop's next call routed elsewhere): its signature would
        // be refused there, so it is left out, and the call goes without thinking. The model it
        // was written by takes it (the mark itself is the router's, not sent).
        let other_model = r#"[{"type":"thinking","thinking":"Call f.","signature":"sig-1","model":"claude-opus-4-5"}]"#;
        assert!(!thinks(&tool_loop(other_model, r#""reasoning_effort":"low","#)));
        let same_model = other_model.replace("claude-opus-4-5", "claude-sonnet-4-5-20250929");
        let body = translate(&tool_loop(&same_model, r#""reasoning_effort":"low","#)).unwrap();
        assert_eq!(body["messages"][1]["content"][0], json!({"type": "thinking", "thinking": "Call f.", "signature": "sig-1"}));
        // One turn from two assistant messages, the blocks on the second: still first in the turn.
        let split = format!(
            r#"{{"model":"c","reasoning_effort":"low",{tools},"messages":[{{"role":"user","content":"x"}},{{"role":"assistant","content":"Let me look."}},
            {{"role":"assistant","content":null,"thinking_blocks":{sent_back},"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},
            {{"role":"tool","tool_call_id":"call_1","content":"42"}}]}}"#
        );
        let types: Vec<String> = translate(&split).unwrap()["messages"][1]["content"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap().to_string()).collect();
        assert_eq!(types, ["thinking", "redacted_thinking", "text", "tool_use"]);
        // Without a signature a block is not Anthropic's; without thinking asked for, none is sent.
        assert!(!thinks(&tool_loop(r#"[{"type":"thinking","thinking":"Call f."}]"#, r#""reasoning_effort":"low","#)));
        let body = translate(&tool_loop(sent_back, "")).unwrap();
        assert_eq!(body["messages"][1]["content"][0], json!({"type": "text", "text": "Let me look."}));
        // Once the model has answered in text, the next user turn may think again.
        assert!(thinks(&format!(r#"{{"model":"c","reasoning_effort":"low",{tools},"messages":[{{"role":"user","content":"x"}},
            {{"role":"assistant","content":null,"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},
            {{"role":"tool","tool_call_id":"call_1","content":"42"}},{{"role":"assistant","content":"It is 42."}},{{"role":"user","content":"Why?"}}]}}"#)));
    }

    #[test]
    fn tool_call_ids_from_other_providers_are_sent_in_the_shape_anthropic_takes() {
        // Kimi models on OpenRouter, Together or vLLM name their calls `functions.<name>:<n>`;
        // Anthropic refuses any id outside [a-zA-Z0-9_-] (and an empty one) with a 400.
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"Weather in Paris and Rome?"},
            {"role":"assistant","content":null,"tool_calls":[
                {"id":"functions.get_weather:0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"functions.get_weather:1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}},
                {"id":"","type":"function","function":{"name":"now","arguments":"{}"}},
                {"id":"call_1","type":"function","function":{"name":"now","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"functions.get_weather:1","content":"24C"},
            {"role":"tool","tool_call_id":"functions.get_weather:0","content":"18C"},
            {"role":"tool","tool_call_id":"","content":"12:00"},
            {"role":"tool","tool_call_id":"call_1","content":"12:00"}],
            "tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"function","function":{"name":"now"}}]}"#).unwrap();
        let uses: Vec<&str> = body["messages"][1]["content"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
        let results: Vec<&str> = body["messages"][2]["content"].as_array().unwrap().iter().map(|b| b["tool_use_id"].as_str().unwrap()).collect();
        let accepted = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert!(uses.iter().chain(&results).all(|id| accepted(id)), "{uses:?} {results:?}");
        assert_eq!(results, [uses[1], uses[0], uses[2], uses[3]], "each result names the call it answers");
        assert_ne!(uses[0], uses[1]);
        assert_eq!(uses[3], "call_1", "an id Anthropic takes is sent as it came");
    }

    #[test]
    fn request_defaults_and_top_p_alone() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"top_p":0.5,"max_completion_tokens":64}"#).unwrap();
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["top_p"], 0.5);
        assert!(body.get("system").is_none() && body.get("stream").is_none() && body.get("tool_choice").is_none());
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(body["max_tokens"], 4096);
        let p = provider();
        let keyless = Target { provider: &p, upstream_model: "c", api_key: None };
        let up = Anthropic.chat_request(&keyless, &ChatRequest::parse(br#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#).unwrap()).unwrap();
        assert!(up.headers.iter().all(|(k, _)| k != "x-api-key"));
    }

    #[test]
    fn tool_choice_mapping() {
        let tools = r#""tools":[{"type":"function","function":{"name":"f"}}]"#;
        for (extra, expected) in [
            (r#""tool_choice":"auto""#, json!({"type": "auto"})),
            (r#""tool_choice":"required""#, json!({"type": "any"})),
            (r#""tool_choice":"none""#, json!({"type": "none"})),
            (r#""tool_choice":{"type":"function","function":{"name":"f"}}"#, json!({"type": "tool", "name": "f"})),
            (r#""tool_choice":"required","parallel_tool_calls":false"#, json!({"type": "any", "disable_parallel_tool_use": true})),
            (r#""parallel_tool_calls":false"#, json!({"type": "auto", "disable_parallel_tool_use": true})),
        ] {
            let body = translate(&format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],{tools},{extra}}}"#)).unwrap();
            assert_eq!(body["tool_choice"], expected, "{extra}");
        }
        // Parsing refuses a malformed choice; the adapter still does if one reaches it.
        let mut req = ChatRequest::parse(format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],{tools}}}"#).as_bytes()).unwrap();
        req.tool_choice = Some(json!("sometimes"));
        let p = provider();
        let target = Target { provider: &p, upstream_model: "claude-sonnet-4-5-20250929", api_key: Some("sk-ant-test") };
        let e = Anthropic.chat_request(&target, &req).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn allowed_tools_declare_only_the_allowed_tools() {
        let tools = r#""tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"function","function":{"name":"get_time"}},{"type":"function","function":{"name":"send_email"}}]"#;
        let with = |choice: &str| translate(&format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],{tools},"tool_choice":{choice}}}"#));
        let allowed = |mode: &str, names: &[&str]| {
            let entries: Vec<Value> = names.iter().map(|n| json!({"type": "function", "function": {"name": n}})).collect();
            json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": entries}}).to_string()
        };
        let declared = |body: &Value| body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let body = with(&allowed("auto", &["get_time", "get_weather"])).unwrap();
        assert_eq!((declared(&body), body["tool_choice"].clone()), (vec!["get_weather".into(), "get_time".into()], json!({"type": "auto"})));
        let body = with(&allowed("required", &["send_email"])).unwrap();
        assert_eq!((declared(&body), body["tool_choice"].clone()), (vec!["send_email".into()], json!({"type": "any"})));
        let body = translate(&format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],{tools},"tool_choice":{},"parallel_tool_calls":false}}"#, allowed("required", &["send_email"]))).unwrap();
        assert_eq!(body["tool_choice"], json!({"type": "any", "disable_parallel_tool_use": true}));
        // None allowed: none may be called, and the tools stay declared for the history's calls.
        let body = with(&allowed("auto", &[])).unwrap();
        assert_eq!((declared(&body).len(), body["tool_choice"].clone()), (3, json!({"type": "none"})));
        for (choice, param) in [
            (allowed("sometimes", &["get_time"]), "tool_choice.allowed_tools.mode"),
            (allowed("auto", &["delete_everything"]), "tool_choice.allowed_tools.tools[0]"),
            (allowed("required", &[]), "tool_choice.allowed_tools.tools"),
            (r#"{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"custom","custom":{"name":"get_time"}}]}}"#.to_string(), "tool_choice.allowed_tools.tools[0]"),
            (r#"{"type":"allowed_tools","allowed_tools":{"mode":"auto"}}"#.to_string(), "tool_choice.allowed_tools.tools"),
        ] {
            let e = with(&choice).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{choice}: {}", e.message);
        }
    }

    #[test]
    fn a_whitespace_stop_is_left_out_and_said_to_be() {
        let req = |stop: &str| ChatRequest::parse(format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],"stop":{stop}}}"#).as_bytes()).unwrap();
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"stop":["\n"," ","END"]}"#).unwrap();
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(Anthropic.dropped_param(&req(r#"["\n","END"]"#)).map(|d| d.0), Some("stop"));
        assert_eq!(Anthropic.dropped_param(&req(r#""\t""#)).map(|d| d.0), Some("stop"));
        assert_eq!(Anthropic.dropped_param(&req(r#"["END"]"#)), None);
        assert_eq!(Anthropic.dropped_param(&req("null")), None);
    }

    #[test]
    fn legacy_functions_are_refused_not_dropped() {
        let e = translate(r#"{"model":"c","messages":[{"role":"user","content":"weather?"}],"functions":[{"name":"get_weather","parameters":{"type":"object"}}]}"#).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("functions")), "{}", e.message);
        let e = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"function_call":"none"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("function_call"));
        let e = super::super::gemini::request_body(&ChatRequest::parse(br#"{"model":"g","messages":[{"role":"user","content":"weather?"}],"functions":[{"name":"f"}]}"#).unwrap(), "gemini-2.5-flash").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("functions"));
    }

    #[test]
    fn parameters_that_change_the_answer_are_refused_not_dropped() {
        let gemini = |json: &str| super::super::gemini::request_body(&ChatRequest::parse(json.as_bytes()).unwrap(), "gemini-2.5-flash");
        for (extra, param) in [
            (r#""modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"}"#, "modalities"),
            (r#""audio":{"voice":"alloy","format":"wav"}"#, "modalities"),
            (r#""logit_bias":{"9642":100}"#, "logit_bias"),
            (r#""web_search_options":{}"#, "web_search_options"),
            // A host's own format, a host's schema beside JSON mode, a host's own content part.
            (r#""response_format":{"type":"structural_tag","structures":[]}"#, "response_format.type"),
            (r#""response_format":{"type":"json_object","schema":{"type":"object"}}"#, "response_format"),
            (r#""messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"https://x/v.mp4"}}]}]"#, "messages[0].content[0].type"),
        ] {
            // A later "messages" key replaces the first (serde_json keeps the last).
            let json = format!(r#"{{"model":"c","messages":[{{"role":"user","content":"yes or no?"}}],{extra}}}"#);
            for e in [translate(&json).unwrap_err(), gemini(&json).unwrap_err()] {
                assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{extra}: {}", e.message);
            }
        }
        // Set to what changes nothing: translated as before.
        for extra in [r#""modalities":["text"]"#, r#""logit_bias":{}"#, r#""logit_bias":null,"audio":null"#, r#""response_format":{"type":"json_object"}"#] {
            let json = format!(r#"{{"model":"c","messages":[{{"role":"user","content":"hi"}}],{extra}}}"#);
            assert!(translate(&json).is_ok(), "{extra}");
            assert!(gemini(&json).is_ok(), "{extra}");
        }
    }

    fn body_for(model: &str, json: &str) -> Value {
        let p = provider();
        let target = Target { provider: &p, upstream_model: model, api_key: None };
        serde_json::from_str(&Anthropic.chat_request(&target, &ChatRequest::parse(json.as_bytes()).unwrap()).unwrap().body).unwrap()
    }

    const PERSON: &str = r#"{"model":"c","messages":[{"role":"system","content":"You extract data."},{"role":"user","content":"Ann, 31"}],
        "response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":{"type":"object","properties":{"age":{"type":"integer","minimum":0}},"required":["age"]}}}}"#;

    #[test]
    fn a_json_schema_constrains_claude_4_5_and_later_with_structured_outputs() {
        for model in ["claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-opus-4-5", "claude-sonnet-4-6", "claude-opus-5"] {
            let body = body_for(model, PERSON);
            assert_eq!(
                body["output_config"],
                json!({"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"age": {"type": "integer", "description": "(minimum: 0)"}}, "required": ["age"], "additionalProperties": false}}}),
                "{model}"
            );
            assert_eq!(body["system"], "You extract data.", "{model}: no instruction beside the grammar");
        }
        // Older models, a prefill (refused beside structured outputs), a schema the grammar would
        // change: the instruction, as before.
        let prefill = PERSON.replace(r#"{"role":"user","content":"Ann, 31"}"#, r#"{"role":"user","content":"Ann, 31"},{"role":"assistant","content":"{"}"#);
        let open_map = PERSON.replace(r#""required":["age"]"#, r#""required":["age"],"additionalProperties":{"type":"string"}"#);
        for (model, json) in [("claude-opus-4-1-20250805", PERSON), ("claude-sonnet-4-20250514", PERSON), ("claude-3-7-sonnet-20250219", PERSON), ("claude-sonnet-4-5", &prefill), ("claude-sonnet-4-5", &open_map)] {
            let body = body_for(model, json);
            assert!(body.get("output_config").is_none(), "{model}: {json}");
            assert!(body["system"].as_str().unwrap().contains("Respond with only a valid JSON object"), "{model}");
        }
        // Beside extended thinking: both (the grammar applies to the answer).
        let thinking = PERSON.replace(r#""model":"c","#, r#""model":"c","reasoning_effort":"low","#);
        let body = body_for("claude-sonnet-4-5", &thinking);
        assert!(body.get("output_config").is_some() && body.get("thinking").is_some());
    }

    #[test]
    fn json_mode_becomes_a_system_instruction() {
        let body = body_for("claude-opus-4-1", r#"{"model":"c","messages":[{"role":"system","content":"You extract data."},{"role":"user","content":"Ann, 31"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"person","schema":{"type":"object","properties":{"age":{"type":"integer"}}}}}}"#);
        let system = body["system"].as_str().unwrap();
        assert!(system.starts_with("You extract data.\n\nRespond with only a valid JSON object"), "{system}");
        // In the client's key order: a model writes structured output in the schema's order.
        assert!(system.ends_with(r#"{"type":"object","properties":{"age":{"type":"integer"}}}"#), "{system}");
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#).unwrap();
        assert_eq!(body["system"], "Respond with only a valid JSON object, with no text before or after it.");
    }

    #[test]
    fn an_exhausted_credit_balance_is_the_deployments_problem() {
        let credit = br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
        assert_eq!(Anthropic.rejection(400, credit), Rejection::Deployment);
        let long = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        assert_eq!(Anthropic.rejection(400, long), Rejection::TooLong);
        let cap = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 70000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5"}}"#;
        assert_eq!(Anthropic.rejection(400, cap), Rejection::OutputCap);
        let window = br#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 197000 + 4096 > 200000, decrease input length or `max_tokens` and try again"}}"#;
        assert_eq!(Anthropic.rejection(400, window), Rejection::TooLong);
        for message in ["messages.1.content.0: Invalid `signature` in `thinking` block", "Schema is too complex for compilation.", "Too many recursive definitions in schema"] {
            let body = json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}).to_string();
            assert_eq!(Anthropic.rejection(400, body.as_bytes()), Rejection::Unsupported, "{message}");
        }
        let bad = br#"{"type":"error","error":{"type":"invalid_request_error","message":"messages.0.content: Field required"}}"#;
        assert_eq!(Anthropic.rejection(400, bad), Rejection::Request);
        let prefill = br#"{"type":"error","error":{"type":"invalid_request_error","message":"This model does not support assistant message prefill. The conversation must end with a user message."}}"#;
        assert_eq!(Anthropic.rejection(400, prefill), Rejection::Unsupported);
        let both = br#"{"type":"error","error":{"type":"invalid_request_error","message":"`temperature` and `top_p` cannot both be specified for this model. Please use only one."}}"#;
        assert_eq!(Anthropic.rejection(400, both), Rejection::Unsupported);
    }

    #[test]
    fn a_refusal_turn_sent_back_is_what_the_assistant_said() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"do x"},{"role":"assistant","content":null,"refusal":"I can't do x."},{"role":"user","content":"why?"}]}"#).unwrap();
        assert_eq!(body["messages"][1], json!({"role": "assistant", "content": [{"type": "text", "text": "I can't do x."}]}));
    }

    #[test]
    fn the_end_user_is_named_by_user_or_safety_identifier() {
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"safety_identifier":"eu_ab12"}"#).unwrap();
        assert_eq!(body["metadata"], json!({"user_id": "eu_ab12"}));
        let body = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"user":"eu_u","safety_identifier":"eu_s"}"#).unwrap();
        assert_eq!(body["metadata"], json!({"user_id": "eu_u"}));
        assert!(body.get("safety_identifier").is_none());
    }

    #[test]
    fn request_errors_name_the_parameter() {
        for (json, param) in [
            (r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"n":2}"#, "n"),
            (r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#, "logprobs"),
            (r#"{"model":"c","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}"#, "messages[1].tool_calls[1].function.arguments"),
            (r#"{"model":"c","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}"#, "messages[0].content[0]"),
            (r#"{"model":"c","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}"#, "messages[0].content[0].image_url.url"),
            (r#"{"model":"c","messages":[{"role":"system","content":"only a system prompt"}]}"#, "messages"),
        ] {
            let e = translate(json).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{json}: {}", e.message);
        }
        assert!(translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"n":1}"#).is_ok(), "one choice is what Anthropic returns");
        let e = translate(r#"{"model":"c","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#).unwrap_err();
        assert!(e.message.contains("do not return logprobs"));
    }

    fn answer(body: &str) -> ChatAnswer {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "claude-sonnet-4-5", api_key: None };
        Anthropic.chat_response(&target, body.as_bytes()).unwrap()
    }

    #[test]
    fn response_text() {
        let a = answer(r#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":12,"service_tier":"standard"}}"#);
        assert_eq!(
            a.body,
            json!({"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "object": "chat.completion", "created": 0, "model": "claude-sonnet-4-5-20250929",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"}, "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 12, "total_tokens": 24, "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}})
        );
        assert_eq!(a.usage, Some(Usage { input_tokens: 12, output_tokens: 12, ..Usage::default() }));
    }

    #[test]
    fn response_tool_use_with_thinking_as_reasoning_content() {
        let a = answer(r#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"thinking","thinking":"The user wants the weather.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
                {"type":"text","text":"I'll check the current weather in San Francisco for you."},
                {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}}],
            "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":384,"output_tokens":92}}"#);
        let choice = &a.body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "I'll check the current weather in San Francisco for you.");
        assert_eq!(choice["message"]["reasoning_content"], "The user wants the weather.");
        assert_eq!(
            choice["message"]["thinking_blocks"],
            json!([{"type": "thinking", "thinking": "The user wants the weather.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds", "model": "claude-sonnet-4-5"}]),
            "whole, for the client to send back in a tool loop, marked with the deployment's model (a signature is that model's)"
        );
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                "function": {"name": "get_weather", "arguments": r#"{"location":"San Francisco, CA","unit":"celsius"}"#}}])
        );
    }

    #[test]
    fn response_cache_usage_and_its_exact_cost() {
        let a = answer(r#"{"id":"msg_01Cache","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
            "content":[{"type":"text","text":"Summary: ..."}],"stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":50,"cache_creation_input_tokens":1000,"cache_read_input_tokens":2000,
                "cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":0},"output_tokens":70,"service_tier":"standard"}}"#);
        let usage = a.usage.unwrap();
        assert_eq!(usage, Usage { input_tokens: 3050, cached_input_tokens: 2000, cache_write_tokens: 1000, output_tokens: 70, ..Usage::default() });
        assert_eq!(a.body["usage"]["prompt_tokens"], 3050);
        assert_eq!(a.body["usage"]["prompt_tokens_details"]["cached_tokens"], 2000);
        let table = crate::pricing::PriceTable::from_json(r#"{"models":{"claude-sonnet-4-5":{"input":3,"output":15,"cached_input":0.3,"cache_write":3.75}}}"#).unwrap();
        // 50×3 + 1000×3.75 + 2000×0.3 + 70×15 = 5550 per million tokens.
        assert_eq!(table.get("claude-sonnet-4-5").unwrap().cost(&usage, false).total.to_string(), "0.00555");
    }

    #[test]
    fn response_max_tokens_and_malformed() {
        let a = answer(r#"{"id":"msg_01Len","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",
            "content":[{"type":"text","text":"The history of Rome begins"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":5}}"#);
        assert_eq!(a.body["choices"][0]["finish_reason"], "length");
        assert_eq!(a.body["model"], "claude-haiku-4-5-20251001");
        // Claude's classifiers stopping an answer: OpenAI's content_filter, which clients check
        // for, not a plain stop.
        let refused = answer(r#"{"id":"msg_01Ref","type":"message","role":"assistant","model":"claude-sonnet-4-5",
            "content":[{"type":"text","text":"I"}],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}"#);
        assert_eq!(refused.body["choices"][0]["finish_reason"], "content_filter");
        let p = provider();
        let target = Target { provider: &p, upstream_model: "c", api_key: None };
        assert!(matches!(Anthropic.chat_response(&target, b"<html>"), Err(UpstreamError::Malformed { .. })));
        assert!(matches!(Anthropic.chat_response(&target, br#"{"id":"msg","type":"message"}"#), Err(UpstreamError::Malformed { .. })));
    }

    /// Feeds an SSE transcript through the parser in `piece`-byte slices, as the network would.
    fn run_stream(sse: &str, piece: usize) -> (Vec<Value>, Box<dyn StreamTranslator>) {
        let p = provider();
        let target = Target { provider: &p, upstream_model: "claude-sonnet-4-5", api_key: None };
        let req = ChatRequest::parse(br#"{"model":"c","messages":[{"role":"user","content":"hi"}],"stream":true}"#).unwrap();
        let mut translator = Anthropic.chat_stream(&target, &req);
        let mut parser = SseParser::new();
        let mut chunks = Vec::new();
        for bytes in sse.as_bytes().chunks(piece) {
            for ev in parser.push(bytes).unwrap() {
                chunks.extend(translator.on_event(&ev).unwrap());
            }
        }
        assert!(parser.finish().unwrap().is_none());
        (chunks, translator)
    }

    fn chunk(id: &str, delta: Value, finish: Value) -> Value {
        json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": "claude-sonnet-4-5-20250929",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]})
    }

    /// Writes events as Anthropic frames them: `event: <type>`, `data: <json>`, a blank line.
    fn sse(events: &[&str]) -> String {
        let frame = |data: &&str| format!("event: {}\ndata: {data}\n\n", serde_json::from_str::<Value>(data).unwrap()["type"].as_str().unwrap());
        events.iter().map(frame).collect()
    }

    fn text_stream() -> String {
        sse(&[
            r#"{"type":"message_start","message":{"id":"msg_01Txt","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type": "ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"A greeting."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" wörld 🌍"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            r#"{"type":"message_stop"}"#,
        ])
    }

    #[test]
    fn stream_text_in_pieces() {
        let expected = vec![
            chunk("msg_01Txt", json!({"role": "assistant", "content": ""}), Value::Null),
            // Thinking goes as DeepSeek's reasoning_content as it comes, and whole with its
            // signature (LiteLLM's thinking_blocks) before the finish, for a tool loop to send back.
            chunk("msg_01Txt", json!({"reasoning_content": "A greeting."}), Value::Null),
            chunk("msg_01Txt", json!({"content": "Hello"}), Value::Null),
            chunk("msg_01Txt", json!({"content": " wörld 🌍"}), Value::Null),
            chunk("msg_01Txt", json!({"thinking_blocks": [{"type": "thinking", "thinking": "A greeting.", "signature": "EqQBCgIYAhIM", "model": "claude-sonnet-4-5"}]}), Value::Null),
            chunk("msg_01Txt", json!({}), json!("stop")),
        ];
        let stream = text_stream();
        for piece in [1, 7, 64, stream.len()] {
            let (chunks, t) = run_stream(&stream, piece);
            assert_eq!(chunks, expected, "piece size {piece}");
            assert!(t.is_complete());
            assert_eq!(t.usage(), Some(Usage { input_tokens: 1049, cached_input_tokens: 1024, cache_write_tokens: 0, output_tokens: 15, ..Usage::default() }));
        }
        // A text block that opens with text of its own (Anthropic's opens empty; a proxy's or a
        // prefill's may not) sends it, before its deltas.
        let opened = text_stream().replace(r#""content_block":{"type":"text","text":""}"#, r#""content_block":{"type":"text","text":"Oh, "}"#);
        let (chunks, _) = run_stream(&opened, opened.len());
        let text: Vec<&Value> = chunks.iter().filter_map(|c| c["choices"][0]["delta"].get("content")).collect();
        assert_eq!(text, [&json!(""), &json!("Oh, "), &json!("Hello"), &json!(" wörld 🌍")]);
    }

    #[test]
    fn several_thinking_blocks_stream_as_one_delta() {
        // Thinking, redacted thinking, then (interleaved thinking) more thinking after a tool call.
        let stream = sse(&[
            r#"{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"First."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig0"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"opaque"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"text","text":"Done."}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let (chunks, _) = run_stream(&stream, stream.len());
        let with_blocks: Vec<&Value> = chunks.iter().filter(|c| c["choices"][0]["delta"].get("thinking_blocks").is_some()).collect();
        assert_eq!(with_blocks.len(), 1, "one delta, which the SDKs' stream helpers keep whole");
        let blocks = &with_blocks[0]["choices"][0]["delta"]["thinking_blocks"];
        assert_eq!(blocks.as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect::<Vec<_>>(), ["thinking", "redacted_thinking"]);
        assert_eq!(blocks[0]["signature"], "sig0");
        assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop", "then the finish");

        // For `/v1/messages`, each block as it ends, before the block after it.
        let mut translator = AnthropicStream::new("anthropic", "claude-sonnet-4-5");
        translator.thinking_blocks_as_they_end = true;
        let mut parser = SseParser::new();
        let mut chunks = Vec::new();
        for ev in parser.push(stream.as_bytes()).unwrap() {
            chunks.extend(translator.on_event(&ev).unwrap());
        }
        let shown: Vec<Value> = chunks.iter().map(|c| c["choices"][0]["delta"].clone()).filter(|d| d.get("thinking_blocks").is_some() || d.get("content").is_some_and(|t| t != "")).collect();
        assert_eq!(shown, [
            json!({"thinking_blocks": [{"type": "thinking", "thinking": "First.", "signature": "sig0", "model": "claude-sonnet-4-5"}]}),
            json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque", "model": "claude-sonnet-4-5"}]}),
            json!({"content": "Done."}),
        ]);
    }

    #[test]
    fn stream_tool_use() {
        let stream = sse(&[
            r#"{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"Paris\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"now","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let id = "msg_014p7gG3wDgGV9EUtLvnow3U";
        let expected = vec![
            chunk(id, json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(id, json!({"content": "Let me check."}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 0, "function": {"arguments": " \"Paris\"}"}}]}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 1, "id": "toolu_02", "type": "function", "function": {"name": "now", "arguments": ""}}]}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}), Value::Null),
            chunk(id, json!({}), json!("tool_calls")),
        ];
        let (chunks, t) = run_stream(&stream, 13);
        assert_eq!(chunks, expected);
        assert!(t.is_complete());
        assert_eq!(t.usage(), Some(Usage { input_tokens: 472, output_tokens: 89, ..Usage::default() }));
    }

    #[test]
    fn stream_tool_without_parameters_ends_with_empty_object_arguments() {
        // What Anthropic sends for a tool whose input_schema has no properties.
        let stream = sse(&[
            r#"{"type":"message_start","message":{"id":"msg_01NoArgs","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":300,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_03","name":"now","input":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let id = "msg_01NoArgs";
        let expected = vec![
            chunk(id, json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 0, "id": "toolu_03", "type": "function", "function": {"name": "now", "arguments": ""}}]}), Value::Null),
            chunk(id, json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}), Value::Null),
            chunk(id, json!({}), json!("tool_calls")),
        ];
        let (chunks, t) = run_stream(&stream, 13);
        assert_eq!(chunks, expected);
        assert!(t.is_complete());
    }

    #[test]
    fn stream_error_event_and_truncation() {
        let mut s = AnthropicStream::new("anthropic", "claude");
        let ev = |event: &str, data: &str| SseEvent { event: event.into(), data: data.into() };
        let e = s.on_event(&ev("error", r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#)).unwrap_err();
        assert_eq!(e, UpstreamError::Status { provider: "anthropic".into(), status: 529, message: "Overloaded".into() });
        let e = s.on_event(&ev("error", r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#)).unwrap_err();
        assert!(matches!(e, UpstreamError::Status { status: 500, .. }));
        assert!(s.on_event(&ev("message_start", "{not json")).is_err());
        // A stream cut before message_stop is not complete, so the driver can tell.
        let stream = text_stream();
        let (_, t) = run_stream(&stream[..stream.find("event: message_stop").unwrap()], 32);
        assert!(!t.is_complete());
        assert_eq!(t.usage().unwrap().output_tokens, 15);
    }
}
