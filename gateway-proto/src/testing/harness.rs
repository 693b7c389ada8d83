//! A one-gateway harness in virtual time: connections are opened, fed text and
//! closed at chosen instants; every frame the gateway emits is decoded and
//! recorded with its virtual timestamp; clients read everything at once
//! unless told to stall.

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::time::Timestamp;

use serde_json::Value;

use crate::gateway::agents::journal::SessionChange;
use crate::gateway::agents::model::{ModelEvent, ModelRequest};
use crate::gateway::agents::tools::{BootstrapFile, ToolAction, ToolOutcome};
use crate::gateway::pairing::PairingChange;
use crate::gateway::{Config, Effect, EffectResult, Gateway, Input, LogSlice, Output, Peer};
use crate::ConnId;

/// Something the harness saw the gateway do, at `at_ms` after the start.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Frame {
        conn: ConnId,
        at_ms: u64,
        frame: Value,
        len: usize,
    },
    Close {
        conn: ConnId,
        at_ms: u64,
        code: u16,
        reason: String,
    },
    Effect {
        at_ms: u64,
        effect: Effect,
    },
    /// The handshake of `conn` succeeded.
    Authenticated {
        conn: ConnId,
        at_ms: u64,
    },
}

pub struct Harness {
    pub gateway: Gateway,
    pub start: Timestamp,
    pub now: Timestamp,
    pub seen: Vec<Seen>,
    /// Connections whose client stopped reading: their bytes are not acknowledged.
    pub stalled: BTreeMap<ConnId, usize>,
    /// Answer log reads with this slice (None: leave them pending).
    pub logs: Option<LogSlice>,
    /// Answer `exec.approvals.get` reads with this (None: leave them pending).
    pub exec_approvals: Option<Value>,
    /// Pairing writes committed, in order (an in-memory store).
    pub pairing_writes: Vec<Vec<PairingChange>>,
    /// Keep pairing writes pending (in `held_pairing`) instead of
    /// committing them at once.
    pub hold_pairing: bool,
    pub held_pairing: Vec<(u64, Vec<PairingChange>)>,
    /// Model calls asked for, in order (the test streams their events with
    /// [`Harness::model_event`]).
    pub model_calls: Vec<(u64, ModelRequest)>,
    /// Model calls the hub cancelled, in order.
    pub cancelled_models: Vec<u64>,
    /// Session batches stored, in order.
    pub session_writes: Vec<Vec<SessionChange>>,
    /// Workspaces prepared, in order: answered at once with `bootstrap`.
    pub workspaces: Vec<String>,
    /// The bootstrap files every workspace holds (`None`: answer with an error).
    pub bootstrap: Option<Vec<BootstrapFile>>,
    /// Tool actions asked for, in order (the test answers them with
    /// [`Harness::tool_outcome`]).
    pub tool_actions: Vec<(u64, String, ToolAction)>,
    /// Tool actions the hub cancelled, in order.
    pub cancelled_tools: Vec<u64>,
    /// What the harness's host reports to `system.info`.
    pub host_stats: Result<crate::gateway::host_stats::HostStats, String>,
    /// What HTTP completions were told, in order (stream id, update).
    pub http_updates: Vec<(u64, crate::gateway::openai_http::HttpRunUpdate)>,
    /// The store's one-time bootstrap tokens: profile and issue time (Unix
    /// ms). A redemption removes the token, as the runtime's store does.
    pub bootstrap_tokens: BTreeMap<String, (crate::gateway::pairing::BootstrapProfile, u64)>,
}

impl Harness {
    pub fn new(config: Config, start: Timestamp, unix_ms: u64) -> Harness {
        Harness {
            gateway: Gateway::new(config, [42; 32], start, unix_ms),
            start,
            now: start,
            seen: Vec::new(),
            stalled: BTreeMap::new(),
            logs: None,
            exec_approvals: None,
            pairing_writes: Vec::new(),
            hold_pairing: false,
            held_pairing: Vec::new(),
            model_calls: Vec::new(),
            cancelled_models: Vec::new(),
            session_writes: Vec::new(),
            workspaces: Vec::new(),
            bootstrap: Some(Vec::new()),
            tool_actions: Vec::new(),
            cancelled_tools: Vec::new(),
            http_updates: Vec::new(),
            bootstrap_tokens: BTreeMap::new(),
            host_stats: Ok(crate::gateway::host_stats::HostStats {
                hostname: "harness".to_owned(),
                cpu_count: 1,
                memory_total_bytes: 1 << 30,
                memory_free_bytes: 1 << 29,
                ..Default::default()
            }),
        }
    }

    /// Answer tool action `token`.
    pub fn tool_outcome(&mut self, token: u64, outcome: ToolOutcome) {
        self.input(Input::EffectDone(EffectResult::Tool { token, outcome }));
    }

    /// Feed one event of model call `token` to the hub.
    pub fn model_event(&mut self, token: u64, event: ModelEvent) {
        self.input(Input::EffectDone(EffectResult::Model { token, event }));
    }

    /// The token of the `n`th model call (from 0).
    pub fn model_token(&self, n: usize) -> u64 {
        self.model_calls[n].0
    }

    /// Answer the held pairing writes: committed (`ok`) or failed.
    pub fn finish_held_pairing(&mut self, ok: bool) {
        for (token, changes) in std::mem::take(&mut self.held_pairing) {
            let result = if ok {
                self.pairing_writes.push(changes);
                Ok(())
            } else {
                Err("disk full".to_owned())
            };
            self.input(Input::EffectDone(EffectResult::PairingWritten {
                token,
                result,
            }));
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.now.saturating_duration_since(self.start).as_millis())
            .unwrap_or(u64::MAX)
    }

    /// Move virtual time to `at`, firing every timer due on the way.
    pub fn advance_to(&mut self, at: Timestamp) {
        while let Some(deadline) = self.gateway.poll_timeout() {
            if deadline > at {
                break;
            }
            self.now = deadline.max(self.now);
            self.gateway.handle_timeout(self.now);
            self.drain();
        }
        self.now = at.max(self.now);
    }

    pub fn advance_ms(&mut self, ms: u64) {
        let at = self.now + Duration::from_millis(ms);
        self.advance_to(at);
    }

    pub fn advance_to_ms(&mut self, ms: u64) {
        let at = self.start + Duration::from_millis(ms);
        self.advance_to(at);
    }

    pub fn open(&mut self, conn: ConnId, ip: &str) {
        let ip: IpAddr = ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let peer = Peer::new(ip, ip.is_loopback());
        self.input(Input::Opened { conn, peer });
    }

    /// Open a connection from `peer` (a browser page: one with an `Origin`).
    pub fn open_peer(&mut self, conn: ConnId, peer: Peer) {
        self.input(Input::Opened { conn, peer });
    }

    pub fn text(&mut self, conn: ConnId, text: &str) {
        self.input(Input::Text { conn, text });
    }

    pub fn close(&mut self, conn: ConnId) {
        self.input(Input::Closed { conn });
    }

    pub fn input(&mut self, input: Input<'_>) {
        self.gateway.handle_input(input, self.now);
        self.drain();
    }

    /// Stop acknowledging bytes for `conn` (a client that stopped reading).
    pub fn stall(&mut self, conn: ConnId) {
        self.stalled.entry(conn).or_insert(0);
    }

    /// Resume reading: acknowledge everything held back.
    pub fn unstall(&mut self, conn: ConnId) {
        if let Some(bytes) = self.stalled.remove(&conn) {
            self.gateway
                .handle_input(Input::Sent { conn, bytes }, self.now);
            self.drain();
        }
    }

    /// Collect every output, acknowledge bytes of reading clients, drop closed
    /// sockets and answer effects, until the gateway has nothing more to say.
    pub fn drain(&mut self) {
        loop {
            let mut acks: Vec<(ConnId, usize)> = Vec::new();
            let mut closes: Vec<ConnId> = Vec::new();
            let mut effects: Vec<Effect> = Vec::new();
            let at_ms = self.elapsed_ms();
            while let Some(output) = self.gateway.poll_output() {
                match output {
                    Output::Frame { conn, frame } => {
                        let text = frame.to_text();
                        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        let len = frame.len();
                        self.seen.push(Seen::Frame {
                            conn,
                            at_ms,
                            frame: value,
                            len,
                        });
                        match self.stalled.get_mut(&conn) {
                            Some(held) => *held += len,
                            None => acks.push((conn, len)),
                        }
                    }
                    Output::Close { conn, code, reason } => {
                        self.seen.push(Seen::Close {
                            conn,
                            at_ms,
                            code,
                            reason,
                        });
                        closes.push(conn);
                    }
                    Output::Authenticated { conn } => {
                        self.seen.push(Seen::Authenticated { conn, at_ms });
                    }
                    Output::Effect(effect) => {
                        self.seen.push(Seen::Effect {
                            at_ms,
                            effect: effect.clone(),
                        });
                        effects.push(effect);
                    }
                }
            }
            if acks.is_empty() && closes.is_empty() && effects.is_empty() {
                return;
            }
            for (conn, bytes) in acks {
                self.gateway
                    .handle_input(Input::Sent { conn, bytes }, self.now);
            }
            // The runtime drops a socket after sending our close.
            for conn in closes {
                self.gateway.handle_input(Input::Closed { conn }, self.now);
            }
            for effect in effects {
                let result = match effect {
                    Effect::ReadLogs { token, .. } => match self.logs.clone() {
                        Some(slice) => EffectResult::Logs {
                            token,
                            result: Ok(slice),
                        },
                        None => continue,
                    },
                    Effect::ReadHostStats { token } => EffectResult::HostStats {
                        token,
                        result: self.host_stats.clone(),
                    },
                    Effect::ReadExecApprovals { token } => match self.exec_approvals.clone() {
                        Some(answer) => EffectResult::ExecApprovals {
                            token,
                            result: Ok(answer),
                        },
                        None => continue,
                    },
                    // No config file: the harness answers as a runtime without one.
                    Effect::ReadConfig { token, then } => EffectResult::ConfigRead {
                        token,
                        then,
                        result: Err("no config file".into()),
                    },
                    Effect::WriteConfig { token, write } => EffectResult::ConfigWritten {
                        token,
                        reply: Box::new(write.reply),
                        result: Err(crate::gateway::ConfigWriteError::Io(
                            "no config file".into(),
                        )),
                    },
                    Effect::RedeemBootstrapToken {
                        token,
                        bootstrap_token,
                        oldest_issued_at_ms,
                    } => EffectResult::BootstrapRedeemed {
                        token,
                        result: Ok(self
                            .bootstrap_tokens
                            .remove(&bootstrap_token)
                            .filter(|(_, issued)| *issued >= oldest_issued_at_ms)
                            .map(|(profile, _)| profile)),
                    },
                    // The in-memory store read back: every committed write.
                    Effect::LoadPairing { token } => {
                        let (pending, paired) = super::fuzz_pairing::replay(&self.pairing_writes);
                        EffectResult::PairingLoaded {
                            token,
                            result: Ok(crate::gateway::pairing::PairingSnapshot {
                                pending: pending.into_values().collect(),
                                paired: paired.into_values().collect(),
                            }),
                        }
                    }
                    Effect::StreamModel { token, request } => {
                        self.model_calls.push((token, *request));
                        continue;
                    }
                    Effect::CancelModel { token } => {
                        self.cancelled_models.push(token);
                        continue;
                    }
                    Effect::PrepareWorkspace { token, dir, .. } => {
                        self.workspaces.push(dir);
                        EffectResult::Workspace {
                            token,
                            result: self.bootstrap.clone().ok_or_else(|| "no workspace".into()),
                        }
                    }
                    Effect::RunTool {
                        token,
                        root,
                        action,
                    } => {
                        self.tool_actions.push((token, root, action));
                        continue;
                    }
                    Effect::CancelTool { token } => {
                        self.cancelled_tools.push(token);
                        continue;
                    }
                    Effect::RunStream { stream, update } => {
                        self.http_updates.push((stream, update));
                        continue;
                    }
                    // An in-memory store: every batch is kept and commits.
                    Effect::WriteSessions { token, changes } => {
                        self.session_writes.push(changes);
                        EffectResult::SessionsWritten {
                            token,
                            result: Ok(()),
                        }
                    }
                    Effect::WritePairing { token, changes } if self.hold_pairing => {
                        self.held_pairing.push((token, changes));
                        continue;
                    }
                    // An in-memory store: every write commits at once.
                    Effect::WritePairing { token, changes } => {
                        self.pairing_writes.push(changes);
                        EffectResult::PairingWritten {
                            token,
                            result: Ok(()),
                        }
                    }
                };
                self.gateway
                    .handle_input(Input::EffectDone(result), self.now);
            }
        }
    }

    /// Frames sent to `conn`, in order.
    pub fn frames(&self, conn: ConnId) -> Vec<&Value> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Frame { conn: c, frame, .. } if *c == conn => Some(frame),
                _ => None,
            })
            .collect()
    }

    /// The close sent to `conn`, with its time.
    pub fn close_of(&self, conn: ConnId) -> Option<(u64, u16, String)> {
        self.seen.iter().find_map(|s| match s {
            Seen::Close {
                conn: c,
                at_ms,
                code,
                reason,
            } if *c == conn => Some((*at_ms, *code, reason.clone())),
            _ => None,
        })
    }

    /// The response to request `id` on `conn` (the `n`th one for repeated ids).
    pub fn response(&self, conn: ConnId, id: &str, n: usize) -> Option<&Value> {
        self.frames(conn)
            .into_iter()
            .filter(|f| {
                f.get("type").and_then(Value::as_str) == Some("res")
                    && f.get("id").and_then(Value::as_str) == Some(id)
            })
            .nth(n)
    }
}
