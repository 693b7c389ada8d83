//! Soak tool: starts our gateway (the `openclaw` next to this binary, or
//! `--gateway`), runs
//! reconnect churn, presence and broadcast traffic and slow readers against
//! it for `--secs`, samples its RSS, fds and threads every second, and
//! checks it stayed healthy (see `tests::soak`). Writes `<out>.csv` and
//! `<out>.svg`, prints the summary as JSON, exits 1 when a check failed.
//!
//! `soak --secs 3600 --clients 100 --out tests/bench/results/soak-1h`
#![allow(clippy::disallowed_methods)] // a soak tool reads the clock

use std::time::Duration;

use argh::FromArgs;
use tests::process::{GatewayOptions, OurGateway};
use tests::soak::{self, SoakConfig};

/// Soak our gateway.
#[derive(FromArgs)]
struct Args {
    /// how long the traffic runs, seconds
    #[argh(option, default = "120")]
    secs: u64,
    /// reconnect-churn clients
    #[argh(option, default = "100")]
    clients: usize,
    /// long-lived clients reading every broadcast
    #[argh(option, default = "10")]
    listeners: usize,
    /// clients that stop reading until closed "slow consumer"
    #[argh(option, default = "3")]
    slow_readers: usize,
    /// milliseconds between two presence updates (system-event)
    #[argh(option, default = "200")]
    presence_ms: u64,
    /// jitter seed
    #[argh(option, default = "1")]
    seed: u64,
    /// the gateway's OPENCLAW_MAX_BUFFERED_BYTES (small, so slow readers
    /// are closed after seconds, not minutes)
    #[argh(option, default = "1048576")]
    max_buffered_bytes: u64,
    /// output path without extension: writes <out>.csv and <out>.svg
    #[argh(option, default = "String::from(\"soak\")")]
    out: String,
    /// most projected RSS growth over the second half, MiB
    #[argh(option, default = "2.0")]
    max_trend_mib: f64,
    /// the openclaw binary to soak (default: the one next to this tool)
    #[argh(option)]
    gateway: Option<std::path::PathBuf>,
}

fn main() {
    let args: Args = argh::from_env();
    let config = SoakConfig {
        duration: Duration::from_secs(args.secs),
        clients: args.clients,
        listeners: args.listeners,
        slow_readers: args.slow_readers,
        presence_every: Duration::from_millis(args.presence_ms),
        seed: args.seed,
        max_trend_mib: args.max_trend_mib,
        ..SoakConfig::default()
    };
    let options = GatewayOptions {
        binary: args.gateway.clone(),
        ..GatewayOptions::default()
    };
    let gw = OurGateway::start(options.env("OPENCLAW_MAX_BUFFERED_BYTES", args.max_buffered_bytes));
    eprintln!(
        "soak: gateway pid {} on {}, {} s, {} clients",
        gw.pid(),
        gw.url(),
        args.secs,
        args.clients
    );
    let report = soak::run(gw.pid(), &gw.target(), config);
    let title = format!(
        "openclaw gateway soak: {} churn clients, {} listeners, {} slow readers, {} s",
        args.clients, args.listeners, args.slow_readers, args.secs
    );
    let write = |ext: &str, text: String| {
        let path = format!("{}.{ext}", args.out);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("soak: cannot write {path}: {e}");
        }
    };
    write("csv", soak::csv(&report.samples));
    write("svg", soak::svg(&report.samples, &title));
    let summary = report.json();
    eprintln!("{report}");
    println!("{summary}");
    if !report.passed() {
        // exit() skips destructors: stop the gateway first.
        drop(gw);
        std::process::exit(1);
    }
}
