//! The gateway side of one connection: challenge, handshake, authentication,
//! per-connection seq and slow-consumer accounting, close.
//!
//! [`ServerConnection`] can be used on its own (one socket, the embedder answers
//! requests) or through [`crate::gateway::Gateway`], which owns many of them.

mod auth;
mod connection;
mod device;
mod hello;
mod origin;
mod rate_limit;
mod scopes;

pub use auth::{secrets_equal, AuthMethod, DeviceTokens, NoDeviceTokens};

pub use connection::{
    close_code, truncate_reason, ConnectRequest, HandshakeContext, Inbound, SendOutcome,
    ServerConnection, ServerOutput, Session, MAX_CLOSE_REASON, SLOW_CONSUMER,
};
pub use device::VerifiedDevice;

pub use hello::{HelloAuth, HelloFeatures, HelloOk, HelloPolicy, HelloServer, HelloSnapshot};
pub use origin::{
    check_browser_origin, host_header_name, is_gateway_host_origin, is_loopback_host,
    is_private_or_loopback, parse_origin, OriginMatch, OriginPolicy, OriginRefusal, ParsedOrigin,
};
pub use rate_limit::{AuthRateLimiter, RateLimitKey, FAILURE_DELAY_BASE, FAILURE_DELAY_MAX};
pub use scopes::{Role, Scope, Scopes};
