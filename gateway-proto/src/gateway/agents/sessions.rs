//! Sessions: one conversation each, keyed by canonical session key, with
//! the row `sessions.list` shows and the messages of its transcript.
//!
//! Bounded: at most [`MAX_SESSIONS`] sessions, and each keeps at most
//! [`MAX_MESSAGES`] messages in memory (the oldest go first; the model sees
//! the most recent ones).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::keys;

/// Sessions kept at most; creating one more fails with a clear error.
pub const MAX_SESSIONS: usize = 10_000;
/// Messages kept in memory per session.
pub const MAX_MESSAGES: usize = 1_000;
/// Characters of the last message shown as `lastMessagePreview`.
const PREVIEW_CHARS: usize = 120;

/// The terminal state of a session's last run, as the reference names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Done,
    Failed,
    Killed,
    Timeout,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
            RunStatus::Timeout => "timeout",
        }
    }
}

/// One session.
#[derive(Clone, Debug)]
pub struct Session {
    pub key: String,
    pub agent_id: String,
    pub session_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    pub session_started_at: u64,
    pub last_interaction_at: Option<u64>,
    pub lifecycle_revision: u64,
    pub status: Option<RunStatus>,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub last_run_id: Option<String>,
    pub aborted_last_run: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub label: Option<String>,
    /// A per-session model override (`provider/model`).
    pub model_override: Option<String>,
    pub thinking_level: Option<String>,
    pub pinned: bool,
    pub archived: bool,
    pub unread: bool,
    /// Messages as the transcript holds them, oldest first, each with its
    /// `__openclaw {id, seq}`.
    pub messages: Vec<Value>,
    /// Messages ever appended (the next message's seq is this plus one).
    pub message_count: u64,
    /// The transcript entry the next one hangs under (`parentId`).
    pub last_entry_id: Option<String>,
    /// The transcript's header line is stored.
    pub header_written: bool,
    /// CLI backend id → the CLI's own session id, resumed on the next turn
    /// (the reference's `cliSessionIds`).
    pub cli_session_ids: std::collections::BTreeMap<String, String>,
}

impl Session {
    pub fn new(key: String, session_id: String, now_ms: u64) -> Self {
        Session {
            agent_id: keys::agent_of(&key).to_owned(),
            key,
            session_id,
            created_at: now_ms,
            updated_at: now_ms,
            session_started_at: now_ms,
            last_interaction_at: None,
            lifecycle_revision: 1,
            status: None,
            started_at: None,
            ended_at: None,
            last_run_id: None,
            aborted_last_run: false,
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
            label: None,
            model_override: None,
            thinking_level: None,
            pinned: false,
            archived: false,
            unread: false,
            messages: Vec::new(),
            message_count: 0,
            last_entry_id: None,
            header_written: false,
            cli_session_ids: Default::default(),
        }
    }

    /// Append `message` (a transcript message object) with its id; returns
    /// its seq.
    pub fn append(&mut self, mut message: Value, id: &str, now_ms: u64) -> u64 {
        self.message_count += 1;
        let seq = self.message_count;
        if let Some(obj) = message.as_object_mut() {
            let meta = obj
                .entry("__openclaw")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("id".into(), json!(id));
                meta.insert("seq".into(), json!(seq));
            }
        }
        self.messages.push(message);
        if self.messages.len() > MAX_MESSAGES {
            let extra = self.messages.len() - MAX_MESSAGES;
            self.messages.drain(..extra);
        }
        self.updated_at = now_ms;
        seq
    }

    /// Start over (`sessions.reset`): same session id, a new revision, no
    /// messages and no token counts, as the reference does it.
    pub fn reset(&mut self, now_ms: u64) {
        self.messages.clear();
        self.message_count = 0;
        self.last_entry_id = None;
        self.lifecycle_revision += 1;
        self.session_started_at = now_ms;
        self.updated_at = now_ms;
        self.input_tokens = 0;
        self.output_tokens = 0;
        self.total_tokens = 0;
        self.status = None;
        self.aborted_last_run = false;
    }

    fn preview(&self) -> Option<String> {
        let last = self.messages.last()?;
        let text = message_text(last);
        Some(text.chars().take(PREVIEW_CHARS).collect())
    }

    /// The row `sessions.list` and the session events show.
    pub fn row(&self, model: &ModelLabel, active_runs: &[String], now_ms: u64) -> Value {
        let mut row = json!({
            "key": self.key,
            "kind": "direct",
            "classification": if keys::is_main(&self.key) { "main" } else { "direct" },
            "agentId": self.agent_id,
            "isMain": keys::is_main(&self.key),
            "isBackground": false,
            "chatType": "direct",
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
            "pinned": self.pinned,
            "unread": self.unread,
            "sessionId": self.session_id,
            "sessionStartedAt": self.session_started_at,
            "lifecycleRevision": self.lifecycle_revision,
            "abortedLastRun": self.aborted_last_run,
            "thinkingLevels": [{"id": "off", "label": "off"}],
            "thinkingOptions": ["off"],
            "thinkingDefault": "off",
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.total_tokens,
            "totalTokensFresh": true,
            "effectiveQueueMode": "steer",
            "modelProvider": model.provider,
            "model": model.model,
            "contextTokens": model.context_tokens,
            "hasActiveRun": !active_runs.is_empty(),
            "activeRunIds": active_runs,
            "snapshotAt": now_ms,
        });
        let obj = row.as_object_mut().expect("row is an object");
        let mut put = |k: &str, v: Value| {
            obj.insert(k.to_owned(), v);
        };
        if let Some(at) = self.last_interaction_at {
            put("lastInteractionAt", json!(at));
            put("lastActivityAt", json!(at));
        }
        if let Some(status) = self.status {
            put("status", json!(status.as_str()));
        }
        if let Some(at) = self.started_at {
            put("startedAt", json!(at));
        }
        if let (Some(start), Some(end)) = (self.started_at, self.ended_at) {
            put("endedAt", json!(end));
            put("runtimeMs", json!(end.saturating_sub(start)));
        }
        if let Some(run) = &self.last_run_id {
            put("lastRunId", json!(run));
        }
        if let Some(label) = &self.label {
            put("label", json!(label));
        }
        if let Some(level) = &self.thinking_level {
            put("thinkingLevel", json!(level));
        }
        if let Some(preview) = self.preview() {
            put("lastMessagePreview", json!(preview));
        }
        row
    }
}

/// The model a session runs with, as rows and defaults show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelLabel {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub context_tokens: Option<u64>,
}

/// The plain text of a transcript message (a string content, or its text
/// parts joined).
pub fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Every session, by canonical key.
#[derive(Debug, Default)]
pub struct Sessions {
    by_key: BTreeMap<String, Session>,
}

/// Why a session could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManySessions;

impl Sessions {
    pub fn get(&self, key: &str) -> Option<&Session> {
        self.by_key.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Session> {
        self.by_key.get_mut(key)
    }

    /// The session `key`, created with `new_id` when it does not exist.
    pub fn get_or_create(
        &mut self,
        key: &str,
        new_id: impl FnOnce() -> String,
        now_ms: u64,
    ) -> Result<&mut Session, TooManySessions> {
        if !self.by_key.contains_key(key) {
            if self.by_key.len() >= MAX_SESSIONS {
                return Err(TooManySessions);
            }
            let session = Session::new(key.to_owned(), new_id(), now_ms);
            self.by_key.insert(key.to_owned(), session);
        }
        Ok(self.by_key.get_mut(key).expect("inserted above"))
    }

    /// Put back a session read from the store.
    pub fn insert(&mut self, session: Session) {
        self.by_key.insert(session.key.clone(), session);
    }

    pub fn remove(&mut self, key: &str) -> Option<Session> {
        self.by_key.remove(key)
    }

    /// Sessions, most recently updated first.
    pub fn by_recency(&self) -> Vec<&Session> {
        let mut all: Vec<&Session> = self.by_key.values().collect();
        all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
        all
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_numbers_messages_and_keeps_a_bounded_tail() {
        let mut s = Session::new("agent:main:main".into(), "sid".into(), 1);
        for i in 0..MAX_MESSAGES + 3 {
            let seq = s.append(json!({"role":"user","content":format!("m{i}")}), "id", 2);
            assert_eq!(seq, i as u64 + 1);
        }
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.messages[0]["content"], "m3");
        assert_eq!(s.messages[0]["__openclaw"]["seq"], 4);
        assert_eq!(s.updated_at, 2);
    }

    #[test]
    fn reset_keeps_the_session_id_and_bumps_the_revision() {
        let mut s = Session::new("agent:main:main".into(), "sid".into(), 1);
        s.append(json!({"role":"user","content":"hi"}), "a", 2);
        s.output_tokens = 5;
        s.reset(3);
        assert_eq!(s.session_id, "sid");
        assert_eq!(s.lifecycle_revision, 2);
        assert_eq!(s.session_started_at, 3);
        assert!(s.messages.is_empty());
        assert_eq!(s.output_tokens, 0);
    }

    #[test]
    fn rows_show_the_preview_and_run_state() {
        let mut s = Session::new("agent:main:main".into(), "sid".into(), 1);
        s.append(
            json!({"role":"assistant","content":[{"type":"text","text":"Hello"}]}),
            "a",
            2,
        );
        s.status = Some(RunStatus::Done);
        s.started_at = Some(10);
        s.ended_at = Some(25);
        let label = ModelLabel {
            provider: Some("fake".into()),
            model: Some("echo".into()),
            context_tokens: Some(32000),
        };
        let row = s.row(&label, &[], 30);
        assert_eq!(row["lastMessagePreview"], "Hello");
        assert_eq!(row["status"], "done");
        assert_eq!(row["runtimeMs"], 15);
        assert_eq!(row["isMain"], true);
        assert_eq!(row["classification"], "main");
        assert_eq!(row["modelProvider"], "fake");
    }
}
