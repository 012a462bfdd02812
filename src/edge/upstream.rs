//! Sending a provider request: the one place that calls `fetch`, with a time limit on the
//! response headers (a stream may then run as long as it needs).

use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::providers::UpstreamRequest;

pub enum SendError {
    Timeout,
    /// Connection refused or reset, DNS failure: the provider never answered.
    Network(String),
}

impl SendError {
    /// The status a client sees when every deployment failed this way: a timeout is a gateway
    /// timeout; a refused or reset connection is a bad gateway, not a timeout.
    pub fn status(&self) -> u16 {
        match self {
            SendError::Timeout => 504,
            SendError::Network(_) => 502,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SendError::Timeout => "timed out".to_string(),
            SendError::Network(detail) => {
                // The runtime's message names no secrets (keys travel in headers), so it is safe to log.
                worker::console_warn!("upstream connection failed: {detail}");
                "connection failed".to_string()
            }
        }
    }
}

pub async fn send(up: &UpstreamRequest, timeout_ms: u64) -> Result<Response, SendError> {
    let headers = Headers::new();
    for (k, v) in &up.headers {
        headers.set(k, v).map_err(|e| SendError::Network(e.to_string()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(&up.body)));
    let request = Request::new_with_init(&up.url, &init).map_err(|e| SendError::Network(e.to_string()))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sending = Box::pin(fetch.send_with_signal(&signal));
    let deadline = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    // The losing future borrows `fetch` and `signal`; it is dropped inside this statement.
    let answered = match select(sending, deadline).await {
        Either::Left((result, _)) => Some(result),
        Either::Right(_) => None,
    };
    match answered {
        Some(Ok(resp)) => Ok(resp),
        Some(Err(e)) => Err(SendError::Network(e.to_string())),
        None => {
            controller.abort();
            Err(SendError::Timeout)
        }
    }
}

/// A response's whole body, read by the runtime in one `arrayBuffer()` call. Profiling showed
/// the chunk-by-chunk reader behind `Response::bytes` (a JS reader, a read per chunk, a lock
/// released at the end) at about a sixth of the worker's CPU per proxied request.
pub async fn body_bytes(resp: &mut Response) -> Result<Vec<u8>, worker::Error> {
    match resp.body() {
        worker::ResponseBody::Stream(stream) => {
            let whole = web_sys::Response::new_with_opt_readable_stream(Some(stream)).map_err(worker::Error::from)?;
            let buffer = wasm_bindgen_futures::JsFuture::from(whole.array_buffer().map_err(worker::Error::from)?).await.map_err(worker::Error::from)?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        }
        worker::ResponseBody::Body(bytes) => Ok(bytes.clone()),
        worker::ResponseBody::Empty => Ok(Vec::new()),
    }
}
