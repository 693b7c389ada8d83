//! Frames we encode must validate against the reference JSON schemas, and
//! our static schemas must agree with those files. The files live in the
//! shared checkout next to the repository; without them the tests print a
//! note and pass.
//!
//! The checker below is a deliberately small JSON-schema evaluator for the
//! keywords the reference files use in these definitions (a full validator
//! crate would dominate build time for this one test).

use gateway_proto::wire::{
    self, encode_event, encode_request, encode_response_err, encode_response_ok, ConnectParams,
    Dialect, ErrorCode, ErrorShape, OutFrame, ProtocolVersion, StateVersion, CLIENT_IDS_V3,
    CLIENT_IDS_V4, CLIENT_MODES_V3, CLIENT_MODES_V4,
};
use serde_json::value::RawValue;
use serde_json::{json, Value};

mod common;
use common::schema::{conforms, def, load, V3, V4};

fn frames() -> Vec<(&'static str, String)> {
    let mut buf = Vec::new();
    let text = |b: bytes::Bytes| String::from_utf8(b.to_vec()).unwrap();
    let error = ErrorShape::new(ErrorCode::Unavailable, "gateway starting; retry shortly")
        .with_details(json!({"code": "X"}))
        .with_retry_after(500);
    vec![
        (
            "RequestFrame",
            text(encode_request(
                &mut buf,
                "c1",
                "connect",
                Some(&json!({"a": 1})),
            )),
        ),
        (
            "RequestFrame",
            text(encode_request::<()>(&mut buf, "r\"2", "health", None)),
        ),
        (
            "ResponseFrame",
            text(encode_response_ok(
                &mut buf,
                "c1",
                &json!({"type": "hello-ok"}),
            )),
        ),
        (
            "ResponseFrame",
            text(encode_response_err::<()>(&mut buf, "x", &error, None)),
        ),
        (
            "ResponseFrame",
            text(encode_response_err(
                &mut buf,
                "x",
                &ErrorShape::invalid_request("m"),
                Some(&json!({"runId": "r"})),
            )),
        ),
        (
            "EventFrame",
            text(encode_event(
                &mut buf,
                "connect.challenge",
                Some(&json!({"nonce": "n", "ts": 1})),
                None,
                false,
            )),
        ),
        (
            "EventFrame",
            OutFrame::sequenced(
                encode_event(
                    &mut buf,
                    "presence",
                    Some(&json!({"presence": []})),
                    Some(StateVersion {
                        presence: 1,
                        health: 2,
                    }),
                    true,
                ),
                u64::MAX,
            )
            .to_text(),
        ),
        (
            "EventFrame",
            OutFrame::sequenced(encode_event::<()>(&mut buf, "tick", None, None, true), 0)
                .to_text(),
        ),
    ]
}

#[test]
fn encoded_frames_validate_against_both_schema_files() {
    for path in [V3, V4] {
        let Some(schema) = load(path) else { return };
        for (name, frame) in frames() {
            let value: Value = serde_json::from_str(&frame).unwrap();
            assert!(
                conforms(&value, def(&schema, name)),
                "{path}: {name} {frame}"
            );
            assert!(
                conforms(&value, def(&schema, "GatewayFrame")),
                "{path}: GatewayFrame {frame}"
            );
            // And our own decoder and validator agree.
            assert!(wire::decode_inbound(&frame).is_ok(), "{frame}");
        }
    }
}

#[test]
fn client_enums_match_the_schema_files() {
    for (path, ids, modes) in [
        (V3, CLIENT_IDS_V3, CLIENT_MODES_V3),
        (V4, CLIENT_IDS_V4, CLIENT_MODES_V4),
    ] {
        let Some(schema) = load(path) else { return };
        let client = &def(&schema, "ConnectParams")["properties"]["client"]["properties"];
        assert_eq!(client["id"]["enum"], json!(ids), "{path}");
        assert_eq!(client["mode"]["enum"], json!(modes), "{path}");
    }
}

/// Our static schemas accept exactly what the files accept, on a corpus of
/// near-miss frames and connect params.
#[test]
fn static_schemas_agree_with_the_files() {
    let requests = [
        json!({"type": "req", "id": "1", "method": "m"}),
        json!({"type": "req", "id": "1", "method": "m", "params": null, "traceparent": "t"}),
        json!({"type": "req", "id": "1", "method": "m", "expectedProfileId": ""}),
        json!({"type": "req", "id": "", "method": "m"}),
        json!({"type": "res", "id": "1", "method": "m"}),
        json!({"type": "req", "id": 1, "method": "m"}),
        json!({"type": "req", "id": "1"}),
        json!({"type": "req", "id": "1", "method": "m", "x": 1}),
        json!([]),
    ];
    let events = [
        json!({"type": "event", "event": "tick", "seq": 0}),
        json!({"type": "event", "event": "tick", "seq": -1}),
        json!({"type": "event", "event": "tick", "seq": 1.5}),
        json!({"type": "event", "event": "", "seq": 1}),
        json!({"type": "event", "event": "p", "stateVersion": {"presence": 1}}),
        json!({"type": "event", "event": "p", "stateVersion": {"presence": 1, "health": 2, "x": 3}}),
        json!({"type": "event", "event": "p", "recipientProfileId": "r"}),
    ];
    let base = json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}
    });
    let with = |path: &[&str], v: Value| {
        let mut o = base.clone();
        let mut cur = &mut o;
        for key in &path[..path.len() - 1] {
            cur = &mut cur[*key];
        }
        cur[path[path.len() - 1]] = v;
        o
    };
    let connects = [
        base.clone(),
        with(&["client", "id"], json!("openclaw-linux")),
        with(&["client", "mode"], json!("worker")),
        with(&["client", "timeZone"], json!("UTC")),
        with(&["client", "buildId"], json!("b".repeat(97))),
        with(&["client", "displayName"], json!("")),
        with(&["minProtocol"], json!(0)),
        with(&["caps"], json!(["", "x"])),
        with(&["permissions"], json!({"a": true, "b": 1})),
        with(&["pathEnv"], json!("")),
        with(&["role"], json!("")),
        with(
            &["device"],
            json!({"id": "d", "publicKey": "k", "signature": "s", "signedAt": 1, "nonce": "n"}),
        ),
        with(
            &["device"],
            json!({"id": "d", "publicKey": "k", "signature": "s", "signedAt": -1, "nonce": "n"}),
        ),
        with(&["auth"], json!({"token": "", "approvalRuntimeToken": "x"})),
        with(&["auth"], json!({"token": 1})),
        with(&["computerUse"], json!([1])),
        with(&["modelCatalog"], json!({"agentId": "a"})),
        with(&["modelCatalog"], json!({"slugHint": "a"})),
        with(
            &["workerRuns"],
            json!({"bundleHash": "a".repeat(64), "openclawVersion": "1", "protocolFeatures": []}),
        ),
        with(
            &["workerRuns"],
            json!({"bundleHash": "a", "openclawVersion": "1", "protocolFeatures": []}),
        ),
        with(&["locale"], json!(5)),
        with(&["extra"], json!(5)),
        json!("x"),
    ];
    for (path, version) in [(V3, ProtocolVersion::V3), (V4, ProtocolVersion::V4)] {
        let Some(schema) = load(path) else { return };
        let dialect = Dialect::for_protocol(version);
        for value in &requests {
            let ours =
                wire::validate_with(value, wire::schemas::request_frame(version), dialect).is_ok();
            assert_eq!(
                ours,
                conforms(value, def(&schema, "RequestFrame")),
                "{path}: {value}"
            );
            let text = value.to_string();
            assert_eq!(
                wire::decode_request_for(&text, version).is_ok(),
                ours,
                "{path}: {value}"
            );
        }
        for value in &events {
            let ours =
                wire::validate_with(value, wire::schemas::event_frame(version), dialect).is_ok();
            assert_eq!(
                ours,
                conforms(value, def(&schema, "EventFrame")),
                "{path}: {value}"
            );
            let decoded = wire::decode_inbound_for(&value.to_string(), version).is_ok();
            // The typed decoder reads `seq` as u64, so 1.5 is refused there too.
            assert_eq!(decoded, ours, "{path}: {value}");
        }
        for value in &connects {
            let expected = conforms(value, def(&schema, "ConnectParams"));
            let ours =
                wire::validate_with(value, wire::schemas::connect_params(version), dialect).is_ok();
            assert_eq!(ours, expected, "{path}: {value}");
            let raw = RawValue::from_string(value.to_string()).unwrap();
            assert_eq!(
                ConnectParams::parse(Some(&raw), version).is_ok(),
                expected,
                "{path}: {value}"
            );
        }
    }
}
