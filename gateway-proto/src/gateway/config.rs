//! What the hub is told at construction (and again on a config reload).

use std::time::Duration;

pub use crate::server::OriginPolicy;

/// Shared-secret authentication of the gateway (`gateway.auth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfig {
    /// No shared secret: any client may connect (loopback binds only, enforced by the CLI).
    None,
    Token(String),
    Password(String),
}

impl AuthConfig {
    /// `hello-ok.snapshot.authMode` / `auth.method`.
    pub fn mode_name(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Token(_) => "token",
            AuthConfig::Password(_) => "password",
        }
    }
}

/// Facts about the host, for the gateway's own presence entry and `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    pub hostname: String,
    pub ip: Option<String>,
    /// e.g. "linux 6.1.0".
    pub platform: String,
    /// e.g. "Linux".
    pub device_family: String,
}

/// Limits and intervals. Defaults are the reference's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time a socket has to send `connect` (`OPENCLAW_HANDSHAKE_TIMEOUT_MS`).
    pub handshake_timeout: Duration,
    /// Largest frame before the handshake; larger closes 1009.
    pub max_preauth_payload: usize,
    /// `policy.maxPayload`.
    pub max_payload: usize,
    /// `policy.maxBufferedBytes`: unsent bytes past which a connection is slow.
    pub max_buffered_bytes: usize,
    /// `policy.tickIntervalMs`.
    pub tick_interval: Duration,
    /// Health snapshot refresh period.
    pub health_refresh_interval: Duration,
    /// Presence entry lifetime after its last update.
    pub presence_ttl: Duration,
    /// Most presence entries kept (the oldest go first).
    pub presence_max: usize,
    /// Delay before answering a first wrong secret; each further recent
    /// failure from the same client doubles it, up to `auth_failure_delay_max`.
    pub auth_failure_delay: Duration,
    pub auth_failure_delay_max: Duration,
    /// Failed shared-secret attempts allowed per client address per window.
    pub auth_failures_max: u32,
    pub auth_failure_window: Duration,
    /// How long an address stays locked out after too many failures.
    pub auth_lockout: Duration,
    /// Requests in flight to the runtime (effects) per gateway.
    pub max_pending_effects: usize,
    /// How long a request or handshake waits for an effect's result before
    /// it is answered `UNAVAILABLE`.
    pub effect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(15),
            max_preauth_payload: 64 * 1024,
            max_payload: 25 * 1024 * 1024,
            max_buffered_bytes: 50 * 1024 * 1024,
            tick_interval: Duration::from_secs(30),
            health_refresh_interval: Duration::from_secs(60),
            presence_ttl: Duration::from_secs(5 * 60),
            presence_max: 200,
            auth_failure_delay: crate::server::FAILURE_DELAY_BASE,
            auth_failure_delay_max: crate::server::FAILURE_DELAY_MAX,
            auth_failures_max: 10,
            auth_failure_window: Duration::from_secs(60),
            auth_lockout: Duration::from_secs(300),
            max_pending_effects: 256,
            effect_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything the hub needs to know about its deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub auth: AuthConfig,
    /// Which browser origins may connect (`gateway.controlUi`).
    pub origin_policy: OriginPolicy,
    pub limits: Limits,
    /// `server.version` in hello-ok.
    pub server_version: String,
    pub host: HostInfo,
    /// Shown in the hello snapshot and `status`.
    pub config_path: Option<String>,
    pub state_dir: Option<String>,
    /// Path of the JSON-lines log file that `logs.tail` serves.
    pub log_file: Option<String>,
    /// A gateway that starts not ready answers `connect` with UNAVAILABLE until
    /// `Input::Ready`.
    pub start_ready: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            auth: AuthConfig::None,
            origin_policy: OriginPolicy::default(),
            limits: Limits::default(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            host: HostInfo::default(),
            config_path: None,
            state_dir: None,
            log_file: None,
            start_ready: true,
        }
    }
}
