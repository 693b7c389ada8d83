//! The hub's inputs and outputs.

use core::net::IpAddr;

use super::agents::journal::SessionChange;
use super::agents::model::{ModelEvent, ModelRequest};
use super::agents::tools::{BootstrapFile, ToolAction, ToolOutcome};
use super::pairing::{PairingChange, PairingSnapshot};
use crate::wire::OutFrame;
use crate::ConnId;

/// Where a socket comes from, as the runtime saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's address, canonical (an IPv4-mapped IPv6 address is given
    /// as the IPv4 address).
    pub ip: IpAddr,
    /// A direct loopback connection (no proxy headers): such devices are paired silently.
    pub is_local: bool,
    /// The upgrade request's `Origin` header: present when a browser page
    /// opened the socket, which then must pass the browser origin rules.
    pub origin: Option<Box<str>>,
    /// The upgrade request's `Host` header (the origin rules compare it).
    pub host: Option<Box<str>>,
}

impl Peer {
    /// A peer at `ip` with no `Origin` or `Host` header.
    pub fn new(ip: IpAddr, is_local: bool) -> Self {
        Peer {
            ip: ip.to_canonical(),
            is_local,
            origin: None,
            host: None,
        }
    }

    /// The same peer, with the `Origin` header its upgrade carried.
    pub fn with_origin(mut self, origin: impl Into<Box<str>>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// The same peer, with the `Host` header its upgrade carried.
    pub fn with_host(mut self, host: impl Into<Box<str>>) -> Self {
        self.host = Some(host.into());
        self
    }
}

/// Everything that can happen to the hub from the outside.
#[derive(Debug)]
pub enum Input<'a> {
    /// A WebSocket upgrade completed; the connection gets `connect.challenge`.
    Opened { conn: ConnId, peer: Peer },
    /// One whole text message.
    Text { conn: ConnId, text: &'a str },
    /// One whole binary message (its content is never looked at).
    Binary { conn: ConnId, len: usize },
    /// The writer handed `bytes` more bytes of this connection's frames to the socket.
    Sent { conn: ConnId, bytes: usize },
    /// The socket is gone (peer close, error, or after our own close).
    Closed { conn: ConnId },
    /// Start-up finished: `connect` is no longer answered "gateway starting".
    Ready,
    /// Stop: broadcast `shutdown`, then close every socket 1012 "service restart".
    Shutdown {
        reason: Option<&'a str>,
        restart_expected_ms: Option<u64>,
    },
    /// The result of an [`Effect`].
    EffectDone(EffectResult),
}

/// What the hub asks of the runtime.
///
/// Exhaustive on purpose: a new kind of output is a new duty for every
/// runtime, and a runtime that does not handle it should fail to compile
/// rather than silently drop it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this text message on this connection.
    Frame { conn: ConnId, frame: OutFrame },
    /// Send a close frame with this code and reason, then drop the socket.
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// Work that needs the outside world; its result comes back as `Input::EffectDone`.
    Effect(Effect),
    /// The connection's handshake succeeded (its hello-ok is the frame just
    /// before): it no longer counts as unauthenticated, and keepalive may start.
    Authenticated { conn: ConnId },
}

/// Work the core cannot do itself.
///
/// Exhaustive on purpose, like [`Output`]: every runtime must perform every
/// effect (or answer it with an error), so adding one must break the build
/// of runtimes that do not know it yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Read the JSON-lines log file for `logs.tail`.
    ReadLogs {
        token: u64,
        cursor: Option<u64>,
        limit: usize,
        max_bytes: usize,
    },
    /// Apply `changes` to the pairing store in one durable transaction
    /// (all or nothing; committed to disk before the result is sent).
    /// Writes arrive one at a time, in order.
    WritePairing {
        token: u64,
        changes: Vec<PairingChange>,
    },
    /// Read the whole pairing store (after a failed write, so the core
    /// starts again from what is on disk). Ordered after earlier writes.
    LoadPairing { token: u64 },
    /// Redeem a one-time bootstrap token: in one store transaction, find
    /// the unexpired row whose key is `bootstrap_token` (issued at or after
    /// `oldest_issued_at_ms`), delete it, and answer its profile with
    /// [`EffectResult::BootstrapRedeemed`] (`None` when there is no such
    /// row). Ordered with the pairing writes.
    RedeemBootstrapToken {
        token: u64,
        bootstrap_token: String,
        oldest_issued_at_ms: u64,
    },
    /// Read the gateway host's exec approvals (`exec.approvals.get`): the
    /// answer as the reference shapes it (path, exists, file without its
    /// socket token, hash, resolvedDefaults).
    ReadExecApprovals { token: u64 },
    /// Read the host's vital signs for `system.info` (hostname, load,
    /// memory, the state directory's disk): answered by
    /// [`EffectResult::HostStats`].
    ReadHostStats { token: u64 },
    /// Call a model provider once and stream its reply back: every
    /// [`ModelEvent`] comes back as [`EffectResult::Model`] with this token,
    /// the last one being `Done` or `Failed`.
    StreamModel {
        token: u64,
        request: Box<ModelRequest>,
    },
    /// Stop the model call with this token (abort, timeout, shutdown). The
    /// runtime closes the provider connection as soon as it can; events it
    /// still sends are ignored.
    CancelModel { token: u64 },
    /// Store these session changes (rows and transcripts) durably, all of
    /// them, before answering. One batch at a time.
    WriteSessions {
        token: u64,
        changes: Vec<SessionChange>,
    },
    /// Make sure the agent workspace `dir` exists; when it did not exist
    /// yet, create each of `files` from the runtime's templates. Then read
    /// every one of `files` (capped) for the system prompt. Answered by
    /// [`EffectResult::Workspace`].
    PrepareWorkspace {
        token: u64,
        dir: String,
        files: Vec<String>,
    },
    /// Perform one tool action confined to the workspace `root` (see
    /// [`ToolAction`]); answered by exactly one [`EffectResult::Tool`],
    /// unless cancelled first.
    RunTool {
        token: u64,
        root: String,
        action: ToolAction,
    },
    /// Stop the tool action with this token (abort, timeout): a process is
    /// killed with its process group. Its result, if it still comes, is
    /// ignored.
    CancelTool { token: u64 },
    /// Read the config file for a `config.*` method; `then` comes back
    /// unchanged in [`EffectResult::ConfigRead`].
    ReadConfig { token: u64, then: ConfigRead },
    /// Write the config file atomically (temp file, fsync, rename, directory
    /// fsync, permissions kept), only if its text still hashes to
    /// `write.expected_hash` and the runtime's validator accepts it.
    WriteConfig {
        token: u64,
        write: Box<super::config_rpc::Write>,
    },
    /// Progress of an HTTP completion's run, for the client waiting on
    /// `stream` (see [`super::Gateway::http_chat_completion`]): deltas in
    /// order, then one ending. Nothing comes back; a stream the runtime no
    /// longer has (the client left) drops it.
    RunStream {
        stream: u64,
        update: super::openai_http::HttpRunUpdate,
    },
}

/// Why the config file was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRead {
    /// Answer `config.get`.
    Get,
    /// Plan this write against what was read.
    Write(Box<super::config_rpc::WriteRequest>),
}

/// Why a config write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWriteError {
    /// The file changed since it was read (its hash differs).
    Changed,
    /// The validator refused the new text (the reason, in words).
    Invalid(String),
    /// The file could not be written.
    Io(String),
}

impl Effect {
    /// The token its result must carry.
    pub fn token(&self) -> u64 {
        match self {
            Effect::ReadLogs { token, .. }
            | Effect::WritePairing { token, .. }
            | Effect::LoadPairing { token }
            | Effect::RedeemBootstrapToken { token, .. }
            | Effect::ReadExecApprovals { token }
            | Effect::ReadHostStats { token }
            | Effect::StreamModel { token, .. }
            | Effect::CancelModel { token }
            | Effect::WriteSessions { token, .. }
            | Effect::ReadConfig { token, .. }
            | Effect::WriteConfig { token, .. }
            | Effect::PrepareWorkspace { token, .. }
            | Effect::RunTool { token, .. }
            | Effect::CancelTool { token } => *token,
            // No result comes back; the stream id stands in.
            Effect::RunStream { stream, .. } => *stream,
        }
    }
}

/// One slice of the log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSlice {
    pub file: String,
    /// Byte offset to pass as the next cursor.
    pub cursor: u64,
    /// Current size of the file.
    pub size: u64,
    pub lines: Vec<String>,
    /// Older lines were skipped to respect `limit`/`maxBytes`.
    pub truncated: bool,
    /// The file shrank or rotated since the cursor: reading restarted.
    pub reset: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectResult {
    Logs {
        token: u64,
        result: Result<LogSlice, String>,
    },
    /// The pairing write committed (`Ok`) or was rolled back (`Err`).
    PairingWritten {
        token: u64,
        result: Result<(), String>,
    },
    /// The store's contents, for [`Effect::LoadPairing`].
    PairingLoaded {
        token: u64,
        result: Result<PairingSnapshot, String>,
    },
    /// The answer for [`Effect::RedeemBootstrapToken`]: the profile of the
    /// token just spent, `None` for an unknown or expired one.
    BootstrapRedeemed {
        token: u64,
        result: Result<Option<super::pairing::BootstrapProfile>, String>,
    },
    /// The answer for [`Effect::ReadExecApprovals`].
    ExecApprovals {
        token: u64,
        result: Result<serde_json::Value, String>,
    },
    /// The answer for [`Effect::ReadHostStats`].
    HostStats {
        token: u64,
        result: Result<super::host_stats::HostStats, String>,
    },
    /// One event of the model call [`Effect::StreamModel`] started.
    Model { token: u64, event: ModelEvent },
    /// The session batch was stored (`Ok`) or not (`Err`: it is retried).
    SessionsWritten {
        token: u64,
        result: Result<(), String>,
    },
    /// The workspace's bootstrap files, in the order asked, for
    /// [`Effect::PrepareWorkspace`].
    Workspace {
        token: u64,
        result: Result<Vec<BootstrapFile>, String>,
    },
    /// How a [`Effect::RunTool`] action ended.
    Tool { token: u64, outcome: ToolOutcome },
    /// The file for [`Effect::ReadConfig`].
    ConfigRead {
        token: u64,
        then: ConfigRead,
        result: Result<super::config_rpc::ConfigFile, String>,
    },
    /// The outcome of [`Effect::WriteConfig`]; `reply` is the write's own.
    ConfigWritten {
        token: u64,
        reply: Box<super::config_rpc::WriteReply>,
        result: Result<(), ConfigWriteError>,
    },
}
