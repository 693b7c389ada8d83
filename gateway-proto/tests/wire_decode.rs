//! Decoding and validation against the captured reference answers.

use std::borrow::Cow;

use gateway_proto::wire::{
    self, decode_inbound, decode_request, decode_request_for, encode_event, encode_request,
    encode_response_err, encode_response_ok, peek_protocol_range, ConnectParams, ErrorShape,
    InboundDecodeError, InboundFrame, ProtocolVersion, RequestDecodeError, StateVersion,
};
use proptest::prelude::*;
use serde_json::json;
use serde_json::value::RawValue;

fn invalid(text: &str) -> (Option<String>, String) {
    match decode_request(text) {
        Err(RequestDecodeError::Invalid { id, detail }) => (id, detail),
        other => panic!("expected Invalid for {text}: {other:?}"),
    }
}

#[test]
fn bogus_frame_reads_as_the_v4_reference() {
    // v4-server/*: only the first missing property is named.
    let (id, detail) = invalid(r#"{"type":"bogus","foo":1}"#);
    assert_eq!(id, None);
    assert_eq!(
        detail,
        "must have required property 'id'; at root: unexpected property 'foo'; at /type: must be equal to constant"
    );
}

#[test]
fn bogus_frame_reads_as_the_v3_reference() {
    // v3-server/*: Ajv names every missing property.
    match decode_request_for(r#"{"type":"bogus","foo":1}"#, ProtocolVersion::V3) {
        Err(RequestDecodeError::Invalid { detail, .. }) => assert_eq!(
            detail,
            "must have required property 'id'; must have required property 'method'; at root: unexpected property 'foo'; at /type: must be equal to constant"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn not_json_is_not_json() {
    for text in ["this is not json{", "", "{", "\u{0}", "[1,]"] {
        assert_eq!(
            decode_request(text).unwrap_err(),
            RequestDecodeError::NotJson,
            "{text:?}"
        );
    }
}

#[test]
fn valid_request_borrows_everything() {
    let text =
        r#"{"type":"req","id":"r1","method":"health","params":{"a":[1,2]},"traceparent":"00-abc"}"#;
    let frame = decode_request(text).unwrap();
    assert!(matches!(frame.id, Cow::Borrowed("r1")));
    assert!(matches!(frame.method, Cow::Borrowed("health")));
    assert!(matches!(frame.traceparent, Some(Cow::Borrowed("00-abc"))));
    assert_eq!(frame.params.map(RawValue::get), Some(r#"{"a":[1,2]}"#));
}

#[test]
fn escaped_strings_are_unescaped() {
    let frame = decode_request(r#"{"type":"r\u0065q","id":"a\"b","method":"m"}"#).unwrap();
    assert_eq!(frame.id, "a\"b");
    assert!(frame.params.is_none());
}

#[test]
fn request_field_rules() {
    assert_eq!(
        invalid(r#"{"type":"req","id":"","method":"m"}"#).1,
        "at /id: must not have fewer than 1 characters"
    );
    let (id, detail) = invalid(r#"{"type":"req","id":"x","method":""}"#);
    assert_eq!(id.as_deref(), Some("x"));
    assert_eq!(detail, "at /method: must not have fewer than 1 characters");
    let long = "t".repeat(129);
    assert_eq!(
        invalid(&format!(
            r#"{{"type":"req","id":"x","method":"m","traceparent":"{long}"}}"#
        ))
        .1,
        "at /traceparent: must not have more than 128 characters"
    );
    assert!(decode_request(&format!(
        r#"{{"type":"req","id":"x","method":"m","traceparent":"{}"}}"#,
        "t".repeat(128)
    ))
    .is_ok());
    assert_eq!(
        invalid(r#"{"type":"req","id":5,"method":"m"}"#).1,
        "at /id: must be string"
    );
    assert_eq!(invalid("[]").1, "must be object");
    assert_eq!(invalid("null").1, "must be object");
    assert_eq!(invalid(r#"["req","x","m"]"#).1, "must be object");
    // v3 has no traceparent.
    match decode_request_for(
        r#"{"type":"req","id":"x","method":"m","traceparent":"t"}"#,
        ProtocolVersion::V3,
    ) {
        Err(RequestDecodeError::Invalid { detail, .. }) => {
            assert_eq!(detail, "at root: unexpected property 'traceparent'")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_properties_in_sender_order() {
    let (_, detail) = invalid(r#"{"type":"req","id":"x","method":"m","zeta":1,"alpha":2}"#);
    assert_eq!(detail, "at root: unexpected property 'zeta'");
}

#[test]
fn deep_nesting_does_not_overflow() {
    let deep = format!(
        r#"{{"type":"req","id":"x","method":"m","params":{}{}}}"#,
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    // Raw params are skipped without recursion, so the frame itself may
    // decode; what matters is that nothing overflows, and that reading the
    // params further is refused by serde_json's depth limit.
    if let Ok(frame) = decode_request(&deep) {
        let params = frame.params.unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(params.get()).is_err());
        assert!(ConnectParams::parse(Some(params), ProtocolVersion::V4).is_err());
    }
    let _ = decode_inbound(&deep);
    let deep_object = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert_eq!(
        decode_request(&deep_object).unwrap_err(),
        RequestDecodeError::NotJson
    );
    assert_eq!(
        decode_inbound(&deep_object).unwrap_err(),
        InboundDecodeError::NotJson
    );
}

#[test]
fn logs_tail_limit_message() {
    let err =
        wire::validate(&json!({"limit": "ten"}), &wire::schemas::LOGS_TAIL_PARAMS).unwrap_err();
    assert_eq!(err.to_string(), "at /limit: must be integer");
    let err = wire::validate_with(
        &json!({"limit": "ten"}),
        &wire::schemas::LOGS_TAIL_PARAMS,
        wire::Dialect::Ajv,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "at /limit: must be integer");
    assert_eq!(
        wire::validate(
            &json!({"limit": 0, "maxBytes": 2_000_000}),
            &wire::schemas::LOGS_TAIL_PARAMS
        )
        .unwrap_err()
        .to_string(),
        "at /limit: must be >= 1; at /maxBytes: must be <= 1000000"
    );
}

fn raw(v: serde_json::Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).unwrap()
}

fn connect_v4() -> serde_json::Value {
    json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "displayName": "wire-capture", "version": "0.0.1", "platform": "linux", "mode": "cli", "instanceId": "wire-capture-1"},
        "role": "operator", "scopes": ["operator.admin", "operator.read", "operator.write"], "caps": [],
        "auth": {"token": "test"}
    })
}

fn connect_err(v: serde_json::Value, version: ProtocolVersion) -> String {
    ConnectParams::parse(Some(&raw(v)), version).unwrap_err()
}

#[test]
fn connect_transcript_messages() {
    let mut bad_id = connect_v4();
    bad_id["client"]["id"] = json!("my-rust-client");
    assert_eq!(
        connect_err(bad_id, ProtocolVersion::V4),
        "at /client/id: must be equal to one of the allowed values"
    );
    let mut bad_mode = connect_v4();
    bad_mode["client"]["mode"] = json!("operator");
    assert_eq!(
        connect_err(bad_mode, ProtocolVersion::V4),
        "at /client/mode: must be equal to one of the allowed values"
    );
    let mut extra = connect_v4();
    extra["bogusField"] = json!(1);
    assert_eq!(
        connect_err(extra, ProtocolVersion::V4),
        "at root: unexpected property 'bogusField'"
    );
    assert_eq!(
        ConnectParams::parse(None, ProtocolVersion::V4).unwrap_err(),
        "must be object"
    );
}

#[test]
fn connect_parses_fields() {
    let mut v = connect_v4();
    v["device"] = json!({"id": "d", "publicKey": "k", "signature": "s", "signedAt": 1795501773704u64, "nonce": "n"});
    v["permissions"] = json!({"camera": true});
    v["client"]["buildId"] = json!("b");
    v["client"]["timeZone"] = json!("Europe/Paris");
    v["computerUse"] = json!({"anything": [1]});
    v["modelCatalog"] = json!({"shortId": "x"});
    v["auth"]["approvalRuntimeToken"] = json!("t");
    v["workerRuns"] =
        json!({"bundleHash": "a".repeat(64), "openclawVersion": "1", "protocolFeatures": ["f"]});
    let p = ConnectParams::parse(Some(&raw(v)), ProtocolVersion::V4).unwrap();
    assert_eq!((p.min_protocol, p.max_protocol), (4, 4));
    assert_eq!(p.client.id, "cli");
    assert_eq!(p.client.instance_id.as_deref(), Some("wire-capture-1"));
    assert_eq!(
        p.scopes,
        ["operator.admin", "operator.read", "operator.write"]
    );
    assert_eq!(p.auth.token.as_deref(), Some("test"));
    assert_eq!(p.role.as_deref(), Some("operator"));
    assert_eq!(p.permissions.get("camera"), Some(&true));
    let d = p.device.unwrap();
    assert_eq!(
        (d.signed_at, d.nonce.as_deref()),
        (1795501773704, Some("n"))
    );
}

#[test]
fn connect_version_differences() {
    // v4-only fields are unknown to the v3 schema (and named one by one there).
    let mut v = connect_v4();
    v["client"]["timeZone"] = json!("UTC");
    v["computerUse"] = json!(true);
    assert_eq!(
        connect_err(v.clone(), ProtocolVersion::V3),
        "at root: unexpected property 'computerUse'; at /client: unexpected property 'timeZone'"
    );
    assert!(ConnectParams::parse(Some(&raw(v)), ProtocolVersion::V4).is_ok());
    let mut linux = connect_v4();
    linux["client"]["id"] = json!("openclaw-linux");
    assert!(ConnectParams::parse(Some(&raw(linux.clone())), ProtocolVersion::V4).is_ok());
    assert_eq!(
        connect_err(linux, ProtocolVersion::V3),
        "at /client/id: must be equal to one of the allowed values"
    );
    let mut long = connect_v4();
    long["client"]["buildId"] = json!("b".repeat(97));
    long["client"]["timeZone"] = json!("z".repeat(65));
    assert_eq!(
        connect_err(long, ProtocolVersion::V4),
        "at /client/buildId: must not have more than 96 characters; at /client/timeZone: must not have more than 64 characters"
    );
    let mut missing = connect_v4();
    missing.as_object_mut().unwrap().remove("minProtocol");
    missing.as_object_mut().unwrap().remove("maxProtocol");
    assert_eq!(
        connect_err(missing.clone(), ProtocolVersion::V4),
        "must have required property 'minProtocol'"
    );
    assert_eq!(
        connect_err(missing, ProtocolVersion::V3),
        "must have required property 'minProtocol'; must have required property 'maxProtocol'"
    );
    let mut bad_hash = connect_v4();
    bad_hash["workerRuns"] = json!({"bundleHash": "G".repeat(64), "openclawVersion": "1", "protocolFeatures": ["f", "f"]});
    assert_eq!(
        connect_err(bad_hash, ProtocolVersion::V4),
        "at /workerRuns/bundleHash: must match pattern \"^[a-f0-9]{64}$\"; at /workerRuns/protocolFeatures: must not have duplicate items"
    );
    let mut catalog = connect_v4();
    catalog["modelCatalog"] = json!({"slugHint": "x"});
    assert_eq!(
        connect_err(catalog, ProtocolVersion::V4),
        "at /modelCatalog: unexpected property 'slugHint'; at /modelCatalog: must have required property 'shortId'; at /modelCatalog: must match a schema in anyOf"
    );
}

#[test]
fn peek_range() {
    assert_eq!(
        peek_protocol_range(Some(&raw(json!({"minProtocol": 3, "maxProtocol": 4})))),
        Some((3, 4))
    );
    assert_eq!(
        peek_protocol_range(Some(&raw(json!({"minProtocol": 3.0, "maxProtocol": 4})))),
        Some((3, 4))
    );
    assert_eq!(
        peek_protocol_range(Some(&raw(json!({"minProtocol": -1, "maxProtocol": 4})))),
        None
    );
    assert_eq!(
        peek_protocol_range(Some(&raw(json!({"maxProtocol": 4})))),
        None
    );
    assert_eq!(peek_protocol_range(Some(&raw(json!([1, 2])))), None);
    assert_eq!(peek_protocol_range(None), None);
}

#[test]
fn inbound_frames() {
    let mut buf = Vec::new();
    let ok = encode_response_ok(&mut buf, "r1", &json!({"x": 1}));
    match decode_inbound(std::str::from_utf8(&ok).unwrap()).unwrap() {
        InboundFrame::Response(r) => {
            assert!(r.ok);
            assert_eq!(r.id, "r1");
            assert_eq!(r.payload.map(RawValue::get), Some(r#"{"x":1}"#));
        }
        other => panic!("{other:?}"),
    }
    let err = encode_response_err::<()>(
        &mut buf,
        "r2",
        &ErrorShape::invalid_request("bad").with_retry_after(5),
        None,
    );
    match decode_inbound(std::str::from_utf8(&err).unwrap()).unwrap() {
        InboundFrame::Response(r) => assert_eq!(r.error.unwrap().retry_after_ms, Some(5)),
        other => panic!("{other:?}"),
    }
    let sv = StateVersion {
        presence: 2,
        health: 3,
    };
    let ev = wire::OutFrame::sequenced(
        encode_event(&mut buf, "presence", Some(&json!([])), Some(sv), true),
        7,
    );
    match decode_inbound(&ev.to_text()).unwrap() {
        InboundFrame::Event(e) => {
            assert_eq!(
                (e.event.as_ref(), e.seq, e.state_version),
                ("presence", Some(7), Some(sv))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_inbound(r#"{"type":"event","event":"tick","seq":-1}"#).unwrap_err(),
        InboundDecodeError::Invalid("at /seq: must be >= 0".into())
    );
    assert_eq!(
        decode_inbound(r#"{"type":"res","id":"x","ok":true,"method":"m"}"#).unwrap_err(),
        InboundDecodeError::Invalid("at root: unexpected property 'method'".into())
    );
    assert_eq!(
        decode_inbound(r#"{"type":"res","id":"x","ok":false,"error":{"code":"X"}}"#).unwrap_err(),
        InboundDecodeError::Invalid("at /error: must have required property 'message'".into())
    );
    assert!(matches!(
        decode_inbound(r#"{"type":"req","id":"x","method":"m"}"#),
        Ok(InboundFrame::Request(_))
    ));
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("req".to_owned()),
            Just("res".to_owned()),
            Just("event".to_owned()),
            ".{0,8}"
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("id".to_owned()),
                        Just("method".to_owned()),
                        Just("params".to_owned()),
                        Just("ok".to_owned()),
                        Just("seq".to_owned()),
                        Just("event".to_owned()),
                        Just("error".to_owned()),
                        ".{0,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoders_never_panic_on_strings(text in ".{0,200}") {
        let _ = decode_request(&text);
        let _ = decode_request_for(&text, ProtocolVersion::V3);
        let _ = decode_inbound(&text);
        if let Ok(raw) = RawValue::from_string(text.clone()) {
            let _ = ConnectParams::parse(Some(&raw), ProtocolVersion::V3);
            let _ = ConnectParams::parse(Some(&raw), ProtocolVersion::V4);
            let _ = peek_protocol_range(Some(&raw));
        }
    }

    #[test]
    fn decoders_never_panic_on_json(value in arb_json()) {
        let text = value.to_string();
        let decoded = decode_request(&text);
        // Any failure on JSON text is a validation failure with a message.
        if let Err(e) = decoded {
            match e {
                RequestDecodeError::Invalid { detail, .. } => prop_assert!(!detail.is_empty()),
                RequestDecodeError::NotJson => prop_assert!(false, "JSON text reported as not JSON: {}", text),
            }
        }
        let _ = decode_inbound(&text);
        let raw = RawValue::from_string(text).unwrap();
        let _ = ConnectParams::parse(Some(&raw), ProtocolVersion::V4);
    }

    #[test]
    fn encoded_requests_round_trip(id in "\\PC{1,20}", method in "\\PC{1,20}", params in proptest::option::of(arb_json())) {
        let mut buf = Vec::new();
        let bytes = encode_request(&mut buf, &id, &method, params.as_ref());
        let text = std::str::from_utf8(&bytes).unwrap();
        let frame = decode_request(text).unwrap();
        prop_assert_eq!(frame.id.as_ref(), id.as_str());
        prop_assert_eq!(frame.method.as_ref(), method.as_str());
        // Raw params are the encoded text itself; `params: null` decodes as absent.
        let expected = params.filter(|p| !p.is_null()).map(|p| p.to_string());
        prop_assert_eq!(frame.params.map(|p| p.get().to_owned()), expected);
        match decode_inbound(text).unwrap() {
            InboundFrame::Request(r) => prop_assert_eq!(r.id.as_ref(), id.as_str()),
            _ => prop_assert!(false),
        }
    }
}
