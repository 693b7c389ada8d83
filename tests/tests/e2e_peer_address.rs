//! A gateway listening on `::` (dual stack) sees IPv4 clients as
//! `::ffff:a.b.c.d`. OUR gateway must still treat 127.0.0.1 as loopback:
//! exempt from the auth lockout and trusted as a local CLI.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use serde_json::{json, Value};
use tests::process::{GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

/// A v4 `cli`/`cli` connect asking for `operator.admin` with `token`.
fn connect_frame(token: &str) -> Value {
    json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.admin"], "caps": [],
            "auth": {"token": token},
        }
    })
}

/// Open `url`, read the challenge, send a connect with `token`: the response.
async fn connect(url: &str, token: &str) -> Value {
    let mut ws = RawWs::open(url).await.expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    ws.send_json(&connect_frame(token)).await.expect("send");
    loop {
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["type"] == "res" => return v,
            Some(Incoming::Json(_)) => {}
            other => panic!("no connect response: {other:?}"),
        }
    }
}

/// Twelve wrong tokens (more than the ten that lock a remote IP out), then
/// the right one, from `host`: hello-ok with the scope only a local CLI gets.
async fn loopback_is_local(port: u16, host: &str) {
    let url = format!("ws://{host}:{port}");
    let failures: Vec<_> = (0..12)
        .map(|_| {
            let url = url.clone();
            smol::spawn(async move { connect(&url, "wrong-token").await })
        })
        .collect();
    for failure in failures {
        let res = failure.await;
        assert_eq!(res["ok"], false, "{res}");
        assert_ne!(
            res["error"]["details"]["code"], "AUTH_RATE_LIMITED",
            "a loopback client was rate limited via {host}: {res}"
        );
    }
    let res = connect(&url, TOKEN).await;
    assert_eq!(
        res["ok"], true,
        "the right token was refused via {host} after wrong ones: {res}"
    );
    // Device-less operators keep their scopes only as a *local* CLI.
    assert_eq!(
        res["payload"]["auth"]["scopes"],
        json!(["operator.admin"]),
        "via {host} the client was not treated as local: {res}"
    );
}

#[test]
fn ipv4_loopback_on_a_dual_stack_listener_is_local() {
    if std::net::TcpListener::bind("[::]:0").is_err() {
        eprintln!("skipping: no IPv6 on this host");
        return;
    }
    let gw = OurGateway::start(GatewayOptions::default().bind_host("::"));
    smol::block_on(async {
        loopback_is_local(gw.port, "127.0.0.1").await;
        loopback_is_local(gw.port, "[::ffff:127.0.0.1]").await;
        loopback_is_local(gw.port, "[::1]").await;
    });
}

#[test]
fn ipv4_mapped_loopback_listener_is_local() {
    if std::net::TcpListener::bind("[::ffff:127.0.0.1]:0").is_err() {
        eprintln!("skipping: cannot bind ::ffff:127.0.0.1 on this host");
        return;
    }
    let gw = OurGateway::start(GatewayOptions::default().bind_host("::ffff:127.0.0.1"));
    smol::block_on(loopback_is_local(gw.port, "127.0.0.1"));
}
