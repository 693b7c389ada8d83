//! What a supervisor (systemd) sees of the real binary: `sd_notify` datagrams
//! on a test-owned `NOTIFY_SOCKET`, and exit code 78 when the port or the
//! state dir belongs to another gateway.

// A test of timing reads the wall clock (the ban is for gateway-proto).
#![allow(clippy::disallowed_methods)]

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::process::{
    free_port, gateway_run_command, http_get, our_binary, run_with_timeout, GatewayOptions,
    OurGateway,
};

/// The next datagram within `timeout`, as text.
fn next_message(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn notify_socket_sees_ready_watchdog_and_stopping() {
    let sockets = tempfile::tempdir().expect("tempdir");
    let path = sockets.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    let port = free_port();
    let opts = GatewayOptions::default()
        .env("NOTIFY_SOCKET", path.display())
        .env("WATCHDOG_USEC", 200_000);
    let starter = std::thread::spawn(move || {
        OurGateway::start_on(opts, tempfile::tempdir().expect("tempdir"), port)
    });

    // READY=1 comes only once the gateway serves: /readyz answers 200 the
    // moment the datagram is read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        assert!(Instant::now() < deadline, "no READY=1 within 30 s");
        let Some(message) = next_message(&socket, Duration::from_secs(30)) else {
            continue;
        };
        if message.lines().any(|l| l == "READY=1") {
            break message;
        }
    };
    let (status, body) = http_get(port, "/readyz");
    assert_eq!(status, 200, "READY=1 before /readyz was ready: {body}");
    let mut gateway = starter.join().expect("gateway started");
    assert!(
        ready.contains(&format!("MAINPID={}\n", gateway.pid())),
        "{ready:?}"
    );
    assert!(ready.contains("STATUS=serving on "), "{ready:?}");

    // WATCHDOG=1 every WATCHDOG_USEC/2 (100 ms) while the hub answers: at
    // least 4 in one second (bounded count and time).
    let started = Instant::now();
    let mut watchdogs = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if let Some(message) = next_message(&socket, Duration::from_millis(300)) {
            if message == "WATCHDOG=1\n" {
                watchdogs += 1;
            }
        }
    }
    assert!(
        watchdogs >= 4,
        "{watchdogs} WATCHDOG=1 in 1 s; output:\n{}",
        gateway.output()
    );

    // An in-process restart (SIGUSR1): RELOADING=1, then READY=1 again.
    gateway.signal("USR1");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Some(message) = next_message(&socket, Duration::from_millis(500)) else {
            continue;
        };
        if message.lines().any(|l| l == "RELOADING=1") {
            seen.push("RELOADING");
        } else if message.lines().any(|l| l == "READY=1") {
            seen.push("READY");
            break;
        }
    }
    assert_eq!(seen, ["RELOADING", "READY"], "{}", gateway.output());

    gateway.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stopping = false;
    while !stopping && Instant::now() < deadline {
        if let Some(message) = next_message(&socket, Duration::from_millis(500)) {
            stopping = message.lines().any(|l| l == "STOPPING=1");
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
    let status = gateway
        .wait_exit(Duration::from_secs(15))
        .expect("exit after SIGTERM");
    assert!(status.success(), "{status}");
}

/// `openclaw gateway run` under `home` on `port`; (exit code, stderr).
fn run_second(home: &std::path::Path, port: u16) -> (Option<i32>, String) {
    let mut cmd = gateway_run_command(&our_binary(), home, port, "second-token");
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(20));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_gateway_on_the_same_port_exits_78() {
    let first = OurGateway::start(GatewayOptions::default());
    let other_home = tempfile::tempdir().expect("tempdir");
    let (code, stderr) = run_second(other_home.path(), first.port);
    assert_eq!(code, Some(78), "stderr: {stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    // Refused before any store was opened in its state dir.
    assert!(
        !other_home
            .path()
            .join("state/state/openclaw.sqlite")
            .exists(),
        "the refused gateway opened its pairing store"
    );
    let (status, _) = http_get(first.port, "/readyz");
    assert_eq!(status, 200, "the first gateway still serves");
}

#[test]
fn a_second_gateway_on_the_same_state_dir_exits_78() {
    let first = OurGateway::start(GatewayOptions::default());
    let (code, stderr) = run_second(first.dir.path(), 0);
    assert_eq!(code, Some(78), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("another gateway (pid {})", first.pid())),
        "{stderr}"
    );
    let (status, _) = http_get(first.port, "/readyz");
    assert_eq!(status, 200, "the first gateway still serves");
}
