//! Decoding inbound frames.
//!
//! Two paths: a borrowing serde decoder that accepts only what the closed
//! schemas accept (allocation-free for escape-free text), and, when it
//! refuses, the schema validator over an order-preserving parse of the same
//! text, which produces the reference's wording. The slow path only runs for
//! invalid input, so its allocations are not on the hot path.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::json::Json;
use super::schemas;
use super::validate::{validate_json, Dialect};
use super::{ErrorShape, ProtocolVersion};

/// The two gateway-wide counters attached to `presence`/`health` events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateVersion {
    pub presence: u64,
    pub health: u64,
}

/// `{type:"req", id, method, params?, traceparent?}`; strings borrow from the text
/// when they contain no escapes.
#[derive(Debug, Clone)]
pub struct RequestFrame<'a> {
    pub id: Cow<'a, str>,
    pub method: Cow<'a, str>,
    pub params: Option<&'a RawValue>,
    pub traceparent: Option<Cow<'a, str>>,
}

/// Why a text message is not a request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDecodeError {
    /// Not JSON at all (or not valid UTF-8 JSON text).
    NotJson,
    /// JSON, but not a valid request frame. `id` is the frame's `id` when it is a
    /// non-empty string; `detail` is the reference's validation text, e.g.
    /// "must have required property 'id'; at root: unexpected property 'foo'; at /type: must be equal to constant".
    Invalid { id: Option<String>, detail: String },
}

/// Decode one text message that must be a request frame (server side).
///
/// Accepts the protocol-4 frame (a superset of protocol 3: `traceparent` and
/// `expectedProfileId` are allowed) and words failures as the protocol-4
/// reference does. Use [`decode_request_for`] once a connection has
/// negotiated a version.
pub fn decode_request(text: &str) -> Result<RequestFrame<'_>, RequestDecodeError> {
    decode_request_for(text, ProtocolVersion::V4)
}

/// [`decode_request`] with the schema and wording of `version`: at protocol 3
/// `traceparent` is an unexpected property and every missing property is named.
pub fn decode_request_for(
    text: &str,
    version: ProtocolVersion,
) -> Result<RequestFrame<'_>, RequestDecodeError> {
    if let Ok(wire) = serde_json::from_str::<WireRequest<'_>>(text) {
        if is_object_text(text) && wire.is_valid(version) {
            return Ok(RequestFrame {
                id: wire.id,
                method: wire.method,
                params: wire.params,
                traceparent: wire.traceparent,
            });
        }
    }
    Err(request_failure(text, version))
}

/// The fast path: borrows every escape-free string and the raw params, and
/// rejects what the closed schema rejects. Anything it refuses goes through
/// the schema validator, which owns the wording.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    traceparent: Option<Cow<'a, str>>,
    #[serde(
        rename = "expectedProfileId",
        borrow,
        default,
        deserialize_with = "borrowed_opt"
    )]
    expected_profile_id: Option<Cow<'a, str>>,
}

impl WireRequest<'_> {
    fn is_valid(&self, version: ProtocolVersion) -> bool {
        let v4 = version == ProtocolVersion::V4;
        self.kind == "req"
            && !self.id.is_empty()
            && !self.method.is_empty()
            && match &self.traceparent {
                None => true,
                Some(t) => v4 && t.chars().count() <= 128,
            }
            && match &self.expected_profile_id {
                None => true,
                Some(p) => v4 && (1..=128).contains(&p.chars().count()),
            }
    }
}

/// `Option<Cow<str>>` always allocates with serde's own impl; this borrows
/// like a bare `Cow` field does.
fn borrowed_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

/// serde reads a struct from a JSON array too (by position); frames are
/// objects only, so the fast paths require one.
fn is_object_text(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

fn request_failure(text: &str, version: ProtocolVersion) -> RequestDecodeError {
    let Some(json) = Json::parse(text) else {
        return RequestDecodeError::NotJson;
    };
    let id = json
        .get("id")
        .and_then(Json::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let detail = match validate_json(
        Some(&json),
        schemas::request_frame(version),
        Dialect::for_protocol(version),
    ) {
        Err(e) => e.to_string(),
        // Valid by the schema but refused by the fast path: a repeated key,
        // which serde refuses and JavaScript resolves silently.
        Ok(()) => "duplicate property".to_owned(),
    };
    RequestDecodeError::Invalid { id, detail }
}

#[derive(Debug, Clone)]
pub struct ResponseFrame<'a> {
    pub id: Cow<'a, str>,
    pub ok: bool,
    pub payload: Option<&'a RawValue>,
    pub error: Option<ErrorShape>,
}

#[derive(Debug, Clone)]
pub struct EventFrame<'a> {
    pub event: Cow<'a, str>,
    pub payload: Option<&'a RawValue>,
    pub seq: Option<u64>,
    pub state_version: Option<StateVersion>,
}

#[derive(Debug, Clone)]
pub enum InboundFrame<'a> {
    Request(RequestFrame<'a>),
    Response(ResponseFrame<'a>),
    Event(EventFrame<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundDecodeError {
    NotJson,
    /// Validation text in the reference's style.
    Invalid(String),
}

/// Decode any frame (client side, and tests), with the protocol-4 schemas.
pub fn decode_inbound(text: &str) -> Result<InboundFrame<'_>, InboundDecodeError> {
    decode_inbound_for(text, ProtocolVersion::V4)
}

/// [`decode_inbound`] against the schemas and wording of `version`.
pub fn decode_inbound_for(
    text: &str,
    version: ProtocolVersion,
) -> Result<InboundFrame<'_>, InboundDecodeError> {
    if is_object_text(text) {
        if let Ok(wire) = serde_json::from_str::<WireFrame<'_>>(text) {
            if let Some(frame) = wire.into_frame(version) {
                return Ok(frame);
            }
        }
    }
    Err(inbound_failure(text, version))
}

/// Every field any frame may carry; [`WireFrame::into_frame`] checks that
/// the ones present fit the frame's `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    traceparent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    expected_profile_id: Option<Cow<'a, str>>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorShape>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    event: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    state_version: Option<StateVersion>,
    #[serde(borrow, default, deserialize_with = "borrowed_opt")]
    recipient_profile_id: Option<Cow<'a, str>>,
}

fn non_empty(s: &Option<Cow<'_, str>>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}

fn profile_id_ok(s: &Option<Cow<'_, str>>, version: ProtocolVersion) -> bool {
    match s {
        None => true,
        Some(p) => version == ProtocolVersion::V4 && (1..=128).contains(&p.chars().count()),
    }
}

impl<'a> WireFrame<'a> {
    fn into_frame(self, version: ProtocolVersion) -> Option<InboundFrame<'a>> {
        let request_only = self.method.is_some()
            || self.params.is_some()
            || self.traceparent.is_some()
            || self.expected_profile_id.is_some();
        let response_only = self.ok.is_some() || self.error.is_some();
        let event_only = self.event.is_some()
            || self.seq.is_some()
            || self.state_version.is_some()
            || self.recipient_profile_id.is_some();
        match self.kind.as_ref() {
            "req" => {
                let wire = WireRequest {
                    kind: self.kind,
                    id: self.id?,
                    method: self.method?,
                    params: self.params,
                    traceparent: self.traceparent,
                    expected_profile_id: self.expected_profile_id,
                };
                let valid = !response_only
                    && !event_only
                    && self.payload.is_none()
                    && wire.is_valid(version);
                valid.then_some(InboundFrame::Request(RequestFrame {
                    id: wire.id,
                    method: wire.method,
                    params: wire.params,
                    traceparent: wire.traceparent,
                }))
            }
            "res" => {
                let valid = !request_only
                    && !event_only
                    && non_empty(&self.id)
                    && !matches!(&self.error, Some(e) if e.message.is_empty());
                let id = self.id?;
                let ok = self.ok?;
                valid.then_some(InboundFrame::Response(ResponseFrame {
                    id,
                    ok,
                    payload: self.payload,
                    error: self.error,
                }))
            }
            "event" => {
                let valid = !request_only
                    && !response_only
                    && self.id.is_none()
                    && non_empty(&self.event)
                    && profile_id_ok(&self.recipient_profile_id, version);
                let event = self.event?;
                valid.then_some(InboundFrame::Event(EventFrame {
                    event,
                    payload: self.payload,
                    seq: self.seq,
                    state_version: self.state_version,
                }))
            }
            _ => None,
        }
    }
}

fn inbound_failure(text: &str, version: ProtocolVersion) -> InboundDecodeError {
    let Some(json) = Json::parse(text) else {
        return InboundDecodeError::NotJson;
    };
    let dialect = Dialect::for_protocol(version);
    // The frame union is discriminated by `type`: a known type is checked
    // against its own schema, anything else against the request schema
    // (what the reference server does with an inbound frame).
    let schema = match json.get("type").and_then(Json::as_str) {
        Some("res") => &schemas::RESPONSE_FRAME,
        Some("event") => schemas::event_frame(version),
        _ => schemas::request_frame(version),
    };
    match validate_json(Some(&json), schema, dialect) {
        Err(e) => InboundDecodeError::Invalid(e.to_string()),
        // Schema-valid but refused by the typed decoder: an error code this
        // implementation does not know, a repeated key, or a whole-valued
        // float where an integer is expected.
        Ok(()) => InboundDecodeError::Invalid("unsupported frame content".to_owned()),
    }
}
