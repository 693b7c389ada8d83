//! The HTTP side of OUR gateway's port over real sockets: header budget,
//! malformed request lines, keep-alive and pipelining, upgrade refusals and
//! methods on the probe paths, as the reference (Node's HTTP server) does.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tests::process::{http_raw, GatewayOptions, OurGateway};

/// The port's own HTTP answers: with the Control UI off, as it owns every
/// other GET path when on (its app page, or 503 without its files).
fn gateway() -> OurGateway {
    OurGateway::start(GatewayOptions {
        config: Some("{ gateway: { controlUi: { enabled: false } } }".into()),
        ..GatewayOptions::default()
    })
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The status lines of every response in `text`, in order.
fn status_lines(text: &str) -> Vec<u16> {
    text.split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.get(..3)?.parse().ok())
        .collect()
}

/// Read one response (head + `Content-Length` body) from a kept-alive socket.
fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("read head"),
            1,
            "closed early"
        );
        data.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&data).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("read body");
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn a_large_cookie_header_fits_the_16_kib_budget() {
    let gw = gateway();
    let cookie = format!("Cookie: {}\r\n", "a=b; ".repeat(2400)); // 12 KB
    let (status, text) = http_raw(
        gw.port,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n"),
    );
    assert_eq!(status, 200, "{text}");
    let cookie = format!("Cookie: {}\r\n", "a=b; ".repeat(3600)); // 18 KB
    let (status, text) = http_raw(
        gw.port,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n"),
    );
    assert_eq!(status, 431, "{text}");
}

#[test]
fn bare_lf_request_line_is_answered_400_at_once() {
    let gw = gateway();
    for request in [
        "GET /healthz HTTP/1.1\n\n",
        "GET /healthz HTTP/1.1\r\nHost: x\n\r\n",
    ] {
        let started = Instant::now();
        let (status, text) = http_raw(gw.port, request);
        assert_eq!(status, 400, "{request:?}: {text}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{request:?} answered after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gw = gateway();
    let started = Instant::now();
    let (_, text) = http_raw(
        gw.port,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n\
         HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
         GET /startupz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        status_lines(&text),
        [200, 200, 200, 404, 405, 200],
        "{text}"
    );
    let bodies: Vec<&str> = text.split("\r\n\r\n").collect();
    assert!(
        bodies[1].starts_with(r#"{"ok":true,"status":"live"}"#),
        "{text}"
    );
    assert!(bodies[2].starts_with(r#"{"ready":true"#), "{text}");
    // The last one asked to close: no wait for a keep-alive timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn keep_alive_serves_several_requests_on_one_socket() {
    let gw = gateway();
    let mut stream = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for path in ["/healthz", "/readyz", "/ready", "/startup"] {
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("write");
        let response = read_response(&mut stream);
        assert_eq!(status_of(&response), 200, "{path}: {response}");
        assert!(
            response.contains("Connection: keep-alive"),
            "{path}: {response}"
        );
    }
}

#[test]
fn other_methods_on_probe_paths_are_405_with_allow() {
    let gw = gateway();
    for method in ["OPTIONS", "POST", "PUT", "DELETE"] {
        for path in ["/health", "/healthz", "/readyz", "/startupz"] {
            let (status, text) = http_raw(
                gw.port,
                &format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            );
            assert_eq!(status, 405, "{method} {path}: {text}");
            assert!(
                text.contains("\r\nAllow: GET, HEAD\r\n"),
                "{method} {path}: {text}"
            );
        }
    }
    let (status, _) = http_raw(
        gw.port,
        "POST /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
}

fn upgrade_request(port: u16, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn malformed_upgrades_are_refused_400() {
    let gw = gateway();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    // Sanity: the well-formed request upgrades.
    let mut stream = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(upgrade_request(gw.port, &format!("Connection: Upgrade\r\n{key}")).as_bytes())
        .expect("write");
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).expect("read");
    assert_eq!(&first, b"HTTP/1.1 101");
    drop(stream);

    for (what, extra) in [
        ("no Connection: Upgrade", key.to_owned()),
        (
            "Connection without upgrade",
            format!("Connection: keep-alive\r\n{key}"),
        ),
        ("two keys", format!("Connection: Upgrade\r\n{key}{key}")),
    ] {
        let (status, text) = http_raw(gw.port, &upgrade_request(gw.port, &extra));
        assert_eq!(status, 400, "{what}: {text}");
    }
}
