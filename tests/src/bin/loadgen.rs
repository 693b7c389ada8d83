//! Load tool: opens N real WebSocket connections to any OpenClaw gateway (ours
//! or the reference), handshakes with a token, and measures
//!
//! - `hold`: N connected clients held open (prints `READY <n>` once all are
//!   connected, then waits for the hold time or for stdin to close), for
//!   memory measurements;
//! - `rps`: `health` round trips per second and latency percentiles with N
//!   clients each keeping one request in flight;
//! - `fanout`: the delay from a `system-event` request to the `presence`
//!   event at every one of N clients (of those the gateway sends presence
//!   to), over several rounds;
//! - `flood`: one stalled client while an admin sends `--events`
//!   system-events with 4 KB texts from 150 instance ids (the admin's rate).
//!
//! Clients connect as `--mix real` (default: SDK backends, CLIs, webchat
//! pages and node hosts) or `--mix cli`.
//!
//! Results are printed as one JSON object on stdout.
#![allow(clippy::disallowed_methods)] // a load tool reads the clock

use std::time::{Duration, Instant};

use argh::FromArgs;
use serde_json::json;
use tests::load::{
    connect_mix, connect_reading, fanout, flood, hold, round_trips, LoadTarget, Mix,
};

/// Load tool for OpenClaw gateways.
#[derive(FromArgs)]
struct Args {
    /// gateway URL, e.g. ws://127.0.0.1:18789
    #[argh(option)]
    url: String,
    /// shared token
    #[argh(option)]
    token: String,
    /// number of clients
    #[argh(option, default = "100")]
    clients: usize,
    /// what to measure: hold | rps | fanout
    #[argh(option, default = "String::from(\"rps\")")]
    mode: String,
    /// seconds to hold (hold) or to send requests (rps)
    #[argh(option, default = "5")]
    seconds: u64,
    /// fan-out rounds
    #[argh(option, default = "10")]
    rounds: usize,
    /// system-events sent in `flood` mode
    #[argh(option, default = "20000")]
    events: usize,
    /// connections opened concurrently while ramping up (default 32: a
    /// gateway, ours or the reference, refuses more unauthenticated sockets
    /// from one address with 503 unless OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP
    /// is raised, as compare.sh does)
    #[argh(option, default = "32")]
    concurrency: usize,
    /// which clients connect: `real` (a mix of SDK backends, CLIs, Control
    /// UI pages and node hosts, see `ClientKind::mix`) or `cli` (CLIs only)
    #[argh(option, default = "String::from(\"real\")")]
    mix: String,
}

fn main() {
    let args: Args = argh::from_env();
    let target = LoadTarget {
        url: args.url.clone(),
        token: args.token.clone(),
    };
    let mix = match args.mix.as_str() {
        "real" => Mix::Real,
        "cli" => Mix::Cli,
        other => {
            eprintln!("loadgen: unknown --mix {other:?} (real | cli)");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let result = smol::block_on(async {
        if args.mode == "hold" {
            let readers = connect_reading(&target, mix, args.clients, args.concurrency).await?;
            let connect_secs = started.elapsed().as_secs_f64();
            let mut report = hold(readers, connect_secs, Duration::from_secs(args.seconds)).await?;
            report["connectSeconds"] = json!(connect_secs);
            report["clients"] = args.clients.into();
            report["mix"] = args.mix.clone().into();
            return Ok(report);
        }
        if args.mode == "flood" {
            return flood(&target, args.events).await;
        }
        let conns = connect_mix(&target, mix, args.clients, args.concurrency).await?;
        let connect_secs = started.elapsed().as_secs_f64();
        let report = match args.mode.as_str() {
            "rps" => round_trips(conns, Duration::from_secs(args.seconds)).await,
            "fanout" => fanout(&target, conns, args.rounds).await,
            other => Err(format!(
                "unknown mode {other:?} (hold | rps | fanout | flood)"
            )),
        }?;
        let mut report = report;
        report["clients"] = args.clients.into();
        report["mix"] = args.mix.clone().into();
        report["connectSeconds"] = json!(connect_secs);
        Ok::<_, String>(report)
    });
    match result {
        Ok(report) => println!("{report}"),
        Err(message) => {
            eprintln!("loadgen: {message}");
            std::process::exit(1);
        }
    }
}
