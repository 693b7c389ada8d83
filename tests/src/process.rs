//! Real processes for end-to-end and interop tests: OUR gateway binary, the
//! REFERENCE gateway and the reference `openclaw` CLI (installed from npm by
//! `../shared/tools/install-reference.sh`). Every process started here is
//! killed when its guard is dropped, also when a test panics.
#![allow(clippy::disallowed_methods)] // real processes, real time

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::load::LoadTarget;

/// `shared/` beside the repository (holds the reference install script).
pub const SHARED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");

/// The default shared token of the gateways started here.
pub const TOKEN: &str = "e2e-test-token";

/// A loopback port nobody listens on right now (racy by nature: prefer `--port 0`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Send one raw HTTP request, read the whole answer: `(status, head + body)`;
/// status 0 when nothing answers.
pub fn http_raw(port: u16, request: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    http_status_and_text(&response)
}

/// A raw HTTP answer as `(status, head + body)`; status 0 when the status
/// line is missing or broken.
pub fn http_status_and_text(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// `GET <path>` with `Connection: close`: `(status, head + body)`.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
}

fn readyz(port: u16) -> bool {
    let (status, text) = http_get(port, "/readyz");
    status == 200 && text.contains("\"ready\":true")
}

/// The soft limit on open files (`ulimit -n`) of this process, which the
/// gateways it starts inherit.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Our `openclaw` binary: `target/<profile>/openclaw`, next to the test
/// executable's `deps/` directory (`cargo test --workspace` builds it first).
pub fn our_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test executable has a parent dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let bin = dir.join("openclaw");
    assert!(
        bin.is_file(),
        "our gateway binary {} is missing: build it with cargo build -p gateway-cli \
         (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// A command running OUR binary with an isolated environment under `home`:
/// state, config and log file there, none of the developer's gateway variables.
pub fn our_command(home: &Path) -> Command {
    binary_command(&our_binary(), home)
}

/// [`our_command`] running `binary` (e.g. the release build, for measurements).
pub fn binary_command(binary: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(binary);
    isolate(&mut cmd, home);
    cmd.env("OPENCLAW_LOG_FILE", home.join("openclaw.log"))
        .stdin(Stdio::null());
    cmd
}

/// The arguments of `openclaw gateway run` on `port` (0: the kernel picks
/// and the gateway prints it) with `--bind bind`.
pub fn gateway_run_args(port: u16, bind: &str) -> [String; 6] {
    [
        "gateway",
        "run",
        "--port",
        &port.to_string(),
        "--bind",
        bind,
    ]
    .map(String::from)
}

/// `binary gateway run` on loopback `port` under `home`, with `token` as
/// its shared secret; the caller sets up stdio and process group.
pub fn gateway_run_command(binary: &Path, home: &Path, port: u16, token: &str) -> Command {
    let mut cmd = binary_command(binary, home);
    cmd.args(gateway_run_args(port, "loopback"))
        .env("OPENCLAW_GATEWAY_TOKEN", token);
    cmd
}

/// Our `openclaw node run` against 127.0.0.1:`port` as `display_name`,
/// in its own process group, its state under `home`, its stderr in `log`.
pub fn spawn_node_host(
    home: &Path,
    port: u16,
    token: &str,
    display_name: &str,
    log: std::fs::File,
) -> GroupGuard {
    let mut cmd = our_command(home);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args([
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ])
    .args(["--display-name", display_name])
    .env("OPENCLAW_GATEWAY_TOKEN", token)
    .stdout(Stdio::null())
    .stderr(log);
    GroupGuard::new(cmd.spawn().expect("spawn openclaw node run"))
}

/// HOME, OPENCLAW_STATE_DIR and OPENCLAW_CONFIG_PATH under `home`; the gateway
/// variables of the surrounding environment removed.
fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home.join("state"))
        .env("OPENCLAW_CONFIG_PATH", home.join("state/openclaw.json"));
    for key in [
        "OPENCLAW_GATEWAY_URL",
        "OPENCLAW_GATEWAY_PORT",
        "OPENCLAW_GATEWAY_TOKEN",
        "OPENCLAW_GATEWAY_PASSWORD",
        "OPENCLAW_LOG_FILE",
        "OPENCLAW_HANDSHAKE_TIMEOUT_MS",
        "OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP",
        "OPENCLAW_MAX_CONNECTIONS",
        "OPENCLAW_PRESENCE_BROADCAST_WINDOW_MS",
        "OPENCLAW_MAX_BUFFERED_BYTES",
        "RUST_LOG",
    ] {
        cmd.env_remove(key);
    }
}

/// How to start [`OurGateway`].
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// `OPENCLAW_GATEWAY_TOKEN`.
    pub token: String,
    /// Extra environment, e.g. `OPENCLAW_HANDSHAKE_TIMEOUT_MS`.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `gateway run --port 0 --bind <bind>`.
    pub args: Vec<String>,
    /// `--bind` mode (`loopback` unless set).
    pub bind: String,
    /// Text of `state/openclaw.json`, written before the start.
    pub config: Option<String>,
    /// The `openclaw` binary to run ([`our_binary`] unless set).
    pub binary: Option<PathBuf>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            token: TOKEN.to_owned(),
            env: Vec::new(),
            args: Vec::new(),
            bind: "loopback".to_owned(),
            config: None,
            binary: None,
        }
    }
}

impl GatewayOptions {
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// Listen on `host` (an IP address, e.g. `::`) through `--bind custom`
    /// and `gateway.customBindHost` in the config file.
    pub fn bind_host(mut self, host: &str) -> Self {
        self.bind = "custom".to_owned();
        self.config = Some(format!(r#"{{"gateway":{{"customBindHost":"{host}"}}}}"#));
        self
    }
}

/// OUR gateway (`openclaw gateway run`) on a free loopback port with its own
/// temp HOME / state / config / log file. Killed on drop.
pub struct OurGateway {
    child: Child,
    pub port: u16,
    pub token: String,
    /// Holds HOME, state dir, config path and log file.
    pub dir: tempfile::TempDir,
    /// Console lines (stdout and stderr), kept for failure messages.
    output: Arc<Mutex<Vec<String>>>,
    /// The certificate fingerprint it printed (`gateway.tls` on): its port
    /// then speaks TLS only.
    pub tls_fingerprint: Option<String>,
}

/// What the gateway's start-up lines tell a test.
enum Announced {
    Fingerprint(String),
    Port(u16),
}

impl OurGateway {
    /// Start it and wait until `GET /readyz` says ready.
    pub fn start(opts: GatewayOptions) -> OurGateway {
        Self::start_in(opts, tempfile::tempdir().expect("tempdir"))
    }

    /// [`OurGateway::start`] with HOME in `dir` (state dir `dir/state`), for
    /// a test that prepared the state beforehand (or takes it over from
    /// another gateway). `opts.config`, if any, replaces the config file.
    pub fn start_in(opts: GatewayOptions, dir: tempfile::TempDir) -> OurGateway {
        Self::start_on(opts, dir, 0)
    }

    /// [`OurGateway::start_in`] on a given `port` (0: any free one), e.g. a
    /// restart on the address its clients reconnect to.
    pub fn start_on(opts: GatewayOptions, dir: tempfile::TempDir, port: u16) -> OurGateway {
        if let Some(config) = &opts.config {
            std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
            std::fs::write(dir.path().join("state/openclaw.json"), config).expect("config");
        }
        let mut cmd = match &opts.binary {
            Some(binary) => binary_command(binary, dir.path()),
            None => our_command(dir.path()),
        };
        // Port 0: the kernel picks a free port, the gateway prints it (no race
        // with other tests picking the same "free" port).
        cmd.args(gateway_run_args(port, &opts.bind))
            .args(&opts.args)
            .env("OPENCLAW_GATEWAY_TOKEN", &opts.token)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn our openclaw gateway");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        // Drain both pipes for the life of the process (a full pipe would block it).
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            let port_tx = port_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(fingerprint) = line.split("tls fingerprint sha256 ").nth(1) {
                        let fingerprint = fingerprint.split_whitespace().next().unwrap_or_default();
                        let _ = port_tx.send(Announced::Fingerprint(fingerprint.to_owned()));
                    }
                    let address = line
                        .split("listening on ws://")
                        .nth(1)
                        .or_else(|| line.split("listening on wss://").nth(1));
                    if let Some(rest) = address {
                        let port = rest
                            .split_whitespace()
                            .next()
                            .and_then(|addr| addr.rsplit(':').next())
                            .and_then(|p| p.parse::<u16>().ok());
                        if let Some(port) = port {
                            let _ = port_tx.send(Announced::Port(port));
                        }
                    }
                    let mut lines = output.lock().unwrap_or_else(|e| e.into_inner());
                    if lines.len() < 2000 {
                        lines.push(line);
                    }
                }
            });
        }
        drop(port_tx);
        let mut gateway = OurGateway {
            tls_fingerprint: None,
            child,
            port: 0,
            token: opts.token,
            dir,
            output,
        };
        // The fingerprint (with TLS on) is printed before the port.
        loop {
            match port_rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Announced::Fingerprint(fingerprint)) => {
                    gateway.tls_fingerprint = Some(fingerprint)
                }
                Ok(Announced::Port(port)) => {
                    gateway.port = port;
                    break;
                }
                Err(_) => panic!(
                    "our gateway did not print its port; output:\n{}",
                    gateway.output()
                ),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = |g: &OurGateway| match &g.tls_fingerprint {
            Some(fingerprint) => crate::tls::ready(g.port, fingerprint),
            None => readyz(g.port),
        };
        while !ready(&gateway) {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                panic!(
                    "our gateway exited ({status}); output:\n{}",
                    gateway.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "our gateway never became ready; output:\n{}",
                gateway.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        gateway
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls_fingerprint.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kill it (SIGKILL) and hand back its HOME, for another gateway to
    /// start on the same state.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn target(&self) -> LoadTarget {
        LoadTarget {
            url: self.url(),
            token: self.token.clone(),
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// The gateway's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("openclaw.log")
    }

    /// Resident memory in KiB (`VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).expect("VmRSS of the gateway")
    }

    /// Send a signal by name (`TERM`, `INT`, `HUP`) to the gateway process.
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Wait for the process to exit; `None` if it did not within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for OurGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `kill -<name> <pid>`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// `kill -KILL -- -<pgid>`: the whole process group (best effort).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Every live descendant of `root` (children, grandchildren, …), from /proc.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may hold spaces and parens.
            let ppid = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !found.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// SIGKILL `root`'s process group and every descendant of `root`, also those
/// that left the group (the reference CLI re-executes itself in a new session,
/// e.g. as `openclaw-logs`, which a group kill misses). Descendants are listed
/// before anything is killed, while they are still linked to `root`.
pub fn kill_tree(root: u32) {
    let pids = descendants(root);
    kill_group(root);
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .stderr(Stdio::null())
            .status();
    }
}

/// Set to `1` (as `.ci/run` does), a missing reference fails the interop
/// tests instead of skipping them: CI must never pass without testing interop.
pub const REQUIRE_REFERENCE: &str = "OPENCLAW_REQUIRE_REFERENCE";

/// Whether [`REQUIRE_REFERENCE`] is set to `1`.
pub fn reference_required() -> bool {
    std::env::var(REQUIRE_REFERENCE).is_ok_and(|v| v.trim() == "1")
}

/// The reference cannot be used: a skip note on stderr (past the test
/// harness's capture, so a green run still shows it), or a panic when
/// [`REQUIRE_REFERENCE`] is `1`.
pub fn reference_unavailable(why: &str) {
    if reference_required() {
        panic!("reference unavailable: {why}; {REQUIRE_REFERENCE}=1 requires it");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipping interop test: {why} (set {REQUIRE_REFERENCE}=1 to fail instead)"
    );
}

/// Install the reference (`v4` or `v3`) with the shared script; its bin dir
/// (holding `openclaw` and its Node 24), or `None` with a skip note on stderr.
/// Cached per version for the life of the test process.
pub fn install_reference(version: &str) -> Option<PathBuf> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(version.to_owned())
        .or_insert_with(|| install_uncached(version))
        .clone()
}

fn install_uncached(version: &str) -> Option<PathBuf> {
    let script = Path::new(SHARED_DIR).join("tools/install-reference.sh");
    if !script.exists() {
        reference_unavailable(&format!("{} not found", script.display()));
        return None;
    }
    let out = match Command::new("bash")
        .arg(&script)
        .arg(version)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            reference_unavailable(&format!("cannot run {}: {e}", script.display()));
            return None;
        }
    };
    let bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !out.status.success() || bin.is_empty() || !Path::new(&bin).join("openclaw").exists() {
        reference_unavailable(&format!(
            "reference {version} not installable (is npm available?)"
        ));
        return None;
    }
    Some(PathBuf::from(bin))
}

/// The JSON document a command printed on stdout; panics, naming `who`
/// and showing both streams, when it failed or printed something else.
pub fn success_json(out: &Output, who: &str) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{who}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {stdout}"))
}

/// `PATH` with `bin` first.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The reference `openclaw` CLI.
#[derive(Clone, Debug)]
pub struct ReferenceCli {
    pub bin_dir: PathBuf,
}

/// The reference CLI of `version` (`v4`/`v3`), installed if needed; `None`
/// (with a skip note) when npm or the install script is unavailable.
pub fn reference_cli(version: &str) -> Option<ReferenceCli> {
    install_reference(version).map(|bin_dir| ReferenceCli { bin_dir })
}

impl ReferenceCli {
    /// `openclaw` with its Node first on PATH and its own HOME, state dir and
    /// config path under `home`; no gateway variables inherited. It runs in its
    /// own process group; stop it with [`GroupGuard`] or [`kill_tree`].
    pub fn command(&self, home: &Path) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("openclaw"));
        isolate(&mut cmd, home);
        cmd.env("PATH", path_with(&self.bin_dir))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .process_group(0);
        cmd
    }

    /// Run to completion, killing the process group after `timeout`.
    pub fn run(
        &self,
        home: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        timeout: Duration,
    ) -> Output {
        let mut cmd = self.command(home);
        cmd.args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(cmd, timeout)
    }
}

/// Spawn `cmd` (which must pipe stdout/stderr and be in its own process
/// group), collect its output; after `timeout` kill its group and return what
/// it printed so far (the status is then the kill's).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let child = cmd.spawn().expect("spawn");
    let guard = GroupGuard::new(child);
    let pgid = guard.pgid;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout).is_err() {
            kill_tree(pgid);
        }
    });
    let child = guard.into_inner();
    let out = child.wait_with_output().expect("wait for child");
    let _ = done_tx.send(());
    let _ = killer.join();
    out
}

/// Kills a child's process group (the child must lead its own group) and all
/// its descendants on drop.
pub struct GroupGuard {
    child: Option<Child>,
    pub pgid: u32,
}

impl GroupGuard {
    pub fn new(child: Child) -> GroupGuard {
        let pgid = child.id();
        GroupGuard {
            child: Some(child),
            pgid,
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present")
    }

    /// Hand the child back (the caller then owns its cleanup).
    pub fn into_inner(mut self) -> Child {
        self.child.take().expect("child present")
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_tree(self.pgid);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The REFERENCE gateway (`openclaw gateway run --allow-unconfigured`) on a
/// free loopback port with a temp state dir and token auth.
///
/// It runs under a supervisor shell leading its own process group: the shell
/// kills the whole group (the reference forks a separate gateway process) once
/// the test process is gone, which covers gateways kept in statics (never
/// dropped); dropping the value kills the group at once.
pub struct ReferenceGateway {
    pub port: u16,
    pub token: String,
    /// HOME; the state dir is `dir/state`.
    pub dir: tempfile::TempDir,
    child: Child,
    stopped: bool,
}

impl ReferenceGateway {
    /// Install (if needed) and start the reference `version`, wait until ready;
    /// `None` with a skip note when it cannot be installed or does not start.
    pub fn start(version: &str, token: &str) -> Option<ReferenceGateway> {
        Self::start_in(version, token, tempfile::tempdir().expect("tempdir"))
    }

    /// [`ReferenceGateway::start`] with HOME in `dir` (state dir
    /// `dir/state`), for a test that prepared the state beforehand.
    pub fn start_in(
        version: &str,
        token: &str,
        dir: tempfile::TempDir,
    ) -> Option<ReferenceGateway> {
        Self::start_on(version, token, dir, free_port())
    }

    /// [`ReferenceGateway::start_in`] on a given `port` (a restart on the
    /// same address, for clients that reconnect).
    pub fn start_on(
        version: &str,
        token: &str,
        dir: tempfile::TempDir,
        port: u16,
    ) -> Option<ReferenceGateway> {
        Self::launch(version, token, dir, port, false)
    }

    /// [`ReferenceGateway::start_in`] with `gateway.tls.enabled` (and its
    /// generated pair) in a config file the caller may have written;
    /// ready once `/readyz` answers over TLS. [`ReferenceGateway::tls_fingerprint`]
    /// then names its certificate.
    pub fn start_tls_in(
        version: &str,
        token: &str,
        dir: tempfile::TempDir,
    ) -> Option<ReferenceGateway> {
        let config = dir.path().join("state/openclaw.json");
        if !config.exists() {
            std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
            std::fs::write(&config, r#"{ gateway: { tls: { enabled: true } } }"#).expect("config");
        }
        Self::launch(version, token, dir, free_port(), true)
    }

    /// The SHA-256 fingerprint of the certificate it generated (TLS on).
    pub fn tls_fingerprint(&self) -> Option<String> {
        let cert = self.dir.path().join("state/gateway/tls/gateway-cert.pem");
        gateway_smol::tls::cert_file_fingerprint(&cert).ok()
    }

    fn launch(
        version: &str,
        token: &str,
        dir: tempfile::TempDir,
        port: u16,
        tls: bool,
    ) -> Option<ReferenceGateway> {
        let bin = install_reference(version)?;
        // Descendants that left the group (a new session) are found with
        // `pgrep -P`, each listed before its parent is killed.
        let supervisor = r#"parent=$1; shift; "$@" & child=$!
            killtree() { local c; for c in $(pgrep -P "$1" 2>/dev/null); do killtree "$c"; done; kill -KILL "$1" 2>/dev/null; }
            while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
            killtree "$child"; kill -KILL -- -$$ 2>/dev/null"#;
        let mut cmd = Command::new("bash");
        isolate(&mut cmd, dir.path());
        let child = cmd
            .args([
                "-c",
                supervisor,
                "supervisor",
                &std::process::id().to_string(),
            ])
            .arg(bin.join("openclaw"))
            .args(gateway_run_args(port, "loopback"))
            .arg("--allow-unconfigured")
            .process_group(0)
            .env("PATH", path_with(&bin))
            .env("OPENCLAW_GATEWAY_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                reference_unavailable(&format!("cannot start reference {version}: {e}"));
                return None;
            }
        };
        let reference = ReferenceGateway {
            port,
            token: token.to_owned(),
            dir,
            child,
            stopped: false,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            let ready = match (tls, reference.tls_fingerprint()) {
                (false, _) => readyz(port),
                (true, Some(fingerprint)) => crate::tls::ready(port, &fingerprint),
                (true, None) => false,
            };
            if ready {
                return Some(reference);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        reference_unavailable(&format!("reference {version} did not become ready in 90 s"));
        None
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls_fingerprint().is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl ReferenceGateway {
    /// Kill it now, keeping its HOME for inspection until the value drops.
    pub fn stop(&mut self) {
        // Once only: the pid may be reused after the child was reaped.
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        kill_tree(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReferenceGateway {
    /// Kill it and hand back its HOME, for another gateway to start on the
    /// same state.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for ReferenceGateway {
    fn drop(&mut self) {
        self.stop();
    }
}
