//! The node objects of `node.list` and `node.describe`: every node the
//! gateway knows (a paired device with the node role, an approved or
//! pending surface, or a live session), merged as the reference does: live
//! facts first, then the approved surface, the device row, the pending
//! request.

use serde_json::{json, Map, Value};

use super::policy::sorted_unique;
use super::surface::{self, PendingSurface};
use super::{NodeSession, Nodes};
use crate::gateway::pairing::{approved_roles, PairedDevice, PairingBook};

/// One node's sources.
struct Sources<'a> {
    node_id: String,
    device: Option<&'a PairedDevice>,
    approved: Option<surface::ApprovedSurface>,
    pending: Option<PendingSurface>,
    live: Option<&'a NodeSession>,
}

fn first(values: &[Option<&str>]) -> Option<String> {
    values
        .iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

fn build(s: &Sources<'_>) -> Value {
    let device = s.device;
    let approved = s.approved.as_ref();
    let pending = s.pending.as_ref();
    let live = s.live;
    let mut out = Map::new();
    out.insert("nodeId".into(), json!(s.node_id));
    let strings: [(&str, Option<String>); 9] = [
        (
            "displayName",
            first(&[
                approved.and_then(|a| a.display_name.as_deref()),
                live.and_then(|l| l.display_name.as_deref()),
                device.and_then(|d| d.display_name.as_deref()),
                pending.and_then(|p| p.display_name.as_deref()),
            ]),
        ),
        (
            "platform",
            first(&[
                live.map(|l| l.platform.as_str()),
                device.and_then(|d| d.platform.as_deref()),
                pending.and_then(|p| p.platform.as_deref()),
            ]),
        ),
        (
            "version",
            first(&[
                live.map(|l| l.version.as_str()),
                approved.and_then(|a| a.version.as_deref()),
                pending.and_then(|p| p.version.as_deref()),
            ]),
        ),
        (
            "clientId",
            first(&[
                live.map(|l| l.client_id.as_str()),
                device.and_then(|d| d.client_id.as_deref()),
                pending.and_then(|p| p.client_id.as_deref()),
            ]),
        ),
        (
            "clientMode",
            first(&[
                live.map(|l| l.client_mode.as_str()),
                device.and_then(|d| d.client_mode.as_deref()),
                pending.and_then(|p| p.client_mode.as_deref()),
            ]),
        ),
        (
            "deviceFamily",
            first(&[
                live.and_then(|l| l.device_family.as_deref()),
                device.and_then(|d| d.device_family.as_deref()),
                pending.and_then(|p| p.device_family.as_deref()),
            ]),
        ),
        (
            "modelIdentifier",
            first(&[
                live.and_then(|l| l.model_identifier.as_deref()),
                approved.and_then(|a| a.model_identifier.as_deref()),
                pending.and_then(|p| p.model_identifier.as_deref()),
            ]),
        ),
        (
            "remoteIp",
            first(&[
                live.and_then(|l| l.remote_ip.as_deref()),
                device.and_then(|d| d.remote_ip.as_deref()),
                pending.and_then(|p| p.remote_ip.as_deref()),
            ]),
        ),
        ("pathEnv", live.and_then(|l| l.path_env.clone())),
    ];
    for (key, value) in strings {
        if let Some(value) = value {
            out.insert(key.into(), json!(value));
        }
    }
    let (caps, commands) = match live {
        Some(l) => (sorted_unique(&l.caps), sorted_unique(&l.commands)),
        None => (
            sorted_unique(approved.and_then(|a| a.caps.as_deref()).unwrap_or(&[])),
            sorted_unique(approved.and_then(|a| a.commands.as_deref()).unwrap_or(&[])),
        ),
    };
    out.insert("caps".into(), json!(caps));
    out.insert("commands".into(), json!(commands));
    out.insert(
        "sessionHost".into(),
        json!(live.is_none() && approved.and_then(|a| a.session_host) == Some(true)),
    );
    out.insert(
        "nodePluginTools".into(),
        json!(live.map_or(&[][..], |l| &l.plugin_tools[..])),
    );
    if let Some(permissions) = live
        .and_then(|l| l.permissions.clone())
        .or_else(|| approved.and_then(|a| a.permissions.clone()))
    {
        out.insert("permissions".into(), permissions);
    }
    let state = match (pending.is_some(), approved.is_some()) {
        (true, true) => "pending-reapproval",
        (true, false) => "pending-approval",
        (false, true) => "approved",
        (false, false) => "unapproved",
    };
    out.insert("approvalState".into(), json!(state));
    if let Some(p) = pending {
        out.insert("pendingRequestId".into(), json!(p.request_id));
        out.insert(
            "pendingDeclaredCaps".into(),
            json!(sorted_unique(p.caps.as_deref().unwrap_or(&[]))),
        );
        out.insert(
            "pendingDeclaredCommands".into(),
            json!(sorted_unique(p.commands.as_deref().unwrap_or(&[]))),
        );
        if let Some(permissions) = &p.permissions {
            out.insert("pendingDeclaredPermissions".into(), permissions.clone());
        }
    }
    let last_connected = [
        approved.and_then(|a| a.last_connected_at_ms),
        live.map(|l| l.connected_at_ms),
    ]
    .into_iter()
    .flatten()
    .max();
    let mut times: Vec<(&str, Option<u64>)> = vec![
        ("connectedAtMs", live.map(|l| l.connected_at_ms)),
        ("lastConnectedAtMs", last_connected),
        (
            "lastDisconnectedAtMs",
            live.is_none()
                .then(|| approved.and_then(|a| a.last_disconnected_at_ms))
                .flatten(),
        ),
    ];
    // The newest sighting and why.
    let seen = [
        live.map(|l| (l.connected_at_ms, Some("connect"))),
        approved
            .and_then(|a| a.last_connected_at_ms)
            .map(|at| (at, Some("connect"))),
        device.and_then(|d| {
            d.last_seen_at_ms
                .map(|at| (at, d.last_seen_reason.as_deref()))
        }),
    ]
    .into_iter()
    .flatten()
    .fold(None, |best: Option<(u64, Option<&str>)>, c| match best {
        Some(b) if b.0 >= c.0 => Some(b),
        _ => Some(c),
    });
    times.push(("lastSeenAtMs", seen.map(|s| s.0)));
    times.push((
        "approvedAtMs",
        approved
            .map(|a| a.approved_at_ms)
            .or(device.map(|d| d.approved_at_ms)),
    ));
    for (key, value) in times {
        if let Some(value) = value {
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(reason) = seen.and_then(|s| s.1) {
        out.insert("lastSeenReason".into(), json!(reason));
    }
    out.insert("paired".into(), json!(device.is_some()));
    out.insert("connected".into(), json!(live.is_some()));
    Value::Object(out)
}

/// Every known node, connected ones first, then by display name and id.
pub(crate) fn list(book: &PairingBook, nodes: &Nodes) -> Vec<Value> {
    let mut ids: Vec<String> = book
        .paired_list()
        .into_iter()
        .filter(|d| {
            approved_roles(d).iter().any(|r| r == "node")
                || d.node_surface.is_some()
                || d.pending_node_surface.is_some()
        })
        .map(|d| d.device_id.clone())
        .chain(nodes.sessions().map(|s| s.node_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut all: Vec<Value> = ids
        .into_iter()
        .map(|id| describe_known(book, nodes, &id))
        .collect();
    all.sort_by(|a, b| {
        let connected = |v: &Value| v["connected"].as_bool() == Some(true);
        let name = |v: &Value| {
            v["displayName"]
                .as_str()
                .or(v["nodeId"].as_str())
                .unwrap_or("")
                .to_lowercase()
        };
        connected(b)
            .cmp(&connected(a))
            .then_with(|| name(a).cmp(&name(b)))
            .then_with(|| a["nodeId"].as_str().cmp(&b["nodeId"].as_str()))
    });
    all
}

fn describe_known(book: &PairingBook, nodes: &Nodes, node_id: &str) -> Value {
    let device = book.paired(node_id);
    build(&Sources {
        node_id: node_id.to_owned(),
        device: device.filter(|d| approved_roles(d).iter().any(|r| r == "node")),
        approved: device.and_then(surface::approved),
        pending: device.and_then(surface::pending),
        live: nodes.get(node_id),
    })
}

/// One node, if known (paired or connected).
pub(crate) fn describe(book: &PairingBook, nodes: &Nodes, node_id: &str) -> Option<Value> {
    let node = describe_known(book, nodes, node_id);
    let known = node["paired"] == json!(true) || node["connected"] == json!(true);
    known.then_some(node)
}

/// A reader without `operator.pairing` sees no pending surface details
/// (only its own node's pending request id) and no node that is neither
/// paired nor connected.
pub(crate) fn redact_for_reader(mut node: Value, own_device: Option<&str>) -> Option<Value> {
    let known = node["paired"] == json!(true) || node["connected"] == json!(true);
    if !known {
        return None;
    }
    let own = own_device.is_some_and(|d| node["nodeId"].as_str() == Some(d));
    if let Some(map) = node.as_object_mut() {
        let request_id = map.remove("pendingRequestId");
        map.remove("pendingDeclaredCaps");
        map.remove("pendingDeclaredCommands");
        map.remove("pendingDeclaredPermissions");
        if own {
            if let Some(id) = request_id {
                map.insert("pendingRequestId".into(), id);
            }
        }
    }
    Some(node)
}
