//! Reading the reference transcripts (`{t, dir, frame|raw}` per line).

use serde_json::Value;

/// One line of a transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum TranscriptLine {
    /// A frame the reference gateway sent, at `t` ms.
    Recv { t: u64, frame: Value },
    /// Text the client sent.
    Send { t: u64, raw: String },
    /// Anything else: open, close {code, reason}, markers.
    Meta { t: u64, meta: Value },
}

impl TranscriptLine {
    pub fn t(&self) -> u64 {
        match self {
            TranscriptLine::Recv { t, .. }
            | TranscriptLine::Send { t, .. }
            | TranscriptLine::Meta { t, .. } => *t,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub lines: Vec<TranscriptLine>,
}

impl Transcript {
    /// Parse NDJSON text; lines that are not objects are skipped.
    pub fn parse(text: &str) -> Transcript {
        let mut lines = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let t = value.get("t").and_then(Value::as_u64).unwrap_or(0);
            match value.get("dir").and_then(Value::as_str) {
                Some("recv") => {
                    if let Some(frame) = value.get("frame") {
                        lines.push(TranscriptLine::Recv {
                            t,
                            frame: frame.clone(),
                        });
                    }
                }
                Some("send") => {
                    if let Some(raw) = value.get("raw").and_then(Value::as_str) {
                        lines.push(TranscriptLine::Send {
                            t,
                            raw: raw.to_owned(),
                        });
                    }
                }
                _ => lines.push(TranscriptLine::Meta { t, meta: value }),
            }
        }
        // The first meta line carries a wall-clock offset unrelated to the
        // session; everything after `open` is relative to it.
        Transcript { lines }
    }

    /// Frames the reference sent.
    pub fn received(&self) -> impl Iterator<Item = &Value> {
        self.lines.iter().filter_map(|line| match line {
            TranscriptLine::Recv { frame, .. } => Some(frame),
            _ => None,
        })
    }

    /// The close the reference performed: `(code, reason)`.
    pub fn close(&self) -> Option<(u16, String)> {
        self.lines.iter().find_map(|line| match line {
            TranscriptLine::Meta { meta, .. }
                if meta.get("event").and_then(Value::as_str) == Some("close") =>
            {
                let code = meta
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())?;
                let reason = meta
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                Some((code, reason))
            }
            _ => None,
        })
    }

    /// Whether the client closed the socket itself (`client-close-*` marker).
    pub fn client_close_at(&self) -> Option<u64> {
        self.lines.iter().find_map(|line| match line {
            TranscriptLine::Meta { t, meta }
                if meta
                    .get("event")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.starts_with("client-close")) =>
            {
                Some(*t)
            }
            _ => None,
        })
    }

    /// The challenge nonce and ts the reference sent.
    pub fn challenge(&self) -> Option<(String, u64)> {
        self.received().find_map(|frame| {
            if frame.get("event")?.as_str()? != "connect.challenge" {
                return None;
            }
            let payload = frame.get("payload")?;
            Some((
                payload.get("nonce")?.as_str()?.to_owned(),
                payload.get("ts")?.as_u64()?,
            ))
        })
    }
}
