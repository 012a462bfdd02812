//! The answers of the front doors that speak another API than chat's (`/v1/responses`,
//! `/v1/messages`): a request that came by one carries its [`AnswerForm`] through the chat
//! pipeline, which writes a whole answer in that form where it writes a chat completion, and
//! whose event stream the form's rewriter turns into that API's.

use serde_json::Value;

use super::chat_events::ChatStreamRewrite;
use super::messages::{self, MessagesEcho, MessagesStream};
use super::responses::{self, ResponseEcho, ResponseIds, ResponsesStream};

/// The API a request's answer is written back in, and what the answer repeats of the request.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerForm {
    Responses(ResponseEcho),
    Messages(MessagesEcho),
}

impl AnswerForm {
    /// A whole chat completion in this form.
    pub fn whole(&self, completion: &Value, request_id: &str) -> Value {
        match self {
            Self::Responses(echo) => responses::from_completion(completion, echo, &ResponseIds::for_request(request_id)),
            Self::Messages(echo) => messages::from_completion(completion, echo, request_id),
        }
    }

    /// What to keep of `answer`, this form's whole answer (a Responses answer's items and turn).
    pub fn kept(self, answer: &Value) -> crate::api::responses::stored_items::Kept {
        match self {
            Self::Responses(mut echo) => echo.kept(answer),
            Self::Messages(_) => Default::default(),
        }
    }

    /// The rewriter of the chat pipeline's event stream into this form's (`prompt_tokens`: the
    /// router's count of the prompt, which an Anthropic stream reports before its usage comes).
    pub fn stream(self, request_id: &str, created_at: i64, prompt_tokens: u64) -> Box<dyn ChatStreamRewrite> {
        match self {
            Self::Responses(echo) => Box::new(ResponsesStream::new(echo, ResponseIds::for_request(request_id), created_at)),
            Self::Messages(echo) => Box::new(MessagesStream::new(echo, request_id, prompt_tokens)),
        }
    }
}
