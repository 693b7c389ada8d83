//! `openclaw devices` next to the REFERENCE CLI (2026.9.6), both against our
//! gateway: the same JSON and the same tables for the same pairing state,
//! and one device identity (with its cached token) shared by both CLIs on
//! one state dir. Skipped with a note when the reference is not installable.

#![allow(clippy::disallowed_methods)] // real processes, real time

mod gateway_support;

mod devices_support;

use std::process::Output;
use std::time::Duration;

use devices_support::*;
use gateway_proto::client::DeviceKey;
use gateway_smol::store::ClientIdentityStore;
use gateway_support::{run_to_end, Gateway};
use serde_json::Value;
use tests::process::{reference_cli, ReferenceCli};

const REFERENCE_TIMEOUT: Duration = Duration::from_secs(120);

/// The reference CLI in its own home, aimed at `gw` through the environment.
fn reference(r: &ReferenceCli, gw: &Gateway, home: &std::path::Path, args: &[&str]) -> Output {
    let port = gw.port.to_string();
    r.run(
        home,
        args,
        &[
            ("OPENCLAW_GATEWAY_PORT", &port),
            ("OPENCLAW_GATEWAY_TOKEN", TOKEN),
        ],
        REFERENCE_TIMEOUT,
    )
}

/// Ours, the same way (its own home, token from the environment).
fn ours(gw: &Gateway, home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let port = gw.port.to_string();
    run_to_end(home, args, |cmd| {
        cmd.env("OPENCLAW_GATEWAY_PORT", &port)
            .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
            .env("NO_COLOR", "1");
    })
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn same_json_and_tables_as_the_reference_cli() {
    let Some(r) = reference_cli("v4") else { return };
    let gw = start();
    let paired = DeviceKey::from_secret([31; 32]);
    let request = pending_device(&gw, &paired);
    cli_json(&gw, &["devices", "approve", &request, "--json"]);
    cli_json(
        &gw,
        &[
            "devices",
            "rename",
            "--device",
            &paired.device_id(),
            "--name",
            "Kitchen Mac",
            "--json",
        ],
    );
    let ref_home = tempfile::tempdir().unwrap();
    let our_home = tempfile::tempdir().unwrap();

    // The tables, byte for byte: a paired device with its label (a pending
    // request's age could cross a minute between the two runs; the pending
    // table's layout is checked against captured reference output in the
    // unit tests).
    let theirs = reference(&r, &gw, ref_home.path(), &["devices", "list"]);
    let (code, mine, _) = ours(&gw, our_home.path(), &["devices", "list"]);
    assert_eq!((code, theirs.status.code()), (0, Some(0)));
    assert_eq!(mine, stdout(&theirs));
    assert!(mine.contains("Kitchen Mac"), "{mine}");

    let waiting = DeviceKey::from_secret([32; 32]);
    pending_device(&gw, &waiting);

    let theirs = reference(&r, &gw, ref_home.path(), &["devices", "list", "--json"]);
    assert!(
        theirs.status.success(),
        "reference: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let (code, mine, err) = ours(&gw, our_home.path(), &["devices", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let theirs_json: Value = serde_json::from_str(&stdout(&theirs)).unwrap();
    let mine_json: Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(mine_json, theirs_json);
    assert_eq!(mine_json["paired"][0]["operatorLabel"], "Kitchen Mac");

    // The approve preview: exit 1 and the same JSON.
    let theirs = reference(
        &r,
        &gw,
        ref_home.path(),
        &["devices", "approve", "--latest", "--json"],
    );
    let (code, mine, _) = ours(
        &gw,
        our_home.path(),
        &["devices", "approve", "--latest", "--json"],
    );
    assert_eq!((code, theirs.status.code()), (1, Some(1)));
    let theirs_json: Value = serde_json::from_str(&stdout(&theirs)).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&mine).unwrap(), theirs_json);
    assert_eq!(theirs_json["selected"]["deviceId"], waiting.device_id());
}

/// Our CLI pairs this machine (silently, on a loopback gateway without
/// auth) and caches its token; the reference CLI on the same state dir then
/// signs in as the same device with that token: one device for both.
#[test]
fn one_identity_for_both_clis() {
    let Some(r) = reference_cli("v4") else { return };
    let gw = Gateway::start_with_config("{ gateway: { bind: 'loopback' } }", &[]);
    gw.wait_ready();
    let home = tempfile::tempdir().unwrap();
    let port = gw.port.to_string();

    let (code, out, err) = run_to_end(home.path(), &["devices", "list", "--json"], |cmd| {
        cmd.env("OPENCLAW_GATEWAY_PORT", &port);
    });
    assert_eq!(code, 0, "{err}");
    let mine: Value = serde_json::from_str(&out).unwrap();
    let store = ClientIdentityStore::open(&home.path().join("state")).unwrap();
    let device_id = store
        .load_identity()
        .unwrap()
        .expect("identity stored")
        .device_id();
    let ids = |list: &Value| -> Vec<String> {
        list["paired"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["deviceId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&mine), std::slice::from_ref(&device_id));
    let cached = store.cached_token(&device_id, "operator").unwrap();
    assert!(cached.is_some(), "the hello-ok device token is cached");

    // No token anywhere: the reference can only get in with our row's key
    // and token.
    let theirs = r.run(
        home.path(),
        &["devices", "list", "--json"],
        &[("OPENCLAW_GATEWAY_PORT", &port)],
        REFERENCE_TIMEOUT,
    );
    assert!(
        theirs.status.success(),
        "reference: {}{}",
        stdout(&theirs),
        String::from_utf8_lossy(&theirs.stderr)
    );
    let theirs: Value = serde_json::from_str(&stdout(&theirs)).unwrap();
    assert_eq!(ids(&theirs), [device_id]);
}
