//! The hub's side of nodes: a node session opens (its surface reconciled
//! with the approved one), closes (its invokes fail), an approval reaches
//! the live node, and invokes time out.

use serde_json::{json, Value};

use super::invokes::{PendingInvoke, Reply};
use super::policy::{self, allowlist, normalize_declared, normalize_list, Platform, Purpose};
use super::surface::{self, SurfaceAsk};
use super::NodeSession;
use crate::gateway::pairing::hub::{AfterWrite, PairingEvent};
use crate::gateway::registry::{
    NODE_INVOKE_CANCEL_EVENT, NODE_PAIR_REQUESTED_EVENT, NODE_PAIR_RESOLVED_EVENT,
    VOICEWAKE_CHANGED_EVENT, VOICEWAKE_ROUTING_CHANGED_EVENT,
};
use crate::gateway::Gateway;
use crate::server::{ConnectRequest, Role};
use crate::time::Timestamp;
use crate::wire::{ErrorCode, ErrorShape};
use crate::ConnId;

/// Wake words a node hears by default (sent to it after hello).
const DEFAULT_VOICEWAKE_TRIGGERS: &[&str] = &["openclaw", "claude", "computer"];

impl Gateway {
    /// A node's session opened: reconcile what it declares with what was
    /// approved, register it, and send it the voice-wake snapshots.
    pub(crate) fn node_opened(&mut self, conn: ConnId, request: &ConnectRequest, now: Timestamp) {
        if request.role != Role::Node {
            return;
        }
        let params = &request.params;
        let client = &params.client;
        let node_id = request
            .device
            .as_ref()
            .map_or(client.id.as_str(), |d| d.id.as_str())
            .trim()
            .to_owned();
        let now_ms = self.clock.unix_ms(now);
        let peer_ip = self
            .conns
            .get(conn)
            .map(|e| e.conn.peer())
            .filter(|p| !p.is_local)
            .map(|p| p.ip.to_string());
        let platform = Platform::classify(Some(&client.platform), client.device_family.as_deref());
        let rules = &self.config.node_commands;
        let pairing_allow = allowlist(rules, platform, &[], Purpose::Pairing);
        let offered = normalize_declared(&params.commands);
        let (declared, withheld): (Vec<String>, Vec<String>) =
            offered.into_iter().partition(|c| pairing_allow.contains(c));
        let declared_caps =
            policy::retain_fulfilled_caps(normalize_list(&params.caps), &declared, &withheld);
        let permissions = (!params.permissions.is_empty()).then(|| json!(params.permissions));

        let before = self.pairing.clone();
        let mut changes = Vec::new();
        let mut events = Vec::new();
        let device = self.pairing.paired(&node_id);
        let approved = device.and_then(surface::approved);
        let silent_initial = device.is_some_and(|d| {
            matches!(
                d.approved_via.as_deref(),
                Some("silent" | "ssh-verified" | "bootstrap")
            )
        });
        let mut ask = SurfaceAsk {
            node_id: node_id.clone(),
            client_id: Some(client.id.clone()),
            client_mode: Some(client.mode.clone()),
            display_name: client.display_name.clone(),
            platform: Some(client.platform.clone()).filter(|p| !p.is_empty()),
            version: Some(client.version.clone()).filter(|v| !v.is_empty()),
            device_family: client.device_family.clone(),
            model_identifier: client.model_identifier.clone(),
            caps: declared_caps.clone(),
            commands: declared.clone(),
            permissions: permissions.clone(),
            remote_ip: peer_ip.clone(),
            silent: false,
        };
        let (caps, commands) = match approved {
            None => {
                ask.silent = silent_initial;
                self.request_surface(&ask, now_ms, &mut changes, &mut events);
                (Vec::new(), Vec::new())
            }
            Some(approved) => {
                let approved_commands: Vec<String> =
                    normalize_declared(approved.commands.as_deref().unwrap_or(&[]))
                        .into_iter()
                        .filter(|c| pairing_allow.contains(c))
                        .collect();
                let approved_caps = normalize_list(approved.caps.as_deref().unwrap_or(&[]));
                let wider = declared.iter().any(|c| !approved_commands.contains(c))
                    || declared_caps.iter().any(|c| !approved_caps.contains(c))
                    || permission_upgrade(permissions.as_ref(), approved.permissions.as_ref());
                if wider {
                    self.request_surface(&ask, now_ms, &mut changes, &mut events);
                } else if let Some(request_id) =
                    surface::clear_pending(&mut self.pairing, &node_id, &mut changes)
                {
                    events.push(PairingEvent::NodeResolved {
                        request_id,
                        node_id: node_id.clone(),
                        decision: "rejected",
                        ts: now_ms,
                    });
                }
                surface::record_connection(&mut self.pairing, &node_id, now_ms, true, &mut changes);
                let keep = |list: &[String], allowed: &[String]| -> Vec<String> {
                    list.iter()
                        .filter(|c| allowed.contains(c))
                        .cloned()
                        .collect()
                };
                (
                    keep(&declared_caps, &approved_caps),
                    keep(&declared, &approved_commands),
                )
            }
        };
        let session = NodeSession {
            node_id: node_id.clone(),
            conn,
            client_id: client.id.clone(),
            client_mode: client.mode.clone(),
            display_name: client.display_name.clone(),
            platform: client.platform.clone(),
            version: client.version.clone(),
            device_family: client.device_family.clone(),
            model_identifier: client.model_identifier.clone(),
            remote_ip: peer_ip,
            declared_caps,
            declared_commands: declared,
            caps,
            commands,
            permissions,
            path_env: params.path_env.clone(),
            connected_at_ms: now_ms,
            plugin_tools: Vec::new(),
            skills: Vec::new(),
        };
        if let Some(previous) = self.nodes.register(session) {
            if previous.conn != conn {
                self.fail_node_invokes(previous.conn, now);
            }
        }
        self.commit(changes, AfterWrite::Announce(events), before, now);
        let triggers = json!({ "triggers": DEFAULT_VOICEWAKE_TRIGGERS });
        let routing = json!({ "config": {
            "version": 1, "defaultTarget": { "mode": "current" }, "routes": [], "updatedAtMs": 0,
        }});
        let mut out = self.outbox();
        out.send_event(conn, &VOICEWAKE_CHANGED_EVENT, &triggers);
        out.send_event(conn, &VOICEWAKE_ROUTING_CHANGED_EVENT, &routing);
    }

    fn request_surface(
        &mut self,
        ask: &SurfaceAsk,
        now_ms: u64,
        changes: &mut Vec<crate::gateway::pairing::PairingChange>,
        events: &mut Vec<PairingEvent>,
    ) {
        let requested = surface::request(&mut self.pairing, ask, now_ms, &mut self.rng, changes);
        if let Some(requested) = requested.filter(|r| r.created) {
            events.push(PairingEvent::NodeRequested(Box::new(requested.request)));
        }
    }

    /// A connection closed: if it was a node's session, its invokes fail
    /// and its disconnect is recorded.
    pub(crate) fn node_closed(&mut self, conn: ConnId, now: Timestamp) {
        self.fail_node_invokes(conn, now);
        let Some(session) = self.nodes.unregister(conn) else {
            return;
        };
        if self.shutting_down {
            return;
        }
        let before = self.pairing.clone();
        let mut changes = Vec::new();
        let now_ms = self.clock.unix_ms(now);
        surface::record_connection(
            &mut self.pairing,
            &session.node_id,
            now_ms,
            false,
            &mut changes,
        );
        self.commit(changes, AfterWrite::Nothing, before, now);
    }

    /// Every invoke running on `node_conn` fails: the node went away.
    fn fail_node_invokes(&mut self, node_conn: ConnId, now: Timestamp) {
        for (_, invoke) in self.nodes.invokes.take_for_node_conn(node_conn) {
            let message = format!("node disconnected ({})", invoke.command);
            let error = node_error("DISCONNECTED", &message, true);
            self.answer_invoke(&invoke, error, now);
        }
    }

    /// Tell an invoke's caller it failed: an operator's request, or an
    /// agent's tool call.
    fn answer_invoke(&mut self, invoke: &PendingInvoke, error: ErrorShape, now: Timestamp) {
        match invoke.reply {
            Reply::Tool { token } => crate::gateway::agents::tool_loop::on_node_answer(
                &mut self.view(now),
                token,
                Err(error),
            ),
            Reply::Invoke | Reply::Payload => {
                self.outbox()
                    .respond_error(invoke.caller, &invoke.request_id, &error)
            }
        }
    }

    /// Invokes whose time ran out: the caller hears TIMEOUT, the node is
    /// told to cancel.
    pub(crate) fn expire_node_invokes(&mut self, now: Timestamp) {
        for (id, invoke) in self.nodes.invokes.take_expired(now) {
            let error = node_error("TIMEOUT", "node invoke timed out", true);
            self.answer_invoke(&invoke, error, now);
            if let Some(payload) = cancel_payload(&self.nodes, &id, &invoke) {
                self.outbox()
                    .send_event(invoke.node_conn, &NODE_INVOKE_CANCEL_EVENT, &payload);
            }
        }
    }

    /// Send the node events of a committed pairing change. An approval
    /// also narrows the live node's surface to what was approved and is
    /// sent to the node itself (without seq).
    pub(crate) fn send_node_event(&mut self, event: &PairingEvent) {
        match event {
            PairingEvent::NodeRequested(request) => {
                self.outbox()
                    .broadcast(&NODE_PAIR_REQUESTED_EVENT, &**request, false, |_| true)
            }
            PairingEvent::NodeResolved {
                request_id,
                node_id,
                decision,
                ts,
            } => {
                let payload = json!({
                    "requestId": request_id, "nodeId": node_id, "decision": decision, "ts": ts,
                });
                if *decision == "approved" {
                    self.refresh_live_surface(node_id, &payload);
                }
                self.outbox()
                    .broadcast(&NODE_PAIR_RESOLVED_EVENT, &payload, false, |_| true);
            }
            _ => {}
        }
    }

    fn refresh_live_surface(&mut self, node_id: &str, payload: &Value) {
        let Some(approved) = self.pairing.paired(node_id).and_then(surface::approved) else {
            return;
        };
        let Some(session) = self.nodes.get_mut(node_id) else {
            return;
        };
        session.apply_approved(
            approved.caps.as_deref().unwrap_or(&[]),
            approved.commands.as_deref().unwrap_or(&[]),
        );
        let conn = session.conn;
        self.outbox()
            .send_event(conn, &NODE_PAIR_RESOLVED_EVENT, payload);
    }
}

/// Does the node declare a permission the approved surface does not grant?
fn permission_upgrade(declared: Option<&Value>, approved: Option<&Value>) -> bool {
    let Some(declared) = declared.and_then(Value::as_object) else {
        return false;
    };
    declared.iter().any(|(key, v)| {
        v == &json!(true) && approved.and_then(|a| a.get(key)) != Some(&json!(true))
    })
}

/// The `node.invoke.cancel` for a node host still on the invoke's
/// connection (the reference tells node hosts only).
fn cancel_payload(nodes: &super::Nodes, invoke_id: &str, invoke: &PendingInvoke) -> Option<Value> {
    let is_host = nodes
        .get(&invoke.node_id)
        .is_some_and(|s| s.conn == invoke.node_conn && s.client_mode == "node");
    is_host.then(|| json!({ "invokeId": invoke_id, "nodeId": invoke.node_id }))
}

/// The reference's error for a failed node call: `UNAVAILABLE "<CODE>:
/// <message>"` (just the message without a code) with the node's error and
/// whether the command reached it.
fn unavailable(code: &str, message: &str, node_error: Value, dispatched: bool) -> ErrorShape {
    let text = if code.is_empty() {
        message.to_owned()
    } else {
        format!("{code}: {message}")
    };
    ErrorShape::new(ErrorCode::Unavailable, text).with_details(json!({
        "nodeError": node_error,
        "nodeCommandDispatched": dispatched,
    }))
}

/// A failure the gateway itself saw (timeout, disconnect, not connected).
pub(crate) fn node_error(code: &str, message: &str, dispatched: bool) -> ErrorShape {
    let error = json!({ "code": code, "message": message });
    unavailable(code, message, error, dispatched)
}

/// How an answered invoke's caller hears a node error.
pub(crate) fn forwarded_error(error: Option<&Value>) -> ErrorShape {
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("node invoke failed");
    unavailable(code, message, error.cloned().unwrap_or(Value::Null), true)
}
