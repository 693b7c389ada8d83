//! Agent-run benchmark: starts a scripted OpenAI-compatible provider and OUR
//! gateway (`openclaw` next to this binary: the release one when run from
//! `target/release`), opens N operator connections, sends one `chat.send`
//! per connection at once, each in its own session, and waits for every
//! run's `final` chat event. Prints a table on stderr and one JSON object on
//! stdout; exits 1 if any run failed or timed out.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::time::Duration;

use argh::FromArgs;
use tests::agent_runs::{run_agent_runs, AgentRunsConfig};

/// Concurrent agent runs through our gateway.
#[derive(FromArgs)]
struct Args {
    /// concurrent runs (one connection and session each)
    #[argh(option, default = "100")]
    runs: usize,
    /// text chunks in each streamed reply
    #[argh(option, default = "20")]
    chunks: usize,
    /// milliseconds between two chunks
    #[argh(option, default = "10")]
    chunk_delay_ms: u64,
    /// seconds allowed for all runs, from the first send
    #[argh(option, default = "60")]
    timeout_secs: u64,
}

fn main() {
    let args: Args = argh::from_env();
    let config = AgentRunsConfig {
        runs: args.runs,
        chunks: args.chunks,
        chunk_delay_ms: args.chunk_delay_ms,
        timeout: Duration::from_secs(args.timeout_secs),
        ..AgentRunsConfig::default()
    };
    match run_agent_runs(&config) {
        Ok(report) => {
            eprint!("{}", report.table());
            println!("{}", report.to_json());
            if !report.ok() {
                std::process::exit(1);
            }
        }
        Err(message) => {
            eprintln!("agent_runs: {message}");
            std::process::exit(1);
        }
    }
}
