//! 1,000 clients connected at once to OUR gateway: every presence broadcast
//! reaches every client, seq increases by exactly 1 on every connection, and
//! SIGTERM sends each of them `shutdown` then close 1012 and exits 0 in < 2 s.

// End-to-end tests run in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::load::{connect_many, Conn};
use tests::process::{open_files_limit, GatewayOptions, OurGateway};
use tests::ws::Incoming;

const CLIENTS: usize = 1000;
const ROUNDS: usize = 5;
const ADMIN: &str = "e2e-fanout-admin";

/// How many clients fit: both this process and the gateway need one
/// descriptor per client, plus some for everything else.
fn client_count() -> usize {
    let Some(limit) = open_files_limit() else {
        return CLIENTS;
    };
    let fits = limit.saturating_sub(100);
    if fits < CLIENTS {
        eprintln!(
            "ulimit -n is {limit}: scaling down to {fits} clients \
             (raise it with `ulimit -n \"$(ulimit -Hn)\"`, as .ci/run does)"
        );
        return fits.max(10);
    }
    CLIENTS
}

/// The round number in a presence event: the admin entry's text.
fn admin_round(event: &Value) -> Option<usize> {
    event["payload"]["presence"]
        .as_array()?
        .iter()
        .find(|e| e["instanceId"] == ADMIN)?["text"]
        .as_str()?
        .strip_prefix("fanout round ")?
        .parse()
        .ok()
}

/// What one client saw, in order.
#[derive(Debug, Default)]
struct Seen {
    seqs: Vec<u64>,
    rounds: Vec<usize>,
    shutdown_before_close: bool,
    close: Option<Option<(u16, String)>>,
}

async fn watch(mut conn: Conn, progress: smol::channel::Sender<usize>) -> Seen {
    let mut seen = Seen::default();
    loop {
        match conn.recv().await {
            Incoming::Json(v) => {
                if let Some(seq) = v["seq"].as_u64() {
                    seen.seqs.push(seq);
                }
                if v["event"] == "presence" {
                    if let Some(round) = admin_round(&v) {
                        seen.rounds.push(round);
                        let _ = progress.send(round).await;
                    }
                }
                if v["event"] == "shutdown" {
                    seen.shutdown_before_close = true;
                }
            }
            Incoming::Text(_) => {}
            Incoming::Close(close) => {
                seen.close = Some(close);
                return seen;
            }
            Incoming::Ended(why) => {
                seen.close = Some(Some((0, why)));
                return seen;
            }
        }
    }
}

#[test]
fn broadcasts_reach_every_client_in_order_then_shutdown() {
    let n = client_count();
    // One broadcast per round, however close together the rounds are sent
    // (coalescing is tested in e2e_presence_mix).
    let mut gw = OurGateway::start(
        GatewayOptions::default().env("OPENCLAW_PRESENCE_BROADCAST_WINDOW_MS", 0),
    );
    let target = gw.target();
    let (tx, rx) = smol::channel::unbounded();

    let tasks = smol::block_on(async {
        let started = Instant::now();
        let conns = connect_many(&target, n, 32).await.unwrap();
        eprintln!("{n} clients connected in {:?}", started.elapsed());
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|conn| smol::spawn(watch(conn, tx.clone())))
            .collect();
        drop(tx);
        let mut admin = Conn::open(&target, &["operator.admin"]).await.unwrap();
        let started = Instant::now();
        for round in 0..ROUNDS {
            let res = admin
                .call(
                    "system-event",
                    json!({"text": format!("fanout round {round}"), "instanceId": ADMIN,
                           "mode": "backend"}),
                )
                .await
                .unwrap();
            assert_eq!(res["ok"], true, "{res}");
        }
        let deadline = started + Duration::from_secs(60);
        let mut deliveries = 0;
        while deliveries < n * ROUNDS {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = smol::future::or(async { rx.recv().await.ok() }, async {
                smol::Timer::after(left).await;
                None
            })
            .await;
            match got {
                Some(_) => deliveries += 1,
                None => panic!(
                    "only {deliveries} of {} presence deliveries within 60 s",
                    n * ROUNDS
                ),
            }
        }
        eprintln!(
            "{ROUNDS} broadcasts to {n} clients delivered in {:?}",
            started.elapsed()
        );
        // The admin stays connected (it gets the shutdown too, unchecked).
        (tasks, admin)
    });

    let (tasks, _admin) = tasks;
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(2));
    let exit_time = signalled.elapsed();
    let status = status.unwrap_or_else(|| panic!("gateway still running 2 s after SIGTERM"));
    assert!(status.success(), "gateway exited with {status}");
    eprintln!("gateway exited {status} {exit_time:?} after SIGTERM");

    let seen: Vec<Seen> = smol::block_on(async {
        let mut seen = Vec::with_capacity(tasks.len());
        for task in tasks {
            let result = smol::future::or(async { Some(task.await) }, async {
                smol::Timer::after(Duration::from_secs(10)).await;
                None
            })
            .await;
            seen.push(result.expect("a client never saw its connection close"));
        }
        seen
    });
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(
            s.rounds,
            (0..ROUNDS).collect::<Vec<_>>(),
            "client {i} saw rounds {:?}",
            s.rounds
        );
        let expected: Vec<u64> = (1..=s.seqs.len() as u64).collect();
        assert_eq!(
            s.seqs, expected,
            "client {i}: seq must be 1, 2, 3, … with no gap"
        );
        assert!(
            s.shutdown_before_close,
            "client {i} got no shutdown event: {s:?}"
        );
        assert_eq!(
            s.close,
            Some(Some((1012, "service restart".to_owned()))),
            "client {i} close"
        );
    }
}
