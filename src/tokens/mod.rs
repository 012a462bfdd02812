//! Token counts: exact ones for OpenAI's encodings, and the quick estimates used elsewhere.
//!
//! - [`count_tokens`] / [`encode`]: exactly tiktoken's `encode_ordinary` for `o200k_base` and
//!   `cl100k_base` (see [`exact`] for how it starts in milliseconds inside the worker). Special
//!   tokens are not recognised: `<|endoftext|>` in a prompt is counted as the text it is, as
//!   OpenAI does for user content.
//! - [`count_chat_prompt_tokens`]: a chat request's prompt with OpenAI's published framing.
//! - [`estimate`]: the chars/4 rule of thumb, re-exported here unchanged for its callers.

mod estimate;
pub mod exact;
pub mod prefix;
pub mod seen_counts;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

pub use estimate::*;
pub use exact::Encoding;

use crate::api::chat::{ChatRequest, Content, ContentPart, Message, Role, Tool};

/// The encoding OpenAI uses for a model name, as tiktoken maps them; `None` for models of other
/// vendors or unknown ones. Accepts dated and fine-tuned names (`gpt-4o-2024-08-06`,
/// `ft:gpt-4o-mini:org::id`) and a leading `vendor/` (`openai/gpt-4.1`).
pub fn encoding_for_model(model: &str) -> Option<Encoding> {
    let m = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    let m = m.strip_prefix("ft:").unwrap_or(&m);
    let family = |name: &str| m == name || m.strip_prefix(name).is_some_and(|rest| rest.starts_with('-'));
    // o200k first: "gpt-4o" and "gpt-4.1" also start with "gpt-4".
    if m.starts_with("gpt-4o")
        || m.starts_with("chatgpt-4o")
        || m.starts_with("gpt-4.1")
        || m.starts_with("gpt-4.5")
        || m.starts_with("gpt-5")
        || ["o1", "o3", "o4", "o4-mini"].iter().any(|f| family(f))
    {
        return Some(Encoding::O200kBase);
    }
    if family("gpt-4")
        || m.starts_with("gpt-3.5-turbo")
        || m.starts_with("gpt-35-turbo")
        || m.starts_with("text-embedding-3-")
        || m == "text-embedding-ada-002"
    {
        return Some(Encoding::Cl100kBase);
    }
    None
}

/// A chat prompt's token count as the router uses it for routing facts: exact (OpenAI's framing,
/// [`count_chat_prompt_tokens`]) when the requested model uses a known OpenAI encoding, otherwise
/// the chars/4 estimate. Other vendors' tokenizers are not public in a form the worker can ship
/// (Anthropic's and Gemini's counts come from their usage reports after the call), so for their
/// models and for aliases the count is an estimate, and says so in [`PromptTokens::exact`].
///
/// `tenant`: the tenant the request is counted for, whose long texts counted before (a system
/// prompt, a conversation's history) are not counted again ([`seen_counts`]); `None` counts all.
pub fn prompt_tokens(req: &ChatRequest, tenant: Option<&str>) -> PromptTokens {
    match encoding_for_model(&req.model) {
        Some(enc) => {
            let (count, system) = chat_prompt_counts(&Counter { encoding: enc, tenant }, req);
            PromptTokens { count, exact: true, system }
        }
        None => PromptTokens { count: estimate_prompt_tokens(req), exact: false, system: prefix::text_tokens(&req.model, &prefix::system_prompt(req)) },
    }
}

/// The usage of an answer whose provider reported none (some OpenAI-compatible hosts, a stream
/// cut off before its usage chunk): tiktoken-exact when `model` (the model that answered) uses a
/// known OpenAI encoding, the chars/4 estimate otherwise. The receipt says `estimated` either way,
/// because the provider's own count is what it bills.
pub fn usage_when_unreported(model: &str, req: &ChatRequest, answer_text: &str) -> crate::usage::Usage {
    match encoding_for_model(model) {
        Some(enc) => crate::usage::Usage {
            input_tokens: count_chat_prompt_tokens(enc, req),
            output_tokens: count(enc, answer_text),
            ..crate::usage::Usage::default()
        },
        None => estimate_usage(req, answer_text),
    }
}

/// A prompt token count and whether it is exact for the requested model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptTokens {
    pub count: u64,
    pub exact: bool,
    /// Tokens of the leading system and developer messages' contents, counted the same way.
    pub system: u64,
}

/// The number of tokens of `text`, exactly as tiktoken counts it.
pub fn count_tokens(enc: Encoding, text: &str) -> usize {
    exact::count(enc, text)
}

/// The token ids of `text`, exactly as tiktoken's `encode_ordinary` gives them.
pub fn encode(enc: Encoding, text: &str) -> Vec<u32> {
    exact::encode(enc, text)
}

/// OpenAI's chat framing, from its cookbook ("How to count tokens with tiktoken"): each
/// message costs 3 tokens plus the tokens of each of its string fields (role, content, name),
/// a name 1 more, and every reply is primed with 3 (`<|start|>assistant<|message|>`).
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

/// Image inputs, whose size the router does not know: `detail: "low"` is a flat 85 tokens; any
/// other detail is charged as a 1024×1024 image, which OpenAI scales to 768×768, 4 tiles of 512:
/// 85 + 4 × 170 = 765. (gpt-4o-mini bills images at other rates; this is a prompt-size count,
/// not a price.)
const IMAGE_LOW_DETAIL: u64 = 85;
const IMAGE_DEFAULT: u64 = 85 + 4 * 170;

/// The prompt tokens of a chat request as OpenAI counts them.
///
/// Exact for messages of text (system, developer, user, assistant, tool) with names. Approximate,
/// by documented rules, for:
/// - images: see [`IMAGE_DEFAULT`] (765 tokens, or 85 at low detail); audio and file parts are not
///   counted (their cost depends on content the router does not decode);
/// - assistant tool calls: the tokens of each call's function name and arguments plus 3;
///   a tool message's `tool_call_id` counts as a string field;
/// - tool definitions: the cookbook's `num_tokens_for_tools` estimate (per function 7 tokens,
///   10 for cl100k-era models, plus `name:description`, 3 for the properties and per property 3
///   plus `name:type:description`, enum values 3 each plus their tokens, and 12 at the end).
pub fn count_chat_prompt_tokens(enc: Encoding, req: &ChatRequest) -> u64 {
    chat_prompt_counts(&Counter { encoding: enc, tenant: None }, req).0
}

/// How a prompt's texts are counted: with an encoding, and for a tenant whose long texts counted
/// before are looked up rather than counted again.
struct Counter<'a> {
    encoding: Encoding,
    tenant: Option<&'a str>,
}

thread_local! {
    static SEEN: std::cell::RefCell<seen_counts::SeenCounts> = std::cell::RefCell::new(Default::default());
}

impl Counter<'_> {
    fn text(&self, text: &str) -> u64 {
        // `count_or` keeps only texts long enough to be worth it.
        match self.tenant {
            Some(tenant) => SEEN.with(|seen| seen.borrow_mut().count_or(tenant, self.encoding, text, || count(self.encoding, text))),
            None => count(self.encoding, text),
        }
    }
}

/// [`count_chat_prompt_tokens`], and the tokens of the contents of the leading system and
/// developer messages (the system prompt a provider could cache), from the same pass: a long
/// system prompt is tokenized once per request.
fn chat_prompt_counts(counter: &Counter, req: &ChatRequest) -> (u64, u64) {
    let mut total = REPLY_PRIMING;
    let mut system = 0;
    let mut leading_system = true;
    for m in &req.messages {
        let content = m.content.as_ref().map_or(0, |c| content_tokens(counter, c));
        leading_system &= matches!(m.role, Role::System | Role::Developer);
        if leading_system {
            system += content;
        }
        total += message_tokens(counter, m, content);
    }
    if let Some(tools) = &req.tools {
        total += tools_tokens(counter.encoding, tools);
    }
    (total, system)
}

fn count(enc: Encoding, text: &str) -> u64 {
    count_tokens(enc, text) as u64
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => "function",
    }
}

fn content_tokens(counter: &Counter, content: &Content) -> u64 {
    match content {
        Content::Text(t) => counter.text(t),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text, .. } => counter.text(text),
                ContentPart::Refusal { refusal, .. } => counter.text(refusal),
                ContentPart::ImageUrl { .. } | ContentPart::InputAudio { .. } | ContentPart::File { .. } | ContentPart::Other(_) => image_part_tokens(part),
            })
            .sum(),
    }
}

/// The images of a message's content at [`IMAGE_DEFAULT`] (or [`IMAGE_LOW_DETAIL`]), whichever
/// way its text is counted: a request's size must not depend on whether its model's name has a
/// tokenizer (four images counted 3,060 tokens under `gpt-4o` and none under an alias of it).
pub(crate) fn image_tokens(content: &Content) -> u64 {
    match content {
        Content::Text(_) => 0,
        Content::Parts(parts) => parts.iter().map(image_part_tokens).sum(),
    }
}

/// A content part's tokens if it is an image (see [`IMAGE_DEFAULT`]), else 0.
fn image_part_tokens(part: &ContentPart) -> u64 {
    match part {
        ContentPart::ImageUrl { image_url, .. } if image_url.detail.as_deref() == Some("low") => IMAGE_LOW_DETAIL,
        ContentPart::ImageUrl { .. } => IMAGE_DEFAULT,
        _ => 0,
    }
}

/// A message's tokens, given its content's ([`content_tokens`]).
fn message_tokens(counter: &Counter, m: &Message, content_tokens: u64) -> u64 {
    let enc = counter.encoding;
    let mut total = TOKENS_PER_MESSAGE + count(enc, role_name(m.role)) + content_tokens;
    if let Some(name) = &m.name {
        total += count(enc, name) + TOKENS_PER_NAME;
    }
    if let Some(id) = &m.tool_call_id {
        total += count(enc, id);
    }
    for call in m.tool_calls.iter().flatten() {
        total += 3 + match &call.function {
            Some(f) => count(enc, &f.name) + counter.text(&f.arguments),
            // A custom tool's call: its name and free-form input.
            None => call.extra.get("custom").map_or(0, |c| count(enc, &c.to_string())),
        };
    }
    total
}

fn tools_tokens(enc: Encoding, tools: &[Tool]) -> u64 {
    if tools.is_empty() {
        return 0;
    }
    let func_init: i64 = if enc == Encoding::O200kBase { 7 } else { 10 };
    let (prop_init, prop_key, enum_init, enum_item, func_end) = (3i64, 3i64, -3i64, 3i64, 12i64);
    let mut total: i64 = 0;
    for tool in tools {
        let Some(f) = &tool.function else {
            // A custom tool: no published framing; its definition's text is a fair count.
            total += func_init + tool.extra.get("custom").map_or(0, |c| count(enc, &c.to_string())) as i64;
            continue;
        };
        total += func_init;
        let desc = f.description.as_deref().unwrap_or("");
        total += count(enc, &format!("{}:{}", f.name, desc.strip_suffix('.').unwrap_or(desc))) as i64;
        let props = f.parameters.as_ref().and_then(|p| p.get("properties")).and_then(|p| p.as_object());
        if let Some(props) = props.filter(|p| !p.is_empty()) {
            total += prop_init;
            for (key, prop) in props {
                total += prop_key;
                let p_type = match prop.get("type") {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let p_desc = prop.get("description").and_then(|d| d.as_str()).unwrap_or("");
                if let Some(items) = prop.get("enum").and_then(|e| e.as_array()) {
                    total += enum_init;
                    for item in items {
                        total += enum_item;
                        let text = item.as_str().map_or_else(|| item.to_string(), str::to_string);
                        total += count(enc, &text) as i64;
                    }
                }
                let line = format!("{key}:{p_type}:{}", p_desc.strip_suffix('.').unwrap_or(p_desc));
                total += count(enc, &line) as i64;
            }
        }
    }
    (total + func_end).max(0) as u64
}
