//! Many invokes across many nodes over real sockets: ten node hosts (raw
//! WebSocket clients with their own keys) are approved, then one operator
//! pipelines 1,000 `node.invoke` calls across them; every node answers
//! its requests, and every call is answered exactly once with its own
//! payload. Bounded: 60 s for the whole exchange.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gateway_proto::client::DeviceKey;
use serde_json::{json, Value};
use tests::fake_node;
use tests::load::Conn;
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::Incoming;

const NODES: u8 = 10;
const INVOKES: usize = 1000;
const ADMIN_SCOPES: &[&str] = &["operator.admin", "operator.pairing", "operator.write"];

#[test]
fn a_thousand_invokes_across_ten_nodes_are_each_answered_once() {
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let keys: Vec<DeviceKey> = (0..NODES)
        .map(|i| DeviceKey::from_secret([60 + i; 32]))
        .collect();

    // Connect and approve every node.
    let mut sockets = smol::block_on(async {
        let mut admin = Conn::open(&gw.target(), ADMIN_SCOPES).await.unwrap();
        let mut sockets = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let name = format!("node {i}");
            let ws = fake_node::connect(&url, &gw.token, key, &name, &["system.which"])
                .await
                .unwrap();
            sockets.push(ws);
        }
        let list = admin.call("node.pair.list", json!({})).await.unwrap();
        let pending = list["payload"]["pending"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(pending.len(), usize::from(NODES), "{list}");
        for request in pending {
            let res = admin
                .call(
                    "node.pair.approve",
                    json!({"requestId": request["requestId"]}),
                )
                .await
                .unwrap();
            assert_eq!(res["ok"], true, "{res}");
        }
        sockets
    });

    // Each node answers every request with the params it was sent.
    let answerers: Vec<_> = sockets
        .drain(..)
        .zip(keys.iter().map(DeviceKey::device_id))
        .map(|(mut ws, node_id)| {
            std::thread::spawn(move || {
                smol::block_on(async move {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let share = INVOKES / usize::from(NODES);
                    let (mut answered, mut acked) = (0usize, 0usize);
                    // Until every result is acknowledged: closing with the
                    // acks unread would reset the socket and could drop the
                    // last results in flight.
                    while acked < share && Instant::now() < deadline {
                        let Some(incoming) = ws.recv_timeout(Duration::from_secs(5)).await else {
                            continue;
                        };
                        let Incoming::Json(frame) = incoming else {
                            continue;
                        };
                        if frame["type"] == "res" {
                            acked += 1;
                            continue;
                        }
                        if frame["event"] != "node.invoke.request" {
                            continue;
                        }
                        let p = &frame["payload"];
                        let params: Value =
                            serde_json::from_str(p["paramsJSON"].as_str().unwrap()).unwrap();
                        let result = json!({"type": "req", "id": format!("r{answered}"),
                            "method": "node.invoke.result", "params": {
                                "id": p["id"], "nodeId": node_id, "ok": true,
                                "payloadJSON": json!({"n": params["n"]}).to_string()}});
                        ws.send_json(&result).await.unwrap();
                        answered += 1;
                    }
                    answered
                })
            })
        })
        .collect();

    let answers = smol::block_on(async {
        let mut admin = Conn::open(&gw.target(), ADMIN_SCOPES).await.unwrap();
        for n in 0..INVOKES {
            let node_id = keys[n % usize::from(NODES)].device_id();
            let frame = json!({"type": "req", "id": format!("i{n}"), "method": "node.invoke",
                "params": {"nodeId": node_id, "command": "system.which", "params": {"n": n},
                           "idempotencyKey": format!("k{n}")}});
            admin.send(&frame).await.unwrap();
        }
        let mut answers: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut received = 0;
        while received < INVOKES && Instant::now() < deadline {
            match admin.recv().await {
                Incoming::Json(v) if v["type"] == "res" => {
                    let id = v["id"].as_str().unwrap_or_default().to_owned();
                    answers.entry(id).or_default().push(v);
                    received += 1;
                }
                Incoming::Json(_) | Incoming::Text(_) => {}
                other => panic!("the operator's connection ended: {other:?}"),
            }
        }
        answers
    });
    let answered: usize = answerers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answered, INVOKES, "every node answered its share");
    assert_eq!(answers.len(), INVOKES, "every invoke answered");
    for (n, id) in (0..INVOKES).map(|n| (n, format!("i{n}"))) {
        let got = &answers[&id];
        assert_eq!(got.len(), 1, "{id} answered {} times", got.len());
        assert_eq!(got[0]["ok"], true, "{}", got[0]);
        assert_eq!(got[0]["payload"]["payload"]["n"], n, "{}", got[0]);
    }
}
