//! A client that stops reading while an admin floods `system-event`: OUR
//! gateway's memory stays bounded (it drops droppable events for the stalled
//! connection instead of queueing them), and the stalled client, once it reads
//! again, sees a seq gap (or was closed 1008 "slow consumer").

// End-to-end tests run in real time: pacing and sampling need the clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::load::Conn;
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::Incoming;

const MIB: usize = 1024 * 1024;

/// A presence entry of about 200 bytes; 200 of them make a ~40 KB event.
fn system_event(id: usize, instance: usize) -> Value {
    json!({
        "type": "req", "id": format!("e{id}"), "method": "system-event",
        "params": {
            "text": format!("slow consumer flood {id:08} {}", "x".repeat(60)),
            "instanceId": format!("e2e-flood-{instance:03}"),
            "host": format!("flood-host-{instance:03}"),
            "mode": "backend",
        }
    })
}

/// Admin side: send `count` system-events in batches, reading everything it
/// is sent; returns `(presence events seen, bytes of the last one)`.
///
/// At most `batch` requests are in flight. The gateway handles a batch before
/// writing anything, so the admin's own presence events for one batch
/// (batch × ~40 KB) must stay below `maxBufferedBytes`, or the admin itself is
/// closed "slow consumer" when its responses queue behind them.
async fn flood(admin: &mut Conn, first_id: usize, count: usize, batch: usize) -> (usize, usize) {
    let mut events = 0;
    let mut last_size = 0;
    let mut id = first_id;
    let end = first_id + count;
    while id < end {
        let batch = batch.min(end - id);
        for i in id..id + batch {
            admin.send(&system_event(i, i % 200)).await.unwrap();
        }
        let mut answered = 0;
        while answered < batch {
            match admin.recv().await {
                Incoming::Json(v) if v["type"] == "res" => {
                    assert_eq!(v["ok"], true, "system-event failed: {v}");
                    answered += 1;
                }
                Incoming::Json(v) if v["event"] == "presence" => {
                    events += 1;
                    if events % 64 == 1 {
                        last_size = v.to_string().len();
                    }
                }
                Incoming::Json(_) | Incoming::Text(_) => {}
                other => panic!("admin connection lost: {other:?}"),
            }
        }
        id += batch;
    }
    (events, last_size)
}

/// With the default `maxBufferedBytes` (50 MiB): push 200 MiB at the stalled
/// client; the gateway must stay under 100 MB.
#[test]
fn stalled_client_default_limit() {
    stalled_client(None, 200 * MIB, 100 * MIB, 32);
}

/// With `OPENCLAW_MAX_BUFFERED_BYTES` = 2 MiB: push 160 MiB; the gateway may
/// grow by little more than the limit.
#[test]
fn stalled_client_small_limit() {
    stalled_client(Some(2 * MIB), 160 * MIB, 24 * MIB, 16);
}

/// Flood `push_bytes` of presence events past a client that reads nothing;
/// the gateway's RSS must grow by less than `max_growth`, then the client must
/// see a seq gap when it reads again (or have been closed "slow consumer").
fn stalled_client(max_buffered: Option<usize>, push_bytes: usize, max_growth: usize, batch: usize) {
    // Every presence change is its own broadcast here (no coalescing), so a
    // flood of `system-event`s turns into a flood of large events.
    let mut opts = GatewayOptions::default().env("OPENCLAW_PRESENCE_BROADCAST_WINDOW_MS", 0);
    if let Some(bytes) = max_buffered {
        opts = opts.env("OPENCLAW_MAX_BUFFERED_BYTES", bytes);
    }
    let gw = OurGateway::start(opts);
    let pid = gw.pid();
    smol::block_on(async {
        let target = gw.target();
        let mut admin = Conn::open(&target, &["operator.admin"]).await.unwrap();
        // Grow the presence list to its 200-entry maximum first.
        let (_, size) = flood(&mut admin, 0, 200, batch).await;
        let (_, size_full) = flood(&mut admin, 200, 64, batch).await;
        let event_size = size.max(size_full);
        assert!(
            event_size > 30_000,
            "presence event only {event_size} bytes"
        );
        let baseline_kib = gw.rss_kib();

        // The stalled client: connects, then reads nothing while the flood runs.
        let mut stalled = Conn::open(&target, &["operator.read"]).await.unwrap();
        let started = Instant::now();
        let count = push_bytes / event_size + 1;
        let mut peak_kib = baseline_kib;
        let mut pushed_events = 0;
        let mut next_id = 264;
        while pushed_events < count {
            let chunk = 1000.min(count - pushed_events);
            let (events, _) = flood(&mut admin, next_id, chunk, batch).await;
            assert_eq!(events, chunk, "the admin missed presence events");
            next_id += chunk;
            pushed_events += chunk;
            peak_kib = peak_kib.max(tests::process::rss_kib(pid).unwrap());
        }
        let flood_time = started.elapsed();
        let pushed_mib = pushed_events * event_size / (1024 * 1024);
        eprintln!(
            "pushed {pushed_events} presence events of ~{event_size} B ({pushed_mib} MiB) \
             in {flood_time:?}; gateway RSS {baseline_kib} KiB before, peak {peak_kib} KiB"
        );
        assert!(
            peak_kib < 100 * 1024,
            "gateway RSS reached {peak_kib} KiB while a client was stalled"
        );
        assert!(
            peak_kib.saturating_sub(baseline_kib) < (max_growth / 1024) as u64,
            "gateway RSS grew by {} KiB while {pushed_mib} MiB were pushed at a stalled client",
            peak_kib - baseline_kib
        );

        // Resume reading: drain what was queued, then a few fresh events.
        let mut seqs = Vec::new();
        let mut close = None;
        let mut fresh_sent = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut fresh_seen = 0;
        while fresh_seen < 3 && close.is_none() {
            assert!(Instant::now() < deadline, "stalled client never caught up");
            let next = smol::future::or(async { Some(stalled.recv().await) }, async {
                smol::Timer::after(Duration::from_millis(500)).await;
                None
            })
            .await;
            match next {
                Some(Incoming::Json(v)) => {
                    if let Some(seq) = v["seq"].as_u64() {
                        seqs.push(seq);
                    }
                    if fresh_sent && v["event"] == "presence" {
                        fresh_seen += 1;
                    }
                }
                Some(Incoming::Text(_)) => {}
                Some(Incoming::Close(c)) => close = Some(c),
                Some(Incoming::Ended(e)) => close = Some(Some((0, e))),
                None if !fresh_sent => {
                    // Drained: ask for three more broadcasts.
                    flood(&mut admin, next_id, 3, batch).await;
                    fresh_sent = true;
                }
                None => {}
            }
        }
        if let Some(close) = close {
            assert_eq!(
                close,
                Some((1008, "slow consumer".to_owned())),
                "the stalled client was closed, but not as a slow consumer"
            );
            return;
        }
        let gaps = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count();
        assert!(
            seqs.windows(2).all(|w| w[1] > w[0]),
            "seq must increase: {seqs:?}"
        );
        assert!(
            gaps > 0,
            "the stalled client saw {} events with no seq gap (last seq {:?})",
            seqs.len(),
            seqs.last()
        );
        let last = *seqs.last().unwrap();
        eprintln!(
            "stalled client received {} of {last} events ({gaps} gaps)",
            seqs.len()
        );
        assert!((seqs.len() as u64) < last, "events were dropped");
    });
}
