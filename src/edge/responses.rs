//! `/v1/responses` answers: the chat pipeline's answer (a completion, or its event stream)
//! rewritten in the Responses API's form by `api::responses`. Refusals pass as they are: the
//! two APIs share one error shape.

use futures_util::stream::{self, StreamExt};
use worker::{Response, ResponseBody};

use crate::api::responses::{self, ResponseEcho, ResponseIds, ResponsesStream};
use crate::api::ApiError;

use super::http::{self, now_unix, RequestContext};

pub async fn translate(mut answer: Response, echo: ResponseEcho, rc: &RequestContext) -> Result<Response, ApiError> {
    if answer.status_code() != 200 {
        return Ok(answer);
    }
    let ids = ResponseIds::for_request(&rc.request_id);
    // The receipt's headers (cost, route, cache) stay; the length is the new body's.
    let headers = answer.headers().clone();
    let _ = headers.delete("content-length");
    let streamed = headers.get("content-type").ok().flatten().is_some_and(|t| t.starts_with("text/event-stream"));
    let live = matches!(answer.body(), ResponseBody::Stream(_));
    if streamed && !live {
        // A whole answer replayed as a stream (a cache hit, a rule's answer, a cascade that
        // judged the answer before sending it): its events are all here already.
        let chat_events = answer.bytes().await.map_err(http::to_api_error)?;
        let mut translator = ResponsesStream::new(echo, ids, now_unix());
        let mut events = translator.push(&chat_events);
        events.extend(translator.finish());
        return Ok(http::whole_response(200, headers, events));
    }
    if !streamed {
        let body = answer.bytes().await.map_err(http::to_api_error)?;
        let completion = serde_json::from_slice(&body).map_err(|e| ApiError::internal(format!("the router's completion did not parse as JSON: {e}")))?;
        let response = responses::from_completion(&completion, &echo, &ids);
        return Ok(http::whole_response(200, headers, response.to_string().into_bytes()));
    }
    let chat_events = answer.stream().map_err(http::to_api_error)?;
    let translator = ResponsesStream::new(echo, ids, now_unix());
    let body = stream::unfold(Some((chat_events, translator)), |state| async move {
        let (mut chat_events, mut translator) = state?;
        loop {
            match chat_events.next().await {
                Some(Ok(bytes)) => {
                    let out = translator.push(&bytes);
                    if !out.is_empty() {
                        return Some((Ok::<Vec<u8>, worker::Error>(out), Some((chat_events, translator))));
                    }
                }
                // The chat stream ends with the answer's end (or its error event); one that stops
                // short is failed by the translator.
                Some(Err(_)) | None => return Some((Ok(translator.finish()), None)),
            }
        }
    });
    Ok(Response::from_stream(body).map_err(http::to_api_error)?.with_headers(headers))
}
