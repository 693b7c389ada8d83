//! Durable sessions: what the runtime must write, batched.
//!
//! Every change to a session (a message appended, a row updated, a reset,
//! a delete) is recorded here and written by the runtime as one
//! `Effect::WriteSessions` batch. Only one batch is with the runtime at a
//! time; changes made meanwhile are merged and go in the next batch (a
//! group commit), so a burst of runs costs a few writes, not one per event,
//! and the number of effects stays bounded whatever the load. A failed
//! batch is merged back in front of newer changes and retried
//! ([`RETRY_AFTER`] later), so nothing accepted is dropped.
//!
//! The layout is the reference's v3 one: per agent, `sessions.json` (the
//! rows, keyed by session key) and one `<sessionId>.jsonl` transcript per
//! session whose lines are exactly the reference's transcript entries.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::sessions::{RunStatus, Session};
use crate::time::{iso_utc, Timestamp};

/// How long after a failed write the batch is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What happens to a session's transcript file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptChange {
    /// Leave it.
    Keep,
    /// Append these lines (JSON, no newline).
    Append(Vec<String>),
    /// Write it anew with these lines (a reset).
    Replace(Vec<String>),
    /// Remove it.
    Delete,
}

impl TranscriptChange {
    /// `self` followed by `later`.
    fn then(self, later: TranscriptChange) -> TranscriptChange {
        use TranscriptChange::*;
        match (self, later) {
            (x, Keep) => x,
            (Keep, y) => y,
            (Append(mut a), Append(b)) => {
                a.extend(b);
                Append(a)
            }
            (Replace(mut a), Append(b)) => {
                a.extend(b);
                Replace(a)
            }
            (Delete, Append(b)) => Replace(b),
            (_, y @ (Replace(_) | Delete)) => y,
        }
    }
}

/// One session's pending change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionChange {
    pub agent_id: String,
    pub session_key: String,
    pub session_id: String,
    /// The row to store (`None`: remove the row).
    pub entry: Option<Value>,
    pub transcript: TranscriptChange,
}

impl SessionChange {
    fn then(self, later: SessionChange) -> SessionChange {
        SessionChange {
            transcript: self.transcript.then(later.transcript),
            ..later
        }
    }
}

/// A session as read back from the store at start-up.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    pub agent_id: String,
    pub session_key: String,
    /// Its row.
    pub entry: Value,
    /// Its transcript lines, parsed, in file order.
    pub lines: Vec<Value>,
}

/// Pending changes and the batch in flight.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pending: BTreeMap<String, SessionChange>,
    /// The token and contents of the batch with the runtime.
    in_flight: Option<(u64, Vec<SessionChange>)>,
    retry_at: Option<Timestamp>,
}

impl Journal {
    pub(crate) fn record(&mut self, change: SessionChange) {
        let key = change.session_key.clone();
        let merged = match self.pending.remove(&key) {
            Some(earlier) => earlier.then(change),
            None => change,
        };
        self.pending.insert(key, merged);
    }

    /// The next batch to hand out, if none is in flight and no retry waits.
    pub(crate) fn take_batch(
        &mut self,
        token: impl FnOnce() -> u64,
    ) -> Option<(u64, Vec<SessionChange>)> {
        if self.in_flight.is_some() || self.retry_at.is_some() || self.pending.is_empty() {
            return None;
        }
        let batch: Vec<SessionChange> = std::mem::take(&mut self.pending).into_values().collect();
        let token = token();
        self.in_flight = Some((token, batch.clone()));
        Some((token, batch))
    }

    /// The runtime's answer for batch `token`. Returns whether it was ours.
    pub(crate) fn written(&mut self, token: u64, ok: bool, now: Timestamp) -> bool {
        match self.in_flight.take() {
            Some((t, batch)) if t == token => {
                if !ok {
                    // Put it back in front of what changed since.
                    for change in batch.into_iter().rev() {
                        let key = change.session_key.clone();
                        let merged = match self.pending.remove(&key) {
                            Some(newer) => change.then(newer),
                            None => change,
                        };
                        self.pending.insert(key, merged);
                    }
                    self.retry_at = Some(now + RETRY_AFTER);
                }
                true
            }
            other => {
                self.in_flight = other;
                false
            }
        }
    }

    pub(crate) fn next_retry(&self) -> Option<Timestamp> {
        self.retry_at
    }

    /// The retry time has come: the next batch may go.
    pub(crate) fn retry_due(&mut self, now: Timestamp) {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.pending.is_empty()
    }
}

/// The first line of a transcript.
pub fn header_line(session_id: &str, unix_ms: u64, cwd: Option<&str>) -> String {
    json!({
        "type": "session",
        "version": 4,
        "id": session_id,
        "timestamp": iso_utc(unix_ms),
        "cwd": cwd,
    })
    .to_string()
}

/// A message line of a transcript.
pub fn message_line(id: &str, parent: Option<&str>, unix_ms: u64, message: &Value) -> String {
    json!({
        "type": "message",
        "id": id,
        "parentId": parent,
        "timestamp": iso_utc(unix_ms),
        "message": message,
    })
    .to_string()
}

/// The row stored for `session` (the reference's `sessions.json` entry).
pub fn entry(session: &Session) -> Value {
    let mut e = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            e.insert(k.to_owned(), v);
        }
    };
    put("sessionId", json!(session.session_id));
    put("createdAt", json!(session.created_at));
    put("updatedAt", json!(session.updated_at));
    put("sessionStartedAt", json!(session.session_started_at));
    put("lastInteractionAt", json!(session.last_interaction_at));
    put("lifecycleRevision", json!(session.lifecycle_revision));
    put("chatType", json!("direct"));
    put("inputTokens", json!(session.input_tokens));
    put("outputTokens", json!(session.output_tokens));
    put("totalTokens", json!(session.total_tokens));
    put("status", json!(session.status.map(RunStatus::as_str)));
    put("startedAt", json!(session.started_at));
    put("endedAt", json!(session.ended_at));
    put("lastRunId", json!(session.last_run_id));
    put("abortedLastRun", json!(session.aborted_last_run));
    put("label", json!(session.label));
    put("modelOverride", json!(session.model_override));
    put("thinkingLevel", json!(session.thinking_level));
    put("pinned", json!(session.pinned));
    put("archived", json!(session.archived));
    put("unread", json!(session.unread));
    if !session.cli_session_ids.is_empty() {
        put("cliSessionIds", json!(session.cli_session_ids));
    }
    Value::Object(e)
}

/// A session rebuilt from its stored row and transcript. Lines that are
/// not messages are skipped; a missing or odd field takes its default.
pub fn restore(stored: &StoredSession, now_ms: u64) -> Session {
    let e = &stored.entry;
    let u = |k: &str| e.get(k).and_then(Value::as_u64);
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    let b = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);
    let session_id = s("sessionId").unwrap_or_default();
    let mut session = Session::new(
        stored.session_key.clone(),
        session_id,
        u("createdAt").unwrap_or(now_ms),
    );
    for line in &stored.lines {
        if line.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        let (Some(id), Some(message)) =
            (line.get("id").and_then(Value::as_str), line.get("message"))
        else {
            continue;
        };
        session.append(message.clone(), id, now_ms);
        session.last_entry_id = Some(id.to_owned());
    }
    session.updated_at = u("updatedAt").unwrap_or(now_ms);
    session.session_started_at = u("sessionStartedAt").unwrap_or(session.created_at);
    session.last_interaction_at = u("lastInteractionAt");
    session.lifecycle_revision = u("lifecycleRevision").unwrap_or(1);
    session.input_tokens = u("inputTokens").unwrap_or(0);
    session.output_tokens = u("outputTokens").unwrap_or(0);
    session.total_tokens = u("totalTokens").unwrap_or(0);
    session.status = match s("status").as_deref() {
        Some("done") => Some(RunStatus::Done),
        Some("failed") => Some(RunStatus::Failed),
        Some("timeout") => Some(RunStatus::Timeout),
        // A run that was going when the gateway stopped did not finish.
        Some("killed" | "running") => Some(RunStatus::Killed),
        _ => None,
    };
    session.started_at = u("startedAt");
    session.ended_at = u("endedAt");
    session.last_run_id = s("lastRunId");
    session.aborted_last_run = b("abortedLastRun");
    session.label = s("label");
    session.model_override = s("modelOverride");
    session.thinking_level = s("thinkingLevel");
    session.pinned = b("pinned");
    session.archived = b("archived");
    session.unread = b("unread");
    if let Some(ids) = e.get("cliSessionIds").and_then(Value::as_object) {
        for (backend, id) in ids {
            if let Some(id) = id.as_str().filter(|id| !id.trim().is_empty()) {
                session
                    .cli_session_ids
                    .insert(backend.clone(), id.to_owned());
            }
        }
    }
    session.header_written = true;
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use TranscriptChange::*;

    fn change(key: &str, t: TranscriptChange) -> SessionChange {
        SessionChange {
            agent_id: "main".into(),
            session_key: key.into(),
            session_id: "sid".into(),
            entry: Some(json!({"n": 1})),
            transcript: t,
        }
    }

    #[test]
    fn changes_merge_in_order() {
        assert_eq!(
            Append(vec!["a".into()]).then(Append(vec!["b".into()])),
            Append(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Replace(vec!["h".into()]).then(Append(vec!["m".into()])),
            Replace(vec!["h".into(), "m".into()])
        );
        assert_eq!(Append(vec!["a".into()]).then(Delete), Delete);
        assert_eq!(
            Delete.then(Append(vec!["h".into()])),
            Replace(vec!["h".into()])
        );
        assert_eq!(
            Append(vec!["a".into()]).then(Keep),
            Append(vec!["a".into()])
        );
    }

    #[test]
    fn one_batch_at_a_time_and_a_failed_one_comes_back_first() {
        let mut j = Journal::default();
        let t0 = Timestamp::ZERO;
        j.record(change("k", Append(vec!["1".into()])));
        let (token, batch) = j.take_batch(|| 7).unwrap();
        assert_eq!(batch.len(), 1);
        j.record(change("k", Append(vec!["2".into()])));
        assert!(j.take_batch(|| 8).is_none(), "one in flight");
        assert!(j.written(token, false, t0));
        assert!(j.take_batch(|| 8).is_none(), "waits for the retry");
        j.retry_due(t0 + RETRY_AFTER);
        let (_, batch) = j.take_batch(|| 8).unwrap();
        assert_eq!(batch[0].transcript, Append(vec!["1".into(), "2".into()]));
        assert!(!j.written(99, true, t0), "not our token");
    }

    #[test]
    fn a_session_survives_its_row_and_transcript() {
        let mut s = Session::new("agent:main:main".into(), "sid".into(), 1);
        s.label = Some("L".into());
        s.status = Some(RunStatus::Running);
        s.output_tokens = 5;
        let stored = StoredSession {
            agent_id: "main".into(),
            session_key: "agent:main:main".into(),
            entry: entry(&s),
            lines: vec![
                serde_json::from_str(&header_line("sid", 1, None)).unwrap(),
                serde_json::from_str(&message_line(
                    "m1",
                    None,
                    2,
                    &json!({"role":"user","content":"hi"}),
                ))
                .unwrap(),
            ],
        };
        let back = restore(&stored, 9);
        assert_eq!(back.session_id, "sid");
        assert_eq!(back.label.as_deref(), Some("L"));
        assert_eq!(back.status, Some(RunStatus::Killed), "an interrupted run");
        assert_eq!(back.output_tokens, 5);
        assert_eq!(back.messages.len(), 1);
        assert_eq!(back.messages[0]["__openclaw"]["id"], "m1");
        assert_eq!(back.last_entry_id.as_deref(), Some("m1"));
    }
}
