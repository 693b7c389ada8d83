//! Nodes: the machines an assistant acts through. A node host connects with
//! `role: "node"` and a paired device, declares commands, and operators
//! invoke them through the gateway.
//!
//! What the core promises:
//! - **A node acts only within its approved surface.** Its effective
//!   commands are the declared ones the approved surface holds; a new or
//!   wider surface is a pending request (`node.pair.requested`) an operator
//!   approves, which updates the live session without a reconnect.
//! - **Every invoke is answered exactly once**: with the node's result, its
//!   error, a timeout (the node then gets `node.invoke.cancel`), or
//!   `node disconnected (<command>)` when the node goes away first. Late and
//!   unknown results are acknowledged as ignored.
//! - **Bounded**: at most [`invokes::MAX_INVOKES`] invokes in flight, and
//!   [`invokes::MAX_INVOKES_PER_NODE`] per node; each has a deadline.

pub(crate) mod catalog;
pub(crate) mod hub;
pub(crate) mod invokes;
pub(crate) mod policy;
pub(crate) mod surface;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ConnId;

pub use policy::NodeCommandRules;

/// One connected node.
#[derive(Clone, Debug)]
pub(crate) struct NodeSession {
    pub(crate) node_id: String,
    pub(crate) conn: ConnId,
    pub(crate) client_id: String,
    pub(crate) client_mode: String,
    pub(crate) display_name: Option<String>,
    pub(crate) platform: String,
    pub(crate) version: String,
    pub(crate) device_family: Option<String>,
    pub(crate) model_identifier: Option<String>,
    pub(crate) remote_ip: Option<String>,
    /// What the node declared (after policy): the ceiling of its surface.
    pub(crate) declared_caps: Vec<String>,
    pub(crate) declared_commands: Vec<String>,
    /// What it may use now: declared ∩ approved.
    pub(crate) caps: Vec<String>,
    pub(crate) commands: Vec<String>,
    pub(crate) permissions: Option<Value>,
    pub(crate) path_env: Option<String>,
    pub(crate) connected_at_ms: u64,
    /// Agent-visible tools the node advertises (`node.pluginTools.update`).
    pub(crate) plugin_tools: Vec<Value>,
    /// Agent-visible skills the node advertises (`node.skills.update`).
    pub(crate) skills: Vec<Value>,
}

impl NodeSession {
    /// Narrow the live surface to what was just approved.
    pub(crate) fn apply_approved(&mut self, caps: &[String], commands: &[String]) {
        self.commands = self
            .declared_commands
            .iter()
            .filter(|c| commands.contains(c))
            .cloned()
            .collect();
        self.caps = self
            .declared_caps
            .iter()
            .filter(|c| caps.contains(c))
            .cloned()
            .collect();
    }
}

/// Connected nodes (one session per node id: a reconnect replaces the old
/// one) and the invokes in flight.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    sessions: BTreeMap<String, NodeSession>,
    by_conn: BTreeMap<ConnId, String>,
    pub(crate) invokes: invokes::Invokes,
}

impl Nodes {
    /// Register `session`; the session it replaces, if any.
    pub(crate) fn register(&mut self, session: NodeSession) -> Option<NodeSession> {
        let previous = self.sessions.remove(&session.node_id);
        if let Some(previous) = &previous {
            self.by_conn.remove(&previous.conn);
        }
        self.by_conn.insert(session.conn, session.node_id.clone());
        self.sessions.insert(session.node_id.clone(), session);
        previous
    }

    /// The session `conn` carried, if it was still the node's current one.
    pub(crate) fn unregister(&mut self, conn: ConnId) -> Option<NodeSession> {
        let node_id = self.by_conn.remove(&conn)?;
        self.sessions.remove(&node_id)
    }

    pub(crate) fn get(&self, node_id: &str) -> Option<&NodeSession> {
        self.sessions.get(node_id.trim())
    }

    pub(crate) fn get_mut(&mut self, node_id: &str) -> Option<&mut NodeSession> {
        self.sessions.get_mut(node_id.trim())
    }

    pub(crate) fn by_conn(&self, conn: ConnId) -> Option<&NodeSession> {
        self.sessions.get(self.by_conn.get(&conn)?)
    }

    pub(crate) fn sessions(&self) -> impl Iterator<Item = &NodeSession> {
        self.sessions.values()
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }
}
