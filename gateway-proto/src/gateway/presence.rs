//! Presence: who is connected (and who was, for a while), newest first, with
//! the gateway's own entry always present.

use std::time::Duration;

use crate::time::Timestamp;

use serde::Serialize;

/// One presence entry, as sent on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The connected client's `client.id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_input_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

impl PresenceEntry {
    /// This entry over an earlier one under the same key, as the reference
    /// upserts: fields this one lacks keep their earlier value, and roles
    /// and scopes are the union of both (earlier first, no repeats).
    pub fn merged_over(self, earlier: &PresenceEntry) -> PresenceEntry {
        fn union(earlier: &Option<Vec<String>>, now: Option<Vec<String>>) -> Option<Vec<String>> {
            let mut all: Vec<String> = earlier.clone().unwrap_or_default();
            for item in now.unwrap_or_default() {
                if !all.contains(&item) {
                    all.push(item);
                }
            }
            (!all.is_empty()).then_some(all)
        }
        let e = earlier.clone();
        PresenceEntry {
            host: self.host.or(e.host),
            client_id: self.client_id.or(e.client_id),
            ip: self.ip.or(e.ip),
            version: self.version.or(e.version),
            platform: self.platform.or(e.platform),
            device_family: self.device_family.or(e.device_family),
            model_identifier: self.model_identifier.or(e.model_identifier),
            mode: self.mode.or(e.mode),
            last_input_seconds: self.last_input_seconds.or(e.last_input_seconds),
            reason: self.reason.or(e.reason),
            tags: self.tags.or(e.tags),
            text: self.text.or(e.text),
            ts: self.ts,
            instance_id: self.instance_id.or(e.instance_id),
            device_id: self.device_id.or(e.device_id),
            roles: union(&earlier.roles, self.roles),
            scopes: union(&earlier.scopes, self.scopes),
        }
    }
}

#[derive(Clone, Debug)]
struct Slot {
    key: String,
    entry: PresenceEntry,
    updated: Timestamp,
}

/// The presence table. Bounded by `max` entries besides the gateway's own.
#[derive(Debug)]
pub struct Presence {
    own: PresenceEntry,
    /// Newest first.
    slots: Vec<Slot>,
    ttl: Duration,
    max: usize,
}

/// Presence key: trimmed, lower-cased.
pub fn presence_key(raw: &str) -> String {
    raw.trim().to_lowercase()
}

impl Presence {
    pub fn new(own: PresenceEntry, ttl: Duration, max: usize) -> Self {
        Presence {
            own,
            slots: Vec::new(),
            ttl,
            max: max.max(1),
        }
    }

    pub fn set_limits(&mut self, ttl: Duration, max: usize) {
        self.ttl = ttl;
        self.max = max.max(1);
        self.slots.truncate(self.max);
    }

    pub fn set_own(&mut self, own: PresenceEntry) {
        self.own = own;
    }

    /// Insert or replace the entry under `key` and move it to the front.
    pub fn upsert(&mut self, key: String, entry: PresenceEntry, now: Timestamp) {
        self.slots.retain(|slot| slot.key != key);
        self.slots.insert(
            0,
            Slot {
                key,
                entry,
                updated: now,
            },
        );
        // Oldest entries go first when full.
        self.slots.truncate(self.max);
    }

    /// Mark `key` as disconnected (kept until its TTL runs out). Returns whether it changed.
    pub fn mark_disconnected(&mut self, key: &str, ts: u64, now: Timestamp) -> bool {
        let Some(pos) = self.slots.iter().position(|slot| slot.key == key) else {
            return false;
        };
        let mut slot = self.slots.remove(pos);
        slot.entry.reason = Some("disconnect".to_owned());
        slot.entry.ts = ts;
        slot.updated = now;
        self.slots.insert(0, slot);
        true
    }

    /// Drop entries older than the TTL, except those `is_live` says a
    /// connection still holds (their clock restarts instead). Returns whether
    /// any went.
    pub fn expire(&mut self, now: Timestamp, is_live: impl Fn(&str) -> bool) -> bool {
        let before = self.slots.len();
        let ttl = self.ttl;
        self.slots.retain_mut(|slot| {
            if now.saturating_duration_since(slot.updated) < ttl {
                return true;
            }
            if is_live(&slot.key) {
                slot.updated = now;
                return true;
            }
            false
        });
        self.slots.len() != before
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.slots.iter().map(|slot| slot.updated + self.ttl).min()
    }

    /// The entry under `key`.
    pub fn get(&self, key: &str) -> Option<&PresenceEntry> {
        self.slots
            .iter()
            .find(|slot| slot.key == key)
            .map(|slot| &slot.entry)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.slots.iter().any(|slot| slot.key == key)
    }

    /// Entries besides the gateway's own.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The wire list: newest first, the gateway's own entry included.
    pub fn entries(&self) -> impl Iterator<Item = &PresenceEntry> {
        self.slots
            .iter()
            .map(|slot| &slot.entry)
            .chain(std::iter::once(&self.own))
    }

    /// The wire list as raw JSON, serialized once (no re-parse).
    pub fn to_raw(&self) -> Box<serde_json::value::RawValue> {
        let list: Vec<&PresenceEntry> = self.entries().collect();
        // A list of plain structs always serializes; the fallback keeps the type total.
        serde_json::value::to_raw_value(&list).unwrap_or_else(|_| {
            serde_json::value::RawValue::from_string("[]".to_owned()).expect("[] is JSON")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_lowercased() {
        assert_eq!(presence_key("  AbC "), "abc");
    }
}
