//! Token counts when a provider reports none.
//!
//! Used to estimate usage for hosts that omit it (the receipt then says `estimated`) and the
//! prompt size of requests to models whose tokenizer is not shipped. Four characters per token is
//! OpenAI's published rule of thumb for English text; Chinese, Japanese and Korean run near one
//! token a character; a per-message overhead of 3 tokens matches the chat format's framing.

use crate::api::chat::ChatRequest;
use crate::usage::Usage;

pub fn estimate_text_tokens(text: &str) -> u64 {
    TextTally::of(text).tokens()
}

/// A text's characters as the estimate counts them, kept apart so that a text arriving in pieces
/// (a stream's deltas) is estimated as the whole text would be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextTally {
    /// Characters of about a token each (see `one_token_each`).
    pub dense: u64,
    /// Other characters, about four to a token.
    pub other: u64,
}

impl TextTally {
    pub fn of(text: &str) -> TextTally {
        let mut tally = TextTally::default();
        tally.add(text);
        tally
    }

    pub fn add(&mut self, text: &str) {
        for c in text.chars() {
            if one_token_each(c) {
                self.dense += 1;
            } else {
                self.other += 1;
            }
        }
    }

    pub fn chars(&self) -> u64 {
        self.dense + self.other
    }

    pub fn tokens(&self) -> u64 {
        self.dense + self.other.div_ceil(4)
    }
}

/// CJK ideographs, kana and Hangul syllables: about a token each in every vendor's tokenizer.
fn one_token_each(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Bytes of a value as JSON: what the prompt bound counts for tool calls, definitions and schemas.
fn json_bytes<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_string(value).map_or(0, |s| s.len() as u64)
}

fn estimate_json_tokens<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_string(value).map_or(0, |s| estimate_text_tokens(&s))
}

/// The prompt's text, tool calls, tool definitions and response schema at the rates above, and
/// its images as the exact count takes them (audio and files are not counted either way).
pub fn estimate_prompt_tokens(req: &ChatRequest) -> u64 {
    let messages: u64 = req
        .messages
        .iter()
        .map(|m| {
            3 + m.content.as_ref().map_or(0, |c| estimate_text_tokens(&c.text()) + super::image_tokens(c))
                + m.tool_calls.as_ref().map_or(0, estimate_json_tokens)
                + m.name.as_deref().map_or(0, estimate_text_tokens)
        })
        .sum();
    let tools = req.tools.as_ref().filter(|t| !t.is_empty()).map_or(0, estimate_json_tokens);
    let format = req.response_format.as_ref().map_or(0, estimate_json_tokens);
    messages + 3 + tools + format
}

/// An estimated usage for a request and the text that answered it.
pub fn estimate_usage(req: &ChatRequest, answer_text: &str) -> Usage {
    Usage { input_tokens: estimate_prompt_tokens(req), output_tokens: estimate_text_tokens(answer_text), ..Usage::default() }
}


/// An upper bound on a chat prompt's tokens, for budget reservations, before knowing which model
/// serves it: text is bounded by its bytes (byte-level BPE never makes a token from less than one
/// byte), images by a per-image allowance the model's pricing row may raise, and files or audio
/// by nothing short of the model's context window (a 100-page PDF is ~150k tokens, an hour of
/// audio ~115k, whatever their encoded size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromptBound {
    /// Tokens of the text, tool calls and tool definitions, and the chat framing.
    pub text_tokens: u64,
    pub images: u64,
    /// The prompt holds a file or an audio clip.
    pub has_file_or_audio: bool,
    /// Bytes of the media parts as sent (URLs or base64): the bound for a file or audio clip
    /// on a model whose context window is unknown.
    pub media_bytes: u64,
    /// The model's context window bounds each of several inputs (embeddings), not the whole.
    pub window_per_input: bool,
}

/// Tokens one image may cost at most on a model whose pricing row gives no `max_image_tokens`
/// (OpenAI's high-detail tiling of gpt-4o tops out at 1,445; Anthropic scales images down to
/// about 1,600).
pub const IMAGE_TOKEN_ALLOWANCE: u64 = 2_000;

impl PromptBound {
    /// A prompt of text only.
    pub fn text(tokens: u64) -> PromptBound {
        PromptBound { text_tokens: tokens, ..PromptBound::default() }
    }

    /// Embedding inputs of these many bytes in all: an array of them may hold far more tokens
    /// than one model window.
    pub fn embedding_inputs(bytes: u64) -> PromptBound {
        PromptBound { text_tokens: bytes, window_per_input: true, ..PromptBound::default() }
    }

    /// The bound on a model that takes at most `prompt_limit` prompt tokens (its context window,
    /// or its own prompt limit) and has this per-image cap; a provider refuses a prompt past its
    /// limit, so the limit bounds everything.
    pub fn for_model(&self, prompt_limit: Option<u64>, max_image_tokens: Option<u64>) -> u64 {
        let context_window = prompt_limit.filter(|_| !self.window_per_input);
        let images = self.images.saturating_mul(max_image_tokens.unwrap_or(IMAGE_TOKEN_ALLOWANCE));
        let bound = self.text_tokens.saturating_add(images);
        match (context_window, self.has_file_or_audio) {
            (Some(window), true) => window,
            (Some(window), false) => bound.min(window),
            (None, true) => bound.saturating_add(self.media_bytes),
            (None, false) => bound,
        }
    }
}

/// Tokens a provider adds to the prompt of a request with tools (its own tool-use instructions).
pub const TOOL_USE_PREAMBLE_TOKENS: u64 = 400;

/// Whether an `image_url` names an image: a `data:image/...` URL, or a link that is not a PDF (a
/// link's type is only known by its provider; Gemini takes a `.pdf` link as a document).
fn names_an_image(url: &str) -> bool {
    match url.strip_prefix("data:") {
        Some(data) => data.get(..6).is_some_and(|m| m.eq_ignore_ascii_case("image/")),
        None => !url.split(['?', '#']).next().unwrap_or("").to_ascii_lowercase().ends_with(".pdf"),
    }
}

pub fn prompt_token_upper_bound(req: &ChatRequest) -> PromptBound {
    use crate::api::chat::{Content, ContentPart};
    let mut bound = PromptBound::text(16);
    for m in &req.messages {
        bound.text_tokens += 8;
        if let Some(c) = &m.content {
            bound.text_tokens += c.text().len() as u64;
            if let Content::Parts(parts) = c {
                for part in parts {
                    match part {
                        ContentPart::Text { .. } | ContentPart::Refusal { .. } => {}
                        // Gemini sends any data: URL (or a .pdf link) as the document it is: a PDF,
                        // a video or a recording in an image_url costs tokens its size says nothing of.
                        ContentPart::ImageUrl { image_url, .. } if !names_an_image(&image_url.url) => {
                            bound.has_file_or_audio = true;
                            bound.media_bytes += image_url.url.len() as u64;
                        }
                        ContentPart::ImageUrl { .. } => bound.images += 1,
                        ContentPart::InputAudio { input_audio: media, .. } | ContentPart::File { file: media, .. } => {
                            bound.has_file_or_audio = true;
                            bound.media_bytes += media.to_string().len() as u64;
                        }
                        // A host's own part (a video, a document by URL): media of unknown size.
                        ContentPart::Other(part) => {
                            bound.has_file_or_audio = true;
                            bound.media_bytes += json_bytes(part);
                        }
                    }
                }
            }
        }
        if let Some(calls) = &m.tool_calls {
            bound.text_tokens += json_bytes(calls);
        }
        // Everything else a turn carries that the adapters pass on as prompt: its name, a tool
        // result's call id, a refusal (Anthropic and Gemini get it as text), a legacy
        // function_call. A turn that replays an earlier audio answer (`audio: {id}`) is billed as
        // audio input, which its size does not bound.
        bound.text_tokens += m.name.as_ref().map_or(0, |n| n.len() as u64) + m.tool_call_id.as_ref().map_or(0, |id| id.len() as u64);
        if !m.extra.is_empty() {
            bound.text_tokens += json_bytes(&m.extra);
            bound.has_file_or_audio |= m.extra.get("audio").is_some_and(|a| !a.is_null());
        }
    }
    // Legacy `functions` are tool definitions OpenAI bills as prompt, with the same preamble.
    if let Some(functions) = req.extra.get("functions") {
        bound.text_tokens += TOOL_USE_PREAMBLE_TOKENS + json_bytes(functions);
    }
    if let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) {
        // With tools, providers add a tool-use preamble of their own (Anthropic's is about 350
        // tokens on Claude 4) on top of the definitions.
        bound.text_tokens += TOOL_USE_PREAMBLE_TOKENS + json_bytes(tools);
    }
    // A JSON schema is prompt too: Anthropic's adapter writes it into the system prompt, Gemini
    // and OpenAI count it as input. Left out, a large schema was admitted for a few tokens.
    if let Some(format) = &req.response_format {
        bound.text_tokens += json_bytes(format);
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_by_characters() {
        assert_eq!(estimate_text_tokens(""), 0);
        assert_eq!(estimate_text_tokens("abcde"), 2);
        assert_eq!(estimate_text_tokens("東京の天気は"), 6, "a token a character in CJK");
        assert_eq!(estimate_text_tokens("한국어 ok"), 3 + 1);
        let tools = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather for a city"}}]}"#).unwrap();
        assert!(estimate_prompt_tokens(&tools) > 3 + 3 + 1 + 10, "tool definitions are prompt too: {}", estimate_prompt_tokens(&tools));
        let req = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"abcdefgh"}]}"#).unwrap();
        assert_eq!(estimate_prompt_tokens(&req), 8);
    }

    #[test]
    fn a_response_schema_counts_toward_the_prompt_bound() {
        let plain = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let schema = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"response_format":{{"type":"json_schema","json_schema":{{"name":"x","schema":{{"description":"{}"}}}}}}}}"#, "d".repeat(10_000));
        let without = prompt_token_upper_bound(&ChatRequest::parse(plain).unwrap()).text_tokens;
        let with = prompt_token_upper_bound(&ChatRequest::parse(schema.as_bytes()).unwrap()).text_tokens;
        assert!(with >= without + 10_000, "{without} -> {with}");
    }

    #[test]
    fn files_and_audio_are_bounded_by_the_context_window_images_by_their_allowance() {
        let pdf = format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"sum up"}},{{"type":"file","file":{{"file_data":"data:application/pdf;base64,{}"}}}}]}}]}}"#, "A".repeat(400));
        let bound = prompt_token_upper_bound(&ChatRequest::parse(pdf.as_bytes()).unwrap());
        assert!(bound.has_file_or_audio);
        assert_eq!(bound.for_model(Some(200_000), None), 200_000, "a PDF can fill the window whatever its size");
        assert!(bound.for_model(None, None) > 400, "without a window, at least its bytes");
        let img = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"image_url","image_url":{"url":"https://x/z.png"}}]}]}"#;
        let bound = prompt_token_upper_bound(&ChatRequest::parse(img.as_bytes()).unwrap());
        assert_eq!(bound, PromptBound { text_tokens: 16 + 8 + 4, images: 2, ..PromptBound::default() });
        assert_eq!(PromptBound::embedding_inputs(60_000).for_model(Some(8191), None), 60_000, "many inputs may pass one window");
        assert_eq!(bound.for_model(Some(128_000), None), 28 + 2 * IMAGE_TOKEN_ALLOWANCE);
        assert_eq!(bound.for_model(Some(128_000), Some(48_169)), 28 + 2 * 48_169, "gpt-4o-mini bills an image as ~33 gpt-4o tokens");
        assert_eq!(bound.for_model(Some(50_000), Some(48_169)), 50_000, "never above the window");
        // A PDF or a video in an image_url (Gemini sends it as the document it is).
        for url in ["data:application/pdf;base64,AAAA", "data:video/mp4;base64,AAAA", "https://x/report.PDF?dl=1"] {
            let doc = format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"{url}"}}}}]}}]}}"#);
            let bound = prompt_token_upper_bound(&ChatRequest::parse(doc.as_bytes()).unwrap());
            assert!(bound.has_file_or_audio && bound.images == 0, "{url}");
        }
        let png = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#;
        assert_eq!(prompt_token_upper_bound(&ChatRequest::parse(png.as_bytes()).unwrap()).images, 1);
    }

    #[test]
    fn every_text_a_turn_passes_on_counts_toward_the_bound() {
        let long = "r".repeat(50_000);
        let bound = |body: String| prompt_token_upper_bound(&ChatRequest::parse(body.as_bytes()).unwrap());
        // A refusal turn (sent to Anthropic and Gemini as text), a legacy function_call, and
        // legacy functions (billed by OpenAI as prompt).
        let refusal = bound(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}},{{"role":"assistant","content":null,"refusal":"{long}"}},{{"role":"user","content":"go on"}}]}}"#));
        assert!(refusal.text_tokens > 50_000, "{}", refusal.text_tokens);
        let call = bound(format!(r#"{{"model":"m","messages":[{{"role":"assistant","content":null,"function_call":{{"name":"f","arguments":"{long}"}}}},{{"role":"function","name":"f","content":"ok"}}]}}"#));
        assert!(call.text_tokens > 50_000, "{}", call.text_tokens);
        let functions = bound(format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"functions":[{{"name":"f","description":"{long}"}}]}}"#));
        assert!(functions.text_tokens > 50_000, "{}", functions.text_tokens);
        // A turn replaying an earlier audio answer is billed as audio.
        let audio = bound(r#"{"model":"m","messages":[{"role":"assistant","audio":{"id":"audio_1"}},{"role":"user","content":"and?"}]}"#.to_string());
        assert!(audio.has_file_or_audio);
    }
}
