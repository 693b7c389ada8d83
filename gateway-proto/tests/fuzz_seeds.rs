//! Replays every committed fuzz seed (`fuzz/seeds/<target>/*`) through the
//! target's body in `gateway_proto::testing::fuzz`, so the seeds keep passing
//! without libFuzzer. A crash file copied into `fuzz/seeds/<target>/` becomes
//! a regression test.

use std::path::Path;

use gateway_proto::testing::fuzz::TARGETS;

const SEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds");

#[test]
fn every_seed_of_every_target_passes() {
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let dir = Path::new(SEEDS).join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds for {target}");
        for path in files {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| run(&data, base_instant()));
            assert!(outcome.is_ok(), "{target} fails on {}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "only {replayed} seeds");
}

#[test]
fn empty_and_tiny_inputs_pass() {
    for (_, run) in TARGETS {
        for data in [&b""[..], b"\0", b"\xff", b"{", b"\x00\x00\x00\x02"] {
            run(data, base_instant());
        }
    }
}

#[allow(clippy::disallowed_methods)] // one real base instant
fn base_instant() -> gateway_proto::time::Timestamp {
    gateway_proto::time::Timestamp::ZERO
}

/// The handshake seeds really authenticate a connection (the byte encoding
/// of ops has not drifted away from them).
#[test]
fn handshake_seeds_authenticate() {
    use gateway_proto::testing::{ByteReader, GatewaySim};
    for seed in ["handshake-health", "two-clients-tick", "system-events"] {
        let data = std::fs::read(Path::new(SEEDS).join("gateway").join(seed)).expect("seed");
        let mut reader = ByteReader::new(&data);
        let mut sim = GatewaySim::new(reader.params(), base_instant());
        while !reader.is_empty() {
            sim.apply(reader.op());
        }
        assert!(sim.open_count() >= 1, "{seed}: no connection authenticated");
    }
}
