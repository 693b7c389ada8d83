//! The client state machine: handshake, requests, events, watchdog, reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::time::Timestamp;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::config::{ClientConfig, RequestOptions};
use super::device::SignInput;
use super::inbound;
use super::output::{CallFailure, ClientError, ClientOutput, HelloInfo, RequestId};
use super::retry::{self, Retry};
use super::Backoff;
use crate::ids::Rng;
use crate::timer::DeadlineQueue;
use crate::wire::{encode_request, ErrorShape};

/// The gateway's default; used until `hello-ok` says otherwise.
const DEFAULT_TICK_INTERVAL_MS: u64 = 30_000;
/// Deadline of the core's own refresh requests after a gap.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Phase {
    /// Socket open, waiting for `connect.challenge`.
    AwaitChallenge { deadline: Timestamp },
    /// `connect` sent with this wire id.
    AwaitHello {
        deadline: Timestamp,
        connect_id: String,
    },
    /// `hello-ok` received.
    Open,
    /// No socket; a `Reconnect` was emitted and `handle_reconnected` is awaited.
    Backoff,
    /// Terminal.
    Stopped,
}

struct Pending {
    wire_id: String,
    method: String,
    /// Kept until sent: requests made before `hello-ok` wait here.
    frame: Option<Bytes>,
    deadline: Option<Timestamp>,
    timeout: Duration,
    expect_final: bool,
    accepted: bool,
    /// Issued by the core itself after a gap; answered as `Refreshed`.
    refresh: bool,
}

/// Why a client connection wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientTimer {
    /// No `connect.challenge` yet.
    Challenge,
    /// No hello-ok yet.
    Hello,
    /// No frame for two tick intervals: the connection is presumed dead.
    TickWatchdog,
    /// A request's deadline.
    Request(RequestId),
}

/// One logical client session over a sequence of sockets, as a pure state machine.
///
/// Lifecycle, as seen by the runtime:
/// 1. Open a socket, then call [`ClientConnection::new`] (its `now` starts the
///    15 s challenge timer).
/// 2. Feed every text message to [`handle_text`](Self::handle_text), a socket
///    close (or failure to open one) to [`handle_closed`](Self::handle_closed),
///    and call [`handle_timeout`](Self::handle_timeout) at
///    [`poll_timeout`](Self::poll_timeout). Drain [`poll_output`](Self::poll_output)
///    after every call.
/// 3. On [`ClientOutput::Reconnect`] `{at}`, open a new socket at `at` and call
///    [`handle_reconnected`](Self::handle_reconnected) (or `handle_closed` if the
///    open fails, which schedules the next attempt).
/// 4. [`ClientOutput::Disconnected`] is the last output ever.
///
/// Requests made before `hello-ok` (or while reconnecting) are queued and sent
/// right after the next `hello-ok`; their deadline runs from the `request` call.
/// Every request gets exactly one [`ClientOutput::Response`].
pub struct ClientConnection {
    config: ClientConfig,
    rng: Rng,
    start: Timestamp,
    phase: Phase,
    instance_id: String,
    next_id: u64,
    pending: BTreeMap<RequestId, Pending>,
    /// Request deadlines.
    deadlines: DeadlineQueue<RequestId>,
    out: VecDeque<ClientOutput>,
    buf: Vec<u8>,
    backoff: Backoff,
    last_seq: Option<u64>,
    last_inbound: Timestamp,
    tick_interval: Duration,
    device_token: Option<String>,
    hello: Option<HelloInfo>,
}

impl ClientConnection {
    /// A client whose first socket has just opened at `now`.
    pub fn new(config: ClientConfig, seed: [u8; 32], now: Timestamp) -> Self {
        let mut rng = Rng::from_seed(seed);
        let instance_id = config
            .client
            .instance_id
            .clone()
            .unwrap_or_else(|| rng.uuid_v4());
        let device_token = config.auth.device_token.clone();
        let deadline = now + config.handshake_timeout;
        ClientConnection {
            config,
            rng,
            start: now,
            phase: Phase::AwaitChallenge { deadline },
            instance_id,
            next_id: 1,
            pending: BTreeMap::new(),
            deadlines: DeadlineQueue::new(),
            out: VecDeque::new(),
            buf: Vec::new(),
            backoff: Backoff::default(),
            last_seq: None,
            last_inbound: now,
            tick_interval: Duration::from_millis(DEFAULT_TICK_INTERVAL_MS),
            device_token,
            hello: None,
        }
    }

    /// `hello-ok` has been received on the current socket.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// `Disconnected` has been emitted; nothing more will happen.
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// The latest `hello-ok` (kept across reconnects).
    pub fn hello(&self) -> Option<&HelloInfo> {
        self.hello.as_ref()
    }

    /// Requests not yet answered (queued or in flight).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Start a request. `params` is any serializable value (`Value`, `RawValue`, a struct).
    pub fn request<T: Serialize + ?Sized>(
        &mut self,
        method: &str,
        params: Option<&T>,
        opts: RequestOptions,
        now: Timestamp,
    ) -> Result<RequestId, ClientError> {
        self.start_request(method, params, opts, false, now)
    }

    fn start_request<T: Serialize + ?Sized>(
        &mut self,
        method: &str,
        params: Option<&T>,
        opts: RequestOptions,
        refresh: bool,
        now: Timestamp,
    ) -> Result<RequestId, ClientError> {
        if matches!(self.phase, Phase::Stopped) {
            return Err(ClientError::Closed);
        }
        if method.is_empty() {
            return Err(ClientError::EmptyMethod);
        }
        if self.pending.len() >= self.config.max_pending {
            return Err(ClientError::TooManyPending(self.config.max_pending));
        }
        let (id, wire_id) = self.next_wire_id();
        let frame = encode_request(&mut self.buf, &wire_id, method, params);
        let timeout = opts.timeout.unwrap_or(self.config.request_timeout);
        let deadline = now + timeout;
        let frame = if self.is_connected() {
            self.out.push_back(ClientOutput::Send(frame));
            None
        } else {
            Some(frame)
        };
        self.deadlines.set(id, deadline);
        self.pending.insert(
            id,
            Pending {
                wire_id,
                method: method.to_owned(),
                frame,
                deadline: Some(deadline),
                timeout,
                expect_final: opts.expect_final,
                accepted: false,
                refresh,
            },
        );
        Ok(id)
    }

    /// Stop for good: close the socket if one is open, fail what is pending.
    pub fn close(&mut self, now: Timestamp) {
        let _ = now;
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        let (code, reason) = (1000, "client closed".to_owned());
        if self.socket_open() {
            self.out.push_back(ClientOutput::Close {
                code,
                reason: reason.clone(),
            });
        }
        self.fail_all(|| CallFailure::Closed {
            code,
            reason: reason.clone(),
        });
        self.stop(code, reason, None);
    }

    /// A new socket is open (after a `Reconnect`). Ignored unless the core is
    /// waiting for one; after `Disconnected` it is refused.
    pub fn handle_reconnected(&mut self, now: Timestamp) -> Result<(), ClientError> {
        match self.phase {
            Phase::Stopped => Err(ClientError::Closed),
            Phase::Backoff => {
                self.phase = Phase::AwaitChallenge {
                    deadline: now + self.config.handshake_timeout,
                };
                self.last_inbound = now;
                self.last_seq = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The socket closed (or could not be opened). Ignored when the core has no
    /// socket (it closed it itself, or is between sockets).
    pub fn handle_closed(&mut self, code: u16, reason: &str, now: Timestamp) {
        if self.socket_open() {
            self.after_close(code, reason.to_owned(), None, now);
        }
    }

    /// One inbound text message. Anything unparseable or unexpected is ignored.
    pub fn handle_text(&mut self, text: &str, now: Timestamp) {
        if !self.socket_open() {
            return;
        }
        self.last_inbound = now;
        let Some(frame) = inbound::parse(text) else {
            return;
        };
        match &*frame.kind {
            "event" => self.on_event(frame, now),
            "res" => self.on_response(frame, now),
            _ => {}
        }
    }

    /// Fire every timer due at `now`. Early or spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some((_, id)) = self.deadlines.pop_due(now) {
            if let Some(p) = self.pending.remove(&id) {
                let failure = CallFailure::Timeout {
                    method: p.method.clone(),
                    after: p.timeout,
                };
                self.answer(id, p, Err(failure));
            }
        }
        match self.phase {
            Phase::AwaitChallenge { deadline } if deadline <= now => {
                self.close_socket(1008, "connect challenge timeout", None, now)
            }
            Phase::AwaitHello { deadline, .. } if deadline <= now => {
                self.close_socket(1008, "connect timeout", None, now)
            }
            Phase::Open if self.tick_deadline() <= now => {
                self.close_socket(4000, "tick timeout", None, now)
            }
            _ => {}
        }
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    /// The earliest instant `handle_timeout` has something to do. A pending
    /// reconnect is not included: it is announced by `Reconnect { at }`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_timer().map(|(at, _)| at)
    }

    /// The earliest timer and why it is armed.
    pub fn next_timer(&self) -> Option<(Timestamp, ClientTimer)> {
        let phase = match self.phase {
            Phase::AwaitChallenge { deadline } => Some((deadline, ClientTimer::Challenge)),
            Phase::AwaitHello { deadline, .. } => Some((deadline, ClientTimer::Hello)),
            Phase::Open => Some((self.tick_deadline(), ClientTimer::TickWatchdog)),
            Phase::Backoff | Phase::Stopped => None,
        };
        let request = self
            .deadlines
            .next()
            .map(|(at, id)| (at, ClientTimer::Request(id)));
        phase.into_iter().chain(request).min()
    }

    fn socket_open(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitChallenge { .. } | Phase::AwaitHello { .. } | Phase::Open
        )
    }

    fn tick_deadline(&self) -> Timestamp {
        self.last_inbound + self.tick_interval * 2
    }

    fn next_wire_id(&mut self) -> (RequestId, String) {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        // Same shape as the reference CLI ("<n>:<uuid>"): readable in gateway logs.
        let wire = format!("{}:{}", id.0, self.rng.uuid_v4());
        (id, wire)
    }

    fn on_event(&mut self, frame: inbound::Inbound<'_>, now: Timestamp) {
        let name = frame.event.as_deref().unwrap_or_default();
        if name == "connect.challenge" {
            if let Phase::AwaitChallenge { .. } = self.phase {
                let nonce = inbound::value(frame.payload)
                    .get("nonce")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                match nonce {
                    Some(nonce) if !nonce.trim().is_empty() => self.send_connect(&nonce, now),
                    _ => self.close_socket(1008, "connect challenge missing nonce", None, now),
                }
            }
            return;
        }
        if !self.is_connected() || name.is_empty() {
            return;
        }
        if let Some(seq) = frame.seq {
            if let Some(last) = self.last_seq {
                if seq > last.saturating_add(1) {
                    self.out.push_back(ClientOutput::Gap {
                        expected: last + 1,
                        received: seq,
                    });
                    if self.config.refresh_on_gap {
                        self.refresh_after_gap(now);
                    }
                }
            }
            self.last_seq = Some(seq);
        }
        self.out.push_back(ClientOutput::Event {
            name: name.to_owned(),
            payload: inbound::value(frame.payload),
            seq: frame.seq,
        });
    }

    fn send_connect(&mut self, nonce: &str, now: Timestamp) {
        let params = self.connect_params(nonce, now);
        let (_, connect_id) = self.next_wire_id();
        let frame = encode_request(&mut self.buf, &connect_id, "connect", Some(&params));
        self.out.push_back(ClientOutput::Send(frame));
        self.phase = Phase::AwaitHello {
            deadline: now + self.config.handshake_timeout,
            connect_id,
        };
    }

    fn connect_params(&self, nonce: &str, now: Timestamp) -> Value {
        let c = &self.config;
        let mut client = Map::new();
        client.insert("id".into(), c.client.id.clone().into());
        if let Some(name) = &c.client.display_name {
            client.insert("displayName".into(), name.clone().into());
        }
        client.insert("version".into(), c.client.version.clone().into());
        client.insert("platform".into(), c.client.platform.clone().into());
        if let Some(family) = &c.client.device_family {
            client.insert("deviceFamily".into(), family.clone().into());
        }
        client.insert("mode".into(), c.client.mode.clone().into());
        client.insert("instanceId".into(), self.instance_id.clone().into());

        let mut auth = Map::new();
        if let Some(token) = &c.auth.token {
            auth.insert("token".into(), token.clone().into());
        }
        if let Some(password) = &c.auth.password {
            auth.insert("password".into(), password.clone().into());
        }
        if let Some(device_token) = &self.device_token {
            auth.insert("deviceToken".into(), device_token.clone().into());
        }

        let mut params = json!({
            "minProtocol": c.min_protocol,
            "maxProtocol": c.max_protocol,
            "client": client,
            "caps": c.caps,
            "role": c.role,
            "scopes": c.scopes,
        });
        if c.role == "node" || !c.commands.is_empty() {
            params["commands"] = json!(c.commands);
        }
        if let Some(path_env) = &c.path_env {
            params["pathEnv"] = Value::String(path_env.clone());
        }
        if !auth.is_empty() {
            params["auth"] = Value::Object(auth);
        }
        if let Some(key) = &c.device {
            let token = c
                .auth
                .token
                .as_deref()
                .or(self.device_token.as_deref())
                .unwrap_or("");
            let elapsed = now.saturating_duration_since(self.start).as_millis() as u64;
            let proof = key.sign(
                &SignInput {
                    client_id: &c.client.id,
                    client_mode: &c.client.mode,
                    role: &c.role,
                    scopes: &c.scopes,
                    token,
                    nonce,
                    platform: &c.client.platform,
                    device_family: c.client.device_family.as_deref().unwrap_or(""),
                },
                c.unix_ms_at_start.saturating_add(elapsed),
            );
            params["device"] = json!({
                "id": proof.id,
                "publicKey": proof.public_key,
                "signature": proof.signature,
                "signedAt": proof.signed_at,
                "nonce": proof.nonce,
            });
        }
        params
    }

    fn on_response(&mut self, frame: inbound::Inbound<'_>, now: Timestamp) {
        let Some(wire_id) = frame.id.as_deref() else {
            return;
        };
        if let Phase::AwaitHello { connect_id, .. } = &self.phase {
            if connect_id == wire_id {
                self.on_hello(frame, now);
            }
            return;
        }
        if !self.is_connected() {
            return;
        }
        let Some(id) = wire_id
            .split_once(':')
            .and_then(|(n, _)| n.parse::<u64>().ok())
            .map(RequestId)
        else {
            return;
        };
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if p.wire_id != wire_id || p.frame.is_some() {
            return;
        }
        let ok = frame.ok.unwrap_or(false);
        let payload = inbound::value(frame.payload);
        if ok && p.expect_final && payload.get("status").and_then(Value::as_str) == Some("accepted")
        {
            // An ack: the final answer may take longer than any deadline.
            if !p.accepted {
                p.accepted = true;
                if p.deadline.take().is_some() {
                    self.deadlines.clear(id);
                }
                self.out.push_back(ClientOutput::Accepted { id, payload });
            }
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if p.deadline.is_some() {
            self.deadlines.clear(id);
        }
        let result = if ok {
            Ok(payload)
        } else {
            let payload = frame.payload.map(|_| payload);
            Err(CallFailure::Gateway {
                error: inbound::error_shape(frame.error),
                payload,
            })
        };
        self.answer(id, p, result);
    }

    /// The one answer a request gets: `Response` for the caller's requests,
    /// `Refreshed` for the core's own refreshes after a gap.
    fn answer(&mut self, id: RequestId, pending: Pending, result: Result<Value, CallFailure>) {
        self.out.push_back(if pending.refresh {
            ClientOutput::Refreshed {
                method: pending.method,
                result,
            }
        } else {
            ClientOutput::Response { id, result }
        });
    }

    /// After a gap: fetch again the state a client mirrors (protocol §5).
    fn refresh_after_gap(&mut self, now: Timestamp) {
        let opts = RequestOptions {
            expect_final: false,
            timeout: Some(REFRESH_TIMEOUT),
        };
        for method in ["health", "system-presence"] {
            // When the pending table is full the refresh is skipped: the
            // caller's own requests keep priority, and the Gap output already
            // told the caller that state is stale.
            let _ = self.start_request::<Value>(method, None, opts, true, now);
        }
    }

    fn on_hello(&mut self, frame: inbound::Inbound<'_>, now: Timestamp) {
        if !frame.ok.unwrap_or(false) {
            let error = inbound::error_shape(frame.error);
            self.close_socket(1008, "connect failed", Some(error), now);
            return;
        }
        let payload = inbound::value(frame.payload);
        let protocol = payload.get("protocol").and_then(Value::as_u64).unwrap_or(0);
        if !(self.config.min_protocol..=self.config.max_protocol).contains(&protocol) {
            let error = ErrorShape::invalid_request("protocol mismatch")
                .with_details(json!({"code": "PROTOCOL_MISMATCH"}));
            self.close_socket(1002, "protocol mismatch", Some(error), now);
            return;
        }
        let str_at = |path: &[&str]| -> Option<String> {
            let mut v = &payload;
            for key in path {
                v = v.get(key)?;
            }
            v.as_str().map(str::to_owned)
        };
        let tick_ms = payload
            .pointer("/policy/tickIntervalMs")
            .and_then(Value::as_u64)
            .filter(|&ms| ms > 0)
            .unwrap_or(DEFAULT_TICK_INTERVAL_MS);
        let device_token = str_at(&["auth", "deviceToken"]);
        if device_token.is_some() {
            self.device_token.clone_from(&device_token);
        }
        let scopes = payload
            .pointer("/auth/scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let hello = HelloInfo {
            protocol,
            server_version: str_at(&["server", "version"]),
            conn_id: str_at(&["server", "connId"]),
            tick_interval_ms: tick_ms,
            role: str_at(&["auth", "role"]),
            scopes,
            device_token,
            payload: Value::Null,
        };
        let hello = HelloInfo { payload, ..hello };
        self.tick_interval = Duration::from_millis(tick_ms);
        self.last_inbound = now;
        self.last_seq = None;
        self.backoff.reset();
        self.phase = Phase::Open;
        self.hello = Some(hello.clone());
        self.out.push_back(ClientOutput::Connected(hello));
        // Queued requests go out in the order they were made.
        for p in self.pending.values_mut() {
            if let Some(frame) = p.frame.take() {
                self.out.push_back(ClientOutput::Send(frame));
            }
        }
    }

    /// The core decides to close: tell the runtime, then handle it like a close.
    fn close_socket(&mut self, code: u16, reason: &str, error: Option<ErrorShape>, now: Timestamp) {
        self.out.push_back(ClientOutput::Close {
            code,
            reason: reason.to_owned(),
        });
        self.after_close(code, reason.to_owned(), error, now);
    }

    fn after_close(
        &mut self,
        code: u16,
        reason: String,
        error: Option<ErrorShape>,
        now: Timestamp,
    ) {
        self.last_seq = None;
        match &error {
            Some(e) => {
                let e = e.clone();
                self.fail_all(|| CallFailure::Handshake(e.clone()));
            }
            None => self.fail_all(|| CallFailure::Closed {
                code,
                reason: reason.clone(),
            }),
        }
        let policy = match &error {
            Some(e) => retry::after_refusal(e, self.device_token.is_some()),
            None => Retry::Backoff,
        };
        let delay = match policy {
            _ if !self.config.reconnect => None,
            Retry::Never => None,
            Retry::After(d) => Some(d),
            Retry::Backoff => Some(self.backoff.next_delay()),
        };
        match delay {
            Some(delay) => {
                self.phase = Phase::Backoff;
                self.out
                    .push_back(ClientOutput::Reconnect { at: now + delay });
            }
            None => self.stop(code, reason, error),
        }
    }

    fn fail_all(&mut self, mut failure: impl FnMut() -> CallFailure) {
        self.deadlines = DeadlineQueue::new();
        for (id, pending) in std::mem::take(&mut self.pending) {
            self.answer(id, pending, Err(failure()));
        }
    }

    fn stop(&mut self, code: u16, reason: String, error: Option<ErrorShape>) {
        self.phase = Phase::Stopped;
        self.out.push_back(ClientOutput::Disconnected {
            code,
            reason,
            error,
        });
    }
}
