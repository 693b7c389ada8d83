//! One-time bootstrap tokens in `device_bootstrap_tokens`, as the
//! reference keeps them: the CLI on the gateway host issues one (a row
//! keyed by the token itself), and the gateway spends it when a device
//! presents it, reading and deleting the row in one transaction.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gateway_proto::gateway::pairing::bootstrap::BOOTSTRAP_TOKEN_TTL_MS;
use gateway_proto::gateway::pairing::BootstrapProfile;
use rusqlite::OptionalExtension;

use super::rows::integer;
use super::{PairingStore, StoreError};

/// A token just written to the store, and when it stops being good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedBootstrapToken {
    pub token: String,
    pub expires_at_ms: u64,
}

impl PairingStore {
    /// Write a new one-time token carrying `profile`, issued at `now_ms`,
    /// and drop the rows that expired (as the reference does on issue).
    /// The token is 32 bytes from the OS's random source, in base64url.
    pub fn issue_bootstrap_token(
        &mut self,
        profile: &BootstrapProfile,
        now_ms: u64,
    ) -> Result<IssuedBootstrapToken, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Io {
            path: self.path().to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let profile_json = serde_json::to_string(&profile.normalized())
            .expect("a profile of strings always serializes");
        let redeemed_json = serde_json::to_string(&BootstrapProfile::default())
            .expect("a profile of strings always serializes");
        let path = self.db.path.clone();
        let oldest = integer(
            &path,
            "issued_at_ms",
            now_ms.saturating_sub(BOOTSTRAP_TOKEN_TTL_MS),
        )?;
        let now = integer(&path, "issued_at_ms", now_ms)?;
        self.db.write(|tx, sql_error| {
            tx.execute(
                "DELETE FROM device_bootstrap_tokens WHERE issued_at_ms < ?1",
                [oldest],
            )
            .map_err(sql_error)?;
            tx.execute(
                "INSERT INTO device_bootstrap_tokens
                   (token_key, token, ts, profile_json, redeemed_profile_json, issued_at_ms)
                 VALUES (?1, ?1, ?2, ?3, ?4, ?2)",
                rusqlite::params![token, now, profile_json, redeemed_json],
            )
            .map_err(sql_error)
        })?;
        Ok(IssuedBootstrapToken {
            token,
            expires_at_ms: now_ms.saturating_add(BOOTSTRAP_TOKEN_TTL_MS),
        })
    }

    /// Spend `token`: in one `BEGIN IMMEDIATE` transaction, find its row
    /// issued at or after `oldest_issued_at_ms`, delete it, and return its
    /// profile. `None` for a token that is unknown, expired or already
    /// spent (an expired row is deleted too). Once this returns `Ok(Some)`
    /// no other caller, in this process or another, can spend it again.
    pub fn redeem_bootstrap_token(
        &mut self,
        token: &str,
        oldest_issued_at_ms: u64,
    ) -> Result<Option<BootstrapProfile>, StoreError> {
        let row: Option<(Option<String>, i64)> = self.db.write(|tx, sql_error| {
            let row = tx
                .query_row(
                    "SELECT profile_json, issued_at_ms FROM device_bootstrap_tokens WHERE token_key = ?1",
                    [token],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(sql_error)?;
            if row.is_some() {
                tx.execute(
                    "DELETE FROM device_bootstrap_tokens WHERE token_key = ?1",
                    [token],
                )
                .map_err(sql_error)?;
            }
            Ok(row)
        })?;
        let Some((profile_json, issued_at_ms)) = row else {
            return Ok(None);
        };
        if u64::try_from(issued_at_ms).map_or(true, |at| at < oldest_issued_at_ms) {
            return Ok(None);
        }
        // A row without a readable profile hands over nothing.
        let profile = profile_json
            .and_then(|json: String| serde_json::from_str::<BootstrapProfile>(&json).ok())
            .unwrap_or_default();
        Ok(Some(profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn a_token_is_spent_once_and_only_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PairingStore::open(dir.path()).unwrap();
        let owner = BootstrapProfile::control_ui_owner();
        let issued = store.issue_bootstrap_token(&owner, NOW).unwrap();
        assert_eq!(issued.expires_at_ms, NOW + BOOTSTRAP_TOKEN_TTL_MS);
        assert_eq!(issued.token.len(), 43, "32 bytes in base64url");

        // Another process (a second opener) sees the same row and spends it.
        let mut other = PairingStore::open(dir.path()).unwrap();
        let oldest = NOW + 1000 - BOOTSTRAP_TOKEN_TTL_MS;
        assert_eq!(
            other.redeem_bootstrap_token(&issued.token, oldest).unwrap(),
            Some(owner.clone())
        );
        assert_eq!(
            store.redeem_bootstrap_token(&issued.token, oldest).unwrap(),
            None
        );

        // Presented after its ten minutes: refused, and gone.
        let late = store.issue_bootstrap_token(&owner, NOW).unwrap();
        assert_eq!(
            store.redeem_bootstrap_token(&late.token, NOW + 1).unwrap(),
            None
        );
        assert_eq!(
            store.redeem_bootstrap_token(&late.token, NOW).unwrap(),
            None
        );
    }

    #[test]
    fn issuing_stores_the_reference_row_and_prunes_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PairingStore::open(dir.path()).unwrap();
        let owner = BootstrapProfile::control_ui_owner();
        let stale = store.issue_bootstrap_token(&owner, NOW).unwrap();
        let fresh = store
            .issue_bootstrap_token(&owner, NOW + BOOTSTRAP_TOKEN_TTL_MS + 1)
            .unwrap();
        let conn = rusqlite::Connection::open(store.path()).unwrap();
        let rows: Vec<(String, String, i64, String, String, i64)> = conn
            .prepare("SELECT token_key, token, ts, profile_json, redeemed_profile_json, issued_at_ms FROM device_bootstrap_tokens")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 1, "the expired row was pruned: {rows:?}");
        let (key, token, ts, profile, redeemed, issued) = &rows[0];
        assert_eq!((key, token), (&fresh.token, &fresh.token));
        assert_ne!(key, &stale.token);
        assert_eq!(*ts as u64, NOW + BOOTSTRAP_TOKEN_TTL_MS + 1);
        assert_eq!(ts, issued);
        assert_eq!(profile, &serde_json::to_string(&owner).unwrap());
        assert_eq!(redeemed, r#"{"roles":[],"scopes":[]}"#);
    }
}
