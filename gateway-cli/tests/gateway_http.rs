//! The HTTP side of the gateway port: probes, 404, 400, bounded heads.

// End-to-end tests run in real time: reading the clock is the point.
#![allow(clippy::disallowed_methods)]

mod gateway_support;

use gateway_support::Gateway;
use serde_json::Value;

#[test]
fn health_and_healthz_are_live() {
    let gw = Gateway::start(&[]);
    for path in ["/health", "/healthz", "/health?x=1"] {
        let (status, body) = gw.get(path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, r#"{"ok":true,"status":"live"}"#);
    }
}

#[test]
fn readyz_reports_ready_with_uptime() {
    let gw = Gateway::start(&[]);
    gw.wait_ready();
    let (status, body) = gw.get("/readyz");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["failing"], serde_json::json!([]));
    assert!(v["uptimeMs"].is_u64());
}

#[test]
fn startupz_reports_started_with_version() {
    // `openclaw health` / `openclaw status` of the reference CLI ask for it first.
    let gw = Gateway::start(&[]);
    gw.wait_ready();
    let (status, body) = gw.get("/startupz");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["status"], "started");
    assert!(v["version"].is_string());
    assert!(v["uptimeMs"].is_u64());
}

#[test]
fn unknown_paths_are_404_and_garbage_is_400() {
    // The Control UI owns every other GET path when it is on (its app page,
    // or 503 without its files); this is the port's own answer.
    let gw = Gateway::start_with_config("{ gateway: { controlUi: { enabled: false } } }", &[]);
    assert_eq!(gw.get("/nope").0, 404);
    // Other methods on a probe path: 405, as the reference answers.
    assert_eq!(
        gw.http("POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .0,
        405
    );
    assert_eq!(
        gw.http("POST /elsewhere HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .0,
        404
    );
    assert_eq!(gw.http("hello there\r\n\r\n").0, 400);
    assert_eq!(gw.http("GET / HTTP/9\r\n\r\n").0, 400);
    assert_eq!(gw.http("GET / HTTP/1.1\r\nbroken header\r\n\r\n").0, 400);
    // An upgrade with a bad key is refused, not crashed on.
    let bad_upgrade = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: nope\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(gw.http(bad_upgrade).0, 400);
    // Still serving.
    assert_eq!(gw.get("/health").0, 200);
}

#[test]
fn oversized_head_is_refused() {
    let gw = Gateway::start(&[]);
    let big = format!(
        "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(gw.http(&big).0, 431);
    assert_eq!(gw.get("/health").0, 200);
}

#[test]
fn upgrade_answers_101_with_the_accept_key() {
    let gw = Gateway::start(&[]);
    let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
}

#[test]
fn preauth_sockets_per_ip_are_capped() {
    let gw = Gateway::start_with(&[], |cmd| {
        cmd.env("OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP", "2");
    });
    let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    use std::io::{Read, Write};
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 101");
        held.push(s);
    }
    let (status, body) = gw.http(request);
    assert_eq!(status, 503);
    assert_eq!(body, "Too many unauthenticated sockets");
    drop(held);
    // Slots come back when those sockets go away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        if &buf == b"HTTP/1.1 101" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots never released");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
