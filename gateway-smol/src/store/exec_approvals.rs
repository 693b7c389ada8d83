//! A node host's local exec approvals: the reference keeps the whole
//! approvals document as one JSON text in `exec_approvals_config` (row
//! `config_key = 'current'`) of the shared state database, next to a few
//! columns projected from it for queries. We keep the same row, so the
//! reference node host and ours read each other's approvals.
//!
//! The store only moves text: what the document means (its shape, defaults,
//! hash) is the caller's business. Writes are compare-and-swap on the text
//! read before, so two writers never lose each other's change silently.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::OptionalExtension;
use serde_json::Value;

use super::schema::{self, Database};
use super::StoreError;

/// The one row the reference reads and writes.
const CONFIG_KEY: &str = "current";

/// The reference's DDL for the table (2026.9.6), created when missing.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS exec_approvals_config (
  config_key TEXT NOT NULL PRIMARY KEY,
  raw_json TEXT NOT NULL,
  socket_path TEXT,
  has_socket_token INTEGER NOT NULL,
  default_security TEXT,
  default_ask TEXT,
  default_ask_fallback TEXT,
  auto_allow_skills INTEGER,
  agent_count INTEGER NOT NULL,
  allowlist_count INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;";

/// `exec_approvals_config` of one state dir.
pub struct ExecApprovalsStore {
    db: Database,
}

impl ExecApprovalsStore {
    /// Open (or create) `<stateDir>/state/openclaw.sqlite` and the table.
    pub fn open(state_dir: &std::path::Path) -> Result<ExecApprovalsStore, StoreError> {
        let db = schema::open(state_dir)?;
        db.conn.execute_batch(CREATE).map_err(|e| db.sql_error(e))?;
        Ok(ExecApprovalsStore { db })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.db.path
    }

    /// The stored document text, `None` when there is no row.
    pub fn load(&self) -> Result<Option<String>, StoreError> {
        let db = &self.db;
        db.conn
            .query_row(
                "SELECT raw_json FROM exec_approvals_config WHERE config_key = ?1",
                [CONFIG_KEY],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| db.sql_error(e))
    }

    /// Replace the document with `raw` if the stored text is still
    /// `expected` (`None`: no row). Returns whether it was written.
    pub fn replace(&mut self, expected: Option<&str>, raw: &str) -> Result<bool, StoreError> {
        let projection = Projection::of(raw);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.db.write(|tx, sql_error| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT raw_json FROM exec_approvals_config WHERE config_key = ?1",
                    [CONFIG_KEY],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO exec_approvals_config (config_key, raw_json, socket_path, has_socket_token,
                   default_security, default_ask, default_ask_fallback, auto_allow_skills,
                   agent_count, allowlist_count, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (config_key) DO UPDATE SET
                   raw_json = excluded.raw_json, socket_path = excluded.socket_path,
                   has_socket_token = excluded.has_socket_token,
                   default_security = excluded.default_security, default_ask = excluded.default_ask,
                   default_ask_fallback = excluded.default_ask_fallback,
                   auto_allow_skills = excluded.auto_allow_skills, agent_count = excluded.agent_count,
                   allowlist_count = excluded.allowlist_count, updated_at_ms = excluded.updated_at_ms",
                rusqlite::params![
                    CONFIG_KEY,
                    raw,
                    projection.socket_path,
                    projection.has_socket_token,
                    projection.default_security,
                    projection.default_ask,
                    projection.default_ask_fallback,
                    projection.auto_allow_skills,
                    projection.agent_count,
                    projection.allowlist_count,
                    now
                ],
            )
            .map_err(sql_error)?;
            Ok(true)
        })
    }
}

/// The columns the reference projects from the document.
struct Projection {
    socket_path: Option<String>,
    has_socket_token: i64,
    default_security: Option<String>,
    default_ask: Option<String>,
    default_ask_fallback: Option<String>,
    auto_allow_skills: Option<i64>,
    agent_count: i64,
    allowlist_count: i64,
}

impl Projection {
    fn of(raw: &str) -> Projection {
        let doc: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        let text = |ptr: &str| doc.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
        let agents = doc
            .get("agents")
            .and_then(Value::as_object)
            .map(|a| a.values().collect::<Vec<_>>())
            .unwrap_or_default();
        let allowlist_count = agents
            .iter()
            .filter_map(|a| a.get("allowlist").and_then(Value::as_array))
            .map(Vec::len)
            .sum::<usize>();
        Projection {
            socket_path: text("/socket/path"),
            has_socket_token: i64::from(text("/socket/token").is_some_and(|t| !t.is_empty())),
            default_security: text("/defaults/security"),
            default_ask: text("/defaults/ask"),
            default_ask_fallback: text("/defaults/askFallback"),
            auto_allow_skills: doc
                .pointer("/defaults/autoAllowSkills")
                .and_then(Value::as_bool)
                .map(i64::from),
            agent_count: i64::try_from(agents.len()).unwrap_or(i64::MAX),
            allowlist_count: i64::try_from(allowlist_count).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_swapped_only_from_the_text_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ExecApprovalsStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let first = r#"{"version":1,"defaults":{"security":"allowlist"},"agents":{"*":{"allowlist":[{"pattern":"/bin/ls"}]}}}"#;
        assert!(store.replace(None, first).unwrap());
        assert_eq!(store.load().unwrap().as_deref(), Some(first));
        // A writer that read nothing (or something older) loses.
        assert!(!store.replace(None, "{}").unwrap());
        assert!(store.replace(Some(first), r#"{"version":1}"#).unwrap());

        let conn = rusqlite::Connection::open(store.path()).unwrap();
        let (security, count): (Option<String>, i64) = conn
            .query_row(
                "SELECT default_security, allowlist_count FROM exec_approvals_config",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((security, count), (None, 0));
    }
}
