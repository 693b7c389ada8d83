//! Core benchmark: request/response round trips through one authenticated
//! connection of a `Gateway` (decode + dispatch + encode + output drain), and
//! heap allocations per round trip, counted by a wrapping global allocator.
//!
//! Run with `cargo bench -p gateway-proto --bench core`. Prints one line per
//! measurement; `BENCH_ITERS` sets the round trips (default 2,000,000).
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gateway_proto::time::Timestamp;

use gateway_proto::gateway::{AuthConfig, Config, Gateway, Input, Output, Peer};
use gateway_proto::ConnId;

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const CONN: ConnId = ConnId(1);

fn connected_gateway(now: Timestamp) -> Gateway {
    let config = Config::default().with_auth(AuthConfig::Token("bench-token".into()));
    let mut gateway = Gateway::new(config, [1; 32], now, 1_700_000_000_000);
    let peer = Peer::new("127.0.0.1".parse().expect("literal address"), true);
    gateway.handle_input(Input::Opened { conn: CONN, peer }, now);
    let connect = r#"{"type":"req","id":"c1","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"1.0.0","platform":"linux","mode":"cli"},"role":"operator","scopes":["operator.admin"],"auth":{"token":"bench-token"}}}"#;
    gateway.handle_input(
        Input::Text {
            conn: CONN,
            text: connect,
        },
        now,
    );
    let mut hello_ok = false;
    while let Some(output) = gateway.poll_output() {
        if let Output::Frame { frame, .. } = output {
            hello_ok |= frame.to_text().contains("hello-ok");
            gateway.handle_input(
                Input::Sent {
                    conn: CONN,
                    bytes: frame.len(),
                },
                now,
            );
        }
    }
    assert!(hello_ok, "bench connection authenticated");
    gateway
}

/// One round trip: request in, response out, bytes acknowledged.
fn round_trip(gateway: &mut Gateway, request: &str, now: Timestamp) -> usize {
    gateway.handle_input(
        Input::Text {
            conn: CONN,
            text: request,
        },
        now,
    );
    let mut sent = 0;
    while let Some(output) = gateway.poll_output() {
        if let Output::Frame { frame, .. } = output {
            sent += frame.len();
        }
    }
    gateway.handle_input(
        Input::Sent {
            conn: CONN,
            bytes: sent,
        },
        now,
    );
    sent
}

fn measure(name: &str, request: &str, iters: u64) {
    let now = Timestamp::ZERO;
    let mut gateway = connected_gateway(now);
    // Warm up: let queues reach their steady capacity.
    for _ in 0..1000 {
        round_trip(&mut gateway, request, now);
    }
    let allocs_before = ALLOCATIONS.load(Ordering::Relaxed);
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    for _ in 0..iters {
        bytes += round_trip(&mut gateway, std::hint::black_box(request), now);
    }
    let elapsed = started.elapsed();
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - allocs_before;
    report(name, iters, elapsed, allocs, bytes);
}

fn report(name: &str, iters: u64, elapsed: Duration, allocs: u64, bytes: usize) {
    let per_sec = iters as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {iters} round trips in {:.3} s = {:.0} round trips/s on one core, {:.2} allocations/round trip, {} response bytes each",
        elapsed.as_secs_f64(),
        per_sec,
        allocs as f64 / iters as f64,
        bytes / iters as usize,
    );
}

fn main() {
    let iters = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    measure(
        "small request (unknown method -> error response)",
        r#"{"type":"req","id":"r1","method":"no.such","params":{}}"#,
        iters,
    );
    measure(
        "health request -> cached health snapshot",
        r#"{"type":"req","id":"r2","method":"health"}"#,
        iters,
    );
    measure(
        "system-presence request",
        r#"{"type":"req","id":"r3","method":"system-presence","params":{}}"#,
        iters,
    );
}
