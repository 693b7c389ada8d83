//! `node.invoke.request` → the command → `node.invoke.result`.
//!
//! Frames (reference 2026.9.6, captures `fakenode`): the gateway sends the
//! event `node.invoke.request {id, nodeId, command, paramsJSON, timeoutMs,
//! idempotencyKey}`; the node answers with the request `node.invoke.result
//! {id, nodeId, ok, payloadJSON | error{code, message}}`. `node.invoke.cancel
//! {invokeId}` stops a running invoke, which then sends nothing. Each
//! invoke runs in its own task, so several run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use smol::channel::{Receiver, Sender};

use super::approvals::ApprovalsError;
use super::{system_run, which, NodeLink};

/// The commands this node host can execute.
pub const SUPPORTED: &[&str] = &[
    "system.run",
    "system.which",
    "system.execApprovals.get",
    "system.execApprovals.set",
];

/// A parsed `node.invoke.request`.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeFrame {
    pub id: String,
    pub node_id: String,
    pub command: String,
    pub params_json: Option<String>,
    pub timeout_ms: Option<u64>,
}

impl InvokeFrame {
    pub fn parse(payload: &Value) -> Option<InvokeFrame> {
        let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(InvokeFrame {
            id: text("id").filter(|s| !s.is_empty())?,
            node_id: text("nodeId")?,
            command: text("command")?,
            params_json: text("paramsJSON"),
            timeout_ms: payload.get("timeoutMs").and_then(Value::as_u64),
        })
    }
}

/// What an invoke answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Ok(Value),
    Err { code: String, message: String },
}

impl Reply {
    pub fn json(v: Value) -> Reply {
        Reply::Ok(v)
    }
    pub fn error(code: &str, message: &str) -> Reply {
        Reply::Err {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
    pub fn invalid(message: &str) -> Reply {
        Reply::error("INVALID_REQUEST", message)
    }
    pub fn from_approvals_error(e: ApprovalsError) -> Reply {
        match e {
            ApprovalsError::Invalid(m) => Reply::invalid(&m),
            ApprovalsError::Unavailable(m) => Reply::error("UNAVAILABLE", &m),
        }
    }

    /// The `node.invoke.result` params for `frame`.
    pub fn result_params(&self, frame: &InvokeFrame) -> Value {
        match self {
            Reply::Ok(payload) => json!({
                "id": frame.id, "nodeId": frame.node_id, "ok": true,
                "payloadJSON": payload.to_string(),
            }),
            Reply::Err { code, message } => json!({
                "id": frame.id, "nodeId": frame.node_id, "ok": false,
                "error": {"code": code, "message": message},
            }),
        }
    }
}

/// `paramsJSON` decoded, with the reference's (thrown-error) wording.
fn decode_params(frame: &InvokeFrame) -> Result<Value, Reply> {
    let raw = frame
        .params_json
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reply::invalid("Error: INVALID_REQUEST: paramsJSON required"))?;
    serde_json::from_str(raw)
        .map_err(|_| Reply::invalid("Error: INVALID_REQUEST: paramsJSON malformed JSON"))
}

/// Run one invoke; `None` when it was cancelled.
pub async fn execute(link: &NodeLink, frame: &InvokeFrame, cancel: Receiver<()>) -> Option<Reply> {
    let cancelled = async move {
        let _ = cancel.recv().await;
    };
    if !link.commands.iter().any(|c| c == &frame.command) {
        return Some(Reply::error("UNAVAILABLE", "command not supported"));
    }
    match frame.command.as_str() {
        "system.which" => Some(match decode_params(frame) {
            Ok(params) => {
                let path = std::env::var("PATH").unwrap_or_else(|_| which::DEFAULT_PATH.to_owned());
                match which::answer(&params, &path) {
                    Ok(v) => Reply::json(v),
                    Err(m) => Reply::invalid(&format!("Error: {m}")),
                }
            }
            Err(reply) => reply,
        }),
        "system.run" => match decode_params(frame) {
            Ok(params) => system_run::handle(link, frame, &params, cancelled).await,
            Err(reply) => Some(reply),
        },
        "system.execApprovals.get" => {
            let params = match frame.params_json.as_deref() {
                None => None,
                Some(raw) => match serde_json::from_str::<Value>(raw) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        return Some(Reply::invalid(
                            "Error: INVALID_REQUEST: paramsJSON malformed JSON",
                        ))
                    }
                },
            };
            let approvals = link.approvals.clone();
            Some(
                match smol::unblock(move || approvals.get(params.as_ref())).await {
                    Ok(v) => Reply::json(v),
                    Err(e) => Reply::from_approvals_error(e),
                },
            )
        }
        "system.execApprovals.set" => Some(match decode_params(frame) {
            Ok(params) => {
                let approvals = link.approvals.clone();
                match smol::unblock(move || approvals.set(&params)).await {
                    Ok(v) => Reply::json(v),
                    Err(e) => Reply::from_approvals_error(e),
                }
            }
            Err(reply) => reply,
        }),
        _ => Some(Reply::error("UNAVAILABLE", "command not supported")),
    }
}

/// The invokes running on one connection, by invoke id, with the sender
/// that cancels each.
#[derive(Clone, Default)]
pub struct Running {
    inner: Arc<Mutex<HashMap<String, Sender<()>>>>,
}

impl Running {
    /// Register `id`; its cancel receiver.
    pub fn start(&self, id: &str) -> Receiver<()> {
        let (tx, rx) = smol::channel::bounded(1);
        self.lock().insert(id.to_owned(), tx);
        rx
    }

    pub fn finish(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Cancel one invoke; whether it was running.
    pub fn cancel(&self, id: &str) -> bool {
        match self.lock().remove(id) {
            Some(tx) => {
                let _ = tx.try_send(());
                true
            }
            None => false,
        }
    }

    /// Cancel all (the connection is gone: no answer could be delivered).
    pub fn cancel_all(&self) -> usize {
        let all: Vec<Sender<()>> = self.lock().drain().map(|(_, tx)| tx).collect();
        for tx in &all {
            let _ = tx.try_send(());
        }
        all.len()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sender<()>>> {
        // A panicked holder cannot leave the map half-updated: use it anyway.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_results_have_the_reference_shape() {
        let frame = InvokeFrame::parse(
            &json!({"id": "i1", "nodeId": "n1", "command": "system.which",
            "paramsJSON": "{\"bins\":[\"sh\"]}", "timeoutMs": 30000, "idempotencyKey": "k"}),
        )
        .unwrap();
        assert_eq!(frame.timeout_ms, Some(30_000));
        assert_eq!(
            Reply::json(json!({"bins": {}})).result_params(&frame),
            json!({"id": "i1", "nodeId": "n1", "ok": true, "payloadJSON": "{\"bins\":{}}"})
        );
        assert_eq!(
            Reply::error("SYSTEM_RUN_DENIED", "no").result_params(&frame),
            json!({"id": "i1", "nodeId": "n1", "ok": false, "error": {"code": "SYSTEM_RUN_DENIED", "message": "no"}})
        );
        assert_eq!(
            InvokeFrame::parse(&json!({"nodeId": "n", "command": "x"})),
            None
        );
        let no_params = InvokeFrame::parse(
            &json!({"id": "i", "nodeId": "n", "command": "x", "paramsJSON": null}),
        )
        .unwrap();
        assert_eq!(
            decode_params(&no_params).err(),
            Some(Reply::invalid(
                "Error: INVALID_REQUEST: paramsJSON required"
            ))
        );
    }

    #[test]
    fn cancels_reach_the_running_invoke_once() {
        let running = Running::default();
        let rx = running.start("a");
        let _other = running.start("b");
        assert!(running.cancel("a"));
        assert!(!running.cancel("a"));
        assert!(rx.try_recv().is_ok());
        assert_eq!(running.cancel_all(), 1);
        assert_eq!(running.len(), 0);
    }
}
