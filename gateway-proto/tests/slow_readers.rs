//! Slow and stalled readers in virtual time. A client past half its buffer
//! limit skips droppable broadcasts (a seq gap), as the reference's clients
//! do; one that also has nothing written across a whole tick interval has
//! stopped reading and is closed 1008 "slow consumer" at the next tick. A
//! client that reads, however slowly, is never closed for it.

mod common;

use std::time::Duration;

use common::nodes::*;
use gateway_proto::gateway::{AuthConfig, Config, Limits};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::json;

const STALLED: ConnId = ConnId(2);
const SLOW: ConnId = ConnId(3);
const READER: ConnId = ConnId(4);
const TICK_MS: u64 = 1_000;

fn harness() -> Harness {
    let limits = Limits::default()
        .with_max_buffered_bytes(64 * 1024)
        .with_tick_interval(Duration::from_millis(TICK_MS))
        .with_presence_broadcast_window(Duration::ZERO);
    let config = Config::default()
        .with_auth(AuthConfig::Token("testtok".into()))
        .with_limits(limits);
    Harness::new(config, Timestamp::ZERO, START_MS)
}

/// Presence updates with 4 KB texts until `conn` has skipped more than
/// `already` events.
fn flood_until_dropped(h: &mut Harness, conn: ConnId, already: u64, next_id: &mut usize) {
    let text = "x".repeat(4096);
    while h.gateway.dropped_events(conn).unwrap_or(0) <= already {
        assert!(*next_id < 2_000, "{conn} never dropped an event");
        let id = *next_id;
        send(
            h,
            ADMIN,
            &format!("e{id}"),
            "system-event",
            json!({"text": text, "instanceId": format!("i{}", id % 20), "mode": "backend"}),
        );
        *next_id += 1;
    }
}

#[test]
fn a_stalled_reader_is_closed_at_the_second_tick_and_a_slow_one_is_not() {
    let mut h = harness();
    operator(&mut h, ADMIN, ALL_SCOPES);
    for conn in [STALLED, SLOW, READER] {
        operator(&mut h, conn, &["operator.read"]);
    }
    h.stall(STALLED);
    h.stall(SLOW);
    let mut id = 0;
    flood_until_dropped(&mut h, STALLED, 0, &mut id);
    assert!(h.gateway.dropped_events(SLOW).unwrap_or(0) > 0);

    // The first tick only notes that nothing was written since the drops.
    h.advance_ms(TICK_MS);
    assert_eq!(h.close_of(STALLED), None, "closed at the first tick");
    // The slow client reads its backlog, then falls behind again.
    h.unstall(SLOW);
    h.stall(SLOW);
    let before = h.gateway.dropped_events(SLOW).unwrap_or(0);
    flood_until_dropped(&mut h, SLOW, before, &mut id);

    h.advance_ms(TICK_MS);
    let (_, code, reason) = h.close_of(STALLED).expect("the stalled reader is closed");
    assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
    // It dropped events and read something since the last tick: not stalled yet.
    assert_eq!(h.close_of(SLOW), None, "a reading client was closed");
    assert_eq!(h.close_of(READER), None);
    assert_eq!(h.close_of(ADMIN), None);

    // Reading again clears the slow client; more ticks change nothing.
    h.unstall(SLOW);
    h.advance_ms(3 * TICK_MS);
    assert_eq!(h.close_of(SLOW), None);
    assert_eq!(h.close_of(READER), None);
}

#[test]
fn a_stalled_reader_that_drops_nothing_is_left_to_the_keepalive() {
    // Under half the limit nothing is dropped: ticks alone close no one.
    let mut h = harness();
    operator(&mut h, ADMIN, ALL_SCOPES);
    operator(&mut h, STALLED, &["operator.read"]);
    h.stall(STALLED);
    send(
        &mut h,
        ADMIN,
        "e0",
        "system-event",
        json!({"text": "hello", "instanceId": "i0", "mode": "backend"}),
    );
    h.advance_ms(5 * TICK_MS);
    assert_eq!(h.gateway.dropped_events(STALLED), Some(0));
    assert_eq!(h.close_of(STALLED), None);
}
