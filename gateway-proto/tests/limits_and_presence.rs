//! The bounded tables of the core with time: the auth failure limiter and
//! the presence list. (Integration tests, so that the base instant of their
//! virtual clock is read here and never inside the core's sources.)
#![allow(clippy::disallowed_methods)] // one real base instant per test

use std::net::IpAddr;
use std::time::{Duration, Instant};

use gateway_proto::gateway::{Presence, PresenceEntry};
use gateway_proto::server::AuthRateLimiter;

trait NowForTests {
    fn now_for_tests() -> Instant;
}

impl NowForTests for Instant {
    fn now_for_tests() -> Instant {
        Instant::now()
    }
}

#[test]
fn limiter_blocks_after_max_failures_then_forgets() {
    let t0 = Instant::now_for_tests();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
    for _ in 0..3 {
        assert!(limiter.blocked_for(ip, t0).is_none());
        limiter.record_failure(ip, t0);
    }
    assert_eq!(
        limiter.blocked_for(ip, t0 + Duration::from_secs(10)),
        Some(Duration::from_secs(290))
    );
    assert!(limiter
        .blocked_for(ip, t0 + Duration::from_secs(300))
        .is_none());
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    for _ in 0..10 {
        limiter.record_failure(local, t0);
    }
    assert!(
        limiter.blocked_for(local, t0).is_none(),
        "loopback is exempt"
    );
}

#[test]
fn limiter_is_bounded() {
    let t0 = Instant::now_for_tests();
    let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
    for i in 0..(AuthRateLimiter::MAX_TRACKED as u32 + 10) {
        limiter.record_failure(
            IpAddr::from(i.to_be_bytes()),
            t0 + Duration::from_millis(i as u64),
        );
    }
    assert_eq!(limiter.tracked(), AuthRateLimiter::MAX_TRACKED);
}

#[allow(clippy::disallowed_methods)] // one real base instant for the test
fn t0() -> Instant {
    Instant::now()
}

fn entry(ts: u64) -> PresenceEntry {
    PresenceEntry {
        ts,
        ..PresenceEntry::default()
    }
}

#[test]
fn newest_first_bounded_and_expiring() {
    let now = t0();
    let own = PresenceEntry {
        reason: Some("self".into()),
        ..entry(0)
    };
    let mut p = Presence::new(own, Duration::from_secs(300), 2);
    p.upsert("a".into(), entry(1), now);
    p.upsert("b".into(), entry(2), now + Duration::from_secs(1));
    p.upsert("c".into(), entry(3), now + Duration::from_secs(2));
    let ts: Vec<u64> = p.entries().map(|e| e.ts).collect();
    assert_eq!(ts, vec![3, 2, 0], "oldest dropped, own entry last");
    assert!(!p.expire(now + Duration::from_secs(300), |_| false));
    assert!(p.expire(now + Duration::from_secs(302), |key| key == "c"));
    assert_eq!(p.len(), 1, "a live entry stays");
    assert!(p.expire(now + Duration::from_secs(603), |_| false));
    assert_eq!(p.len(), 0);
    assert_eq!(p.entries().count(), 1, "own entry never expires");
}

#[test]
fn disconnect_marks_reason_and_moves_to_front() {
    let now = t0();
    let mut p = Presence::new(entry(0), Duration::from_secs(300), 10);
    p.upsert("a".into(), entry(1), now);
    p.upsert("b".into(), entry(2), now);
    assert!(p.mark_disconnected("a", 9, now));
    let first = p.entries().next().unwrap();
    assert_eq!(first.reason.as_deref(), Some("disconnect"));
    assert_eq!(first.ts, 9);
    assert!(!p.mark_disconnected("zzz", 9, now));
}
