//! Sending a provider request: the one place that calls `fetch`, with a time limit on the
//! response headers (a stream may then run as long as it needs). The call itself is made in JS
//! (`crossings.js`), one crossing per request.

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStream;

use crate::providers::UpstreamRequest;

use super::crossings;

pub enum SendError {
    /// No answer within the limit. `refused`: its status had come, a refusal (3xx-5xx), and only
    /// its body had not: nothing the provider bills.
    Timeout { refused: bool },
    /// The client had left: before the call, which was then not made (`sent` false), or too
    /// long before an answer came, and the call was cancelled (see `crossings.js`; `refused` as
    /// for a timeout).
    Abandoned { sent: bool, refused: bool },
    /// Connection refused or reset, DNS failure: the provider never answered.
    Network(String),
}

impl SendError {
    /// The status a client sees when every deployment failed this way: a timeout is a gateway
    /// timeout; a refused or reset connection is a bad gateway, not a timeout.
    pub fn status(&self) -> u16 {
        match self {
            SendError::Timeout { .. } => 504,
            SendError::Abandoned { .. } => crate::events::CLIENT_CLOSED_STATUS,
            SendError::Network(_) => 502,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SendError::Timeout { .. } => "timed out".to_string(),
            SendError::Abandoned { sent: true, .. } => "cancelled: the client had left and no answer came".to_string(),
            SendError::Abandoned { sent: false, .. } => "not sent: the client had left".to_string(),
            SendError::Network(detail) => {
                // The runtime's message names no secrets (keys travel in headers), so it is safe to log.
                worker::console_warn!("upstream connection failed: {detail}");
                "connection failed".to_string()
            }
        }
    }
}

/// A provider's answer: its status and content type, and its body read whole or left as a stream.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: AnswerBody,
    /// Milliseconds a refusing provider asked to be left alone (`retry-after-ms` / `retry-after`).
    pub retry_after_ms: Option<f64>,
}

pub enum AnswerBody {
    /// The whole body, or `None` if the connection broke while it was being read.
    Whole(Option<Vec<u8>>),
    /// A 2xx answer to a request sent with `Expect::Stream`, still arriving.
    Stream(ReadableStream),
}

/// How the caller will read a successful answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Whole,
    Stream,
}

impl Answer {
    /// A refusal's body, read already (only a 2xx answer to a stream is left arriving); empty
    /// if the connection broke while it came.
    pub fn refusal_body(&self) -> &[u8] {
        match &self.body {
            AnswerBody::Whole(Some(bytes)) => bytes,
            AnswerBody::Whole(None) | AnswerBody::Stream(_) => &[],
        }
    }

    /// The body as bytes: read whole, or (for a stream that turned out to be something else)
    /// read to its end now. `None` if it broke off.
    pub async fn bytes(self) -> Option<Vec<u8>> {
        match self.body {
            AnswerBody::Whole(bytes) => bytes,
            AnswerBody::Stream(stream) => {
                let whole = web_sys::Response::new_with_opt_readable_stream(Some(&stream)).ok()?;
                let buffer = JsFuture::from(whole.array_buffer().ok()?).await.ok()?;
                Some(js_sys::Uint8Array::new(&buffer).to_vec())
            }
        }
    }
}

/// Sends a provider request (see `crossings.js`): a time limit on the response headers (for a
/// whole answer, the answer itself: providers send its headers once it is complete), then the
/// whole body unless a 2xx stream is expected. `client`: the call is abandoned once its client
/// has been gone `abandon_after_ms` (see [`SendError::Abandoned`]); `None` for calls no client
/// waits on (alert deliveries).
pub async fn send(up: &UpstreamRequest, timeout_ms: u64, expect: Expect, client: Option<(web_sys::AbortSignal, f64)>) -> Result<Answer, SendError> {
    // A header cannot hold a line break, and newlines separate the lines handed to JS.
    if let Some((k, _)) = up.headers.iter().find(|(k, v)| k.contains(['\n', '\r']) || v.contains(['\n', '\r'])) {
        return Err(SendError::Network(format!("header '{}' holds a line break", k.replace(['\n', '\r'], "?"))));
    }
    let header_lines = crossings::header_lines(up.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (signal, abandon_after_ms) = match client {
        Some(c) => c,
        None => (web_sys::AbortController::new().map_err(|e| SendError::Network(js_message(&e)))?.signal(), f64::MAX),
    };
    let promise = crossings::upstream_fetch(&up.url, &header_lines, up.body.as_bytes(), timeout_ms as f64, expect == Expect::Stream, &signal, abandon_after_ms);
    let answered = JsFuture::from(promise).await.map_err(|e| SendError::Network(js_message(&e)))?;
    let parts: Array = answered.unchecked_into();
    let kind = parts.get(0).as_string().unwrap_or_default();
    match kind.as_str() {
        "timeout" => return Err(SendError::Timeout { refused: parts.get(1).as_bool().unwrap_or(false) }),
        "abandoned" => return Err(SendError::Abandoned { sent: parts.get(1).as_bool().unwrap_or(true), refused: parts.get(2).as_bool().unwrap_or(false) }),
        "network" => return Err(SendError::Network(parts.get(1).as_string().unwrap_or_default())),
        _ => {}
    }
    let status = parts.get(1).as_f64().unwrap_or(0.0) as u16;
    let content_type = parts.get(2).as_string();
    let body = if kind == "stream" {
        AnswerBody::Stream(parts.get(3).unchecked_into())
    } else {
        let bytes = parts.get(3);
        AnswerBody::Whole((!bytes.is_null()).then(|| bytes.unchecked_into::<js_sys::Uint8Array>().to_vec()))
    };
    let retry_after_ms = parts.get(4).as_f64().filter(|ms| ms.is_finite() && *ms >= 0.0);
    Ok(Answer { status, content_type, body, retry_after_ms })
}

fn js_message(e: &JsValue) -> String {
    crossings::error_message(e, "fetch failed")
}
