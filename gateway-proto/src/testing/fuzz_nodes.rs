//! The `node_invoke` fuzz target: approved node hosts connect, vanish and
//! return; an operator invokes fuzz-chosen commands with fuzz-chosen params
//! and timeouts; nodes answer real and forged invoke ids with fuzz-made
//! payloads (`payloadJSON` need not be JSON), send progress, events and raw
//! fuzz text; the admin approves, rejects and removes surfaces; time passes.
//!
//! Invariants: nothing panics; no invoke is answered twice; once time has
//! run past every deadline, every invoke the operator sent is answered and
//! none is left in flight.

use serde_json::{json, Value};

use super::harness::Harness;
use super::ops::ByteReader;
use crate::client::DeviceKey;
use crate::gateway::{AuthConfig, Config};
use crate::time::Timestamp;
use crate::ConnId;

const START_MS: u64 = 1_800_000_000_000;
const ADMIN: ConnId = ConnId(1);
const NODES: u8 = 3;
const COMMANDS: [&str; 7] = [
    "system.which",
    "system.run",
    "system.notify",
    "camera.snap",
    "system.execApprovals.get",
    "worker.launch.v1",
    "fs.listDir",
];

struct Fuzz {
    h: Harness,
    keys: Vec<DeviceKey>,
    /// Each node's current connection, if connected.
    conns: Vec<Option<ConnId>>,
    next_conn: u64,
    /// Request ids of the operator's invokes.
    invokes: Vec<String>,
    next_id: u64,
}

/// Invokes, results and surface changes between an operator and nodes.
pub fn node_invoke(data: &[u8], base: Timestamp) {
    let mut reader = ByteReader::new(data);
    let config = Config::default().with_auth(AuthConfig::Token("t".into()));
    let mut h = Harness::new(config, base, START_MS);
    h.open(ADMIN, "127.0.0.1");
    let admin = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.admin"], "auth": {"token": "t"}}});
    h.text(ADMIN, &admin.to_string());
    let mut fuzz = Fuzz {
        h,
        keys: (0..NODES)
            .map(|i| DeviceKey::from_secret([i + 50; 32]))
            .collect(),
        conns: vec![None; usize::from(NODES)],
        next_conn: 10,
        invokes: Vec::new(),
        next_id: 0,
    };
    for node in 0..NODES {
        fuzz.connect(node, 0b11);
        fuzz.approve_all();
    }
    for _ in 0..super::fuzz::MAX_OPS {
        if reader.is_empty() {
            break;
        }
        fuzz.step(&mut reader);
        fuzz.check(false);
    }
    // Past every deadline, everything is answered.
    fuzz.h.advance_ms(60_000);
    fuzz.check(true);
}

impl Fuzz {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn admin(&mut self, method: &str, params: Value) -> String {
        let id = self.id("a");
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.h.text(ADMIN, &frame.to_string());
        id
    }

    fn approve_all(&mut self) {
        let snapshot = self.h.gateway.pairing_snapshot();
        for device in snapshot.paired {
            let request = device
                .pending_node_surface
                .as_ref()
                .and_then(|p| p["requestId"].as_str())
                .map(str::to_owned);
            if let Some(request_id) = request {
                self.admin("node.pair.approve", json!({ "requestId": request_id }));
            }
        }
    }

    /// Connect `node`, declaring the commands of `mask`'s bits.
    fn connect(&mut self, node: u8, mask: u8) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.h.open(conn, "127.0.0.1");
        let nonce = self
            .h
            .frames(conn)
            .first()
            .and_then(|f| f["payload"]["nonce"].as_str())
            .unwrap_or("")
            .to_owned();
        let commands: Vec<&str> = COMMANDS
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect();
        let host = super::node_host::NodeHost {
            key: &self.keys[usize::from(node)],
            token: "t",
            display_name: "fuzz node",
            commands: &commands,
        };
        let frame = host.connect_frame(&nonce, START_MS + self.h.elapsed_ms());
        self.h.text(conn, &frame);
        self.conns[usize::from(node)] = Some(conn);
    }

    /// The invoke ids a node connection was sent.
    fn seen_invokes(&self, conn: ConnId) -> Vec<String> {
        self.h
            .frames(conn)
            .into_iter()
            .filter(|f| f["event"] == "node.invoke.request")
            .filter_map(|f| f["payload"]["id"].as_str().map(str::to_owned))
            .collect()
    }

    fn step(&mut self, r: &mut ByteReader<'_>) {
        let node = r.below(NODES);
        let conn = self.conns[usize::from(node)];
        match r.below(9) {
            0..=2 => {
                let command = COMMANDS[usize::from(r.below(COMMANDS.len() as u8))];
                let timeout = [0u64, 1, 500, 30_000][usize::from(r.below(4))];
                let node_id = self.keys[usize::from(node)].device_id();
                let mut params = json!({
                    "nodeId": node_id, "command": command, "idempotencyKey": "k",
                    "params": {"command": ["echo", r.byte().to_string()], "approved": r.bool()},
                });
                if timeout > 0 {
                    params["timeoutMs"] = json!(timeout);
                }
                let id = self.admin("node.invoke", params);
                self.invokes.push(id);
            }
            3 => {
                let Some(conn) = conn else { return };
                let seen = self.seen_invokes(conn);
                let invoke_id = match seen.len() {
                    0 => "forged".to_owned(),
                    n => seen[usize::from(r.byte()) % n].clone(),
                };
                let node_id = if r.below(8) == 0 {
                    "someone-else".to_owned()
                } else {
                    self.keys[usize::from(node)].device_id()
                };
                let text: String = (0..r.below(24))
                    .map(|_| char::from(r.byte() % 96 + 32))
                    .collect();
                let mut result = json!({"id": invoke_id, "nodeId": node_id, "ok": r.bool()});
                match r.below(5) {
                    0 => result["payloadJSON"] = json!(text),
                    1 => result["payload"] = json!({"text": text}),
                    2 => result["error"] = json!({"code": "E", "message": text}),
                    3 => result["payloadJSON"] = Value::Null,
                    _ => result["error"] = json!(text),
                }
                let id = self.id("r");
                let frame = json!({"type": "req", "id": id, "method": "node.invoke.result", "params": result});
                self.h.text(conn, &frame.to_string());
            }
            4 => {
                let Some(conn) = conn else { return };
                let seen = self.seen_invokes(conn);
                let invoke_id = seen.last().cloned().unwrap_or_default();
                let id = self.id("p");
                let chunk = "x".repeat(usize::from(r.byte()) * 80);
                let frame = json!({"type": "req", "id": id, "method": "node.invoke.progress", "params": {
                    "invokeId": invoke_id, "nodeId": self.keys[usize::from(node)].device_id(),
                    "seq": r.below(3), "chunk": chunk}});
                self.h.text(conn, &frame.to_string());
            }
            5 => {
                let Some(conn) = conn else { return };
                // Raw fuzz text from a node: garbage, or a method call.
                let text: String = (0..r.below(64)).map(|_| char::from(r.byte())).collect();
                let method =
                    ["node.event", "node.skills.update", "node.list", "x"][usize::from(r.below(4))];
                let frame = if r.bool() {
                    text
                } else {
                    json!({"type": "req", "id": "e", "method": method, "params": {"event": text, "tools": [], "skills": []}})
                        .to_string()
                };
                self.h.text(conn, &frame);
            }
            6 => match conn {
                Some(conn) => {
                    self.h.close(conn);
                    self.conns[usize::from(node)] = None;
                }
                None => {
                    let mask = r.byte();
                    self.connect(node, mask);
                }
            },
            7 => {
                let node_id = self.keys[usize::from(node)].device_id();
                match r.below(4) {
                    0 => self.approve_all(),
                    1 => {
                        self.admin("node.pair.remove", json!({ "nodeId": node_id }));
                        if let Some(conn) = conn {
                            if self.h.close_of(conn).is_some() {
                                self.conns[usize::from(node)] = None;
                            }
                        }
                    }
                    2 => {
                        self.admin("node.list", json!({}));
                    }
                    _ => {
                        self.admin("exec.approvals.node.get", json!({ "nodeId": node_id }));
                    }
                }
            }
            _ => {
                let ms = [1u64, 499, 1_000, 31_000][usize::from(r.below(4))];
                self.h.advance_ms(ms);
            }
        }
    }

    fn check(&self, all_answered: bool) {
        for id in &self.invokes {
            assert!(
                self.h.response(ADMIN, id, 1).is_none(),
                "{id} answered twice"
            );
            if all_answered {
                assert!(
                    self.h.response(ADMIN, id, 0).is_some(),
                    "{id} never answered"
                );
            }
        }
        if all_answered {
            assert_eq!(self.h.gateway.node_invokes_in_flight(), 0);
        }
    }
}
