//! Bounded line splitting for the two streaming formats the providers use:
//! server-sent events (OpenAI, Anthropic) and newline-delimited JSON
//! (Ollama).

use std::io::{self, BufRead};

/// The longest line we accept. One line carries one JSON chunk (a few
/// hundred bytes for a text delta); 1 MiB leaves room for a large usage or
/// tool payload while a peer that never sends a newline cannot make us
/// buffer without end.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Why a line could not be read.
#[derive(Debug)]
pub(crate) enum LineError {
    TooLong,
    /// The caller's stop check said so between two lines.
    Stopped,
    NotUtf8,
    Io(io::Error),
}

/// Splits a byte stream into lines (`\n` or `\r\n`), each at most
/// [`MAX_LINE_BYTES`].
pub(crate) struct Lines<R> {
    inner: R,
    max: usize,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(inner: R) -> Self {
        Lines {
            inner,
            max: MAX_LINE_BYTES,
        }
    }

    /// The next line without its terminator; `None` at the end of the stream
    /// (a last line without a terminator is still returned).
    pub(crate) fn next_line(&mut self) -> Result<Option<String>, LineError> {
        let mut line: Vec<u8> = Vec::new();
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            };
            if available.is_empty() {
                if line.is_empty() {
                    return Ok(None);
                }
                break;
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    if line.len() + at > self.max {
                        return Err(LineError::TooLong);
                    }
                    line.extend_from_slice(&available[..at]);
                    self.inner.consume(at + 1);
                    break;
                }
                None => {
                    let n = available.len();
                    if line.len() + n > self.max {
                        return Err(LineError::TooLong);
                    }
                    line.extend_from_slice(available);
                    self.inner.consume(n);
                }
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|_| LineError::NotUtf8)
    }
}

/// One server-sent event: its `event:` name (empty when absent) and its
/// `data:` lines joined with `\n`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Groups lines into server-sent events (fields end at a blank line;
/// comments and unknown fields are skipped).
pub(crate) struct Sse<R> {
    lines: Lines<R>,
}

impl<R: BufRead> Sse<R> {
    pub(crate) fn new(inner: R) -> Self {
        Sse {
            lines: Lines::new(inner),
        }
    }

    /// The next event with data; `None` at the end of the stream. `stop` is
    /// asked after every line (keep-alive comments included), so a stream of
    /// comments alone cannot keep the caller from stopping.
    pub(crate) fn next_event(
        &mut self,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<SseEvent>, LineError> {
        let mut event = String::new();
        let mut data: Option<String> = None;
        loop {
            let line = self.lines.next_line()?;
            if stop() {
                return Err(LineError::Stopped);
            }
            let Some(line) = line else {
                // A last event without its blank line still counts.
                return Ok(data.map(|data| SseEvent { event, data }));
            };
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return Ok(Some(SseEvent { event, data }));
                }
                event.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => event = value.to_string(),
                "data" => match &mut data {
                    Some(data) => {
                        if data.len() + value.len() + 1 > MAX_LINE_BYTES {
                            return Err(LineError::TooLong);
                        }
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<String> {
        let mut reader = Lines::new(input);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_on_lf_and_crlf_and_keeps_a_last_unterminated_line() {
        assert_eq!(lines(b"a\r\nb\n\nc"), ["a", "b", "", "c"]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn refuses_a_line_longer_than_the_bound() {
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        let mut reader = Lines::new(&long[..]);
        assert!(matches!(reader.next_line(), Err(LineError::TooLong)));
    }

    #[test]
    fn the_stop_check_runs_between_comment_lines() {
        let mut sse = Sse::new(&b": ping\n: ping\n: ping\n"[..]);
        assert!(matches!(sse.next_event(&|| true), Err(LineError::Stopped)));
    }

    #[test]
    fn refuses_invalid_utf8() {
        let mut reader = Lines::new(&b"\xff\xfe\n"[..]);
        assert!(matches!(reader.next_line(), Err(LineError::NotUtf8)));
    }

    #[test]
    fn groups_sse_fields_into_events() {
        let input = b": keep-alive\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\ndata: [DONE]";
        let mut sse = Sse::new(&input[..]);
        let go_on = || false;
        let first = sse.next_event(&go_on).unwrap().unwrap();
        assert_eq!(first.event, "message_start");
        assert_eq!(first.data, "{\"a\":1}");
        let second = sse.next_event(&go_on).unwrap().unwrap();
        assert_eq!((second.event.as_str(), second.data.as_str()), ("", "x\ny"));
        assert_eq!(sse.next_event(&go_on).unwrap().unwrap().data, "[DONE]");
        assert!(sse.next_event(&go_on).unwrap().is_none());
    }
}
