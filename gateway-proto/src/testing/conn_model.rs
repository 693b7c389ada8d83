//! A reference model of one [`ServerConnection`] on its own (the embedder
//! answers requests), and a driver that predicts every output of every op
//! exactly and panics on any difference.

use core::net::IpAddr;
use std::time::Duration;

use crate::time::Timestamp;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::Value;

use super::ops::{
    connect_text, garbage_text, request_text, sim_limits, ByteReader, ConnectSpec, Garbage, Grant,
    Proto, ReqKind, SimParams, Token, TOKEN,
};
use crate::gateway::{AuthConfig, Limits, Peer};
use crate::server::{
    close_code, AuthRateLimiter, HandshakeContext, HelloAuth, HelloFeatures, HelloOk, HelloPolicy,
    HelloServer, HelloSnapshot, Inbound, OriginPolicy, SendOutcome, ServerConnection, ServerOutput,
};
use crate::wire::{encode_event, ErrorShape, StateVersion};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnText {
    Connect(ConnectSpec),
    Request(ReqKind),
    Garbage(Garbage),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnOp {
    Text(ConnText),
    Binary,
    /// The client stops reading.
    Stall,
    /// The runtime wrote everything held back.
    Resume,
    Advance {
        ms: u32,
    },
    /// The socket went away.
    PeerClosed,
    /// The owner closes (1000).
    Close,
    /// The owner broadcasts an event.
    Broadcast {
        droppable: bool,
    },
    /// The owner sends a direct (unsequenced) frame.
    Direct,
    /// The owner approves the pending handshake.
    Accept,
    /// The owner refuses it.
    Reject,
}

impl ByteReader<'_> {
    pub fn conn_op(&mut self) -> ConnOp {
        match self.below(16) {
            0..=2 => ConnOp::Text(ConnText::Connect(self.connect_spec())),
            3..=5 => ConnOp::Text(ConnText::Request(self.req_kind())),
            6 => ConnOp::Text(ConnText::Garbage(self.garbage())),
            7 => ConnOp::Binary,
            8 => ConnOp::Stall,
            9 => ConnOp::Resume,
            10 => ConnOp::Advance { ms: self.millis() },
            11 => {
                if self.byte() < 64 {
                    ConnOp::PeerClosed
                } else {
                    ConnOp::Close
                }
            }
            12 | 13 => ConnOp::Broadcast {
                droppable: self.bool(),
            },
            14 => ConnOp::Direct,
            _ => {
                if self.bool() {
                    ConnOp::Accept
                } else {
                    ConnOp::Reject
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Awaiting {
        deadline: Timestamp,
    },
    Rejecting {
        id: String,
        by: Timestamp,
    },
    AwaitingHello {
        id: String,
        proto: Proto,
    },
    Open,
    Closed,
    /// The socket is gone: not even a close is emitted.
    Gone,
}

/// An output the model predicts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exp {
    Res { id: String, ok: bool },
    Event { seq: Option<u64> },
    Close { code: u16 },
}

pub struct ConnSim {
    pub conn: ServerConnection,
    pub now: Timestamp,
    limits: Limits,
    auth: AuthConfig,
    limiter: AuthRateLimiter,
    phase: Phase,
    stalled: bool,
    queued: usize,
    seq: u64,
    next_req: u64,
    step: usize,
    event_body: Bytes,
    /// The current op is answered by the handshake (see `apply`).
    handshake_answer: bool,
    pub log: Vec<String>,
}

impl ConnSim {
    pub fn new(params: SimParams, start: Timestamp) -> Self {
        let limits = sim_limits(params);
        let peer = Peer::new(IpAddr::from([127, 0, 0, 1]), true);
        let conn = ServerConnection::new(peer, "nonce-1".to_owned(), &limits, start, 1_000);
        let mut buf = Vec::new();
        let event_body = encode_event(
            &mut buf,
            "tick",
            Some(&serde_json::json!({ "ts": 1 })),
            None,
            true,
        );
        let mut sim = ConnSim {
            conn,
            now: start,
            auth: AuthConfig::Token(TOKEN.to_owned()),
            limiter: AuthRateLimiter::from_limits(&limits),
            phase: Phase::Awaiting {
                deadline: start + limits.handshake_timeout,
            },
            limits,
            stalled: false,
            queued: 0,
            seq: 0,
            next_req: 1,
            step: 0,
            event_body,
            handshake_answer: true,
            log: Vec::new(),
        };
        sim.expect(vec![Exp::Event { seq: None }]);
        sim
    }

    fn fail(&self, why: String) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(12).collect();
        panic!(
            "ServerConnection invariant violated at step {}: {why}\nrecent (newest first): {tail:#?}",
            self.step
        );
    }

    fn slow(&self) -> bool {
        self.queued > self.limits.max_buffered_bytes
    }

    /// Droppable events yield at half the limit, keeping the rest for the
    /// ones that must be delivered.
    fn half_full(&self) -> bool {
        self.queued > self.limits.max_buffered_bytes / 2
    }

    fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed | Phase::Gone)
    }

    /// Outputs of a non-droppable frame: the frame, or a slow-consumer close.
    fn direct(&mut self, exp: Exp, out: &mut Vec<Exp>) {
        if self.is_closed() {
            return;
        }
        if self.slow() {
            self.close_now(close_code::POLICY_VIOLATION, out);
        } else {
            out.push(exp);
        }
    }

    fn close_now(&mut self, code: u16, out: &mut Vec<Exp>) {
        if !self.is_closed() {
            self.phase = Phase::Closed;
            out.push(Exp::Close { code });
        }
    }

    pub fn apply(&mut self, op: ConnOp) {
        self.step += 1;
        self.log.push(format!("{op:?}"));
        // The handshake's own answers (hello-ok, a refused connect's error)
        // are always queued, slow or not: the reference sends them without
        // looking at the socket's buffer, and each connection gets at most one,
        // so they cannot grow memory. Only frames after the handshake obey the
        // slow-consumer rule.
        self.handshake_answer = !matches!(self.phase, Phase::Open | Phase::Closed | Phase::Gone);
        let mut out = Vec::new();
        match op {
            ConnOp::Text(text) => self.text(text, &mut out),
            ConnOp::Binary => {
                if matches!(self.phase, Phase::Awaiting { .. }) {
                    self.close_now(close_code::NORMAL, &mut out);
                }
                self.conn.handle_binary();
            }
            ConnOp::Stall => self.stalled = true,
            ConnOp::Resume => {
                self.stalled = false;
                let bytes = std::mem::take(&mut self.queued);
                self.conn.handle_sent(bytes);
            }
            ConnOp::Advance { ms } => {
                let now = self.now + Duration::from_millis(u64::from(ms));
                self.now = now;
                match self.phase.clone() {
                    Phase::Awaiting { deadline } if deadline <= now => {
                        self.close_now(close_code::NORMAL, &mut out);
                    }
                    Phase::Rejecting { id, by } if by <= now => {
                        out.push(Exp::Res { id, ok: false });
                        self.close_now(close_code::POLICY_VIOLATION, &mut out);
                    }
                    _ => {}
                }
                self.conn.handle_timeout(now, &self.limiter);
            }
            ConnOp::PeerClosed => {
                self.phase = Phase::Gone;
                self.conn.handle_peer_closed();
            }
            ConnOp::Close => {
                self.close_now(close_code::NORMAL, &mut out);
                self.conn.close(close_code::NORMAL, "bye");
            }
            ConnOp::Broadcast { droppable } => {
                let expected = if self.phase == Phase::Open {
                    self.seq += 1;
                    if droppable && self.half_full() {
                        SendOutcome::Dropped
                    } else if !self.slow() {
                        out.push(Exp::Event {
                            seq: Some(self.seq),
                        });
                        SendOutcome::Queued
                    } else {
                        self.close_now(close_code::POLICY_VIOLATION, &mut out);
                        SendOutcome::Closed
                    }
                } else {
                    SendOutcome::Closed
                };
                let got = self.conn.send_broadcast(&self.event_body, droppable);
                if got != expected {
                    self.fail(format!("send_broadcast: {got:?}, model {expected:?}"));
                }
            }
            ConnOp::Direct => {
                let id = self.new_id();
                self.direct(
                    Exp::Res {
                        id: id.clone(),
                        ok: true,
                    },
                    &mut out,
                );
                let mut buf = Vec::new();
                self.conn.respond_ok(&id, &Value::Null, &mut buf);
            }
            ConnOp::Accept => {
                if let Phase::AwaitingHello { id, .. } = self.phase.clone() {
                    out.push(Exp::Res { id, ok: true });
                    self.phase = Phase::Open;
                }
                self.accept();
            }
            ConnOp::Reject => {
                if let Phase::AwaitingHello { id, .. } = self.phase.clone() {
                    out.push(Exp::Res { id, ok: false });
                    self.close_now(close_code::POLICY_VIOLATION, &mut out);
                }
                self.conn.reject(
                    ErrorShape::invalid_request("pairing required"),
                    close_code::POLICY_VIOLATION,
                );
            }
        }
        self.expect(out);
        if matches!(op, ConnOp::Advance { .. }) {
            if let Some(at) = self.conn.poll_timeout() {
                if at <= self.now {
                    self.fail(format!("poll_timeout {at:?} not after now {:?}", self.now));
                }
            }
        }
        self.check();
    }

    fn new_id(&mut self) -> String {
        let id = format!("r{}", self.next_req);
        self.next_req += 1;
        id
    }

    fn accept(&mut self) {
        let presence = RawValue::from_string("[]".to_owned()).expect("valid JSON");
        let health = RawValue::from_string("{}".to_owned()).expect("valid JSON");
        let hello = HelloOk {
            kind: "hello-ok",
            protocol: 4,
            server: HelloServer {
                version: "9.9.9",
                build_id: None,
                conn_id: "c",
                boot_id: None,
                control_ui_build_source: None,
            },
            features: HelloFeatures {
                methods: &[],
                events: &[],
            },
            snapshot: HelloSnapshot {
                presence: &presence,
                health: &health,
                state_version: StateVersion {
                    presence: 1,
                    health: 1,
                },
                uptime_ms: 0,
                config_path: None,
                state_dir: None,
                auth_mode: None,
            },
            policy: HelloPolicy {
                max_payload: 1,
                max_buffered_bytes: 1,
                tick_interval_ms: 1,
            },
            auth: HelloAuth {
                role: "operator",
                scopes: &[],
                method: None,
                device_token: None,
                issued_at_ms: None,
            },
        };
        let mut buf = Vec::new();
        self.conn.accept(&hello, &mut buf);
    }

    fn text(&mut self, text: ConnText, out: &mut Vec<Exp>) {
        let id = self.new_id();
        let (raw, answered_as) = match text {
            ConnText::Connect(spec) => (connect_text(&id, spec, "inst"), ""),
            ConnText::Request(kind) => request_text(kind, &id),
            ConnText::Garbage(kind) => (garbage_text(kind), ""),
        };
        let answer_id = if answered_as.is_empty() {
            id.clone()
        } else {
            answered_as.to_owned()
        };
        // What handle_text must return: a connect to approve, a request to answer.
        let mut want_connect = None;
        let mut want_request = false;
        match (self.phase.clone(), text) {
            (Phase::Awaiting { .. }, ConnText::Connect(spec)) => match spec.token {
                Token::Missing => {
                    out.push(Exp::Res { id, ok: false });
                    self.close_now(close_code::POLICY_VIOLATION, out);
                }
                Token::Bad => {
                    self.phase = Phase::Rejecting {
                        id,
                        by: self.now + self.limits.auth_failure_delay,
                    };
                }
                Token::Good => {
                    want_connect = Some((
                        spec.proto,
                        spec.proto == Proto::V4 && spec.grant != Grant::Nothing,
                    ));
                    self.phase = Phase::AwaitingHello {
                        id,
                        proto: spec.proto,
                    };
                }
            },
            (Phase::Awaiting { .. }, ConnText::Request(kind)) => match kind {
                ReqKind::InvalidWithId | ReqKind::InvalidNoId => {
                    self.close_now(close_code::POLICY_VIOLATION, out);
                }
                _ => {
                    out.push(Exp::Res { id, ok: false });
                    self.close_now(close_code::POLICY_VIOLATION, out);
                }
            },
            (Phase::Awaiting { .. }, ConnText::Garbage(kind)) => {
                let code = match kind {
                    Garbage::Oversized => close_code::MESSAGE_TOO_BIG,
                    Garbage::JsonArray => close_code::POLICY_VIOLATION,
                    Garbage::NotJson | Garbage::Empty => close_code::NORMAL,
                };
                self.close_now(code, out);
            }
            (Phase::Open, ConnText::Connect(_)) => self.direct(Exp::Res { id, ok: false }, out),
            (Phase::Open, ConnText::Request(kind)) => match kind {
                ReqKind::InvalidWithId | ReqKind::InvalidNoId => self.direct(
                    Exp::Res {
                        id: answer_id.clone(),
                        ok: false,
                    },
                    out,
                ),
                _ => want_request = true,
            },
            (Phase::Open, ConnText::Garbage(Garbage::Oversized)) => {
                self.close_now(close_code::MESSAGE_TOO_BIG, out);
            }
            (Phase::Open, ConnText::Garbage(Garbage::JsonArray)) => self.direct(
                Exp::Res {
                    id: "invalid".to_owned(),
                    ok: false,
                },
                out,
            ),
            _ => {}
        }
        let mut ctx = HandshakeContext {
            auth: &self.auth,
            origin_policy: &OriginPolicy::default(),
            limiter: &mut self.limiter,
            starting: false,
            unix_ms: 1_000,
            device_tokens: &crate::server::NoDeviceTokens,
            control_ui: &crate::gateway::control_ui::ControlUiInfo::default(),
        };
        let inbound = self.conn.handle_text(&raw, self.now, &mut ctx);
        let got = match &inbound {
            None => "nothing".to_owned(),
            Some(Inbound::Connect(c)) => format!("connect {} {:?}", c.request_id, c.protocol),
            Some(Inbound::Request(r)) => format!("request {} {}", r.id, r.method),
        };
        match inbound {
            Some(Inbound::Connect(request)) => {
                let Some((proto, read)) = want_connect else {
                    self.fail(format!("unexpected {got}"));
                };
                let want = match proto {
                    Proto::V3 => 3,
                    Proto::V4 => 4,
                };
                if request.protocol.number() != want
                    || request.granted_scopes.is_empty() == read
                    || request.request_id != answer_id
                {
                    self.fail(format!("connect {request:?}: model {proto:?} read={read}"));
                }
            }
            Some(Inbound::Request(request)) => {
                if !want_request || request.id != answer_id {
                    self.fail(format!("unexpected {got}"));
                }
                // The embedder answers every request exactly once.
                self.direct(
                    Exp::Res {
                        id: answer_id.clone(),
                        ok: true,
                    },
                    out,
                );
                let mut buf = Vec::new();
                self.conn
                    .respond_ok(&request.id, &serde_json::json!({"ok": true}), &mut buf);
            }
            None => {
                if want_connect.is_some() || want_request {
                    self.fail(format!("handle_text returned nothing for {text:?}"));
                }
            }
        }
    }

    /// Drain and compare with the model's prediction, exactly.
    fn expect(&mut self, expected: Vec<Exp>) {
        let mut got = Vec::new();
        while let Some(output) = self.conn.poll_output() {
            match output {
                ServerOutput::Frame(frame) => {
                    let text = frame.to_text();
                    if text.len() != frame.len() {
                        self.fail(format!("frame len {} != {}", frame.len(), text.len()));
                    }
                    let value: Value = match serde_json::from_str(&text) {
                        Ok(v) => v,
                        Err(e) => self.fail(format!("frame is not JSON ({e}): {text}")),
                    };
                    if self.slow() && !self.handshake_answer {
                        self.fail(format!("frame queued while slow: {text}"));
                    }
                    self.queued += frame.len();
                    match value["type"].as_str() {
                        Some("res") => got.push(Exp::Res {
                            id: value["id"].as_str().unwrap_or_default().to_owned(),
                            ok: value["ok"].as_bool().unwrap_or_default(),
                        }),
                        Some("event") => {
                            let seq = value.get("seq").and_then(Value::as_u64);
                            if seq != frame.seq() {
                                self.fail(format!("seq disagrees: {text}"));
                            }
                            got.push(Exp::Event { seq });
                        }
                        _ => self.fail(format!("unexpected frame {text}")),
                    }
                }
                ServerOutput::Close { code, reason } => {
                    if reason.len() > crate::server::MAX_CLOSE_REASON {
                        self.fail(format!("close reason too long: {reason:?}"));
                    }
                    if reason == "slow consumer" && (code != 1008 || !self.slow()) {
                        self.fail(format!("slow-consumer close while not slow ({code})"));
                    }
                    got.push(Exp::Close { code });
                }
            }
        }
        if got != expected {
            self.fail(format!("outputs {got:?}, model expected {expected:?}"));
        }
        if !self.stalled {
            let bytes = std::mem::take(&mut self.queued);
            self.conn.handle_sent(bytes);
        }
    }

    /// Accessors agree with the model.
    pub fn check(&self) {
        if self.conn.queued_bytes() != self.queued {
            self.fail(format!(
                "queued_bytes {} != model {}",
                self.conn.queued_bytes(),
                self.queued
            ));
        }
        if self.conn.last_seq() != self.seq {
            self.fail(format!(
                "last_seq {} != model {}",
                self.conn.last_seq(),
                self.seq
            ));
        }
        if self.conn.is_closed() != self.is_closed() {
            self.fail(format!(
                "is_closed {} vs model {:?}",
                self.conn.is_closed(),
                self.phase
            ));
        }
        if self.conn.is_authenticated() != (self.phase == Phase::Open) {
            self.fail(format!("is_authenticated vs model {:?}", self.phase));
        }
        let want_timer = match &self.phase {
            Phase::Awaiting { deadline } => Some(*deadline),
            Phase::Rejecting { by, .. } => Some(*by),
            _ => None,
        };
        if self.conn.poll_timeout() != want_timer {
            self.fail(format!(
                "poll_timeout {:?} vs model {:?}",
                self.conn.poll_timeout(),
                self.phase
            ));
        }
    }
}
