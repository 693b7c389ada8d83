//! What must hold after every step of the simulation.

use crate::time::Timestamp;
use std::collections::BTreeSet;

use super::client::SimClient;
use crate::gateway::{presence_key, Gateway};
use crate::ConnId;

/// Largest single frame the simulation can make the gateway send (a presence
/// list with every client, or a health snapshot), with room to spare.
pub(super) const MAX_FRAME_BYTES: usize = 64 * 1024;

pub(super) fn check_gateway(
    gateway: &Gateway,
    clients: &[SimClient],
    closed_by_gateway: &BTreeSet<ConnId>,
    now: Timestamp,
) -> Result<(), String> {
    if let Some(at) = gateway.poll_timeout() {
        if at < now {
            return Err(format!(
                "gateway poll_timeout {at:?} is in the past (now {now:?})"
            ));
        }
    }
    let limit = gateway.config().limits.max_buffered_bytes + MAX_FRAME_BYTES;
    for client in clients {
        let Some(conn) = client.conn else { continue };
        if closed_by_gateway.contains(&conn) {
            continue;
        }
        let Some(queued) = gateway.queued_bytes(conn) else {
            continue;
        };
        if queued > limit {
            return Err(format!(
                "{conn} has {queued} bytes queued, over the bound {limit}"
            ));
        }
        // Every gap the client saw is an event the gateway dropped for it.
        let dropped = gateway.dropped_events(conn).unwrap_or(0);
        if client.gap_total > dropped {
            return Err(format!(
                "client {} saw {} missing events on {conn} but the gateway dropped only {dropped}",
                client.index, client.gap_total
            ));
        }
    }
    check_presence(gateway, clients, now)
}

/// Presence equals the connected set, plus entries still within their TTL.
fn check_presence(gateway: &Gateway, clients: &[SimClient], now: Timestamp) -> Result<(), String> {
    let presence = gateway.presence();
    let limits = &gateway.config().limits;
    if presence.len() > limits.presence_max {
        return Err(format!(
            "presence has {} entries, max {}",
            presence.len(),
            limits.presence_max
        ));
    }
    let keys: BTreeSet<String> = presence
        .entries()
        .filter_map(|e| e.instance_id.as_deref())
        .map(presence_key)
        .collect();
    for client in clients {
        let authenticated =
            client.conn.is_some_and(|c| gateway.is_authenticated(c)) && client.core.is_connected();
        if client.tracked && authenticated && !keys.contains(&presence_key(&client.instance_id)) {
            return Err(format!(
                "connected client {} missing from presence",
                client.index
            ));
        }
    }
    let known: BTreeSet<String> = clients
        .iter()
        .map(|c| presence_key(&c.instance_id))
        .collect();
    for entry in presence.entries() {
        if entry.reason.as_deref() == Some("self") {
            continue;
        }
        let Some(id) = entry.instance_id.as_deref() else {
            return Err(format!("presence entry without instance id: {entry:?}"));
        };
        if !known.contains(&presence_key(id)) {
            return Err(format!("presence entry for an unknown client: {entry:?}"));
        }
    }
    if presence.next_expiry().is_some_and(|at| at < now) {
        return Err("a presence entry outlived its TTL".to_owned());
    }
    Ok(())
}
