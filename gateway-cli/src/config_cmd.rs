//! `openclaw config get|set|unset|validate|file`: read and edit
//! `openclaw.json` locally, as the reference's CLI does (same lines, same
//! exit codes). A running gateway picks an edit up through its watcher.
//! Writes are atomic (temp file, fsync, rename), like the gateway's own.

use std::path::{Path, PathBuf};

use argh::FromArgs;
use gateway_proto::gateway::config_rpc::{self, keys, redact, reload, ReloadKind};
use serde_json::{json, Map, Value};

use crate::config_file;
use crate::settings::{self, RunFlags};

/// Read or edit the config file (openclaw.json).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    #[argh(subcommand)]
    pub command: ConfigSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ConfigSub {
    Get(GetArgs),
    Set(SetArgs),
    Unset(UnsetArgs),
    Validate(ValidateArgs),
    File(FileArgs),
}

/// Print one value of the config (secrets redacted).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "get")]
pub struct GetArgs {
    /// dotted config path, e.g. gateway.port
    #[argh(positional)]
    pub path: String,
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

/// Set one value (JSON5 if it parses, else a string).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
pub struct SetArgs {
    /// dotted config path
    #[argh(positional)]
    pub path: String,
    /// the value
    #[argh(positional)]
    pub value: Option<String>,
    /// accepted for compatibility (the answer is the same)
    #[argh(switch)]
    pub json: bool,
}

/// Remove one value.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "unset")]
pub struct UnsetArgs {
    /// dotted config path
    #[argh(positional)]
    pub path: String,
    /// accepted for compatibility (the answer is the same)
    #[argh(switch)]
    pub json: bool,
}

/// Check the config file without starting the gateway.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "validate")]
pub struct ValidateArgs {
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

/// Print the config file's path.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "file")]
pub struct FileArgs {
    /// print JSON
    #[argh(switch)]
    pub json: bool,
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn config_path() -> Result<PathBuf, String> {
    let state_dir = settings::state_dir(&RunFlags::default(), &env).map_err(|e| match e {
        settings::SettingsError::Usage(m) | settings::SettingsError::Invalid(m) => m,
    })?;
    Ok(settings::config_path(&state_dir, &env))
}

pub fn run(cmd: ConfigCmd) -> i32 {
    let path = match config_path() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    match cmd.command {
        ConfigSub::File(a) => file(&path, a.json),
        ConfigSub::Validate(a) => validate(&path, a.json),
        ConfigSub::Get(a) => get(&path, &a.path, a.json),
        // `--json` changes nothing for set and unset, as in the reference.
        ConfigSub::Set(a) if a.json && a.value.is_none() => {
            eprintln!("config set mode error: value/json mode requires <value>.");
            1
        }
        ConfigSub::Set(a) => match a.value {
            Some(value) => edit(&path, &a.path, Edit::Set(parse_value(&value))),
            None => {
                eprintln!("config set mode error: value/json mode requires <value>.");
                1
            }
        },
        ConfigSub::Unset(a) => {
            let _json_changes_nothing = a.json;
            edit(&path, &a.path, Edit::Unset)
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The standard `--json` failure: the envelope on stdout, exit 1.
fn json_failure(message: &str) -> i32 {
    println!(
        "{}",
        pretty(&json!({"ok": false, "error": {"type": "cli_error", "message": message}}))
    );
    1
}

fn file(path: &Path, as_json: bool) -> i32 {
    if as_json {
        println!("{}", pretty(&json!({"path": path.display().to_string()})));
    } else {
        println!("{}", path.display());
    }
    0
}

/// What the file holds: `Ok(None)` when there is none.
enum Read {
    Missing,
    Invalid(String),
    Config(Value),
}

fn read(path: &Path) -> Read {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Missing,
        Err(e) => return Read::Invalid(format!("cannot read the file: {e}")),
    };
    if let Err(e) = config_file::parse(&text) {
        return Read::Invalid(e);
    }
    if text.trim().is_empty() {
        return Read::Config(json!({}));
    }
    match config_rpc::parse_json5(&text) {
        Ok(value @ Value::Object(_)) => Read::Config(value),
        Ok(_) => Read::Invalid("the top level must be an object".into()),
        Err(e) => Read::Invalid(e),
    }
}

/// Where an issue is, as `config validate --json` names it: the object
/// holding an unknown key, else the root.
fn issue_path(message: &str) -> String {
    message
        .strip_prefix("unknown key ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|key| key.rsplit_once('.').map(|(parent, _)| parent.to_owned()))
        .unwrap_or_else(|| "<root>".into())
}

fn invalid_lines(path: &Path, issue: &str) {
    eprintln!("OpenClaw config is invalid: {}", path.display());
    eprintln!("- {issue}");
    eprintln!("Fix the key above, then retry.");
}

fn validate(path: &Path, as_json: bool) -> i32 {
    let shown = path.display().to_string();
    match read(path) {
        Read::Missing => {
            if as_json {
                let answer = json!({"ok": false, "error": {"type": "cli_error", "message": "file not found"},
                    "valid": false, "path": shown});
                println!("{answer}");
            } else {
                eprintln!("Config file not found: {shown}");
                eprintln!("Create one with openclaw config set <path> <value>.");
            }
            1
        }
        Read::Invalid(issue) => {
            let message = format!("OpenClaw config is invalid: {shown}");
            if as_json {
                let answer = json!({"ok": false, "error": {"type": "cli_error", "message": message},
                    "valid": false, "path": shown,
                    "issues": [{"path": issue_path(&issue), "message": issue}]});
                println!("{}", pretty(&answer));
            } else {
                eprintln!("{message}");
                eprintln!("  × {issue}");
                eprintln!();
                eprintln!("Fix the keys above manually.");
                eprintln!("Inspect with openclaw config validate.");
            }
            1
        }
        Read::Config(_) => {
            if as_json {
                println!("{}", json!({"valid": true, "path": shown, "warnings": []}));
            } else {
                println!("Config valid: {shown}");
            }
            0
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

fn lookup<'a>(config: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path)
        .into_iter()
        .try_fold(config, |node, key| node.as_object()?.get(key))
}

fn get(path: &Path, key: &str, as_json: bool) -> i32 {
    let fail = |message: String| {
        if as_json {
            json_failure(&message)
        } else {
            eprintln!("{message}");
            1
        }
    };
    let config = match read(path) {
        Read::Missing => json!({}),
        Read::Invalid(issue) => {
            if as_json {
                return json_failure(&format!("OpenClaw config is invalid: {}", path.display()));
            }
            invalid_lines(path, &issue);
            return 1;
        }
        Read::Config(config) => config,
    };
    if key.trim().is_empty() || !keys::is_known_path(key) {
        return fail(format!(
            "Unknown config path: {key}. Run openclaw config schema to inspect valid paths."
        ));
    }
    let shown = redact::redact(&config);
    match lookup(&shown, key) {
        None => fail(format!(
            "Config path is valid but unset: {key}. The runtime default applies until you set an \
             authored value with openclaw config set {key} <value>."
        )),
        Some(value) => {
            match value {
                _ if as_json => println!("{}", pretty(value)),
                Value::String(s) => println!("{s}"),
                Value::Object(_) | Value::Array(_) => println!("{}", pretty(value)),
                other => println!("{other}"),
            }
            0
        }
    }
}

/// A value as typed: JSON5 when it parses (numbers, booleans, arrays,
/// objects, quoted strings), else the text itself.
fn parse_value(text: &str) -> Value {
    config_rpc::parse_json5(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

enum Edit {
    Set(Value),
    Unset,
}

fn set_at(config: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = config;
    for key in parents {
        let object = ensure_object(node);
        node = object.entry((*key).to_owned()).or_insert_with(|| json!({}));
    }
    ensure_object(node).insert((*last).to_owned(), value);
}

fn ensure_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = json!({});
    }
    match node {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

fn remove_at(config: &mut Value, path: &[&str]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = config;
    for key in parents {
        match node.as_object_mut().and_then(|o| o.get_mut(*key)) {
            Some(next) => node = next,
            None => return false,
        }
    }
    node.as_object_mut()
        .is_some_and(|o| o.remove(*last).is_some())
}

/// What applying the change takes, in the reference's words.
fn apply_hint(before: &Value, after: &Value) -> &'static str {
    let kinds: Vec<ReloadKind> = reload::changed_paths(before, after)
        .iter()
        .map(|p| reload::kind(p))
        .collect();
    if kinds.contains(&ReloadKind::Restart) {
        "Restart the gateway to apply."
    } else if kinds.contains(&ReloadKind::Hot) {
        "Change will apply without restarting the gateway."
    } else {
        "No gateway restart needed."
    }
}

fn edit(path: &Path, key: &str, edit: Edit) -> i32 {
    let before = match read(path) {
        Read::Missing => json!({}),
        Read::Invalid(issue) => {
            invalid_lines(path, &issue);
            return 1;
        }
        Read::Config(config) => config,
    };
    let mut after = before.clone();
    let parts = segments(key);
    let verb = match edit {
        Edit::Set(value) => {
            set_at(&mut after, &parts, value);
            "Updated"
        }
        Edit::Unset => {
            if !remove_at(&mut after, &parts) {
                eprintln!(
                    "Config path not found: {key}. Nothing was changed. Run openclaw config get \
                     <path> first if you are unsure of the path."
                );
                return 1;
            }
            "Removed"
        }
    };
    let text = config_rpc::to_file_text(&after);
    if let Err(e) = config_file::parse(&text) {
        eprintln!("Config validation failed: {e}");
        return 1;
    }
    if let Err(e) = gateway_smol::config_store::write_atomic(path, &text) {
        eprintln!("cannot write {}: {e}", path.display());
        return 1;
    }
    println!("{verb} {key}. {}", apply_hint(&before, &after));
    0
}
