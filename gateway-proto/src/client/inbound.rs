//! A lenient, borrowing view of inbound frames: the client only needs
//! `type`, `id`, `ok`, `payload`, `error`, `event` and `seq`, and must never
//! fail on fields it does not know (gateways add fields over time).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::wire::ErrorShape;

#[derive(Deserialize)]
pub(crate) struct Inbound<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    pub id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default, borrow)]
    pub payload: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub event: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub seq: Option<u64>,
}

pub(crate) fn parse(text: &str) -> Option<Inbound<'_>> {
    serde_json::from_str(text).ok()
}

/// The error object, tolerating shapes the strict `ErrorShape` would refuse
/// (unknown codes or fields): those become `UNAVAILABLE` with the message kept.
pub(crate) fn error_shape(raw: Option<&RawValue>) -> ErrorShape {
    use crate::wire::ErrorCode;
    let Some(raw) = raw else {
        return ErrorShape::new(ErrorCode::Unavailable, "request failed");
    };
    if let Ok(shape) = serde_json::from_str::<ErrorShape>(raw.get()) {
        return shape;
    }
    let value: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
    let message = value
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or("request failed");
    let mut shape = ErrorShape::new(ErrorCode::Unavailable, message);
    shape.details = value.get("details").cloned();
    shape.retry_after_ms = value.get("retryAfterMs").and_then(|v| v.as_u64());
    shape
}

pub(crate) fn value(raw: Option<&RawValue>) -> serde_json::Value {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or(serde_json::Value::Null)
}
