//! ClientConnection against a small reference model (proptest-state-machine).
//!
//! The model predicts the connection phase (including timer-driven closes);
//! the harness ([`Sim`]) checks after every step that each request is answered
//! at most once, that nothing follows `Disconnected`, and that `poll_timeout`
//! is never in the past. At teardown a user close must have answered every
//! request exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use gateway_proto::time::Timestamp;

use gateway_proto::client::testing::{frames, Sim};
use gateway_proto::client::{ClientAuth, ClientConfig, ClientOutput, RequestId, RequestOptions};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use serde_json::json;

const HANDSHAKE_MS: u64 = 15_000;
const TICK_MS: u64 = 10_000;
const REQUEST_MS: u64 = 30_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitChallenge { deadline: u64 },
    AwaitHello { deadline: u64 },
    Open,
    Backoff,
    Stopped,
}

#[derive(Clone, Debug)]
struct Model {
    now: u64,
    phase: Phase,
    last_inbound: u64,
    seq: u64,
}

#[derive(Clone, Debug)]
enum Step {
    Request {
        expect_final: bool,
        timeout_ms: Option<u64>,
    },
    Challenge,
    Hello,
    Refuse {
        detail: &'static str,
    },
    Answer {
        pick: usize,
        ok: bool,
    },
    Ack {
        pick: usize,
    },
    Event {
        skip: u64,
    },
    Garbage,
    Advance {
        ms: u64,
    },
    ServerClose,
    Reconnected,
    UserClose,
}

impl Model {
    /// Timer-driven transitions up to `now`, in the order the client fires them.
    fn fire_timers(&mut self) {
        match self.phase {
            Phase::AwaitChallenge { deadline } | Phase::AwaitHello { deadline }
                if deadline <= self.now =>
            {
                self.phase = Phase::Backoff
            }
            Phase::Open if self.last_inbound + 2 * TICK_MS <= self.now => {
                self.phase = Phase::Backoff
            }
            _ => {}
        }
    }

    fn socket_open(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitChallenge { .. } | Phase::AwaitHello { .. } | Phase::Open
        )
    }
}

struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: 0,
            phase: Phase::AwaitChallenge {
                deadline: HANDSHAKE_MS,
            },
            last_inbound: 0,
            seq: 0,
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            3 => (any::<bool>(), prop::option::of(1_000u64..60_000))
                .prop_map(|(expect_final, timeout_ms)| Step::Request { expect_final, timeout_ms }),
            2 => Just(Step::Challenge),
            2 => Just(Step::Hello),
            1 => prop::sample::select(vec!["AUTH_TOKEN_MISMATCH", "AUTH_RATE_LIMITED", "SOMETHING_ELSE"])
                .prop_map(|detail| Step::Refuse { detail }),
            3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, ok)| Step::Answer { pick, ok }),
            1 => any::<usize>().prop_map(|pick| Step::Ack { pick }),
            2 => (0u64..3).prop_map(|skip| Step::Event { skip }),
            1 => Just(Step::Garbage),
            3 => (1u64..40_000).prop_map(|ms| Step::Advance { ms }),
            1 => Just(Step::ServerClose),
            2 => Just(Step::Reconnected),
            1 => Just(Step::UserClose),
        ]
        .boxed()
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        if m.socket_open()
            && matches!(
                step,
                Step::Challenge
                    | Step::Hello
                    | Step::Refuse { .. }
                    | Step::Answer { .. }
                    | Step::Ack { .. }
                    | Step::Event { .. }
                    | Step::Garbage
            )
        {
            m.last_inbound = m.now;
        }
        match (step, m.phase) {
            (Step::Challenge, Phase::AwaitChallenge { .. }) => {
                m.phase = Phase::AwaitHello {
                    deadline: m.now + HANDSHAKE_MS,
                }
            }
            (Step::Hello, Phase::AwaitHello { .. }) => {
                m.phase = Phase::Open;
                m.seq = 0;
            }
            (Step::Refuse { detail }, Phase::AwaitHello { .. }) => {
                m.phase = if *detail == "AUTH_TOKEN_MISMATCH" {
                    Phase::Stopped
                } else {
                    Phase::Backoff
                }
            }
            (Step::Event { skip }, Phase::Open) => m.seq += 1 + skip,
            (Step::Advance { ms }, _) => {
                m.now += ms;
                m.fire_timers();
            }
            (
                Step::ServerClose,
                Phase::AwaitChallenge { .. } | Phase::AwaitHello { .. } | Phase::Open,
            ) => m.phase = Phase::Backoff,
            (Step::Reconnected, Phase::Backoff) => {
                m.phase = Phase::AwaitChallenge {
                    deadline: m.now + HANDSHAKE_MS,
                };
                m.last_inbound = m.now;
            }
            (Step::UserClose, _) => m.phase = Phase::Stopped,
            _ => {}
        }
        m
    }
}

struct Sut {
    sim: Sim,
    /// Deadlines of requests not acknowledged, to check timeouts fire.
    deadlines: BTreeMap<RequestId, Timestamp>,
}

impl Sut {
    /// Wire ids of requests sent and not yet answered, oldest first.
    fn in_flight(&self) -> Vec<(RequestId, String)> {
        let mut ids = Vec::new();
        for f in &self.sim.sent {
            let Some(wire) = f["id"].as_str() else {
                continue;
            };
            let Some(n) = wire.split_once(':').and_then(|(n, _)| n.parse().ok()) else {
                continue;
            };
            let id = RequestId(n);
            if f["method"] != "connect"
                && self.sim.issued().contains(&id)
                && !self.sim.is_answered(id)
            {
                ids.push((id, wire.to_owned()));
            }
        }
        ids
    }
}

struct ClientTest;

impl StateMachineTest for ClientTest {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(_: &Model) -> Sut {
        let config = ClientConfig {
            auth: ClientAuth {
                token: Some("t".into()),
                ..Default::default()
            },
            max_pending: 8,
            // The model tracks the caller's requests only; the refreshes the
            // core makes after a gap are covered by client_scenarios and the
            // simulation.
            refresh_on_gap: false,
            ..Default::default()
        };
        Sut {
            sim: Sim::new(config, 7, base_instant()),
            deadlines: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        let in_flight = sut.in_flight();
        let sim = &mut sut.sim;
        match step {
            Step::Request {
                expect_final,
                timeout_ms,
            } => {
                let opts = RequestOptions {
                    expect_final,
                    timeout: timeout_ms.map(Duration::from_millis),
                };
                if let Some(id) = sim.request("m", Some(json!({"x": 1})), opts) {
                    let t = Duration::from_millis(timeout_ms.unwrap_or(REQUEST_MS));
                    sut.deadlines.insert(id, sim.now + t);
                }
            }
            Step::Challenge => {
                sim.text(&frames::challenge("n"));
            }
            Step::Hello => {
                // A stale connect id (earlier socket) must be ignored by the client.
                if let Some(id) = sim.last_id("connect") {
                    sim.text(&frames::hello_ok(&id, 4, TICK_MS, None));
                }
            }
            Step::Refuse { detail } => {
                if let Some(id) = sim.last_id("connect") {
                    let retry = (detail == "AUTH_RATE_LIMITED").then_some(2_000);
                    sim.text(&frames::res_err(
                        &id,
                        "INVALID_REQUEST",
                        "unauthorized",
                        Some(json!({"code": detail})),
                        retry,
                    ));
                }
            }
            Step::Answer { pick, ok } => {
                let ids = &in_flight;
                if !ids.is_empty() {
                    let (_, wire) = &ids[pick % ids.len()];
                    let text = if ok {
                        frames::res_ok(wire, json!({"status": "ok"}))
                    } else {
                        frames::res_err(wire, "UNAVAILABLE", "nope", None, None)
                    };
                    sim.text(&text);
                } else {
                    sim.text(&frames::res_ok("1:none", json!({})));
                }
            }
            Step::Ack { pick } => {
                let ids = &in_flight;
                if !ids.is_empty() {
                    let (id, wire) = &ids[pick % ids.len()];
                    let out = sim.text(&frames::res_ok(wire, json!({"status": "accepted"})));
                    if out
                        .iter()
                        .any(|o| matches!(o, ClientOutput::Accepted { .. }))
                    {
                        sut.deadlines.remove(id);
                    }
                } else {
                    sim.text(r#"{"type":"event","event":"x"}"#);
                }
            }
            Step::Event { skip } => {
                let seq = sim.log.iter().rev().find_map(|o| match o {
                    ClientOutput::Event { seq, .. } => *seq,
                    ClientOutput::Connected(_) => Some(0),
                    _ => None,
                });
                let next = seq.unwrap_or(0) + 1 + skip;
                let out = sim.text(&frames::event("tick", json!({}), Some(next)));
                let gap = out.iter().any(|o| matches!(o, ClientOutput::Gap { .. }));
                if sim.client.is_connected() {
                    assert_eq!(gap, skip > 0 && seq.unwrap_or(0) > 0, "{out:?}");
                }
            }
            Step::Garbage => {
                sim.text("{not json");
            }
            Step::Advance { ms } => {
                sim.advance(Duration::from_millis(ms));
            }
            Step::ServerClose => {
                sim.closed(1012, "service restart");
            }
            Step::Reconnected => {
                sim.reconnected();
            }
            Step::UserClose => {
                sim.client.close(sim.now);
                sim.drain();
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let c = &sut.sim.client;
        assert_eq!(
            c.is_connected(),
            model.phase == Phase::Open,
            "model {model:?}"
        );
        assert_eq!(
            c.is_stopped(),
            model.phase == Phase::Stopped,
            "model {model:?}"
        );
        for (id, deadline) in &sut.deadlines {
            if *deadline <= sut.sim.now {
                assert!(
                    sut.sim.is_answered(*id),
                    "{id} past its deadline and unanswered"
                );
            }
        }
        assert_eq!(
            c.pending_len(),
            sut.sim
                .issued()
                .iter()
                .filter(|id| !sut.sim.is_answered(**id))
                .count()
        );
    }

    fn teardown(mut sut: Sut) {
        sut.sim.client.close(sut.sim.now);
        sut.sim.drain();
        for id in sut.sim.issued().clone() {
            assert!(sut.sim.is_answered(id), "{id} never answered");
        }
        assert!(sut.sim.is_stopped());
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000),
        ..ProptestConfig::default()
    })]
    #[test]
    fn client_connection_matches_model(sequential 1..60 => ClientTest);
}

/// The one real instant: the start of each case's virtual clock.
#[allow(clippy::disallowed_methods)]
fn base_instant() -> gateway_proto::time::Timestamp {
    gateway_proto::time::Timestamp::ZERO
}
