//! OpenAI `/v1/chat/completions` request and response types.
//!
//! The request keeps every field it does not model in `extra`, so the OpenAI dialect can pass
//! new parameters through untouched while the translating providers (Anthropic, Gemini) work
//! from typed fields. Parsing goes through `serde_path_to_error` so a type error names the
//! offending field (`messages[2].content`) in the error's `param`, as OpenAI does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_as_false")]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else (`logit_bias`, `metadata`, `reasoning_effort`, ...): passed through to
    /// OpenAI-dialect hosts verbatim; translating providers read the few they have a form for
    /// (Gemini's thinking settings from `reasoning_effort`) and ignore the rest.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// A stream's signed thinking blocks go to the client each as it ends (`/v1/messages`, whose
    /// stream signs each thinking block before the next block starts), not together before the
    /// finish chunk (chat clients' stream helpers keep one list delta only). Never read from or
    /// sent in a body.
    #[serde(skip)]
    pub thinking_blocks_as_they_end: bool,
    /// The output cap is a ceiling the client had to set, not room it needs: Anthropic's
    /// Messages API requires `max_tokens`, and clients set it high (Claude Code: 32,000) for
    /// any call. A model that writes less is not passed over for it, and is sent its own most.
    /// Never read from or sent in a body.
    #[serde(skip)]
    pub output_cap_is_ceiling: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// openai-python sends `stream=None` as `"stream": null`; OpenAI reads it as false.
fn null_as_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct StreamOptions {
    #[serde(default, deserialize_with = "null_as_false")]
    pub include_usage: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// An assistant turn's refusal (`"refusal": "..."`, as OpenAI returns a structured-output
    /// refusal and clients send it back): for providers without the field, it is what was said.
    pub fn refusal(&self) -> Option<&str> {
        self.extra.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// By hand rather than `untagged`: a malformed part is refused with its own index and fault
/// ("messages[0].content[1]: missing field `url`") instead of "data did not match any variant".
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Content, E> {
                Ok(Content::Text(text.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Content, E> {
                Ok(Content::Text(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

/// A part of a message's content. Fields this router does not know (`cache_control` for
/// Anthropic-style prompt caching through OpenAI-compatible hosts, vendor extensions) are kept in
/// `extra` and sent on to OpenAI-dialect hosts as they came.
///
/// `remote = "Self"`: the derive writes inherent `ContentPart::deserialize`/`serialize` for the
/// known types, which the trait impls below call; a part of another type is kept whole as
/// [`ContentPart::Other`] (a derived untagged fallback would also swallow a malformed known part
/// and lose its error).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    ImageUrl {
        image_url: ImageUrl,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    InputAudio {
        input_audio: Value,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    File {
        file: Value,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Refusal {
        refusal: String,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// A part of a type OpenAI does not define (vLLM's `video_url` and `audio_url`, Mistral's
    /// `document_url`), `type` included: sent on as it came to OpenAI-dialect hosts; Anthropic
    /// and Gemini refuse it, so another candidate serves. It holds no text the router reads.
    #[serde(skip)]
    Other(Map<String, Value>),
}

/// The part types [`ContentPart`] has a variant of (a test holds this list to the enum).
const KNOWN_PART_TYPES: [&str; 5] = ["text", "image_url", "input_audio", "file", "refusal"];

/// Serde for an enum tagged by `type` whose derive is `remote = "Self"` (inherent functions) and
/// whose `Other(Map)` variant keeps an object of a type outside `known` whole: the known types go
/// through the derive, errors and all; `Other` is written back as it came.
macro_rules! keeps_other_types {
    ($enum:ident, $known:expr) => {
        impl<'de> Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let object = Map::<String, Value>::deserialize(deserializer)?;
                match object.get("type").and_then(Value::as_str) {
                    Some(kind) if !$known.contains(&kind) => Ok($enum::Other(object)),
                    _ => $enum::deserialize(Value::Object(object)).map_err(serde::de::Error::custom),
                }
            }
        }

        impl Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $enum::Other(object) => object.serialize(serializer),
                    known => $enum::serialize(known, serializer),
                }
            }
        }
    };
}

keeps_other_types!(ContentPart, KNOWN_PART_TYPES);

impl ContentPart {
    /// The fields of the part this router does not read.
    pub fn extra(&self) -> &Map<String, Value> {
        match self {
            ContentPart::Text { extra, .. }
            | ContentPart::ImageUrl { extra, .. }
            | ContentPart::InputAudio { extra, .. }
            | ContentPart::File { extra, .. }
            | ContentPart::Refusal { extra, .. }
            | ContentPart::Other(extra) => extra,
        }
    }

    /// The part's `type` as the client sent it.
    pub fn kind(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::InputAudio { .. } => "input_audio",
            ContentPart::File { .. } => "file",
            ContentPart::Refusal { .. } => "refusal",
            ContentPart::Other(part) => part.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Content {
    /// The text of the message, parts joined by newlines; images and audio contribute nothing.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    ContentPart::Refusal { refusal, .. } => Some(refusal.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    pub fn has_image(&self) -> bool {
        matches!(self, Content::Parts(parts) if parts.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. })))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    /// Absent on GPT-5's `custom` tools (`{"type":"custom","custom":{...}}`, kept in `extra`),
    /// which only OpenAI-dialect hosts serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Unknown fields (`cache_control`, vendor extensions), passed on to OpenAI-dialect hosts.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Tool {
    /// The tool's name and description, for a function tool or a custom one.
    pub fn name_and_description(&self) -> (&str, Option<&str>) {
        match (&self.function, self.extra.get("custom")) {
            (Some(f), _) => (&f.name, f.description.as_deref()),
            (None, Some(c)) => (c.get("name").and_then(Value::as_str).unwrap_or(""), c.get("description").and_then(Value::as_str)),
            (None, None) => ("", None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// Absent on a call of a `custom` tool (`{"type":"custom","custom":{"name","input"}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    /// Unknown fields, kept in the history sent back to OpenAI-dialect hosts: Gemini's
    /// OpenAI-compatible endpoint needs `extra_content.google.thought_signature` returned.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

fn function_type() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON document encoded as a string, exactly as OpenAI sends it.
    pub arguments: String,
}

/// The answer's format. Same `remote = "Self"` arrangement as [`ContentPart`]: a type OpenAI
/// does not define is kept whole.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// `extra`: what hosts add to JSON mode (Together's and Fireworks' `schema`), sent on to
    /// OpenAI-dialect hosts; Anthropic and Gemini refuse a JSON mode they would lose it from.
    JsonObject {
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    JsonSchema { json_schema: JsonSchemaFormat },
    /// A format of a type OpenAI does not define (vLLM's `structural_tag`), `type` included:
    /// sent on as it came to OpenAI-dialect hosts; Anthropic and Gemini refuse it.
    #[serde(skip)]
    Other(Map<String, Value>),
}

/// The format types [`ResponseFormat`] has a variant of (a test holds this list to the enum).
const KNOWN_FORMAT_TYPES: [&str; 3] = ["text", "json_object", "json_schema"];

keeps_other_types!(ResponseFormat, KNOWN_FORMAT_TYPES);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Limits that keep one request from exhausting a worker's memory or CPU.
pub const MAX_MESSAGES: usize = 4096;
pub const MAX_TOOLS: usize = 512;
pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_N: u32 = 128;
/// Largest `max_tokens` / `max_completion_tokens` accepted (100 million).
pub const MAX_OUTPUT_TOKENS: u64 = 100_000_000;

impl ChatRequest {
    /// Parses and validates a request body. The error names the field at fault.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
        let value = super::parse_json_object(body)?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<ChatRequest, ApiError> {
        let obj = value.as_object().ok_or_else(|| ApiError::invalid_request("The request body must be a JSON object."))?;
        for required in ["model", "messages"] {
            if !obj.contains_key(required) || obj[required].is_null() {
                return Err(ApiError::missing_field(required));
            }
        }
        let req: ChatRequest = super::deserialize_with_path(value)?;
        req.validate()?;
        Ok(req)
    }

    fn validate(&self) -> Result<(), ApiError> {
        if self.model.trim().is_empty() {
            return Err(ApiError::invalid_value("model", "'model' must be a non-empty string."));
        }
        if self.messages.is_empty() {
            return Err(ApiError::invalid_value("messages", "'messages' must contain at least one message."));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(ApiError::invalid_value("messages", format!("'messages' may hold at most {MAX_MESSAGES} messages.")));
        }
        for (i, m) in self.messages.iter().enumerate() {
            let param = format!("messages[{i}]");
            match m.role {
                Role::Tool if m.tool_call_id.is_none() => {
                    return Err(ApiError::missing_field(&format!("{param}.tool_call_id")));
                }
                // An audio answer sent back by its id, or a refusal, is an assistant turn with
                // no content, as OpenAI returns them.
                Role::Assistant if m.content.is_none() && m.tool_calls.is_none() && !["function_call", "audio", "refusal"].iter().any(|k| m.extra.get(*k).is_some_and(|v| !v.is_null())) => {
                    return Err(ApiError::invalid_value(
                        &format!("{param}.content"),
                        format!("'{param}' is an assistant message with neither content nor tool_calls."),
                    ));
                }
                Role::System | Role::Developer | Role::User | Role::Tool if m.content.is_none() => {
                    return Err(ApiError::missing_field(&format!("{param}.content")));
                }
                _ => {}
            }
            for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                let custom = call.kind == "custom" && call.extra.get("custom").is_some_and(Value::is_object);
                if call.function.is_none() && !custom {
                    return Err(ApiError::missing_field(&format!("{param}.tool_calls[{j}].function")));
                }
            }
        }
        check_range("temperature", self.temperature, 0.0, 2.0)?;
        check_range("top_p", self.top_p, 0.0, 1.0)?;
        check_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?;
        check_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?;
        if let Some(n) = self.n {
            if n == 0 || n > MAX_N {
                return Err(ApiError::invalid_value("n", format!("'n' must be between 1 and {MAX_N}.")));
            }
        }
        for (field, value) in [("max_tokens", self.max_tokens), ("max_completion_tokens", self.max_completion_tokens)] {
            if value == Some(0) {
                return Err(ApiError::invalid_value(field, format!("'{field}' must be at least 1.")));
            }
            // No model writes this much; a larger figure only overflows the per-minute token
            // counts and the cost bound it is multiplied into.
            if value.is_some_and(|v| v > MAX_OUTPUT_TOKENS) {
                return Err(ApiError::invalid_value(field, format!("'{field}' must be at most {MAX_OUTPUT_TOKENS}.")));
            }
        }
        if let Some(top) = self.top_logprobs {
            if top > 20 {
                return Err(ApiError::invalid_value("top_logprobs", "'top_logprobs' must be between 0 and 20."));
            }
        }
        if let Some(Stop::Many(stops)) = &self.stop {
            if stops.len() > MAX_STOP_SEQUENCES {
                return Err(ApiError::invalid_value("stop", format!("'stop' may hold at most {MAX_STOP_SEQUENCES} sequences.")));
            }
        }
        if let Some(tools) = &self.tools {
            if tools.len() > MAX_TOOLS {
                return Err(ApiError::invalid_value("tools", format!("'tools' may hold at most {MAX_TOOLS} tools.")));
            }
            for (i, t) in tools.iter().enumerate() {
                if t.kind == "custom" {
                    let named = t.extra.get("custom").and_then(|c| c.get("name")).and_then(Value::as_str).is_some_and(valid_function_name);
                    if !named {
                        return Err(ApiError::invalid_value(&format!("tools[{i}].custom.name"), "A custom tool needs a name of 1-64 characters of a-z, A-Z, 0-9, underscores and dashes."));
                    }
                    continue;
                }
                if t.kind != "function" {
                    return Err(ApiError::invalid_value(&format!("tools[{i}].type"), "Tools are of type 'function' (or 'custom', for OpenAI models)."));
                }
                let Some(function) = &t.function else {
                    return Err(ApiError::missing_field(&format!("tools[{i}].function")));
                };
                if !valid_function_name(&function.name) {
                    return Err(ApiError::invalid_value(
                        &format!("tools[{i}].function.name"),
                        "Function names must be 1-64 characters of a-z, A-Z, 0-9, underscores and dashes.",
                    ));
                }
                if function.parameters.as_ref().is_some_and(|p| !p.is_object()) {
                    return Err(ApiError::invalid_value(&format!("tools[{i}].function.parameters"), "Function parameters must be a JSON Schema object."));
                }
            }
        }
        if let Some(choice) = &self.tool_choice {
            check_tool_choice(choice)?;
        }
        if self.stream_options.is_some() && !self.stream {
            return Err(ApiError::invalid_value("stream_options", "'stream_options' is only allowed when 'stream' is true."));
        }
        super::end_user::validate(&self.user, &self.extra)
    }

    /// The end user the client names (`user` or `safety_identifier`), for attribution.
    pub fn end_user(&self) -> Option<&str> {
        super::end_user::named(&self.user, &self.extra)
    }

    /// Puts the ids providers are sent in place of the client's end-user ids (see [`super::end_user`]).
    pub fn scope_end_user_for_provider(&mut self, tenant_id: &str) {
        super::end_user::scope_for_provider(&mut self.user, &mut self.extra, tenant_id);
    }

    /// For providers that only know function tools (Anthropic, Gemini): refuses GPT-5's custom
    /// tools and calls of them in the history, naming the first one.
    pub fn function_tools_only(&self) -> Result<(), ApiError> {
        if let Some(i) = self.tools.iter().flatten().position(|t| t.function.is_none()) {
            return Err(ApiError::invalid_value(&format!("tools[{i}]"), "Custom tools are served by OpenAI models only; route this request to one, or declare a function tool."));
        }
        for (i, m) in self.messages.iter().enumerate() {
            if let Some(j) = m.tool_calls.iter().flatten().position(|c| c.function.is_none()) {
                return Err(ApiError::invalid_value(&format!("messages[{i}].tool_calls[{j}]"), "Calls of custom tools are served by OpenAI models only."));
            }
        }
        Ok(())
    }

    /// A `tool_choice` of OpenAI's `allowed_tools` type, `{"type": "allowed_tools", "allowed_tools":
    /// {"mode": "auto" | "required", "tools": [{"type": "function", "function": {"name": ...}}]}}`,
    /// read for providers that have no such choice (Anthropic, Gemini). `None` for any other
    /// choice. Parsing lets the object through for OpenAI to judge; here every entry must name a
    /// function declared in `tools`, and `required` must allow at least one.
    pub fn allowed_functions(&self) -> Result<Option<AllowedFunctions<'_>>, ApiError> {
        let Some(choice) = self.tool_choice.as_ref().filter(|c| c.get("type").and_then(Value::as_str) == Some("allowed_tools")) else {
            return Ok(None);
        };
        let allowed = choice.get("allowed_tools");
        let required = match allowed.and_then(|a| a.get("mode")).and_then(Value::as_str) {
            Some("auto") => false,
            Some("required") => true,
            _ => return Err(ApiError::invalid_value("tool_choice.allowed_tools.mode", r#"'mode' must be "auto" or "required"."#)),
        };
        let Some(entries) = allowed.and_then(|a| a.get("tools")).and_then(Value::as_array) else {
            return Err(ApiError::missing_field("tool_choice.allowed_tools.tools"));
        };
        let mut names = Vec::with_capacity(entries.len());
        for (k, entry) in entries.iter().enumerate() {
            let param = format!("tool_choice.allowed_tools.tools[{k}]");
            let name = entry.pointer("/function/name").and_then(Value::as_str).filter(|_| entry.get("type").and_then(Value::as_str) == Some("function"));
            let Some(name) = name else {
                return Err(ApiError::invalid_value(&param, r#"Allowed tools are named {"type":"function","function":{"name":...}}; other tool types are served by OpenAI models only."#));
            };
            if !self.tools.iter().flatten().any(|t| t.function.as_ref().is_some_and(|f| f.name == name)) {
                return Err(ApiError::invalid_value(&param, format!("'{name}' is not a function declared in 'tools'.")));
            }
            names.push(name);
        }
        if required && names.is_empty() {
            return Err(ApiError::invalid_value("tool_choice.allowed_tools.tools", "Mode \"required\" needs at least one allowed tool."));
        }
        Ok(Some(AllowedFunctions { names, required }))
    }

    /// The output cap the client asked for, under either of OpenAI's two names.
    /// Whether part of the prompt or the answer may be billed above the plain token rates:
    /// audio in or out, a file, or prompt-cache marks (a cache write costs more than input).
    /// Serialises the request, so only for a rare path (a call abandoned after its client left);
    /// a false positive (a message whose whole text is "audio") errs towards the higher charge.
    pub fn may_bill_dearer_tokens(&self) -> bool {
        let text = serde_json::to_string(self).unwrap_or_default();
        ["\"input_audio\"", "\"cache_control\"", "\"modalities\"", "\"audio\"", "\"file\""].iter().any(|k| text.contains(k))
    }

    /// OpenAI's `reasoning_effort` ("none", "minimal", "low", "medium", "high"), if set.
    pub fn reasoning_effort(&self) -> Option<&str> {
        self.extra.get("reasoning_effort").and_then(Value::as_str)
    }

    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The output the client needs room for: its cap, unless the cap is only a ceiling
    /// (`output_cap_is_ceiling`), which a model that writes less may serve.
    pub fn needed_output_tokens(&self) -> Option<u64> {
        self.max_output_tokens().filter(|_| !self.output_cap_is_ceiling)
    }

    /// A ceiling (`output_cap_is_ceiling`) lowered to the most the model serving the request can
    /// write (`most`, its pricing row's `max_output_tokens`), which its provider would refuse to
    /// exceed; a cap the client needs is sent as it is.
    pub fn hold_output_ceiling_to(&mut self, most: u64) {
        if self.output_cap_is_ceiling {
            for cap in [&mut self.max_tokens, &mut self.max_completion_tokens].into_iter().flatten() {
                *cap = (*cap).min(most);
            }
        }
    }

    /// How many answers the client asked for (`n`); each is generated, and billed, separately.
    pub fn choices(&self) -> u64 {
        self.n.map_or(1, u64::from)
    }

    /// True when the client asked for usage in the stream; the router asks for it regardless.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.as_ref().map(|o| o.include_usage).unwrap_or(false)
    }
}

/// The functions an `allowed_tools` tool choice lets the model call ([`ChatRequest::allowed_functions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedFunctions<'a> {
    /// Functions declared in `tools`; empty when the client allowed none.
    pub names: Vec<&'a str>,
    /// `mode: "required"`: the model must call one of them (else it may answer in text).
    pub required: bool,
}

impl AllowedFunctions<'_> {
    /// Whether the function named is declared to a provider that has no allowed-tools choice:
    /// the allowed ones are, so the model sees no other. With none allowed every one is, and
    /// the choice says none may be called: Anthropic refuses a history holding tool calls when
    /// no tools are declared.
    pub fn declares(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.contains(&name)
    }
}

fn check_range(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), ApiError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            Err(ApiError::invalid_value(field, format!("'{field}' must be between {min} and {max}; got {v}.")))
        }
        _ => Ok(()),
    }
}

/// `tool_choice` as OpenAI takes it: "none", "auto", "required", or an object with a `type`
/// (a `function` one must name a function). Checked here so that a malformed value is refused
/// the same way whichever provider serves the request, rather than passed through to some.
fn check_tool_choice(choice: &Value) -> Result<(), ApiError> {
    let ok = match choice {
        Value::String(s) => matches!(s.as_str(), "none" | "auto" | "required"),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).is_some_and(valid_function_name),
            // Other object types (`allowed_tools`, `custom`) are OpenAI's own: passed through.
            Some(kind) => !kind.is_empty(),
            None => false,
        },
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_value(
            "tool_choice",
            r#"'tool_choice' must be "none", "auto", "required" or {"type":"function","function":{"name":...}}."#,
        ))
    }
}

fn valid_function_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The response the router returns for a non-streaming chat completion, whatever the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: String,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// What the model thought before answering, where its provider returns it (Claude's
    /// extended thinking), under the name DeepSeek and LiteLLM give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Claude's thinking blocks as Anthropic sent them (text and signature, or redacted data),
    /// under LiteLLM's name: a client that sends the message back as it came lets the next call
    /// of a tool loop think too (Anthropic wants them back there; see `providers::anthropic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<Value>>,
}

/// The field of an assistant message that carries Claude's thinking blocks back.
pub const THINKING_BLOCKS: &str = "thinking_blocks";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatRequest, ApiError> {
        ChatRequest::parse(s.as_bytes())
    }

    #[test]
    fn a_ceiling_is_no_room_needed_and_is_held_to_what_the_model_writes() {
        let mut needed = parse(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":32000}"#).unwrap();
        assert_eq!(needed.needed_output_tokens(), Some(32000));
        needed.hold_output_ceiling_to(16384);
        assert_eq!(needed.max_tokens, Some(32000), "a cap the client needs is sent as it is");
        let mut ceiling = needed.clone();
        ceiling.output_cap_is_ceiling = true;
        ceiling.max_completion_tokens = Some(20000);
        assert_eq!(ceiling.needed_output_tokens(), None);
        ceiling.hold_output_ceiling_to(16384);
        assert_eq!((ceiling.max_tokens, ceiling.max_completion_tokens), (Some(16384), Some(16384)));
        ceiling.hold_output_ceiling_to(64000);
        assert_eq!(ceiling.max_tokens, Some(16384), "never raised");
        assert!(serde_json::to_value(&ceiling).unwrap().get("output_cap_is_ceiling").is_none(), "never sent");
        let from_body = parse(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"output_cap_is_ceiling":true,"thinking_blocks_as_they_end":true}"#).unwrap();
        assert!(!from_body.output_cap_is_ceiling && !from_body.thinking_blocks_as_they_end, "never read from a body");
    }

    #[test]
    fn dearer_tokens_are_seen_in_audio_files_and_cache_marks() {
        let parse = |json: &str| ChatRequest::parse(json.as_bytes()).unwrap();
        assert!(!parse(r#"{"model":"m","messages":[{"role":"user","content":"Tell me about audio files."}]}"#).may_bill_dearer_tokens());
        assert!(parse(r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}"#).may_bill_dearer_tokens());
        assert!(parse(r#"{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"Rules","cache_control":{"type":"ephemeral","ttl":"1h"}}]},{"role":"user","content":"hi"}]}"#).may_bill_dearer_tokens());
        assert!(parse(r#"{"model":"m","modalities":["text","audio"],"messages":[{"role":"user","content":"hi"}]}"#).may_bill_dearer_tokens());
    }

    #[test]
    fn parses_a_full_request_and_keeps_unknown_fields() {
        let r = parse(r#"{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],
            "stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
            "response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object"}}},"stop":["x"],"seed":7,"n":2,"logit_bias":{"1":2}}"#)
        .unwrap();
        assert!(r.stream && r.wants_stream_usage());
        assert!(r.messages[1].content.as_ref().unwrap().has_image());
        assert_eq!(r.extra["logit_bias"]["1"], 2);
        assert!(matches!(r.response_format, Some(ResponseFormat::JsonSchema { .. })));
    }

    #[test]
    fn gpt5_custom_tools_and_their_calls_pass_for_openai_hosts() {
        let r = parse(r#"{"model":"gpt-5","messages":[{"role":"user","content":"run it"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"custom","custom":{"name":"code_exec","input":"print(1)"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"1"}],
            "tools":[{"type":"custom","custom":{"name":"code_exec","description":"Runs Python"}},{"type":"function","function":{"name":"f"}}]}"#)
        .unwrap();
        let sent = serde_json::to_value(&r).unwrap();
        assert_eq!(sent["tools"][0], serde_json::json!({"type": "custom", "custom": {"name": "code_exec", "description": "Runs Python"}}), "forwarded as sent");
        assert_eq!(sent["messages"][1]["tool_calls"][0]["custom"]["input"], "print(1)");
        assert_eq!(r.tools.as_ref().unwrap()[0].name_and_description(), ("code_exec", Some("Runs Python")));
        let e = r.function_tools_only().unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0]"));
        let e = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"bad name"}}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tools[0].custom.name"));
        let e = parse(r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].tool_calls[0].function"));
    }

    #[test]
    fn numbers_a_request_carries_reach_the_provider_as_the_same_numbers() {
        // Found by an hour of `chat_request` fuzzing: a float serde_json wrote out after parsing
        // it read back one unit in the last place off (4444447444444444444444444444 came back as
        // 4.4444474444444444e27), unless its parser rounds correctly (`float_roundtrip`).
        for n in ["4444447444444444444444444444", "4.444447444444445e27", "4444444.777777445", "0.1", "-0.0", "1e-320", "123456789012345678901234567890.5"] {
            let json = format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"video_url","n":{n}}}]}}],"temperature":0.7}}"#);
            let first = parse(&json).unwrap();
            let again = parse(&serde_json::to_string(&first).unwrap()).unwrap();
            assert_eq!(again.messages[0].content, first.messages[0].content, "{n}");
            let came: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_value(&first).unwrap()["messages"][0]["content"][0]["n"].as_f64(), came["messages"][0]["content"][0]["n"].as_f64(), "{n}");
        }
    }

    #[test]
    fn parts_and_formats_of_a_hosts_own_types_are_kept_whole() {
        // vLLM's video part and structural-tag format, Together's schema beside JSON mode: sent
        // on to OpenAI-dialect hosts exactly as they came.
        let json = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what happens?"},
            {"type":"video_url","video_url":{"url":"https://x/v.mp4"},"uuid":"v1"}]}],
            "response_format":{"type":"structural_tag","structures":[{"begin":"<f>","schema":{},"end":"</f>"}],"triggers":["<f>"]}}"#;
        let r = parse(json).unwrap();
        let Some(Content::Parts(parts)) = &r.messages[0].content else { panic!("parts") };
        assert!(matches!(&parts[1], ContentPart::Other(_)) && parts[1].kind() == "video_url");
        assert_eq!(r.messages[0].content.as_ref().unwrap().text(), "what happens?", "no text of its own");
        assert!(matches!(r.response_format, Some(ResponseFormat::Other(_))));
        let sent = serde_json::to_value(&r).unwrap();
        let came: Value = serde_json::from_str(json).unwrap();
        assert_eq!(sent["messages"], came["messages"]);
        assert_eq!(sent["response_format"], came["response_format"]);
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object","schema":{"type":"object"}}}"#).unwrap();
        assert!(matches!(&r.response_format, Some(ResponseFormat::JsonObject { extra }) if extra.contains_key("schema")));
        assert_eq!(serde_json::to_value(&r).unwrap()["response_format"], serde_json::json!({"type": "json_object", "schema": {"type": "object"}}));
    }

    #[test]
    fn a_known_part_or_format_that_is_malformed_is_refused_as_before() {
        for kind in KNOWN_PART_TYPES {
            let r = parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"{kind}"}}]}}]}}"#));
            let e = r.expect_err(kind);
            assert_eq!(e.param.as_deref(), Some("messages[0].content[0]"), "{kind}");
            assert!(e.message.contains("missing field"), "{kind}: {}", e.message);
        }
        for (content, says) in [(r#"{"type":"text","text":5}"#, "invalid type"), (r#"{"text":"x"}"#, "missing field `type`"), (r#"{"type":7}"#, "invalid type")] {
            let e = parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{content}]}}]}}"#)).unwrap_err();
            assert!(e.message.contains(says), "{content}: {}", e.message);
        }
        for kind in KNOWN_FORMAT_TYPES {
            let r = parse(&format!(r#"{{"model":"m","messages":[],"response_format":{{"type":"{kind}"}}}}"#));
            assert!(r.map_or(true, |r| !matches!(r.response_format, Some(ResponseFormat::Other(_)))), "{kind}");
        }
        let e = parse(r#"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("response_format"));
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
    }

    #[test]
    fn a_null_stream_is_no_stream() {
        // openai-python sends `stream=None` as null.
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":null}"#).unwrap();
        assert!(!r.stream);
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":null}}"#).unwrap();
        assert!(r.stream && !r.wants_stream_usage());
        assert!(parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#).is_err());
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = parse(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].content"));
        assert_eq!(e.message, "Invalid value for 'messages[0].content': invalid type: integer `5`, expected a string or an array of content parts.");
        let e = parse(r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let e = parse(r#"{"model":"m","messages":[],"temperature":"hot"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("temperature"));
    }

    #[test]
    fn rejects_invalid_values() {
        for (body, param) in [
            (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (r#"{"model":"m"}"#, "messages"),
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (r#"{"model":"","messages":[{"role":"user","content":"x"}]}"#, "model"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#, "n"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100000001}"#, "max_tokens"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":18446744073709551615}"#, "max_completion_tokens"),
            (r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
            (r#"{"model":"m","messages":[{"role":"user"}]}"#, "messages[0].content"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"audio":null}]}"#, "messages[1].content"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#, "stream_options"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name"}}]}"#, "tools[0].function.name"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, "stop"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}"#, "tools[0].function.parameters"),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
    }

    #[test]
    fn a_refusal_part_is_part_of_the_turns_text() {
        // An assistant turn sent back in parts: the refusal is what the model said, and the
        // prompt estimate for a model without a tokenizer counts it with the text.
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"text","text":"Sure."},{"type":"refusal","refusal":"I can't help with that."}]},{"role":"user","content":"y"}]}"#).unwrap();
        assert_eq!(r.messages[1].content.as_ref().unwrap().text(), "Sure.\nI can't help with that.");
    }

    #[test]
    fn a_tool_call_sent_back_without_a_type_goes_on_as_a_function_call() {
        // OpenAI's schema requires `type` on a call in the history: the field defaults as its answers have it.
        let r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"1"}]}"#).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap()["messages"][1]["tool_calls"][0], serde_json::json!({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}));
    }

    #[test]
    fn a_call_of_a_custom_tool_needs_its_type_and_its_custom_object() {
        // Either half alone is no call anything can serve: refused as a call without a function.
        for call in [r#"{"id":"c1","type":"custom","name":"code_exec","input":"print(1)"}"#, r#"{"id":"c1","type":"function","custom":{"name":"code_exec","input":"print(1)"}}"#] {
            let e = parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}},{{"role":"assistant","content":null,"tool_calls":[{call}]}}]}}"#)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("messages[1].tool_calls[0].function"), "{call}");
        }
    }

    #[test]
    fn a_request_may_hold_up_to_max_messages() {
        let with = |n: usize| {
            let messages = vec![r#"{"role":"user","content":"x"}"#; n].join(",");
            parse(&format!(r#"{{"model":"m","messages":[{messages}]}}"#))
        };
        assert_eq!(with(MAX_MESSAGES).unwrap().messages.len(), MAX_MESSAGES);
        assert_eq!(with(MAX_MESSAGES + 1).unwrap_err().param.as_deref(), Some("messages"));
    }

    #[test]
    fn each_limit_takes_its_maximum_and_refuses_one_more() {
        let with = |field: &str, value: String| parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"{field}":{value}}}"#));
        let function = |i: usize| format!(r#"{{"type":"function","function":{{"name":"f{i}"}}}}"#);
        let tools = |n: usize| format!("[{}]", (0..n).map(function).collect::<Vec<_>>().join(","));
        let stops = |n: usize| serde_json::to_string(&vec!["END"; n]).unwrap();
        for (field, at_most, one_more) in [
            ("n", MAX_N.to_string(), (MAX_N + 1).to_string()),
            ("max_tokens", MAX_OUTPUT_TOKENS.to_string(), (MAX_OUTPUT_TOKENS + 1).to_string()),
            ("max_completion_tokens", MAX_OUTPUT_TOKENS.to_string(), (MAX_OUTPUT_TOKENS + 1).to_string()),
            ("top_logprobs", "20".into(), "21".into()),
            ("stop", stops(MAX_STOP_SEQUENCES), stops(MAX_STOP_SEQUENCES + 1)),
            ("tools", tools(MAX_TOOLS), tools(MAX_TOOLS + 1)),
        ] {
            assert!(with(field, at_most).is_ok(), "{field}");
            assert_eq!(with(field, one_more).unwrap_err().param.as_deref(), Some(field), "{field}");
        }
    }

    #[test]
    fn the_budget_holds_one_answer_unless_the_client_asks_for_n() {
        let with = |n: &str| parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{n}}}"#)).unwrap().choices();
        assert_eq!((with(""), with(r#","n":null"#), with(r#","n":3"#)), (1, 1, 3));
    }

    #[test]
    fn the_end_user_named_is_attributed_and_providers_get_it_scoped_to_the_tenant() {
        let mut r = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"safety_identifier":"ana@example.com"}"#).unwrap();
        assert_eq!(r.end_user(), Some("ana@example.com"));
        assert_eq!(parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#).unwrap().end_user(), None);
        r.scope_end_user_for_provider("acme");
        let sent = serde_json::to_value(&r).unwrap();
        assert_eq!(sent["safety_identifier"], crate::api::end_user::provider_id("acme", "ana@example.com"));
    }

    #[test]
    fn an_assistant_turn_may_be_an_audio_answer_or_a_refusal_without_content() {
        for turn in [r#"{"role":"assistant","content":null,"audio":{"id":"audio_abc"}}"#, r#"{"role":"assistant","content":null,"refusal":"I can't help with that."}"#] {
            parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}},{turn},{{"role":"user","content":"y"}}]}}"#)).unwrap();
        }
    }

    #[test]
    fn tool_choice_must_have_openai_shape() {
        let with = |choice: &str| parse(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"tool_choice":{choice}}}"#));
        for ok in [
            r#""auto""#,
            r#""none""#,
            r#""required""#,
            "null",
            r#"{"type":"function","function":{"name":"get_weather"}}"#,
            r#"{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}"#,
        ] {
            assert!(with(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1",
            "true",
            "[]",
            r#"["auto"]"#,
            "{}",
            r#""sometimes""#,
            r#""AUTO""#,
            r#""any""#,
            r#"{"type":1}"#,
            r#"{"type":""}"#,
            r#"{"type":"function"}"#,
            r#"{"type":"function","function":{}}"#,
            r#"{"type":"function","function":{"name":1}}"#,
            r#"{"type":"function","function":"f"}"#,
            r#"{"function":{"name":"f"}}"#,
        ] {
            let e = with(bad).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some("tool_choice")), "{bad}");
        }
    }
}
