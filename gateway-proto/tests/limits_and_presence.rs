//! The bounded tables of the core with time: the auth failure limiter and
//! the presence list. (Integration tests, so that the base instant of their
//! virtual clock is read here and never inside the core's sources.)
#![allow(clippy::disallowed_methods)] // one real base instant per test

use std::net::IpAddr;
use std::time::Duration;

use gateway_proto::time::Timestamp;

use gateway_proto::gateway::{Presence, PresenceEntry};
use gateway_proto::server::{AuthRateLimiter, RateLimitKey};

trait NowForTests {
    fn now_for_tests() -> Timestamp;
}

impl NowForTests for Timestamp {
    fn now_for_tests() -> Timestamp {
        Timestamp::ZERO
    }
}

fn key(ip: &str) -> RateLimitKey {
    RateLimitKey::for_client(ip.parse().unwrap(), None)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn limiter_blocks_after_max_failures_then_forgets() {
    let t0 = Timestamp::now_for_tests();
    let ip = key("10.0.0.1");
    let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
    for _ in 0..3 {
        assert!(limiter.blocked_for(&ip, t0).is_none());
        limiter.record_failure(&ip, t0);
    }
    assert_eq!(
        limiter.blocked_for(&ip, t0 + Duration::from_secs(10)),
        Some(Duration::from_secs(290))
    );
    assert!(limiter
        .blocked_for(&ip, t0 + Duration::from_secs(300))
        .is_none());
    let local = key("127.0.0.1");
    for _ in 0..10 {
        limiter.record_failure(&local, t0);
    }
    assert!(
        limiter.blocked_for(&local, t0).is_none(),
        "loopback is exempt"
    );
}

#[test]
fn each_failure_doubles_the_delay_up_to_five_seconds() {
    let t0 = Timestamp::now_for_tests();
    let local = key("127.0.0.1");
    let mut limiter = AuthRateLimiter::default();
    // Sequential failures, each answered before the next is sent.
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..8 {
        let due = limiter.record_failure(&local, now);
        delays.push(due - now);
        now = due;
    }
    assert_eq!(
        delays,
        [250, 500, 1000, 2000, 4000, 5000, 5000, 5000].map(ms),
        "250 ms doubling, capped at 5 s"
    );
    // A success clears the record: the next failure waits 250 ms again.
    limiter.record_success(&local);
    assert_eq!(limiter.record_failure(&local, now) - now, ms(250));
}

#[test]
fn a_right_guess_does_not_release_the_wrong_ones_early() {
    let t0 = Timestamp::ZERO;
    let client = key("127.0.0.1");
    let mut limiter = AuthRateLimiter::default();
    for _ in 0..6 {
        limiter.record_failure(&client, t0);
    }
    let release = limiter.release_at(&client).unwrap();
    assert_eq!(release - t0, ms(5000));
    limiter.record_success(&client);
    assert_eq!(limiter.release_at(&client), Some(release), "still held");
    // The count starts over, but a new refusal joins the pending release.
    assert_eq!(limiter.record_failure(&client, t0 + ms(10)), release);
}

#[test]
fn parallel_failures_from_one_client_are_answered_together() {
    let t0 = Timestamp::now_for_tests();
    let client = key("127.0.0.1");
    let other = key("127.0.0.2");
    let mut limiter = AuthRateLimiter::default();
    // Thirty wrong guesses at once from one address: all wait for the last.
    let dues: Vec<Timestamp> = (0..30)
        .map(|_| limiter.record_failure(&client, t0))
        .collect();
    let last = *dues.last().unwrap();
    assert_eq!(last - t0, ms(5000));
    assert_eq!(limiter.release_at(&client), Some(last));
    // The first one's own delay was 250 ms, but it is held until the release.
    assert_eq!(dues[0] - t0, ms(250));
    // Another address is not held by it.
    assert_eq!(limiter.record_failure(&other, t0) - t0, ms(250));
    // 200 guesses over 30 parallel connections take at least 6 rounds of 5 s.
    let mut now = last;
    let mut guesses = 30;
    while guesses < 200 {
        let mut release = now;
        for _ in 0..30 {
            release = limiter.record_failure(&client, now);
        }
        now = release;
        guesses += 30;
    }
    assert!(now - t0 >= Duration::from_secs(30), "{:?}", now - t0);
}

#[test]
fn browser_origins_on_loopback_are_limited_by_origin_and_never_exempt() {
    let t0 = Timestamp::now_for_tests();
    let loopback = "127.0.0.1".parse().unwrap();
    let page = RateLimitKey::for_client(loopback, Some("https://Evil.example"));
    assert_eq!(
        page,
        RateLimitKey::BrowserOrigin("https://evil.example".into())
    );
    let mut limiter = AuthRateLimiter::default();
    for _ in 0..10 {
        limiter.record_failure(&page, t0);
    }
    assert!(
        limiter.blocked_for(&page, t0).is_some(),
        "a web page is locked out"
    );
    // The same loopback address without an Origin (the local CLI) is not.
    let cli = RateLimitKey::for_client(loopback, None);
    assert!(limiter.blocked_for(&cli, t0).is_none());
    // A remote browser is counted by address, apart from its non-browser attempts.
    let remote = "10.0.0.7".parse().unwrap();
    assert_eq!(
        RateLimitKey::for_client(remote, Some("https://x")),
        RateLimitKey::BrowserIp(remote)
    );
}

#[test]
fn ipv4_mapped_addresses_are_the_same_client() {
    let mapped = RateLimitKey::for_client("::ffff:127.0.0.1".parse().unwrap(), None);
    assert_eq!(mapped, key("127.0.0.1"));
    let t0 = Timestamp::now_for_tests();
    let mut limiter = AuthRateLimiter::default();
    for _ in 0..20 {
        limiter.record_failure(&mapped, t0);
    }
    assert!(
        limiter.blocked_for(&mapped, t0).is_none(),
        "mapped loopback is exempt"
    );
}

#[test]
fn limiter_is_bounded() {
    let t0 = Timestamp::now_for_tests();
    let mut limiter = AuthRateLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300));
    for i in 0..(AuthRateLimiter::MAX_TRACKED as u32 + 10) {
        limiter.record_failure(
            &RateLimitKey::for_client(IpAddr::from(i.to_be_bytes()), None),
            t0 + Duration::from_millis(i as u64),
        );
    }
    assert_eq!(limiter.tracked(), AuthRateLimiter::MAX_TRACKED);
}

#[allow(clippy::disallowed_methods)] // one real base instant for the test
fn t0() -> Timestamp {
    Timestamp::ZERO
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
