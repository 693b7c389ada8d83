//! The gateway side of one connection: challenge, handshake, authentication,
//! per-connection seq and slow-consumer accounting, close.
//!
//! [`ServerConnection`] can be used on its own (one socket, the embedder answers
//! requests) or through [`crate::gateway::Gateway`], which owns many of them.

mod auth;
mod connection;
mod device;
mod hello;
mod scopes;

pub use auth::{
    check_shared_secret, rate_limited, secrets_equal, AuthFailure, AuthMethod, AuthRateLimiter,
};
pub use connection::{
    close_code, truncate_reason, ConnectRequest, HandshakeContext, Inbound, SendOutcome,
    ServerConnection, ServerOutput, Session, MAX_CLOSE_REASON,
};
pub use device::{
    decode_base64_any, device_id_for_key, signature_payload, verify_device, VerifiedDevice,
};
pub use hello::{HelloAuth, HelloFeatures, HelloOk, HelloPolicy, HelloServer, HelloSnapshot};
pub use scopes::{Role, Scope, Scopes};
