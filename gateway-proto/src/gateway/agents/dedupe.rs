//! The idempotency cache of `agent` and `chat.send`.
//!
//! As in the reference: a key is remembered for 5 minutes, at most 1,000
//! keys are kept, a repeat while the first run is going answers "in flight"
//! and a repeat after it ended replays the first outcome. A key never starts
//! a second run while it is remembered, including when the duplicates arrive
//! together (the first one registers the key before anything else happens).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::time::Timestamp;

/// How long a key is remembered after it was first seen (`DEDUPE_TTL_MS`).
pub const DEDUPE_TTL: Duration = Duration::from_secs(300);
/// How many keys are remembered at most (`DEDUPE_MAX`).
pub const DEDUPE_MAX: usize = 1000;

/// What a key stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Its run is queued or going.
    Running { run_id: String },
    /// Its run ended: the answer to replay.
    Done { answer: Value, ok: bool },
}

#[derive(Debug)]
struct Entry {
    at: Timestamp,
    outcome: Outcome,
}

/// Keys are namespaced by method family (`agent:`, `chat:`) by the caller.
#[derive(Debug, Default)]
pub struct Dedupe {
    entries: BTreeMap<String, Entry>,
}

impl Dedupe {
    /// What `key` stands for, if it is still remembered at `now`.
    pub fn get(&mut self, key: &str, now: Timestamp) -> Option<&Outcome> {
        self.expire(now);
        self.entries.get(key).map(|e| &e.outcome)
    }

    /// Remember `key` for a run that starts now.
    pub fn start(&mut self, key: String, run_id: String, now: Timestamp) {
        self.expire(now);
        self.entries.insert(
            key,
            Entry {
                at: now,
                outcome: Outcome::Running { run_id },
            },
        );
        self.trim();
    }

    /// The run of `key` ended with `answer`; keeps the time it was first seen.
    pub fn finish(&mut self, key: &str, answer: Value, ok: bool, now: Timestamp) {
        self.expire(now);
        if let Some(entry) = self.entries.get_mut(key) {
            entry.outcome = Outcome::Done { answer, ok };
        }
    }

    /// Forget `key` (its run could not be started).
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Timestamp) {
        // Running keys stay: forgetting one would let a duplicate start a
        // second run. Their number is bounded by the runs' own cap.
        self.entries.retain(|_, e| {
            matches!(e.outcome, Outcome::Running { .. })
                || now.saturating_duration_since(e.at) < DEDUPE_TTL
        });
    }

    /// Past the cap, the oldest finished keys go first.
    fn trim(&mut self) {
        while self.entries.len() > DEDUPE_MAX {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e.outcome, Outcome::Done { .. }))
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => {
                    self.entries.remove(&key);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn running_then_done_then_expired() {
        let mut d = Dedupe::default();
        let t0 = Timestamp::ZERO;
        d.start("agent:k".into(), "k".into(), t0);
        assert_eq!(
            d.get("agent:k", t0 + DEDUPE_TTL * 2),
            Some(&Outcome::Running { run_id: "k".into() }),
            "a running key is never forgotten"
        );
        d.finish(
            "agent:k",
            json!({"status":"ok"}),
            true,
            t0 + Duration::from_secs(1),
        );
        assert!(matches!(
            d.get("agent:k", t0 + Duration::from_secs(299)),
            Some(Outcome::Done { .. })
        ));
        assert_eq!(d.get("agent:k", t0 + DEDUPE_TTL), None);
    }

    #[test]
    fn the_cap_drops_the_oldest_finished_keys() {
        let mut d = Dedupe::default();
        let t0 = Timestamp::ZERO;
        for i in 0..DEDUPE_MAX + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            d.start(format!("chat:{i}"), i.to_string(), at);
            if i >= 5 {
                d.finish(&format!("chat:{i}"), json!(i), true, at);
            }
        }
        assert_eq!(d.len(), DEDUPE_MAX);
        let now = t0 + Duration::from_secs(2);
        for i in 0..5 {
            assert!(
                d.get(&format!("chat:{i}"), now).is_some(),
                "running key {i} kept"
            );
        }
        assert!(d.get("chat:5", now).is_none());
        assert!(d.get(&format!("chat:{}", DEDUPE_MAX + 9), now).is_some());
    }
}
