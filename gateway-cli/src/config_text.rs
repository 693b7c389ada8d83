//! The config text scanner now lives in the core (`config.*` RPCs parse
//! JSON5 too); this keeps the CLI's paths to it.

pub use gateway_proto::gateway::config_rpc::text::*;
