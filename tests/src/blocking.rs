//! A second runtime for the same core, to show that it is pluggable: plain
//! blocking `std::net` and `tungstenite`, one thread per connection and one
//! thread that owns the [`Gateway`]. No smol, no async.
//!
//! It is deliberately small (no HTTP probes, no slow-consumer byte pacing
//! beyond what the kernel gives, no signals): just the drive loop every
//! runtime owes the core:
//!
//! - feed inputs with `now` from one monotonic origin;
//! - drain `poll_output()` after every input;
//! - sleep until `poll_timeout()` and call `handle_timeout`;
//! - report written bytes (`Input::Sent`) and every close (`Input::Closed`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway_proto::gateway::{Config, Gateway, Input, Output, Peer};
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// What a connection thread tells the hub thread.
enum ToHub {
    Opened(ConnId, Peer, Sender<ToConn>),
    Text(ConnId, String),
    Sent(ConnId, usize),
    Closed(ConnId),
}

/// What the hub thread tells a connection thread.
enum ToConn {
    Text(String),
    Close(u16, String),
}

/// A running blocking gateway.
pub struct BlockingGateway {
    pub addr: SocketAddr,
}

impl BlockingGateway {
    /// Bind `127.0.0.1:0` and serve `config` on background threads for the
    /// life of the process.
    pub fn start(config: Config) -> std::io::Result<BlockingGateway> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (hub_tx, hub_rx) = channel();
        thread::Builder::new()
            .name("blocking-hub".into())
            .spawn(move || hub(config, hub_rx))?;
        thread::Builder::new()
            .name("blocking-accept".into())
            .spawn(move || accept(listener, hub_tx))?;
        Ok(BlockingGateway { addr })
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

// A runtime is where the clock is read.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now() -> Timestamp {
    Timestamp::from_elapsed(origin().elapsed())
}

fn accept(listener: TcpListener, hub: Sender<ToHub>) {
    for (next, stream) in (1u64..).zip(listener.incoming().flatten()) {
        let conn = ConnId(next);
        let hub = hub.clone();
        let _ = thread::Builder::new()
            .name(format!("blocking-{conn}"))
            .spawn(move || connection(stream, conn, hub));
    }
}

// The handshake callback's error type is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
/// One socket: upgrade, then alternate between reading (with a short
/// timeout) and writing what the hub queued.
fn connection(stream: TcpStream, conn: ConnId, hub: Sender<ToHub>) {
    let Ok(remote) = stream.peer_addr() else {
        return;
    };
    let mut origin_header = None;
    let mut host_header = None;
    let callback = |request: &Request, response: Response| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        origin_header = header("origin");
        host_header = header("host");
        Ok(response)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else {
        return;
    };
    let ip = remote.ip().to_canonical();
    let mut peer = Peer::new(ip, ip.is_loopback());
    if let Some(origin) = origin_header.filter(|o| !o.trim().is_empty()) {
        peer = peer.with_origin(origin);
    }
    if let Some(host) = host_header {
        peer = peer.with_host(host);
    }
    let (tx, rx) = channel();
    if hub.send(ToHub::Opened(conn, peer, tx)).is_err() {
        return;
    }
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(5)));
    serve_socket(&mut ws, conn, &hub, &rx);
    // The embedder's duty: every close is reported.
    let _ = hub.send(ToHub::Closed(conn));
}

fn serve_socket(
    ws: &mut WebSocket<TcpStream>,
    conn: ConnId,
    hub: &Sender<ToHub>,
    rx: &Receiver<ToConn>,
) {
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                if hub
                    .send(ToHub::Text(conn, text.as_str().to_owned()))
                    .is_err()
                {
                    return;
                }
            }
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        loop {
            match rx.try_recv() {
                Ok(ToConn::Text(text)) => {
                    let len = text.len();
                    if ws.send(Message::text(text)).is_err() {
                        return;
                    }
                    // The embedder's duty: written bytes are reported.
                    let _ = hub.send(ToHub::Sent(conn, len));
                }
                Ok(ToConn::Close(code, reason)) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    let _ = ws.close(Some(frame));
                    let _ = ws.flush();
                    return;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            }
        }
    }
}

/// The hub thread: the one owner of the core (and where the wall clock is
/// read once, for the core's wall-time origin).
#[allow(clippy::disallowed_methods)]
fn hub(config: Config, inbox: Receiver<ToHub>) {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut seed = [0u8; 32];
    let _ = getrandom::getrandom(&mut seed);
    let mut gateway = Gateway::new(config, seed, now(), unix_ms);
    let mut conns: BTreeMap<ConnId, Sender<ToConn>> = BTreeMap::new();
    loop {
        let wait = gateway
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now()))
            .unwrap_or(Duration::from_secs(3600));
        match inbox.recv_timeout(wait) {
            Ok(ToHub::Opened(conn, peer, tx)) => {
                conns.insert(conn, tx);
                gateway.handle_input(Input::Opened { conn, peer }, now());
            }
            Ok(ToHub::Text(conn, text)) => {
                gateway.handle_input(Input::Text { conn, text: &text }, now());
            }
            Ok(ToHub::Sent(conn, bytes)) => {
                gateway.handle_input(Input::Sent { conn, bytes }, now());
            }
            Ok(ToHub::Closed(conn)) => {
                conns.remove(&conn);
                gateway.handle_input(Input::Closed { conn }, now());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Due deadlines fire after every input too: under steady input the
        // receive never times out.
        if gateway.poll_timeout().is_some_and(|at| at <= now()) {
            gateway.handle_timeout(now());
        }
        while let Some(output) = gateway.poll_output() {
            match output {
                Output::Frame { conn, frame } => {
                    if let Some(tx) = conns.get(&conn) {
                        let _ = tx.send(ToConn::Text(frame.to_text()));
                    }
                }
                Output::Close { conn, code, reason } => {
                    if let Some(tx) = conns.get(&conn) {
                        let _ = tx.send(ToConn::Close(code, reason));
                    }
                }
                Output::Authenticated { .. } => {}
                // This runtime serves no log file: say so.
                Output::Effect(effect) => {
                    let result = gateway_proto::gateway::EffectResult::Logs {
                        token: effect.token(),
                        result: Err("no log file in the blocking runtime".to_owned()),
                    };
                    gateway.handle_input(Input::EffectDone(result), now());
                }
            }
        }
    }
}
