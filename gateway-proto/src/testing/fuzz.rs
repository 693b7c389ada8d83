//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` are one-line
//! shims), callable from normal tests to replay committed seeds.
//!
//! Each function panics on a violated invariant and returns normally otherwise.

use std::time::Instant;

use super::conn_model::ConnSim;
use super::model::GatewaySim;
use super::ops::ByteReader;
use crate::wire::{
    decode_inbound, decode_inbound_for, decode_request, decode_request_for, encode_request,
    InboundFrame, ProtocolVersion, RequestDecodeError,
};

/// Longest op sequence one input drives.
pub const MAX_OPS: usize = 256;

/// The fuzz functions need one base instant; nothing depends on its value.
#[allow(clippy::disallowed_methods)]
fn base_instant() -> Instant {
    Instant::now()
}

/// Bytes → every decoder: no panic, and what decodes is well-formed.
pub fn decode(data: &[u8]) {
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
                assert!(id.map_or(true, |id| !id.is_empty()));
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
pub fn roundtrip(data: &[u8]) {
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
pub fn server_connection(data: &[u8]) {
    let mut reader = ByteReader::new(data);
    let params = reader.params();
    let mut sim = ConnSim::new(params, base_instant());
    for _ in 0..MAX_OPS {
        if reader.is_empty() {
            break;
        }
        let op = reader.conn_op();
        sim.apply(op);
    }
}

/// The hub with up to four connections, the same ops as the proptest.
pub fn gateway(data: &[u8]) {
    let mut reader = ByteReader::new(data);
    let params = reader.params();
    let mut sim = GatewaySim::new(params, base_instant());
    for _ in 0..MAX_OPS {
        if reader.is_empty() {
            break;
        }
        let op = reader.op();
        sim.apply(op);
    }
    sim.check();
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for seed replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("roundtrip", roundtrip),
    ("server_connection", server_connection),
    ("gateway", gateway),
    // ("client_connection", client_connection) goes here once `gateway_proto::client` lands.
];
