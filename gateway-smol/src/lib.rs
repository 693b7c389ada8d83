//! smol runtime for the gateway core.
//!
//! A thin shell around [`gateway_proto::gateway::Gateway`]: it accepts TCP,
//! answers the HTTP probes, performs the WebSocket upgrade, feeds whole messages
//! and closes into the hub with `now = clock::now()`, routes the hub's frames
//! to per-connection writers, runs effects off the hub task, re-arms one timer
//! at `poll_timeout()` and reports each connection's written bytes back. It
//! makes no protocol decisions.
//!
//! Entry points: [`run`] (bind and serve until a shutdown signal) or
//! [`Server::bind`] + [`Server::handle`] + [`Server::run`] when the caller
//! also needs to steer the server (config reloads, restarts).

// The runtime is where the clock is read: the core gets `now` from here.
#![allow(clippy::disallowed_methods)]

#[cfg(unix)]
pub mod cli_backend;
pub mod client;
mod clock;
pub mod config_store;
mod conn;
mod control_ui;
pub mod document_probe;
mod error;
mod frame_out;
mod host_stats;
mod http;
mod hub;
pub mod logfile;
pub mod logs;
mod model_calls;
mod openai_http;
mod options;
mod outbox;
mod pairing_writer;
mod preauth;
mod prefixed;
pub mod providers;
pub mod proxy;
mod race;
mod readiness;
mod sd_notify;
mod server;
mod session_writer;
mod signals;
mod socket;
pub mod store;
pub mod tls;
pub mod tools;
mod upgrade;

pub use config_store::ConfigFileAccess;
pub use error::Error;
pub use options::{default_threads, ControlUiOptions, ExecApprovalsSource, ServerOptions};
pub use server::{run, Server, ServerHandle};
