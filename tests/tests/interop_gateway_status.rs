//! The REFERENCE CLI's `gateway status --json` run against OUR gateway, next
//! to OUR `gateway status --json` with the same HOME, config and environment:
//! the fields that describe the gateway (bind, port and its source, probe URL
//! and note, dashboard links, TLS), the probe's result, what listens on the
//! port and the service manager's verdict are the same. Skipped (with a note)
//! when the reference cannot be installed.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tests::process::{
    free_port, our_command, reference_cli, run_with_timeout, GatewayOptions, OurGateway,
    ReferenceCli,
};

/// The reference CLI needs a few seconds to start on a busy machine.
const TIMEOUT: Duration = Duration::from_secs(90);

fn reference_status(cli: &ReferenceCli, gw: &OurGateway) -> Value {
    let out = cli.run(
        gw.dir.path(),
        &["gateway", "status", "--json"],
        &[("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str())],
        TIMEOUT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reference: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("reference JSON: {e}\n{stdout}"))
}

fn our_status(gw: &OurGateway) -> Value {
    let mut cmd = our_command(gw.dir.path());
    cmd.args(["gateway", "status", "--json"])
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = run_with_timeout(cmd, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ours: {}\n{stdout}", out.status);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("our JSON: {e}\n{stdout}"))
}

/// The fields both must agree on.
const SAME: &[&str] = &[
    "/gateway/bindMode",
    "/gateway/bindHost",
    "/gateway/customBindHost",
    "/gateway/tlsEnabled",
    "/gateway/port",
    "/gateway/portSource",
    "/gateway/probeUrl",
    "/gateway/probeNote",
    "/gateway/controlUiLinks",
    "/gateway/version",
    "/config/cli/path",
    "/config/cli/exists",
    "/config/cli/valid",
    "/port/port",
    "/port/status",
    "/portCli/port",
    "/rpc/ok",
    "/rpc/kind",
    "/rpc/url",
    "/rpc/version",
    "/service/label",
    "/service/loaded",
    "/service/targetRole",
    "/service/inspectionReason",
    "/service/runtime/status",
    "/extraServices",
];

fn assert_same(reference: &Value, ours: &Value) {
    for pointer in SAME {
        assert_eq!(
            reference.pointer(pointer),
            ours.pointer(pointer),
            "{pointer} differs\nreference: {reference:#}\nours: {ours:#}"
        );
    }
    // The listeners: same addresses, same process (lsof there, /proc here).
    let listeners = |doc: &Value| -> Vec<(Value, Value)> {
        doc["port"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l["address"].clone(), l["pid"].clone()))
            .collect()
    };
    assert_eq!(listeners(reference), listeners(ours));
}

fn gateway_with(config: String, port: u16, bind: &str) -> OurGateway {
    OurGateway::start_on(
        GatewayOptions {
            bind: bind.into(),
            config: Some(config),
            ..GatewayOptions::default()
        },
        tempfile::tempdir().expect("tempdir"),
        port,
    )
}

#[test]
fn the_reference_reports_our_lan_gateway_on_a_configured_port_as_we_do() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let port = free_port();
    let gw = gateway_with(
        format!(r#"{{ gateway: {{ bind: "lan", port: {port} }} }}"#),
        port,
        "lan",
    );
    let reference = reference_status(&cli, &gw);
    let ours = our_status(&gw);
    assert_same(&reference, &ours);
    assert_eq!(ours["gateway"]["bindMode"], "lan");
    assert_eq!(ours["rpc"]["ok"], true);
}

#[test]
fn the_reference_reports_our_tls_gateway_as_we_do() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let port = free_port();
    let gw = gateway_with(
        format!(r#"{{ gateway: {{ port: {port}, tls: {{ enabled: true }} }} }}"#),
        port,
        "loopback",
    );
    let reference = reference_status(&cli, &gw);
    let ours = our_status(&gw);
    assert_same(&reference, &ours);
    assert_eq!(
        ours["gateway"]["probeUrl"],
        format!("wss://127.0.0.1:{port}")
    );
    assert_eq!(
        reference["rpc"]["ok"], true,
        "the reference pins our certificate"
    );
}
