//! The node host's exec approvals document: what `system.execApprovals.get`
//! and `.set` read and write, and what `system.run`'s policy is read from.
//!
//! Kept where the reference node host keeps it: the JSON text of row
//! `current` of `exec_approvals_config` in `<stateDir>/state/openclaw.sqlite`
//! (see `gateway_smol::store::ExecApprovalsStore`). Shape (reference
//! `src/infra/exec-approvals-config.ts`):
//!
//! ```json
//! {"version":1, "socket":{"path":"…","token":"…"},
//!  "defaults":{"security":"full|allowlist|deny","ask":"off|on-miss|always","askFallback":…,"autoAllowSkills":bool},
//!  "agents":{"<agentId>|*":{…same policy fields…, "allowlist":[{"id","pattern","source"?,…}]}}}
//! ```
//!
//! The text's SHA-256 is the `hash` a writer must send back (`baseHash`);
//! the socket token is never shown.

use std::path::{Path, PathBuf};

use gateway_smol::store::{ExecApprovalsStore, StoreError};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The document as stored, with what the answers need.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub exists: bool,
    pub raw: Option<String>,
    pub file: Value,
    pub hash: String,
}

/// Why an approvals request failed, as the reference words it.
#[derive(Debug, PartialEq, Eq)]
pub enum ApprovalsError {
    /// `INVALID_REQUEST` with this message.
    Invalid(String),
    /// The store could not be used: `UNAVAILABLE`.
    Unavailable(String),
}

impl From<StoreError> for ApprovalsError {
    fn from(e: StoreError) -> Self {
        ApprovalsError::Unavailable(e.to_string())
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The reference's serialization: two-space JSON and a final newline.
pub fn serialize(file: &Value) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

fn hash_of(raw: Option<&str>) -> String {
    match raw {
        Some(raw) => sha256_hex(raw),
        None => format!("missing:{}", sha256_hex("")),
    }
}

fn trimmed(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Keep only valid `security`/`ask`/`askFallback` values (others removed).
fn sanitize_policy(policy: &mut Map<String, Value>) {
    for (field, allowed) in [
        ("security", &["deny", "allowlist", "full"][..]),
        ("ask", &["off", "on-miss", "always"][..]),
        ("askFallback", &["deny", "allowlist", "full"][..]),
    ] {
        let valid = trimmed(policy.get(field)).filter(|v| allowed.contains(&v.as_str()));
        match valid {
            Some(v) => policy.insert(field.to_owned(), Value::String(v)),
            None => policy.remove(field),
        };
    }
}

/// Allowlist entries as objects with a pattern and an id, without `commandText`.
fn normalize_allowlist(list: &[Value]) -> Vec<Value> {
    list.iter()
        .filter_map(|entry| {
            let mut entry = match entry {
                Value::String(s) if !s.trim().is_empty() => {
                    let mut m = Map::new();
                    m.insert("pattern".into(), Value::String(s.trim().to_owned()));
                    m
                }
                Value::Object(m) if trimmed(m.get("pattern")).is_some() => m.clone(),
                _ => return None,
            };
            if trimmed(entry.get("id")).is_none() {
                entry.insert("id".into(), Value::String(uuid_v4()));
            }
            entry.remove("commandText");
            Some(Value::Object(entry))
        })
        .collect()
}

/// The reference's normalization of a document (legacy `agents.default`
/// becomes `agents.main`; policies sanitized; allowlist entries completed).
pub fn normalize(file: &Value) -> Value {
    let socket_path = trimmed(file.pointer("/socket/path"));
    let socket_token = trimmed(file.pointer("/socket/token"));
    let mut agents = file
        .get("agents")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(legacy) = agents.remove("default") {
        agents.entry("main").or_insert(legacy);
    }
    for agent in agents.values_mut() {
        if let Value::Object(policy) = agent {
            sanitize_policy(policy);
            if let Some(list) = policy.get("allowlist").and_then(Value::as_array) {
                let list = normalize_allowlist(list);
                if list.is_empty() {
                    policy.remove("allowlist");
                } else {
                    policy.insert("allowlist".into(), Value::Array(list));
                }
            }
        }
    }
    let mut defaults = file
        .get("defaults")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    sanitize_policy(&mut defaults);
    defaults.retain(|k, v| match k.as_str() {
        "security" | "ask" | "askFallback" => true,
        "autoAllowSkills" => v.is_boolean(),
        _ => false,
    });
    let mut socket = Map::new();
    if let Some(path) = socket_path {
        socket.insert("path".into(), Value::String(path));
    }
    if let Some(token) = socket_token {
        socket.insert("token".into(), Value::String(token));
    }
    json!({"version": 1, "socket": socket, "defaults": defaults, "agents": agents})
}

pub use crate::ids::uuid_v4;

/// The socket token the reference generates: 24 random bytes, base64url.
fn generate_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 24];
    let _ = getrandom::getrandom(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The approvals of one state dir.
pub struct Approvals {
    state_dir: PathBuf,
    /// `OPENCLAW_STATE_DIR` was set: paths are shown in full, else as `~/.openclaw/…`.
    explicit_state_dir: bool,
}

impl Approvals {
    pub fn new(state_dir: &Path, explicit_state_dir: bool) -> Approvals {
        Approvals {
            state_dir: state_dir.to_path_buf(),
            explicit_state_dir,
        }
    }

    /// Where the reference says the document is.
    pub fn display_path(&self) -> String {
        let locator = "state/openclaw.sqlite#exec_approvals_config";
        if self.explicit_state_dir {
            self.state_dir.join(locator).display().to_string()
        } else {
            format!("~/.openclaw/{locator}")
        }
    }

    fn default_socket_path(&self) -> String {
        self.state_dir
            .join("exec-approvals.sock")
            .display()
            .to_string()
    }

    fn store(&self) -> Result<ExecApprovalsStore, StoreError> {
        ExecApprovalsStore::open(&self.state_dir)
    }

    /// The stored document; an absent row is the empty document. A row that
    /// is not JSON denies everything (the reference fails closed).
    pub fn read(&self) -> Result<Snapshot, ApprovalsError> {
        let raw = self.store()?.load()?;
        Ok(snapshot_of(raw))
    }

    /// The document with a socket path and token, written once if missing
    /// (what `system.execApprovals.get` reads).
    pub fn ensure(&self) -> Result<Snapshot, ApprovalsError> {
        let mut store = self.store()?;
        // A concurrent writer (another node host on this state dir) wins
        // the swap; the next round reads what it wrote.
        for _ in 0..3 {
            let current = snapshot_of(store.load()?);
            let has = |ptr: &str| trimmed(current.file.pointer(ptr)).is_some();
            if current.exists && has("/socket/path") && has("/socket/token") {
                return Ok(current);
            }
            let mut next = current.file.clone();
            if !has("/socket/path") {
                next["socket"]["path"] = Value::String(self.default_socket_path());
            }
            if !has("/socket/token") {
                next["socket"]["token"] = Value::String(generate_token());
            }
            let raw = serialize(&next);
            if store.replace(current.raw.as_deref(), &raw)? {
                return Ok(snapshot_of(Some(raw)));
            }
        }
        Err(ApprovalsError::Unavailable(
            "exec approvals kept changing; retry".into(),
        ))
    }

    /// Apply `update` to the document unless it changed meanwhile; the new
    /// snapshot, or `None` when someone else wrote first.
    pub fn update(
        &self,
        base: &Snapshot,
        update: impl FnOnce(Value) -> Value,
    ) -> Result<Option<Snapshot>, ApprovalsError> {
        let mut store = self.store()?;
        let next = normalize(&update(base.file.clone()));
        let raw = serialize(&next);
        if base.raw.as_deref() == Some(raw.as_str()) {
            return Ok(Some(base.clone()));
        }
        Ok(store
            .replace(base.raw.as_deref(), &raw)?
            .then(|| snapshot_of(Some(raw))))
    }

    /// The answer of `get`/`set`: the snapshot without its text or token.
    pub fn redacted(&self, snapshot: &Snapshot) -> Value {
        let mut file = snapshot.file.clone();
        match trimmed(file.pointer("/socket/path")) {
            Some(path) => file["socket"] = json!({ "path": path }),
            None => {
                if let Some(m) = file.as_object_mut() {
                    m.remove("socket");
                }
            }
        }
        json!({
            "path": self.display_path(),
            "exists": snapshot.exists,
            "file": file,
            "hash": snapshot.hash,
        })
    }

    /// `system.execApprovals.set {file, baseHash?}`.
    pub fn set(&self, params: &Value) -> Result<Value, ApprovalsError> {
        let invalid = |m: &str| ApprovalsError::Invalid(format!("Error: INVALID_REQUEST: {m}"));
        let file = params
            .get("file")
            .filter(|f| f.is_object())
            .ok_or_else(|| invalid("exec approvals file required"))?;
        let normalized = normalize(file);
        let current = self.read()?;
        let base_hash = params
            .get("baseHash")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        if current.exists {
            if base_hash.is_empty() {
                return Err(invalid(
                    "exec approvals base hash required; reload and retry",
                ));
            }
            if base_hash != current.hash {
                return Err(invalid("exec approvals changed; reload and retry"));
            }
        } else if !base_hash.is_empty() && base_hash != current.hash {
            return Err(invalid("exec approvals changed; reload and retry"));
        }
        // The socket comes from the new file, else the current one, else defaults.
        let socket_path = trimmed(normalized.pointer("/socket/path"))
            .or_else(|| trimmed(current.file.pointer("/socket/path")))
            .unwrap_or_else(|| self.default_socket_path());
        let token = trimmed(normalized.pointer("/socket/token"))
            .or_else(|| trimmed(current.file.pointer("/socket/token")))
            .unwrap_or_else(generate_token);
        let next = self.update(&current, |_| {
            let mut next = normalized;
            next["socket"] = json!({"path": socket_path, "token": token});
            next
        })?;
        match next {
            Some(snapshot) => Ok(self.redacted(&snapshot)),
            None => Err(ApprovalsError::Invalid(
                "INVALID_REQUEST: exec approvals changed; reload and retry".into(),
            )),
        }
    }

    /// `system.execApprovals.get {includeResolvedDefaults?}`.
    pub fn get(&self, params: Option<&Value>) -> Result<Value, ApprovalsError> {
        let include_defaults = match params {
            None | Some(Value::Null) => false,
            Some(Value::Object(p)) => match p.get("includeResolvedDefaults") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ApprovalsError::Invalid(
                        "Error: INVALID_REQUEST: includeResolvedDefaults must be boolean".into(),
                    ))
                }
            },
            Some(_) => {
                return Err(ApprovalsError::Invalid(
                    "Error: INVALID_REQUEST: includeResolvedDefaults must be boolean".into(),
                ))
            }
        };
        let snapshot = self.ensure()?;
        let mut answer = self.redacted(&snapshot);
        if include_defaults {
            answer["resolvedDefaults"] = super::policy::resolved_defaults(&snapshot.file);
        }
        Ok(answer)
    }
}

/// The snapshot of a stored text (`None`: no row).
pub fn snapshot_of(raw: Option<String>) -> Snapshot {
    let hash = hash_of(raw.as_deref());
    match raw {
        None => Snapshot {
            exists: false,
            raw: None,
            file: normalize(&json!({"version": 1, "agents": {}})),
            hash,
        },
        Some(text) => {
            let parsed = serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|v| v.get("version") == Some(&json!(1)));
            let file = match parsed {
                Some(v) => normalize(&v),
                None => {
                    log::warn!("exec approvals row is malformed; denying host execution");
                    normalize(&json!({"version": 1, "defaults": {
                        "security": "deny", "ask": "off", "askFallback": "deny", "autoAllowSkills": false
                    }}))
                }
            };
            Snapshot {
                exists: true,
                raw: Some(text),
                file,
                hash,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals() -> (tempfile::TempDir, Approvals) {
        let dir = tempfile::tempdir().unwrap();
        let a = Approvals::new(dir.path(), true);
        (dir, a)
    }

    #[test]
    fn get_creates_the_socket_and_hides_the_token() {
        let (dir, a) = approvals();
        assert!(!a.read().unwrap().exists);
        let got = a
            .get(Some(&json!({"includeResolvedDefaults": true})))
            .unwrap();
        assert_eq!(got["exists"], true);
        assert_eq!(
            got["path"],
            dir.path()
                .join("state/openclaw.sqlite#exec_approvals_config")
                .display()
                .to_string()
        );
        assert_eq!(
            got["file"]["socket"],
            json!({"path": dir.path().join("exec-approvals.sock").display().to_string()})
        );
        assert_eq!(got["file"]["defaults"], json!({}));
        assert_eq!(
            got["resolvedDefaults"],
            json!({"security": "full", "ask": "off", "askFallback": "deny", "autoAllowSkills": false})
        );
        // The token is stored, and the hash is the stored text's.
        let stored = a.read().unwrap();
        assert!(stored.file.pointer("/socket/token").is_some());
        assert_eq!(got["hash"], sha256_hex(stored.raw.as_deref().unwrap()));
        // A second get changes nothing.
        assert_eq!(a.get(None).unwrap()["hash"], got["hash"]);
        assert!(matches!(
            a.get(Some(&json!({"includeResolvedDefaults": 1}))),
            Err(ApprovalsError::Invalid(_))
        ));
    }

    #[test]
    fn set_needs_the_current_hash_and_keeps_the_token() {
        let (_dir, a) = approvals();
        let first = a.get(None).unwrap();
        let token = a.read().unwrap().file["socket"]["token"].clone();
        let file = json!({"version": 1, "defaults": {"security": "allowlist", "ask": "bogus"},
                          "agents": {"*": {"allowlist": ["/usr/bin/ls", {"pattern": " "}]}}});
        assert_eq!(
            a.set(&json!({"file": file})),
            Err(ApprovalsError::Invalid(
                "Error: INVALID_REQUEST: exec approvals base hash required; reload and retry"
                    .into()
            ))
        );
        assert_eq!(
            a.set(&json!({"file": file, "baseHash": "nope"})),
            Err(ApprovalsError::Invalid(
                "Error: INVALID_REQUEST: exec approvals changed; reload and retry".into()
            ))
        );
        let set = a
            .set(&json!({"file": file, "baseHash": first["hash"]}))
            .unwrap();
        assert_ne!(set["hash"], first["hash"]);
        assert_eq!(set["file"]["defaults"], json!({"security": "allowlist"}));
        let entries = set["file"]["agents"]["*"]["allowlist"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["pattern"], "/usr/bin/ls");
        assert!(entries[0]["id"].is_string());
        assert!(set["file"]["socket"].get("token").is_none());
        assert_eq!(a.read().unwrap().file["socket"]["token"], token);
        assert_eq!(
            a.set(&json!({"file": "x"})),
            Err(ApprovalsError::Invalid(
                "Error: INVALID_REQUEST: exec approvals file required".into()
            ))
        );
    }

    #[test]
    fn a_malformed_row_denies() {
        let snap = snapshot_of(Some("not json".into()));
        assert!(snap.exists);
        assert_eq!(snap.file["defaults"]["security"], "deny");
    }
}
