//! An async (smol) gateway client driving [`gateway_proto::client::ClientConnection`].
//!
//! One background task owns the socket and the sans-IO core; [`Client`] talks to
//! it through a channel, so a `Client` is cheap to share by reference and every
//! call is cancel-safe (a dropped call's answer is discarded).
//!
//! ```no_run
//! use gateway_smol::client::{Client, ClientOptions};
//!
//! smol::block_on(async {
//!     let opts = ClientOptions { token: Some("secret".into()), ..Default::default() };
//!     let client = Client::connect("ws://127.0.0.1:18789", opts).await?;
//!     let health = client.call("health", None).await?;
//!     println!("{health:#}");
//!     // Events, gap notices and the state refreshed after a gap:
//!     let events = client.events();
//!     while let Ok(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//!     client.close().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```

// The runtime is where the clock is read: the core gets `clock::now()` from here.
#![allow(clippy::disallowed_methods)]

mod driver;
mod socket;

use std::time::Duration;

use gateway_proto::client::{
    CallFailure, ClientAuth, ClientConfig, ClientError, ClientIdentity, DeviceKey, HelloInfo,
    RequestOptions,
};
use serde_json::Value;
use smol::channel::{self, Receiver, Sender};

/// How to connect and who to be.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub token: Option<String>,
    pub password: Option<String>,
    pub device_token: Option<String>,
    pub client: ClientIdentity,
    pub role: String,
    pub scopes: Vec<String>,
    pub device: Option<DeviceKey>,
    /// `[minProtocol, maxProtocol]`.
    pub protocol: (u64, u64),
    /// Default deadline of a call.
    pub request_timeout: Duration,
    /// Reconnect with backoff after the connection drops (the first connection
    /// must succeed either way: `connect` reports its failure).
    pub reconnect: bool,
    /// After a gap, re-fetch `health` and `system-presence` and report them as
    /// [`ClientEvent::Refreshed`].
    pub refresh_on_gap: bool,
    /// Events buffered for [`Client::events`]; beyond it new events are dropped
    /// (a reader that falls behind sees fewer events, memory stays bounded).
    pub event_buffer: usize,
    /// A node's `connect.caps`, `connect.commands` and `connect.pathEnv`
    /// (see [`ClientConfig`]); empty for operators.
    pub caps: Vec<String>,
    pub commands: Vec<String>,
    pub path_env: Option<String>,
    /// For a `wss://` url: accept exactly the certificate with this SHA-256
    /// fingerprint (any form [`crate::tls::normalize_fingerprint`] takes)
    /// instead of one the web roots vouch for.
    pub tls_fingerprint: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        let core = ClientConfig::default();
        ClientOptions {
            token: None,
            password: None,
            device_token: None,
            client: core.client,
            role: core.role,
            scopes: core.scopes,
            device: None,
            protocol: (core.min_protocol, core.max_protocol),
            request_timeout: core.request_timeout,
            reconnect: true,
            refresh_on_gap: true,
            event_buffer: 1024,
            caps: Vec::new(),
            commands: Vec::new(),
            path_env: None,
            tls_fingerprint: None,
        }
    }
}

impl ClientOptions {
    fn core_config(&self, unix_ms: u64) -> ClientConfig {
        ClientConfig {
            client: self.client.clone(),
            role: self.role.clone(),
            scopes: self.scopes.clone(),
            auth: ClientAuth {
                token: self.token.clone(),
                password: self.password.clone(),
                device_token: self.device_token.clone(),
            },
            device: self.device.clone(),
            min_protocol: self.protocol.0,
            max_protocol: self.protocol.1,
            request_timeout: self.request_timeout,
            reconnect: self.reconnect,
            refresh_on_gap: self.refresh_on_gap,
            unix_ms_at_start: unix_ms,
            caps: self.caps.clone(),
            commands: self.commands.clone(),
            path_env: self.path_env.clone(),
            ..ClientConfig::default()
        }
    }
}

/// What the background task reports besides answers.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    Connected(HelloInfo),
    Event {
        name: String,
        payload: Value,
        seq: Option<u64>,
    },
    /// Events `expected..received` were missed.
    Gap {
        expected: u64,
        received: u64,
    },
    /// The answer to a refresh made after a gap (`health` or `system-presence`).
    Refreshed {
        method: String,
        result: Result<Value, CallFailure>,
    },
    /// The connection dropped; a new one is attempted in `after`.
    Reconnecting {
        after: Duration,
    },
    /// Terminal.
    Disconnected {
        code: u16,
        reason: String,
    },
}

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect or WebSocket upgrade failed (gateway not running?).
    #[error("{0}")]
    Io(String),
    /// The gateway refused the handshake (bad token, pairing required, ...).
    #[error("{0}")]
    Refused(CallFailure),
    /// The connection closed before `hello-ok`.
    #[error("gateway closed ({code}): {reason}")]
    Closed { code: u16, reason: String },
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Failed(CallFailure),
    #[error("{0}")]
    Client(ClientError),
    #[error("client task stopped")]
    Stopped,
}

impl CallError {
    /// The gateway's error, when it answered with one.
    pub fn gateway_error(&self) -> Option<&gateway_proto::wire::ErrorShape> {
        match self {
            CallError::Failed(
                CallFailure::Gateway { error, .. } | CallFailure::Handshake(error),
            ) => Some(error),
            _ => None,
        }
    }
}

pub(crate) enum Command {
    Call {
        method: String,
        params: Option<Value>,
        opts: RequestOptions,
        reply: Sender<Result<Value, CallError>>,
    },
    Close,
}

/// A connected client. Dropping it stops the background task.
pub struct Client {
    commands: Sender<Command>,
    events: Receiver<ClientEvent>,
    hello: HelloInfo,
    task: smol::Task<()>,
}

impl Client {
    /// Open a socket to `url` (`ws://host:port` or `wss://host:port`), do the handshake, and return
    /// once `hello-ok` arrived. Fails fast when nothing listens at `url`.
    pub async fn connect(url: &str, opts: ClientOptions) -> Result<Client, ConnectError> {
        let (commands, command_rx) = channel::unbounded();
        let (event_tx, events) = channel::bounded(opts.event_buffer.max(1));
        let (hello_tx, hello_rx) = channel::bounded(1);
        let socket = socket::open(url, opts.tls_fingerprint.as_deref())
            .await
            .map_err(ConnectError::Io)?;
        let driver = driver::Driver::new(
            url.to_owned(),
            &opts,
            socket,
            command_rx,
            event_tx,
            hello_tx,
        );
        let task = smol::spawn(driver.run());
        let hello = match hello_rx.recv().await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ConnectError::Closed {
                    code: 1006,
                    reason: "client task stopped".into(),
                })
            }
        };
        Ok(Client {
            commands,
            events,
            hello,
            task,
        })
    }

    /// The first `hello-ok`.
    pub fn hello(&self) -> &HelloInfo {
        &self.hello
    }

    /// A receiver of events; clones share one queue.
    pub fn events(&self) -> Receiver<ClientEvent> {
        self.events.clone()
    }

    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, CallError> {
        self.call_with(method, params, RequestOptions::default())
            .await
    }

    /// A call answered by an `accepted` ack and then a final result (`agent`).
    pub async fn call_expect_final(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, CallError> {
        self.call_with(
            method,
            params,
            RequestOptions {
                expect_final: true,
                timeout: None,
            },
        )
        .await
    }

    pub async fn call_with(
        &self,
        method: &str,
        params: Option<Value>,
        opts: RequestOptions,
    ) -> Result<Value, CallError> {
        let (reply, answer) = channel::bounded(1);
        let command = Command::Call {
            method: method.to_owned(),
            params,
            opts,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| CallError::Stopped)?;
        answer.recv().await.unwrap_or(Err(CallError::Stopped))
    }

    /// Close the socket (1000) and wait for the task to finish.
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close).await;
        self.task.await;
    }
}
