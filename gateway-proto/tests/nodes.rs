//! Nodes in virtual time: surface approval (`fakenode`, `fn-admin`,
//! `nodes1`, `nodeapprove`), invoke routing with its timeout, cancel,
//! disconnect and late results, the refusals of the captures, a node that
//! stops reading, and many invokes across many nodes each answered exactly
//! once.

mod common;

use common::nodes::*;
use gateway_proto::testing::Harness;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const NODE: ConnId = ConnId(10);

#[test]
fn a_node_surface_waits_for_approval_then_the_live_node_is_updated() {
    let mut h = harness();
    let node_id = node(&mut h, NODE, 7, &["system.which", "system.run"]);
    // The node hears the voice-wake snapshots, without seq.
    let wake = events(&h, NODE, "voicewake.changed");
    assert_eq!(
        wake[0]["payload"]["triggers"],
        json!(["openclaw", "claude", "computer"])
    );
    assert!(wake[0].get("seq").is_none());
    assert_eq!(events(&h, NODE, "voicewake.routing.changed").len(), 1);

    // watch3 / nodes1: a pending surface that needs pairing + admin.
    let requested = events(&h, ADMIN, "node.pair.requested");
    assert_eq!(requested.len(), 1);
    let req = &requested[0]["payload"];
    assert_eq!(req["nodeId"], node_id);
    assert_eq!(
        req["requiredApproveScopes"],
        json!(["operator.pairing", "operator.admin"])
    );
    assert_eq!(req["silent"], true);
    assert_eq!(req["commands"], json!(["system.which", "system.run"]));
    let list = call(&mut h, ADMIN, "l1", "node.list", json!({}));
    let row = &list["payload"]["nodes"][0];
    assert_eq!(row["caps"], json!([]));
    assert_eq!(row["commands"], json!([]));
    assert_eq!(row["approvalState"], "pending-approval");
    assert_eq!(
        row["pendingDeclaredCommands"],
        json!(["system.run", "system.which"])
    );
    assert_eq!(row["pathEnv"], "/usr/bin:/bin");
    assert_eq!(row["connected"], true);
    assert_eq!(row["paired"], true);

    // Not invocable while pending: a host command is allowlisted only
    // through an approved surface.
    let refused = call(
        &mut h,
        ADMIN,
        "i0",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.which", "params": {"bins": ["git"]},
        "idempotencyKey": "k0"}),
    );
    assert_eq!(refused["error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        refused["error"]["message"],
        "node command not allowed: \"system.which\" is not in the allowlist for platform \"linux\""
    );

    // A pairing+write operator cannot approve admin commands.
    operator(&mut h, ConnId(2), &["operator.pairing", "operator.write"]);
    let request_id = req["requestId"].clone();
    let forbidden = call(
        &mut h,
        ConnId(2),
        "a1",
        "node.pair.approve",
        json!({"requestId": request_id}),
    );
    assert_eq!(forbidden["error"]["code"], "FORBIDDEN", "{forbidden}");
    assert_eq!(
        forbidden["error"]["message"],
        "missing scope: operator.admin"
    );
    assert_eq!(
        forbidden["error"]["details"]["requiredScopes"],
        json!(["operator.pairing", "operator.admin"])
    );

    // fn-admin: approval answers the node object, broadcasts, and tells
    // the node directly (no seq).
    let approved = call(
        &mut h,
        ADMIN,
        "a2",
        "node.pair.approve",
        json!({"requestId": request_id}),
    );
    assert_eq!(approved["ok"], true, "{approved}");
    let node_obj = &approved["payload"]["node"];
    assert_eq!(node_obj["commands"], json!(["system.which", "system.run"]));
    assert_eq!(node_obj["clientId"], "node-host");
    let to_node = events(&h, NODE, "node.pair.resolved");
    assert_eq!(to_node.len(), 1);
    assert!(to_node[0].get("seq").is_none());
    assert_eq!(to_node[0]["payload"]["decision"], "approved");
    assert!(events(&h, ADMIN, "node.pair.resolved")[0]
        .get("seq")
        .is_some());

    let described = call(
        &mut h,
        ADMIN,
        "d1",
        "node.describe",
        json!({"nodeId": node_id}),
    );
    assert_eq!(described["payload"]["approvalState"], "approved");
    assert_eq!(
        described["payload"]["commands"],
        json!(["system.run", "system.which"])
    );

    // The same surface on reconnect needs nothing new; a wider one is a
    // re-approval while the approved part stays usable.
    h.close(NODE);
    node(&mut h, ConnId(11), 7, &["system.which", "system.run"]);
    assert_eq!(events(&h, ADMIN, "node.pair.requested").len(), 1);
    h.close(ConnId(11));
    node(
        &mut h,
        ConnId(12),
        7,
        &["system.which", "system.run", "system.notify"],
    );
    assert_eq!(events(&h, ADMIN, "node.pair.requested").len(), 2);
    let described = call(
        &mut h,
        ADMIN,
        "d2",
        "node.describe",
        json!({"nodeId": node_id}),
    );
    assert_eq!(described["payload"]["approvalState"], "pending-reapproval");
    assert_eq!(
        described["payload"]["commands"],
        json!(["system.run", "system.which"])
    );
}

/// A connected node with an approved surface on `conn`.
fn approved_node(h: &mut Harness, conn: ConnId, seed: u8) -> String {
    let node_id = node(
        h,
        conn,
        seed,
        &["system.which", "system.run", "system.execApprovals.get"],
    );
    approve(h, &node_id);
    node_id
}

fn last_request(h: &Harness, conn: ConnId) -> Value {
    events(h, conn, "node.invoke.request")
        .last()
        .cloned()
        .expect("an invoke request")
}

#[test]
fn an_invoke_goes_to_the_node_and_its_result_back_to_the_caller() {
    let mut h = harness();
    let node_id = approved_node(&mut h, NODE, 7);
    send(
        &mut h,
        ADMIN,
        "q2",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.which", "params": {"bins": ["git"]},
        "idempotencyKey": "fn-1"}),
    );
    let request = last_request(&h, NODE);
    assert!(request.get("seq").is_none());
    let p = &request["payload"];
    assert_eq!(p["command"], "system.which");
    assert_eq!(p["paramsJSON"], "{\"bins\":[\"git\"]}");
    assert_eq!(p["timeoutMs"], 30000);
    assert_eq!(p["idempotencyKey"], "fn-1");
    let invoke_id = p["id"].as_str().unwrap().to_owned();

    let ack = call(
        &mut h,
        NODE,
        "nr1",
        "node.invoke.result",
        json!({
        "id": invoke_id, "nodeId": node_id, "ok": true,
        "payloadJSON": "{\"bins\":{\"git\":\"/usr/bin/git\"}}", "error": null}),
    );
    assert_eq!(ack["payload"], json!({"ok": true}));
    let res = h.response(ADMIN, "q2", 0).cloned().unwrap();
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["payload"],
        json!({"bins": {"git": "/usr/bin/git"}})
    );
    assert_eq!(
        res["payload"]["payloadJSON"],
        "{\"bins\":{\"git\":\"/usr/bin/git\"}}"
    );
    assert_eq!(res["payload"]["nodeId"], node_id);

    // A second answer is late: acknowledged as ignored, nothing else sent.
    let late = call(
        &mut h,
        NODE,
        "nr2",
        "node.invoke.result",
        json!({
        "id": invoke_id, "nodeId": node_id, "ok": true, "payload": {}}),
    );
    assert_eq!(late["payload"], json!({"ok": true, "ignored": true}));
    assert!(h.response(ADMIN, "q2", 1).is_none());

    // Another node's id: refused.
    let mismatch = call(
        &mut h,
        NODE,
        "nr3",
        "node.invoke.result",
        json!({
        "id": invoke_id, "nodeId": "someone-else", "ok": true}),
    );
    assert_eq!(mismatch["error"]["message"], "nodeId mismatch");

    // system.run gets a runId; a node error is forwarded as CODE: message.
    send(
        &mut h,
        ADMIN,
        "q3",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.run", "params": {"command": ["echo", "hi"], "approved": true},
        "idempotencyKey": "r-1"}),
    );
    let request = last_request(&h, NODE);
    let params: Value =
        serde_json::from_str(request["payload"]["paramsJSON"].as_str().unwrap()).unwrap();
    assert_eq!(params["command"], json!(["echo", "hi"]));
    assert!(params["runId"].as_str().is_some_and(|r| r.len() == 36));
    assert!(
        params.get("approved").is_none(),
        "callers cannot claim an approval"
    );
    let id = request["payload"]["id"].clone();
    call(
        &mut h,
        NODE,
        "nr4",
        "node.invoke.result",
        json!({
        "id": id, "nodeId": node_id, "ok": false,
        "error": {"code": "SYSTEM_RUN_DENIED", "message": "approval required"}}),
    );
    let res = h.response(ADMIN, "q3", 0).cloned().unwrap();
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    assert_eq!(
        res["error"]["message"],
        "SYSTEM_RUN_DENIED: approval required"
    );
    assert_eq!(res["error"]["details"]["nodeCommandDispatched"], true);
    assert_eq!(h.gateway.node_invokes_in_flight(), 0);
}

#[test]
fn timeouts_cancel_at_the_node_and_a_vanished_node_fails_its_invokes() {
    let mut h = harness();
    let node_id = approved_node(&mut h, NODE, 7);
    // fn-admin: timeoutMs 1500 → TIMEOUT at 1.5 s, the node is told to cancel.
    send(
        &mut h,
        ADMIN,
        "q3",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.run", "params": {"command": ["sleep", "1"]},
        "timeoutMs": 1500, "idempotencyKey": "fn-2"}),
    );
    let id = last_request(&h, NODE)["payload"]["id"].clone();
    assert_eq!(last_request(&h, NODE)["payload"]["timeoutMs"], 1500);
    h.advance_ms(1499);
    assert!(h.response(ADMIN, "q3", 0).is_none());
    h.advance_ms(1);
    let res = h.response(ADMIN, "q3", 0).cloned().unwrap();
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    assert_eq!(res["error"]["message"], "TIMEOUT: node invoke timed out");
    assert_eq!(
        res["error"]["details"],
        json!({"nodeError": {"code": "TIMEOUT", "message": "node invoke timed out"},
               "nodeCommandDispatched": true})
    );
    let cancel = events(&h, NODE, "node.invoke.cancel");
    assert_eq!(
        cancel[0]["payload"],
        json!({"invokeId": id, "nodeId": node_id})
    );
    let late = call(
        &mut h,
        NODE,
        "nr",
        "node.invoke.result",
        json!({
        "id": id, "nodeId": node_id, "ok": true}),
    );
    assert_eq!(late["payload"]["ignored"], true);

    // The node dies mid-invoke: the caller hears it at once.
    send(
        &mut h,
        ADMIN,
        "q4",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.run", "params": {"command": ["sleep", "9"]},
        "idempotencyKey": "fn-3"}),
    );
    h.close(NODE);
    let res = h.response(ADMIN, "q4", 0).cloned().unwrap();
    assert_eq!(
        res["error"]["message"],
        "DISCONNECTED: node disconnected (system.run)"
    );
    assert_eq!(h.gateway.node_invokes_in_flight(), 0);
    let gone = call(
        &mut h,
        ADMIN,
        "q5",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "system.which", "idempotencyKey": "x"}),
    );
    assert_eq!(gone["error"]["message"], "node not connected");
    assert_eq!(gone["error"]["details"]["code"], "NOT_CONNECTED");
    // The catalog remembers the node, now offline.
    let row = call(
        &mut h,
        ADMIN,
        "d",
        "node.describe",
        json!({"nodeId": node_id}),
    );
    assert_eq!(row["payload"]["connected"], false);
    assert!(row["payload"]["lastDisconnectedAtMs"].is_u64());
}

#[test]
fn refusals_match_the_captures() {
    let mut h = harness();
    let node_id = approved_node(&mut h, NODE, 7);
    let invoke = |h: &mut Harness, id: &str, command: &str| {
        call(
            h,
            ADMIN,
            id,
            "node.invoke",
            json!({
            "nodeId": node_id, "command": command, "params": {}, "idempotencyKey": id}),
        )
    };
    let cam = invoke(&mut h, "q5", "camera.snap");
    assert_eq!(
        cam["error"]["message"],
        "node command not allowed: \"camera.snap\" requires explicit gateway.nodes.commands.allow opt-in"
    );
    assert_eq!(
        cam["error"]["details"],
        json!({"reason": "command not allowlisted", "command": "camera.snap"})
    );
    let ea = invoke(&mut h, "q6", "system.execApprovals.get");
    assert_eq!(
        ea["error"]["message"],
        "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*"
    );
    let private = invoke(&mut h, "q7", "worker.launch.v1");
    assert_eq!(
        private["error"]["message"],
        "node.invoke does not allow private node controls"
    );
    let undeclared = invoke(&mut h, "q8", "system.notify");
    assert_eq!(
        undeclared["error"]["message"],
        "node command not allowed: the node (platform: linux) does not support \"system.notify\""
    );
    // A read-only operator may list but not invoke; fs.listDir needs admin.
    operator(&mut h, ConnId(3), &["operator.read", "operator.write"]);
    let fs = call(
        &mut h,
        ConnId(3),
        "f",
        "node.invoke",
        json!({
        "nodeId": node_id, "command": "fs.listDir", "idempotencyKey": "f"}),
    );
    assert_eq!(fs["error"]["message"], "missing scope: operator.admin");
    // A node cannot call operator methods, nor an operator node ones.
    let wrong = call(&mut h, NODE, "w", "node.list", json!({}));
    assert_eq!(wrong["error"]["message"], "unauthorized role: node");
    let wrong = call(
        &mut h,
        ADMIN,
        "w",
        "node.invoke.result",
        json!({"id": "x", "nodeId": "y", "ok": true}),
    );
    assert_eq!(wrong["error"]["message"], "unauthorized role: operator");
}

#[test]
fn exec_approvals_node_get_is_routed_through_the_node() {
    let mut h = harness();
    let node_id = approved_node(&mut h, NODE, 7);
    send(
        &mut h,
        ADMIN,
        "q7",
        "exec.approvals.node.get",
        json!({"nodeId": node_id}),
    );
    let request = last_request(&h, NODE);
    assert_eq!(request["payload"]["command"], "system.execApprovals.get");
    let file = json!({"path": "/n/state/openclaw.sqlite#exec_approvals_config", "exists": true,
        "file": {"version": 1, "defaults": {}, "agents": {}}, "hash": "abc"});
    call(
        &mut h,
        NODE,
        "nr",
        "node.invoke.result",
        json!({
        "id": request["payload"]["id"], "nodeId": node_id, "ok": true, "payload": file}),
    );
    let res = h.response(ADMIN, "q7", 0).cloned().unwrap();
    assert_eq!(res["payload"], file);
}

#[test]
fn a_thousand_invokes_across_ten_nodes_are_each_answered_once() {
    let mut h = harness();
    let nodes: Vec<(ConnId, String)> = (0..10u8)
        .map(|i| {
            let conn = ConnId(100 + u64::from(i));
            (conn, approved_node(&mut h, conn, 20 + i))
        })
        .collect();
    for n in 0..1000usize {
        let (_, node_id) = &nodes[n % 10];
        send(
            &mut h,
            ADMIN,
            &format!("i{n}"),
            "node.invoke",
            json!({
            "nodeId": node_id, "command": "system.which", "params": {"n": n},
            "timeoutMs": 5000, "idempotencyKey": format!("k{n}")}),
        );
    }
    assert_eq!(h.gateway.node_invokes_in_flight(), 1000);
    // Nodes answer in reverse order; node 9 never answers (timeouts),
    // node 8 vanishes halfway.
    for (i, (conn, node_id)) in nodes.iter().enumerate().take(9) {
        let requests = events(&h, *conn, "node.invoke.request");
        assert_eq!(requests.len(), 100);
        for (k, r) in requests.iter().rev().enumerate() {
            if i == 8 && k == 50 {
                h.close(*conn);
                break;
            }
            let params: Value =
                serde_json::from_str(r["payload"]["paramsJSON"].as_str().unwrap()).unwrap();
            send(
                &mut h,
                *conn,
                &format!("r{k}"),
                "node.invoke.result",
                json!({
                "id": r["payload"]["id"], "nodeId": node_id, "ok": true, "payload": {"n": params["n"]}}),
            );
        }
    }
    h.advance_ms(5000);
    assert_eq!(h.gateway.node_invokes_in_flight(), 0);
    let (mut ok, mut timeouts, mut gone) = (0, 0, 0);
    for n in 0..1000usize {
        let id = format!("i{n}");
        let res = h
            .response(ADMIN, &id, 0)
            .cloned()
            .unwrap_or_else(|| panic!("{id} unanswered"));
        assert!(h.response(ADMIN, &id, 1).is_none(), "{id} answered twice");
        match res["error"]["message"].as_str() {
            None => {
                assert_eq!(
                    res["payload"]["payload"]["n"], n,
                    "answer matches its request"
                );
                ok += 1;
            }
            Some("TIMEOUT: node invoke timed out") => timeouts += 1,
            Some("DISCONNECTED: node disconnected (system.which)") => gone += 1,
            Some(other) => panic!("{id}: {other}"),
        }
    }
    assert_eq!((ok, timeouts, gone), (850, 100, 50));
}

#[test]
fn a_node_that_stops_reading_is_closed_and_its_invokes_fail() {
    use gateway_proto::gateway::{AuthConfig, Config, Limits};
    use gateway_proto::time::Timestamp;
    let config = Config::default()
        .with_auth(AuthConfig::Token("testtok".into()))
        .with_limits(Limits::default().with_max_buffered_bytes(64 * 1024));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    operator(&mut h, ADMIN, ALL_SCOPES);
    let node_id = node(&mut h, NODE, 7, &["system.which", "system.run"]);
    approve(&mut h, &node_id);
    h.stall(NODE);
    let big = "x".repeat(4096);
    let mut sent = 0;
    while h.close_of(NODE).is_none() && sent < 100 {
        send(
            &mut h,
            ADMIN,
            &format!("s{sent}"),
            "node.invoke",
            json!({
            "nodeId": node_id, "command": "system.run",
            "params": {"command": ["echo", big]}, "idempotencyKey": format!("s{sent}")}),
        );
        sent += 1;
    }
    let (_, code, reason) = h.close_of(NODE).expect("the stalled node is closed");
    assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
    // Every invoke it held is answered, once.
    for n in 0..sent {
        let res = h
            .response(ADMIN, &format!("s{n}"), 0)
            .cloned()
            .expect("answered");
        assert!(h.response(ADMIN, &format!("s{n}"), 1).is_none());
        let message = res["error"]["message"].as_str().unwrap_or("");
        assert!(
            message == "DISCONNECTED: node disconnected (system.run)"
                || message == "node not connected",
            "{res}"
        );
    }
    assert_eq!(h.gateway.node_invokes_in_flight(), 0);
    assert_eq!(h.gateway.node_count(), 0);
}

#[test]
fn exec_approvals_get_answers_what_the_host_read_and_times_out_without_it() {
    let mut h = harness();
    let answer = json!({"path": "/s/state/openclaw.sqlite#exec_approvals_config", "exists": true,
        "file": {"version": 1, "socket": {"path": "/s/exec-approvals.sock"}, "defaults": {}, "agents": {}},
        "hash": "faea", "resolvedDefaults": {"security": "full", "ask": "off",
        "askFallback": "deny", "autoAllowSkills": false}});
    h.exec_approvals = Some(answer.clone());
    let res = call(&mut h, ADMIN, "q8", "exec.approvals.get", json!({}));
    assert_eq!(res["payload"], answer);
    // A read-only operator may not; a host that never answers times out.
    operator(&mut h, ConnId(3), &["operator.read"]);
    let denied = call(&mut h, ConnId(3), "q9", "exec.approvals.get", json!({}));
    assert_eq!(denied["error"]["message"], "missing scope: operator.admin");
    h.exec_approvals = None;
    send(&mut h, ADMIN, "q10", "exec.approvals.get", json!({}));
    h.advance_ms(60_000);
    let late = h.response(ADMIN, "q10", 0).cloned().expect("answered");
    assert_eq!(late["error"]["code"], "UNAVAILABLE");
}
