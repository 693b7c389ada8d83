//! The health snapshot (`health` method, `health` event, hello snapshot) and
//! the status summary (`status`).
//!
//! This gateway runs no agents or channels of its own yet, so the snapshot
//! reports the default agent with its real (empty) session store and no
//! linked channels: the shapes clients read, with true values.

use serde_json::{json, value::RawValue, Value};

use super::Config;

/// The default agent every OpenClaw install has.
pub const DEFAULT_AGENT_ID: &str = "main";
/// Heartbeat cadence reported for the default agent (the reference default, 30 min).
pub(crate) const HEARTBEAT_SECONDS: u64 = 1800;
/// Longest heartbeat acknowledgement kept (the reference default).
pub(crate) const HEARTBEAT_ACK_MAX_CHARS: u64 = 300;

/// Path of the default agent's session store under the state dir.
fn session_store_path(config: &Config) -> String {
    let state = config.state_dir.as_deref().unwrap_or("~/.openclaw");
    format!("{state}/agents/{DEFAULT_AGENT_ID}/sessions/sessions.json")
}

/// Build the health snapshot JSON at wall time `ts`.
pub fn health_snapshot(config: &Config, ts: u64) -> Box<RawValue> {
    let sessions = json!({
        "path": session_store_path(config),
        "count": 0,
        "recent": [],
    });
    let value = json!({
        "ok": true,
        "ts": ts,
        "durationMs": 0,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": HEARTBEAT_SECONDS,
        "defaultAgentId": DEFAULT_AGENT_ID,
        "agents": [{
            "agentId": DEFAULT_AGENT_ID,
            "isDefault": true,
            "heartbeat": {
                "enabled": false,
                "every": "30m",
                "everyMs": HEARTBEAT_SECONDS * 1000,
                // No heartbeat prompt is configured on this gateway.
                "prompt": "",
                "target": "owner",
                "ackMaxChars": HEARTBEAT_ACK_MAX_CHARS,
            },
            "sessions": sessions,
        }],
        "sessions": sessions,
    });
    to_raw(&value)
}

/// The `status` summary.
pub fn status_summary(
    config: &Config,
    uptime_ms: u64,
    connections: usize,
    presence_len: usize,
) -> Value {
    json!({
        "runtimeVersion": config.server_version,
        "heartbeat": {
            "defaultAgentId": DEFAULT_AGENT_ID,
            "agents": [{
                "agentId": DEFAULT_AGENT_ID,
                "enabled": false,
                "every": "30m",
                "everyMs": HEARTBEAT_SECONDS * 1000,
            }],
        },
        "channelSummary": [],
        "queuedSystemEvents": [],
        "sessions": {
            "paths": [session_store_path(config)],
            "count": 0,
            "defaults": { "model": null, "contextTokens": null },
            "recent": [],
            "byAgent": [{
                "agentId": DEFAULT_AGENT_ID,
                "path": session_store_path(config),
                "count": 0,
                "recent": [],
            }],
        },
        "gateway": {
            "uptimeMs": uptime_ms,
            "connections": connections,
            "presenceEntries": presence_len,
            "authMode": config.auth.mode_name(),
        },
    })
}

pub(crate) fn to_raw(value: &Value) -> Box<RawValue> {
    // A `Value` always serializes; the fallback keeps the type total.
    serde_json::value::to_raw_value(value)
        .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is valid JSON"))
}

/// The health component: the current snapshot (shared by `health`, hello
/// snapshots and the `health` broadcast) and when it is next refreshed:
/// periodically, and soon after a connect (at most once a second, so a
/// connection storm is not a broadcast per connect).
#[derive(Debug)]
pub(crate) struct HealthState {
    json: std::sync::Arc<RawValue>,
    /// A connect asked for a refresh before the periodic one, due then.
    requested_at: Option<crate::time::Timestamp>,
    last_refresh: crate::time::Timestamp,
    periodic_at: crate::time::Timestamp,
}

impl HealthState {
    pub(crate) fn new(config: &Config, now: crate::time::Timestamp, unix_ms: u64) -> Self {
        HealthState {
            json: std::sync::Arc::from(health_snapshot(config, unix_ms)),
            requested_at: None,
            last_refresh: now,
            periodic_at: now + config.limits.health_refresh_interval,
        }
    }

    pub(crate) fn json(&self) -> &std::sync::Arc<RawValue> {
        &self.json
    }

    /// Refresh soon: at once, but not within a second of the last refresh.
    pub(crate) fn request_refresh(&mut self, now: crate::time::Timestamp) {
        if self.requested_at.is_none() {
            let earliest = self.last_refresh + std::time::Duration::from_secs(1);
            self.requested_at = Some(earliest.max(now));
        }
    }

    pub(crate) fn next_refresh(&self) -> crate::time::Timestamp {
        match self.requested_at {
            Some(at) => at.min(self.periodic_at),
            None => self.periodic_at,
        }
    }

    /// Rebuild the snapshot and broadcast it with a new health version.
    pub(crate) fn refresh(
        &mut self,
        config: &Config,
        now: crate::time::Timestamp,
        unix_ms: u64,
        out: &mut super::outbox::Outbox<'_>,
    ) {
        self.requested_at = None;
        self.last_refresh = now;
        self.periodic_at = now + config.limits.health_refresh_interval;
        self.json = std::sync::Arc::from(health_snapshot(config, unix_ms));
        out.state_version.health += 1;
        out.broadcast(&super::registry::HEALTH_EVENT, &*self.json, true, |_| true);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn refreshes_periodically_and_soon_after_a_connect_but_not_twice_a_second() {
        let config = Config::default();
        let t0 = Timestamp::ZERO;
        let mut health = HealthState::new(&config, t0, 0);
        assert_eq!(health.next_refresh(), t0 + Duration::from_secs(60));
        // A connect right after the start waits for the one-second spacing.
        health.request_refresh(t0 + Duration::from_millis(10));
        assert_eq!(health.next_refresh(), t0 + Duration::from_secs(1));
        // A second request changes nothing.
        health.request_refresh(t0 + Duration::from_millis(20));
        assert_eq!(health.next_refresh(), t0 + Duration::from_secs(1));
    }
}
