//! WebSocket-level abuse against OUR binary: a peer that breaks the framing
//! rules gets a coded close frame (not a bare TCP drop), a ping flood is cut
//! off with bounded memory, and binary messages are read as the reference
//! reads them (as JSON text).

// End-to-end tests run in real time: deadlines and memory sampling.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::Frame;
use async_tungstenite::tungstenite::Message;
use serde_json::{json, Value};
use smol::io::AsyncWriteExt;
use tests::process::{rss_kib, GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(10);

fn connect_frame() -> Value {
    json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.read"], "caps": [],
            "auth": {"token": TOKEN},
        }
    })
}

/// Open a socket and read the `connect.challenge`.
async fn open_challenged(gw: &OurGateway) -> RawWs {
    let mut ws = RawWs::open(&gw.url()).await.expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => ws,
        other => panic!("expected connect.challenge, got {other:?}"),
    }
}

/// The next response (events skipped).
async fn response(ws: &mut RawWs) -> Value {
    loop {
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["type"] == "res" => return v,
            Some(Incoming::Json(_)) => {}
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// A socket past the handshake.
async fn open_authenticated(gw: &OurGateway) -> RawWs {
    let mut ws = open_challenged(gw).await;
    ws.send_json(&connect_frame()).await.expect("send connect");
    let res = response(&mut ws).await;
    assert_eq!(res["ok"], true, "connect refused: {res}");
    ws
}

/// Read until the server closes: its close code and reason.
async fn close_of(ws: &mut RawWs) -> (u16, String) {
    let (_, close) = ws.until_close(WAIT).await;
    close
        .expect("the server did not close within the wait")
        .expect("the server dropped the socket without a close frame (1006)")
}

/// A text frame whose payload is not UTF-8.
fn invalid_utf8_text() -> Message {
    let payload = b"{\"type\":\"req\",\"id\":\"\xff\xfe\",\"method\":\"health\"}".to_vec();
    Message::Frame(Frame::message(payload, OpCode::Data(Data::Text), true))
}

#[test]
fn preauth_frame_over_the_read_budget_closes_1009() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(async {
        let mut ws = open_challenged(&gw).await;
        // Far over what an unauthenticated socket may send (~132 KiB).
        let _ = ws.send_text("x".repeat(4 * 1024 * 1024)).await;
        assert_eq!(
            close_of(&mut ws).await,
            (1009, "preauth payload too large".to_owned())
        );
    });
}

#[test]
fn frame_over_max_payload_after_auth_closes_1009() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(async {
        let mut ws = open_authenticated(&gw).await;
        // maxPayload is 25 MiB.
        let _ = ws.send_text("x".repeat(30_000_000)).await;
        assert_eq!(
            close_of(&mut ws).await,
            (1009, "payload too large".to_owned())
        );
    });
}

#[test]
fn invalid_utf8_text_closes_1007() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(async {
        let mut ws = open_authenticated(&gw).await;
        ws.send_message(invalid_utf8_text()).await.expect("send");
        assert_eq!(close_of(&mut ws).await, (1007, "invalid UTF-8".to_owned()));

        let mut ws = open_challenged(&gw).await;
        ws.send_message(invalid_utf8_text()).await.expect("send");
        assert_eq!(close_of(&mut ws).await, (1007, "invalid UTF-8".to_owned()));
    });
}

#[test]
fn bad_framing_closes_1002() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(async {
        let mut ws = open_authenticated(&gw).await;
        // A continuation frame with no message to continue.
        let stray = Frame::message(b"x".to_vec(), OpCode::Data(Data::Continue), true);
        ws.send_message(Message::Frame(stray)).await.expect("send");
        assert_eq!(close_of(&mut ws).await.0, 1002);
    });
}

#[test]
fn binary_messages_are_read_as_json_text() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(async {
        // Before the handshake: a binary connect is a connect.
        let mut ws = open_challenged(&gw).await;
        let connect = connect_frame().to_string().into_bytes();
        ws.send_message(Message::binary(connect))
            .await
            .expect("send");
        let res = response(&mut ws).await;
        assert_eq!(res["ok"], true, "binary connect refused: {res}");
        assert_eq!(res["payload"]["type"], "hello-ok", "{res}");

        // After it: a binary request is answered.
        let health = br#"{"type":"req","id":"b1","method":"health"}"#.to_vec();
        ws.send_message(Message::binary(health))
            .await
            .expect("send");
        let res = response(&mut ws).await;
        assert_eq!(res["id"], "b1", "{res}");
        assert_eq!(res["ok"], true, "{res}");

        // Bytes that are not UTF-8 become U+FFFD, as in the reference.
        let bad = b"{\"type\":\"req\",\"id\":\"b\xff2\",\"method\":\"health\"}".to_vec();
        ws.send_message(Message::binary(bad)).await.expect("send");
        let res = response(&mut ws).await;
        assert_eq!(res["id"], "b\u{fffd}2", "{res}");
        assert_eq!(res["ok"], true, "{res}");

        // Binary that is not JSON is ignored after the handshake, like text.
        ws.send_message(Message::binary(vec![0u8, 1, 2]))
            .await
            .expect("send");
        let health = br#"{"type":"req","id":"b3","method":"health"}"#.to_vec();
        ws.send_message(Message::binary(health))
            .await
            .expect("send");
        assert_eq!(response(&mut ws).await["id"], "b3");
    });
}

/// One masked client ping frame with a 125-byte payload (the largest allowed).
fn ping_frame() -> Vec<u8> {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![0x89, 0x80 | 125];
    frame.extend_from_slice(&mask);
    frame.extend((0..125).map(|i| b'p' ^ mask[i % 4]));
    frame
}

#[test]
fn ping_flood_without_reading_is_closed_with_bounded_memory() {
    let gw = OurGateway::start(GatewayOptions::default());
    let pid = gw.pid();
    let baseline_kib = gw.rss_kib();
    let started = Instant::now();
    let (closed, pings_sent) = smol::block_on(async {
        let ws = open_authenticated(&gw).await;
        let mut tcp = ws.into_tcp();
        let batch: Vec<u8> = (0..512).flat_map(|_| ping_frame()).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = 0u64;
        // Write pings as fast as the gateway takes them, never reading.
        let closed = loop {
            if Instant::now() >= deadline {
                break false;
            }
            let write = smol::future::or(async { Some(tcp.write_all(&batch).await) }, async {
                smol::Timer::after(Duration::from_secs(2)).await;
                None
            });
            match write.await {
                Some(Ok(())) => sent += 512,
                Some(Err(_)) => break true,
                // The gateway stopped reading: give it a moment to drop us.
                None => {}
            }
        };
        (closed, sent)
    });
    let peak_kib = peak_rss_kib(pid);
    let elapsed = started.elapsed();
    eprintln!(
        "{pings_sent} pings in {elapsed:?}; RSS {baseline_kib} KiB before, peak {peak_kib} KiB"
    );
    assert!(
        closed,
        "the gateway kept a ping-flooding socket that never reads for {elapsed:?}"
    );
    let grown_mib = peak_kib.saturating_sub(baseline_kib) / 1024;
    assert!(
        grown_mib < 100,
        "gateway memory grew by {grown_mib} MiB during a ping flood"
    );
    assert!(rss_kib(pid).is_some(), "the gateway died");
    // It was the pong backlog rule that closed it (the log is written a
    // little later than the socket closes).
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = std::fs::read_to_string(gw.log_file()).unwrap_or_default();
        if log.contains("closing 1008 slow consumer") || Instant::now() >= deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        log.contains("closing 1008 slow consumer"),
        "no slow-consumer close in the log:\n{log}"
    );
}

/// `VmHWM`: the highest resident memory the process ever had.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
