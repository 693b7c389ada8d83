//! The hub: every connection of one gateway, presence, health, broadcasts and
//! method routing, as one sans-IO state machine.
//!
//! ```
//! use std::time::Duration;
//! use gateway_proto::time::Timestamp;
//! use gateway_proto::gateway::{Config, Gateway, Input, Output, Peer};
//! use gateway_proto::ConnId;
//!
//! let start = Timestamp::ZERO;
//! let mut gateway = Gateway::new(Config::default(), [7; 32], start, 1_700_000_000_000);
//! let peer = Peer::new("127.0.0.1".parse().unwrap(), true);
//! gateway.handle_input(Input::Opened { conn: ConnId(1), peer }, start);
//! // Drain after every input: here, the connect.challenge frame.
//! while let Some(output) = gateway.poll_output() {
//!     match output {
//!         Output::Frame { conn, frame } => println!("{conn}: {}", frame.to_text()),
//!         Output::Close { conn, code, reason } => println!("{conn} closes {code} {reason}"),
//!         Output::Effect(effect) => println!("effect {effect:?}"),
//!         Output::Authenticated { conn } => println!("{conn} is in"),
//!     }
//! }
//! // Re-arm the one timer; when it fires, call handle_timeout.
//! let deadline = gateway.poll_timeout().expect("handshake timer is armed");
//! assert_eq!(deadline, start + Duration::from_secs(15));
//! gateway.handle_timeout(deadline);
//! ```

mod admission;
pub mod agents;
mod config;
pub mod config_rpc;
mod connections;
pub mod control_ui;
mod effects;
mod exec_approvals;
mod handshake;
mod health;
pub mod host_stats;
mod io;
mod methods;
pub(crate) mod nodes;
pub mod openai_http;
mod outbox;
pub mod pairing;
mod presence;
mod presence_state;
mod registry;
mod write_budget;

use crate::time::Timestamp;
use std::collections::{BTreeSet, VecDeque};

pub use admission::{Admission, Refusal};
pub use config::{AuthConfig, Config, HostInfo, Limits, OriginPolicy};
pub use effects::{StoreKey, Waiter};
pub use health::{health_snapshot, status_summary, DEFAULT_AGENT_ID};
pub use io::{ConfigRead, ConfigWriteError, Effect, EffectResult, Input, LogSlice, Output, Peer};
pub use methods::{LOGS_DEFAULT_LIMIT, LOGS_DEFAULT_MAX_BYTES, LOGS_MAX_BYTES, LOGS_MAX_LIMIT};
pub use nodes::NodeCommandRules;
pub use presence::{presence_key, Presence, PresenceEntry};
pub use registry::{
    authorize, check_params, event, event_names, method, method_names, Access, EventSpec,
    MethodSpec, EVENTS,
};

use connections::{ConnEntry, Connections};
use effects::Effects;
use health::HealthState;
use methods::{Call, HubView};
use outbox::Outbox;
use presence_state::PresenceState;
use registry::{SHUTDOWN_EVENT, TICK_EVENT};

use crate::ids::Rng;
use crate::server::{close_code, AuthRateLimiter, HandshakeContext, Inbound, ServerConnection};
use crate::wire::{ErrorCode, ErrorShape, StateVersion};
use crate::ConnId;

/// Why the hub wants to be woken: the kinds of its timers, in the order
/// they fire when several are due at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HubTimer {
    /// A connection's handshake deadline or delayed refusal.
    Connection(ConnId),
    /// A waiter on an effect ran out of time.
    EffectDeadline,
    /// A presence entry reaches its TTL.
    PresenceExpiry,
    /// Presence changes inside the coalescing window are broadcast.
    PresenceBroadcast,
    /// A live scope upgrade expires, or a decided one is forgotten.
    ScopeUpgrade,
    /// A node invoke ran out of time.
    NodeInvoke,
    /// The health snapshot is refreshed (periodically, or soon after a connect).
    HealthRefresh,
    /// The `tick` broadcast.
    Tick,
    /// An exec approval expires, or a decided one is forgotten.
    ExecApproval,
    /// An agent run reaches its time budget, or an `agent.wait` its deadline.
    AgentRun,
}

/// Wall-clock time derived from one reading taken at construction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Timestamp,
    epoch_unix_ms: u64,
}

impl Clock {
    pub(crate) fn unix_ms(&self, now: Timestamp) -> u64 {
        self.epoch_unix_ms.saturating_add(self.uptime_ms(now))
    }

    pub(crate) fn uptime_ms(&self, now: Timestamp) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// The gateway hub: a router over its components (connections, presence,
/// health, effects) and the method registry. See the module docs for the
/// drive loop.
pub struct Gateway {
    config: Config,
    rng: Rng,
    clock: Clock,
    boot_id: String,
    ready: bool,
    shutting_down: bool,
    conns: Connections,
    limiter: AuthRateLimiter,
    presence: PresenceState,
    health: HealthState,
    effects: Effects,
    /// Pending pairing requests and paired devices.
    pairing: pairing::PairingBook,
    /// What to do when each pairing write (by effect token) commits.
    pairing_waits: std::collections::BTreeMap<u64, pairing::hub::AfterWrite>,
    /// Connects waiting for their bootstrap token to be spent, by effect token.
    bootstrap_waits: std::collections::BTreeMap<u64, (ConnId, Box<crate::server::ConnectRequest>)>,
    /// Pairing writes a method handler asked for (started after it returns).
    pairing_commits: Vec<methods::PairingCommit>,
    /// Live scope upgrades and their waiters.
    upgrades: pairing::upgrades::Upgrades,
    /// Connected nodes and the invokes in flight.
    nodes: nodes::Nodes,
    /// A pairing write failed: the book is being re-read from the store,
    /// and pairing changes wait until it is.
    pairing_resync: pairing::hub::Resync,
    /// Exec approvals waiting for an operator.
    exec_approvals: exec_approvals::ExecApprovals,
    /// Sessions, runs and their waiters.
    agents: agents::Agents,
    /// `config.patch|apply` calls per client per minute.
    write_budget: write_budget::WriteBudget,
    state_version: StateVersion,
    tick_at: Timestamp,
    /// `features.methods` / `features.events`, from the tables.
    method_names: Vec<&'static str>,
    event_names: Vec<&'static str>,
    out: VecDeque<Output>,
    /// Reused encode buffer.
    buf: Vec<u8>,
    /// Test hook: the nonce of the next challenge (replaying captured device signatures).
    forced_nonce: Option<String>,
}

impl Gateway {
    pub fn new(config: Config, seed: [u8; 32], now: Timestamp, unix_ms: u64) -> Self {
        let mut rng = Rng::from_seed(seed);
        // Effect results may outlive a hub (the runtime keeps its workers
        // across an in-process restart): start each hub's tokens at a random
        // point so a late result cannot match a new request.
        let first_effect_token = rng.next_u64() >> 1;
        let boot_id = rng.uuid_v4();
        let own = own_presence(&config, &boot_id, unix_ms);
        let limits = &config.limits;
        Gateway {
            ready: config.start_ready,
            rng,
            clock: Clock {
                epoch: now,
                epoch_unix_ms: unix_ms,
            },
            boot_id,
            shutting_down: false,
            conns: Connections::default(),
            limiter: AuthRateLimiter::from_limits(limits),
            presence: PresenceState::new(
                own,
                limits.presence_ttl,
                limits.presence_max,
                limits.presence_broadcast_window,
            ),
            health: HealthState::new(&config, now, unix_ms),
            effects: Effects::new(
                first_effect_token,
                limits.max_pending_effects,
                limits.effect_timeout,
            ),
            pairing: pairing::PairingBook::default(),
            pairing_waits: std::collections::BTreeMap::new(),
            bootstrap_waits: std::collections::BTreeMap::new(),
            pairing_commits: Vec::new(),
            upgrades: pairing::upgrades::Upgrades::default(),
            nodes: nodes::Nodes::default(),
            pairing_resync: pairing::hub::Resync::InSync,
            exec_approvals: exec_approvals::ExecApprovals::default(),
            agents: agents::Agents::default(),
            write_budget: write_budget::WriteBudget::default(),
            state_version: StateVersion {
                presence: 1,
                health: 1,
            },
            tick_at: now + limits.tick_interval,
            method_names: method_names().collect(),
            event_names: event_names().collect(),
            out: VecDeque::new(),
            buf: Vec::with_capacity(4096),
            forced_nonce: None,
            config,
        }
    }

    pub fn handle_input(&mut self, input: Input<'_>, now: Timestamp) {
        match input {
            Input::Opened { conn, peer } => self.on_opened(conn, peer, now),
            Input::Text { conn, text } => self.on_text(conn, text, now),
            Input::Binary { conn, .. } => {
                if let Some(entry) = self.conns.get_mut(conn) {
                    entry.conn.handle_binary();
                }
                self.conns.sync(conn, &mut self.out);
            }
            Input::Sent { conn, bytes } => {
                if let Some(entry) = self.conns.get_mut(conn) {
                    entry.conn.handle_sent(bytes);
                }
                self.conns.sync(conn, &mut self.out);
            }
            Input::Closed { conn } => self.on_closed(conn, now),
            Input::Ready => self.ready = true,
            Input::Shutdown {
                reason,
                restart_expected_ms,
            } => self.shutdown(reason, restart_expected_ms),
            Input::EffectDone(result) => self.on_effect_done(result, now),
        }
    }

    /// Fire every due timer, each kind at most once per call, in
    /// [`HubTimer`] order. An early or spurious call does nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let mut fired = BTreeSet::new();
        while let Some((at, timer)) = self.next_due(now, &fired) {
            debug_assert!(at <= now);
            fired.insert(timer);
            self.fire(timer, now);
        }
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_timer().map(|(at, _)| at)
    }

    /// The earliest timer and why it is armed.
    pub fn next_timer(&self) -> Option<(Timestamp, HubTimer)> {
        self.timers().min()
    }

    /// Every armed timer of the hub (at most one per kind and connection is
    /// reported: the earliest connection deadline).
    fn timers(&self) -> impl Iterator<Item = (Timestamp, HubTimer)> {
        let conn = self
            .conns
            .next_deadline()
            .map(|(at, conn)| (at, HubTimer::Connection(conn)));
        let running = !self.shutting_down;
        let others = [
            self.effects
                .next_deadline()
                .map(|at| (at, HubTimer::EffectDeadline)),
            self.presence
                .next_expiry()
                .map(|at| (at, HubTimer::PresenceExpiry)),
            self.presence
                .next_broadcast()
                .map(|at| (at, HubTimer::PresenceBroadcast)),
            self.upgrades
                .next_deadline()
                .map(|at| (at, HubTimer::ScopeUpgrade)),
            self.nodes
                .invokes
                .next_deadline()
                .map(|at| (at, HubTimer::NodeInvoke)),
            Some((self.health.next_refresh(), HubTimer::HealthRefresh)),
            Some((self.tick_at, HubTimer::Tick)),
            self.exec_approvals
                .next_deadline()
                .map(|at| (at, HubTimer::ExecApproval)),
            self.agents
                .next_deadline()
                .map(|at| (at, HubTimer::AgentRun)),
        ];
        conn.into_iter()
            .chain(others.into_iter().flatten().filter(move |_| running))
    }

    /// The next due timer not yet fired in this `handle_timeout`, by kind order.
    fn next_due(
        &self,
        now: Timestamp,
        fired: &BTreeSet<HubTimer>,
    ) -> Option<(Timestamp, HubTimer)> {
        if let Some((at, conn)) = self.conns.next_deadline() {
            let timer = HubTimer::Connection(conn);
            if at <= now && !fired.contains(&timer) {
                return Some((at, timer));
            }
        }
        self.timers()
            .filter(|(at, timer)| *at <= now && !fired.contains(timer))
            .min_by_key(|(_, timer)| *timer)
    }

    fn fire(&mut self, timer: HubTimer, now: Timestamp) {
        match timer {
            HubTimer::Connection(conn) => {
                self.conns
                    .handle_timeout(conn, now, &self.limiter, &mut self.out)
            }
            HubTimer::EffectDeadline => {
                for waiter in self.effects.expire(now) {
                    self.answer_timed_out(waiter);
                }
            }
            HubTimer::PresenceExpiry => {
                let (presence, mut out) = self.presence_and_outbox();
                presence.handle_timeout(now, &mut out);
            }
            HubTimer::PresenceBroadcast => {
                let (presence, mut out) = self.presence_and_outbox();
                presence.handle_broadcast_timeout(now, &mut out);
            }
            HubTimer::ScopeUpgrade => {
                for (conn, id, result) in self.upgrades.handle_timeout(now) {
                    self.outbox().respond_ok(conn, &id, &result);
                }
            }
            HubTimer::NodeInvoke => self.expire_node_invokes(now),
            HubTimer::AgentRun => agents::hub::on_timer(&mut self.view(now)),
            HubTimer::HealthRefresh => {
                let unix_ms = self.clock.unix_ms(now);
                let (health, config, mut out) = self.health_and_outbox();
                health.refresh(config, now, unix_ms, &mut out);
            }
            HubTimer::Tick => {
                self.tick_at = now + self.config.limits.tick_interval;
                // Stalled readers are closed before the tick is queued for them.
                for (id, entry) in self.conns.iter_mut() {
                    entry.conn.on_tick();
                    connections::drain(&mut self.out, id, &mut entry.conn);
                }
                let ts = self.clock.unix_ms(now);
                self.outbox().broadcast(
                    &TICK_EVENT,
                    &serde_json::json!({ "ts": ts }),
                    false,
                    |_| true,
                );
            }
            HubTimer::ExecApproval => {
                for settled in self.exec_approvals.handle_timeout(now) {
                    methods::exec_approval::publish_settled(&mut self.view(now), settled, None);
                }
            }
        }
    }

    /// Replace the configuration while running (auth, origin rules, limits,
    /// host facts).
    ///
    /// Sessions that the new settings would not admit end: when the shared
    /// secret or the auth mode changes, every session that authenticated
    /// with the old secret, or with none, is closed 4001 "gateway auth
    /// changed"; a browser session whose origin the new rules refuse is
    /// closed 1008 "origin not allowed". Other sessions carry on. The
    /// failure counts and lockouts of the rate limiter are kept.
    pub fn reconfigure(&mut self, config: Config) {
        let host_changed =
            config.host != self.config.host || config.server_version != self.config.server_version;
        let auth_changed = config.auth != self.config.auth;
        let origins_changed = config.origin_policy != self.config.origin_policy;
        let limits = &config.limits;
        self.limiter.set_limits(limits);
        self.presence.set_limits(
            limits.presence_ttl,
            limits.presence_max,
            limits.presence_broadcast_window,
        );
        self.effects
            .set_limits(limits.max_pending_effects, limits.effect_timeout);
        self.config = config;
        if auth_changed || origins_changed {
            for conn in self.conns.ids() {
                if let Some(entry) = self.conns.get_mut(conn) {
                    handshake::evict_if_disallowed(&mut entry.conn, &self.config, auth_changed);
                }
                self.conns.sync(conn, &mut self.out);
            }
        }
        if host_changed {
            let own = own_presence(&self.config, &self.boot_id, self.clock.epoch_unix_ms);
            let (presence, mut out) = self.presence_and_outbox();
            presence.set_own(own, &mut out);
        }
    }

    /// Use `nonce` for the next connection's challenge instead of a random one,
    /// so captured device signatures can be replayed.
    #[cfg(feature = "testing")]
    pub fn force_next_nonce(&mut self, nonce: String) {
        self.forced_nonce = Some(nonce);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `conn` has completed its handshake (it no longer counts as
    /// unauthenticated for the per-address pre-auth limit).
    pub fn is_authenticated(&self, conn: ConnId) -> bool {
        self.conns
            .get(conn)
            .is_some_and(|e| e.conn.is_authenticated())
    }

    /// Whether start-up has finished and no shutdown has begun (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready && !self.shutting_down
    }

    /// Connections currently open (any state).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Bytes queued and not yet sent for `conn`.
    pub fn queued_bytes(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(conn).map(|e| e.conn.queued_bytes())
    }

    /// Broadcast events skipped for `conn` because it was slow.
    pub fn dropped_events(&self, conn: ConnId) -> Option<u64> {
        self.conns.get(conn).map(|e| e.conn.dropped_events())
    }

    pub fn state_version(&self) -> StateVersion {
        self.state_version
    }

    pub fn presence(&self) -> &Presence {
        self.presence.list()
    }

    /// Nodes connected now.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Node invokes waiting for their node's answer.
    pub fn node_invokes_in_flight(&self) -> usize {
        self.nodes.invokes.len()
    }

    /// Effects asked for and not yet answered or expired.
    pub fn pending_effects(&self) -> usize {
        self.effects.len()
    }

    /// Wall-clock milliseconds at `now`, derived from the construction time.
    pub fn unix_ms(&self, now: Timestamp) -> u64 {
        self.clock.unix_ms(now)
    }

    fn outbox(&mut self) -> Outbox<'_> {
        Outbox {
            conns: &mut self.conns,
            out: &mut self.out,
            buf: &mut self.buf,
            state_version: &mut self.state_version,
        }
    }

    fn presence_and_outbox(&mut self) -> (&mut PresenceState, Outbox<'_>) {
        let out = Outbox {
            conns: &mut self.conns,
            out: &mut self.out,
            buf: &mut self.buf,
            state_version: &mut self.state_version,
        };
        (&mut self.presence, out)
    }

    fn health_and_outbox(&mut self) -> (&mut HealthState, &Config, Outbox<'_>) {
        let out = Outbox {
            conns: &mut self.conns,
            out: &mut self.out,
            buf: &mut self.buf,
            state_version: &mut self.state_version,
        };
        (&mut self.health, &self.config, out)
    }

    fn view(&mut self, now: Timestamp) -> HubView<'_> {
        HubView {
            config: &self.config,
            clock: self.clock,
            now,
            presence: &mut self.presence,
            health: &self.health,
            effects: &mut self.effects,
            pairing: &mut self.pairing,
            rng: &mut self.rng,
            pairing_commits: &mut self.pairing_commits,
            upgrades: &mut self.upgrades,
            nodes: &mut self.nodes,
            exec_approvals: &mut self.exec_approvals,
            agents: &mut self.agents,
            write_budget: &mut self.write_budget,
            out: Outbox {
                conns: &mut self.conns,
                out: &mut self.out,
                buf: &mut self.buf,
                state_version: &mut self.state_version,
            },
        }
    }

    fn on_opened(&mut self, conn: ConnId, peer: Peer, now: Timestamp) {
        if self.conns.contains(conn) {
            // A runtime bug, not peer input: ignore the duplicate rather than
            // clobber a live connection (and say so in debug builds).
            debug_assert!(false, "embedder bug: {conn} opened twice");
            return;
        }
        let nonce = match self.forced_nonce.take() {
            Some(nonce) => nonce,
            None => self.rng.uuid_v4(),
        };
        let conn_uuid = self.rng.uuid_v4();
        let unix_ms = self.clock.unix_ms(now);
        let mut server = ServerConnection::new(peer, nonce, &self.config.limits, now, unix_ms);
        if self.shutting_down {
            server.close(close_code::SERVICE_RESTART, "service restart");
        }
        self.conns.insert(
            conn,
            ConnEntry {
                conn: server,
                conn_uuid,
                presence_key: None,
                device_id: None,
                armed: None,
            },
        );
        self.conns.sync(conn, &mut self.out);
    }

    fn on_text(&mut self, conn: ConnId, text: &str, now: Timestamp) {
        let Some(entry) = self.conns.get_mut(conn) else {
            return;
        };
        let mut ctx = HandshakeContext {
            auth: &self.config.auth,
            origin_policy: &self.config.origin_policy,
            limiter: &mut self.limiter,
            starting: !self.ready,
            unix_ms: self.clock.unix_ms(now),
            device_tokens: &self.pairing,
            control_ui: &self.config.control_ui,
        };
        match entry.conn.handle_text(text, now, &mut ctx) {
            None => {}
            Some(Inbound::Connect(request)) => self.admit(conn, request, now),
            Some(Inbound::Request(request)) => {
                if let Some(session) = entry.conn.session() {
                    let call = Call {
                        conn,
                        id: &request.id,
                        method: &request.method,
                        params: request.params,
                        session,
                    };
                    registry::dispatch(&mut self.view(now), &call);
                    for commit in std::mem::take(&mut self.pairing_commits) {
                        self.commit(commit.changes, commit.after, commit.before, now);
                    }
                }
            }
        }
        self.conns.sync(conn, &mut self.out);
    }

    /// A `connect` is admitted: track the client's presence, then send
    /// hello-ok (whose snapshot then already shows it), with the device's
    /// token if it has one.
    fn open_session(
        &mut self,
        conn: ConnId,
        request: &crate::server::ConnectRequest,
        device_token: Option<&pairing::DeviceTokenRecord>,
        now: Timestamp,
    ) {
        if handshake::is_tracked(request) {
            let ts = self.clock.unix_ms(now);
            if let Some(entry) = self.conns.get_mut(conn) {
                let (key, presence) = handshake::presence_of(entry, request, ts);
                entry.presence_key = Some(key.clone());
                let (book, mut out) = self.presence_and_outbox();
                book.track(key, presence, now, &mut out);
            }
        }
        let uptime_ms = self.clock.uptime_ms(now);
        let Some(entry) = self.conns.get_mut(conn) else {
            return;
        };
        let features = (&self.method_names[..], &self.event_names[..]);
        let facts = handshake::HelloFacts {
            config: &self.config,
            boot_id: &self.boot_id,
            presence: self.presence.json(),
            health: self.health.json(),
            state_version: self.state_version,
            uptime_ms,
            features,
        };
        handshake::send_hello(
            &mut entry.conn,
            &entry.conn_uuid,
            request,
            device_token,
            &facts,
            &mut self.buf,
        );
        entry.device_id = request.device.as_ref().map(|d| d.id.as_str().into());
        let client = &request.params.client;
        let facts = exec_approvals::ClientFacts::of(
            &client.id,
            client.display_name.as_deref(),
            &request.params.caps,
        );
        self.exec_approvals.add_client(conn, facts);
        if request.params.caps.iter().any(|c| c == "tool-events") {
            self.agents.tool_event_clients.insert(conn);
        }
        let authenticated = entry.conn.is_authenticated();
        self.conns.sync(conn, &mut self.out);
        if authenticated {
            self.out.push_back(Output::Authenticated { conn });
            self.node_opened(conn, request, now);
        }
        self.health.request_refresh(now);
    }

    fn on_closed(&mut self, conn: ConnId, now: Timestamp) {
        let Some(mut entry) = self.conns.remove(conn) else {
            return;
        };
        entry.conn.handle_peer_closed();
        // Nobody waits for this connection's effects any more (committing
        // ones still apply when their results arrive).
        self.effects.forget_conn(conn);
        self.node_closed(conn, now);
        self.exec_approvals.forget_conn(conn);
        self.agents.conn_closed(conn);
        if let Some(key) = entry.presence_key {
            let ts = self.clock.unix_ms(now);
            let announce = !self.shutting_down;
            let (presence, mut out) = self.presence_and_outbox();
            presence.untrack(&key, ts, now, announce, &mut out);
        }
    }

    fn on_effect_done(&mut self, result: EffectResult, now: Timestamp) {
        // A model call streams many results and is tracked by its run.
        let result = match result {
            EffectResult::Model { token, event } => {
                return agents::hub::on_model_event(&mut self.view(now), token, event);
            }
            EffectResult::SessionsWritten { token, result } => {
                let ok = result.is_ok();
                return agents::hub::on_sessions_written(&mut self.view(now), token, ok);
            }
            EffectResult::Workspace { token, result } => {
                return agents::tool_loop::on_workspace(&mut self.view(now), token, result);
            }
            EffectResult::Tool { token, outcome } => {
                return agents::tool_loop::on_tool_outcome(&mut self.view(now), token, outcome);
            }
            other => other,
        };
        let token = match &result {
            EffectResult::Model { .. }
            | EffectResult::SessionsWritten { .. }
            | EffectResult::Workspace { .. }
            | EffectResult::Tool { .. } => return,
            EffectResult::Logs { token, .. }
            | EffectResult::PairingWritten { token, .. }
            | EffectResult::PairingLoaded { token, .. }
            | EffectResult::BootstrapRedeemed { token, .. }
            | EffectResult::ExecApprovals { token, .. }
            | EffectResult::HostStats { token, .. }
            | EffectResult::ConfigRead { token, .. }
            | EffectResult::ConfigWritten { token, .. } => *token,
        };
        let (pending, next) = self.effects.finish(token);
        if let Some(next) = next {
            self.out.push_back(Output::Effect(next));
        }
        let Some(pending) = pending else {
            // Not (or no longer) pending: a pairing write still takes effect.
            match result {
                EffectResult::PairingWritten { token, result } => {
                    self.on_pairing_written(token, result, false, now)
                }
                EffectResult::PairingLoaded { result, .. } => self.on_pairing_loaded(result),
                EffectResult::BootstrapRedeemed { token, result } => {
                    self.on_bootstrap_redeemed(token, result, false, now)
                }
                EffectResult::ConfigWritten { reply, result, .. } => {
                    methods::config::on_written(&mut self.view(now), None, &reply, result)
                }
                EffectResult::Logs { .. }
                | EffectResult::ExecApprovals { .. }
                | EffectResult::HostStats { .. }
                | EffectResult::ConfigRead { .. }
                | EffectResult::Model { .. }
                | EffectResult::SessionsWritten { .. }
                | EffectResult::Workspace { .. }
                | EffectResult::Tool { .. } => {}
            }
            return;
        };
        match result {
            EffectResult::Logs { result, .. } => {
                if let Some(Waiter::Request { conn, request_id }) = pending.waiter {
                    methods::answer_logs(&mut self.outbox(), conn, &request_id, result);
                }
            }
            EffectResult::PairingWritten { token, result } => {
                let waited = pending.waiter.is_some();
                self.on_pairing_written(token, result, waited, now);
            }
            EffectResult::PairingLoaded { result, .. } => self.on_pairing_loaded(result),
            EffectResult::BootstrapRedeemed { token, result } => {
                let waited = pending.waiter.is_some();
                self.on_bootstrap_redeemed(token, result, waited, now);
            }
            // Routed to their owners above.
            EffectResult::Model { .. }
            | EffectResult::SessionsWritten { .. }
            | EffectResult::Workspace { .. }
            | EffectResult::Tool { .. } => {}
            EffectResult::ConfigRead { then, result, .. } => {
                if let Some(waiter) = pending.waiter {
                    methods::config::on_read(&mut self.view(now), waiter, then, result);
                }
            }
            EffectResult::ConfigWritten { reply, result, .. } => {
                methods::config::on_written(&mut self.view(now), pending.waiter, &reply, result);
            }
            EffectResult::HostStats { result, .. } => {
                if let Some(Waiter::Request { conn, request_id }) = pending.waiter {
                    methods::absent_features::answer_system_info(
                        &mut self.view(now),
                        conn,
                        &request_id,
                        result,
                    );
                }
            }
            EffectResult::ExecApprovals { result, .. } => {
                if let Some(Waiter::Request { conn, request_id }) = pending.waiter {
                    let mut out = self.outbox();
                    match result {
                        Ok(answer) => out.respond_ok(conn, &request_id, &answer),
                        Err(e) => {
                            let error = ErrorShape::new(ErrorCode::Unavailable, e);
                            out.respond_error(conn, &request_id, &error);
                        }
                    }
                }
            }
        }
    }

    /// A waiter's effect did not come back in time.
    fn answer_timed_out(&mut self, waiter: Waiter) {
        let error = ErrorShape::new(
            ErrorCode::Unavailable,
            "timed out waiting for the gateway host",
        )
        .with_retry_after(1000);
        match waiter {
            Waiter::Request { conn, request_id } => {
                self.outbox().respond_error(conn, &request_id, &error)
            }
            Waiter::Handshake { conn } => {
                if let Some(entry) = self.conns.get_mut(conn) {
                    entry.conn.reject(error, close_code::TRY_AGAIN_LATER);
                }
                self.conns.sync(conn, &mut self.out);
            }
        }
    }

    fn shutdown(&mut self, reason: Option<&str>, restart_expected_ms: Option<u64>) {
        if self.shutting_down {
            return;
        }
        let mut payload = serde_json::json!({ "reason": reason.unwrap_or("gateway stopping") });
        if let Some(ms) = restart_expected_ms {
            payload["restartExpectedMs"] = ms.into();
        }
        self.outbox()
            .broadcast(&SHUTDOWN_EVENT, &payload, false, |_| true);
        self.shutting_down = true;
        for conn in self.conns.ids() {
            if let Some(entry) = self.conns.get_mut(conn) {
                entry
                    .conn
                    .close(close_code::SERVICE_RESTART, "service restart");
            }
            self.conns.sync(conn, &mut self.out);
        }
        self.effects.clear_waiters();
    }
}

/// The gateway's own presence entry.
fn own_presence(config: &Config, boot_id: &str, unix_ms: u64) -> PresenceEntry {
    let host = &config.host;
    let hostname = if host.hostname.is_empty() {
        "gateway"
    } else {
        &host.hostname
    };
    let where_ = match &host.ip {
        Some(ip) => format!("{hostname} ({ip})"),
        None => hostname.to_owned(),
    };
    PresenceEntry {
        host: Some(hostname.to_owned()),
        ip: host.ip.clone(),
        version: Some(config.server_version.clone()),
        platform: (!host.platform.is_empty()).then(|| host.platform.clone()),
        device_family: (!host.device_family.is_empty()).then(|| host.device_family.clone()),
        mode: Some("gateway".to_owned()),
        reason: Some("self".to_owned()),
        instance_id: Some(boot_id.to_owned()),
        text: Some(format!(
            "Gateway: {where_} · app {} · mode gateway · reason self",
            config.server_version
        )),
        ts: unix_ms,
        ..PresenceEntry::default()
    }
}
