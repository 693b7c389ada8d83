//! `openclaw node run`: the headless node host. It connects to a gateway as
//! `role: "node"` with this machine's device identity, declares what it can
//! execute (`system.run`, `system.which`, `system.execApprovals.get|set`),
//! answers `node.invoke.request`s, and reconnects with a bounded, jittered
//! backoff after any close, forever.
//!
//! Facts (reference 2026.9.6, `src/node-host/runner.ts`, docs `cli/node.md`):
//! the connect is `client {id: "node-host", mode: "node", platform,
//! deviceFamily, displayName, version}`, `scopes: []`, `caps`, `commands`,
//! `pathEnv` and a signed device; credentials come only from
//! `OPENCLAW_GATEWAY_TOKEN` / `OPENCLAW_GATEWAY_PASSWORD` or the config's
//! `gateway.auth.*`; it logs `node host gateway connected|connect
//! failed|closed` lines on stderr, and its periodic `node.event`
//! (`node.host.stats`) fails while its capability surface awaits an
//! operator's approval, which it reports.

mod approvals;
mod env;
mod exec;
mod invoke;
mod policy;
mod system_run;
mod which;

use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;
use gateway_proto::client::{CallFailure, ClientIdentity};
use gateway_smol::client::{Client, ClientEvent, ConnectError};
use serde_json::{json, Value};

use crate::client::connect::Session;
use crate::client::target;
use approvals::Approvals;
use invoke::{InvokeFrame, Running};

/// Run a headless node host that executes commands for the gateway.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "node")]
pub struct NodeCmd {
    #[argh(subcommand)]
    pub command: NodeSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum NodeSub {
    Run(NodeRunArgs),
    Install(crate::service::NodeInstallArgs),
}

/// Connect to a gateway as a node and execute its invokes (foreground).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
pub struct NodeRunArgs {
    /// gateway host (default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    pub host: String,
    /// gateway port (default 18789)
    #[argh(option, default = "target::DEFAULT_PORT")]
    pub port: u16,
    /// the name operators see (default: this machine's host name)
    #[argh(option)]
    pub display_name: Option<String>,
    /// this node host's instance id (sent as client.instanceId)
    #[argh(option)]
    pub node_id: Option<String>,
    /// exact list of commands to advertise, comma-separated (default: all this host supports)
    #[argh(option)]
    pub commands: Option<String>,
    /// use TLS for the gateway connection (wss://)
    #[argh(switch)]
    pub tls: bool,
    /// disable TLS for the gateway connection
    #[argh(switch)]
    pub no_tls: bool,
    /// expected TLS certificate fingerprint (sha256); implies --tls
    #[argh(option)]
    pub tls_fingerprint: Option<String>,
}

impl NodeRunArgs {
    /// Whether to use TLS and which certificate to pin, as the reference
    /// reads `--tls`, `--no-tls` and `--tls-fingerprint`.
    fn tls(&self) -> Result<(bool, Option<String>), String> {
        if self.no_tls && self.tls_fingerprint.is_some() {
            return Err("--no-tls cannot be combined with --tls-fingerprint".into());
        }
        let fingerprint =
            match &self.tls_fingerprint {
                Some(text) => Some(gateway_smol::tls::normalize_fingerprint(text).ok_or(
                    "Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.",
                )?),
                None => None,
            };
        Ok((
            !self.no_tls && (self.tls || fingerprint.is_some()),
            fingerprint,
        ))
    }
}

/// The capability family of the system commands.
const CAPS: &[&str] = &["system"];
/// Connect (handshake) deadline and default call deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often host stats are published (the reference's interval), and how
/// often a pending surface is reported.
const STATS_INTERVAL: Duration = Duration::from_secs(60);
const PENDING_REPORT_INTERVAL: Duration = Duration::from_secs(30);

/// What an invoke task needs of its connection and of the node host.
#[derive(Clone)]
pub struct NodeLink {
    pub client: Arc<Client>,
    /// This node's id on the gateway: its device id.
    pub node_id: String,
    pub approvals: Arc<Approvals>,
    pub commands: Arc<Vec<String>>,
}

pub fn run_node(cmd: NodeCmd) -> i32 {
    match cmd.command {
        NodeSub::Run(args) => run(args),
        NodeSub::Install(args) => crate::service::run_node_install(args),
    }
}

/// The commands to advertise: `--commands` (only those this host can run,
/// in the order given), else all it supports.
fn advertised(list: Option<&str>) -> Vec<String> {
    let Some(list) = list else {
        return invoke::SUPPORTED.iter().map(|s| s.to_string()).collect();
    };
    let mut out: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !invoke::SUPPORTED.contains(&name) {
            eprintln!("node host: ignoring unsupported command {name:?}");
        } else if !out.iter().any(|c| c == name) {
            out.push(name.to_owned());
        }
    }
    out
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node-host".to_owned())
}

fn ws_url(host: &str, port: u16, tls: bool) -> String {
    let scheme = if tls { "wss" } else { "ws" };
    if host.contains(':') && !host.starts_with('[') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

fn run(args: NodeRunArgs) -> i32 {
    // Our own lines go to stderr directly (as the reference's); the library
    // logs warnings there too, and more with RUST_LOG.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .try_init();
    let (tls, tls_fingerprint) = match args.tls() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    // Credentials only from the environment or the config file, never flags.
    let resolved = match target::resolve(None, None, None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("node host: {}", e.message);
            return 1;
        }
    };
    let target = target::Target {
        url: ws_url(&args.host, args.port, tls),
        tls_fingerprint,
        ..resolved
    };
    let commands = advertised(args.commands.as_deref());
    let state_dir = target::state_dir();
    let approvals = Arc::new(Approvals::new(&state_dir, explicit_state_dir()));
    let session = Session::node(
        ClientIdentity {
            id: "node-host".into(),
            mode: "node".into(),
            display_name: Some(args.display_name.clone().unwrap_or_else(host_name)),
            instance_id: args.node_id.clone(),
            ..ClientIdentity::default()
        },
        CAPS.iter().map(|s| s.to_string()).collect(),
        commands.clone(),
        std::env::var("PATH").ok(),
        CONNECT_TIMEOUT,
    );
    let running = Running::default();
    let stop_running = running.clone();
    smol::block_on(async move {
        let host = NodeHost {
            target,
            session,
            approvals,
            commands: Arc::new(commands),
            running,
        };
        smol::future::or(host.run_forever(), stop_on_signal(stop_running)).await
    })
}

/// SIGTERM/SIGINT: kill the commands still running (they are in their own
/// process groups, so they would outlive us), then exit 0.
async fn stop_on_signal(running: Running) -> i32 {
    use futures_util::StreamExt;
    let Ok(mut signals) =
        async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
    else {
        return smol::future::pending().await;
    };
    let _ = signals.next().await;
    let killed = running.cancel_all();
    if killed > 0 {
        // Let the cancelled invokes kill their process groups.
        smol::Timer::after(Duration::from_millis(200)).await;
    }
    eprintln!("node host stopping");
    0
}

struct NodeHost {
    target: target::Target,
    session: Session,
    approvals: Arc<Approvals>,
    commands: Arc<Vec<String>>,
    running: Running,
}

impl NodeHost {
    async fn run_forever(self) -> i32 {
        let mut backoff = ReconnectBackoff::default();
        loop {
            match self.session.connect(&self.target).await {
                Ok(client) => {
                    eprintln!("node host gateway connected: {}", self.target.url);
                    backoff.reset();
                    let (code, reason) = self.serve(client).await;
                    eprintln!("node host gateway closed ({code}): {reason}");
                }
                Err(e) => self.report_connect_error(&e),
            }
            let delay = backoff.next_delay();
            log::debug!("node host reconnecting in {}ms", delay.as_millis());
            smol::Timer::after(delay).await;
        }
    }

    fn report_connect_error(&self, e: &ConnectError) {
        eprintln!("node host gateway connect failed: {e}");
        if let ConnectError::Refused(CallFailure::Handshake(error)) = e {
            if error.detail_code() == Some("PAIRING_REQUIRED") {
                let request = error
                    .details
                    .as_ref()
                    .and_then(|d| d.get("requestId"))
                    .and_then(Value::as_str)
                    .unwrap_or("<requestId>");
                eprintln!(
                    "node host pairing required: approve this device on the gateway \
                     (`openclaw devices approve {request}`); retrying"
                );
            }
        }
    }

    /// Serve one connection until it closes; its close code and reason.
    async fn serve(&self, client: Client) -> (u16, String) {
        let node_id = self.session.device_id().unwrap_or_default();
        let events = client.events();
        let link = NodeLink {
            client: Arc::new(client),
            node_id: node_id.clone(),
            approvals: self.approvals.clone(),
            commands: self.commands.clone(),
        };
        let _stats = smol::spawn(publish_host_stats(link.client.clone()));
        let closed = loop {
            let Ok(event) = events.recv().await else {
                break (1006, "client task stopped".to_owned());
            };
            match event {
                ClientEvent::Event { name, payload, .. } => self.on_event(&link, &name, &payload),
                ClientEvent::Disconnected { code, reason } => break (code, reason),
                _ => {}
            }
        };
        let cancelled = self.running.cancel_all();
        if cancelled > 0 {
            eprintln!("node host cancelled {cancelled} running invoke(s): connection closed");
        }
        closed
    }

    fn on_event(&self, link: &NodeLink, name: &str, payload: &Value) {
        match name {
            "node.invoke.request" => match InvokeFrame::parse(payload) {
                Some(frame) => self.start_invoke(link.clone(), frame),
                None => log::debug!("ignoring a malformed node.invoke.request: {payload}"),
            },
            "node.invoke.cancel" => {
                if let Some(id) = payload.get("invokeId").and_then(Value::as_str) {
                    if self.running.cancel(id) {
                        eprintln!("node host invoke cancelled: {id}");
                    }
                }
            }
            "node.pair.resolved"
                if payload.get("nodeId").and_then(Value::as_str) == Some(link.node_id.as_str()) =>
            {
                let decision = payload
                    .get("decision")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                eprintln!("node host capability surface {decision} by an operator");
            }
            _ => {}
        }
    }

    fn start_invoke(&self, link: NodeLink, frame: InvokeFrame) {
        let cancel = self.running.start(&frame.id);
        let running = self.running.clone();
        smol::spawn(async move {
            let reply = invoke::execute(&link, &frame, cancel).await;
            running.finish(&frame.id);
            let Some(reply) = reply else {
                return;
            };
            let params = reply.result_params(&frame);
            if let Err(e) = link.client.call("node.invoke.result", Some(params)).await {
                eprintln!(
                    "node host invoke result not delivered ({} {}): {e}",
                    frame.command, frame.id
                );
            }
        })
        .detach();
    }
}

/// Publish `node.host.stats` now and then, as the reference does. While the
/// capability surface awaits approval the gateway refuses it; that is when
/// the node says so.
async fn publish_host_stats(client: Arc<Client>) {
    let mut failure_logged = false;
    loop {
        let params = json!({"event": "node.host.stats", "payloadJSON": host_stats().to_string()});
        let pending = match client.call("node.event", Some(params)).await {
            Ok(_) => false,
            Err(e) => {
                let message = e.to_string();
                if !failure_logged {
                    failure_logged = true;
                    eprintln!("node host stats publish failed: {message}");
                }
                // The reference refuses a node whose surface is not approved
                // yet with one of these two messages.
                let pending = message.contains("awaiting operator approval")
                    || message.contains("node pairing changed");
                if pending {
                    eprintln!(
                        "node host capability surface awaits operator approval \
                         (`openclaw nodes pending`, then `openclaw nodes approve <requestId>`); \
                         its commands cannot be invoked until then"
                    );
                }
                pending
            }
        };
        let wait = if pending {
            PENDING_REPORT_INTERVAL
        } else {
            STATS_INTERVAL
        };
        smol::Timer::after(wait).await;
    }
}

/// `{cpuCount, memoryTotalBytes, memoryFreeBytes}` from `/proc/meminfo`.
fn host_stats() -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    json!({
        "cpuCount": cpus,
        "memoryTotalBytes": kib("MemTotal:") * 1024,
        "memoryFreeBytes": kib("MemAvailable:") * 1024,
    })
}

/// Reconnect delays: 1 s doubling to 30 s, each ±25 % at random so nodes
/// that lost the same gateway do not all come back at once; reset after a
/// successful connect.
#[derive(Default)]
struct ReconnectBackoff {
    failures: u32,
}

const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl ReconnectBackoff {
    fn next_delay(&mut self) -> Duration {
        let base = (BACKOFF_INITIAL * (1u32 << self.failures.min(5))).min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        let mut r = [0u8; 2];
        let _ = getrandom::getrandom(&mut r);
        // 0.75 ..= 1.25 of the base.
        let factor = 0.75 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) * 0.5;
        base.mul_f64(factor)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `OPENCLAW_STATE_DIR` was set: approvals paths are shown in full.
fn explicit_state_dir() -> bool {
    std::env::var("OPENCLAW_STATE_DIR").is_ok_and(|v| !v.trim().is_empty())
}

/// The gateway's `exec.approvals.get`: the same document a node host keeps,
/// for the gateway host's state dir, with its resolved defaults (the
/// reference's gateway answer; a node's omits them).
pub fn gateway_exec_approvals(state_dir: &std::path::Path) -> gateway_smol::ExecApprovalsSource {
    let approvals = Approvals::new(state_dir, explicit_state_dir());
    gateway_smol::ExecApprovalsSource(Arc::new(move || {
        approvals
            .get(Some(
                &serde_json::json!({ "includeResolvedDefaults": true }),
            ))
            .map_err(|e| match e {
                approvals::ApprovalsError::Invalid(m)
                | approvals::ApprovalsError::Unavailable(m) => m,
            })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_within_bounds_and_resets() {
        let mut b = ReconnectBackoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = (BACKOFF_INITIAL * (1u32 << i.min(5) as u32)).min(BACKOFF_MAX);
            assert!(
                *d >= base.mul_f64(0.75) && *d <= base.mul_f64(1.25),
                "{i}: {d:?}"
            );
        }
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX.mul_f64(1.25)));
        b.reset();
        assert!(b.next_delay() <= BACKOFF_INITIAL.mul_f64(1.25));
    }

    #[test]
    fn commands_are_an_exact_allowlist_of_supported_ones() {
        assert_eq!(advertised(None).len(), invoke::SUPPORTED.len());
        assert_eq!(
            advertised(Some("system.which, camera.snap,system.which,system.run")),
            ["system.which", "system.run"]
        );
        assert!(advertised(Some("")).is_empty());
    }

    #[test]
    fn urls_bracket_ipv6_hosts() {
        assert_eq!(ws_url("127.0.0.1", 1, false), "ws://127.0.0.1:1");
        assert_eq!(ws_url("::1", 2, false), "ws://[::1]:2");
        assert_eq!(ws_url("::1", 2, true), "wss://[::1]:2");
    }
}
