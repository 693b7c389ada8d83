//! `connect` parameters: parsing and validation per protocol version.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::json::Json;
use super::schemas;
use super::validate::{validate_json, Dialect};
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
/// From schema-v3.json: v4 added `openclaw-browser-copilot`, `openclaw-linux`,
/// `openclaw-watchos` and `openclaw-worker`.
pub const CLIENT_IDS_V3: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-ios",
    "openclaw-android",
    "node-host",
    "test",
    "fingerprint",
    "openclaw-probe",
];
/// From schema-v3.json: v4 added `worker`.
pub const CLIENT_MODES_V3: &[&str] = &["webchat", "cli", "ui", "backend", "node", "probe", "test"];

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
    /// The client's build (the Control UI's, which must match the app the
    /// gateway serves).
    pub build_id: Option<String>,
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
    /// A node's `PATH` (shown in `node.list`).
    pub path_env: Option<String>,
}

impl ConnectParams {
    /// Validate `params` against the connect schema of `schema_version` and
    /// return them, or the reference's message without the
    /// "invalid connect params: " prefix (e.g. "at /client/id: must be equal to one of the allowed values").
    ///
    /// Protocol 4 also accepts `client.timeZone`,
    /// `computerUse`, `workerRuns`, `modelCatalog`, `auth.approvalRuntimeToken`
    /// and `auth.agentRuntimeIdentityToken`; they are checked, then dropped.
    pub fn parse(
        params: Option<&RawValue>,
        schema_version: ProtocolVersion,
    ) -> Result<Self, String> {
        let schema = schemas::connect_params(schema_version);
        let dialect = Dialect::for_protocol(schema_version);
        let json = match params {
            // Absent params validate as JavaScript `undefined`: "must be object".
            None => None,
            Some(raw) => Some(Json::parse(raw.get()).ok_or_else(|| "must be object".to_owned())?),
        };
        validate_json(json.as_ref(), schema, dialect).map_err(|e| e.to_string())?;
        // Valid by the schema, so this typed read only fails on inputs the
        // schema cannot express (a repeated key, an integer beyond i64).
        let raw = params.map(RawValue::get).unwrap_or("null");
        let wire: WireConnect =
            serde_json::from_str(raw).map_err(|_| "must be object".to_owned())?;
        Ok(wire.into())
    }
}

/// `(minProtocol, maxProtocol)` when both are present as non-negative integers,
/// before full validation: it picks the schema version to validate against.
pub fn peek_protocol_range(params: Option<&RawValue>) -> Option<(u64, u64)> {
    // A map, not a struct: serde would also read a struct from an array.
    let map: serde_json::Map<String, Value> = serde_json::from_str(params?.get()).ok()?;
    let as_u64 = |v: Option<&Value>| match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            // JavaScript treats 4.0 as the integer 4.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    Some((
        as_u64(map.get("minProtocol"))?,
        as_u64(map.get("maxProtocol"))?,
    ))
}

/// The typed read after validation. Unknown fields are ignored here because
/// the schema already refused the ones the version does not allow.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireConnect {
    min_protocol: u64,
    max_protocol: u64,
    client: WireClient,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    permissions: BTreeMap<String, bool>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    device: Option<WireDevice>,
    #[serde(default)]
    auth: Option<WireAuth>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    path_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireClient {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    version: String,
    platform: String,
    #[serde(default)]
    device_family: Option<String>,
    #[serde(default)]
    model_identifier: Option<String>,
    mode: String,
    #[serde(default)]
    instance_id: Option<String>,
    #[serde(default)]
    build_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDevice {
    id: String,
    public_key: String,
    signature: String,
    signed_at: f64,
    nonce: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAuth {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    bootstrap_token: Option<String>,
    #[serde(default)]
    device_token: Option<String>,
}

impl From<WireConnect> for ConnectParams {
    fn from(w: WireConnect) -> Self {
        let auth = w.auth.map(|a| ConnectAuth {
            token: a.token,
            password: a.password,
            bootstrap_token: a.bootstrap_token,
            device_token: a.device_token,
        });
        ConnectParams {
            min_protocol: w.min_protocol,
            max_protocol: w.max_protocol,
            client: ClientInfo {
                id: w.client.id,
                display_name: w.client.display_name,
                version: w.client.version,
                platform: w.client.platform,
                device_family: w.client.device_family,
                model_identifier: w.client.model_identifier,
                mode: w.client.mode,
                instance_id: w.client.instance_id,
                build_id: w.client.build_id,
            },
            caps: w.caps,
            commands: w.commands,
            permissions: w.permissions,
            role: w.role,
            scopes: w.scopes,
            device: w.device.map(|d| DeviceIdentity {
                id: d.id,
                public_key: d.public_key,
                signature: d.signature,
                // Validated as a non-negative integer; the saturating cast
                // keeps absurd values finite instead of failing.
                signed_at: d.signed_at as i64,
                nonce: Some(d.nonce),
            }),
            auth: auth.unwrap_or_default(),
            locale: w.locale,
            user_agent: w.user_agent,
            path_env: w.path_env,
        }
    }
}
