//! Incremental server-sent-events parser (the WHATWG event-stream format).
//!
//! Bytes arrive in arbitrary pieces; an event may be split anywhere, even inside a UTF-8
//! character, so the parser buffers bytes until a blank line ends an event.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty when absent (OpenAI and Gemini send none).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Events larger than this are refused: a broken upstream must not grow memory without bound.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// True when a provider answered a streaming request with a JSON document instead of an event
/// stream: an error (or garbage) sent with a 200. Nothing has reached the client yet, so the
/// router treats it as a failed attempt rather than relaying an empty stream. Only an explicit
/// JSON media type counts; a missing or unusual type is still read as a stream.
pub fn json_instead_of_stream(content_type: Option<&str>) -> bool {
    let media = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no line ending, so the next push searches only the
    /// new bytes: rescanning a multi-MB line on every small piece would be quadratic.
    scanned: usize,
    event: String,
    data: Vec<String>,
    has_data: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event exceeded {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("the stream is not valid UTF-8")]
    Utf8,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        let resume = loop {
            let Some(pos) = self.buffer[from..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                break self.buffer.len();
            };
            let end = from + pos;
            // A CR LF pair is one line ending; a lone CR at the buffer end may be half of one.
            let mut next = end + 1;
            if self.buffer[end] == b'\r' {
                if next == self.buffer.len() {
                    break end;
                }
                if self.buffer[next] == b'\n' {
                    next += 1;
                }
            }
            let line = std::str::from_utf8(&self.buffer[start..end]).map_err(|_| SseError::Utf8)?.to_string();
            start = next;
            from = next;
            if let Some(ev) = self.on_line(&line) {
                events.push(ev);
            }
        };
        self.buffer.drain(..start);
        self.scanned = resume - start;
        let pending: usize = self.buffer.len() + self.data.iter().map(String::len).sum::<usize>();
        if pending > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        Ok(events)
    }

    /// The stream ended: a final event without its blank line still counts (per the spec it
    /// would be dropped, but some hosts omit the last blank line and we would lose usage).
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if !self.buffer.is_empty() {
            self.scanned = 0;
            let line = String::from_utf8(std::mem::take(&mut self.buffer)).map_err(|_| SseError::Utf8)?;
            if let Some(ev) = self.on_line(line.trim_end_matches('\r')) {
                return Ok(Some(ev));
            }
        }
        Ok(self.dispatch())
    }

    fn on_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push(value.to_string());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent { event, data: std::mem::take(&mut self.data).join("\n") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut SseParser, pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for p in pieces {
            out.extend(parser.push(p).unwrap());
        }
        out.extend(parser.finish().unwrap());
        out
    }

    #[test]
    fn parses_split_events_comments_and_crlf() {
        let stream = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keepalive\n\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        let expected = vec![
            SseEvent { event: "message_start".into(), data: "{\"a\":1}".into() },
            SseEvent { event: String::new(), data: "x\ny".into() },
            SseEvent { event: String::new(), data: "[DONE]".into() },
        ];
        // Every split point, including inside the CR LF pair.
        let bytes = stream.as_bytes();
        for split in 0..bytes.len() {
            let mut p = SseParser::new();
            assert_eq!(all(&mut p, &[&bytes[..split], &bytes[split..]]), expected, "split at {split}");
        }
    }

    #[test]
    fn a_long_line_in_many_pieces_is_searched_once() {
        let payload: String = (0..64 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let stream = format!("event: big\r\ndata: {payload}\r\n\r\ndata: after\r\n\r\n");
        let expected = vec![SseEvent { event: "big".into(), data: payload }, SseEvent { event: String::new(), data: "after".into() }];
        // Odd sizes put some CR LF pairs across a piece boundary.
        for piece in [1, 2, 7, 4096] {
            let mut p = SseParser::new();
            let mut events = Vec::new();
            for bytes in stream.as_bytes().chunks(piece) {
                events.extend(p.push(bytes).unwrap());
                // Only a trailing CR, possibly half of a CR LF, is left to search again.
                let unsearched = p.buffer.len() - p.scanned;
                assert!(unsearched == 0 || (unsearched == 1 && p.buffer.ends_with(b"\r")), "piece {piece}: {unsearched} bytes to rescan");
            }
            events.extend(p.finish().unwrap());
            assert_eq!(events, expected, "piece {piece}");
        }
    }

    #[test]
    fn multibyte_characters_split_across_chunks() {
        let bytes = "data: héllo 🌍\n\n".as_bytes();
        let mut p = SseParser::new();
        assert_eq!(all(&mut p, &[&bytes[..9], &bytes[9..15], &bytes[15..]])[0].data, "héllo 🌍");
    }

    #[test]
    fn final_event_without_blank_line_is_kept() {
        let mut p = SseParser::new();
        assert_eq!(all(&mut p, &[b"data: last"])[0].data, "last");
    }

    #[test]
    fn a_json_body_is_not_a_stream() {
        for ct in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/problem+json"] {
            assert!(json_instead_of_stream(Some(ct)), "{ct}");
        }
        for ct in [None, Some("text/event-stream"), Some("text/event-stream; charset=utf-8"), Some("text/plain"), Some("application/x-ndjson")] {
            assert!(!json_instead_of_stream(ct), "{ct:?}");
        }
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut p = SseParser::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(p.push(&big), Err(SseError::TooLarge));
    }
}
