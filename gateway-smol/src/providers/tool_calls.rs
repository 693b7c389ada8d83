//! Tool calls in both directions: the shared JSON shapes of a request
//! (arguments as an object) and the assembly of calls a provider streams in
//! pieces, with the bounds that keep a misbehaving provider from growing
//! them without end.

use gateway_proto::gateway::agents::model::ToolCall;
use serde_json::{Map, Value};

/// The most tool calls one reply may make. Models call a handful at a time;
/// 64 is far above that while a runaway stream is stopped early.
pub const MAX_TOOL_CALLS: usize = 64;

/// The most argument bytes of one call: far above any sensible arguments
/// (a file written whole still fits), small enough to bound a reply's
/// memory together with [`MAX_TOOL_CALLS`].
pub const MAX_TOOL_ARGUMENT_BYTES: usize = 1 << 20;

/// The arguments as a JSON object, for the APIs that want one (Anthropic
/// `input`, Ollama `arguments`): anything but an object becomes `{}` so
/// the request stays valid (the core has already answered such a call
/// with a tool error).
pub(crate) fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ => Value::Object(Map::new()),
    }
}

/// The arguments a provider sent as a JSON value, as JSON text: a string is
/// taken to be the JSON text itself (some servers send it that way).
pub(crate) fn arguments_text(arguments: Option<&Value>) -> String {
    match arguments {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The failure of a call whose arguments passed the bound.
pub(crate) fn too_large(name: &str) -> String {
    format!(
        "the provider sent tool call arguments larger than {MAX_TOOL_ARGUMENT_BYTES} bytes (tool {name})"
    )
}

/// The failure of a reply with too many calls.
pub(crate) fn too_many() -> String {
    format!("the provider sent more than {MAX_TOOL_CALLS} tool calls in one reply")
}

/// A call whose pieces are still arriving.
struct Pending {
    /// The stream's key for it (OpenAI `index`, Anthropic block `index`).
    key: u64,
    id: String,
    name: String,
    arguments: String,
}

/// Calls streamed in pieces, keyed by the stream's index.
#[derive(Default)]
pub(crate) struct Assembler {
    pending: Vec<Pending>,
    /// Calls started so far in this reply (finished ones included).
    started: usize,
}

impl Assembler {
    /// Add to call `key` (starting it when new): an id or name when the
    /// piece carries one, and a piece of its arguments.
    pub(crate) fn add(
        &mut self,
        key: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) -> Result<(), String> {
        let at = match self.pending.iter().position(|p| p.key == key) {
            Some(at) => at,
            None => {
                if self.started >= MAX_TOOL_CALLS {
                    return Err(too_many());
                }
                self.started += 1;
                self.pending.push(Pending {
                    key,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.pending.len() - 1
            }
        };
        let call = &mut self.pending[at];
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            call.id = id.to_string();
        }
        // OpenAI sends the name whole in the first piece; a server that
        // repeats it must not double it.
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            call.name = name.to_string();
        }
        if call.arguments.len() + arguments.len() > MAX_TOOL_ARGUMENT_BYTES {
            return Err(too_large(&call.name));
        }
        call.arguments.push_str(arguments);
        Ok(())
    }

    /// Whether call `key` is assembling.
    pub(crate) fn has(&self, key: u64) -> bool {
        self.pending.iter().any(|p| p.key == key)
    }

    /// Call `key`, complete; `empty_arguments` stands for arguments that
    /// never came.
    pub(crate) fn finish(&mut self, key: u64, empty_arguments: &str) -> Option<ToolCall> {
        let at = self.pending.iter().position(|p| p.key == key)?;
        let call = self.pending.remove(at);
        Some(self.complete(call, empty_arguments))
    }

    /// Every call still assembling, complete, in the order of their keys
    /// (the order the model made them in).
    pub(crate) fn finish_all(&mut self, empty_arguments: &str) -> Vec<ToolCall> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|call| call.key);
        pending
            .into_iter()
            .map(|call| self.complete(call, empty_arguments))
            .collect()
    }

    fn complete(&self, call: Pending, empty_arguments: &str) -> ToolCall {
        let id = if call.id.is_empty() {
            // Unique within the reply, the scope the core matches in.
            format!("call_{}", call.key)
        } else {
            call.id
        };
        let arguments = if call.arguments.is_empty() {
            empty_arguments.to_string()
        } else {
            call.arguments
        };
        ToolCall {
            id,
            name: call.name,
            arguments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_joined_per_key_in_key_order() {
        let mut calls = Assembler::default();
        calls.add(1, Some("b"), Some("ls"), "{\"pa").unwrap();
        calls.add(0, Some("a"), Some("read"), "").unwrap();
        calls.add(1, None, None, "th\":1}").unwrap();
        let done = calls.finish_all("{}");
        assert_eq!(
            done,
            [
                ToolCall {
                    id: "a".into(),
                    name: "read".into(),
                    arguments: "{}".into()
                },
                ToolCall {
                    id: "b".into(),
                    name: "ls".into(),
                    arguments: "{\"path\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn bounds_fail_the_reply() {
        let mut calls = Assembler::default();
        for key in 0..MAX_TOOL_CALLS as u64 {
            calls.add(key, None, Some("t"), "").unwrap();
        }
        assert!(calls
            .add(MAX_TOOL_CALLS as u64, None, Some("t"), "")
            .unwrap_err()
            .contains("more than 64"));
        let mut calls = Assembler::default();
        let half = "x".repeat(MAX_TOOL_ARGUMENT_BYTES / 2);
        calls.add(0, None, Some("t"), &half).unwrap();
        calls.add(0, None, None, &half).unwrap();
        assert!(calls.add(0, None, None, "x").is_err());
    }

    #[test]
    fn arguments_become_an_object_or_text() {
        assert_eq!(arguments_object("{\"a\":1}"), serde_json::json!({"a": 1}));
        assert_eq!(arguments_object("{\"a\":"), serde_json::json!({}));
        assert_eq!(arguments_object("[1]"), serde_json::json!({}));
        assert_eq!(
            arguments_text(Some(&serde_json::json!({"a": 1}))),
            "{\"a\":1}"
        );
        assert_eq!(
            arguments_text(Some(&serde_json::json!("{\"a\":1}"))),
            "{\"a\":1}"
        );
        assert_eq!(arguments_text(None), "{}");
    }
}
