//! One gateway call per connection, as the reference CLI makes them, with
//! the failure kept whole so a command can tell "unknown requestId" or
//! "pairing required" from other errors before reporting it.

use std::time::Duration;

use gateway_proto::client::{CallFailure, RequestOptions};
use gateway_proto::wire::ErrorShape;
use gateway_smol::client::{CallError, ConnectError};
use serde_json::{json, Value};

use super::super::connect::{
    is_loopback_url, report_call_error, report_connect_error, scopes_for, Session,
};
use super::super::print;
use super::super::target::Target;
use super::Common;

pub enum Failure {
    Connect(ConnectError),
    Call(CallError),
    /// A refusal of the CLI itself (not the gateway's).
    Cli(String),
}

impl Failure {
    pub fn gateway_error(&self) -> Option<&ErrorShape> {
        match self {
            Failure::Connect(ConnectError::Refused(CallFailure::Handshake(e))) => Some(e),
            Failure::Call(e) => e.gateway_error(),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Connect(ConnectError::Closed { reason, .. }) => reason.clone(),
            Failure::Cli(message) => message.clone(),
            other => other
                .gateway_error()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        }
    }

    /// The message mentions `needle` (case-insensitively).
    pub fn says(&self, needle: &str) -> bool {
        self.message()
            .to_lowercase()
            .contains(&needle.to_lowercase())
    }

    pub fn is_unknown_request(&self) -> bool {
        match self.gateway_error() {
            Some(e) => e.code.as_str() == "INVALID_REQUEST" && self.says("unknown requestid"),
            None => false,
        }
    }

    /// The gateway refused this CLI's own connect because its device needs
    /// approval: the details of that refusal (`requestId`, `reason`...).
    pub fn pairing_required(&self) -> Option<Value> {
        if let Some(e) = self.gateway_error() {
            let coded =
                e.code.as_str() == "NOT_PAIRED" || e.detail_code() == Some("PAIRING_REQUIRED");
            if coded || self.says("pairing required") {
                return Some(e.details.clone().unwrap_or(Value::Null));
            }
        }
        match self {
            Failure::Connect(ConnectError::Closed { reason, .. })
                if reason.to_lowercase().contains("pairing required") =>
            {
                Some(Value::Null)
            }
            _ => None,
        }
    }

    /// Print it; the exit code (1).
    pub fn report(&self, target: &Target, json: bool) -> i32 {
        match self {
            Failure::Connect(e) => report_connect_error(target, e, json),
            Failure::Call(e) => report_call_error(e, json),
            Failure::Cli(message) => cli_error(message, json),
        }
    }
}

/// A refusal of the CLI itself, shaped as the reference prints it.
pub fn cli_error(message: &str, json: bool) -> i32 {
    if json {
        print::json(&json!({"ok": false, "error": {"type": "cli_error", "message": message}}));
    }
    eprintln!("{message}");
    1
}

/// Connect with `scopes` (the method's own when `None`), call, close.
pub fn call(
    target: &Target,
    common: &Common,
    method: &str,
    params: Value,
    scopes: Option<Vec<String>>,
) -> Result<Value, Failure> {
    let timeout = Duration::from_millis(common.timeout.max(1));
    let session = Session::cli(scopes.unwrap_or_else(|| scopes_for(method)), timeout);
    smol::block_on(async {
        let client = session.connect(target).await.map_err(Failure::Connect)?;
        let opts = RequestOptions {
            expect_final: false,
            timeout: Some(timeout),
        };
        let result = client.call_with(method, Some(params), opts).await;
        client.close().await;
        result.map_err(Failure::Call)
    })
}

/// Whether the gateway is the local one reached by default (no `--url`, no
/// `OPENCLAW_GATEWAY_URL`, a loopback address): only then may `list` and
/// `approve` read and write this machine's pairing store themselves.
pub fn is_default_local(common: &Common, target: &Target) -> bool {
    let env_url = std::env::var("OPENCLAW_GATEWAY_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    common.url.is_none() && env_url.is_none() && is_loopback_url(&target.url)
}
