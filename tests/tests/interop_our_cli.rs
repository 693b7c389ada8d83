//! OUR `openclaw` CLI against OUR gateway, pointed at it through the
//! environment only (OPENCLAW_GATEWAY_PORT / OPENCLAW_GATEWAY_TOKEN), as a
//! user would. (Our CLI against the REFERENCE gateway:
//! gateway-cli/tests/client_reference.rs.)

use std::process::Output;

use serde_json::Value;
use tests::process::{our_command, GatewayOptions, OurGateway};

fn run(gw: &OurGateway, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    our_command(home.path())
        .args(args)
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .output()
        .expect("run our openclaw")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "openclaw {}: {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json_ok(gw: &OurGateway, args: &[&str]) -> Value {
    let out = run(gw, args);
    assert!(out.status.success(), "{}", describe(args, &out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(args, &out)))
}

#[test]
fn calls_succeed() {
    let gw = OurGateway::start(GatewayOptions::default());
    let health = json_ok(&gw, &["gateway", "call", "health", "--json"]);
    assert_eq!(health["ok"], true, "{health}");
    let status = json_ok(&gw, &["gateway", "call", "status", "--json"]);
    assert!(status.is_object(), "{status}");
    let presence = json_ok(&gw, &["gateway", "call", "system-presence", "--json"]);
    let entries = presence.as_array().expect("system-presence is an array");
    assert!(
        entries.iter().any(|e| e["mode"] == "gateway"),
        "no gateway entry: {presence}"
    );
    let health = json_ok(&gw, &["health", "--json"]);
    assert_eq!(health["ok"], true, "{health}");
}

#[test]
fn unknown_method_exits_1_with_invalid_request() {
    let gw = OurGateway::start(GatewayOptions::default());
    let args = ["gateway", "call", "no.such.method", "--json"];
    let out = run(&gw, &args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(&args, &out)));
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown method: no.such.method"),
        "{}",
        describe(&args, &out)
    );
}

#[test]
fn wrong_token_exits_1() {
    let gw = OurGateway::start(GatewayOptions::default());
    let home = tempfile::tempdir().expect("tempdir");
    let args = [
        "gateway",
        "call",
        "health",
        "--url",
        &gw.url(),
        "--token",
        "wrong",
    ];
    let out = our_command(home.path())
        .args(args)
        .output()
        .expect("run our openclaw");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        describe(&args, &out)
    );
}
