//! OpenAI `/v1/embeddings` request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

pub const MAX_EMBEDDING_INPUTS: usize = 2048;

impl EmbeddingsRequest {
    /// No tokenizer makes more tokens than a text has bytes (byte-level BPE: every token is at
    /// least one byte), so this bounds the input tokens whatever the provider, for reserving the
    /// worst case against a budget.
    pub fn input_token_upper_bound(&self) -> u64 {
        match &self.input {
            EmbeddingInput::One(s) => s.len() as u64,
            EmbeddingInput::Many(v) => v.iter().map(|s| s.len() as u64).sum(),
            EmbeddingInput::Tokens(t) => t.len() as u64,
            EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        }
    }
}

impl EmbeddingsRequest {
    pub fn parse(body: &[u8]) -> Result<EmbeddingsRequest, ApiError> {
        Self::from_value(super::parse_request_object(body, super::MAX_EMBEDDINGS_VALUES)?)
    }

    pub fn from_value(value: Value) -> Result<EmbeddingsRequest, ApiError> {
        for required in ["model", "input"] {
            if value.get(required).is_none_or(Value::is_null) {
                return Err(ApiError::missing_field(required));
            }
        }
        let req: EmbeddingsRequest = super::deserialize_with_path(value)?;
        if req.model.trim().is_empty() {
            return Err(ApiError::invalid_value("model", "'model' must be a non-empty string."));
        }
        let count = req.input_count();
        if count == 0 {
            return Err(ApiError::invalid_value("input", "'input' must not be empty."));
        }
        if count > MAX_EMBEDDING_INPUTS {
            return Err(ApiError::invalid_value("input", format!("'input' may hold at most {MAX_EMBEDDING_INPUTS} items.")));
        }
        // As OpenAI: an empty item anywhere is refused before anything is sent (Gemini refuses
        // one in a later batch, after earlier batches were billed).
        let empty = match &req.input {
            EmbeddingInput::One(s) => s.is_empty(),
            EmbeddingInput::Many(texts) => texts.iter().any(String::is_empty),
            EmbeddingInput::Tokens(_) => false,
            EmbeddingInput::TokenBatches(batches) => batches.iter().any(Vec::is_empty),
        };
        if empty {
            return Err(ApiError::invalid_value("input", "'input' must not be, or hold, an empty string or token array."));
        }
        if let Some(fmt) = &req.encoding_format {
            if fmt != "float" && fmt != "base64" {
                return Err(ApiError::invalid_value("encoding_format", "'encoding_format' must be 'float' or 'base64'."));
            }
        }
        if req.dimensions == Some(0) {
            return Err(ApiError::invalid_value("dimensions", "'dimensions' must be at least 1."));
        }
        super::end_user::validate(&req.user, &req.extra)?;
        Ok(req)
    }

    /// The input tokens `model` reads, for when its provider reports no usage (Gemini's batch
    /// endpoint never does; some OpenAI-compatible hosts leave it out): counted exactly with the
    /// model's encoding when it is OpenAI's (`text-embedding-3-*`, cl100k: code and non-Latin
    /// scripts take two to four times the estimate's tokens), else estimated.
    pub fn input_tokens_for(&self, model: &str) -> u64 {
        let Some(enc) = crate::tokens::encoding_for_model(model) else { return self.estimated_input_tokens() };
        let count = |s: &String| crate::tokens::count_tokens(enc, s) as u64;
        match &self.input {
            EmbeddingInput::One(s) => count(s),
            EmbeddingInput::Many(v) => v.iter().map(count).sum(),
            EmbeddingInput::Tokens(t) => t.len() as u64,
            EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        }
    }

    /// The input tokens at four characters per token (token arrays counted exactly): before the
    /// call (per-minute token limits), and for a model whose encoding is not known.
    pub fn estimated_input_tokens(&self) -> u64 {
        use crate::tokens::estimate_text_tokens;
        match &self.input {
            EmbeddingInput::One(s) => estimate_text_tokens(s),
            EmbeddingInput::Many(v) => v.iter().map(|s| estimate_text_tokens(s)).sum(),
            EmbeddingInput::Tokens(t) => t.len() as u64,
            EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        }
    }

    /// The end user the client names (`user` or `safety_identifier`), for attribution.
    pub fn end_user(&self) -> Option<&str> {
        super::end_user::named(&self.user, &self.extra)
    }

    /// Puts the ids providers are sent in place of the client's end-user ids (see [`super::end_user`]).
    pub fn scope_end_user_for_provider(&mut self, tenant_id: &str) {
        super::end_user::scope_for_provider(&mut self.user, &mut self.extra, tenant_id);
    }

    pub fn input_count(&self) -> usize {
        match &self.input {
            EmbeddingInput::One(_) => 1,
            EmbeddingInput::Many(v) => v.len(),
            EmbeddingInput::Tokens(v) => usize::from(!v.is_empty()),
            EmbeddingInput::TokenBatches(v) => v.len(),
        }
    }
}

/// OpenAI's `encoding_format: "base64"` for one vector: the base64 of its little-endian float32s.
pub fn base64_of_f32s(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64(&bytes)
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8) | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { ALPHABET[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_upper_bound_is_bytes_or_token_ids() {
        let bound = |body: &[u8]| EmbeddingsRequest::parse(body).unwrap().input_token_upper_bound();
        assert_eq!(bound(br#"{"model":"m","input":"h\u00e9llo"}"#), 6, "bytes, not characters");
        assert_eq!(bound(br#"{"model":"m","input":["ab","cde"]}"#), 5);
        assert_eq!(bound(br#"{"model":"m","input":[1,2,3]}"#), 3);
        assert_eq!(bound(br#"{"model":"m","input":[[1,2],[3]]}"#), 3);
    }

    #[test]
    fn unreported_usage_is_counted_with_the_models_encoding_when_known() {
        let req = |body: &str| EmbeddingsRequest::parse(body.as_bytes()).unwrap();
        let cyrillic = req(r#"{"model":"m","input":["Привет, как дела у тебя сегодня?","fn main() { println!(\"{}\", 1 << 3); }"]}"#);
        let exact = cyrillic.input_tokens_for("text-embedding-3-small");
        let expected: u64 = ["Привет, как дела у тебя сегодня?", "fn main() { println!(\"{}\", 1 << 3); }"]
            .iter()
            .map(|s| crate::tokens::count_tokens(crate::tokens::Encoding::Cl100kBase, s) as u64)
            .sum();
        assert_eq!(exact, expected, "cl100k, as OpenAI counts");
        assert!(exact > cyrillic.estimated_input_tokens(), "{exact} vs the estimate {}", cyrillic.estimated_input_tokens());
        assert_eq!(cyrillic.input_tokens_for("text-embedding-004"), cyrillic.estimated_input_tokens(), "Gemini's: estimated");
        assert_eq!(req(r#"{"model":"m","input":[[1,2],[3]]}"#).input_tokens_for("text-embedding-3-small"), 3, "token ids are their count");
    }

    #[test]
    fn parses_and_validates() {
        let r = EmbeddingsRequest::parse(br#"{"model":"text-embedding-3-small","input":["a","b"]}"#).unwrap();
        assert_eq!(r.input_count(), 2);
        assert_eq!(EmbeddingsRequest::parse(br#"{"model":"m"}"#).unwrap_err().param.as_deref(), Some("input"));
        assert_eq!(EmbeddingsRequest::parse(br#"{"model":"m","input":[]}"#).unwrap_err().param.as_deref(), Some("input"));
        assert_eq!(EmbeddingsRequest::parse(br#"{"model":"m","input":{"a":1}}"#).unwrap_err().status, 400);
        assert_eq!(
            EmbeddingsRequest::parse(br#"{"model":"m","input":"x","encoding_format":"hex"}"#).unwrap_err().param.as_deref(),
            Some("encoding_format")
        );
    }

    #[test]
    fn float_vectors_become_base64_float32() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0 (little-endian).
        assert_eq!(base64_of_f32s(&[1.0, -2.0]), "AACAPwAAAMA=");
    }
}
