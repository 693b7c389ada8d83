//! The gateway's side of the store: pending requests and paired devices.

use std::path::Path;

use gateway_proto::gateway::pairing::{PairingChange, PairingSnapshot};
use rusqlite::params_from_iter;

use super::rows::{paired_from_row, paired_values, pending_from_row, pending_values};
use super::schema::{self, Database, Table, PAIRED, PENDING};
use super::StoreError;

/// The pairing tables of `<stateDir>/state/openclaw.sqlite`, shared with
/// the reference gateway and CLI (which may write them concurrently).
pub struct PairingStore {
    pub(super) db: Database,
}

/// `INSERT OR REPLACE INTO <table> (<columns>) VALUES (?1, ...)`.
fn upsert_sql(table: &Table) -> String {
    let placeholders: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
        table.name,
        table.columns.join(", "),
        placeholders.join(", ")
    )
}

impl PairingStore {
    /// Open the state database of `state_dir`, creating it (with only our
    /// tables) when absent. A file that is not a database, or that a newer
    /// OpenClaw wrote, is an error and is left byte-for-byte untouched.
    pub fn open(state_dir: &Path) -> Result<PairingStore, StoreError> {
        Ok(PairingStore {
            db: schema::open(state_dir)?,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Every pending request and paired device, read in one transaction.
    pub fn load(&self) -> Result<PairingSnapshot, StoreError> {
        let db = &self.db;
        let tx = db
            .conn
            .unchecked_transaction()
            .map_err(|e| db.sql_error(e))?;
        let mut snapshot = PairingSnapshot::default();
        {
            let mut stmt = tx
                .prepare("SELECT * FROM device_pairing_pending ORDER BY ts, request_id")
                .map_err(|e| db.sql_error(e))?;
            let mut rows = stmt.query([]).map_err(|e| db.sql_error(e))?;
            while let Some(row) = rows.next().map_err(|e| db.sql_error(e))? {
                snapshot.pending.push(pending_from_row(&db.path, row)?);
            }
            let mut stmt = tx
                .prepare("SELECT * FROM device_pairing_paired ORDER BY approved_at_ms, device_id")
                .map_err(|e| db.sql_error(e))?;
            let mut rows = stmt.query([]).map_err(|e| db.sql_error(e))?;
            while let Some(row) = rows.next().map_err(|e| db.sql_error(e))? {
                snapshot.paired.push(paired_from_row(&db.path, row)?);
            }
        }
        tx.commit().map_err(|e| db.sql_error(e))?;
        Ok(snapshot)
    }

    /// Apply `changes` in one `BEGIN IMMEDIATE` transaction: all or none.
    /// When this returns `Ok` the transaction is committed and, with
    /// `synchronous = FULL`, on disk.
    pub fn apply(&mut self, changes: &[PairingChange]) -> Result<(), StoreError> {
        let path = self.db.path.clone();
        self.db.write(|tx, sql_error| {
            for change in changes {
                match change {
                    PairingChange::PutPending(request) => {
                        let values = pending_values(&path, request)?;
                        tx.prepare_cached(&upsert_sql(&PENDING))
                            .and_then(|mut s| s.execute(params_from_iter(values)))
                            .map_err(sql_error)?;
                    }
                    PairingChange::DeletePending { request_id } => {
                        tx.prepare_cached(
                            "DELETE FROM device_pairing_pending WHERE request_id = ?1",
                        )
                        .and_then(|mut s| s.execute([request_id]))
                        .map_err(sql_error)?;
                    }
                    PairingChange::PutPaired(device) => {
                        let values = paired_values(&path, device)?;
                        tx.prepare_cached(&upsert_sql(&PAIRED))
                            .and_then(|mut s| s.execute(params_from_iter(values)))
                            .map_err(sql_error)?;
                    }
                    PairingChange::DeletePaired { device_id } => {
                        tx.prepare_cached("DELETE FROM device_pairing_paired WHERE device_id = ?1")
                            .and_then(|mut s| s.execute([device_id]))
                            .map_err(sql_error)?;
                    }
                }
            }
            Ok(())
        })
    }
}
