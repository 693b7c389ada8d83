//! A node's command surface on its paired-device row: the approved one
//! (`nodeSurface`) and the one awaiting an operator (`pendingNodeSurface`),
//! shaped as the reference stores them, so either gateway reads the other's
//! rows. Keys this gateway does not interpret are kept verbatim.
//!
//! Rules (the reference's node pairing kernel):
//! - a surface request needs a paired device; there is at most one per
//!   node; a reconnect declaring the same sets refreshes it (new revision,
//!   same `requestId`), a different one replaces it;
//! - surface requests never expire;
//! - approving needs the operator scopes the declared commands call for
//!   ([`super::policy::approve_scopes`]).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::policy::{approve_scopes, normalize_list};
use crate::gateway::pairing::{approved_roles, PairedDevice, PairingBook, PairingChange};
use crate::ids::Rng;

/// `pendingNodeSurface`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingSurface {
    pub(crate) request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) core_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ui_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) device_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) caps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) commands: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) permissions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) silent: Option<bool>,
    #[serde(default)]
    pub(crate) ts: u64,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// `nodeSurface`: what an operator approved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApprovedSurface {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) core_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ui_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) caps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) commands: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) permissions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bins: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_host: Option<bool>,
    #[serde(default)]
    pub(crate) created_at_ms: u64,
    #[serde(default)]
    pub(crate) approved_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_connected_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_disconnected_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_host_stats: Option<Value>,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// A row's surfaces, read leniently: a malformed one counts as absent.
pub(crate) fn approved(device: &PairedDevice) -> Option<ApprovedSurface> {
    serde_json::from_value(device.node_surface.clone()?).ok()
}

pub(crate) fn pending(device: &PairedDevice) -> Option<PendingSurface> {
    serde_json::from_value(device.pending_node_surface.clone()?).ok()
}

fn to_value<T: Serialize>(surface: &T) -> Option<Value> {
    serde_json::to_value(surface).ok()
}

/// What a connecting node declares (after policy).
#[derive(Clone, Debug, Default)]
pub(crate) struct SurfaceAsk {
    pub(crate) node_id: String,
    pub(crate) client_id: Option<String>,
    pub(crate) client_mode: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) platform: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) device_family: Option<String>,
    pub(crate) model_identifier: Option<String>,
    pub(crate) caps: Vec<String>,
    pub(crate) commands: Vec<String>,
    pub(crate) permissions: Option<Value>,
    pub(crate) remote_ip: Option<String>,
    pub(crate) silent: bool,
}

/// The outcome of a surface request.
pub(crate) struct Requested {
    /// The public request (`node.pair.requested` payload).
    pub(crate) request: Value,
    /// A new request (not a refresh of the same surface).
    pub(crate) created: bool,
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let a: std::collections::BTreeSet<&str> = a.iter().map(|s| s.trim()).collect();
    let b: std::collections::BTreeSet<&str> = b.iter().map(|s| s.trim()).collect();
    a == b
}

/// Ask for approval of `ask`'s surface. `None` when the node is not a
/// paired device.
pub(crate) fn request(
    book: &mut PairingBook,
    ask: &SurfaceAsk,
    now_ms: u64,
    rng: &mut Rng,
    changes: &mut Vec<PairingChange>,
) -> Option<Requested> {
    let device = book.paired(&ask.node_id)?;
    let existing = pending(device);
    let same = existing.as_ref().is_some_and(|e| {
        same_set(e.caps.as_deref().unwrap_or(&[]), &ask.caps)
            && same_set(e.commands.as_deref().unwrap_or(&[]), &ask.commands)
            && e.permissions == ask.permissions
    });
    let revision = rng.uuid_v4();
    let (surface, created) = match existing {
        Some(e) if same => {
            let silent = e.silent == Some(true) && ask.silent;
            let refreshed = PendingSurface {
                revision: Some(revision),
                client_id: ask.client_id.clone().or(e.client_id),
                client_mode: ask.client_mode.clone().or(e.client_mode),
                display_name: ask.display_name.clone().or(e.display_name),
                platform: ask.platform.clone().or(e.platform),
                version: ask.version.clone().or(e.version),
                device_family: ask.device_family.clone().or(e.device_family),
                model_identifier: ask.model_identifier.clone().or(e.model_identifier),
                caps: Some(ask.caps.clone()),
                commands: Some(ask.commands.clone()),
                permissions: ask.permissions.clone().or(e.permissions),
                remote_ip: ask.remote_ip.clone().or(e.remote_ip),
                silent: Some(silent),
                ts: now_ms,
                ..e
            };
            (refreshed, false)
        }
        _ => {
            let fresh = PendingSurface {
                request_id: rng.uuid_v4(),
                revision: Some(revision),
                client_id: ask.client_id.clone(),
                client_mode: ask.client_mode.clone(),
                display_name: ask.display_name.clone(),
                platform: ask.platform.clone(),
                version: ask.version.clone(),
                device_family: ask.device_family.clone(),
                model_identifier: ask.model_identifier.clone(),
                caps: Some(normalize_list(&ask.caps)),
                commands: Some(normalize_list(&ask.commands)),
                permissions: ask.permissions.clone(),
                remote_ip: ask.remote_ip.clone(),
                silent: ask.silent.then_some(true),
                ts: now_ms,
                ..PendingSurface::default()
            };
            (fresh, true)
        }
    };
    let stored = to_value(&surface)?;
    let mut public = Value::Null;
    book.update_paired(&ask.node_id, changes, |d| {
        d.pending_node_surface = Some(stored);
        public = public_pending(d, &surface);
    });
    Some(Requested {
        request: public,
        created,
    })
}

/// `node.pair.requested` / `node.pair.list` pending entry.
pub(crate) fn public_pending(device: &PairedDevice, p: &PendingSurface) -> Value {
    let commands = p.commands.clone().unwrap_or_default();
    let mut out = json!({
        "requestId": p.request_id,
        "nodeId": device.device_id,
    });
    let fields = [
        ("clientId", p.client_id.clone().or(device.client_id.clone())),
        (
            "clientMode",
            p.client_mode.clone().or(device.client_mode.clone()),
        ),
        (
            "displayName",
            p.display_name.clone().or(device.display_name.clone()),
        ),
        ("platform", p.platform.clone().or(device.platform.clone())),
        ("version", p.version.clone()),
        ("coreVersion", p.core_version.clone()),
        ("uiVersion", p.ui_version.clone()),
        (
            "deviceFamily",
            p.device_family.clone().or(device.device_family.clone()),
        ),
        ("modelIdentifier", p.model_identifier.clone()),
    ];
    put_strings(&mut out, fields);
    if let Some(caps) = &p.caps {
        out["caps"] = json!(caps);
    }
    if let Some(commands) = &p.commands {
        out["commands"] = json!(commands);
    }
    out["requiredApproveScopes"] = json!(approve_scopes(&commands));
    if let Some(permissions) = &p.permissions {
        out["permissions"] = permissions.clone();
    }
    if let Some(ip) = p.remote_ip.clone().or(device.remote_ip.clone()) {
        out["remoteIp"] = json!(ip);
    }
    if let Some(silent) = p.silent {
        out["silent"] = json!(silent);
    }
    out["ts"] = json!(p.ts);
    out
}

/// `node.pair.list` paired entry / `node.pair.approve` `node`: `None`
/// without an approved surface.
pub(crate) fn paired_node(device: &PairedDevice) -> Option<Value> {
    let s = approved(device)?;
    let mut out = json!({ "nodeId": device.device_id });
    put_strings(
        &mut out,
        [
            ("clientId", device.client_id.clone()),
            ("clientMode", device.client_mode.clone()),
            (
                "displayName",
                s.display_name.clone().or(device.display_name.clone()),
            ),
            ("platform", device.platform.clone()),
            ("version", s.version.clone()),
            ("coreVersion", s.core_version.clone()),
            ("uiVersion", s.ui_version.clone()),
            ("deviceFamily", device.device_family.clone()),
            ("modelIdentifier", s.model_identifier.clone()),
        ],
    );
    if let Some(caps) = &s.caps {
        out["caps"] = json!(caps);
    }
    if let Some(commands) = &s.commands {
        out["commands"] = json!(commands);
    }
    if let Some(permissions) = &s.permissions {
        out["permissions"] = permissions.clone();
    }
    if let Some(ip) = &device.remote_ip {
        out["remoteIp"] = json!(ip);
    }
    if let Some(bins) = &s.bins {
        out["bins"] = bins.clone();
    }
    if s.session_host == Some(true) {
        out["sessionHost"] = json!(true);
    }
    out["createdAtMs"] = json!(s.created_at_ms);
    out["approvedAtMs"] = json!(s.approved_at_ms);
    let optional = [
        ("lastConnectedAtMs", s.last_connected_at_ms.map(Value::from)),
        (
            "lastDisconnectedAtMs",
            s.last_disconnected_at_ms.map(Value::from),
        ),
        ("lastHostStats", s.last_host_stats.clone()),
        ("lastSeenAtMs", device.last_seen_at_ms.map(Value::from)),
        (
            "lastSeenReason",
            device.last_seen_reason.clone().map(Value::from),
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    Some(out)
}

fn put_strings<const N: usize>(out: &mut Value, fields: [(&str, Option<String>); N]) {
    for (key, value) in fields {
        if let Some(value) = value {
            out[key] = json!(value);
        }
    }
}

/// The device whose pending surface is `request_id`.
pub(crate) fn find_pending<'b>(
    book: &'b PairingBook,
    request_id: &str,
) -> Option<&'b PairedDevice> {
    book.paired_list()
        .into_iter()
        .find(|d| pending(d).is_some_and(|p| p.request_id == request_id))
}

/// Approval refused: the caller lacks this scope.
#[derive(Debug)]
pub(crate) struct MissingScope(pub(crate) &'static str);

/// Approve the pending surface `request_id`: `Ok(None)` if unknown, else
/// the node id and its paired-node object.
pub(crate) fn approve(
    book: &mut PairingBook,
    request_id: &str,
    caller_scopes: &[String],
    now_ms: u64,
    changes: &mut Vec<PairingChange>,
) -> Result<Option<(String, Value)>, MissingScope> {
    let Some(device) = find_pending(book, request_id) else {
        return Ok(None);
    };
    let pending = pending(device).unwrap_or_default();
    let commands = pending.commands.clone().unwrap_or_default();
    let holds = |scope: &str| {
        caller_scopes
            .iter()
            .any(|s| s == scope || s == "operator.admin")
    };
    if let Some(missing) = approve_scopes(&commands).into_iter().find(|s| !holds(s)) {
        return Err(MissingScope(missing));
    }
    let node_id = device.device_id.clone();
    let previous = approved(device);
    let now = previous
        .as_ref()
        .map_or(now_ms, |p| now_ms.max(p.approved_at_ms + 1));
    let surface = ApprovedSurface {
        display_name: previous
            .as_ref()
            .and_then(|p| p.display_name.clone())
            .or(pending.display_name.clone()),
        version: pending.version.clone(),
        core_version: pending.core_version.clone(),
        ui_version: pending.ui_version.clone(),
        model_identifier: pending.model_identifier.clone(),
        caps: pending.caps.clone(),
        commands: pending.commands.clone(),
        permissions: pending.permissions.clone(),
        bins: previous.as_ref().and_then(|p| p.bins.clone()),
        created_at_ms: previous.as_ref().map_or(now, |p| p.created_at_ms),
        approved_at_ms: now,
        last_connected_at_ms: previous.as_ref().and_then(|p| p.last_connected_at_ms),
        last_host_stats: previous.as_ref().and_then(|p| p.last_host_stats.clone()),
        ..ApprovedSurface::default()
    };
    let stored = to_value(&surface);
    let mut node = None;
    book.update_paired(&node_id, changes, |d| {
        d.node_surface = stored;
        d.pending_node_surface = None;
        node = paired_node(d);
    });
    Ok(node.map(|n| (node_id, n)))
}

/// Drop the pending surface `request_id`; the node id if there was one.
pub(crate) fn reject(
    book: &mut PairingBook,
    request_id: &str,
    changes: &mut Vec<PairingChange>,
) -> Option<String> {
    let node_id = find_pending(book, request_id)?.device_id.clone();
    book.update_paired(&node_id, changes, |d| d.pending_node_surface = None);
    Some(node_id)
}

/// Drop whatever surface is pending for `node_id` (a reconnect that needs
/// no approval any more); its request id if there was one.
pub(crate) fn clear_pending(
    book: &mut PairingBook,
    node_id: &str,
    changes: &mut Vec<PairingChange>,
) -> Option<String> {
    let request_id = pending(book.paired(node_id)?)?.request_id;
    book.update_paired(node_id, changes, |d| d.pending_node_surface = None);
    Some(request_id)
}

/// Rename an approved node: its paired-node object, `None` if it has none.
pub(crate) fn rename(
    book: &mut PairingBook,
    node_id: &str,
    display_name: &str,
    changes: &mut Vec<PairingChange>,
) -> Option<Value> {
    let mut surface = approved(book.paired(node_id)?)?;
    surface.display_name = Some(display_name.to_owned());
    let stored = to_value(&surface);
    let mut node = None;
    book.update_paired(node_id, changes, |d| {
        d.node_surface = stored;
        node = paired_node(d);
    });
    node
}

/// Record a connect or a disconnect on an approved surface.
pub(crate) fn record_connection(
    book: &mut PairingBook,
    node_id: &str,
    at_ms: u64,
    connected: bool,
    changes: &mut Vec<PairingChange>,
) {
    let Some(mut surface) = book.paired(node_id).and_then(approved) else {
        return;
    };
    if connected {
        surface.last_connected_at_ms =
            Some(surface.last_connected_at_ms.unwrap_or(at_ms).max(at_ms));
        if surface.last_disconnected_at_ms.is_some_and(|d| at_ms > d) {
            surface.last_disconnected_at_ms = None;
        }
    } else {
        surface.last_disconnected_at_ms =
            Some(surface.last_disconnected_at_ms.unwrap_or(at_ms).max(at_ms));
    }
    let stored = to_value(&surface);
    book.update_paired(node_id, changes, |d| d.node_surface = stored);
}

/// `node.pair.remove`: take the node role away. A device with other roles
/// keeps its row without the node role, token and surfaces; a node-only
/// device is removed. `None` when the device has no node role.
pub(crate) fn remove_node_role(
    book: &mut PairingBook,
    node_id: &str,
    now_ms: u64,
    changes: &mut Vec<PairingChange>,
) -> Option<bool> {
    let device = book.paired(node_id)?;
    let roles = approved_roles(device);
    if !roles.iter().any(|r| r == "node") {
        return None;
    }
    let others: Vec<String> = roles.into_iter().filter(|r| r != "node").collect();
    if others.is_empty() {
        book.remove(node_id, now_ms, changes);
        return Some(true);
    }
    book.update_paired(node_id, changes, |d| {
        if d.role.as_deref() == Some("node") {
            d.role = others.first().cloned();
        }
        d.roles = Some(others.clone());
        if let Some(tokens) = d.tokens.as_mut() {
            tokens.remove("node");
        }
        d.node_surface = None;
        d.pending_node_surface = None;
    });
    Some(false)
}
