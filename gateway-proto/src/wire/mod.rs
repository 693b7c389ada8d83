//! The wire format: frames, error shapes, connect parameters, validation with
//! the reference's messages, and encoders that write into reused buffers.
//!
//! Decoding borrows from the inbound text wherever the JSON allows it (strings
//! without escapes, raw `params`/`payload`), so the hot path allocates nothing.
//! Nothing here panics on any input.

mod connect;
mod encode;
mod error;
mod frame;
pub(crate) mod json;
pub mod messages;
pub mod schemas;
pub(crate) mod validate;

pub use connect::{
    peek_protocol_range, ClientInfo, ConnectAuth, ConnectParams, DeviceIdentity, CLIENT_IDS_V3,
    CLIENT_IDS_V4, CLIENT_MODES_V3, CLIENT_MODES_V4,
};
pub use encode::{
    encode_event, encode_request, encode_response_err, encode_response_ok, OutFrame, SeqTail,
};
pub use error::{ErrorCode, ErrorShape};
pub use frame::{
    decode_inbound, decode_inbound_for, decode_request, decode_request_for, EventFrame,
    InboundDecodeError, InboundFrame, RequestDecodeError, RequestFrame, ResponseFrame,
    StateVersion,
};
pub use validate::{
    validate, validate_text, validate_with, ArrayRules, Dialect, IntegerRules, ObjectRules,
    Pattern, Property, Schema, SchemaError, StringRules,
};

/// Protocol versions this implementation speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    V3 = 3,
    V4 = 4,
}

impl ProtocolVersion {
    pub const MIN: ProtocolVersion = ProtocolVersion::V3;
    pub const MAX: ProtocolVersion = ProtocolVersion::V4;

    pub fn number(self) -> u64 {
        self as u64
    }

    /// The highest version we speak inside the client's `[min, max]`, if any.
    pub fn negotiate(min: u64, max: u64) -> Option<ProtocolVersion> {
        [ProtocolVersion::V4, ProtocolVersion::V3]
            .into_iter()
            .find(|v| (min..=max).contains(&v.number()))
    }
}
