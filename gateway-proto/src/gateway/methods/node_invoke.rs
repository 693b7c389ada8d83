//! `node.invoke` and what nodes send back: the operator's invoke is routed
//! to the node as `node.invoke.request`, its result (or error, progress,
//! events) comes back with `node.invoke.result` and friends. Refusals use
//! the reference's wording.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::{Call, HubView};
use crate::gateway::nodes::hub::forwarded_error;
use crate::gateway::nodes::invokes::{
    Full, PendingInvoke, Reply, DEFAULT_TIMEOUT_MS, MAX_PROGRESS_CHUNK,
};
use crate::gateway::nodes::policy::{self, allowlist, check_invoke, Platform, Purpose};
use crate::gateway::registry::NODE_INVOKE_REQUEST_EVENT;
use crate::server::Scope;
use crate::wire::{ErrorCode, ErrorShape, Property, Schema};
use crate::ConnId;

const ID: Schema = Schema::string(Some(1), None);

pub(crate) static INVOKE_PARAMS: Schema = Schema::object(
    &[
        Property::new("nodeId", ID),
        Property::new("command", ID),
        Property::new("params", Schema::Any),
        Property::new("timeoutMs", Schema::integer(Some(0), None)),
        Property::new("idempotencyKey", ID),
        Property::new("sessionKey", ID),
        Property::new("turnSourceChannel", Schema::string(None, None)),
        Property::new("turnSourceTo", Schema::string(None, None)),
        Property::new("turnSourceAccountId", Schema::string(None, None)),
        Property::new("turnSourceThreadId", Schema::Any),
    ],
    &["nodeId", "command", "idempotencyKey"],
);
pub(crate) static RESULT_PARAMS: Schema = Schema::object(
    &[
        Property::new("id", ID),
        Property::new("nodeId", ID),
        Property::new("ok", Schema::Boolean),
        Property::new("payload", Schema::Any),
        // `null` is normalized away before the check, as the reference does.
        Property::new("payloadJSON", Schema::Any),
        Property::new("error", Schema::Any),
    ],
    &["id", "nodeId", "ok"],
);
pub(crate) static PROGRESS_PARAMS: Schema = Schema::object(
    &[
        Property::new("invokeId", ID),
        Property::new("nodeId", ID),
        Property::new("seq", Schema::integer(Some(0), None)),
        Property::new("chunk", Schema::string(None, None)),
    ],
    &["invokeId", "nodeId", "seq", "chunk"],
);
pub(crate) static EVENT_PARAMS: Schema = Schema::object(
    &[
        Property::new("event", ID),
        Property::new("payload", Schema::Any),
        Property::new("payloadJSON", Schema::string(None, None)),
    ],
    &["event"],
);
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvokeParams {
    node_id: String,
    command: String,
    params: Option<Value>,
    timeout_ms: Option<u64>,
    idempotency_key: String,
    session_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultParams {
    id: String,
    node_id: String,
    ok: bool,
    payload: Option<Value>,
    #[serde(rename = "payloadJSON")]
    payload_json: Option<Value>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProgressParams {
    invoke_id: String,
    node_id: String,
    seq: u64,
    chunk: String,
}

/// `node.invoke` needs admin for commands that cross a host boundary.
pub(crate) fn invoke_scope(params: Option<&RawValue>) -> Scope {
    #[derive(Deserialize)]
    struct Command {
        command: Option<String>,
    }
    let command = params
        .and_then(|p| serde_json::from_str::<Command>(p.get()).ok())
        .and_then(|c| c.command);
    match command {
        Some(c) if policy::is_admin_only_invoke(c.trim()) => Scope::Admin,
        _ => Scope::Write,
    }
}

pub(crate) fn invoke(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, InvokeParams);
    let node_id = p.node_id.trim().to_owned();
    let command = p.command.trim().to_owned();
    let refuse = |message: &str, details: Value| {
        ErrorShape::invalid_request(message.to_owned()).with_details(details)
    };
    if node_id.is_empty() || command.is_empty() {
        let error = ErrorShape::invalid_request("nodeId and command required");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if policy::is_private(&command) {
        let error = refuse(
            "node.invoke does not allow private node controls",
            json!({ "command": command }),
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if policy::EXEC_APPROVALS_COMMANDS.contains(&command.as_str()) {
        let error = refuse(
            "node.invoke does not allow system.execApprovals.*; use exec.approvals.node.*",
            json!({ "command": command }),
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if policy::is_browser_proxy(&command) && mutates_browser_profile(p.params.as_ref()) {
        let message =
            format!("node.invoke cannot mutate persistent browser profiles via {command}");
        let error = refuse(&message, json!({ "command": command }));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let node_conn = match callable(hub, &node_id, &command) {
        Ok(conn) => conn,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let params = p
        .params
        .map(|params| forwarded_params(&command, params, hub.rng));
    let timeout_ms = p
        .timeout_ms
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let invoke_id = hub.rng.uuid_v4();
    let payload = json!({
        "id": invoke_id,
        "nodeId": node_id,
        "command": command,
        "paramsJSON": params.as_ref().map(Value::to_string),
        "timeoutMs": timeout_ms,
        "idempotencyKey": p.idempotency_key,
    });
    let mut payload = payload;
    if let Some(key) = p
        .session_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        payload["sessionKey"] = json!(key);
    }
    let pending = PendingInvoke {
        node_id,
        node_conn,
        caller: call.conn,
        request_id: call.id.to_owned(),
        command,
        deadline: hub.now + std::time::Duration::from_millis(timeout_ms),
        reply: Reply::Invoke,
        next_progress: 0,
    };
    dispatch(hub, call, invoke_id, pending, &payload);
}

/// The connection of node `node_id` if it may run `command` now: it is
/// connected, declared the command, had it approved, and the gateway's
/// allowlist lets it through. Otherwise the refusal the caller gets.
pub(crate) fn callable(
    hub: &HubView<'_>,
    node_id: &str,
    command: &str,
) -> Result<ConnId, ErrorShape> {
    let Some(session) = hub.nodes.get(node_id) else {
        return Err(
            ErrorShape::new(ErrorCode::Unavailable, "node not connected").with_details(json!({
                "code": "NOT_CONNECTED",
                "nodeError": { "code": "NOT_CONNECTED", "message": "node not connected" },
                "nodeCommandDispatched": false,
            })),
        );
    };
    let platform = Platform::classify(Some(&session.platform), session.device_family.as_deref());
    let rules = &hub.config.node_commands;
    let allow = allowlist(rules, platform, &session.commands, Purpose::Invoke);
    if let Err(refusal) = check_invoke(command, &session.commands, &allow) {
        let pending = session.declared_commands.iter().any(|c| c == command);
        let label = if session.platform.is_empty() {
            "unknown"
        } else {
            session.platform.as_str()
        };
        let message = refusal.hint(command, label, rules, pending);
        return Err(ErrorShape::invalid_request(message)
            .with_details(json!({ "reason": refusal.reason(), "command": command })));
    }
    Ok(session.conn)
}

/// Send `command` to node `node_id` for an agent's tool call: the answer
/// (or its failure: refusal, disconnect, timeout) comes back to the tool
/// loop under `token`. Returns the refusal when it cannot be sent.
pub(crate) fn invoke_for_tool(
    hub: &mut HubView<'_>,
    token: u64,
    node_id: &str,
    command: &str,
    params: Value,
    timeout_ms: u64,
    session_key: &str,
) -> Result<(), ErrorShape> {
    let node_conn = callable(hub, node_id, command)?;
    let invoke_id = hub.rng.uuid_v4();
    let payload = json!({
        "id": invoke_id,
        "nodeId": node_id,
        "command": command,
        "paramsJSON": params.to_string(),
        "timeoutMs": timeout_ms,
        "idempotencyKey": invoke_id,
        "sessionKey": session_key,
    });
    let pending = PendingInvoke {
        node_id: node_id.to_owned(),
        node_conn,
        caller: node_conn,
        request_id: String::new(),
        command: command.to_owned(),
        deadline: hub.now + std::time::Duration::from_millis(timeout_ms),
        reply: Reply::Tool { token },
        next_progress: 0,
    };
    if let Err(full) = hub.nodes.invokes.insert(invoke_id, pending) {
        let message = match full {
            Full::Gateway => "too many node invokes in flight",
            Full::Node => "too many invokes in flight to this node",
        };
        return Err(ErrorShape::new(ErrorCode::Unavailable, message));
    }
    hub.out
        .send_event(node_conn, &NODE_INVOKE_REQUEST_EVENT, &payload);
    Ok(())
}

/// Register `pending` and send the request to its node.
pub(super) fn dispatch(
    hub: &mut HubView<'_>,
    call: &Call<'_>,
    invoke_id: String,
    pending: PendingInvoke,
    payload: &Value,
) {
    let node_conn = pending.node_conn;
    if let Err(full) = hub.nodes.invokes.insert(invoke_id, pending) {
        let message = match full {
            Full::Gateway => "too many node invokes in flight",
            Full::Node => "too many invokes in flight to this node",
        };
        let error = ErrorShape::new(ErrorCode::Unavailable, message).with_retry_after(1000);
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    hub.out
        .send_event(node_conn, &NODE_INVOKE_REQUEST_EVENT, payload);
}

/// `system.run` params as forwarded: a `runId` (kept if given) and no
/// caller-made approval claims, which only the gateway's approval records
/// may carry; the node then decides under its own policy.
fn forwarded_params(command: &str, params: Value, rng: &mut crate::ids::Rng) -> Value {
    let Value::Object(mut map) = params else {
        return params;
    };
    if command != "system.run" {
        return Value::Object(map);
    }
    for claim in ["approved", "approvalDecision", "approvalSource"] {
        map.remove(claim);
    }
    let run_id = map
        .get("runId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| rng.uuid_v4());
    map.insert("runId".into(), json!(run_id));
    match map.get("timeoutMs").and_then(Value::as_f64) {
        Some(t) if t.is_finite() && t.trunc() > 0.0 => {
            map.insert("timeoutMs".into(), json!(t.trunc() as u64));
        }
        Some(t) if t.is_finite() => {
            map.insert("timeoutMs".into(), Value::Null);
        }
        _ => {
            map.remove("timeoutMs");
        }
    }
    Value::Object(map)
}

/// `browser.proxy` calls that would change a persistent profile.
fn mutates_browser_profile(params: Option<&Value>) -> bool {
    let Some(params) = params else {
        return false;
    };
    let method = params["method"]
        .as_str()
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let path = params["path"].as_str().unwrap_or("");
    method != "GET" && path.trim_start_matches('/').starts_with("profiles")
}

/// The calling node's id: its device id, else its client id.
fn caller_node_id(hub: &HubView<'_>, call: &Call<'_>) -> Option<String> {
    hub.nodes
        .by_conn(call.conn)
        .map(|s| s.node_id.clone())
        .or_else(|| {
            hub.out
                .conns
                .get(call.conn)
                .and_then(|e| e.device_id.as_deref().map(str::to_owned))
        })
}

fn nodeid_mismatch(hub: &HubView<'_>, call: &Call<'_>, claimed: &str) -> bool {
    caller_node_id(hub, call).is_some_and(|own| own != claimed.trim())
}

pub(crate) fn invoke_result(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, ResultParams);
    // `payloadJSON: null` and `error: null` mean absent; a non-string
    // payloadJSON stands in for a missing payload.
    let (payload, payload_json) = match p.payload_json {
        None | Some(Value::Null) => (p.payload, None),
        Some(Value::String(text)) => (p.payload, Some(text)),
        Some(other) => (p.payload.or(Some(other)), None),
    };
    let error = p.error.filter(|e| !e.is_null());
    if let Some(problem) = error.as_ref().and_then(error_problem) {
        let error = ErrorShape::invalid_request(format!(
            "invalid node.invoke.result params: at /error{problem}"
        ));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if nodeid_mismatch(hub, call, &p.node_id) {
        let error = ErrorShape::invalid_request("nodeId mismatch");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let current = hub
        .nodes
        .invokes
        .get_mut(&p.id)
        .is_some_and(|inv| inv.node_id == p.node_id.trim() && inv.node_conn == call.conn);
    let Some(invoke) = current.then(|| hub.nodes.invokes.take(&p.id)).flatten() else {
        return hub
            .out
            .respond_ok(call.conn, call.id, &json!({ "ok": true, "ignored": true }));
    };
    hub.out
        .respond_ok(call.conn, call.id, &json!({ "ok": true }));
    if let Reply::Tool { token } = invoke.reply {
        let answer = match (p.ok, payload_json.as_deref(), payload) {
            (false, ..) => Err(forwarded_error(error.as_ref())),
            (true, Some(text), _) => Ok(serde_json::from_str(text).unwrap_or(Value::Null)),
            (true, None, payload) => Ok(payload.unwrap_or(Value::Null)),
        };
        return crate::gateway::agents::tool_loop::on_node_answer(hub, token, answer);
    }
    if !p.ok {
        let error = forwarded_error(error.as_ref());
        return hub
            .out
            .respond_error(invoke.caller, &invoke.request_id, &error);
    }
    // The payload travels as the node sent it: a payloadJSON text is
    // embedded verbatim once it is known to be JSON.
    let raw = payload_json
        .as_deref()
        .and_then(|text| RawValue::from_string(text.to_owned()).ok());
    let body = match (&raw, &payload) {
        (Some(raw), _) => RawOrValue::Raw(raw),
        (None, Some(value)) => RawOrValue::Value(value),
        (None, None) => RawOrValue::Value(&Value::Null),
    };
    if invoke.reply == Reply::Invoke {
        let answer = InvokeAnswer {
            ok: true,
            node_id: &invoke.node_id,
            command: &invoke.command,
            payload: body,
            payload_json: payload_json.as_deref(),
        };
        hub.out
            .respond_ok(invoke.caller, &invoke.request_id, &answer);
    } else {
        hub.out.respond_ok(invoke.caller, &invoke.request_id, &body);
    }
}

/// A payload as it arrived: JSON text or a value.
enum RawOrValue<'a> {
    Raw(&'a RawValue),
    Value(&'a Value),
}

impl serde::Serialize for RawOrValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawOrValue::Raw(raw) => raw.serialize(s),
            RawOrValue::Value(value) => value.serialize(s),
        }
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct InvokeAnswer<'a> {
    ok: bool,
    node_id: &'a str,
    command: &'a str,
    payload: RawOrValue<'a>,
    #[serde(rename = "payloadJSON")]
    payload_json: Option<&'a str>,
}

pub(crate) fn invoke_progress(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, ProgressParams);
    if nodeid_mismatch(hub, call, &p.node_id) {
        let error = ErrorShape::invalid_request("nodeId mismatch");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if p.chunk.len() > MAX_PROGRESS_CHUNK {
        let error = ErrorShape::invalid_request("progress chunk too large");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    // In order only: a repeated or skipped seq is ignored.
    let accepted = match hub.nodes.invokes.get_mut(&p.invoke_id) {
        Some(inv)
            if inv.node_conn == call.conn
                && inv.node_id == p.node_id.trim()
                && inv.next_progress == p.seq =>
        {
            inv.next_progress += 1;
            true
        }
        _ => false,
    };
    hub.out.respond_ok(
        call.conn,
        call.id,
        &json!({ "ok": true, "ignored": !accepted }),
    );
}

pub(crate) fn node_event(hub: &mut HubView<'_>, call: &Call<'_>) {
    #[derive(Deserialize)]
    struct EventParams {
        event: String,
    }
    let p = params_or_answer!(hub, call, EventParams);
    let pending = hub
        .nodes
        .by_conn(call.conn)
        .is_some_and(|s| s.commands.is_empty() && !s.declared_commands.is_empty());
    if pending && p.event.trim() != "node.hostStats" {
        let error = ErrorShape::invalid_request(
            "node capability surface is awaiting operator approval; run `openclaw nodes approve <id>` after reviewing `openclaw nodes pending`",
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    hub.out
        .respond_ok(call.conn, call.id, &json!({ "ok": true }));
}

/// What is wrong with a result's `error` (a closed object of non-empty
/// `code` and `message` strings), in the validator's wording.
fn error_problem(error: &Value) -> Option<String> {
    let Some(map) = error.as_object() else {
        return Some(": must be object".to_owned());
    };
    for (key, value) in map {
        if key != "code" && key != "message" {
            return Some(": must NOT have additional properties".to_owned());
        }
        match value.as_str() {
            Some(text) if !text.is_empty() => {}
            Some(_) => return Some(format!("/{key}: must NOT have fewer than 1 characters")),
            None => return Some(format!("/{key}: must be string")),
        }
    }
    None
}
