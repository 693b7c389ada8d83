//! The per-IP cap on unauthenticated WebSocket sockets (protocol §3 step 0).
//!
//! A slot is taken at the upgrade and given back when the hub authenticates the
//! connection or the socket goes away, whichever comes first: the guard's drop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub(crate) struct PreauthLimiter {
    max_per_ip: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

pub(crate) struct PreauthGuard {
    limiter: Arc<PreauthLimiter>,
    ip: IpAddr,
}

impl PreauthLimiter {
    pub(crate) fn new(max_per_ip: usize) -> Arc<Self> {
        Arc::new(PreauthLimiter {
            max_per_ip,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or `None` when it already has `max_per_ip` sockets waiting.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<PreauthGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(PreauthGuard {
            limiter: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for PreauthGuard {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                // Keep the map as small as the set of IPs with waiting sockets.
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_per_ip_and_released_on_drop() {
        let limiter = PreauthLimiter::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        let g1 = limiter.try_acquire(a).unwrap();
        let _g2 = limiter.try_acquire(a).unwrap();
        assert!(limiter.try_acquire(a).is_none());
        assert!(limiter.try_acquire(b).is_some());
        drop(g1);
        assert!(limiter.try_acquire(a).is_some());
    }
}
