//! Connecting a one-shot CLI client: no reconnects, fail fast, readable errors.

use std::time::Duration;

use gateway_proto::client::ClientIdentity;
use gateway_smol::client::{CallError, Client, ClientOptions, ConnectError};

use super::print;
use super::target::Target;

/// The scopes a method needs, as the reference CLI requests them; unknown
/// methods ask for everything (the gateway treats them as admin-only).
pub fn scopes_for(method: &str) -> Vec<String> {
    let read = [
        "health",
        "status",
        "system-presence",
        "logs.tail",
        "last-heartbeat",
        "node.list",
        "node.describe",
        "chat.history",
        "agent.wait",
    ];
    let write = ["send", "agent", "chat.send", "chat.abort", "node.invoke"];
    let list: &[&str] = if read.contains(&method) {
        &["operator.read"]
    } else if write.contains(&method) {
        &["operator.write"]
    } else if method.starts_with("device.pair.") || method.starts_with("node.pair.") {
        &["operator.pairing"]
    } else if method.starts_with("exec.approval") {
        &["operator.approvals"]
    } else {
        &[
            "operator.admin",
            "operator.read",
            "operator.write",
            "operator.approvals",
            "operator.questions",
            "operator.pairing",
            "operator.talk.secrets",
        ]
    };
    list.iter().map(|s| s.to_string()).collect()
}

pub struct Session {
    pub client: ClientIdentity,
    pub scopes: Vec<String>,
    pub protocol: (u64, u64),
    pub timeout: Duration,
}

impl Session {
    pub fn cli(scopes: Vec<String>, timeout: Duration) -> Self {
        let client = ClientIdentity {
            id: "cli".into(),
            mode: "cli".into(),
            device_family: Some(device_family().into()),
            ..ClientIdentity::default()
        };
        Session {
            client,
            scopes,
            // [3,4] rather than the reference CLI's [4,4]: a v4 gateway still
            // negotiates 4, and 2026.5-era (protocol 3) gateways stay reachable.
            protocol: (3, 4),
            timeout,
        }
    }

    pub fn backend(display_name: &str, scopes: Vec<String>, timeout: Duration) -> Self {
        let mut s = Session::cli(scopes, timeout);
        s.client.id = "gateway-client".into();
        s.client.mode = "backend".into();
        s.client.display_name = Some(display_name.into());
        s
    }

    pub async fn connect(&self, target: &Target) -> Result<Client, ConnectError> {
        let opts = ClientOptions {
            token: target.token.clone(),
            password: target.password.clone(),
            client: self.client.clone(),
            scopes: self.scopes.clone(),
            protocol: self.protocol,
            request_timeout: self.timeout,
            reconnect: false,
            refresh_on_gap: false,
            device: super::identity::device_key(),
            ..ClientOptions::default()
        };
        let connect = Client::connect(&target.url, opts);
        let timeout = async {
            smol::Timer::after(self.timeout).await;
            Err(ConnectError::Closed {
                code: 1006,
                reason: format!(
                    "gateway connect timeout after {}ms",
                    self.timeout.as_millis()
                ),
            })
        };
        smol::future::or(connect, timeout).await
    }
}

fn device_family() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac",
        "windows" => "Windows",
        other => other,
    }
}

/// Print a connect failure; exit code 1.
pub fn report_connect_error(target: &Target, err: &ConnectError, json: bool) -> i32 {
    let (code, message) = match err {
        ConnectError::Io(e) => (
            "UNAVAILABLE".to_owned(),
            format!(
                "gateway not reachable at {}: {e}; is the gateway running? (`openclaw gateway status`)",
                target.url
            ),
        ),
        ConnectError::Refused(f) => match f {
            gateway_proto::client::CallFailure::Handshake(e) => {
                (e.code.as_str().to_owned(), e.message.clone())
            }
            other => ("UNAVAILABLE".to_owned(), other.to_string()),
        },
        ConnectError::Closed { code, reason } => (
            "UNAVAILABLE".to_owned(),
            format!("gateway closed ({code}): {reason}"),
        ),
    };
    print::error(&code, &message, None, json);
    1
}

/// Print a call failure; exit code 1.
pub fn report_call_error(err: &CallError, json: bool) -> i32 {
    match err.gateway_error() {
        Some(e) => print::error(e.code.as_str(), &e.message, e.details.as_ref(), json),
        None => print::error("UNAVAILABLE", &err.to_string(), None, json),
    }
    1
}
