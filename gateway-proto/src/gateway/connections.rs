//! Connection life cycle inside the hub: open, text, handshake completion,
//! close, shutdown.

use std::time::Instant;

use super::methods::{EVENT_NAMES, METHOD_NAMES};
use super::presence::{presence_key, PresenceEntry};
use super::{ConnEntry, Gateway, Output, Peer};
use crate::server::{
    check_browser_origin, close_code, AuthMethod, ConnectRequest, HandshakeContext, HelloAuth,
    HelloFeatures, HelloOk, HelloPolicy, HelloServer, HelloSnapshot, Inbound, ServerConnection,
    ServerOutput,
};
use crate::ConnId;

impl Gateway {
    pub(super) fn on_opened(&mut self, conn: ConnId, peer: Peer, now: Instant) {
        if self.conns.contains_key(&conn) {
            // A runtime bug, not peer input: ignore the duplicate rather than
            // clobber a live connection.
            return;
        }
        let nonce = match self.forced_nonce.take() {
            Some(nonce) => nonce,
            None => self.rng.uuid_v4(),
        };
        let conn_uuid = self.rng.uuid_v4();
        let unix_ms = self.unix_ms(now);
        let server = ServerConnection::new(peer, nonce, &self.config.limits, now, unix_ms);
        self.conns.insert(
            conn,
            ConnEntry {
                conn: server,
                conn_uuid,
                deadline: None,
                presence_key: None,
            },
        );
        if self.shutting_down {
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry
                    .conn
                    .close(close_code::SERVICE_RESTART, "service restart");
            }
        }
        self.sync_conn(conn);
    }

    pub(super) fn on_text(&mut self, conn: ConnId, text: &str, now: Instant) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut ctx = HandshakeContext {
            auth: &self.config.auth,
            origin_policy: &self.config.origin_policy,
            limiter: &mut self.limiter,
            starting: !self.ready,
            unix_ms: self.epoch_unix_ms.saturating_add(
                u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
                    .unwrap_or(u64::MAX),
            ),
        };
        match entry.conn.handle_text(text, now, &mut ctx) {
            None => {}
            Some(Inbound::Connect(request)) => self.on_connect(conn, &request, now),
            Some(Inbound::Request(request)) => self.dispatch(conn, request, now),
        }
        self.sync_conn(conn);
    }

    pub(super) fn on_closed(&mut self, conn: ConnId, now: Instant) {
        let Some(mut entry) = self.conns.remove(&conn) else {
            return;
        };
        entry.conn.handle_peer_closed();
        if let Some(deadline) = entry.deadline {
            self.conn_deadlines.remove(&(deadline, conn));
        }
        // Requests waiting for an effect have no one to answer any more.
        self.pending_effects
            .retain(|_, pending| pending.conn != conn);
        if let Some(key) = entry.presence_key {
            let remaining = match self.presence_refs.get_mut(&key) {
                Some(count) => {
                    *count = count.saturating_sub(1);
                    *count
                }
                None => 0,
            };
            if remaining == 0 {
                self.presence_refs.remove(&key);
            }
            if remaining == 0 && !self.shutting_down {
                let ts = self.unix_ms(now);
                if self.presence.mark_disconnected(&key, ts, now) {
                    self.presence_changed();
                }
            }
        }
    }

    /// Run `f` on a connection, then collect what it emitted.
    pub(super) fn with_conn(&mut self, conn: ConnId, f: impl FnOnce(&mut ConnEntry)) {
        if let Some(entry) = self.conns.get_mut(&conn) {
            f(entry);
            self.sync_conn(conn);
        }
    }

    /// Move a connection's outputs to the hub queue and re-register its deadline.
    pub(super) fn sync_conn(&mut self, conn: ConnId) {
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        drain_conn(&mut self.out, conn, &mut entry.conn);
        let deadline = entry.conn.poll_timeout();
        if deadline != entry.deadline {
            if let Some(old) = entry.deadline {
                self.conn_deadlines.remove(&(old, conn));
            }
            if let Some(new) = deadline {
                self.conn_deadlines.insert((new, conn));
            }
            entry.deadline = deadline;
        }
    }

    fn on_connect(&mut self, conn: ConnId, request: &ConnectRequest, now: Instant) {
        let granted = request.granted_scopes.clone();
        // Presence first: the snapshot in hello-ok then already shows this
        // client, and the broadcast reaches everyone else (the newcomer is not
        // subscribed yet, as with the reference).
        if request.params.client.mode != "cli" {
            self.track_presence(conn, request, &granted, now);
        }
        let uptime_ms = self.uptime_ms(now);
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let hello = HelloOk {
            kind: "hello-ok",
            protocol: request.protocol.number(),
            server: HelloServer {
                version: &self.config.server_version,
                conn_id: &entry.conn_uuid,
                boot_id: Some(&self.boot_id),
            },
            features: HelloFeatures {
                methods: METHOD_NAMES,
                events: EVENT_NAMES,
            },
            snapshot: HelloSnapshot {
                presence: &self.presence_json,
                health: &self.health_json,
                state_version: self.state_version,
                uptime_ms,
                config_path: self.config.config_path.as_deref(),
                state_dir: self.config.state_dir.as_deref(),
                auth_mode: Some(self.config.auth.mode_name()),
            },
            policy: HelloPolicy {
                max_payload: self.config.limits.max_payload as u64,
                max_buffered_bytes: self.config.limits.max_buffered_bytes as u64,
                tick_interval_ms: u64::try_from(self.config.limits.tick_interval.as_millis())
                    .unwrap_or(u64::MAX),
            },
            auth: HelloAuth {
                role: request.role.as_str(),
                scopes: &granted,
                method: Some(request.auth_method.as_str()),
                device_token: None,
                issued_at_ms: None,
            },
        }
        .for_protocol(request.protocol);
        entry.conn.accept(&hello, &mut self.buf);
        self.sync_conn(conn);
        self.request_health_refresh(now);
    }

    /// Upsert the presence entry of a newly connected client and broadcast it.
    /// CLI invocations are short-lived and never tracked.
    fn track_presence(
        &mut self,
        conn: ConnId,
        request: &ConnectRequest,
        granted: &[String],
        now: Instant,
    ) {
        let ts = self.unix_ms(now);
        let Some(entry) = self.conns.get_mut(&conn) else {
            return;
        };
        let raw_key = request
            .device
            .as_ref()
            .map(|d| d.id.as_str())
            .or(request.params.client.instance_id.as_deref())
            .unwrap_or(entry.conn_uuid.as_str());
        let key = presence_key(raw_key);
        entry.presence_key = Some(key.clone());
        *self.presence_refs.entry(key.clone()).or_insert(0) += 1;
        let client = &request.params.client;
        let presence = PresenceEntry {
            host: client.display_name.clone(),
            ip: Some(entry.conn.peer().ip.to_string()),
            version: Some(client.version.clone()),
            platform: Some(client.platform.clone()),
            device_family: client.device_family.clone(),
            model_identifier: client.model_identifier.clone(),
            mode: Some(client.mode.clone()),
            reason: Some("connect".to_owned()),
            ts,
            instance_id: client.instance_id.clone(),
            device_id: request.device.as_ref().map(|d| d.id.clone()),
            roles: Some(vec![request.role.as_str().to_owned()]),
            scopes: (!granted.is_empty()).then(|| granted.to_vec()),
            ..PresenceEntry::default()
        };
        self.presence.upsert(key, presence, now);
        self.presence_changed();
    }

    /// After a config change: close the sessions the new auth settings or
    /// origin rules would not admit (see [`Gateway::reconfigure`]).
    pub(super) fn evict_disallowed_sessions(&mut self, auth_changed: bool) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in ids {
            let Some(entry) = self.conns.get_mut(&conn) else {
                continue;
            };
            let Some(session) = entry.conn.session() else {
                continue;
            };
            if auth_changed && session_used_shared_auth(session.auth_method) {
                entry
                    .conn
                    .close(close_code::AUTH_CHANGED, "gateway auth changed");
            } else if let Some(origin) = entry.conn.peer().origin.as_deref() {
                let peer = entry.conn.peer();
                let allowed = check_browser_origin(
                    origin,
                    peer.host.as_deref(),
                    peer.is_local,
                    &self.config.origin_policy,
                )
                .is_ok();
                if !allowed {
                    entry
                        .conn
                        .close(close_code::POLICY_VIOLATION, "origin not allowed");
                }
            }
            self.sync_conn(conn);
        }
    }

    pub(super) fn shutdown(
        &mut self,
        reason: Option<&str>,
        restart_expected_ms: Option<u64>,
        _now: Instant,
    ) {
        if self.shutting_down {
            return;
        }
        let mut payload = serde_json::json!({ "reason": reason.unwrap_or("gateway stopping") });
        if let Some(ms) = restart_expected_ms {
            payload["restartExpectedMs"] = ms.into();
        }
        self.broadcast("shutdown", &payload, None);
        self.shutting_down = true;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in ids {
            if let Some(entry) = self.conns.get_mut(&conn) {
                entry
                    .conn
                    .close(close_code::SERVICE_RESTART, "service restart");
            }
            self.sync_conn(conn);
        }
        self.pending_effects.clear();
    }
}

/// Whether a session rests on the gateway-wide auth settings: a shared
/// token or password, or no auth at all. (Device tokens, once issued, will
/// not: rotating the shared secret leaves paired devices connected.)
fn session_used_shared_auth(method: AuthMethod) -> bool {
    matches!(
        method,
        AuthMethod::Token | AuthMethod::Password | AuthMethod::None
    )
}

pub(super) fn drain_conn(
    out: &mut std::collections::VecDeque<Output>,
    conn: ConnId,
    server: &mut ServerConnection,
) {
    while let Some(output) = server.poll_output() {
        out.push_back(match output {
            ServerOutput::Frame(frame) => Output::Frame { conn, frame },
            ServerOutput::Close { code, reason } => Output::Close { conn, code, reason },
        });
    }
}
