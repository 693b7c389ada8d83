//! Where the gateway is and how to authenticate: flags, then environment
//! (`OPENCLAW_GATEWAY_URL`, `OPENCLAW_GATEWAY_TOKEN`, `OPENCLAW_GATEWAY_PASSWORD`,
//! `OPENCLAW_GATEWAY_PORT`), then the config file (`gateway.port`,
//! `gateway.auth.token`, `gateway.auth.password`), then `ws://127.0.0.1:18789`.

use std::path::PathBuf;

use serde_json::Value;

pub const DEFAULT_PORT: u16 = 18789;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    pub password: Option<String>,
    pub config_path: PathBuf,
    /// The certificate a `wss://` gateway must present (SHA-256); `None`:
    /// one the web roots vouch for.
    pub tls_fingerprint: Option<String>,
}

/// A target that cannot be used as given.
#[derive(Debug, PartialEq, Eq)]
pub struct TargetError {
    pub kind: &'static str,
    pub message: String,
}

pub fn state_dir() -> PathBuf {
    if let Some(dir) = env("OPENCLAW_STATE_DIR") {
        return PathBuf::from(dir);
    }
    let home = env("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".openclaw")
}

pub fn config_path() -> PathBuf {
    env("OPENCLAW_CONFIG_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("openclaw.json"))
}

/// `~` and `~/…` are the home directory, as the reference reads config paths.
fn user_path(path: &str) -> PathBuf {
    let home = env("HOME").unwrap_or_default();
    match path.strip_prefix('~') {
        Some("") => PathBuf::from(home),
        Some(rest) if rest.starts_with('/') => PathBuf::from(format!("{home}{rest}")),
        _ => PathBuf::from(path),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The config file as JSON; a missing or unreadable file is an empty config
/// (the reference treats it the same way for client commands).
fn load_config(path: &PathBuf) -> Value {
    std::fs::read_to_string(path)
        .ok()
        // Bounded nesting first: the parser recurses once per level.
        .filter(|text| crate::config_text::check_nesting(text).is_ok())
        .and_then(|text| json5::from_str::<Value>(&text).ok())
        .unwrap_or(Value::Null)
}

pub fn resolve(
    url: Option<&str>,
    token: Option<&str>,
    password: Option<&str>,
) -> Result<Target, TargetError> {
    let config_path = config_path();
    let config = load_config(&config_path);
    let conf_str = |ptr: &str| {
        config
            .pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };

    // An explicit --url points somewhere the local config may not describe, so
    // (like the reference) it must come with explicit credentials.
    if url.is_some() && token.is_none() && password.is_none() {
        return Err(TargetError {
            kind: "gateway_credentials_required",
            message: format!(
                "gateway url override requires explicit credentials\nFix: pass --token or --password with --url.\n\
                 For the default local Gateway, remove --url to use the configured target.\nConfig: {}",
                config_path.display()
            ),
        });
    }
    let mut local = false;
    let url = match url
        .map(str::to_owned)
        .or_else(|| env("OPENCLAW_GATEWAY_URL"))
    {
        Some(url) => url,
        None => {
            let port = env("OPENCLAW_GATEWAY_PORT")
                .and_then(|p| p.trim().parse::<u16>().ok())
                .or_else(|| {
                    config
                        .pointer("/gateway/port")
                        .and_then(Value::as_u64)
                        .and_then(|p| u16::try_from(p).ok())
                })
                .unwrap_or(DEFAULT_PORT);
            local = true;
            format!("ws://127.0.0.1:{port}")
        }
    };
    // The local gateway with `gateway.tls.enabled` speaks TLS with the
    // certificate in its config: pin exactly that one, as the reference does.
    let local_tls = local && config.pointer("/gateway/tls/enabled") == Some(&Value::Bool(true));
    let (url, tls_fingerprint) = if local_tls {
        let fingerprint = local_fingerprint(&config)?;
        (url.replacen("ws://", "wss://", 1), Some(fingerprint))
    } else if url.starts_with("wss://") {
        // `gateway.remote.tlsFingerprint` pins a remote `wss://` gateway.
        (url, conf_str("/gateway/remote/tlsFingerprint"))
    } else {
        (url, None)
    };
    let (token, password) = credentials(&config, token, password);
    Ok(Target {
        tls_fingerprint,
        url,
        token,
        password,
        config_path,
    })
}

/// Flag, then environment, then config file, for token and password alike.
fn credentials(
    config: &Value,
    token: Option<&str>,
    password: Option<&str>,
) -> (Option<String>, Option<String>) {
    let conf_str = |ptr: &str| {
        config
            .pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let token = token
        .map(str::to_owned)
        .or_else(|| env("OPENCLAW_GATEWAY_TOKEN"))
        .or_else(|| conf_str("/gateway/auth/token"));
    let password = password
        .map(str::to_owned)
        .or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"))
        .or_else(|| conf_str("/gateway/auth/password"));
    (token, password)
}

/// The SHA-256 fingerprint of the local gateway's certificate
/// (`gateway.tls.certPath`, or the default under the state dir).
fn local_fingerprint(config: &Value) -> Result<String, TargetError> {
    let cert = config
        .pointer("/gateway/tls/certPath")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .map(user_path)
        .unwrap_or_else(|| gateway_smol::tls::TlsSettings::default_cert_path(&state_dir()));
    gateway_smol::tls::cert_file_fingerprint(&cert).map_err(|e| TargetError {
        kind: "gateway_tls_unavailable",
        message: format!("gateway tls: failed to load cert ({e})"),
    })
}

/// The local gateway at `probe_url` (which `gateway status` derives from the
/// config), with the credentials a local client would use and, when `tls`,
/// its certificate pinned as the reference pins it.
pub fn resolve_local_at(
    probe_url: &str,
    tls: bool,
    token: Option<&str>,
    password: Option<&str>,
) -> Result<Target, TargetError> {
    let config_path = config_path();
    let config = load_config(&config_path);
    let tls_fingerprint = if tls {
        Some(local_fingerprint(&config)?)
    } else {
        None
    };
    let (token, password) = credentials(&config, token, password);
    Ok(Target {
        url: probe_url.to_string(),
        token,
        password,
        config_path,
        tls_fingerprint,
    })
}
