//! The answers of `/v1/responses` and `/v1/messages` streamed: the chat pipeline's event stream
//! rewritten in the request's [`AnswerForm`] (a whole completion is written in it by `chat`'s
//! `respond_with_completion`). Refusals pass as they are (the Responses API shares chat's error
//! shape; `/v1/messages` refusals are rewritten with every other error of that door, in `serve`).

use futures_util::stream::{self, StreamExt};
use worker::{Response, ResponseBody};

use crate::api::front::AnswerForm;
use crate::api::ApiError;

use super::http::{self, now_unix, RequestContext};

pub async fn translate(mut answer: Response, form: AnswerForm, rc: &RequestContext) -> Result<Response, ApiError> {
    if answer.status_code() != 200 {
        return Ok(answer);
    }
    // The receipt's headers (cost, route, cache) stay; the length is the new body's.
    let headers = answer.headers().clone();
    let _ = headers.delete("content-length");
    // A whole completion was written in its form where the chat path wrote it (the form taken
    // then), so what comes here is an event stream: live, or a whole answer replayed as
    // one (a cache hit, a rule's answer, a cascade that judged the answer before sending it),
    // whose events are all here already.
    if !matches!(answer.body(), ResponseBody::Stream(_)) {
        let chat_events = answer.bytes().await.map_err(http::to_api_error)?;
        let mut translator = form.stream(&rc.request_id, now_unix(), rc.prompt_tokens.get());
        let mut events = translator.push(&chat_events);
        events.extend(translator.finish());
        return Ok(http::whole_response(200, headers, events));
    }
    let chat_events = answer.stream().map_err(http::to_api_error)?;
    let translator = form.stream(&rc.request_id, now_unix(), rc.prompt_tokens.get());
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
