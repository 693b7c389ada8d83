//! What a client says about itself and how it behaves: identity, credentials,
//! protocol range, timeouts and reconnect policy.

use std::time::Duration;

use super::device::DeviceKey;

/// `connect.client`: who is connecting. `id` and `mode` must be in the
/// gateway's enums (`cli`/`cli`, `gateway-client`/`backend`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    pub id: String,
    pub version: String,
    pub platform: String,
    pub mode: String,
    pub device_family: Option<String>,
    pub instance_id: Option<String>,
    pub display_name: Option<String>,
}

impl Default for ClientIdentity {
    fn default() -> Self {
        ClientIdentity {
            id: "cli".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            platform: std::env::consts::OS.into(),
            mode: "cli".into(),
            device_family: None,
            instance_id: None,
            display_name: None,
        }
    }
}

/// Shared-secret credentials (`connect.auth`). A device token learnt from
/// `hello-ok` is added on reconnects automatically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAuth {
    pub token: Option<String>,
    pub password: Option<String>,
    pub device_token: Option<String>,
}

/// Everything a [`ClientConnection`](super::ClientConnection) needs up front.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub client: ClientIdentity,
    pub role: String,
    pub scopes: Vec<String>,
    pub auth: ClientAuth,
    /// Signs the challenge nonce when present (§6 of the protocol).
    pub device: Option<DeviceKey>,
    /// `[minProtocol, maxProtocol]`; `[4,4]` is what current clients send, `[3,4]`
    /// also works against 2026.5-era gateways.
    pub min_protocol: u64,
    pub max_protocol: u64,
    /// How long to wait for `connect.challenge`, and then for the `connect` answer.
    pub handshake_timeout: Duration,
    /// Default per-request deadline (overridable per request).
    pub request_timeout: Duration,
    /// Reconnect after a close (with backoff) instead of stopping.
    pub reconnect: bool,
    /// Requests outstanding at once (queued + in flight); more is refused.
    pub max_pending: usize,
    /// After a seq gap, request `health` and `system-presence` again and report
    /// their answers as `ClientOutput::Refreshed`.
    pub refresh_on_gap: bool,
    /// Wall-clock milliseconds at the `now` given to `new`: device signatures
    /// carry `signedAt`, and the core has no clock of its own.
    pub unix_ms_at_start: u64,
    /// `connect.caps`: capability families a node offers (empty for operators).
    pub caps: Vec<String>,
    /// `connect.commands`: the commands a node declares; sent only when a
    /// node declares some (or connects as `role: "node"`).
    pub commands: Vec<String>,
    /// `connect.pathEnv`: the node's `PATH`, shown to operators.
    pub path_env: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client: ClientIdentity::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            auth: ClientAuth::default(),
            device: None,
            min_protocol: 4,
            max_protocol: 4,
            handshake_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            reconnect: true,
            max_pending: 1024,
            refresh_on_gap: true,
            unix_ms_at_start: 0,
            caps: Vec::new(),
            commands: Vec::new(),
            path_env: None,
        }
    }
}

/// Per-request options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// The method answers twice: an `accepted` ack, then the final result (`agent`).
    pub expect_final: bool,
    /// Overrides [`ClientConfig::request_timeout`].
    pub timeout: Option<Duration>,
}
