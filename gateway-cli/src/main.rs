//! `openclaw`: the gateway server (`openclaw gateway [run]`) and its client commands.

// The CLI is, with the runtime, where the clock is read (log timestamps, probe
// latency); the deterministic core never does.
#![allow(clippy::disallowed_methods)]

mod cli;
mod client;
mod config_file;
mod config_keys;
mod config_text;
mod force;
mod host;
mod logging;
mod run;
mod settings;
mod watch;

use argh::FromArgs;

use cli::{Cli, Command, GatewaySub, SystemSub};

fn main() {
    std::process::exit(dispatch());
}

fn dispatch() -> i32 {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Command::Gateway(gateway) => match gateway.command {
            None => run::main(gateway.flags()),
            Some(GatewaySub::Run(run)) => run::main(run.flags()),
            Some(GatewaySub::Call(a)) => client::run_call(a),
            Some(GatewaySub::Health(a)) => client::run_gateway_health(a),
            Some(GatewaySub::Probe(a)) => client::run_probe(a),
        },
        Command::Health(a) => client::run_health(a),
        Command::Status(a) => client::run_status(a),
        Command::Logs(a) => client::run_logs(a),
        Command::System(system) => match system.command {
            SystemSub::Presence(a) => client::run_system_presence(a),
        },
    }
}

/// Parse argv; `--help` exits 0, a usage error 2 (argh's own exit would use 1).
fn parse_args() -> Result<Cli, i32> {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (cmd, rest) = strs
        .split_first()
        .map(|(c, r)| (*c, r))
        .unwrap_or(("openclaw", &[]));
    Cli::from_args(&[cmd], rest).map_err(|early| match early.status {
        Ok(()) => {
            println!("{}", early.output);
            0
        }
        Err(()) => {
            eprintln!("{}", early.output);
            2
        }
    })
}
