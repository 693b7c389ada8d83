//! Who may open a WebSocket at all: a cap on sockets that have not
//! authenticated yet, per client address, and a cap on all connections.
//!
//! The decision is taken before the upgrade (the refusal is an HTTP 503, as
//! with the reference), which a runtime does in its socket task, before the
//! hub has heard of the socket. So this component is a plain counter the
//! runtime owns next to the hub (behind whatever lock its threads need) and
//! asks at every upgrade; the limits are the core's ([`Limits`]), and so is
//! the rule. Each admitted socket holds one slot until it closes, plus one
//! pre-auth slot of its address until it authenticates or closes.

use core::net::IpAddr;
use std::collections::BTreeMap;

use super::Limits;

/// Why an upgrade is refused (answered HTTP 503 with [`Refusal::message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address already has `max_preauth_per_ip` sockets waiting to authenticate.
    TooManyUnauthenticated,
    /// The gateway already holds `max_connections` sockets.
    TooManyConnections,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::TooManyUnauthenticated => "Too many unauthenticated sockets",
            Refusal::TooManyConnections => "Too many connections",
        }
    }
}

/// The counters. Addresses are compared canonically (an IPv4-mapped IPv6
/// address is its IPv4 address).
#[derive(Debug, Default)]
pub struct Admission {
    max_preauth_per_ip: usize,
    max_connections: usize,
    preauth: BTreeMap<IpAddr, usize>,
    connections: usize,
}

impl Admission {
    pub fn new(limits: &Limits) -> Self {
        Admission {
            max_preauth_per_ip: limits.max_preauth_per_ip,
            max_connections: limits.max_connections,
            ..Admission::default()
        }
    }

    /// New limits (a config reload); sockets already admitted keep their slots.
    pub fn set_limits(&mut self, limits: &Limits) {
        self.max_preauth_per_ip = limits.max_preauth_per_ip;
        self.max_connections = limits.max_connections;
    }

    /// Admit a socket from `ip`: it takes a connection slot and a pre-auth
    /// slot of its address, or is refused.
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if self.connections >= self.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let waiting = self.preauth.entry(ip).or_insert(0);
        if *waiting >= self.max_preauth_per_ip {
            if *waiting == 0 {
                self.preauth.remove(&ip);
            }
            return Err(Refusal::TooManyUnauthenticated);
        }
        *waiting += 1;
        self.connections += 1;
        Ok(())
    }

    /// The socket from `ip` authenticated (or closed before it did): its
    /// pre-auth slot is free. Call at most once per admitted socket.
    pub fn release_preauth(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(waiting) = self.preauth.get_mut(&ip) {
            debug_assert!(*waiting > 0);
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                // The map stays as small as the set of addresses with waiting sockets.
                self.preauth.remove(&ip);
            }
        } else {
            debug_assert!(false, "embedder bug: pre-auth slot of {ip} released twice");
        }
    }

    /// An admitted socket is gone.
    pub fn release_connection(&mut self) {
        debug_assert!(
            self.connections > 0,
            "embedder bug: connection released twice"
        );
        self.connections = self.connections.saturating_sub(1);
    }

    /// Sockets admitted and not yet released.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Sockets of `ip` waiting to authenticate.
    pub fn waiting(&self, ip: IpAddr) -> usize {
        self.preauth.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: usize, total: usize) -> Limits {
        Limits::default()
            .with_max_preauth_per_ip(per_ip)
            .with_max_connections(total)
    }

    #[test]
    fn the_pre_auth_cap_is_per_address_and_freed_by_authentication() {
        let mut admission = Admission::new(&limits(2, 100));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(admission.admit(a), Ok(()));
        assert_eq!(admission.admit(mapped), Ok(()), "the same address");
        assert_eq!(admission.admit(a), Err(Refusal::TooManyUnauthenticated));
        assert_eq!(admission.admit(b), Ok(()));
        // One authenticates: its address may open another.
        admission.release_preauth(a);
        assert_eq!(admission.admit(a), Ok(()));
        assert_eq!(admission.waiting(a), 2);
        assert_eq!(admission.connections(), 4);
    }

    #[test]
    fn the_total_cap_counts_authenticated_sockets_too() {
        let mut admission = Admission::new(&limits(10, 2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        admission.admit(a).unwrap();
        admission.release_preauth(a);
        admission.admit(a).unwrap();
        assert_eq!(admission.admit(a), Err(Refusal::TooManyConnections));
        admission.release_connection();
        assert_eq!(admission.admit(a), Ok(()));
        assert!(admission.preauth.len() <= 1, "bounded by waiting addresses");
    }
}
