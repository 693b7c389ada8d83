//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` are one-line
//! shims), callable from normal tests to replay committed seeds.
//!
//! Each function panics on a violated invariant and returns normally otherwise.
//! The stateful ones take the base `Timestamp` of their virtual clock from the
//! caller: the core never reads the clock, not even in its test code.

use crate::time::Timestamp;

use super::conn_model::ConnSim;
use super::model::GatewaySim;
use super::ops::ByteReader;
use crate::wire::{
    decode_inbound, decode_inbound_for, decode_request, decode_request_for, encode_request,
    InboundFrame, ProtocolVersion, RequestDecodeError,
};

/// Longest op sequence one input drives.
pub const MAX_OPS: usize = 256;

/// Bytes → every decoder: no panic, and what decodes is well-formed.
pub fn decode(data: &[u8], _base: Timestamp) {
    let text = String::from_utf8_lossy(data);
    for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
        match decode_request_for(&text, version) {
            Ok(request) => {
                assert!(!request.id.is_empty(), "decoded request with an empty id");
                assert!(
                    !request.method.is_empty(),
                    "decoded request with an empty method"
                );
            }
            Err(RequestDecodeError::NotJson) => {}
            Err(RequestDecodeError::Invalid { id, detail }) => {
                assert!(!detail.is_empty(), "invalid request without a detail");
                assert!(id.is_none_or(|id| !id.is_empty()));
            }
        }
        let _ = decode_inbound_for(&text, version);
    }
    let _ = decode_request(&text);
    if let Ok(InboundFrame::Request(request)) = decode_inbound(&text) {
        // A request by the generic decoder is a request by the server's.
        let direct = decode_request(&text);
        assert!(
            direct.is_ok(),
            "decode_inbound accepts a request decode_request refuses: {text:?} ({direct:?}, {request:?})"
        );
    }
}

/// A decoded request, re-encoded, decodes to the same id, method and params.
pub fn roundtrip(data: &[u8], _base: Timestamp) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = decode_request(text) else {
        return;
    };
    let mut buf = Vec::new();
    let encoded = encode_request(&mut buf, &request.id, &request.method, request.params);
    let encoded = match std::str::from_utf8(&encoded) {
        Ok(s) => s.to_owned(),
        Err(e) => panic!("encode_request wrote invalid UTF-8: {e}"),
    };
    let again = match decode_request(&encoded) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded request does not decode: {e:?}\n in: {text}\nout: {encoded}"),
    };
    assert_eq!(again.id, request.id, "id changed: {text} -> {encoded}");
    assert_eq!(
        again.method, request.method,
        "method changed: {text} -> {encoded}"
    );
    assert_eq!(
        again.params.map(|p| p.get()),
        request.params.map(|p| p.get()),
        "params changed: {text} -> {encoded}"
    );
    // The generic decoder agrees.
    match decode_inbound(&encoded) {
        Ok(InboundFrame::Request(r)) => assert_eq!(r.id, request.id),
        other => panic!("decode_inbound of {encoded}: {other:?}"),
    }
}

/// One `ServerConnection`, ops and time steps chosen by the input.
pub fn server_connection(data: &[u8], base: Timestamp) {
    let mut reader = ByteReader::new(data);
    let params = reader.params();
    let mut sim = ConnSim::new(params, base);
    for _ in 0..MAX_OPS {
        if reader.is_empty() {
            break;
        }
        let op = reader.conn_op();
        sim.apply(op);
    }
}

/// The hub with up to four connections, the same ops as the proptest.
pub fn gateway(data: &[u8], base: Timestamp) {
    let mut reader = ByteReader::new(data);
    let params = reader.params();
    let mut sim = GatewaySim::new(params, base);
    for _ in 0..MAX_OPS {
        if reader.is_empty() {
            break;
        }
        let op = reader.op();
        sim.apply(op);
    }
    sim.check();
}

/// One `ClientConnection` against a fuzz-scripted gateway: challenges,
/// hello-oks, answers to real and made-up ids, events with arbitrary seqs,
/// garbage, closes, reconnects, requests and time steps. The client's own
/// invariants (each request answered once, nothing after `Disconnected`,
/// `poll_timeout` never in the past) are checked by `client::testing::Sim`;
/// at the end, closing the client must leave no request unanswered.
pub fn client_connection(data: &[u8], base: Timestamp) {
    use crate::client::testing::{frames, Sim};
    use crate::client::{ClientAuth, ClientConfig, RequestOptions};
    use serde_json::json;
    use std::time::Duration;

    let mut reader = ByteReader::new(data);
    let config = ClientConfig {
        auth: ClientAuth {
            token: Some("t".into()),
            ..ClientAuth::default()
        },
        max_pending: 1 + usize::from(reader.below(8)),
        ..ClientConfig::default()
    };
    let mut sim = Sim::new(config, reader.byte(), base);
    let sent_id = |sim: &Sim, pick: u8| -> String {
        let ids: Vec<&str> = sim.sent.iter().filter_map(|f| f["id"].as_str()).collect();
        match ids.len() {
            0 => "none".to_owned(),
            n => ids[usize::from(pick) % n].to_owned(),
        }
    };
    for _ in 0..MAX_OPS {
        if reader.is_empty() {
            break;
        }
        match reader.below(12) {
            0 => {
                sim.text(&frames::challenge(if reader.bool() { "n1" } else { "" }));
            }
            1 => {
                let id = sim.last_id("connect").unwrap_or_else(|| "c".to_owned());
                let tick = u64::from(reader.u16()) * 10;
                sim.text(&frames::hello_ok(
                    &id,
                    3 + u64::from(reader.below(2)),
                    tick,
                    None,
                ));
            }
            2 => {
                let id = sent_id(&sim, reader.byte());
                sim.text(&frames::res_ok(&id, json!({"ok": true})));
            }
            3 => {
                let id = sent_id(&sim, reader.byte());
                let code = [
                    "AUTH_TOKEN_MISMATCH",
                    "PAIRING_REQUIRED",
                    "AUTH_RATE_LIMITED",
                    "X",
                ][usize::from(reader.below(4))];
                let error = json!({"code": "INVALID_REQUEST", "message": "no", "details": {"code": code}, "retryAfterMs": reader.u16()});
                sim.text(
                    &json!({"type": "res", "id": id, "ok": false, "error": error}).to_string(),
                );
            }
            4 => {
                let id = sent_id(&sim, reader.byte());
                sim.text(&frames::res_ok(
                    &id,
                    json!({"status": "accepted", "runId": "r"}),
                ));
            }
            5 => {
                let seq = u64::from(reader.u16());
                sim.text(&frames::event(
                    "tick",
                    json!({"ts": 1}),
                    reader.bool().then_some(seq),
                ));
            }
            6 => {
                let garbage =
                    String::from_utf8_lossy(&[reader.byte(), reader.byte(), reader.byte()])
                        .into_owned();
                sim.text(&garbage);
            }
            7 => {
                sim.closed(1000 + u16::from(reader.below(20)), "fuzz");
            }
            8 => {
                sim.reconnected();
            }
            9 | 10 => {
                let opts = RequestOptions {
                    expect_final: reader.bool(),
                    timeout: reader
                        .bool()
                        .then(|| Duration::from_millis(u64::from(reader.u16()))),
                };
                let method = ["health", "agent", "status"][usize::from(reader.below(3))];
                sim.request(method, None, opts);
            }
            _ => {
                sim.advance(Duration::from_millis(u64::from(reader.millis())));
            }
        }
    }
    let now = sim.now;
    sim.client.close(now);
    sim.drain();
    for id in sim.issued().clone() {
        assert!(sim.is_answered(id), "{id} never answered after close");
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8], Timestamp);

/// The fuzz targets by name, for seed replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("roundtrip", roundtrip),
    ("server_connection", server_connection),
    ("gateway", gateway),
    ("client_connection", client_connection),
    ("device_connect", super::fuzz_pairing::device_connect),
    ("node_invoke", super::fuzz_nodes::node_invoke),
];
