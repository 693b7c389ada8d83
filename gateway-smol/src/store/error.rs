//! Why the state database could not be used.

use std::path::PathBuf;

/// Errors of the SQLite state store. Every variant names the file, so the
/// CLI can print it as one line.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory or the file could not be created or opened.
    #[error("cannot open the state database {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused the file (not a database, corrupt, locked, read-only...).
    #[error("cannot use the state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Written by a newer OpenClaw: we never modify or replace it.
    #[error(
        "the state database {path} has schema version {found}, newer than any this gateway \
         knows ({known}); it was left untouched (use a newer gateway)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// One of our tables exists but lacks a column we store (an older layout).
    #[error(
        "the state database {path} has table {table} without column {column} (an older \
         OpenClaw layout); it was left untouched (start the reference gateway once, or run \
         `openclaw doctor --fix`, to migrate it)"
    )]
    MissingColumn {
        path: PathBuf,
        table: &'static str,
        column: &'static str,
    },
    /// A row that cannot be read back (bad JSON, a negative time...).
    #[error("the state database {path} holds an unreadable row in {table} ({key}): {why}")]
    BadRow {
        path: PathBuf,
        table: &'static str,
        key: String,
        why: String,
    },
    /// A value we were asked to store does not fit the column (a time past i64).
    #[error("cannot store {what} in {path}: {why}")]
    BadValue {
        path: PathBuf,
        what: String,
        why: String,
    },
    /// The client identity row exists but is not a valid Ed25519 key pair.
    #[error(
        "the state database {path} holds an invalid device identity {key:?}: {why} (run \
         `openclaw doctor --fix`)"
    )]
    BadIdentity {
        path: PathBuf,
        key: String,
        why: String,
    },
    /// No randomness to create a device key.
    #[error("cannot create a device identity: {0}")]
    Random(String),
}
