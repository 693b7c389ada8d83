//! Everything about the runtime that a caller (the CLI, a test) can tune.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use gateway_proto::gateway::Config;

use crate::proxy::ProxyTrust;

/// How to run a gateway. [`ServerOptions::new`] gives the reference's values.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where to listen; port 0 picks a free port (see [`crate::Server::local_addr`]).
    pub addr: SocketAddr,
    /// The hub's configuration. `start_ready` should be `false`: the runtime sends
    /// `Input::Ready` itself once the listener is bound.
    pub config: Config,
    /// Keepalive ping period after auth; a ping unanswered for one period closes the socket.
    pub ping_interval: Duration,
    /// Largest HTTP request head accepted.
    pub max_http_head: usize,
    /// Time a client has to send its (first) HTTP request head.
    pub http_head_timeout: Duration,
    /// How long a kept-alive HTTP connection may wait for its next request.
    pub http_keep_alive: Duration,
    /// After sending a close frame, how long to wait for the peer's close before dropping.
    pub close_linger: Duration,
    /// On shutdown or restart, how long to wait for sockets to close before giving up.
    pub drain_timeout: Duration,
    /// `restartExpectedMs` announced in the `shutdown` event of an in-process restart.
    pub restart_expected_ms: u64,
    /// Install SIGTERM/SIGINT (shutdown) and SIGUSR1 (restart) handlers.
    pub handle_signals: bool,
    /// The JSON-lines log file that `logs.tail` reads (defaults to `config.log_file`).
    pub log_file: Option<PathBuf>,
    /// The state dir whose `state/openclaw.sqlite` holds paired devices
    /// (shared with the reference) and whose `agents/<id>/sessions/` hold
    /// the sessions. `None`: no store; pairing writes fail, sessions live
    /// in memory only.
    pub state_dir: Option<PathBuf>,
    /// Threads that run the connections' tasks (their socket reads and
    /// writes): the thread calling `run` plus `threads - 1` more. The hub
    /// always runs on the calling thread. Default: [`default_threads`].
    pub threads: usize,
    /// `gateway.trustedProxies` / `gateway.allowRealIpFallback`: whose
    /// forwarded-client headers are believed (see [`ServerHandle::set_proxy_trust`]
    /// to change it while running).
    ///
    /// [`ServerHandle::set_proxy_trust`]: crate::ServerHandle::set_proxy_trust
    pub proxy_trust: ProxyTrust,
    /// Answers `exec.approvals.get` (the host's exec approvals, read from
    /// its state dir); `None`: the method answers UNAVAILABLE.
    pub exec_approvals: Option<ExecApprovalsSource>,
    /// Timeouts of model provider calls.
    pub providers: crate::providers::ProviderSettings,
    /// The config file the `config.*` RPCs read and write; `None`: they
    /// answer UNAVAILABLE.
    pub config_file: Option<crate::ConfigFileAccess>,
    /// `gateway.tls`: the port serves TLS only (probes and WebSocket alike);
    /// `None`: plain TCP.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The browser Control UI (`gateway.controlUi`): found on disk once, at
    /// [`crate::Server::bind`].
    pub control_ui: ControlUiOptions,
}

/// `gateway.controlUi.{enabled,root,basePath}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlUiOptions {
    /// Serve the UI (the reference's default: yes).
    pub enabled: bool,
    /// The app directory; `None`: an installed `openclaw` package's.
    pub root: Option<PathBuf>,
    /// The URL path the UI lives under (`""`: the root).
    pub base_path: String,
}

impl Default for ControlUiOptions {
    fn default() -> Self {
        ControlUiOptions {
            enabled: true,
            root: None,
            base_path: String::new(),
        }
    }
}

/// What reads the host's exec approvals for `exec.approvals.get`: called on
/// the blocking pool, it returns the method's answer.
#[derive(Clone)]
pub struct ExecApprovalsSource(
    pub std::sync::Arc<dyn Fn() -> Result<serde_json::Value, String> + Send + Sync>,
);

impl std::fmt::Debug for ExecApprovalsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecApprovalsSource")
    }
}

/// Two threads on a host with two or more cores (the hub and one set of
/// writers can then run at once during a broadcast), one otherwise.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

impl ServerOptions {
    pub fn new(config: Config) -> Self {
        ServerOptions {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 18789)),
            log_file: config.log_file.as_ref().map(PathBuf::from),
            config,
            ping_interval: Duration::from_secs(25),
            // Node's default (--max-http-header-size), as in the reference: a
            // browser with many localhost cookies sends large heads.
            max_http_head: 16 * 1024,
            http_head_timeout: Duration::from_secs(10),
            // Node's `server.keepAliveTimeout` default.
            http_keep_alive: Duration::from_secs(5),
            close_linger: Duration::from_millis(500),
            drain_timeout: Duration::from_millis(1500),
            restart_expected_ms: 1500,
            handle_signals: true,
            state_dir: None,
            threads: default_threads(),
            proxy_trust: ProxyTrust::default(),
            exec_approvals: None,
            providers: crate::providers::ProviderSettings::default(),
            config_file: None,
            tls: None,
            control_ui: ControlUiOptions::default(),
        }
    }
}
