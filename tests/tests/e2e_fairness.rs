//! One client sending 12 MB messages must not stall the others: OUR gateway
//! keeps answering another client's `health` round trips promptly meanwhile
//! (the hub handles one large message per connection at a time, and only the
//! params a method reads are parsed into values).

// End-to-end tests run in real time: latency is the point.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tests::load::Conn;
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::{Incoming, RawWs};

/// Big messages sent back to back.
const ROUNDS: usize = 10;

/// About 12 MB of JSON: a request whose params hold many small objects (the
/// costly kind to parse), or one long string.
fn big_request(kind: usize) -> String {
    let pad = if kind % 2 == 0 {
        let item = r#"{"k":"vvvvvvvv","n":12345,"a":[1,2,3]},"#;
        let mut items = item.repeat(12_000_000 / item.len());
        items.pop();
        format!("[{items}]")
    } else {
        format!("\"{}\"", "x".repeat(12_000_000))
    };
    format!(
        r#"{{"type":"req","id":"big","method":"system-event","params":{{"text":"t","pad":{pad}}}}}"#
    )
}

/// An authenticated raw socket (no JSON round trip of the big frames).
async fn open_sender(gw: &OurGateway) -> RawWs {
    let mut ws = RawWs::open(&gw.url()).await.expect("open");
    let connect = json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.admin"], "caps": [],
            "auth": {"token": gw.token},
        }
    });
    ws.send_json(&connect).await.expect("send connect");
    loop {
        match ws.recv_timeout(Duration::from_secs(10)).await {
            Some(Incoming::Json(v)) if v["type"] == "res" => {
                assert_eq!(v["ok"], true, "{v}");
                return ws;
            }
            Some(Incoming::Json(_)) => {}
            other => panic!("no hello-ok: {other:?}"),
        }
    }
}

#[test]
fn a_client_sending_12_mb_frames_does_not_stall_the_others() {
    let gw = OurGateway::start(GatewayOptions::default());
    let target = gw.target();
    let done = Arc::new(AtomicBool::new(false));
    let mut probe = smol::block_on(Conn::open(&target, &["operator.read"])).unwrap();
    let mut big = smol::block_on(open_sender(&gw));
    // Its own thread: building and masking 12 MB frames takes the client a
    // while too, which must not delay the prober's round trips.
    let sender = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            let frames: Vec<String> = (0..2).map(big_request).collect();
            smol::block_on(async {
                let started = Instant::now();
                for i in 0..ROUNDS {
                    big.send_text(frames[i % 2].clone()).await.unwrap();
                }
                // Every big message was handled once its answer is back.
                let mut answered = 0;
                while answered < ROUNDS {
                    match big.recv_timeout(Duration::from_secs(60)).await {
                        Some(Incoming::Json(v)) if v["id"] == "big" => answered += 1,
                        Some(Incoming::Json(_)) => {}
                        other => panic!("big sender lost: {other:?}"),
                    }
                }
                done.store(true, Ordering::Relaxed);
                started.elapsed()
            })
        }
    });
    let mut latencies = smol::block_on(async {
        let mut latencies = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let res = probe.call("health", json!({})).await.unwrap();
            assert_eq!(res["ok"], true, "{res}");
            latencies.push(sent.elapsed());
            assert!(Instant::now() < deadline, "the big sender took minutes");
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        latencies
    });
    let handled_in = sender.join().expect("sender thread");
    latencies.sort();
    let worst = *latencies.last().unwrap();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "{ROUNDS} × 12 MB handled in {handled_in:?}; {} health round trips meanwhile: median {median:?}, worst {worst:?}",
        latencies.len()
    );
    // Before the fix the worst round trip took 1.5-2.6 s (each 12 MB message
    // was parsed into a tree, and all of them were queued ahead of the
    // probe); now about 0.1 s in a debug build. Loose, for a loaded machine.
    assert!(
        worst < Duration::from_secs(1),
        "a health round trip took {worst:?} while 12 MB messages were handled"
    );
    assert!(
        latencies.len() >= 2,
        "too few round trips to judge: {latencies:?}"
    );
}
