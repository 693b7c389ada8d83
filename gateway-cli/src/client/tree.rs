//! A temporary command tree so the client commands can run before the lead
//! merges them with the `gateway run` tree.

use argh::FromArgs;

use super::*;

/// openclaw (client commands)
#[derive(FromArgs, Debug, PartialEq)]
pub struct ClientCli {
    #[argh(subcommand)]
    pub command: TopCommand,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum TopCommand {
    Gateway(GatewayArgs),
    Health(HealthArgs),
    Status(StatusArgs),
    Logs(LogsArgs),
    System(SystemArgs),
}

/// Gateway client commands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "gateway")]
pub struct GatewayArgs {
    #[argh(subcommand)]
    pub command: GatewayCommand,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum GatewayCommand {
    Call(CallArgs),
    Health(GatewayHealthArgs),
    Probe(ProbeArgs),
}

/// System commands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "system")]
pub struct SystemArgs {
    #[argh(subcommand)]
    pub command: SystemCommand,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum SystemCommand {
    Presence(SystemPresenceArgs),
}

pub fn run(cli: ClientCli) -> i32 {
    match cli.command {
        TopCommand::Gateway(g) => match g.command {
            GatewayCommand::Call(a) => run_call(a),
            GatewayCommand::Health(a) => run_gateway_health(a),
            GatewayCommand::Probe(a) => run_probe(a),
        },
        TopCommand::Health(a) => run_health(a),
        TopCommand::Status(a) => run_status(a),
        TopCommand::Logs(a) => run_logs(a),
        TopCommand::System(s) => match s.command {
            SystemCommand::Presence(a) => run_system_presence(a),
        },
    }
}

/// Parse argv; usage errors exit 2 (argh's default early exit uses 1).
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (cmd, rest) = strs
        .split_first()
        .map(|(c, r)| (*c, r))
        .unwrap_or(("openclaw", &[]));
    match ClientCli::from_args(&[cmd], rest) {
        Ok(cli) => run(cli),
        Err(early) => match early.status {
            Ok(()) => {
                println!("{}", early.output);
                0
            }
            Err(()) => {
                eprintln!("{}", early.output);
                2
            }
        },
    }
}
