//! # gateway-proto: the sans-IO core of an OpenClaw-compatible gateway
//!
//! Everything that decides anything lives here, as pure state machines that
//! consume text messages, byte counts and timer ticks and produce frames,
//! closes and effects:
//!
//! - [`wire`]: frame codec, validation with the reference's messages, encoders.
//! - [`server::ServerConnection`]: one client's life on the gateway side.
//! - [`client::ClientConnection`]: the same from the client side.
//! - [`gateway::Gateway`]: the hub over many connections (presence, health,
//!   broadcasts, method routing).
//!
//! ## Guarantees
//!
//! - **Deterministic**: no clock, no I/O, no threads, no global RNG. Time comes in
//!   as `now: Timestamp` on every call, randomness from a seed given at
//!   construction; the same inputs give the same outputs byte for byte.
//! - **Never panics on peer input**: bad frames become protocol outcomes (an
//!   error response or a close with the reference's code), never a panic.
//! - **Bounded**: every queue, table and frame has an explicit limit; when full
//!   the core refuses or drops by the protocol's rules instead of growing.
//! - **Close is sticky**: after a connection's close is emitted, nothing else is
//!   emitted for it.
//!
//! ## Driving it
//!
//! A runtime calls `handle_*` with inputs, then drains `poll_output()` until it
//! returns `None`, and re-arms one timer at `poll_timeout()`; when the timer
//! fires it calls `handle_timeout(now)`. See [`gateway::Gateway`] for an example.

#![deny(unreachable_pub)]

pub mod client;
pub mod gateway;
pub mod ids;
pub mod server;
pub mod time;
pub mod timer;
pub mod wire;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use ids::ConnId;
