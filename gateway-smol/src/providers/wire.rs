//! What the three APIs share: the prepared HTTP call, URL joining, JSON
//! helpers and the provider's error message.

use gateway_proto::gateway::agents::model::{
    ModelEvent, ModelMessage, ModelRequest, ModelRole, ToolSpec,
};
use serde_json::{json, Value};

use super::tool_calls::arguments_object;

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

/// The two dialects of OpenAI-style chat messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chat {
    /// `/chat/completions`: call arguments as JSON text, each call with an
    /// id that its result names.
    OpenAi,
    /// Ollama's `/api/chat`: call arguments as an object, results named by
    /// the tool.
    Ollama,
}

/// The conversation as OpenAI-style chat messages (`{role, content}`), the
/// system prompt first when there is one (OpenAI and Ollama both take it).
/// Messages without tool calls keep exactly that shape.
pub(crate) fn chat_messages(request: &ModelRequest, dialect: Chat) -> Vec<Value> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        messages.push(match message.role {
            ModelRole::User => json!({"role": "user", "content": message.text}),
            ModelRole::Assistant if message.tool_calls.is_empty() => {
                json!({"role": "assistant", "content": message.text})
            }
            ModelRole::Assistant => assistant_with_calls(message, dialect),
            ModelRole::Tool => tool_result(message, dialect),
        });
    }
    messages
}

fn assistant_with_calls(message: &ModelMessage, dialect: Chat) -> Value {
    let calls: Vec<Value> = message
        .tool_calls
        .iter()
        .map(|call| match dialect {
            // The raw text even when it is not valid JSON: the API takes a
            // string, and the model sees what it wrote.
            Chat::OpenAi => json!({"id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}),
            Chat::Ollama => json!({"function": {"name": call.name,
                "arguments": arguments_object(&call.arguments)}}),
        })
        .collect();
    // OpenAI wants no content rather than an empty one beside calls.
    let content = match dialect {
        Chat::OpenAi if message.text.is_empty() => Value::Null,
        _ => Value::String(message.text.clone()),
    };
    json!({"role": "assistant", "content": content, "tool_calls": calls})
}

fn tool_result(message: &ModelMessage, dialect: Chat) -> Value {
    let mut result = json!({"role": "tool", "content": message.text});
    match dialect {
        Chat::OpenAi => {
            result["tool_call_id"] = json!(message.tool_call_id.as_deref().unwrap_or(""));
        }
        // Ollama matches a result to its call by the tool's name; the id
        // goes along when there is one, as the reference sends it.
        Chat::Ollama => {
            if let Some(id) = &message.tool_call_id {
                result["tool_call_id"] = json!(id);
            }
            if let Some(name) = &message.tool_name {
                result["tool_name"] = json!(name);
            }
        }
    }
    result
}

/// The tools in the OpenAI function shape (Ollama takes the same).
pub(crate) fn function_tools(tools: &[ToolSpec]) -> Vec<Value> {
    tools
        .iter()
        .map(|tool| {
            json!({"type": "function", "function": {"name": tool.name,
                "description": tool.description, "parameters": tool.parameters}})
        })
        .collect()
}

/// `{base}{path}` with the base's trailing slashes dropped; `default` when
/// the base is blank.
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
