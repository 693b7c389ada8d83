//! The simulated world: the gateway, the clients, the sockets between them,
//! virtual time, and the fault schedule drawn from the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::time::Timestamp;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::json;

use super::client::{ClientStats, SimClient};
use super::invariants::check_gateway;
use crate::client::{
    ClientAuth, ClientConfig, ClientConnection, ClientIdentity, ClientOutput, DeviceKey,
    RequestOptions,
};
use crate::gateway::{AuthConfig, Config, Gateway, Input, Limits, Output, Peer};
use crate::ConnId;

const TOKEN: &str = "sim-token";

/// One run's parameters.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub clients: usize,
    pub steps: usize,
}

/// What a run did (for tests and the `sim` example's summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    pub steps: usize,
    pub connects: u64,
    pub gaps: u64,
    pub gap_events: u64,
    pub requests: u64,
    pub answered: u64,
    pub refreshes: u64,
    pub slow_closes: u64,
    pub restarts: u64,
    pub disconnects: u64,
}

/// The first invariant that broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFailure {
    pub seed: u64,
    pub step: usize,
    pub message: String,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "simulation failed at step {} of seed {}: {}\nreproduce with SIM_SEED={}",
            self.step, self.seed, self.message, self.seed
        )
    }
}

struct World {
    rng: ChaCha20Rng,
    now: Timestamp,
    gateway: Option<Gateway>,
    gateway_config: Config,
    restart_at: Option<Timestamp>,
    clients: Vec<SimClient>,
    /// Which client is on which socket.
    sockets: BTreeMap<ConnId, usize>,
    /// Sockets the gateway closed: it must never send on them again.
    closed_by_gateway: BTreeSet<ConnId>,
    next_conn: u64,
    unix_ms_at_start: u64,
    start: Timestamp,
    report: SimReport,
}

/// Run one seeded simulation from `start`.
pub fn run(config: SimConfig, start: Timestamp) -> Result<SimReport, SimFailure> {
    let mut world = World::new(config, start);
    for step in 0..config.steps {
        world
            .step()
            .and_then(|()| world.check())
            .map_err(|message| SimFailure {
                seed: config.seed,
                step,
                message,
            })?;
    }
    world.finish().map_err(|message| SimFailure {
        seed: config.seed,
        step: config.steps,
        message,
    })?;
    let mut report = world.report;
    report.seed = config.seed;
    report.steps = config.steps;
    let stats = world
        .clients
        .iter()
        .fold(ClientStats::default(), |mut acc, c| {
            acc.connects += c.stats.connects;
            acc.gaps += c.stats.gaps;
            acc.gap_events += c.stats.gap_events;
            acc.requests += c.stats.requests;
            acc.answered += c.stats.answered;
            acc.refreshes += c.stats.refreshes;
            acc
        });
    report.connects = stats.connects;
    report.gaps = stats.gaps;
    report.gap_events = stats.gap_events;
    report.requests = stats.requests;
    report.answered = stats.answered;
    report.refreshes = stats.refreshes;
    Ok(report)
}

fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes
}

impl World {
    fn new(config: SimConfig, start: Timestamp) -> World {
        let mut rng = ChaCha20Rng::from_seed(seed_bytes(config.seed));
        let unix_ms_at_start = 1_800_000_000_000;
        // Small buffers so stalled readers become slow consumers quickly.
        let limits = Limits {
            max_buffered_bytes: 8 * 1024 + (rng.next_u64() % 32 * 1024) as usize,
            ..Limits::default()
        };
        let gateway_config = Config {
            auth: AuthConfig::Token(TOKEN.to_owned()),
            limits,
            ..Config::default()
        };
        let mut gateway_seed = [0u8; 32];
        rng.fill_bytes(&mut gateway_seed);
        let gateway = Gateway::new(
            gateway_config.clone(),
            gateway_seed,
            start,
            unix_ms_at_start,
        );
        let mut world = World {
            rng,
            now: start,
            gateway: Some(gateway),
            gateway_config,
            restart_at: None,
            clients: Vec::new(),
            sockets: BTreeMap::new(),
            closed_by_gateway: BTreeSet::new(),
            next_conn: 1,
            unix_ms_at_start,
            start,
            report: SimReport::default(),
        };
        for index in 0..config.clients.max(1) {
            let client = world.new_client(index);
            world.clients.push(client);
            world.open_socket(index);
        }
        world
    }

    fn new_client(&mut self, index: usize) -> SimClient {
        let admin = index % 2 == 0;
        // Half the clients are tracked in presence (a `ui` client, which keeps
        // its scopes through its device identity), half are `backend` clients,
        // which the gateway does not track (as the reference does).
        let tracked = index % 2 == 1;
        let instance_id = format!("sim-{index}");
        let mut device_secret = [0u8; 32];
        self.rng.fill_bytes(&mut device_secret);
        let config = ClientConfig {
            client: ClientIdentity {
                id: "gateway-client".into(),
                mode: if tracked { "ui" } else { "backend" }.into(),
                instance_id: Some(instance_id.clone()),
                ..ClientIdentity::default()
            },
            device: tracked.then(|| DeviceKey::from_secret(device_secret)),
            scopes: vec![if admin {
                "operator.admin"
            } else {
                "operator.read"
            }
            .into()],
            auth: ClientAuth {
                token: Some(TOKEN.into()),
                ..ClientAuth::default()
            },
            min_protocol: 3 + (self.rng.next_u64() % 2),
            unix_ms_at_start: self.unix_ms_at_start,
            ..ClientConfig::default()
        };
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        SimClient {
            index,
            core: ClientConnection::new(config, seed, self.now),
            conn: None,
            inbox: Default::default(),
            stalled_until: None,
            reconnect_at: None,
            last_seq: None,
            gap_total: 0,
            outstanding: BTreeSet::new(),
            refresh_pending: 0,
            stopped: false,
            tracked,
            admin,
            instance_id,
            stats: ClientStats::default(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn pick_client(&mut self) -> usize {
        self.below(self.clients.len() as u64) as usize
    }

    /// One step: a random action, then time moves on a little.
    fn step(&mut self) -> Result<(), String> {
        match self.below(100) {
            0..=39 => {
                let index = self.pick_client();
                self.send_request(index)?;
            }
            40..=49 => {
                let index = self.pick_client();
                let stall = Duration::from_millis(self.below(90_000));
                self.clients[index].stalled_until = Some(self.now + stall);
            }
            50..=54 => {
                let index = self.pick_client();
                self.abrupt_disconnect(index);
            }
            55..=59 => {
                let index = self.pick_client();
                for _ in 0..self.below(30) {
                    self.send_request(index)?;
                }
            }
            60 => self.restart_gateway(),
            61..=65 => {
                let jump = Duration::from_millis(self.below(120_000));
                self.advance(jump)?;
            }
            _ => {}
        }
        let step = Duration::from_millis(self.below(700));
        self.advance(step)
    }

    fn send_request(&mut self, index: usize) -> Result<(), String> {
        let admin = self.clients[index].admin;
        let choice = self.below(10);
        let (method, params) = match choice {
            0..=2 => ("health", None),
            3 => ("status", None),
            4 => ("system-presence", None),
            5 => ("no.such.method", None),
            _ if admin => (
                "system-event",
                Some(
                    json!({"text": format!("ping {}", self.below(1000)), "instanceId": self.clients[index].instance_id}),
                ),
            ),
            _ => ("last-heartbeat", None),
        };
        self.request(index, method, params.as_ref())
    }

    fn request(
        &mut self,
        index: usize,
        method: &str,
        params: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        let now = self.now;
        let client = &mut self.clients[index];
        if client.stopped {
            return Ok(());
        }
        match client
            .core
            .request(method, params, RequestOptions::default(), now)
        {
            Ok(id) => {
                if !client.outstanding.insert(id) {
                    return Err(format!("client {index} reused request id {id}"));
                }
                client.stats.requests += 1;
                Ok(())
            }
            // Refused locally (too many pending): never sent, never answered.
            Err(_) => Ok(()),
        }
    }

    fn abrupt_disconnect(&mut self, index: usize) {
        let Some(conn) = self.clients[index].detach() else {
            return;
        };
        self.sockets.remove(&conn);
        self.report.disconnects += 1;
        if let Some(gateway) = self.gateway.as_mut() {
            gateway.handle_input(Input::Closed { conn }, self.now);
        }
        self.clients[index]
            .core
            .handle_closed(1006, "connection lost", self.now);
    }

    fn restart_gateway(&mut self) {
        let Some(gateway) = self.gateway.as_mut() else {
            return;
        };
        self.report.restarts += 1;
        gateway.handle_input(
            Input::Shutdown {
                reason: Some("restart"),
                restart_expected_ms: Some(1000),
            },
            self.now,
        );
        // Deliver the shutdown event and the closes, then the process is gone.
        let _ = self.pump();
        let sockets: Vec<ConnId> = self.sockets.keys().copied().collect();
        for conn in sockets {
            if let Some(index) = self.sockets.remove(&conn) {
                self.clients[index].detach();
                self.clients[index]
                    .core
                    .handle_closed(1006, "gateway gone", self.now);
            }
        }
        self.gateway = None;
        let down_for = Duration::from_millis(self.below(5_000));
        self.restart_at = Some(self.now + down_for);
    }

    fn open_socket(&mut self, index: usize) {
        let now = self.now;
        let Some(gateway) = self.gateway.as_mut() else {
            // Connection refused: the core backs off again.
            let client = &mut self.clients[index].core;
            let _ = client.handle_reconnected(now);
            client.handle_closed(1006, "connection refused", now);
            return;
        };
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let peer = Peer::new("127.0.0.1".parse().expect("literal address"), true);
        gateway.handle_input(Input::Opened { conn, peer }, now);
        self.sockets.insert(conn, index);
        let client = &mut self.clients[index];
        client.attach(conn);
        let _ = client.core.handle_reconnected(now);
    }

    /// Move virtual time forward by `by`, firing every deadline on the way in order.
    fn advance(&mut self, by: Duration) -> Result<(), String> {
        let target = self.now + by;
        loop {
            self.pump()?;
            let next = self.next_deadline();
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.fire_due()?;
                }
                _ => break,
            }
        }
        self.now = target;
        self.fire_due()?;
        self.pump()
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let gateway = self.gateway.as_ref().and_then(Gateway::poll_timeout);
        let clients = self.clients.iter().flat_map(|c| {
            [
                c.core.poll_timeout(),
                c.reconnect_at,
                c.stalled_until.filter(|_| !c.inbox.is_empty()),
            ]
        });
        std::iter::once(gateway)
            .chain(std::iter::once(self.restart_at))
            .chain(clients)
            .flatten()
            .min()
    }

    fn fire_due(&mut self) -> Result<(), String> {
        let now = self.now;
        if self.restart_at.is_some_and(|at| at <= now) {
            self.restart_at = None;
            let mut seed = [0u8; 32];
            self.rng.fill_bytes(&mut seed);
            let unix_ms = self.unix_ms_at_start
                + now.saturating_duration_since(self.start).as_millis() as u64;
            self.gateway = Some(Gateway::new(
                self.gateway_config.clone(),
                seed,
                now,
                unix_ms,
            ));
            self.closed_by_gateway.clear();
        }
        if let Some(gateway) = self.gateway.as_mut() {
            gateway.handle_timeout(now);
        }
        for index in 0..self.clients.len() {
            self.clients[index].core.handle_timeout(now);
            if self.clients[index].reconnect_at.is_some_and(|at| at <= now) {
                self.clients[index].reconnect_at = None;
                self.open_socket(index);
            }
            if self.clients[index]
                .stalled_until
                .is_some_and(|at| at <= now)
            {
                self.clients[index].stalled_until = None;
            }
        }
        self.pump()
    }

    /// Move everything that is ready to move until nothing does.
    fn pump(&mut self) -> Result<(), String> {
        for _ in 0..10_000 {
            let mut progress = self.drain_gateway()?;
            progress |= self.deliver();
            progress |= self.drain_clients()?;
            if !progress {
                return Ok(());
            }
        }
        Err("the world did not settle after 10,000 rounds".to_owned())
    }

    fn drain_gateway(&mut self) -> Result<bool, String> {
        let Some(gateway) = self.gateway.as_mut() else {
            return Ok(false);
        };
        let mut progress = false;
        let mut closes = Vec::new();
        while let Some(output) = gateway.poll_output() {
            progress = true;
            match output {
                Output::Frame { conn, frame } => {
                    if self.closed_by_gateway.contains(&conn) {
                        return Err(format!("gateway sent on {conn} after closing it"));
                    }
                    if let Some(&index) = self.sockets.get(&conn) {
                        self.clients[index].inbox.push_back(frame.to_bytes());
                    }
                }
                Output::Close { conn, code, reason } => {
                    if !self.closed_by_gateway.insert(conn) {
                        return Err(format!("gateway closed {conn} twice"));
                    }
                    if code == 1008 && reason == "slow consumer" {
                        self.report.slow_closes += 1;
                    }
                    closes.push((conn, code, reason));
                }
                Output::Effect(_) | Output::Authenticated { .. } => {}
            }
        }
        for (conn, code, reason) in closes {
            if let Some(index) = self.sockets.remove(&conn) {
                // The close frame follows the data already in flight.
                self.read_inbox(index);
                self.clients[index].detach();
                self.clients[index]
                    .core
                    .handle_closed(code, &reason, self.now);
            }
            if let Some(gateway) = self.gateway.as_mut() {
                gateway.handle_input(Input::Closed { conn }, self.now);
            }
        }
        Ok(progress)
    }

    fn read_inbox(&mut self, index: usize) {
        let now = self.now;
        let client = &mut self.clients[index];
        let Some(conn) = client.conn else { return };
        while let Some(bytes) = client.inbox.pop_front() {
            let text = std::str::from_utf8(&bytes).unwrap_or("");
            client.core.handle_text(text, now);
            if let Some(gateway) = self.gateway.as_mut() {
                gateway.handle_input(
                    Input::Sent {
                        conn,
                        bytes: bytes.len(),
                    },
                    now,
                );
            }
        }
    }

    fn deliver(&mut self) -> bool {
        let mut progress = false;
        for index in 0..self.clients.len() {
            if self.clients[index].reading(self.now) && !self.clients[index].inbox.is_empty() {
                self.read_inbox(index);
                progress = true;
            }
        }
        progress
    }

    fn drain_clients(&mut self) -> Result<bool, String> {
        let mut progress = false;
        for index in 0..self.clients.len() {
            while let Some(output) = self.clients[index].core.poll_output() {
                progress = true;
                self.on_client_output(index, output)?;
            }
        }
        Ok(progress)
    }

    fn on_client_output(&mut self, index: usize, output: ClientOutput) -> Result<(), String> {
        let now = self.now;
        let client = &mut self.clients[index];
        if client.stopped {
            return Err(format!(
                "client {index} emitted {output:?} after Disconnected"
            ));
        }
        match output {
            ClientOutput::Send(bytes) => {
                let (Some(conn), Some(gateway)) = (client.conn, self.gateway.as_mut()) else {
                    return Ok(());
                };
                let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
                gateway.handle_input(Input::Text { conn, text }, now);
            }
            ClientOutput::Close { .. } => {
                if let Some(conn) = client.detach() {
                    self.sockets.remove(&conn);
                    if let Some(gateway) = self.gateway.as_mut() {
                        gateway.handle_input(Input::Closed { conn }, now);
                    }
                }
            }
            ClientOutput::Connected(_) => client.stats.connects += 1,
            ClientOutput::Response { id, .. } => {
                if !client.outstanding.remove(&id) {
                    return Err(format!(
                        "client {index} got a second answer (or an unasked one) for {id}"
                    ));
                }
                client.stats.answered += 1;
            }
            ClientOutput::Accepted { .. } => {}
            ClientOutput::Event { seq: Some(seq), .. } => {
                if let Some(last) = client.last_seq {
                    if seq <= last {
                        return Err(format!("client {index} saw seq {seq} after {last}"));
                    }
                }
                client.last_seq = Some(seq);
            }
            ClientOutput::Event { .. } => {}
            ClientOutput::Gap { expected, received } => {
                if received <= expected {
                    return Err(format!(
                        "client {index} reported an empty gap {expected}..{received}"
                    ));
                }
                client.gap_total += received - expected;
                client.stats.gaps += 1;
                client.stats.gap_events += received - expected;
                // The core refreshes the state it mirrors right after a gap.
                client.refresh_pending += 2;
            }
            ClientOutput::Refreshed { .. } => {
                if client.refresh_pending == 0 {
                    return Err(format!(
                        "client {index} got a refresh answer it never asked for"
                    ));
                }
                client.refresh_pending -= 1;
                client.stats.refreshes += 1;
            }
            ClientOutput::Reconnect { at } => {
                if at < now {
                    return Err(format!("client {index} asked to reconnect in the past"));
                }
                client.reconnect_at = Some(at);
            }
            ClientOutput::Disconnected {
                code,
                reason,
                error,
            } => {
                client.stopped = true;
                return Err(format!("client {index} gave up: {code} {reason} {error:?}"));
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        for client in &self.clients {
            if let Some(at) = client.core.poll_timeout() {
                if at < self.now {
                    return Err(format!("client {} poll_timeout in the past", client.index));
                }
            }
            if client.outstanding.len() + client.refresh_pending != client.core.pending_len() {
                return Err(format!(
                    "client {}: {} requests and {} refreshes outstanding, core holds {}",
                    client.index,
                    client.outstanding.len(),
                    client.refresh_pending,
                    client.core.pending_len()
                ));
            }
        }
        match &self.gateway {
            Some(gateway) => {
                check_gateway(gateway, &self.clients, &self.closed_by_gateway, self.now)
            }
            None => Ok(()),
        }
    }

    /// Let everything settle: every request must end answered.
    fn finish(&mut self) -> Result<(), String> {
        for client in &mut self.clients {
            client.stalled_until = None;
        }
        self.advance(Duration::from_secs(120))?;
        self.check()?;
        for client in &self.clients {
            if !client.outstanding.is_empty() || client.refresh_pending > 0 {
                return Err(format!(
                    "client {} still waits for {} answers after settling",
                    client.index,
                    client.outstanding.len()
                ));
            }
        }
        Ok(())
    }
}
