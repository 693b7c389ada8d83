//! State-machine property test of node invokes against a model: approved
//! nodes connect, vanish and return while an operator invokes commands on
//! them, nodes answer some invokes (in any order, some late), and time
//! passes. After every step each invoke the operator sent has exactly the
//! answers the model expects: none while it is pending; then exactly one,
//! its result, `TIMEOUT`, `DISCONNECTED` or `node not connected`. The
//! hub's in-flight count equals the model's, and a reconnecting node keeps
//! its approved surface.
//!
//! `PROPTEST_CASES` overrides the number of cases (default 200).

mod common;

use std::collections::BTreeMap;

use common::nodes::*;
use gateway_proto::testing::Harness;
use gateway_proto::ConnId;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use serde_json::json;

const NODES: u8 = 3;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

#[derive(Clone, Debug)]
enum Step {
    Invoke { node: u8, timeout_ms: u64 },
    Answer { node: u8, pick: usize, ok: bool },
    Vanish { node: u8 },
    Return { node: u8 },
    Advance { ms: u64 },
}

/// What one invoke's caller should have heard.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Pending { node: u8, deadline_ms: u64 },
    Ok,
    NodeError,
    Timeout,
    Disconnected,
    NotConnected,
}

#[derive(Clone, Debug)]
struct Model {
    now_ms: u64,
    connected: [bool; NODES as usize],
    invokes: Vec<Outcome>,
}

impl Model {
    fn expire(&mut self) {
        let now = self.now_ms;
        for outcome in &mut self.invokes {
            if matches!(outcome, Outcome::Pending { deadline_ms, .. } if *deadline_ms <= now) {
                *outcome = Outcome::Timeout;
            }
        }
    }

    /// The `pick`-th (modulo) invoke still pending on `node`.
    fn pending_on(&self, node: u8, pick: usize) -> Option<usize> {
        let mine: Vec<usize> = self
            .invokes
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Outcome::Pending { node: n, .. } if *n == node))
            .map(|(i, _)| i)
            .collect();
        (!mine.is_empty()).then(|| mine[pick % mine.len()])
    }
}

struct NodeMachine;

impl ReferenceStateMachine for NodeMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now_ms: 0,
            connected: [true; NODES as usize],
            invokes: Vec::new(),
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            5 => (0..NODES, prop_oneof![Just(100u64), Just(1_000), Just(30_000)])
                .prop_map(|(node, timeout_ms)| Step::Invoke { node, timeout_ms }),
            4 => (0..NODES, 0usize..8, any::<bool>())
                .prop_map(|(node, pick, ok)| Step::Answer { node, pick, ok }),
            1 => (0..NODES).prop_map(|node| Step::Vanish { node }),
            1 => (0..NODES).prop_map(|node| Step::Return { node }),
            2 => prop_oneof![Just(50u64), Just(100), Just(999), Just(30_000)]
                .prop_map(|ms| Step::Advance { ms }),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match *step {
            Step::Invoke { node, timeout_ms } => {
                let outcome = if state.connected[node as usize] {
                    Outcome::Pending {
                        node,
                        deadline_ms: state.now_ms + timeout_ms,
                    }
                } else {
                    Outcome::NotConnected
                };
                state.invokes.push(outcome);
            }
            Step::Answer { node, pick, ok } => {
                if state.connected[node as usize] {
                    if let Some(i) = state.pending_on(node, pick) {
                        state.invokes[i] = if ok { Outcome::Ok } else { Outcome::NodeError };
                    }
                }
            }
            Step::Vanish { node } => {
                if state.connected[node as usize] {
                    state.connected[node as usize] = false;
                    for o in &mut state.invokes {
                        if matches!(o, Outcome::Pending { node: n, .. } if *n == node) {
                            *o = Outcome::Disconnected;
                        }
                    }
                }
            }
            Step::Return { node } => {
                // A reconnect while connected replaces the session: what
                // the old one held fails.
                for o in &mut state.invokes {
                    if matches!(o, Outcome::Pending { node: n, .. } if *n == node) {
                        *o = Outcome::Disconnected;
                    }
                }
                state.connected[node as usize] = true;
            }
            Step::Advance { ms } => {
                state.now_ms += ms;
                state.expire();
            }
        }
        state
    }
}

struct Sut {
    h: Harness,
    node_ids: Vec<String>,
    conns: Vec<ConnId>,
    next_conn: u64,
    /// Invoke index → the gateway's invoke id, once the node saw it.
    invoke_ids: BTreeMap<usize, String>,
    sent: usize,
    /// The model before the step being applied (the test sees only the
    /// state after it; an answer's pick is resolved against the one before).
    before: Model,
}

impl Sut {
    fn new(model: &Model) -> Sut {
        let mut h = harness();
        let mut node_ids = Vec::new();
        let mut conns = Vec::new();
        for i in 0..NODES {
            let conn = ConnId(100 + u64::from(i));
            let id = node(&mut h, conn, 40 + i, &["system.which"]);
            approve(&mut h, &id);
            node_ids.push(id);
            conns.push(conn);
        }
        Sut {
            h,
            node_ids,
            conns,
            next_conn: 200,
            invoke_ids: BTreeMap::new(),
            sent: 0,
            before: model.clone(),
        }
    }

    /// Learn the invoke ids the node on `conn` was sent.
    fn learn(&mut self, conn: ConnId) {
        for request in events(&self.h, conn, "node.invoke.request") {
            let key = request["payload"]["idempotencyKey"].as_str().unwrap();
            let index: usize = key.trim_start_matches('i').parse().unwrap();
            let id = request["payload"]["id"].as_str().unwrap().to_owned();
            self.invoke_ids.insert(index, id);
        }
    }
}

fn check(sut: &Sut, model: &Model) {
    let mut in_flight = 0;
    for (i, expected) in model.invokes.iter().enumerate() {
        let id = format!("i{i}");
        let first = sut.h.response(ADMIN, &id, 0);
        assert!(
            sut.h.response(ADMIN, &id, 1).is_none(),
            "{id} answered twice"
        );
        let message = first.and_then(|r| r["error"]["message"].as_str());
        match expected {
            Outcome::Pending { .. } => {
                in_flight += 1;
                assert!(first.is_none(), "{id} answered early: {first:?}");
            }
            Outcome::Ok => {
                let res = first.unwrap_or_else(|| panic!("{id} unanswered"));
                assert_eq!(res["payload"]["payload"]["i"], i, "{id}: {res}");
            }
            Outcome::NodeError => assert_eq!(message, Some("E_NODE: failed"), "{id}"),
            Outcome::Timeout => assert_eq!(message, Some("TIMEOUT: node invoke timed out"), "{id}"),
            Outcome::Disconnected => assert_eq!(
                message,
                Some("DISCONNECTED: node disconnected (system.which)"),
                "{id}"
            ),
            Outcome::NotConnected => assert_eq!(message, Some("node not connected"), "{id}"),
        }
    }
    assert_eq!(sut.h.gateway.node_invokes_in_flight(), in_flight);
}

impl StateMachineTest for NodeMachine {
    type SystemUnderTest = Sut;
    type Reference = NodeMachine;

    fn init_test(model: &Model) -> Sut {
        Sut::new(model)
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        match step {
            Step::Invoke { node, timeout_ms } => {
                let i = sut.sent;
                sut.sent += 1;
                let params = json!({
                    "nodeId": sut.node_ids[node as usize], "command": "system.which",
                    "params": {"i": i}, "timeoutMs": timeout_ms, "idempotencyKey": format!("i{i}"),
                });
                send(&mut sut.h, ADMIN, &format!("i{i}"), "node.invoke", params);
                let conn = sut.conns[node as usize];
                sut.learn(conn);
            }
            Step::Answer { node, pick, ok } => {
                // The invoke the model picked, over the pending set before
                // this step.
                let picked = sut.before.connected[node as usize]
                    .then(|| sut.before.pending_on(node, pick))
                    .flatten();
                if let Some(i) = picked {
                    let conn = sut.conns[node as usize];
                    let invoke_id = sut.invoke_ids[&i].clone();
                    let node_id = sut.node_ids[node as usize].clone();
                    let mut result = json!({"id": invoke_id, "nodeId": node_id, "ok": ok});
                    if ok {
                        result["payload"] = json!({"i": i});
                    } else {
                        result["error"] = json!({"code": "E_NODE", "message": "failed"});
                    }
                    let ack_id = format!("r{i}");
                    send(&mut sut.h, conn, &ack_id, "node.invoke.result", result);
                    let ack = sut.h.response(conn, &ack_id, 0).cloned().unwrap();
                    assert_eq!(ack["payload"], json!({"ok": true}), "{ack}");
                }
            }
            Step::Vanish { node } => sut.h.close(sut.conns[node as usize]),
            Step::Return { node: n } => {
                let conn = ConnId(sut.next_conn);
                sut.next_conn += 1;
                node(&mut sut.h, conn, 40 + n, &["system.which"]);
                sut.conns[n as usize] = conn;
            }
            Step::Advance { ms } => sut.h.advance_ms(ms),
        }
        check(&sut, model);
        sut.before = model.clone();
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
    fn every_invoke_is_answered_exactly_once(sequential 1..50 => NodeMachine);
}
