//! Exec approvals waiting for an operator: `exec.approval.request` creates
//! one, operators holding `operator.approvals` see it (`exec.approval.requested`)
//! and decide it (`exec.approval.resolve`), and the requester learns the
//! decision, in its own request's answer or through
//! `exec.approval.waitDecision`.
//!
//! Each approval is answered exactly once: by an operator's decision, or
//! by its timer (decision `null`, the resolved event saying `deny`), or at
//! once when nobody could see it (no approval client connected). A decided
//! approval is kept for [`RESOLVED_GRACE`] so a late wait or a repeated
//! resolve still gets the outcome, as the reference keeps its record.
//!
//! Bounded: at most [`MAX_APPROVALS`] approvals (pending or in their grace)
//! and [`MAX_WAITERS`] waiters each; past that a request is refused with a
//! clear error. A waiter whose connection closes is forgotten; the approval
//! itself stays until it is decided or expires.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::server::{Role, Scope, Scopes};
use crate::time::Timestamp;
use crate::ConnId;

/// How long an approval waits when the request names no `timeoutMs` (30 min).
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 1_800_000;
/// How long a decided approval is remembered (the reference's 15 s grace).
pub(crate) const RESOLVED_GRACE: Duration = Duration::from_secs(15);
/// Approvals held at once, pending or decided within their grace.
pub(crate) const MAX_APPROVALS: usize = 256;
/// `waitDecision` calls parked on one approval.
pub(crate) const MAX_WAITERS: usize = 16;

/// An operator's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    AllowOnce,
    AllowAlways,
    Deny,
}

impl Decision {
    pub(crate) fn parse(text: &str) -> Option<Decision> {
        match text {
            "allow-once" => Some(Decision::AllowOnce),
            "allow-always" => Some(Decision::AllowAlways),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Decision::AllowOnce => "allow-once",
            Decision::AllowAlways => "allow-always",
            Decision::Deny => "deny",
        }
    }
}

/// How an approval ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// `None`: nobody decided (timeout, or no approval client to ask).
    pub(crate) decision: Option<Decision>,
    /// `user` for an operator's decision, `timeout` or `no-route` when
    /// nobody decided.
    pub(crate) terminal_reason: Option<&'static str>,
}

/// Who asked: the reference shows an approval only to its requester (by
/// device, else by connection) and to admins. A node's request is shown to
/// every approvals holder: that is what a node asks for (our extension).
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) conn: ConnId,
    pub(crate) device_id: Option<String>,
    pub(crate) node: bool,
}

/// Who is looking at approvals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Viewer<'a> {
    pub(crate) conn: ConnId,
    pub(crate) device_id: Option<&'a str>,
    pub(crate) role: Role,
    pub(crate) scopes: Scopes,
}

#[derive(Debug)]
pub(crate) struct Approval {
    pub(crate) id: String,
    /// The `request` object of events and lists.
    pub(crate) request: Value,
    pub(crate) allowed: Vec<Decision>,
    pub(crate) created_at_ms: u64,
    pub(crate) expires_at_ms: u64,
    expires_at: Timestamp,
    requester: Requester,
    pub(crate) outcome: Option<Outcome>,
    forget_at: Option<Timestamp>,
    /// The `exec.approval.request` call still owed the decision.
    request_call: Option<(ConnId, String)>,
    /// Parked `exec.approval.waitDecision` calls.
    waiters: Vec<(ConnId, String)>,
}

impl Approval {
    /// Whether `viewer` may see (list, wait for, resolve) this approval.
    pub(crate) fn visible_to(&self, viewer: &Viewer<'_>) -> bool {
        if viewer.role == Role::Operator && viewer.scopes.satisfies(Scope::Admin) {
            return true;
        }
        let approver = viewer.role == Role::Operator && viewer.scopes.satisfies(Scope::Approvals);
        if self.requester.node && approver {
            return true;
        }
        match &self.requester.device_id {
            Some(device) => viewer.device_id == Some(device.as_str()),
            None => viewer.conn == self.requester.conn,
        }
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.outcome.is_none()
    }

    /// The answer of a one-phase request (and the second answer of a
    /// two-phase one).
    pub(crate) fn decision_payload(&self) -> Value {
        let decision = self.outcome.as_ref().and_then(|o| o.decision);
        json!({
            "id": self.id,
            "decision": decision.map(Decision::as_str),
            "createdAtMs": self.created_at_ms,
            "expiresAtMs": self.expires_at_ms,
        })
    }

    /// The answer of `waitDecision`: the same, plus why nobody decided.
    pub(crate) fn wait_payload(&self) -> Value {
        let mut payload = self.decision_payload();
        if let Some(reason) = self.outcome.as_ref().and_then(|o| o.terminal_reason) {
            payload["terminalReason"] = reason.into();
        }
        payload
    }

    /// `exec.approval.requested` and a row of `exec.approval.list`.
    pub(crate) fn summary(&self) -> Value {
        json!({
            "approvalKind": "exec",
            "id": self.id,
            "request": self.request,
            "createdAtMs": self.created_at_ms,
            "expiresAtMs": self.expires_at_ms,
        })
    }
}

/// A call to answer: the connection, its request id, the payload.
pub(crate) type Answer = (ConnId, String, Value);

/// What the hub must do once an approval is decided.
#[derive(Debug)]
pub(crate) struct Settled {
    pub(crate) id: String,
    pub(crate) answers: Vec<Answer>,
}

/// Why a new approval cannot be held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// An approval with this explicit id exists (pending or just decided).
    Duplicate,
    /// [`MAX_APPROVALS`] are held.
    Full,
}

/// The result of looking an approval up by id or id prefix.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(String),
    Ambiguous,
    None,
}

/// A new approval's facts.
pub(crate) struct NewApproval {
    pub(crate) id: String,
    pub(crate) request: Value,
    pub(crate) allowed: Vec<Decision>,
    pub(crate) requester: Requester,
    pub(crate) timeout_ms: u64,
}

/// What an approval needs to know of a connected client.
#[derive(Clone, Debug)]
pub(crate) struct ClientFacts {
    /// `resolvedBy` of its decisions: its display name, else its client id.
    pub(crate) name: String,
    /// An approval client, to which requests are delivered: the Control UI,
    /// the native apps, or a client declaring the `approvals` or
    /// `exec-approvals` cap (it still needs approvals or admin scope).
    pub(crate) approval_client: bool,
}

impl ClientFacts {
    pub(crate) fn of(client_id: &str, display_name: Option<&str>, caps: &[String]) -> ClientFacts {
        let known = matches!(
            client_id,
            "openclaw-control-ui" | "openclaw-macos" | "openclaw-ios" | "openclaw-android"
        );
        let declared = caps
            .iter()
            .any(|c| c == "approvals" || c == "exec-approvals");
        ClientFacts {
            name: display_name.unwrap_or(client_id).to_owned(),
            approval_client: known || declared,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ExecApprovals {
    entries: BTreeMap<String, Approval>,
    /// Facts of the open sessions (dropped with [`Self::forget_conn`]).
    clients: BTreeMap<ConnId, ClientFacts>,
}

impl ExecApprovals {
    /// A session opened.
    pub(crate) fn add_client(&mut self, conn: ConnId, facts: ClientFacts) {
        self.clients.insert(conn, facts);
    }

    pub(crate) fn client(&self, conn: ConnId) -> Option<&ClientFacts> {
        self.clients.get(&conn)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Approval> {
        self.entries.get(id)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Pending approvals, oldest first.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &Approval> {
        let mut pending: Vec<&Approval> =
            self.entries.values().filter(|a| a.is_pending()).collect();
        pending.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        pending.into_iter()
    }

    /// Hold a new pending approval.
    pub(crate) fn create(
        &mut self,
        new: NewApproval,
        now: Timestamp,
        now_ms: u64,
    ) -> Result<&Approval, Refused> {
        if self.entries.contains_key(&new.id) {
            return Err(Refused::Duplicate);
        }
        if self.entries.len() >= MAX_APPROVALS {
            return Err(Refused::Full);
        }
        let timeout_ms = new.timeout_ms.max(1);
        let approval = Approval {
            id: new.id.clone(),
            request: new.request,
            allowed: new.allowed,
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(timeout_ms),
            expires_at: now + Duration::from_millis(timeout_ms),
            requester: new.requester,
            outcome: None,
            forget_at: None,
            request_call: None,
            waiters: Vec::new(),
        };
        Ok(self.entries.entry(new.id).or_insert(approval))
    }

    /// The requester's call waits for the decision.
    pub(crate) fn park_request(&mut self, id: &str, conn: ConnId, call_id: &str) {
        if let Some(approval) = self.entries.get_mut(id) {
            approval.request_call = Some((conn, call_id.to_owned()));
        }
    }

    /// A `waitDecision`: answered now if decided, else parked. `Err(())`
    /// when the approval has no room for another waiter.
    pub(crate) fn wait(
        &mut self,
        id: &str,
        conn: ConnId,
        call_id: &str,
    ) -> Result<Option<Value>, ()> {
        let approval = self.entries.get_mut(id).ok_or(())?;
        if !approval.is_pending() {
            return Ok(Some(approval.wait_payload()));
        }
        if approval.waiters.len() >= MAX_WAITERS {
            return Err(());
        }
        approval.waiters.push((conn, call_id.to_owned()));
        Ok(None)
    }

    /// Decide a pending approval; `None` if it is not pending.
    pub(crate) fn settle(&mut self, id: &str, outcome: Outcome, now: Timestamp) -> Option<Settled> {
        let approval = self.entries.get_mut(id).filter(|a| a.is_pending())?;
        approval.outcome = Some(outcome);
        approval.forget_at = Some(now + RESOLVED_GRACE);
        let mut answers = Vec::new();
        if let Some((conn, call)) = approval.request_call.take() {
            answers.push((conn, call, approval.decision_payload()));
        }
        let wait = approval.wait_payload();
        for (conn, call) in std::mem::take(&mut approval.waiters) {
            answers.push((conn, call, wait.clone()));
        }
        Some(Settled {
            id: id.to_owned(),
            answers,
        })
    }

    /// Find an approval by its id, or by a unique case-insensitive prefix of
    /// it, among those `visible` and in the wanted state.
    pub(crate) fn lookup(
        &self,
        input: &str,
        pending: bool,
        visible: impl Fn(&Approval) -> bool,
    ) -> Lookup {
        let wanted = |a: &Approval| a.is_pending() == pending && visible(a);
        for candidate in [input, input.trim()] {
            if let Some(approval) = self.entries.get(candidate) {
                return if wanted(approval) {
                    Lookup::Found(candidate.to_owned())
                } else {
                    Lookup::None
                };
            }
        }
        let prefix = input.trim().to_lowercase();
        if prefix.is_empty() {
            return Lookup::None;
        }
        let mut matches = self
            .entries
            .values()
            .filter(|a| wanted(a) && a.id.to_lowercase().starts_with(&prefix));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Lookup::Found(one.id.clone()),
            (Some(_), Some(_)) => Lookup::Ambiguous,
            _ => Lookup::None,
        }
    }

    /// Forget a closed connection and its calls (its approvals stay).
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.clients.remove(&conn);
        for approval in self.entries.values_mut() {
            if approval
                .request_call
                .as_ref()
                .is_some_and(|(c, _)| *c == conn)
            {
                approval.request_call = None;
            }
            approval.waiters.retain(|(c, _)| *c != conn);
        }
    }

    /// The next expiry or forgetting.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.entries
            .values()
            .map(|a| a.forget_at.unwrap_or(a.expires_at))
            .min()
    }

    /// Forget old decisions and expire what is due (decision `null`).
    pub(crate) fn handle_timeout(&mut self, now: Timestamp) -> Vec<Settled> {
        self.entries
            .retain(|_, a| a.forget_at.is_none_or(|at| at > now));
        let due: Vec<String> = self
            .entries
            .values()
            .filter(|a| a.is_pending() && a.expires_at <= now)
            .map(|a| a.id.clone())
            .collect();
        let expired = Outcome {
            decision: None,
            terminal_reason: Some("timeout"),
        };
        due.iter()
            .filter_map(|id| self.settle(id, expired.clone(), now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str, timeout_ms: u64) -> NewApproval {
        NewApproval {
            id: id.to_owned(),
            request: json!({"command": "ls"}),
            allowed: vec![Decision::AllowOnce, Decision::Deny],
            requester: Requester {
                conn: ConnId(1),
                device_id: None,
                node: false,
            },
            timeout_ms,
        }
    }

    #[test]
    fn an_approval_is_answered_once_then_forgotten_after_the_grace() {
        let mut book = ExecApprovals::default();
        let t0 = Timestamp::ZERO;
        book.create(new("abc-1", 1000), t0, 5).unwrap();
        assert_eq!(
            book.create(new("abc-1", 1000), t0, 5).unwrap_err(),
            Refused::Duplicate
        );
        book.park_request("abc-1", ConnId(1), "r");
        assert_eq!(book.wait("abc-1", ConnId(2), "w"), Ok(None));
        let decided = Outcome {
            decision: Some(Decision::Deny),
            terminal_reason: None,
        };
        let settled = book.settle("abc-1", decided.clone(), t0).unwrap();
        assert_eq!(settled.answers.len(), 2);
        assert_eq!(settled.answers[0].2["decision"], "deny");
        assert!(book.settle("abc-1", decided, t0).is_none(), "exactly once");
        assert!(book.handle_timeout(t0 + Duration::from_secs(1)).is_empty());
        assert!(book.contains("abc-1"), "kept for late waiters");
        book.handle_timeout(t0 + RESOLVED_GRACE);
        assert!(!book.contains("abc-1"));
    }

    #[test]
    fn a_pending_approval_expires_with_no_decision() {
        let mut book = ExecApprovals::default();
        let t0 = Timestamp::ZERO;
        book.create(new("x", 1000), t0, 0).unwrap();
        book.park_request("x", ConnId(1), "r");
        assert_eq!(book.next_deadline(), Some(t0 + Duration::from_secs(1)));
        let expired = book.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(expired[0].answers[0].2["decision"], Value::Null);
        assert_eq!(
            book.wait("x", ConnId(3), "w").unwrap().unwrap()["terminalReason"],
            "timeout"
        );
    }

    #[test]
    fn prefixes_find_one_approval_or_none() {
        let mut book = ExecApprovals::default();
        let t0 = Timestamp::ZERO;
        book.create(new("abc-1", 1000), t0, 0).unwrap();
        book.create(new("abd-2", 1000), t0, 0).unwrap();
        assert_eq!(
            book.lookup("ABC", true, |_| true),
            Lookup::Found("abc-1".into())
        );
        assert_eq!(book.lookup("ab", true, |_| true), Lookup::Ambiguous);
        assert_eq!(book.lookup("zz", true, |_| true), Lookup::None);
        assert_eq!(book.lookup("abc-1", false, |_| true), Lookup::None);
    }

    #[test]
    fn the_book_is_bounded() {
        let mut book = ExecApprovals::default();
        for i in 0..MAX_APPROVALS {
            book.create(new(&format!("a{i}"), 1000), Timestamp::ZERO, 0)
                .unwrap();
        }
        assert_eq!(
            book.create(new("one-more", 1000), Timestamp::ZERO, 0)
                .unwrap_err(),
            Refused::Full
        );
    }
}
