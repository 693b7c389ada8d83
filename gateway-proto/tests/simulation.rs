//! Deterministic simulation of one gateway and several clients under faults
//! (see `gateway_proto::testing::sim`).
//!
//! - default: 1,000 seeds × 10,000 steps, split over four tests;
//! - `SIM_SEED=<n>`: replay exactly one seed (what a failure prints);
//! - `SIM_SEEDS=<n> SIM_STEPS=<m>`: a longer run, e.g.
//!   `SIM_SEEDS=20000 cargo test --release -p gateway-proto --test simulation`.

use std::io::Write;
use std::time::{Duration, Instant};

use gateway_proto::time::Timestamp;

use gateway_proto::testing::sim::{run, SimConfig, SimReport};

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Virtual time starts at the origin.
fn start() -> Timestamp {
    Timestamp::ZERO
}

/// Real time, only for the progress lines.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
    Instant::now()
}

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        clients: 2 + (seed % 5) as usize,
        steps: env_number("SIM_STEPS").unwrap_or(10_000) as usize,
    }
}

/// How often a shard says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// One progress line straight to stderr: the test harness captures `eprintln!`
/// (shown only on failure), and a long run should say what it is doing.
fn progress(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Run seeds `shard, shard + shards, …` below the seed count.
fn run_shard(shard: u64, shards: u64) {
    if let Some(seed) = env_number("SIM_SEED") {
        if shard == 0 {
            let report = run(config(seed), start()).unwrap_or_else(|failure| panic!("{failure}"));
            eprintln!("{report:?}");
        }
        return;
    }
    let seeds = env_number("SIM_SEEDS").unwrap_or(1_000);
    let mut total = SimReport::default();
    let in_shard = seeds.saturating_sub(shard).div_ceil(shards);
    let began = wall();
    let mut last_said = began;
    for (done, seed) in (shard..seeds).step_by(shards as usize).enumerate() {
        if last_said.elapsed() >= PROGRESS_EVERY {
            last_said = wall();
            progress(&format!(
                "simulation shard {shard}/{shards}: {done}/{in_shard} seeds done ({:.0?})",
                began.elapsed()
            ));
        }
        let report = run(config(seed), start()).unwrap_or_else(|failure| panic!("{failure}"));
        total.connects += report.connects;
        total.gaps += report.gaps;
        total.gap_events += report.gap_events;
        total.requests += report.requests;
        total.answered += report.answered;
        total.slow_closes += report.slow_closes;
        total.restarts += report.restarts;
        total.disconnects += report.disconnects;
        total.refreshes += report.refreshes;
    }
    progress(&format!(
        "simulation shard {shard}/{shards}: {in_shard}/{in_shard} seeds done ({:.0?})",
        began.elapsed()
    ));
    eprintln!("shard {shard}/{shards}: {total:?}");
    // The faults must actually happen, or the run proves nothing.
    if seeds >= 100 {
        assert!(total.gaps > 0, "no slow-consumer gaps were exercised");
        assert!(
            total.slow_closes > 0,
            "no slow-consumer closes were exercised"
        );
        assert!(total.restarts > 0 && total.disconnects > 0 && total.connects > total.restarts);
        assert_eq!(
            total.requests, total.answered,
            "every request answered exactly once"
        );
    }
}

#[test]
fn simulation_shard_0() {
    run_shard(0, 4);
}

#[test]
fn simulation_shard_1() {
    run_shard(1, 4);
}

#[test]
fn simulation_shard_2() {
    run_shard(2, 4);
}

#[test]
fn simulation_shard_3() {
    run_shard(3, 4);
}
