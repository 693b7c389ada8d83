//! `ServerConnection`: one client's life on the gateway side, from the
//! challenge to the close.

use crate::time::Timestamp;
use std::borrow::Cow;
use std::collections::VecDeque;

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use super::auth::{
    auth_client_kind, check_shared_secret, device_token_candidate, device_token_failure,
    offer_device_token_retry, presented, rate_limited, AuthMethod, DeviceTokens,
};
use super::device::{verify_device, VerifiedDevice};
use super::hello::HelloOk;
use super::origin::{check_browser_origin, is_gateway_host_origin, OriginPolicy, OriginRefusal};
use super::rate_limit::{AuthRateLimiter, RateLimitKey};
use super::scopes::{Role, Scopes};
use crate::gateway::control_ui::{ControlUiInfo, CONTROL_UI_CLIENT_ID};
use crate::gateway::{AuthConfig, Limits, Peer};
use crate::wire::{
    decode_request, decode_request_for, encode_event, encode_response_err, peek_protocol_range,
    ClientInfo, ConnectParams, ErrorCode, ErrorShape, OutFrame, ProtocolVersion,
    RequestDecodeError, RequestFrame,
};

/// WebSocket close codes used by the gateway.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const SERVICE_RESTART: u16 = 1012;
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The gateway's shared secret (or auth mode) changed under a session.
    pub const AUTH_CHANGED: u16 = 4001;
}

/// The refusal of a browser page whose `Origin` the rules do not accept.
pub(crate) const ORIGIN_NOT_ALLOWED_MESSAGE: &str = "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)";

/// Longest close reason we send (the WebSocket limit is 123 bytes).
pub const MAX_CLOSE_REASON: usize = 120;

/// What the owner of a connection must act on.
#[derive(Debug)]
pub enum Inbound<'t> {
    /// The client passed every check: the owner answers with
    /// [`ServerConnection::accept`] or [`ServerConnection::reject`].
    Connect(Box<ConnectRequest>),
    /// A request after the handshake, to dispatch.
    Request(RequestFrame<'t>),
}

/// A `connect` that validated and authenticated.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub request_id: String,
    /// The scopes granted (what hello-ok reports); see [`Session::scopes`].
    pub granted_scopes: Vec<String>,
    pub protocol: ProtocolVersion,
    pub role: Role,
    pub params: ConnectParams,
    pub device: Option<VerifiedDevice>,
    pub auth_method: AuthMethod,
}

/// What a connection emits.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOutput {
    Frame(OutFrame),
    Close { code: u16, reason: String },
}

pub(crate) const CONTROL_UI_DEVICE_IDENTITY_MESSAGE: &str =
    "control ui requires device identity (use HTTPS or localhost secure context)";
pub(crate) const CONTROL_UI_RELOAD_MESSAGE: &str =
    "protocol mismatch: Control UI updated; reload this page to continue";

/// Clients that are a browser UI: they always come with an Origin.
fn is_browser_ui(client: &ClientInfo) -> bool {
    matches!(client.id.as_str(), CONTROL_UI_CLIENT_ID | "webchat-ui") || client.mode == "webchat"
}

/// Operator UIs (the browser Control UI, the terminal UI): they must sign
/// with a device identity.
fn is_operator_ui(client: &ClientInfo) -> bool {
    matches!(
        client.id.as_str(),
        CONTROL_UI_CLIENT_ID | "openclaw-browser-copilot" | "openclaw-tui"
    )
}

/// The outcome of handing a frame to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Queued,
    /// Skipped because the client is slow; its seq was still used.
    Dropped,
    /// The connection is (now) closed; nothing was queued.
    Closed,
}

/// The close reason of a client too slow to read what it is sent (code 1008).
pub const SLOW_CONSUMER: &str = "slow consumer";

/// A slow client's progress, as the ticks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Nothing dropped since the runtime last reported bytes written.
    Clear,
    /// Events were dropped, and nothing was written since.
    Dropping,
    /// … and that was already so at the last tick.
    DroppingAtTick,
}

/// Shared state the handshake consults: the gateway's auth settings, the
/// per-address failure limiter, and whether start-up has finished.
pub struct HandshakeContext<'c> {
    pub auth: &'c AuthConfig,
    /// Which browser origins may connect.
    pub origin_policy: &'c OriginPolicy,
    pub limiter: &'c mut AuthRateLimiter,
    pub starting: bool,
    /// Server wall clock, for the device signature's `signedAt`.
    pub unix_ms: u64,
    /// The paired devices' tokens, for a device that signs in with one.
    pub device_tokens: &'c dyn DeviceTokens,
    /// The Control UI this gateway serves (its build id).
    pub control_ui: &'c ControlUiInfo,
}

/// What an authenticated connection is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub protocol: ProtocolVersion,
    pub role: Role,
    pub scopes: Scopes,
    /// How the session authenticated: a change of the gateway's secret ends
    /// the sessions that used the old one.
    pub auth_method: AuthMethod,
}

#[derive(Debug)]
enum State {
    AwaitingConnect {
        deadline: Timestamp,
        nonce: String,
    },
    /// A wrong secret, answered at `at` or, if later, when the rate
    /// limiter releases every pending failure of `key` together.
    DelayedReject {
        at: Timestamp,
        key: RateLimitKey,
        request_id: String,
        error: ErrorShape,
    },
    AwaitingHello {
        request_id: String,
        session: Session,
    },
    Open(Session),
    Closed,
}

/// One connection, gateway side. Sans-IO: feed it text, byte counts and time;
/// drain [`poll_output`](Self::poll_output).
#[derive(Debug)]
pub struct ServerConnection {
    state: State,
    peer: Peer,
    /// Last broadcast seq assigned (0 = none yet).
    seq: u64,
    /// Bytes emitted and not yet reported sent by the runtime.
    queued_bytes: usize,
    /// Broadcast events skipped because the client was slow.
    dropped_events: u64,
    /// Whether the client is dropping events without reading (see [`Self::on_tick`]).
    stall: Stall,
    max_preauth_payload: usize,
    max_payload: usize,
    max_buffered_bytes: usize,
    out: VecDeque<ServerOutput>,
}

impl ServerConnection {
    /// A new socket: queues `connect.challenge` with `nonce` and starts the handshake timer.
    pub fn new(peer: Peer, nonce: String, limits: &Limits, now: Timestamp, unix_ms: u64) -> Self {
        let mut buf = Vec::with_capacity(128);
        let challenge = encode_event(
            &mut buf,
            "connect.challenge",
            Some(&json!({ "nonce": nonce, "ts": unix_ms })),
            None,
            false,
        );
        let mut conn = ServerConnection {
            state: State::AwaitingConnect {
                deadline: now + limits.handshake_timeout,
                nonce,
            },
            peer,
            seq: 0,
            queued_bytes: 0,
            dropped_events: 0,
            stall: Stall::Clear,
            max_preauth_payload: limits.max_preauth_payload,
            max_payload: limits.max_payload,
            max_buffered_bytes: limits.max_buffered_bytes,
            out: VecDeque::new(),
        };
        conn.push(OutFrame::whole(challenge));
        conn
    }

    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The session, once hello-ok has been sent.
    pub fn session(&self) -> Option<Session> {
        match self.state {
            State::Open(session) => Some(session),
            _ => None,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Bytes queued for this client and not yet written by the runtime.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Broadcast events skipped for this client because it was slow (each
    /// one left a gap in its seq).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The last broadcast seq assigned to this connection.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// One text message from the client.
    pub fn handle_text<'t>(
        &mut self,
        text: &'t str,
        now: Timestamp,
        ctx: &mut HandshakeContext<'_>,
    ) -> Option<Inbound<'t>> {
        match &self.state {
            State::AwaitingConnect { .. } => self.handle_first_frame(text, now, ctx),
            State::Open(_) => self.handle_request_text(text),
            // Waiting for our own verdict, or closed: the client's words change nothing.
            State::DelayedReject { .. } | State::AwaitingHello { .. } | State::Closed => None,
        }
    }

    /// A binary message: fatal before the handshake (like non-JSON), ignored after.
    pub fn handle_binary(&mut self) {
        if matches!(self.state, State::AwaitingConnect { .. }) {
            self.close(close_code::NORMAL, "");
        }
    }

    /// The runtime wrote `bytes` of this connection's frames to the socket.
    pub fn handle_sent(&mut self, bytes: usize) {
        debug_assert!(
            bytes <= self.queued_bytes,
            "embedder bug: {bytes} bytes reported sent but only {} queued \
             (report each frame's length once, after writing it)",
            self.queued_bytes
        );
        self.queued_bytes = self.queued_bytes.saturating_sub(bytes);
        if bytes > 0 {
            self.stall = Stall::Clear;
        }
    }

    /// A tick interval went by. A client that drops events is slow; one that
    /// also had nothing written across a whole tick interval has stopped
    /// reading: it is closed "slow consumer" (1008), which gives back the
    /// half of the buffer limit its backlog holds. A merely slow client
    /// (some bytes written) keeps skipping droppable events, as the
    /// reference's clients do.
    pub fn on_tick(&mut self) {
        match self.stall {
            Stall::Clear => {}
            Stall::Dropping => self.stall = Stall::DroppingAtTick,
            Stall::DroppingAtTick => self.close(close_code::POLICY_VIOLATION, SLOW_CONSUMER),
        }
    }

    /// The socket is gone: stop emitting, without a close frame.
    pub fn handle_peer_closed(&mut self) {
        self.state = State::Closed;
        self.out.clear();
    }

    /// Fire the connection's due deadline. `limiter` says whether a delayed
    /// refusal must wait longer (a later failure of the same client moved the
    /// release of all of them on).
    pub fn handle_timeout(&mut self, now: Timestamp, limiter: &AuthRateLimiter) {
        match &mut self.state {
            State::AwaitingConnect { deadline, .. } if now >= *deadline => {
                self.close(close_code::NORMAL, "");
            }
            State::DelayedReject { at, key, .. }
                if *at <= now && limiter.release_at(key).is_some_and(|r| r > now) =>
            {
                *at = limiter.release_at(key).unwrap_or(*at);
            }
            State::DelayedReject {
                at,
                request_id,
                error,
                ..
            } if now >= *at => {
                let request_id = std::mem::take(request_id);
                let error = error.clone();
                self.fail(&request_id, error, close_code::POLICY_VIOLATION, None);
            }
            _ => {}
        }
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match &self.state {
            State::AwaitingConnect { deadline, .. } => Some(*deadline),
            State::DelayedReject { at, .. } => Some(*at),
            _ => None,
        }
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    /// Finish a handshake the owner approved: send `hello` and open the session.
    pub fn accept(&mut self, hello: &HelloOk<'_>, buf: &mut Vec<u8>) {
        let State::AwaitingHello {
            request_id,
            session,
        } = &self.state
        else {
            return;
        };
        let session = *session;
        let frame = OutFrame::whole(crate::wire::encode_response_ok(buf, request_id, hello));
        self.state = State::Open(session);
        self.push(frame);
    }

    /// Refuse a handshake the owner did not approve (pairing, policy); the
    /// close reason is the error's message.
    pub fn reject(&mut self, error: ErrorShape, code: u16) {
        self.reject_inner(error, code, None);
    }

    /// As [`reject`](Self::reject), with a close reason of its own (pairing
    /// names the request id there).
    pub fn reject_with_reason(&mut self, error: ErrorShape, code: u16, reason: &str) {
        self.reject_inner(error, code, Some(reason));
    }

    fn reject_inner(&mut self, error: ErrorShape, code: u16, reason: Option<&str>) {
        let State::AwaitingHello { request_id, .. } = &self.state else {
            return;
        };
        let request_id = request_id.clone();
        self.fail(&request_id, error, code, reason);
    }

    /// Queue a response or a direct (unsequenced) event. Never dropped: a slow
    /// client is closed instead.
    pub fn send_direct(&mut self, frame: OutFrame) -> SendOutcome {
        self.send_checked(frame, false)
    }

    /// Queue a broadcast body from `encode_event(.., with_seq = true)`, stamped
    /// with this connection's next seq. `droppable` events are skipped for a
    /// slow client (the seq is still used, so it sees a gap); others close it.
    pub fn send_broadcast(&mut self, body: &Bytes, droppable: bool) -> SendOutcome {
        if !self.is_authenticated() {
            return SendOutcome::Closed;
        }
        self.seq += 1;
        let outcome = self.send_checked(OutFrame::sequenced(body.clone(), self.seq), droppable);
        if outcome == SendOutcome::Dropped {
            self.dropped_events += 1;
            if self.stall == Stall::Clear {
                self.stall = Stall::Dropping;
            }
        }
        outcome
    }

    /// Close with `code` and `reason` (cut to [`MAX_CLOSE_REASON`] bytes). Sticky.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.out.push_back(ServerOutput::Close {
            code,
            reason: truncate_reason(reason).to_owned(),
        });
    }

    fn send_checked(&mut self, frame: OutFrame, droppable: bool) -> SendOutcome {
        if self.is_closed() {
            return SendOutcome::Closed;
        }
        // A droppable event yields at half the limit, so the other half is
        // kept for the events a client must not miss (a run's final after
        // a stream of deltas it was too slow to read).
        if droppable && self.queued_bytes > self.max_buffered_bytes / 2 {
            return SendOutcome::Dropped;
        }
        if self.queued_bytes > self.max_buffered_bytes {
            self.close(close_code::POLICY_VIOLATION, SLOW_CONSUMER);
            return SendOutcome::Closed;
        }
        self.push(frame);
        SendOutcome::Queued
    }

    fn push(&mut self, frame: OutFrame) {
        self.queued_bytes += frame.len();
        self.out.push_back(ServerOutput::Frame(frame));
    }

    /// Send an error response, then close with its message (or `reason`).
    fn fail(&mut self, request_id: &str, error: ErrorShape, code: u16, reason: Option<&str>) {
        let mut buf = Vec::with_capacity(256);
        let frame = encode_response_err::<()>(&mut buf, request_id, &error, None);
        self.push(OutFrame::whole(frame));
        self.close(code, reason.unwrap_or(&error.message));
    }

    fn handle_first_frame<'t>(
        &mut self,
        text: &'t str,
        now: Timestamp,
        ctx: &mut HandshakeContext<'_>,
    ) -> Option<Inbound<'t>> {
        if text.len() > self.max_preauth_payload {
            self.close(close_code::MESSAGE_TOO_BIG, "preauth payload too large");
            return None;
        }
        match decode_request(text) {
            Err(RequestDecodeError::NotJson) => {
                self.close(close_code::NORMAL, "");
                None
            }
            Err(RequestDecodeError::Invalid { .. }) => {
                self.close(close_code::POLICY_VIOLATION, "invalid request frame");
                None
            }
            Ok(request) if request.method != "connect" => {
                let message = "invalid handshake: first request must be connect";
                self.fail(
                    &request.id,
                    ErrorShape::invalid_request(message),
                    close_code::POLICY_VIOLATION,
                    None,
                );
                None
            }
            Ok(request) => self.handshake(request, now, ctx),
        }
    }

    fn handshake<'t>(
        &mut self,
        request: RequestFrame<'_>,
        now: Timestamp,
        ctx: &mut HandshakeContext<'_>,
    ) -> Option<Inbound<'t>> {
        let id = request.id.as_ref();
        let raw = request.params;
        let schema_version = peek_protocol_range(raw)
            .and_then(|(min, max)| ProtocolVersion::negotiate(min, max))
            .unwrap_or(ProtocolVersion::MAX);
        let params = match ConnectParams::parse(raw, schema_version) {
            Ok(params) => params,
            Err(problem) => {
                let message = format!("invalid connect params: {problem}");
                self.fail(
                    id,
                    ErrorShape::invalid_request(message),
                    close_code::POLICY_VIOLATION,
                    None,
                );
                return None;
            }
        };
        let Some(protocol) = ProtocolVersion::negotiate(params.min_protocol, params.max_protocol)
        else {
            let error = ErrorShape::invalid_request("protocol mismatch").with_details(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": params.min_protocol,
                "clientMaxProtocol": params.max_protocol,
                "expectedProtocol": ProtocolVersion::MAX.number(),
                "minimumProbeProtocol": ProtocolVersion::MIN.number(),
            }));
            self.fail(id, error, close_code::PROTOCOL_ERROR, None);
            return None;
        };
        let Some(role) = Role::parse(params.role.as_deref().unwrap_or("operator")) else {
            self.fail(
                id,
                ErrorShape::invalid_request("invalid role"),
                close_code::POLICY_VIOLATION,
                None,
            );
            return None;
        };
        if ctx.starting {
            let error = ErrorShape::new(ErrorCode::Unavailable, "gateway starting; retry shortly")
                .with_retry_after(500)
                .with_details(json!({ "reason": "startup" }));
            self.fail(
                id,
                error,
                close_code::TRY_AGAIN_LATER,
                Some("gateway starting"),
            );
            return None;
        }
        // A browser page (any client that sent an Origin) must come from an
        // origin the gateway trusts, whatever client id it claims; a browser
        // UI client must send one.
        let origin = self.peer.origin.as_deref().filter(|o| !o.trim().is_empty());
        if origin.is_some() || is_browser_ui(&params.client) {
            let verdict = match origin {
                Some(origin) => check_browser_origin(
                    origin,
                    self.peer.host.as_deref(),
                    self.peer.is_local,
                    ctx.origin_policy,
                ),
                None => Err(OriginRefusal::MissingOrInvalid),
            };
            if let Err(refusal) = verdict {
                let error = ErrorShape::invalid_request(ORIGIN_NOT_ALLOWED_MESSAGE).with_details(
                    json!({ "code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": refusal.reason() }),
                );
                self.fail(id, error, close_code::POLICY_VIOLATION, None);
                return None;
            }
        }

        // An operator UI signs with a device key (a page that cannot, on
        // plain HTTP from another host, must not get a session).
        if params.device.is_none() && is_operator_ui(&params.client) {
            let error = ErrorShape::invalid_request(CONTROL_UI_DEVICE_IDENTITY_MESSAGE)
                .with_details(json!({ "code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED" }));
            self.fail(id, error, close_code::POLICY_VIOLATION, None);
            return None;
        }

        let has_secret = presented(params.auth.token.as_deref()).is_some()
            || presented(params.auth.password.as_deref()).is_some();
        let secret_needed = !matches!(ctx.auth, AuthConfig::None);
        if params.device.is_none() && (role == Role::Node || (secret_needed && !has_secret)) {
            let error = ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                .with_details(json!({ "code": "DEVICE_IDENTITY_REQUIRED" }));
            self.fail(id, error, close_code::POLICY_VIOLATION, None);
            return None;
        }

        let rate_key = RateLimitKey::for_client(self.peer.ip, self.peer.origin.as_deref());
        if secret_needed {
            if let Some(retry_after) = ctx.limiter.blocked_for(&rate_key, now) {
                self.fail(
                    id,
                    rate_limited(retry_after),
                    close_code::POLICY_VIOLATION,
                    None,
                );
                return None;
            }
        }
        // The shared secret first; a signed device that fails it may still
        // present its own device token (explicitly, or in `auth.token`).
        let shared = check_shared_secret(
            ctx.auth,
            params.auth.token.as_deref(),
            params.auth.password.as_deref(),
            auth_client_kind(&params, protocol, self.peer.is_local),
        );
        let mut device = None;
        let auth_method = match shared {
            Ok(method) => method,
            Err(mut failure) => {
                let candidate = device_token_candidate(&params);
                // A one-time bootstrap token is checked by the hub against
                // the store; only its signed device is verified here.
                let bootstrap = candidate.is_none()
                    && params.device.is_some()
                    && presented(params.auth.bootstrap_token.as_deref()).is_some();
                if params.device.is_some() && params.auth.device_token.is_none() {
                    offer_device_token_retry(&mut failure);
                }
                let failure = match candidate {
                    Some((token, explicit)) => {
                        let verified = self.verify_signed_device(&params, role, id, ctx.unix_ms)?;
                        let checked = ctx.device_tokens.check(
                            &verified.id,
                            role.as_str(),
                            token,
                            &params.scopes,
                        );
                        match checked {
                            Ok(()) => {
                                device = Some(verified);
                                None
                            }
                            Err(refusal) => Some(device_token_failure(refusal, explicit, failure)),
                        }
                    }
                    None if bootstrap => {
                        device = Some(self.verify_signed_device(&params, role, id, ctx.unix_ms)?);
                        None
                    }
                    None => Some(failure),
                };
                match failure {
                    None if bootstrap => AuthMethod::BootstrapToken,
                    None => AuthMethod::DeviceToken,
                    Some(failure) if failure.delayed => {
                        let at = ctx.limiter.record_failure(&rate_key, now);
                        self.state = State::DelayedReject {
                            at,
                            key: rate_key,
                            request_id: id.to_owned(),
                            error: failure.error,
                        };
                        return None;
                    }
                    Some(failure) => {
                        self.fail(id, failure.error, close_code::POLICY_VIOLATION, None);
                        return None;
                    }
                }
            }
        };
        // A bootstrap token is not proven yet (the hub spends it): it must
        // not clear the failures a guesser has run up. Its 32 random bytes
        // need no rate limit of their own.
        if secret_needed && auth_method != AuthMethod::BootstrapToken {
            ctx.limiter.record_success(&rate_key);
        }

        if device.is_none() && params.device.is_some() {
            device = Some(self.verify_signed_device(&params, role, id, ctx.unix_ms)?);
        }

        if let Some(gateway_build) = self.stale_control_ui(&params, ctx.control_ui) {
            let error = ErrorShape::new(ErrorCode::Unavailable, CONTROL_UI_RELOAD_MESSAGE)
                .not_retryable()
                .with_details(json!({
                    "code": "PROTOCOL_MISMATCH",
                    "gatewayBuildId": gateway_build,
                    "reloadRequired": true,
                }));
            self.fail(id, error, close_code::POLICY_VIOLATION, None);
            return None;
        }

        let keeps_scopes = device.is_some() || self.trusted_without_device(&params, protocol);
        let scopes = match role {
            Role::Operator if keeps_scopes => {
                Scopes::from_names(params.scopes.iter().map(String::as_str))
            }
            Role::Operator | Role::Node => Scopes::NONE,
        };
        let request_id = id.to_owned();
        let granted_scopes = if scopes == Scopes::NONE {
            Vec::new()
        } else {
            params.scopes.clone()
        };
        self.state = State::AwaitingHello {
            request_id: request_id.clone(),
            session: Session {
                protocol,
                role,
                scopes,
                auth_method,
            },
        };
        Some(Inbound::Connect(Box::new(ConnectRequest {
            request_id,
            granted_scopes,
            protocol,
            role,
            params,
            device,
            auth_method,
        })))
    }

    /// The gateway's UI build when `params` come from a page of another
    /// build that this gateway served (an old tab left open across an
    /// upgrade): it must reload. Pages from elsewhere, a configured app
    /// (`gateway.controlUi.root`) and development builds (`dev`) are not
    /// held to it.
    fn stale_control_ui<'i>(
        &self,
        params: &ConnectParams,
        ui: &'i ControlUiInfo,
    ) -> Option<&'i str> {
        let gateway_build = ui
            .build_id
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())?;
        let client_build = params.client.build_id.as_deref().map(str::trim);
        let served_here =
            is_gateway_host_origin(self.peer.origin.as_deref(), self.peer.host.as_deref());
        let exempt = params.client.id != CONTROL_UI_CLIENT_ID
            || ui.configured_root
            || client_build == Some("dev")
            || !served_here
            || client_build == Some(gateway_build);
        (!exempt).then_some(gateway_build)
    }

    /// A device-less operator keeps the scopes it asked for only when it is the
    /// local CLI (`cli`/`cli`) or a local backend client (`gateway-client`/`backend`)
    /// on a protocol-4 connection; any other device-less client (a probe, a
    /// remote one, any v3 client) gets none, as with the reference. Such a
    /// client can still call `health`.
    fn trusted_without_device(&self, params: &ConnectParams, protocol: ProtocolVersion) -> bool {
        let client = (params.client.id.as_str(), params.client.mode.as_str());
        protocol == ProtocolVersion::V4
            && self.peer.is_local
            && matches!(client, ("cli", "cli") | ("gateway-client", "backend"))
    }

    /// Check the `device` block against this connection's challenge; a bad
    /// one fails the handshake (and `None` tells the caller to stop).
    fn verify_signed_device(
        &mut self,
        params: &ConnectParams,
        role: Role,
        request_id: &str,
        unix_ms: u64,
    ) -> Option<VerifiedDevice> {
        let (Some(device), State::AwaitingConnect { nonce, .. }) = (&params.device, &self.state)
        else {
            return None;
        };
        match verify_device(device, params, role.as_str(), nonce, unix_ms) {
            Ok(verified) => Some(verified),
            Err(error) => {
                self.fail(request_id, error, close_code::POLICY_VIOLATION, None);
                None
            }
        }
    }

    fn handle_request_text<'t>(&mut self, text: &'t str) -> Option<Inbound<'t>> {
        if text.len() > self.max_payload {
            self.close(close_code::MESSAGE_TOO_BIG, "payload too large");
            return None;
        }
        let protocol = self.session().map_or(ProtocolVersion::MAX, |s| s.protocol);
        match decode_request_for(text, protocol) {
            // Malformed JSON after the handshake is ignored, as the reference does.
            Err(RequestDecodeError::NotJson) => None,
            Err(RequestDecodeError::Invalid { id, detail }) => {
                let id: Cow<'_, str> = id.map(Cow::Owned).unwrap_or(Cow::Borrowed("invalid"));
                let error = ErrorShape::invalid_request(format!("invalid request frame: {detail}"));
                self.send_error(&id, &error);
                None
            }
            Ok(request) if request.method == "connect" => {
                let error =
                    ErrorShape::invalid_request("connect is only valid as the first request");
                self.send_error(&request.id, &error);
                None
            }
            Ok(request) => Some(Inbound::Request(request)),
        }
    }

    fn send_error(&mut self, id: &str, error: &ErrorShape) {
        let mut buf = Vec::with_capacity(256);
        let protocol = self
            .session()
            .map(|s| s.protocol)
            .unwrap_or(ProtocolVersion::MAX);
        let mut error = error.clone();
        error.code = error.code.for_protocol(protocol);
        let frame = encode_response_err::<()>(&mut buf, id, &error, None);
        self.send_direct(OutFrame::whole(frame));
    }

    /// Encode and queue an error response (for owners dispatching requests).
    pub fn respond_error(
        &mut self,
        id: &str,
        error: &ErrorShape,
        buf: &mut Vec<u8>,
    ) -> SendOutcome {
        self.respond_error_with::<()>(id, error, None, buf)
    }

    /// An error response that also carries a payload (the reference's
    /// failed `agent` final: `ok:false` with `{runId, status, summary}`).
    pub fn respond_error_with<T: Serialize + ?Sized>(
        &mut self,
        id: &str,
        error: &ErrorShape,
        payload: Option<&T>,
        buf: &mut Vec<u8>,
    ) -> SendOutcome {
        let protocol = self
            .session()
            .map(|s| s.protocol)
            .unwrap_or(ProtocolVersion::MAX);
        let code = error.code.for_protocol(protocol);
        let frame = if code == error.code {
            encode_response_err(buf, id, error, payload)
        } else {
            let mut error = error.clone();
            error.code = code;
            encode_response_err(buf, id, &error, payload)
        };
        self.send_direct(OutFrame::whole(frame))
    }

    /// Encode and queue a success response.
    pub fn respond_ok<T: Serialize + ?Sized>(
        &mut self,
        id: &str,
        payload: &T,
        buf: &mut Vec<u8>,
    ) -> SendOutcome {
        let frame = crate::wire::encode_response_ok(buf, id, payload);
        self.send_direct(OutFrame::whole(frame))
    }
}

/// Cut `reason` to at most [`MAX_CLOSE_REASON`] bytes on a character boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
