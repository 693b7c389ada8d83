//! WebSocket end to end through the runtime: handshake, calls, logs.tail,
//! shutdown event and 1012 closes, hot config reload.

// End-to-end tests run in real time: reading the clock is the point.
#![allow(clippy::disallowed_methods)]

mod gateway_support;

use std::time::Duration;

use gateway_smol::client::{Client, ClientEvent, ClientOptions};
use gateway_support::Gateway;
use serde_json::json;

fn opts(token: &str) -> ClientOptions {
    ClientOptions {
        token: Some(token.to_string()),
        reconnect: false,
        scopes: vec!["operator.admin".to_string()],
        ..Default::default()
    }
}

fn token_gateway() -> Gateway {
    let gw = Gateway::start_with(&[], |cmd| {
        cmd.env("OPENCLAW_GATEWAY_TOKEN", "sekret");
    });
    gw.wait_ready();
    gw
}

#[test]
fn handshake_and_calls() {
    let gw = token_gateway();
    smol::block_on(async {
        let client = Client::connect(&gw.url(), opts("sekret"))
            .await
            .expect("connect");
        let health = client.call("health", None).await.expect("health");
        assert_eq!(health["ok"], true);
        client.close().await;
        assert!(Client::connect(&gw.url(), opts("wrong")).await.is_err());
    });
}

#[test]
fn hello_ok_is_flushed_at_once() {
    // The hello-ok must reach the client immediately, not wait in the socket
    // buffer for the next frame (a health event may be a second away).
    let gw = token_gateway();
    smol::block_on(async {
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let client = Client::connect(&gw.url(), opts("sekret"))
                .await
                .expect("connect");
            let took = started.elapsed();
            assert!(took < Duration::from_millis(300), "handshake took {took:?}");
            client.close().await;
        }
    });
}

#[test]
fn logs_tail_reads_the_log_file() {
    let gw = token_gateway();
    smol::block_on(async {
        let client = Client::connect(&gw.url(), opts("sekret"))
            .await
            .expect("connect");
        let slice = client
            .call("logs.tail", Some(json!({"limit": 5})))
            .await
            .expect("logs.tail");
        let file = slice["file"].as_str().unwrap();
        assert!(file.ends_with("openclaw.log"), "{slice}");
        let lines = slice["lines"].as_array().unwrap();
        assert!(!lines.is_empty() && lines.len() <= 5, "{slice}");
        let cursor = slice["cursor"].as_u64().unwrap();
        let next = client
            .call("logs.tail", Some(json!({"cursor": cursor})))
            .await
            .expect("follow");
        assert!(next["cursor"].as_u64().unwrap() >= cursor);
        client.close().await;
    });
}

#[test]
fn sigterm_sends_shutdown_and_closes_1012() {
    let mut gw = token_gateway();
    smol::block_on(async {
        let client = Client::connect(&gw.url(), opts("sekret"))
            .await
            .expect("connect");
        let events = client.events();
        gw.signal("TERM");
        let mut saw_shutdown = false;
        let close = loop {
            let event = smol::future::or(async { events.recv().await.ok() }, async {
                smol::Timer::after(Duration::from_secs(3)).await;
                None
            })
            .await
            .expect("no close within 3 s");
            match event {
                ClientEvent::Event { name, .. } if name == "shutdown" => saw_shutdown = true,
                ClientEvent::Disconnected { code, .. } => break code,
                _ => {}
            }
        };
        assert!(saw_shutdown);
        assert_eq!(close, 1012);
    });
    let status = gw.wait_exit(Duration::from_secs(2)).expect("exit");
    assert!(status.success());
}

#[test]
fn token_change_in_config_applies_without_restart() {
    let gw = Gateway::start(&[]);
    gw.wait_ready();
    let config = gw.dir.path().join("state/openclaw.json");
    std::fs::write(&config, r#"{ gateway: { auth: { token: "fresh" } } }"#).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    smol::block_on(async {
        loop {
            if let Ok(client) = Client::connect(&gw.url(), opts("fresh")).await {
                if client.hello().payload["snapshot"]["authMode"] == "token" {
                    client.close().await;
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "new token never accepted"
            );
            smol::Timer::after(Duration::from_millis(100)).await;
        }
        assert!(Client::connect(&gw.url(), opts("stale")).await.is_err());
    });
}

/// Wait for the client's disconnect and return its close code and reason.
async fn disconnected(client: &Client, within: Duration) -> Option<(u16, String)> {
    let events = client.events();
    smol::future::or(
        async {
            while let Ok(event) = events.recv().await {
                if let ClientEvent::Disconnected { code, reason } = event {
                    return Some((code, reason));
                }
            }
            None
        },
        async {
            smol::Timer::after(within).await;
            None
        },
    )
    .await
}

#[test]
fn rotating_the_token_in_the_config_ends_sessions_that_used_the_old_one() {
    let gw = Gateway::start(&[]);
    gw.wait_ready();
    let config = gw.dir.path().join("state/openclaw.json");
    smol::block_on(async {
        // Auth none (loopback): turning a token on ends the unauthenticated session.
        let open = Client::connect(
            &gw.url(),
            ClientOptions {
                reconnect: false,
                ..Default::default()
            },
        )
        .await
        .expect("connect without auth");
        std::fs::write(&config, r#"{ gateway: { auth: { token: "t1" } } }"#).unwrap();
        let (code, reason) = disconnected(&open, Duration::from_secs(15))
            .await
            .expect("the auth-less session is closed when a token is set");
        assert_eq!((code, reason.as_str()), (4001, "gateway auth changed"));

        let with_t1 = Client::connect(&gw.url(), opts("t1")).await.expect("t1");
        // Rotate: the t1 session is closed 4001, and t1 no longer works.
        std::fs::write(&config, r#"{ gateway: { auth: { token: "t2" } } }"#).unwrap();
        let (code, reason) = disconnected(&with_t1, Duration::from_secs(15))
            .await
            .expect("the t1 session is closed after the rotation");
        assert_eq!((code, reason.as_str()), (4001, "gateway auth changed"));
        assert!(Client::connect(&gw.url(), opts("t1")).await.is_err());
        let with_t2 = Client::connect(&gw.url(), opts("t2")).await.expect("t2");
        with_t2.close().await;
    });
}
