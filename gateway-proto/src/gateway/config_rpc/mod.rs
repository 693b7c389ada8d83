//! The `config.*` RPCs' pure logic: what `config.get` shows, and what a
//! `config.set|patch|apply` would write, decided from the file as the
//! runtime read it (see [`plan`]). The runtime reads and writes the file
//! (`Effect::ReadConfig`, `Effect::WriteConfig`); the write only happens if
//! the file still has the text the plan was made from, so a hand edit in
//! between is never overwritten.
//!
//! Why validation is split: the key tree (unknown keys, with the closest
//! known one) is pure data and lives here, so the core refuses a bad patch
//! by itself; the value checks that need the gateway's settings resolution
//! (auth mode needs a token, bind needs auth, …) live with that resolution in
//! the CLI and reach the write through the runtime's validator callback.

pub mod keys;
pub mod merge_patch;
pub mod redact;
pub mod reload;
pub mod text;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use reload::ReloadKind;

/// Paths a `config.patch` may change without `baseHash` (last writer wins).
const HASHLESS_PREFIXES: &[&str] = &["ui.prefs"];

pub const HASH_REQUIRED: &str = "config base hash required; re-run config.get and retry";
pub const HASH_MISMATCH: &str = "config changed since last load; re-run config.get and retry";

/// The config file as the runtime read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: String,
    pub exists: bool,
    /// The file's text (empty when it does not exist).
    pub raw: String,
}

/// The revision of a file text: opaque to clients, different whenever the
/// text differs.
pub fn hash(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON5 text to a value, refusing nesting deep enough to hurt the parser,
/// with the first mistake said in words.
pub fn parse_json5(raw: &str) -> Result<Value, String> {
    text::check_nesting(raw)?;
    json5::from_str::<Value>(raw).map_err(|e| {
        if let Some(mistake) = text::first_mistake(raw) {
            return mistake;
        }
        let json5::Error::Message { location, .. } = &e;
        match location {
            Some(at) => format!(
                "line {}, column {}: not valid JSON5 here",
                at.line, at.column
            ),
            None => format!(
                "not valid JSON5: {}",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    })
}

/// The file's content as a config object (`{}` for a missing or blank file).
fn current_config(file: &ConfigFile) -> Result<Value, String> {
    if !file.exists || file.raw.trim().is_empty() {
        return Ok(json!({}));
    }
    let value = parse_json5(&file.raw)?;
    if !value.is_object() {
        return Err("the top level must be an object".into());
    }
    Ok(value)
}

/// Problems with a config: its syntax, then unknown keys.
fn issues(file: &ConfigFile) -> (Value, Vec<Value>) {
    match current_config(file) {
        Err(message) => (
            json!({}),
            vec![json!({"path": "<root>", "message": message})],
        ),
        Ok(config) => {
            let problems = match config.as_object().map(keys::check) {
                Some(Err(message)) => vec![json!({"path": "<root>", "message": message})],
                _ => Vec::new(),
            };
            (config, problems)
        }
    }
}

/// `config.get`: the file, its parsed content (secrets redacted), whether it
/// is valid, and its hash for the next write's `baseHash`.
pub fn get_answer(file: &ConfigFile) -> Value {
    let (config, problems) = issues(file);
    let shown = redact::redact(&config);
    let raw = if file.exists {
        json!(redact::redact_raw(&file.raw, &config))
    } else {
        Value::Null
    };
    let hash = hash(&file.raw);
    json!({
        "path": file.path,
        "includedPaths": [],
        "includeProvenance": [],
        "agentRosterIncludeOwned": false,
        "bindingsIncludeOwned": false,
        "exists": file.exists,
        "raw": raw,
        "parsed": shown,
        "sourceConfig": shown,
        "resolved": shown,
        "valid": problems.is_empty(),
        "runtimeConfig": shown,
        "config": shown,
        "hash": hash,
        "issues": problems,
        "warnings": [],
        "legacyIssues": [],
        "configRevisionHash": hash,
        "appliedConfigHash": hash,
    })
}

/// Which write method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMethod {
    Set,
    Patch,
    Apply,
}

impl WriteMethod {
    pub fn name(self) -> &'static str {
        match self {
            WriteMethod::Set => "config.set",
            WriteMethod::Patch => "config.patch",
            WriteMethod::Apply => "config.apply",
        }
    }
}

/// A write as the client asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    pub method: WriteMethod,
    /// JSON5: the whole file (set, apply) or a merge patch (patch).
    pub raw: String,
    pub base_hash: Option<String>,
    pub replace_paths: Vec<String>,
    pub note: Option<String>,
}

/// What the answer to a completed write needs, carried through the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReply {
    pub method: WriteMethod,
    pub path: String,
    /// The hash of the text written.
    pub hash: String,
    /// The new config, secrets redacted.
    pub config: Value,
    pub changed_paths: Vec<String>,
    pub requires_restart: bool,
    pub note: Option<String>,
}

/// A write to perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub text: String,
    /// Write only if the file's text still has this hash (`None`: only if
    /// the file still does not exist).
    pub expected_hash: Option<String>,
    pub reply: WriteReply,
}

/// What a write request comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to write: answer this.
    Answer(Value),
    Write(Box<Write>),
}

/// The `baseHash` rule: required once the file exists, and it must match.
fn check_base_hash(file: &ConfigFile, base_hash: Option<&str>) -> Result<(), String> {
    if !file.exists {
        return Ok(());
    }
    match base_hash {
        None => Err(HASH_REQUIRED.into()),
        Some(given) if given != hash(&file.raw) => Err(HASH_MISMATCH.into()),
        Some(_) => Ok(()),
    }
}

fn is_hashless_path(path: &str) -> bool {
    HASHLESS_PREFIXES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}.")))
}

/// A hashless patch may only be shaped as objects down the LWW prefixes.
fn has_hashless_structure(patch: &Value) -> bool {
    HASHLESS_PREFIXES.iter().all(|prefix| {
        let mut node = patch;
        for segment in prefix.split('.') {
            let Some(object) = node.as_object() else {
                return false;
            };
            match object.get(segment) {
                None => return true,
                Some(next) => node = next,
            }
            if !node.is_object() {
                return false;
            }
        }
        true
    })
}

fn parse_object(raw: &str, what: &str) -> Result<Value, String> {
    let value = parse_json5(raw)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!("{what} raw must be an object"))
    }
}

/// Decide a `config.set|patch|apply`. An `Err` is the INVALID_REQUEST
/// message, worded as the reference words it.
pub fn plan(file: &ConfigFile, request: &WriteRequest) -> Result<Plan, String> {
    let hashless_patch = request.method == WriteMethod::Patch && request.base_hash.is_none();
    if !hashless_patch {
        check_base_hash(file, request.base_hash.as_deref())?;
    }
    let current = current_config(file)
        .map_err(|e| format!("invalid config: {e}; fix (openclaw doctor) before patching"))?;
    let next = match request.method {
        WriteMethod::Patch => {
            let patch = parse_object(&request.raw, "config.patch")?;
            if hashless_patch && file.exists && !has_hashless_structure(&patch) {
                return Err(HASH_REQUIRED.into());
            }
            let merged = merge_patch::apply(&current, &patch, &request.replace_paths);
            let merged = redact::restore(&merged, &current)?;
            let lost = merge_patch::removed_array_entries(
                &current,
                &merged,
                &patch,
                &request.replace_paths,
            );
            if !lost.is_empty() {
                return Err(format!(
                    "config.patch would remove entries from array path(s): {}. Pass replacePaths with \
                     the exact path(s) when this is intentional, or use config.apply for \
                     full-config replacement.",
                    lost.join(", ")
                ));
            }
            let changed = merge_patch::changed_leaves(&current, &merged);
            if hashless_patch && file.exists && !changed.iter().all(|p| is_hashless_path(p)) {
                let guarded: Vec<&str> = changed
                    .iter()
                    .filter(|p| !is_hashless_path(p))
                    .map(String::as_str)
                    .collect();
                return Err(format!(
                    "config base hash required for {}; re-run config.get and retry with baseHash",
                    guarded.join(", ")
                ));
            }
            if changed.is_empty() {
                return Ok(Plan::Answer(json!({
                    "ok": true,
                    "noop": true,
                    "changedPaths": [],
                    "path": file.path,
                    "config": redact::redact(&current),
                })));
            }
            merged
        }
        WriteMethod::Set | WriteMethod::Apply => {
            let whole = parse_object(&request.raw, request.method.name())?;
            let whole = redact::restore(&whole, &current)?;
            if request.method == WriteMethod::Set {
                refuse_dropped_agents(&current, &whole)?;
            }
            whole
        }
    };
    if let Some(object) = next.as_object() {
        keys::check(object).map_err(|e| format!("invalid config: {e}"))?;
    }
    let changed_paths = reload::changed_paths(&current, &next);
    let requires_restart = changed_paths
        .iter()
        .any(|p| reload::kind(p) == ReloadKind::Restart);
    let text = to_file_text(&next);
    Ok(Plan::Write(Box::new(Write {
        expected_hash: file.exists.then(|| hash(&file.raw)),
        reply: WriteReply {
            method: request.method,
            path: file.path.clone(),
            hash: hash(&text),
            config: redact::redact(&next),
            changed_paths,
            requires_restart,
            note: request.note.clone(),
        },
        text,
    })))
}

/// The agent ids a config lists: the keys of `agents.entries`, else the
/// `id`s of the older `agents.list`.
fn agent_ids(config: &Value) -> Vec<String> {
    let agents = config.get("agents");
    if let Some(entries) = agents.and_then(|a| a.get("entries")) {
        return entries
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
    }
    agents
        .and_then(|a| a.get("list"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `config.set` may not drop agents (deleting one is its own operation).
fn refuse_dropped_agents(current: &Value, next: &Value) -> Result<(), String> {
    let kept: Vec<String> = agent_ids(next)
        .iter()
        .map(|id| id.trim().to_lowercase())
        .collect();
    let mut dropped: Vec<String> = agent_ids(current)
        .into_iter()
        .filter(|id| !kept.contains(&id.trim().to_lowercase()))
        .collect();
    if dropped.is_empty() {
        return Ok(());
    }
    dropped.sort();
    Err(format!(
        "config.set would remove existing agent entries: {}. Use the agents.delete RPC or \
         `openclaw agents delete <id>` for intentional deletion.",
        dropped.join(", ")
    ))
}

/// The text a write puts in the file: pretty JSON (valid JSON5) and a newline.
pub fn to_file_text(config: &Value) -> String {
    let mut text = serde_json::to_string_pretty(config).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// The answer to a completed write, and the `config.changed` payload.
pub fn written(reply: &WriteReply, ts: u64) -> (Value, Value) {
    let mut answer = Map::new();
    answer.insert("ok".into(), json!(true));
    answer.insert("path".into(), json!(reply.path));
    answer.insert("hash".into(), json!(reply.hash));
    answer.insert("config".into(), reply.config.clone());
    if reply.method == WriteMethod::Patch {
        answer.insert("changedPaths".into(), json!(reply.changed_paths));
    }
    if reply.method != WriteMethod::Set {
        let kind = if reply.method == WriteMethod::Patch {
            "config-patch"
        } else {
            "config-apply"
        };
        answer.insert(
            "sentinel".into(),
            json!({
                // No restart sentinel file is kept: nothing was persisted.
                "persisted": false,
                "payload": {
                    "kind": kind,
                    "status": "ok",
                    "ts": ts,
                    "message": reply.note,
                    "stats": {
                        "mode": reply.method.name(),
                        "root": reply.path,
                        "requiresRestart": reply.requires_restart,
                    },
                },
            }),
        );
    }
    let event = json!({ "path": reply.path, "hash": reply.hash, "ts": ts });
    (Value::Object(answer), event)
}

#[cfg(test)]
mod tests;
