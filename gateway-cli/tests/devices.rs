//! `openclaw devices …` end to end against OUR gateway: a signed device asks
//! to pair (local approval switched off with
//! `gateway.nodes.pairing.autoApproveLocal: false`, so its request waits as a
//! remote one would), and the CLI lists, previews, approves, renames,
//! rotates, revokes, removes, rejects and clears; the device's own connects
//! show each decision took effect. Plus the CLI's device identity and
//! cached device tokens, which live in the state database.

#![allow(clippy::disallowed_methods)] // real processes, real time

mod gateway_support;

mod devices_support;

use devices_support::*;
use gateway_proto::client::DeviceKey;
use gateway_smol::store::ClientIdentityStore;
use gateway_support::{run_to_end, Gateway};
use serde_json::Value;
use std::time::Duration;

#[test]
fn list_preview_approve_and_the_device_gets_in() {
    let gw = start();
    let key = DeviceKey::from_secret([21; 32]);
    let request_id = pending_device(&gw, &key);

    let list = cli_json(&gw, &["devices", "list", "--json"]);
    let request = &list["pending"][0];
    assert_eq!(request["displayName"], "Remote Mac");
    assert_eq!(request["scopes"], serde_json::json!(["operator.read"]));
    assert!(request.get("refreshedAtMs").is_none(), "{request}");
    assert_eq!(list["paired"], serde_json::json!([]));

    let (code, out, _) = cli(&gw, &["devices", "list"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Pending (1)\n┌"), "{out}");
    assert!(
        out.contains(&request_id) && out.contains("Remote Mac"),
        "{out}"
    );
    assert!(out.contains("new pairing"), "{out}");

    // No id: a preview, exit 1, nothing approved.
    let (code, out, err) = cli(&gw, &["devices", "approve", "--token", TOKEN]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("Selected pending device request {request_id}")),
        "{out}"
    );
    assert!(out.contains("  Device: Remote Mac"), "{out}");
    assert!(
        out.contains("  Requested: roles: operator; scopes: operator.read"),
        "{out}"
    );
    assert!(
        out.contains("  Note:   First-time device pairing request."),
        "{out}"
    );
    assert!(
        err.contains(&format!(
            "Approve this exact request with: openclaw devices approve {request_id}"
        )),
        "{err}"
    );
    assert!(
        err.contains("Reuse the same --token option when rerunning."),
        "{err}"
    );
    let (code, out, _) = cli(&gw, &["devices", "approve", "--latest", "--json"]);
    assert_eq!(code, 1);
    let preview: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(preview["selected"]["requestId"], request_id.as_str());
    assert_eq!(preview["approvalState"]["kind"], "new-pairing");
    assert_eq!(preview["approvalState"]["approved"], Value::Null);
    assert_eq!(
        preview["approveCommand"],
        format!("openclaw devices approve {request_id} --json")
    );
    assert_eq!(
        preview["requiresAuthFlags"],
        serde_json::json!({"token": false, "password": false})
    );
    assert_eq!(
        refusal_code(device_connect(&gw, &key, None)),
        "PAIRING_REQUIRED"
    );

    // Unknown id: exit 1 with the reference's advice.
    let (code, _, err) = cli(&gw, &["devices", "approve", "no-such-request"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "No pending device request matches no-such-request. Run openclaw devices list"
        ),
        "{err}"
    );

    let (code, out, err) = cli(&gw, &["devices", "approve", &request_id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("Approved {} ({request_id})", key.device_id())
    );

    let client = device_connect(&gw, &key, None).expect("paired device connects");
    let token = client
        .hello()
        .device_token
        .clone()
        .expect("a device token in hello-ok");
    close(client);
    // The token alone now signs it in.
    close(device_connect(&gw, &key, Some(&token)).expect("device token accepted"));

    let list = cli_json(&gw, &["devices", "list", "--json"]);
    assert_eq!(list["pending"], serde_json::json!([]));
    let device = &list["paired"][0];
    assert_eq!(device["deviceId"], key.device_id());
    assert_eq!(device["approvedVia"], "owner");
    assert!(device.get("approvedScopes").is_none(), "{device}");
    assert_eq!(device["tokens"][0]["role"], "operator");
    assert!(
        device["tokens"][0].get("token").is_none(),
        "no secrets in a listing: {device}"
    );
}

#[test]
fn rename_rotate_revoke_remove() {
    let gw = start();
    let key = DeviceKey::from_secret([22; 32]);
    let device_id = key.device_id();
    let request_id = pending_device(&gw, &key);
    cli_json(&gw, &["devices", "approve", &request_id, "--json"]);
    let client = device_connect(&gw, &key, None).unwrap();
    let first_token = client.hello().device_token.clone().unwrap();
    close(client);

    let renamed = cli_json(
        &gw,
        &[
            "devices",
            "rename",
            "--device",
            &device_id,
            "--name",
            "Kitchen Mac",
            "--json",
        ],
    );
    assert_eq!(
        renamed,
        serde_json::json!({"deviceId": device_id, "label": "Kitchen Mac"})
    );
    let (code, out, _) = cli(
        &gw,
        &[
            "devices",
            "rename",
            "--device",
            &device_id,
            "--name",
            "Kitchen Mac",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("Renamed {device_id} → Kitchen Mac"));
    let (_, out, _) = cli(&gw, &["devices", "list"]);
    assert!(out.starts_with("Paired (1)\n┌"), "{out}");
    assert!(out.contains("│ Kitchen Mac "), "{out}");
    assert!(
        out.contains(&format!("Full device IDs\n  {device_id}  Kitchen Mac")),
        "{out}"
    );

    // Rotation by another caller: metadata only, the old token stops working.
    let rotated = cli_json(
        &gw,
        &[
            "devices", "rotate", "--device", &device_id, "--role", "operator",
        ],
    );
    assert_eq!(rotated["deviceId"], device_id.as_str());
    assert_eq!(rotated["role"], "operator");
    assert_eq!(rotated["tokenDelivery"], "withheld-cross-device");
    assert!(
        rotated["rotatedAtMs"].is_u64() && rotated.get("token").is_none(),
        "{rotated}"
    );
    assert_eq!(
        refusal_code(device_connect(&gw, &key, Some(&first_token))),
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );

    let revoked = cli_json(
        &gw,
        &[
            "devices", "revoke", "--device", &device_id, "--role", "operator",
        ],
    );
    assert_eq!(revoked["deviceId"], device_id.as_str());
    assert!(revoked["revokedAtMs"].is_u64(), "{revoked}");
    let (_, out, _) = cli(&gw, &["devices", "list"]);
    assert!(out.contains("operator (revoked)"), "{out}");

    let (code, _, err) = cli(&gw, &["devices", "rotate", "--device", &device_id]);
    assert_eq!(code, 1);
    assert!(err.contains("--device and --role are required."), "{err}");

    let (code, out, err) = cli(&gw, &["devices", "remove", &device_id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("Removed {device_id}"));
    let (code, out, _) = cli(&gw, &["devices", "list"]);
    assert_eq!((code, out.trim()), (0, "No device pairing entries."));
    assert_eq!(
        refusal_code(device_connect(&gw, &key, None)),
        "PAIRING_REQUIRED"
    );
    // Removing it again: the gateway's refusal, exit 1.
    let (code, _, err) = cli(&gw, &["devices", "remove", &device_id]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown deviceId"), "{err}");
}

#[test]
fn reject_and_clear() {
    let gw = start();
    let rejected = DeviceKey::from_secret([23; 32]);
    let request_id = pending_device(&gw, &rejected);
    let (code, out, err) = cli(&gw, &["devices", "reject", &request_id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("Rejected {}", rejected.device_id()));
    assert_eq!(
        cli_json(&gw, &["devices", "list", "--json"])["pending"],
        serde_json::json!([])
    );

    let (code, _, err) = cli(&gw, &["devices", "clear"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "Refusing to clear pairing table without --yes");

    let paired = DeviceKey::from_secret([24; 32]);
    let paired_request = pending_device(&gw, &paired);
    cli_json(&gw, &["devices", "approve", &paired_request, "--json"]);
    let waiting = DeviceKey::from_secret([25; 32]);
    let waiting_request = pending_device(&gw, &waiting);
    let cleared = cli_json(&gw, &["devices", "clear", "--yes", "--pending", "--json"]);
    assert_eq!(
        cleared,
        serde_json::json!({"removedDevices": [paired.device_id()], "rejectedPending": [waiting_request]})
    );
    let (code, out, _) = cli(&gw, &["devices", "clear", "--yes"]);
    assert_eq!((code, out.as_str()), (0, "Cleared 0 paired devices\n"));
}

/// With no shared secret the CLI signs in with its own identity (from the
/// state database) and the device token cached there; a token the gateway
/// no longer accepts is forgotten.
#[test]
fn cached_device_token_is_used_and_a_stale_one_forgotten() {
    let gw = Gateway::start_with_config(&config(true), &[]);
    gw.wait_ready();
    // The CLI's home: no token anywhere in its environment or config.
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let key = ClientIdentityStore::open(&state)
        .unwrap()
        .load_or_create_identity()
        .unwrap();
    // Pair that identity (silently, on loopback) and cache its token, as a
    // first run with the shared secret would have.
    let client = connect_as(&gw, &key, None, our_cli()).unwrap();
    let token = client.hello().device_token.clone().unwrap();
    close(client);
    let mut store = ClientIdentityStore::open(&state).unwrap();
    store
        .store_token(
            &key.device_id(),
            "operator",
            &token,
            &["operator.read".to_owned()],
        )
        .unwrap();

    let port = gw.port.to_string();
    let run = |args: &[&str]| {
        run_to_end(home.path(), args, |cmd| {
            cmd.env("OPENCLAW_GATEWAY_PORT", &port);
        })
    };
    let (code, out, err) = run(&["gateway", "call", "health", "--json"]);
    assert_eq!(
        code, 0,
        "the cached device token signs the CLI in: {err}{out}"
    );
    assert_eq!(
        store
            .cached_token(&key.device_id(), "operator")
            .unwrap()
            .unwrap()
            .token,
        token
    );

    store
        .store_token(&key.device_id(), "operator", "not-the-token", &[])
        .unwrap();
    let (code, _, err) = run(&["gateway", "call", "health", "--json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("AUTH_DEVICE_TOKEN_MISMATCH") || err.contains("device token"),
        "{err}"
    );
    assert_eq!(
        store.cached_token(&key.device_id(), "operator").unwrap(),
        None
    );
}

/// Without a shared secret the CLI connects as its own device; when the
/// local gateway wants that device approved first, `list` reads the store
/// and `approve` of the CLI's own request writes it there (with the
/// reference's notice). Our gateway loads the store when it (re)starts, so
/// the approval takes effect then.
#[test]
fn on_the_gateway_host_list_and_approve_fall_back_to_the_store() {
    let gw = Gateway::start_with_config(
        "{ gateway: { nodes: { pairing: { autoApproveLocal: false } } } }",
        &[],
    );
    gw.wait_ready();
    let own = ClientIdentityStore::open(&gw.dir.path().join("state"))
        .unwrap()
        .load_or_create_identity()
        .unwrap()
        .device_id();

    let (code, out, err) = cli(&gw, &["devices", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Direct scope access failed; using local fallback.\nPending (1)\n"),
        "{out}"
    );
    let list = cli_json(&gw, &["devices", "list", "--json"]);
    let request = &list["pending"][0];
    assert_eq!(request["deviceId"], own.as_str(), "{list:#}");
    assert_eq!(request["scopes"], serde_json::json!(["operator.pairing"]));
    let first_request = request["requestId"].as_str().unwrap().to_owned();

    // Another device's request cannot be approved this way.
    let other = DeviceKey::from_secret([26; 32]);
    assert_eq!(
        refusal_code(device_connect_no_auth(&gw, &other, None)),
        "PAIRING_REQUIRED"
    );
    let other_request = cli_json(&gw, &["devices", "list", "--json"])["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deviceId"] == other.device_id())
        .map(|r| r["requestId"].as_str().unwrap().to_owned())
        .expect("the other device waits");
    let (code, _, err) = cli(&gw, &["devices", "approve", &other_request]);
    assert_eq!(code, 1);
    assert!(
        err.contains("local fallback pairing state does not contain the gateway request"),
        "{err}"
    );

    // That attempt asked for the other request's scopes too, which replaced
    // the CLI's own request with a wider one (a new id, as the reference).
    let list = cli_json(&gw, &["devices", "list", "--json"]);
    let request_id = list["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["deviceId"] == own.as_str())
        .map(|r| r["requestId"].as_str().unwrap().to_owned())
        .expect("the CLI's own request");
    assert_ne!(request_id, first_request);
    let (code, out, err) = cli(&gw, &["devices", "approve", &request_id]);
    assert_eq!(code, 0, "{err}");
    // The notice comes from the listing and from the approval, as in the
    // reference.
    let notice = "Direct scope access failed; using local fallback.\n";
    assert_eq!(
        out,
        format!("{notice}{notice}Approved {own} ({request_id})\n")
    );

    // Until it restarts, our gateway (book in memory) still wants approval.
    let (_, out, _) = cli(&gw, &["devices", "list"]);
    assert!(out.contains("local fallback"), "{out}");
    gw.signal("USR1");
    std::thread::sleep(Duration::from_millis(100));
    gw.wait_ready();
    let list = cli_json(&gw, &["devices", "list", "--json"]);
    let paired = list["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 1, "{list:#}");
    assert_eq!(paired[0]["deviceId"], own.as_str());
    assert_eq!(paired[0]["approvedVia"], "owner");
    let (_, out, _) = cli(&gw, &["devices", "list"]);
    assert!(
        !out.contains("local fallback"),
        "through the gateway now: {out}"
    );
}
