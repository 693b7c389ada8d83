//! What the runtime does for the core's tools, and what it reports back.
//!
//! The core decides *whether* a tool call may run (its arguments, the
//! workspace confinement of its paths, exec policy) and turns it into a
//! [`ToolAction`]; the runtime performs it (`Effect::RunTool`) and answers
//! with one [`ToolOutcome`]. Paths in an action are absolute and lexically
//! inside `root` already; the runtime checks again on the real file system
//! (symbolic links), because only it can see them.

use serde_json::Value;

/// One file-system or process action of a tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolAction {
    /// Read a text file. `offset` is the first line (1-based), `limit` the
    /// number of lines, `cursor` the character to start at within the
    /// first line; the answer is capped at [`MAX_READ_BYTES`] and ends
    /// with a hint naming the `offset` (and `cursor`) to continue from.
    Read {
        path: String,
        offset: Option<u64>,
        limit: Option<u64>,
        cursor: Option<u64>,
    },
    /// Create or replace a file (parent directories created), at most
    /// [`MAX_WRITE_BYTES`].
    Write { path: String, content: String },
    /// Apply `edits` (old text, new text) to a file, all or none: each old
    /// text must occur exactly once in the file as it was before the call,
    /// and no two may overlap.
    Edit {
        path: String,
        edits: Vec<(String, String)>,
    },
    /// List a directory's entries (directories end with `/`), in byte
    /// order of their names, dotfiles included, at most `limit` of them,
    /// starting after the name `after`.
    List {
        path: String,
        limit: usize,
        after: Option<String>,
    },
    /// Run a shell command (`sh -c`) in `cwd` with a reduced environment;
    /// killed with its process group at `timeout_ms` or on `CancelTool`.
    /// Output is capped at [`MAX_OUTPUT_BYTES`] (the tail is kept).
    Exec {
        command: String,
        cwd: String,
        timeout_ms: u64,
    },
}

/// The largest answer of a `read`.
pub const MAX_READ_BYTES: usize = 50 * 1024;
/// The largest file `write` creates, and the largest file `edit` changes.
pub const MAX_WRITE_BYTES: usize = 10 * 1024 * 1024;
/// The most output of an `exec` kept for the model.
pub const MAX_OUTPUT_BYTES: usize = 50 * 1024;

/// How one action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutcome {
    /// What the model reads as the tool's result.
    pub text: String,
    pub is_error: bool,
    /// Structured facts for clients (exit code, bytes written, …); `null`
    /// when there are none.
    pub details: Value,
}

impl ToolOutcome {
    pub fn ok(text: impl Into<String>, details: Value) -> Self {
        ToolOutcome {
            text: text.into(),
            is_error: false,
            details,
        }
    }

    /// A failed action: `text` is the plain reason (the core shapes it as
    /// the reference's error result for the model).
    pub fn error(text: impl Into<String>) -> Self {
        ToolOutcome {
            text: text.into(),
            is_error: true,
            details: Value::Null,
        }
    }
}

/// One workspace bootstrap file as the runtime found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapFile {
    /// The file name (`AGENTS.md`, …).
    pub name: String,
    /// Its text, cut to [`MAX_BOOTSTRAP_FILE_CHARS`] characters by the runtime;
    /// `None` when the file does not exist.
    pub content: Option<String>,
}

/// The most characters of one bootstrap file put into the system prompt.
pub const MAX_BOOTSTRAP_FILE_CHARS: usize = 20_000;
