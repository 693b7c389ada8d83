//! Reading a CLI backend's stdout, line by line, into model events.
//!
//! - `text`: every line is reply text, streamed as it comes (blank lines
//!   inside the reply kept, leading and trailing ones dropped).
//! - `jsonl`: one JSON object per line; lines that are not JSON (banners)
//!   are skipped. Claude's `stream-json` text deltas (`stream_event` /
//!   `content_block_delta` / `text_delta`) stream as they come; without
//!   them the text of the last record that has one (a `result`, an
//!   `assistant` message, any `text`/`response`/`content` field) is the
//!   reply, sent at the end.
//! - `json`: all of stdout is one JSON document (or JSON lines), read at
//!   the end; stdout that is not JSON is taken as plain text.
//!
//! In both JSON modes the session id comes from the backend's
//! `sessionIdFields` of any record (the last one wins), token counts from
//! `usage` (or `message.usage`, `stats`), and a record flagged as an error
//! (`is_error`, `type: "error"`, a `result` with an `error_…` subtype)
//! fails the turn with its text.

use gateway_proto::gateway::agents::cli_backend::{CliBackend, CliOutput};
use gateway_proto::gateway::agents::model::{ModelEvent, ModelUsage};
use serde_json::Value;

/// What the whole output said, once the command is done.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events still to send (final text, usage), in order.
    pub events: Vec<ModelEvent>,
    pub session_id: Option<String>,
    /// The CLI's own error record.
    pub error: Option<String>,
}

/// The stdout parser of one turn.
#[derive(Debug)]
pub struct OutputParser {
    mode: CliOutput,
    session_fields: Vec<String>,
    /// Text mode: some text was sent; blank lines seen since.
    started: bool,
    blank_lines: usize,
    /// JSON mode: stdout so far.
    document: String,
    /// JSON lines: text deltas were streamed.
    streamed: bool,
    last_text: Option<String>,
    session_id: Option<String>,
    usage: Option<ModelUsage>,
    error: Option<String>,
}

impl OutputParser {
    pub fn new(mode: CliOutput, cli: &CliBackend) -> Self {
        OutputParser {
            mode,
            session_fields: cli.session_id_fields.clone(),
            started: false,
            blank_lines: 0,
            document: String::new(),
            streamed: false,
            last_text: None,
            session_id: None,
            usage: None,
            error: None,
        }
    }

    /// One line of stdout (without its newline): the events to send now.
    pub fn line(&mut self, line: &str) -> Vec<ModelEvent> {
        match self.mode {
            CliOutput::Text => self.text_line(line).into_iter().collect(),
            CliOutput::Json => {
                self.document.push_str(line);
                self.document.push('\n');
                Vec::new()
            }
            CliOutput::Jsonl => match serde_json::from_str::<Value>(line.trim()) {
                Ok(record @ Value::Object(_)) => self.record(&record).into_iter().collect(),
                _ => Vec::new(),
            },
        }
    }

    fn text_line(&mut self, line: &str) -> Option<ModelEvent> {
        if line.trim().is_empty() {
            self.blank_lines += usize::from(self.started);
            return None;
        }
        let mut delta = match self.started {
            true => "\n".repeat(1 + self.blank_lines),
            false => String::new(),
        };
        delta.push_str(line);
        self.started = true;
        self.blank_lines = 0;
        Some(ModelEvent::Text(delta))
    }

    /// One JSON record: a text delta to stream, if it is one.
    fn record(&mut self, record: &Value) -> Option<ModelEvent> {
        if let Some(id) = self
            .session_fields
            .iter()
            .find_map(|field| record.get(field).and_then(Value::as_str))
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            self.session_id = Some(id.to_owned());
        }
        if let Some(usage) = usage_of(record) {
            self.usage = Some(usage);
        }
        if let Some(error) = error_of(record) {
            self.error.get_or_insert(error);
            return None;
        }
        let kind = record.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "stream_event" {
            let delta = record
                .pointer("/event/delta")
                .filter(|d| d.get("type").and_then(Value::as_str) == Some("text_delta"))
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())?;
            self.streamed = true;
            return Some(ModelEvent::Text(delta.to_owned()));
        }
        // Claude's init and echoed tool results carry no reply text.
        if matches!(kind, "system" | "user") {
            return None;
        }
        let text = text_of(record);
        let text = text.trim();
        if !text.is_empty() {
            self.last_text = Some(text.to_owned());
        }
        None
    }

    /// The command is done: what is left to send.
    pub fn finish(mut self) -> Outcome {
        if self.mode == CliOutput::Json {
            let document = std::mem::take(&mut self.document);
            match serde_json::from_str::<Value>(document.trim()) {
                Ok(Value::Array(records)) => records.iter().for_each(|r| {
                    self.record(r);
                }),
                Ok(record @ Value::Object(_)) => {
                    self.record(&record);
                }
                _ => {
                    let records: Vec<Value> = document
                        .lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
                        .filter(Value::is_object)
                        .collect();
                    if records.is_empty() {
                        let text = document.trim();
                        if !text.is_empty() {
                            self.last_text = Some(text.to_owned());
                        }
                    }
                    records.iter().for_each(|r| {
                        self.record(r);
                    });
                }
            }
        }
        let mut events = Vec::new();
        if !self.streamed {
            if let Some(text) = self.last_text.take() {
                events.push(ModelEvent::Text(text));
            }
        }
        if let Some(usage) = self.usage {
            events.push(ModelEvent::Usage(usage));
        }
        Outcome {
            events,
            session_id: self.session_id,
            error: self.error,
        }
    }
}

/// The reply text of a record, as the reference collects it.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(text_of).collect(),
        Value::Object(map) => {
            for field in ["response", "text", "result", "content"] {
                match map.get(field) {
                    Some(Value::String(text)) => return text.clone(),
                    Some(items @ Value::Array(_)) if field == "content" => return text_of(items),
                    _ => {}
                }
            }
            map.get("message")
                .filter(|m| m.is_object())
                .map(text_of)
                .unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// The error a record reports, if it is an error record.
fn error_of(record: &Value) -> Option<String> {
    let kind = record.get("type").and_then(Value::as_str).unwrap_or("");
    let subtype = record.get("subtype").and_then(Value::as_str).unwrap_or("");
    let flagged = record.get("is_error").and_then(Value::as_bool) == Some(true)
        || kind == "error"
        || (kind == "result" && subtype.starts_with("error_"));
    if !flagged {
        return None;
    }
    let text = ["error", "result", "message"]
        .iter()
        .filter_map(|f| record.get(*f))
        .map(|v| match v {
            Value::Object(o) => o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            other => text_of(other),
        })
        .map(|t| t.trim().to_owned())
        .find(|t| !t.is_empty());
    Some(text.unwrap_or_else(|| match subtype {
        "" => "the CLI backend reported an error".to_owned(),
        subtype => format!("the CLI backend reported an error ({subtype})"),
    }))
}

/// Token counts of a record (`message.usage`, `usage`, `stats`).
fn usage_of(record: &Value) -> Option<ModelUsage> {
    let raw = [
        record.pointer("/message/usage"),
        record.get("usage"),
        record.get("stats"),
    ]
    .into_iter()
    .flatten()
    .find(|u| u.is_object())?;
    let n = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| raw.get(*name).and_then(Value::as_u64))
            .unwrap_or(0)
    };
    let mut usage = ModelUsage {
        input: n(&[
            "input_tokens",
            "inputTokens",
            "prompt_tokens",
            "promptTokens",
            "input",
        ]),
        output: n(&[
            "output_tokens",
            "outputTokens",
            "completion_tokens",
            "output",
        ]),
        cache_read: n(&["cache_read_input_tokens", "cacheRead", "cached"]),
        cache_write: n(&["cache_creation_input_tokens", "cacheWrite"]),
        total: n(&["total_tokens", "totalTokens", "total"]),
    };
    if usage == ModelUsage::default() {
        return None;
    }
    if usage.total == 0 {
        usage.total = usage.input + usage.output + usage.cache_read + usage.cache_write;
    }
    Some(usage)
}
