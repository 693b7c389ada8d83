#![no_main]
//! Thin shim: the body is `gateway_proto::testing::fuzz_pairing::device_connect`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gateway_proto::testing::fuzz_pairing::device_connect(
    data,
    gateway_proto::time::Timestamp::ZERO
));
