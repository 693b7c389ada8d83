//! The connections component: every socket's [`ServerConnection`], keyed by
//! the runtime's [`ConnId`], with the per-connection deadlines (handshake
//! timeout, delayed refusal) in one queue.

use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

use super::Output;
use crate::server::{AuthRateLimiter, ServerConnection, ServerOutput};
use crate::timer::DeadlineQueue;
use crate::ConnId;

/// One socket's state in the hub.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) conn: ServerConnection,
    /// `server.connId` in hello-ok: a fresh UUID per socket.
    pub(crate) conn_uuid: String,
    /// The presence entry this connection keeps alive, if it is tracked.
    pub(crate) presence_key: Option<String>,
    /// The signed device of the session (to find its sockets when the
    /// device is removed or its token rotated or revoked).
    pub(crate) device_id: Option<Box<str>>,
    /// The deadline armed in [`Connections`]' queue (most syncs change
    /// nothing, and this spares them the queue).
    pub(crate) armed: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub(crate) struct Connections {
    map: BTreeMap<ConnId, ConnEntry>,
    deadlines: DeadlineQueue<ConnId>,
}

impl Connections {
    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.map.contains_key(&conn)
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&ConnEntry> {
        self.map.get(&conn)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut ConnEntry> {
        self.map.get_mut(&conn)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut ConnEntry)> {
        self.map.iter_mut().map(|(id, entry)| (*id, entry))
    }

    /// Whether any connection satisfies `test`.
    pub(crate) fn any(&self, test: impl Fn(&ConnEntry) -> bool) -> bool {
        self.map.values().any(test)
    }

    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.map.keys().copied().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn insert(&mut self, conn: ConnId, entry: ConnEntry) {
        self.map.insert(conn, entry);
    }

    /// Forget a connection whose socket is gone.
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<ConnEntry> {
        self.deadlines.clear(conn);
        self.map.remove(&conn)
    }

    /// Move a connection's outputs to the hub queue and re-arm its deadline.
    pub(crate) fn sync(&mut self, conn: ConnId, out: &mut VecDeque<Output>) {
        let Some(entry) = self.map.get_mut(&conn) else {
            return;
        };
        drain(out, conn, &mut entry.conn);
        let deadline = entry.conn.poll_timeout();
        if deadline != entry.armed {
            entry.armed = deadline;
            self.deadlines.set_or_clear(conn, deadline);
        }
    }

    /// The earliest connection deadline.
    pub(crate) fn next_deadline(&self) -> Option<(Timestamp, ConnId)> {
        self.deadlines.next()
    }

    /// Fire `conn`'s deadline (see [`ServerConnection::handle_timeout`]).
    pub(crate) fn handle_timeout(
        &mut self,
        conn: ConnId,
        now: Timestamp,
        limiter: &AuthRateLimiter,
        out: &mut VecDeque<Output>,
    ) {
        self.deadlines.clear(conn);
        if let Some(entry) = self.map.get_mut(&conn) {
            entry.armed = None;
            entry.conn.handle_timeout(now, limiter);
        }
        self.sync(conn, out);
    }
}

/// Move `server`'s outputs to the hub queue.
pub(crate) fn drain(out: &mut VecDeque<Output>, conn: ConnId, server: &mut ServerConnection) {
    while let Some(output) = server.poll_output() {
        out.push_back(match output {
            ServerOutput::Frame(frame) => Output::Frame { conn, frame },
            ServerOutput::Close { code, reason } => Output::Close { conn, code, reason },
        });
    }
}
