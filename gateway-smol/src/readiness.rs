//! What `/readyz` reports, shared between the hub task and the HTTP handlers.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting = 0,
    Ready = 1,
    Draining = 2,
}

pub(crate) struct Readiness {
    phase: AtomicU8,
    started: Instant,
    /// Bumped by the hub task each time it answers a heartbeat; the
    /// watchdog thread tells the supervisor we live only while it moves.
    beats: Arc<AtomicU64>,
}

impl Readiness {
    pub(crate) fn new(started: Instant) -> Self {
        Readiness {
            phase: AtomicU8::new(Phase::Starting as u8),
            started,
            beats: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The hub task is alive (it answered a heartbeat).
    pub(crate) fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn beats(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.beats)
    }

    pub(crate) fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Ready,
            2 => Phase::Draining,
            _ => Phase::Starting,
        }
    }

    /// `(status, body)` of the `/startupz` answer, which `openclaw health` and
    /// `openclaw status` ask for before connecting.
    pub(crate) fn startupz(&self, version: &str) -> (u16, String) {
        let uptime_ms = self.started.elapsed().as_millis();
        let version = serde_json::Value::from(version);
        match self.phase() {
            Phase::Starting => (
                503,
                format!(
                    r#"{{"ok":false,"status":"starting","version":{version},"uptimeMs":{uptime_ms}}}"#
                ),
            ),
            Phase::Ready | Phase::Draining => (
                200,
                format!(
                    r#"{{"ok":true,"status":"started","version":{version},"uptimeMs":{uptime_ms}}}"#
                ),
            ),
        }
    }

    /// `(status, body)` of the `/readyz` answer.
    pub(crate) fn readyz(&self) -> (u16, String) {
        let uptime_ms = self.started.elapsed().as_millis();
        match self.phase() {
            Phase::Ready => (
                200,
                format!(r#"{{"ready":true,"failing":[],"uptimeMs":{uptime_ms}}}"#),
            ),
            Phase::Starting => (
                503,
                format!(r#"{{"ready":false,"failing":["starting"],"uptimeMs":{uptime_ms}}}"#),
            ),
            Phase::Draining => (
                503,
                format!(r#"{{"ready":false,"failing":["draining"],"uptimeMs":{uptime_ms}}}"#),
            ),
        }
    }
}
