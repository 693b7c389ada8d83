//! Budget check: measures the resource budget (README, "Resource budget")
//! on an `openclaw` binary, prints the table (and the JSON with `--json`),
//! and exits 1 when a figure is over its budget.
//!
//! `cargo build --release -p gateway-cli -p tests --bin openclaw --bin budget`
//! `target/release/budget [--binary target/release/openclaw] [--idle-secs 60]`

use argh::FromArgs;
use tests::budget::{measure, BudgetConfig};

/// Check the gateway's resource budget.
#[derive(FromArgs)]
struct Args {
    /// the openclaw binary (default: the one next to this tool)
    #[argh(option)]
    binary: Option<std::path::PathBuf>,
    /// seconds the idle gateway is watched for CPU ticks
    #[argh(option, default = "60")]
    idle_secs: u64,
    /// clients of the per-connection and memory-limit checks
    #[argh(option, default = "1000")]
    clients: usize,
    /// also print the table as JSON
    #[argh(switch)]
    json: bool,
}

fn main() {
    let args: Args = argh::from_env();
    let binary = args.binary.unwrap_or_else(tests::process::our_binary);
    let report = measure(&BudgetConfig {
        binary,
        idle_secs: args.idle_secs,
        clients: args.clients,
    });
    print!("{report}");
    if args.json {
        println!("{}", report.json());
    }
    if !report.within_budget() {
        eprintln!("budget: over budget");
        std::process::exit(1);
    }
}
