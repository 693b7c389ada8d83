//! The hub task: the one owner of the `Gateway`.
//!
//! Connection tasks, effect workers, signal handlers and the server handle all
//! talk to it through one bounded channel of [`HubMsg`]; it feeds each message
//! to the core with `now = clock::now()`, drains `poll_output()`, routes
//! frames and closes to per-connection queues, starts effects, and sleeps on
//! one timer armed at `poll_timeout()`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Utf8Bytes;
use gateway_proto::gateway::openai_http::{
    Completion, HttpAnswer, HttpGate, HttpHead, HttpRunUpdate, MAX_HTTP_RUNS,
};
use gateway_proto::gateway::{Config, Effect, EffectResult, Gateway, Input, Output, Peer};
use std::sync::Arc;

use crate::openai_http::RunSlot;
use gateway_proto::wire::OutFrame;
use gateway_proto::ConnId;
use smol::channel::{Receiver, Sender};

use crate::outbox::HubSide;
use crate::readiness::{Phase, Readiness};
use crate::{clock, logs};

/// Capacity of the hub's inbox: connection readers wait when the hub is behind.
pub(crate) const INBOX_CAPACITY: usize = 1024;

/// How long a stop or restart waits for the session changes still pending
/// to be stored (counted from the start of the drain).
const SESSIONS_SAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the hub task hears about.
pub(crate) enum HubMsg {
    Opened {
        conn: ConnId,
        peer: Peer,
        remote: SocketAddr,
        outbox: HubSide,
    },
    Text {
        conn: ConnId,
        text: Utf8Bytes,
        /// Dropped once the hub has handled the message: a reader waits for
        /// that after a large message before it reads the next one.
        handled: Option<Sender<()>>,
    },
    Sent {
        conn: ConnId,
        bytes: usize,
    },
    Closed {
        conn: ConnId,
    },
    EffectDone(EffectResult),
    Control(Control),
    /// The watchdog thread asks whether the hub task still turns.
    Heartbeat,
    /// An authenticated Control UI route (`/control-ui-config.json`, avatars).
    ControlUiApi {
        api: gateway_proto::gateway::control_ui::ControlUiApi,
        authorization: Option<String>,
        reply: Sender<gateway_proto::gateway::control_ui::ControlUiAnswer>,
    },
    /// An OpenAI-compatible API request head: what to do with it.
    HttpGate {
        head: HttpHead,
        reply: Sender<HttpGate>,
    },
    /// A completion's body: start its run, its updates to `slot`.
    HttpChat {
        stream: u64,
        head: HttpHead,
        body: Vec<u8>,
        slot: Arc<RunSlot>,
        reply: Sender<Result<Completion, HttpAnswer>>,
    },
    /// The client of a completion went away (or could not keep up).
    HttpGone {
        stream: u64,
    },
}

/// Requests from outside the protocol: the server handle and signals.
#[derive(Debug)]
pub(crate) enum Control {
    /// New hot settings (auth, limits) for the running hub.
    Reconfigure(Box<Config>),
    /// Stop everything: `shutdown` event, close every socket, return.
    Shutdown { reason: Option<String> },
    /// Stop the hub and start a fresh one, optionally on another address
    /// and with another configuration.
    Restart {
        reason: Option<String>,
        addr: Option<SocketAddr>,
        config: Option<Box<Config>>,
    },
}

/// What a connection's writer is asked to do, in order.
pub(crate) enum ToConn {
    Frame(OutFrame),
    Close {
        code: u16,
        reason: String,
    },
    /// The hub just sent this connection its hello-ok.
    Authenticated,
}

/// How a hub generation ended.
pub(crate) enum Next {
    Stop,
    Restart {
        addr: Option<SocketAddr>,
        config: Option<Box<Config>>,
    },
}

struct ConnEntry {
    /// Dropping it (the entry leaves the map) tells the writer to stop.
    outbox: HubSide,
    authenticated: bool,
}

pub(crate) struct Hub<'a> {
    gateway: Gateway,
    conns: BTreeMap<ConnId, ConnEntry>,
    inbox: &'a Receiver<HubMsg>,
    readiness: &'a Readiness,
    /// For effect workers to send their results back.
    outbox: Sender<HubMsg>,
    executor: std::sync::Arc<smol::Executor<'static>>,
    /// The upgrade-time limits, told about config reloads.
    admission: std::sync::Arc<crate::preauth::AdmissionGate>,
    log_file: Option<PathBuf>,
    /// Whose file system `system.info` reports.
    state_dir: Option<PathBuf>,
    exec_approvals: Option<crate::options::ExecApprovalsSource>,
    config_file: Option<crate::ConfigFileAccess>,
    /// The store thread that runs `WritePairing` effects.
    pairing: Option<&'a crate::pairing_writer::PairingWriter>,
    /// The store thread that runs `WriteSessions` effects.
    sessions: Option<&'a crate::session_writer::SessionWriter>,
    restart_expected_ms: u64,
    drain_timeout: Duration,
    /// Latest configuration, handed to the next generation on a restart.
    pub(crate) config: Config,
    /// The model calls under way (see [`crate::model_calls`]).
    model_calls: crate::model_calls::ModelCalls,
    /// The tool actions under way (see [`crate::tools`]).
    tools: crate::tools::ToolRuntime,
    /// HTTP completions waiting for their run's updates, by stream id.
    http_streams: BTreeMap<u64, Arc<RunSlot>>,
}

impl<'a> Hub<'a> {
    pub(crate) fn new(
        gateway: Gateway,
        config: Config,
        inbox: &'a Receiver<HubMsg>,
        shared: &'a crate::server::Shared,
    ) -> Self {
        let opts = &shared.opts;
        Hub {
            gateway,
            conns: BTreeMap::new(),
            inbox,
            readiness: &shared.readiness,
            outbox: shared.hub_tx.clone(),
            executor: std::sync::Arc::clone(&shared.executor),
            admission: std::sync::Arc::clone(&shared.admission),
            log_file: opts
                .log_file
                .clone()
                .or_else(|| config.log_file.as_ref().map(PathBuf::from)),
            state_dir: opts.state_dir.clone(),
            pairing: shared.pairing.as_ref(),
            sessions: shared.sessions.as_ref(),
            exec_approvals: opts.exec_approvals.clone(),
            config_file: opts.config_file.clone(),
            restart_expected_ms: opts.restart_expected_ms,
            drain_timeout: opts.drain_timeout,
            config,
            model_calls: crate::model_calls::ModelCalls::new(opts.providers),
            tools: crate::tools::ToolRuntime::default(),
            http_streams: BTreeMap::new(),
        }
    }

    pub(crate) fn input(&mut self, input: Input<'_>) {
        self.gateway.handle_input(input, clock::now());
        self.drain();
    }

    /// Serve until a shutdown or restart has drained (or timed out).
    pub(crate) async fn run(&mut self) -> Next {
        let mut timer = smol::Timer::never();
        let mut armed: Option<Instant> = None;
        // Set once a shutdown/restart was sent to the core: (when, what next).
        let mut draining: Option<(Instant, Next)> = None;
        loop {
            if let Some((started, _)) = &draining {
                let now = Instant::now();
                if !self.conns.is_empty() && now >= *started + self.drain_timeout {
                    log::warn!(target: "gateway", "{} connection(s) did not close in time; dropping them", self.conns.len());
                    // Dropping the queues ends the writers of any straggler.
                    self.conns.clear();
                }
                // Sessions accepted before the stop are stored before the
                // hub (and with it the core's pending changes) goes away.
                let saved = self.gateway.sessions_saved();
                if self.conns.is_empty() && (saved || now >= *started + SESSIONS_SAVE_TIMEOUT) {
                    if !saved {
                        log::error!(target: "gateway/store", "session changes not stored within {SESSIONS_SAVE_TIMEOUT:?}; they are lost");
                    }
                    let (_, next) = draining.take().expect("checked just above");
                    return next;
                }
            }
            let core_deadline = self.gateway.poll_timeout().map(clock::instant_of);
            // While draining, wake at the connections' deadline, then at the save bound.
            let drain_wake = draining.as_ref().map(|(started, _)| {
                *started
                    + if self.conns.is_empty() {
                        SESSIONS_SAVE_TIMEOUT
                    } else {
                        self.drain_timeout
                    }
            });
            let deadline = match (core_deadline, drain_wake) {
                (Some(t), Some(d)) => Some(t.min(d)),
                (t, d) => t.or(d),
            };
            if deadline != armed {
                armed = deadline;
                match deadline {
                    Some(at) => timer.set_at(at),
                    None => timer = smol::Timer::never(),
                }
            }
            let event = smol::future::or(async { self.inbox.recv().await.ok() }, async {
                (&mut timer).await;
                None
            })
            .await;
            let Some(msg) = event else {
                // The timer fired (the inbox cannot close: the server keeps a sender).
                armed = None;
                self.gateway.handle_timeout(clock::now());
                self.drain();
                continue;
            };
            let next = self.handle(msg);
            // `or` prefers the inbox: under steady input the timer future
            // would never get its turn, so due deadlines (handshake
            // timeouts, delayed refusals, ticks) are fired here as well.
            if self
                .gateway
                .poll_timeout()
                .is_some_and(|at| at <= clock::now())
            {
                self.gateway.handle_timeout(clock::now());
                self.drain();
            }
            if let Some(next) = next {
                if let Some((_, pending)) = &mut draining {
                    // A stop while a restart drains wins; a second restart changes nothing.
                    if matches!(next, Next::Stop) {
                        *pending = Next::Stop;
                    }
                } else {
                    // New upgrades are refused and /readyz fails from now on.
                    self.readiness.set(Phase::Draining);
                    draining = Some((Instant::now(), next));
                }
            }
        }
    }

    /// Feed one message to the core; returns what to do after draining if it
    /// was a shutdown or restart.
    fn handle(&mut self, msg: HubMsg) -> Option<Next> {
        match msg {
            HubMsg::Opened {
                conn,
                peer,
                remote,
                outbox,
            } => {
                log::info!(target: "gateway/ws", "← open remoteAddr={} remotePort={} {conn}", remote.ip(), remote.port());
                self.conns.insert(
                    conn,
                    ConnEntry {
                        outbox,
                        authenticated: false,
                    },
                );
                self.input(Input::Opened { conn, peer });
            }
            HubMsg::Text {
                conn,
                text,
                handled,
            } => {
                // Messages of connections from an earlier generation are dropped.
                if self.conns.contains_key(&conn) {
                    if log::log_enabled!(target: "gateway/ws", log::Level::Debug) {
                        log::debug!(target: "gateway/ws", "← {conn} {}", clip(text.as_str()));
                    }
                    self.input(Input::Text {
                        conn,
                        text: text.as_str(),
                    });
                }
                drop(handled);
            }
            HubMsg::Sent { conn, bytes } => {
                if self.conns.contains_key(&conn) {
                    self.input(Input::Sent { conn, bytes });
                }
            }
            HubMsg::Closed { conn } => {
                if self.conns.remove(&conn).is_some() {
                    log::info!(target: "gateway/ws", "→ close {conn}");
                    self.input(Input::Closed { conn });
                }
            }
            HubMsg::EffectDone(result) => self.input(Input::EffectDone(result)),
            HubMsg::Heartbeat => self.readiness.beat(),
            HubMsg::ControlUiApi {
                api,
                authorization,
                reply,
            } => {
                let _ = reply.try_send(self.gateway.control_ui_api(&api, authorization.as_deref()));
            }
            HubMsg::HttpGate { head, reply } => {
                let _ = reply.try_send(self.gateway.http_gate(&head));
            }
            HubMsg::HttpChat {
                stream,
                head,
                body,
                slot,
                reply,
            } => {
                let answer = if self.http_streams.len() >= MAX_HTTP_RUNS {
                    Err(HttpAnswer::error(
                        503,
                        "too many chat completions in progress; retry later",
                        "api_error",
                    ))
                } else {
                    // The slot is in place before the run can report anything.
                    self.http_streams.insert(stream, slot);
                    let answer =
                        self.gateway
                            .http_chat_completion(stream, &head, &body, clock::now());
                    if answer.is_err() {
                        self.http_streams.remove(&stream);
                    }
                    answer
                };
                let _ = reply.try_send(answer);
                self.drain();
            }
            HubMsg::HttpGone { stream } => {
                // Also after an overflow took the slot away: the run goes on
                // in the core until it hears this.
                self.http_streams.remove(&stream);
                self.gateway.http_client_gone(stream, clock::now());
                self.drain();
            }
            HubMsg::Control(Control::Reconfigure(config)) => {
                log::info!(target: "gateway", "configuration reloaded (auth mode {})", config.auth.mode_name());
                // The UI was found at start-up; a reload does not move it.
                let mut config = config;
                config.control_ui = self.config.control_ui.clone();
                self.config = (*config).clone();
                self.admission.set_limits(&config.limits);
                self.gateway.reconfigure(*config);
                self.drain();
            }
            HubMsg::Control(Control::Shutdown { reason }) => {
                log::info!(target: "gateway", "shutting down");
                crate::sd_notify::Notifier::from_env().stopping();
                self.input(Input::Shutdown {
                    reason: reason.as_deref(),
                    restart_expected_ms: None,
                });
                return Some(Next::Stop);
            }
            HubMsg::Control(Control::Restart {
                reason,
                addr,
                config,
            }) => {
                log::info!(target: "gateway", "restarting in-process");
                if let Some(config) = &config {
                    let control_ui = self.config.control_ui.clone();
                    self.config = (**config).clone();
                    self.config.control_ui = control_ui;
                }
                self.input(Input::Shutdown {
                    reason: Some(reason.as_deref().unwrap_or("gateway restarting")),
                    restart_expected_ms: Some(self.restart_expected_ms),
                });
                return Some(Next::Restart { addr, config });
            }
        }
        None
    }

    /// Route everything the core has to say.
    fn drain(&mut self) {
        while let Some(output) = self.gateway.poll_output() {
            match output {
                Output::Frame { conn, frame } => {
                    let Some(entry) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    if log::log_enabled!(target: "gateway/ws", log::Level::Debug) {
                        log::debug!(target: "gateway/ws", "→ {conn} {}", clip(&frame.to_text()));
                    }
                    // Unbounded by count only: the core bounds each queue by bytes
                    // (it sees `Sent` reports) and closes slow consumers.
                    entry.outbox.push(ToConn::Frame(frame));
                }
                Output::Authenticated { conn } => {
                    // The pre-auth slot is given back and keepalive starts once
                    // the core says the handshake succeeded (after its hello-ok).
                    if let Some(entry) = self.conns.get_mut(&conn) {
                        entry.authenticated = true;
                        entry.outbox.push(ToConn::Authenticated);
                    }
                }
                Output::Close { conn, code, reason } => {
                    if let Some(entry) = self.conns.get(&conn) {
                        // A refused connect is worth a console line (the
                        // reason is the core's message, never a secret).
                        if !entry.authenticated && code != 1000 {
                            log::warn!(target: "gateway/ws", "connect refused {conn}: close {code} {reason}");
                        } else {
                            log::debug!(target: "gateway/ws", "→ {conn} close {code} {reason}");
                        }
                        if reason == gateway_proto::server::SLOW_CONSUMER {
                            // A client that cannot keep up gets no more of its
                            // backlog: the close goes next (after the frame in
                            // progress), and the memory is given back now.
                            entry.outbox.discard_frames();
                        }
                        entry.outbox.push(ToConn::Close { code, reason });
                    }
                }
                Output::Effect(Effect::RunStream { stream, update }) => {
                    self.route_run_update(stream, update);
                }
                Output::Effect(effect) => self.start_effect(effect),
            }
        }
    }

    /// Hand an HTTP completion's update to the task writing to its client
    /// (none: the client left, the update is dropped).
    fn route_run_update(&mut self, stream: u64, update: HttpRunUpdate) {
        if let Some(slot) = self.http_streams.get(&stream) {
            if slot.push(update) {
                // Ended, or the client fell too far behind: the writer
                // takes it from here (and reports a client left behind).
                self.http_streams.remove(&stream);
            }
        }
    }

    fn start_effect(&self, effect: Effect) {
        match effect {
            // Routed by `drain` (it needs the stream map).
            Effect::RunStream { stream, update } => {
                log::debug!(target: "gateway/http", "unrouted update for stream {stream}: {update:?}");
            }
            Effect::ReadLogs {
                token,
                cursor,
                limit,
                max_bytes,
            } => {
                let outbox = self.outbox.clone();
                let path = self.log_file.clone();
                self.executor
                    .spawn(async move {
                        let result = match path {
                            Some(path) => {
                                smol::unblock(move || {
                                    logs::read_slice(&path, cursor, limit, max_bytes)
                                })
                                .await
                            }
                            None => Err("no log file configured".to_string()),
                        };
                        let _ = outbox
                            .send(HubMsg::EffectDone(EffectResult::Logs { token, result }))
                            .await;
                    })
                    .detach();
            }
            Effect::WritePairing { token, changes } => {
                let queued = match self.pairing {
                    Some(writer) => writer.write(token, changes),
                    None => Err("no pairing store configured".to_string()),
                };
                if let Err(e) = queued {
                    self.answer_later(EffectResult::PairingWritten {
                        token,
                        result: Err(e),
                    });
                }
            }
            Effect::ReadExecApprovals { token } => {
                let source = self.exec_approvals.clone();
                let outbox = self.outbox.clone();
                self.executor
                    .spawn(async move {
                        let result = match source {
                            Some(source) => smol::unblock(move || (source.0)()).await,
                            None => Err("exec approvals are not available on this host".into()),
                        };
                        let done = EffectResult::ExecApprovals { token, result };
                        let _ = outbox.send(HubMsg::EffectDone(done)).await;
                    })
                    .detach();
            }
            Effect::ReadHostStats { token } => {
                let state_dir = self.state_dir.clone();
                self.run_blocking(move || EffectResult::HostStats {
                    token,
                    result: crate::host_stats::read(state_dir.as_deref()),
                });
            }
            Effect::ReadConfig { token, then } => {
                let access = self.config_file.clone();
                self.run_blocking(move || {
                    let result = match access {
                        Some(access) => crate::config_store::read(&access.path),
                        None => Err("the config file is not available".into()),
                    };
                    EffectResult::ConfigRead {
                        token,
                        then,
                        result,
                    }
                });
            }
            Effect::WriteConfig { token, write } => {
                let access = self.config_file.clone();
                self.run_blocking(move || {
                    let result = match &access {
                        Some(access) => crate::config_store::write_if_unchanged(access, &write),
                        None => Err(gateway_proto::gateway::ConfigWriteError::Io(
                            "the config file is not available".into(),
                        )),
                    };
                    if let (Ok(()), Some(access)) = (&result, &access) {
                        log::info!(target: "gateway", "{} wrote {}", write.reply.method.name(), access.path.display());
                    }
                    EffectResult::ConfigWritten {
                        token,
                        reply: Box::new(write.reply),
                        result,
                    }
                });
            }
            Effect::RedeemBootstrapToken {
                token,
                bootstrap_token,
                oldest_issued_at_ms,
            } => {
                let queued = match self.pairing {
                    Some(writer) => writer.redeem(token, bootstrap_token, oldest_issued_at_ms),
                    None => Err("no pairing store configured".to_string()),
                };
                if let Err(e) = queued {
                    self.answer_later(EffectResult::BootstrapRedeemed {
                        token,
                        result: Err(e),
                    });
                }
            }
            Effect::LoadPairing { token } => {
                let queued = match self.pairing {
                    Some(writer) => writer.load_for_core(token),
                    None => Err("no pairing store configured".to_string()),
                };
                if let Err(e) = queued {
                    self.answer_later(EffectResult::PairingLoaded {
                        token,
                        result: Err(e),
                    });
                }
            }
            Effect::StreamModel { token, request } => {
                self.model_calls.start(token, *request, self.outbox.clone());
            }
            Effect::CancelModel { token } => self.model_calls.cancel(token),
            Effect::PrepareWorkspace { token, dir, files } => {
                self.run_blocking(move || EffectResult::Workspace {
                    token,
                    result: crate::tools::prepare_workspace(&dir, &files),
                });
            }
            Effect::RunTool {
                token,
                root,
                action,
            } => {
                // Admitted (and cancellable) now; run on the blocking pool.
                let work = self.tools.run(token, root, action);
                let outbox = self.outbox.clone();
                self.executor
                    .spawn(async move {
                        let outcome = work.await;
                        let done = EffectResult::Tool { token, outcome };
                        let _ = outbox.send(HubMsg::EffectDone(done)).await;
                    })
                    .detach();
            }
            Effect::CancelTool { token } => self.tools.cancel(token),
            Effect::WriteSessions { token, changes } => {
                let result = match self.sessions {
                    Some(writer) => writer.write(token, changes),
                    // No state dir: the caller (a test, an embedding) chose
                    // memory-only sessions. Refusing would make the core
                    // retry forever and every stop wait for the save bound.
                    None => Ok(()),
                };
                if self.sessions.is_none() || result.is_err() {
                    self.answer_later(EffectResult::SessionsWritten { token, result });
                }
            }
        }
    }

    /// Run `work` on the blocking pool and feed its result back.
    fn run_blocking(&self, work: impl FnOnce() -> EffectResult + Send + 'static) {
        let outbox = self.outbox.clone();
        self.executor
            .spawn(async move {
                let done = smol::unblock(work).await;
                let _ = outbox.send(HubMsg::EffectDone(done)).await;
            })
            .detach();
    }

    /// Answer an effect from a task: the hub never feeds itself while it
    /// drains its outputs.
    fn answer_later(&self, result: EffectResult) {
        let outbox = self.outbox.clone();
        self.executor
            .spawn(async move {
                let _ = outbox.send(HubMsg::EffectDone(result)).await;
            })
            .detach();
    }
}

/// At most ~200 characters of a frame for a verbose log line.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
