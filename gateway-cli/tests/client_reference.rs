//! Client commands against the REFERENCE gateway (v4 and v3), started once per
//! test binary on a free loopback port with a temp state dir. Skipped with a
//! message when the install script is not available.

#![allow(clippy::disallowed_methods)] // test harness: real clock for readiness polling

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tests::process::{free_port, ReferenceGateway};

const TOKEN: &str = "client-test-token";

/// One reference gateway per version for the whole test binary. Statics are
/// never dropped: `ReferenceGateway` runs under a supervisor that kills it once
/// this test process is gone.
fn reference(version: &'static str) -> Option<&'static ReferenceGateway> {
    static V4: OnceLock<Option<ReferenceGateway>> = OnceLock::new();
    static V3: OnceLock<Option<ReferenceGateway>> = OnceLock::new();
    let cell = if version == "v4" { &V4 } else { &V3 };
    cell.get_or_init(|| ReferenceGateway::start(version, TOKEN))
        .as_ref()
}

/// Our CLI, pointed at the reference through env only (as a user would).
///
/// The reference is a Node process sharing two cores with the rest of the
/// suite: under that load its connect handshake has taken more than the
/// CLI's default 10 s, so these calls allow it 30 s.
fn ours(r: &ReferenceGateway, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .args(args)
        .args(["--timeout", "30000"])
        .env("HOME", home.path())
        .env("OPENCLAW_STATE_DIR", home.path().join("state"))
        .env_remove("OPENCLAW_CONFIG_PATH")
        .env_remove("OPENCLAW_GATEWAY_URL")
        .env("OPENCLAW_GATEWAY_PORT", r.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn json_stdout(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn check_succeeding_calls(version: &'static str) {
    let Some(r) = reference(version) else { return };
    // The v3 reference grants scopes only to paired devices: our CLI signs in
    // with its device identity and is paired silently on loopback.
    for method in ["health", "status", "system-presence"] {
        let out = ours(r, &["gateway", "call", method, "--json"]);
        assert!(
            out.status.success(),
            "{version} {method}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json_stdout(&out);
        match method {
            "system-presence" => assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{v}"),
            "health" => assert_eq!(v["ok"], true, "{v}"),
            _ => assert!(v.is_object(), "{v}"),
        }
    }
    let out = ours(r, &["health", "--json"]);
    assert!(
        out.status.success(),
        "{version} health: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_stdout(&out)["ok"], true);
}

fn check_unknown_method(version: &'static str) {
    let Some(r) = reference(version) else { return };
    let out = ours(r, &["gateway", "call", "no.such.method", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_stdout(&out);
    assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INVALID_REQUEST"), "{stderr}");
    assert!(
        stderr.contains("unknown method: no.such.method"),
        "{version}: {stderr}"
    );
}

#[test]
fn v4_calls_succeed() {
    check_succeeding_calls("v4");
}

#[test]
fn v4_unknown_method_is_invalid_request() {
    check_unknown_method("v4");
}

#[test]
fn v4_logs_and_probe() {
    let Some(r) = reference("v4") else { return };
    let out = ours(r, &["logs", "--limit", "5", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let meta: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(meta["type"], "meta");
    let out = ours(r, &["gateway", "probe", "--json"]);
    assert!(out.status.success());
    assert_eq!(json_stdout(&out)["ok"], true);
}

#[test]
fn v4_wrong_token_fails_with_exit_1() {
    let Some(r) = reference("v4") else { return };
    let url = r.url();
    let out = ours(
        r,
        &[
            "gateway", "call", "health", "--url", &url, "--token", "wrong",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"));
}

#[test]
fn v3_calls_succeed() {
    check_succeeding_calls("v3");
}

#[test]
fn v3_unknown_method_is_invalid_request() {
    check_unknown_method("v3");
}

#[test]
fn refused_connection_fails_fast() {
    let port = free_port();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .args(["gateway", "call", "health"])
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .env("OPENCLAW_STATE_DIR", "/nonexistent-client-test")
        .env_remove("OPENCLAW_GATEWAY_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not reachable"));
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .args(["gateway", "call"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_openclaw"))
        .args(["gateway", "call", "health", "--params", "[1]"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
