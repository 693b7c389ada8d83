//! Run the deterministic simulation from the command line.
//!
//! `cargo run --release -p gateway-proto --features testing --example sim -- [SEEDS] [STEPS] [FIRST_SEED]`
//!
//! Prints a summary per 100 seeds and the first failure with its seed
//! (replay it with `SIM_SEED=<n> cargo test -p gateway-proto --test simulation`).
#![allow(clippy::disallowed_methods)] // one real base instant; the rest is virtual

use gateway_proto::time::Timestamp;

use gateway_proto::testing::sim::{run, SimConfig};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seeds = arg(1, 1000);
    let steps = arg(2, 10_000) as usize;
    let first = arg(3, 0);
    let started = std::time::Instant::now();
    let (mut gaps, mut slow_closes, mut restarts, mut requests) = (0, 0, 0, 0);
    for seed in first..first + seeds {
        let config = SimConfig {
            seed,
            clients: 2 + (seed % 5) as usize,
            steps,
        };
        match run(config, Timestamp::ZERO) {
            Ok(report) => {
                gaps += report.gaps;
                slow_closes += report.slow_closes;
                restarts += report.restarts;
                requests += report.requests;
            }
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(1);
            }
        }
        if (seed - first + 1) % 100 == 0 {
            println!(
                "{} seeds ok ({:.1} s): {requests} requests, {gaps} gaps, {slow_closes} slow-consumer closes, {restarts} restarts",
                seed - first + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "all {seeds} seeds of {steps} steps passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
