//! Presence as the reference keeps it, and broadcasts coalesced: who is
//! tracked, how entries are keyed, and one trailing broadcast for a burst of
//! connects.

use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::{AuthConfig, Config, Peer};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::Value;

const RECEIVER: ConnId = ConnId(1);

fn harness() -> Harness {
    let config = Config::default().with_auth(AuthConfig::Token("t".into()));
    let mut h = Harness::new(config, Timestamp::ZERO, 1_800_000_000_000);
    // A local backend client with read scope: receives presence, is not tracked.
    connect(&mut h, RECEIVER, "gateway-client", "backend", "receiver");
    h
}

fn connect(h: &mut Harness, conn: ConnId, id: &str, mode: &str, instance: &str) {
    // A browser UI comes from an allowed origin and signs with a device key.
    let ui = id == "openclaw-control-ui";
    if ui {
        let peer = Peer::new("127.0.0.1".parse().unwrap(), true)
            .with_origin("http://127.0.0.1:18789")
            .with_host("127.0.0.1:18789");
        h.open_peer(conn, peer);
    } else {
        h.open(conn, "127.0.0.1");
    }
    let mut frame: Value = serde_json::from_str(&format!(
        r#"{{"type":"req","id":"c","method":"connect","params":{{"minProtocol":4,"maxProtocol":4,"client":{{"id":"{id}","version":"1","platform":"linux","mode":"{mode}","instanceId":"{instance}"}},"role":"operator","scopes":["operator.read"],"auth":{{"token":"t"}}}}}}"#
    ))
    .unwrap();
    if ui {
        let nonce = h.frames(conn)[0]["payload"]["nonce"]
            .as_str()
            .unwrap()
            .to_owned();
        // One device per instance.
        let mut secret = [1u8; 32];
        for (i, b) in instance.bytes().enumerate() {
            secret[i % 32] ^= b.wrapping_add(i as u8);
        }
        let scopes = vec!["operator.read".to_owned()];
        let proof = DeviceKey::from_secret(secret).sign(
            &SignInput {
                client_id: id,
                client_mode: mode,
                role: "operator",
                scopes: &scopes,
                token: "t",
                nonce: &nonce,
                platform: "linux",
                device_family: "",
            },
            1_800_000_000_000 + h.elapsed_ms(),
        );
        frame["params"]["device"] = serde_json::json!({"id": proof.id, "publicKey": proof.public_key,
            "signature": proof.signature, "signedAt": proof.signed_at, "nonce": proof.nonce});
    }
    h.text(conn, &frame.to_string());
    assert_eq!(
        h.response(conn, "c", 0).unwrap()["ok"],
        true,
        "{:?}",
        h.response(conn, "c", 0)
    );
}

fn presence_events(h: &Harness, conn: ConnId) -> Vec<Value> {
    h.frames(conn)
        .into_iter()
        .filter(|f| f["event"] == "presence")
        .cloned()
        .collect()
}

fn instances(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["instanceId"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn cli_backend_and_probe_clients_are_not_tracked() {
    let mut h = harness();
    connect(&mut h, ConnId(2), "cli", "cli", "a-cli");
    connect(&mut h, ConnId(3), "gateway-client", "backend", "a-backend");
    connect(&mut h, ConnId(4), "openclaw-probe", "probe", "a-probe");
    connect(&mut h, ConnId(5), "openclaw-control-ui", "webchat", "a-ui");
    let tracked: Vec<String> = h
        .gateway
        .presence()
        .entries()
        .filter_map(|e| e.instance_id.clone())
        .collect();
    assert!(tracked.contains(&"a-ui".to_owned()), "{tracked:?}");
    for untracked in ["receiver", "a-cli", "a-backend", "a-probe"] {
        assert!(
            !tracked.contains(&untracked.to_owned()),
            "{untracked}: {tracked:?}"
        );
    }
    let ui = h
        .gateway
        .presence()
        .entries()
        .find(|e| e.instance_id.as_deref() == Some("a-ui"))
        .unwrap()
        .clone();
    assert_eq!(ui.client_id.as_deref(), Some("openclaw-control-ui"));
    assert_eq!(
        ui.host.as_deref(),
        Some("openclaw-control-ui"),
        "no displayName: the client id"
    );
    assert_eq!(ui.ip, None, "a local client's address is not shown");
    assert_eq!(ui.reason.as_deref(), Some("connect"));
}

#[test]
fn two_windows_of_one_app_are_two_entries() {
    let mut h = harness();
    connect(&mut h, ConnId(2), "openclaw-control-ui", "webchat", "same");
    connect(&mut h, ConnId(3), "openclaw-control-ui", "webchat", "same");
    let same = h
        .gateway
        .presence()
        .entries()
        .filter(|e| e.instance_id.as_deref() == Some("same"))
        .count();
    assert_eq!(same, 2, "operators are keyed by connection");
}

#[test]
fn a_burst_of_connects_is_one_broadcast_now_and_one_trailing() {
    let mut h = harness();
    let before = h.gateway.state_version().presence;
    for i in 0..50u64 {
        connect(
            &mut h,
            ConnId(10 + i),
            "openclaw-control-ui",
            "webchat",
            &format!("ui-{i}"),
        );
    }
    // Every change counts in the version.
    assert_eq!(h.gateway.state_version().presence, before + 50);
    let now = presence_events(&h, RECEIVER);
    assert_eq!(now.len(), 1, "only the first change goes out at once");
    // After the window, one broadcast with the latest list and version.
    h.advance_ms(60);
    let events = presence_events(&h, RECEIVER);
    assert_eq!(events.len(), 2, "one trailing broadcast");
    let last = events.last().unwrap();
    assert_eq!(
        last["stateVersion"]["presence"].as_u64(),
        Some(before + 50),
        "{last}"
    );
    let listed = instances(&last["payload"]["presence"]);
    for i in 0..50 {
        assert!(listed.contains(&format!("ui-{i}")), "ui-{i} missing");
    }
    // Quiet afterwards: the next change goes out at once again.
    h.advance_ms(1_000);
    connect(
        &mut h,
        ConnId(100),
        "openclaw-control-ui",
        "webchat",
        "late",
    );
    assert_eq!(presence_events(&h, RECEIVER).len(), 3);
}
