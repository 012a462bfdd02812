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
    pub fn parse(body: &[u8]) -> Result<EmbeddingsRequest, ApiError> {
        let value = super::parse_json_object(body)?;
        for required in ["model", "input"] {
            if value.get(required).map_or(true, Value::is_null) {
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
        if let EmbeddingInput::One(s) = &req.input {
            if s.is_empty() {
                return Err(ApiError::invalid_value("input", "'input' must not be an empty string."));
            }
        }
        if let Some(fmt) = &req.encoding_format {
            if fmt != "float" && fmt != "base64" {
                return Err(ApiError::invalid_value("encoding_format", "'encoding_format' must be 'float' or 'base64'."));
            }
        }
        if req.dimensions == Some(0) {
            return Err(ApiError::invalid_value("dimensions", "'dimensions' must be at least 1."));
        }
        Ok(req)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
