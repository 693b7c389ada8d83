//! The operations the property tests and fuzz targets apply, the text they
//! send, and a decoder that turns fuzz bytes into operations.

use std::time::Duration;

use crate::gateway::{AuthConfig, Config, Limits};

/// Connection slots a case uses; an op names a slot, not a `ConnId`.
pub const SLOTS: u8 = 4;

/// The shared secret of every simulated gateway.
pub const TOKEN: &str = "s3cret";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    V3,
    V4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Good,
    Bad,
    Missing,
}

/// `cli`/`cli` (never in presence) or `gateway-client`/`backend` (tracked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Cli,
    Backend,
}

/// The scopes a connect asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    Nothing,
    Read,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectSpec {
    pub proto: Proto,
    pub token: Token,
    pub client: ClientKind,
    pub grant: Grant,
}

/// A request after (or instead of) the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqKind {
    Health,
    Status,
    SystemPresence,
    /// `system-event` with a fresh `instanceId` (admin only): grows presence.
    SystemEvent,
    LastHeartbeat,
    Unknown,
    /// A request frame with an extra property: invalid, but with an id.
    InvalidWithId,
    /// A request frame without an id: answered with id "invalid".
    InvalidNoId,
}

/// Text that is not a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    NotJson,
    /// JSON, but an array.
    JsonArray,
    /// Larger than both payload limits of [`sim_config`].
    Oversized,
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A socket opens in `slot` (no-op while the slot's socket is still there).
    Open {
        slot: u8,
        remote: bool,
    },
    Connect {
        slot: u8,
        spec: ConnectSpec,
    },
    Request {
        slot: u8,
        kind: ReqKind,
    },
    Garbage {
        slot: u8,
        kind: Garbage,
    },
    Binary {
        slot: u8,
    },
    /// The client stops reading: its bytes are no longer acknowledged.
    Stall {
        slot: u8,
    },
    /// The client reads everything held back.
    Resume {
        slot: u8,
    },
    /// One `handle_timeout` at `now + ms` (skipping deadlines on the way).
    Advance {
        ms: u32,
    },
    /// Jump to `poll_timeout()` and fire it, as a runtime does.
    FireNext,
    /// The socket goes away (`Input::Closed`).
    Disconnect {
        slot: u8,
    },
    Shutdown,
}

/// Limits small enough that a few ops reach them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimParams {
    pub max_buffered_bytes: usize,
    pub presence_max: usize,
    pub auth_failures_max: u32,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            max_buffered_bytes: 4096,
            presence_max: 3,
            auth_failures_max: 3,
        }
    }
}

/// Preauth payload limit of [`sim_config`]; [`Garbage::Oversized`] exceeds it.
pub const SIM_MAX_PREAUTH: usize = 3000;
/// Payload limit after the handshake.
pub const SIM_MAX_PAYLOAD: usize = 4000;

pub fn sim_limits(params: SimParams) -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(15),
        max_preauth_payload: SIM_MAX_PREAUTH,
        max_payload: SIM_MAX_PAYLOAD,
        max_buffered_bytes: params.max_buffered_bytes,
        tick_interval: Duration::from_secs(30),
        health_refresh_interval: Duration::from_secs(60),
        presence_ttl: Duration::from_secs(300),
        presence_max: params.presence_max,
        // No text fits a frame and exceeds this: the models store texts whole.
        presence_text_max: SIM_MAX_PAYLOAD,
        // The models predict one broadcast per change.
        presence_broadcast_window: Duration::ZERO,
        auth_failure_delay: Duration::from_millis(250),
        auth_failure_delay_max: Duration::from_secs(5),
        auth_failures_max: params.auth_failures_max,
        auth_failure_window: Duration::from_secs(60),
        auth_lockout: Duration::from_secs(300),
        max_pending_effects: 4,
        max_preauth_per_ip: 32,
        max_connections: 50_000,
        effect_timeout: Duration::from_secs(30),
    }
}

pub fn sim_config(params: SimParams) -> Config {
    Config {
        auth: AuthConfig::Token(TOKEN.to_owned()),
        limits: sim_limits(params),
        server_version: "9.9.9".to_owned(),
        ..Config::default()
    }
}

/// The connect request text for `spec`.
pub fn connect_text(id: &str, spec: ConnectSpec, instance: &str) -> String {
    let n = match spec.proto {
        Proto::V3 => 3,
        Proto::V4 => 4,
    };
    let (client, mode) = match spec.client {
        ClientKind::Cli => ("cli", "cli"),
        ClientKind::Backend => ("gateway-client", "backend"),
    };
    let scopes = match spec.grant {
        Grant::Nothing => "[]",
        Grant::Read => r#"["operator.read"]"#,
        Grant::Admin => r#"["operator.admin"]"#,
    };
    let auth = match spec.token {
        Token::Good => format!(r#","auth":{{"token":"{TOKEN}"}}"#),
        Token::Bad => r#","auth":{"token":"wrong"}"#.to_owned(),
        Token::Missing => String::new(),
    };
    format!(
        r#"{{"type":"req","id":"{id}","method":"connect","params":{{"minProtocol":{n},"maxProtocol":{n},"client":{{"id":"{client}","version":"1.0.0","platform":"linux","mode":"{mode}","instanceId":"{instance}"}},"role":"operator","scopes":{scopes}{auth}}}}}"#
    )
}

/// The text of a request of `kind` with `id`, and the id its answer carries
/// (`None` for frames that are not requests at all before the handshake).
pub fn request_text(kind: ReqKind, id: &str) -> (String, &'static str) {
    let text = match kind {
        ReqKind::Health => format!(r#"{{"type":"req","id":"{id}","method":"health"}}"#),
        ReqKind::Status => {
            format!(r#"{{"type":"req","id":"{id}","method":"status","params":{{}}}}"#)
        }
        ReqKind::SystemPresence => {
            format!(r#"{{"type":"req","id":"{id}","method":"system-presence"}}"#)
        }
        ReqKind::SystemEvent => format!(
            r#"{{"type":"req","id":"{id}","method":"system-event","params":{{"text":"hi","instanceId":"ev-{id}"}}}}"#
        ),
        ReqKind::LastHeartbeat => {
            format!(r#"{{"type":"req","id":"{id}","method":"last-heartbeat"}}"#)
        }
        ReqKind::Unknown => format!(r#"{{"type":"req","id":"{id}","method":"no.such.method"}}"#),
        ReqKind::InvalidWithId => {
            format!(r#"{{"type":"req","id":"{id}","method":"health","bogus":1}}"#)
        }
        ReqKind::InvalidNoId => r#"{"type":"req","method":"health"}"#.to_owned(),
    };
    let answered_as = match kind {
        ReqKind::InvalidNoId => "invalid",
        _ => "",
    };
    (text, answered_as)
}

pub fn garbage_text(kind: Garbage) -> String {
    match kind {
        Garbage::NotJson => "hello {".to_owned(),
        Garbage::JsonArray => "[1,2,3]".to_owned(),
        Garbage::Oversized => format!(r#"{{"pad":"{}"}}"#, "x".repeat(SIM_MAX_PAYLOAD + 10)),
        Garbage::Empty => String::new(),
    }
}

/// Reads fuzz bytes as a stream of small choices; exhausted input reads as zeros.
pub struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A choice in `0..n` (n > 0).
    pub fn below(&mut self, n: u8) -> u8 {
        self.byte() % n.max(1)
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// The sim parameters: one byte.
    pub fn params(&mut self) -> SimParams {
        let b = self.byte();
        SimParams {
            max_buffered_bytes: [1024, 4096, 16 * 1024, 64 * 1024][usize::from(b & 3)],
            presence_max: 1 + usize::from((b >> 2) & 3),
            auth_failures_max: 1 + u32::from((b >> 4) & 3),
        }
    }

    pub fn connect_spec(&mut self) -> ConnectSpec {
        let b = self.byte();
        ConnectSpec {
            proto: if b & 1 == 0 { Proto::V4 } else { Proto::V3 },
            token: match (b >> 1) % 4 {
                0 | 1 => Token::Good,
                2 => Token::Bad,
                _ => Token::Missing,
            },
            client: if b & 8 == 0 {
                ClientKind::Backend
            } else {
                ClientKind::Cli
            },
            grant: match (b >> 4) % 3 {
                0 => Grant::Admin,
                1 => Grant::Read,
                _ => Grant::Nothing,
            },
        }
    }

    pub fn req_kind(&mut self) -> ReqKind {
        match self.below(8) {
            0 => ReqKind::Health,
            1 => ReqKind::Status,
            2 => ReqKind::SystemPresence,
            3 => ReqKind::SystemEvent,
            4 => ReqKind::LastHeartbeat,
            5 => ReqKind::Unknown,
            6 => ReqKind::InvalidWithId,
            _ => ReqKind::InvalidNoId,
        }
    }

    pub fn garbage(&mut self) -> Garbage {
        match self.below(4) {
            0 => Garbage::NotJson,
            1 => Garbage::JsonArray,
            2 => Garbage::Oversized,
            _ => Garbage::Empty,
        }
    }

    /// A time step: mostly short, sometimes past every timer.
    pub fn millis(&mut self) -> u32 {
        let raw = u32::from(self.u16());
        match raw % 4 {
            0 => raw % 300,
            1 => raw % 20_000,
            2 => raw * 4,
            _ => raw % 70_000,
        }
    }

    /// One hub op: a byte for the kind, then its fields.
    pub fn op(&mut self) -> Op {
        let kind = self.byte();
        let slot = (kind >> 4) % SLOTS;
        match kind % 16 {
            0 | 1 => Op::Open {
                slot,
                remote: self.bool(),
            },
            2 | 3 => Op::Connect {
                slot,
                spec: self.connect_spec(),
            },
            4 | 5 => Op::Request {
                slot,
                kind: self.req_kind(),
            },
            6 => Op::Garbage {
                slot,
                kind: self.garbage(),
            },
            7 => Op::Binary { slot },
            8 => Op::Stall { slot },
            9 => Op::Resume { slot },
            10 | 11 => Op::Advance { ms: self.millis() },
            12 => Op::FireNext,
            13 | 14 => Op::Disconnect { slot },
            _ => {
                // Rare: shutdown ends the interesting part of a case.
                if self.byte() < 32 {
                    Op::Shutdown
                } else {
                    Op::FireNext
                }
            }
        }
    }
}
