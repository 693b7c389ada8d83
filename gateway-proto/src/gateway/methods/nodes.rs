//! `node.*` and `exec.approvals.node.*`: operators list, approve, rename and
//! remove nodes and invoke their commands; nodes answer invokes and report
//! events. Refusals use the reference's wording.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::devices::Caller;
use super::{Call, HubView};
use crate::gateway::nodes::hub::{forwarded_error, node_error};
use crate::gateway::nodes::invokes::{
    Full, PendingInvoke, Reply, DEFAULT_TIMEOUT_MS, MAX_PROGRESS_CHUNK,
};
use crate::gateway::nodes::policy::{self, allowlist, check_invoke, Platform, Purpose};
use crate::gateway::nodes::{catalog, surface};
use crate::gateway::pairing::hub::{AfterWrite, PairingEvent};
use crate::gateway::registry::{missing_scope_of, NODE_INVOKE_REQUEST_EVENT};
use crate::server::Scope;
use crate::wire::{ErrorCode, ErrorShape, Property, Schema};

const ID: Schema = Schema::string(Some(1), None);

pub(crate) static LIST_PARAMS: Schema = Schema::object(&[], &[]);
pub(crate) static REQUEST_ID_PARAMS: Schema =
    Schema::object(&[Property::new("requestId", ID)], &["requestId"]);
pub(crate) static NODE_ID_PARAMS: Schema =
    Schema::object(&[Property::new("nodeId", ID)], &["nodeId"]);
pub(crate) static RENAME_PARAMS: Schema = Schema::object(
    &[
        Property::new("nodeId", ID),
        Property::new("displayName", ID),
    ],
    &["nodeId", "displayName"],
);
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
pub(crate) static APPROVALS_SET_PARAMS: Schema = Schema::object(
    &[
        Property::new("nodeId", ID),
        Property::new("file", Schema::Any),
        Property::new("native", Schema::Any),
        Property::new("baseHash", ID),
    ],
    &["nodeId"],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIdParams {
    request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeIdParams {
    node_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenameParams {
    node_id: String,
    display_name: String,
}

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

fn unknown(what: &str) -> ErrorShape {
    ErrorShape::invalid_request(format!("unknown {what}"))
}

pub(crate) fn pair_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let caller = Caller::of(hub, call);
    let mine = |id: &str| caller.admin || caller.device_id.as_deref().is_none_or(|own| own == id);
    let mut pending = Vec::new();
    let mut paired = Vec::new();
    for device in hub.pairing.paired_list() {
        if !mine(&device.device_id) {
            continue;
        }
        if let Some(p) = surface::pending(device) {
            pending.push(surface::public_pending(device, &p));
        }
        if let Some(node) = surface::paired_node(device) {
            paired.push(node);
        }
    }
    pending.sort_by_key(|p| std::cmp::Reverse(p["ts"].as_u64().unwrap_or(0)));
    paired.sort_by_key(|p| std::cmp::Reverse(p["approvedAtMs"].as_u64().unwrap_or(0)));
    hub.out.respond_ok(
        call.conn,
        call.id,
        &json!({ "pending": pending, "paired": paired }),
    );
}

/// A device-token caller without admin may decide only its own node's
/// request (an unknown one it may not probe).
fn owns_request(hub: &HubView<'_>, caller: &Caller, request_id: &str) -> bool {
    if caller.device_id.is_none() || caller.admin {
        return true;
    }
    surface::find_pending(hub.pairing, request_id)
        .is_some_and(|d| !caller.denied_other_device(&d.device_id))
}

pub(crate) fn pair_approve(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RequestIdParams);
    let request_id = params.request_id.trim().to_owned();
    let caller = Caller::of(hub, call);
    if !owns_request(hub, &caller, &request_id) {
        let error = ErrorShape::invalid_request("node pairing approval denied");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    match surface::approve(
        hub.pairing,
        &request_id,
        &caller.scopes,
        now_ms,
        &mut changes,
    ) {
        Ok(Some((node_id, node))) => {
            let events = vec![PairingEvent::NodeResolved {
                request_id: request_id.clone(),
                node_id,
                decision: "approved",
                ts: now_ms,
            }];
            let payload = json!({ "requestId": request_id, "node": node });
            hub.commit_pairing(changes, reply(call, payload, events, None), before);
        }
        Ok(None) => hub
            .out
            .respond_error(call.conn, call.id, &unknown("requestId")),
        Err(surface::MissingScope(missing)) => {
            let required: &[&str] = if missing == "operator.pairing" {
                &["operator.pairing"]
            } else {
                &["operator.pairing", missing]
            };
            let error = missing_scope_of(missing, required, call.session.protocol);
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}

pub(crate) fn pair_reject(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RequestIdParams);
    let request_id = params.request_id.trim().to_owned();
    let caller = Caller::of(hub, call);
    if !owns_request(hub, &caller, &request_id) {
        let error = ErrorShape::invalid_request("node pairing rejection denied");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    match surface::reject(hub.pairing, &request_id, &mut changes) {
        Some(node_id) => {
            let events = vec![PairingEvent::NodeResolved {
                request_id: request_id.clone(),
                node_id: node_id.clone(),
                decision: "rejected",
                ts: now_ms,
            }];
            let payload = json!({ "requestId": request_id, "nodeId": node_id });
            hub.commit_pairing(changes, reply(call, payload, events, None), before);
        }
        None => hub
            .out
            .respond_error(call.conn, call.id, &unknown("requestId")),
    }
}

pub(crate) fn pair_remove(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, NodeIdParams);
    let node_id = params.node_id.trim().to_owned();
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("node pairing removal denied");
    let known = hub.pairing.paired(&node_id).is_some_and(|d| {
        crate::gateway::pairing::approved_roles(d)
            .iter()
            .any(|r| r == "node")
    });
    if !known {
        return hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId"));
    }
    // Managing a node role takes admin for a device-token caller.
    if caller.denied_other_device(&node_id) || (caller.device_id.is_some() && !caller.admin) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    if surface::remove_node_role(hub.pairing, &node_id, now_ms, &mut changes).is_none() {
        return hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId"));
    }
    let events = vec![PairingEvent::NodeResolved {
        request_id: String::new(),
        node_id: node_id.clone(),
        decision: "removed",
        ts: now_ms,
    }];
    let payload = json!({ "nodeId": node_id });
    let after = reply(
        call,
        payload,
        events,
        Some((node_id, Some("node".to_owned()))),
    );
    hub.commit_pairing(changes, after, before);
}

pub(crate) fn rename(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RenameParams);
    let caller = Caller::of(hub, call);
    if caller.denied_other_device(&params.node_id) {
        let error = ErrorShape::invalid_request("node rename denied");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let name = params.display_name.trim().to_owned();
    if name.is_empty() {
        let error = ErrorShape::invalid_request("displayName required");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    match surface::rename(hub.pairing, params.node_id.trim(), &name, &mut changes) {
        Some(node) => {
            let payload = json!({ "nodeId": node["nodeId"], "displayName": node["displayName"] });
            hub.commit_pairing(changes, reply(call, payload, Vec::new(), None), before);
        }
        None => hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId")),
    }
}

fn reply(
    call: &Call<'_>,
    payload: Value,
    events: Vec<PairingEvent>,
    disconnect: Option<(String, Option<String>)>,
) -> AfterWrite {
    AfterWrite::Reply {
        conn: call.conn,
        request_id: call.id.to_owned(),
        payload,
        events,
        disconnect,
    }
}

/// What a reader may see of a node.
fn for_reader(hub: &HubView<'_>, call: &Call<'_>, node: Value) -> Option<Value> {
    if call.session.scopes.satisfies(Scope::Pairing) {
        return Some(node);
    }
    let own = hub
        .out
        .conns
        .get(call.conn)
        .and_then(|e| e.device_id.as_deref());
    catalog::redact_for_reader(node, own)
}

pub(crate) fn list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let nodes: Vec<Value> = catalog::list(hub.pairing, hub.nodes)
        .into_iter()
        .filter_map(|n| for_reader(hub, call, n))
        .collect();
    let ts = hub.clock.unix_ms(hub.now);
    hub.out
        .respond_ok(call.conn, call.id, &json!({ "ts": ts, "nodes": nodes }));
}

pub(crate) fn describe(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, NodeIdParams);
    let id = params.node_id.trim();
    if id.is_empty() {
        let error = ErrorShape::invalid_request("nodeId required");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let node = catalog::describe(hub.pairing, hub.nodes, id).and_then(|n| for_reader(hub, call, n));
    let Some(Value::Object(mut node)) = node else {
        return hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId"));
    };
    node.insert("ts".into(), json!(hub.clock.unix_ms(hub.now)));
    hub.out.respond_ok(call.conn, call.id, &node);
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
    let Some(session) = hub.nodes.get(&node_id) else {
        let error =
            ErrorShape::new(ErrorCode::Unavailable, "node not connected").with_details(json!({
                "code": "NOT_CONNECTED",
                "nodeError": { "code": "NOT_CONNECTED", "message": "node not connected" },
                "nodeCommandDispatched": false,
            }));
        return hub.out.respond_error(call.conn, call.id, &error);
    };
    let platform = Platform::classify(Some(&session.platform), session.device_family.as_deref());
    let rules = &hub.config.node_commands;
    let allow = allowlist(rules, platform, &session.commands, Purpose::Invoke);
    if let Err(refusal) = check_invoke(&command, &session.commands, &allow) {
        let pending = session.declared_commands.contains(&command);
        let label = if session.platform.is_empty() {
            "unknown"
        } else {
            session.platform.as_str()
        };
        let message = refusal.hint(&command, label, rules, pending);
        let error = refuse(
            &message,
            json!({ "reason": refusal.reason(), "command": command }),
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let node_conn = session.conn;
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

/// Register `pending` and send the request to its node.
fn dispatch(
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
    if invoke.reply.is_invoke() {
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

/// Bounds of a node's advertised catalogs.
const MAX_PLUGIN_TOOLS: usize = 256;
const MAX_SKILLS: usize = 64;

pub(crate) static PLUGIN_TOOLS_PARAMS: Schema = Schema::object(
    &[Property::new("tools", Schema::array_of(&Schema::Any))],
    &["tools"],
);
pub(crate) static SKILLS_PARAMS: Schema = Schema::object(
    &[Property::new("skills", Schema::array_of(&Schema::Any))],
    &["skills"],
);

/// Replace one of the calling node's advertised catalogs; answers
/// `{nodeId, <key>}` with what is now held.
fn update_catalog(
    hub: &mut HubView<'_>,
    call: &Call<'_>,
    key: &str,
    max: usize,
    store: fn(&mut crate::gateway::nodes::NodeSession) -> &mut Vec<Value>,
) {
    #[derive(Deserialize)]
    struct Items {
        #[serde(default)]
        tools: Vec<Value>,
        #[serde(default)]
        skills: Vec<Value>,
    }
    let items = params_or_answer!(hub, call, Items);
    let list = if key == "tools" {
        items.tools
    } else {
        items.skills
    };
    if list.len() > max {
        let error = ErrorShape::invalid_request(format!(
            "invalid {} params: at /{key}: must NOT have more than {max} items",
            call.method
        ));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let node_id = hub.nodes.by_conn(call.conn).map(|s| s.node_id.clone());
    let Some(session) = node_id.as_deref().and_then(|id| hub.nodes.get_mut(id)) else {
        return hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId"));
    };
    *store(session) = list;
    let answer = json!({ "nodeId": session.node_id, key: store(session) });
    hub.out.respond_ok(call.conn, call.id, &answer);
}

pub(crate) fn plugin_tools_update(hub: &mut HubView<'_>, call: &Call<'_>) {
    update_catalog(hub, call, "tools", MAX_PLUGIN_TOOLS, |s| {
        &mut s.plugin_tools
    });
}

pub(crate) fn skills_update(hub: &mut HubView<'_>, call: &Call<'_>) {
    update_catalog(hub, call, "skills", MAX_SKILLS, |s| &mut s.skills);
}

/// `node.runnerInventory.update`: this gateway runs no worker sessions, so
/// a node's runner inventory is acknowledged and not used.
pub(crate) fn runner_inventory_update(hub: &mut HubView<'_>, call: &Call<'_>) {
    let Some(node_id) = hub.nodes.by_conn(call.conn).map(|s| s.node_id.clone()) else {
        return hub
            .out
            .respond_error(call.conn, call.id, &unknown("nodeId"));
    };
    hub.out
        .respond_ok(call.conn, call.id, &json!({ "nodeId": node_id }));
}

/// `exec.approvals.node.get|set`: read or write a node's own exec
/// approvals, through the node (`system.execApprovals.get|set`).
pub(crate) fn approvals_node_get(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p = params_or_answer!(hub, call, NodeIdParams);
    route_approvals(
        hub,
        call,
        p.node_id.trim(),
        "system.execApprovals.get",
        None,
    );
}

pub(crate) fn approvals_node_set(hub: &mut HubView<'_>, call: &Call<'_>) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SetParams {
        node_id: String,
        file: Option<Value>,
        native: Option<Value>,
        base_hash: Option<String>,
    }
    let p = params_or_answer!(hub, call, SetParams);
    let one_owner = match (&p.file, &p.native) {
        (Some(_), None) => true,
        (None, Some(_)) => p.base_hash.is_some(),
        _ => false,
    };
    if !one_owner {
        let error = ErrorShape::invalid_request(
            "invalid exec.approvals.node.set params: must match exactly one schema in oneOf",
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let mut params = serde_json::Map::new();
    if let Some(file) = p.file {
        params.insert("file".into(), file);
    }
    if let Some(native) = p.native {
        params.insert("native".into(), native);
    }
    if let Some(hash) = p.base_hash {
        params.insert("baseHash".into(), json!(hash));
    }
    let params = Value::Object(params);
    route_approvals(
        hub,
        call,
        p.node_id.trim(),
        "system.execApprovals.set",
        Some(params),
    );
}

fn route_approvals(
    hub: &mut HubView<'_>,
    call: &Call<'_>,
    node_id: &str,
    command: &str,
    params: Option<Value>,
) {
    let Some(session) = hub.nodes.get(node_id) else {
        let error = node_error("NOT_CONNECTED", "node not connected", false);
        return hub.out.respond_error(call.conn, call.id, &error);
    };
    if !session.commands.iter().any(|c| c == command) {
        let error = ErrorShape::invalid_request(format!("node does not support {command}"));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let invoke_id = hub.rng.uuid_v4();
    let node_conn = session.conn;
    let payload = json!({
        "id": invoke_id,
        "nodeId": node_id,
        "command": command,
        "paramsJSON": params.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string),
        "timeoutMs": DEFAULT_TIMEOUT_MS,
        "idempotencyKey": invoke_id,
    });
    let pending = PendingInvoke {
        node_id: node_id.to_owned(),
        node_conn,
        caller: call.conn,
        request_id: call.id.to_owned(),
        command: command.to_owned(),
        deadline: hub.now + std::time::Duration::from_millis(DEFAULT_TIMEOUT_MS),
        reply: Reply::Payload,
        next_progress: 0,
    };
    dispatch(hub, call, invoke_id, pending, &payload);
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

/// `exec.approvals.get`: the gateway host's own exec approvals, read by the
/// runtime (its state dir's `exec_approvals_config`).
pub(crate) fn approvals_get(hub: &mut HubView<'_>, call: &Call<'_>) {
    use crate::gateway::effects::{Request, Waiter};
    let request = Request {
        waiter: Some(Waiter::Request {
            conn: call.conn,
            request_id: call.id.to_owned(),
        }),
        commits: false,
        store: None,
        deadline: true,
    };
    let started = hub.effects.start(request, hub.now, |token| {
        crate::gateway::Effect::ReadExecApprovals { token }
    });
    match started {
        Ok(Some(effect)) => hub.out.effect(effect),
        Ok(None) => {}
        Err(_) => {
            let error = ErrorShape::new(ErrorCode::Unavailable, "too many reads in flight")
                .with_retry_after(100);
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}
