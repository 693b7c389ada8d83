//! WebSocket keepalive against OUR binary: after the handshake the gateway
//! pings every interval, and drops a connection whose pong has not come back
//! by the next ping; a client that keeps reading (and so answers pings) stays.
//! The interval is shortened with `OPENCLAW_WS_PING_INTERVAL_MS`.

// End-to-end tests run in real time: waiting out the interval is the point.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use serde_json::json;
use tests::process::{GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const PING_MS: u64 = 200;
const WAIT: Duration = Duration::from_secs(10);

fn gateway() -> OurGateway {
    OurGateway::start(GatewayOptions::default().env("OPENCLAW_WS_PING_INTERVAL_MS", PING_MS))
}

/// Open, read the challenge, connect, read hello-ok.
async fn authenticated(gw: &OurGateway) -> RawWs {
    let mut ws = RawWs::open(&gw.url()).await.expect("open");
    assert!(
        matches!(ws.recv_timeout(WAIT).await, Some(Incoming::Json(v)) if v["event"] == "connect.challenge")
    );
    let connect = json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.read"], "caps": [],
            "auth": {"token": TOKEN},
        }
    });
    ws.send_json(&connect).await.expect("send connect");
    loop {
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["id"] == "c1" => {
                assert_eq!(v["ok"], true, "{v}");
                return ws;
            }
            Some(Incoming::Json(_)) => continue,
            other => panic!("no hello-ok: {other:?}"),
        }
    }
}

#[test]
fn a_client_that_never_answers_pings_is_dropped() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = authenticated(&gw).await;
        // Not reading means not answering the gateway's pings.
        smol::Timer::after(Duration::from_millis(PING_MS * 5)).await;
        let (_, close) = ws.until_close(WAIT).await;
        assert!(
            close.is_some(),
            "the gateway kept a connection that never ponged"
        );
    });
}

#[test]
fn a_client_that_keeps_reading_stays_connected() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = authenticated(&gw).await;
        // Reading answers each ping; nothing may close for many intervals.
        let until = std::time::Instant::now() + Duration::from_millis(PING_MS * 8);
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            let next = ws.recv_timeout(left).await;
            assert!(
                !matches!(next, Some(Incoming::Close(_)) | Some(Incoming::Ended(_))),
                "closed while answering pings: {next:?}"
            );
        }
        ws.send_json(&json!({"type": "req", "id": "h", "method": "health"}))
            .await
            .expect("send");
        loop {
            match ws.recv_timeout(WAIT).await {
                Some(Incoming::Json(v)) if v["id"] == "h" => {
                    assert_eq!(v["ok"], true);
                    break;
                }
                Some(Incoming::Json(_)) => continue,
                other => panic!("no health answer after keepalive rounds: {other:?}"),
            }
        }
    });
}

#[test]
fn a_stalled_client_under_load_is_dropped() {
    // The client stops reading while broadcasts keep coming. Whichever comes
    // first, the missing pong or (once its socket buffers are full) the write
    // deadline of two ping intervals, the gateway must drop the socket rather
    // than keep a writer, and its queue, for a peer that no longer reads.
    let gw = gateway();
    smol::block_on(async {
        let mut stalled = authenticated(&gw).await;
        let mut admin = tests::load::Conn::open(&gw.target(), &["operator.admin"])
            .await
            .expect("admin");
        // Presence events grow to ~40 KB as the list fills to 200 entries:
        // far more than loopback socket buffers hold.
        for i in 0..800 {
            let params = json!({"text": "load", "instanceId": format!("load-{}", i % 200)});
            admin
                .call("system-event", params)
                .await
                .expect("system-event");
        }
        smol::Timer::after(Duration::from_millis(PING_MS * 4)).await;
        let (_, close) = stalled.until_close(WAIT).await;
        assert!(
            close.is_some(),
            "the gateway kept writing to a client that stopped reading"
        );
    });
}
