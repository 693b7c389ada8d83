//! Starting the real `openclaw` binary in a temp state dir and talking HTTP to it.
#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::disallowed_methods)] // real processes, real time

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// A command with an isolated environment: state, config and log under `dir`,
/// none of the developer's gateway variables.
pub fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", dir)
        .env("OPENCLAW_STATE_DIR", dir.join("state"))
        .env("OPENCLAW_LOG_FILE", dir.join("openclaw.log"))
        .env_remove("OPENCLAW_CONFIG_PATH")
        .env_remove("OPENCLAW_GATEWAY_PORT")
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

pub struct Gateway {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub lines: Receiver<String>,
}

impl Gateway {
    /// Start `openclaw gateway <args>` on a free port and wait for its listening line.
    pub fn start(args: &[&str]) -> Gateway {
        Self::start_with(args, |_| {})
    }

    pub fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Gateway {
        Self::start_in(tempfile::tempdir().unwrap(), args, setup)
    }

    /// Start with `config` as `<state>/openclaw.json` (and no token in the environment).
    pub fn start_with_config(config: &str, args: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("state/openclaw.json"), config).unwrap();
        Self::start_in(dir, args, |_| {})
    }

    /// The config file this gateway reads.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("state/openclaw.json")
    }

    /// Wait up to `timeout` for a console line containing `needle`; the line.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    fn start_in(
        dir: tempfile::TempDir,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> Gateway {
        let mut cmd = command(dir.path());
        cmd.arg("gateway")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        setup(&mut cmd);
        let mut child = cmd.spawn().expect("spawn openclaw");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("gateway did not report its port; stderr: {err}")
            });
            if let Some(rest) = line.split("listening on ws://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        Gateway {
            child,
            port,
            dir,
            lines,
        }
    }

    pub fn http(&self, request: &str) -> (u16, String) {
        http(self.port, request)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.http(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    }

    /// Poll `/readyz` until it answers 200.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.get("/readyz").0 != 200 {
            assert!(Instant::now() < deadline, "gateway never became ready");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// Wait for the process to exit; `None` if it did not within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Send raw bytes, read the whole answer: `(status, body)`; status 0 if none.
pub fn http(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    // One whole response (the connection may be kept alive, so not to EOF).
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while !whole_response(&response) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Whether `data` holds a head and as many body bytes as it announces.
fn whole_response(data: &[u8]) -> bool {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    data.len() >= end + 4 + len
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run the binary to completion: `(exit code, stdout, stderr)`.
pub fn run_to_end(
    dir: &std::path::Path,
    args: &[&str],
    setup: impl FnOnce(&mut Command),
) -> (i32, String, String) {
    let mut cmd = command(dir);
    cmd.args(args);
    setup(&mut cmd);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Status of `GET /health` on `port`, 0 when nothing answers.
pub fn http_probe(port: u16) -> u16 {
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => http(port, "GET /health HTTP/1.1\r\n\r\n").0,
        Err(_) => 0,
    }
}
