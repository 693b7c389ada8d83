//! State-machine property test of one `ServerConnection` on its own against
//! the reference model in `gateway_proto::testing::conn_model`, which
//! predicts every output of every op exactly.
//!
//! `PROPTEST_CASES` overrides the number of cases (default 1000).

use gateway_proto::time::Timestamp;

use gateway_proto::testing::ops::{
    ClientKind, ConnectSpec, Garbage, Grant, Proto, ReqKind, SimParams, Token,
};
use gateway_proto::testing::{ConnOp, ConnSim, ConnText};
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

fn text() -> impl Strategy<Value = ConnText> {
    prop_oneof![
        2 => spec().prop_map(ConnText::Connect),
        4 => prop_oneof![
            Just(ReqKind::Health),
            Just(ReqKind::Status),
            Just(ReqKind::Unknown),
            Just(ReqKind::InvalidWithId),
            Just(ReqKind::InvalidNoId),
        ]
        .prop_map(ConnText::Request),
        1 => prop_oneof![
            Just(Garbage::NotJson),
            Just(Garbage::JsonArray),
            Just(Garbage::Oversized),
            Just(Garbage::Empty),
        ]
        .prop_map(ConnText::Garbage),
    ]
}

struct ConnRef;

impl ReferenceStateMachine for ConnRef {
    type State = SimParams;
    type Transition = ConnOp;

    fn init_state() -> BoxedStrategy<SimParams> {
        prop_oneof![Just(300usize), Just(1024), Just(4096)]
            .prop_map(|max_buffered_bytes| SimParams {
                max_buffered_bytes,
                ..SimParams::default()
            })
            .boxed()
    }

    fn transitions(_: &SimParams) -> BoxedStrategy<ConnOp> {
        prop_oneof![
            6 => text().prop_map(ConnOp::Text),
            1 => Just(ConnOp::Binary),
            2 => Just(ConnOp::Stall),
            1 => Just(ConnOp::Resume),
            2 => prop_oneof![0u32..300, 0u32..20_000].prop_map(|ms| ConnOp::Advance { ms }),
            1 => Just(ConnOp::PeerClosed),
            1 => Just(ConnOp::Close),
            5 => any::<bool>().prop_map(|droppable| ConnOp::Broadcast { droppable }),
            2 => Just(ConnOp::Direct),
            3 => Just(ConnOp::Accept),
            1 => Just(ConnOp::Reject),
        ]
        .boxed()
    }

    fn apply(state: SimParams, _: &ConnOp) -> SimParams {
        state
    }
}

struct ConnTest;

impl StateMachineTest for ConnTest {
    type SystemUnderTest = ConnSim;
    type Reference = ConnRef;

    fn init_test(params: &SimParams) -> ConnSim {
        ConnSim::new(*params, base_instant())
    }

    fn apply(mut sim: ConnSim, _: &SimParams, op: ConnOp) -> ConnSim {
        sim.apply(op);
        sim
    }

    fn check_invariants(sim: &ConnSim, _: &SimParams) {
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
    fn server_connection_matches_model(sequential 1..40 => ConnTest);
}
