//! The background task: reads the clock, the socket and the command channel,
//! feeds them to the core, and carries out what the core asks for.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use gateway_proto::time::Timestamp;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use futures_util::StreamExt;
use gateway_proto::client::{CallFailure, ClientConnection, ClientOutput, RequestId};
use serde_json::Value;
use smol::channel::{Receiver, Sender};
use smol::future::{self, FutureExt};
use smol::Timer;

use super::socket::{self, Socket};
use super::{CallError, ClientEvent, ClientOptions, Command, ConnectError};
use crate::clock;
use gateway_proto::client::HelloInfo;

enum Waiter {
    Call(Sender<Result<Value, CallError>>),
}

enum Wake {
    Message(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Command(Option<Command>),
    Timer,
    Reconnect,
}

pub(crate) struct Driver {
    url: String,
    /// The pinned certificate of a `wss://` gateway (reconnects pin it too).
    tls_fingerprint: Option<String>,
    core: ClientConnection,
    socket: Option<Socket>,
    commands: Receiver<Command>,
    events: Sender<ClientEvent>,
    hello: Option<Sender<Result<HelloInfo, ConnectError>>>,
    waiters: BTreeMap<RequestId, Waiter>,
    reconnect_at: Option<Timestamp>,
    /// The last close, for `connect` to report when the first handshake fails.
    last_close: (u16, String),
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    // Without OS randomness request ids and instance ids would repeat across
    // runs; that is harmless for correctness, so fall back instead of failing.
    if getrandom::getrandom(&mut seed).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    seed
}

impl Driver {
    pub(crate) fn new(
        url: String,
        opts: &ClientOptions,
        socket: Socket,
        commands: Receiver<Command>,
        events: Sender<ClientEvent>,
        hello: Sender<Result<HelloInfo, ConnectError>>,
    ) -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let core = ClientConnection::new(opts.core_config(unix_ms), seed(), clock::now());
        Driver {
            url,
            tls_fingerprint: opts.tls_fingerprint.clone(),
            core,
            socket: Some(socket),
            commands,
            events,
            hello: Some(hello),
            waiters: BTreeMap::new(),
            reconnect_at: None,
            last_close: (1006, "connection lost".into()),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            self.drain().await;
            if self.core.is_stopped() {
                break;
            }
            match self.wait().await {
                Wake::Message(Some(Ok(message))) => self.on_message(message),
                Wake::Message(Some(Err(e))) => self.lost(&e.to_string()),
                Wake::Message(None) => self.lost("connection lost"),
                Wake::Command(Some(command)) => self.on_command(command),
                // Every `Client` handle is gone: nobody can read answers any more.
                Wake::Command(None) => self.core.close(clock::now()),
                Wake::Timer => self.core.handle_timeout(clock::now()),
                Wake::Reconnect => self.reconnect().await,
            }
        }
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        // Calls that raced with the stop still get an answer.
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Call { reply, .. } = command {
                let _ = reply.try_send(Err(CallError::Stopped));
            }
        }
    }

    async fn wait(&mut self) -> Wake {
        let timer = self.core.poll_timeout();
        let reconnect_at = self.reconnect_at;
        let socket = &mut self.socket;
        let commands = &self.commands;
        let message = async {
            match socket.as_mut() {
                Some(s) => Wake::Message(s.next().await),
                None => future::pending().await,
            }
        };
        let command = async { Wake::Command(commands.recv().await.ok()) };
        let timer = async {
            match timer {
                Some(at) => {
                    Timer::at(clock::instant_of(at)).await;
                    Wake::Timer
                }
                None => future::pending().await,
            }
        };
        let reconnect = async {
            match reconnect_at {
                Some(at) => {
                    Timer::at(clock::instant_of(at)).await;
                    Wake::Reconnect
                }
                None => future::pending().await,
            }
        };
        message.or(command).or(timer).or(reconnect).await
    }

    fn on_message(&mut self, message: Message) {
        let now = clock::now();
        match message {
            Message::Text(text) => self.core.handle_text(text.as_str(), now),
            Message::Close(frame) => {
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.as_str().to_owned()),
                    None => (1005, String::new()),
                };
                self.socket = None;
                self.last_close = (code, reason.clone());
                self.core.handle_closed(code, &reason, now);
            }
            // Pings are answered by tungstenite; binary frames mean nothing here.
            _ => {}
        }
    }

    fn lost(&mut self, reason: &str) {
        self.socket = None;
        self.last_close = (1006, reason.to_owned());
        self.core.handle_closed(1006, reason, clock::now());
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Call {
                method,
                params,
                opts,
                reply,
            } => {
                match self
                    .core
                    .request(&method, params.as_ref(), opts, clock::now())
                {
                    Ok(id) => {
                        self.waiters.insert(id, Waiter::Call(reply));
                    }
                    Err(e) => {
                        let _ = reply.try_send(Err(CallError::Client(e)));
                    }
                }
            }
            Command::Close => self.core.close(clock::now()),
        }
    }

    async fn reconnect(&mut self) {
        self.reconnect_at = None;
        match socket::open(&self.url, self.tls_fingerprint.as_deref()).await {
            Ok(s) => {
                self.socket = Some(s);
                let _ = self.core.handle_reconnected(clock::now());
            }
            Err(e) => {
                log::debug!("reconnect to {} failed: {e}", self.url);
                // The core believes no socket is open; tell it one was "opened"
                // and closed so it schedules the next attempt.
                let now = clock::now();
                let _ = self.core.handle_reconnected(now);
                self.core.handle_closed(1006, &e, now);
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                ClientOutput::Send(bytes) => {
                    let Some(socket) = self.socket.as_mut() else {
                        continue;
                    };
                    // The core only writes JSON, which is UTF-8.
                    let Ok(text) = Utf8Bytes::try_from(bytes) else {
                        continue;
                    };
                    if let Err(e) = socket.send(Message::Text(text)).await {
                        self.lost(&e.to_string());
                    }
                }
                ClientOutput::Close { code, reason } => {
                    self.last_close = (code, reason.clone());
                    if let Some(mut socket) = self.socket.take() {
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        };
                        let _ = socket.close(Some(frame)).await;
                    }
                }
                ClientOutput::Connected(hello) => {
                    if let Some(tx) = self.hello.take() {
                        let _ = tx.try_send(Ok(hello.clone()));
                    }
                    self.emit(ClientEvent::Connected(hello));
                }
                ClientOutput::Response { id, result } => self.answer(id, result),
                ClientOutput::Accepted { .. } => {}
                ClientOutput::Event { name, payload, seq } => {
                    self.emit(ClientEvent::Event { name, payload, seq })
                }
                ClientOutput::Gap { expected, received } => {
                    self.emit(ClientEvent::Gap { expected, received });
                }
                ClientOutput::Refreshed { method, result } => {
                    self.emit(ClientEvent::Refreshed { method, result });
                }
                ClientOutput::Reconnect { at } => {
                    if self.hello.is_some() {
                        // The first connection failed: `connect` reports it
                        // instead of retrying behind the caller's back.
                        self.core.close(clock::now());
                        continue;
                    }
                    self.reconnect_at = Some(at);
                    let after = at.saturating_duration_since(clock::now());
                    self.emit(ClientEvent::Reconnecting { after });
                }
                ClientOutput::Disconnected {
                    code,
                    reason,
                    error,
                } => {
                    if let Some(tx) = self.hello.take() {
                        let err = match error {
                            Some(e) => ConnectError::Refused(CallFailure::Handshake(e)),
                            None => {
                                let (code, reason) = self.last_close.clone();
                                ConnectError::Closed { code, reason }
                            }
                        };
                        let _ = tx.try_send(Err(err));
                    }
                    self.emit(ClientEvent::Disconnected { code, reason });
                }
            }
        }
    }

    fn answer(&mut self, id: RequestId, result: Result<Value, CallFailure>) {
        match self.waiters.remove(&id) {
            Some(Waiter::Call(reply)) => {
                let _ = reply.try_send(result.map_err(CallError::Failed));
            }
            None => {}
        }
    }

    fn emit(&self, event: ClientEvent) {
        // A full queue means nobody is keeping up; dropping keeps memory bounded.
        if self.events.try_send(event).is_err() {
            log::trace!("client event dropped (queue full or no reader)");
        }
    }
}
