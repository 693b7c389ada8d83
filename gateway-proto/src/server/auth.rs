//! Shared-secret authentication: constant-time comparison and a failure rate
//! limit per client address.

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::gateway::AuthConfig;
use crate::wire::messages::{
    auth_failure_details, auth_failure_message, AuthClientKind, AuthFailure as AuthFailureKind,
    RATE_LIMIT_LOCKOUT_MS, RATE_LIMIT_MAX_ATTEMPTS, RATE_LIMIT_WINDOW_MS,
};
use crate::wire::{ConnectParams, ErrorShape, ProtocolVersion};

/// How a connection authenticated (`hello-ok.auth.method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    Token,
    Password,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Token => "token",
            AuthMethod::Password => "password",
        }
    }
}

/// Why a shared-secret check failed.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthFailure {
    pub error: ErrorShape,
    /// A wrong secret is answered only after the configured delay, slowing guessing.
    pub delayed: bool,
}

/// Equal-length-independent constant-time comparison of two secrets.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    // Comparing lengths first would leak the length; `ct_eq` on slices of
    // different length returns false without looking at the contents, and both
    // paths do the same work for a given input length.
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn failure(kind: AuthFailureKind, client: AuthClientKind, delayed: bool) -> AuthFailure {
    AuthFailure {
        error: ErrorShape::invalid_request(auth_failure_message(kind, client))
            .with_details(auth_failure_details(kind, false)),
        delayed,
    }
}

/// Which wording of the hints a client gets: protocol 3 gateways gave every
/// CLI the "remote" hint; protocol 4 points a local CLI at its own config.
pub fn auth_client_kind(
    params: &ConnectParams,
    protocol: ProtocolVersion,
    is_local: bool,
) -> AuthClientKind {
    let client = &params.client;
    let is_cli = client.mode == "cli" || client.id == "cli";
    let is_ui = matches!(
        client.id.as_str(),
        "openclaw-control-ui" | "webchat-ui" | "webchat"
    ) || matches!(client.mode.as_str(), "ui" | "webchat");
    match (is_cli, is_ui) {
        (true, _) if protocol == ProtocolVersion::V4 && is_local => AuthClientKind::CliLocal,
        (true, _) => AuthClientKind::CliRemote,
        (false, true) => AuthClientKind::Ui,
        (false, false) => AuthClientKind::Other,
    }
}

/// Check the secret a client presented against the gateway's auth config.
pub fn check_shared_secret(
    config: &AuthConfig,
    token: Option<&str>,
    password: Option<&str>,
    client: AuthClientKind,
) -> Result<AuthMethod, AuthFailure> {
    match config {
        AuthConfig::None => Ok(AuthMethod::None),
        AuthConfig::Token(expected) => match token {
            None => Err(failure(AuthFailureKind::TokenMissing, client, false)),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Token),
            Some(_) => Err(failure(AuthFailureKind::TokenMismatch, client, true)),
        },
        AuthConfig::Password(expected) => match password {
            None => Err(failure(AuthFailureKind::PasswordMissing, client, false)),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Password),
            Some(_) => Err(failure(AuthFailureKind::PasswordMismatch, client, true)),
        },
    }
}

/// Failed attempts per client address: `max_failures` within `window` lock
/// the address out for `lockout`. Loopback addresses are exempt (a local
/// user can read the secret anyway). Bounded: at most `MAX_TRACKED`
/// addresses; when full, the entry whose window started first is forgotten.
#[derive(Debug)]
pub struct AuthRateLimiter {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    by_ip: BTreeMap<IpAddr, FailureWindow>,
}

#[derive(Clone, Copy, Debug)]
struct FailureWindow {
    started: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Default for AuthRateLimiter {
    /// The reference's parameters: 10 failures per minute lock out for 5 minutes.
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
            by_ip: BTreeMap::new(),
        }
    }

    /// `Some(retry_after)` while `ip` is locked out.
    pub fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let locked_until = self.by_ip.get(&ip)?.locked_until?;
        (locked_until > now).then(|| locked_until - now)
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        if ip.is_loopback() {
            return;
        }
        if !self.by_ip.contains_key(&ip) && self.by_ip.len() >= Self::MAX_TRACKED {
            self.forget_expired(now);
            if self.by_ip.len() >= Self::MAX_TRACKED {
                let oldest = self
                    .by_ip
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    self.by_ip.remove(&oldest);
                }
            }
        }
        let (window, lockout, max) = (self.window, self.lockout, self.max_failures);
        let fresh = FailureWindow {
            started: now,
            failures: 0,
            locked_until: None,
        };
        let entry = self.by_ip.entry(ip).or_insert(fresh);
        let lock_over = entry.locked_until.is_some_and(|until| until <= now);
        if lock_over
            || (entry.locked_until.is_none()
                && now.saturating_duration_since(entry.started) >= window)
        {
            *entry = fresh;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= max && entry.locked_until.is_none() {
            entry.locked_until = Some(now + lockout);
        }
    }

    /// A successful login clears the address's record.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
    }

    fn forget_expired(&mut self, now: Instant) {
        let window = self.window;
        self.by_ip.retain(|_, w| match w.locked_until {
            Some(until) => until > now,
            None => now.saturating_duration_since(w.started) < window,
        });
    }

    pub fn tracked(&self) -> usize {
        self.by_ip.len()
    }
}

/// The error for a locked-out address.
pub fn rate_limited(retry_after: Duration) -> ErrorShape {
    let retry_ms = u64::try_from(retry_after.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut details = auth_failure_details(AuthFailureKind::RateLimited, false);
    details["retryAfterMs"] = retry_ms.into();
    ErrorShape::invalid_request(auth_failure_message(
        AuthFailureKind::RateLimited,
        AuthClientKind::Other,
    ))
    .with_details(details)
    .with_retry_after(retry_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_is_correct() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }

    #[test]
    fn token_outcomes() {
        let config = AuthConfig::Token("t".into());
        assert_eq!(
            check_shared_secret(&config, Some("t"), None, AuthClientKind::CliLocal),
            Ok(AuthMethod::Token)
        );
        let wrong =
            check_shared_secret(&config, Some("x"), None, AuthClientKind::CliLocal).unwrap_err();
        assert!(wrong.delayed);
        assert_eq!(wrong.error.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
        let missing =
            check_shared_secret(&config, None, Some("t"), AuthClientKind::CliLocal).unwrap_err();
        assert_eq!(missing.error.detail_code(), Some("AUTH_TOKEN_MISSING"));
    }
}
