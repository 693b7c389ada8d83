//! A scripted fake gateway and a virtual-time harness around
//! [`ClientConnection`], with the invariants every run must keep. Shared by
//! the scenario tests, the proptest state machine and the fuzz targets.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::time::Timestamp;

use serde_json::{json, Value};

use super::{ClientConfig, ClientConnection, ClientOutput, RequestId, RequestOptions};

/// Server frames as the reference gateway writes them.
pub mod frames {
    use super::*;

    pub fn challenge(nonce: &str) -> String {
        json!({"type":"event","event":"connect.challenge","payload":{"nonce":nonce,"ts":0}})
            .to_string()
    }

    pub fn hello_ok(id: &str, protocol: u64, tick_ms: u64, device_token: Option<&str>) -> String {
        let mut auth = json!({"role":"operator","scopes":["operator.read"]});
        if let Some(t) = device_token {
            auth["deviceToken"] = t.into();
        }
        json!({"type":"res","id":id,"ok":true,"payload":{
            "type":"hello-ok","protocol":protocol,
            "server":{"version":"test","connId":"c-1"},
            "features":{"methods":[],"events":[]},
            "snapshot":{},
            "policy":{"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":tick_ms},
            "auth":auth}})
        .to_string()
    }

    pub fn res_ok(id: &str, payload: Value) -> String {
        json!({"type":"res","id":id,"ok":true,"payload":payload}).to_string()
    }

    pub fn res_err(
        id: &str,
        code: &str,
        message: &str,
        details: Option<Value>,
        retry_after_ms: Option<u64>,
    ) -> String {
        let mut error = json!({"code":code,"message":message});
        if let Some(d) = details {
            error["details"] = d;
        }
        if let Some(ms) = retry_after_ms {
            error["retryable"] = true.into();
            error["retryAfterMs"] = ms.into();
        }
        json!({"type":"res","id":id,"ok":false,"error":error}).to_string()
    }

    pub fn event(name: &str, payload: Value, seq: Option<u64>) -> String {
        let mut e = json!({"type":"event","event":name,"payload":payload});
        if let Some(s) = seq {
            e["seq"] = s.into();
        }
        e.to_string()
    }
}

/// A client in virtual time, with every output recorded and the invariants
/// checked after every step (they panic: this is test code).
pub struct Sim {
    pub client: ClientConnection,
    pub now: Timestamp,
    pub base: Timestamp,
    /// Every output since the start, in order.
    pub log: Vec<ClientOutput>,
    /// Frames the client sent, decoded.
    pub sent: Vec<Value>,
    issued: BTreeSet<RequestId>,
    answered: BTreeSet<RequestId>,
    stopped: bool,
}

impl Sim {
    /// A client whose virtual clock starts at `base` (the caller's: the core
    /// never reads the clock).
    pub fn new(config: ClientConfig, seed: u8, base: Timestamp) -> Self {
        let client = ClientConnection::new(config, [seed; 32], base);
        let mut sim = Sim {
            client,
            now: base,
            base,
            log: Vec::new(),
            sent: Vec::new(),
            issued: BTreeSet::new(),
            answered: BTreeSet::new(),
            stopped: false,
        };
        sim.drain();
        sim
    }

    /// Seconds since the start, for readable assertions.
    pub fn elapsed(&self, at: Timestamp) -> Duration {
        at - self.base
    }

    /// Drain outputs, checking invariants; returns the new ones.
    pub fn drain(&mut self) -> Vec<ClientOutput> {
        let mut new = Vec::new();
        while let Some(o) = self.client.poll_output() {
            assert!(!self.stopped, "output after Disconnected: {o:?}");
            match &o {
                ClientOutput::Send(b) => {
                    self.sent
                        .push(serde_json::from_slice(b).expect("client sends JSON"));
                }
                ClientOutput::Response { id, .. } => {
                    assert!(self.issued.contains(id), "response for unknown {id}");
                    assert!(self.answered.insert(*id), "{id} answered twice");
                }
                ClientOutput::Disconnected { .. } => self.stopped = true,
                _ => {}
            }
            new.push(o);
        }
        if let Some(t) = self.client.poll_timeout() {
            assert!(t >= self.now, "poll_timeout in the past after a drain");
        }
        self.log.extend(new.iter().cloned());
        new
    }

    pub fn text(&mut self, text: &str) -> Vec<ClientOutput> {
        self.client.handle_text(text, self.now);
        self.drain()
    }

    pub fn closed(&mut self, code: u16, reason: &str) -> Vec<ClientOutput> {
        self.client.handle_closed(code, reason, self.now);
        self.drain()
    }

    pub fn reconnected(&mut self) -> Vec<ClientOutput> {
        let _ = self.client.handle_reconnected(self.now);
        self.drain()
    }

    pub fn request(
        &mut self,
        method: &str,
        params: Option<Value>,
        opts: RequestOptions,
    ) -> Option<RequestId> {
        let id = self
            .client
            .request(method, params.as_ref(), opts, self.now)
            .ok()?;
        self.issued.insert(id);
        self.drain();
        Some(id)
    }

    /// Move time forward by `d`, firing every timer on the way at its own instant.
    pub fn advance(&mut self, d: Duration) -> Vec<ClientOutput> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.client.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t;
            self.client.handle_timeout(t);
            out.extend(self.drain());
        }
        self.now = end;
        self.client.handle_timeout(end);
        out.extend(self.drain());
        out
    }

    /// The wire id of the last frame sent with `method`.
    pub fn last_id(&self, method: &str) -> Option<String> {
        self.sent
            .iter()
            .rev()
            .find(|f| f["method"] == method)
            .and_then(|f| f["id"].as_str())
            .map(str::to_owned)
    }

    /// Challenge + hello-ok with the given tick interval.
    pub fn handshake(&mut self, tick_ms: u64) -> Vec<ClientOutput> {
        let mut out = self.text(&frames::challenge("nonce-1"));
        let id = self
            .last_id("connect")
            .expect("connect sent after the challenge");
        out.extend(self.text(&frames::hello_ok(&id, 4, tick_ms, None)));
        out
    }

    pub fn is_answered(&self, id: RequestId) -> bool {
        self.answered.contains(&id)
    }

    pub fn issued(&self) -> &BTreeSet<RequestId> {
        &self.issued
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}
