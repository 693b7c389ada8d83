//! The presence component: the [`Presence`] list, which open connections
//! keep which entry alive, the list's JSON (built once per change and shared
//! by hello snapshots, `system-presence` and the `presence` broadcast), its
//! expiry timer, and the coalescing of broadcasts.
//!
//! Coalescing: the first change is broadcast at once; changes within the
//! next `window` (a connection storm) are not broadcast one by one but as one
//! trailing broadcast of the latest list when the window ends. Every change
//! still counts in `stateVersion.presence`, and hello snapshots and
//! `system-presence` always show the latest list.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::time::Timestamp;

use serde_json::value::RawValue;

use super::outbox::Outbox;
use super::presence::{Presence, PresenceEntry};
use super::registry::PRESENCE_EVENT;

#[derive(Debug)]
pub(crate) struct PresenceState {
    list: Presence,
    /// How many open connections keep each key alive.
    refs: BTreeMap<String, u32>,
    json: Arc<RawValue>,
    /// Broadcasts closer together than this are merged into one.
    window: Duration,
    last_broadcast: Option<Timestamp>,
    /// A change waits to be broadcast at this instant.
    trailing_at: Option<Timestamp>,
}

impl PresenceState {
    pub(crate) fn new(own: PresenceEntry, ttl: Duration, max: usize, window: Duration) -> Self {
        let list = Presence::new(own, ttl, max);
        let json = Arc::from(list.to_raw());
        PresenceState {
            list,
            refs: BTreeMap::new(),
            json,
            window,
            last_broadcast: None,
            trailing_at: None,
        }
    }

    pub(crate) fn list(&self) -> &Presence {
        &self.list
    }

    /// The wire list, shared.
    pub(crate) fn json(&self) -> &Arc<RawValue> {
        &self.json
    }

    pub(crate) fn set_limits(&mut self, ttl: Duration, max: usize, window: Duration) {
        self.list.set_limits(ttl, max);
        self.window = window;
    }

    /// Replace the gateway's own entry (host facts changed) and announce it.
    pub(crate) fn set_own(&mut self, own: PresenceEntry, out: &mut Outbox<'_>) {
        self.list.set_own(own);
        self.rebuild(out);
        self.broadcast(out);
    }

    /// A connection now keeps `key` alive with `entry`.
    pub(crate) fn track(
        &mut self,
        key: String,
        entry: PresenceEntry,
        now: Timestamp,
        out: &mut Outbox<'_>,
    ) {
        *self.refs.entry(key.clone()).or_insert(0) += 1;
        // A node reconnecting under its device key keeps what it said before.
        let entry = match self.list.get(&key) {
            Some(existing) => entry.merged_over(existing),
            None => entry,
        };
        self.list.upsert(key, entry, now);
        self.changed(now, out);
    }

    /// A connection that kept `key` alive closed; the entry is marked
    /// disconnected once no other connection holds it.
    pub(crate) fn untrack(
        &mut self,
        key: &str,
        ts: u64,
        now: Timestamp,
        announce: bool,
        out: &mut Outbox<'_>,
    ) {
        let remaining = match self.refs.get_mut(key) {
            Some(count) => {
                *count = count.saturating_sub(1);
                *count
            }
            None => 0,
        };
        if remaining > 0 {
            return;
        }
        self.refs.remove(key);
        if announce && self.list.mark_disconnected(key, ts, now) {
            self.changed(now, out);
        }
    }

    /// Insert or replace an entry no connection holds (`system-event`).
    pub(crate) fn upsert(
        &mut self,
        key: String,
        entry: PresenceEntry,
        now: Timestamp,
        out: &mut Outbox<'_>,
    ) {
        self.list.upsert(key, entry, now);
        self.changed(now, out);
    }

    /// When the next entry may expire.
    pub(crate) fn next_expiry(&self) -> Option<Timestamp> {
        self.list.next_expiry()
    }

    /// Drop expired entries (live ones restart their clock).
    pub(crate) fn handle_timeout(&mut self, now: Timestamp, out: &mut Outbox<'_>) {
        let refs = &self.refs;
        if self.list.expire(now, |key| refs.contains_key(key)) {
            self.changed(now, out);
        }
    }

    /// When a coalesced broadcast is due.
    pub(crate) fn next_broadcast(&self) -> Option<Timestamp> {
        self.trailing_at
    }

    /// Send the broadcast that changes within the window were waiting for.
    pub(crate) fn handle_broadcast_timeout(&mut self, now: Timestamp, out: &mut Outbox<'_>) {
        if self.trailing_at.take().is_some() {
            self.last_broadcast = Some(now);
            self.broadcast(out);
        }
    }

    /// The list changed: new version and JSON now; the broadcast now or,
    /// inside the window after the last one, once at its end.
    fn changed(&mut self, now: Timestamp, out: &mut Outbox<'_>) {
        self.rebuild(out);
        if self.trailing_at.is_some() {
            return;
        }
        if let Some(last) = self.last_broadcast {
            let next = last + self.window;
            if now < next {
                self.trailing_at = Some(next);
                return;
            }
        }
        self.last_broadcast = Some(now);
        self.broadcast(out);
    }

    fn rebuild(&mut self, out: &mut Outbox<'_>) {
        out.state_version.presence += 1;
        self.json = Arc::from(self.list.to_raw());
    }

    fn broadcast(&self, out: &mut Outbox<'_>) {
        #[derive(serde::Serialize)]
        struct PresencePayload<'a> {
            presence: &'a RawValue,
        }
        let payload = PresencePayload {
            presence: &self.json,
        };
        out.broadcast(&PRESENCE_EVENT, &payload, true, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::gateway::connections::Connections;
    use crate::wire::StateVersion;

    fn entry(text: &str) -> PresenceEntry {
        PresenceEntry {
            text: Some(text.into()),
            ..PresenceEntry::default()
        }
    }

    /// Run `f` with an outbox over no connections; returns the versions.
    fn with_outbox(state_version: &mut StateVersion, f: impl FnOnce(&mut Outbox<'_>)) {
        let mut conns = Connections::default();
        let mut out = VecDeque::new();
        let mut buf = Vec::new();
        let mut outbox = Outbox {
            conns: &mut conns,
            out: &mut out,
            buf: &mut buf,
            state_version,
        };
        f(&mut outbox);
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn changes_inside_the_window_wait_for_one_trailing_broadcast() {
        let mut presence = PresenceState::new(
            entry("self"),
            Duration::from_secs(300),
            200,
            Duration::from_millis(50),
        );
        let mut versions = StateVersion {
            presence: 1,
            health: 1,
        };
        with_outbox(&mut versions, |out| {
            presence.upsert("a".into(), entry("a"), at(0), out);
            assert_eq!(
                presence.next_broadcast(),
                None,
                "the first goes out at once"
            );
            presence.upsert("b".into(), entry("b"), at(10), out);
            presence.upsert("c".into(), entry("c"), at(20), out);
            assert_eq!(presence.next_broadcast(), Some(at(50)));
            presence.handle_broadcast_timeout(at(50), out);
            assert_eq!(presence.next_broadcast(), None);
            // Long after: at once again.
            presence.upsert("d".into(), entry("d"), at(500), out);
            assert_eq!(presence.next_broadcast(), None);
        });
        assert_eq!(versions.presence, 5, "every change counted");
        assert!(presence.json().get().contains("\"c\""));
    }

    #[test]
    fn an_entry_held_by_two_connections_stays_until_both_close() {
        let mut presence =
            PresenceState::new(entry("self"), Duration::from_secs(300), 200, Duration::ZERO);
        let mut versions = StateVersion::default();
        with_outbox(&mut versions, |out| {
            presence.track("k".into(), entry("one"), at(0), out);
            presence.track("k".into(), entry("two"), at(1), out);
            presence.untrack("k", 2, at(2), true, out);
            let held = presence.list().get("k").unwrap().reason.clone();
            assert_eq!(held, None, "still held by the second connection");
            presence.untrack("k", 3, at(3), true, out);
            let gone = presence.list().get("k").unwrap().reason.clone();
            assert_eq!(gone.as_deref(), Some("disconnect"));
        });
    }
}
