//! One simulated client: a `ClientConnection` plus the socket it is on and
//! the bookkeeping the invariants need.

use crate::time::Timestamp;
use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;

use crate::client::{ClientConnection, RequestId};
use crate::ConnId;

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ClientStats {
    pub connects: u64,
    pub gaps: u64,
    pub gap_events: u64,
    pub requests: u64,
    pub answered: u64,
    pub refreshes: u64,
}

pub(super) struct SimClient {
    pub index: usize,
    pub core: ClientConnection,
    /// The socket the client is on, if any.
    pub conn: Option<ConnId>,
    /// Frames the gateway sent on `conn` that the client has not read yet.
    pub inbox: VecDeque<Bytes>,
    /// The client stops reading until then.
    pub stalled_until: Option<Timestamp>,
    /// The core asked for a new socket at this instant.
    pub reconnect_at: Option<Timestamp>,
    /// Last event seq seen on the current socket.
    pub last_seq: Option<u64>,
    /// Sum of the gap sizes seen on the current socket.
    pub gap_total: u64,
    /// Requests issued and not yet answered.
    pub outstanding: BTreeSet<RequestId>,
    /// Refreshes the core made after gaps and not yet answered: every gap is
    /// followed by exactly two (`health`, `system-presence`), each answered once.
    pub refresh_pending: usize,
    /// `Disconnected` was emitted.
    pub stopped: bool,
    /// Connects in a tracked mode (`ui`, with a device identity so it keeps
    /// its scopes) and so must appear in presence; the others connect as
    /// `backend`, which the gateway does not track.
    pub tracked: bool,
    /// May call admin methods (`system-event`).
    pub admin: bool,
    pub instance_id: String,
    pub stats: ClientStats,
}

impl SimClient {
    pub(crate) fn reading(&self, now: Timestamp) -> bool {
        self.stalled_until.is_none_or(|until| until <= now)
    }

    /// A new socket: per-connection state starts over.
    pub(crate) fn attach(&mut self, conn: ConnId) {
        self.conn = Some(conn);
        self.inbox.clear();
        self.last_seq = None;
        self.gap_total = 0;
    }

    pub(crate) fn detach(&mut self) -> Option<ConnId> {
        self.inbox.clear();
        self.conn.take()
    }
}
