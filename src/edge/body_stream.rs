//! A body read chunk by chunk through one JS crossing per chunk (see [`BodyStream`]).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStream;

use super::crossings;

/// A body read chunk by chunk as a `futures` stream of bytes (an error item when the connection
/// broke; then it ends): a provider's event stream, or a request body sent without a length.
/// Dropped before its end, it cancels the body (for a provider's stream, its call).
/// Not workers-rs' `ByteStream`: that releases its reader at the stream's end, and each release
/// makes the runtime build a TypeError with a stack trace through the wasm frames (see
/// `durableObjectCall` in `crossings.js`), once per streamed request.
pub struct BodyStream {
    reader: JsValue,
    /// The read under way: kept when a caller stops waiting for it (a deadline overtook it), so
    /// the next poll picks up its chunk instead of losing it.
    pending: Option<JsFuture>,
    ended: bool,
}

impl BodyStream {
    /// Takes the stream's reader: `stream` must not have been read or locked before (a request
    /// body is read once, after any `drain` of a refused one).
    pub fn new(stream: &ReadableStream) -> BodyStream {
        BodyStream { reader: crossings::stream_reader(stream), pending: None, ended: false }
    }
}

impl futures_util::Stream for BodyStream {
    type Item = Result<Vec<u8>, String>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use futures_util::FutureExt;
        let this = self.get_mut();
        if this.ended {
            return std::task::Poll::Ready(None);
        }
        let reader = &this.reader;
        let read = this.pending.get_or_insert_with(|| JsFuture::from(crossings::read_chunk(reader)));
        let result = futures_util::ready!(read.poll_unpin(cx));
        this.pending = None;
        std::task::Poll::Ready(match result {
            Ok(chunk) if chunk.is_null() => {
                this.ended = true;
                None
            }
            Ok(chunk) => Some(Ok(chunk.unchecked_into::<js_sys::Uint8Array>().to_vec())),
            Err(e) => {
                this.ended = true;
                Some(Err(crossings::error_message(&e, "the body could not be read")))
            }
        })
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        if !self.ended {
            crossings::cancel_reader(&self.reader);
        }
    }
}
