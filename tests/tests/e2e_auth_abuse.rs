//! Authentication under abuse, over real sockets against OUR binary: a web
//! page from a foreign origin is refused even with the right token, the
//! gateway's own page is let in, and a burst of wrong tokens from parallel
//! connections is answered together after the escalated delay instead of at
//! full speed.

// End-to-end tests run in real time: timing the server's answers is the point.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::process::{GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(10);

fn connect_frame(client_id: &str, mode: &str, token: &str) -> Value {
    json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": client_id, "version": "e2e", "platform": "linux", "mode": mode},
            "role": "operator", "scopes": ["operator.read"], "caps": [],
            "auth": {"token": token},
        }
    })
}

/// Open a socket with `headers`, read the challenge, send `connect`, and
/// return the response and the close (if the server closed).
async fn attempt(
    gw: &OurGateway,
    headers: &[(&str, &str)],
    connect: &Value,
) -> (Value, Option<(u16, String)>) {
    let mut ws = RawWs::open_with_headers(&gw.url(), headers)
        .await
        .expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    ws.send_json(connect).await.expect("send connect");
    let response = match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["type"] == "res" => v,
        other => panic!("expected the connect response, got {other:?}"),
    };
    if response["ok"] == true {
        ws.close().await;
        return (response, None);
    }
    let (_, close) = ws.until_close(WAIT).await;
    (response, close.flatten())
}

#[test]
fn a_page_from_a_foreign_origin_is_refused_even_with_the_right_token() {
    let gw = OurGateway::start(GatewayOptions::default());
    let host = format!("127.0.0.1:{}", gw.port);
    smol::block_on(async {
        let (res, close) = attempt(
            &gw,
            &[("Origin", "https://evil.example"), ("Host", &host)],
            &connect_frame("webchat", "webchat", TOKEN),
        )
        .await;
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert_eq!(
            res["error"]["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED",
            "{res}"
        );
        assert_eq!(res["error"]["details"]["reason"], "origin not allowed");
        let (code, reason) = close.expect("closed with a close frame");
        assert_eq!(code, 1008);
        assert!(reason.starts_with("origin not allowed"), "{reason}");

        // Pretending to be the CLI does not help a browser page.
        let (res, _) = attempt(
            &gw,
            &[("Origin", "https://evil.example")],
            &connect_frame("cli", "cli", TOKEN),
        )
        .await;
        assert_eq!(
            res["error"]["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED",
            "{res}"
        );

        // A page served from the gateway's own host and port is let in.
        let own = format!("http://{host}");
        let (res, _) = attempt(
            &gw,
            &[("Origin", &own), ("Host", &host)],
            &connect_frame("webchat", "webchat", TOKEN),
        )
        .await;
        assert_eq!(res["ok"], true, "{res}");
    });
}

#[test]
fn parallel_wrong_tokens_are_answered_together_after_the_escalated_delay() {
    let gw = OurGateway::start(GatewayOptions::default());
    const PARALLEL: usize = 20;
    smol::block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..PARALLEL)
            .map(|_| {
                let gw = &gw;
                async move {
                    let (res, close) =
                        attempt(gw, &[], &connect_frame("cli", "cli", "wrong-guess")).await;
                    (res, close, started.elapsed())
                }
            })
            .collect();
        let results = futures_util::future::join_all(tasks).await;
        let mut times = Vec::new();
        for (res, close, elapsed) in results {
            assert_eq!(
                res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
                "{res}"
            );
            assert_eq!(close.map(|c| c.0), Some(1008));
            times.push(elapsed);
        }
        times.sort();
        // Twenty guesses in flight at once: the delay doubles per failure up
        // to 5 s, and every refusal waits for the last one. A flat 250 ms
        // delay (the old behaviour) would answer them all in well under 1 s.
        assert!(
            times[0] >= Duration::from_millis(4500),
            "the first refusal came after {:?}; all: {times:?}",
            times[0]
        );
        let spread = times[PARALLEL - 1] - times[0];
        assert!(
            spread < Duration::from_millis(1500),
            "refusals are released together; spread {spread:?}: {times:?}"
        );
    });
    // The right token still works from loopback (exempt from the lockout).
    smol::block_on(async {
        let (res, _) = attempt(&gw, &[], &connect_frame("cli", "cli", TOKEN)).await;
        assert_eq!(res["ok"], true, "{res}");
    });
}
