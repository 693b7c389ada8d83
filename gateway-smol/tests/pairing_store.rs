//! The SQLite state store on real files: round trips of every change, the
//! reference's own file, refusal of files we must not touch, the client
//! identity, and crash safety under `kill -9`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gateway_proto::gateway::pairing::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
use gateway_smol::store::{
    database_path, identity_pems, ClientIdentityStore, PairingStore, StoreError,
};
use rusqlite::Connection;
use serde_json::json;

/// Made by the reference 2026.9.6 (see fixtures/make-reference-fixture.sh).
const REFERENCE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference-2026.9.6.sqlite"
);

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn full_pending(id: &str) -> PendingRequest {
    PendingRequest {
        request_id: id.into(),
        device_id: format!("dev-of-{id}"),
        public_key: "cHVibGljLWtleQ".into(),
        display_name: Some("Remote Mac".into()),
        platform: Some("macos".into()),
        device_family: Some("Mac".into()),
        client_id: Some("openclaw-macos".into()),
        client_mode: Some("ui".into()),
        browser_origin: Some("https://example.test".into()),
        role: Some("operator".into()),
        roles: Some(strings(&["operator"])),
        scopes: Some(strings(&["operator.read", "operator.write"])),
        remote_ip: Some("192.0.2.2".into()),
        silent: Some(false),
        is_repair: Some(true),
        ts: 1_795_739_627_248,
        refreshed_at_ms: Some(1_795_739_627_999),
    }
}

fn minimal_pending(id: &str) -> PendingRequest {
    PendingRequest {
        request_id: id.into(),
        device_id: format!("dev-of-{id}"),
        public_key: "a2V5".into(),
        ts: 7,
        ..Default::default()
    }
}

fn token(role: &str) -> DeviceTokenRecord {
    let mut extra = serde_json::Map::new();
    extra.insert("futureField".into(), json!({"kept": [1, 2]}));
    DeviceTokenRecord {
        token: format!("tok-{role}"),
        role: role.into(),
        scopes: strings(&["operator.read"]),
        issuer: Some(json!({"kind": "gateway", "generation": 3})),
        created_at_ms: 10,
        rotated_at_ms: Some(11),
        revoked_at_ms: Some(12),
        last_used_at_ms: Some(13),
        extra,
    }
}

fn full_paired(id: &str) -> PairedDevice {
    PairedDevice {
        device_id: id.into(),
        public_key: "cHVi".into(),
        display_name: Some("Phone".into()),
        operator_label: Some("Kitchen phone".into()),
        platform: Some("ios".into()),
        device_family: Some("iPhone".into()),
        client_id: Some("openclaw-ios".into()),
        client_mode: Some("node".into()),
        browser_origin: Some("https://ui.test".into()),
        role: Some("node".into()),
        roles: Some(strings(&["node", "operator"])),
        scopes: Some(strings(&["operator.read"])),
        approved_scopes: Some(strings(&["operator.read", "operator.write"])),
        remote_ip: Some("198.51.100.7".into()),
        tokens: Some(BTreeMap::from([
            ("node".to_string(), token("node")),
            ("operator".to_string(), token("operator")),
        ])),
        approved_via: Some("owner".into()),
        node_surface: Some(json!({"commands": ["camera.snap"], "caps": {"x": true}})),
        pending_node_surface: Some(json!({"commands": []})),
        created_at_ms: 100,
        approved_at_ms: 200,
        last_seen_at_ms: Some(300),
        last_seen_reason: Some("connect".into()),
    }
}

fn minimal_paired(id: &str) -> PairedDevice {
    PairedDevice {
        device_id: id.into(),
        public_key: "cA".into(),
        created_at_ms: 1,
        approved_at_ms: 2,
        ..Default::default()
    }
}

fn reopen_and_load(state: &Path) -> PairingSnapshot {
    PairingStore::open(state).unwrap().load().unwrap()
}

/// Copy the reference fixture into a fresh state dir.
fn state_with_reference_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::copy(REFERENCE_FIXTURE, &db).unwrap();
    (dir, db)
}

/// `(type, name, sql)` of every schema object, sorted.
fn schema_of(db: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn pragma_i64(db: &Path, pragma: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_fresh_file_holds_our_tables_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = PairingStore::open(dir.path()).unwrap();
    let db = database_path(dir.path());
    assert_eq!(store.path(), db);
    drop(store);
    let objects: Vec<(String, String)> = schema_of(&db)
        .into_iter()
        .filter(|(_, name, _)| !name.starts_with("sqlite_"))
        .map(|(kind, name, _)| (kind, name))
        .collect();
    let expected: Vec<(String, String)> = [
        ("index", "idx_device_auth_tokens_updated"),
        ("index", "idx_device_bootstrap_tokens_ts"),
        ("index", "idx_device_identities_device"),
        ("index", "idx_device_pairing_paired_approved"),
        ("index", "idx_device_pairing_pending_device"),
        ("table", "device_auth_tokens"),
        ("table", "device_bootstrap_tokens"),
        ("table", "device_identities"),
        ("table", "device_pairing_paired"),
        ("table", "device_pairing_pending"),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), n.to_string()))
    .collect();
    assert_eq!(objects, expected);
    // The version markers are the reference's to set when it migrates the file.
    assert_eq!(pragma_i64(&db, "user_version"), 0);
    let mode: String = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // STRICT, as the reference declares them.
    for (_, name, sql) in schema_of(&db) {
        if name.starts_with("device_") {
            assert!(sql.unwrap().trim_end().ends_with("STRICT"), "{name}");
        }
    }
    let dir_mode = std::fs::metadata(db.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let file_mode = std::fs::metadata(&db).unwrap().permissions().mode();
    assert_eq!(file_mode & 0o777, 0o600);
}

#[test]
fn every_change_round_trips_through_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[
            PairingChange::PutPending(full_pending("req-full")),
            PairingChange::PutPending(minimal_pending("req-min")),
            PairingChange::PutPaired(full_paired("dev-full")),
            PairingChange::PutPaired(minimal_paired("dev-min")),
        ])
        .unwrap();
    drop(store);
    let loaded = reopen_and_load(dir.path());
    assert_eq!(
        loaded.pending,
        vec![minimal_pending("req-min"), full_pending("req-full")]
    );
    assert_eq!(
        loaded.paired,
        vec![minimal_paired("dev-min"), full_paired("dev-full")]
    );

    // Put over an existing key replaces the row; deletes remove one row each.
    let mut changed = full_paired("dev-min");
    changed.operator_label = None;
    changed.tokens = None;
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[
            PairingChange::DeletePending {
                request_id: "req-full".into(),
            },
            PairingChange::PutPaired(changed.clone()),
            PairingChange::DeletePaired {
                device_id: "dev-full".into(),
            },
            PairingChange::PutPending(full_pending("req-min")),
            // Deleting what is not there is not an error.
            PairingChange::DeletePaired {
                device_id: "never-paired".into(),
            },
        ])
        .unwrap();
    drop(store);
    let loaded = reopen_and_load(dir.path());
    assert_eq!(loaded.pending, vec![full_pending("req-min")]);
    assert_eq!(loaded.paired, vec![changed]);
}

#[test]
fn rows_are_written_with_the_reference_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[
            PairingChange::PutPending(full_pending("r1")),
            PairingChange::PutPending(minimal_pending("r2")),
            PairingChange::PutPaired(full_paired("d1")),
        ])
        .unwrap();
    drop(store);
    let conn = Connection::open(database_path(dir.path())).unwrap();
    let (roles, scopes, silent, repair, refreshed): (String, String, i64, i64, i64) = conn
        .query_row(
            "SELECT roles_json, scopes_json, silent, is_repair, refreshed_at_ms FROM device_pairing_pending WHERE request_id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    // JSON.stringify's compact text, booleans as 0/1.
    assert_eq!(roles, r#"["operator"]"#);
    assert_eq!(scopes, r#"["operator.read","operator.write"]"#);
    assert_eq!((silent, repair, refreshed), (0, 1, 1_795_739_627_999));
    // Absent fields are NULL, not empty strings or "null".
    let nulls: i64 = conn
        .query_row(
            "SELECT (display_name IS NULL) + (roles_json IS NULL) + (scopes_json IS NULL) + (silent IS NULL) + (is_repair IS NULL) + (refreshed_at_ms IS NULL) + (browser_origin IS NULL) FROM device_pairing_pending WHERE request_id = 'r2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(nulls, 7);
    let tokens: String = conn
        .query_row(
            "SELECT tokens_json FROM device_pairing_paired WHERE device_id = 'd1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    assert_eq!(tokens["operator"]["createdAtMs"], 10);
    assert_eq!(tokens["operator"]["futureField"], json!({"kept": [1, 2]}));
    assert_eq!(tokens["node"]["issuer"]["generation"], 3);
}

#[test]
fn a_failing_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[PairingChange::PutPaired(minimal_paired("kept"))])
        .unwrap();
    let mut too_big = minimal_pending("too-big");
    too_big.ts = u64::MAX;
    let err = store
        .apply(&[
            PairingChange::DeletePaired {
                device_id: "kept".into(),
            },
            PairingChange::PutPending(minimal_pending("fine")),
            PairingChange::PutPending(too_big),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::BadValue { .. }), "{err}");
    drop(store);
    let loaded = reopen_and_load(dir.path());
    assert_eq!(loaded.paired, vec![minimal_paired("kept")]);
    assert!(loaded.pending.is_empty());
}

#[test]
fn the_reference_gateway_file_is_read() {
    let (dir, _db) = state_with_reference_file();
    let loaded = reopen_and_load(dir.path());
    assert_eq!(loaded.pending.len(), 1, "{loaded:?}");
    let phone = &loaded.pending[0];
    assert_eq!(phone.display_name.as_deref(), Some("Phone"));
    assert_eq!(phone.role.as_deref(), Some("node"));
    assert_eq!(phone.roles, Some(strings(&["node"])));
    assert_eq!(phone.scopes, Some(vec![]));
    assert_eq!(phone.remote_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!((phone.silent, phone.is_repair), (Some(false), Some(false)));
    assert_eq!(phone.device_family, None);
    assert_eq!(phone.refreshed_at_ms, None);
    assert_eq!(phone.device_id.len(), 64);

    assert_eq!(loaded.paired.len(), 1, "{loaded:?}");
    let mac = &loaded.paired[0];
    assert_eq!(mac.display_name.as_deref(), Some("Remote Mac"));
    assert_eq!(mac.approved_via.as_deref(), Some("owner"));
    assert_eq!(
        mac.approved_scopes,
        Some(strings(&["operator.read", "operator.write"]))
    );
    let tokens = mac.tokens.as_ref().unwrap();
    let operator = &tokens["operator"];
    assert_eq!(operator.role, "operator");
    assert_eq!(operator.token.len(), 43);
    assert_eq!(operator.created_at_ms, mac.approved_at_ms);
    assert_eq!(mac.operator_label, None);
    assert_eq!(mac.last_seen_at_ms, None);

    // A row we write back is read back the same by us (and by the reference:
    // the columns and encodings are the ones it wrote).
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[PairingChange::PutPaired(mac.clone())])
        .unwrap();
    assert_eq!(store.load().unwrap(), loaded);
}

#[test]
fn a_reference_file_is_not_altered_other_than_our_rows() {
    let (dir, db) = state_with_reference_file();
    let before_bytes = std::fs::read(&db).unwrap();
    let schema_before = schema_of(&db);
    // Every row of the reference's version markers, every column.
    let meta = |db: &Path| -> Vec<Vec<rusqlite::types::Value>> {
        let conn = Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT * FROM schema_meta ORDER BY 1")
            .unwrap();
        let columns = stmt.column_count();
        stmt.query_map([], |r| (0..columns).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let meta_before = meta(&db);
    assert_eq!(pragma_i64(&db, "user_version"), 18);
    assert!(!meta_before.is_empty());
    // Re-read the copy: `schema_of` itself must not have written anything.
    assert_eq!(std::fs::read(&db).unwrap(), before_bytes);

    // Opening and loading writes nothing at all.
    let store = PairingStore::open(dir.path()).unwrap();
    store.load().unwrap();
    drop(store);
    assert_eq!(std::fs::read(&db).unwrap(), before_bytes);

    // Writes change our rows only: same schema objects, version, markers.
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[
            PairingChange::PutPaired(full_paired("ours")),
            PairingChange::PutPending(full_pending("ours-req")),
        ])
        .unwrap();
    drop(store);
    assert_eq!(schema_of(&db), schema_before);
    assert_eq!(pragma_i64(&db, "user_version"), 18);
    assert_eq!(meta(&db), meta_before);
    let integrity: String = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// A database with `user_version` = `version` and one unrelated table.
fn foreign_database(path: &Path, version: i64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE other (x INTEGER); INSERT INTO other VALUES (42); PRAGMA user_version = {version};"
    ))
    .unwrap();
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    foreign_database(&db, 19);
    let before = std::fs::read(&db).unwrap();
    let err = PairingStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 19,
                known: 18,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains("19"), "{message}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // The client side refuses it the same way.
    assert!(ClientIdentityStore::open(dir.path()).is_err());
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!db.with_extension("sqlite-wal").exists());
}

#[test]
fn a_newer_content_version_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    foreign_database(&db, 18);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE config_machine_state (state_key TEXT PRIMARY KEY, value_json TEXT);
             INSERT INTO config_machine_state VALUES ('state.schema.contentVersion', '20');",
        )
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = PairingStore::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 20, .. }), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..16384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    let err = PairingStore::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn an_existing_file_without_our_tables_gets_them_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    foreign_database(&db, 18);
    let mut store = PairingStore::open(dir.path()).unwrap();
    store
        .apply(&[PairingChange::PutPending(minimal_pending("r"))])
        .unwrap();
    drop(store);
    assert_eq!(pragma_i64(&db, "user_version"), 18);
    let other: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT x FROM other", [], |r| r.get(0))
        .unwrap();
    assert_eq!(other, 42);
    assert_eq!(
        reopen_and_load(dir.path()).pending,
        vec![minimal_pending("r")]
    );
}

#[test]
fn an_older_layout_missing_a_column_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_path(dir.path());
    foreign_database(&db, 12);
    // The pending table before `refreshed_at_ms` was added.
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE device_pairing_pending (request_id TEXT NOT NULL PRIMARY KEY,
               device_id TEXT NOT NULL, public_key TEXT NOT NULL, display_name TEXT,
               platform TEXT, device_family TEXT, client_id TEXT, client_mode TEXT,
               browser_origin TEXT, role TEXT, roles_json TEXT, scopes_json TEXT,
               remote_ip TEXT, silent INTEGER, is_repair INTEGER, ts INTEGER NOT NULL) STRICT;",
        )
        .unwrap();
    let err = PairingStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::MissingColumn {
                column: "refreshed_at_ms",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_reference_client_identity_and_token_are_read() {
    let (dir, db) = state_with_reference_file();
    let store = ClientIdentityStore::open(dir.path()).unwrap();
    let key = store.load_identity().unwrap().expect("reference identity");
    let (device_id, public_pem, private_pem): (String, String, String) = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT device_id, public_key_pem, private_key_pem FROM device_identities WHERE identity_key = 'primary'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(key.device_id(), device_id);
    // Our PEM texts are byte for byte what Node's crypto wrote.
    assert_eq!(identity_pems(&key), (public_pem, private_pem));

    let cached = store
        .cached_token(&device_id, "operator")
        .unwrap()
        .expect("reference token");
    assert_eq!(cached.token, "cached-token-from-reference");
    assert_eq!(
        cached.scopes,
        strings(&["operator.admin", "operator.read", "operator.write"])
    );
    assert!(store.cached_token(&device_id, "node").unwrap().is_none());
}

#[test]
fn the_client_identity_is_created_once_in_the_reference_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ClientIdentityStore::open(dir.path()).unwrap();
    assert!(store.load_identity().unwrap().is_none());
    let key = store.load_or_create_identity().unwrap();
    drop(store);
    let mut store = ClientIdentityStore::open(dir.path()).unwrap();
    let again = store.load_or_create_identity().unwrap();
    assert_eq!(again.secret(), key.secret());

    let db = database_path(dir.path());
    let (device_id, public_pem, private_pem, created, updated): (String, String, String, i64, i64) =
        Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT device_id, public_key_pem, private_key_pem, created_at_ms, updated_at_ms FROM device_identities WHERE identity_key = 'primary'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
    assert_eq!(device_id, key.device_id());
    // Node's shapes: one base64 line between the armour lines, LF endings.
    let lines: Vec<&str> = public_pem.lines().collect();
    assert_eq!(lines.len(), 3, "{public_pem}");
    assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
    assert!(lines[1].starts_with("MCowBQYDK2VwAyEA"), "{public_pem}");
    assert_eq!(lines[2], "-----END PUBLIC KEY-----");
    assert!(public_pem.ends_with("-----\n") && !public_pem.contains('\r'));
    let lines: Vec<&str> = private_pem.lines().collect();
    assert_eq!(lines.len(), 3, "{private_pem}");
    assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
    // PKCS#8 v1 with no public key inside: 48 DER bytes.
    assert!(
        lines[1].starts_with("MC4CAQAwBQYDK2VwBCIEI"),
        "{private_pem}"
    );
    assert_eq!(lines[1].len(), 64);
    assert_eq!(lines[2], "-----END PRIVATE KEY-----");
    assert!(created > 1_700_000_000_000 && created == updated);
}

#[test]
fn a_broken_client_identity_is_an_error_not_replaced() {
    let (dir, db) = state_with_reference_file();
    Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE device_identities SET device_id = ?1 WHERE identity_key = 'primary'",
            ["0".repeat(64)],
        )
        .unwrap();
    let mut store = ClientIdentityStore::open(dir.path()).unwrap();
    let err = store.load_or_create_identity().expect_err("refused");
    assert!(matches!(err, StoreError::BadIdentity { .. }), "{err}");
    let still: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT device_id FROM device_identities WHERE identity_key = 'primary'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(still, "0".repeat(64));
}

#[test]
fn client_tokens_are_stored_replaced_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ClientIdentityStore::open(dir.path()).unwrap();
    assert!(store.cached_token("dev", "operator").unwrap().is_none());
    let stored = store
        .store_token(
            "dev",
            " operator ",
            "t1",
            &strings(&["operator.write", " "]),
        )
        .unwrap();
    assert_eq!(stored.role, "operator");
    assert_eq!(stored.scopes, strings(&["operator.read", "operator.write"]));
    store.store_token("dev", "node", "n1", &[]).unwrap();
    store
        .store_token("dev", "operator", "t2", &strings(&["operator.read"]))
        .unwrap();
    drop(store);
    let mut store = ClientIdentityStore::open(dir.path()).unwrap();
    let cached = store.cached_token("dev", "operator").unwrap().unwrap();
    assert_eq!(
        (cached.token.as_str(), cached.scopes.clone()),
        ("t2", strings(&["operator.read"]))
    );
    let scopes_json: String = Connection::open(database_path(dir.path()))
        .unwrap()
        .query_row(
            "SELECT scopes_json FROM device_auth_tokens WHERE device_id = 'dev' AND role = 'operator'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(scopes_json, r#"["operator.read"]"#);
    assert!(store.clear_token("dev", "operator").unwrap());
    assert!(!store.clear_token("dev", "operator").unwrap());
    assert!(store.cached_token("dev", "operator").unwrap().is_none());
    assert_eq!(
        store.cached_token("dev", "node").unwrap().unwrap().token,
        "n1"
    );
}
