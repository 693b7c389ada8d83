//! The same handshake-and-health scenario against two runtimes of the one
//! core: the smol runtime (our `openclaw gateway` binary) and the blocking
//! thread-per-connection runtime of `tests::blocking`. The core is the same;
//! only the driver differs, and the clients cannot tell.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use gateway_proto::gateway::{AuthConfig, Config};
use serde_json::{json, Value};
use tests::blocking::BlockingGateway;
use tests::process::{GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(10);

fn connect(token: &str) -> Value {
    json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.read"], "caps": [],
            "auth": {"token": token},
        }
    })
}

async fn next_json(ws: &mut RawWs) -> Value {
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) => v,
        other => panic!("expected a JSON frame, got {other:?}"),
    }
}

/// Challenge, connect, hello-ok, `health`; then a wrong token is refused
/// after the delay with 1008.
async fn scenario(url: &str) {
    let mut ws = RawWs::open(url).await.expect("open");
    let challenge = next_json(&mut ws).await;
    assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
    assert!(challenge.get("seq").is_none());
    ws.send_json(&connect(TOKEN)).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["type"], "hello-ok");
    assert_eq!(hello["payload"]["protocol"], 4);
    let methods = hello["payload"]["features"]["methods"].as_array().unwrap();
    assert!(methods.iter().any(|m| m == "health"), "{hello}");
    ws.send_json(&json!({"type": "req", "id": "h1", "method": "health"}))
        .await
        .unwrap();
    let health = loop {
        let frame = next_json(&mut ws).await;
        if frame["type"] == "res" {
            break frame;
        }
    };
    assert_eq!(health["id"], "h1");
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["payload"]["ok"], true, "{health}");
    ws.close().await;

    let mut ws = RawWs::open(url).await.expect("open");
    let _challenge = next_json(&mut ws).await;
    let sent = Instant::now();
    ws.send_json(&connect("wrong")).await.unwrap();
    let (frames, close) = ws.until_close(WAIT).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(200),
        "refused too fast"
    );
    let res = frames
        .iter()
        .find(|f| f["type"] == "res")
        .expect("a response");
    assert_eq!(
        res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
        "{res}"
    );
    assert_eq!(close.flatten().map(|c| c.0), Some(1008));
}

#[test]
fn the_smol_runtime_passes_the_scenario() {
    let gw = OurGateway::start(GatewayOptions::default());
    smol::block_on(scenario(&gw.url()));
}

#[test]
fn the_blocking_runtime_passes_the_same_scenario() {
    let config = Config::default().with_auth(AuthConfig::Token(TOKEN.to_owned()));
    let gw = BlockingGateway::start(config).expect("start the blocking runtime");
    smol::block_on(scenario(&gw.url()));
}
