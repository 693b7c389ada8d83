//! What the three APIs share: the prepared HTTP call, URL joining, JSON
//! helpers and the provider's error message.

use gateway_proto::gateway::agents::model::{ModelEvent, ModelRequest, ModelRole};
use serde_json::{json, Value};

/// How the reply body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Server-sent events.
    Sse,
    /// One JSON object per line.
    Ndjson,
}

/// One POST, ready to send.
pub(crate) struct HttpCall {
    pub url: String,
    /// The API's own headers (credential, version); the provider's
    /// configured headers are added after them.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub framing: Framing,
}

/// `{base}{path}` with the base's trailing slashes dropped; `default` when
/// the base is blank.
/// The conversation as OpenAI-style chat messages (`{role, content}`), the
/// system prompt first when there is one (OpenAI and Ollama both take it).
pub(crate) fn chat_messages(request: &ModelRequest) -> Vec<Value> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        let role = match message.role {
            ModelRole::User => "user",
            ModelRole::Assistant => "assistant",
            // Tool results are encoded in the tool-calling change.
            ModelRole::Tool => "user",
        };
        messages.push(json!({"role": role, "content": message.text}));
    }
    messages
}

pub(crate) fn join_url(base: &str, default: &str, path: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let base = if base.is_empty() {
        default.trim_end_matches('/')
    } else {
        base
    };
    format!("{base}{path}")
}

pub(crate) fn done(
    stop_reason: &str,
    response_id: Option<String>,
    response_model: Option<String>,
) -> ModelEvent {
    ModelEvent::Done {
        stop_reason: stop_reason.to_string(),
        response_id,
        response_model,
    }
}

/// A token count; absent, negative or non-integer counts as 0.
pub(crate) fn count(value: Option<&Value>) -> u64 {
    value.and_then(Value::as_u64).unwrap_or(0)
}

/// The human message in a provider's error JSON: `{error:{message}}`
/// (OpenAI, Anthropic), `{error:"…"}` (Ollama) or `{message}`.
pub(crate) fn error_message_in(body: &Value) -> Option<String> {
    let text = match body.get("error") {
        Some(Value::String(text)) => Some(text.as_str()),
        Some(Value::Object(error)) => error.get("message").and_then(Value::as_str),
        _ => None,
    };
    let text = text.or_else(|| {
        // A bare `{message}` is an error only when nothing else is there to
        // make it a regular chunk.
        body.get("choices")
            .is_none()
            .then(|| body.get("message").and_then(Value::as_str))
            .flatten()
    });
    text.map(|text| clip(text.trim(), 500).to_string())
        .filter(|text| !text.is_empty())
}

/// At most `max` characters of `text`.
pub(crate) fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn joins_urls_without_doubled_slashes() {
        assert_eq!(
            join_url("http://h/v1/", "x", "/chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(join_url("  ", "https://d/v1", "/p"), "https://d/v1/p");
    }

    #[test]
    fn finds_the_error_message_in_each_shape() {
        let openai =
            json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}});
        assert_eq!(
            error_message_in(&openai).as_deref(),
            Some("Incorrect API key")
        );
        assert_eq!(
            error_message_in(&json!({"error": "model not found"})).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            error_message_in(&json!({"message": "nope"})).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message_in(&json!({"choices": []})), None);
    }
}
