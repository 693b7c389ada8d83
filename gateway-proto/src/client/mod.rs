//! The client side of one connection.
//!
//! [`ClientConnection`] is a sans-IO state machine (no clock, no I/O, no
//! threads, randomness from a seed) that does what a correct OpenClaw client
//! does (protocol §9): wait for `connect.challenge`, send `connect` (optionally
//! signed with an Ed25519 [`DeviceKey`]), track requests with deadlines and
//! `expectFinal` acks, detect event gaps, watch for ticks, and schedule
//! reconnects with backoff.
//!
//! ```
//! use std::time::Duration;
//! use gateway_proto::time::Timestamp;
//! use gateway_proto::client::{ClientConfig, ClientConnection, ClientOutput, RequestOptions};
//!
//! let t0 = Timestamp::ZERO;
//! let mut c = ClientConnection::new(ClientConfig::default(), [0; 32], t0);
//! // Requests before hello-ok are queued.
//! let id = c.request::<()>("health", None, RequestOptions::default(), t0).unwrap();
//! c.handle_text(r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"n"}}"#, t0);
//! let Some(ClientOutput::Send(connect)) = c.poll_output() else { panic!() };
//! let connect: serde_json::Value = serde_json::from_slice(&connect).unwrap();
//! let hello = serde_json::json!({"type":"res","id":connect["id"],"ok":true,
//!     "payload":{"type":"hello-ok","protocol":4,"policy":{"tickIntervalMs":30000}}});
//! c.handle_text(&hello.to_string(), t0);
//! assert!(matches!(c.poll_output(), Some(ClientOutput::Connected(_))));
//! assert!(matches!(c.poll_output(), Some(ClientOutput::Send(_)))); // the queued `health`
//! // Nothing answers: the request times out after 30 s.
//! c.handle_timeout(t0 + Duration::from_secs(30));
//! assert!(matches!(c.poll_output(), Some(ClientOutput::Response { id: i, result: Err(_) }) if i == id));
//! ```

mod backoff;
mod config;
mod connection;
mod device;
mod inbound;
mod output;
mod retry;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use backoff::{Backoff, BACKOFF_INITIAL, BACKOFF_MAX};
pub use config::{ClientAuth, ClientConfig, ClientIdentity, RequestOptions};
pub use connection::{ClientConnection, ClientTimer};
pub use device::{DeviceKey, DeviceProof, SignInput};
pub use output::{CallFailure, ClientError, ClientOutput, HelloInfo, RequestId};
