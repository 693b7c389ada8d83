//! `openai-completions`: `POST {baseUrl}/chat/completions` streamed as
//! server-sent events of `chat.completion.chunk`s, ended by `data: [DONE]`.

use gateway_proto::gateway::agents::catalog::OPENAI_DEFAULT_BASE_URL;
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRequest, ModelUsage};
use serde_json::{json, Value};

use super::tool_calls::Assembler;
use super::wire::{
    chat_messages, count, done, error_message_in, function_tools, join_url, Chat, Framing, HttpCall,
};

pub(crate) fn prepare(request: &ModelRequest) -> HttpCall {
    let messages = chat_messages(request, Chat::OpenAi);
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    // The reference's default field for OpenAI-style endpoints.
    if let Some(max) = request.max_tokens {
        body["max_completion_tokens"] = json!(max);
    }
    if !request.tools.is_empty() {
        body["tools"] = json!(function_tools(&request.tools));
        body["tool_choice"] = json!("auto");
    }
    let mut headers = Vec::new();
    if let Some(key) = &request.api_key {
        headers.push(("Authorization".to_string(), format!("Bearer {key}")));
    }
    HttpCall {
        url: join_url(
            &request.base_url,
            OPENAI_DEFAULT_BASE_URL,
            "/chat/completions",
        ),
        headers,
        body,
        framing: Framing::Sse,
    }
}

/// What the chunks said so far.
#[derive(Default)]
pub(crate) struct State {
    id: Option<String>,
    model: Option<String>,
    finish_reason: Option<String>,
    /// Calls streamed in pieces, reported when the reply finishes.
    tool_calls: Assembler,
}

impl State {
    pub(crate) fn on_message(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelEvent>, String> {
        if data.trim() == "[DONE]" {
            let reason = self.finish_reason.take().unwrap_or_else(|| "stop".into());
            return Ok(Some(self.finish(&reason, out)));
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| format!("the provider sent a malformed chunk: {e}"))?;
        if !chunk.is_object() {
            return Err("the provider sent a malformed chunk: not a JSON object".into());
        }
        if let Some(message) = error_message_in(&chunk) {
            return Err(format!("the provider reported an error: {message}"));
        }
        if let Some(id) = chunk.get("id").and_then(Value::as_str) {
            self.id.get_or_insert_with(|| id.to_string());
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            self.model.get_or_insert_with(|| model.to_string());
        }
        if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
            for choice in choices {
                let text = choice
                    .pointer("/delta/content")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !text.is_empty() {
                    out.push(ModelEvent::Text(text.to_string()));
                }
                if let Some(calls) = choice
                    .pointer("/delta/tool_calls")
                    .and_then(Value::as_array)
                {
                    self.add_tool_call_pieces(calls)?;
                }
                if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                    self.finish_reason = Some(reason.to_string());
                }
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(ModelEvent::Usage(usage_of(usage)));
        }
        Ok(None)
    }

    /// The stream ended without `[DONE]`: complete if a choice finished
    /// (some compatible servers omit the marker), failed otherwise.
    pub(crate) fn at_eof(&mut self, out: &mut Vec<ModelEvent>) -> Option<ModelEvent> {
        let reason = self.finish_reason.take()?;
        Some(self.finish(&reason, out))
    }

    /// Each piece names its call by `index` (calls may interleave); the
    /// first piece of a call carries its id and name.
    fn add_tool_call_pieces(&mut self, pieces: &[Value]) -> Result<(), String> {
        for (position, piece) in pieces.iter().enumerate() {
            // A server that leaves out the index sends one call per piece
            // list position.
            let key = piece
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let text = |pointer: &str| piece.pointer(pointer).and_then(Value::as_str);
            self.tool_calls.add(
                key,
                text("/id"),
                text("/function/name"),
                text("/function/arguments").unwrap_or(""),
            )?;
        }
        Ok(())
    }

    /// The assembled calls, then `Done`. A reply with calls is a tool use
    /// even when a server finishes it with `stop`.
    fn finish(&mut self, reason: &str, out: &mut Vec<ModelEvent>) -> ModelEvent {
        let calls = self.tool_calls.finish_all("{}");
        let mut stop_reason = map_stop_reason(reason);
        if !calls.is_empty() && stop_reason == "stop" {
            stop_reason = "toolUse";
        }
        out.extend(calls.into_iter().map(ModelEvent::ToolCall));
        done(stop_reason, self.id.take(), self.model.take())
    }
}

/// `prompt_tokens` include the cached ones; the reference counts them apart.
fn usage_of(usage: &Value) -> ModelUsage {
    let prompt = count(usage.get("prompt_tokens"));
    let cache_read = count(usage.pointer("/prompt_tokens_details/cached_tokens")).min(prompt);
    let input = prompt - cache_read;
    let output = count(usage.get("completion_tokens"));
    ModelUsage {
        input,
        output,
        cache_read,
        cache_write: 0,
        total: input + output + cache_read,
    }
}

/// `finish_reason` in the reference's words.
pub(crate) fn map_stop_reason(reason: &str) -> &'static str {
    match reason {
        "stop" | "end" => "stop",
        "length" => "length",
        "tool_calls" | "function_call" => "toolUse",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_in_the_reference_words() {
        assert_eq!(map_stop_reason("stop"), "stop");
        assert_eq!(map_stop_reason("length"), "length");
        assert_eq!(map_stop_reason("tool_calls"), "toolUse");
        assert_eq!(map_stop_reason("content_filter"), "error");
    }

    #[test]
    fn cached_prompt_tokens_are_counted_apart() {
        let usage = json!({"prompt_tokens": 10, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 4}});
        assert_eq!(
            usage_of(&usage),
            ModelUsage {
                input: 6,
                output: 5,
                cache_read: 4,
                cache_write: 0,
                total: 15
            }
        );
    }
}
