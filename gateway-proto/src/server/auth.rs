//! Shared-secret authentication: constant-time comparison and a failure rate
//! limit per client address.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use subtle::ConstantTimeEq;

use crate::gateway::AuthConfig;
use crate::wire::{ErrorCode, ErrorShape, ProtocolVersion};

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

fn unauthorized(detail_code: &str, message: &str, auth_reason: &str) -> ErrorShape {
    ErrorShape::invalid_request(message).with_details(json!({
        "code": detail_code,
        "authReason": auth_reason,
        "canRetryWithDeviceToken": false,
        "recommendedNextStep": "update_auth_credentials",
    }))
}

pub(crate) const MSG_TOKEN_MISMATCH: &str =
    "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
/// Protocol 3 gateways worded the mismatch differently; a v3 connection gets the v3 text.
pub(crate) const MSG_TOKEN_MISMATCH_V3: &str =
    "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)";
pub(crate) const MSG_TOKEN_MISSING: &str =
    "unauthorized: gateway token missing (set gateway.remote.token to match gateway.auth.token)";
pub(crate) const MSG_PASSWORD_MISMATCH: &str =
    "unauthorized: gateway password mismatch (set gateway.remote.password to match gateway.auth.password)";
pub(crate) const MSG_PASSWORD_MISSING: &str =
    "unauthorized: gateway password missing (set gateway.remote.password to match gateway.auth.password)";
pub(crate) const MSG_RATE_LIMITED: &str =
    "unauthorized: too many failed authentication attempts (retry later)";

/// Check the secret a client presented against the gateway's auth config.
///
pub fn check_shared_secret(
    config: &AuthConfig,
    token: Option<&str>,
    password: Option<&str>,
    protocol: ProtocolVersion,
) -> Result<AuthMethod, AuthFailure> {
    let token_mismatch = match protocol {
        ProtocolVersion::V3 => MSG_TOKEN_MISMATCH_V3,
        ProtocolVersion::V4 => MSG_TOKEN_MISMATCH,
    };
    match config {
        AuthConfig::None => Ok(AuthMethod::None),
        AuthConfig::Token(expected) => match token {
            None => Err(AuthFailure {
                error: unauthorized("AUTH_TOKEN_MISSING", MSG_TOKEN_MISSING, "token_missing"),
                delayed: false,
            }),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Token),
            Some(_) => Err(AuthFailure {
                error: unauthorized("AUTH_TOKEN_MISMATCH", token_mismatch, "token_mismatch"),
                delayed: true,
            }),
        },
        AuthConfig::Password(expected) => match password {
            None => Err(AuthFailure {
                error: unauthorized(
                    "AUTH_PASSWORD_MISSING",
                    MSG_PASSWORD_MISSING,
                    "password_missing",
                ),
                delayed: false,
            }),
            Some(given) if secrets_equal(given, expected) => Ok(AuthMethod::Password),
            Some(_) => Err(AuthFailure {
                error: unauthorized(
                    "AUTH_PASSWORD_MISMATCH",
                    MSG_PASSWORD_MISMATCH,
                    "password_mismatch",
                ),
                delayed: true,
            }),
        },
    }
}

/// Failed attempts per client address in a sliding window. Bounded: at most
/// `MAX_TRACKED` addresses; when full, the entry whose window started first is
/// forgotten (an attacker rotating addresses gains nothing it would not get
/// from a fresh address anyway).
#[derive(Debug)]
pub struct AuthRateLimiter {
    max_failures: u32,
    window: Duration,
    by_ip: BTreeMap<IpAddr, FailureWindow>,
}

#[derive(Clone, Copy, Debug)]
struct FailureWindow {
    started: Instant,
    failures: u32,
}

impl AuthRateLimiter {
    pub const MAX_TRACKED: usize = 4096;

    pub fn new(max_failures: u32, window: Duration) -> Self {
        AuthRateLimiter {
            max_failures,
            window,
            by_ip: BTreeMap::new(),
        }
    }

    /// `Some(retry_after)` when `ip` has used up its failures in the current window.
    pub fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entry = self.by_ip.get(&ip)?;
        let elapsed = now.saturating_duration_since(entry.started);
        if elapsed >= self.window || entry.failures < self.max_failures {
            return None;
        }
        Some(self.window - elapsed)
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
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
        let window = self.window;
        let entry = self.by_ip.entry(ip).or_insert(FailureWindow {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.started) >= window {
            *entry = FailureWindow {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// A successful login clears the address's record.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.by_ip.remove(&ip);
    }

    fn forget_expired(&mut self, now: Instant) {
        let window = self.window;
        self.by_ip
            .retain(|_, w| now.saturating_duration_since(w.started) < window);
    }

    pub fn tracked(&self) -> usize {
        self.by_ip.len()
    }
}

/// The error for a rate-limited address.
pub fn rate_limited(retry_after: Duration) -> ErrorShape {
    let retry_ms = u64::try_from(retry_after.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut error =
        ErrorShape::new(ErrorCode::InvalidRequest, MSG_RATE_LIMITED).with_details(json!({
            "code": "AUTH_RATE_LIMITED",
            "authReason": "rate_limited",
            "retryAfterMs": retry_ms,
        }));
    error.retry_after_ms = Some(retry_ms);
    error.retryable = Some(true);
    error
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
            check_shared_secret(&config, Some("t"), None, ProtocolVersion::V4),
            Ok(AuthMethod::Token)
        );
        let wrong = check_shared_secret(&config, Some("x"), None, ProtocolVersion::V4).unwrap_err();
        assert!(wrong.delayed);
        assert_eq!(wrong.error.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
        let missing =
            check_shared_secret(&config, None, Some("t"), ProtocolVersion::V4).unwrap_err();
        assert_eq!(missing.error.detail_code(), Some("AUTH_TOKEN_MISSING"));
    }

    #[test]
    fn limiter_blocks_after_max_failures_then_forgets() {
        let t0 = Instant::now_for_tests();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.blocked_for(ip, t0).is_none());
            limiter.record_failure(ip, t0);
        }
        assert_eq!(
            limiter.blocked_for(ip, t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert!(limiter
            .blocked_for(ip, t0 + Duration::from_secs(60))
            .is_none());
    }

    #[test]
    fn limiter_is_bounded() {
        let t0 = Instant::now_for_tests();
        let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60));
        for i in 0..(AuthRateLimiter::MAX_TRACKED as u32 + 10) {
            limiter.record_failure(
                IpAddr::from(i.to_be_bytes()),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(limiter.tracked(), AuthRateLimiter::MAX_TRACKED);
    }

    trait NowForTests {
        fn now_for_tests() -> Instant;
    }
    impl NowForTests for Instant {
        #[allow(clippy::disallowed_methods)] // tests need one real base instant
        fn now_for_tests() -> Instant {
            Instant::now()
        }
    }
}
