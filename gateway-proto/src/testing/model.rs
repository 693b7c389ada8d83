//! A reference model of the hub and a driver that applies [`Op`]s to a real
//! [`Gateway`], checking every output against the model and the invariants
//! after every step. Violations panic with the step and the reason, so
//! proptest shrinks them and libFuzzer reports them as crashes.
//!
//! Invariants checked:
//! - per-connection `seq` goes up by exactly 1, with a gap only when the
//!   connection was slow (unsent bytes above the limit) since its previous
//!   broadcast; a scope-filtered event uses no seq;
//! - every request after the handshake is answered exactly once in the same
//!   step (unless the connection closed); no answer without a request;
//! - close is sticky: no output for a connection after its close;
//! - after `handle_timeout(now)` and a drain, `poll_timeout()` is not `<= now`;
//! - queued bytes equal what the driver saw emitted and not acknowledged, and
//!   stay within `max_buffered_bytes` + the largest frame;
//! - nothing is queued for a slow connection: a non-droppable frame closes it
//!   1008 "slow consumer" (and only a slow connection is closed so);
//! - presence holds at most `presence_max + 1` entries; `presence` events go
//!   only to connections with `operator.read`;
//! - handshake outcomes (challenge, hello-ok, rejections, close codes) and
//!   request outcomes (ok or error by scope) match the model.

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::time::Timestamp;

use serde_json::Value;

use super::ops::{
    connect_text, garbage_text, request_text, sim_config, ConnectSpec, Garbage, Grant, Op, Proto,
    ReqKind, SimParams, Token, SLOTS,
};
use crate::gateway::{Effect, EffectResult, Gateway, Input, Limits, Output, Peer};
use crate::server::close_code;
use crate::ConnId;

/// What the model believes about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Challenge sent, waiting for `connect` until `deadline`.
    Awaiting {
        deadline: Timestamp,
    },
    /// `connect` sent; its answer is due in this step.
    Connecting {
        id: String,
        proto: Proto,
        read: bool,
        admin: bool,
    },
    /// A wrong secret: rejected by `by` at the latest.
    Rejecting {
        id: String,
        by: Timestamp,
    },
    Open {
        proto: Proto,
        read: bool,
        admin: bool,
    },
    Closed,
}

#[derive(Clone, Debug)]
struct ConnModel {
    slot: u8,
    remote: bool,
    phase: Phase,
    stalled: bool,
    /// Bytes emitted and not acknowledged (what `Gateway::queued_bytes` must say).
    queued: usize,
    frames: usize,
    last_seq: u64,
    /// Unsent bytes were above the limit since the last broadcast received.
    slow_since_seq: bool,
    /// Requests awaiting their answer: id → expected `ok` (None: either).
    outstanding: Vec<(String, Option<bool>)>,
    /// The connect whose answer may still come (a delayed rejection).
    connect_id: Option<String>,
    closed: bool,
}

impl ConnModel {
    fn is_slow(&self, limits: &Limits) -> bool {
        self.queued > limits.max_buffered_bytes
    }

    /// Past half the limit, droppable broadcasts may be skipped.
    fn may_skip(&self, limits: &Limits) -> bool {
        self.queued > limits.max_buffered_bytes / 2
    }
}

/// A close the model demands in this step (`code`, and a reason prefix).
#[derive(Clone, Debug)]
struct Expect {
    code: u16,
    reason: Option<&'static str>,
}

/// The gateway, its reference model and the invariant checks.
pub struct GatewaySim {
    pub gateway: Gateway,
    pub now: Timestamp,
    limits: Limits,
    params: SimParams,
    step: usize,
    next_conn: u64,
    next_req: u64,
    slots: [Option<ConnId>; SLOTS as usize],
    conns: BTreeMap<ConnId, ConnModel>,
    shutting_down: bool,
    /// Wrong-secret bookkeeping of the loopback (`false`) and the remote
    /// (`true`) address.
    failures: BTreeMap<bool, FailureModel>,
    largest_frame: usize,
    /// Per step: closes the model demands, and connections allowed to close.
    must_close: BTreeMap<ConnId, Expect>,
    may_close: BTreeSet<ConnId>,
    /// Per step: a non-droppable broadcast was seen.
    saw_non_droppable: bool,
    /// Per step: every broadcast seen (event and payload), who got which, and
    /// who went over half the buffer limit (and so may miss droppable ones).
    step_broadcasts: BTreeSet<(String, String)>,
    step_received: BTreeSet<(ConnId, String, String)>,
    step_slow: BTreeSet<ConnId>,
    pub log: Vec<String>,
}

const REMOTE_IP: [u8; 4] = [10, 0, 0, 9];

/// The model's view of one address's wrong secrets: the failures of the
/// last window (at most enough to reach the longest delay or the lockout),
/// a lockout for non-loopback addresses, and when the refusals still
/// waiting are all answered (each failure's answer is due after a delay
/// that doubles with the failures before it, and they are answered together).
#[derive(Clone, Debug, Default)]
struct FailureModel {
    recent: Vec<Timestamp>,
    locked_until: Option<Timestamp>,
    release: Option<Timestamp>,
}

impl FailureModel {
    fn locked(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Record a failure at `now`; returns when every pending refusal is answered.
    fn record(&mut self, now: Timestamp, limits: &Limits, lockable: bool) -> Timestamp {
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
            self.recent.clear();
        }
        self.recent
            .retain(|at| now.saturating_duration_since(*at) < limits.auth_failure_window);
        let mut doublings = 0;
        while limits.auth_failure_delay * (1 << doublings) < limits.auth_failure_delay_max {
            doublings += 1;
        }
        let keep = (limits.auth_failures_max as usize).max(doublings + 1);
        if self.locked_until.is_none() {
            self.recent.push(now);
            if self.recent.len() > keep {
                self.recent.remove(0);
            }
            if lockable && self.recent.len() >= limits.auth_failures_max as usize {
                self.locked_until = Some(now + limits.auth_lockout);
            }
        }
        let n = self.recent.len().max(1) as u32;
        let delay =
            (limits.auth_failure_delay * (1 << (n - 1).min(20))).min(limits.auth_failure_delay_max);
        let due = now + delay;
        let release = self.release.map_or(due, |r| r.max(due));
        self.release = Some(release);
        release
    }
}

impl GatewaySim {
    pub fn new(params: SimParams, start: Timestamp) -> Self {
        let config = sim_config(params);
        let limits = config.limits.clone();
        GatewaySim {
            gateway: Gateway::new(config, [7; 32], start, 1_800_000_000_000),
            now: start,
            limits,
            params,
            step: 0,
            next_conn: 1,
            next_req: 1,
            slots: [None; SLOTS as usize],
            conns: BTreeMap::new(),
            shutting_down: false,
            failures: BTreeMap::new(),
            largest_frame: 0,
            must_close: BTreeMap::new(),
            may_close: BTreeSet::new(),
            saw_non_droppable: false,
            step_broadcasts: BTreeSet::new(),
            step_received: BTreeSet::new(),
            step_slow: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    fn fail(&self, why: String) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(12).collect();
        panic!(
            "invariant violated at step {} ({:?}): {why}\nrecent (newest first): {tail:#?}",
            self.step, self.params
        );
    }

    fn slot_conn(&self, slot: u8) -> Option<ConnId> {
        self.slots[usize::from(slot % SLOTS)]
    }

    fn new_id(&mut self) -> String {
        let id = format!("r{}", self.next_req);
        self.next_req += 1;
        id
    }

    /// Apply one op and check everything.
    pub fn apply(&mut self, op: Op) {
        self.step += 1;
        self.log.push(format!("{op:?}"));
        self.must_close.clear();
        self.may_close.clear();
        self.saw_non_droppable = false;
        self.step_broadcasts.clear();
        self.step_received.clear();
        self.step_slow.clear();
        // Authenticated readers at the start: each must get every broadcast of the step.
        let readers: Vec<(ConnId, bool)> = self
            .conns
            .iter()
            .filter_map(|(id, m)| match m.phase {
                Phase::Open { read, .. } if !m.closed && !m.may_skip(&self.limits) => {
                    Some((*id, read))
                }
                _ => None,
            })
            .collect();
        let slow_at_start: BTreeSet<ConnId> = self
            .conns
            .iter()
            .filter(|(_, m)| {
                !m.closed && m.is_slow(&self.limits) && matches!(m.phase, Phase::Open { .. })
            })
            .map(|(id, _)| *id)
            .collect();
        let mut timed = false;
        match op {
            Op::Open { slot, remote } => self.open(slot, remote),
            Op::Connect { slot, spec } => self.connect(slot, spec),
            Op::Request { slot, kind } => self.request(slot, kind),
            Op::Garbage { slot, kind } => self.garbage(slot, kind),
            Op::Binary { slot } => {
                if let Some(conn) = self.slot_conn(slot) {
                    if matches!(self.model(conn).phase, Phase::Awaiting { .. }) {
                        self.must_close.insert(
                            conn,
                            Expect {
                                code: close_code::NORMAL,
                                reason: None,
                            },
                        );
                    }
                    self.input(Input::Binary { conn, len: 3 });
                }
            }
            Op::Stall { slot } => {
                if let Some(conn) = self.slot_conn(slot) {
                    self.model_mut(conn).stalled = true;
                }
            }
            Op::Resume { slot } => {
                if let Some(conn) = self.slot_conn(slot) {
                    let m = self.model_mut(conn);
                    m.stalled = false;
                    let bytes = std::mem::take(&mut m.queued);
                    self.input(Input::Sent { conn, bytes });
                }
            }
            Op::Advance { ms } => {
                let at = self.now + Duration::from_millis(u64::from(ms));
                self.timeout(at);
                timed = true;
            }
            Op::FireNext => {
                if let Some(at) = self.gateway.poll_timeout() {
                    self.timeout(at.max(self.now));
                    timed = true;
                }
            }
            Op::Disconnect { slot } => {
                if let Some(conn) = self.slot_conn(slot) {
                    self.slots[usize::from(slot % SLOTS)] = None;
                    self.conns.remove(&conn);
                    self.input(Input::Closed { conn });
                }
            }
            Op::Shutdown => {
                if !self.shutting_down {
                    self.shutting_down = true;
                    self.saw_non_droppable = true;
                    for (&conn, m) in &self.conns {
                        if !m.closed {
                            self.must_close.insert(
                                conn,
                                Expect {
                                    code: close_code::SERVICE_RESTART,
                                    reason: Some("service restart"),
                                },
                            );
                        }
                    }
                }
                self.input(Input::Shutdown {
                    reason: Some("bye"),
                    restart_expected_ms: Some(1000),
                });
            }
        }
        self.end_of_step(timed, &slow_at_start);
        self.check_delivery(&readers);
    }

    /// A broadcast that reached anyone reached every eligible reader that was
    /// neither slow nor closed during the step.
    fn check_delivery(&self, readers: &[(ConnId, bool)]) {
        for (event, payload) in &self.step_broadcasts {
            for &(conn, read) in readers {
                let closed = self.conns.get(&conn).is_none_or(|m| m.closed);
                if closed || self.step_slow.contains(&conn) || (event == "presence" && !read) {
                    continue;
                }
                let key = (conn, event.clone(), payload.clone());
                if !self.step_received.contains(&key) {
                    self.fail(format!("{conn} missed broadcast {event} {payload}"));
                }
            }
        }
    }

    fn model(&self, conn: ConnId) -> &ConnModel {
        match self.conns.get(&conn) {
            Some(m) => m,
            None => self.fail(format!("{conn} is in a slot but not modelled")),
        }
    }

    fn model_mut(&mut self, conn: ConnId) -> &mut ConnModel {
        if !self.conns.contains_key(&conn) {
            self.fail(format!("{conn} is in a slot but not modelled"));
        }
        self.conns.get_mut(&conn).expect("checked above")
    }

    fn open(&mut self, slot: u8, remote: bool) {
        let slot = slot % SLOTS;
        if self.slots[usize::from(slot)].is_some() {
            return;
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.slots[usize::from(slot)] = Some(conn);
        let ip: IpAddr = if remote {
            IpAddr::from(REMOTE_IP)
        } else {
            IpAddr::from([127, 0, 0, 1])
        };
        self.conns.insert(
            conn,
            ConnModel {
                slot,
                remote,
                phase: Phase::Awaiting {
                    deadline: self.now + self.limits.handshake_timeout,
                },
                stalled: false,
                queued: 0,
                frames: 0,
                last_seq: 0,
                slow_since_seq: false,
                outstanding: Vec::new(),
                connect_id: None,
                closed: false,
            },
        );
        if self.shutting_down {
            self.must_close.insert(
                conn,
                Expect {
                    code: close_code::SERVICE_RESTART,
                    reason: Some("service restart"),
                },
            );
        }
        let peer = Peer::new(ip, !remote);
        self.input(Input::Opened { conn, peer });
        if self.model(conn).frames == 0 {
            self.fail(format!("{conn} got no challenge"));
        }
    }

    fn connect(&mut self, slot: u8, spec: ConnectSpec) {
        let Some(conn) = self.slot_conn(slot) else {
            return;
        };
        let id = self.new_id();
        let text = connect_text(&id, spec, &format!("inst-{}", conn.0));
        let remote = self.model(conn).remote;
        let now = self.now;
        let locked = remote && self.failures.get(&remote).is_some_and(|f| f.locked(now));
        let awaiting = matches!(self.model(conn).phase, Phase::Awaiting { .. });
        // The limiter's verdict, for a connect that reaches the secret check.
        let mut release = None;
        if awaiting && !locked {
            match spec.token {
                Token::Bad => {
                    let limits = self.limits.clone();
                    let failures = self.failures.entry(remote).or_default();
                    release = Some(failures.record(now, &limits, remote));
                }
                Token::Good => {
                    // Failures and lockout are cleared; refusals still
                    // waiting keep their shared release.
                    if let Some(failures) = self.failures.get_mut(&remote) {
                        failures.recent.clear();
                        failures.locked_until = None;
                    }
                }
                Token::Missing => {}
            }
        }
        let m = self.model_mut(conn);
        let mut must_close = None;
        match m.phase.clone() {
            Phase::Awaiting { .. } => match spec.token {
                Token::Missing => {
                    m.outstanding.push((id.clone(), Some(false)));
                    m.connect_id = Some(id);
                    must_close = Some(close_code::POLICY_VIOLATION);
                }
                // Locked out: refused at once, whatever the secret.
                Token::Bad | Token::Good if locked => {
                    m.outstanding.push((id.clone(), Some(false)));
                    m.connect_id = Some(id);
                    must_close = Some(close_code::POLICY_VIOLATION);
                }
                Token::Bad => {
                    m.outstanding.push((id.clone(), Some(false)));
                    m.connect_id = Some(id.clone());
                    m.phase = Phase::Rejecting {
                        id,
                        by: release.unwrap_or(now),
                    };
                }
                Token::Good => {
                    let trusted = spec.proto == Proto::V4 && !remote;
                    let read = trusted && spec.grant != Grant::Nothing;
                    let admin = trusted && spec.grant == Grant::Admin;
                    m.outstanding.push((id.clone(), Some(true)));
                    m.connect_id = Some(id.clone());
                    m.phase = Phase::Connecting {
                        id,
                        proto: spec.proto,
                        read,
                        admin,
                    };
                }
            },
            Phase::Open { .. } => m.outstanding.push((id, Some(false))),
            Phase::Connecting { .. } | Phase::Rejecting { .. } | Phase::Closed => {}
        }
        // Every refusal still pending for this address is answered together.
        if let Some(release) = release {
            for other in self.conns.values_mut() {
                if other.remote == remote {
                    if let Phase::Rejecting { by, .. } = &mut other.phase {
                        *by = (*by).max(release);
                    }
                }
            }
        }
        if let Some(code) = must_close {
            self.must_close.insert(conn, Expect { code, reason: None });
        }
        self.input(Input::Text { conn, text: &text });
    }

    fn request(&mut self, slot: u8, kind: ReqKind) {
        let Some(conn) = self.slot_conn(slot) else {
            return;
        };
        let id = self.new_id();
        let (text, answered_as) = request_text(kind, &id);
        let slow = self.model(conn).is_slow(&self.limits);
        let m = self.model_mut(conn);
        let mut must_close = None;
        match m.phase {
            Phase::Awaiting { .. } => {
                must_close = Some(close_code::POLICY_VIOLATION);
                if !matches!(kind, ReqKind::InvalidWithId | ReqKind::InvalidNoId) {
                    // "first request must be connect": answered, then closed.
                    m.outstanding.push((id, Some(false)));
                }
            }
            Phase::Open { read, admin, .. } => {
                let ok = match kind {
                    ReqKind::Health => true,
                    ReqKind::Status | ReqKind::SystemPresence | ReqKind::LastHeartbeat => read,
                    ReqKind::SystemEvent => admin,
                    ReqKind::Unknown | ReqKind::InvalidWithId | ReqKind::InvalidNoId => false,
                };
                let answer_id = if answered_as.is_empty() {
                    id
                } else {
                    answered_as.to_owned()
                };
                m.outstanding.push((answer_id, Some(ok)));
                if slow {
                    must_close = Some(close_code::POLICY_VIOLATION);
                }
            }
            Phase::Connecting { .. } | Phase::Rejecting { .. } | Phase::Closed => {}
        }
        if let Some(code) = must_close {
            self.must_close.insert(conn, Expect { code, reason: None });
        }
        self.input(Input::Text { conn, text: &text });
    }

    fn garbage(&mut self, slot: u8, kind: Garbage) {
        let Some(conn) = self.slot_conn(slot) else {
            return;
        };
        let text = garbage_text(kind);
        let slow = self.model(conn).is_slow(&self.limits);
        let m = self.model_mut(conn);
        let expect = match (&m.phase, kind) {
            (Phase::Awaiting { .. }, Garbage::Oversized) => Some(Expect {
                code: close_code::MESSAGE_TOO_BIG,
                reason: Some("preauth payload too large"),
            }),
            (Phase::Awaiting { .. }, Garbage::NotJson | Garbage::Empty) => Some(Expect {
                code: close_code::NORMAL,
                reason: Some(""),
            }),
            (Phase::Awaiting { .. }, Garbage::JsonArray) => Some(Expect {
                code: close_code::POLICY_VIOLATION,
                reason: Some("invalid request frame"),
            }),
            (Phase::Open { .. }, Garbage::Oversized) => Some(Expect {
                code: close_code::MESSAGE_TOO_BIG,
                reason: Some("payload too large"),
            }),
            (Phase::Open { .. }, Garbage::JsonArray) => {
                m.outstanding.push(("invalid".to_owned(), Some(false)));
                slow.then_some(Expect {
                    code: close_code::POLICY_VIOLATION,
                    reason: Some("slow consumer"),
                })
            }
            _ => None,
        };
        if let Some(expect) = expect {
            self.must_close.insert(conn, expect);
        }
        self.input(Input::Text { conn, text: &text });
    }

    fn timeout(&mut self, at: Timestamp) {
        self.now = at;
        for (&conn, m) in &self.conns {
            if m.closed {
                continue;
            }
            match m.phase {
                Phase::Awaiting { deadline } if deadline <= at => {
                    self.must_close.insert(
                        conn,
                        Expect {
                            code: close_code::NORMAL,
                            reason: Some(""),
                        },
                    );
                }
                Phase::Rejecting { by, .. } if by <= at => {
                    self.must_close.insert(
                        conn,
                        Expect {
                            code: close_code::POLICY_VIOLATION,
                            reason: Some("unauthorized"),
                        },
                    );
                }
                _ => {}
            }
        }
        self.gateway.handle_timeout(at);
        self.drain();
        if let Some(next) = self.gateway.poll_timeout() {
            if next <= at {
                self.fail(format!(
                    "poll_timeout {:?} after handle_timeout at {:?} is not in the future",
                    next, at
                ));
            }
        }
    }

    fn input(&mut self, input: Input<'_>) {
        self.gateway.handle_input(input, self.now);
        self.drain();
    }

    /// Collect outputs, check each, acknowledge bytes of reading clients, until quiet.
    fn drain(&mut self) {
        loop {
            let mut acks: Vec<(ConnId, usize)> = Vec::new();
            while let Some(output) = self.gateway.poll_output() {
                match output {
                    Output::Frame { conn, frame } => {
                        let len = frame.len();
                        let text = frame.to_text();
                        if text.len() != len {
                            self.fail(format!("frame len {len} != text len {}", text.len()));
                        }
                        let value: Value = match serde_json::from_str(&text) {
                            Ok(v) => v,
                            Err(e) => self.fail(format!("{conn}: frame is not JSON ({e}): {text}")),
                        };
                        self.on_frame(conn, frame.seq(), &value, len);
                        if let Some(m) = self.conns.get(&conn) {
                            if !m.stalled {
                                acks.push((conn, len));
                            }
                        }
                    }
                    Output::Close { conn, code, reason } => self.on_close(conn, code, &reason),
                    Output::Authenticated { conn } => {
                        // Right after its hello-ok, never twice.
                        let open = self
                            .conns
                            .get(&conn)
                            .is_some_and(|m| matches!(m.phase, Phase::Open { .. }));
                        if !open || !self.gateway.is_authenticated(conn) {
                            self.fail(format!("{conn}: Authenticated without an open session"));
                        }
                    }
                    Output::Effect(effect) => {
                        // Answer every effect so nothing is left hanging: no
                        // logs here, and pairing writes commit at once.
                        let result = match effect {
                            Effect::ReadLogs { token, .. } => EffectResult::Logs {
                                token,
                                result: Err("none".to_owned()),
                            },
                            Effect::WritePairing { token, .. } => EffectResult::PairingWritten {
                                token,
                                result: Ok(()),
                            },
                            Effect::LoadPairing { token } => EffectResult::PairingLoaded {
                                token,
                                result: Ok(Default::default()),
                            },
                            Effect::RedeemBootstrapToken { token, .. } => {
                                EffectResult::BootstrapRedeemed {
                                    token,
                                    result: Ok(None),
                                }
                            }
                            Effect::ReadExecApprovals { token } => EffectResult::ExecApprovals {
                                token,
                                result: Err("none".to_owned()),
                            },
                            Effect::ReadHostStats { token } => EffectResult::HostStats {
                                token,
                                result: Err("none".to_owned()),
                            },
                            Effect::StreamModel { token, .. } => EffectResult::Model {
                                token,
                                event: crate::gateway::agents::model::ModelEvent::Failed {
                                    message: "none".to_owned(),
                                    status: None,
                                },
                            },
                            // No HTTP completions are made here.
                            Effect::CancelModel { .. }
                            | Effect::CancelTool { .. }
                            | Effect::RunStream { .. } => continue,
                            Effect::PrepareWorkspace { token, .. } => EffectResult::Workspace {
                                token,
                                result: Err("none".to_owned()),
                            },
                            Effect::RunTool { token, .. } => EffectResult::Tool {
                                token,
                                outcome: crate::gateway::agents::tools::ToolOutcome::error("none"),
                            },
                            Effect::WriteSessions { token, .. } => EffectResult::SessionsWritten {
                                token,
                                result: Ok(()),
                            },
                            Effect::ReadConfig { token, then } => EffectResult::ConfigRead {
                                token,
                                then,
                                result: Err("none".to_owned()),
                            },
                            Effect::WriteConfig { token, write } => EffectResult::ConfigWritten {
                                token,
                                reply: Box::new(write.reply),
                                result: Err(crate::gateway::ConfigWriteError::Io("none".into())),
                            },
                        };
                        self.gateway
                            .handle_input(Input::EffectDone(result), self.now);
                    }
                }
            }
            if acks.is_empty() {
                return;
            }
            for (conn, bytes) in acks {
                if let Some(m) = self.conns.get_mut(&conn) {
                    m.queued -= bytes;
                }
                self.gateway
                    .handle_input(Input::Sent { conn, bytes }, self.now);
            }
        }
    }

    fn on_frame(&mut self, conn: ConnId, seq: Option<u64>, value: &Value, len: usize) {
        let max = self.limits.max_buffered_bytes;
        let presence_cap = self.params.presence_max + 1;
        let Some(m) = self.conns.get(&conn) else {
            self.fail(format!("frame for unknown or dropped {conn}: {value}"));
        };
        if m.closed {
            self.fail(format!("frame for {conn} after its close: {value}"));
        }
        if m.queued > max {
            self.fail(format!(
                "frame queued for slow {conn} ({} bytes unsent > {max}): {value}",
                m.queued
            ));
        }
        let first = m.frames == 0;
        let kind = value["type"].as_str().unwrap_or_default().to_owned();
        let mut m = m.clone();
        m.frames += 1;
        m.queued += len;
        self.largest_frame = self.largest_frame.max(len);
        match kind.as_str() {
            "event" => {
                let event = value["event"].as_str().unwrap_or_default();
                if value.get("seq").and_then(Value::as_u64) != seq {
                    self.fail(format!(
                        "{conn}: seq field disagrees with OutFrame: {value}"
                    ));
                }
                match seq {
                    None => {
                        if event != "connect.challenge" || !first {
                            self.fail(format!("{conn}: unsequenced event {value}"));
                        }
                    }
                    Some(seq) => {
                        if !matches!(m.phase, Phase::Open { .. }) {
                            self.fail(format!("{conn}: broadcast before hello-ok: {value}"));
                        }
                        if seq <= m.last_seq {
                            self.fail(format!("{conn}: seq {seq} after {}", m.last_seq));
                        }
                        if seq > m.last_seq + 1 && !m.slow_since_seq {
                            self.fail(format!(
                                "{conn}: seq gap {} -> {seq} but the connection was not slow",
                                m.last_seq
                            ));
                        }
                        m.last_seq = seq;
                        m.slow_since_seq = false;
                        let payload = value["payload"].to_string();
                        self.step_broadcasts
                            .insert((event.to_owned(), payload.clone()));
                        self.step_received.insert((conn, event.to_owned(), payload));
                        if first {
                            self.fail(format!("{conn}: first frame is not the challenge"));
                        }
                    }
                }
                if event == "presence" {
                    if !matches!(m.phase, Phase::Open { read: true, .. }) {
                        self.fail(format!("{conn}: presence without operator.read"));
                    }
                    let n = value["payload"]["presence"]
                        .as_array()
                        .map_or(usize::MAX, Vec::len);
                    if n > presence_cap {
                        self.fail(format!("presence list of {n} > {presence_cap}"));
                    }
                }
                if event == "health" || event == "shutdown" {
                    self.saw_non_droppable = true;
                }
            }
            "res" => {
                if first {
                    self.fail(format!("{conn}: first frame is not the challenge"));
                }
                let id = value["id"].as_str().unwrap_or_default().to_owned();
                let ok = value["ok"].as_bool();
                let Some(pos) = m.outstanding.iter().position(|(i, _)| *i == id) else {
                    self.fail(format!(
                        "{conn}: response to no outstanding request: {value}"
                    ));
                };
                let (_, expected) = m.outstanding.remove(pos);
                if let Some(expected) = expected {
                    if ok != Some(expected) {
                        self.fail(format!("{conn}: expected ok={expected}, got {value}"));
                    }
                }
                if m.connect_id.as_deref() == Some(id.as_str()) {
                    m.connect_id = None;
                    if let Phase::Connecting {
                        proto, read, admin, ..
                    } = m.phase
                    {
                        if ok == Some(true) {
                            let hello = &value["payload"];
                            let want = match proto {
                                Proto::V3 => 3,
                                Proto::V4 => 4,
                            };
                            if hello["type"] != "hello-ok" || hello["protocol"] != want {
                                self.fail(format!("{conn}: bad hello {value}"));
                            }
                            let granted = hello["auth"]["scopes"].as_array().map_or(0, Vec::len);
                            if (granted > 0) != read {
                                self.fail(format!("{conn}: model read={read}, hello {hello}"));
                            }
                            m.phase = Phase::Open { proto, read, admin };
                        }
                    }
                }
            }
            other => self.fail(format!("{conn}: frame of type {other:?}: {value}")),
        }
        // Past half the limit droppable broadcasts may be skipped.
        if m.queued > max / 2 {
            m.slow_since_seq = true;
            self.step_slow.insert(conn);
        }
        self.conns.insert(conn, m);
    }

    fn on_close(&mut self, conn: ConnId, code: u16, reason: &str) {
        let max = self.limits.max_buffered_bytes;
        let Some(m) = self.conns.get(&conn) else {
            self.fail(format!("close for unknown or dropped {conn}"));
        };
        if m.closed {
            self.fail(format!("second close for {conn}: {code} {reason:?}"));
        }
        if reason.len() > crate::server::MAX_CLOSE_REASON {
            self.fail(format!("{conn}: close reason too long: {reason:?}"));
        }
        if reason == crate::server::SLOW_CONSUMER {
            // Over the limit, or a stalled reader past half of it (closed
            // at a tick after dropping events with nothing written).
            if code != close_code::POLICY_VIOLATION || m.queued <= max / 2 {
                self.fail(format!(
                    "{conn}: closed {code} slow consumer with {} bytes unsent (limit {max})",
                    m.queued
                ));
            }
        } else if let Some(expect) = self.must_close.get(&conn) {
            let reason_ok = expect.reason.is_none_or(|r| {
                if r.is_empty() {
                    reason.is_empty()
                } else {
                    reason.starts_with(r)
                }
            });
            if code != expect.code || !reason_ok {
                self.fail(format!(
                    "{conn}: closed {code} {reason:?}, model expected {expect:?}"
                ));
            }
        } else if !self.may_close.contains(&conn) {
            self.fail(format!("{conn}: unexpected close {code} {reason:?}"));
        }
        // A rejected connect is answered before the close.
        if let Some(id) = &m.connect_id {
            if code == close_code::POLICY_VIOLATION
                && reason != crate::server::SLOW_CONSUMER
                && reason != "invalid request frame"
                && m.outstanding.iter().any(|(i, _)| i == id)
            {
                self.fail(format!("{conn}: closed without answering connect {id}"));
            }
        }
        let m = self.conns.get_mut(&conn).expect("checked above");
        m.closed = true;
        m.phase = Phase::Closed;
        m.outstanding.clear();
        m.connect_id = None;
    }

    fn end_of_step(&mut self, timed: bool, slow_at_start: &BTreeSet<ConnId>) {
        let max = self.limits.max_buffered_bytes;
        for (&conn, expect) in &self.must_close {
            let closed = self.conns.get(&conn).is_none_or(|m| m.closed);
            if !closed {
                self.fail(format!("{conn}: model expected close {expect:?}"));
            }
        }
        if self.saw_non_droppable {
            for conn in slow_at_start {
                if self.conns.get(conn).is_some_and(|m| !m.closed) {
                    self.fail(format!(
                        "{conn}: slow and a non-droppable event was broadcast, yet still open"
                    ));
                }
            }
        }
        let mut live = 0;
        for (&conn, m) in &self.conns {
            live += 1;
            if !m.closed {
                let pending: Vec<&(String, Option<bool>)> = m
                    .outstanding
                    .iter()
                    .filter(
                        |(id, _)| !matches!(&m.phase, Phase::Rejecting { id: r, .. } if r == id),
                    )
                    .collect();
                if !pending.is_empty() {
                    self.fail(format!("{conn}: unanswered requests {pending:?}"));
                }
                if let Phase::Connecting { .. } = m.phase {
                    self.fail(format!("{conn}: connect neither accepted nor refused"));
                }
                if let Phase::Rejecting { by, .. } = m.phase {
                    if by <= self.now && timed {
                        self.fail(format!("{conn}: wrong secret not rejected by its deadline"));
                    }
                }
            }
            let queued = self.gateway.queued_bytes(conn);
            if queued != Some(m.queued) {
                self.fail(format!(
                    "{conn}: gateway says {queued:?} bytes queued, driver saw {}",
                    m.queued
                ));
            }
            if m.queued > max + self.largest_frame {
                self.fail(format!(
                    "{conn}: {} bytes queued > limit {max} + largest frame {}",
                    m.queued, self.largest_frame
                ));
            }
            if !m.stalled && m.queued != 0 {
                self.fail(format!(
                    "{conn}: reading client has {} bytes queued",
                    m.queued
                ));
            }
            let _ = m.slot;
        }
        if self.gateway.connection_count() != live {
            self.fail(format!(
                "gateway has {} connections, model {live}",
                self.gateway.connection_count()
            ));
        }
        let entries = self.gateway.presence().entries().count();
        if entries > self.params.presence_max + 1 {
            self.fail(format!(
                "presence has {entries} entries > max {} + 1",
                self.params.presence_max
            ));
        }
    }

    /// Checks that hold between any two steps (for `check_invariants`).
    pub fn check(&self) {
        for (&conn, m) in &self.conns {
            if self.gateway.queued_bytes(conn) != Some(m.queued) {
                self.fail(format!("{conn}: queued bytes disagree"));
            }
        }
        if self.gateway.presence().entries().count() > self.params.presence_max + 1 {
            self.fail("presence over its bound".to_owned());
        }
    }

    /// Open connections the model considers authenticated.
    pub fn open_count(&self) -> usize {
        self.conns
            .values()
            .filter(|m| matches!(m.phase, Phase::Open { .. }))
            .count()
    }
}
