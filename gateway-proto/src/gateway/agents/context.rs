//! The conversation a model call sees: the session's newest transcript
//! messages turned into [`ModelMessage`]s, tool calls and results
//! included, and mended so that every provider accepts it (each tool
//! result follows the assistant message that made its call, and each call
//! has a result).

use serde_json::Value;

use super::model::{ModelMessage, ModelRole, ToolCall};
use super::sessions::message_text;
use super::{MAX_CONTEXT_CHARS, MAX_CONTEXT_MESSAGES};

/// What the model reads for a call whose result never came (the run ended
/// while it ran).
pub const MISSING_RESULT: &str =
    "The tool call did not complete: the run ended before it returned.";

/// The newest messages of `transcript` within [`MAX_CONTEXT_MESSAGES`]
/// and [`MAX_CONTEXT_CHARS`], oldest first.
pub fn conversation(transcript: &[Value]) -> Vec<ModelMessage> {
    let mut chars = 0;
    let mut picked = Vec::new();
    for message in transcript.iter().rev().take(MAX_CONTEXT_MESSAGES) {
        let Some(converted) = to_model_message(message) else {
            continue;
        };
        chars += converted.text.len()
            + converted
                .tool_calls
                .iter()
                .map(|c| c.arguments.len())
                .sum::<usize>();
        if chars > MAX_CONTEXT_CHARS && !picked.is_empty() {
            break;
        }
        picked.push(converted);
    }
    picked.reverse();
    mend(picked)
}

/// One transcript message as the model sees it; `None` for what it does
/// not see (empty messages, other roles).
fn to_model_message(message: &Value) -> Option<ModelMessage> {
    match message.get("role").and_then(Value::as_str)? {
        "user" => {
            let text = message_text(message);
            (!text.is_empty()).then(|| ModelMessage::user(text))
        }
        "assistant" => {
            let text = message_text(message);
            let calls = tool_calls(message);
            (!text.is_empty() || !calls.is_empty()).then(|| ModelMessage::assistant(text, calls))
        }
        "toolResult" => {
            let call = ToolCall {
                id: message.get("toolCallId")?.as_str()?.to_owned(),
                name: message
                    .get("toolName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: String::new(),
            };
            let is_error = message.get("isError").and_then(Value::as_bool) == Some(true);
            Some(ModelMessage::tool_result(
                &call,
                message_text(message),
                is_error,
            ))
        }
        _ => None,
    }
}

/// The `toolCall` blocks of an assistant message.
fn tool_calls(message: &Value) -> Vec<ToolCall> {
    let Some(Value::Array(parts)) = message.get("content") else {
        return Vec::new();
    };
    parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("toolCall"))
        .filter_map(|p| {
            Some(ToolCall {
                id: p.get("id")?.as_str()?.to_owned(),
                name: p.get("name")?.as_str()?.to_owned(),
                arguments: p
                    .get("arguments")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            })
        })
        .collect()
}

/// Results only right after the calls they answer, in call order, and a
/// stand-in result for every call that has none.
fn mend(messages: Vec<ModelMessage>) -> Vec<ModelMessage> {
    let mut mended = Vec::with_capacity(messages.len());
    let mut iter = messages.into_iter().peekable();
    while let Some(message) = iter.next() {
        match message.role {
            // A result whose call is not right before it (cut off by the
            // window, or stray) is left out.
            ModelRole::Tool => continue,
            ModelRole::Assistant if !message.tool_calls.is_empty() => {
                let mut results = Vec::new();
                while let Some(next) = iter.next_if(|m| m.role == ModelRole::Tool) {
                    results.push(next);
                }
                let calls = message.tool_calls.clone();
                mended.push(message);
                for call in &calls {
                    let found = results
                        .iter()
                        .position(|r| r.tool_call_id.as_deref() == Some(call.id.as_str()));
                    mended.push(match found {
                        Some(at) => results.swap_remove(at),
                        None => ModelMessage::tool_result(call, MISSING_RESULT, true),
                    });
                }
            }
            _ => mended.push(message),
        }
    }
    mended
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call_message(ids: &[&str]) -> Value {
        let blocks: Vec<Value> = ids
            .iter()
            .map(|id| json!({"type": "toolCall", "id": id, "name": "read", "arguments": {"path": "a"}}))
            .collect();
        json!({"role": "assistant", "content": blocks, "stopReason": "toolUse"})
    }

    fn result(id: &str, text: &str) -> Value {
        json!({"role": "toolResult", "toolCallId": id, "toolName": "read",
               "content": [{"type": "text", "text": text}], "isError": false})
    }

    #[test]
    fn tool_calls_and_results_become_model_messages() {
        let transcript = vec![
            json!({"role": "user", "content": "read a"}),
            call_message(&["c1"]),
            result("c1", "A"),
            json!({"role": "assistant", "content": [{"type": "text", "text": "it says A"}]}),
        ];
        let messages = conversation(&transcript);
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[1].tool_calls[0].id, "c1");
        assert_eq!(messages[1].tool_calls[0].arguments, r#"{"path":"a"}"#);
        assert_eq!(messages[2].role, ModelRole::Tool);
        assert_eq!(messages[2].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(messages[2].text, "A");
        assert_eq!(messages[3].text, "it says A");
    }

    #[test]
    fn missing_results_get_a_stand_in_and_stray_results_are_dropped() {
        let transcript = vec![
            result("gone", "orphan"),
            json!({"role": "user", "content": "go"}),
            call_message(&["c1", "c2"]),
            result("c2", "two"),
        ];
        let messages = conversation(&transcript);
        let roles: Vec<ModelRole> = messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                ModelRole::User,
                ModelRole::Assistant,
                ModelRole::Tool,
                ModelRole::Tool
            ]
        );
        assert_eq!(messages[2].tool_call_id.as_deref(), Some("c1"));
        assert!(messages[2].is_error);
        assert_eq!(messages[2].text, MISSING_RESULT);
        assert_eq!(messages[3].text, "two");
    }
}
