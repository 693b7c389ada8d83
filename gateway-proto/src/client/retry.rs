//! Which handshake refusals a reconnect can fix.

use std::time::Duration;

use crate::wire::ErrorShape;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Retrying with the same credentials cannot succeed: stop.
    Never,
    /// The gateway said when to come back.
    After(Duration),
    /// Ordinary backoff.
    Backoff,
}

pub(crate) fn after_refusal(error: &ErrorShape, have_device_token: bool) -> Retry {
    let retry_after = error
        .retry_after_ms
        .or_else(|| error.details.as_ref()?.get("retryAfterMs")?.as_u64());
    match error.detail_code() {
        Some(
            "AUTH_TOKEN_MISSING"
            | "AUTH_PASSWORD_MISSING"
            | "AUTH_PASSWORD_MISMATCH"
            | "PAIRING_REQUIRED"
            | "DEVICE_IDENTITY_REQUIRED"
            | "PROTOCOL_MISMATCH",
        ) => Retry::Never,
        // A device token is a second credential the gateway may still accept.
        Some("AUTH_TOKEN_MISMATCH") if !have_device_token => Retry::Never,
        _ => match retry_after {
            Some(ms) => Retry::After(Duration::from_millis(ms)),
            None => Retry::Backoff,
        },
    }
}
