//! The tool loop in virtual time: the model's tool calls run (file
//! actions and exec through the runtime, node commands through a node
//! host), their results reach the transcript, the events and the next
//! model call; confinement, approvals, aborts and time limits.

mod common;

use common::nodes::{approve, call, events, node, send, ADMIN, ALL_SCOPES, START_MS};
use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::context::MISSING_RESULT;
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRole, ToolCall};
use gateway_proto::gateway::agents::tool_loop::MAX_TOOL_ROUNDS;
use gateway_proto::gateway::agents::tools::{BootstrapFile, ToolAction, ToolOutcome, ToolSettings};
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const WS: &str = "/srv/state/workspace";
const APPROVER: ConnId = ConnId(3);
const NODE: ConnId = ConnId(4);

fn catalog() -> ModelCatalog {
    let config = json!({
        "models": {"providers": {"fake": {
            "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-fake", "api": "openai-completions",
            "models": [{"id": "echo", "contextWindow": 32000}],
        }}},
        "agents": {"defaults": {"model": "fake/echo"}},
    });
    ModelCatalog::from_config(&config, &|_| None)
}

fn harness_with(settings: ToolSettings) -> Harness {
    let settings = ToolSettings {
        workspace: Some(WS.into()),
        ..settings
    };
    let config = Config::default()
        .with_auth(AuthConfig::Token("testtok".into()))
        .with_models(catalog())
        .with_tools(settings);
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    h.bootstrap = Some(vec![BootstrapFile {
        name: "AGENTS.md".into(),
        content: Some("Be careful with files.".into()),
    }]);
    common::nodes::operator(&mut h, ADMIN, ALL_SCOPES);
    call(&mut h, ADMIN, "sub", "sessions.subscribe", json!({}));
    h
}

fn harness() -> Harness {
    harness_with(ToolSettings::default())
}

/// An operator that receives exec approvals (the `exec-approvals` cap).
fn approver(h: &mut Harness) {
    h.open(APPROVER, "127.0.0.1");
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "0.0.1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.approvals", "operator.read"],
        "caps": ["exec-approvals"], "auth": {"token": "testtok"},
    }});
    h.text(APPROVER, &frame.to_string());
    assert_eq!(h.response(APPROVER, "c0", 0).unwrap()["ok"], true);
}

fn agent(h: &mut Harness, id: &str, message: &str) {
    let params = json!({"message": message, "idempotencyKey": id, "sessionKey": "main"});
    send(h, ADMIN, id, "agent", params);
}

fn tool_call(h: &mut Harness, token: u64, id: &str, name: &str, args: Value) {
    let call = ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.to_string(),
    };
    h.model_event(token, ModelEvent::ToolCall(call));
}

fn done(h: &mut Harness, token: u64, stop: &str) {
    h.model_event(
        token,
        ModelEvent::Done {
            stop_reason: stop.into(),
            response_id: None,
            response_model: None,
        },
    );
}

/// The model's `n`th call asks for one tool.
fn ask_tool(h: &mut Harness, n: usize, id: &str, name: &str, args: Value) {
    let token = h.model_token(n);
    tool_call(h, token, id, name, args);
    done(h, token, "toolUse");
}

/// The model's `n`th call answers `text` and ends the run.
fn answer(h: &mut Harness, n: usize, text: &str) {
    let token = h.model_token(n);
    h.model_event(token, ModelEvent::Text(text.into()));
    done(h, token, "stop");
}

fn transcript(h: &mut Harness) -> Vec<Value> {
    let history = call(
        h,
        ADMIN,
        "hist",
        "chat.history",
        json!({"sessionKey": "main"}),
    );
    history["payload"]["messages"].as_array().unwrap().clone()
}

fn tool_events(h: &Harness) -> Vec<Value> {
    events(h, ADMIN, "session.tool")
        .into_iter()
        .map(|e| e["payload"]["data"].clone())
        .collect()
}

#[test]
fn a_read_runs_in_the_workspace_and_its_result_reaches_the_next_model_call() {
    let mut h = harness();
    agent(&mut h, "r1", "what do my notes say?");
    assert_eq!(h.workspaces, [WS]);
    let (_, first) = h.model_calls[0].clone();
    let names: Vec<&str> = first.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["edit", "exec", "ls", "nodes", "read", "write"]);
    assert!(first
        .system
        .contains(&format!("## {WS}/AGENTS.md\n\nBe careful with files.")));

    ask_tool(&mut h, 0, "call_1", "read", json!({"path": "notes.md"}));
    let (token, root, action) = h.tool_actions[0].clone();
    assert_eq!(root, WS);
    assert_eq!(
        action,
        ToolAction::Read {
            path: format!("{WS}/notes.md"),
            offset: None,
            limit: None,
            cursor: None
        }
    );
    assert_eq!(h.model_calls.len(), 1, "no model call while a tool runs");
    let details = json!({"kind": "text", "content": "buy milk\n"});
    h.tool_outcome(token, ToolOutcome::ok("buy milk\n", details));

    let (_, second) = h.model_calls[1].clone();
    let roles: Vec<ModelRole> = second.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [ModelRole::User, ModelRole::Assistant, ModelRole::Tool]
    );
    assert_eq!(second.messages[1].tool_calls[0].name, "read");
    assert_eq!(second.messages[2].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(second.messages[2].text, "buy milk\n");
    answer(&mut h, 1, "Your notes say: buy milk.");

    let final_answer = h.response(ADMIN, "r1", 1).unwrap()["payload"].clone();
    assert_eq!(final_answer["status"], "ok", "{final_answer}");
    let meta = &final_answer["result"]["meta"];
    assert_eq!(
        meta["toolSummary"],
        json!({"calls": 1, "tools": ["read"], "failures": 0})
    );
    assert_eq!(meta["agentMeta"]["assistantTurns"], 2);
    assert_eq!(
        meta["agentMeta"]["terminalReceipt"]["successfulToolNames"],
        json!(["read"])
    );

    let messages = transcript(&mut h);
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[1]["content"][0]["type"], "toolCall");
    assert_eq!(
        messages[1]["content"][0]["arguments"],
        json!({"path": "notes.md"})
    );
    assert_eq!(messages[1]["stopReason"], "toolUse");
    assert_eq!(messages[2]["role"], "toolResult");
    assert_eq!(messages[2]["toolCallId"], "call_1");
    assert_eq!(messages[2]["isError"], false);
    assert_eq!(
        messages[3]["content"][0]["text"],
        "Your notes say: buy milk."
    );

    let phases: Vec<Value> = tool_events(&h).iter().map(|d| d["phase"].clone()).collect();
    assert_eq!(phases, [json!("start"), json!("result")]);
    let items: Vec<Value> = events(&h, ADMIN, "agent")
        .into_iter()
        .filter(|e| e["payload"]["stream"] == "item")
        .map(|e| e["payload"]["data"].clone())
        .collect();
    assert_eq!(items[0]["phase"], "start");
    assert_eq!(items[0]["title"], "Read from notes.md");
    assert_eq!(items[1]["status"], "completed");
}

#[test]
fn a_path_outside_the_workspace_is_refused_without_touching_the_disk() {
    let mut h = harness();
    agent(&mut h, "r1", "read the password file");
    ask_tool(
        &mut h,
        0,
        "c1",
        "read",
        json!({"path": "../../../etc/passwd"}),
    );
    ask_tool(
        &mut h,
        1,
        "c2",
        "write",
        json!({"path": "/etc/evil", "content": "x"}),
    );
    assert!(h.tool_actions.is_empty(), "{:?}", h.tool_actions);
    let (_, third) = h.model_calls[2].clone();
    let results: Vec<_> = third
        .messages
        .iter()
        .filter(|m| m.role == ModelRole::Tool)
        .collect();
    assert_eq!(results.len(), 2);
    for result in results {
        assert!(result.is_error);
        assert!(
            result.text.contains("Path escapes the workspace"),
            "{}",
            result.text
        );
        assert!(
            result.text.contains("\"status\": \"error\""),
            "{}",
            result.text
        );
    }
    answer(&mut h, 2, "I may not.");
    let meta = &h.response(ADMIN, "r1", 1).unwrap()["payload"]["result"]["meta"];
    assert_eq!(meta["toolSummary"]["failures"], 2);
}

#[test]
fn unknown_tools_and_bad_arguments_are_answered_as_the_reference_answers() {
    let mut h = harness();
    agent(&mut h, "r1", "go");
    let token = h.model_token(0);
    tool_call(&mut h, token, "c1", "nosuchtool", json!({}));
    tool_call(&mut h, token, "c2", "Read", json!({}));
    done(&mut h, token, "toolUse");
    let (_, second) = h.model_calls[1].clone();
    assert_eq!(second.messages[2].text, "Tool nosuchtool not found");
    assert!(second.messages[3].text.starts_with(
        "Validation failed for tool \"read\":\n  - path: must have required properties path"
    ));
}

#[test]
fn several_calls_run_in_order_and_results_follow_the_call_order() {
    let mut h = harness();
    agent(&mut h, "r1", "two files");
    let token = h.model_token(0);
    tool_call(
        &mut h,
        token,
        "a",
        "write",
        json!({"path": "a.txt", "content": "A"}),
    );
    tool_call(
        &mut h,
        token,
        "b",
        "edit",
        json!({"path": "b.txt", "edits": [{"oldText": "x", "newText": "y"}]}),
    );
    done(&mut h, token, "toolUse");
    assert_eq!(h.tool_actions.len(), 1, "one call at a time");
    let first = h.tool_actions[0].0;
    h.tool_outcome(
        first,
        ToolOutcome::ok("Successfully wrote 1 bytes to a.txt", json!({})),
    );
    let (second, _, action) = h.tool_actions[1].clone();
    assert_eq!(
        action,
        ToolAction::Edit {
            path: format!("{WS}/b.txt"),
            edits: vec![("x".into(), "y".into())]
        }
    );
    // A runtime error comes back as the reference's error result.
    h.tool_outcome(
        second,
        ToolOutcome::error("Could not find the exact text in b.txt."),
    );
    let (_, next) = h.model_calls[1].clone();
    let ids: Vec<_> = next
        .messages
        .iter()
        .filter_map(|m| m.tool_call_id.clone())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(next.messages[3].is_error);
    assert!(next.messages[3].text.contains("\"tool\": \"edit\""));
}

#[test]
fn exec_runs_in_the_workspace_with_its_timeout() {
    let mut h = harness();
    agent(&mut h, "r1", "run it");
    ask_tool(
        &mut h,
        0,
        "e1",
        "exec",
        json!({"command": "echo hi", "timeoutSeconds": 5}),
    );
    assert_eq!(
        h.tool_actions[0].2,
        ToolAction::Exec {
            command: "echo hi".into(),
            cwd: WS.into(),
            timeout_ms: 5000
        }
    );
    ask_tool_after(&mut h, "e2", json!({"command": "pwd", "workdir": "../.."}));
}

/// Answer the running action, then let the next model call ask for exec.
fn ask_tool_after(h: &mut Harness, id: &str, args: Value) {
    let token = h.tool_actions.last().unwrap().0;
    h.tool_outcome(token, ToolOutcome::ok("hi", json!({"exitCode": 0})));
    let n = h.model_calls.len() - 1;
    let actions = h.tool_actions.len();
    ask_tool(h, n, id, "exec", args);
    assert_eq!(
        h.tool_actions.len(),
        actions,
        "a workdir outside is refused"
    );
}

#[test]
fn exec_that_asks_waits_for_an_approval_client_and_runs_once_approved() {
    let mut h = harness();
    approver(&mut h);
    agent(&mut h, "r1", "deploy");
    ask_tool(
        &mut h,
        0,
        "e1",
        "exec",
        json!({"command": "make deploy", "ask": "always"}),
    );
    assert!(
        h.tool_actions.is_empty(),
        "nothing runs before the decision"
    );
    let requested = events(&h, APPROVER, "exec.approval.requested");
    assert_eq!(requested.len(), 1);
    let request = &requested[0]["payload"];
    assert_eq!(request["request"]["command"], "make deploy");
    assert_eq!(request["request"]["host"], "gateway");
    assert_eq!(request["request"]["toolCallId"], "e1");
    let id = request["id"].as_str().unwrap().to_owned();
    let res = call(
        &mut h,
        APPROVER,
        "res",
        "exec.approval.resolve",
        json!({"id": id, "decision": "allow-once"}),
    );
    assert_eq!(res["ok"], true, "{res}");
    assert!(
        matches!(&h.tool_actions[0].2, ToolAction::Exec { command, .. } if command == "make deploy")
    );

    // A denied one never runs.
    let token = h.tool_actions[0].0;
    h.tool_outcome(token, ToolOutcome::ok("done", json!({"exitCode": 0})));
    ask_tool(
        &mut h,
        1,
        "e2",
        "exec",
        json!({"command": "rm -rf /", "ask": "always"}),
    );
    let id = events(&h, APPROVER, "exec.approval.requested")[1]["payload"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &mut h,
        APPROVER,
        "res2",
        "exec.approval.resolve",
        json!({"id": id, "decision": "deny"}),
    );
    assert_eq!(h.tool_actions.len(), 1);
    let (_, third) = h.model_calls[2].clone();
    let last = third.messages.last().unwrap();
    assert!(last.is_error);
    assert!(last.text.contains("user-denied"), "{}", last.text);
}

#[test]
fn exec_that_asks_with_nobody_to_approve_fails_at_once() {
    let mut h = harness_with(ToolSettings {
        exec_ask: gateway_proto::gateway::agents::tools::settings::ExecAsk::Always,
        ..ToolSettings::default()
    });
    agent(&mut h, "r1", "run");
    ask_tool(&mut h, 0, "e1", "exec", json!({"command": "ls"}));
    assert!(h.tool_actions.is_empty());
    let (_, second) = h.model_calls[1].clone();
    assert!(second.messages[2]
        .text
        .contains("Headless runs cannot wait for interactive exec approval"));
}

#[test]
fn exec_on_a_node_prepares_then_runs_and_the_nodes_tool_asks_which() {
    let mut h = harness();
    let node_id = node(
        &mut h,
        NODE,
        7,
        &["system.run", "system.run.prepare", "system.which"],
    );
    approve(&mut h, &node_id);
    agent(&mut h, "r1", "what is on the node?");
    ask_tool(
        &mut h,
        0,
        "w1",
        "nodes",
        json!({"action": "which", "node": "Node 7", "bins": ["git"]}),
    );
    let requests = events(&h, NODE, "node.invoke.request");
    assert_eq!(requests[0]["payload"]["command"], "system.which");
    let answer_invoke = |h: &mut Harness, request: &Value, payload: Value| {
        let id = request["payload"]["id"].as_str().unwrap();
        let params =
            json!({"id": id, "nodeId": node_id, "ok": true, "payloadJSON": payload.to_string()});
        call(h, NODE, &format!("res-{id}"), "node.invoke.result", params);
    };
    answer_invoke(
        &mut h,
        &requests[0],
        json!({"bins": {"git": "/usr/bin/git"}}),
    );
    assert!(h.model_calls[1].1.messages[2].text.contains("/usr/bin/git"));

    ask_tool(
        &mut h,
        1,
        "x1",
        "exec",
        json!({"command": "uname -a", "host": "node"}),
    );
    let requests = events(&h, NODE, "node.invoke.request");
    let prepare = &requests[1];
    assert_eq!(prepare["payload"]["command"], "system.run.prepare");
    let plan = json!({"plan": {"argv": ["/bin/sh", "-lc", "uname -a"], "cwd": "/home/node"}});
    answer_invoke(&mut h, prepare, plan);
    let requests = events(&h, NODE, "node.invoke.request");
    let run = &requests[2];
    assert_eq!(run["payload"]["command"], "system.run");
    let params: Value =
        serde_json::from_str(run["payload"]["paramsJSON"].as_str().unwrap()).unwrap();
    assert_eq!(params["cwd"], "/home/node");
    assert_eq!(params["rawCommand"], "uname -a");
    assert!(params["runId"].is_string());
    let result = json!({"exitCode": 0, "timedOut": false, "success": true, "stdout": "Linux pi\n", "stderr": "", "error": null});
    answer_invoke(&mut h, run, result);
    let text = &h.model_calls[2].1.messages[4].text;
    assert!(
        text.starts_with(&format!("Node: {node_id}\n\nLinux pi")),
        "{text}"
    );
}

#[test]
fn a_node_that_leaves_fails_the_call_and_the_run_goes_on() {
    let mut h = harness();
    let node_id = node(&mut h, NODE, 8, &["system.run"]);
    approve(&mut h, &node_id);
    agent(&mut h, "r1", "run on the node");
    ask_tool(
        &mut h,
        0,
        "x1",
        "exec",
        json!({"command": "sleep 100", "host": "node"}),
    );
    assert_eq!(
        events(&h, NODE, "node.invoke.request").len(),
        1,
        "no prepare: not declared"
    );
    h.close(NODE);
    let text = &h.model_calls[1].1.messages[2].text;
    assert!(text.contains("node disconnected"), "{text}");
}

#[test]
fn aborting_a_run_cancels_its_running_tool() {
    let mut h = harness();
    agent(&mut h, "r1", "long job");
    ask_tool(&mut h, 0, "e1", "exec", json!({"command": "sleep 600"}));
    let token = h.tool_actions[0].0;
    call(
        &mut h,
        ADMIN,
        "ab",
        "chat.abort",
        json!({"sessionKey": "main"}),
    );
    assert_eq!(h.cancelled_tools, [token]);
    // A late outcome is ignored; the transcript keeps the call, and the
    // next turn's model sees a stand-in result for it.
    h.tool_outcome(token, ToolOutcome::ok("late", json!({})));
    agent(&mut h, "r2", "again");
    let (_, next) = h.model_calls.last().unwrap().clone();
    assert!(next.messages.iter().any(|m| m.text == MISSING_RESULT));
}

#[test]
fn a_tool_past_its_time_is_stopped_and_reported() {
    let mut h = harness();
    agent(&mut h, "r1", "slow");
    ask_tool(
        &mut h,
        0,
        "e1",
        "exec",
        json!({"command": "sleep 600", "timeoutSeconds": 1}),
    );
    let token = h.tool_actions[0].0;
    h.advance_ms(12_000);
    assert_eq!(h.cancelled_tools, [token]);
    let text = &h.model_calls[1].1.messages[2].text;
    assert!(text.contains("timed out"), "{text}");
}

#[test]
fn the_rounds_of_one_turn_are_bounded() {
    let mut h = harness();
    agent(&mut h, "r1", "loop forever");
    for n in 0..=MAX_TOOL_ROUNDS as usize {
        ask_tool(&mut h, n, &format!("c{n}"), "nosuchtool", json!({}));
    }
    assert_eq!(h.model_calls.len(), MAX_TOOL_ROUNDS as usize + 1);
    let res = h.response(ADMIN, "r1", 1).unwrap();
    assert_eq!(res["ok"], false, "{res}");
    assert!(res["error"]["message"]
        .as_str()
        .unwrap()
        .contains("more than"));
}

#[test]
fn a_chat_message_cannot_make_exec_ask() {
    let mut h = harness();
    approver(&mut h);
    let params = json!({"sessionKey": "main", "message": "go", "idempotencyKey": "k1"});
    call(&mut h, ADMIN, "cs", "chat.send", params);
    ask_tool(
        &mut h,
        0,
        "e1",
        "exec",
        json!({"command": "ls", "ask": "always"}),
    );
    assert!(events(&h, APPROVER, "exec.approval.requested").is_empty());
    assert_eq!(h.tool_actions.len(), 1);
}

#[test]
fn a_tool_events_client_gets_its_own_runs_tool_stream_as_agent_events() {
    let mut h = harness();
    let starter = ConnId(5);
    h.open(starter, "127.0.0.1");
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "0.0.1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.admin", "operator.read", "operator.write"],
        "caps": ["tool-events"], "auth": {"token": "testtok"},
    }});
    h.text(starter, &frame.to_string());
    let params = json!({"message": "list", "idempotencyKey": "te1", "sessionKey": "main"});
    send(&mut h, starter, "te1", "agent", params);
    ask_tool(&mut h, 0, "l1", "ls", json!({}));
    let tool_stream: Vec<Value> = events(&h, starter, "agent")
        .into_iter()
        .filter(|e| e["payload"]["stream"] == "tool")
        .collect();
    assert_eq!(tool_stream.len(), 1, "the start, as an agent event");
    assert_eq!(tool_stream[0]["payload"]["data"]["name"], "ls");
    // The admin did not start the run: it sees session.tool, not agent/tool.
    assert_eq!(tool_events(&h).len(), 1);
    assert!(events(&h, ADMIN, "agent")
        .iter()
        .all(|e| e["payload"]["stream"] != "tool"));
}
