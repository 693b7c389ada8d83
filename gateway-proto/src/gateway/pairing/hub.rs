//! The hub's side of pairing: a signed device's connect, store writes with
//! what happens once they commit, and the pairing events.

use serde_json::{json, Value};

use super::connect::{self, Assessment};
use super::state::{access_scopes, approved_roles, Approval, Ask};
use super::upgrades::Outcome;
use super::{public_request, DeviceTokenRecord, PairingChange, PendingRequest, PAIRING_STORE};
use crate::gateway::effects::{Request, Waiter};
use crate::gateway::registry::{
    DEVICE_PAIR_CHANGED_EVENT, DEVICE_PAIR_REQUESTED_EVENT, DEVICE_PAIR_RESOLVED_EVENT,
};
use crate::gateway::{Effect, Gateway};
use crate::server::{close_code, AuthMethod, ConnectRequest};
use crate::time::Timestamp;
use crate::wire::{ErrorCode, ErrorShape};
use crate::ConnId;

/// An event to send once the write that caused it has committed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PairingEvent {
    Requested(Box<PendingRequest>),
    Resolved {
        request_id: String,
        device_id: String,
        approved: bool,
        ts: u64,
    },
    Changed,
    /// A node asks for its command surface to be approved.
    NodeRequested(Box<Value>),
    /// A node surface was approved, rejected or removed.
    NodeResolved {
        request_id: String,
        node_id: String,
        decision: &'static str,
        ts: u64,
    },
}

/// How a connect ends once its write has committed.
#[derive(Debug)]
pub(crate) enum ConnectEnd {
    /// Open the session; hello-ok carries the device's token.
    Open {
        request: Box<ConnectRequest>,
        token: Option<DeviceTokenRecord>,
    },
    /// Refuse with this error and close 1008 with `reason`.
    Refuse { error: ErrorShape, reason: String },
}

/// What to do when a pairing write has committed.
#[derive(Debug)]
pub(crate) enum AfterWrite {
    Connect {
        conn: ConnId,
        end: ConnectEnd,
        events: Vec<PairingEvent>,
    },
    Reply {
        conn: ConnId,
        request_id: String,
        payload: Value,
        events: Vec<PairingEvent>,
        /// Close this device's sockets (of one role, or all) as soon as
        /// the change is made; the caller's own, after its answer.
        disconnect: Option<(String, Option<String>)>,
    },
    /// Bookkeeping only (last seen, token use): nobody waits.
    Nothing,
    /// Nobody waits, but these events follow the commit.
    Announce(Vec<PairingEvent>),
}

impl AfterWrite {
    fn waiter(&self) -> Option<Waiter> {
        match self {
            AfterWrite::Connect { conn, .. } => Some(Waiter::Handshake { conn: *conn }),
            AfterWrite::Reply {
                conn, request_id, ..
            } => Some(Waiter::Request {
                conn: *conn,
                request_id: request_id.clone(),
            }),
            AfterWrite::Nothing | AfterWrite::Announce(_) => None,
        }
    }
}

/// Whether the book is known to match the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resync {
    InSync,
    /// A write failed; the store must be re-read before the next change.
    Needed,
    /// The re-read is under way.
    Loading,
}

impl Gateway {
    /// A `connect` passed every check. Without a device, or with one that is
    /// paired for what it asks, the session opens now (hello-ok waits only
    /// for a new token's write); otherwise pairing decides.
    pub(crate) fn admit(&mut self, conn: ConnId, request: Box<ConnectRequest>, now: Timestamp) {
        if request.auth_method == AuthMethod::BootstrapToken {
            return self.redeem_bootstrap(conn, request, now);
        }
        self.admit_device(conn, request, None, now)
    }

    /// [`admit`](Self::admit) once the credential is settled. `bootstrap`
    /// holds the scopes a redeemed bootstrap token grants: the device is
    /// then approved at once, `approvedVia: "bootstrap"`, within them.
    pub(crate) fn admit_device(
        &mut self,
        conn: ConnId,
        request: Box<ConnectRequest>,
        bootstrap: Option<Vec<String>>,
        now: Timestamp,
    ) {
        let Some(peer) = self.conns.get(conn).map(|e| e.conn.peer().clone()) else {
            return;
        };
        let Some(device_id) = request.device.as_ref().map(|d| d.id.clone()) else {
            return self.open_session(conn, &request, None, now);
        };
        let now_ms = self.clock.unix_ms(now);
        let mut changes = Vec::new();
        let mut events = Vec::new();
        let before = self.pairing.clone();
        let assessment = connect::assess(&self.pairing, &request, &peer);
        let reason = match assessment {
            Assessment::Skip | Assessment::Paired => {
                self.touch_device(&request, &peer, now_ms, &mut changes);
                let token = self.issue_token(&request, now_ms, &mut changes);
                return self.finish_connect(conn, request, token, changes, before, now);
            }
            Assessment::Needs(reason) => reason,
        };
        let existing = self
            .pairing
            .paired(&device_id)
            .filter(|p| p.public_key == connect::public_key_text(&request))
            .cloned();
        let silent = bootstrap.is_some()
            || connect::silent_allowed(
                &request,
                &peer,
                reason,
                existing.is_some(),
                self.config.pairing_auto_approve_local,
            );
        let client = &request.params.client;
        let ask = Ask {
            device_id: device_id.clone(),
            public_key: connect::public_key_text(&request),
            display_name: client.display_name.clone(),
            platform: Some(client.platform.clone()).filter(|p| !p.is_empty()),
            device_family: client.device_family.clone(),
            client_id: Some(client.id.clone()),
            client_mode: Some(client.mode.clone()),
            browser_origin: peer
                .origin
                .as_deref()
                .filter(|o| !o.trim().is_empty())
                .map(str::to_owned),
            role: request.role.as_str().to_owned(),
            scopes: request.params.scopes.clone(),
            remote_ip: remote_ip(&peer),
            silent,
        };
        let requested = self
            .pairing
            .request(&ask, now_ms, &mut self.rng, &mut changes);
        for superseded in &requested.superseded {
            events.push(PairingEvent::Resolved {
                request_id: superseded.clone(),
                device_id: device_id.clone(),
                approved: false,
                ts: now_ms,
            });
        }
        let request_id = requested.request.request_id.clone();
        if requested.request.silent == Some(true) {
            let mut caller: Vec<String> = request.params.scopes.clone();
            if let Some(existing) = &existing {
                caller.extend(access_scopes(existing));
            }
            let approval = match &bootstrap {
                Some(granted) => Approval {
                    caller_scopes: Some(granted),
                    approved_via: "bootstrap",
                },
                None => Approval {
                    caller_scopes: Some(&caller),
                    approved_via: "silent",
                },
            };
            if let Ok(Some(device_record)) =
                self.pairing
                    .approve(&request_id, &approval, now_ms, &mut self.rng, &mut changes)
            {
                self.pairing
                    .update_paired(&device_record.device_id, &mut changes, |d| {
                        d.last_seen_at_ms = Some(now_ms);
                        d.last_seen_reason = Some("connect".to_owned());
                    });
                events.push(PairingEvent::Resolved {
                    request_id: request_id.clone(),
                    device_id: device_record.device_id.clone(),
                    approved: true,
                    ts: now_ms,
                });
                if connect::assess(&self.pairing, &request, &peer) == Assessment::Paired {
                    let token = self
                        .issue_token(&request, now_ms, &mut changes)
                        .map(|(t, _)| t);
                    let end = ConnectEnd::Open { request, token };
                    let after = AfterWrite::Connect { conn, end, events };
                    return self.commit(changes, after, before, now);
                }
            }
        } else if requested.created {
            events.push(PairingEvent::Requested(Box::new(public_request(
                &requested.request,
            ))));
        }
        let approved = existing.map(|e| (approved_roles(&e), access_scopes(&e)));
        let (error, reason) =
            connect::pairing_required(reason, Some(&request_id), &request, approved);
        let after = AfterWrite::Connect {
            conn,
            end: ConnectEnd::Refuse { error, reason },
            events,
        };
        self.commit(changes, after, before, now)
    }

    /// Open a paired device's session: at once when nothing new must be
    /// stored first, after the write when a token was minted.
    fn finish_connect(
        &mut self,
        conn: ConnId,
        request: Box<ConnectRequest>,
        token: Option<(DeviceTokenRecord, bool)>,
        changes: Vec<PairingChange>,
        before: super::PairingBook,
        now: Timestamp,
    ) {
        let minted = token.as_ref().is_some_and(|(_, minted)| *minted);
        let token = token.map(|(t, _)| t);
        if minted {
            let end = ConnectEnd::Open { request, token };
            let after = AfterWrite::Connect {
                conn,
                end,
                events: Vec::new(),
            };
            return self.commit(changes, after, before, now);
        }
        // Only bookkeeping to store: it need not hold up the hello.
        self.commit(changes, AfterWrite::Nothing, before, now);
        self.open_session(conn, &request, token.as_ref(), now);
    }

    /// The device's token for this session (and whether it is new).
    fn issue_token(
        &mut self,
        request: &ConnectRequest,
        now_ms: u64,
        changes: &mut Vec<PairingChange>,
    ) -> Option<(DeviceTokenRecord, bool)> {
        let device = request.device.as_ref()?;
        let before = changes.len();
        let token = self.pairing.ensure_token(
            &device.id,
            request.role.as_str(),
            &request.params.scopes,
            now_ms,
            &mut self.rng,
            changes,
        )?;
        Some((token, changes.len() > before))
    }

    /// Record when a paired device was last seen (and, after a device-token
    /// login, when its token was last used).
    fn touch_device(
        &mut self,
        request: &ConnectRequest,
        peer: &crate::gateway::Peer,
        now_ms: u64,
        changes: &mut Vec<PairingChange>,
    ) {
        let Some(device) = &request.device else {
            return;
        };
        let by_token = request.auth_method == AuthMethod::DeviceToken;
        let role = request.role.as_str();
        let display_name = request.params.client.display_name.clone();
        let ip = remote_ip(peer);
        self.pairing.update_paired(&device.id, changes, |d| {
            if let Some(name) = display_name {
                d.display_name = Some(name);
            }
            if ip.is_some() {
                d.remote_ip = ip;
            }
            d.last_seen_at_ms = Some(now_ms);
            d.last_seen_reason = Some(
                if by_token {
                    "device-token-auth"
                } else {
                    "connect"
                }
                .to_owned(),
            );
            if by_token {
                if let Some(entry) = d.tokens.as_mut().and_then(|t| t.get_mut(role)) {
                    entry.last_used_at_ms = Some(now_ms);
                }
            }
        });
    }

    /// Store `changes`, then do `after`. With nothing to store, `after`
    /// happens now. If the write cannot even be queued, the book goes back
    /// to `before` and the waiter is told to retry.
    pub(crate) fn commit(
        &mut self,
        changes: Vec<PairingChange>,
        after: AfterWrite,
        before: super::PairingBook,
        now: Timestamp,
    ) {
        // A removed device or a replaced or revoked token loses its sessions
        // at once, not when the write lands: access ends with the decision.
        // The caller's own session (a device rotating its own token) closes
        // only after its answer, which may carry the new token.
        if let AfterWrite::Reply {
            conn, disconnect, ..
        } = &after
        {
            if let Some((device_id, role)) = disconnect.clone() {
                self.disconnect_device(&device_id, role.as_deref(), Some(*conn));
            }
        }
        if changes.is_empty() {
            return self.after_write(after, true, now);
        }
        if self.pairing_resync != Resync::InSync {
            // The book may be ahead of the disk: no change until re-read.
            self.pairing = before;
            self.start_resync(now);
            return self.fail_after_write(after, store_failed());
        }
        let request = Request {
            waiter: after.waiter(),
            commits: true,
            store: Some(PAIRING_STORE),
            deadline: true,
        };
        let mut token = 0;
        let started = self.effects.start(request, now, |assigned| {
            token = assigned;
            Effect::WritePairing {
                token: assigned,
                changes,
            }
        });
        match started {
            Ok(effect) => {
                self.pairing_waits.insert(token, after);
                if let Some(effect) = effect {
                    self.out.push_back(crate::gateway::Output::Effect(effect));
                }
            }
            Err(_) => {
                self.pairing = before;
                self.fail_after_write(after, store_busy());
            }
        }
    }

    /// A pairing write came back.
    pub(crate) fn on_pairing_written(
        &mut self,
        token: u64,
        result: Result<(), String>,
        waited: bool,
        now: Timestamp,
    ) {
        let Some(after) = self.pairing_waits.remove(&token) else {
            return;
        };
        match result {
            Ok(()) => self.after_write(after, waited, now),
            Err(_) => {
                self.fail_after_write(after, store_failed());
                if self.pairing_resync == Resync::InSync {
                    self.pairing_resync = Resync::Needed;
                }
                self.start_resync(now);
            }
        }
    }

    /// Ask the runtime to read the store back (after the writes before it).
    fn start_resync(&mut self, now: Timestamp) {
        if self.pairing_resync != Resync::Needed {
            return;
        }
        let request = Request {
            waiter: None,
            commits: true,
            store: Some(PAIRING_STORE),
            deadline: false,
        };
        if let Ok(effect) = self
            .effects
            .start(request, now, |token| Effect::LoadPairing { token })
        {
            self.pairing_resync = Resync::Loading;
            if let Some(effect) = effect {
                self.out.push_back(crate::gateway::Output::Effect(effect));
            }
        }
    }

    /// The store was read back: it is the truth again.
    pub(crate) fn on_pairing_loaded(&mut self, result: Result<super::PairingSnapshot, String>) {
        match result {
            Ok(snapshot) => {
                self.pairing = super::PairingBook::from_snapshot(snapshot);
                self.pairing_resync = Resync::InSync;
            }
            // Try again at the next change.
            Err(_) => self.pairing_resync = Resync::Needed,
        }
    }

    /// The write committed: send the events, answer, disconnect.
    fn after_write(&mut self, after: AfterWrite, answer: bool, now: Timestamp) {
        match after {
            AfterWrite::Nothing => {}
            AfterWrite::Announce(events) => self.send_pairing_events(&events, now),
            AfterWrite::Connect { conn, end, events } => {
                self.send_pairing_events(&events, now);
                if !answer {
                    return;
                }
                match end {
                    ConnectEnd::Open { request, token } => {
                        self.open_session(conn, &request, token.as_ref(), now)
                    }
                    ConnectEnd::Refuse { error, reason } => {
                        if let Some(entry) = self.conns.get_mut(conn) {
                            entry.conn.reject_with_reason(
                                error,
                                close_code::POLICY_VIOLATION,
                                &reason,
                            );
                        }
                        self.conns.sync(conn, &mut self.out);
                    }
                }
            }
            AfterWrite::Reply {
                conn,
                request_id,
                payload,
                events,
                disconnect,
            } => {
                self.send_pairing_events(&events, now);
                if answer {
                    self.outbox().respond_ok(conn, &request_id, &payload);
                }
                if let Some((device_id, role)) = disconnect {
                    self.disconnect_device(&device_id, role.as_deref(), None);
                }
            }
        }
    }

    fn fail_after_write(&mut self, after: AfterWrite, error: ErrorShape) {
        match after {
            AfterWrite::Nothing | AfterWrite::Announce(_) => {}
            AfterWrite::Connect { conn, .. } => {
                if let Some(entry) = self.conns.get_mut(conn) {
                    entry.conn.reject(error, close_code::TRY_AGAIN_LATER);
                }
                self.conns.sync(conn, &mut self.out);
            }
            AfterWrite::Reply {
                conn, request_id, ..
            } => self.outbox().respond_error(conn, &request_id, &error),
        }
    }

    pub(crate) fn send_pairing_events(&mut self, events: &[PairingEvent], now: Timestamp) {
        for event in events {
            if let PairingEvent::Resolved {
                request_id,
                device_id,
                approved,
                ..
            } = event
            {
                self.settle_upgrade(request_id, device_id, *approved, now);
            }
            match event {
                PairingEvent::Requested(request) => {
                    self.outbox()
                        .broadcast(&DEVICE_PAIR_REQUESTED_EVENT, &**request, false, |_| true)
                }
                PairingEvent::Resolved {
                    request_id,
                    device_id,
                    approved,
                    ts,
                } => {
                    let payload = json!({
                        "requestId": request_id,
                        "deviceId": device_id,
                        "decision": if *approved { "approved" } else { "rejected" },
                        "ts": ts,
                    });
                    self.outbox()
                        .broadcast(&DEVICE_PAIR_RESOLVED_EVENT, &payload, false, |_| true)
                }
                PairingEvent::Changed => {
                    self.outbox()
                        .broadcast(&DEVICE_PAIR_CHANGED_EVENT, &json!({}), false, |_| true)
                }
                PairingEvent::NodeRequested(_) | PairingEvent::NodeResolved { .. } => {
                    self.send_node_event(event)
                }
            }
        }
    }

    /// A live scope upgrade's request was decided: answer its waiters (an
    /// approval hands over the device's new operator token).
    fn settle_upgrade(
        &mut self,
        request_id: &str,
        device_id: &str,
        approved: bool,
        now: Timestamp,
    ) {
        if !self.upgrades.contains(request_id) {
            return;
        }
        let token = self
            .pairing
            .paired(device_id)
            .and_then(|d| d.tokens.as_ref()?.get("operator").cloned());
        let outcome = match token {
            Some(token) if approved => Outcome::Approved {
                token: token.token,
                scopes: token.scopes,
            },
            _ => Outcome::Rejected,
        };
        for (conn, id, result) in self.upgrades.decide(request_id, outcome, now) {
            self.outbox().respond_ok(conn, &id, &result);
        }
    }

    /// Close the sessions of `device_id` (of `role` only, if given) with the
    /// reference's 4001 "device removed".
    pub(crate) fn disconnect_device(
        &mut self,
        device_id: &str,
        role: Option<&str>,
        except: Option<ConnId>,
    ) {
        for conn in self.conns.ids() {
            if Some(conn) == except {
                continue;
            }
            let Some(entry) = self.conns.get_mut(conn) else {
                continue;
            };
            let same_device = entry.device_id.as_deref() == Some(device_id);
            let same_role = match (role, entry.conn.session()) {
                (None, _) => true,
                (Some(role), Some(session)) => session.role.as_str() == role,
                (Some(_), None) => false,
            };
            if same_device && same_role {
                entry.conn.close(close_code::AUTH_CHANGED, "device removed");
            }
            self.conns.sync(conn, &mut self.out);
        }
    }
}

/// A remote client's address, as pairing records it (none for a local one).
fn remote_ip(peer: &crate::gateway::Peer) -> Option<String> {
    (!peer.is_local).then(|| peer.ip.to_string())
}

fn store_busy() -> ErrorShape {
    ErrorShape::new(ErrorCode::Unavailable, "pairing store busy; retry shortly")
        .with_retry_after(1000)
}

fn store_failed() -> ErrorShape {
    ErrorShape::new(ErrorCode::Unavailable, "pairing store write failed").with_retry_after(1000)
}
