//! Flags, environment and config file resolved into what the gateway runs with.
//!
//! Precedence everywhere: flag > environment > config file > default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::tools::ToolSettings;
use gateway_proto::gateway::{AuthConfig, OriginPolicy};
use gateway_smol::proxy::ProxyTrust;
use gateway_smol::tls::TlsSettings;

use crate::config_file::{ConfigFile, TlsSection};

/// The `gateway run` flags, whichever command carried them.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    pub port: Option<u16>,
    pub bind: Option<String>,
    pub auth: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub allow_unconfigured: bool,
    pub verbose: bool,
    pub force: bool,
    pub dev: bool,
    pub profile: Option<String>,
}

impl RunFlags {
    /// These flags, with `other`'s filling what these leave unset.
    pub fn or(self, other: RunFlags) -> RunFlags {
        RunFlags {
            port: self.port.or(other.port),
            bind: self.bind.or(other.bind),
            auth: self.auth.or(other.auth),
            token: self.token.or(other.token),
            password: self.password.or(other.password),
            allow_unconfigured: self.allow_unconfigured || other.allow_unconfigured,
            verbose: self.verbose || other.verbose,
            force: self.force || other.force,
            dev: self.dev || other.dev,
            profile: self.profile.or(other.profile),
        }
    }
}

/// Why the flags cannot be used: `Usage` exits 2, `Invalid` exits 1.
#[derive(Debug, PartialEq, Eq)]
pub enum SettingsError {
    Usage(String),
    Invalid(String),
}

pub const DEFAULT_PORT: u16 = 18789;
pub const DEV_PORT: u16 = 19001;

/// Where state lives: `OPENCLAW_STATE_DIR`, else `~/.openclaw-dev` (`--dev`),
/// `~/.openclaw-<name>` (`--profile`), or `~/.openclaw`.
pub fn state_dir(
    flags: &RunFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, SettingsError> {
    if let Some(dir) = env("OPENCLAW_STATE_DIR").filter(|d| !d.trim().is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let name = match (&flags.profile, flags.dev) {
        (Some(_), true) => {
            return Err(SettingsError::Usage(
                "--dev and --profile cannot be combined".into(),
            ))
        }
        (Some(p), false) => {
            let valid = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(SettingsError::Usage(format!(
                    "invalid --profile {p:?} (use letters, digits, '-' and '_')"
                )));
            }
            format!(".openclaw-{p}")
        }
        (None, true) => ".openclaw-dev".to_string(),
        (None, false) => ".openclaw".to_string(),
    };
    Ok(PathBuf::from(home).join(name))
}

/// `OPENCLAW_CONFIG_PATH`, else `<state>/openclaw.json`.
pub fn config_path(state_dir: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("OPENCLAW_CONFIG_PATH")
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("openclaw.json"))
}

/// What the server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub addr: SocketAddr,
    /// The bind mode's name, for messages.
    pub bind: String,
    pub auth: AuthConfig,
    /// Which browser origins may connect (`gateway.controlUi`).
    pub origin_policy: OriginPolicy,
    /// Whose forwarded-client headers are believed (`gateway.trustedProxies`).
    pub proxy_trust: ProxyTrust,
    /// `gateway.nodes.pairing.autoApproveLocal`: local devices pair silently.
    pub pairing_auto_approve_local: bool,
    /// `gateway.nodes.commands.allow|deny`.
    pub node_commands: gateway_proto::gateway::NodeCommandRules,
    /// `gateway.http.endpoints.chatCompletions.enabled`: the `/v1` routes.
    pub chat_completions_enabled: bool,
    /// `models` and `agents.defaults.model`, keys resolved from `env` (its
    /// warnings are logged by the caller: see [`log_model_warnings`]).
    pub models: ModelCatalog,
    /// `agents.defaults.workspace` and `tools.exec.*`.
    pub tools: ToolSettings,
    /// `gateway.tls` when enabled, with the default paths filled in.
    pub tls: Option<TlsSettings>,
    /// `gateway.controlUi.{enabled,root,basePath}`.
    pub control_ui: gateway_smol::ControlUiOptions,
}

pub fn resolve(
    flags: &RunFlags,
    env: &dyn Fn(&str) -> Option<String>,
    file: &ConfigFile,
) -> Result<Settings, SettingsError> {
    let port = match (
        flags.port,
        env("OPENCLAW_GATEWAY_PORT").filter(|p| !p.trim().is_empty()),
    ) {
        (Some(port), _) => port,
        (None, Some(p)) => p.trim().parse::<u16>().map_err(|_| {
            SettingsError::Invalid(format!(
                "invalid OPENCLAW_GATEWAY_PORT {p:?} (expected 0-65535)"
            ))
        })?,
        (None, None) => file
            .port
            .unwrap_or(if flags.dev { DEV_PORT } else { DEFAULT_PORT }),
    };

    let bind = flags
        .bind
        .clone()
        .or_else(|| file.bind.clone())
        .unwrap_or_else(|| "loopback".to_string());
    let ip = bind_ip(&bind, file, flags.bind.is_some())?;

    // A blank flag or variable counts as unset (it must not hide the file's secret).
    let present = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let token = present(&flags.token)
        .or_else(|| present(&env("OPENCLAW_GATEWAY_TOKEN")))
        .or_else(|| present(&file.token));
    let password = present(&flags.password)
        .or_else(|| present(&env("OPENCLAW_GATEWAY_PASSWORD")))
        .or_else(|| present(&file.password));
    let mode = flags.auth.clone().or_else(|| file.auth_mode.clone());
    let auth = match mode.as_deref() {
        Some("token") => AuthConfig::Token(token.ok_or_else(|| {
            SettingsError::Invalid(
                "auth mode token needs a token (--token, OPENCLAW_GATEWAY_TOKEN or gateway.auth.token)".into(),
            )
        })?),
        Some("password") => AuthConfig::Password(password.ok_or_else(|| {
            SettingsError::Invalid(
                "auth mode password needs a password (--password, OPENCLAW_GATEWAY_PASSWORD or gateway.auth.password)"
                    .into(),
            )
        })?),
        Some("none") => AuthConfig::None,
        Some(other) => {
            let msg = format!("invalid auth mode {other:?} (use none, token or password)");
            return Err(if flags.auth.is_some() { SettingsError::Usage(msg) } else { SettingsError::Invalid(msg) });
        }
        None => match (token, password) {
            (Some(t), _) => AuthConfig::Token(t),
            (None, Some(p)) => AuthConfig::Password(p),
            (None, None) => AuthConfig::None,
        },
    };

    if !ip.to_canonical().is_loopback() && auth == AuthConfig::None {
        return Err(SettingsError::Invalid(format!(
            "refusing to bind the gateway to {bind} ({ip}) without auth: set a token or password \
             (--token, OPENCLAW_GATEWAY_TOKEN, gateway.auth.token)"
        )));
    }
    let (proxy_trust, ignored) =
        ProxyTrust::new(&file.trusted_proxies, file.allow_real_ip_fallback);
    for entry in ignored {
        // The reference ignores such an entry too; say so instead of silently.
        log::warn!(target: "gateway", "gateway.trustedProxies: {entry:?} is neither an IP address nor a CIDR range; ignored");
    }
    let models = ModelCatalog::from_config(&file.models, env);
    let tls = match file.tls.enabled {
        true => Some(tls_settings(&file.tls, &state_dir(flags, env)?, env)),
        false => None,
    };
    Ok(Settings {
        tls,
        models,
        tools: ToolSettings::from_config(&file.models),
        proxy_trust,
        addr: SocketAddr::new(ip, port),
        bind,
        auth,
        origin_policy: OriginPolicy {
            allowed_origins: file.allowed_origins.clone(),
            allow_host_header_fallback: file.allow_host_header_origin_fallback,
        },
        pairing_auto_approve_local: file.pairing_auto_approve_local.unwrap_or(true),
        chat_completions_enabled: file.chat_completions_enabled,
        control_ui: gateway_smol::ControlUiOptions {
            enabled: file.control_ui_enabled.unwrap_or(true),
            root: file
                .control_ui_root
                .as_deref()
                .map(|root| user_path(root, env)),
            base_path: file.control_ui_base_path.clone().unwrap_or_default(),
        },
        node_commands: gateway_proto::gateway::NodeCommandRules {
            allow: file.node_commands_allow.clone(),
            deny: file.node_commands_deny.clone(),
        },
    })
}

/// Where the TLS pair is: the configured paths or the defaults under the
/// state dir.
fn tls_settings(
    section: &TlsSection,
    state_dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> TlsSettings {
    let user_path = |p: &str| user_path(p, env);
    TlsSettings {
        cert_path: section
            .cert_path
            .as_deref()
            .map_or_else(|| TlsSettings::default_cert_path(state_dir), user_path),
        key_path: section
            .key_path
            .as_deref()
            .map_or_else(|| TlsSettings::default_key_path(state_dir), user_path),
        ca_path: section.ca_path.as_deref().map(user_path),
        auto_generate: section.auto_generate != Some(false),
    }
}

/// A configured path, `~` or `~/…` meaning the home directory, as the
/// reference reads them.
fn user_path(path: &str, env: &dyn Fn(&str) -> Option<String>) -> std::path::PathBuf {
    match (path.strip_prefix('~'), env("HOME")) {
        (Some(""), Some(home)) => std::path::PathBuf::from(home),
        (Some(rest), Some(home)) if rest.starts_with('/') => {
            std::path::Path::new(&home).join(&rest[1..])
        }
        _ => std::path::PathBuf::from(path),
    }
}

/// Say which configured providers are not offered, and why.
pub fn log_model_warnings(settings: &Settings) {
    for warning in settings.models.warnings() {
        log::warn!(target: "gateway", "{warning}; this provider is not offered");
    }
}

fn bind_ip(bind: &str, file: &ConfigFile, from_flag: bool) -> Result<IpAddr, SettingsError> {
    match bind {
        // `auto` prefers loopback, which is always there.
        "loopback" | "auto" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "tailnet" => tailnet_ip().ok_or_else(|| {
            SettingsError::Invalid(
                "bind tailnet: no Tailscale (100.64.0.0/10) address on this host".into(),
            )
        }),
        "custom" => {
            let host = file.custom_bind_host.as_deref().ok_or_else(|| {
                SettingsError::Invalid(
                    "bind custom needs gateway.customBindHost in the config".into(),
                )
            })?;
            host.parse().map_err(|_| {
                SettingsError::Invalid(format!(
                    "gateway.customBindHost {host:?} is not an IP address"
                ))
            })
        }
        other => {
            let msg =
                format!("invalid bind mode {other:?} (use loopback, lan, tailnet, auto or custom)");
            Err(if from_flag {
                SettingsError::Usage(msg)
            } else {
                SettingsError::Invalid(msg)
            })
        }
    }
}

/// A local address in Tailscale's CGNAT range, from the kernel's routing trie.
pub(crate) fn tailnet_ip() -> Option<IpAddr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let mut last: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let line = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = line.parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if line.contains("/32 host LOCAL") {
            if let Some(ip) = last {
                let [a, b, ..] = ip.octets();
                if a == 100 && (64..128).contains(&b) {
                    return Some(IpAddr::V4(ip));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn the_model_catalog_comes_from_the_file_with_keys_from_the_environment() {
        let text = "{ models: { providers: { lab: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: '${LAB_KEY}', \
                    models: [{ id: 'echo', maxTokens: 50 }] } } }, agents: { defaults: { model: { primary: 'lab/echo' } } } }";
        let file = crate::config_file::parse(text).unwrap().config();
        let env = env_of(&[("LAB_KEY", "sk-lab")]);
        let settings = resolve(&RunFlags::default(), &env, &file).unwrap();
        let resolved = settings.models.resolve(None).unwrap();
        assert_eq!(resolved.model_ref(), "lab/echo");
        assert_eq!(resolved.route.api_key.as_deref(), Some("sk-lab"));
        assert_eq!(resolved.max_tokens(), Some(50));
        let none = resolve(&RunFlags::default(), &env, &ConfigFile::default()).unwrap();
        assert_eq!(none.models.default_model(), "openai/gpt-6-astra");
    }

    #[test]
    fn port_precedence() {
        let file = ConfigFile {
            port: Some(3000),
            ..Default::default()
        };
        let flags = RunFlags::default();
        assert_eq!(
            resolve(&flags, &env_of(&[]), &file).unwrap().addr.port(),
            3000
        );
        let env = env_of(&[("OPENCLAW_GATEWAY_PORT", "4000")]);
        assert_eq!(resolve(&flags, &env, &file).unwrap().addr.port(), 4000);
        let flags = RunFlags {
            port: Some(5000),
            ..Default::default()
        };
        assert_eq!(resolve(&flags, &env, &file).unwrap().addr.port(), 5000);
        let none = ConfigFile::default();
        assert_eq!(
            resolve(&RunFlags::default(), &env_of(&[]), &none)
                .unwrap()
                .addr
                .port(),
            18789
        );
        let dev = RunFlags {
            dev: true,
            ..Default::default()
        };
        assert_eq!(
            resolve(&dev, &env_of(&[]), &none).unwrap().addr.port(),
            19001
        );
        let bad = env_of(&[("OPENCLAW_GATEWAY_PORT", "x")]);
        assert!(matches!(
            resolve(&RunFlags::default(), &bad, &none),
            Err(SettingsError::Invalid(_))
        ));
    }

    #[test]
    fn auth_mode_is_inferred() {
        let none = ConfigFile::default();
        let s = resolve(
            &RunFlags::default(),
            &env_of(&[("OPENCLAW_GATEWAY_TOKEN", "t")]),
            &none,
        )
        .unwrap();
        assert_eq!(s.auth, AuthConfig::Token("t".into()));
        let file = ConfigFile {
            password: Some("p".into()),
            ..Default::default()
        };
        let s = resolve(&RunFlags::default(), &env_of(&[]), &file).unwrap();
        assert_eq!(s.auth, AuthConfig::Password("p".into()));
        let s = resolve(&RunFlags::default(), &env_of(&[]), &none).unwrap();
        assert_eq!(s.auth, AuthConfig::None);
        let flags = RunFlags {
            auth: Some("token".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&flags, &env_of(&[]), &none),
            Err(SettingsError::Invalid(_))
        ));
        let flags = RunFlags {
            auth: Some("bogus".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&flags, &env_of(&[]), &none),
            Err(SettingsError::Usage(_))
        ));
    }

    #[test]
    fn lan_without_auth_is_refused() {
        let none = ConfigFile::default();
        let flags = RunFlags {
            bind: Some("lan".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&flags, &env_of(&[]), &none),
            Err(SettingsError::Invalid(_))
        ));
        let flags = RunFlags {
            bind: Some("lan".into()),
            token: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&flags, &env_of(&[]), &none).unwrap().addr.ip(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        let flags = RunFlags {
            bind: Some("moon".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&flags, &env_of(&[]), &none),
            Err(SettingsError::Usage(_))
        ));
    }

    #[test]
    fn every_non_loopback_bind_without_auth_is_refused() {
        // `custom` on a LAN address, and `lan` from the file rather than a flag.
        let custom = ConfigFile {
            custom_bind_host: Some("192.168.1.5".into()),
            bind: Some("custom".into()),
            ..Default::default()
        };
        let lan = ConfigFile {
            bind: Some("lan".into()),
            ..Default::default()
        };
        for file in [custom, lan] {
            let refused = resolve(&RunFlags::default(), &env_of(&[]), &file);
            assert!(
                matches!(&refused, Err(SettingsError::Invalid(m)) if m.contains("without auth")),
                "{refused:?}"
            );
        }
        // `auto` means loopback here: allowed without auth.
        let flags = RunFlags {
            bind: Some("auto".into()),
            ..Default::default()
        };
        let auto = resolve(&flags, &env_of(&[]), &ConfigFile::default()).unwrap();
        assert!(auto.addr.ip().is_loopback());
    }

    #[test]
    fn tls_paths_default_to_the_state_dir_and_expand_the_home() {
        let env = env_of(&[("HOME", "/home/u"), ("OPENCLAW_STATE_DIR", "/srv/state")]);
        let off = resolve(&RunFlags::default(), &env, &ConfigFile::default()).unwrap();
        assert_eq!(off.tls, None);
        let mut file = ConfigFile::default();
        file.tls.enabled = true;
        let on = resolve(&RunFlags::default(), &env, &file)
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(
            on.cert_path,
            PathBuf::from("/srv/state/gateway/tls/gateway-cert.pem")
        );
        assert_eq!(
            on.key_path,
            PathBuf::from("/srv/state/gateway/tls/gateway-key.pem")
        );
        assert!(on.auto_generate);
        file.tls.cert_path = Some("~/certs/gw.pem".into());
        file.tls.key_path = Some("/etc/gw/key.pem".into());
        file.tls.auto_generate = Some(false);
        let own = resolve(&RunFlags::default(), &env, &file)
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(own.cert_path, PathBuf::from("/home/u/certs/gw.pem"));
        assert_eq!(own.key_path, PathBuf::from("/etc/gw/key.pem"));
        assert!(!own.auto_generate);
    }

    #[test]
    fn mapped_ipv4_loopback_counts_as_loopback() {
        let file = ConfigFile {
            custom_bind_host: Some("::ffff:127.0.0.1".into()),
            ..Default::default()
        };
        let flags = RunFlags {
            bind: Some("custom".into()),
            ..Default::default()
        };
        let s = resolve(&flags, &env_of(&[]), &file).unwrap();
        assert_eq!(s.auth, AuthConfig::None);
    }

    #[test]
    fn proxy_trust_and_auto_approval_come_from_the_file() {
        let file = ConfigFile {
            trusted_proxies: vec!["127.0.0.1".into()],
            pairing_auto_approve_local: Some(false),
            ..Default::default()
        };
        let s = resolve(&RunFlags::default(), &env_of(&[]), &file).unwrap();
        assert!(s.proxy_trust.trusts("127.0.0.1".parse().unwrap()));
        assert!(!s.pairing_auto_approve_local);
        let s = resolve(&RunFlags::default(), &env_of(&[]), &ConfigFile::default()).unwrap();
        assert!(!s.proxy_trust.trusts("127.0.0.1".parse().unwrap()));
        assert!(s.pairing_auto_approve_local);
    }

    #[test]
    fn state_dirs() {
        let env = env_of(&[("HOME", "/home/u")]);
        assert_eq!(
            state_dir(&RunFlags::default(), &env).unwrap(),
            PathBuf::from("/home/u/.openclaw")
        );
        let dev = RunFlags {
            dev: true,
            ..Default::default()
        };
        assert_eq!(
            state_dir(&dev, &env).unwrap(),
            PathBuf::from("/home/u/.openclaw-dev")
        );
        let prof = RunFlags {
            profile: Some("work".into()),
            ..Default::default()
        };
        assert_eq!(
            state_dir(&prof, &env).unwrap(),
            PathBuf::from("/home/u/.openclaw-work")
        );
        let bad = RunFlags {
            profile: Some("../x".into()),
            ..Default::default()
        };
        assert!(matches!(
            state_dir(&bad, &env),
            Err(SettingsError::Usage(_))
        ));
        let env = env_of(&[("HOME", "/home/u"), ("OPENCLAW_STATE_DIR", "/s")]);
        assert_eq!(state_dir(&dev, &env).unwrap(), PathBuf::from("/s"));
        assert_eq!(
            config_path(&PathBuf::from("/s"), &env),
            PathBuf::from("/s/openclaw.json")
        );
    }
}
