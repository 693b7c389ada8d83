#![no_main]
//! Thin shim: the body is `gateway_proto::testing::fuzz_nodes::node_invoke`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gateway_proto::testing::fuzz_nodes::node_invoke(
    data,
    gateway_proto::time::Timestamp::ZERO
));
