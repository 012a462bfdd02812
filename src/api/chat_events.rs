//! The router's own chat event stream, read back by the front doors that answer in another API's
//! terms (`responses`, `messages`): each event the chat pipeline wrote, as what it means, and
//! [`ChatStreamRewrite`], what rewriting it in another API's events takes.
//!
//! The chat pipeline writes well-formed events (`data: {chunk}`, its error event, `[DONE]`, and
//! the cost trailer as an SSE comment), but a live stream arrives in pieces of any size, and a
//! cut stream can end inside an event, so bytes are held until a blank line ends one.

use serde_json::Value;

/// One event of the chat stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// An SSE comment line (the cost trailer), `:` included, which the translators pass on.
    Comment(Vec<u8>),
    /// A `chat.completion.chunk`.
    Chunk(Value),
    /// The router's error event: the answer failed after it began (its message).
    Failed(String),
    /// `[DONE]`: the answer ended.
    Done,
}

#[derive(Debug, Default)]
pub struct ChatEventReader {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no event's end, so each push searches only anew.
    scanned: usize,
}

impl ChatEventReader {
    /// Feeds the stream's next bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<ChatEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        loop {
            let from = self.scanned.saturating_sub(1);
            let Some(end) = self.buffer[from..].windows(2).position(|w| w == b"\n\n").map(|p| from + p) else {
                self.scanned = self.buffer.len();
                break;
            };
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            self.scanned = 0;
            read_block(&block, &mut events);
        }
        events
    }

    /// The stream has ended: a last event that lacked its blank line.
    pub fn finish(&mut self) -> Vec<ChatEvent> {
        let rest = std::mem::take(&mut self.buffer);
        self.scanned = 0;
        let mut events = Vec::new();
        if !rest.iter().all(u8::is_ascii_whitespace) {
            read_block(&rest, &mut events);
        }
        events
    }
}

/// A rewriter of the chat stream into another API's event stream: it says what each chunk, the
/// end and a failure become; reading the stream, passing the cost trailer on, and failing a
/// stream that stops short are the same for every API.
pub trait ChatStreamRewrite {
    fn reader(&mut self) -> &mut ChatEventReader;
    /// Whether the answer has ended (completed or failed): nothing but comments follows.
    fn ended(&self) -> bool;
    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>);
    /// `[DONE]`: the answer ended whole.
    fn complete(&mut self, out: &mut Vec<u8>);
    /// The answer failed after it began (the router's error event, or a stream cut short).
    fn fail(&mut self, message: &str, out: &mut Vec<u8>);

    /// Feeds the chat stream's next bytes; returns the events they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.reader().push(bytes) {
            self.take(event, &mut out);
        }
        out
    }

    /// Once the answer has ended whole: what to keep of it (the Responses API's stored items and
    /// turn; none for other forms, or when the request said not to).
    fn kept(&mut self) -> crate::api::responses::stored_items::Kept {
        Default::default()
    }

    /// A whole chat stream (a replayed answer, its events all at hand) rewritten.
    fn rewrite_whole(&mut self, chat_events: &[u8]) -> Vec<u8> {
        let mut out = self.push(chat_events);
        out.extend(self.finish());
        out
    }

    /// The chat stream has ended: what it left unsaid. A stream the router ended properly has
    /// already ended the answer; one that stopped short fails it.
    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.reader().finish() {
            self.take(event, &mut out);
        }
        if !self.ended() {
            self.fail("The stream ended before the answer was complete.", &mut out);
        }
        out
    }

    fn take(&mut self, event: ChatEvent, out: &mut Vec<u8>) {
        match event {
            // The cost trailer passes on, also after the end; nothing else follows the end.
            ChatEvent::Comment(line) => {
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\n\n");
            }
            _ if self.ended() => {}
            ChatEvent::Done => self.complete(out),
            ChatEvent::Failed(message) => self.fail(&message, out),
            ChatEvent::Chunk(chunk) => self.chunk(&chunk, out),
        }
    }
}

fn read_block(block: &[u8], events: &mut Vec<ChatEvent>) {
    let text = String::from_utf8_lossy(block);
    let mut data = String::new();
    for line in text.lines() {
        if line.starts_with(':') {
            events.push(ChatEvent::Comment(line.as_bytes().to_vec()));
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    if data.is_empty() {
        return;
    }
    if data == "[DONE]" {
        events.push(ChatEvent::Done);
        return;
    }
    let Ok(chunk) = serde_json::from_str::<Value>(&data) else { return };
    match chunk.get("error").filter(|e| e.is_object()) {
        Some(error) => events.push(ChatEvent::Failed(error["message"].as_str().unwrap_or("The answer failed.").to_string())),
        None => events.push(ChatEvent::Chunk(chunk)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_split_anywhere_read_as_they_were_written() {
        let stream = b"data: {\"choices\":[]}\n\n: costrouter {\"cost\":1}\n\ndata: {\"error\":{\"message\":\"cut\"}}\n\ndata: [DONE]\n\n";
        let whole = ChatEventReader::default().push(stream);
        assert_eq!(
            whole,
            vec![ChatEvent::Chunk(json!({"choices": []})), ChatEvent::Comment(b": costrouter {\"cost\":1}".to_vec()), ChatEvent::Failed("cut".into()), ChatEvent::Done]
        );
        let mut reader = ChatEventReader::default();
        let bytewise: Vec<ChatEvent> = stream.iter().flat_map(|b| reader.push(&[*b])).collect();
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_read_at_the_end() {
        let mut reader = ChatEventReader::default();
        assert_eq!(reader.push(b"data: [DONE]"), vec![]);
        assert_eq!(reader.finish(), vec![ChatEvent::Done]);
        assert_eq!(reader.finish(), vec![], "read once");
    }
}
