//! The OpenAI-compatible HTTP surface on the gateway port
//! (`gateway.http.endpoints.chatCompletions.enabled`): `POST
//! /v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{id}`.
//!
//! Everything here is decided without I/O: which route a request head
//! names, whether its bearer secret is right, what a request body asks for,
//! and the JSON of every answer and stream chunk. The runtime reads the
//! socket, asks [`Gateway::http_gate`] about a head, reads the body when
//! told to, hands it to [`Gateway::http_chat_completion`], and then writes
//! the [`HttpRunUpdate`]s the core reports through [`super::Effect::RunStream`].
//!
//! A completion is a normal agent run (queued per session, `agent` events,
//! transcript, `agent.wait`); its origin is [`Origin::Http`]. What the
//! reference has and this gateway does not: client-supplied `tools` (refused
//! with 400), image parts (ignored), system messages as extra system prompt
//! (ignored), sampling parameters (ignored), `/v1/embeddings` (unrouted).

use serde_json::{json, Value};

use super::agents::hub::{self as runs, Submission};
use super::agents::keys::{self, DEFAULT_AGENT};
use super::agents::model::ModelUsage;
use super::agents::runs::{Origin, QueueMode};
use super::config::AuthConfig;
use super::Gateway;
use crate::text::percent_decode;
use crate::time::Timestamp;

/// Largest request body of `/v1/chat/completions` (the reference's 20 MB).
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
/// HTTP completions running at once; more are refused 503.
pub const MAX_HTTP_RUNS: usize = 64;
/// The text of a completion whose run produced none (the reference's words).
pub const NO_RESPONSE_TEXT: &str = "No response from OpenClaw.";
/// The last event of every stream.
pub const SSE_DONE: &str = "data: [DONE]\n\n";

/// The parts of a request head the API looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpHead {
    pub method: String,
    /// The path without query, as sent (percent-encoded).
    pub path: String,
    pub authorization: Option<String>,
    /// `x-openclaw-model`: the backend model for this run.
    pub model_override: Option<String>,
    /// `x-openclaw-session-key`: explicit session routing.
    pub session_key: Option<String>,
    /// `x-openclaw-agent-id` (or `x-openclaw-agent`): agent selection.
    pub agent_id: Option<String>,
}

/// A complete answer (an error, a model list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// JSON, except for a 405 (plain text).
    pub body: String,
    /// `Allow` for a 405.
    pub allow: Option<&'static str>,
}

impl HttpAnswer {
    fn json(status: u16, body: &Value) -> Self {
        HttpAnswer {
            status,
            body: body.to_string(),
            allow: None,
        }
    }

    /// `{"error": {message, type}}`, the shape of every API error.
    pub fn error(status: u16, message: &str, kind: &str) -> Self {
        Self::json(
            status,
            &json!({"error": {"message": message, "type": kind}}),
        )
    }

    fn invalid(message: &str) -> Self {
        Self::error(400, message, "invalid_request_error")
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        HttpAnswer {
            status: 405,
            body: "Method Not Allowed".into(),
            allow: Some(allow),
        }
    }

    pub fn is_json(&self) -> bool {
        self.status != 405
    }
}

/// What to do with a request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpGate {
    /// Not an API route, or the API is disabled: the port's usual 404.
    NotRouted,
    /// Answer this and be done.
    Answer(HttpAnswer),
    /// An authorised completion: read a body of at most `max_bytes`.
    ReadBody { max_bytes: usize },
}

/// What a running completion reports, in order: deltas, then one ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpRunUpdate {
    Delta(String),
    Final {
        text: String,
        usage: Option<ModelUsage>,
        stop_reason: String,
    },
    /// The run failed, was aborted or timed out.
    Failed {
        message: String,
    },
}

/// An accepted completion: its identity in every chunk and answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// `chatcmpl_<uuid>`, also the run id.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The `model` the client asked for (`openclaw` when absent).
    pub model: String,
    pub session_key: String,
    /// `stream: true`: answer with server-sent events.
    pub stream: bool,
    /// `stream_options.include_usage`: a usage chunk before `[DONE]`.
    pub include_usage: bool,
}

impl Completion {
    fn chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        sse_event(&chunk)
    }

    /// The first event: the assistant role.
    pub fn role_chunk(&self) -> String {
        self.chunk(
            json!([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]),
            None,
        )
    }

    pub fn content_chunk(&self, text: &str) -> String {
        self.chunk(
            json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]),
            None,
        )
    }

    pub fn finish_chunk(&self, stop_reason: &str) -> String {
        self.chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": finish_reason(stop_reason)}]),
            None,
        )
    }

    pub fn usage_chunk(&self, usage: Option<ModelUsage>) -> String {
        self.chunk(json!([]), Some(usage_json(usage)))
    }

    /// The whole answer of a completion that was not streamed.
    pub fn response(&self, text: &str, usage: Option<ModelUsage>, stop_reason: &str) -> String {
        let content = if text.is_empty() {
            NO_RESPONSE_TEXT
        } else {
            text
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason(stop_reason),
            }],
            "usage": usage_json(usage),
        })
        .to_string()
    }
}

/// A failed run, not streamed: the reference hides the cause.
pub fn run_failed_answer() -> HttpAnswer {
    HttpAnswer::error(500, "internal error", "api_error")
}

/// A failed run in a stream: an `error` event (then `[DONE]`).
pub fn stream_error_event() -> String {
    sse_event(&json!({"error": {"message": "internal error", "type": "api_error"}}))
}

fn sse_event(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn finish_reason(stop_reason: &str) -> &'static str {
    if stop_reason == "length" {
        "length"
    } else {
        "stop"
    }
}

fn usage_json(usage: Option<ModelUsage>) -> Value {
    let u = usage.unwrap_or_default();
    let prompt = u.input.saturating_add(u.cache_read);
    let completion = u.output;
    let mut usage = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt.saturating_add(completion).max(u.total),
    });
    if u.cache_read > 0 {
        usage["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read});
    }
    usage
}

/// The API's routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    ChatCompletions,
    Models,
    /// `/v1/models/<encoded id>`.
    Model(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "/v1/chat/completions" => Some(Route::ChatCompletions),
        "/v1/models" => Some(Route::Models),
        _ => path.strip_prefix("/v1/models/").map(Route::Model),
    }
}

/// Whether `path` is one the API may answer (the runtime hands such
/// requests to [`Gateway::http_gate`]).
pub fn is_api_path(path: &str) -> bool {
    route(path).is_some()
}

/// Whether the bearer secret of `authorization` is the gateway's.
fn authorized(auth: &AuthConfig, authorization: Option<&str>) -> bool {
    super::control_ui::bearer_authorized(auth, authorization)
}

fn unauthorized() -> HttpAnswer {
    HttpAnswer::error(401, "Unauthorized", "unauthorized")
}

/// The agents a request may target (this gateway has only the default one).
fn known_agent(agent_id: &str) -> bool {
    agent_id == DEFAULT_AGENT
}

/// `openclaw`, `openclaw/default`, `openclaw/<id>`, `openclaw:<id>`,
/// `agent:<id>`: the agent it names (`None`: not an agent target).
fn agent_of_model(model: &str) -> Option<String> {
    let raw = model.trim();
    let lower = raw.to_ascii_lowercase();
    if lower == "openclaw" || lower == "openclaw/default" {
        return Some(DEFAULT_AGENT.to_owned());
    }
    let id = lower
        .strip_prefix("openclaw/")
        .or_else(|| lower.strip_prefix("openclaw:"))
        .or_else(|| lower.strip_prefix("agent:"))?;
    valid_agent_id(id).then(|| id.to_owned())
}

/// `[a-z0-9][a-z0-9_-]{0,63}` (after lower-casing).
fn valid_agent_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The ids `/v1/models` lists.
fn model_ids() -> Vec<String> {
    vec![
        "openclaw".to_owned(),
        "openclaw/default".to_owned(),
        format!("openclaw/{DEFAULT_AGENT}"),
    ]
}

fn model_entry(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw", "permission": []})
}

fn models_answer(route: Route<'_>) -> HttpAnswer {
    let ids = model_ids();
    let encoded = match route {
        Route::Model(encoded) => encoded,
        _ => {
            let data: Vec<Value> = ids.iter().map(|id| model_entry(id)).collect();
            return HttpAnswer::json(200, &json!({"object": "list", "data": data}));
        }
    };
    if encoded.is_empty() {
        return HttpAnswer::invalid("Missing model id.");
    }
    let Some(id) = percent_decode(encoded) else {
        return HttpAnswer::invalid("Invalid model id encoding.");
    };
    if agent_of_model(&id).is_none() {
        return HttpAnswer::invalid("Invalid model id.");
    }
    if !ids.contains(&id) {
        let message = format!("Model '{id}' not found.");
        return HttpAnswer::error(404, &message, "invalid_request_error");
    }
    HttpAnswer::json(200, &model_entry(&id))
}

/// A `/v1/chat/completions` body, checked.
#[derive(Debug, PartialEq, Eq)]
struct ChatRequest {
    model: String,
    stream: bool,
    include_usage: bool,
    user: Option<String>,
    /// The prompt built from `messages`.
    message: String,
}

/// JSON's name for a value's type, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `field` of `body` when it has the wanted type (`Ok(None)` when absent
/// or, if `nullable`, null).
fn field<'v>(
    body: &'v Value,
    name: &str,
    wanted: &str,
    nullable: bool,
) -> Result<Option<&'v Value>, HttpAnswer> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(v) if type_name(v) == wanted => Ok(Some(v)),
        Some(v) => Err(HttpAnswer::invalid(&format!(
            "{name}: Expected {wanted}, received {}",
            type_name(v)
        ))),
    }
}

fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, HttpAnswer> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| HttpAnswer::invalid(&format!("Invalid JSON body: {e}")))?;
    if !body.is_object() {
        return Err(HttpAnswer::invalid(&format!(
            ": Expected object, received {}",
            type_name(&body)
        )));
    }
    let model = field(&body, "model", "string", false)?
        .and_then(Value::as_str)
        .unwrap_or("openclaw")
        .to_owned();
    let stream = field(&body, "stream", "boolean", true)?.and_then(Value::as_bool) == Some(true);
    let include_usage = stream
        && field(&body, "stream_options", "object", true)?
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
    let user = field(&body, "user", "string", false)?
        .and_then(Value::as_str)
        .map(str::to_owned);
    let messages = field(&body, "messages", "array", false)?
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Client tools need the pass-through tool contract (tool calls handed
    // back to the caller), which this gateway does not have.
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        let empty = tools.as_array().is_some_and(Vec::is_empty);
        if !empty {
            return Err(HttpAnswer::invalid(
                "Invalid tools/tool_choice: client tools are not supported by this gateway",
            ));
        }
    }
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        user,
        message: build_prompt(messages),
    })
}

/// The text of a message's `content`: a string, or the text parts of an
/// array joined by newlines.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| matches!(p["type"].as_str(), Some("text" | "input_text")))
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The message the agent gets from an OpenAI `messages` list: the last user
/// (or tool) turn alone, or with the turns before it as context in the
/// reference's layout.
fn build_prompt(messages: &[Value]) -> String {
    let mut entries: Vec<(&str, String, String)> = Vec::new();
    for msg in messages {
        let role = msg["role"].as_str().unwrap_or_default().trim();
        let role = if role == "function" { "tool" } else { role };
        if !matches!(role, "user" | "assistant" | "tool") {
            continue;
        }
        let mut body = content_text(&msg["content"]).trim().to_owned();
        if role == "assistant" {
            for call in msg["tool_calls"].as_array().into_iter().flatten() {
                let (id, f) = (call["id"].as_str(), &call["function"]);
                if let (Some(id), Some(name)) = (id, f["name"].as_str()) {
                    let args = match &f["arguments"] {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    body.push_str(&format!("tool_call id={id} name={name} arguments={args}"));
                }
            }
        }
        let tool_id = msg["tool_call_id"].as_str().or(msg["name"].as_str());
        if body.is_empty() && !(role == "tool" && tool_id.is_some()) {
            continue;
        }
        let sender = match (role, tool_id) {
            ("assistant", _) => "Assistant".to_owned(),
            ("user", _) => "User".to_owned(),
            (_, Some(id)) => format!("Tool:{id}"),
            _ => "Tool".to_owned(),
        };
        entries.push((role, sender, body));
    }
    let Some(current) = entries
        .iter()
        .rposition(|(role, _, _)| matches!(*role, "user" | "tool"))
        .or(entries.len().checked_sub(1))
    else {
        return String::new();
    };
    let history: Vec<String> = entries[..current]
        .iter()
        .map(|(_, sender, body)| format!("{sender}: {body}"))
        .collect();
    let (role, sender, body) = &entries[current];
    if history.is_empty() && *role != "tool" {
        return body.clone();
    }
    let current = format!("{sender}: {body}");
    if history.is_empty() {
        return current;
    }
    let history = history.join("\n");
    [
        "[Chat messages since your last reply - for context]",
        history.as_str(),
        "",
        "[Current message - respond to this]",
        current.as_str(),
    ]
    .join("\n")
}

/// Whether an explicit session key names one of the internal namespaces a
/// caller may not route into.
fn reserved_session_key(key: &str) -> bool {
    let lower = key.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("agent:")
        .and_then(|r| r.split_once(':'))
        .map_or(lower.as_str(), |(_, rest)| rest);
    ["subagent:", "cron:", "acp:"]
        .iter()
        .any(|ns| lower.starts_with(ns) || rest.starts_with(ns))
}

impl Gateway {
    /// What to do with an API request head: not ours (or disabled), a
    /// complete answer (405, 401, the model list), or read the body of an
    /// authorised completion. Pure: no state changes.
    pub fn http_gate(&self, head: &HttpHead) -> HttpGate {
        if !self.config.chat_completions_enabled {
            return HttpGate::NotRouted;
        }
        let Some(route) = route(&head.path) else {
            return HttpGate::NotRouted;
        };
        let (wanted, allow) = match route {
            Route::ChatCompletions => ("POST", "POST"),
            Route::Models | Route::Model(_) => ("GET", "GET"),
        };
        if head.method != wanted {
            return HttpGate::Answer(HttpAnswer::method_not_allowed(allow));
        }
        if !authorized(&self.config.auth, head.authorization.as_deref()) {
            return HttpGate::Answer(unauthorized());
        }
        match route {
            Route::ChatCompletions => HttpGate::ReadBody {
                max_bytes: MAX_BODY_BYTES,
            },
            models => HttpGate::Answer(models_answer(models)),
        }
    }

    /// Start the completion `body` asks for as an agent run whose updates
    /// are reported as [`super::Effect::RunStream`] with `stream` (an id the
    /// runtime picks, unique among its open streams). The head is checked
    /// again: the config may have changed while the body was read.
    pub fn http_chat_completion(
        &mut self,
        stream: u64,
        head: &HttpHead,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Completion, HttpAnswer> {
        match self.http_gate(head) {
            HttpGate::ReadBody { max_bytes } if body.len() <= max_bytes => {}
            HttpGate::ReadBody { .. } => {
                return Err(HttpAnswer::error(
                    413,
                    "Payload too large",
                    "invalid_request_error",
                ))
            }
            HttpGate::Answer(answer) => return Err(answer),
            HttpGate::NotRouted => {
                return Err(HttpAnswer::error(404, "Not Found", "invalid_request_error"))
            }
        }
        let request = parse_chat_request(body)?;
        let agent_id = self.http_agent(head, &request.model)?;
        let session_key = match head.session_key.as_deref().map(str::trim) {
            Some(key) if !key.is_empty() => {
                if reserved_session_key(key) {
                    return Err(HttpAnswer::invalid(
                        "`x-openclaw-session-key` cannot use reserved internal session namespaces.",
                    ));
                }
                keys::canonical(key, Some(&agent_id))
            }
            _ => match request.user.as_deref().map(str::trim) {
                Some(user) if !user.is_empty() => {
                    keys::canonical(&format!("openai-user:{user}"), Some(&agent_id))
                }
                _ => keys::canonical(&format!("openai:{}", self.rng.uuid_v4()), Some(&agent_id)),
            },
        };
        let model_ref = match head.model_override.as_deref().map(str::trim) {
            Some(wanted) if !wanted.is_empty() => {
                if self.config.models.resolve(Some(wanted)).is_err() {
                    let message =
                        format!("Model '{wanted}' is not allowed for agent '{agent_id}'.");
                    return Err(HttpAnswer::invalid(&message));
                }
                Some(wanted.to_owned())
            }
            _ => None,
        };
        if request.message.is_empty() {
            return Err(HttpAnswer::invalid("Missing user message in `messages`."));
        }
        if self.agents.http_streams.len() >= MAX_HTTP_RUNS {
            return Err(HttpAnswer::error(
                503,
                "too many chat completions in progress; retry later",
                "api_error",
            ));
        }
        let id = format!("chatcmpl_{}", self.rng.uuid_v4());
        let completion = Completion {
            id: id.clone(),
            created: self.clock.unix_ms(now) / 1000,
            model: request.model,
            session_key: session_key.clone(),
            stream: request.stream,
            include_usage: request.include_usage,
        };
        let submission = Submission {
            run_id: id.clone(),
            session_key,
            origin: Origin::Http { stream },
            dedupe_key: format!("http:{id}"),
            message: request.message,
            model_ref,
            queue_mode: QueueMode::Followup,
            timeout: None,
        };
        let mut hub = self.view(now);
        if let Err(error) = runs::submit(&mut hub, submission) {
            return Err(HttpAnswer::error(503, &error.message, "api_error"));
        }
        // A run that ended at once (no model) has reported its ending already.
        if hub.agents.has_run(&id) {
            hub.agents.http_streams.insert(stream, id);
        }
        Ok(completion)
    }

    /// The client of `stream` went away: abort its run (its ending is still
    /// reported, to nobody).
    pub fn http_client_gone(&mut self, stream: u64, now: Timestamp) {
        let Some(run_id) = self.agents.http_streams.remove(&stream) else {
            return;
        };
        let Some(session_key) = self.agents.session_of_run(&run_id) else {
            return;
        };
        runs::abort(&mut self.view(now), &session_key, Some(&run_id), "aborted");
    }

    /// HTTP completions whose run is queued or going.
    pub fn http_runs_in_flight(&self) -> usize {
        self.agents.http_streams.len()
    }

    /// The agent a request targets: `x-openclaw-agent-id`, else its `model`.
    fn http_agent(&self, head: &HttpHead, model: &str) -> Result<String, HttpAnswer> {
        let invalid_model =
            || HttpAnswer::invalid("Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.");
        let unknown = |id: &str| HttpAnswer::invalid(&format!("Unknown agent '{id}'."));
        let from_model = if model.trim().is_empty() {
            None
        } else {
            Some(agent_of_model(model).ok_or_else(invalid_model)?)
        };
        if let Some(raw) = head
            .agent_id
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            let id = raw.to_ascii_lowercase();
            if !valid_agent_id(&id) || !known_agent(&id) {
                return Err(unknown(raw));
            }
            return Ok(id);
        }
        match from_model {
            Some(id) if !known_agent(&id) => Err(unknown(&id)),
            Some(id) => Ok(id),
            None => Ok(DEFAULT_AGENT.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests;
