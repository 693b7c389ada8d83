//! `node.pair.*`, `node.rename`, `node.list` and `node.describe`: operators
//! approve, rename and remove node surfaces and read the node catalog; and
//! the catalogs a node advertises about itself (`node.pluginTools.update`,
//! `node.skills.update`, `node.runnerInventory.update`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::devices::Caller;
use super::{Call, HubView};
use crate::gateway::nodes::{catalog, surface};
use crate::gateway::pairing::hub::{AfterWrite, PairingEvent};
use crate::gateway::registry::missing_scope_of;
use crate::server::Scope;
use crate::wire::{ErrorShape, Property, Schema};

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
