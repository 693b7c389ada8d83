//! The shared state database `<stateDir>/state/openclaw.sqlite`: where it
//! is, how it is opened, and the tables we own in it.
//!
//! The file belongs to the reference as much as to us. Our tables have the
//! reference's exact names, columns, types and keys; everything else in the
//! file (its ~100 other tables, `user_version`, `schema_meta`) is never
//! touched. A file we create holds only our tables with `user_version` 0,
//! which the reference later migrates to its full schema, keeping our rows.

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// The newest schema version we know (the reference 2026.9.6 writes 18).
pub const KNOWN_SCHEMA_VERSION: i64 = 18;

/// How long a statement waits for another writer (the reference CLI, the
/// reference gateway) before giving up: the reference's own value.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// `<stateDir>/state/openclaw.sqlite`.
pub fn database_path(state_dir: &Path) -> PathBuf {
    state_dir.join("state").join("openclaw.sqlite")
}

/// One of our tables: its DDL (the reference's columns, types, keys and
/// index) and the columns we read and write.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) create: &'static str,
    pub(crate) columns: &'static [&'static str],
}

pub(crate) const PENDING: Table = Table {
    name: "device_pairing_pending",
    create: "CREATE TABLE IF NOT EXISTS device_pairing_pending (
  request_id TEXT NOT NULL PRIMARY KEY,
  device_id TEXT NOT NULL,
  public_key TEXT NOT NULL,
  display_name TEXT,
  platform TEXT,
  device_family TEXT,
  client_id TEXT,
  client_mode TEXT,
  browser_origin TEXT,
  role TEXT,
  roles_json TEXT,
  scopes_json TEXT,
  remote_ip TEXT,
  silent INTEGER,
  is_repair INTEGER,
  ts INTEGER NOT NULL,
  refreshed_at_ms INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_pairing_pending_device
  ON device_pairing_pending(device_id, ts DESC);",
    columns: &[
        "request_id",
        "device_id",
        "public_key",
        "display_name",
        "platform",
        "device_family",
        "client_id",
        "client_mode",
        "browser_origin",
        "role",
        "roles_json",
        "scopes_json",
        "remote_ip",
        "silent",
        "is_repair",
        "ts",
        "refreshed_at_ms",
    ],
};

pub(crate) const PAIRED: Table = Table {
    name: "device_pairing_paired",
    create: "CREATE TABLE IF NOT EXISTS device_pairing_paired (
  device_id TEXT NOT NULL PRIMARY KEY,
  public_key TEXT NOT NULL,
  display_name TEXT,
  operator_label TEXT,
  platform TEXT,
  device_family TEXT,
  client_id TEXT,
  client_mode TEXT,
  browser_origin TEXT,
  role TEXT,
  roles_json TEXT,
  scopes_json TEXT,
  approved_scopes_json TEXT,
  remote_ip TEXT,
  tokens_json TEXT,
  approved_via TEXT,
  node_surface_json TEXT,
  pending_node_surface_json TEXT,
  created_at_ms INTEGER NOT NULL,
  approved_at_ms INTEGER NOT NULL,
  last_seen_at_ms INTEGER,
  last_seen_reason TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_pairing_paired_approved
  ON device_pairing_paired(approved_at_ms DESC, device_id);",
    columns: &[
        "device_id",
        "public_key",
        "display_name",
        "operator_label",
        "platform",
        "device_family",
        "client_id",
        "client_mode",
        "browser_origin",
        "role",
        "roles_json",
        "scopes_json",
        "approved_scopes_json",
        "remote_ip",
        "tokens_json",
        "approved_via",
        "node_surface_json",
        "pending_node_surface_json",
        "created_at_ms",
        "approved_at_ms",
        "last_seen_at_ms",
        "last_seen_reason",
    ],
};

/// The client's own key pair (the CLI side), one row per identity key.
pub(crate) const IDENTITIES: Table = Table {
    name: "device_identities",
    create: "CREATE TABLE IF NOT EXISTS device_identities (
  identity_key TEXT NOT NULL PRIMARY KEY,
  device_id TEXT NOT NULL,
  public_key_pem TEXT NOT NULL,
  private_key_pem TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_identities_device
  ON device_identities(device_id, updated_at_ms DESC);",
    columns: &[
        "identity_key",
        "device_id",
        "public_key_pem",
        "private_key_pem",
        "created_at_ms",
        "updated_at_ms",
    ],
};

/// The device tokens the client was given, per (device, role).
pub(crate) const AUTH_TOKENS: Table = Table {
    name: "device_auth_tokens",
    create: "CREATE TABLE IF NOT EXISTS device_auth_tokens (
  device_id TEXT NOT NULL,
  role TEXT NOT NULL,
  token TEXT NOT NULL,
  scopes_json TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (device_id, role)
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_auth_tokens_updated
  ON device_auth_tokens(updated_at_ms DESC, device_id, role);",
    columns: &["device_id", "role", "token", "scopes_json", "updated_at_ms"],
};

/// One-time bootstrap tokens (`openclaw dashboard`), keyed by the token.
/// Older reference layouts lack `setup_id` and `pending_profile_json`; we
/// write neither, so they are not required.
pub(crate) const BOOTSTRAP_TOKENS: Table = Table {
    name: "device_bootstrap_tokens",
    create: "CREATE TABLE IF NOT EXISTS device_bootstrap_tokens (
  token_key TEXT NOT NULL PRIMARY KEY,
  token TEXT NOT NULL,
  setup_id TEXT,
  ts INTEGER NOT NULL,
  device_id TEXT,
  public_key TEXT,
  profile_json TEXT,
  redeemed_profile_json TEXT,
  pending_profile_json TEXT,
  issued_at_ms INTEGER NOT NULL,
  last_used_at_ms INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS idx_device_bootstrap_tokens_ts
  ON device_bootstrap_tokens(ts);",
    columns: &[
        "token_key",
        "token",
        "ts",
        "profile_json",
        "redeemed_profile_json",
        "issued_at_ms",
    ],
};

/// Every table we may create, in creation order.
pub(crate) const OUR_TABLES: [&Table; 5] = [
    &PENDING,
    &PAIRED,
    &IDENTITIES,
    &AUTH_TOKENS,
    &BOOTSTRAP_TOKENS,
];

/// An open state database.
pub(crate) struct Database {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// Names a SQLite error after the database file it happened in.
pub(crate) type SqlError<'a> = &'a dyn Fn(rusqlite::Error) -> StoreError;

impl Database {
    pub(crate) fn sql_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Run `work` in one `BEGIN IMMEDIATE` transaction (the write lock is
    /// taken first, so a concurrent writer makes it wait, not fail half
    /// way) and commit it. An error from `work` rolls everything back.
    /// `work` gets the transaction and how to name a SQLite error.
    pub(crate) fn write<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>, SqlError<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sql_error = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql_error)?;
        let value = work(&tx, &sql_error)?;
        tx.commit().map_err(&sql_error)?;
        Ok(value)
    }
}

/// Open (creating if absent) the state database of `state_dir`, refusing,
/// without writing a byte, a file that is not a database or is newer than
/// we know. Our tables are created when missing; nothing else is touched.
pub(crate) fn open(state_dir: &Path) -> Result<Database, StoreError> {
    let path = database_path(state_dir);
    create_if_missing(&path)?;
    // Never CREATE here: the file exists, and if it vanished meanwhile we
    // would rather fail than silently start an empty store.
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Sqlite {
        path: path.clone(),
        source,
    })?;
    let db = Database { conn, path };
    db.conn
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db.sql_error(e))?;
    // Read-only checks first: a garbage or too-new file must stay byte-identical.
    check_version(&db)?;
    configure(&db)?;
    create_missing_tables(&db)?;
    check_columns(&db)?;
    Ok(db)
}

/// Create `<stateDir>/state` (0700) and an empty database file (0600) when
/// there is none. An empty file is a valid, empty SQLite database.
fn create_if_missing(path: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// The schema version, as the reference computes it: `user_version`, or
/// the content version it records in `config_machine_state` when higher.
fn schema_version(db: &Database) -> Result<i64, rusqlite::Error> {
    let user_version: i64 = db
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let has_machine_state: bool = db.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'config_machine_state')",
        [],
        |row| row.get(0),
    )?;
    if !has_machine_state {
        return Ok(user_version);
    }
    let content: Option<String> = db
        .conn
        .query_row(
            "SELECT value_json FROM config_machine_state WHERE state_key = 'state.schema.contentVersion'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let content = content
        .and_then(|json| json.trim().parse::<i64>().ok())
        .unwrap_or(0);
    Ok(user_version.max(content))
}

fn check_version(db: &Database) -> Result<(), StoreError> {
    let found = schema_version(db).map_err(|e| db.sql_error(e))?;
    if found > KNOWN_SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: db.path.clone(),
            found,
            known: KNOWN_SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// The reference's connection settings (WAL, its journal size limit,
/// foreign keys), with `synchronous = FULL`: every write this connection
/// makes is a pairing write that must survive a power cut once answered.
fn configure(db: &Database) -> Result<(), StoreError> {
    let conn = &db.conn;
    let fresh: i64 = conn
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .map_err(|e| db.sql_error(e))?;
    if fresh == 0 {
        // As the reference sets on a database it creates.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(|e| db.sql_error(e))?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| db.sql_error(e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!(target: "gateway/store", "{}: journal mode {mode}, not WAL", db.path.display());
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(|e| db.sql_error(e))
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |row| row.get(0),
    )
}

/// Create those of our tables that are missing, in one transaction. When
/// all exist (any file the reference wrote), nothing is written.
fn create_missing_tables(db: &Database) -> Result<(), StoreError> {
    let missing = || -> rusqlite::Result<Vec<&'static Table>> {
        let mut missing = Vec::new();
        for table in OUR_TABLES {
            if !table_exists(&db.conn, table.name)? {
                missing.push(table);
            }
        }
        Ok(missing)
    };
    if missing().map_err(|e| db.sql_error(e))?.is_empty() {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(&db.conn, TransactionBehavior::Immediate)
        .map_err(|e| db.sql_error(e))?;
    // Looked up again under the write lock: a concurrent opener may have won.
    for table in missing().map_err(|e| db.sql_error(e))? {
        tx.execute_batch(table.create)
            .map_err(|e| db.sql_error(e))?;
    }
    tx.commit().map_err(|e| db.sql_error(e))
}

/// Every column we read and write must be there (an older reference layout
/// lacks some; the reference adds them when it migrates the file).
fn check_columns(db: &Database) -> Result<(), StoreError> {
    for table in OUR_TABLES {
        let mut stmt = db
            .conn
            .prepare(&format!("PRAGMA table_info({})", table.name))
            .map_err(|e| db.sql_error(e))?;
        let present: Vec<String> = stmt
            .query_map([], |row| row.get::<_, String>(1))
            .and_then(|rows| rows.collect())
            .map_err(|e| db.sql_error(e))?;
        if let Some(column) = table
            .columns
            .iter()
            .find(|c| !present.iter().any(|p| p == *c))
        {
            return Err(StoreError::MissingColumn {
                path: db.path.clone(),
                table: table.name,
                column,
            });
        }
    }
    Ok(())
}
