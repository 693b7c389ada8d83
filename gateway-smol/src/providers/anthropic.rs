//! `anthropic-messages`: `POST {baseUrl}/v1/messages` streamed as server-sent
//! events `message_start`, `content_block_*`, `message_delta`,
//! `message_stop` (with `ping` and `error` in between).

use gateway_proto::gateway::agents::catalog::ANTHROPIC_DEFAULT_BASE_URL;
use gateway_proto::gateway::agents::model::{
    ModelEvent, ModelMessage, ModelRequest, ModelRole, ModelUsage,
};
use serde_json::{json, Value};

use super::tool_calls::{arguments_object, Assembler};
use super::wire::{count, done, error_message_in, join_url, Framing, HttpCall};

/// The Messages API version every reference request names.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The API requires `max_tokens`; used when the model entry sets none.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

pub(crate) fn prepare(request: &ModelRequest) -> HttpCall {
    let mut body = json!({
        "model": request.model,
        "messages": messages(&request.messages),
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if !request.system.is_empty() {
        body["system"] = json!([{"type": "text", "text": request.system}]);
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({"name": tool.name, "description": tool.description,
                       "input_schema": tool.parameters})
            })
            .collect();
        body["tools"] = json!(tools);
    }
    let mut headers = vec![(
        "anthropic-version".to_string(),
        ANTHROPIC_VERSION.to_string(),
    )];
    if let Some(key) = &request.api_key {
        headers.push(("x-api-key".to_string(), key.clone()));
    }
    HttpCall {
        url: messages_url(&request.base_url),
        headers,
        body,
        framing: Framing::Sse,
    }
}

/// The conversation as Messages API messages. Plain text stays a string
/// `content`; tool calls become `tool_use` blocks of the assistant message,
/// and tool results `tool_result` blocks of one user message. The API wants
/// user and assistant to alternate, so consecutive results share one user
/// message, and a user text right after them joins it too.
fn messages(conversation: &[ModelMessage]) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::with_capacity(conversation.len());
    // Whether the last message is a user message of tool results still
    // open to more blocks.
    let mut open_results = false;
    for message in conversation {
        match message.role {
            ModelRole::Tool => {
                let block = json!({"type": "tool_result",
                    "tool_use_id": message.tool_call_id.as_deref().unwrap_or(""),
                    "content": message.text, "is_error": message.is_error});
                push_to_open_results(&mut messages, open_results, block);
                open_results = true;
            }
            ModelRole::User if open_results => {
                // An empty text block is refused by the API.
                if !message.text.is_empty() {
                    let block = json!({"type": "text", "text": message.text});
                    push_to_open_results(&mut messages, true, block);
                }
            }
            ModelRole::User => {
                messages.push(json!({"role": "user", "content": message.text}));
            }
            ModelRole::Assistant if message.tool_calls.is_empty() => {
                open_results = false;
                messages.push(json!({"role": "assistant", "content": message.text}));
            }
            ModelRole::Assistant => {
                open_results = false;
                let mut blocks = Vec::with_capacity(message.tool_calls.len() + 1);
                if !message.text.is_empty() {
                    blocks.push(json!({"type": "text", "text": message.text}));
                }
                for call in &message.tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name,
                        "input": arguments_object(&call.arguments)}));
                }
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
        }
    }
    messages
}

/// Add `block` to the open user message of tool results, or open one.
fn push_to_open_results(messages: &mut Vec<Value>, open: bool, block: Value) {
    if open {
        if let Some(Value::Array(blocks)) = messages.last_mut().map(|m| &mut m["content"]) {
            blocks.push(block);
            return;
        }
    }
    messages.push(json!({"role": "user", "content": [block]}));
}

/// `{base}/v1/messages`, or `{base}/messages` when the base already ends
/// in `/v1` (as the reference joins them).
fn messages_url(base: &str) -> String {
    let base = join_url(base, ANTHROPIC_DEFAULT_BASE_URL, "");
    if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

/// What the events said so far.
#[derive(Default)]
pub(crate) struct State {
    id: Option<String>,
    model: Option<String>,
    stop_reason: Option<String>,
    usage: ModelUsage,
    /// `tool_use` blocks whose input is still arriving, by block index.
    tool_calls: Assembler,
}

impl State {
    pub(crate) fn on_message(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelEvent>, String> {
        let payload: Value = serde_json::from_str(data)
            .map_err(|e| format!("the provider sent a malformed event: {e}"))?;
        // The event name is also in the payload's `type`.
        let kind = match payload.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None if !event.is_empty() => event,
            None => return Err("the provider sent a malformed event: no type".into()),
        };
        match kind {
            "message_start" => {
                let message = payload.get("message").unwrap_or(&Value::Null);
                self.id = message.get("id").and_then(Value::as_str).map(Into::into);
                self.model = message.get("model").and_then(Value::as_str).map(Into::into);
                if let Some(usage) = message.get("usage") {
                    self.add_usage(usage);
                    out.push(ModelEvent::Usage(self.usage));
                }
            }
            "content_block_start" => {
                let block = payload.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let text = |name: &str| block.get(name).and_then(Value::as_str);
                    // Anthropic opens with `input: {}` and streams the input;
                    // a compatible server may send it whole here instead.
                    let input = match block.get("input") {
                        Some(Value::Object(input)) if !input.is_empty() => {
                            Value::Object(input.clone()).to_string()
                        }
                        _ => String::new(),
                    };
                    self.tool_calls.add(
                        block_index(&payload)?,
                        text("id"),
                        text("name"),
                        &input,
                    )?;
                }
            }
            "content_block_delta" => {
                // Text and tool input; thinking deltas are not ours yet.
                let delta = payload.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            out.push(ModelEvent::Text(text.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let index = block_index(&payload)?;
                        if !self.tool_calls.has(index) {
                            return Err(
                                "the provider sent tool input outside a tool_use block".into()
                            );
                        }
                        let piece = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        self.tool_calls.add(index, None, None, piece)?;
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A tool_use block without input deltas has empty input.
                let index = payload.get("index").and_then(Value::as_u64);
                if let Some(call) = index.and_then(|index| self.tool_calls.finish(index, "{}")) {
                    out.push(ModelEvent::ToolCall(call));
                }
            }
            "message_delta" => {
                if let Some(reason) = payload
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(reason.to_string());
                }
                if let Some(usage) = payload.get("usage") {
                    self.add_usage(usage);
                    out.push(ModelEvent::Usage(self.usage));
                }
            }
            "message_stop" => {
                // A block the stream never closed is not a complete call.
                self.tool_calls.finish_all("{}");
                let reason = match self.stop_reason.as_deref() {
                    Some(reason) => map_stop_reason(reason).ok_or_else(|| {
                        format!("the provider sent an unknown stop reason: {reason}")
                    })?,
                    None => "stop",
                };
                return Ok(Some(done(reason, self.id.take(), self.model.take())));
            }
            "error" => {
                let message = error_message_in(&payload)
                    .unwrap_or_else(|| "the provider reported an error".to_string());
                return Err(format!("the provider reported an error: {message}"));
            }
            // ping, future events.
            _ => {}
        }
        Ok(None)
    }

    /// Without `message_stop` the reply is not complete.
    pub(crate) fn at_eof(&mut self, _out: &mut Vec<ModelEvent>) -> Option<ModelEvent> {
        None
    }

    /// Counts in `message_delta` are cumulative and replace the ones of
    /// `message_start`; counts a report omits keep their last value.
    fn add_usage(&mut self, usage: &Value) {
        let usage_field = |name: &str, last: u64| match usage.get(name) {
            Some(value) if !value.is_null() => count(Some(value)),
            _ => last,
        };
        let u = &mut self.usage;
        u.input = usage_field("input_tokens", u.input);
        u.output = usage_field("output_tokens", u.output);
        u.cache_read = usage_field("cache_read_input_tokens", u.cache_read);
        u.cache_write = usage_field("cache_creation_input_tokens", u.cache_write);
        u.total = u.input + u.output + u.cache_read + u.cache_write;
    }
}

/// The `index` of a content block event.
fn block_index(payload: &Value) -> Result<u64, String> {
    payload
        .get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| "the provider sent a content block event without an index".into())
}

/// `stop_reason` in the reference's words; `None` for one it does not know
/// (the reference fails the turn then).
pub(crate) fn map_stop_reason(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "end_turn" | "pause_turn" | "compaction" | "stop_sequence" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "toolUse",
        "refusal" | "sensitive" => "error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_proto::gateway::agents::model::ToolCall;

    #[test]
    fn a_tool_use_block_with_its_input_whole_and_no_id_is_a_call() {
        let mut state = State::default();
        let mut out = Vec::new();
        let start = r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","name":"ls","input":{"path":"."}}}"#;
        state
            .on_message("content_block_start", start, &mut out)
            .unwrap();
        let stop = r#"{"type":"content_block_stop","index":2}"#;
        state
            .on_message("content_block_stop", stop, &mut out)
            .unwrap();
        assert_eq!(
            out,
            [ModelEvent::ToolCall(ToolCall {
                id: "call_2".into(),
                name: "ls".into(),
                arguments: r#"{"path":"."}"#.into(),
            })]
        );
    }

    #[test]
    fn tool_input_outside_a_tool_use_block_is_malformed() {
        let mut state = State::default();
        let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#;
        let error = state
            .on_message("content_block_delta", delta, &mut Vec::new())
            .unwrap_err();
        assert!(error.contains("outside a tool_use block"), "{error}");
    }

    #[test]
    fn the_messages_path_is_added_once() {
        assert_eq!(messages_url(""), "https://api.anthropic.com/v1/messages");
        assert_eq!(
            messages_url("http://h/anthropic/"),
            "http://h/anthropic/v1/messages"
        );
        assert_eq!(messages_url("http://h/v1/"), "http://h/v1/messages");
    }

    #[test]
    fn stop_reasons_in_the_reference_words() {
        assert_eq!(map_stop_reason("end_turn"), Some("stop"));
        assert_eq!(map_stop_reason("max_tokens"), Some("length"));
        assert_eq!(map_stop_reason("tool_use"), Some("toolUse"));
        assert_eq!(map_stop_reason("refusal"), Some("error"));
        assert_eq!(map_stop_reason("bogus"), None);
    }

    #[test]
    fn usage_of_message_delta_replaces_what_it_names() {
        let mut state = State::default();
        let mut out = Vec::new();
        let start = r#"{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}}}"#;
        state.on_message("message_start", start, &mut out).unwrap();
        let delta = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}"#;
        state.on_message("message_delta", delta, &mut out).unwrap();
        assert_eq!(
            out.last(),
            Some(&ModelEvent::Usage(ModelUsage {
                input: 10,
                output: 7,
                cache_read: 3,
                cache_write: 2,
                total: 22
            }))
        );
    }
}
