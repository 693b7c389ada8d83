//! The keys of `openclaw.json` (JSON5) that the gateway reads, with the
//! reference's names: `gateway.port`, `gateway.bind`, `gateway.customBindHost`,
//! `gateway.auth.{mode,token,password}`,
//! `gateway.controlUi.{allowedOrigins,dangerouslyAllowHostHeaderOriginFallback}`.

use std::path::Path;

use serde_json::Value;

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
}

/// Read and check the file; a missing file is an empty configuration.
/// The error is one line naming the file.
pub fn load(path: &Path) -> Result<ConfigFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(format!("cannot read config {}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<ConfigFile, String> {
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    let root: Value = json5::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    if !root.is_object() {
        return Err("the top level must be an object".into());
    }
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
    Ok(ConfigFile {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reference_keys_from_json5() {
        let c = parse(
            "// comment\n{ gateway: { port: 1234, bind: 'lan', auth: { mode: 'token', token: 'abc', }, }, }",
        )
        .unwrap();
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
        .unwrap();
        assert_eq!(c.allowed_origins, vec!["https://ui.example".to_string()]);
        assert!(c.allow_host_header_origin_fallback);
        assert!(parse("{ gateway: { controlUi: { allowedOrigins: 'x' } } }").is_err());
        assert!(parse("{ gateway: { controlUi: { allowedOrigins: [1] } } }").is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse("{ gateway: { port: 'x' } }").is_err());
        assert!(parse("{ gateway: { port: 70000 } }").is_err());
        assert!(parse("{ gateway: { auth: 1 } }").is_err());
        assert!(parse("{ gateway: ").is_err());
        assert!(parse("[]").is_err());
        assert_eq!(parse("{}").unwrap(), ConfigFile::default());
        assert_eq!(parse("").unwrap(), ConfigFile::default());
    }
}
