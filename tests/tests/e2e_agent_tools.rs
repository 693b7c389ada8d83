//! The tool loop end to end: our gateway, our `openclaw node run` as a
//! paired node, and a scripted model that asks for tools turn after turn.
//! It finds a binary on the node (`nodes` → `system.which`), runs a command
//! there (`exec` host=node → `system.run`), writes and reads a workspace
//! file, is refused a path outside the workspace, and runs a command on the
//! gateway host that waits for a second operator's approval. Every result
//! reaches the model (the provider's recorded requests show it) and the
//! transcript; the file really is on disk.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::chat::{call, fake_model_config, operator, until};
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{spawn_node_host, GatewayOptions, GroupGuard, OurGateway};
use tests::ws::{Incoming, RawWs};

const TOKEN: &str = "tools-e2e-token";
const WAIT: Duration = Duration::from_secs(30);

/// One model turn that asks for one tool.
fn asks(id: &str, name: &str, args: Value) -> Script {
    Script::new(Api::OpenAi)
        .tool_call(id, name, &args.to_string())
        .finish("tool_calls")
        .end()
}

/// Our node host, paired on loopback, its log in a file.
fn start_node_host(port: u16) -> (GroupGuard, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(home.path().join("node.log")).unwrap();
    (
        spawn_node_host(home.path(), port, TOKEN, "Tool Node", log),
        home,
    )
}

/// Approve the node's pending capability surface; returns its node id.
async fn approve_node(ws: &mut RawWs) -> String {
    let deadline = Instant::now() + WAIT;
    let request = loop {
        let list = call(ws, "pl", "node.pair.list", json!({})).await;
        let found = list["pending"]
            .as_array()
            .and_then(|p| p.iter().find(|r| r["displayName"] == "Tool Node"))
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no pending node surface: {list}");
        smol::Timer::after(Duration::from_millis(200)).await;
    };
    let params = json!({"requestId": request["requestId"]});
    call(ws, "pa", "node.pair.approve", params).await;
    let node_id = request["nodeId"].as_str().unwrap().to_owned();
    loop {
        let described = call(ws, "nd", "node.describe", json!({"nodeId": node_id})).await;
        let commands = described["commands"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if commands.iter().any(|c| c == "system.run") {
            return node_id;
        }
        assert!(Instant::now() < deadline, "node not approved: {described}");
        smol::Timer::after(Duration::from_millis(200)).await;
    }
}

/// An operator that receives exec approval requests.
async fn approver(url: &str) -> RawWs {
    let mut ws = RawWs::open(url).await.expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.approvals", "operator.read"],
        "caps": ["exec-approvals"], "auth": {"token": TOKEN},
    }});
    ws.send_json(&frame).await.expect("send connect");
    let res = until(&mut ws, |v| v["type"] == "res" && v["id"] == "c0").await;
    assert_eq!(res["ok"], true, "{res}");
    ws
}

/// Every request body the provider got, as one text.
fn requests_text(provider: &FakeProvider) -> String {
    provider
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_scripted_model_uses_node_workspace_and_approved_gateway_tools() {
    let provider = FakeProvider::start(vec![
        asks(
            "w1",
            "nodes",
            json!({"action": "which", "node": "Tool Node", "bins": ["sh"]}),
        ),
        asks(
            "x1",
            "exec",
            json!({"command": "echo node-says-$((40+2))", "host": "node"}),
        ),
        asks(
            "f1",
            "write",
            json!({"path": "notes/today.md", "content": "remember the milk\n"}),
        ),
        asks("f2", "read", json!({"path": "notes/today.md"})),
        asks("f3", "read", json!({"path": "../../../../etc/passwd"})),
        asks(
            "g1",
            "exec",
            json!({"command": "echo approved-$((6*7))", "ask": "always"}),
        ),
        Script::reply(
            Api::OpenAi,
            &[
                "The node said node-says-42; ",
                "the note says remember the milk.",
            ],
        ),
    ]);
    let opts = GatewayOptions {
        token: TOKEN.to_owned(),
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    };
    let gw = OurGateway::start(opts);
    let url = gw.url();
    let (_node, _node_home) = start_node_host(gw.port);

    smol::block_on(async {
        let mut op = operator(&url, TOKEN).await;
        let node_id = approve_node(&mut op).await;
        call(&mut op, "sub", "sessions.subscribe", json!({})).await;
        let mut second = approver(&url).await;

        let params = json!({"message": "check the node and my notes", "idempotencyKey": "tools-1", "sessionKey": "main"});
        let frame = json!({"type": "req", "id": "run", "method": "agent", "params": params});
        op.send_json(&frame).await.unwrap();

        // The gateway exec waits for the second operator.
        let requested = until(&mut second, |v| v["event"] == "exec.approval.requested").await;
        let request = &requested["payload"]["request"];
        assert_eq!(request["command"], "echo approved-$((6*7))");
        assert_eq!(request["host"], "gateway");
        let id = requested["payload"]["id"].clone();
        let resolved = json!({"type": "req", "id": "res", "method": "exec.approval.resolve",
                              "params": {"id": id, "decision": "allow-once"}});
        second.send_json(&resolved).await.unwrap();
        let answer = until(&mut second, |v| v["type"] == "res" && v["id"] == "res").await;
        assert_eq!(answer["ok"], true, "{answer}");

        let done = until(&mut op, |v| {
            v["type"] == "res" && v["id"] == "run" && v["payload"]["status"] != "accepted"
        })
        .await;
        assert_eq!(done["payload"]["status"], "ok", "{done}");
        let meta = &done["payload"]["result"]["meta"];
        assert_eq!(meta["toolSummary"]["calls"], 6, "{meta}");
        assert_eq!(
            meta["toolSummary"]["failures"], 1,
            "only the escape fails: {meta}"
        );
        let text = done["payload"]["result"]["payloads"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            text.contains("node-says-42") && text.contains("remember the milk"),
            "{text}"
        );

        // Each result reached the model.
        let seen = requests_text(&provider);
        assert_eq!(provider.requests().len(), 7);
        assert!(
            seen.contains("/bin/sh") || seen.contains("/usr/bin/sh"),
            "which result missing"
        );
        assert!(
            seen.contains(&format!("Node: {node_id}")),
            "node exec result missing"
        );
        assert!(seen.contains("node-says-42"), "node exec output missing");
        assert!(seen.contains("Successfully wrote"), "write result missing");
        assert!(seen.contains("remember the milk"), "read result missing");
        assert!(
            seen.contains("Path escapes the workspace"),
            "escape not refused"
        );
        assert!(!seen.contains("root:x:0:0"), "the password file leaked");
        assert!(seen.contains("approved-42"), "approved exec output missing");
        let first = &provider.requests()[0].body;
        let tools: Vec<&str> = first["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["function"]["name"].as_str())
            .collect();
        assert_eq!(tools, ["edit", "exec", "ls", "nodes", "read", "write"]);

        // The transcript holds every call and result.
        let history = call(&mut op, "h", "chat.history", json!({"sessionKey": "main"})).await;
        let roles: Vec<&str> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["role"].as_str())
            .collect();
        assert_eq!(
            roles.iter().filter(|r| **r == "toolResult").count(),
            6,
            "{roles:?}"
        );
        assert_eq!(roles.last(), Some(&"assistant"));
    });
    let state = gw.stop();
    let written = std::fs::read_to_string(state.path().join("state/workspace/notes/today.md"))
        .expect("the written file is in the workspace");
    assert_eq!(written, "remember the milk\n");
}
