//! Live scope upgrades: a paired device asks for more scopes from inside a
//! session (`device.scopes.requestUpgrade`) and waits for the operator's
//! decision (`device.scopes.waitUpgrade`), which arrives as the new token.
//!
//! Each upgrade is a pending pairing request; this component remembers who
//! asked and parks the waiters until the request is approved, rejected (or
//! replaced by a wider one), or expires. A decided upgrade is kept for
//! [`TERMINAL_GRACE`] so a wait that arrives just after still gets it.
//! Bounded: at most [`MAX_UPGRADES`] upgrades and [`MAX_WAITERS`] waiters
//! each; past that the request is refused as the reference refuses one it
//! cannot register ("temporarily unavailable").

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::time::Timestamp;
use crate::ConnId;

/// How long a decided upgrade is kept for late waiters.
pub(crate) const TERMINAL_GRACE: Duration = Duration::from_secs(15);
pub(crate) const MAX_UPGRADES: usize = 256;
pub(crate) const MAX_WAITERS: usize = 8;

/// How an upgrade ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Approved { token: String, scopes: Vec<String> },
    Rejected,
    Expired,
}

#[derive(Debug)]
struct Upgrade {
    device_id: String,
    expires_at: Timestamp,
    outcome: Option<Outcome>,
    /// Drop the entry after this (set once decided).
    forget_at: Option<Timestamp>,
    waiters: Vec<(ConnId, String)>,
}

/// A wait to answer: the connection, its request id, the result.
pub(crate) type Answer = (ConnId, String, Value);

#[derive(Debug, Default)]
pub(crate) struct Upgrades {
    entries: BTreeMap<String, Upgrade>,
}

fn result(request_id: &str, outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Approved { token, scopes } => json!({
            "status": "approved", "requestId": request_id,
            "deviceToken": token, "scopes": scopes,
        }),
        Outcome::Rejected => json!({ "status": "rejected", "requestId": request_id }),
        Outcome::Expired => json!({ "status": "expired", "requestId": request_id }),
    }
}

impl Upgrades {
    /// Remember an upgrade request of `device_id` (again, if refreshed).
    /// `false` when full.
    pub(crate) fn register(
        &mut self,
        request_id: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> bool {
        if let Some(entry) = self.entries.get_mut(request_id) {
            if entry.device_id != device_id {
                return false;
            }
            entry.expires_at = expires_at;
            return true;
        }
        if self.entries.len() >= MAX_UPGRADES {
            return false;
        }
        self.entries.insert(
            request_id.to_owned(),
            Upgrade {
                device_id: device_id.to_owned(),
                expires_at,
                outcome: None,
                forget_at: None,
                waiters: Vec::new(),
            },
        );
        true
    }

    /// A wait by `device_id`: answered now if decided, else parked.
    /// `Err(())` when there is no such upgrade of this device (or no room).
    pub(crate) fn wait(
        &mut self,
        request_id: &str,
        device_id: &str,
        conn: ConnId,
        call_id: &str,
    ) -> Result<Option<Value>, ()> {
        let entry = self
            .entries
            .get_mut(request_id)
            .filter(|e| e.device_id == device_id)
            .ok_or(())?;
        if let Some(outcome) = &entry.outcome {
            return Ok(Some(result(request_id, outcome)));
        }
        if entry.waiters.len() >= MAX_WAITERS {
            return Err(());
        }
        entry.waiters.push((conn, call_id.to_owned()));
        Ok(None)
    }

    /// The pairing request was decided: answer its waiters.
    pub(crate) fn decide(
        &mut self,
        request_id: &str,
        outcome: Outcome,
        now: Timestamp,
    ) -> Vec<Answer> {
        let Some(entry) = self.entries.get_mut(request_id) else {
            return Vec::new();
        };
        if entry.outcome.is_some() {
            return Vec::new();
        }
        let value = result(request_id, &outcome);
        entry.outcome = Some(outcome);
        entry.forget_at = Some(now + TERMINAL_GRACE);
        std::mem::take(&mut entry.waiters)
            .into_iter()
            .map(|(conn, id)| (conn, id, value.clone()))
            .collect()
    }

    /// Whether `request_id` is an upgrade someone may wait for.
    pub(crate) fn contains(&self, request_id: &str) -> bool {
        self.entries.contains_key(request_id)
    }

    /// The next time an upgrade expires or a decided one is forgotten.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.entries
            .values()
            .map(|e| e.forget_at.unwrap_or(e.expires_at))
            .min()
    }

    /// Expire what is due (answering its waiters) and forget old decisions.
    pub(crate) fn handle_timeout(&mut self, now: Timestamp) -> Vec<Answer> {
        self.entries
            .retain(|_, e| e.forget_at.is_none_or(|at| at > now));
        let due: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.outcome.is_none() && e.expires_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .flat_map(|id| self.decide(&id, Outcome::Expired, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_gets_the_decision_and_a_late_one_gets_it_within_the_grace() {
        let mut up = Upgrades::default();
        let t0 = Timestamp::ZERO;
        assert!(up.register("r", "d", t0 + Duration::from_secs(300)));
        assert_eq!(up.wait("r", "d", ConnId(1), "w1"), Ok(None));
        assert_eq!(up.wait("r", "other", ConnId(2), "w2"), Err(()));
        let answers = up.decide("r", Outcome::Rejected, t0);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].2["status"], "rejected");
        let late = up.wait("r", "d", ConnId(1), "w3").unwrap().unwrap();
        assert_eq!(late["status"], "rejected");
        assert!(up.handle_timeout(t0 + TERMINAL_GRACE).is_empty());
        assert_eq!(up.wait("r", "d", ConnId(1), "w4"), Err(()));
    }

    #[test]
    fn an_undecided_upgrade_expires() {
        let mut up = Upgrades::default();
        let t0 = Timestamp::ZERO;
        up.register("r", "d", t0 + Duration::from_secs(300));
        up.wait("r", "d", ConnId(1), "w").unwrap();
        assert_eq!(up.next_deadline(), Some(t0 + Duration::from_secs(300)));
        let answers = up.handle_timeout(t0 + Duration::from_secs(300));
        assert_eq!(answers[0].2, json!({"status": "expired", "requestId": "r"}));
    }
}
