//! One run: a message to an agent in one session, from acceptance to its
//! final answer, and the event payloads it produces.

use serde_json::{json, Value};

use super::catalog::ResolvedModel;
use super::model::{ModelUsage, ToolCall};
use crate::time::Timestamp;
use crate::ConnId;

/// Who asked for the run, and how the answer reaches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The `agent` method: its request gets the final answer.
    Agent { conn: ConnId, request_id: String },
    /// `chat.send`: answered at once; the outcome travels in `chat` events.
    Chat,
    /// An OpenAI-compatible HTTP completion: deltas and the ending go to
    /// the runtime's `stream` as `Effect::RunStream`.
    Http { stream: u64 },
}

/// How a message sent while a run is going is handled (`queueMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMode {
    /// Wait for the running turn, then run (a plain model turn has no
    /// point at which to steer, so steering waits like a follow-up).
    Steer,
    Followup,
    /// Queued messages are answered together, in one run.
    Collect,
    /// Abort the running turn, then run.
    Interrupt,
}

impl QueueMode {
    pub fn parse(name: Option<&str>) -> QueueMode {
        match name {
            Some("followup") => QueueMode::Followup,
            Some("collect") => QueueMode::Collect,
            Some("interrupt") => QueueMode::Interrupt,
            _ => QueueMode::Steer,
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the session's running turn.
    Queued,
    /// The runtime prepares the workspace (effect token).
    Preparing { token: u64 },
    /// The model call with this effect token is streaming.
    Streaming { token: u64 },
    /// A tool call is running; `token` names its effect, node invoke or
    /// approval.
    Tool { token: u64 },
}

/// The tool calls of one model turn, run one after another.
#[derive(Clone, Debug)]
pub struct ToolRound {
    pub calls: Vec<ToolCall>,
    /// The call running (or next to run).
    pub next: usize,
    /// What the running call waits for.
    pub step: Option<ToolStep>,
    /// When the running call started (unix ms).
    pub started_at: u64,
}

/// What a running tool call waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolStep {
    /// A runtime action (`Effect::RunTool`).
    Action,
    /// `system.run.prepare` on a node: its plan comes next.
    NodePrepare {
        node_id: String,
        command: String,
        timeout_ms: u64,
        ask: bool,
    },
    /// `system.run` on a node.
    NodeRun { node_id: String },
    /// Another node command (the `nodes` tool).
    NodeQuery { node_id: String, command: String },
    /// An operator's decision on exec approval `id`; then `then` runs.
    Approval {
        id: String,
        then: Box<AfterApproval>,
    },
}

/// What an approved exec runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterApproval {
    Gateway {
        command: String,
        cwd: String,
        timeout_ms: u64,
    },
    Node {
        node_id: String,
        /// `system.run` params, without the approval fields.
        params: Value,
        timeout_ms: u64,
    },
}

/// The tools a run used, for its final answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolSummary {
    pub calls: u32,
    /// Tools that succeeded at least once, in first-use order.
    pub succeeded: Vec<String>,
    /// Tools that were called at least once, in first-use order.
    pub used: Vec<String>,
    pub failures: u32,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Completed { stop_reason: String },
    Failed { message: String },
    Aborted { stop_reason: String },
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub run_id: String,
    pub session_key: String,
    pub agent_id: String,
    pub origin: Origin,
    /// The idempotency cache key (`agent:<k>` / `chat:<k>`).
    pub dedupe_key: String,
    /// Keys of `collect` messages folded into this run (they end with it).
    pub joined_keys: Vec<String>,
    /// The user's message(s); `collect` appends to it while queued.
    pub message: String,
    /// Model override for this run (`provider/model`).
    pub model_ref: Option<String>,
    pub phase: Phase,
    /// The per-run event seq (the last one used).
    pub seq: u64,
    pub accepted_at: u64,
    pub started_at: Option<u64>,
    pub deadline: Option<Timestamp>,
    /// The reply so far.
    pub text: String,
    pub usage: Option<ModelUsage>,
    pub model: Option<ResolvedModel>,
    pub item_id: String,
    pub response_model: Option<String>,
    pub response_id: Option<String>,
    /// The system prompt, once the workspace is ready.
    pub system_prompt: String,
    /// Tool calls of the model turn streaming now.
    pub calls: Vec<ToolCall>,
    /// The tool calls running, between two model turns.
    pub round: Option<ToolRound>,
    /// Model calls made so far.
    pub assistant_turns: u32,
    /// Token counts summed over the run's model calls (`usage` is the last
    /// call's).
    pub usage_total: Option<ModelUsage>,
    pub tools: ToolSummary,
    /// When the running tool call is given up.
    pub tool_deadline: Option<Timestamp>,
}

impl Run {
    /// The next per-run seq.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn via_chat(&self) -> bool {
        self.origin == Origin::Chat
    }

    /// An `agent` event payload with the next seq.
    pub fn agent_event(&mut self, stream: &str, data: Value, ts: u64, session_id: &str) -> Value {
        let seq = self.next_seq();
        json!({
            "runId": self.run_id,
            "stream": stream,
            "data": data,
            "sessionKey": self.session_key,
            "sessionId": session_id,
            "agentId": self.agent_id,
            "seq": seq,
            "ts": ts,
            "isHeartbeat": false,
        })
    }

    /// A `chat` event payload for the current seq.
    pub fn chat_event(&self, state: &str) -> Value {
        json!({
            "runId": self.run_id,
            "sessionKey": self.session_key,
            "agentId": self.agent_id,
            "seq": self.seq,
            "state": state,
        })
    }

    pub fn provider_label(&self) -> (Option<&str>, Option<&str>) {
        match &self.model {
            Some(m) => (Some(m.provider.as_str()), Some(m.model.as_str())),
            None => (None, None),
        }
    }

    /// The reference's `terminalReceipt`.
    pub fn terminal_receipt(&self, session_id: &str) -> Value {
        let (provider, model) = self.provider_label();
        json!({
            "runId": self.run_id,
            "sessionId": session_id,
            "turnId": self.run_id,
            "requested": {"provider": provider, "model": model},
            "effective": {
                "provider": provider,
                "model": model,
                "responseModel": self.response_model.as_deref().or(model),
            },
            "successfulToolNames": self.tools.succeeded,
            "rerouted": false,
            "terminalDisposition": "visible",
        })
    }

    /// The run's token counts, summed over its model calls.
    pub fn usage_json(&self) -> Value {
        Self::usage_of(self.usage_total.or(self.usage))
    }

    /// The last model call's token counts.
    pub fn last_call_usage_json(&self) -> Value {
        Self::usage_of(self.usage)
    }

    fn usage_of(usage: Option<ModelUsage>) -> Value {
        let u = usage.unwrap_or_default();
        json!({
            "input": u.input,
            "output": u.output,
            "cacheRead": u.cache_read,
            "cacheWrite": u.cache_write,
            "total": u.total,
            "cost": {"total": 0},
        })
    }

    /// The assistant message as the transcript and `chat` final hold it.
    pub fn assistant_message(&self, stop_reason: &str, timestamp: u64) -> Value {
        let content = json!([{"type": "text", "text": self.text}]);
        self.assistant_message_with(content, stop_reason, timestamp)
    }

    /// The assistant message of a model turn that asked for tools: its
    /// text (if any), then one `toolCall` block per call.
    pub fn tool_call_message(&self, timestamp: u64) -> Value {
        let mut content = Vec::with_capacity(self.calls.len() + 1);
        if !self.text.is_empty() {
            content.push(json!({"type": "text", "text": self.text}));
        }
        for call in &self.calls {
            content.push(json!({
                "type": "toolCall",
                "id": call.id,
                "name": call.name,
                "arguments": super::tools::plan::arguments(call),
            }));
        }
        self.assistant_message_with(Value::Array(content), "toolUse", timestamp)
    }

    fn assistant_message_with(&self, content: Value, stop_reason: &str, timestamp: u64) -> Value {
        let (provider, model) = self.provider_label();
        let mut message = json!({
            "role": "assistant",
            "content": content,
            "api": self.model.as_ref().map(|m| m.route.api.as_str()),
            "provider": provider,
            "model": model,
            "usage": self.transcript_usage(),
            "stopReason": stop_reason,
            "timestamp": timestamp,
            "__openclaw": {"runId": self.run_id},
        });
        if let Some(id) = &self.response_id {
            message["responseId"] = json!(id);
        }
        message
    }

    fn transcript_usage(&self) -> Value {
        let u = self.usage.unwrap_or_default();
        json!({
            "input": u.input,
            "output": u.output,
            "cacheRead": u.cache_read,
            "cacheWrite": u.cache_write,
            "totalTokens": u.total,
            "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0},
        })
    }
}
