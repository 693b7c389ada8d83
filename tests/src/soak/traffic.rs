//! The soak's clients: reconnect churn, presence updates, broadcast
//! listeners and slow readers. Each runs until a shared deadline and counts
//! what it did in [`Counters`]; none waits on another.
#![allow(clippy::disallowed_methods)] // real time: pacing and deadlines

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{ClientKind, Conn, LoadTarget};
use crate::ws::Incoming;

/// What the clients did, shared by all of them.
#[derive(Default, Debug)]
pub struct Counters {
    /// Connections opened (handshake answered hello-ok).
    pub connects: AtomicU64,
    /// Requests sent by the churn clients and the presence sender.
    pub requests: AtomicU64,
    /// Of those, answered `ok: true`.
    pub answered: AtomicU64,
    /// Broadcast events (`presence`) seen by the listeners.
    pub broadcasts_seen: AtomicU64,
    /// Slow readers that stalled until the gateway closed them.
    pub slow_closed: AtomicU64,
    /// Of those, closes that arrived as a 1008 "slow consumer" frame (the
    /// others ended by a reset: the close frame could not get past the
    /// bytes still unread in the socket).
    pub slow_closed_1008: AtomicU64,
    /// Connects the gateway refused with HTTP 503 at the upgrade (its
    /// admission bounds, e.g. too many handshakes at once from one
    /// address): a real client backs off and retries, and so does the soak.
    pub refused_503: AtomicU64,
    /// Connections currently open (churn + listeners + slow readers).
    pub open: AtomicU64,
    /// The first few failures, for the report.
    pub failures: Mutex<Vec<String>>,
    /// Every failure.
    pub failure_count: AtomicU64,
}

impl Counters {
    fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() < 20 {
            failures.push(what);
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A small seeded generator (splitmix64) for jitter: the same seed gives the
/// same schedule of pauses, calls and reconnects.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.between(low, high))
    }
}

/// Whether a failed connect was the gateway's 503 at the upgrade (an
/// admission bound), not a broken gateway.
fn is_admission_refusal(error: &str) -> bool {
    error.starts_with("upgrade:") && error.contains("503")
}

/// Sleep, but not past `deadline`.
async fn pause(duration: Duration, deadline: Instant) {
    let until = (Instant::now() + duration).min(deadline);
    smol::Timer::at(until).await;
}

/// Reconnect churn, client `index` of the real mix: connect, make 1–5
/// `health` calls a little apart, sometimes a `system-presence`, close,
/// wait, and again until `deadline`.
pub async fn churn_client(
    target: LoadTarget,
    index: usize,
    mut jitter: Jitter,
    deadline: Instant,
    counters: Arc<Counters>,
) {
    let kind = ClientKind::mix(index);
    // Webchat pages and node hosts without a paired device have their
    // scopes cleared at connect (as the reference does): they call only
    // `health`, which needs none.
    let keeps_scopes = matches!(kind.mode.as_str(), "cli" | "backend");
    // Spread the first connects over the first seconds.
    pause(jitter.millis(0, 2000), deadline).await;
    while Instant::now() < deadline {
        let mut conn = match Conn::open_as(&target, &kind, &["operator.read"]).await {
            Ok(conn) => conn,
            Err(e) if is_admission_refusal(&e) => {
                Counters::add(&counters.refused_503, 1);
                pause(jitter.millis(200, 1000), deadline).await;
                continue;
            }
            Err(e) => {
                counters.fail(format!("churn {index}: connect: {e}"));
                pause(Duration::from_millis(500), deadline).await;
                continue;
            }
        };
        Counters::add(&counters.connects, 1);
        Counters::add(&counters.open, 1);
        let calls = jitter.between(1, 5);
        for _ in 0..calls {
            let method = if keeps_scopes && jitter.between(0, 9) == 0 {
                "system-presence"
            } else {
                "health"
            };
            Counters::add(&counters.requests, 1);
            match conn.call(method, json!({})).await {
                Ok(res) if res["ok"] == true => Counters::add(&counters.answered, 1),
                Ok(res) => counters.fail(format!("churn {index}: {method} failed: {res}")),
                Err(e) => counters.fail(format!("churn {index}: {method}: {e}")),
            }
            pause(jitter.millis(50, 1000), deadline).await;
        }
        conn.close().await;
        counters.open.fetch_sub(1, Ordering::Relaxed);
        pause(jitter.millis(100, 2000), deadline).await;
    }
}

/// Presence traffic: an admin sends a `system-event` every `every`, from a
/// rotating set of 50 instance ids, and each changes the presence list that
/// is broadcast to every operator.
pub async fn presence_sender(
    target: LoadTarget,
    every: Duration,
    deadline: Instant,
    counters: Arc<Counters>,
) {
    let mut conn = match Conn::open(&target, &["operator.admin"]).await {
        Ok(conn) => conn,
        Err(e) => return counters.fail(format!("presence sender: connect: {e}")),
    };
    Counters::add(&counters.connects, 1);
    let mut n = 0u64;
    while Instant::now() < deadline {
        let params = json!({
            "text": format!("soak presence update {n}"),
            "instanceId": format!("soak-{:02}", n % 50),
            "host": format!("soak-host-{:02}", n % 50),
            "mode": "backend",
        });
        Counters::add(&counters.requests, 1);
        match conn.call("system-event", params).await {
            Ok(res) if res["ok"] == true => Counters::add(&counters.answered, 1),
            Ok(res) => counters.fail(format!("system-event failed: {res}")),
            Err(e) => {
                counters.fail(format!("system-event: {e}"));
                return;
            }
        }
        n += 1;
        pause(every, deadline).await;
    }
    conn.close().await;
}

/// A long-lived SDK backend that reads every broadcast until `deadline`.
pub async fn listener(
    target: LoadTarget,
    index: usize,
    deadline: Instant,
    counters: Arc<Counters>,
) {
    let kind = ClientKind {
        id: "gateway-client".into(),
        mode: "backend".into(),
        instance_id: Some(format!("soak-listener-{index}")),
    };
    let mut conn = match Conn::open_as(&target, &kind, &["operator.read"]).await {
        Ok(conn) => conn,
        Err(e) => return counters.fail(format!("listener {index}: connect: {e}")),
    };
    Counters::add(&counters.connects, 1);
    Counters::add(&counters.open, 1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let next = smol::future::or(async { Some(conn.recv().await) }, async {
            smol::Timer::after(left).await;
            None
        })
        .await;
        match next {
            None => break,
            Some(Incoming::Json(v)) if v["event"] == "presence" => {
                Counters::add(&counters.broadcasts_seen, 1)
            }
            Some(Incoming::Json(_) | Incoming::Text(_)) => {}
            Some(other) => {
                counters.fail(format!("listener {index} lost its connection: {other:?}"));
                break;
            }
        }
    }
    conn.close().await;
    counters.open.fetch_sub(1, Ordering::Relaxed);
}

/// Requests a slow reader sends before it gives up waiting to be closed.
const SLOW_READER_MAX_REQUESTS: u64 = 200_000;

/// A slow reader: connects, then sends `system-presence` requests and reads
/// nothing, so their responses (never dropped) pile up until the gateway
/// closes it "slow consumer"; then it reads to the end, expecting that close,
/// waits and does it again.
pub async fn slow_reader(
    target: LoadTarget,
    index: usize,
    mut jitter: Jitter,
    deadline: Instant,
    counters: Arc<Counters>,
) {
    pause(jitter.millis(0, 3000), deadline).await;
    while Instant::now() < deadline {
        let mut conn = match Conn::open(&target, &["operator.read"]).await {
            Ok(conn) => conn,
            Err(e) => {
                counters.fail(format!("slow reader {index}: connect: {e}"));
                pause(Duration::from_millis(500), deadline).await;
                continue;
            }
        };
        Counters::add(&counters.connects, 1);
        Counters::add(&counters.open, 1);
        let request = json!({"type": "req", "id": "s", "method": "system-presence", "params": {}});
        let mut sent = 0;
        // Sending fails once the gateway has closed the socket (and reset
        // it: the responses it had written were never read).
        while sent < SLOW_READER_MAX_REQUESTS && Instant::now() < deadline {
            if conn.send(&request).await.is_err() {
                break;
            }
            sent += 1;
            if sent % 64 == 0 {
                // Some pacing: the slow reader must not be the load itself.
                smol::Timer::after(Duration::from_millis(2)).await;
            }
        }
        if Instant::now() >= deadline {
            conn.close().await;
            counters.open.fetch_sub(1, Ordering::Relaxed);
            break;
        }
        // Read what is left: the responses written before the close, then
        // the close frame, or a reset.
        let ended = smol::future::or(
            async {
                loop {
                    match conn.recv().await {
                        Incoming::Json(_) | Incoming::Text(_) => {}
                        other => return Some(other),
                    }
                }
            },
            async {
                smol::Timer::after(Duration::from_secs(30)).await;
                None
            },
        )
        .await;
        counters.open.fetch_sub(1, Ordering::Relaxed);
        match ended {
            Some(Incoming::Close(Some((1008, reason)))) if reason == "slow consumer" => {
                Counters::add(&counters.slow_closed, 1);
                Counters::add(&counters.slow_closed_1008, 1);
            }
            Some(Incoming::Ended(_)) => Counters::add(&counters.slow_closed, 1),
            other => counters.fail(format!(
                "slow reader {index}: after {sent} unread requests the gateway did not \
                 close it slow consumer: {other:?}"
            )),
        }
        pause(jitter.millis(500, 3000), deadline).await;
    }
}
