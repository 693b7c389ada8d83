//! What a [`ClientConnection`](super::ClientConnection) asks of its runtime and
//! reports to its user.

use std::fmt;
use std::time::Duration;

use crate::time::Timestamp;

use bytes::Bytes;
use serde_json::Value;

use crate::wire::ErrorShape;

/// A request handle, unique for the life of one `ClientConnection` (across reconnects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

/// The parts of `hello-ok` a client acts on, plus the whole payload.
#[derive(Clone, Debug, PartialEq)]
pub struct HelloInfo {
    pub protocol: u64,
    pub server_version: Option<String>,
    pub conn_id: Option<String>,
    pub tick_interval_ms: u64,
    pub role: Option<String>,
    pub scopes: Vec<String>,
    pub device_token: Option<String>,
    /// The full `hello-ok` payload (features, snapshot, policy, ...).
    pub payload: Value,
}

/// Why a request got no successful answer.
#[derive(Clone, Debug, PartialEq)]
pub enum CallFailure {
    /// The gateway answered `ok:false`. A failure may carry a payload too.
    Gateway {
        error: ErrorShape,
        payload: Option<Value>,
    },
    /// No answer before the deadline.
    Timeout { method: String, after: Duration },
    /// The connection closed first: "gateway closed (<code>): <reason>".
    Closed { code: u16, reason: String },
    /// The gateway refused `connect`; the request was never sent.
    Handshake(ErrorShape),
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Gateway { error, .. } | CallFailure::Handshake(error) => {
                write!(f, "{}: {}", error.code.as_str(), error.message)
            }
            CallFailure::Timeout { method, after } => {
                write!(
                    f,
                    "gateway timeout after {}ms ({method})",
                    after.as_millis()
                )
            }
            CallFailure::Closed { code, reason } => write!(f, "gateway closed ({code}): {reason}"),
        }
    }
}

impl std::error::Error for CallFailure {}

/// Misuse of the API (never caused by the peer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("too many pending requests (limit {0})")]
    TooManyPending(usize),
    #[error("client is closed")]
    Closed,
    #[error("method must be a non-empty string")]
    EmptyMethod,
}

/// One thing for the runtime or the user; drain with `poll_output` after every call.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientOutput {
    /// Send this text message on the socket.
    Send(Bytes),
    /// Close the socket with this code and reason. The core already considers
    /// it closed: do not report this close back through `handle_closed`.
    Close { code: u16, reason: String },
    /// `hello-ok` received: requests flow now.
    Connected(HelloInfo),
    /// The answer to a request (exactly one per request).
    Response {
        id: RequestId,
        result: Result<Value, CallFailure>,
    },
    /// An `expect_final` request was acknowledged (`status: "accepted"`); its
    /// final `Response` follows later, with no deadline meanwhile.
    Accepted { id: RequestId, payload: Value },
    /// A gateway event (never `connect.challenge`).
    Event {
        name: String,
        payload: Value,
        seq: Option<u64>,
    },
    /// Events were missed. With `refresh_on_gap` the core has already asked
    /// for `health` and `system-presence` again; their answers follow as
    /// `Refreshed`.
    Gap { expected: u64, received: u64 },
    /// The answer to a refresh the core made after a gap.
    Refreshed {
        method: String,
        result: Result<Value, CallFailure>,
    },
    /// Open a new socket at `at`, then call `handle_reconnected` (or
    /// `handle_closed` if it cannot be opened).
    Reconnect { at: Timestamp },
    /// Terminal: no reconnect will follow and nothing else is emitted.
    /// `error` is set when the gateway refused the handshake.
    Disconnected {
        code: u16,
        reason: String,
        error: Option<ErrorShape>,
    },
}
