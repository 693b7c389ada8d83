//! ClientConnection scenarios in virtual time (protocol §9).

use std::time::Duration;

use gateway_proto::client::testing::{frames, Sim};
use gateway_proto::client::{
    CallFailure, ClientAuth, ClientConfig, ClientOutput, DeviceKey, RequestOptions,
};
use serde_json::json;

/// The one real instant: the start of each test's virtual clock.
#[allow(clippy::disallowed_methods)]
fn base() -> gateway_proto::time::Timestamp {
    gateway_proto::time::Timestamp::ZERO
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn config() -> ClientConfig {
    ClientConfig {
        auth: ClientAuth {
            token: Some("secret".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn reconnect_delays(out: &[ClientOutput], sim: &Sim) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            ClientOutput::Reconnect { at } => Some((*at - sim.now).as_secs()),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_sends_connect_with_nonce_and_credentials() {
    let mut sim = Sim::new(config(), 1, base());
    assert!(sim.sent.is_empty(), "nothing is sent before the challenge");
    sim.text(&frames::challenge("n-42"));
    let connect = sim.sent.last().unwrap().clone();
    assert_eq!(connect["method"], "connect");
    let p = &connect["params"];
    assert_eq!(p["minProtocol"], 4);
    assert_eq!(p["maxProtocol"], 4);
    assert_eq!(p["client"]["id"], "cli");
    assert_eq!(p["client"]["mode"], "cli");
    assert!(p["client"]["instanceId"].is_string());
    assert_eq!(p["role"], "operator");
    assert_eq!(p["scopes"], json!(["operator.read"]));
    assert_eq!(p["auth"], json!({"token": "secret"}));
    assert!(p.get("device").is_none());

    let id = connect["id"].as_str().unwrap();
    let out = sim.text(&frames::hello_ok(id, 4, 30_000, Some("dtok")));
    let ClientOutput::Connected(hello) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(hello.protocol, 4);
    assert_eq!(hello.tick_interval_ms, 30_000);
    assert_eq!(hello.device_token.as_deref(), Some("dtok"));
    assert!(sim.client.is_connected());
}

#[test]
fn a_node_declares_its_caps_commands_and_path_and_an_operator_does_not() {
    let node = ClientConfig {
        role: "node".into(),
        scopes: Vec::new(),
        caps: vec!["system".into()],
        commands: vec!["system.run".into(), "system.which".into()],
        path_env: Some("/usr/bin:/bin".into()),
        ..config()
    };
    let mut sim = Sim::new(node, 1, base());
    sim.text(&frames::challenge("n-1"));
    let p = &sim.sent.last().unwrap()["params"];
    assert_eq!(p["role"], "node");
    assert_eq!(p["scopes"], json!([]));
    assert_eq!(p["caps"], json!(["system"]));
    assert_eq!(p["commands"], json!(["system.run", "system.which"]));
    assert_eq!(p["pathEnv"], "/usr/bin:/bin");

    let mut sim = Sim::new(config(), 1, base());
    sim.text(&frames::challenge("n-2"));
    let p = &sim.sent.last().unwrap()["params"];
    assert_eq!(p["caps"], json!([]));
    assert!(p.get("commands").is_none() && p.get("pathEnv").is_none());
}

#[test]
fn device_identity_signs_the_challenge_nonce() {
    let key = DeviceKey::from_secret([3; 32]);
    let cfg = ClientConfig {
        device: Some(key.clone()),
        unix_ms_at_start: 1_000_000,
        ..config()
    };
    let mut sim = Sim::new(cfg, 1, base());
    sim.advance(secs(2));
    sim.text(&frames::challenge("n-7"));
    let d = &sim.sent.last().unwrap()["params"]["device"];
    assert_eq!(d["id"], key.device_id());
    assert_eq!(d["publicKey"], key.public_key_b64url());
    assert_eq!(d["nonce"], "n-7");
    assert_eq!(d["signedAt"], 1_002_000);
    assert!(d["signature"].as_str().unwrap().len() > 80);
}

#[test]
fn challenge_timeout_closes_after_15s() {
    let mut sim = Sim::new(config(), 1, base());
    assert!(sim.advance(secs(14)).is_empty());
    let out = sim.advance(secs(1));
    assert!(
        matches!(&out[0], ClientOutput::Close { code: 1008, .. }),
        "{out:?}"
    );
}

#[test]
fn requests_before_hello_are_queued_then_answered() {
    let mut sim = Sim::new(config(), 1, base());
    let id = sim
        .request("health", None, RequestOptions::default())
        .unwrap();
    assert!(sim.sent.is_empty());
    sim.handshake(30_000);
    let wire = sim
        .last_id("health")
        .expect("queued request sent after hello");
    let out = sim.text(&frames::res_ok(&wire, json!({"ok": true})));
    assert_eq!(
        out,
        vec![ClientOutput::Response {
            id,
            result: Ok(json!({"ok": true}))
        }]
    );
}

#[test]
fn gateway_error_is_a_failed_response() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    let id = sim
        .request("no.such", None, RequestOptions::default())
        .unwrap();
    let wire = sim.last_id("no.such").unwrap();
    let out = sim.text(&frames::res_err(
        &wire,
        "INVALID_REQUEST",
        "unknown method: no.such",
        None,
        None,
    ));
    let ClientOutput::Response {
        id: got,
        result: Err(CallFailure::Gateway { error, .. }),
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(*got, id);
    assert_eq!(error.message, "unknown method: no.such");
}

#[test]
fn expect_final_two_stage() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(1_000_000);
    let opts = RequestOptions {
        expect_final: true,
        timeout: Some(secs(5)),
    };
    let id = sim
        .request("agent", Some(json!({"message": "hi"})), opts)
        .unwrap();
    let wire = sim.last_id("agent").unwrap();
    let out = sim.text(&frames::res_ok(
        &wire,
        json!({"runId": "r", "status": "accepted"}),
    ));
    assert!(
        matches!(&out[0], ClientOutput::Accepted { id: i, .. } if *i == id),
        "{out:?}"
    );
    // The deadline is gone after the ack.
    assert!(sim.advance(secs(60)).is_empty());
    let out = sim.text(&frames::res_ok(
        &wire,
        json!({"runId": "r", "status": "ok"}),
    ));
    assert!(
        matches!(&out[0], ClientOutput::Response { id: i, result: Ok(_) } if *i == id),
        "{out:?}"
    );
}

#[test]
fn accepted_without_expect_final_is_the_answer() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    let id = sim
        .request("agent", None, RequestOptions::default())
        .unwrap();
    let wire = sim.last_id("agent").unwrap();
    let out = sim.text(&frames::res_ok(&wire, json!({"status": "accepted"})));
    assert!(matches!(&out[0], ClientOutput::Response { id: i, result: Ok(_) } if *i == id));
}

#[test]
fn deadline_times_out_at_30s() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(1_000_000);
    let id = sim
        .request("status", None, RequestOptions::default())
        .unwrap();
    assert!(sim.advance(Duration::from_millis(29_999)).is_empty());
    let out = sim.advance(Duration::from_millis(1));
    let ClientOutput::Response {
        id: got,
        result: Err(CallFailure::Timeout { method, after }),
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!((*got, method.as_str(), *after), (id, "status", secs(30)));
    // A late answer is ignored.
    let wire = sim.last_id("status").unwrap();
    assert!(sim.text(&frames::res_ok(&wire, json!({}))).is_empty());
}

#[test]
fn gap_is_reported_and_last_seq_resets_per_connection() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    sim.text(&frames::event("tick", json!({"ts": 1}), Some(1)));
    sim.text(&frames::event("tick", json!({"ts": 2}), Some(2)));
    let out = sim.text(&frames::event("presence", json!({}), Some(5)));
    assert_eq!(
        out[0],
        ClientOutput::Gap {
            expected: 3,
            received: 5
        }
    );
    // The gap is followed at once by a refresh of the mirrored state.
    let refreshes: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            ClientOutput::Send(bytes) => {
                Some(serde_json::from_slice::<serde_json::Value>(bytes).unwrap())
            }
            _ => None,
        })
        .map(|frame| {
            if frame["method"] == "health" {
                "health"
            } else {
                "system-presence"
            }
        })
        .collect();
    assert_eq!(refreshes, ["health", "system-presence"], "{out:?}");
    assert!(out
        .iter()
        .any(|o| matches!(o, ClientOutput::Event { seq: Some(5), .. })));
    let health = sim.last_id("health").unwrap();
    let answered = sim.text(&frames::res_ok(&health, json!({"ok": true})));
    assert!(
        matches!(&answered[..], [ClientOutput::Refreshed { method, result: Ok(_) }] if method == "health"),
        "{answered:?}"
    );
    let presence = sim.last_id("system-presence").unwrap();
    let answered = sim.text(&frames::res_ok(&presence, json!([])));
    assert!(
        matches!(&answered[..], [ClientOutput::Refreshed { method, .. }] if method == "system-presence")
    );

    // New connection: seq starts again without a gap.
    sim.closed(1012, "service restart");
    sim.advance(secs(1));
    sim.reconnected();
    sim.handshake(30_000);
    let out = sim.text(&frames::event("tick", json!({}), Some(1)));
    assert!(matches!(&out[..], [ClientOutput::Event { .. }]), "{out:?}");
}

#[test]
fn tick_timeout_then_backoff_schedule_and_reset() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(1_000);
    let out = sim.advance(Duration::from_millis(1_999));
    assert!(out.is_empty());
    let out = sim.advance(Duration::from_millis(1));
    assert_eq!(
        out[0],
        ClientOutput::Close {
            code: 4000,
            reason: "tick timeout".into()
        }
    );
    let mut delays = reconnect_delays(&out, &sim);
    // Every further attempt fails to open: 2, 4, 8, 16, 30, 30.
    for _ in 0..6 {
        let wait = secs(*delays.last().unwrap());
        sim.advance(wait);
        sim.reconnected();
        let out = sim.closed(1006, "connect ECONNREFUSED");
        delays.extend(reconnect_delays(&out, &sim));
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    // A successful hello resets the schedule.
    sim.advance(secs(30));
    sim.reconnected();
    sim.handshake(30_000);
    let out = sim.closed(1012, "service restart");
    assert_eq!(reconnect_delays(&out, &sim), [1]);
}

#[test]
fn inbound_traffic_feeds_the_watchdog() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(1_000);
    for i in 0..10 {
        sim.advance(Duration::from_millis(1_500));
        assert!(
            sim.text(&frames::event("tick", json!({}), Some(i + 1)))
                .len()
                == 1
        );
    }
    assert!(sim.client.is_connected());
}

#[test]
fn auth_failure_stops_without_retry() {
    for code in [
        "AUTH_TOKEN_MISMATCH",
        "AUTH_TOKEN_MISSING",
        "AUTH_PASSWORD_MISMATCH",
        "PAIRING_REQUIRED",
        "DEVICE_IDENTITY_REQUIRED",
    ] {
        let mut sim = Sim::new(config(), 1, base());
        let id = sim
            .request("health", None, RequestOptions::default())
            .unwrap();
        sim.text(&frames::challenge("n"));
        let wire = sim.last_id("connect").unwrap();
        let out = sim.text(&frames::res_err(
            &wire,
            "INVALID_REQUEST",
            "unauthorized",
            Some(json!({"code": code})),
            None,
        ));
        assert!(matches!(&out[0], ClientOutput::Close { .. }));
        assert!(
            matches!(&out[1], ClientOutput::Response { id: i, result: Err(CallFailure::Handshake(_)) } if *i == id),
            "{out:?}"
        );
        let ClientOutput::Disconnected { error: Some(e), .. } = out.last().unwrap() else {
            panic!("{code}: {out:?}")
        };
        assert_eq!(e.detail_code(), Some(code));
        assert!(sim.is_stopped());
        assert!(sim.advance(secs(600)).is_empty());
    }
}

#[test]
fn rate_limited_retries_after_retry_after_ms() {
    let mut sim = Sim::new(config(), 1, base());
    sim.text(&frames::challenge("n"));
    let wire = sim.last_id("connect").unwrap();
    let out = sim.text(&frames::res_err(
        &wire,
        "INVALID_REQUEST",
        "unauthorized: too many failed authentication attempts",
        Some(json!({"code": "AUTH_RATE_LIMITED"})),
        Some(7_500),
    ));
    let at = out.iter().find_map(|o| match o {
        ClientOutput::Reconnect { at } => Some(*at),
        _ => None,
    });
    assert_eq!(
        at.map(|at| at - sim.now),
        Some(Duration::from_millis(7_500))
    );
}

#[test]
fn pending_requests_fail_on_close() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    let a = sim
        .request("status", None, RequestOptions::default())
        .unwrap();
    let b = sim
        .request(
            "agent",
            None,
            RequestOptions {
                expect_final: true,
                ..Default::default()
            },
        )
        .unwrap();
    let out = sim.closed(1012, "service restart");
    for id in [a, b] {
        assert!(out.iter().any(|o| matches!(o,
            ClientOutput::Response { id: i, result: Err(f) }
                if *i == id && f.to_string() == "gateway closed (1012): service restart")));
    }
    assert!(matches!(out.last(), Some(ClientOutput::Reconnect { .. })));
}

#[test]
fn no_reconnect_mode_disconnects_on_refused_socket() {
    let cfg = ClientConfig {
        reconnect: false,
        ..config()
    };
    let mut sim = Sim::new(cfg, 1, base());
    let id = sim
        .request("health", None, RequestOptions::default())
        .unwrap();
    let out = sim.closed(1006, "connect ECONNREFUSED 127.0.0.1:1");
    assert!(
        matches!(&out[0], ClientOutput::Response { id: i, result: Err(CallFailure::Closed { code: 1006, .. }) } if *i == id)
    );
    assert!(matches!(
        out.last(),
        Some(ClientOutput::Disconnected { code: 1006, .. })
    ));
    assert!(sim
        .client
        .request::<()>("health", None, RequestOptions::default(), sim.now)
        .is_err());
}

#[test]
fn max_pending_is_a_typed_error() {
    let cfg = ClientConfig {
        max_pending: 2,
        ..config()
    };
    let mut sim = Sim::new(cfg, 1, base());
    sim.request("a", None, RequestOptions::default()).unwrap();
    sim.request("b", None, RequestOptions::default()).unwrap();
    let err = sim
        .client
        .request::<()>("c", None, RequestOptions::default(), sim.now)
        .unwrap_err();
    assert_eq!(err, gateway_proto::client::ClientError::TooManyPending(2));
}

#[test]
fn garbage_and_unknown_frames_are_ignored() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    for text in [
        "",
        "nope",
        "[]",
        "{}",
        r#"{"type":"res"}"#,
        r#"{"type":"res","id":"99:x","ok":true}"#,
        r#"{"type":"event"}"#,
        r#"{"type":"req","id":"1","method":"x"}"#,
    ] {
        assert!(sim.text(text).is_empty(), "{text}");
    }
}

#[test]
fn user_close_is_terminal() {
    let mut sim = Sim::new(config(), 1, base());
    sim.handshake(30_000);
    let id = sim
        .request("status", None, RequestOptions::default())
        .unwrap();
    sim.client.close(sim.now);
    let out = sim.drain();
    assert_eq!(
        out[0],
        ClientOutput::Close {
            code: 1000,
            reason: "client closed".into()
        }
    );
    assert!(matches!(&out[1], ClientOutput::Response { id: i, result: Err(_) } if *i == id));
    assert!(matches!(&out[2], ClientOutput::Disconnected { .. }));
    assert!(sim
        .text(&frames::event("tick", json!({}), Some(9)))
        .is_empty());
}
