//! `exec.approval.request|waitDecision|resolve|list|get`: a command waits
//! for an operator's decision (see [`crate::gateway::exec_approvals`]).
//!
//! The wire shapes are the reference's (`src/gateway/server-methods/exec-approval.ts`
//! and the shared approval helpers), without what needs agents: no cron
//! standing grants, no push or channel delivery, no shell analysis
//! (`commandAnalysis` is `null`), no secret redaction of the shown command.
//!
//! Our extension: the reference refuses every node-role caller here
//! ("unauthorized role: node"). We let a node ask for, and wait for, an
//! approval of a command it is about to run itself: `host: "node"` and
//! `nodeId` equal to its own device id. Anything else from a node gets
//! the reference's refusal. A node's approval is shown to every approvals
//! holder (the reference shows one only to its requester and to admins).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{Call, HubView};
use crate::gateway::exec_approvals::{
    Approval, Decision, Lookup, NewApproval, Outcome, Refused, Requester, Settled, Viewer,
    DEFAULT_TIMEOUT_MS,
};
use crate::gateway::registry::{EXEC_APPROVAL_REQUESTED_EVENT, EXEC_APPROVAL_RESOLVED_EVENT};
use crate::server::{Role, Scope};
use crate::wire::{ArrayRules, ErrorCode, ErrorShape, Property, Schema};
use crate::ConnId;

static TEXT: Schema = Schema::string(None, None);
static NON_EMPTY: Schema = Schema::string(Some(1), None);
static ALLOW_ALWAYS: Schema = Schema::Enum(&["allow-always"]);

/// The reference's closed params object; nullable fields are `Any` (the
/// handler reads only strings from them).
pub(crate) static REQUEST_PARAMS: Schema = Schema::object(
    &[
        Property::new("id", Schema::string(Some(1), None)),
        Property::new("command", Schema::string(Some(1), None)),
        Property::new(
            "commandArgv",
            Schema::Array(ArrayRules {
                items: &TEXT,
                min_items: None,
                max_items: None,
                unique_items: false,
            }),
        ),
        Property::new("systemRunPlan", Schema::Any),
        Property::new("env", Schema::Map(&TEXT)),
        Property::new("cwd", Schema::Any),
        Property::new("nodeId", Schema::Any),
        Property::new("host", Schema::Any),
        Property::new("security", Schema::Any),
        Property::new("ask", Schema::Any),
        Property::new("warningText", Schema::Any),
        Property::new("scope", Schema::Any),
        Property::new(
            "unavailableDecisions",
            Schema::Array(ArrayRules {
                items: &ALLOW_ALWAYS,
                min_items: Some(1),
                max_items: Some(1),
                unique_items: false,
            }),
        ),
        Property::new("commandSpans", Schema::Any),
        Property::new("agentId", Schema::Any),
        Property::new("resolvedPath", Schema::Any),
        Property::new("sessionKey", Schema::Any),
        Property::new("sessionId", Schema::Any),
        Property::new("runId", Schema::Any),
        Property::new("toolCallId", Schema::Any),
        Property::new("turnSourceChannel", Schema::Any),
        Property::new("turnSourceTo", Schema::Any),
        Property::new("turnSourceAccountId", Schema::Any),
        Property::new("turnSourceThreadId", Schema::Any),
        Property::new(
            "approvalReviewerDeviceIds",
            Schema::Array(ArrayRules {
                items: &NON_EMPTY,
                min_items: None,
                max_items: None,
                unique_items: false,
            }),
        ),
        Property::new("requireDeliveryRoute", Schema::Boolean),
        Property::new("suppressDelivery", Schema::Boolean),
        Property::new("deliverToApprovalClientsOnly", Schema::Boolean),
        Property::new("timeoutMs", Schema::integer(Some(1), None)),
        Property::new("twoPhase", Schema::Boolean),
    ],
    &[],
);
pub(crate) static RESOLVE_PARAMS: Schema = Schema::object(
    &[
        Property::new("id", Schema::string(Some(1), None)),
        Property::new("decision", Schema::string(Some(1), None)),
        Property::new("reviewer", Schema::Any),
        Property::new("grantExpiresInDays", Schema::integer(Some(1), Some(3650))),
    ],
    &["id", "decision"],
);
pub(crate) static GET_PARAMS: Schema = Schema::object(
    &[Property::new("id", Schema::string(Some(1), None))],
    &["id"],
);

/// The reference's display limits (UTF-16 units) for the shown command.
const DISPLAY_MAX_INPUT: usize = 262_144;
const DISPLAY_MAX_OUTPUT: usize = 16_384;
const RESERVED_ID_PREFIX: &str = "plugin:";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestParams {
    id: Option<String>,
    command: Option<String>,
    command_argv: Option<Vec<String>>,
    system_run_plan: Option<Value>,
    env: Option<std::collections::BTreeMap<String, String>>,
    cwd: Option<Value>,
    node_id: Option<Value>,
    host: Option<Value>,
    security: Option<Value>,
    ask: Option<Value>,
    warning_text: Option<Value>,
    scope: Option<Value>,
    unavailable_decisions: Option<Vec<String>>,
    agent_id: Option<Value>,
    resolved_path: Option<Value>,
    session_key: Option<Value>,
    session_id: Option<Value>,
    run_id: Option<Value>,
    tool_call_id: Option<Value>,
    turn_source_channel: Option<Value>,
    turn_source_to: Option<Value>,
    turn_source_account_id: Option<Value>,
    turn_source_thread_id: Option<Value>,
    require_delivery_route: Option<bool>,
    suppress_delivery: Option<bool>,
    timeout_ms: Option<u64>,
    two_phase: Option<bool>,
}

#[derive(Deserialize)]
struct ResolveParams {
    id: String,
    decision: String,
}

#[derive(Deserialize)]
struct IdParams {
    id: String,
}

/// A trimmed, non-empty string, or `None` (the reference's
/// `normalizeOptionalString` on an unknown value).
fn text(value: Option<&Value>) -> Option<String> {
    let trimmed = value?.as_str()?.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn null_or<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

/// The reference's display form of untrusted text: invisible and control
/// characters are shown as `\u{HEX}`; `None` when it is too long to show.
fn display_text(raw: &str) -> Option<String> {
    if raw.encode_utf16().count() > DISPLAY_MAX_INPUT {
        return None;
    }
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{{{:X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    (out.encode_utf16().count() <= DISPLAY_MAX_OUTPUT).then_some(out)
}

/// Control and format characters, line/paragraph separators and the odd
/// blank characters the reference escapes.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00A0}' | '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}'
            | '\u{070F}' | '\u{115F}' | '\u{1160}' | '\u{1680}' | '\u{180E}'
            | '\u{2000}'..='\u{200F}' | '\u{2028}'..='\u{202F}' | '\u{205F}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{3000}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// Shown text that is always short enough (labels, paths): escaped, and
/// cut to the display limit.
fn display_label(raw: &str) -> String {
    display_text(raw).unwrap_or_else(|| raw.chars().take(DISPLAY_MAX_OUTPUT).collect())
}

/// `host: "node"` requests carry a plan of what will run: argv, cwd,
/// the command text and the agent/session it runs for.
struct Plan {
    argv: Vec<String>,
    cwd: Option<String>,
    command_text: String,
    command_preview: Option<String>,
    agent_id: Option<String>,
    session_key: Option<String>,
    policy_snapshot: Option<Value>,
}

fn plan_of(value: Option<&Value>) -> Option<Plan> {
    let plan = value?.as_object()?;
    let argv: Vec<String> = plan
        .get("argv")?
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str().map(str::trim).filter(|a| !a.is_empty()))
        .map(str::to_owned)
        .collect();
    if argv.is_empty() {
        return None;
    }
    let command_text = text(plan.get("commandText")).or_else(|| text(plan.get("rawCommand")))?;
    Some(Plan {
        argv,
        cwd: text(plan.get("cwd")),
        command_preview: text(plan.get("commandPreview")),
        agent_id: text(plan.get("agentId")),
        session_key: text(plan.get("sessionKey")),
        policy_snapshot: plan.get("policySnapshot").cloned(),
        command_text,
    })
}

/// The env keys a request names, sorted, and the hash that binds their
/// values (`sha256` of the JSON `[[key, value], …]`, `null` when none).
fn env_binding(env: Option<&std::collections::BTreeMap<String, String>>) -> (Vec<String>, Value) {
    let entries: Vec<(String, String)> = env
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let key = k.trim();
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid.then(|| (key.to_owned(), v.clone()))
        })
        .collect();
    if entries.is_empty() {
        return (Vec::new(), Value::Null);
    }
    let json = serde_json::to_string(&entries).unwrap_or_default();
    let hash: String = Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (entries.into_iter().map(|(k, _)| k).collect(), hash.into())
}

/// The caller as an approval viewer.
fn viewer<'h>(hub: &'h HubView<'_>, call: &Call<'_>) -> Viewer<'h> {
    Viewer {
        conn: call.conn,
        device_id: hub
            .out
            .conns
            .get(call.conn)
            .and_then(|e| e.device_id.as_deref()),
        role: call.session.role,
        scopes: call.session.scopes,
    }
}

/// The approval clients that may see `approval`, except `exclude`: the
/// recipients of its events.
fn recipients(hub: &HubView<'_>, approval: &Approval, exclude: Option<ConnId>) -> Vec<ConnId> {
    let conns = &hub.out.conns;
    conns
        .ids()
        .into_iter()
        .filter(|&conn| Some(conn) != exclude)
        .filter(|&conn| {
            let Some(entry) = conns.get(conn) else {
                return false;
            };
            let Some(session) = entry.conn.session() else {
                return false;
            };
            let approval_client = hub
                .exec_approvals
                .client(conn)
                .is_some_and(|c| c.approval_client);
            let viewer = Viewer {
                conn,
                device_id: entry.device_id.as_deref(),
                role: session.role,
                scopes: session.scopes,
            };
            session.role == Role::Operator
                && session.scopes.satisfies(Scope::Approvals)
                && approval_client
                && approval.visible_to(&viewer)
        })
        .collect()
}

fn unauthorized_node() -> ErrorShape {
    ErrorShape::invalid_request("unauthorized role: node")
}

fn not_found() -> ErrorShape {
    ErrorShape::invalid_request("unknown or expired approval id").with_details(json!({
        "reason": "APPROVAL_NOT_FOUND",
        "remediation": "Re-request the action; pending approvals are cleared after expiry or restart.",
    }))
}

fn ambiguous() -> ErrorShape {
    ErrorShape::invalid_request("ambiguous approval id prefix; use the full id")
}

/// Answer the calls an approval owed, and tell its approvers when a
/// decision (or the timer's deny) was made.
pub(crate) fn publish_settled(hub: &mut HubView<'_>, settled: Settled, resolved_by: Option<&str>) {
    for (conn, call_id, payload) in &settled.answers {
        hub.out.respond_ok(*conn, call_id, payload);
    }
    crate::gateway::agents::tool_loop::on_approval_settled(hub, &settled.id);
    let Some(approval) = hub.exec_approvals.get(&settled.id) else {
        return;
    };
    let Some(outcome) = &approval.outcome else {
        return;
    };
    // Nobody could be asked: nobody is told.
    if outcome.terminal_reason == Some("no-route") {
        return;
    }
    let decision = outcome.decision.unwrap_or(Decision::Deny);
    let event = json!({
        "id": approval.id,
        "decision": decision.as_str(),
        "resolvedBy": resolved_by,
        "ts": hub.clock.unix_ms(hub.now),
        "request": approval.request,
    });
    let to = recipients(hub, approval, None);
    hub.out
        .broadcast_to(&EXEC_APPROVAL_RESOLVED_EVENT, &event, &to);
}

pub(crate) fn request(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: RequestParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let host = text(p.host.as_ref()).unwrap_or_default();
    let node_id = text(p.node_id.as_ref()).unwrap_or_default();
    let own_device = viewer(hub, call).device_id.map(str::to_owned);
    let is_node = call.session.role == Role::Node;
    if is_node && (host != "node" || own_device.as_deref() != Some(node_id.as_str())) {
        return hub
            .out
            .respond_error(call.conn, call.id, &unauthorized_node());
    }
    let plan = if host == "node" {
        plan_of(p.system_run_plan.as_ref())
    } else {
        None
    };
    let command_text = match &plan {
        Some(plan) => plan.command_text.clone(),
        None => p.command.clone().unwrap_or_default(),
    };
    let argv: Option<Vec<String>> = match &plan {
        Some(plan) => Some(plan.argv.clone()),
        None => p.command_argv.clone().filter(|a| !a.is_empty()),
    };
    let pick = |from_plan: Option<&Option<String>>, param: Option<&Value>| match from_plan {
        Some(Some(value)) => Some(value.clone()),
        _ => text(param),
    };
    let cwd = pick(plan.as_ref().map(|p| &p.cwd), p.cwd.as_ref());
    let agent_id = pick(plan.as_ref().map(|p| &p.agent_id), p.agent_id.as_ref());
    let session_key = pick(
        plan.as_ref().map(|p| &p.session_key),
        p.session_key.as_ref(),
    );
    let refuse = |hub: &mut HubView<'_>, message: &str| {
        let error = ErrorShape::invalid_request(message);
        hub.out.respond_error(call.conn, call.id, &error);
    };
    if host == "node" && node_id.is_empty() {
        return refuse(hub, "nodeId is required for host=node");
    }
    if host == "node" && plan.is_none() {
        return refuse(hub, "systemRunPlan is required for host=node");
    }
    if command_text.trim().is_empty() {
        return refuse(hub, "command is required");
    }
    let explicit_id = p.id.clone().filter(|id| !id.is_empty());
    if explicit_id
        .as_deref()
        .is_some_and(|id| id.starts_with(RESERVED_ID_PREFIX))
    {
        return refuse(
            hub,
            &format!("approval ids starting with {RESERVED_ID_PREFIX} are reserved"),
        );
    }
    let Some(command) = display_text(&command_text) else {
        let error = ErrorShape::invalid_request("command exceeds exec approval display limit")
            .with_details(json!({"reason": "EXEC_APPROVAL_COMMAND_DISPLAY_LIMIT"}));
        return hub.out.respond_error(call.conn, call.id, &error);
    };
    if explicit_id
        .as_deref()
        .is_some_and(|id| hub.exec_approvals.contains(id))
    {
        return refuse(hub, "approval id already pending");
    }
    if let Some(id) = explicit_id.as_deref() {
        let safe = id.len() <= 128
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if !safe {
            let error = ErrorShape::invalid_request(
                "approval id must be 1-128 characters using only letters, numbers, '.', '_', ':', or '-', and cannot be '.' or '..'",
            )
            .with_details(json!({"code": "EXEC_APPROVAL_ID_INVALID", "reason": "INVALID_APPROVAL_ID"}));
            return hub.out.respond_error(call.conn, call.id, &error);
        }
    }

    let lower = |v: Option<&Value>| text(v).map(|s| s.to_lowercase());
    let security =
        lower(p.security.as_ref()).filter(|s| matches!(s.as_str(), "deny" | "allowlist" | "full"));
    let ask = lower(p.ask.as_ref()).filter(|s| matches!(s.as_str(), "off" | "on-miss" | "always"));
    let allow_always_unavailable = p
        .unavailable_decisions
        .as_ref()
        .is_some_and(|d| !d.is_empty());
    let mut allowed = vec![Decision::AllowOnce];
    if ask.as_deref() != Some("always") && !allow_always_unavailable {
        allowed.push(Decision::AllowAlways);
    }
    allowed.push(Decision::Deny);
    let (env_keys, env_hash) = env_binding(p.env.as_ref());
    let node = host == "node";

    let mut request = Map::new();
    request.insert("command".into(), command.into());
    if let (false, Some(argv)) = (node, &argv) {
        request.insert("commandArgv".into(), json!(argv));
    }
    if !env_keys.is_empty() {
        request.insert("envKeys".into(), json!(env_keys));
    }
    let binding = node.then(|| {
        json!({
            "argv": argv, "cwd": cwd, "agentId": agent_id, "sessionKey": session_key,
            "envHash": env_hash,
        })
    });
    request.insert("systemRunBinding".into(), null_or(binding));
    let plan_json = plan.as_ref().map(|plan| {
        let preview = plan
            .command_preview
            .clone()
            .or_else(|| text(p.command.as_ref().map(|c| Value::from(c.as_str())).as_ref()))
            .filter(|preview| *preview != plan.command_text);
        let mut value = json!({
            "argv": plan.argv, "cwd": plan.cwd, "commandText": plan.command_text,
            "commandPreview": preview, "agentId": plan.agent_id, "sessionKey": plan.session_key,
        });
        if let Some(snapshot) = &plan.policy_snapshot {
            value["policySnapshot"] = snapshot.clone();
        }
        value
    });
    request.insert("systemRunPlan".into(), null_or(plan_json));
    request.insert("cwd".into(), null_or(cwd.as_deref().map(display_label)));
    request.insert("nodeId".into(), null_or(node.then(|| node_id.clone())));
    request.insert(
        "host".into(),
        null_or((!host.is_empty()).then(|| display_label(&host))),
    );
    request.insert("security".into(), null_or(security));
    request.insert("ask".into(), null_or(ask));
    let warning = text(p.warning_text.as_ref()).map(|w| display_label(&w));
    request.insert("warningText".into(), null_or(warning));
    let scope = p.scope.clone().filter(|s| !s.is_null());
    request.insert("scope".into(), scope.unwrap_or(Value::Null));
    request.insert("commandAnalysis".into(), Value::Null);
    if allow_always_unavailable {
        request.insert("unavailableDecisions".into(), json!(["allow-always"]));
    }
    let allowed_names: Vec<&str> = allowed.iter().map(|d| d.as_str()).collect();
    request.insert("allowedDecisions".into(), json!(allowed_names));
    request.insert("agentId".into(), null_or(agent_id));
    let resolved_path = text(p.resolved_path.as_ref()).map(|r| display_label(&r));
    request.insert("resolvedPath".into(), null_or(resolved_path));
    request.insert("sessionKey".into(), null_or(session_key));
    for (key, value) in [
        ("sessionId", &p.session_id),
        ("runId", &p.run_id),
        ("toolCallId", &p.tool_call_id),
        ("turnSourceChannel", &p.turn_source_channel),
        ("turnSourceTo", &p.turn_source_to),
        ("turnSourceAccountId", &p.turn_source_account_id),
    ] {
        request.insert(key.into(), null_or(text(value.as_ref())));
    }
    let thread = p
        .turn_source_thread_id
        .clone()
        .filter(|t| t.is_string() || t.is_number());
    request.insert("turnSourceThreadId".into(), thread.unwrap_or(Value::Null));
    request.insert("cronExecutionSource".into(), Value::Null);
    request.insert("cronOperationBinding".into(), Value::Null);

    let id = explicit_id.unwrap_or_else(|| hub.rng.uuid_v4());
    let new = NewApproval {
        id: id.clone(),
        request: Value::Object(request),
        allowed,
        requester: Requester {
            conn: call.conn,
            device_id: own_device,
            node: is_node,
        },
        timeout_ms: p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
    };
    let now_ms = hub.clock.unix_ms(hub.now);
    match hub.exec_approvals.create(new, hub.now, now_ms) {
        Ok(_) => {}
        Err(Refused::Duplicate) => return refuse(hub, "approval id already pending"),
        Err(Refused::Full) => {
            let mut error = ErrorShape::new(
                ErrorCode::Unavailable,
                "too many pending exec approvals; resolve some or wait for them to expire",
            );
            error.retryable = Some(true);
            return hub.out.respond_error(call.conn, call.id, &error);
        }
    }
    hub.exec_approvals.park_request(&id, call.conn, call.id);
    let Some(approval) = hub.exec_approvals.get(&id) else {
        return;
    };
    let suppress = p.suppress_delivery == Some(true);
    let to = if suppress {
        Vec::new()
    } else {
        recipients(hub, approval, Some(call.conn))
    };
    let summary = approval.summary();
    let accepted = json!({
        "status": "accepted",
        "id": id,
        "deliveryRoute": if to.is_empty() { "none" } else { "approval-client" },
        "createdAtMs": approval.created_at_ms,
        "expiresAtMs": approval.expires_at_ms,
    });
    hub.out
        .broadcast_to(&EXEC_APPROVAL_REQUESTED_EVENT, &summary, &to);
    if to.is_empty() && p.require_delivery_route != Some(false) {
        // Nobody can decide: denied at once, with no decision.
        let no_route = Outcome {
            decision: None,
            terminal_reason: Some("no-route"),
        };
        if let Some(settled) = hub.exec_approvals.settle(&id, no_route, hub.now) {
            publish_settled(hub, settled, None);
        }
        return;
    }
    if p.two_phase == Some(true) {
        hub.out.respond_ok(call.conn, call.id, &accepted);
    }
}

/// Ask the approval clients to decide an agent's exec (`request` is the
/// event's `request` object). Every operator who may decide approvals sees
/// it, as for a node's request. Returns the approval's id, or `None` when
/// nobody could decide it (no approval client connected, or too many held).
pub(crate) fn request_for_tool(
    hub: &mut HubView<'_>,
    request: Value,
    ask_always: bool,
) -> Option<String> {
    let id = hub.rng.uuid_v4();
    let mut allowed = vec![Decision::AllowOnce];
    if !ask_always {
        allowed.push(Decision::AllowAlways);
    }
    allowed.push(Decision::Deny);
    let new = NewApproval {
        id: id.clone(),
        request,
        allowed,
        requester: Requester {
            // No connection asked: the gateway itself does.
            conn: ConnId(u64::MAX),
            device_id: None,
            node: true,
        },
        timeout_ms: DEFAULT_TIMEOUT_MS,
    };
    let now_ms = hub.clock.unix_ms(hub.now);
    hub.exec_approvals.create(new, hub.now, now_ms).ok()?;
    let approval = hub.exec_approvals.get(&id)?;
    let to = recipients(hub, approval, None);
    if to.is_empty() {
        let no_route = Outcome {
            decision: None,
            terminal_reason: Some("no-route"),
        };
        hub.exec_approvals.settle(&id, no_route, hub.now);
        return None;
    }
    let summary = approval.summary();
    hub.out
        .broadcast_to(&EXEC_APPROVAL_REQUESTED_EVENT, &summary, &to);
    Some(id)
}

pub(crate) fn wait_decision(hub: &mut HubView<'_>, call: &Call<'_>) {
    // The reference reads `id` without a params schema.
    let id = call
        .params::<Value>()
        .ok()
        .and_then(|p| text(p.get("id")))
        .unwrap_or_default();
    if id.is_empty() {
        let error = ErrorShape::invalid_request("id is required");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let viewer = viewer(hub, call);
    let visible = hub
        .exec_approvals
        .get(&id)
        .is_some_and(|a| a.visible_to(&viewer));
    let expired = || ErrorShape::invalid_request("approval expired or not found");
    if !visible {
        return hub.out.respond_error(call.conn, call.id, &expired());
    }
    match hub.exec_approvals.wait(&id, call.conn, call.id) {
        Ok(Some(payload)) => hub.out.respond_ok(call.conn, call.id, &payload),
        Ok(None) => {}
        Err(()) => hub.out.respond_error(call.conn, call.id, &expired()),
    }
}

pub(crate) fn resolve(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: ResolveParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let Some(decision) = Decision::parse(&p.decision) else {
        let error = ErrorShape::invalid_request("invalid decision");
        return hub.out.respond_error(call.conn, call.id, &error);
    };
    let viewer = viewer(hub, call);
    let id = match hub
        .exec_approvals
        .lookup(&p.id, true, |a| a.visible_to(&viewer))
    {
        Lookup::Found(id) => id,
        Lookup::Ambiguous => return hub.out.respond_error(call.conn, call.id, &ambiguous()),
        Lookup::None => {
            // Already decided: the same decision again is fine.
            let decided = hub
                .exec_approvals
                .lookup(&p.id, false, |a| a.visible_to(&viewer));
            let repeat = match decided {
                Lookup::Found(id) => hub.exec_approvals.get(&id).and_then(|a| a.outcome.clone()),
                _ => None,
            };
            return match repeat {
                Some(outcome) if outcome.decision == Some(decision) => {
                    hub.out.respond_ok(call.conn, call.id, &json!({"ok": true}))
                }
                Some(_) => {
                    let error = ErrorShape::invalid_request("approval already resolved")
                        .with_details(json!({"reason": "APPROVAL_ALREADY_RESOLVED"}));
                    hub.out.respond_error(call.conn, call.id, &error)
                }
                None => hub.out.respond_error(call.conn, call.id, &not_found()),
            };
        }
    };
    let allowed = hub
        .exec_approvals
        .get(&id)
        .is_some_and(|a| a.allowed.contains(&decision));
    if !allowed {
        let error = ErrorShape::invalid_request("allow-always is unavailable for this command")
            .with_details(json!({"reason": "APPROVAL_ALLOW_ALWAYS_UNAVAILABLE"}));
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let resolved_by = hub.exec_approvals.client(call.conn).map(|c| c.name.clone());
    // `waitDecision` then reports `terminalReason: "user"` (observed).
    let outcome = Outcome {
        decision: Some(decision),
        terminal_reason: Some("user"),
    };
    if let Some(settled) = hub.exec_approvals.settle(&id, outcome, hub.now) {
        publish_settled(hub, settled, resolved_by.as_deref());
    }
    hub.out.respond_ok(call.conn, call.id, &json!({"ok": true}));
}

pub(crate) fn list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let viewer = viewer(hub, call);
    let rows: Vec<Value> = hub
        .exec_approvals
        .pending()
        .filter(|a| a.visible_to(&viewer))
        .map(Approval::summary)
        .collect();
    hub.out.respond_ok(call.conn, call.id, &rows);
}

pub(crate) fn get(hub: &mut HubView<'_>, call: &Call<'_>) {
    let p: IdParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let viewer = viewer(hub, call);
    let id = match hub
        .exec_approvals
        .lookup(&p.id, true, |a| a.visible_to(&viewer))
    {
        Lookup::Found(id) => id,
        Lookup::Ambiguous => return hub.out.respond_error(call.conn, call.id, &ambiguous()),
        Lookup::None => return hub.out.respond_error(call.conn, call.id, &not_found()),
    };
    let Some(approval) = hub.exec_approvals.get(&id) else {
        return hub.out.respond_error(call.conn, call.id, &not_found());
    };
    let request = &approval.request;
    let command_text = request["command"].as_str().unwrap_or_default();
    let preview = request["systemRunPlan"]["commandPreview"]
        .as_str()
        .filter(|p| *p != command_text);
    let allowed: Vec<&str> = approval.allowed.iter().map(|d| d.as_str()).collect();
    let payload = json!({
        "id": approval.id,
        "commandText": command_text,
        "commandPreview": preview,
        "allowedDecisions": allowed,
        "host": request["host"],
        "nodeId": request["nodeId"],
        "agentId": request["agentId"],
        "expiresAtMs": approval.expires_at_ms,
    });
    hub.out.respond_ok(call.conn, call.id, &payload);
}
