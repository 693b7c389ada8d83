//! The `hello-ok` payload, in the v3 and v4 shapes.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::wire::{ProtocolVersion, StateVersion};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloServer<'a> {
    pub version: &'a str,
    /// v4 only: the build of the Control UI app this gateway serves, which
    /// a UI page compares with its own to know it must reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<&'a str>,
    pub conn_id: &'a str,
    /// v4 only: identifies this run of the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<&'a str>,
    /// v4 only: `configured` (`gateway.controlUi.root`) or `bundled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_ui_build_source: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct HelloFeatures<'a> {
    pub methods: &'a [&'a str],
    pub events: &'a [&'a str],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloPolicy {
    pub max_payload: u64,
    pub max_buffered_bytes: u64,
    pub tick_interval_ms: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloAuth<'a> {
    pub role: &'a str,
    pub scopes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloSnapshot<'a> {
    pub presence: &'a RawValue,
    pub health: &'a RawValue,
    pub state_version: StateVersion,
    pub uptime_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<&'a str>,
}

/// `hello-ok`. Build with the negotiated version: fields that only one version
/// knows are left out of the other (the schemas are closed).
#[derive(Debug, Serialize)]
pub struct HelloOk<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub protocol: u64,
    pub server: HelloServer<'a>,
    pub features: HelloFeatures<'a>,
    pub snapshot: HelloSnapshot<'a>,
    pub policy: HelloPolicy,
    pub auth: HelloAuth<'a>,
}

impl<'a> HelloOk<'a> {
    /// Drop what `protocol` does not know.
    pub fn for_protocol(mut self, protocol: ProtocolVersion) -> Self {
        self.protocol = protocol.number();
        if protocol == ProtocolVersion::V3 {
            self.server.boot_id = None;
            self.server.build_id = None;
            self.server.control_ui_build_source = None;
            self.auth.method = None;
        }
        self
    }
}
