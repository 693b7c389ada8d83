//! Broadcasting one event to every eligible connection: encoded once, the
//! bytes shared, a per-connection seq stamped on each copy.

use serde::Serialize;

use super::connections::drain_conn;
use super::methods::{event_droppable, event_scope};
use super::Gateway;
use crate::wire::{encode_event, StateVersion};

/// What one broadcast did, for tests and the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    pub queued: usize,
    pub dropped: usize,
    pub closed: usize,
}

impl Gateway {
    /// Send `event` to every authenticated connection allowed to see it.
    /// Connections filtered out by scope use no seq; slow ones skip droppable
    /// events (using a seq) or are closed "slow consumer".
    pub(super) fn broadcast<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
    ) -> BroadcastReport {
        let body = encode_event(&mut self.buf, event, Some(payload), state_version, true);
        let needed = event_scope(event);
        let droppable = event_droppable(event);
        let mut report = BroadcastReport::default();
        for (&id, entry) in self.conns.iter_mut() {
            let Some(session) = entry.conn.session() else {
                continue;
            };
            if let Some(scope) = needed {
                if !session.scopes.satisfies(scope) {
                    continue;
                }
            }
            match entry.conn.send_broadcast(&body, droppable) {
                crate::server::SendOutcome::Queued => report.queued += 1,
                crate::server::SendOutcome::Dropped => report.dropped += 1,
                crate::server::SendOutcome::Closed => report.closed += 1,
            }
            drain_conn(&mut self.out, id, &mut entry.conn);
        }
        report
    }
}
