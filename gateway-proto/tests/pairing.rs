//! Device pairing in virtual time: every answer and event of the captured
//! transcripts (`devA`, `devB1`, `watch2`, `admin-dpl2`, `approve`, `devB2`,
//! `watch3`), the pending-request lifecycle, device tokens, the caller's
//! rights, and "answered only after the store write committed".

use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::pairing::PairingChange;
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const START_MS: u64 = 1_800_000_000_000;
const ADMIN: ConnId = ConnId(1);
const REMOTE_IP: &str = "192.0.2.2";
const ALL_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
];

fn harness() -> Harness {
    let config = Config::default().with_auth(AuthConfig::Token("testtok".into()));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    // The admin CLI of the captures: local, shared token, no device.
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    h.open(ADMIN, "127.0.0.1");
    h.text(
        ADMIN,
        &connect_frame(
            "cli",
            "cli",
            "operator",
            &scopes,
            json!({"token": "testtok"}),
            None,
        ),
    );
    assert_eq!(h.response(ADMIN, "c0", 0).unwrap()["ok"], true);
    h
}

/// A client of the captures, with its own key.
struct Device {
    key: DeviceKey,
    client_id: &'static str,
    mode: &'static str,
    platform: &'static str,
    family: &'static str,
}

fn remote_mac() -> Device {
    Device {
        key: DeviceKey::from_secret([2; 32]),
        client_id: "openclaw-macos",
        mode: "ui",
        platform: "macos",
        family: "Mac",
    }
}

fn local_cli() -> Device {
    Device {
        key: DeviceKey::from_secret([1; 32]),
        client_id: "cli",
        mode: "cli",
        platform: "linux",
        family: "",
    }
}

fn connect_frame(
    id: &str,
    mode: &str,
    role: &str,
    scopes: &[String],
    auth: Value,
    device: Option<Value>,
) -> String {
    let mut params = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": id, "version": "0.0.1", "platform": "linux", "mode": mode},
        "role": role, "scopes": scopes, "caps": [], "auth": auth,
    });
    if let Some(device) = device {
        params["device"] = device;
    }
    json!({"type": "req", "id": "c0", "method": "connect", "params": params}).to_string()
}

/// Open `conn` from `ip` and send a signed connect; returns the response.
fn device_connect(
    h: &mut Harness,
    conn: ConnId,
    ip: &str,
    device: &Device,
    scopes: &[&str],
    auth: Value,
) -> Value {
    h.open(conn, ip);
    let nonce = h.frames(conn)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let token = auth["token"]
        .as_str()
        .or(auth["deviceToken"].as_str())
        .unwrap_or("")
        .to_owned();
    let signed_at = START_MS + h.elapsed_ms();
    let proof = device.key.sign(
        &SignInput {
            client_id: device.client_id,
            client_mode: device.mode,
            role: "operator",
            scopes: &scopes,
            token: &token,
            nonce: &nonce,
            platform: device.platform,
            device_family: device.family,
        },
        signed_at,
    );
    let mut client = json!({"id": device.client_id, "version": "0.0.1",
        "platform": device.platform, "mode": device.mode, "displayName": "Remote Mac"});
    if !device.family.is_empty() {
        client["deviceFamily"] = device.family.into();
    }
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4, "client": client, "role": "operator",
        "scopes": scopes, "caps": [], "auth": auth,
        "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                   "signedAt": proof.signed_at, "nonce": proof.nonce},
    }});
    h.text(conn, &frame.to_string());
    // A refused guess is answered after the failure delay.
    h.advance_ms(6_000);
    h.response(conn, "c0", 0)
        .cloned()
        .expect("connect answered")
}

fn call(h: &mut Harness, conn: ConnId, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    h.text(conn, &frame.to_string());
    h.response(conn, id, 0).cloned().expect("answered")
}

fn events(h: &Harness, conn: ConnId, name: &str) -> Vec<Value> {
    h.frames(conn)
        .into_iter()
        .filter(|f| f["event"] == name)
        .map(|f| f["payload"].clone())
        .collect()
}

#[test]
fn a_local_device_is_paired_silently_and_gets_its_token_in_hello() {
    let mut h = harness();
    let cli = local_cli();
    let res = device_connect(
        &mut h,
        ConnId(2),
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.write"],
        json!({"token": "testtok"}),
    );
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["method"], "token");
    let token = auth["deviceToken"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 bytes base64url");
    assert_eq!(auth["issuedAtMs"], START_MS);
    // watch3: only `resolved` goes out for a silent approval.
    assert!(events(&h, ADMIN, "device.pair.requested").is_empty());
    let resolved = events(&h, ADMIN, "device.pair.resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["decision"], "approved");
    assert_eq!(resolved[0]["deviceId"], cli.key.device_id());
    // admin-dpl2: the paired row.
    let list = call(&mut h, ADMIN, "l", "device.pair.list", json!({}));
    let row = &list["payload"]["paired"][0];
    assert_eq!(row["approvedVia"], "silent");
    assert_eq!(row["clientId"], "cli");
    assert_eq!(row["connected"], true);
    assert_eq!(row["lastSeenReason"], "connect");
    assert_eq!(
        row["tokens"][0]["scopes"],
        json!(["operator.read", "operator.write"])
    );
    assert!(
        row["tokens"][0].get("token").is_none(),
        "no secret in lists"
    );
    assert!(row.get("approvedScopes").is_none());
    // The write committed before the hello: one write holds the pairing.
    assert!(h
        .pairing_writes
        .iter()
        .flatten()
        .any(|c| matches!(c, PairingChange::PutPaired(d) if d.tokens.is_some())));

    // A reconnect reuses the same token.
    let again = device_connect(
        &mut h,
        ConnId(3),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    assert_eq!(again["payload"]["auth"]["deviceToken"], token);
}

#[test]
fn a_remote_device_waits_for_approval_then_gets_its_token() {
    let mut h = harness();
    let mac = remote_mac();
    // devB1: refused with the reference's details and close reason.
    let res = device_connect(
        &mut h,
        ConnId(2),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    assert_eq!(res["ok"], false);
    let error = &res["error"];
    assert_eq!(error["code"], "NOT_PAIRED");
    assert_eq!(
        error["message"],
        "pairing required: device is not approved yet"
    );
    let details = &error["details"];
    let request_id = details["requestId"].as_str().unwrap().to_owned();
    assert_eq!(
        details,
        &json!({"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": request_id,
            "remediationHint": "Approve this device from the pending pairing requests.",
            "deviceId": mac.key.device_id(), "requestedRole": "operator",
            "requestedScopes": ["operator.read"]})
    );
    let (_, code, reason) = h.close_of(ConnId(2)).unwrap();
    assert_eq!(code, 1008);
    assert_eq!(
        reason,
        format!("pairing required: device is not approved yet (requestId: {request_id})")
    );

    // watch2: the request as broadcast and listed.
    let requested = events(&h, ADMIN, "device.pair.requested");
    assert_eq!(requested.len(), 1);
    let expected = json!({"requestId": request_id, "deviceId": mac.key.device_id(),
        "publicKey": mac.key.public_key_b64url(), "displayName": "Remote Mac",
        "platform": "macos", "deviceFamily": "Mac", "clientId": "openclaw-macos",
        "clientMode": "ui", "role": "operator", "roles": ["operator"],
        "scopes": ["operator.read"], "remoteIp": REMOTE_IP, "silent": false,
        "isRepair": false, "ts": START_MS});
    assert_eq!(requested[0], expected);
    let list = call(&mut h, ADMIN, "l", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["pending"], json!([expected]));

    // approve: answer, event, and the paired row without secrets.
    let approved = call(
        &mut h,
        ADMIN,
        "q1",
        "device.pair.approve",
        json!({"requestId": request_id}),
    );
    assert_eq!(approved["ok"], true, "{approved}");
    let device = &approved["payload"]["device"];
    assert_eq!(device["approvedVia"], "owner");
    assert_eq!(
        device["tokens"],
        json!([{"role": "operator", "scopes": ["operator.read"], "createdAtMs": START_MS + 6_000}])
    );
    let resolved = events(&h, ADMIN, "device.pair.resolved");
    assert_eq!(resolved.last().unwrap()["decision"], "approved");

    // devB2: the next connect is admitted with the token minted at approval.
    let res = device_connect(
        &mut h,
        ConnId(3),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["issuedAtMs"], START_MS + 6_000);
    // Without operator.pairing it cannot list (devB2).
    let denied = call(&mut h, ConnId(3), "q1", "device.pair.list", json!({}));
    assert_eq!(
        denied["error"]["message"],
        "missing scope: operator.pairing"
    );
}

#[test]
fn a_reconnect_refreshes_its_request_and_a_wider_one_replaces_it() {
    let mut h = harness();
    let mac = remote_mac();
    let first = device_connect(
        &mut h,
        ConnId(2),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id1 = first["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Same ask: same id, no new `requested`.
    let same = device_connect(
        &mut h,
        ConnId(3),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    assert_eq!(same["error"]["details"]["requestId"], id1.as_str());
    assert_eq!(events(&h, ADMIN, "device.pair.requested").len(), 1);
    // Wider: a new id with the union; the old one is resolved "rejected".
    let wider = device_connect(
        &mut h,
        ConnId(4),
        REMOTE_IP,
        &mac,
        &["operator.write"],
        json!({"token": "testtok"}),
    );
    let id2 = wider["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(id1, id2);
    let requested = events(&h, ADMIN, "device.pair.requested");
    assert_eq!(requested.len(), 2);
    assert_eq!(
        requested[1]["scopes"],
        json!(["operator.read", "operator.write"])
    );
    let resolved = events(&h, ADMIN, "device.pair.resolved");
    assert_eq!(resolved[0]["requestId"], id1.as_str());
    assert_eq!(resolved[0]["decision"], "rejected");
    let list = call(&mut h, ADMIN, "l", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["pending"].as_array().unwrap().len(), 1);
}

#[test]
fn a_pending_request_expires_five_minutes_after_its_last_refresh() {
    let mut h = harness();
    let mac = remote_mac();
    let res = device_connect(
        &mut h,
        ConnId(2),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance_ms(4 * 60_000);
    // A refresh restarts the TTL.
    device_connect(
        &mut h,
        ConnId(3),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    h.advance_ms(4 * 60_000);
    let list = call(&mut h, ADMIN, "l1", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["pending"].as_array().unwrap().len(), 1);
    h.advance_ms(2 * 60_000);
    let list = call(&mut h, ADMIN, "l2", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["pending"], json!([]));
    let late = call(
        &mut h,
        ADMIN,
        "a",
        "device.pair.approve",
        json!({"requestId": id}),
    );
    assert_eq!(late["error"]["message"], "unknown requestId");
}

#[test]
fn a_device_token_replaces_the_shared_secret_until_it_is_revoked() {
    let mut h = harness();
    let cli = local_cli();
    let first = device_connect(
        &mut h,
        ConnId(2),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let token = first["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let by_token = device_connect(
        &mut h,
        ConnId(3),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"deviceToken": token}),
    );
    assert_eq!(by_token["ok"], true, "{by_token}");
    assert_eq!(by_token["payload"]["auth"]["method"], "device-token");
    // The token in `auth.token` works too (the reference's fallback).
    let fallback = device_connect(
        &mut h,
        ConnId(4),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"token": token}),
    );
    assert_eq!(fallback["ok"], true, "{fallback}");

    // A wrong explicit device token: the reference's wording.
    let wrong = device_connect(
        &mut h,
        ConnId(5),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"deviceToken": "nope"}),
    );
    assert_eq!(
        wrong["error"]["message"],
        "unauthorized: device token mismatch (rotate/reissue device token)"
    );
    assert_eq!(
        wrong["error"]["details"]["code"],
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    // Asking beyond the token's scopes.
    let wider = device_connect(
        &mut h,
        ConnId(6),
        "127.0.0.1",
        &cli,
        &["operator.admin"],
        json!({"deviceToken": token}),
    );
    assert_eq!(wider["error"]["details"]["code"], "AUTH_SCOPE_MISMATCH");

    // Revoke: the device's sessions close 4001, and the token is refused.
    let revoked = call(
        &mut h,
        ADMIN,
        "r",
        "device.token.revoke",
        json!({"deviceId": cli.key.device_id(), "role": "operator"}),
    );
    assert_eq!(revoked["ok"], true, "{revoked}");
    assert!(revoked["payload"]["revokedAtMs"].is_u64());
    for conn in [ConnId(2), ConnId(3), ConnId(4)] {
        let (_, code, reason) = h.close_of(conn).expect("closed");
        assert_eq!((code, reason.as_str()), (4001, "device removed"));
    }
    let after = device_connect(
        &mut h,
        ConnId(7),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"deviceToken": token}),
    );
    assert_eq!(after["ok"], false);
}

#[test]
fn rotate_hands_the_new_token_only_to_the_device_itself() {
    let mut h = harness();
    let cli = local_cli();
    let first = device_connect(
        &mut h,
        ConnId(2),
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.pairing"],
        json!({"token": "testtok"}),
    );
    let token = first["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // The admin rotates it: the token is withheld.
    let rotated = call(
        &mut h,
        ADMIN,
        "r",
        "device.token.rotate",
        json!({"deviceId": cli.key.device_id(), "role": "operator"}),
    );
    assert_eq!(
        rotated["payload"]["tokenDelivery"], "withheld-cross-device",
        "{rotated}"
    );
    assert!(rotated["payload"].get("token").is_none());
    assert_eq!(h.close_of(ConnId(2)).unwrap().1, 4001);
    // The old token no longer works; the device gets the new one by
    // pairing again with the shared secret, then rotates its own.
    let old = device_connect(
        &mut h,
        ConnId(3),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"deviceToken": token}),
    );
    assert_eq!(old["ok"], false);
    let fresh = device_connect(
        &mut h,
        ConnId(4),
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.pairing"],
        json!({"token": "testtok"}),
    );
    let new_token = fresh["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = device_connect(
        &mut h,
        ConnId(5),
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.pairing"],
        json!({"deviceToken": new_token}),
    );
    assert_eq!(own["ok"], true, "{own}");
    let mine = call(
        &mut h,
        ConnId(5),
        "r2",
        "device.token.rotate",
        json!({"deviceId": cli.key.device_id(), "role": "operator"}),
    );
    assert_eq!(mine["payload"]["tokenDelivery"], "in-band", "{mine}");
    assert!(mine["payload"]["token"].is_string());
}

#[test]
fn a_device_caller_acts_only_on_itself_and_grants_only_what_it_holds() {
    let mut h = harness();
    let cli = local_cli();
    let first = device_connect(
        &mut h,
        ConnId(2),
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.pairing"],
        json!({"token": "testtok"}),
    );
    let token = first["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = ConnId(3);
    let res = device_connect(
        &mut h,
        me,
        "127.0.0.1",
        &cli,
        &["operator.read", "operator.pairing"],
        json!({"deviceToken": token}),
    );
    assert_eq!(res["ok"], true);

    let mac = remote_mac();
    let pending = device_connect(
        &mut h,
        ConnId(4),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = pending["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another device's request: denied, and hidden from its list.
    let denied = call(
        &mut h,
        me,
        "a",
        "device.pair.approve",
        json!({"requestId": id}),
    );
    assert_eq!(denied["error"]["message"], "device pairing approval denied");
    let list = call(&mut h, me, "l", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["pending"], json!([]));
    assert_eq!(list["payload"]["paired"].as_array().unwrap().len(), 1);
    let removal = call(
        &mut h,
        me,
        "rm",
        "device.pair.remove",
        json!({"deviceId": mac.key.device_id()}),
    );
    assert_eq!(removal["error"]["message"], "device pairing removal denied");

    // A shared-secret operator without write cannot grant write.
    let reader = ConnId(5);
    h.open(reader, "127.0.0.1");
    let scopes = vec!["operator.pairing".to_owned(), "operator.read".to_owned()];
    h.text(
        reader,
        &connect_frame(
            "cli",
            "cli",
            "operator",
            &scopes,
            json!({"token": "testtok"}),
            None,
        ),
    );
    let wide = device_connect(
        &mut h,
        ConnId(6),
        REMOTE_IP,
        &mac,
        &["operator.write"],
        json!({"token": "testtok"}),
    );
    let id = wide["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = call(
        &mut h,
        reader,
        "a2",
        "device.pair.approve",
        json!({"requestId": id}),
    );
    assert_eq!(
        missing["error"]["message"], "missing scope: operator.write",
        "{missing}"
    );
}

#[test]
fn remove_rename_and_reject_answer_and_announce_as_the_reference() {
    let mut h = harness();
    let mac = remote_mac();
    let pending = device_connect(
        &mut h,
        ConnId(2),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = pending["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let rejected = call(
        &mut h,
        ADMIN,
        "rj",
        "device.pair.reject",
        json!({"requestId": id}),
    );
    assert_eq!(
        rejected["payload"],
        json!({"requestId": id, "deviceId": mac.key.device_id()})
    );
    assert_eq!(
        events(&h, ADMIN, "device.pair.resolved")[0]["decision"],
        "rejected"
    );
    let unknown = call(
        &mut h,
        ADMIN,
        "rj2",
        "device.pair.reject",
        json!({"requestId": id}),
    );
    assert_eq!(unknown["error"]["message"], "unknown requestId");

    let cli = local_cli();
    device_connect(
        &mut h,
        ConnId(3),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let renamed = call(
        &mut h,
        ADMIN,
        "rn",
        "device.pair.rename",
        json!({"deviceId": cli.key.device_id(), "label": " Laptop "}),
    );
    assert_eq!(
        renamed["payload"],
        json!({"deviceId": cli.key.device_id(), "label": "Laptop"})
    );
    assert_eq!(events(&h, ADMIN, "device.pair.changed"), vec![json!({})]);
    let too_long = call(
        &mut h,
        ADMIN,
        "rn2",
        "device.pair.rename",
        json!({"deviceId": cli.key.device_id(), "label": "x".repeat(65)}),
    );
    assert_eq!(too_long["ok"], false);

    let removed = call(
        &mut h,
        ADMIN,
        "rm",
        "device.pair.remove",
        json!({"deviceId": cli.key.device_id()}),
    );
    assert_eq!(removed["payload"], json!({"deviceId": cli.key.device_id()}));
    assert_eq!(h.close_of(ConnId(3)).unwrap().1, 4001);
    let list = call(&mut h, ADMIN, "l", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["paired"], json!([]));
}

#[test]
fn an_approval_is_answered_only_after_its_write_commits() {
    let mut h = harness();
    let mac = remote_mac();
    let pending = device_connect(
        &mut h,
        ConnId(2),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = pending["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.hold_pairing = true;
    h.text(ADMIN, &json!({"type": "req", "id": "a", "method": "device.pair.approve", "params": {"requestId": id}}).to_string());
    assert!(
        h.response(ADMIN, "a", 0).is_none(),
        "no answer before the commit"
    );
    assert!(events(&h, ADMIN, "device.pair.resolved").is_empty());
    h.finish_held_pairing(true);
    assert_eq!(h.response(ADMIN, "a", 0).unwrap()["ok"], true);
    assert_eq!(events(&h, ADMIN, "device.pair.resolved").len(), 1);

    // A failed write is answered UNAVAILABLE, and the book is read back
    // from the store, so the change it carried is gone from memory too.
    h.hold_pairing = true;
    let renamed = json!({"type": "req", "id": "rn", "method": "device.pair.rename", "params": {"deviceId": mac.key.device_id(), "label": "x"}});
    h.text(ADMIN, &renamed.to_string());
    h.finish_held_pairing(false);
    h.hold_pairing = false;
    assert_eq!(
        h.response(ADMIN, "rn", 0).unwrap()["error"]["code"],
        "UNAVAILABLE"
    );
    let list = call(&mut h, ADMIN, "l", "device.pair.list", json!({}));
    assert!(
        list["payload"]["paired"][0].get("operatorLabel").is_none(),
        "{list}"
    );
    let again = call(
        &mut h,
        ADMIN,
        "rn2",
        "device.pair.rename",
        json!({"deviceId": mac.key.device_id(), "label": "y"}),
    );
    assert_eq!(again["ok"], true, "{again}");
    let list = call(&mut h, ADMIN, "l2", "device.pair.list", json!({}));
    assert_eq!(list["payload"]["paired"][0]["operatorLabel"], "y");
}

#[test]
fn a_paired_device_asking_for_more_is_upgraded_silently_only_when_local() {
    let mut h = harness();
    let cli = local_cli();
    device_connect(
        &mut h,
        ConnId(2),
        "127.0.0.1",
        &cli,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    // Local with the shared secret: a silent scope upgrade.
    let up = device_connect(
        &mut h,
        ConnId(3),
        "127.0.0.1",
        &cli,
        &["operator.write"],
        json!({"token": "testtok"}),
    );
    assert_eq!(up["ok"], true, "{up}");
    // Remote: the same device must be approved, and is told what it holds.
    let mac = remote_mac();
    let res = device_connect(
        &mut h,
        ConnId(4),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &mut h,
        ADMIN,
        "a",
        "device.pair.approve",
        json!({"requestId": id}),
    );
    let more = device_connect(
        &mut h,
        ConnId(5),
        REMOTE_IP,
        &mac,
        &["operator.write"],
        json!({"token": "testtok"}),
    );
    let details = &more["error"]["details"];
    assert_eq!(details["reason"], "scope-upgrade", "{more}");
    assert_eq!(details["approvedScopes"], json!(["operator.read"]));
    assert_eq!(details["approvedRoles"], json!(["operator"]));
    assert_eq!(
        events(&h, ADMIN, "device.pair.requested").last().unwrap()["isRepair"],
        true
    );
}

/// A remote device paired for `operator.read`, in a session opened with its
/// device token (so the session knows its device).
fn paired_remote_session(h: &mut Harness, conn: ConnId) -> Device {
    let mac = remote_mac();
    let first = device_connect(
        h,
        ConnId(90),
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    let id = first["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        h,
        ADMIN,
        "ap0",
        "device.pair.approve",
        json!({"requestId": id}),
    );
    let res = device_connect(
        h,
        conn,
        REMOTE_IP,
        &mac,
        &["operator.read"],
        json!({"token": "testtok"}),
    );
    assert_eq!(res["ok"], true, "{res}");
    mac
}

#[test]
fn a_live_scope_upgrade_is_answered_with_the_new_token_when_approved() {
    let mut h = harness();
    let me = ConnId(2);
    paired_remote_session(&mut h, me);
    let asked = call(
        &mut h,
        me,
        "u",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.read", "operator.write"]}),
    );
    let request_id = asked["payload"]["requestId"]
        .as_str()
        .expect("requestId")
        .to_owned();
    let requested = events(&h, ADMIN, "device.pair.requested");
    assert_eq!(
        requested.last().unwrap()["scopes"],
        json!(["operator.read", "operator.write"])
    );
    // The wait parks until the decision.
    h.text(me, &json!({"type": "req", "id": "w", "method": "device.scopes.waitUpgrade", "params": {"requestId": request_id}}).to_string());
    assert!(h.response(me, "w", 0).is_none());
    call(
        &mut h,
        ADMIN,
        "a",
        "device.pair.approve",
        json!({"requestId": request_id}),
    );
    let result = &h.response(me, "w", 0).expect("answered on approval")["payload"];
    assert_eq!(result["status"], "approved");
    assert_eq!(result["requestId"], request_id.as_str());
    assert_eq!(result["scopes"], json!(["operator.read", "operator.write"]));
    assert_eq!(result["deviceToken"].as_str().unwrap().len(), 43);
    // A late wait still gets the decision (within the grace period).
    let late = call(
        &mut h,
        me,
        "w2",
        "device.scopes.waitUpgrade",
        json!({"requestId": request_id}),
    );
    assert_eq!(late["payload"]["status"], "approved");
}

#[test]
fn a_scope_upgrade_can_be_rejected_or_expire_and_needs_a_device() {
    let mut h = harness();
    let me = ConnId(2);
    paired_remote_session(&mut h, me);
    let asked = call(
        &mut h,
        me,
        "u",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.read", "operator.write"]}),
    );
    let id = asked["payload"]["requestId"].as_str().unwrap().to_owned();
    h.text(me, &json!({"type": "req", "id": "w", "method": "device.scopes.waitUpgrade", "params": {"requestId": id}}).to_string());
    call(
        &mut h,
        ADMIN,
        "rj",
        "device.pair.reject",
        json!({"requestId": id}),
    );
    assert_eq!(
        h.response(me, "w", 0).unwrap()["payload"],
        json!({"status": "rejected", "requestId": id})
    );

    let asked = call(
        &mut h,
        me,
        "u2",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.read", "operator.approvals"]}),
    );
    let id = asked["payload"]["requestId"].as_str().unwrap().to_owned();
    h.text(me, &json!({"type": "req", "id": "w2", "method": "device.scopes.waitUpgrade", "params": {"requestId": id}}).to_string());
    h.advance_ms(5 * 60_000);
    assert_eq!(
        h.response(me, "w2", 0).unwrap()["payload"],
        json!({"status": "expired", "requestId": id})
    );

    // Scopes must include the session's own; unknown scopes are refused.
    let narrower = call(
        &mut h,
        me,
        "u3",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.write"]}),
    );
    assert_eq!(narrower["ok"], true, "write covers read: {narrower}");
    let unknown = call(
        &mut h,
        me,
        "u4",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.read", "operator.bogus"]}),
    );
    assert_eq!(
        unknown["error"]["message"],
        "requested scopes contain an unknown operator scope"
    );
    let missing = call(
        &mut h,
        me,
        "w3",
        "device.scopes.waitUpgrade",
        json!({"requestId": "nope"}),
    );
    assert_eq!(
        missing["error"]["message"],
        "scope upgrade expired or not found"
    );
    // A session without a device cannot ask.
    let no_device = call(
        &mut h,
        ADMIN,
        "u5",
        "device.scopes.requestUpgrade",
        json!({"scopes": ["operator.read"]}),
    );
    assert_eq!(
        no_device["error"]["details"]["code"],
        "DEVICE_IDENTITY_REQUIRED"
    );
}
