//! The tool loop: a model turn that asks for tools gets them run, one call
//! after another in the order the model made them, and the next model turn
//! sees every result. What it promises:
//!
//! - **Every call gets exactly one result** in the transcript (a
//!   `toolResult` message right after the assistant message that made the
//!   call), unless the run ends first; the model is never called while a
//!   call of its previous turn is unanswered.
//! - **Bounded**: at most [`MAX_TOOL_ROUNDS`] model turns with tool calls
//!   per run, a time limit on every call (exec: its own timeout; a file
//!   action: [`FILE_ACTION_TIMEOUT`]; a node: its invoke timeout), and
//!   results cut to [`MAX_RESULT_CHARS`] for the model and
//!   [`MAX_EVENT_RESULT_CHARS`] for events.
//! - **Confined**: file tools only touch the workspace (checked here by
//!   the path's text, and again by the runtime on the real file system);
//!   exec on the gateway host runs in the workspace under the host's exec
//!   policy, and waits for an operator when the policy asks.
//! - An aborted or timed-out run cancels its running action.

use std::time::Duration;

use serde_json::{json, Value};

use super::hub::{self, finish};
use super::model::ToolCall;
use super::runs::{AfterApproval, Ending, Origin, Phase, ToolRound, ToolStep};
use super::tools::plan::{self, error_outcome, NodesRequest, Plan};
use super::tools::settings::ExecSecurity;
use super::tools::{cut_chars, BootstrapFile, ToolAction, ToolOutcome, BOOTSTRAP_FILES};
use crate::gateway::exec_approvals::Decision;
use crate::gateway::methods::exec_approval::request_for_tool;
use crate::gateway::methods::node_invoke::invoke_for_tool;
use crate::gateway::methods::HubView;
use crate::gateway::registry::{AGENT_EVENT, SESSION_TOOL_EVENT};
use crate::gateway::Effect;
use crate::wire::ErrorShape;

/// Model turns with tool calls in one run.
pub const MAX_TOOL_ROUNDS: u32 = 32;
/// Tool calls kept from one model turn (a provider stops at the same bound).
pub const MAX_CALLS_PER_TURN: usize = 64;
/// How long a file action may take before it is given up.
pub const FILE_ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest tool result the model sees (the reference's cap for a
/// model with a small context window).
pub const MAX_RESULT_CHARS: usize = 16_000;
/// The longest tool result text an event carries.
pub const MAX_EVENT_RESULT_CHARS: usize = 8_000;
/// A node's `system.run` gets this much longer than the command's own
/// timeout, so the node can report the timeout itself.
const NODE_RUN_GRACE_MS: u64 = 5_000;
/// `system.run.prepare` and node queries.
const NODE_QUERY_TIMEOUT_MS: u64 = 30_000;

/// The agent's workspace folder: `agents.defaults.workspace`, else
/// `<stateDir>/workspace`; `None` when the gateway has neither (then the
/// agent has no tools).
pub(crate) fn workspace_dir(hub: &HubView<'_>) -> Option<String> {
    if let Some(dir) = &hub.config.tools.workspace {
        return Some(dir.clone());
    }
    let dir = hub.config.state_dir.as_deref()?;
    Some(format!("{}/workspace", dir.trim_end_matches('/')))
}

/// A starting run's workspace: ask the runtime for its bootstrap files
/// (creating them on first use), then call the model. Without a workspace
/// the model is called at once.
pub(crate) fn prepare(hub: &mut HubView<'_>, run_id: &str) {
    let Some(dir) = workspace_dir(hub) else {
        if let Some(run) = hub.agents.runs.get_mut(run_id) {
            run.system_prompt = super::SYSTEM_PROMPT.to_owned();
        }
        return hub::call_model(hub, run_id);
    };
    let token = hub.effects.take_token();
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    run.phase = Phase::Preparing { token };
    hub.agents.tool_tokens.insert(token, run_id.to_owned());
    let files = BOOTSTRAP_FILES.iter().map(|f| (*f).to_owned()).collect();
    hub.out
        .effect(Effect::PrepareWorkspace { token, dir, files });
}

/// The workspace of a starting run is ready (or could not be prepared:
/// the run then goes on without its files, as a missing file would).
pub(crate) fn on_workspace(
    hub: &mut HubView<'_>,
    token: u64,
    result: Result<Vec<BootstrapFile>, String>,
) {
    let Some(run_id) = hub.agents.tool_tokens.remove(&token) else {
        return;
    };
    let files = result.unwrap_or_default();
    let dir = workspace_dir(hub).unwrap_or_default();
    let prompt = super::tools::prompt::system_prompt(super::SYSTEM_PROMPT, &dir, &files);
    if let Some(run) = hub.agents.runs.get_mut(&run_id) {
        run.system_prompt = prompt;
    }
    hub::call_model(hub, &run_id);
}

/// The model turn ended asking for tools: record its message, then run
/// the calls.
pub(crate) fn begin_round(hub: &mut HubView<'_>, run_id: &str) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    // Every model call so far ended asking for tools (else the run would
    // have ended): the call count is the count of tool-calling turns.
    let too_many = run.assistant_turns > MAX_TOOL_ROUNDS;
    let message = run.tool_call_message(now_ms);
    let session_key = run.session_key.clone();
    let calls = std::mem::take(&mut run.calls);
    if let Phase::Streaming { token } = run.phase {
        hub.agents.by_token.remove(&token);
    }
    hub::emit_usage(hub, run_id);
    hub::append_message(hub, &session_key, message);
    if too_many {
        let message = format!(
            "the model asked for tools more than {MAX_TOOL_ROUNDS} times in one turn; stopped"
        );
        return finish(hub, run_id, Ending::Failed { message });
    }
    if let Some(run) = hub.agents.runs.get_mut(run_id) {
        run.round = Some(ToolRound {
            calls,
            next: 0,
            step: None,
            started_at: now_ms,
        });
    }
    run_next_call(hub, run_id);
}

/// Start the round's next call; when none is left, the next model turn.
fn run_next_call(hub: &mut HubView<'_>, run_id: &str) {
    loop {
        let now_ms = hub.clock.unix_ms(hub.now);
        let Some(run) = hub.agents.runs.get_mut(run_id) else {
            return;
        };
        let Some(round) = run.round.as_mut() else {
            return;
        };
        let Some(call) = round.calls.get(round.next).cloned() else {
            run.round = None;
            return hub::call_model(hub, run_id);
        };
        round.started_at = now_ms;
        round.step = None;
        let via_chat = run.via_chat();
        tool_started(hub, run_id, &call, now_ms);
        let root = workspace_dir(hub).unwrap_or_default();
        let planned = plan::plan(&call, &root, &hub.config.tools, !via_chat);
        match dispatch(hub, run_id, &call, &root, planned) {
            Some(outcome) => record_result(hub, run_id, outcome),
            None => return, // waiting for the runtime, a node or an operator
        }
    }
}

/// Start what `planned` needs; `Some` when the result is known at once.
fn dispatch(
    hub: &mut HubView<'_>,
    run_id: &str,
    call: &ToolCall,
    root: &str,
    planned: Plan,
) -> Option<ToolOutcome> {
    match planned {
        Plan::Done(outcome) => Some(outcome),
        Plan::Workspace(action) => {
            let deadline = hub.now + FILE_ACTION_TIMEOUT;
            start_action(hub, run_id, root, action, deadline);
            None
        }
        Plan::GatewayExec {
            command,
            cwd,
            timeout_ms,
            ask,
        } => {
            if hub.config.tools.exec_security == ExecSecurity::Deny {
                let message = format!(
                    "exec denied: the gateway host's exec policy is security=deny: {command}"
                );
                return Some(error_outcome("exec", &message));
            }
            if !ask {
                return run_gateway_exec(hub, run_id, root, command, cwd, timeout_ms);
            }
            let request = approval_request(hub, run_id, call, &command, &cwd, None, "gateway");
            let then = AfterApproval::Gateway {
                command,
                cwd,
                timeout_ms,
            };
            wait_for_approval(hub, run_id, request, then)
        }
        Plan::NodeExec {
            node,
            command,
            cwd,
            timeout_ms,
            ask,
        } => node_exec(hub, run_id, node, command, cwd, timeout_ms, ask),
        Plan::Nodes(request) => nodes_tool(hub, run_id, request),
    }
}

fn run_gateway_exec(
    hub: &mut HubView<'_>,
    run_id: &str,
    root: &str,
    command: String,
    cwd: String,
    timeout_ms: u64,
) -> Option<ToolOutcome> {
    // The runtime kills the command at its timeout; the loop waits a
    // little longer for that report.
    let deadline = hub.now + Duration::from_millis(timeout_ms) + Duration::from_secs(10);
    let action = ToolAction::Exec {
        command,
        cwd,
        timeout_ms,
    };
    start_action(hub, run_id, root, action, deadline);
    None
}

fn start_action(
    hub: &mut HubView<'_>,
    run_id: &str,
    root: &str,
    action: ToolAction,
    deadline: crate::time::Timestamp,
) {
    let token = wait_on(hub, run_id, ToolStep::Action, Some(deadline));
    hub.out.effect(Effect::RunTool {
        token,
        root: root.to_owned(),
        action,
    });
}

/// The running call now waits for `step` under a fresh token.
fn wait_on(
    hub: &mut HubView<'_>,
    run_id: &str,
    step: ToolStep,
    deadline: Option<crate::time::Timestamp>,
) -> u64 {
    let token = hub.effects.take_token();
    hub.agents.tool_tokens.insert(token, run_id.to_owned());
    if let Some(run) = hub.agents.runs.get_mut(run_id) {
        run.phase = Phase::Tool { token };
        run.tool_deadline = deadline;
        if let Some(round) = run.round.as_mut() {
            round.step = Some(step);
        }
    }
    token
}

/// `exec` with host=node: the node's own plan first (when it offers
/// `system.run.prepare`, as the reference's node host does), then the run.
fn node_exec(
    hub: &mut HubView<'_>,
    run_id: &str,
    node: Option<String>,
    command: String,
    cwd: Option<String>,
    timeout_ms: u64,
    ask: bool,
) -> Option<ToolOutcome> {
    let node_id = match pick_node(hub, node.as_deref(), "system.run") {
        Ok(id) => id,
        Err(message) => return Some(error_outcome("exec", &message)),
    };
    let (agent_id, session_key) = run_labels(hub, run_id);
    let argv = json!(["/bin/sh", "-lc", command]);
    let declares_prepare = hub
        .nodes
        .get(&node_id)
        .is_some_and(|s| s.commands.iter().any(|c| c == "system.run.prepare"));
    if declares_prepare {
        let mut params = json!({
            "command": argv, "rawCommand": command, "agentId": agent_id, "sessionKey": session_key,
        });
        if let Some(cwd) = &cwd {
            params["cwd"] = json!(cwd);
        }
        let step = ToolStep::NodePrepare {
            node_id: node_id.clone(),
            command,
            timeout_ms,
            ask,
        };
        return send_to_node(
            hub,
            run_id,
            step,
            &node_id,
            "system.run.prepare",
            params,
            NODE_QUERY_TIMEOUT_MS,
        );
    }
    let mut params = json!({
        "command": argv, "rawCommand": command, "timeoutMs": timeout_ms,
        "agentId": agent_id, "sessionKey": session_key,
    });
    if let Some(cwd) = cwd {
        params["cwd"] = json!(cwd);
    }
    node_run(hub, run_id, &node_id, params, timeout_ms, ask, &command)
}

/// `system.run` on the node, after an operator's approval when `ask`.
fn node_run(
    hub: &mut HubView<'_>,
    run_id: &str,
    node_id: &str,
    params: Value,
    timeout_ms: u64,
    ask: bool,
    command: &str,
) -> Option<ToolOutcome> {
    if ask {
        let call = running_call(hub, run_id)?;
        let cwd = params["cwd"].as_str().unwrap_or_default().to_owned();
        let request = approval_request(
            hub,
            run_id,
            &call,
            command,
            &cwd,
            Some((node_id, &params)),
            "node",
        );
        let then = AfterApproval::Node {
            node_id: node_id.to_owned(),
            params,
            timeout_ms,
        };
        return wait_for_approval(hub, run_id, request, then);
    }
    let mut params = params;
    params["runId"] = json!(hub.rng.uuid_v4());
    let step = ToolStep::NodeRun {
        node_id: node_id.to_owned(),
    };
    let invoke_timeout = timeout_ms.saturating_add(NODE_RUN_GRACE_MS);
    send_to_node(
        hub,
        run_id,
        step,
        node_id,
        "system.run",
        params,
        invoke_timeout,
    )
}

fn send_to_node(
    hub: &mut HubView<'_>,
    run_id: &str,
    step: ToolStep,
    node_id: &str,
    command: &str,
    params: Value,
    timeout_ms: u64,
) -> Option<ToolOutcome> {
    let token = wait_on(hub, run_id, step, None);
    let session_key = run_labels(hub, run_id).1;
    match invoke_for_tool(
        hub,
        token,
        node_id,
        command,
        params,
        timeout_ms,
        &session_key,
    ) {
        Ok(()) => None,
        Err(error) => {
            hub.agents.tool_tokens.remove(&token);
            Some(error_outcome(
                tool_name(hub, run_id).as_str(),
                &error.message,
            ))
        }
    }
}

/// The `nodes` tool.
fn nodes_tool(hub: &mut HubView<'_>, run_id: &str, request: NodesRequest) -> Option<ToolOutcome> {
    let (node, command, params, timeout) = match request {
        NodesRequest::Status => return Some(nodes_status(hub)),
        NodesRequest::Describe { node } => {
            return Some(match find_node(hub, &node) {
                Ok(id) => describe_node(hub, &id),
                Err(message) => error_outcome("nodes", &message),
            })
        }
        NodesRequest::Which { node, bins } => {
            (node, "system.which".to_owned(), json!({"bins": bins}), None)
        }
        NodesRequest::Invoke {
            node,
            command,
            params,
            timeout_ms,
        } => (node, command, params, timeout_ms),
    };
    let node_id = match find_node(hub, &node) {
        Ok(id) => id,
        Err(message) => return Some(error_outcome("nodes", &message)),
    };
    let step = ToolStep::NodeQuery {
        node_id: node_id.clone(),
        command: command.clone(),
    };
    let timeout = timeout.filter(|t| *t > 0).unwrap_or(NODE_QUERY_TIMEOUT_MS);
    send_to_node(hub, run_id, step, &node_id, &command, params, timeout)
}

fn nodes_status(hub: &HubView<'_>) -> ToolOutcome {
    let nodes: Vec<Value> = hub
        .nodes
        .sessions()
        .map(|s| {
            json!({
                "nodeId": s.node_id, "displayName": s.display_name, "platform": s.platform,
                "connected": true, "commands": s.commands,
            })
        })
        .collect();
    json_outcome(json!({"nodes": nodes}))
}

fn describe_node(hub: &HubView<'_>, node_id: &str) -> ToolOutcome {
    let Some(s) = hub.nodes.get(node_id) else {
        return error_outcome("nodes", &format!("node not connected: {node_id}"));
    };
    json_outcome(json!({
        "nodeId": s.node_id, "displayName": s.display_name, "platform": s.platform,
        "version": s.version, "deviceFamily": s.device_family, "caps": s.caps,
        "commands": s.commands, "connected": true, "connectedAtMs": s.connected_at_ms,
    }))
}

fn json_outcome(value: Value) -> ToolOutcome {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    ToolOutcome::ok(text, value)
}

/// A connected node by id or display name (case-insensitive).
fn find_node(hub: &HubView<'_>, wanted: &str) -> Result<String, String> {
    let wanted = wanted.trim();
    if hub.nodes.get(wanted).is_some() {
        return Ok(wanted.to_owned());
    }
    let named: Vec<String> = hub
        .nodes
        .sessions()
        .filter(|s| {
            s.display_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        })
        .map(|s| s.node_id.clone())
        .collect();
    match named.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("node not found: {wanted}")),
        _ => Err(format!("several nodes are named {wanted}; use the node id")),
    }
}

/// The node an exec runs on: the one named, else the only connected node
/// that may run `command`.
fn pick_node(hub: &HubView<'_>, wanted: Option<&str>, command: &str) -> Result<String, String> {
    if let Some(wanted) = wanted {
        return find_node(hub, wanted);
    }
    let able: Vec<String> = hub
        .nodes
        .sessions()
        .filter(|s| s.commands.iter().any(|c| c == command))
        .map(|s| s.node_id.clone())
        .collect();
    match able.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no connected node can run {command}; pair a node host (openclaw node run) and approve it"
        )),
        _ => Err("several nodes can run commands; name one with node=<id or name>".into()),
    }
}

/// The `exec.approval.requested` request object for the running call.
fn approval_request(
    hub: &HubView<'_>,
    run_id: &str,
    call: &ToolCall,
    command: &str,
    cwd: &str,
    node: Option<(&str, &Value)>,
    host: &str,
) -> Value {
    let (agent_id, session_key) = run_labels(hub, run_id);
    let (node_id, binding) = match node {
        Some((id, params)) => (
            json!(id),
            json!({
                "argv": params["command"], "cwd": params.get("cwd"), "agentId": agent_id,
                "sessionKey": session_key, "envHash": null,
            }),
        ),
        None => (Value::Null, Value::Null),
    };
    json!({
        "command": command, "systemRunBinding": binding, "systemRunPlan": null,
        "cwd": cwd, "nodeId": node_id, "host": host, "security": "full", "ask": "always",
        "warningText": null, "scope": null, "unavailableDecisions": ["allow-always"],
        "allowedDecisions": ["allow-once", "deny"], "agentId": agent_id,
        "resolvedPath": null, "sessionKey": session_key, "sessionId": null, "runId": run_id,
        "toolCallId": call.id,
    })
}

/// Park the running call until an operator decides; with nobody to ask,
/// it fails at once as the reference's headless runs do.
fn wait_for_approval(
    hub: &mut HubView<'_>,
    run_id: &str,
    request: Value,
    then: AfterApproval,
) -> Option<ToolOutcome> {
    let Some(id) = request_for_tool(hub, request, true) else {
        let message = "exec denied: Headless runs cannot wait for interactive exec approval.\n\
             Effective host exec policy: security=full ask=always askFallback=deny\n\
             Connect an approval client (the Control UI, or an operator with the exec-approvals cap \
             and operator.approvals), or turn ask off.";
        return Some(error_outcome("exec", message));
    };
    hub.agents.approvals.insert(id.clone(), run_id.to_owned());
    let step = ToolStep::Approval {
        id,
        then: Box::new(then),
    };
    // The approval's own expiry bounds the wait.
    wait_on(hub, run_id, step, None);
    None
}

/// An exec approval was decided (or expired): the call it held goes on.
pub(crate) fn on_approval_settled(hub: &mut HubView<'_>, approval_id: &str) {
    let Some(run_id) = hub.agents.approvals.remove(approval_id) else {
        return;
    };
    let decision = hub
        .exec_approvals
        .get(approval_id)
        .and_then(|a| a.outcome.as_ref())
        .and_then(|o| o.decision);
    let Some(run) = hub.agents.runs.get_mut(&run_id) else {
        return;
    };
    let Some(ToolStep::Approval { id, then }) = run.round.as_mut().and_then(|r| r.step.take())
    else {
        return;
    };
    if let Phase::Tool { token } = run.phase {
        hub.agents.tool_tokens.remove(&token);
    }
    let approved = matches!(decision, Some(Decision::AllowOnce | Decision::AllowAlways));
    let outcome = if !approved {
        let (host, command) = match &*then {
            AfterApproval::Gateway { command, .. } => ("gateway", command.clone()),
            AfterApproval::Node { params, .. } => (
                "node",
                params["rawCommand"].as_str().unwrap_or_default().to_owned(),
            ),
        };
        let why = if decision.is_some() {
            "user-denied"
        } else {
            "approval-timeout"
        };
        Some(ToolOutcome::error(format!(
            "Exec denied ({host} id={id}, {why}): {command}"
        )))
    } else {
        match *then {
            AfterApproval::Gateway {
                command,
                cwd,
                timeout_ms,
            } => {
                let root = workspace_dir(hub).unwrap_or_default();
                run_gateway_exec(hub, &run_id, &root, command, cwd, timeout_ms)
            }
            AfterApproval::Node {
                node_id,
                mut params,
                timeout_ms,
            } => {
                params["runId"] = json!(id);
                params["approved"] = json!(true);
                params["approvalDecision"] = json!(decision.map_or("allow-once", Decision::as_str));
                let step = ToolStep::NodeRun {
                    node_id: node_id.clone(),
                };
                let invoke_timeout = timeout_ms.saturating_add(NODE_RUN_GRACE_MS);
                send_to_node(
                    hub,
                    &run_id,
                    step,
                    &node_id,
                    "system.run",
                    params,
                    invoke_timeout,
                )
            }
        }
    };
    if let Some(outcome) = outcome {
        record_result(hub, &run_id, outcome);
        run_next_call(hub, &run_id);
    }
}

/// A runtime action ended.
pub(crate) fn on_tool_outcome(hub: &mut HubView<'_>, token: u64, outcome: ToolOutcome) {
    let Some(run_id) = hub.agents.tool_tokens.remove(&token) else {
        return; // cancelled, timed out, or the run ended
    };
    let outcome = if outcome.is_error && outcome.details.is_null() {
        error_outcome(&tool_name(hub, &run_id), &outcome.text)
    } else {
        outcome
    };
    record_result(hub, &run_id, outcome);
    run_next_call(hub, &run_id);
}

/// A node answered (or failed) a tool call's invoke.
pub(crate) fn on_node_answer(hub: &mut HubView<'_>, token: u64, answer: Result<Value, ErrorShape>) {
    let Some(run_id) = hub.agents.tool_tokens.remove(&token) else {
        return;
    };
    let step = hub
        .agents
        .runs
        .get_mut(&run_id)
        .and_then(|r| r.round.as_mut())
        .and_then(|r| r.step.take());
    let tool = tool_name(hub, &run_id);
    let payload = match answer {
        Ok(payload) => payload,
        Err(error) => {
            let outcome = error_outcome(&tool, &error.message);
            record_result(hub, &run_id, outcome);
            return run_next_call(hub, &run_id);
        }
    };
    let outcome = match step {
        Some(ToolStep::NodePrepare {
            node_id,
            command,
            timeout_ms,
            ask,
        }) => {
            let plan = payload.get("plan").cloned().unwrap_or(Value::Null);
            let argv = plan
                .get("argv")
                .cloned()
                .unwrap_or_else(|| json!(["/bin/sh", "-lc", command]));
            let (agent_id, session_key) = run_labels(hub, &run_id);
            let mut params = json!({
                "command": argv, "rawCommand": command, "systemRunPlan": plan,
                "timeoutMs": timeout_ms, "agentId": agent_id, "sessionKey": session_key,
            });
            if let Some(cwd) = plan.get("cwd").filter(|c| c.is_string()) {
                params["cwd"] = cwd.clone();
            }
            node_run(hub, &run_id, &node_id, params, timeout_ms, ask, &command)
        }
        Some(ToolStep::NodeRun { node_id }) => Some(node_run_outcome(&node_id, &payload)),
        Some(ToolStep::NodeQuery { .. }) => Some(json_outcome(payload)),
        _ => None,
    };
    if let Some(outcome) = outcome {
        record_result(hub, &run_id, outcome);
        run_next_call(hub, &run_id);
    }
}

/// A node's `system.run` answer as the model reads it.
fn node_run_outcome(node_id: &str, payload: &Value) -> ToolOutcome {
    let stdout = payload["stdout"].as_str().unwrap_or_default();
    let stderr = payload["stderr"].as_str().unwrap_or_default();
    let exit_code = payload["exitCode"].as_i64();
    let mut text = format!("Node: {node_id}\n\n{stdout}");
    if !stderr.is_empty() {
        text.push_str(stderr);
    }
    if payload["timedOut"] == json!(true) {
        text.push_str("\n\n(Command timed out)");
    } else if let Some(code) = exit_code.filter(|c| *c != 0) {
        text.push_str(&format!("\n\n(Command exited with code {code})"));
    }
    if let Some(error) = payload["error"].as_str().filter(|e| !e.is_empty()) {
        text.push_str(&format!("\n\n{error}"));
    }
    let details = json!({
        "status": "completed", "exitCode": exit_code, "aggregated": format!("{stdout}{stderr}"),
        "timedOut": payload["timedOut"], "nodeId": node_id,
    });
    ToolOutcome::ok(text, details)
}

/// The running call's result: events, transcript, summary; the round
/// moves on to the next call.
fn record_result(hub: &mut HubView<'_>, run_id: &str, outcome: ToolOutcome) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let Some(call) = running_call(hub, run_id) else {
        return;
    };
    let name = plan::canonical_name(&call.name).map_or_else(|| call.name.clone(), str::to_owned);
    let text = cut_chars(&outcome.text, MAX_RESULT_CHARS);
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    run.tool_deadline = None;
    run.tools.calls += 1;
    if !run.tools.used.contains(&name) {
        run.tools.used.push(name.clone());
    }
    if outcome.is_error {
        run.tools.failures += 1;
    } else if !run.tools.succeeded.contains(&name) {
        run.tools.succeeded.push(name.clone());
    }
    let started_at = run.round.as_ref().map_or(now_ms, |r| r.started_at);
    if let Some(round) = run.round.as_mut() {
        round.next += 1;
        round.step = None;
    }
    let session_key = run.session_key.clone();
    let shown = cut_chars(&outcome.text, MAX_EVENT_RESULT_CHARS);
    let shown = if shown.len() < outcome.text.len() {
        format!("{shown}\n…(truncated)…")
    } else {
        shown.to_owned()
    };
    let result = json!({
        "phase": "result", "name": name, "toolCallId": call.id, "isError": outcome.is_error,
        "result": {"content": [{"type": "text", "text": shown}], "details": outcome.details},
    });
    tool_event(hub, run_id, result, now_ms);
    let status = if outcome.is_error || failed_exec(&outcome) {
        "failed"
    } else {
        "completed"
    };
    let mut item = item_payload(&call, &name, started_at);
    item["phase"] = json!("end");
    item["status"] = json!(status);
    item["endedAt"] = json!(now_ms);
    agent_event(hub, run_id, "item", item, now_ms);
    let message = json!({
        "role": "toolResult",
        "toolCallId": call.id,
        "toolName": name,
        "content": [{"type": "text", "text": text}],
        "details": outcome.details,
        "isError": outcome.is_error,
        "timestamp": now_ms,
        "__openclaw": {"runId": run_id},
    });
    hub::append_message(hub, &session_key, message);
}

/// An exec that ran but exited non-zero: a result, not an error, but its
/// item ends `failed` (as in the reference).
fn failed_exec(outcome: &ToolOutcome) -> bool {
    outcome.details["exitCode"]
        .as_i64()
        .is_some_and(|code| code != 0)
}

fn tool_started(hub: &mut HubView<'_>, run_id: &str, call: &ToolCall, now_ms: u64) {
    let name = plan::canonical_name(&call.name).map_or_else(|| call.name.clone(), str::to_owned);
    let mut item = item_payload(call, &name, now_ms);
    item["phase"] = json!("start");
    item["status"] = json!("running");
    agent_event(hub, run_id, "item", item, now_ms);
    let start = json!({
        "phase": "start", "name": name, "toolCallId": call.id, "args": plan::arguments(call),
    });
    tool_event(hub, run_id, start, now_ms);
}

fn item_payload(call: &ToolCall, name: &str, started_at: u64) -> Value {
    let args = plan::arguments(call);
    let meta = ["path", "command", "action"]
        .iter()
        .find_map(|key| args[*key].as_str())
        .map(|s| cut_chars(s, 120).to_owned());
    json!({
        "itemId": format!("tool:{}", call.id),
        "toolCallId": call.id,
        "name": name,
        "kind": "tool",
        "title": title(name, meta.as_deref()),
        "meta": meta,
        "commandBearing": name == "exec",
        "startedAt": started_at,
    })
}

fn title(name: &str, meta: Option<&str>) -> String {
    match (name, meta) {
        ("read", Some(path)) => format!("Read from {path}"),
        ("write", Some(path)) => format!("Write to {path}"),
        ("edit", Some(path)) => format!("Edit {path}"),
        ("ls", Some(path)) => format!("List {path}"),
        ("exec", Some(command)) => format!("Exec {command}"),
        (name, _) => name.to_owned(),
    }
}

/// An `agent` event of the run (with the run's next seq).
fn agent_event(hub: &mut HubView<'_>, run_id: &str, stream: &str, data: Value, now_ms: u64) {
    let session_id = hub::session_id_of(hub, &run_labels(hub, run_id).1);
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    let event = run.agent_event(stream, data, now_ms, &session_id);
    hub::emit_agent(hub, &event);
}

/// A run's `tool` stream event: as an `agent` event to the connection that
/// started the run if it declared the `tool-events` cap, and as
/// `session.tool` to the other session subscribers (as the reference).
fn tool_event(hub: &mut HubView<'_>, run_id: &str, data: Value, now_ms: u64) {
    let session_key = run_labels(hub, run_id).1;
    let session_id = hub::session_id_of(hub, &session_key);
    let Some(run) = hub.agents.runs.get_mut(run_id) else {
        return;
    };
    let mut event = run.agent_event("tool", data, now_ms, &session_id);
    let starter = match run.origin {
        Origin::Agent { conn, .. } if hub.agents.tool_event_clients.contains(&conn) => Some(conn),
        _ => None,
    };
    if let Some(conn) = starter {
        hub.out.broadcast_to(&AGENT_EVENT, &event, &[conn]);
    }
    let to: Vec<_> = hub
        .agents
        .subscribers
        .iter()
        .copied()
        .filter(|c| Some(*c) != starter)
        .collect();
    if to.is_empty() {
        return;
    }
    event["session"] = hub::session_row(hub, &session_key);
    hub.out.broadcast_to(&SESSION_TOOL_EVENT, &event, &to);
}

fn running_call(hub: &HubView<'_>, run_id: &str) -> Option<ToolCall> {
    let round = hub.agents.runs.get(run_id)?.round.as_ref()?;
    round.calls.get(round.next).cloned()
}

fn tool_name(hub: &HubView<'_>, run_id: &str) -> String {
    running_call(hub, run_id)
        .map(|c| plan::canonical_name(&c.name).map_or(c.name, str::to_owned))
        .unwrap_or_default()
}

/// The run's agent id and session key.
fn run_labels(hub: &HubView<'_>, run_id: &str) -> (String, String) {
    hub.agents
        .runs
        .get(run_id)
        .map_or_else(Default::default, |r| {
            (r.agent_id.clone(), r.session_key.clone())
        })
}

/// Tool calls whose time ran out: the action is cancelled and the model
/// hears that it timed out.
pub(crate) fn on_timer(hub: &mut HubView<'_>) {
    let now = hub.now;
    let late: Vec<(String, u64)> = hub
        .agents
        .runs
        .values()
        .filter(|r| r.tool_deadline.is_some_and(|d| d <= now))
        .filter_map(|r| match r.phase {
            Phase::Tool { token } => Some((r.run_id.clone(), token)),
            _ => None,
        })
        .collect();
    for (run_id, token) in late {
        if hub.agents.tool_tokens.remove(&token).is_none() {
            continue;
        }
        hub.out.effect(Effect::CancelTool { token });
        let tool = tool_name(hub, &run_id);
        let outcome = error_outcome(&tool, "the tool call timed out and was stopped");
        record_result(hub, &run_id, outcome);
        run_next_call(hub, &run_id);
    }
}

/// A run ends while it prepares its workspace or runs a tool: forget its
/// token and stop its action.
pub(crate) fn abandon(hub: &mut HubView<'_>, phase: Phase) {
    match phase {
        Phase::Preparing { token } => {
            hub.agents.tool_tokens.remove(&token);
        }
        Phase::Tool { token } => {
            if hub.agents.tool_tokens.remove(&token).is_some() {
                hub.out.effect(Effect::CancelTool { token });
            }
        }
        Phase::Queued | Phase::Streaming { .. } => {}
    }
}
