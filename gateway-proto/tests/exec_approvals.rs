//! Exec approvals in virtual time: a request reaches the approval clients
//! that may see it (and nobody else), a decision answers the requester once
//! and is announced; timeouts deny; two-phase requests and `waitDecision`;
//! unknown ids, repeated resolves, our node-role rule and the pending cap.

mod common;

use common::nodes::{call, send};
use gateway_proto::client::DeviceKey;
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::node_host::NodeHost;
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const START_MS: u64 = 1_800_000_000_000;
/// An admin approval client (caps `approvals`): sees every approval.
const ADMIN_APPROVER: ConnId = ConnId(1);
/// An approvals-only approval client: sees node approvals, not other operators'.
const APPROVER: ConnId = ConnId(2);
/// Reads, but may not approve: never told.
const READER: ConnId = ConnId(3);
/// An approvals holder that is no approval client (no cap): never told.
const PLAIN: ConnId = ConnId(4);
/// An operator that asks for approvals.
const REQUESTER: ConnId = ConnId(5);
const NODE: ConnId = ConnId(6);

fn connect(h: &mut Harness, conn: ConnId, scopes: &[&str], caps: &[&str]) {
    h.open(conn, "127.0.0.1");
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "gateway-client", "version": "1", "platform": "linux", "mode": "backend",
                   "displayName": format!("client {}", conn.0)},
        "role": "operator", "scopes": scopes, "caps": caps, "auth": {"token": "testtok"},
    }});
    h.text(conn, &frame.to_string());
    assert_eq!(h.response(conn, "c0", 0).unwrap()["ok"], true);
}

fn harness() -> Harness {
    let config = Config::default().with_auth(AuthConfig::Token("testtok".into()));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    connect(&mut h, ADMIN_APPROVER, &["operator.admin"], &["approvals"]);
    connect(
        &mut h,
        APPROVER,
        &["operator.approvals"],
        &["exec-approvals"],
    );
    connect(&mut h, READER, &["operator.read"], &["approvals"]);
    connect(&mut h, PLAIN, &["operator.approvals"], &[]);
    connect(&mut h, REQUESTER, &["operator.approvals"], &[]);
    h
}

/// Connect a node (silently paired over loopback) with its own key.
fn connect_node(h: &mut Harness, conn: ConnId, key: &DeviceKey) {
    h.open(conn, "127.0.0.1");
    let nonce = h.frames(conn)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = NodeHost {
        key,
        token: "testtok",
        display_name: "Build Box",
        commands: &["system.run"],
    };
    h.text(conn, &host.connect_frame(&nonce, START_MS + h.elapsed_ms()));
    let res = h.response(conn, "c0", 0).cloned().unwrap();
    assert_eq!(res["ok"], true, "{res}");
}

fn events(h: &Harness, conn: ConnId, name: &str) -> Vec<Value> {
    h.frames(conn)
        .into_iter()
        .filter(|f| f["event"] == name)
        .map(|f| f["payload"].clone())
        .collect()
}

fn responses(h: &Harness, conn: ConnId, id: &str) -> Vec<Value> {
    h.frames(conn)
        .into_iter()
        .filter(|f| f["type"] == "res" && f["id"] == id)
        .cloned()
        .collect()
}

fn node_plan(argv: &[&str]) -> Value {
    json!({"argv": argv, "cwd": "/tmp", "commandText": argv.join(" "),
           "agentId": null, "sessionKey": null})
}

#[test]
fn a_request_reaches_only_the_approvers_that_may_see_it_and_a_decision_answers_it() {
    let mut h = harness();
    send(
        &mut h,
        REQUESTER,
        "r1",
        "exec.approval.request",
        json!({"command": "rm -rf /tmp/x", "commandArgv": ["rm", "-rf", "/tmp/x"],
               "id": "appr-1", "cwd": "/tmp", "timeoutMs": 60_000}),
    );
    assert!(h.response(REQUESTER, "r1", 0).is_none(), "one-phase: waits");
    let requested = events(&h, ADMIN_APPROVER, "exec.approval.requested");
    assert_eq!(requested.len(), 1);
    let event = &requested[0];
    assert_eq!(event["id"], "appr-1");
    assert_eq!(event["approvalKind"], "exec");
    assert_eq!(event["createdAtMs"], START_MS);
    assert_eq!(event["expiresAtMs"], START_MS + 60_000);
    assert_eq!(event["request"]["command"], "rm -rf /tmp/x");
    assert_eq!(
        event["request"]["commandArgv"],
        json!(["rm", "-rf", "/tmp/x"])
    );
    assert_eq!(event["request"]["cwd"], "/tmp");
    assert_eq!(event["request"]["host"], Value::Null);
    assert_eq!(
        event["request"]["allowedDecisions"],
        json!(["allow-once", "allow-always", "deny"])
    );
    // The reference's request object (observed: an operator's request with
    // `command` and `cwd`) has these keys, `commandArgv` when given.
    let mut keys: Vec<&str> = event["request"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = vec![
        "command",
        "commandArgv",
        "systemRunBinding",
        "systemRunPlan",
        "cwd",
        "nodeId",
        "host",
        "security",
        "ask",
        "warningText",
        "scope",
        "commandAnalysis",
        "allowedDecisions",
        "agentId",
        "resolvedPath",
        "sessionKey",
        "sessionId",
        "runId",
        "toolCallId",
        "turnSourceChannel",
        "turnSourceTo",
        "turnSourceAccountId",
        "turnSourceThreadId",
        "cronExecutionSource",
        "cronOperationBinding",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    // An operator's approval is its own and the admins' (the reference's
    // visibility): not the approvals-only client's; never a reader's, nor
    // an approvals holder's that is no approval client, nor the requester's.
    for conn in [APPROVER, READER, PLAIN, REQUESTER] {
        assert!(
            events(&h, conn, "exec.approval.requested").is_empty(),
            "{conn}"
        );
    }
    let listed = call(&mut h, ADMIN_APPROVER, "l", "exec.approval.list", json!({}));
    assert_eq!(listed["payload"][0]["id"], "appr-1");
    let hidden = call(&mut h, APPROVER, "l", "exec.approval.list", json!({}));
    assert_eq!(hidden["payload"], json!([]));
    let got = call(
        &mut h,
        ADMIN_APPROVER,
        "g",
        "exec.approval.get",
        json!({"id": "appr"}),
    );
    assert_eq!(got["payload"]["id"], "appr-1", "a unique prefix finds it");
    assert_eq!(got["payload"]["commandText"], "rm -rf /tmp/x");

    h.advance_ms(1_000);
    let res = call(
        &mut h,
        ADMIN_APPROVER,
        "d",
        "exec.approval.resolve",
        json!({"id": "appr-1", "decision": "allow-once"}),
    );
    assert_eq!(res["payload"], json!({"ok": true}));
    let answer = responses(&h, REQUESTER, "r1");
    assert_eq!(answer.len(), 1, "answered exactly once");
    assert_eq!(
        answer[0]["payload"],
        json!({"id": "appr-1", "decision": "allow-once",
               "createdAtMs": START_MS, "expiresAtMs": START_MS + 60_000})
    );
    let resolved = events(&h, ADMIN_APPROVER, "exec.approval.resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["decision"], "allow-once");
    assert_eq!(resolved[0]["resolvedBy"], "client 1");
    assert_eq!(resolved[0]["ts"], START_MS + 1_000);
    assert_eq!(resolved[0]["request"]["command"], "rm -rf /tmp/x");
    assert!(events(&h, READER, "exec.approval.resolved").is_empty());

    // Resolving again: the same decision is acknowledged, another refused.
    let same = call(
        &mut h,
        ADMIN_APPROVER,
        "d2",
        "exec.approval.resolve",
        json!({"id": "appr-1", "decision": "allow-once"}),
    );
    assert_eq!(same["payload"], json!({"ok": true}));
    let other = call(
        &mut h,
        ADMIN_APPROVER,
        "d3",
        "exec.approval.resolve",
        json!({"id": "appr-1", "decision": "deny"}),
    );
    assert_eq!(other["error"]["message"], "approval already resolved");
    assert_eq!(
        other["error"]["details"]["reason"],
        "APPROVAL_ALREADY_RESOLVED"
    );
    assert_eq!(responses(&h, REQUESTER, "r1").len(), 1, "still once");
    assert_eq!(
        events(&h, ADMIN_APPROVER, "exec.approval.resolved").len(),
        1
    );
    // After the grace the approval is gone.
    h.advance_ms(15_000);
    let gone = call(
        &mut h,
        ADMIN_APPROVER,
        "d4",
        "exec.approval.resolve",
        json!({"id": "appr-1", "decision": "allow-once"}),
    );
    assert_eq!(gone["error"]["message"], "unknown or expired approval id");
    assert_eq!(gone["error"]["details"]["reason"], "APPROVAL_NOT_FOUND");
}

#[test]
fn an_unanswered_request_times_out_as_denied() {
    let mut h = harness();
    send(
        &mut h,
        REQUESTER,
        "r1",
        "exec.approval.request",
        json!({"command": "make deploy", "timeoutMs": 5_000}),
    );
    let id = events(&h, ADMIN_APPROVER, "exec.approval.requested")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a uuid");
    h.advance_ms(4_999);
    assert!(h.response(REQUESTER, "r1", 0).is_none());
    h.advance_ms(1);
    let answer = h.response(REQUESTER, "r1", 0).unwrap();
    assert_eq!(answer["payload"]["decision"], Value::Null);
    let resolved = events(&h, ADMIN_APPROVER, "exec.approval.resolved");
    assert_eq!(resolved[0]["decision"], "deny");
    assert_eq!(resolved[0]["resolvedBy"], Value::Null);
    let late = call(
        &mut h,
        ADMIN_APPROVER,
        "d",
        "exec.approval.resolve",
        json!({"id": id, "decision": "allow-once"}),
    );
    assert_eq!(late["error"]["message"], "approval already resolved");
    let wait = call(
        &mut h,
        REQUESTER,
        "w",
        "exec.approval.waitDecision",
        json!({"id": id}),
    );
    assert_eq!(wait["payload"]["decision"], Value::Null);
    assert_eq!(wait["payload"]["terminalReason"], "timeout");
}

#[test]
fn with_no_approval_client_a_request_is_denied_at_once() {
    let config = Config::default().with_auth(AuthConfig::Token("testtok".into()));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    connect(&mut h, REQUESTER, &["operator.approvals"], &["approvals"]);
    connect(&mut h, PLAIN, &["operator.admin"], &[]);
    let res = call(
        &mut h,
        REQUESTER,
        "r1",
        "exec.approval.request",
        json!({"command": "ls", "twoPhase": true}),
    );
    assert_eq!(res["payload"]["decision"], Value::Null, "{res}");
    assert_eq!(responses(&h, REQUESTER, "r1").len(), 1, "no accepted first");
    assert!(events(&h, PLAIN, "exec.approval.resolved").is_empty());
    // Unless the caller says a route is not required.
    send(
        &mut h,
        REQUESTER,
        "r2",
        "exec.approval.request",
        json!({"command": "ls", "twoPhase": true, "requireDeliveryRoute": false}),
    );
    let accepted = h.response(REQUESTER, "r2", 0).unwrap();
    assert_eq!(accepted["payload"]["status"], "accepted");
    assert_eq!(accepted["payload"]["deliveryRoute"], "none");
}

#[test]
fn two_phase_answers_accepted_then_the_decision_and_wait_decision_gets_it_too() {
    let mut h = harness();
    send(
        &mut h,
        REQUESTER,
        "r1",
        "exec.approval.request",
        json!({"command": "ls", "id": "tp-1", "twoPhase": true, "ask": "always"}),
    );
    let accepted = h.response(REQUESTER, "r1", 0).unwrap().clone();
    assert_eq!(accepted["payload"]["status"], "accepted");
    assert_eq!(accepted["payload"]["id"], "tp-1");
    assert_eq!(accepted["payload"]["deliveryRoute"], "approval-client");
    send(
        &mut h,
        REQUESTER,
        "w1",
        "exec.approval.waitDecision",
        json!({"id": "tp-1"}),
    );
    assert!(h.response(REQUESTER, "w1", 0).is_none(), "parked");
    // ask:always offers no allow-always.
    let refused = call(
        &mut h,
        ADMIN_APPROVER,
        "d0",
        "exec.approval.resolve",
        json!({"id": "tp-1", "decision": "allow-always"}),
    );
    assert_eq!(
        refused["error"]["message"],
        "allow-always is unavailable for this command"
    );
    let bad = call(
        &mut h,
        ADMIN_APPROVER,
        "d1",
        "exec.approval.resolve",
        json!({"id": "tp-1", "decision": "maybe"}),
    );
    assert_eq!(bad["error"]["message"], "invalid decision");
    call(
        &mut h,
        ADMIN_APPROVER,
        "d2",
        "exec.approval.resolve",
        json!({"id": "tp-1", "decision": "deny"}),
    );
    let both = responses(&h, REQUESTER, "r1");
    assert_eq!(both.len(), 2);
    assert_eq!(both[1]["payload"]["decision"], "deny");
    let wait = h.response(REQUESTER, "w1", 0).unwrap();
    assert_eq!(wait["payload"]["decision"], "deny");
    assert_eq!(wait["payload"]["terminalReason"], "user");
    // Unknown ids.
    let unknown = call(
        &mut h,
        REQUESTER,
        "w2",
        "exec.approval.waitDecision",
        json!({"id": "nope"}),
    );
    assert_eq!(unknown["error"]["message"], "approval expired or not found");
    let missing = call(
        &mut h,
        REQUESTER,
        "w3",
        "exec.approval.waitDecision",
        json!({}),
    );
    assert_eq!(missing["error"]["message"], "id is required");
    let get = call(
        &mut h,
        ADMIN_APPROVER,
        "g",
        "exec.approval.get",
        json!({"id": "zzz"}),
    );
    assert_eq!(get["error"]["message"], "unknown or expired approval id");
}

#[test]
fn a_waiter_whose_connection_closes_is_forgotten() {
    let mut h = harness();
    send(
        &mut h,
        REQUESTER,
        "r1",
        "exec.approval.request",
        json!({"command": "ls", "id": "w-1", "twoPhase": true}),
    );
    send(
        &mut h,
        REQUESTER,
        "w1",
        "exec.approval.waitDecision",
        json!({"id": "w-1"}),
    );
    h.close(REQUESTER);
    let res = call(
        &mut h,
        ADMIN_APPROVER,
        "d",
        "exec.approval.resolve",
        json!({"id": "w-1", "decision": "allow-once"}),
    );
    assert_eq!(
        res["payload"],
        json!({"ok": true}),
        "the approval outlives its requester"
    );
    assert!(
        h.close_of(REQUESTER).is_none(),
        "nothing sent to the closed socket"
    );
}

#[test]
fn a_node_may_ask_only_for_its_own_commands_and_every_approver_sees_it() {
    let mut h = harness();
    let key = DeviceKey::from_secret([9; 32]);
    connect_node(&mut h, NODE, &key);
    let node_id = key.device_id();
    // Anything but host:"node" with its own id: the reference's refusal.
    for params in [
        json!({"command": "ls"}),
        json!({"host": "node", "nodeId": "someone-else", "systemRunPlan": node_plan(&["ls"])}),
        json!({"host": "gateway", "nodeId": node_id, "command": "ls"}),
    ] {
        let res = call(&mut h, NODE, "bad", "exec.approval.request", params);
        assert_eq!(res["error"]["message"], "unauthorized role: node", "{res}");
    }
    let res = call(
        &mut h,
        NODE,
        "no-plan",
        "exec.approval.request",
        json!({"host": "node", "nodeId": node_id, "command": "ls"}),
    );
    assert_eq!(
        res["error"]["message"],
        "systemRunPlan is required for host=node"
    );
    let refused = call(
        &mut h,
        NODE,
        "nr",
        "exec.approval.resolve",
        json!({"id": "x", "decision": "deny"}),
    );
    assert_eq!(refused["error"]["message"], "unauthorized role: node");

    send(
        &mut h,
        NODE,
        "ask",
        "exec.approval.request",
        json!({
            "host": "node", "nodeId": node_id, "twoPhase": true, "timeoutMs": 120_000,
            "systemRunPlan": node_plan(&["git", "push"]), "env": {"GIT_DIR": "/x"},
        }),
    );
    let accepted = h.response(NODE, "ask", 0).unwrap().clone();
    assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
    let id = accepted["payload"]["id"].as_str().unwrap().to_owned();
    for conn in [ADMIN_APPROVER, APPROVER] {
        let seen = events(&h, conn, "exec.approval.requested");
        assert_eq!(seen.len(), 1, "{conn}");
        let request = &seen[0]["request"];
        assert_eq!(request["host"], "node");
        assert_eq!(request["nodeId"], node_id);
        assert_eq!(request["command"], "git push");
        assert_eq!(request["systemRunPlan"]["argv"], json!(["git", "push"]));
        assert_eq!(request["systemRunBinding"]["argv"], json!(["git", "push"]));
        assert_eq!(request["envKeys"], json!(["GIT_DIR"]));
        assert_eq!(
            request["systemRunBinding"]["envHash"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        assert!(request.get("commandArgv").is_none());
    }
    assert!(events(&h, NODE, "exec.approval.requested").is_empty());
    send(
        &mut h,
        NODE,
        "wait",
        "exec.approval.waitDecision",
        json!({"id": id}),
    );
    // The approvals-only approver decides.
    let res = call(
        &mut h,
        APPROVER,
        "d",
        "exec.approval.resolve",
        json!({"id": id, "decision": "allow-always"}),
    );
    assert_eq!(res["payload"], json!({"ok": true}));
    assert_eq!(
        responses(&h, NODE, "ask")[1]["payload"]["decision"],
        "allow-always"
    );
    assert_eq!(
        h.response(NODE, "wait", 0).unwrap()["payload"]["decision"],
        "allow-always"
    );
    assert_eq!(
        events(&h, ADMIN_APPROVER, "exec.approval.resolved")[0]["resolvedBy"],
        "client 2"
    );
    // A node's approval is every approvals holder's to watch.
    let other = call(
        &mut h,
        REQUESTER,
        "w",
        "exec.approval.waitDecision",
        json!({"id": id}),
    );
    assert_eq!(other["payload"]["decision"], "allow-always");
    // A second node cannot see the first one's approval.
    let key2 = DeviceKey::from_secret([10; 32]);
    connect_node(&mut h, ConnId(7), &key2);
    let foreign = call(
        &mut h,
        ConnId(7),
        "w",
        "exec.approval.waitDecision",
        json!({"id": id}),
    );
    assert_eq!(foreign["error"]["message"], "approval expired or not found");
}

#[test]
fn the_pending_approvals_are_capped_with_a_clear_error() {
    let mut h = harness();
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..300 {
        let id = format!("q{i}");
        let res = call(
            &mut h,
            REQUESTER,
            &id,
            "exec.approval.request",
            json!({"command": "ls", "twoPhase": true, "id": id.clone()}),
        );
        if res["ok"] == true {
            accepted += 1;
        } else {
            refused = Some(res);
            break;
        }
    }
    assert_eq!(accepted, 256);
    let refused = refused.expect("refused past the cap");
    assert_eq!(refused["error"]["code"], "UNAVAILABLE");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("too many pending exec approvals"));
    // Deciding one makes room once its grace has passed.
    call(
        &mut h,
        ADMIN_APPROVER,
        "d",
        "exec.approval.resolve",
        json!({"id": "q0", "decision": "deny"}),
    );
    h.advance_ms(15_000);
    let res = call(
        &mut h,
        REQUESTER,
        "again",
        "exec.approval.request",
        json!({"command": "ls", "twoPhase": true}),
    );
    assert_eq!(res["payload"]["status"], "accepted");
}

#[test]
fn request_params_are_checked_as_the_reference_checks_them() {
    let mut h = harness();
    let cases = [
        (json!({}), "command is required"),
        (json!({"command": "ls", "id": "plugin:x"}), "approval ids starting with plugin: are reserved"),
        (json!({"command": "ls", "id": "a b"}), "approval id must be 1-128 characters using only letters, numbers, '.', '_', ':', or '-', and cannot be '.' or '..'"),
        (json!({"host": "node", "command": "ls"}), "nodeId is required for host=node"),
        (json!({"command": "ls", "bogus": 1}), "invalid exec.approval.request params: at root: unexpected property 'bogus'"),
    ];
    for (i, (params, message)) in cases.into_iter().enumerate() {
        let res = call(
            &mut h,
            REQUESTER,
            &format!("p{i}"),
            "exec.approval.request",
            params,
        );
        assert_eq!(res["error"]["message"], message, "{res}");
    }
    // Scope: a reader may not ask.
    let res = call(
        &mut h,
        READER,
        "s",
        "exec.approval.request",
        json!({"command": "ls"}),
    );
    assert_eq!(res["error"]["message"], "missing scope: operator.approvals");
}
