//! The `openclaw` command tree (argh).
//!
//! `openclaw gateway` takes the run flags itself (`openclaw gateway --port 1`)
//! and through its `run` subcommand (`openclaw gateway run --port 1`), like the
//! reference; its other subcommands are the client commands in `client/`.

use argh::FromArgs;

use crate::client::{
    CallArgs, GatewayHealthArgs, HealthArgs, LogsArgs, ProbeArgs, StatusArgs, SystemPresenceArgs,
};
use crate::settings::RunFlags;

/// OpenClaw gateway and its command-line client.
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
