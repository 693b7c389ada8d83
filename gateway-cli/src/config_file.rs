//! The keys of `openclaw.json` (JSON5) that the gateway reads, with the
//! reference's names: `gateway.port`, `gateway.bind`, `gateway.customBindHost`,
//! `gateway.auth.{mode,token,password}`,
//! `gateway.controlUi.{allowedOrigins,dangerouslyAllowHostHeaderOriginFallback}`,
//! `gateway.trustedProxies`, `gateway.allowRealIpFallback`,
//! `gateway.nodes.pairing.autoApproveLocal`, `gateway.tls`, and the model selection
//! (`models`, `agents.defaults.model`, `.models`, `.cliBackends`) kept as JSON
//! for the core's catalog.

use std::path::Path;

use serde_json::Value;

use crate::{config_keys, config_text};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub port: Option<u16>,
    pub bind: Option<String>,
    pub custom_bind_host: Option<String>,
    pub auth_mode: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    /// `gateway.controlUi.allowedOrigins`: browser origins allowed to connect.
    pub allowed_origins: Vec<String>,
    /// `gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback`.
    pub allow_host_header_origin_fallback: bool,
    /// `gateway.controlUi.enabled` (default true): serve the browser UI.
    pub control_ui_enabled: Option<bool>,
    /// `gateway.controlUi.root`: the UI app's directory (default: found in
    /// an installed `openclaw` package).
    pub control_ui_root: Option<String>,
    /// `gateway.controlUi.basePath`: the URL path the UI is served under.
    pub control_ui_base_path: Option<String>,
    /// `gateway.trustedProxies`: proxies (IPs or CIDR ranges) whose
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// `gateway.allowRealIpFallback`: a trusted proxy's `X-Real-IP` counts.
    pub allow_real_ip_fallback: bool,
    /// `gateway.http.endpoints.chatCompletions.enabled`.
    pub chat_completions_enabled: bool,
    /// `gateway.nodes.pairing.autoApproveLocal` (default true): local
    /// devices are paired silently; `false` makes every device wait for
    /// `openclaw devices approve`.
    pub pairing_auto_approve_local: Option<bool>,
    /// `gateway.nodes.commands.allow`: node commands allowed beyond the
    /// platform defaults.
    pub node_commands_allow: Vec<String>,
    /// `gateway.nodes.commands.deny`: node commands never allowed.
    pub node_commands_deny: Vec<String>,
    /// `{models, agents: {defaults: {model}}}` as written (absent parts
    /// left out), for `ModelCatalog::from_config`.
    pub models: Value,
    /// `gateway.tls` as written (paths not yet resolved).
    pub tls: TlsSection,
}

/// `gateway.tls`: `enabled`, `autoGenerate` (default true), `certPath`,
/// `keyPath`, `caPath`. Other keys inside it are ignored, as the reference's
/// schema (a non-strict object) ignores them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSection {
    pub enabled: bool,
    pub auto_generate: Option<bool>,
    pub cert_path: Option<String>,
    pub key_path: Option<String>,
    pub ca_path: Option<String>,
}

/// What a read of the config file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No file at the path.
    Missing,
    /// A file with nothing in it: empty, only blanks, or `{}`. What an editor
    /// leaves between truncating and writing; never a reason to drop auth.
    Empty,
    Config(Box<ConfigFile>),
}

impl Loaded {
    /// The configuration it stands for (defaults when there is none).
    pub fn config(self) -> ConfigFile {
        match self {
            Loaded::Missing | Loaded::Empty => ConfigFile::default(),
            Loaded::Config(config) => *config,
        }
    }
}

/// Read and check the file. The error is one line naming the file (and, for a
/// syntax error, the line and column).
pub fn load(path: &Path) -> Result<Loaded, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(format!("cannot read config {}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
}

/// Keys of the file at `path` that this gateway does not use (none when it
/// cannot be read or parsed: the load reports that).
pub fn unused_keys(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match json5::from_str::<Value>(&text) {
        Ok(Value::Object(root)) if config_text::check_nesting(&text).is_ok() => {
            gateway_proto::gateway::config_rpc::keys::unused(&root)
        }
        _ => Vec::new(),
    }
}

pub fn parse(text: &str) -> Result<Loaded, String> {
    parse_checking_keys(text, true)
}

/// [`parse`] without refusing unknown keys: what `gateway status` reads the
/// port and bind from, as the reference's quick read does (only `--deep`
/// validates the whole file there).
pub fn parse_known_keys(text: &str) -> Result<Loaded, String> {
    parse_checking_keys(text, false)
}

fn parse_checking_keys(text: &str, check_keys: bool) -> Result<Loaded, String> {
    if text.trim().is_empty() {
        return Ok(Loaded::Empty);
    }
    // Before the recursive parser: thousands of nested brackets would
    // overflow its stack and abort the process.
    config_text::check_nesting(text)?;
    let root: Value = json5::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let Value::Object(top) = &root else {
        return Err("the top level must be an object".into());
    };
    if top.is_empty() {
        return Ok(Loaded::Empty);
    }
    if check_keys {
        config_keys::check(top)?;
    }
    let mut config = extract(&root)?;
    config.models = model_selection(&root);
    Ok(Loaded::Config(Box::new(config)))
}

/// The first mistake in words; the parser's own position when the light
/// reading in `config_text` finds none (e.g. a bad escape inside a string).
fn syntax_error(text: &str, error: &json5::Error) -> String {
    if let Some(mistake) = config_text::first_mistake(text) {
        return mistake;
    }
    let json5::Error::Message { location, .. } = error;
    match location {
        Some(at) => format!(
            "line {}, column {}: not valid JSON5 here",
            at.line, at.column
        ),
        None => format!("not valid JSON5: {}", one_line(&error.to_string())),
    }
}

/// The parts of the document the model catalog and the tool settings read.
fn model_selection(root: &Value) -> Value {
    let mut selection = serde_json::Map::new();
    if let Some(models) = root.get("models") {
        selection.insert("models".into(), models.clone());
    }
    // The default model, the workspace, and which models CLI backends run.
    let mut defaults = serde_json::Map::new();
    for key in ["model", "workspace", "models", "cliBackends"] {
        if let Some(value) = root.pointer(&format!("/agents/defaults/{key}")) {
            defaults.insert(key.into(), value.clone());
        }
    }
    if !defaults.is_empty() {
        selection.insert("agents".into(), serde_json::json!({ "defaults": defaults }));
    }
    if let Some(exec) = root.pointer("/tools/exec") {
        selection.insert("tools".into(), serde_json::json!({ "exec": exec }));
    }
    Value::Object(selection)
}

/// The gateway's keys out of a checked document.
fn extract(root: &Value) -> Result<ConfigFile, String> {
    let gateway = match root.get("gateway") {
        None | Some(Value::Null) => return Ok(ConfigFile::default()),
        Some(g @ Value::Object(_)) => g,
        Some(_) => return Err("gateway must be an object".into()),
    };
    let auth = match gateway.get("auth") {
        None | Some(Value::Null) => None,
        Some(a @ Value::Object(_)) => Some(a),
        Some(_) => return Err("gateway.auth must be an object".into()),
    };
    let port = match gateway.get("port") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or("gateway.port must be an integer between 1 and 65535")?,
        ),
    };
    let control_ui = match gateway.get("controlUi") {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => Some(c),
        Some(_) => return Err("gateway.controlUi must be an object".into()),
    };
    let allowed_origins = match control_ui.and_then(|c| c.get("allowedOrigins")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(origin) => Ok(origin.trim().to_string()),
                _ => Err("gateway.controlUi.allowedOrigins must be a list of strings"),
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|origin| !origin.is_empty())
            .collect(),
        Some(_) => return Err("gateway.controlUi.allowedOrigins must be a list of strings".into()),
    };
    let allow_host_header_origin_fallback =
        match control_ui.and_then(|c| c.get("dangerouslyAllowHostHeaderOriginFallback")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(
                "gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback must be true or false"
                    .into(),
            ),
        };
    let trusted_proxies = string_list(gateway, "/trustedProxies", "gateway.trustedProxies")?;
    let node_commands_allow = string_list(
        gateway,
        "/nodes/commands/allow",
        "gateway.nodes.commands.allow",
    )?;
    let node_commands_deny = string_list(
        gateway,
        "/nodes/commands/deny",
        "gateway.nodes.commands.deny",
    )?;
    let pairing_auto_approve_local = match gateway.pointer("/nodes/pairing/autoApproveLocal") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err("gateway.nodes.pairing.autoApproveLocal must be true or false".into())
        }
    };
    let chat_completions_enabled = match gateway.pointer("/http/endpoints/chatCompletions/enabled")
    {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(
                "gateway.http.endpoints.chatCompletions.enabled must be true or false".into(),
            )
        }
    };
    let tls = match gateway.get("tls") {
        None | Some(Value::Null) => TlsSection::default(),
        Some(tls @ Value::Object(_)) => tls_section(tls)?,
        Some(_) => return Err("gateway.tls must be an object".into()),
    };
    Ok(ConfigFile {
        tls,
        control_ui_enabled: control_ui
            .map(|c| boolean(c, "enabled", "gateway.controlUi.enabled"))
            .transpose()?
            .flatten(),
        control_ui_root: control_ui
            .map(|c| string(c, "root", "gateway.controlUi.root"))
            .transpose()?
            .flatten(),
        control_ui_base_path: control_ui
            .map(|c| string(c, "basePath", "gateway.controlUi.basePath"))
            .transpose()?
            .flatten(),
        chat_completions_enabled,
        // Filled in by `parse` from the whole document.
        models: Value::Null,
        trusted_proxies,
        node_commands_allow,
        node_commands_deny,
        allow_real_ip_fallback: boolean(
            gateway,
            "allowRealIpFallback",
            "gateway.allowRealIpFallback",
        )?
        .unwrap_or(false),
        pairing_auto_approve_local,
        allowed_origins,
        allow_host_header_origin_fallback,
        port,
        bind: string(gateway, "bind", "gateway.bind")?,
        custom_bind_host: string(gateway, "customBindHost", "gateway.customBindHost")?,
        auth_mode: auth
            .map(|a| string(a, "mode", "gateway.auth.mode"))
            .transpose()?
            .flatten(),
        token: auth
            .map(|a| string(a, "token", "gateway.auth.token"))
            .transpose()?
            .flatten(),
        password: auth
            .map(|a| string(a, "password", "gateway.auth.password"))
            .transpose()?
            .flatten(),
    })
}

fn tls_section(tls: &Value) -> Result<TlsSection, String> {
    // The reference refuses a blank certPath/keyPath rather than defaulting it.
    let path = |key: &str| -> Result<Option<String>, String> {
        match tls.get(key) {
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(format!("gateway.tls.{key} must not be blank"))
            }
            _ => string(tls, key, &format!("gateway.tls.{key}")),
        }
    };
    Ok(TlsSection {
        enabled: boolean(tls, "enabled", "gateway.tls.enabled")?.unwrap_or(false),
        auto_generate: boolean(tls, "autoGenerate", "gateway.tls.autoGenerate")?,
        cert_path: path("certPath")?,
        key_path: path("keyPath")?,
        ca_path: string(tls, "caPath", "gateway.tls.caPath")?,
    })
}

fn boolean(obj: &Value, key: &str, name: &str) -> Result<Option<bool>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}

fn string(obj: &Value, key: &str, name: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// json5 errors can span lines; the CLI promises one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A list of non-blank strings at `pointer` (absent or null: empty).
fn string_list(gateway: &Value, pointer: &str, name: &str) -> Result<Vec<String>, String> {
    let must = || format!("{name} must be a list of strings");
    match gateway.pointer(pointer) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(|s| s.trim().to_owned()).ok_or_else(must))
            .filter(|entry| !matches!(entry, Ok(s) if s.is_empty()))
            .collect(),
        Some(_) => Err(must()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_tls_is_read_with_the_reference_names() {
        let text = "{ gateway: { tls: { enabled: true, autoGenerate: false, certPath: '~/c.pem', \
                    keyPath: '/k.pem', caPath: '/ca.pem' } } }";
        let tls = parse(text).unwrap().config().tls;
        assert_eq!(
            tls,
            TlsSection {
                enabled: true,
                auto_generate: Some(false),
                cert_path: Some("~/c.pem".into()),
                key_path: Some("/k.pem".into()),
                ca_path: Some("/ca.pem".into()),
            }
        );
        let blank = parse("{ gateway: { tls: { enabled: true, certPath: ' ' } } }").unwrap_err();
        assert!(
            blank.contains("gateway.tls.certPath must not be blank"),
            "{blank}"
        );
        let wrong = parse("{ gateway: { tls: { enabled: 'yes' } } }").unwrap_err();
        assert!(
            wrong.contains("gateway.tls.enabled must be true or false"),
            "{wrong}"
        );
    }

    #[test]
    fn reads_reference_keys_from_json5() {
        let c = parse(
            "// comment\n{ gateway: { port: 1234, bind: 'lan', auth: { mode: 'token', token: 'abc', }, }, }",
        )
        .unwrap()
        .config();
        assert_eq!(c.port, Some(1234));
        assert_eq!(c.bind.as_deref(), Some("lan"));
        assert_eq!(c.auth_mode.as_deref(), Some("token"));
        assert_eq!(c.token.as_deref(), Some("abc"));
        assert_eq!(c.password, None);
    }

    #[test]
    fn reads_the_control_ui_origin_rules() {
        let c = parse(
            "{ gateway: { controlUi: { allowedOrigins: ['https://ui.example', ' '], \
             dangerouslyAllowHostHeaderOriginFallback: true } } }",
        )
        .unwrap()
        .config();
        assert_eq!(c.allowed_origins, vec!["https://ui.example".to_string()]);
        assert!(c.allow_host_header_origin_fallback);
        let ui = parse(
            "{ gateway: { controlUi: { enabled: false, root: '/srv/ui', basePath: '/ui' } } }",
        )
        .unwrap()
        .config();
        assert_eq!(ui.control_ui_enabled, Some(false));
        assert_eq!(ui.control_ui_root.as_deref(), Some("/srv/ui"));
        assert_eq!(ui.control_ui_base_path.as_deref(), Some("/ui"));
        assert!(parse("{ gateway: { controlUi: { enabled: 'yes' } } }").is_err());
        assert!(parse("{ gateway: { controlUi: { allowedOrigins: 'x' } } }").is_err());
        assert!(parse("{ gateway: { controlUi: { allowedOrigins: [1] } } }").is_err());
    }

    #[test]
    fn reads_the_local_auto_approval_switch() {
        let read = |text: &str| parse(text).unwrap().config().pairing_auto_approve_local;
        assert_eq!(read("{ gateway: { port: 1 } }"), None);
        assert_eq!(
            read("{ gateway: { nodes: { pairing: { autoApproveLocal: false } } } }"),
            Some(false)
        );
        assert_eq!(
            read("{ gateway: { nodes: { pairing: { autoApproveLocal: true } } } }"),
            Some(true)
        );
        assert!(parse("{ gateway: { nodes: { pairing: { autoApproveLocal: 'no' } } } }").is_err());
    }

    #[test]
    fn keeps_the_model_selection_for_the_catalog() {
        let text =
            "{ models: { mode: 'merge', providers: { fake: { baseUrl: 'http://127.0.0.1:9/v1', \
                    apiKey: 'sk-fake', models: [{ id: 'echo' }] } } }, \
                    agents: { defaults: { model: 'fake/echo', workspace: '/w', other: 1 } }, \
                    tools: { exec: { host: 'node' }, web: {} } }";
        let c = parse(text).unwrap().config();
        assert_eq!(c.models["models"]["providers"]["fake"]["apiKey"], "sk-fake");
        // The model and the tool settings: nothing else of `agents` or `tools`.
        assert_eq!(
            c.models["agents"],
            serde_json::json!({"defaults": {"model": "fake/echo", "workspace": "/w"}})
        );
        assert_eq!(
            c.models["tools"],
            serde_json::json!({"exec": {"host": "node"}})
        );
        // Without those sections nothing is kept.
        let c = parse("{ gateway: { port: 1 } }").unwrap().config();
        assert_eq!(c.models, serde_json::json!({}));
    }

    #[test]
    fn reads_the_node_command_rules() {
        let c = parse("{ gateway: { nodes: { commands: { allow: ['camera.snap', ' '], deny: ['system.notify'] } } } }")
            .unwrap()
            .config();
        assert_eq!(c.node_commands_allow, ["camera.snap"]);
        assert_eq!(c.node_commands_deny, ["system.notify"]);
        assert!(parse("{ gateway: { nodes: { commands: { allow: 'x' } } } }").is_err());
        assert!(parse("{ gateway: { nodes: { commands: { deny: [1] } } } }").is_err());
    }

    #[test]
    fn reads_proxy_trust() {
        let c = parse(
            "{ gateway: { trustedProxies: ['127.0.0.1', ' 10.0.0.0/8 ', ''], allowRealIpFallback: true, \
             nodes: { pairing: { autoApproveLocal: false } } } }",
        )
        .unwrap()
        .config();
        assert_eq!(c.trusted_proxies, vec!["127.0.0.1", "10.0.0.0/8"]);
        assert!(c.allow_real_ip_fallback);
        assert_eq!(c.pairing_auto_approve_local, Some(false));
        let plain = parse("{ gateway: { port: 1 } }").unwrap().config();
        assert!(plain.trusted_proxies.is_empty());
        assert!(!plain.allow_real_ip_fallback);
        assert_eq!(plain.pairing_auto_approve_local, None);
        assert!(parse("{ gateway: { trustedProxies: '127.0.0.1' } }").is_err());
        assert!(parse("{ gateway: { trustedProxies: [1] } }").is_err());
        assert!(parse("{ gateway: { allowRealIpFallback: 'yes' } }").is_err());
        assert!(parse("{ gateway: { nodes: { pairing: { autoApproveLocal: 0 } } } }").is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse("{ gateway: { port: 'x' } }").is_err());
        assert!(parse("{ gateway: { port: 70000 } }").is_err());
        assert!(parse("{ gateway: { auth: 1 } }").is_err());
        assert!(parse("{ gateway: ").is_err());
        assert!(parse("[]").is_err());
        assert!(parse("{ gateway: { prot: 1 } }").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "[".repeat(12_000) + &"]".repeat(12_000);
        let err = parse(&format!("{{ a: {deep} }}")).unwrap_err();
        assert!(err.contains("nest deeper than 128"), "{err}");
        assert_eq!(parse("{}").unwrap(), Loaded::Empty);
        assert_eq!(parse(" // nothing\n { } ").unwrap(), Loaded::Empty);
        assert_eq!(parse("").unwrap(), Loaded::Empty);
        assert_eq!(parse(" \n\t").unwrap(), Loaded::Empty);
    }
}
