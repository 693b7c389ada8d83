//! Handshake failures over real sockets against OUR binary: the response, the
//! close code and the close reason for each rule of protocol.md §3, and the
//! per-IP limit on unauthenticated sockets.

// End-to-end tests run in real time: timing the server's answers is the point.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::process::{http_raw, GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(10);

fn gateway() -> OurGateway {
    OurGateway::start(GatewayOptions::default())
}

fn connect_frame(min: u32, max: u32, token: &str) -> Value {
    json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": min, "maxProtocol": max,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.read"], "caps": [],
            "auth": {"token": token},
        }
    })
}

/// Open a socket and read the `connect.challenge` (sent with no seq).
async fn open_challenged(gw: &OurGateway) -> RawWs {
    let mut ws = RawWs::open(&gw.url()).await.expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) => {
            assert_eq!(v["event"], "connect.challenge", "{v}");
            assert!(v.get("seq").is_none(), "challenge has no seq: {v}");
            assert!(
                v["payload"]["nonce"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty()),
                "{v}"
            );
        }
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    ws
}

/// The single `res` among `frames`.
fn only_response(frames: &[Value]) -> &Value {
    let responses: Vec<&Value> = frames.iter().filter(|f| f["type"] == "res").collect();
    assert_eq!(responses.len(), 1, "one response expected: {frames:?}");
    responses[0]
}

fn closed(close: Option<Option<(u16, String)>>) -> (u16, String) {
    close
        .expect("the server did not close within the wait")
        .expect("the close frame carried no status code")
}

#[test]
fn first_request_not_connect_is_invalid_request_then_1008() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        ws.send_json(&json!({"type": "req", "id": "h1", "method": "health"}))
            .await
            .unwrap();
        let (frames, close) = ws.until_close(WAIT).await;
        let res = only_response(&frames);
        let text = "invalid handshake: first request must be connect";
        assert_eq!(res["id"], "h1", "{res}");
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert_eq!(res["error"]["message"], text, "{res}");
        assert_eq!(closed(close), (1008, text.to_owned()));
    });
}

#[test]
fn wrong_token_closes_1008_after_a_delay() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        let sent = Instant::now();
        ws.send_json(&connect_frame(4, 4, "not-the-token"))
            .await
            .unwrap();
        let (frames, close) = ws.until_close(WAIT).await;
        let elapsed = sent.elapsed();
        let res = only_response(&frames);
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        let message = res["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("unauthorized"), "{res}");
        assert_eq!(
            res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
            "{res}"
        );
        assert_eq!(closed(close).0, 1008);
        assert!(
            elapsed >= Duration::from_millis(200),
            "a wrong secret must be answered slowly, took {elapsed:?}"
        );
    });
}

#[test]
fn protocol_without_overlap_closes_1002() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        ws.send_json(&connect_frame(1, 2, TOKEN)).await.unwrap();
        let (frames, close) = ws.until_close(WAIT).await;
        let res = only_response(&frames);
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert_eq!(res["error"]["message"], "protocol mismatch", "{res}");
        assert_eq!(
            res["error"]["details"]["code"], "PROTOCOL_MISMATCH",
            "{res}"
        );
        assert_eq!(closed(close), (1002, "protocol mismatch".to_owned()));
    });
}

#[test]
fn non_json_first_frame_closes_1000() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        ws.send_text("this is not json").await.unwrap();
        let (frames, close) = ws.until_close(WAIT).await;
        assert!(frames.is_empty(), "no answer expected: {frames:?}");
        assert_eq!(closed(close).0, 1000);
    });
}

#[test]
fn oversized_first_frame_closes_1009() {
    let gw = gateway();
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        let mut frame = connect_frame(4, 4, TOKEN);
        frame["params"]["userAgent"] = Value::String("x".repeat(70 * 1024));
        // The server may close while the frame is still being written.
        let _ = ws.send_json(&frame).await;
        let (frames, close) = ws.until_close(WAIT).await;
        assert!(frames.is_empty(), "no answer expected: {frames:?}");
        assert_eq!(
            closed(close),
            (1009, "preauth payload too large".to_owned())
        );
    });
}

#[test]
fn no_connect_within_the_handshake_timeout_closes_1000() {
    let gw = OurGateway::start(GatewayOptions::default().env("OPENCLAW_HANDSHAKE_TIMEOUT_MS", 500));
    smol::block_on(async {
        let opened = Instant::now();
        let mut ws = open_challenged(&gw).await;
        let (frames, close) = ws.until_close(WAIT).await;
        let elapsed = opened.elapsed();
        assert!(frames.is_empty(), "no frame expected: {frames:?}");
        let close = close.expect("the server did not close within the wait");
        // "close 1000 with no reason".
        assert_eq!(close.as_ref().map(|(code, _)| *code), Some(1000));
        assert_eq!(close.map(|(_, reason)| reason).unwrap_or_default(), "");
        assert!(
            elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(5),
            "closed after {elapsed:?}, expected about 500 ms"
        );
    });
}

fn upgrade_request(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[test]
fn sockets_past_the_total_cap_get_503_until_one_closes() {
    let gw = OurGateway::start(GatewayOptions::default().env("OPENCLAW_MAX_CONNECTIONS", 3));
    smol::block_on(async {
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut ws = open_challenged(&gw).await;
            ws.send_json(&connect_frame(4, 4, TOKEN)).await.unwrap();
            match ws.recv_timeout(WAIT).await {
                Some(Incoming::Json(res)) => assert_eq!(res["ok"], true, "{res}"),
                other => panic!("expected hello-ok, got {other:?}"),
            }
            held.push(ws);
        }
        let port = gw.port;
        let (status, text) = smol::unblock(move || http_raw(port, &upgrade_request(port))).await;
        assert_eq!(status, 503, "{text}");
        assert!(text.contains("Too many connections"), "{text}");
        // A closed socket gives its slot back.
        held.pop().expect("three held").close().await;
        let deadline = Instant::now() + WAIT;
        loop {
            if RawWs::open(&gw.url()).await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the slot never came back");
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    });
}

#[test]
fn thirty_third_unauthenticated_socket_gets_503() {
    let gw = gateway();
    smol::block_on(async {
        let mut pending = Vec::new();
        for _ in 0..32 {
            pending.push(open_challenged(&gw).await);
        }
        let port = gw.port;
        let (status, text) = smol::unblock(move || http_raw(port, &upgrade_request(port))).await;
        assert_eq!(status, 503, "{text}");
        assert!(text.contains("Too many unauthenticated sockets"), "{text}");

        // Authenticated sockets do not count: after one of the 32 logs in,
        // there is room for one more unauthenticated socket.
        let mut first = pending.remove(0);
        first.send_json(&connect_frame(4, 4, TOKEN)).await.unwrap();
        match first.recv_timeout(WAIT).await {
            Some(Incoming::Json(res)) => assert_eq!(res["ok"], true, "{res}"),
            other => panic!("expected hello-ok, got {other:?}"),
        }
        pending.push(open_challenged(&gw).await);
        let (status, text) = smol::unblock(move || http_raw(port, &upgrade_request(port))).await;
        assert_eq!(status, 503, "{text}");
        drop(first);
    });
}

/// Regression: the writer fed hello-ok but flushed it only with the next
/// frame when the hub queued its "authenticated" marker right behind it, so a
/// connect within a second of the previous one waited ~1 s (until the next
/// `health` broadcast) for its hello-ok.
#[test]
fn hello_ok_is_not_held_back_on_back_to_back_connects() {
    let gw = gateway();
    smol::block_on(async {
        for i in 0..4 {
            let mut ws = open_challenged(&gw).await;
            let sent = Instant::now();
            ws.send_json(&connect_frame(4, 4, TOKEN)).await.unwrap();
            match ws.recv_timeout(WAIT).await {
                Some(Incoming::Json(res)) => assert_eq!(res["ok"], true, "{res}"),
                other => panic!("expected hello-ok, got {other:?}"),
            }
            let elapsed = sent.elapsed();
            assert!(
                elapsed < Duration::from_millis(400),
                "connect #{i}: hello-ok took {elapsed:?}"
            );
            ws.close().await;
        }
    });
}

#[test]
fn huge_preauth_frames_are_cut_off_without_buffering() {
    // Far over the 64 KiB pre-auth limit, on several sockets at once: the
    // gateway stops reading an unauthenticated socket after a small budget
    // instead of buffering each message up to maxPayload (25 MiB) first.
    let gw = gateway();
    // Peak RSS: large buffers are unmapped when freed, so only the high-water
    // mark shows what was held.
    let peak_kib = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let before = peak_kib(gw.pid());
    smol::block_on(async {
        let sockets: Vec<_> = (0..8)
            .map(|_| {
                let url = gw.url();
                smol::spawn(async move {
                    let mut ws = RawWs::open(&url).await.expect("open");
                    let mut frame = connect_frame(4, 4, TOKEN);
                    frame["params"]["userAgent"] = Value::String("x".repeat(20 * 1024 * 1024));
                    // The gateway drops the socket while this is still being written.
                    let _ = ws.send_json(&frame).await;
                    let (_, close) = ws.until_close(WAIT).await;
                    assert!(close.is_some(), "the oversized socket stayed open");
                })
            })
            .collect();
        for socket in sockets {
            socket.await;
        }
    });
    let grown_mib = peak_kib(gw.pid()).saturating_sub(before) / 1024;
    assert!(
        grown_mib < 40,
        "peak RSS grew by {grown_mib} MiB for 8 × 20 MiB pre-auth frames"
    );
}
