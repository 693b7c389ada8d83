//! A flood with a slow reader: one client stops reading while an admin sends
//! `system-event` presence updates with 4 KB texts from 150 instance ids
//! (every presence broadcast then carries about 650 KB). OUR gateway's RSS
//! grows by at most 60 MB, comes back to within 10 MB of its baseline once
//! the stalled client is gone, the stalled client is closed 1008 "slow
//! consumer" (it dropped events and read nothing for a tick interval), and
//! the sender is not slowed by the stalled reader: its rate with the stalled
//! client connected is compared with its rate before.
//!
//! `OPENCLAW_FLOOD_EVENTS` sets the number of events (default 8,000, about
//! 10 s in a debug build); the figure is one command away:
//! `OPENCLAW_FLOOD_EVENTS=20000 cargo test --release -p tests --test e2e_flood -- --nocapture`.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::load::Conn;
use tests::process::{rss_kib, GatewayOptions, OurGateway};
use tests::ws::Incoming;

const INSTANCES: usize = 150;
const TEXT_BYTES: usize = 4096;
/// Requests in flight from the sender.
const BATCH: usize = 32;
const MB: u64 = 1000 * 1000;

fn event_count() -> usize {
    std::env::var("OPENCLAW_FLOOD_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8000)
}

fn system_event(id: usize) -> Value {
    let instance = id % INSTANCES;
    let text = format!("flood {id:08} {}", "x".repeat(TEXT_BYTES - 15));
    json!({
        "type": "req", "id": format!("f{id}"), "method": "system-event",
        "params": {
            "text": text,
            "instanceId": format!("flood-{instance:03}"),
            "host": format!("flood-host-{instance:03}"),
            "mode": "backend",
        }
    })
}

/// Send events `range` in batches of [`BATCH`], reading every answer and
/// event; sample the gateway's RSS after each batch. Returns (events per
/// second, highest RSS in KiB).
async fn flood(admin: &mut Conn, range: std::ops::Range<usize>, pid: u32) -> (f64, u64) {
    let started = Instant::now();
    let count = range.len();
    let mut peak = 0;
    let mut id = range.start;
    while id < range.end {
        let batch = BATCH.min(range.end - id);
        for i in id..id + batch {
            admin.send(&system_event(i)).await.unwrap();
        }
        let mut answered = 0;
        while answered < batch {
            match admin.recv().await {
                Incoming::Json(v) if v["type"] == "res" => {
                    assert_eq!(v["ok"], true, "system-event failed: {v}");
                    answered += 1;
                }
                Incoming::Json(_) | Incoming::Text(_) => {}
                other => panic!("the sender's connection was lost: {other:?}"),
            }
        }
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        id += batch;
    }
    (count as f64 / started.elapsed().as_secs_f64(), peak)
}

#[test]
fn a_stalled_reader_neither_grows_the_gateway_nor_slows_the_sender() {
    let events = event_count().max(4 * INSTANCES);
    // A one-second tick: the stalled client, dropping events and reading
    // nothing, is closed "slow consumer" within two of them.
    let gw = OurGateway::start(GatewayOptions::default().env("OPENCLAW_TICK_INTERVAL_MS", 1000));
    let pid = gw.pid();
    smol::block_on(async {
        let target = gw.target();
        let mut admin = Conn::open(&target, &["operator.admin"]).await.unwrap();

        // A text over the cap is stored cut, and still answered ok.
        let long = "y".repeat(20_000);
        let res = admin
            .call(
                "system-event",
                json!({"text": long, "instanceId": "flood-long", "mode": "backend"}),
            )
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let list = admin.call("system-presence", json!({})).await.unwrap();
        let stored = list["payload"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["instanceId"] == "flood-long")
            .and_then(|e| e["text"].as_str())
            .map_or(0, str::len);
        assert_eq!(stored, 8192, "presence text is capped at 8 KiB");

        // Every instance present once, then the rate without a stalled reader.
        let quarter = events / 4;
        let _ = flood(&mut admin, 0..INSTANCES, pid).await;
        let (free_rate, _) = flood(&mut admin, INSTANCES..INSTANCES + quarter, pid).await;
        smol::Timer::after(Duration::from_millis(500)).await;
        let baseline = gw.rss_kib();

        // The stalled client: connected, authenticated, reading nothing.
        let stalled = Conn::open(&target, &["operator.read"]).await.unwrap();
        let start = INSTANCES + quarter;
        let (stalled_rate, peak) = flood(&mut admin, start..start + events - quarter, pid).await;
        let grown = peak.saturating_sub(baseline) * 1024;
        eprintln!(
            "{events} events: {free_rate:.0}/s without, {stalled_rate:.0}/s with a stalled \
             reader; RSS {} MB before, peak {} MB (+{} MB)",
            baseline * 1024 / MB,
            peak * 1024 / MB,
            grown / MB
        );
        assert!(
            grown <= 60 * MB,
            "the gateway grew by {} MB with a stalled reader",
            grown / MB
        );
        assert!(
            stalled_rate >= free_rate * 0.5,
            "the sender slowed from {free_rate:.0}/s to {stalled_rate:.0}/s with a stalled reader"
        );

        // What the stalled client finds when it reads again: what the
        // socket still held, then the close "slow consumer" (its backlog in
        // the gateway was dropped with it). It reads raw frames and takes the
        // seq from each frame's tail (our encoder ends a broadcast with
        // `,"seq":N}`): parsing every ~650 KB presence list in a debug build
        // would be slower than the gateway's whole backlog.
        let mut stalled = stalled;
        let (mut last_seq, mut gap, mut slow_close) = (0u64, false, false);
        let mut nudged = false;
        let reading = Instant::now();
        while reading.elapsed() < Duration::from_secs(30) {
            let next = smol::future::or(async { Some(stalled.next_text().await) }, async {
                smol::Timer::after(Duration::from_secs(2)).await;
                None
            })
            .await;
            match next {
                Some(Ok(text)) => {
                    if let Some(seq) = tail_seq(&text) {
                        gap |= last_seq != 0 && seq != last_seq + 1;
                        last_seq = seq;
                    }
                }
                Some(Err(end)) => {
                    slow_close = end.contains("slow consumer");
                    break;
                }
                None if !nudged => {
                    nudged = true;
                    let res = admin
                        .call(
                            "system-event",
                            json!({"text": "after the flood", "instanceId": "flood-000", "mode": "backend"}),
                        )
                        .await
                        .unwrap();
                    assert_eq!(res["ok"], true, "{res}");
                }
                None => break,
            }
        }
        eprintln!("the stalled client saw a seq gap: {gap}, a slow-consumer close: {slow_close}");
        assert!(
            slow_close,
            "the stalled client was not closed 1008 slow consumer (last seq {last_seq}, gap {gap})"
        );

        // Closing the stalled client gives the memory back.
        drop(stalled);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut after = gw.rss_kib();
        while after.saturating_sub(baseline) * 1024 > 10 * MB && Instant::now() < deadline {
            smol::Timer::after(Duration::from_millis(200)).await;
            after = gw.rss_kib();
        }
        eprintln!("RSS {} MB after the stalled client left", after * 1024 / MB);
        assert!(
            after.saturating_sub(baseline) * 1024 <= 10 * MB,
            "RSS {} MB after the stalled client left, baseline {} MB",
            after * 1024 / MB,
            baseline * 1024 / MB
        );
    });
}

/// The `seq` at the end of a broadcast frame (`…,"seq":N}`), if any.
fn tail_seq(text: &str) -> Option<u64> {
    let at = text.rfind("\"seq\":")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
