//! `openclaw gateway` as a process: settings errors, port in use, signals, logs.

// End-to-end tests run in real time: reading the clock is the point.
#![allow(clippy::disallowed_methods)]

mod gateway_support;

use std::time::{Duration, Instant};

use gateway_support::{free_port, run_to_end, Gateway};

/// Exactly one line on stderr, and no panic/backtrace.
fn assert_one_line(stderr: &str) {
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr:?}");
}

#[test]
fn bad_config_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state/openclaw.json"),
        "{ gateway: { port: ",
    )
    .unwrap();
    let (code, _, stderr) = run_to_end(dir.path(), &["gateway", "--port", "0"], |_| {});
    assert_eq!(code, 1);
    assert_one_line(&stderr);
    assert!(stderr.contains("openclaw.json"), "{stderr}");

    std::fs::write(
        dir.path().join("state/openclaw.json"),
        r#"{"gateway":{"port":"x"}}"#,
    )
    .unwrap();
    let (code, _, stderr) = run_to_end(dir.path(), &["gateway"], |_| {});
    assert_eq!(code, 1);
    assert_one_line(&stderr);
    assert!(stderr.contains("gateway.port"), "{stderr}");
}

#[test]
fn config_path_env_and_json5_port_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("custom.json5");
    std::fs::write(
        &config,
        format!("// json5\n{{ gateway: {{ port: {port}, }} }}"),
    )
    .unwrap();
    let mut cmd = gateway_support::command(dir.path());
    cmd.args(["gateway", "run"])
        .env("OPENCLAW_CONFIG_PATH", &config);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway_support::http_probe(port) != 200 {
        assert!(
            Instant::now() < deadline,
            "gateway did not come up on the configured port"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
/// Exit 78 (EX_CONFIG), not 1: `RestartPreventExitStatus=78` in a unit then
/// stops systemd from restarting into the same conflict forever.
fn port_in_use_is_one_line_and_exit_78() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_to_end(dir.path(), &["gateway", "run", "--port", &port], |_| {});
    assert_eq!(code, 78);
    assert_one_line(&stderr);
    assert!(
        stderr.contains(&port) && stderr.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn non_loopback_bind_without_auth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_to_end(
        dir.path(),
        &["gateway", "--bind", "lan", "--port", "0"],
        |_| {},
    );
    assert_eq!(code, 1);
    assert_one_line(&stderr);
    assert!(stderr.contains("without auth"), "{stderr}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_to_end(dir.path(), &["gateway", "--bogus"], |_| {});
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run_to_end(
        dir.path(),
        &["gateway", "--bind", "moon", "--port", "0"],
        |_| {},
    );
    assert_eq!(code, 2);
    assert_one_line(&stderr);
    let (code, _, stderr) = run_to_end(
        dir.path(),
        &["gateway", "--auth", "token", "--port", "0"],
        |_| {},
    );
    assert_eq!(code, 1);
    assert_one_line(&stderr);
    let (code, stdout, _) = run_to_end(dir.path(), &["gateway", "run", "--help"], |_| {});
    assert_eq!(code, 0);
    assert!(stdout.contains("--port"));
}

#[test]
fn sigterm_exits_0_within_2s() {
    for signal in ["TERM", "INT"] {
        let mut gw = Gateway::start(&[]);
        gw.wait_ready();
        let sent = Instant::now();
        gw.signal(signal);
        let status = gw
            .wait_exit(Duration::from_secs(2))
            .expect("still running 2 s after the signal");
        assert!(status.success(), "SIG{signal}: {status:?}");
        assert!(sent.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn sigusr1_restarts_in_process_on_the_same_port() {
    let mut gw = Gateway::start(&[]);
    gw.wait_ready();
    gw.signal("USR1");
    std::thread::sleep(Duration::from_millis(100));
    gw.wait_ready();
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "process exited on SIGUSR1"
    );
    assert_eq!(gw.get("/health").0, 200);
}

#[test]
fn writes_the_json_lines_log_file() {
    let gw = Gateway::start(&[]);
    gw.wait_ready();
    let text = std::fs::read_to_string(gw.dir.path().join("openclaw.log")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for key in ["time", "level", "subsystem", "message"] {
        assert!(first[key].is_string(), "{key} in {first}");
    }
    assert!(text.contains("listening on ws://127.0.0.1:"));
}

#[test]
fn dev_and_profile_pick_their_state_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = gateway_support::command(dir.path());
    cmd.env_remove("OPENCLAW_STATE_DIR")
        .args(["gateway", "--profile", "work", "--port", "0"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dir.path().join(".openclaw-work").is_dir() {
        assert!(Instant::now() < deadline, "profile state dir not created");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(".openclaw-work"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn port_change_in_config_moves_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("state/openclaw.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let (first, second) = (free_port(), free_port());
    std::fs::write(&config, format!("{{ gateway: {{ port: {first} }} }}")).unwrap();
    let mut cmd = gateway_support::command(dir.path());
    cmd.args(["gateway", "run"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let wait_for = |port: u16, want: u16| {
        let deadline = Instant::now() + Duration::from_secs(6);
        while gateway_support::http_probe(port) != want {
            assert!(
                Instant::now() < deadline,
                "port {port} never answered {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(first, 200);
    std::fs::write(&config, format!("{{ gateway: {{ port: {second} }} }}")).unwrap();
    wait_for(second, 200);
    wait_for(first, 0);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn force_stops_the_process_holding_the_port() {
    let mut first = Gateway::start(&[]);
    first.wait_ready();
    let port = first.port.to_string();
    let second = Gateway::start(&["--port", &port, "--force"]);
    second.wait_ready();
    let status = first
        .wait_exit(Duration::from_secs(3))
        .expect("first gateway still running");
    assert!(status.success(), "{status:?}");
    assert_eq!(second.port, first.port);
}
