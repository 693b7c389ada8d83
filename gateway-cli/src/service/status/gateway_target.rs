//! Where the gateway should be and how `gateway status` reaches it: bind mode
//! and host, port and where the port came from, the probe URL, the dashboard
//! links and the probe note, with the reference's names and rules. The port
//! and bind follow what OUR gateway does with the same config and environment.

use std::net::IpAddr;

use crate::config_file::ConfigFile;

/// What decides the port, beyond the config file and environment.
#[derive(Clone, Debug, Default)]
pub struct PortInputs {
    /// `gateway status --port`: probe this local port (source `cli`).
    pub cli_port: Option<u16>,
    /// `--port` in the installed service's command line (`service args`).
    pub service_port: Option<u16>,
    /// `OPENCLAW_GATEWAY_PORT`.
    pub env_port: Option<String>,
    /// `gateway status --url`: probe exactly this.
    pub url_override: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySummary {
    pub bind_mode: String,
    pub bind_host: String,
    pub custom_bind_host: Option<String>,
    pub tls_enabled: bool,
    pub port: u16,
    pub port_source: &'static str,
    pub probe_url: String,
    /// `(httpUrl, wsUrl)`; `None` when the Control UI is disabled.
    pub control_ui_links: Option<(String, String)>,
    pub probe_note: Option<String>,
}

impl GatewaySummary {
    /// The reference's `gateway` object of `gateway status --json` (the probe
    /// adds `version`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "bindMode": self.bind_mode,
            "bindHost": self.bind_host,
        });
        let map = doc.as_object_mut().expect("object");
        if let Some(host) = &self.custom_bind_host {
            map.insert("customBindHost".into(), host.clone().into());
        }
        if self.tls_enabled {
            map.insert("tlsEnabled".into(), true.into());
        }
        map.insert("port".into(), self.port.into());
        map.insert("portSource".into(), self.port_source.into());
        map.insert("probeUrl".into(), self.probe_url.clone().into());
        if let Some((http, ws)) = &self.control_ui_links {
            map.insert(
                "controlUiLinks".into(),
                serde_json::json!({"httpUrl": http, "wsUrl": ws}),
            );
        }
        if let Some(note) = &self.probe_note {
            map.insert("probeNote".into(), note.clone().into());
        }
        doc
    }
}

/// The port our gateway would take: `OPENCLAW_GATEWAY_PORT`, else
/// `gateway.port`, else 18789.
pub fn configured_port(config: &ConfigFile, env_port: Option<&str>) -> u16 {
    env_port
        .and_then(|p| p.trim().parse::<u16>().ok())
        .or(config.port)
        .unwrap_or(crate::settings::DEFAULT_PORT)
}

/// `tailnet_ip` is this host's Tailscale address, if any.
pub fn summarize(
    config: &ConfigFile,
    inputs: &PortInputs,
    tailnet_ip: Option<IpAddr>,
) -> GatewaySummary {
    let (port, port_source) = match (inputs.cli_port, inputs.service_port) {
        (Some(port), _) => (port, "cli"),
        (None, Some(port)) => (port, "service args"),
        (None, None) => (
            configured_port(config, inputs.env_port.as_deref()),
            "env/config",
        ),
    };
    let bind_mode = config.bind.clone().unwrap_or_else(|| "loopback".into());
    let custom_bind_host = config.custom_bind_host.clone();
    let custom = custom_bind_host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let bind_host = bind_host(&bind_mode, custom, tailnet_ip);
    let tailnet = tailnet_ip.map(|ip| ip.to_string());
    let probe_host = match (inputs.cli_port, bind_mode.as_str()) {
        (Some(_), _) => "127.0.0.1".to_string(),
        (None, "custom") if custom.is_some() => url_host(custom.unwrap_or_default()),
        (None, "tailnet") => tailnet.clone().unwrap_or_else(|| "127.0.0.1".into()),
        _ => "127.0.0.1".into(),
    };
    let tls_enabled = config.tls.enabled;
    let (ws, http) = if tls_enabled {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let url_override = inputs
        .url_override
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let probe_url = match url_override {
        Some(url) => url.to_string(),
        None => format!("{ws}://{probe_host}:{port}"),
    };
    let control_ui_links = (config.control_ui_enabled != Some(false)).then(|| {
        let host = match bind_mode.as_str() {
            "custom" if custom.is_some_and(|h| h.parse::<std::net::Ipv4Addr>().is_ok()) => {
                custom.unwrap_or_default().to_string()
            }
            "tailnet" if tailnet.is_some() => tailnet.clone().unwrap_or_default(),
            "lan" => primary_lan_ipv4().map_or_else(|| "127.0.0.1".into(), |ip| ip.to_string()),
            _ => "127.0.0.1".into(),
        };
        let base = base_path(config.control_ui_base_path.as_deref().unwrap_or(""));
        (
            format!("{http}://{host}:{port}{base}/"),
            format!("{ws}://{host}:{port}{base}"),
        )
    });
    let probe_note = match (url_override, bind_mode.as_str()) {
        (None, "lan") => Some(format!(
            "bind=lan listens on 0.0.0.0 (all interfaces); probing via {probe_host}."
        )),
        (None, "loopback") => Some("Loopback-only gateway; only local clients can connect.".into()),
        _ => None,
    };
    GatewaySummary {
        bind_mode,
        bind_host,
        custom_bind_host,
        tls_enabled,
        port,
        port_source,
        probe_url,
        control_ui_links,
        probe_note,
    }
}

/// The address the gateway binds for `mode`, as our gateway resolves it; where
/// it would refuse to start, the reference's placeholder for display.
fn bind_host(mode: &str, custom: Option<&str>, tailnet_ip: Option<IpAddr>) -> String {
    match mode {
        "loopback" | "auto" => "127.0.0.1".into(),
        "lan" => "0.0.0.0".into(),
        "tailnet" => tailnet_ip.map_or_else(|| "127.0.0.1".into(), |ip| ip.to_string()),
        "custom" => custom
            .and_then(|h| h.parse::<IpAddr>().ok())
            .map_or_else(|| "0.0.0.0".into(), |ip| ip.to_string()),
        _ => "0.0.0.0".into(),
    }
}

/// An IPv6 literal goes in brackets inside a URL.
fn url_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_string(),
    }
}

/// `gateway.controlUi.basePath` as a URL prefix: `""` or `/x` (no trailing `/`).
pub fn base_path(raw: &str) -> String {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// This host's first non-loopback IPv4 address (what the dashboard link of a
/// `lan` gateway advertises), from the kernel's routing trie.
fn primary_lan_ipv4() -> Option<std::net::Ipv4Addr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    local_ipv4s(&trie)
        .into_iter()
        .find(|ip| !ip.is_loopback() && !ip.is_link_local())
}

/// The `/32 host LOCAL` addresses of a `/proc/net/fib_trie`, in order.
pub fn local_ipv4s(trie: &str) -> Vec<std::net::Ipv4Addr> {
    let mut last = None;
    let mut found = Vec::new();
    for line in trie.lines() {
        let line = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = line.parse::<std::net::Ipv4Addr>() {
            last = Some(ip);
        } else if line.contains("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip| !found.contains(ip)) {
                found.push(ip);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ConfigFile {
        crate::config_file::parse(text).unwrap().config()
    }

    #[test]
    fn defaults_are_a_loopback_gateway_on_the_default_port() {
        let s = summarize(&ConfigFile::default(), &PortInputs::default(), None);
        assert_eq!(s.bind_mode, "loopback");
        assert_eq!(s.bind_host, "127.0.0.1");
        assert_eq!(s.port, 18789);
        // The reference names env, config and the default alike.
        assert_eq!(s.port_source, "env/config");
        assert_eq!(s.probe_url, "ws://127.0.0.1:18789");
        assert_eq!(
            s.control_ui_links,
            Some((
                "http://127.0.0.1:18789/".into(),
                "ws://127.0.0.1:18789".into()
            ))
        );
        assert_eq!(
            s.probe_note.as_deref(),
            Some("Loopback-only gateway; only local clients can connect.")
        );
    }

    #[test]
    fn a_lan_gateway_is_probed_over_loopback_and_says_so() {
        let c = config("{ gateway: { bind: 'lan', port: 19555 } }");
        let s = summarize(&c, &PortInputs::default(), None);
        assert_eq!((s.bind_host.as_str(), s.port), ("0.0.0.0", 19555));
        assert_eq!(s.probe_url, "ws://127.0.0.1:19555");
        assert_eq!(
            s.probe_note.as_deref(),
            Some("bind=lan listens on 0.0.0.0 (all interfaces); probing via 127.0.0.1.")
        );
        let env = PortInputs {
            env_port: Some("19556".into()),
            ..Default::default()
        };
        assert_eq!(summarize(&c, &env, None).port, 19556);
    }

    #[test]
    fn custom_tailnet_tls_and_overrides() {
        let c = config("{ gateway: { bind: 'custom', customBindHost: '::1' } }");
        let s = summarize(&c, &PortInputs::default(), None);
        assert_eq!(s.bind_host, "::1");
        assert_eq!(s.probe_url, "ws://[::1]:18789");
        assert_eq!(s.probe_note, None);
        assert_eq!(s.to_json()["customBindHost"], "::1");

        let tailnet: IpAddr = "100.100.1.2".parse().unwrap();
        let c = config("{ gateway: { bind: 'tailnet', tls: { enabled: true } } }");
        let s = summarize(&c, &PortInputs::default(), Some(tailnet));
        assert_eq!(s.probe_url, "wss://100.100.1.2:18789");
        assert_eq!(s.to_json()["tlsEnabled"], true);
        assert_eq!(s.control_ui_links.unwrap().0, "https://100.100.1.2:18789/");

        let cli = PortInputs {
            cli_port: Some(20001),
            service_port: Some(20002),
            ..Default::default()
        };
        let s = summarize(&c, &cli, Some(tailnet));
        assert_eq!((s.port, s.port_source), (20001, "cli"));
        assert_eq!(s.probe_url, "wss://127.0.0.1:20001");
        let service = PortInputs {
            service_port: Some(20002),
            url_override: Some("ws://127.0.0.1:1".into()),
            ..Default::default()
        };
        let s = summarize(&ConfigFile::default(), &service, None);
        assert_eq!((s.port, s.port_source), (20002, "service args"));
        assert_eq!(s.probe_url, "ws://127.0.0.1:1");
        assert_eq!(s.probe_note, None, "an explicit url gets no note");
    }

    #[test]
    fn dashboard_links_follow_base_path_and_can_be_off() {
        let c = config("{ gateway: { controlUi: { basePath: 'ui/' } } }");
        let s = summarize(&c, &PortInputs::default(), None);
        assert_eq!(
            s.control_ui_links,
            Some((
                "http://127.0.0.1:18789/ui/".into(),
                "ws://127.0.0.1:18789/ui".into()
            ))
        );
        let c = config("{ gateway: { controlUi: { enabled: false } } }");
        let s = summarize(&c, &PortInputs::default(), None);
        assert_eq!(s.control_ui_links, None);
        assert!(s.to_json().get("controlUiLinks").is_none());
    }

    #[test]
    fn local_addresses_come_from_the_routing_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.168.1.7\n        /32 host LOCAL\nLocal:\n     |-- 192.168.1.7\n        /32 host LOCAL\n";
        assert_eq!(
            local_ipv4s(trie),
            [
                "127.0.0.1".parse::<std::net::Ipv4Addr>().unwrap(),
                "192.168.1.7".parse().unwrap()
            ]
        );
    }
}
