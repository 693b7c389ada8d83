//! Helpers shared by the end-to-end tests, the interop tests and the load
//! tool, and a second (blocking) runtime for the core.

pub mod agent_runs;
pub mod blocking;
pub mod budget;
pub mod chat;
pub mod device;
pub mod fake_node;
pub mod fake_provider;
pub mod forwarder;
pub mod load;
pub mod process;
pub mod procfs;
pub mod reference_client;
pub mod sdk;
pub mod soak;
pub mod tls;
pub mod ws;
