//! Connecting a one-shot CLI client: no reconnects, fail fast, readable errors.

use std::time::Duration;

use gateway_proto::client::{CallFailure, ClientIdentity, DeviceKey};
use gateway_smol::client::{CallError, Client, ClientOptions, ConnectError};

use super::identity::DeviceAuth;

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
    } else if method.starts_with("device.pair.")
        || method.starts_with("device.token.")
        || method.starts_with("node.pair.")
    {
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
    /// The role connected as; device tokens are cached per role.
    pub role: String,
    pub scopes: Vec<String>,
    pub protocol: (u64, u64),
    pub timeout: Duration,
    /// A node's declared surface (`caps`, `commands`, `pathEnv`); empty for operators.
    pub caps: Vec<String>,
    pub commands: Vec<String>,
    pub path_env: Option<String>,
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
            role: "operator".into(),
            scopes,
            // [3,4] rather than the reference CLI's [4,4]: a v4 gateway still
            // negotiates 4, and 2026.5-era (protocol 3) gateways stay reachable.
            protocol: (3, 4),
            timeout,
            caps: Vec::new(),
            commands: Vec::new(),
            path_env: None,
        }
    }

    /// A node host (`role: "node"`, no scopes) declaring `caps` and
    /// `commands`, signed with this machine's device identity.
    pub fn node(
        client: ClientIdentity,
        caps: Vec<String>,
        commands: Vec<String>,
        path_env: Option<String>,
        timeout: Duration,
    ) -> Self {
        Session {
            client: ClientIdentity {
                device_family: Some(device_family().into()),
                ..client
            },
            role: "node".into(),
            scopes: Vec::new(),
            // As the reference node host: protocol 4 only.
            protocol: (4, 4),
            timeout,
            caps,
            commands,
            path_env,
        }
    }

    /// This machine's device id (`None` when the identity store is unusable).
    pub fn device_id(&self) -> Option<String> {
        DeviceAuth::open().map(|d| d.device_id())
    }

    pub fn backend(display_name: &str, scopes: Vec<String>, timeout: Duration) -> Self {
        let mut s = Session::cli(scopes, timeout);
        s.client.id = "gateway-client".into();
        s.client.mode = "backend".into();
        s.client.display_name = Some(display_name.into());
        s
    }

    /// Connect the way the reference CLI does. With a shared secret on a
    /// loopback gateway: without the device (see [`Session::omits_device`]).
    /// Otherwise as this machine's device: with no shared secret, the device
    /// token cached from an earlier `hello-ok` is the credential, and one
    /// the gateway calls stale (`AUTH_DEVICE_TOKEN_MISMATCH`) is forgotten;
    /// a token the gateway issues is cached for next time.
    ///
    /// (The reference client's other recovery, resending a refused shared
    /// token together with the cached device token, is for clients that
    /// sign on loopback with a shared secret. This CLI does that only for a
    /// protocol 3 gateway, after the same shared secret was just accepted
    /// unsigned, so a refusal of it cannot arise and the retry is left out.)
    pub async fn connect(&self, target: &Target) -> Result<Client, ConnectError> {
        if self.omits_device(target) {
            match self.connect_once(target, None, None).await {
                // A protocol 3 gateway grants scopes only to devices: speak
                // to it as the v3 CLI did, signed.
                Ok(client) if client.hello().protocol < 4 => client.close().await,
                Err(ConnectError::Refused(CallFailure::Handshake(e)))
                    if e.detail_code() == Some("DEVICE_IDENTITY_REQUIRED") => {}
                other => return other,
            }
        }
        self.connect_as_device(target).await
    }

    /// The reference's rule: the local CLI (or a local backend client) with
    /// a shared secret on a loopback gateway connects without its device,
    /// so it never waits for its own pairing.
    fn omits_device(&self, target: &Target) -> bool {
        let shared_secret = target.token.is_some() || target.password.is_some();
        let local_kind = matches!(
            (self.client.id.as_str(), self.client.mode.as_str()),
            ("cli", "cli") | ("gateway-client", "backend")
        );
        shared_secret && local_kind && is_loopback_url(&target.url)
    }

    async fn connect_as_device(&self, target: &Target) -> Result<Client, ConnectError> {
        let mut device = DeviceAuth::open();
        let stored = device.as_ref().and_then(|d| d.cached_token(&self.role));
        let shared_secret = target.token.is_some() || target.password.is_some();
        let sent = stored.as_ref().filter(|_| !shared_secret).map(|t| &t.token);
        let key = device.as_ref().map(|d| d.key().clone());
        let result = self.connect_once(target, key, sent.cloned()).await;
        if let (Err(ConnectError::Refused(CallFailure::Handshake(e))), Some(d)) =
            (&result, device.as_mut())
        {
            if sent.is_some() && e.detail_code() == Some("AUTH_DEVICE_TOKEN_MISMATCH") {
                d.forget(&self.role);
            }
        }
        if let (Ok(client), Some(d)) = (&result, device.as_mut()) {
            let hello = client.hello();
            if let Some(token) = &hello.device_token {
                let role = hello.role.as_deref().unwrap_or(&self.role);
                // A token we already held keeps the scopes it was cached with.
                let scopes = match &stored {
                    Some(s) if &s.token == token && role == self.role => s.scopes.clone(),
                    _ => hello.scopes.clone(),
                };
                d.remember(role, token, &scopes);
            }
        }
        result
    }

    async fn connect_once(
        &self,
        target: &Target,
        device: Option<DeviceKey>,
        device_token: Option<String>,
    ) -> Result<Client, ConnectError> {
        let opts = ClientOptions {
            token: target.token.clone(),
            password: target.password.clone(),
            device_token,
            client: self.client.clone(),
            role: self.role.clone(),
            scopes: self.scopes.clone(),
            protocol: self.protocol,
            request_timeout: self.timeout,
            reconnect: false,
            refresh_on_gap: false,
            device,
            caps: self.caps.clone(),
            commands: self.commands.clone(),
            path_env: self.path_env.clone(),
            tls_fingerprint: target.tls_fingerprint.clone(),
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

/// Whether `url` names a loopback host: the only place the reference sends
/// a cached device token next to a refused shared token.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_url("ws://127.0.0.1:18789"));
        assert!(is_loopback_url("ws://localhost:1/x"));
        assert!(is_loopback_url("wss://[::1]:443"));
        assert!(is_loopback_url("ws://127.0.0.2"));
        assert!(!is_loopback_url("ws://192.0.2.1:18789"));
        assert!(!is_loopback_url("wss://gateway.example:443"));
    }
}
