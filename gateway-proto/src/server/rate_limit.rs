//! Slowing down secret guessing: failure counts, lockouts and escalating,
//! shared answer delays per client.
//!
//! Every wrong secret is answered only after a delay that doubles with each
//! recent failure from the same client (250 ms, 500 ms, … up to 5 s), and
//! all failures pending for one client are answered together when the
//! latest of their delays ends: opening more parallel connections does not
//! buy more guesses per second. On top of that, a client that is not exempt
//! is locked out after `max_failures` within `window`, for `lockout`.
//!
//! Who counts as one client ([`RateLimitKey`]):
//! - a connection without an `Origin` header: its address. Loopback
//!   addresses are exempt from the lockout (a local user can read the secret
//!   anyway), but not from the delay;
//! - a browser connection (with an `Origin`) from loopback: its origin, never
//!   exempt, so a web page cannot guess a local gateway's secret at full speed;
//! - a browser connection from elsewhere: its address, counted apart from
//!   that address's non-browser attempts.

use core::net::IpAddr;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::time::Timestamp;

use crate::wire::messages::{RATE_LIMIT_LOCKOUT_MS, RATE_LIMIT_MAX_ATTEMPTS, RATE_LIMIT_WINDOW_MS};

/// The first failure's answer delay; each further recent failure doubles it.
pub const FAILURE_DELAY_BASE: Duration = Duration::from_millis(250);
/// The longest answer delay.
pub const FAILURE_DELAY_MAX: Duration = Duration::from_secs(5);

/// Whose failures are counted together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RateLimitKey {
    /// A non-browser client, by (canonical) address.
    Ip(IpAddr),
    /// A browser client from a non-loopback address.
    BrowserIp(IpAddr),
    /// A browser client on loopback, by its (lowercased) origin.
    BrowserOrigin(Box<str>),
}

impl RateLimitKey {
    /// The key for a client at `ip`, with the `Origin` header it sent, if any.
    pub fn for_client(ip: IpAddr, origin: Option<&str>) -> Self {
        let ip = ip.to_canonical();
        match origin.map(str::trim).filter(|o| !o.is_empty()) {
            None => RateLimitKey::Ip(ip),
            Some(origin) if ip.is_loopback() => {
                // One page is one client however it spells its origin
                // (`http://x/` and `http://x:80`); an unparsable one is cut
                // short so a key stays small.
                let origin = match super::origin::parse_origin(origin) {
                    Some(parsed) => parsed.origin,
                    None => origin
                        .chars()
                        .take(256)
                        .collect::<String>()
                        .to_ascii_lowercase(),
                };
                RateLimitKey::BrowserOrigin(origin.into_boxed_str())
            }
            Some(_) => RateLimitKey::BrowserIp(ip),
        }
    }

    /// Exempt from the lockout (never from the delay).
    fn exempt(&self) -> bool {
        matches!(self, RateLimitKey::Ip(ip) if ip.is_loopback())
    }
}

#[derive(Clone, Debug)]
struct Entry {
    /// Failure instants within the window, oldest first (bounded).
    failures: VecDeque<Timestamp>,
    locked_until: Option<Timestamp>,
    /// When the failures now waiting for their answer are all answered.
    release_at: Option<Timestamp>,
}

/// Failure bookkeeping per [`RateLimitKey`]. Bounded: at most
/// [`AuthRateLimiter::MAX_TRACKED`] keys; when full, expired entries go
/// first, then the entry whose last failure is oldest (never a locked one
/// while an unlocked one remains).
#[derive(Debug)]
pub struct AuthRateLimiter {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    delay_base: Duration,
    delay_max: Duration,
    entries: BTreeMap<RateLimitKey, Entry>,
}

impl Default for AuthRateLimiter {
    /// The reference's parameters: 10 failures per minute lock out for 5
    /// minutes; delays from 250 ms to 5 s.
    fn default() -> Self {
        AuthRateLimiter::new(
            RATE_LIMIT_MAX_ATTEMPTS,
            Duration::from_millis(RATE_LIMIT_WINDOW_MS),
            Duration::from_millis(RATE_LIMIT_LOCKOUT_MS),
        )
    }
}

impl AuthRateLimiter {
    pub const MAX_TRACKED: usize = 4096;

    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        AuthRateLimiter {
            max_failures: max_failures.max(1),
            window,
            lockout,
            delay_base: FAILURE_DELAY_BASE,
            delay_max: FAILURE_DELAY_MAX,
            entries: BTreeMap::new(),
        }
    }

    /// The limiter `limits` describe.
    pub fn from_limits(limits: &crate::gateway::Limits) -> Self {
        let mut limiter = AuthRateLimiter::new(0, Duration::ZERO, Duration::ZERO);
        limiter.set_limits(limits);
        limiter
    }

    /// Take new parameters (a config reload) and keep every count, lockout
    /// and pending delay: editing the config must not clear a guesser's record.
    pub fn set_limits(&mut self, limits: &crate::gateway::Limits) {
        self.max_failures = limits.auth_failures_max.max(1);
        self.window = limits.auth_failure_window;
        self.lockout = limits.auth_lockout;
        self.delay_base = limits.auth_failure_delay;
        self.delay_max = limits.auth_failure_delay_max.max(limits.auth_failure_delay);
    }

    /// Use other answer delays.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.delay_base = base;
        self.delay_max = max.max(base);
        self
    }

    /// `Some(retry_after)` while `key` is locked out.
    pub fn blocked_for(&self, key: &RateLimitKey, now: Timestamp) -> Option<Duration> {
        if key.exempt() {
            return None;
        }
        let locked_until = self.entries.get(key)?.locked_until?;
        (locked_until > now).then(|| locked_until - now)
    }

    /// Count a wrong secret from `key`; returns when its answer is due. A
    /// later failure from the same key may move that instant on: see
    /// [`release_at`](Self::release_at).
    pub fn record_failure(&mut self, key: &RateLimitKey, now: Timestamp) -> Timestamp {
        if !self.entries.contains_key(key) {
            self.make_room(now);
        }
        let history = self.history_limit();
        let (window, lockout, max) = (self.window, self.lockout, self.max_failures);
        let exempt = key.exempt();
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            failures: VecDeque::new(),
            locked_until: None,
            release_at: None,
        });
        if entry.locked_until.is_some_and(|until| until <= now) {
            entry.locked_until = None;
            entry.failures.clear();
        }
        while entry
            .failures
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= window)
        {
            entry.failures.pop_front();
        }
        if entry.locked_until.is_none() {
            entry.failures.push_back(now);
            while entry.failures.len() > history {
                entry.failures.pop_front();
            }
            if !exempt && entry.failures.len() >= max as usize {
                entry.locked_until = Some(now + lockout);
            }
        }
        let count = u32::try_from(entry.failures.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let delay = self
            .delay_base
            .saturating_mul(1u32 << (count - 1).min(20))
            .min(self.delay_max);
        let due = now + delay;
        let release = match entry.release_at {
            Some(at) if at > due => at,
            _ => due,
        };
        entry.release_at = Some(release);
        release
    }

    /// When every failure of `key` still waiting for its answer is answered.
    pub fn release_at(&self, key: &RateLimitKey) -> Option<Timestamp> {
        self.entries.get(key)?.release_at
    }

    /// A successful login clears the key's failures and lockout. Refusals
    /// of the key still waiting keep their shared release (as with the
    /// reference, whose waiters outlive a reset): guessing right once does
    /// not release the wrong guesses early.
    pub fn record_success(&mut self, key: &RateLimitKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.failures.clear();
            entry.locked_until = None;
        }
    }

    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    /// Failures kept per key: enough for the lockout and for the delay to
    /// reach its maximum.
    fn history_limit(&self) -> usize {
        let mut doublings = 0usize;
        let mut delay = self.delay_base;
        while delay < self.delay_max && doublings < 20 {
            delay = delay.saturating_mul(2);
            doublings += 1;
        }
        (self.max_failures as usize).max(doublings + 1)
    }

    fn make_room(&mut self, now: Timestamp) {
        if self.entries.len() < Self::MAX_TRACKED {
            return;
        }
        let window = self.window;
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|until| until > now)
                || e.release_at.is_some_and(|at| at > now)
                || e.failures
                    .back()
                    .is_some_and(|at| now.saturating_duration_since(*at) < window)
        });
        if self.entries.len() < Self::MAX_TRACKED {
            return;
        }
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (e.locked_until.is_some(), e.failures.back().copied()))
            .map(|(key, _)| key.clone());
        if let Some(victim) = victim {
            self.entries.remove(&victim);
        }
    }
}
