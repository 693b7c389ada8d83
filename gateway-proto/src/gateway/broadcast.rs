//! Broadcasting one event to every eligible connection: encoded once, the
//! bytes shared, a per-connection seq stamped on each copy.

use serde::Serialize;

use super::connections::drain_conn;
use super::methods::{event_droppable, event_scope};
use super::Gateway;
use crate::wire::{encode_event, StateVersion};

impl Gateway {
    /// Send `event` to every authenticated connection allowed to see it.
    /// Connections filtered out by scope use no seq; slow ones skip droppable
    /// events (using a seq) or are closed "slow consumer".
    pub(super) fn broadcast<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        payload: &T,
        state_version: Option<StateVersion>,
    ) {
        let body = encode_event(&mut self.buf, event, Some(payload), state_version, true);
        let needed = event_scope(event);
        let droppable = event_droppable(event);
        for (&id, entry) in self.conns.iter_mut() {
            let Some(session) = entry.conn.session() else {
                continue;
            };
            if let Some(scope) = needed {
                if !session.scopes.satisfies(scope) {
                    continue;
                }
            }
            // Drops and slow-consumer closes are the connection's own business
            // (it counts its drops; a close comes out as its Close output).
            let _ = entry.conn.send_broadcast(&body, droppable);
            drain_conn(&mut self.out, id, &mut entry.conn);
        }
    }
}
