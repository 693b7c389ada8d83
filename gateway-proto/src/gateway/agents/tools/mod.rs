//! The agent's tools: what the model may call, how a call is checked, and
//! what the runtime is asked to do for it.

mod action;

pub use action::{
    BootstrapFile, ToolAction, ToolOutcome, MAX_BOOTSTRAP_FILE_CHARS, MAX_OUTPUT_BYTES,
    MAX_READ_BYTES, MAX_WRITE_BYTES,
};

/// The workspace files that feed the system prompt, in prompt order.
pub const BOOTSTRAP_FILES: &[&str] = &["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md"];
