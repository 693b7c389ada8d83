//! The agent's tools: what the model may call ([`specs`]), how a call is
//! checked and what it needs ([`plan`]), where files may be touched
//! ([`paths`]), the settings that shape them ([`settings`]), the system
//! prompt built from the workspace ([`prompt`]), and what the runtime is
//! asked to do ([`ToolAction`]).

mod action;
pub mod paths;
pub mod plan;
pub mod prompt;
pub mod settings;
pub mod specs;

pub use action::{
    BootstrapFile, ToolAction, ToolOutcome, MAX_BOOTSTRAP_FILE_CHARS, MAX_OUTPUT_BYTES,
    MAX_READ_BYTES, MAX_WRITE_BYTES,
};
pub use settings::ToolSettings;

/// The workspace files that feed the system prompt, in prompt order.
pub const BOOTSTRAP_FILES: &[&str] = &["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md"];

/// The first `max` characters of `text`.
pub(crate) fn cut_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
