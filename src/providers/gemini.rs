//! Placeholder while the adapter is written.
use super::{ChatAnswer, Provider, StreamTranslator, Target, UpstreamError, UpstreamRequest};
use crate::api::chat::ChatRequest;
use crate::api::ApiError;

pub struct Gemini;

impl Provider for Gemini {
    fn chat_request(&self, _t: &Target, _r: &ChatRequest) -> Result<UpstreamRequest, ApiError> {
        Err(ApiError::internal("not yet"))
    }
    fn chat_response(&self, t: &Target, _b: &[u8]) -> Result<ChatAnswer, UpstreamError> {
        Err(UpstreamError::malformed(&t.provider.id, "not yet"))
    }
    fn chat_stream(&self, _t: &Target, _r: &ChatRequest) -> Box<dyn StreamTranslator> {
        unimplemented!()
    }
}
