//! The unmodified reference CLIs as paired devices of OUR gateway: the v4 CLI
//! (2026.9.6) and the v3 CLI (2026.5.6), each signing with its own identity,
//! are paired silently on loopback and reconnect with their device token;
//! behind a trusted proxy (a loopback forwarder that adds
//! `X-Forwarded-For: 192.0.2.2`) they are remote: refused `NOT_PAIRED` until
//! `openclaw devices approve` (the reference CLI as the local admin), then
//! accepted with their device token, and refused again after
//! `openclaw devices revoke`. See `tests/src/reference_client.rs` for how the
//! v4 CLI is made to sign. Skipped (with a note) without the reference.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use tests::device::{paired_row, pending_of, Operator};
use tests::forwarder::Forwarder;
use tests::process::{reference_cli, GatewayOptions, OurGateway, ReferenceCli};
use tests::reference_client::{
    remote_mode_config, remote_url, resolver_shim, v3_device_id, v4_device_id,
};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const REMOTE_IP: &str = "192.0.2.2";

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "openclaw {}: {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cli: &ReferenceCli, home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let out = cli.run(home, args, envs, COMMAND_TIMEOUT);
    eprintln!("{}", describe(args, &out));
    out
}

fn trusting_loopback() -> GatewayOptions {
    GatewayOptions {
        config: Some(r#"{"gateway":{"trustedProxies":["127.0.0.1"]}}"#.to_owned()),
        ..GatewayOptions::default()
    }
}

/// `device.pair.list` through a raw admin connection.
fn pair_list(gw: &OurGateway) -> Value {
    smol::block_on(async {
        let mut admin = Operator::connect(&gw.url(), &gw.token).await.unwrap();
        admin.pair_list().await.unwrap()
    })
}

/// The operator token summary of a paired row.
fn operator_token(row: &Value) -> Value {
    row["tokens"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["role"] == "operator"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The reference v4 CLI as the admin on the gateway host (loopback, shared
/// token, no device): `devices <args> --json`.
fn admin_devices(cli: &ReferenceCli, gw: &OurGateway, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let port = gw.port.to_string();
    let mut argv = vec!["devices"];
    argv.extend_from_slice(args);
    argv.push("--json");
    let out = run(
        cli,
        home.path(),
        &argv,
        &[
            ("OPENCLAW_GATEWAY_PORT", &port),
            ("OPENCLAW_GATEWAY_TOKEN", &gw.token),
        ],
    );
    assert!(out.status.success(), "{}", describe(&argv, &out));
    out
}

/// The v4 CLI, believing the gateway at `port` remote, makes a call that
/// is not read-only (`agent`): it creates its identity and pairs. Our
/// gateway has no `agent` method, so the call itself fails afterwards.
fn v4_first_contact(cli: &ReferenceCli, home: &Path, shim: &str, port: u16, token: &str) -> Output {
    let url = remote_url(port);
    run(
        cli,
        home,
        &["agent", "--agent", "main", "--message", "hi", "--json"],
        &[
            ("NODE_OPTIONS", shim),
            ("OPENCLAW_GATEWAY_URL", &url),
            ("OPENCLAW_GATEWAY_TOKEN", token),
        ],
    )
}

/// The v4 CLI in remote mode with no shared secret: only its cached device
/// token can authenticate `gateway call health`.
fn v4_health_with_device_token(cli: &ReferenceCli, home: &Path, shim: &str, port: u16) -> Output {
    remote_mode_config(home, &remote_url(port));
    run(
        cli,
        home,
        &["gateway", "call", "health", "--json"],
        &[("NODE_OPTIONS", shim)],
    )
}

#[test]
fn v4_cli_pairs_silently_on_loopback_and_reconnects_with_its_device_token() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let home = tempfile::tempdir().unwrap();
    let shim = resolver_shim(home.path());
    v4_first_contact(&cli, home.path(), &shim, gw.port, &gw.token);
    let device_id = v4_device_id(home.path()).expect("the CLI created its identity");
    let row = paired_row(&pair_list(&gw), &device_id)
        .unwrap_or_else(|| panic!("{device_id} not paired; output:\n{}", gw.output()));
    assert_eq!(row["approvedVia"], "silent", "{row}");
    assert_eq!(row["clientId"], "cli", "{row}");
    assert!(
        operator_token(&row)["lastUsedAtMs"].is_null(),
        "token used before any reconnect: {row}"
    );

    let args = ["gateway", "call", "health", "--json"];
    let out = v4_health_with_device_token(&cli, home.path(), &shim, gw.port);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let row = paired_row(&pair_list(&gw), &device_id).unwrap();
    assert!(
        operator_token(&row)["lastUsedAtMs"].as_u64().is_some(),
        "the reconnect did not use the device token: {row}"
    );
}

#[test]
fn v4_cli_behind_a_trusted_proxy_needs_approval_and_loses_access_on_revoke() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(trusting_loopback());
    let proxy = Forwarder::start(gw.port, REMOTE_IP);
    let home = tempfile::tempdir().unwrap();
    let shim = resolver_shim(home.path());

    let out = v4_first_contact(&cli, home.path(), &shim, proxy.port, &gw.token);
    assert!(!out.status.success());
    let device_id = v4_device_id(home.path()).expect("the CLI created its identity");
    let list = pair_list(&gw);
    assert!(
        paired_row(&list, &device_id).is_none(),
        "paired silently: {list}"
    );
    let pending = pending_of(&list, &device_id);
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["remoteIp"], REMOTE_IP, "{list}");
    assert_eq!(pending[0]["silent"], false, "{list}");
    let request_id = pending[0]["requestId"].as_str().unwrap().to_owned();

    admin_devices(&cli, &gw, &["approve", &request_id]);
    let row = paired_row(&pair_list(&gw), &device_id).expect("approved");
    assert_eq!(row["approvedVia"], "owner", "{row}");

    // Connected again (now paired), it is issued its token; then the token
    // alone gets it in.
    v4_first_contact(&cli, home.path(), &shim, proxy.port, &gw.token);
    let args = ["gateway", "call", "health", "--json"];
    let out = v4_health_with_device_token(&cli, home.path(), &shim, proxy.port);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let row = paired_row(&pair_list(&gw), &device_id).unwrap();
    assert!(
        operator_token(&row)["lastUsedAtMs"].as_u64().is_some(),
        "the reconnect did not use the device token: {row}"
    );

    admin_devices(
        &cli,
        &gw,
        &["revoke", "--device", &device_id, "--role", "operator"],
    );
    let out = v4_health_with_device_token(&cli, home.path(), &shim, proxy.port);
    assert!(
        !out.status.success(),
        "a revoked token still works: {}",
        describe(&args, &out)
    );
}

/// The v3 CLI against our gateway at `port`: `gateway call health --json`,
/// with the shared token or (None) with only what it has cached.
fn v3_health(cli: &ReferenceCli, home: &Path, port: u16, token: Option<&str>) -> Output {
    let port = port.to_string();
    let mut envs = vec![("OPENCLAW_GATEWAY_PORT", port.as_str())];
    if let Some(token) = token {
        envs.push(("OPENCLAW_GATEWAY_TOKEN", token));
    }
    run(cli, home, &["gateway", "call", "health", "--json"], &envs)
}

#[test]
fn v3_cli_pairs_silently_on_loopback_and_through_approval_behind_a_proxy() {
    let Some(v3) = reference_cli("v3") else {
        return;
    };
    let Some(v4) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(trusting_loopback());
    let args = ["gateway", "call", "health", "--json"];

    // On loopback: paired silently, then in with the device token alone.
    let local = tempfile::tempdir().unwrap();
    let out = v3_health(&v3, local.path(), gw.port, Some(&gw.token));
    assert!(out.status.success(), "{}", describe(&args, &out));
    let device_id = v3_device_id(local.path()).expect("the v3 CLI has an identity");
    let row = paired_row(&pair_list(&gw), &device_id).expect("paired");
    assert_eq!(row["approvedVia"], "silent", "{row}");
    let out = v3_health(&v3, local.path(), gw.port, None);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let row = paired_row(&pair_list(&gw), &device_id).unwrap();
    assert!(
        operator_token(&row)["lastUsedAtMs"].as_u64().is_some(),
        "{row}"
    );

    // Behind the trusted proxy: remote, so approved by the admin.
    let proxy = Forwarder::start(gw.port, REMOTE_IP);
    let remote = tempfile::tempdir().unwrap();
    let out = v3_health(&v3, remote.path(), proxy.port, Some(&gw.token));
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let device_id = v3_device_id(remote.path()).expect("the v3 CLI has an identity");
    let list = pair_list(&gw);
    let pending = pending_of(&list, &device_id);
    assert_eq!(pending.len(), 1, "{list}");
    assert_eq!(pending[0]["remoteIp"], REMOTE_IP, "{list}");
    let request_id = pending[0]["requestId"].as_str().unwrap().to_owned();
    admin_devices(&v4, &gw, &["approve", &request_id]);
    let out = v3_health(&v3, remote.path(), proxy.port, Some(&gw.token));
    assert!(out.status.success(), "{}", describe(&args, &out));
    let out = v3_health(&v3, remote.path(), proxy.port, None);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let row = paired_row(&pair_list(&gw), &device_id).unwrap();
    assert_eq!(row["approvedVia"], "owner", "{row}");
    assert!(
        operator_token(&row)["lastUsedAtMs"].as_u64().is_some(),
        "{row}"
    );

    admin_devices(
        &v4,
        &gw,
        &["revoke", "--device", &device_id, "--role", "operator"],
    );
    let out = v3_health(&v3, remote.path(), proxy.port, None);
    assert!(
        !out.status.success(),
        "a revoked token still works: {}",
        describe(&args, &out)
    );
    // The refusal is the gateway's, not a missing credential.
    let refused = smol::block_on(async {
        let mut admin = Operator::connect(&gw.url(), &gw.token).await.unwrap();
        admin.call("device.pair.list", json!({})).await.unwrap()
    });
    let row = paired_row(&refused["payload"], &device_id).unwrap();
    assert!(
        operator_token(&row)["revokedAtMs"].as_u64().is_some(),
        "{row}"
    );
}
