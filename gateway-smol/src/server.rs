//! Binding, the accept loop, and hub generations (a restart is a new `Gateway`
//! on the same or a new listener).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gateway_proto::gateway::agents::journal::StoredSession;
use gateway_proto::gateway::pairing::PairingSnapshot;
use gateway_proto::gateway::{Config, Gateway, Input};
use gateway_proto::ConnId;
use smol::channel::{Receiver, Sender};
use smol::net::TcpListener;

use crate::hub::{Control, Hub, HubMsg, Next, INBOX_CAPACITY};
use crate::pairing_writer::PairingWriter;
use crate::preauth::AdmissionGate;
use crate::proxy::ProxyTrust;
use crate::readiness::{Phase, Readiness};
use crate::sd_notify::Notifier;
use crate::session_writer::SessionWriter;
use crate::{signals, socket, Error, ServerOptions};

/// State every socket task shares.
pub(crate) struct Shared {
    pub(crate) opts: ServerOptions,
    pub(crate) readiness: Readiness,
    pub(crate) admission: Arc<AdmissionGate>,
    pub(crate) hub_tx: Sender<HubMsg>,
    /// Runs every task of this server (hub, connections, signals, effects):
    /// the hub on the thread that drives `serve`, the connections' tasks
    /// there and on `opts.threads - 1` helper threads.
    pub(crate) executor: Arc<smol::Executor<'static>>,
    /// The pairing store's thread (when a state dir was given).
    pub(crate) pairing: Option<PairingWriter>,
    /// The session store's thread (when a state dir was given).
    pub(crate) sessions: Option<SessionWriter>,
    /// Whose forwarded-client headers are believed; replaced on a config
    /// reload, read by each upgrade.
    pub(crate) proxy_trust: Arc<RwLock<ProxyTrust>>,
    /// Connection ids never repeat for the life of the process, so a message from
    /// a connection of an earlier hub generation can never be mistaken for a new one.
    next_conn: AtomicU64,
    /// Ids of HTTP completion streams (never reused, like connection ids).
    next_http_stream: AtomicU64,
    /// HTTP completions reading a body or waiting for their run.
    pub(crate) http_in_flight: std::sync::atomic::AtomicUsize,
    /// The Control UI as found at start-up.
    pub(crate) control_ui: crate::control_ui::ControlUi,
}

impl Shared {
    pub(crate) fn next_http_stream(&self) -> u64 {
        self.next_http_stream.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// The proxy trust in force now.
    pub(crate) fn proxy_trust(&self) -> ProxyTrust {
        self.proxy_trust
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A bound, not yet running gateway.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    inbox: Receiver<HubMsg>,
    signals: Option<async_signal::Signals>,
    /// What the store held at start-up, for the first hub generation.
    pairing_snapshot: PairingSnapshot,
    /// The sessions the store held at start-up, for the first generation.
    stored_sessions: Vec<StoredSession>,
}

/// Steers a running [`Server`] from any thread. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    tx: Sender<HubMsg>,
    proxy_trust: Arc<RwLock<ProxyTrust>>,
}

impl ServerHandle {
    /// Apply hot settings (auth, limits) without dropping connections.
    pub fn reconfigure(&self, config: Config) {
        let _ = self
            .tx
            .send_blocking(HubMsg::Control(Control::Reconfigure(Box::new(config))));
    }

    /// Believe other proxies from now on (`gateway.trustedProxies` changed):
    /// later upgrades and HTTP requests are attributed with `trust`;
    /// connections already open keep the client address they were given.
    pub fn set_proxy_trust(&self, trust: ProxyTrust) {
        *self.proxy_trust.write().unwrap_or_else(|e| e.into_inner()) = trust;
    }

    /// Restart in-process: `shutdown` event with `restartExpectedMs`, sockets
    /// closed 1012, a new hub. With `addr`, the listener moves there too (if that
    /// bind fails the old listener is kept and the error logged).
    pub fn restart(&self, addr: Option<SocketAddr>, config: Option<Config>) {
        let _ = self.tx.send_blocking(HubMsg::Control(Control::Restart {
            reason: None,
            addr,
            config: config.map(Box::new),
        }));
    }

    /// Graceful stop: [`Server::run`] returns once sockets have closed.
    pub fn shutdown(&self, reason: Option<String>) {
        let _ = self
            .tx
            .send_blocking(HubMsg::Control(Control::Shutdown { reason }));
    }
}

/// Bind and serve until SIGTERM/SIGINT (or [`ServerHandle::shutdown`]).
pub fn run(opts: ServerOptions) -> Result<(), Error> {
    Server::bind(opts)?.run()
}

fn bind_listener(addr: SocketAddr) -> Result<TcpListener, Error> {
    let std_listener =
        std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    TcpListener::try_from(std_listener).map_err(|source| Error::Bind { addr, source })
}

impl Server {
    /// Bind the listener (and install signal handlers if asked): after this
    /// returns, connections queue up and signals are not lost.
    ///
    /// With [`ServerOptions::state_dir`], the pairing store is opened and read
    /// first: a state database that cannot be used is a start-up error.
    pub fn bind(mut opts: ServerOptions) -> Result<Server, Error> {
        let started = Instant::now();
        // The port first: a second gateway must fail on it before it opens
        // (or waits on) any store.
        let listener = bind_listener(opts.addr)?;
        let (hub_tx, inbox) = smol::channel::bounded(INBOX_CAPACITY);
        let (pairing, pairing_snapshot) = match &opts.state_dir {
            Some(dir) => {
                let store = crate::store::PairingStore::open(dir)?;
                let snapshot = store.load()?;
                log::info!(target: "gateway/store",
                    "pairing store {}: {} paired, {} pending",
                    store.path().display(), snapshot.paired.len(), snapshot.pending.len());
                (Some(PairingWriter::spawn(store, hub_tx.clone())?), snapshot)
            }
            None => (None, PairingSnapshot::default()),
        };
        let (sessions, stored_sessions) = match &opts.state_dir {
            Some(dir) => {
                let store = crate::store::SessionStore::new(dir);
                let stored = store.load();
                log::info!(target: "gateway/store", "session store {}: {} session(s)",
                    dir.join("agents").display(), stored.len());
                (Some(SessionWriter::spawn(store, hub_tx.clone())?), stored)
            }
            None => (None, Vec::new()),
        };
        let signals = if opts.handle_signals {
            Some(signals::install().map_err(Error::Signals)?)
        } else {
            None
        };
        // Found once; the core learns the served app's build id from it.
        let control_ui = crate::control_ui::ControlUi::locate(&opts.control_ui);
        opts.config.control_ui = control_ui.info();
        let shared = Arc::new(Shared {
            control_ui,
            readiness: Readiness::new(started),
            admission: AdmissionGate::new(&opts.config.limits),
            hub_tx,
            executor: Arc::new(smol::Executor::new()),
            pairing,
            sessions,
            next_conn: AtomicU64::new(1),
            next_http_stream: AtomicU64::new(1),
            http_in_flight: std::sync::atomic::AtomicUsize::new(0),
            proxy_trust: Arc::new(RwLock::new(opts.proxy_trust.clone())),
            opts,
        });
        Ok(Server {
            listener,
            shared,
            inbox,
            signals,
            pairing_snapshot,
            stored_sessions,
        })
    }

    /// The address actually bound (the port, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.shared.opts.addr)
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            tx: self.shared.hub_tx.clone(),
            proxy_trust: Arc::clone(&self.shared.proxy_trust),
        }
    }

    /// Serve on the current thread until shut down.
    pub fn run(self) -> Result<(), Error> {
        smol::block_on(self.serve())
    }

    pub async fn serve(self) -> Result<(), Error> {
        let executor = Arc::clone(&self.shared.executor);
        // Helper threads run connection tasks too, until `serve` returns.
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let helpers: Vec<_> = (1..self.shared.opts.threads.max(1))
            .filter_map(|i| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("gateway-io-{i}"))
                    .spawn(move || smol::block_on(executor.run(stopped.recv())))
                    .map_err(|e| log::warn!(target: "gateway", "no I/O thread {i}: {e}"))
                    .ok()
            })
            .collect();
        let result = executor.run(self.serve_tasks()).await;
        drop(stop);
        for helper in helpers {
            let _ = helper.join();
        }
        result
    }

    async fn serve_tasks(self) -> Result<(), Error> {
        let Server {
            mut listener,
            shared,
            inbox,
            signals,
            pairing_snapshot,
            stored_sessions,
        } = self;
        let mut first_snapshot = Some(pairing_snapshot);
        let mut first_sessions = Some(stored_sessions);
        if let Some(signals) = signals {
            shared
                .executor
                .spawn(signals::forward(signals, shared.hub_tx.clone()))
                .detach();
        }
        let notifier = Notifier::from_env();
        notifier.spawn_watchdog(shared.readiness.beats(), shared.hub_tx.clone());
        let mut config = shared.opts.config.clone();
        loop {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| Error::Seed(e.to_string()))?;
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut gateway = Gateway::new(config.clone(), seed, crate::clock::now(), unix_ms);
            let snapshot = match first_snapshot.take() {
                Some(snapshot) => snapshot,
                None => reload_pairing(&shared).await,
            };
            gateway.restore_pairing(snapshot);
            let stored = match (first_sessions.take(), &shared.sessions) {
                (Some(stored), _) => stored,
                (None, Some(sessions)) => sessions.load().await,
                (None, None) => Vec::new(),
            };
            gateway.restore_sessions(stored, unix_ms);
            let mut hub = Hub::new(gateway, config.clone(), &inbox, &shared);
            // The listener is bound: start-up is over.
            hub.input(Input::Ready);
            shared.readiness.set(Phase::Ready);
            // The same moment /readyz turns 200 (after a restart too).
            let serving = listener
                .local_addr()
                .map_or(String::new(), |a| a.to_string());
            notifier.ready(&format!("serving on {serving}"));

            let next = smol::future::or(hub.run(), accept_loop(&listener, &shared)).await;
            shared.readiness.set(Phase::Draining);
            config = hub.config.clone();
            match next {
                Next::Stop => {
                    // Answered approvals are committed already; this lets a
                    // write still in flight finish before the process exits.
                    if let Some(pairing) = &shared.pairing {
                        pairing.flush().await;
                    }
                    return Ok(());
                }
                Next::Restart {
                    addr,
                    config: new_config,
                } => {
                    notifier.reloading();
                    if let Some(new_config) = new_config {
                        config = *new_config;
                        shared.admission.set_limits(&config.limits);
                    }
                    if let Some(addr) = addr.filter(|a| Some(*a) != listener.local_addr().ok()) {
                        match bind_listener(addr) {
                            Ok(new_listener) => {
                                log::info!(target: "gateway", "listening on {}://{}",
                                    if shared.opts.tls.is_some() { "wss" } else { "ws" },
                                    new_listener.local_addr().unwrap_or(addr));
                                listener = new_listener;
                            }
                            Err(e) => {
                                log::error!(target: "gateway", "{e}; keeping the current listener")
                            }
                        }
                    }
                    shared.readiness.set(Phase::Starting);
                }
            }
        }
    }
}

/// The store's contents for a new hub generation (after an in-process
/// restart); read through the store thread, so after every queued write.
async fn reload_pairing(shared: &Shared) -> PairingSnapshot {
    let Some(pairing) = &shared.pairing else {
        return PairingSnapshot::default();
    };
    match pairing.load().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            log::error!(target: "gateway/store", "cannot reload the pairing store: {e}; starting with no paired devices");
            PairingSnapshot::default()
        }
    }
}

/// `remote` with an IPv4-mapped IPv6 address turned into plain IPv4.
fn canonical(remote: SocketAddr) -> SocketAddr {
    SocketAddr::new(remote.ip().to_canonical(), remote.port())
}

/// Accept forever, one task per socket. Never returns (it is raced with the hub).
async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Next {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                // On a dual-stack listener (`::`) an IPv4 client arrives as
                // `::ffff:a.b.c.d`: canonical form makes 127.0.0.1 look like
                // loopback everywhere the address is used (pre-auth limiter,
                // auth rate limits and their loopback exemption, silent
                // pairing of local clients, presence, logs).
                let remote = canonical(remote);
                let shared = Arc::clone(shared);
                let task = match shared.opts.tls.clone() {
                    Some(tls) => shared.executor.spawn(crate::tls::bridge::serve(
                        stream,
                        remote,
                        Arc::clone(&shared),
                        tls,
                    )),
                    None => {
                        shared
                            .executor
                            .spawn(socket::serve(stream, remote, Arc::clone(&shared)))
                    }
                };
                task.detach();
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                log::warn!(target: "gateway", "accept failed: {e}");
                smol::Timer::after(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_peers_are_canonical() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        let canon = canonical(mapped);
        assert_eq!(canon, "127.0.0.1:4000".parse::<SocketAddr>().unwrap());
        assert!(canon.ip().is_loopback());
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical(v6), v6);
        let remote: SocketAddr = "[::ffff:10.1.2.3]:1".parse().unwrap();
        assert_eq!(canonical(remote).ip().to_string(), "10.1.2.3");
    }
}
