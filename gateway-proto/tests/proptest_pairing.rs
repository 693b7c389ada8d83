//! State-machine property test of the pending-request lifecycle against a
//! model: remote devices connect asking for scope sets, an admin approves,
//! rejects and removes, and time passes. After every step:
//!
//! - each device has at most one pending request, present exactly when the
//!   model says, with the model's scopes (a narrower or equal ask refreshes
//!   the same id, a wider one replaces it with the union; 5 min TTL from the
//!   last refresh);
//! - paired devices hold the model's approved scopes;
//! - replaying every store write the hub asked for gives exactly the hub's
//!   book (memory and disk never disagree).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 200).

use std::collections::{BTreeMap, BTreeSet};

use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::pairing::{PairedDevice, PendingRequest};
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::fuzz_pairing::replay;
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use serde_json::{json, Value};

const START_MS: u64 = 1_800_000_000_000;
const TTL_MS: u64 = 5 * 60 * 1000;
const DEVICES: u8 = 3;
/// Scopes with no implications between them, so sets compare plainly.
const SCOPES: [&str; 3] = [
    "operator.approvals",
    "operator.pairing",
    "operator.questions",
];
const ADMIN: ConnId = ConnId(1);

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

#[derive(Clone, Debug)]
enum Step {
    Connect { device: u8, scopes: u8 },
    Approve { device: u8 },
    Reject { device: u8 },
    Remove { device: u8 },
    Advance { ms: u64 },
}

fn scope_set(mask: u8) -> BTreeSet<String> {
    SCOPES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| (*s).to_owned())
        .collect()
}

#[derive(Clone, Debug)]
struct PendingModel {
    scopes: BTreeSet<String>,
    refreshed_ms: u64,
    /// Bumped whenever the request is replaced (a new id).
    generation: u32,
}

#[derive(Clone, Debug, Default)]
struct Model {
    now_ms: u64,
    pending: BTreeMap<u8, PendingModel>,
    paired: BTreeMap<u8, BTreeSet<String>>,
}

impl Model {
    fn prune(&mut self) {
        let now = self.now_ms;
        self.pending.retain(|_, p| p.refreshed_ms + TTL_MS > now);
    }
}

struct PairingMachine;

impl ReferenceStateMachine for PairingMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            4 => (0..DEVICES, 0u8..8).prop_map(|(device, scopes)| Step::Connect { device, scopes }),
            2 => (0..DEVICES).prop_map(|device| Step::Approve { device }),
            1 => (0..DEVICES).prop_map(|device| Step::Reject { device }),
            1 => (0..DEVICES).prop_map(|device| Step::Remove { device }),
            2 => prop_oneof![Just(1_000u64), Just(60_000), Just(TTL_MS), Just(TTL_MS - 1)]
                .prop_map(|ms| Step::Advance { ms }),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match step {
            Step::Connect { device, scopes } => {
                let ask = scope_set(*scopes);
                if state.paired.get(device).is_some_and(|p| ask.is_subset(p)) {
                    return state;
                }
                state.prune();
                let now = state.now_ms;
                match state.pending.get_mut(device) {
                    Some(p) if ask.is_subset(&p.scopes) => p.refreshed_ms = now,
                    Some(p) => {
                        p.scopes.extend(ask);
                        p.refreshed_ms = now;
                        p.generation += 1;
                    }
                    None => {
                        state.pending.insert(
                            *device,
                            PendingModel {
                                scopes: ask,
                                refreshed_ms: now,
                                generation: 0,
                            },
                        );
                    }
                }
            }
            Step::Approve { device } => {
                state.prune();
                if let Some(p) = state.pending.remove(device) {
                    state.paired.entry(*device).or_default().extend(p.scopes);
                }
            }
            Step::Reject { device } => {
                state.prune();
                state.pending.remove(device);
            }
            Step::Remove { device } => {
                state.prune();
                if state.paired.remove(device).is_some() {
                    state.pending.remove(device);
                }
            }
            Step::Advance { ms } => state.now_ms += ms,
        }
        state
    }
}

struct Sut {
    h: Harness,
    keys: Vec<DeviceKey>,
    next_conn: u64,
    /// Each device's last seen request id and the model generation it had.
    ids: BTreeMap<u8, (String, u32)>,
}

impl Sut {
    fn new() -> Sut {
        let config = Config::default().with_auth(AuthConfig::Token("t".into()));
        let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
        h.open(ADMIN, "127.0.0.1");
        let frame = json!({"type": "req", "id": "c", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.admin", "operator.pairing"],
            "auth": {"token": "t"}}});
        h.text(ADMIN, &frame.to_string());
        Sut {
            h,
            keys: (0..DEVICES)
                .map(|i| DeviceKey::from_secret([i + 1; 32]))
                .collect(),
            next_conn: 10,
            ids: BTreeMap::new(),
        }
    }

    fn connect(&mut self, device: u8, scopes: &BTreeSet<String>) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.h.open(conn, "192.0.2.7");
        let nonce = self.h.frames(conn)[0]["payload"]["nonce"]
            .as_str()
            .unwrap()
            .to_owned();
        let scopes: Vec<String> = scopes.iter().cloned().collect();
        let key = &self.keys[device as usize];
        let proof = key.sign(
            &SignInput {
                client_id: "openclaw-macos",
                client_mode: "ui",
                role: "operator",
                scopes: &scopes,
                token: "t",
                nonce: &nonce,
                platform: "macos",
                device_family: "",
            },
            START_MS + self.h.elapsed_ms(),
        );
        let frame = json!({"type": "req", "id": "c", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "openclaw-macos", "version": "1", "platform": "macos", "mode": "ui"},
            "role": "operator", "scopes": scopes, "auth": {"token": "t"},
            "device": {"id": proof.id, "publicKey": proof.public_key,
                       "signature": proof.signature, "signedAt": proof.signed_at,
                       "nonce": proof.nonce}}});
        self.h.text(conn, &frame.to_string());
        assert!(
            self.h.response(conn, "c", 0).is_some(),
            "connect answered at once"
        );
        self.h.close(conn);
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = format!("r{}", self.next_conn);
        self.next_conn += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.h.text(ADMIN, &frame.to_string());
        self.h.response(ADMIN, &id, 0).cloned().expect("answered")
    }

    fn pending_of(&self, device: u8) -> Vec<PendingRequest> {
        let id = self.keys[device as usize].device_id();
        self.h
            .gateway
            .pairing_snapshot()
            .pending
            .into_iter()
            .filter(|p| p.device_id == id)
            .collect()
    }
}

impl StateMachineTest for PairingMachine {
    type SystemUnderTest = Sut;
    type Reference = PairingMachine;

    fn init_test(_: &Model) -> Sut {
        Sut::new()
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        match &step {
            Step::Connect { device, scopes } => sut.connect(*device, &scope_set(*scopes)),
            Step::Approve { device } | Step::Reject { device } => {
                let method = if matches!(step, Step::Approve { .. }) {
                    "device.pair.approve"
                } else {
                    "device.pair.reject"
                };
                let id = sut
                    .pending_of(*device)
                    .first()
                    .map(|p| p.request_id.clone());
                if let Some(id) = id {
                    sut.call(method, json!({ "requestId": id }));
                }
            }
            Step::Remove { device } => {
                let id = sut.keys[*device as usize].device_id();
                sut.call("device.pair.remove", json!({ "deviceId": id }));
            }
            Step::Advance { ms } => sut.h.advance_ms(*ms),
        }
        // The hub prunes on its next change; list through the method, which
        // hides expired requests, to compare with the (pruned) model.
        let listed = sut.call("device.pair.list", json!({}));
        let pending = listed["payload"]["pending"].as_array().unwrap().clone();
        for device in 0..DEVICES {
            let id = sut.keys[device as usize].device_id();
            let mine: Vec<&Value> = pending.iter().filter(|p| p["deviceId"] == id).collect();
            let expected = model
                .pending
                .get(&device)
                .filter(|p| p.refreshed_ms + TTL_MS > model.now_ms);
            match expected {
                None => assert!(
                    mine.is_empty(),
                    "device {device}: no request expected, got {mine:?}"
                ),
                Some(p) => {
                    assert_eq!(mine.len(), 1, "device {device}: one request");
                    let scopes: BTreeSet<String> = mine[0]["scopes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(scopes, p.scopes, "device {device}: scopes");
                    let request_id = mine[0]["requestId"].as_str().unwrap().to_owned();
                    if let Some((last_id, generation)) = sut.ids.get(&device) {
                        let same_generation = *generation == p.generation;
                        assert_eq!(
                            *last_id == request_id,
                            same_generation,
                            "device {device}: id kept exactly when refreshed"
                        );
                    }
                    sut.ids.insert(device, (request_id, p.generation));
                }
            }
            if expected.is_none() {
                sut.ids.remove(&device);
            }
            let paired = sut.h.gateway.pairing_snapshot().paired;
            let row = paired.iter().find(|d| d.device_id == id);
            match model.paired.get(&device) {
                None => assert!(row.is_none(), "device {device}: not paired"),
                Some(scopes) => {
                    let row = row.expect("paired");
                    let got: BTreeSet<String> = row
                        .approved_scopes
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    assert_eq!(&got, scopes, "device {device}: approved scopes");
                }
            }
        }
        let (pending, paired) = replay(&sut.h.pairing_writes);
        let snapshot = sut.h.gateway.pairing_snapshot();
        let book_pending: BTreeMap<String, PendingRequest> = snapshot
            .pending
            .into_iter()
            .map(|p| (p.request_id.clone(), p))
            .collect();
        let book_paired: BTreeMap<String, PairedDevice> = snapshot
            .paired
            .into_iter()
            .map(|d| (d.device_id.clone(), d))
            .collect();
        assert_eq!(pending, book_pending, "store and memory agree on pending");
        assert_eq!(paired, book_paired, "store and memory agree on paired");
        sut
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn pending_requests_follow_the_model(sequential 1..40 => PairingMachine);
}
