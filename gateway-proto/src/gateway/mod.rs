//! The hub: every connection of one gateway, presence, health, broadcasts and
//! method routing, as one sans-IO state machine.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use gateway_proto::gateway::{Config, Gateway, Input, Output, Peer};
//! use gateway_proto::ConnId;
//!
//! let start = Instant::now();
//! let mut gateway = Gateway::new(Config::default(), [7; 32], start, 1_700_000_000_000);
//! let peer = Peer::new("127.0.0.1".parse().unwrap(), true);
//! gateway.handle_input(Input::Opened { conn: ConnId(1), peer }, start);
//! // Drain after every input: here, the connect.challenge frame.
//! while let Some(output) = gateway.poll_output() {
//!     match output {
//!         Output::Frame { conn, frame } => println!("{conn}: {}", frame.to_text()),
//!         Output::Close { conn, code, reason } => println!("{conn} closes {code} {reason}"),
//!         Output::Effect(effect) => println!("effect {effect:?}"),
//!     }
//! }
//! // Re-arm the one timer; when it fires, call handle_timeout.
//! let deadline = gateway.poll_timeout().expect("handshake timer is armed");
//! assert_eq!(deadline, start + Duration::from_secs(15));
//! gateway.handle_timeout(deadline);
//! ```

mod broadcast;
mod config;
mod connections;
mod dispatch;
mod health;
mod io;
mod methods;
mod presence;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;

pub use config::{AuthConfig, Config, HostInfo, Limits, OriginPolicy};
pub use health::{health_snapshot, status_summary, DEFAULT_AGENT_ID};
pub use io::{Effect, EffectResult, Input, LogSlice, Output, Peer};
pub use methods::{event_droppable, event_scope, EVENT_NAMES, METHOD_NAMES};
pub use presence::{presence_key, Presence, PresenceEntry};

use crate::ids::Rng;
use crate::server::{AuthRateLimiter, ServerConnection};
use crate::wire::StateVersion;
use crate::ConnId;

/// Per-connection bookkeeping around a [`ServerConnection`].
#[derive(Debug)]
struct ConnEntry {
    conn: ServerConnection,
    /// `server.connId` in hello-ok: a fresh UUID per socket.
    conn_uuid: String,
    /// The deadline currently registered in `Gateway::conn_deadlines`.
    deadline: Option<Instant>,
    /// The presence entry this connection keeps alive, if it is tracked.
    presence_key: Option<String>,
}

/// A request waiting for an [`Effect`]'s result.
#[derive(Debug)]
struct PendingEffect {
    conn: ConnId,
    request_id: String,
}

/// The hub's timers; `poll_timeout` is their minimum.
#[derive(Debug)]
struct Timers {
    tick: Instant,
    health: Instant,
}

/// The gateway hub. See the module docs for the drive loop.
pub struct Gateway {
    config: Config,
    rng: Rng,
    epoch: Instant,
    epoch_unix_ms: u64,
    boot_id: String,
    ready: bool,
    shutting_down: bool,
    conns: BTreeMap<ConnId, ConnEntry>,
    /// Handshake and delayed-rejection deadlines, earliest first.
    conn_deadlines: BTreeSet<(Instant, ConnId)>,
    limiter: AuthRateLimiter,
    presence: Presence,
    /// How many open connections keep each presence key alive.
    presence_refs: BTreeMap<String, u32>,
    /// `presence` as JSON, rebuilt on every change (hello snapshots and
    /// `system-presence` reuse it).
    presence_json: Arc<RawValue>,
    health_json: Arc<RawValue>,
    /// A connect asked for a health refresh before the periodic one, due then.
    health_refresh_at: Option<Instant>,
    last_health_refresh: Instant,
    state_version: StateVersion,
    timers: Timers,
    pending_effects: BTreeMap<u64, PendingEffect>,
    next_effect_token: u64,
    out: VecDeque<Output>,
    /// Reused encode buffer.
    buf: Vec<u8>,
    /// Test hook: the nonce of the next challenge (replaying captured device signatures).
    forced_nonce: Option<String>,
}

impl Gateway {
    pub fn new(config: Config, seed: [u8; 32], now: Instant, unix_ms: u64) -> Self {
        let mut rng = Rng::from_seed(seed);
        let first_effect_token = rng.next_u64() >> 1;
        let boot_id = rng.uuid_v4();
        let own = own_presence(&config, &boot_id, unix_ms);
        let presence = Presence::new(own, config.limits.presence_ttl, config.limits.presence_max);
        let presence_json = Arc::from(health::to_raw(&serde_json::Value::Null));
        let health_json = Arc::from(health_snapshot(&config, unix_ms));
        let limiter = AuthRateLimiter::from_limits(&config.limits);
        let timers = Timers {
            tick: now + config.limits.tick_interval,
            health: now + config.limits.health_refresh_interval,
        };
        let mut gateway = Gateway {
            ready: config.start_ready,
            config,
            rng,
            epoch: now,
            epoch_unix_ms: unix_ms,
            boot_id,
            shutting_down: false,
            conns: BTreeMap::new(),
            conn_deadlines: BTreeSet::new(),
            limiter,
            presence,
            presence_refs: BTreeMap::new(),
            presence_json,
            health_json,
            health_refresh_at: None,
            last_health_refresh: now,
            state_version: StateVersion {
                presence: 1,
                health: 1,
            },
            timers,
            pending_effects: BTreeMap::new(),
            // Effect results may outlive a hub (the runtime keeps its workers
            // across an in-process restart): start each hub's tokens at a
            // random point so a late result cannot match a new request.
            next_effect_token: first_effect_token,
            out: VecDeque::new(),
            buf: Vec::with_capacity(4096),
            forced_nonce: None,
        };
        gateway.rebuild_presence_json();
        gateway
    }

    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Opened { conn, peer } => self.on_opened(conn, peer, now),
            Input::Text { conn, text } => self.on_text(conn, text, now),
            Input::Binary { conn, .. } => self.with_conn(conn, |entry| entry.conn.handle_binary()),
            Input::Sent { conn, bytes } => {
                self.with_conn(conn, |entry| entry.conn.handle_sent(bytes))
            }
            Input::Closed { conn } => self.on_closed(conn, now),
            Input::Ready => self.ready = true,
            Input::Shutdown {
                reason,
                restart_expected_ms,
            } => self.shutdown(reason, restart_expected_ms, now),
            Input::EffectDone(result) => self.on_effect_done(result, now),
        }
    }

    /// Fire every due timer. An early or spurious call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Fixed order: connection deadlines, presence expiry, health, tick.
        while let Some(&(deadline, conn)) = self.conn_deadlines.first() {
            if deadline > now {
                break;
            }
            self.conn_deadlines.pop_first();
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry.deadline = None;
            }
            let limiter = &self.limiter;
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry.conn.handle_timeout(now, limiter);
            }
            self.sync_conn(conn);
        }
        if self.shutting_down {
            return;
        }
        if self.presence.next_expiry().is_some_and(|at| at <= now) {
            let refs = &self.presence_refs;
            if self.presence.expire(now, |key| refs.contains_key(key)) {
                self.presence_changed();
            }
        }
        if now >= self.health_due() {
            self.refresh_health(now);
        }
        if now >= self.timers.tick {
            self.timers.tick = now + self.config.limits.tick_interval;
            let ts = self.unix_ms(now);
            self.broadcast("tick", &serde_json::json!({ "ts": ts }), None);
        }
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = self.conn_deadlines.first().map(|(at, _)| *at);
        if self.shutting_down {
            return conn;
        }
        [
            conn,
            Some(self.timers.tick),
            Some(self.health_due()),
            self.presence.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
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
        self.limiter.set_limits(&config.limits);
        self.presence
            .set_limits(config.limits.presence_ttl, config.limits.presence_max);
        self.config = config;
        if auth_changed || origins_changed {
            self.evict_disallowed_sessions(auth_changed);
        }
        if host_changed {
            let own = own_presence(&self.config, &self.boot_id, self.epoch_unix_ms);
            self.presence.set_own(own);
            self.presence_changed();
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
            .get(&conn)
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
        self.conns.get(&conn).map(|e| e.conn.queued_bytes())
    }

    /// Broadcast events skipped for `conn` because it was slow.
    pub fn dropped_events(&self, conn: ConnId) -> Option<u64> {
        self.conns.get(&conn).map(|e| e.conn.dropped_events())
    }

    pub fn state_version(&self) -> StateVersion {
        self.state_version
    }

    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Wall-clock milliseconds at `now`, derived from the construction time.
    pub fn unix_ms(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_millis();
        self.epoch_unix_ms
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    fn uptime_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn health_due(&self) -> Instant {
        match self.health_refresh_at {
            Some(at) => at.min(self.timers.health),
            None => self.timers.health,
        }
    }

    /// Refresh health soon after a connect: at once, but at most once per
    /// second, so a connection storm does not turn into a health broadcast per
    /// connect.
    fn request_health_refresh(&mut self, now: Instant) {
        if self.health_refresh_at.is_none() {
            let earliest = self.last_health_refresh + std::time::Duration::from_secs(1);
            self.health_refresh_at = Some(earliest.max(now));
        }
    }

    fn refresh_health(&mut self, now: Instant) {
        self.health_refresh_at = None;
        self.last_health_refresh = now;
        self.timers.health = now + self.config.limits.health_refresh_interval;
        self.health_json = Arc::from(health_snapshot(&self.config, self.unix_ms(now)));
        self.state_version.health += 1;
        let health = Arc::clone(&self.health_json);
        self.broadcast("health", &*health, Some(self.state_version));
    }

    fn rebuild_presence_json(&mut self) {
        self.presence_json = Arc::from(self.presence.to_raw());
    }

    /// Presence changed: new version, new JSON, broadcast.
    fn presence_changed(&mut self) {
        self.state_version.presence += 1;
        self.rebuild_presence_json();
        let payload = Arc::clone(&self.presence_json);
        #[derive(serde::Serialize)]
        struct PresencePayload<'a> {
            presence: &'a RawValue,
        }
        self.broadcast(
            "presence",
            &PresencePayload { presence: &payload },
            Some(self.state_version),
        );
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
