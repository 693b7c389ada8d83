//! Every frame our gateway emits in a full session (challenge, hello-ok,
//! responses of every served method, errors, tick/health/presence/shutdown
//! events) validates against the reference schema of its protocol version.

mod common;

use std::time::Duration;

use gateway_proto::time::Timestamp;

use common::schema::{conforms, def, load, V3, V4};
use gateway_proto::gateway::{AuthConfig, Config, HostInfo, Input, LogSlice};
use gateway_proto::testing::{Harness, Seen};
use gateway_proto::ConnId;
use serde_json::Value;

#[allow(clippy::disallowed_methods)] // tests need one real base instant
fn start() -> Timestamp {
    Timestamp::ZERO
}

fn connect(id: &str, min: u32, max: u32, mode: &str, client_id: &str) -> String {
    format!(
        r#"{{"type":"req","id":"{id}","method":"connect","params":{{"minProtocol":{min},"maxProtocol":{max},"client":{{"id":"{client_id}","version":"1.0.0","platform":"linux","mode":"{mode}","instanceId":"inst-{id}"}},"role":"operator","scopes":["operator.admin"],"auth":{{"token":"t"}}}}}}"#
    )
}

/// Run a session on two connections (one v4, one v3) and return the frames each got.
fn session() -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token("t".into()))
        .with_server_version("1.2.3".into())
        .with_host(HostInfo {
            hostname: "box".into(),
            ip: Some("192.0.2.7".into()),
            platform: "linux 6.1".into(),
            device_family: "Linux".into(),
        })
        .with_config_path(Some("/tmp/x/openclaw.json".into()))
        .with_state_dir(Some("/tmp/x".into()));
    let mut h = Harness::new(config, start(), 1_800_000_000_000);
    h.logs = Some(LogSlice {
        file: "/tmp/openclaw/openclaw-2026-11-25.log".into(),
        cursor: 120,
        size: 120,
        lines: vec![r#"{"time":"2026-11-25T00:00:00.000Z","level":"info","message":"hi"}"#.into()],
        truncated: true,
        reset: false,
    });
    for (conn, min, max, client) in [
        (ConnId(4), 4, 4, "gateway-client"),
        (ConnId(3), 3, 3, "gateway-client"),
    ] {
        h.open(conn, "127.0.0.1");
        h.text(conn, &connect("c1", min, max, "backend", client));
        for (i, method) in [
            "health",
            "status",
            "system-presence",
            "last-heartbeat",
            "logs.tail",
            "no.such",
            "connect",
        ]
        .iter()
        .enumerate()
        {
            h.text(
                conn,
                &format!(r#"{{"type":"req","id":"r{i}","method":"{method}","params":{{}}}}"#),
            );
        }
        h.text(conn, r#"{"type":"req","id":"e1","method":"system-event","params":{"text":"hello","instanceId":"x1"}}"#);
        h.text(
            conn,
            r#"{"type":"req","id":"bad","method":"logs.tail","params":{"limit":"ten"}}"#,
        );
        h.text(conn, r#"{"type":"bogus","foo":1}"#);
    }
    h.advance_ms(31_000);
    h.advance_ms(61_000);
    h.input(Input::Shutdown {
        reason: Some("bye"),
        restart_expected_ms: Some(1000),
    });
    h.advance_ms(10);
    let _ = Duration::ZERO;
    h
}

fn check(schema: &Value, frame: &Value, version: &str) {
    let kind = frame["type"].as_str().unwrap_or_default();
    let frame_def = match kind {
        "res" => "ResponseFrame",
        "event" => "EventFrame",
        other => panic!("unexpected frame type {other}: {frame}"),
    };
    assert!(
        conforms(frame, def(schema, frame_def)),
        "{version}: {frame_def} rejects {frame}"
    );
    if let Some(error) = frame.get("error") {
        assert!(
            conforms(error, def(schema, "ErrorShape")),
            "{version}: ErrorShape rejects {error}"
        );
    }
    let payload = &frame["payload"];
    if payload["type"] == "hello-ok" {
        assert!(
            conforms(payload, def(schema, "HelloOk")),
            "{version}: HelloOk rejects {payload}"
        );
    }
    let payload_def = match frame["event"].as_str() {
        Some("tick") => Some("TickEvent"),
        Some("shutdown") => Some("ShutdownEvent"),
        _ => None,
    };
    if let Some(name) = payload_def {
        assert!(
            conforms(payload, def(schema, name)),
            "{version}: {name} rejects {payload}"
        );
    }
    if frame["event"] == "presence" {
        for entry in payload["presence"].as_array().expect("presence list") {
            assert!(
                conforms(entry, def(schema, "PresenceEntry")),
                "{version}: PresenceEntry rejects {entry}"
            );
        }
    }
    if let Some(file) = payload.get("file") {
        assert!(file.is_string());
        assert!(
            conforms(payload, def(schema, "LogsTailResult")),
            "{version}: LogsTailResult rejects {payload}"
        );
    }
}

#[test]
fn every_frame_of_a_session_validates() {
    let (Some(v4), Some(v3)) = (load(V4), load(V3)) else {
        return;
    };
    let h = session();
    let mut counted = [0usize; 2];
    for seen in &h.seen {
        let Seen::Frame { conn, frame, .. } = seen else {
            continue;
        };
        let (schema, name, slot) = if *conn == ConnId(4) {
            (&v4, "v4", 0)
        } else {
            (&v3, "v3", 1)
        };
        check(schema, frame, name);
        counted[slot] += 1;
    }
    assert!(
        counted.iter().all(|n| *n > 12),
        "both sessions produced frames: {counted:?}"
    );
    let events: Vec<&str> = h
        .frames(ConnId(4))
        .iter()
        .filter_map(|f| f["event"].as_str())
        .collect();
    for needed in [
        "connect.challenge",
        "presence",
        "health",
        "tick",
        "shutdown",
    ] {
        assert!(
            events.contains(&needed),
            "session covered {needed}: {events:?}"
        );
    }
}
