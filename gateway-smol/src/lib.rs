//! smol runtime for the gateway core.
pub mod client;
