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
///
/// Non-exhaustive: start from [`Limits::default`] and change fields (or use
/// the `with_*` builders), so new limits can be added without breaking
/// embedders.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Time a socket has to send `connect` (`OPENCLAW_HANDSHAKE_TIMEOUT_MS`).
    pub handshake_timeout: Duration,
    /// Sockets of one address that may wait to authenticate at once
    /// (`OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP`); more are refused HTTP 503.
    pub max_preauth_per_ip: usize,
    /// Sockets the gateway holds at once; more are refused HTTP 503.
    pub max_connections: usize,
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
    /// Longest `text` a `system-event` stores in presence, in bytes; a longer
    /// one is cut (at a character boundary) and still answered `ok`. The
    /// reference has no cap (only `maxPayload`); every presence broadcast
    /// carries every entry's text, so this bounds one broadcast at
    /// `presence_max` × this (1.6 MB with the defaults).
    pub presence_text_max: usize,
    /// Presence changes closer together than this after a broadcast are sent
    /// as one trailing broadcast (zero: every change at once).
    pub presence_broadcast_window: Duration,
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
            max_preauth_per_ip: 32,
            max_connections: 50_000,
            max_preauth_payload: 64 * 1024,
            max_payload: 25 * 1024 * 1024,
            max_buffered_bytes: 50 * 1024 * 1024,
            tick_interval: Duration::from_secs(30),
            health_refresh_interval: Duration::from_secs(60),
            presence_ttl: Duration::from_secs(5 * 60),
            presence_max: 200,
            presence_text_max: 8 * 1024,
            presence_broadcast_window: Duration::from_millis(50),
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
///
/// Non-exhaustive: start from [`Config::default`] and use the `with_*`
/// builders (or set fields), so new settings can be added without breaking
/// embedders.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// `gateway.nodes.pairing.autoApproveLocal`: local devices are paired
    /// without an operator (the reference's default, `true`).
    pub pairing_auto_approve_local: bool,
    /// `gateway.nodes.commands.allow|deny`: the node command allowlist's
    /// additions and removals.
    pub node_commands: super::NodeCommandRules,
    /// The models agents may call (`models.providers`, `agents.defaults.model`).
    pub models: super::agents::catalog::ModelCatalog,
    /// The agent's workspace and exec settings (`agents.defaults.workspace`,
    /// `tools.exec.*`).
    pub tools: super::agents::tools::ToolSettings,
    /// `gateway.http.endpoints.chatCompletions.enabled`: the
    /// OpenAI-compatible `/v1` routes (off by default, as in the reference).
    pub chat_completions_enabled: bool,
    /// The Control UI the runtime serves (`gateway.controlUi`).
    pub control_ui: super::control_ui::ControlUiInfo,
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
            pairing_auto_approve_local: true,
            node_commands: super::NodeCommandRules::default(),
            models: Default::default(),
            tools: Default::default(),
            chat_completions_enabled: false,
            control_ui: Default::default(),
        }
    }
}

impl Limits {
    /// The same, with `handshake_timeout` set.
    #[must_use]
    pub fn with_handshake_timeout(mut self, value: Duration) -> Self {
        self.handshake_timeout = value;
        self
    }

    /// The same, with `max_preauth_per_ip` set.
    #[must_use]
    pub fn with_max_preauth_per_ip(mut self, value: usize) -> Self {
        self.max_preauth_per_ip = value;
        self
    }

    /// The same, with `max_connections` set.
    #[must_use]
    pub fn with_max_connections(mut self, value: usize) -> Self {
        self.max_connections = value;
        self
    }

    /// The same, with `max_preauth_payload` set.
    #[must_use]
    pub fn with_max_preauth_payload(mut self, value: usize) -> Self {
        self.max_preauth_payload = value;
        self
    }

    /// The same, with `max_payload` set.
    #[must_use]
    pub fn with_max_payload(mut self, value: usize) -> Self {
        self.max_payload = value;
        self
    }

    /// The same, with `max_buffered_bytes` set.
    #[must_use]
    pub fn with_max_buffered_bytes(mut self, value: usize) -> Self {
        self.max_buffered_bytes = value;
        self
    }

    /// The same, with `tick_interval` set.
    #[must_use]
    pub fn with_tick_interval(mut self, value: Duration) -> Self {
        self.tick_interval = value;
        self
    }

    /// The same, with `health_refresh_interval` set.
    #[must_use]
    pub fn with_health_refresh_interval(mut self, value: Duration) -> Self {
        self.health_refresh_interval = value;
        self
    }

    /// The same, with `presence_ttl` set.
    #[must_use]
    pub fn with_presence_ttl(mut self, value: Duration) -> Self {
        self.presence_ttl = value;
        self
    }

    /// The same, with `presence_max` set.
    #[must_use]
    pub fn with_presence_max(mut self, value: usize) -> Self {
        self.presence_max = value;
        self
    }

    /// The same, with `presence_broadcast_window` set.
    #[must_use]
    pub fn with_presence_broadcast_window(mut self, value: Duration) -> Self {
        self.presence_broadcast_window = value;
        self
    }

    /// The same, with `auth_failure_delay` set.
    #[must_use]
    pub fn with_auth_failure_delay(mut self, value: Duration) -> Self {
        self.auth_failure_delay = value;
        self
    }

    /// The same, with `auth_failure_delay_max` set.
    #[must_use]
    pub fn with_auth_failure_delay_max(mut self, value: Duration) -> Self {
        self.auth_failure_delay_max = value;
        self
    }

    /// The same, with `auth_failures_max` set.
    #[must_use]
    pub fn with_auth_failures_max(mut self, value: u32) -> Self {
        self.auth_failures_max = value;
        self
    }

    /// The same, with `auth_failure_window` set.
    #[must_use]
    pub fn with_auth_failure_window(mut self, value: Duration) -> Self {
        self.auth_failure_window = value;
        self
    }

    /// The same, with `auth_lockout` set.
    #[must_use]
    pub fn with_auth_lockout(mut self, value: Duration) -> Self {
        self.auth_lockout = value;
        self
    }

    /// The same, with `max_pending_effects` set.
    #[must_use]
    pub fn with_max_pending_effects(mut self, value: usize) -> Self {
        self.max_pending_effects = value;
        self
    }

    /// The same, with `effect_timeout` set.
    #[must_use]
    pub fn with_effect_timeout(mut self, value: Duration) -> Self {
        self.effect_timeout = value;
        self
    }
}

impl Config {
    /// The same, with `pairing_auto_approve_local` set.
    #[must_use]
    pub fn with_pairing_auto_approve_local(mut self, value: bool) -> Self {
        self.pairing_auto_approve_local = value;
        self
    }

    /// The same, with `gateway.nodes.commands.allow|deny` set.
    #[must_use]
    pub fn with_node_commands(mut self, value: super::NodeCommandRules) -> Self {
        self.node_commands = value;
        self
    }

    /// The same, with the model catalog set.
    #[must_use]
    pub fn with_models(mut self, value: super::agents::catalog::ModelCatalog) -> Self {
        self.models = value;
        self
    }

    /// The same, with the agent's tool settings set.
    #[must_use]
    pub fn with_tools(mut self, value: super::agents::tools::ToolSettings) -> Self {
        self.tools = value;
        self
    }

    /// The same, with the OpenAI-compatible `/v1` routes on or off.
    #[must_use]
    pub fn with_chat_completions(mut self, enabled: bool) -> Self {
        self.chat_completions_enabled = enabled;
        self
    }

    /// The same, with `auth` set.
    #[must_use]
    pub fn with_auth(mut self, value: AuthConfig) -> Self {
        self.auth = value;
        self
    }

    /// The same, with `origin_policy` set.
    #[must_use]
    pub fn with_origin_policy(mut self, value: OriginPolicy) -> Self {
        self.origin_policy = value;
        self
    }

    /// The same, with `limits` set.
    #[must_use]
    pub fn with_limits(mut self, value: Limits) -> Self {
        self.limits = value;
        self
    }

    /// The same, with `server_version` set.
    #[must_use]
    pub fn with_server_version(mut self, value: String) -> Self {
        self.server_version = value;
        self
    }

    /// The same, with `host` set.
    #[must_use]
    pub fn with_host(mut self, value: HostInfo) -> Self {
        self.host = value;
        self
    }

    /// The same, with `config_path` set.
    #[must_use]
    pub fn with_config_path(mut self, value: Option<String>) -> Self {
        self.config_path = value;
        self
    }

    /// The same, with `state_dir` set.
    #[must_use]
    pub fn with_state_dir(mut self, value: Option<String>) -> Self {
        self.state_dir = value;
        self
    }

    /// The same, with `log_file` set.
    #[must_use]
    pub fn with_log_file(mut self, value: Option<String>) -> Self {
        self.log_file = value;
        self
    }

    /// The same, with `start_ready` set.
    #[must_use]
    pub fn with_start_ready(mut self, value: bool) -> Self {
        self.start_ready = value;
        self
    }
}
