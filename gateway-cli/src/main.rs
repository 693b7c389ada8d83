//! `openclaw`: the gateway server (`openclaw gateway [run]`) and its client commands.

// The CLI is, with the runtime, where the clock is read (log timestamps, probe
// latency); the deterministic core never does.
#![allow(clippy::disallowed_methods)]

mod cli;
mod client;
mod config_cmd;
mod config_file;
mod config_keys;
mod config_text;
mod dashboard;
mod desktop;
mod doctor;
mod force;
mod host;
mod ids;
mod instance_lock;
mod logging;
mod malloc_policy;
mod node_host;
mod profile;
mod run;
mod service;
mod settings;
mod setup;
mod sockets;
mod watch;

use argh::FromArgs;

use cli::{Cli, Command, GatewaySub, SystemSub};

fn main() {
    malloc_policy::return_large_buffers_to_the_os();
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
            // `gateway --port 1 run` means what it says; flags after `run` win.
            Some(GatewaySub::Run(ref run)) => run::main(run.flags().or(gateway.flags())),
            Some(_) if gateway.has_run_flags() => cli::refuse_misplaced_flags(&gateway),
            Some(GatewaySub::Call(a)) => client::run_call(a),
            Some(GatewaySub::Health(a)) => client::run_gateway_health(a),
            Some(GatewaySub::Probe(a)) => client::run_probe(a),
            Some(GatewaySub::Status(a)) => service::status::run(a),
            Some(GatewaySub::Install(a)) => service::run_install(a),
            Some(GatewaySub::Uninstall(a)) => service::run_uninstall(a),
            Some(GatewaySub::Start(_)) => service::run_control("start"),
            Some(GatewaySub::Stop(_)) => service::run_control("stop"),
            Some(GatewaySub::Restart(_)) => service::run_control("restart"),
        },
        Command::Health(a) => client::run_health(a),
        Command::Status(a) => client::run_status(a),
        Command::Logs(a) => client::run_logs(a),
        Command::Devices(devices) => client::run_devices(devices),
        Command::Node(node) => node_host::run_node(node),
        Command::Nodes(nodes) => client::run_nodes(nodes),
        Command::Agent(a) => client::run_agent(a),
        Command::Chat(a) => client::run_chat(a),
        Command::Config(config) => config_cmd::run(config),
        Command::Doctor(a) => doctor::run(a),
        Command::Setup(a) => setup::run(a),
        Command::Dashboard(a) => dashboard::run(a),
        Command::System(system) => match system.command {
            SystemSub::Presence(a) => client::run_system_presence(a),
        },
    }
}

/// What `--version` prints: ours, and the protocol versions spoken.
fn version_line() -> String {
    use gateway_proto::wire::ProtocolVersion;
    format!(
        "openclaw {} (Rust gateway; protocol {}-{})",
        env!("CARGO_PKG_VERSION"),
        ProtocolVersion::MIN.number(),
        ProtocolVersion::MAX.number()
    )
}

/// Parse argv; `--help` exits 0, a usage error 2 (argh's own exit would use 1).
/// Help and usage name the command `openclaw`, whatever path it was run by.
fn parse_args() -> Result<Cli, i32> {
    let args: Vec<String> = match profile::apply(std::env::args().skip(1).collect()) {
        Ok(rest) => rest,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return Err(2);
        }
    };
    let rest: Vec<&str> = args.iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["--version" | "-V"] => {
            println!("{}", version_line());
            return Err(0);
        }
        // Bare `openclaw`: the usage line, what it is, and the commands.
        [] => {
            let help = Cli::from_args(&["openclaw"], &["help"])
                .err()
                .map(|early| early.output)
                .unwrap_or_default();
            eprintln!("{help}");
            return Err(2);
        }
        _ => {}
    }
    Cli::from_args(&["openclaw"], &rest).map_err(|early| match early.status {
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
