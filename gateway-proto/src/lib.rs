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
//! fires it calls `handle_timeout(now)`. See [`gateway::Gateway`] for an example,
//! and `tests/src/blocking.rs` for a whole second runtime in 250 lines.
//!
//! ## The embedder's duties
//!
//! The core trusts its runtime for these; debug builds assert what they can.
//!
//! - **Time is monotonic.** `now` ([`time::Timestamp`]) never goes backwards
//!   across calls; one origin for the life of the process.
//! - **Every socket is opened once and closed once.** [`gateway::Input::Opened`]
//!   with a [`ConnId`] never used before in this `Gateway` (asserted), and
//!   [`gateway::Input::Closed`] when the socket is gone for any reason,
//!   including after the core's own [`gateway::Output::Close`]: until then the
//!   core keeps the connection (and its presence entry, and its slot in the
//!   limits).
//! - **Written bytes are reported.** After writing frames, report their
//!   length with [`gateway::Input::Sent`] (per frame or summed over several,
//!   never more than was queued: asserted). The slow-consumer rules count on
//!   it: bytes written and not yet reported count as still queued, so a
//!   runtime that batches its reports holds back only a small part of the
//!   buffer limit.
//! - **Every effect is answered.** Each [`gateway::Effect`] gets one
//!   [`gateway::Input::EffectDone`] with its token (an error result is fine);
//!   a waiter that gets no answer is timed out by the core.
//! - **Outputs are performed in order,** per connection.
//!
//! ## Growing it
//!
//! The hub is a router over components (connections, presence, health,
//! effects) and two tables: methods and events. Adding a method is one
//! `MethodSpec` in the methods table plus one handler in its family's file
//! under `gateway/methods/` (see that module's docs for a real example); its
//! access rule and params schema come from the spec, so authorization, params
//! validation (with the reference's wording) and `hello-ok.features` follow.

#![deny(unreachable_pub)]

pub mod client;
pub mod gateway;
pub mod ids;
pub mod server;
pub mod text;
pub mod time;
pub mod timer;
pub mod wire;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use ids::ConnId;
