//! Exec approvals on a node host and on the gateway host:
//! `exec.approvals.node.get|set` go through the node
//! (`system.execApprovals.get|set`); `exec.approvals.get` is read by the
//! runtime from the gateway host's state dir.

use serde::Deserialize;
use serde_json::{json, Value};

use super::node_invoke::dispatch;
use super::{Call, HubView};
use crate::gateway::nodes::hub::node_error;
use crate::gateway::nodes::invokes::{PendingInvoke, Reply, DEFAULT_TIMEOUT_MS};
use crate::wire::{ErrorShape, Property, Schema};

const ID: Schema = Schema::string(Some(1), None);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeIdParams {
    node_id: String,
}

pub(crate) static APPROVALS_SET_PARAMS: Schema = Schema::object(
    &[
        Property::new("nodeId", ID),
        Property::new("file", Schema::Any),
        Property::new("native", Schema::Any),
        Property::new("baseHash", ID),
    ],
    &["nodeId"],
);

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

/// `exec.approvals.get`: the gateway host's own exec approvals, read by the
/// runtime (its state dir's `exec_approvals_config`).
pub(crate) fn approvals_get(hub: &mut HubView<'_>, call: &Call<'_>) {
    hub.start_read(call, |token| crate::gateway::Effect::ReadExecApprovals {
        token,
    });
}
