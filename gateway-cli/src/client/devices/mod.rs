//! `openclaw devices …`: pairing requests and device tokens, through the
//! gateway's `device.pair.*` / `device.token.*` methods, with the reference
//! CLI's flags, output and exit codes (docs `cli/devices.md`).

mod access;
pub(super) mod call;
mod commands;
pub(super) mod human;
mod local;
pub(super) mod table;

use argh::FromArgs;

pub use commands::run_devices;

/// Declares a `devices` subcommand with the options every one of them takes
/// (`--url`, `--token`, `--password`, `--timeout`, `--json`).
macro_rules! devices_command {
    ($(#[$attr:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        #[derive(FromArgs, Debug, PartialEq)]
        $(#[$attr])*
        pub struct $name {
            $($extra)*
            /// gateway WebSocket url (requires --token or --password)
            #[argh(option)]
            pub url: Option<String>,
            /// gateway token
            #[argh(option)]
            pub token: Option<String>,
            /// gateway password
            #[argh(option)]
            pub password: Option<String>,
            /// timeout in milliseconds (default 10000)
            #[argh(option, default = "10_000")]
            pub timeout: u64,
            /// output JSON
            #[argh(switch)]
            pub json: bool,
        }

        impl $name {
            pub fn common(&self) -> Common {
                Common {
                    url: self.url.clone(),
                    token: self.token.clone(),
                    password: self.password.clone(),
                    timeout: self.timeout,
                    json: self.json,
                }
            }
        }
    };
}

/// The options shared by every `devices` subcommand.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Common {
    pub url: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub timeout: u64,
    pub json: bool,
}

/// Manage device pairing requests and device tokens.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "devices")]
pub struct DevicesCmd {
    #[argh(subcommand)]
    pub command: DevicesSub,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum DevicesSub {
    List(ListArgs),
    Approve(ApproveArgs),
    Reject(RejectArgs),
    Remove(RemoveArgs),
    Rename(RenameArgs),
    Rotate(RotateArgs),
    Revoke(RevokeArgs),
    Clear(ClearArgs),
}

devices_command! {
    /// List pending pairing requests and paired devices.
    #[argh(subcommand, name = "list")]
    pub struct ListArgs {}
}

devices_command! {
    /// Approve a pending pairing request by id; without one (or with
    /// --latest) only show the newest request and exit 1.
    #[argh(subcommand, name = "approve")]
    pub struct ApproveArgs {
        /// the request to approve
        #[argh(positional)]
        pub request_id: Option<String>,
        /// preview the newest pending request
        #[argh(switch)]
        pub latest: bool,
    }
}

devices_command! {
    /// Reject a pending pairing request.
    #[argh(subcommand, name = "reject")]
    pub struct RejectArgs {
        /// the request to reject
        #[argh(positional)]
        pub request_id: String,
    }
}

devices_command! {
    /// Remove a paired device.
    #[argh(subcommand, name = "remove")]
    pub struct RemoveArgs {
        /// the device to remove
        #[argh(positional)]
        pub device_id: String,
    }
}

devices_command! {
    /// Give a paired device an operator label.
    #[argh(subcommand, name = "rename")]
    pub struct RenameArgs {
        /// the device id
        #[argh(option)]
        pub device: Option<String>,
        /// the label (1 to 64 characters)
        #[argh(option)]
        pub name: Option<String>,
    }
}

devices_command! {
    /// Rotate a device token for a role, optionally with new scopes.
    #[argh(subcommand, name = "rotate")]
    pub struct RotateArgs {
        /// the device id
        #[argh(option)]
        pub device: Option<String>,
        /// the token's role (operator, node)
        #[argh(option)]
        pub role: Option<String>,
        /// a scope for the new token (repeat for more); default: keep its scopes
        #[argh(option)]
        pub scope: Vec<String>,
        /// give the new token no scopes
        #[argh(switch)]
        pub no_scopes: bool,
    }
}

devices_command! {
    /// Revoke a device token for a role.
    #[argh(subcommand, name = "revoke")]
    pub struct RevokeArgs {
        /// the device id
        #[argh(option)]
        pub device: Option<String>,
        /// the token's role (operator, node)
        #[argh(option)]
        pub role: Option<String>,
    }
}

devices_command! {
    /// Remove every paired device (and with --pending reject every request).
    #[argh(subcommand, name = "clear")]
    pub struct ClearArgs {
        /// confirm: without it nothing is cleared
        #[argh(switch)]
        pub yes: bool,
        /// also reject every pending request
        #[argh(switch)]
        pub pending: bool,
    }
}
