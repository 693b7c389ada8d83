//! Agents: model turns, runs, sessions and their transcripts.
//!
//! A run is one message to an agent in one session. What this component
//! promises:
//!
//! - **One run at a time per session.** Later messages wait in the
//!   session's queue (bounded by [`MAX_QUEUED_PER_SESSION`]) and run in
//!   order; `interrupt` aborts the running turn first, `collect` folds the
//!   waiting messages into one run.
//! - **Every accepted run ends exactly once**: completed, failed (a
//!   provider error or a backend that died), aborted or timed out; its
//!   `agent` final (if an `agent` request waits), `agent.wait` waiters, the
//!   `chat` final/error/aborted event and the idempotency entry all get
//!   that one ending.
//! - **Idempotent**: see [`dedupe`]. A key never starts a second run.
//! - **Bounded**: at most [`MAX_RUNS`] runs are queued or going, at most
//!   [`MAX_WAITS`] `agent.wait` waiters, and [`sessions::MAX_SESSIONS`]
//!   sessions; past a bound a request gets a clear `UNAVAILABLE`.
//! - **A slow reader loses deltas, never an ending**: `chat` deltas and
//!   status events may be skipped for a slow client; finals are not.

pub mod catalog;
pub mod cli_backend;
mod cli_session;
pub mod context;
pub mod dedupe;
pub(crate) mod http_runs;
pub(crate) mod hub;
pub mod journal;
pub mod keys;
pub mod model;
pub mod runs;
pub mod sessions;
pub mod tool_loop;
pub mod tools;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};

use crate::time::Timestamp;
use crate::ConnId;

use dedupe::Dedupe;
use runs::Run;
use sessions::Sessions;

/// Runs queued or going, over all sessions.
pub const MAX_RUNS: usize = 1024;
/// Runs waiting behind the running one, per session.
pub const MAX_QUEUED_PER_SESSION: usize = 64;
/// `agent.wait` requests waiting at once.
pub const MAX_WAITS: usize = 4096;
/// Ended runs whose outcome `agent.wait` can still report.
const MAX_FINISHED: usize = 1000;
/// A run's time budget when the request sets none
/// (`agents.defaults.timeoutSeconds`, 48 h in the reference).
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(48 * 3600);
/// `agent.wait`'s default `timeoutMs`.
pub const DEFAULT_WAIT_MS: u64 = 30_000;
/// Messages of the session's history sent to the model at most.
pub const MAX_CONTEXT_MESSAGES: usize = 200;
/// Characters of history sent to the model at most (the newest first).
pub const MAX_CONTEXT_CHARS: usize = 400_000;
/// The system prompt of a turn.
pub const SYSTEM_PROMPT: &str = "You are a personal assistant running inside OpenClaw.";

/// An `agent.wait` request.
#[derive(Clone, Debug)]
struct Wait {
    conn: ConnId,
    request_id: String,
    run_id: String,
    deadline: Timestamp,
}

/// The agents component.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    pub(crate) sessions: Sessions,
    /// Queued and going runs, by run id.
    runs: BTreeMap<String, Run>,
    /// The running run of each session.
    active: BTreeMap<String, String>,
    /// Runs waiting per session, in order.
    queues: BTreeMap<String, VecDeque<String>>,
    /// Model call token → run id.
    by_token: BTreeMap<u64, String>,
    /// Workspace, tool action, node invoke and approval tokens → run id.
    tool_tokens: BTreeMap<u64, String>,
    /// Exec approvals a tool call waits for → run id.
    approvals: BTreeMap<String, String>,
    pub(crate) dedupe: Dedupe,
    waits: Vec<Wait>,
    /// The `agent.wait` answer of recently ended runs.
    finished: BTreeMap<String, Value>,
    finished_order: VecDeque<String>,
    /// Connections that called `sessions.subscribe`.
    pub(crate) subscribers: BTreeSet<ConnId>,
    /// Connections that declared the `tool-events` cap: the runs they start
    /// send them their `tool` stream as `agent` events.
    pub(crate) tool_event_clients: BTreeSet<ConnId>,
    /// Session changes on their way to the store.
    pub(crate) journal: journal::Journal,
    /// HTTP completion stream → its run, while the run is queued or going.
    pub(crate) http_streams: BTreeMap<u64, String>,
}

impl Agents {
    /// Run ids queued or going in `session_key`, the running one first.
    pub(crate) fn runs_of(&self, session_key: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.active.get(session_key).cloned().into_iter().collect();
        if let Some(queue) = self.queues.get(session_key) {
            ids.extend(queue.iter().cloned());
        }
        ids
    }

    /// Whether `run_id` is queued or going.
    pub(crate) fn has_run(&self, run_id: &str) -> bool {
        self.runs.contains_key(run_id)
    }

    /// The session of a queued or going run.
    pub(crate) fn session_of_run(&self, run_id: &str) -> Option<String> {
        self.runs.get(run_id).map(|r| r.session_key.clone())
    }

    pub(crate) fn active_run(&self, session_key: &str) -> Option<&str> {
        self.active.get(session_key).map(String::as_str)
    }

    /// The earliest run deadline, `agent.wait` deadline or store retry.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        let runs = self
            .runs
            .values()
            .flat_map(|r| [r.deadline, r.tool_deadline])
            .flatten();
        let waits = self.waits.iter().map(|w| w.deadline);
        runs.chain(waits).chain(self.journal.next_retry()).min()
    }

    fn remember_finished(&mut self, run_id: &str, answer: Value) {
        if self.finished.insert(run_id.to_owned(), answer).is_none() {
            self.finished_order.push_back(run_id.to_owned());
        }
        while self.finished_order.len() > MAX_FINISHED {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    /// Forget a connection's waiters and subscription (its runs go on).
    pub(crate) fn conn_closed(&mut self, conn: ConnId) {
        self.subscribers.remove(&conn);
        self.tool_event_clients.remove(&conn);
        self.waits.retain(|w| w.conn != conn);
    }
}

/// The `agent.wait` answer for a run that ended.
fn wait_answer(run: &Run, ending: &runs::Ending, session_id: &str, ended_at: u64) -> Value {
    use runs::Ending;
    let (status, stop_reason) = match ending {
        Ending::Completed { stop_reason } => ("ok", stop_reason.as_str()),
        Ending::Failed { .. } => ("error", "error"),
        Ending::Aborted { stop_reason } => ("aborted", stop_reason.as_str()),
        Ending::TimedOut => ("timeout", "timeout"),
    };
    let mut answer = json!({
        "runId": run.run_id,
        "status": status,
        "endedAt": ended_at,
        "stopReason": stop_reason,
        "livenessState": "working",
        "terminalReceipt": run.terminal_receipt(session_id),
    });
    match ending {
        Ending::Completed { .. } => {
            answer["terminalReply"] = json!({"disposition": "visible", "text": run.text});
        }
        Ending::Failed { message } => answer["error"] = json!(message),
        _ => {}
    }
    answer
}

impl crate::gateway::Gateway {
    /// Load the sessions the store holds (at start-up, before the first
    /// connection). A session whose run was going when the gateway stopped
    /// shows as `killed`.
    pub fn restore_sessions(&mut self, stored: Vec<journal::StoredSession>, unix_ms: u64) {
        for s in &stored {
            let session = journal::restore(s, unix_ms);
            if self.agents.sessions.len() < sessions::MAX_SESSIONS {
                self.agents.sessions.insert(session);
            }
        }
    }

    /// Whether every session change has been stored (a clean stop waits
    /// for this, within a bound).
    pub fn sessions_saved(&self) -> bool {
        self.agents.journal.is_idle()
    }
}
