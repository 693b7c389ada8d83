//! Client commands of the `openclaw` binary: each is an argh struct plus a
//! `run_*(args) -> i32` returning the exit code (0 ok, 1 gateway error,
//! 2 bad usage).

// The runtime is where the clock is read (probe latency, timestamps).
#![allow(clippy::disallowed_methods)]

mod agent;
mod call;
mod chat;
pub(crate) mod connect;
mod devices;
mod health;
mod identity;
mod logs;
mod nodes;
pub(crate) mod print;
mod probe;
pub mod target;

pub use agent::{run_agent, AgentArgs};
pub use call::{
    run_call, run_gateway_health, run_system_presence, CallArgs, GatewayHealthArgs,
    SystemPresenceArgs,
};
pub use chat::{run_chat, ChatArgs};
pub use devices::{run_devices, DevicesCmd};
pub use health::{run_health, run_status, HealthArgs, StatusArgs};
pub use logs::{run_logs, LogsArgs};
pub use nodes::{run_nodes, NodesCmd};
pub use probe::{probe_target, run_probe, GatewayStatusArgs, ProbeArgs};
