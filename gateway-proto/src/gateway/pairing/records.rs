//! The pairing records, shaped exactly like the reference's rows so that one
//! state dir can be used by either gateway.
//!
//! Field names serialize in the reference's camelCase (the wire shape of
//! `device.pair.*` answers); the runtime maps them to the columns of
//! `device_pairing_pending` / `device_pairing_paired`. Absent optional fields
//! are NULL columns and are left out of JSON, as the reference does.
//! Values the core does not interpret (a node's surfaces, unknown keys of a
//! token entry) are kept verbatim so a swap back loses nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A device waiting for approval (`device_pairing_pending`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub request_id: String,
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_repair: Option<bool>,
    /// When the request was created (Unix ms).
    pub ts: u64,
    /// When a reconnect last refreshed it; the TTL runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_at_ms: Option<u64>,
}

/// An approved device (`device_pairing_paired`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The name an operator gave it (`device.pair.rename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The scope baseline tokens must stay within (falls back to `scopes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// One token per role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<BTreeMap<String, DeviceTokenRecord>>,
    /// `owner | silent | trusted-cidr | trusted-proxy | ssh-verified | bootstrap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_via: Option<String>,
    /// A node's declared commands and capabilities, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_surface: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_node_surface: Option<Value>,
    pub created_at_ms: u64,
    pub approved_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_reason: Option<String>,
}

/// One role's device token, an entry of `tokens_json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTokenRecord {
    pub token: String,
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Who minted it (the reference's `{kind, generation}`); absent for ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Value>,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
    /// Keys a newer reference may add, kept for a swap back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Everything the store holds, as loaded at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairingSnapshot {
    pub pending: Vec<PendingRequest>,
    pub paired: Vec<PairedDevice>,
}

/// One change to the store. A write is a list of these, applied in one
/// transaction: all or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairingChange {
    /// Insert or replace a pending row (by `request_id`).
    PutPending(PendingRequest),
    DeletePending {
        request_id: String,
    },
    /// Insert or replace a paired row (by `device_id`).
    PutPaired(PairedDevice),
    DeletePaired {
        device_id: String,
    },
}
