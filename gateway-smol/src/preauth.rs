//! The core's admission rules ([`Admission`]: a cap on unauthenticated sockets
//! per address, and on all sockets) applied at the upgrade, with a slot held
//! for as long as it is needed: the guards give it back on drop. It also
//! carries the one limit the connections' writers read: how many written
//! bytes they may hold back before reporting them to the core.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gateway_proto::gateway::{Admission, Limits, Refusal};

pub(crate) struct AdmissionGate {
    admission: Mutex<Admission>,
    /// See [`AdmissionGate::write_report_step`].
    report_step: AtomicUsize,
}

/// Written bytes a connection reports to the core at most this many at a
/// time (fewer when a sixteenth of the buffer limit is smaller).
const MAX_REPORT_STEP: usize = 64 * 1024;

fn report_step(limits: &Limits) -> usize {
    (limits.max_buffered_bytes / 16).clamp(1, MAX_REPORT_STEP)
}

/// Held from the upgrade until the connection authenticates or goes away.
pub(crate) struct PreauthGuard {
    gate: Arc<AdmissionGate>,
    ip: IpAddr,
}

/// Held for the life of the socket.
pub(crate) struct ConnectionSlot {
    gate: Arc<AdmissionGate>,
}

impl AdmissionGate {
    pub(crate) fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(AdmissionGate {
            admission: Mutex::new(Admission::new(limits)),
            report_step: AtomicUsize::new(report_step(limits)),
        })
    }

    /// How many written bytes a connection's writer reports to the core at
    /// once. Reporting every frame would cost one hub message per recipient
    /// of every broadcast; holding back less than a sixteenth of the buffer
    /// limit keeps the core's slow-consumer rules (half the limit, the
    /// limit) accurate to within that.
    pub(crate) fn write_report_step(&self) -> usize {
        self.report_step.load(Ordering::Relaxed)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Admission) -> T) -> T {
        let mut admission = self.admission.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut admission)
    }

    /// New limits from a config reload.
    pub(crate) fn set_limits(&self, limits: &Limits) {
        self.with(|a| a.set_limits(limits));
        self.report_step
            .store(report_step(limits), Ordering::Relaxed);
    }

    /// Admit a socket from `ip`, or say why not.
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
    ) -> Result<(ConnectionSlot, PreauthGuard), Refusal> {
        self.with(|a| a.admit(ip))?;
        Ok((
            ConnectionSlot {
                gate: Arc::clone(self),
            },
            PreauthGuard {
                gate: Arc::clone(self),
                ip,
            },
        ))
    }
}

impl Drop for PreauthGuard {
    fn drop(&mut self) {
        self.gate.with(|a| a.release_preauth(self.ip));
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.gate.with(Admission::release_connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_back_when_the_guards_drop() {
        let limits = Limits::default()
            .with_max_preauth_per_ip(1)
            .with_max_connections(2);
        let gate = AdmissionGate::new(&limits);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let (slot, guard) = gate.admit(a).map_err(|_| ()).unwrap();
        assert!(gate.admit(a).is_err(), "one waiting socket per address");
        drop(guard);
        let (_slot2, _guard2) = gate.admit(a).map_err(|_| ()).unwrap();
        assert!(matches!(gate.admit(a), Err(Refusal::TooManyConnections)));
        drop(slot);
        assert!(matches!(
            gate.admit(a),
            Err(Refusal::TooManyUnauthenticated)
        ));
    }
}
