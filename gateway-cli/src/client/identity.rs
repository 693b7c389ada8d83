//! This machine's device identity for client commands, and the device tokens
//! gateways gave it. Both live where the reference CLI keeps its own, in
//! `<stateDir>/state/openclaw.sqlite` (`device_identities` row 'primary',
//! `device_auth_tokens`): on one state dir both CLIs are the same device, so
//! a device paired once is paired for both.
//!
//! Earlier versions of this CLI kept the key in `identity/device-ed25519.json`.
//! When the database has no identity yet, that key is imported once, so a
//! device paired before the move keeps its id. When the database already has
//! one (the reference CLI made it), the database wins and the old file is
//! left alone, unused.

use std::path::Path;

use gateway_proto::client::DeviceKey;
use gateway_smol::store::{
    database_path, identity_pems, CachedDeviceToken, ClientIdentityStore, StoreError, BUSY_TIMEOUT,
    PRIMARY_IDENTITY_KEY,
};
use serde_json::Value;

use super::target::state_dir;

/// Where earlier versions of this CLI kept the key (relative to the state dir).
const LEGACY_FILE: &str = "identity/device-ed25519.json";

/// The identity and its token cache, open for one command.
pub struct DeviceAuth {
    key: DeviceKey,
    store: ClientIdentityStore,
}

impl DeviceAuth {
    /// The identity of the current state dir, created on first use. `None`
    /// when the store cannot be used (unwritable state dir, a database from
    /// a newer OpenClaw...): the command then connects without a device, as
    /// a token-only client, and says why in the debug log.
    pub fn open() -> Option<DeviceAuth> {
        match DeviceAuth::open_in(&state_dir()) {
            Ok(auth) => Some(auth),
            Err(e) => {
                log::debug!("connecting without a device identity: {e}");
                None
            }
        }
    }

    pub fn open_in(state_dir: &Path) -> Result<DeviceAuth, StoreError> {
        let mut store = ClientIdentityStore::open(state_dir)?;
        if store.load_identity()?.is_none() {
            if let Some(legacy) = load_legacy(&state_dir.join(LEGACY_FILE)) {
                import(state_dir, &legacy)?;
            }
        }
        let key = store.load_or_create_identity()?;
        Ok(DeviceAuth { key, store })
    }

    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    pub fn device_id(&self) -> String {
        self.key.device_id()
    }

    /// The token cached for `role`; a read error counts as none.
    pub fn cached_token(&self, role: &str) -> Option<CachedDeviceToken> {
        self.store
            .cached_token(&self.device_id(), role)
            .unwrap_or_else(|e| {
                log::debug!("cannot read the cached device token: {e}");
                None
            })
    }

    /// Cache the token a gateway issued for `role`. A failed write only
    /// costs the next command a shared-secret connect, so it is logged.
    pub fn remember(&mut self, role: &str, token: &str, scopes: &[String]) {
        let device_id = self.device_id();
        if let Err(e) = self.store.store_token(&device_id, role, token, scopes) {
            log::debug!("cannot cache the device token: {e}");
        }
    }

    /// Forget the token of `role` (the gateway no longer accepts it).
    pub fn forget(&mut self, role: &str) {
        let device_id = self.device_id();
        if let Err(e) = self.store.clear_token(&device_id, role) {
            log::debug!("cannot clear the cached device token: {e}");
        }
    }
}

/// The key of an old `device-ed25519.json`, if it holds a usable one.
fn load_legacy(path: &Path) -> Option<DeviceKey> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    let secret = hex32(value.get("secretKeyHex")?.as_str()?)?;
    Some(DeviceKey::from_secret(secret))
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Write `key` as the 'primary' identity, in the PEM form the reference
/// reads, unless a row appeared meanwhile (a concurrent reference CLI wins,
/// as in `load_or_create_identity`).
fn import(state_dir: &Path, key: &DeviceKey) -> Result<(), StoreError> {
    let path = database_path(state_dir);
    let sql_error = |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    };
    let conn = rusqlite::Connection::open(&path).map_err(sql_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
    let (public_pem, private_pem) = identity_pems(key);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    conn.execute(
        "INSERT INTO device_identities (identity_key, device_id, public_key_pem, private_key_pem, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (identity_key) DO NOTHING",
        rusqlite::params![PRIMARY_IDENTITY_KEY, key.device_id(), public_pem, private_pem, now],
    )
    .map_err(sql_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hex_parsing() {
        let bytes = [0xabu8; 32];
        assert_eq!(hex32(&to_hex(&bytes)), Some(bytes));
        assert_eq!(hex32("zz"), None);
    }

    #[test]
    fn the_identity_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = DeviceAuth::open_in(dir.path()).unwrap().device_id();
        let again = DeviceAuth::open_in(dir.path()).unwrap().device_id();
        assert_eq!(first, again);
        assert!(database_path(dir.path()).exists());
    }

    #[test]
    fn a_legacy_key_is_imported_when_the_store_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = DeviceKey::from_secret([7; 32]);
        std::fs::create_dir_all(dir.path().join("identity")).unwrap();
        std::fs::write(
            dir.path().join(LEGACY_FILE),
            serde_json::json!({"version": 1, "secretKeyHex": to_hex(&legacy.secret())}).to_string(),
        )
        .unwrap();
        let auth = DeviceAuth::open_in(dir.path()).unwrap();
        assert_eq!(auth.device_id(), legacy.device_id());
        // The store now holds it: what the reference CLI will read.
        let store = ClientIdentityStore::open(dir.path()).unwrap();
        assert_eq!(
            store.load_identity().unwrap().unwrap().device_id(),
            legacy.device_id()
        );
    }

    #[test]
    fn an_existing_store_identity_wins_over_a_legacy_file() {
        let dir = tempfile::tempdir().unwrap();
        let existing = DeviceAuth::open_in(dir.path()).unwrap().device_id();
        std::fs::create_dir_all(dir.path().join("identity")).unwrap();
        std::fs::write(
            dir.path().join(LEGACY_FILE),
            serde_json::json!({"secretKeyHex": to_hex(&[9; 32])}).to_string(),
        )
        .unwrap();
        assert_eq!(
            DeviceAuth::open_in(dir.path()).unwrap().device_id(),
            existing
        );
    }

    #[test]
    fn tokens_are_cached_per_role_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut auth = DeviceAuth::open_in(dir.path()).unwrap();
        assert_eq!(auth.cached_token("operator"), None);
        auth.remember("operator", "tok", &["operator.read".to_owned()]);
        let cached = auth.cached_token("operator").unwrap();
        assert_eq!(cached.token, "tok");
        assert_eq!(cached.scopes, vec!["operator.read".to_owned()]);
        assert_eq!(auth.cached_token("node"), None);
        auth.forget("operator");
        assert_eq!(auth.cached_token("operator"), None);
    }
}
