//! `ollama`: the native `POST {baseUrl}/api/chat`, streamed as one JSON
//! object per line, the last one with `done: true` and the token counts.

use gateway_proto::gateway::agents::catalog::OLLAMA_DEFAULT_BASE_URL;
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRequest, ModelUsage, ToolCall};
use serde_json::{json, Value};

use super::tool_calls::{
    arguments_text, too_large, too_many, MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS,
};
use super::wire::{
    chat_messages, count, done, error_message_in, function_tools, join_url, Chat, Framing, HttpCall,
};

pub(crate) fn prepare(request: &ModelRequest) -> HttpCall {
    let messages = chat_messages(request, Chat::Ollama);
    let mut options = serde_json::Map::new();
    if let Some(max) = request.max_tokens {
        options.insert("num_predict".into(), json!(max));
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "options": options,
    });
    if !request.tools.is_empty() {
        body["tools"] = json!(function_tools(&request.tools));
    }
    // A local server must fail rather than silently cut the conversation
    // to fit its context (the reference asks this of all but Ollama Cloud).
    if !is_cloud(&request.base_url, &request.model) {
        body["truncate"] = json!(false);
        body["shift"] = json!(false);
    }
    let mut headers = Vec::new();
    if let Some(key) = &request.api_key {
        headers.push(("Authorization".to_string(), format!("Bearer {key}")));
    }
    HttpCall {
        url: join_url(
            &native_base(&request.base_url),
            OLLAMA_DEFAULT_BASE_URL,
            "/api/chat",
        ),
        headers,
        body,
        framing: Framing::Ndjson,
    }
}

/// The native API lives at the root: a configured OpenAI-style `/v1` suffix
/// is dropped, as the reference does.
fn native_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    match base.len().checked_sub(3) {
        Some(at) if base.is_char_boundary(at) && base[at..].eq_ignore_ascii_case("/v1") => {
            base[..at].to_string()
        }
        _ => base.to_string(),
    }
}

/// Ollama Cloud: its origin, or a model tagged `:cloud` / `…-cloud`.
fn is_cloud(base_url: &str, model: &str) -> bool {
    let origin = base_url.trim().trim_end_matches('/');
    let model = model.trim().to_ascii_lowercase();
    let tag = model.rsplit_once(':').map(|(_, tag)| tag);
    origin.eq_ignore_ascii_case("https://ollama.com")
        || origin
            .to_ascii_lowercase()
            .starts_with("https://ollama.com/")
        || tag == Some("cloud")
        || tag.is_some_and(|tag| !tag.contains('/') && tag.ends_with("-cloud"))
}

/// What the lines said so far.
#[derive(Default)]
pub(crate) struct State {
    model: Option<String>,
    /// Calls the lines made so far; each line carries whole calls.
    tool_calls: Vec<ToolCall>,
}

impl State {
    pub(crate) fn on_message(
        &mut self,
        _event: &str,
        line: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelEvent>, String> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let chunk: Value = serde_json::from_str(line)
            .map_err(|e| format!("the provider sent a malformed line: {e}"))?;
        if let Some(message) = error_message_in(&chunk) {
            return Err(format!("the provider reported an error: {message}"));
        }
        let (Some(message), Some(finished)) = (
            chunk.get("message").filter(|m| m.is_object()),
            chunk.get("done").and_then(Value::as_bool),
        ) else {
            return Err("the provider sent a malformed line: no message or done".into());
        };
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            self.model.get_or_insert_with(|| model.to_string());
        }
        let text = message.get("content").and_then(Value::as_str).unwrap_or("");
        if !text.is_empty() {
            out.push(ModelEvent::Text(text.to_string()));
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            self.add_tool_calls(calls)?;
        }
        if !finished {
            return Ok(None);
        }
        let input = count(chunk.get("prompt_eval_count"));
        let output = count(chunk.get("eval_count"));
        out.push(ModelEvent::Usage(ModelUsage {
            input,
            output,
            cache_read: 0,
            cache_write: 0,
            total: input + output,
        }));
        // A reply cut by the length limit may hold a half-made call: the
        // reference drops them all then.
        let reason = match chunk.get("done_reason").and_then(Value::as_str) {
            Some("length") => "length",
            _ if !self.tool_calls.is_empty() => "toolUse",
            _ => "stop",
        };
        if reason != "length" {
            out.extend(self.tool_calls.drain(..).map(ModelEvent::ToolCall));
        }
        Ok(Some(done(reason, None, self.model.take())))
    }

    /// Whole calls (`{id?, function: {name, arguments}}`); a call without an
    /// id gets `call_<n>`, unique within the reply.
    fn add_tool_calls(&mut self, calls: &[Value]) -> Result<(), String> {
        for call in calls {
            if self.tool_calls.len() >= MAX_TOOL_CALLS {
                return Err(too_many());
            }
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let arguments = arguments_text(call.pointer("/function/arguments"));
            if arguments.len() > MAX_TOOL_ARGUMENT_BYTES {
                return Err(too_large(&name));
            }
            let id = match call.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_string(),
                _ => format!("call_{}", self.tool_calls.len()),
            };
            self.tool_calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
        Ok(())
    }

    /// Without the `done: true` line the reply is not complete.
    pub(crate) fn at_eof(&mut self, _out: &mut Vec<ModelEvent>) -> Option<ModelEvent> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_models_and_the_cloud_origin_are_recognised() {
        assert!(is_cloud("https://ollama.com", "gpt-oss:120b"));
        assert!(is_cloud("http://127.0.0.1:11434", "gpt-oss:120b-cloud"));
        assert!(is_cloud("http://127.0.0.1:11434", "qwen3:cloud"));
        assert!(!is_cloud("http://127.0.0.1:11434", "llama3.2:3b"));
        assert!(!is_cloud("http://127.0.0.1:11434", "llama3.2"));
    }

    #[test]
    fn the_native_base_drops_a_v1_suffix() {
        assert_eq!(native_base("http://h:11434/v1/"), "http://h:11434");
        assert_eq!(native_base("http://h:11434/V1"), "http://h:11434");
        assert_eq!(native_base("http://h:11434"), "http://h:11434");
        assert_eq!(native_base(""), "");
    }

    #[test]
    fn the_last_line_gives_usage_and_stop_reason() {
        let mut state = State::default();
        let mut out = Vec::new();
        let last = r#"{"model":"llama3","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":12,"eval_count":3}"#;
        let end = state.on_message("", last, &mut out).unwrap();
        assert_eq!(end, Some(done("length", None, Some("llama3".into()))));
        assert!(matches!(
            out[0],
            ModelEvent::Usage(ModelUsage {
                input: 12,
                output: 3,
                total: 15,
                ..
            })
        ));
    }

    #[test]
    fn a_reply_cut_by_the_length_limit_drops_its_calls() {
        let mut state = State::default();
        let mut out = Vec::new();
        let call = r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"id":"c7","function":{"name":"ls","arguments":{"path":"."}}}]},"done":false}"#;
        assert_eq!(state.on_message("", call, &mut out).unwrap(), None);
        let last = r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length"}"#;
        let end = state.on_message("", last, &mut out).unwrap();
        assert_eq!(end, Some(done("length", None, Some("m".into()))));
        assert!(!out.iter().any(|e| matches!(e, ModelEvent::ToolCall(_))));

        // The same reply finished normally keeps the call and its own id.
        let mut state = State::default();
        let mut out = Vec::new();
        state.on_message("", call, &mut out).unwrap();
        let last = last.replace("length", "stop");
        let end = state.on_message("", &last, &mut out).unwrap();
        assert_eq!(end, Some(done("toolUse", None, Some("m".into()))));
        assert!(out.contains(&ModelEvent::ToolCall(ToolCall {
            id: "c7".into(),
            name: "ls".into(),
            arguments: r#"{"path":"."}"#.into(),
        })));
    }
}
