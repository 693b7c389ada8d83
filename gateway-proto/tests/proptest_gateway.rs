//! State-machine property test of the `Gateway` hub with several connections
//! against the reference model in `gateway_proto::testing::model`: every
//! output of every step is checked (seq, answers, sticky close, slow
//! consumers, timers, memory, presence bounds, handshake outcomes).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 1000).

use gateway_proto::time::Timestamp;

use gateway_proto::testing::ops::{
    ClientKind, ConnectSpec, Garbage, Grant, Op, Proto, ReqKind, SimParams, Token, SLOTS,
};
use gateway_proto::testing::GatewaySim;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

#[allow(clippy::disallowed_methods)] // one real base instant; everything else is virtual
fn base_instant() -> Timestamp {
    Timestamp::ZERO
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// What generation needs to know: the limits, and which slots have a socket.
#[derive(Clone, Debug)]
struct RefState {
    params: SimParams,
    open: [bool; SLOTS as usize],
    shut: bool,
}

fn spec() -> impl Strategy<Value = ConnectSpec> {
    (
        prop_oneof![Just(Proto::V4), Just(Proto::V3)],
        prop_oneof![3 => Just(Token::Good), 1 => Just(Token::Bad), 1 => Just(Token::Missing)],
        prop_oneof![Just(ClientKind::Backend), Just(ClientKind::Cli)],
        prop_oneof![Just(Grant::Admin), Just(Grant::Read), Just(Grant::Nothing)],
    )
        .prop_map(|(proto, token, client, grant)| ConnectSpec {
            proto,
            token,
            client,
            grant,
        })
}

fn req_kind() -> impl Strategy<Value = ReqKind> {
    prop_oneof![
        1 => Just(ReqKind::Health),
        1 => Just(ReqKind::Status),
        1 => Just(ReqKind::SystemPresence),
        2 => Just(ReqKind::SystemEvent),
        1 => Just(ReqKind::LastHeartbeat),
        1 => Just(ReqKind::Unknown),
        1 => Just(ReqKind::InvalidWithId),
        1 => Just(ReqKind::InvalidNoId),
    ]
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        Just(Garbage::NotJson),
        Just(Garbage::JsonArray),
        Just(Garbage::Oversized),
        Just(Garbage::Empty),
    ]
}

fn millis() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..300,
        0u32..20_000,
        0u32..130_000,
        Just(15_000),
        Just(30_000)
    ]
}

struct GatewayRef;

impl ReferenceStateMachine for GatewayRef {
    type State = RefState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<RefState> {
        (
            prop_oneof![Just(1024usize), Just(4096), Just(16 * 1024)],
            1usize..4,
            1u32..4,
        )
            .prop_map(
                |(max_buffered_bytes, presence_max, auth_failures_max)| RefState {
                    params: SimParams {
                        max_buffered_bytes,
                        presence_max,
                        auth_failures_max,
                    },
                    open: [false; SLOTS as usize],
                    shut: false,
                },
            )
            .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Op> {
        let slot = 0..SLOTS;
        // Slots with a socket get most of the traffic.
        let used: Vec<u8> = (0..SLOTS).filter(|s| state.open[usize::from(*s)]).collect();
        let busy = if used.is_empty() {
            (0..SLOTS).boxed()
        } else {
            proptest::sample::select(used).boxed()
        };
        prop_oneof![
            3 => (slot.clone(), any::<bool>()).prop_map(|(slot, remote)| Op::Open { slot, remote }),
            4 => (busy.clone(), spec()).prop_map(|(slot, spec)| Op::Connect { slot, spec }),
            6 => (busy.clone(), req_kind()).prop_map(|(slot, kind)| Op::Request { slot, kind }),
            1 => (busy.clone(), garbage()).prop_map(|(slot, kind)| Op::Garbage { slot, kind }),
            1 => busy.clone().prop_map(|slot| Op::Binary { slot }),
            2 => busy.clone().prop_map(|slot| Op::Stall { slot }),
            1 => busy.clone().prop_map(|slot| Op::Resume { slot }),
            3 => millis().prop_map(|ms| Op::Advance { ms }),
            2 => Just(Op::FireNext),
            1 => busy.prop_map(|slot| Op::Disconnect { slot }),
            1 => Just(if state.shut { Op::FireNext } else { Op::Shutdown }),
        ]
        .boxed()
    }

    fn apply(mut state: RefState, op: &Op) -> RefState {
        match *op {
            Op::Open { slot, .. } => state.open[usize::from(slot % SLOTS)] = true,
            Op::Disconnect { slot } => state.open[usize::from(slot % SLOTS)] = false,
            Op::Shutdown => state.shut = true,
            _ => {}
        }
        state
    }
}

struct GatewayTest;

impl StateMachineTest for GatewayTest {
    type SystemUnderTest = GatewaySim;
    type Reference = GatewayRef;

    fn init_test(state: &RefState) -> GatewaySim {
        GatewaySim::new(state.params, base_instant())
    }

    fn apply(mut sim: GatewaySim, _state: &RefState, op: Op) -> GatewaySim {
        sim.apply(op);
        sim
    }

    fn check_invariants(sim: &GatewaySim, _state: &RefState) {
        sim.check();
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4096,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn gateway_matches_model(sequential 1..40 => GatewayTest);
}
