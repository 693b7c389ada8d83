//! One model turn as the core asks for it and as the runtime reports it.
//!
//! The core never speaks HTTP: it hands the runtime a [`ModelRequest`]
//! (everything needed to call one provider once, secrets included) as
//! `Effect::StreamModel`, and the runtime sends back a stream of
//! [`ModelEvent`]s with the same token. The stream always ends with exactly
//! one [`ModelEvent::Done`] or [`ModelEvent::Failed`], unless the core
//! cancelled it first (`Effect::CancelModel`), after which the runtime may
//! still deliver events that the core ignores.

/// The wire API a provider speaks (`models.providers.<id>.api`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelApi {
    /// `POST {baseUrl}/chat/completions` with `stream: true` (SSE).
    OpenAiCompletions,
    /// `POST {baseUrl}/v1/messages` with `stream: true` (SSE).
    AnthropicMessages,
    /// `POST {baseUrl}/api/chat` (newline-delimited JSON).
    Ollama,
    /// A local command run as the model (`ModelRequest::cli` says which).
    CliBackend,
}

impl ModelApi {
    /// The name the config uses for this API.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelApi::OpenAiCompletions => "openai-completions",
            ModelApi::AnthropicMessages => "anthropic-messages",
            ModelApi::Ollama => "ollama",
            ModelApi::CliBackend => "cli-backend",
        }
    }

    /// The API named `name` in a config, if this gateway speaks it.
    pub fn parse(name: &str) -> Option<ModelApi> {
        match name {
            "openai-completions" => Some(ModelApi::OpenAiCompletions),
            "anthropic-messages" => Some(ModelApi::AnthropicMessages),
            "ollama" => Some(ModelApi::Ollama),
            _ => None,
        }
    }
}

/// Who said a message of the conversation sent to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRole {
    User,
    Assistant,
    /// The result of one tool call (OpenAI `role: "tool"`, Anthropic a
    /// `tool_result` block in a user message, Ollama `role: "tool"`).
    Tool,
}

/// A tool the model may call: its name, what it does, and a JSON schema
/// of its arguments (an object schema).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// One tool call the model made, complete (the runtime assembles the
/// pieces a provider streams before reporting it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The provider's id for the call (`call_…`, `toolu_…`); the runtime
    /// makes one up when the provider gives none (Ollama).
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, possibly invalid
    /// (the core answers invalid arguments with a tool error).
    pub arguments: String,
}

/// One message of the conversation, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMessage {
    pub role: ModelRole,
    /// User or assistant text, or the tool's result.
    pub text: String,
    /// Assistant: the tool calls it made, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Tool: the call this result answers.
    pub tool_call_id: Option<String>,
    /// Tool: the name of the tool that ran.
    pub tool_name: Option<String>,
    /// Tool: whether the result is an error.
    pub is_error: bool,
}

impl ModelMessage {
    pub fn user(text: impl Into<String>) -> Self {
        Self::plain(ModelRole::User, text.into())
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        ModelMessage {
            tool_calls,
            ..Self::plain(ModelRole::Assistant, text.into())
        }
    }

    pub fn tool_result(call: &ToolCall, text: impl Into<String>, is_error: bool) -> Self {
        ModelMessage {
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
            is_error,
            ..Self::plain(ModelRole::Tool, text.into())
        }
    }

    fn plain(role: ModelRole, text: String) -> Self {
        ModelMessage {
            role,
            text,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }
}

/// Everything the runtime needs to call a provider once.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelRequest {
    pub api: ModelApi,
    /// The provider's base URL as configured (for OpenAI-compatible
    /// providers it usually ends in `/v1`).
    pub base_url: String,
    /// Sent as the API's credential header when present.
    pub api_key: Option<String>,
    /// Extra request headers from the provider's config.
    pub headers: Vec<(String, String)>,
    /// The provider's model id (without the `provider/` prefix).
    pub model: String,
    /// Upper bound on the reply's tokens, when the model entry sets one.
    pub max_tokens: Option<u32>,
    /// The system prompt (may be empty).
    pub system: String,
    pub messages: Vec<ModelMessage>,
    /// The tools the model may call this turn (empty: none; the request
    /// then carries no tool fields at all).
    pub tools: Vec<ToolSpec>,
    /// The command to run, for [`ModelApi::CliBackend`].
    pub cli: Option<super::cli_backend::CliBackend>,
}

/// Keeps the API key out of logs.
impl core::fmt::Debug for ModelRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ModelRequest")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &self.headers.len())
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .field("system", &self.system.len())
            .field("messages", &self.messages.len())
            .field("tools", &self.tools.len())
            .field("cli", &self.cli.as_ref().map(|c| &c.id))
            .finish()
    }
}

/// Token counts as the reference records them on an assistant message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub total: u64,
}

impl ModelUsage {
    /// `self` and `other` added up.
    pub fn plus(self, other: ModelUsage) -> ModelUsage {
        ModelUsage {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            cache_read: self.cache_read.saturating_add(other.cache_read),
            cache_write: self.cache_write.saturating_add(other.cache_write),
            total: self.total.saturating_add(other.total),
        }
    }
}

/// What the runtime reports while a model turn streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelEvent {
    /// New reply text, in order (never empty).
    Text(String),
    /// Token counts; a later report replaces an earlier one.
    Usage(ModelUsage),
    /// A complete tool call, in the order the model made them, before
    /// `Done` (whose `stop_reason` is then `toolUse`).
    ToolCall(ToolCall),
    /// The reply is complete.
    Done {
        /// As the provider named it, mapped to the reference's words
        /// (`stop`, `length`, `toolUse`, …).
        stop_reason: String,
        /// The provider's id for the response (`chatcmpl-…`, `msg_…`).
        response_id: Option<String>,
        /// The model the provider says answered.
        response_model: Option<String>,
    },
    /// The CLI backend's session id (from its output): stored on the
    /// session and passed back on the session's next turn.
    CliSession(String),
    /// The turn failed: connection refused, HTTP error status, malformed
    /// stream, idle timeout. The message is shown to the user.
    Failed {
        message: String,
        /// The HTTP status, when the provider answered with an error one.
        status: Option<u16>,
    },
}

impl ModelEvent {
    /// Whether this event ends the stream.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ModelEvent::Done { .. } | ModelEvent::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_round_trip() {
        for api in [
            ModelApi::OpenAiCompletions,
            ModelApi::AnthropicMessages,
            ModelApi::Ollama,
        ] {
            assert_eq!(ModelApi::parse(api.as_str()), Some(api));
        }
        assert_eq!(ModelApi::parse("google-generative-ai"), None);
    }

    #[test]
    fn debug_hides_the_api_key() {
        let request = ModelRequest {
            api: ModelApi::OpenAiCompletions,
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Some("sk-secret".into()),
            headers: vec![],
            model: "echo".into(),
            max_tokens: None,
            system: String::new(),
            messages: vec![],
            tools: vec![],
            cli: None,
        };
        assert!(!format!("{request:?}").contains("sk-secret"));
    }
}
