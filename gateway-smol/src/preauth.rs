//! The core's admission rules ([`Admission`]: a cap on unauthenticated sockets
//! per address, and on all sockets) applied at the upgrade, with a slot held
//! for as long as it is needed: the guards give it back on drop.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use gateway_proto::gateway::{Admission, Limits, Refusal};

pub(crate) struct AdmissionGate {
    admission: Mutex<Admission>,
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
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Admission) -> T) -> T {
        let mut admission = self.admission.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut admission)
    }

    /// New limits from a config reload.
    pub(crate) fn set_limits(&self, limits: &Limits) {
        self.with(|a| a.set_limits(limits));
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
