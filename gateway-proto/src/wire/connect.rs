//! `connect` parameters: parsing and validation per protocol version.
//! CONTRACT (implementation pending).

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::ProtocolVersion;

pub const CLIENT_IDS_V4: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];
pub const CLIENT_MODES_V4: &[&str] = &[
    "webchat", "cli", "ui", "backend", "node", "worker", "probe", "test",
];
/// Filled from schema-v3.json by the wire work.
pub const CLIENT_IDS_V3: &[&str] = CLIENT_IDS_V4;
pub const CLIENT_MODES_V3: &[&str] = CLIENT_MODES_V4;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    pub id: String,
    pub display_name: Option<String>,
    pub version: String,
    pub platform: String,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub mode: String,
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceIdentity {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: i64,
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectAuth {
    pub token: Option<String>,
    pub password: Option<String>,
    pub bootstrap_token: Option<String>,
    pub device_token: Option<String>,
}

/// Validated `connect` params. Fields the gateway accepts but ignores are not kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectParams {
    pub min_protocol: u64,
    pub max_protocol: u64,
    pub client: ClientInfo,
    pub caps: Vec<String>,
    pub commands: Vec<String>,
    pub permissions: BTreeMap<String, bool>,
    /// `role` as sent; `None` means the default, `operator`. Checked by the server
    /// after negotiation ("invalid role").
    pub role: Option<String>,
    /// `scopes` as sent (order kept: it is part of the device signature).
    pub scopes: Vec<String>,
    pub device: Option<DeviceIdentity>,
    pub auth: ConnectAuth,
    pub locale: Option<String>,
    pub user_agent: Option<String>,
}

impl ConnectParams {
    /// Validate `params` against the connect schema of `schema_version` and
    /// return them, or the reference's message without the
    /// "invalid connect params: " prefix (e.g. "at /client/id: must be equal to one of the allowed values").
    pub fn parse(
        params: Option<&RawValue>,
        schema_version: ProtocolVersion,
    ) -> Result<Self, String> {
        let _ = (params, schema_version);
        todo!("wire helper")
    }
}

/// `(minProtocol, maxProtocol)` when both are present as non-negative integers,
/// before full validation: it picks the schema version to validate against.
pub fn peek_protocol_range(params: Option<&RawValue>) -> Option<(u64, u64)> {
    let _ = params;
    todo!("wire helper")
}
