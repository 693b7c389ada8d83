//! The client's side of the store (what the `openclaw` CLI keeps): its own
//! Ed25519 identity and the device tokens gateways gave it. The rows are the
//! reference CLI's, so a device paired once is the same device for both CLIs.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use gateway_proto::client::DeviceKey;
use rusqlite::OptionalExtension;

use super::rows::RowReader;
use super::schema::{self, Database};
use super::StoreError;

/// The row the reference CLI and gateway use for this machine's identity.
pub const PRIMARY_IDENTITY_KEY: &str = "primary";

/// A device token cached for one (device, role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedDeviceToken {
    pub token: String,
    pub role: String,
    /// Sorted, deduplicated, with implied operator scopes added (as stored).
    pub scopes: Vec<String>,
    pub updated_at_ms: u64,
}

/// `device_identities` and `device_auth_tokens` of one state dir.
pub struct ClientIdentityStore {
    db: Database,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The reference's scope normalization for cached tokens: trimmed, empty
/// ones dropped, `operator.admin` implies read and write, `operator.write`
/// implies read; sorted and deduplicated.
pub fn normalize_token_scopes(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let has = |out: &Vec<String>, s: &str| out.iter().any(|x| x == s);
    if has(&out, "operator.admin") {
        out.push("operator.read".into());
        out.push("operator.write".into());
    } else if has(&out, "operator.write") {
        out.push("operator.read".into());
    }
    out.sort();
    out.dedup();
    out
}

/// The PEM texts Node's `crypto` writes for an Ed25519 key pair: SPKI
/// public key and PKCS#8 v1 private key (no public key inside), LF line ends.
pub fn identity_pems(key: &DeviceKey) -> (String, String) {
    let signing = SigningKey::from_bytes(&key.secret());
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 public key always encodes");
    let private = KeypairBytes {
        secret_key: key.secret(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .expect("an Ed25519 private key always encodes");
    (public, private.to_string())
}

impl ClientIdentityStore {
    /// Open (or create, with only our tables) `<stateDir>/state/openclaw.sqlite`.
    pub fn open(state_dir: &Path) -> Result<ClientIdentityStore, StoreError> {
        Ok(ClientIdentityStore {
            db: schema::open(state_dir)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.db.path
    }

    fn bad_identity(&self, why: impl Into<String>) -> StoreError {
        StoreError::BadIdentity {
            path: self.db.path.clone(),
            key: PRIMARY_IDENTITY_KEY.to_owned(),
            why: why.into(),
        }
    }

    /// The stored identity, validated as the reference validates it (a
    /// matching key pair whose fingerprint is the device id); `None` when
    /// there is no row.
    pub fn load_identity(&self) -> Result<Option<DeviceKey>, StoreError> {
        let db = &self.db;
        let row = db
            .conn
            .query_row(
                "SELECT device_id, public_key_pem, private_key_pem FROM device_identities WHERE identity_key = ?1",
                [PRIMARY_IDENTITY_KEY],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| db.sql_error(e))?;
        let Some((device_id, public_pem, private_pem)) = row else {
            return Ok(None);
        };
        let signing = SigningKey::from_pkcs8_pem(&private_pem)
            .map_err(|e| self.bad_identity(format!("private key: {e}")))?;
        let public = VerifyingKey::from_public_key_pem(&public_pem)
            .map_err(|e| self.bad_identity(format!("public key: {e}")))?;
        if signing.verifying_key() != public {
            return Err(self.bad_identity("the public key does not match the private key"));
        }
        let key = DeviceKey::from_secret(signing.to_bytes());
        if key.device_id() != device_id {
            return Err(self.bad_identity("the device id is not the public key's fingerprint"));
        }
        Ok(Some(key))
    }

    /// This machine's identity, created on first use. A concurrent creator
    /// (the reference CLI) wins: its row is the one returned.
    pub fn load_or_create_identity(&mut self) -> Result<DeviceKey, StoreError> {
        if let Some(key) = self.load_identity()? {
            return Ok(key);
        }
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| StoreError::Random(e.to_string()))?;
        let key = DeviceKey::from_secret(secret);
        let (public_pem, private_pem) = identity_pems(&key);
        let now = ms(now_ms());
        self.db.write(|tx, sql_error| {
            tx.execute(
                "INSERT INTO device_identities (identity_key, device_id, public_key_pem, private_key_pem, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (identity_key) DO NOTHING",
                rusqlite::params![PRIMARY_IDENTITY_KEY, key.device_id(), public_pem, private_pem, now],
            )
            .map_err(sql_error)
        })?;
        self.load_identity()?
            .ok_or_else(|| self.bad_identity("the row was not there after it was written"))
    }

    /// The token cached for (`device_id`, `role`), if any. A row whose
    /// scopes are not a JSON list reads as absent, as in the reference.
    pub fn cached_token(
        &self,
        device_id: &str,
        role: &str,
    ) -> Result<Option<CachedDeviceToken>, StoreError> {
        let db = &self.db;
        let role = role.trim();
        let mut stmt = db
            .conn
            .prepare_cached(
                "SELECT token, role, scopes_json, updated_at_ms FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2",
            )
            .map_err(|e| db.sql_error(e))?;
        let mut rows = stmt.query([device_id, role]).map_err(|e| db.sql_error(e))?;
        let Some(row) = rows.next().map_err(|e| db.sql_error(e))? else {
            return Ok(None);
        };
        let r = RowReader {
            row,
            path: &db.path,
            table: "device_auth_tokens",
            key: format!("{device_id}/{role}"),
        };
        let Ok(scopes) = serde_json::from_str::<Vec<serde_json::Value>>(&r.text("scopes_json")?)
        else {
            return Ok(None);
        };
        let scopes: Vec<String> = scopes
            .into_iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        Ok(Some(CachedDeviceToken {
            token: r.text("token")?,
            role: r.text("role")?,
            scopes: normalize_token_scopes(&scopes),
            updated_at_ms: r.time("updated_at_ms")?,
        }))
    }

    /// Cache `token` for (`device_id`, `role`), replacing any earlier one.
    pub fn store_token(
        &mut self,
        device_id: &str,
        role: &str,
        token: &str,
        scopes: &[String],
    ) -> Result<CachedDeviceToken, StoreError> {
        let entry = CachedDeviceToken {
            token: token.to_owned(),
            role: role.trim().to_owned(),
            scopes: normalize_token_scopes(scopes),
            updated_at_ms: now_ms(),
        };
        let scopes_json = serde_json::to_string(&entry.scopes).expect("strings serialize");
        let db = &self.db;
        db.conn
            .execute(
                "INSERT INTO device_auth_tokens (device_id, role, token, scopes_json, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (device_id, role) DO UPDATE SET
                   token = excluded.token, scopes_json = excluded.scopes_json,
                   updated_at_ms = excluded.updated_at_ms",
                rusqlite::params![device_id, entry.role, entry.token, scopes_json, ms(entry.updated_at_ms)],
            )
            .map_err(|e| db.sql_error(e))?;
        Ok(entry)
    }

    /// Forget the token of (`device_id`, `role`); whether there was one.
    pub fn clear_token(&mut self, device_id: &str, role: &str) -> Result<bool, StoreError> {
        let db = &self.db;
        let n = db
            .conn
            .execute(
                "DELETE FROM device_auth_tokens WHERE device_id = ?1 AND role = ?2",
                [device_id, role.trim()],
            )
            .map_err(|e| db.sql_error(e))?;
        Ok(n > 0)
    }
}
