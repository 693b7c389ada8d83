//! Decoding inbound frames. CONTRACT (implementation pending): see each item.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ErrorShape;

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
pub fn decode_request(text: &str) -> Result<RequestFrame<'_>, RequestDecodeError> {
    let _ = text;
    todo!("wire helper")
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

/// Decode any frame (client side, and tests).
pub fn decode_inbound(text: &str) -> Result<InboundFrame<'_>, InboundDecodeError> {
    let _ = text;
    todo!("wire helper")
}
