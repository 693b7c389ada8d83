//! The presence component: the [`Presence`] list, which open connections
//! keep which entry alive, the list's JSON (built once per change and shared
//! by hello snapshots, `system-presence` and the `presence` broadcast), and
//! its expiry timer.

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
}

impl PresenceState {
    pub(crate) fn new(own: PresenceEntry, ttl: Duration, max: usize) -> Self {
        let list = Presence::new(own, ttl, max);
        let json = Arc::from(list.to_raw());
        PresenceState {
            list,
            refs: BTreeMap::new(),
            json,
        }
    }

    pub(crate) fn list(&self) -> &Presence {
        &self.list
    }

    /// The wire list, shared.
    pub(crate) fn json(&self) -> &Arc<RawValue> {
        &self.json
    }

    pub(crate) fn set_limits(&mut self, ttl: Duration, max: usize) {
        self.list.set_limits(ttl, max);
    }

    /// Replace the gateway's own entry (host facts changed) and announce it.
    pub(crate) fn set_own(&mut self, own: PresenceEntry, out: &mut Outbox<'_>) {
        self.list.set_own(own);
        self.changed(out);
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
        self.list.upsert(key, entry, now);
        self.changed(out);
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
            self.changed(out);
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
        self.changed(out);
    }

    /// When the next entry may expire.
    pub(crate) fn next_expiry(&self) -> Option<Timestamp> {
        self.list.next_expiry()
    }

    /// Drop expired entries (live ones restart their clock).
    pub(crate) fn handle_timeout(&mut self, now: Timestamp, out: &mut Outbox<'_>) {
        let refs = &self.refs;
        if self.list.expire(now, |key| refs.contains_key(key)) {
            self.changed(out);
        }
    }

    /// The list changed: new version, new JSON, broadcast.
    fn changed(&mut self, out: &mut Outbox<'_>) {
        out.state_version.presence += 1;
        self.json = Arc::from(self.list.to_raw());
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
