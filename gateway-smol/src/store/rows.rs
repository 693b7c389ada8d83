//! Pairing records to and from rows, as the reference maps them: absent
//! optional fields are NULL, lists and maps are JSON text, booleans 0/1,
//! times INTEGER milliseconds.

use std::path::Path;

use gateway_proto::gateway::pairing::{PairedDevice, PendingRequest};
use rusqlite::types::Value as SqlValue;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// How the reference records an approval; another value reads as absent,
/// as the reference reads it.
const APPROVAL_KINDS: [&str; 6] = [
    "owner",
    "silent",
    "trusted-cidr",
    "trusted-proxy",
    "ssh-verified",
    "bootstrap",
];

/// A time (or count) for an INTEGER column: STRICT tables hold i64.
pub(crate) fn integer(path: &Path, what: &str, value: u64) -> Result<SqlValue, StoreError> {
    i64::try_from(value)
        .map(SqlValue::Integer)
        .map_err(|_| StoreError::BadValue {
            path: path.to_path_buf(),
            what: what.to_owned(),
            why: format!("{value} does not fit a SQLite integer"),
        })
}

fn opt_integer(path: &Path, what: &str, value: Option<u64>) -> Result<SqlValue, StoreError> {
    value.map_or(Ok(SqlValue::Null), |v| integer(path, what, v))
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn opt_text(value: &Option<String>) -> SqlValue {
    value.as_deref().map_or(SqlValue::Null, text)
}

fn opt_bool(value: Option<bool>) -> SqlValue {
    value.map_or(SqlValue::Null, |b| SqlValue::Integer(i64::from(b)))
}

/// `JSON.stringify` of a present value, NULL for an absent one.
fn opt_json<T: Serialize>(
    path: &Path,
    what: &str,
    value: &Option<T>,
) -> Result<SqlValue, StoreError> {
    match value {
        None => Ok(SqlValue::Null),
        Some(v) => serde_json::to_string(v)
            .map(SqlValue::Text)
            .map_err(|e| StoreError::BadValue {
                path: path.to_path_buf(),
                what: what.to_owned(),
                why: e.to_string(),
            }),
    }
}

/// The values of a pending row, in [`super::schema::PENDING`] column order.
pub(crate) fn pending_values(path: &Path, r: &PendingRequest) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        text(&r.request_id),
        text(&r.device_id),
        text(&r.public_key),
        opt_text(&r.display_name),
        opt_text(&r.platform),
        opt_text(&r.device_family),
        opt_text(&r.client_id),
        opt_text(&r.client_mode),
        opt_text(&r.browser_origin),
        opt_text(&r.role),
        opt_json(path, "roles", &r.roles)?,
        opt_json(path, "scopes", &r.scopes)?,
        opt_text(&r.remote_ip),
        opt_bool(r.silent),
        opt_bool(r.is_repair),
        integer(path, "ts", r.ts)?,
        opt_integer(path, "refreshedAtMs", r.refreshed_at_ms)?,
    ])
}

/// The values of a paired row, in [`super::schema::PAIRED`] column order.
pub(crate) fn paired_values(path: &Path, d: &PairedDevice) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        text(&d.device_id),
        text(&d.public_key),
        opt_text(&d.display_name),
        opt_text(&d.operator_label),
        opt_text(&d.platform),
        opt_text(&d.device_family),
        opt_text(&d.client_id),
        opt_text(&d.client_mode),
        opt_text(&d.browser_origin),
        opt_text(&d.role),
        opt_json(path, "roles", &d.roles)?,
        opt_json(path, "scopes", &d.scopes)?,
        opt_json(path, "approvedScopes", &d.approved_scopes)?,
        opt_text(&d.remote_ip),
        opt_json(path, "tokens", &d.tokens)?,
        opt_text(&d.approved_via),
        opt_json(path, "nodeSurface", &d.node_surface)?,
        opt_json(path, "pendingNodeSurface", &d.pending_node_surface)?,
        integer(path, "createdAtMs", d.created_at_ms)?,
        integer(path, "approvedAtMs", d.approved_at_ms)?,
        opt_integer(path, "lastSeenAtMs", d.last_seen_at_ms)?,
        opt_text(&d.last_seen_reason),
    ])
}

/// Reads one row's columns by name, turning every surprise into a
/// [`StoreError::BadRow`] that names the table, the row and the column.
pub(crate) struct RowReader<'r, 'p> {
    pub(crate) row: &'r Row<'r>,
    pub(crate) path: &'p Path,
    pub(crate) table: &'static str,
    pub(crate) key: String,
}

impl RowReader<'_, '_> {
    fn bad(&self, column: &str, why: impl std::fmt::Display) -> StoreError {
        StoreError::BadRow {
            path: self.path.to_path_buf(),
            table: self.table,
            key: self.key.clone(),
            why: format!("{column}: {why}"),
        }
    }

    pub(crate) fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.row.get(column).map_err(|e| self.bad(column, e))
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| self.bad(column, "NULL in a NOT NULL column"))
    }

    pub(crate) fn opt_time(&self, column: &str) -> Result<Option<u64>, StoreError> {
        let value: Option<i64> = self.row.get(column).map_err(|e| self.bad(column, e))?;
        value
            .map(|v| u64::try_from(v).map_err(|_| self.bad(column, format!("negative time {v}"))))
            .transpose()
    }

    pub(crate) fn time(&self, column: &str) -> Result<u64, StoreError> {
        self.opt_time(column)?
            .ok_or_else(|| self.bad(column, "NULL in a NOT NULL column"))
    }

    /// 0 is false, any other integer true, NULL absent.
    pub(crate) fn opt_bool(&self, column: &str) -> Result<Option<bool>, StoreError> {
        let value: Option<i64> = self.row.get(column).map_err(|e| self.bad(column, e))?;
        Ok(value.map(|v| v != 0))
    }

    pub(crate) fn opt_json<T: DeserializeOwned>(
        &self,
        column: &str,
    ) -> Result<Option<T>, StoreError> {
        self.opt_text(column)?
            .map(|json| serde_json::from_str(&json).map_err(|e| self.bad(column, e)))
            .transpose()
    }
}

pub(crate) fn pending_from_row(path: &Path, row: &Row<'_>) -> Result<PendingRequest, StoreError> {
    let key: Option<String> = row.get("request_id").unwrap_or_default();
    let r = RowReader {
        row,
        path,
        table: "device_pairing_pending",
        key: key.unwrap_or_default(),
    };
    Ok(PendingRequest {
        request_id: r.text("request_id")?,
        device_id: r.text("device_id")?,
        public_key: r.text("public_key")?,
        display_name: r.opt_text("display_name")?,
        platform: r.opt_text("platform")?,
        device_family: r.opt_text("device_family")?,
        client_id: r.opt_text("client_id")?,
        client_mode: r.opt_text("client_mode")?,
        browser_origin: r.opt_text("browser_origin")?,
        role: r.opt_text("role")?,
        roles: r.opt_json("roles_json")?,
        scopes: r.opt_json("scopes_json")?,
        remote_ip: r.opt_text("remote_ip")?,
        silent: r.opt_bool("silent")?,
        is_repair: r.opt_bool("is_repair")?,
        ts: r.time("ts")?,
        refreshed_at_ms: r.opt_time("refreshed_at_ms")?,
    })
}

pub(crate) fn paired_from_row(path: &Path, row: &Row<'_>) -> Result<PairedDevice, StoreError> {
    let key: Option<String> = row.get("device_id").unwrap_or_default();
    let r = RowReader {
        row,
        path,
        table: "device_pairing_paired",
        key: key.unwrap_or_default(),
    };
    Ok(PairedDevice {
        device_id: r.text("device_id")?,
        public_key: r.text("public_key")?,
        display_name: r.opt_text("display_name")?,
        operator_label: r.opt_text("operator_label")?,
        platform: r.opt_text("platform")?,
        device_family: r.opt_text("device_family")?,
        client_id: r.opt_text("client_id")?,
        client_mode: r.opt_text("client_mode")?,
        browser_origin: r.opt_text("browser_origin")?,
        role: r.opt_text("role")?,
        roles: r.opt_json("roles_json")?,
        scopes: r.opt_json("scopes_json")?,
        approved_scopes: r.opt_json("approved_scopes_json")?,
        remote_ip: r.opt_text("remote_ip")?,
        tokens: r.opt_json("tokens_json")?,
        approved_via: r
            .opt_text("approved_via")?
            .filter(|v| APPROVAL_KINDS.contains(&v.as_str())),
        node_surface: r.opt_json("node_surface_json")?,
        pending_node_surface: r.opt_json("pending_node_surface_json")?,
        created_at_ms: r.time("created_at_ms")?,
        approved_at_ms: r.time("approved_at_ms")?,
        last_seen_at_ms: r.opt_time("last_seen_at_ms")?,
        last_seen_reason: r.opt_text("last_seen_reason")?,
    })
}
