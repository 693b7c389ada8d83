//! Exec approvals through OUR gateway binary over real sockets: a node host
//! asks for an approval of its own command, the approval client (an
//! operator holding `operator.approvals` with the `approvals` cap) sees the
//! request, approves it, and the node gets the decision; an unanswered
//! request is denied when its timer fires.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use gateway_proto::client::DeviceKey;
use serde_json::{json, Value};
use tests::fake_node::{self, next_matching};
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

/// The next frame matching `wanted` (others are skipped).
async fn next(ws: &mut RawWs, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    next_matching(ws, what, wanted)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn challenge(ws: &mut RawWs) -> String {
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => v["payload"]["nonce"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        other => panic!("expected connect.challenge, got {other:?}"),
    }
}

fn res(id: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "res" && v["id"] == id
}

fn event(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "event" && v["event"] == name
}

/// An approval client: shared token, `operator.approvals`, the `approvals` cap.
async fn approver(url: &str, token: &str) -> RawWs {
    let mut ws = RawWs::open(url).await.expect("open");
    challenge(&mut ws).await;
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "gateway-client", "version": "e2e", "platform": "linux", "mode": "backend",
                   "displayName": "approver"},
        "role": "operator", "scopes": ["operator.approvals"], "caps": ["approvals"],
        "auth": {"token": token},
    }});
    ws.send_json(&frame).await.expect("send");
    assert_eq!(next(&mut ws, "c0", res("c0")).await["ok"], true);
    ws
}

fn ask(id: &str, node_id: &str, argv: &[&str], timeout_ms: u64) -> Value {
    json!({"type": "req", "id": id, "method": "exec.approval.request", "params": {
        "host": "node", "nodeId": node_id, "twoPhase": true, "timeoutMs": timeout_ms,
        "systemRunPlan": {"argv": argv, "cwd": null, "commandText": argv.join(" "),
                          "agentId": null, "sessionKey": null},
    }})
}

#[test]
fn a_node_asks_an_operator_approves_and_an_unanswered_ask_is_denied() {
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let token = GatewayOptions::default().token;
    smol::block_on(async {
        let mut ops = approver(&url, &token).await;
        let key = DeviceKey::from_secret([21; 32]);
        let mut host = fake_node::connect(&url, &token, &key, "Build Box", &["system.run"])
            .await
            .unwrap();
        let node_id = key.device_id();

        host.send_json(&ask("a1", &node_id, &["git", "push"], 60_000))
            .await
            .unwrap();
        let accepted = next(&mut host, "a1", res("a1")).await;
        assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
        let id = accepted["payload"]["id"].as_str().unwrap().to_owned();
        let requested = next(
            &mut ops,
            "exec.approval.requested",
            event("exec.approval.requested"),
        )
        .await;
        assert_eq!(requested["payload"]["id"], id.as_str());
        assert_eq!(requested["payload"]["request"]["command"], "git push");
        assert_eq!(requested["payload"]["request"]["nodeId"], node_id.as_str());
        assert!(requested["seq"].is_u64(), "a broadcast with seq");

        let resolve = json!({"type": "req", "id": "d1", "method": "exec.approval.resolve",
                             "params": {"id": id, "decision": "allow-once"}});
        ops.send_json(&resolve).await.unwrap();
        let resolved = next(
            &mut ops,
            "exec.approval.resolved",
            event("exec.approval.resolved"),
        )
        .await;
        assert_eq!(resolved["payload"]["decision"], "allow-once");
        assert_eq!(resolved["payload"]["resolvedBy"], "approver");
        // The event goes out before the resolver's own answer, as in the reference.
        let answer = next(&mut ops, "d1", res("d1")).await;
        assert_eq!(answer["payload"], json!({"ok": true}));
        let decided = next(&mut host, "a1", res("a1")).await;
        assert_eq!(decided["payload"]["decision"], "allow-once");

        // Nobody answers: the gateway's timer denies it.
        host.send_json(&ask("a2", &node_id, &["rm", "-rf", "/tmp/x"], 300))
            .await
            .unwrap();
        assert_eq!(
            next(&mut host, "a2", res("a2")).await["payload"]["status"],
            "accepted"
        );
        let started = Instant::now();
        let expired = next(&mut host, "a2", res("a2")).await;
        assert_eq!(expired["payload"]["decision"], Value::Null);
        assert!(started.elapsed() < Duration::from_secs(5));
        let denied = next(
            &mut ops,
            "exec.approval.resolved",
            event("exec.approval.resolved"),
        )
        .await;
        assert_eq!(denied["payload"]["decision"], "deny");
        assert_eq!(denied["payload"]["request"]["command"], "rm -rf /tmp/x");
    });
}

/// `exec.approvals.get` on our binary: the gateway host's own document,
/// created once in `<stateDir>/state/openclaw.sqlite` (table
/// `exec_approvals_config`), shaped as the reference answers (`nodeapprove`
/// capture): no socket token, a stable hash, the resolved defaults.
#[test]
fn exec_approvals_get_reads_the_gateway_hosts_document() {
    let gw = OurGateway::start(GatewayOptions::default());
    let (first, second) = smol::block_on(async {
        let mut admin = tests::load::Conn::open(&gw.target(), &["operator.admin"])
            .await
            .unwrap();
        let first = admin.call("exec.approvals.get", json!({})).await.unwrap();
        let second = admin.call("exec.approvals.get", json!({})).await.unwrap();
        (first, second)
    });
    let p = &first["payload"];
    assert_eq!(first["ok"], true, "{first}");
    assert!(
        p["path"]
            .as_str()
            .is_some_and(|s| s.ends_with("state/openclaw.sqlite#exec_approvals_config")),
        "{p}"
    );
    assert_eq!(p["exists"], true, "{p}");
    assert_eq!(p["file"]["version"], 1, "{p}");
    assert!(p["file"]["socket"]["path"]
        .as_str()
        .is_some_and(|s| s.ends_with("exec-approvals.sock")));
    assert!(p["file"]["socket"].get("token").is_none(), "no secret: {p}");
    assert_eq!(p["hash"].as_str().map(str::len), Some(64), "{p}");
    assert_eq!(
        p["resolvedDefaults"],
        json!({"security": "full", "ask": "off", "askFallback": "deny", "autoAllowSkills": false})
    );
    assert_eq!(
        second["payload"]["hash"], p["hash"],
        "read twice, written once"
    );
}
