//! The `device_connect` fuzz target: signed devices connect to a hub with
//! fuzz-chosen clients, addresses, scopes, credentials and broken proofs,
//! while an admin approves, rejects, removes, rotates and revokes, store
//! writes are held and released, and time passes.
//!
//! Invariants checked after every step:
//! - no device session stays open unless its device is paired for its role
//!   with a live token (a local backend, which skips pairing, excepted);
//! - a device token handed out in hello-ok is the device's current one;
//! - with no write held, replaying every committed store write rebuilds
//!   the book exactly (memory and disk agree, also after a failed write).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::harness::Harness;
use super::ops::ByteReader;
use crate::client::{DeviceKey, SignInput};
use crate::gateway::pairing::{PairedDevice, PairingChange, PendingRequest};
use crate::gateway::{AuthConfig, Config, Peer};
use crate::time::Timestamp;
use crate::ConnId;

const START_MS: u64 = 1_800_000_000_000;
const ADMIN: ConnId = ConnId(1);
const DEVICES: u8 = 4;
const SCOPES: [&str; 5] = [
    "operator.read",
    "operator.write",
    "operator.admin",
    "operator.pairing",
    "operator.approvals",
];
/// (client id, mode, role) of the clients a device may claim to be.
const CLIENTS: [(&str, &str, &str); 5] = [
    ("cli", "cli", "operator"),
    ("openclaw-macos", "ui", "operator"),
    ("gateway-client", "backend", "operator"),
    ("node-host", "node", "node"),
    ("openclaw-control-ui", "webchat", "operator"),
];

/// A device session that received hello-ok.
struct Session {
    device: u8,
    role: &'static str,
    skips_pairing: bool,
}

struct Fuzz {
    h: Harness,
    keys: Vec<DeviceKey>,
    next_conn: u64,
    sessions: BTreeMap<ConnId, Session>,
    tokens: BTreeMap<u8, String>,
}

/// Connects of signed devices against the pairing rules.
pub fn device_connect(data: &[u8], base: Timestamp) {
    let mut reader = ByteReader::new(data);
    let auto_local = reader.bool();
    let config = Config::default()
        .with_auth(AuthConfig::Token("t".into()))
        .with_pairing_auto_approve_local(auto_local);
    let mut h = Harness::new(config, base, START_MS);
    h.open(ADMIN, "127.0.0.1");
    let admin = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.admin", "operator.pairing"],
        "auth": {"token": "t"}}});
    h.text(ADMIN, &admin.to_string());
    let mut fuzz = Fuzz {
        h,
        keys: (0..DEVICES)
            .map(|i| DeviceKey::from_secret([i + 1; 32]))
            .collect(),
        next_conn: 10,
        sessions: BTreeMap::new(),
        tokens: BTreeMap::new(),
    };
    for _ in 0..super::fuzz::MAX_OPS {
        if reader.is_empty() {
            break;
        }
        fuzz.step(&mut reader);
        fuzz.check();
    }
    fuzz.h.hold_pairing = false;
    fuzz.h.finish_held_pairing(true);
    fuzz.check();
}

impl Fuzz {
    fn step(&mut self, r: &mut ByteReader<'_>) {
        match r.below(10) {
            0..=3 => self.connect(r),
            4 => {
                let method = ["device.pair.approve", "device.pair.reject"][usize::from(r.below(2))];
                let pending = self.h.gateway.pairing_snapshot().pending;
                if !pending.is_empty() {
                    let id = pending[usize::from(r.byte()) % pending.len()]
                        .request_id
                        .clone();
                    self.admin(method, json!({ "requestId": id }));
                }
            }
            5 => {
                let device = self.keys[usize::from(r.below(DEVICES))].device_id();
                let role = ["operator", "node"][usize::from(r.below(2))];
                let (method, params) = match r.below(3) {
                    0 => ("device.pair.remove", json!({ "deviceId": device })),
                    1 => (
                        "device.token.rotate",
                        json!({ "deviceId": device, "role": role }),
                    ),
                    _ => (
                        "device.token.revoke",
                        json!({ "deviceId": device, "role": role }),
                    ),
                };
                self.admin(method, params);
            }
            6 => {
                let ms = [10u64, 1_000, 60_000, 300_000][usize::from(r.below(4))];
                self.h.advance_ms(ms);
            }
            7 => {
                let open: Vec<ConnId> = self.sessions.keys().copied().collect();
                if !open.is_empty() {
                    let conn = open[usize::from(r.byte()) % open.len()];
                    self.h.close(conn);
                    self.sessions.remove(&conn);
                }
            }
            8 => {
                if self.h.hold_pairing {
                    // Release the held writes: committed, or failed (then
                    // the hub reads the store back).
                    self.h.hold_pairing = false;
                    self.h.finish_held_pairing(r.below(4) != 0);
                } else {
                    self.h.hold_pairing = true;
                }
            }
            _ => {
                self.admin("device.pair.list", json!({}));
            }
        }
    }

    fn admin(&mut self, method: &str, params: Value) {
        let id = format!("a{}", self.next_conn);
        self.next_conn += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.h.text(ADMIN, &frame.to_string());
    }

    fn connect(&mut self, r: &mut ByteReader<'_>) {
        let device = r.below(DEVICES);
        let (client_id, mode, role) = CLIENTS[usize::from(r.below(CLIENTS.len() as u8))];
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let local = r.bool();
        let ip = if local { "127.0.0.1" } else { "192.0.2.9" };
        let mut peer = Peer::new(ip.parse().expect("ip"), local);
        let origin = r.below(4) == 0;
        if origin {
            peer = peer
                .with_origin("http://127.0.0.1:18789")
                .with_host("127.0.0.1:18789");
        }
        self.h.open_peer(conn, peer);
        let nonce = self
            .h
            .frames(conn)
            .first()
            .and_then(|f| f["payload"]["nonce"].as_str())
            .unwrap_or("")
            .to_owned();
        let mask = r.byte();
        let scopes: Vec<String> = SCOPES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0 && role == "operator")
            .map(|(_, s)| (*s).to_owned())
            .collect();
        let auth = match r.below(5) {
            0 => json!({"token": "t"}),
            1 => json!({"token": "wrong"}),
            2 => json!({"deviceToken": self.tokens.get(&device).cloned().unwrap_or_default()}),
            3 => json!({"token": self.tokens.get(&device).cloned().unwrap_or_default()}),
            _ => json!({"deviceToken": "forged"}),
        };
        let signed_token = auth["token"]
            .as_str()
            .or(auth["deviceToken"].as_str())
            .unwrap_or("");
        let skew = [0i64, 0, 0, 200_000][usize::from(r.below(4))];
        let signed_at = (START_MS + self.h.elapsed_ms()).saturating_add_signed(skew);
        let key = &self.keys[usize::from(device)];
        let input = SignInput {
            client_id,
            client_mode: mode,
            role,
            scopes: &scopes,
            token: signed_token,
            nonce: &nonce,
            platform: "linux",
            device_family: "",
        };
        let proof = key.sign(&input, signed_at);
        let mut signature = proof.signature.clone();
        if r.below(8) == 0 {
            // A proof made with someone else's key.
            let other = &self.keys[usize::from((device + 1) % DEVICES)];
            signature = other.sign(&input, signed_at).signature;
        }
        let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": client_id, "version": "1", "platform": "linux", "mode": mode},
            "role": role, "scopes": scopes, "auth": auth,
            "device": {"id": proof.id, "publicKey": proof.public_key, "signature": signature,
                       "signedAt": proof.signed_at, "nonce": proof.nonce}}});
        self.h.text(conn, &frame.to_string());
        // Let a delayed refusal come out.
        self.h.advance_ms(6_000);
        let Some(response) = self.h.response(conn, "c0", 0).cloned() else {
            return;
        };
        if response["ok"] == true {
            if let Some(token) = response["payload"]["auth"]["deviceToken"].as_str() {
                self.tokens.insert(device, token.to_owned());
                let book = self.h.gateway.pairing_snapshot();
                let id = key.device_id();
                let current = book
                    .paired
                    .iter()
                    .find(|d| d.device_id == id)
                    .and_then(|d| d.tokens.as_ref()?.get(role).map(|t| t.token.clone()));
                assert_eq!(
                    current.as_deref(),
                    Some(token),
                    "hello-ok token is the current one"
                );
            }
            // A local backend (no browser origin) skips pairing.
            let skips_pairing = client_id == "gateway-client" && local && !origin;
            self.sessions.insert(
                conn,
                Session {
                    device,
                    role,
                    skips_pairing,
                },
            );
        }
    }

    fn check(&mut self) {
        let book = self.h.gateway.pairing_snapshot();
        // Sessions that the gateway closed since are gone.
        let closed: Vec<ConnId> = self
            .sessions
            .keys()
            .copied()
            .filter(|conn| self.h.close_of(*conn).is_some())
            .collect();
        for conn in closed {
            self.sessions.remove(&conn);
        }
        for (conn, session) in &self.sessions {
            if session.skips_pairing {
                continue;
            }
            let id = self.keys[usize::from(session.device)].device_id();
            let paired = book.paired.iter().find(|d| d.device_id == id);
            let live = paired.is_some_and(|d| {
                d.tokens
                    .as_ref()
                    .and_then(|t| t.get(session.role))
                    .is_some_and(|t| t.revoked_at_ms.is_none())
            });
            assert!(
                live,
                "{conn}: device {} has an open {} session without a live pairing",
                session.device, session.role
            );
        }
        if self.h.held_pairing.is_empty() {
            let (pending, paired) = replay(&self.h.pairing_writes);
            let book_pending: BTreeMap<String, PendingRequest> = book
                .pending
                .into_iter()
                .map(|p| (p.request_id.clone(), p))
                .collect();
            let book_paired: BTreeMap<String, PairedDevice> = book
                .paired
                .into_iter()
                .map(|d| (d.device_id.clone(), d))
                .collect();
            assert_eq!(
                pending, book_pending,
                "store and memory disagree on pending"
            );
            assert_eq!(paired, book_paired, "store and memory disagree on paired");
        }
    }
}

/// The book rebuilt from the store writes alone.
pub fn replay(
    writes: &[Vec<PairingChange>],
) -> (
    BTreeMap<String, PendingRequest>,
    BTreeMap<String, PairedDevice>,
) {
    let mut pending = BTreeMap::new();
    let mut paired = BTreeMap::new();
    for change in writes.iter().flatten() {
        match change {
            PairingChange::PutPending(p) => {
                pending.insert(p.request_id.clone(), p.clone());
            }
            PairingChange::DeletePending { request_id } => {
                pending.remove(request_id);
            }
            PairingChange::PutPaired(d) => {
                paired.insert(d.device_id.clone(), d.clone());
            }
            PairingChange::DeletePaired { device_id } => {
                paired.remove(device_id);
            }
        }
    }
    (pending, paired)
}
