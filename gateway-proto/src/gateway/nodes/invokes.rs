//! Invokes in flight: who asked, which node runs it, and when it times out.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Timestamp;
use crate::ConnId;

/// Invokes in flight across all nodes.
pub(crate) const MAX_INVOKES: usize = 4096;
/// Invokes in flight to one node.
pub(crate) const MAX_INVOKES_PER_NODE: usize = 1024;
/// When the caller gives no `timeoutMs`.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// A `node.invoke.progress` chunk's limit in bytes.
pub(crate) const MAX_PROGRESS_CHUNK: usize = 16_384;

/// How the caller's answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `node.invoke`: `{ok, nodeId, command, payload, payloadJSON}`.
    Invoke,
    /// `exec.approvals.node.*`: the node's payload itself.
    Payload,
    /// An agent's tool call: the answer goes to the tool loop under this
    /// token (`caller` and `request_id` are unused).
    Tool { token: u64 },
}

#[derive(Clone, Debug)]
pub(crate) struct PendingInvoke {
    pub(crate) node_id: String,
    pub(crate) node_conn: ConnId,
    pub(crate) caller: ConnId,
    pub(crate) request_id: String,
    pub(crate) command: String,
    pub(crate) deadline: Timestamp,
    pub(crate) reply: Reply,
    /// The next `node.invoke.progress` seq expected.
    pub(crate) next_progress: u64,
}

/// Why an invoke could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    Gateway,
    Node,
}

#[derive(Debug, Default)]
pub(crate) struct Invokes {
    pending: BTreeMap<String, PendingInvoke>,
    deadlines: BTreeSet<(Timestamp, String)>,
    per_node: BTreeMap<String, usize>,
}

impl Invokes {
    pub(crate) fn insert(&mut self, id: String, invoke: PendingInvoke) -> Result<(), Full> {
        if self.pending.len() >= MAX_INVOKES {
            return Err(Full::Gateway);
        }
        let count = self.per_node.entry(invoke.node_id.clone()).or_default();
        if *count >= MAX_INVOKES_PER_NODE {
            return Err(Full::Node);
        }
        *count += 1;
        self.deadlines.insert((invoke.deadline, id.clone()));
        self.pending.insert(id, invoke);
        Ok(())
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut PendingInvoke> {
        self.pending.get_mut(id)
    }

    /// Take invoke `id` out (it is about to be answered).
    pub(crate) fn take(&mut self, id: &str) -> Option<PendingInvoke> {
        let invoke = self.pending.remove(id)?;
        self.deadlines.remove(&(invoke.deadline, id.to_owned()));
        if let Some(count) = self.per_node.get_mut(&invoke.node_id) {
            *count -= 1;
            if *count == 0 {
                self.per_node.remove(&invoke.node_id);
            }
        }
        Some(invoke)
    }

    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Take every invoke whose deadline has passed.
    pub(crate) fn take_expired(&mut self, now: Timestamp) -> Vec<(String, PendingInvoke)> {
        let due: Vec<String> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect();
        due.into_iter()
            .filter_map(|id| self.take(&id).map(|inv| (id, inv)))
            .collect()
    }

    /// Take every invoke running on connection `node_conn`.
    pub(crate) fn take_for_node_conn(&mut self, node_conn: ConnId) -> Vec<(String, PendingInvoke)> {
        let ids: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, inv)| inv.node_conn == node_conn)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| self.take(&id).map(|inv| (id, inv)))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
