//! The `openclaw` command tree (argh).
//!
//! `openclaw gateway` takes the run flags itself (`openclaw gateway --port 1`)
//! and through its `run` subcommand (`openclaw gateway run --port 1`), like the
//! reference; its other subcommands are the client commands in `client/`.

use argh::FromArgs;

use crate::client::{
    AgentArgs, CallArgs, ChatArgs, DevicesCmd, GatewayHealthArgs, GatewayStatusArgs, HealthArgs,
    LogsArgs, NodesCmd, ProbeArgs, StatusArgs, SystemPresenceArgs,
};
use crate::settings::RunFlags;

/// OpenClaw gateway (a Rust drop-in for the Node.js one) and its command-line
/// client. Start with `openclaw gateway` to serve on ws://127.0.0.1:18789, then
/// talk to it with `openclaw gateway health` (same token: --token or
/// OPENCLAW_GATEWAY_TOKEN). `openclaw --version` prints the version.
#[derive(FromArgs, Debug)]
pub struct Cli {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Gateway(GatewayCmd),
    Health(HealthArgs),
    Status(StatusArgs),
    Logs(LogsArgs),
    System(SystemCmd),
    Devices(DevicesCmd),
    Node(crate::node_host::NodeCmd),
    Nodes(NodesCmd),
    Agent(AgentArgs),
    Chat(ChatArgs),
    Config(crate::config_cmd::ConfigCmd),
    Doctor(crate::doctor::DoctorArgs),
    Setup(crate::setup::SetupArgs),
    Dashboard(crate::dashboard::DashboardArgs),
}

/// Declares a command struct carrying every `gateway run` flag, so that
/// `gateway` and `gateway run` accept the same ones without drifting apart.
macro_rules! run_command {
    ($(#[$attr:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        #[derive(FromArgs, Debug)]
        $(#[$attr])*
        pub struct $name {
            /// port to listen on (default: OPENCLAW_GATEWAY_PORT, gateway.port, 18789)
            #[argh(option)]
            pub port: Option<u16>,
            /// bind mode: loopback (default), lan, tailnet, auto or custom
            #[argh(option)]
            pub bind: Option<String>,
            /// auth mode: none, token or password (default: from what is configured)
            #[argh(option)]
            pub auth: Option<String>,
            /// shared token clients must present (default: OPENCLAW_GATEWAY_TOKEN)
            #[argh(option)]
            pub token: Option<String>,
            /// shared password clients must present (default: OPENCLAW_GATEWAY_PASSWORD)
            #[argh(option)]
            pub password: Option<String>,
            /// start without a config file (accepted for compatibility: this gateway always can)
            #[argh(switch)]
            pub allow_unconfigured: bool,
            /// log every frame
            #[argh(switch)]
            pub verbose: bool,
            /// stop whatever process is listening on the port first
            #[argh(switch)]
            pub force: bool,
            /// development profile: port 19001, state in ~/.openclaw-dev
            #[argh(switch)]
            pub dev: bool,
            /// named profile: state in ~/.openclaw-<name>
            #[argh(option)]
            pub profile: Option<String>,
            $($extra)*
        }

        impl $name {
            pub fn flags(&self) -> RunFlags {
                RunFlags {
                    port: self.port,
                    bind: self.bind.clone(),
                    auth: self.auth.clone(),
                    token: self.token.clone(),
                    password: self.password.clone(),
                    allow_unconfigured: self.allow_unconfigured,
                    verbose: self.verbose,
                    force: self.force,
                    dev: self.dev,
                    profile: self.profile.clone(),
                }
            }
        }
    };
}

run_command! {
    /// Run the gateway (alone: same as `gateway run`), or talk to a running one.
    #[argh(subcommand, name = "gateway")]
    pub struct GatewayCmd {
        #[argh(subcommand)]
        pub command: Option<GatewaySub>,
    }
}

run_command! {
    /// Run the gateway in the foreground.
    #[argh(subcommand, name = "run")]
    pub struct RunCmd {}
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum GatewaySub {
    Run(RunCmd),
    // Client commands (gateway-cli/src/client/).
    Call(CallArgs),
    Health(GatewayHealthArgs),
    Probe(ProbeArgs),
    Status(GatewayStatusArgs),
    // Service management (gateway-cli/src/service/).
    Install(crate::service::InstallArgs),
    Uninstall(crate::service::UninstallArgs),
    Start(crate::service::StartArgs),
    Stop(crate::service::StopArgs),
    Restart(crate::service::RestartArgs),
}

impl GatewayCmd {
    /// The run flags given before a subcommand (`gateway --port 1 health`).
    fn misplaced_flags(&self) -> Vec<&'static str> {
        let f = self.flags();
        [
            ("--port", f.port.is_some()),
            ("--bind", f.bind.is_some()),
            ("--auth", f.auth.is_some()),
            ("--token", f.token.is_some()),
            ("--password", f.password.is_some()),
            ("--allow-unconfigured", f.allow_unconfigured),
            ("--verbose", f.verbose),
            ("--force", f.force),
            ("--dev", f.dev),
            ("--profile", f.profile.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name)
        .collect()
    }

    pub fn has_run_flags(&self) -> bool {
        !self.misplaced_flags().is_empty()
    }
}

/// `openclaw gateway --port 18795 health` would silently talk to the default
/// port: refuse it and show the form that does what was meant. Exit 2.
pub fn refuse_misplaced_flags(gateway: &GatewayCmd) -> i32 {
    let sub = match &gateway.command {
        Some(GatewaySub::Call(_)) => "call <method>",
        Some(GatewaySub::Health(_)) => "health",
        Some(GatewaySub::Probe(_)) => "probe",
        Some(GatewaySub::Status(_)) => "status",
        Some(GatewaySub::Install(_)) => "install",
        Some(GatewaySub::Uninstall(_)) => "uninstall",
        Some(GatewaySub::Start(_)) => "start",
        Some(GatewaySub::Stop(_)) => "stop",
        Some(GatewaySub::Restart(_)) => "restart",
        None | Some(GatewaySub::Run(_)) => return 0,
    };
    let flags = gateway.misplaced_flags();
    let f = gateway.flags();
    // The client finds a local gateway's port in OPENCLAW_GATEWAY_PORT (an
    // explicit --url would also demand explicit credentials).
    let mut right = Vec::new();
    if let Some(port) = f.port {
        right.push(format!("OPENCLAW_GATEWAY_PORT={port}"));
    }
    right.push(format!("openclaw gateway {sub}"));
    if f.token.is_some() {
        right.push("--token <token>".into());
    }
    if f.password.is_some() {
        right.push("--password <password>".into());
    }
    let right = right.join(" ");
    let verb = if flags.len() == 1 {
        "is a flag"
    } else {
        "are flags"
    };
    eprintln!(
        "openclaw gateway: {} before `{sub}` {verb} of `openclaw gateway run`, not of `{sub}`; use: {right}",
        flags.join(", ")
    );
    2
}

/// System commands.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "system")]
pub struct SystemCmd {
    #[argh(subcommand)]
    pub command: SystemSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum SystemSub {
    Presence(SystemPresenceArgs),
}
