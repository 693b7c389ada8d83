//! `openclaw nodes …`: the operator side of nodes, through the gateway's
//! `node.*` methods, with the reference CLI's flags, output and exit codes
//! (docs `cli/nodes.md`): exit 0 done, 1 refused or failed (the message on
//! stderr as `nodes <command> failed: …`), 2 bad usage (argh).

mod commands;
mod render;
mod resolve;

use argh::FromArgs;

pub use commands::run_nodes;

/// Declares a `nodes` subcommand with the options every one of them takes
/// (`--url`, `--token`, `--timeout`, `--json`); `$timeout` is the default
/// `--timeout` in ms.
macro_rules! nodes_command {
    ($timeout:literal, $(#[$attr:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        #[derive(FromArgs, Debug, PartialEq)]
        $(#[$attr])*
        pub struct $name {
            $($extra)*
            /// gateway WebSocket url
            #[argh(option)]
            pub url: Option<String>,
            /// gateway token (if required)
            #[argh(option)]
            pub token: Option<String>,
            /// timeout in ms
            #[argh(option, default = $timeout)]
            pub timeout: u64,
            /// output JSON
            #[argh(switch)]
            pub json: bool,
        }

        impl $name {
            pub fn common(&self) -> super::devices::Common {
                super::devices::Common {
                    url: self.url.clone(),
                    token: self.token.clone(),
                    password: None,
                    timeout: self.timeout,
                    json: self.json,
                }
            }
        }
    };
}

/// Manage paired nodes and invoke node commands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "nodes")]
pub struct NodesCmd {
    #[argh(subcommand)]
    pub command: NodesSub,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum NodesSub {
    List(ListArgs),
    Pending(PendingArgs),
    Status(StatusArgs),
    Describe(DescribeArgs),
    Invoke(InvokeArgs),
    Approve(ApproveArgs),
    Reject(RejectArgs),
    Rename(RenameArgs),
    Remove(RemoveArgs),
}

nodes_command! {
    "10_000",
    /// List pending and paired nodes.
    #[argh(subcommand, name = "list")]
    pub struct ListArgs {
        /// only show connected nodes
        #[argh(switch)]
        pub connected: bool,
        /// only show nodes connected within duration (e.g. 24h)
        #[argh(option)]
        pub last_connected: Option<String>,
    }
}

nodes_command! {
    "10_000",
    /// List pending pairing requests.
    #[argh(subcommand, name = "pending")]
    pub struct PendingArgs {}
}

nodes_command! {
    "10_000",
    /// List known nodes with connection status and capabilities.
    #[argh(subcommand, name = "status")]
    pub struct StatusArgs {
        /// only show connected nodes
        #[argh(switch)]
        pub connected: bool,
        /// only show nodes connected within duration (e.g. 24h)
        #[argh(option)]
        pub last_connected: Option<String>,
    }
}

nodes_command! {
    "10_000",
    /// Describe a node (capabilities + supported invoke commands).
    #[argh(subcommand, name = "describe")]
    pub struct DescribeArgs {
        /// node id, name, or IP
        #[argh(option)]
        pub node: String,
    }
}

nodes_command! {
    "30_000",
    /// Invoke a command on a paired node.
    #[argh(subcommand, name = "invoke")]
    pub struct InvokeArgs {
        /// node id, name, or IP
        #[argh(option)]
        pub node: String,
        /// command (e.g. system.which)
        #[argh(option)]
        pub command: String,
        /// JSON object string for params
        #[argh(option, default = "String::from(\"{}\")")]
        pub params: String,
        /// node invoke timeout in ms (default 15000)
        #[argh(option, default = "String::from(\"15000\")")]
        pub invoke_timeout: String,
        /// idempotency key (optional)
        #[argh(option)]
        pub idempotency_key: Option<String>,
    }
}

nodes_command! {
    "10_000",
    /// Approve a pending pairing request.
    #[argh(subcommand, name = "approve")]
    pub struct ApproveArgs {
        /// pending request id
        #[argh(positional)]
        pub request_id: String,
    }
}

nodes_command! {
    "10_000",
    /// Reject a pending pairing request.
    #[argh(subcommand, name = "reject")]
    pub struct RejectArgs {
        /// pending request id
        #[argh(positional)]
        pub request_id: String,
    }
}

nodes_command! {
    "10_000",
    /// Rename a paired node (display name override).
    #[argh(subcommand, name = "rename")]
    pub struct RenameArgs {
        /// node id, name, or IP
        #[argh(option)]
        pub node: String,
        /// new display name
        #[argh(option)]
        pub name: String,
    }
}

nodes_command! {
    "10_000",
    /// Remove a paired node entry.
    #[argh(subcommand, name = "remove")]
    pub struct RemoveArgs {
        /// node id, name, or IP
        #[argh(option)]
        pub node: String,
    }
}
