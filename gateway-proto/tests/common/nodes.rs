//! Node helpers shared by the scenario and property tests: an admin
//! operator, a signed node host, calls and events.
#![allow(dead_code)]

use gateway_proto::client::DeviceKey;
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::node_host::NodeHost;
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

pub const START_MS: u64 = 1_800_000_000_000;
pub const ADMIN: ConnId = ConnId(1);
pub const ALL_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
];

pub fn operator(h: &mut Harness, conn: ConnId, scopes: &[&str]) {
    h.open(conn, "127.0.0.1");
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "0.0.1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": scopes, "caps": [], "auth": {"token": "testtok"},
    }});
    h.text(conn, &frame.to_string());
    assert_eq!(h.response(conn, "c0", 0).unwrap()["ok"], true);
}

pub fn harness() -> Harness {
    let config = Config::default().with_auth(AuthConfig::Token("testtok".into()));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    operator(&mut h, ADMIN, ALL_SCOPES);
    h
}

/// Connect a node host on `conn` with key `seed` declaring `commands`;
/// returns its node id.
pub fn node(h: &mut Harness, conn: ConnId, seed: u8, commands: &[&str]) -> String {
    let key = DeviceKey::from_secret([seed; 32]);
    h.open(conn, "127.0.0.1");
    let nonce = h.frames(conn)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = format!("Node {seed}");
    let host = NodeHost {
        key: &key,
        token: "testtok",
        display_name: &name,
        commands,
    };
    h.text(conn, &host.connect_frame(&nonce, START_MS + h.elapsed_ms()));
    let res = h
        .response(conn, "c0", 0)
        .cloned()
        .expect("connect answered");
    assert_eq!(res["ok"], true, "{res}");
    key.device_id()
}

pub fn call(h: &mut Harness, conn: ConnId, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    h.text(conn, &frame.to_string());
    h.response(conn, id, 0).cloned().expect("answered")
}

pub fn send(h: &mut Harness, conn: ConnId, id: &str, method: &str, params: Value) {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    h.text(conn, &frame.to_string());
}

pub fn events(h: &Harness, conn: ConnId, name: &str) -> Vec<Value> {
    h.frames(conn)
        .into_iter()
        .filter(|f| f["event"] == name)
        .cloned()
        .collect()
}

/// Approve `node_id`'s pending surface as the admin.
pub fn approve(h: &mut Harness, node_id: &str) {
    let list = call(
        h,
        ADMIN,
        &format!("pl-{node_id}"),
        "node.pair.list",
        json!({}),
    );
    let request_id = list["payload"]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nodeId"] == node_id)
        .expect("pending surface")["requestId"]
        .clone();
    let id = format!("ap-{node_id}");
    let res = call(
        h,
        ADMIN,
        &id,
        "node.pair.approve",
        json!({"requestId": request_id}),
    );
    assert_eq!(res["ok"], true, "{res}");
}
