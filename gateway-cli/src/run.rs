//! `openclaw gateway [run]`: resolve settings, set up logs, bind, serve.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::net::SocketAddr;

use gateway_proto::gateway::{AuthConfig, Config, HostInfo, Limits};
use gateway_smol::tls::ServerTls;
use gateway_smol::{Server, ServerOptions};

use crate::instance_lock::{self, LockError};
use crate::settings::{self, RunFlags, Settings, SettingsError};
use crate::{config_file, force, host, logging, watch};

/// A reason to stop before or instead of serving: one line and an exit code.
struct Failure {
    code: i32,
    message: String,
}

impl From<SettingsError> for Failure {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Usage(message) => Failure { code: 2, message },
            SettingsError::Invalid(message) => Failure { code: 1, message },
        }
    }
}

/// Another gateway holds the port or the state dir, or the TLS pair cannot
/// be used: `EX_CONFIG`, so a unit with `RestartPreventExitStatus=78` stops
/// restarting instead of looping on what a restart cannot fix.
const EXIT_CONFLICT: i32 = 78;

fn conflict(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_CONFLICT,
        message: message.into(),
    }
}

fn failure(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

pub fn main(flags: RunFlags) -> i32 {
    match run(flags) {
        Ok(()) => 0,
        Err(Failure { code, message }) => {
            eprintln!("openclaw gateway: {message}");
            code
        }
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn run(flags: RunFlags) -> Result<(), Failure> {
    let state_dir = settings::state_dir(&flags, &env)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state_dir)
        .map_err(|e| {
            failure(format!(
                "cannot create state dir {}: {e}",
                state_dir.display()
            ))
        })?;
    let config_path = settings::config_path(&state_dir, &env);
    let loaded_stamp = watch::stamp(&config_path);
    let file = config_file::load(&config_path).map_err(failure)?.config();
    let settings = settings::resolve(&flags, &env, &file)?;
    let limits = limits_from_env()?;

    let log_file = logging::init(flags.verbose);
    settings::log_model_warnings(&settings);
    if !flags.allow_unconfigured && !config_path.exists() {
        // The reference refuses to start unconfigured; this gateway runs on defaults.
        log::info!(target: "gateway", "no config at {}; using defaults", config_path.display());
    }
    if flags.force && settings.addr.port() != 0 {
        force::free_port(settings.addr.port());
    }
    // The instance lock, then the port (bound first thing in
    // `Server::bind`): both before any store is opened or read.
    let _instance = match instance_lock::acquire(&state_dir) {
        Ok(lock) => lock,
        Err(LockError::Held(pid)) => {
            let by = pid.map_or(String::new(), |p| format!(" (pid {p})"));
            return Err(conflict(format!(
                "another gateway{by} is running with state dir {}; stop it first",
                state_dir.display()
            )));
        }
        Err(LockError::Io(e)) => {
            return Err(failure(format!(
                "cannot lock state dir {}: {e}",
                state_dir.display()
            )))
        }
    };

    // After the instance lock: two gateways never generate one pair at once.
    let tls = match &settings.tls {
        Some(tls_settings) => {
            let tls = ServerTls::load(tls_settings).map_err(|e| conflict(e.to_string()))?;
            log::info!(target: "gateway/tls", "tls fingerprint sha256 {} (cert {})",
                tls.fingerprint, tls.cert_path.display());
            Some(tls)
        }
        None => None,
    };
    let hub_config = HubConfig {
        limits,
        host: host::info(),
        config_path: config_path.clone(),
        state_dir: state_dir.clone(),
        log_file: log_file.clone(),
    };
    let mut opts = ServerOptions::new(hub_config.build(&settings));
    opts.addr = settings.addr;
    opts.log_file = log_file.clone();
    // Paired devices live in `<stateDir>/state/openclaw.sqlite`, shared with
    // the reference; a file we cannot use stops the start-up (exit 1).
    opts.exec_approvals = Some(crate::node_host::gateway_exec_approvals(&state_dir));
    opts.config_file = Some(config_access(&flags, &config_path));
    warn_unused_keys(&config_path);
    opts.state_dir = Some(state_dir);
    opts.proxy_trust = settings.proxy_trust.clone();
    // A renewed certificate is served without a restart, as the reference's;
    // the watcher lives as long as this function serves.
    let _renewal = match &tls {
        Some(tls) => {
            match gateway_smol::tls::TlsRenewal::start(tls.clone(), Duration::from_secs(1)) {
                Ok(renewal) => Some(renewal),
                Err(e) => {
                    log::warn!(target: "gateway/tls", "certificate renewal watch not started: {e}");
                    None
                }
            }
        }
        None => None,
    };
    opts.tls = tls.map(|tls| tls.config);
    opts.control_ui = settings.control_ui.clone();
    // Test/ops knob (not in the reference): the WebSocket keepalive period
    // (default 25 s). A connection whose pong has not come back by the next
    // ping is dropped. The end-to-end keepalive test shortens it.
    if let Some(ms) = env_number("OPENCLAW_WS_PING_INTERVAL_MS")?.filter(|ms| *ms > 0) {
        opts.ping_interval = Duration::from_millis(ms);
    }
    // Ops knob (not in the reference): threads running the connections'
    // socket reads and writes (default: 2 on a host with two or more cores, 1 otherwise).
    if let Some(n) = env_number("OPENCLAW_GATEWAY_THREADS")?.filter(|n| *n > 0) {
        opts.threads = n.min(64) as usize;
    }
    let server = Server::bind(opts).map_err(|e| match &e {
        gateway_smol::Error::Bind { source, .. }
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            conflict(e.to_string())
        }
        _ => failure(e.to_string()),
    })?;
    let addr = server.local_addr();
    let scheme = if settings.tls.is_some() { "wss" } else { "ws" };
    log::info!(target: "gateway", "listening on {scheme}://{addr} (PID {})", std::process::id());
    log::info!(target: "gateway", "auth mode {}, bind {}", settings.auth.mode_name(), settings.bind);
    if let Some(path) = &log_file {
        log::info!(target: "gateway", "log file: {}", path.display());
    }
    if settings.auth == AuthConfig::None {
        log::warn!(target: "gateway",
            "auth is off: any process on this machine can connect (set --token or OPENCLAW_GATEWAY_TOKEN)");
    }
    log::info!(target: "gateway", "{}", how_to_connect(addr, &settings.auth, scheme));

    let reload_flags = flags.clone();
    watch::spawn(
        config_path,
        loaded_stamp,
        settings,
        server.handle(),
        move |file| {
            let settings = settings::resolve(&reload_flags, &env, file).map_err(|e| match e {
                SettingsError::Usage(m) | SettingsError::Invalid(m) => m,
            })?;
            settings::log_model_warnings(&settings);
            Ok(settings)
        },
        move |settings| hub_config.build(settings),
    );

    server.run().map_err(|e| failure(e.to_string()))?;
    log::info!(target: "gateway", "stopped");
    Ok(())
}

/// The config file for the `config.*` RPCs. A write through them must pass
/// the checks a hand edit passes on reload (file, then settings with the
/// same flags and environment), so the running gateway never sees one it
/// would refuse; that resolution lives here, hence a callback.
fn config_access(flags: &RunFlags, path: &Path) -> gateway_smol::ConfigFileAccess {
    let flags = flags.clone();
    gateway_smol::ConfigFileAccess {
        path: path.to_path_buf(),
        validate: std::sync::Arc::new(move |text: &str| {
            let file = config_file::parse(text)?.config();
            settings::resolve(&flags, &env, &file)
                .map(|_| ())
                .map_err(|e| match e {
                    SettingsError::Usage(m) | SettingsError::Invalid(m) => m,
                })
        }),
    }
}

/// Once at start-up: the keys of the file the reference knows but this
/// gateway does not use (accepted, so a reference config keeps working).
fn warn_unused_keys(path: &Path) {
    let unused = config_file::unused_keys(path);
    if !unused.is_empty() {
        log::warn!(target: "gateway", "not used by this gateway: {}", unused.join(", "));
    }
}

/// The last start-up line: where clients connect and a command that checks it
/// (the reference ends with its dashboard URL). Never the secret itself.
fn how_to_connect(addr: SocketAddr, auth: &AuthConfig, scheme: &str) -> String {
    let local = addr.ip().is_loopback() || addr.ip().is_unspecified();
    let command = match (local, addr.port()) {
        (true, settings::DEFAULT_PORT) => "openclaw gateway health".to_owned(),
        (true, port) => format!("OPENCLAW_GATEWAY_PORT={port} openclaw gateway health"),
        (false, _) => format!("OPENCLAW_GATEWAY_URL={scheme}://{addr} openclaw gateway health"),
    };
    let credentials = match auth {
        AuthConfig::None => "",
        AuthConfig::Token(_) => " (with the same token: --token or OPENCLAW_GATEWAY_TOKEN)",
        AuthConfig::Password(_) => {
            " (with the same password: --password or OPENCLAW_GATEWAY_PASSWORD)"
        }
    };
    format!("ready: clients connect to {scheme}://{addr}; try `{command}`{credentials}")
}

/// The parts of the hub's configuration that do not come from the settings.
struct HubConfig {
    limits: Limits,
    host: HostInfo,
    config_path: PathBuf,
    state_dir: PathBuf,
    log_file: Option<PathBuf>,
}

impl HubConfig {
    fn build(&self, settings: &Settings) -> Config {
        let path_string = |p: &Path| p.display().to_string();
        Config::default()
            .with_auth(settings.auth.clone())
            .with_origin_policy(settings.origin_policy.clone())
            .with_pairing_auto_approve_local(settings.pairing_auto_approve_local)
            .with_node_commands(settings.node_commands.clone())
            .with_models(settings.models.clone())
            .with_tools(settings.tools.clone())
            .with_chat_completions(settings.chat_completions_enabled)
            .with_limits(self.limits.clone())
            .with_host(self.host.clone())
            .with_config_path(Some(path_string(&self.config_path)))
            .with_state_dir(Some(path_string(&self.state_dir)))
            .with_log_file(self.log_file.as_deref().map(path_string))
            // The runtime sends `Ready` once the listener is bound.
            .with_start_ready(false)
    }
}

fn env_number(key: &str) -> Result<Option<u64>, Failure> {
    match env(key).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            failure(format!(
                "invalid {key} {v:?} (expected a non-negative integer)"
            ))
        }),
    }
}

fn limits_from_env() -> Result<Limits, Failure> {
    let mut limits = Limits::default();
    if let Some(ms) = env_number("OPENCLAW_HANDSHAKE_TIMEOUT_MS")? {
        limits.handshake_timeout = Duration::from_millis(ms);
    }
    if let Some(max) = env_number("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP")? {
        limits.max_preauth_per_ip = usize::try_from(max).unwrap_or(usize::MAX);
    }
    // Knob (not in the reference): presence changes within this many
    // milliseconds of a broadcast go out as one trailing broadcast (default
    // 50; 0 broadcasts every change, as the reference does).
    if let Some(ms) = env_number("OPENCLAW_PRESENCE_BROADCAST_WINDOW_MS")? {
        limits.presence_broadcast_window = Duration::from_millis(ms);
    }
    // Ops knob (not in the reference): sockets held at once (default 50,000).
    if let Some(max) = env_number("OPENCLAW_MAX_CONNECTIONS")? {
        limits.max_connections = usize::try_from(max).unwrap_or(usize::MAX);
    }
    // Test/ops knob (not in the reference): `policy.tickIntervalMs`, the
    // period of `tick` events (default 30 s). A client that stopped reading is
    // closed "slow consumer" within two of them; tests shorten it.
    if let Some(ms) = env_number("OPENCLAW_TICK_INTERVAL_MS")? {
        limits.tick_interval = Duration::from_millis(ms.max(100));
    }
    // Test/ops knob (not in the reference): `policy.maxBufferedBytes`, the unsent
    // bytes past which a connection is a slow consumer (default 50 MiB). The
    // end-to-end slow-consumer test lowers it to stay fast.
    if let Some(bytes) = env_number("OPENCLAW_MAX_BUFFERED_BYTES")? {
        limits.max_buffered_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    Ok(limits)
}
