//! The pairing store at gateway start-up: our gateway creates or opens
//! `<stateDir>/state/openclaw.sqlite` and refuses (exit 1, file untouched)
//! one it must not use; the reference gateway adopts a file we created,
//! keeping our rows, and ours reads it back afterwards.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gateway_proto::gateway::pairing::{PairedDevice, PairingChange, PendingRequest};
use gateway_smol::store::{database_path, ClientIdentityStore, PairingStore};
use rusqlite::Connection;
use serde_json::Value;
use tests::process::{
    gateway_run_command, our_binary, reference_cli, run_with_timeout, GatewayOptions, OurGateway,
    ReferenceGateway,
};

fn tables(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_gateway_creates_the_store_at_start() {
    let gateway = OurGateway::start(GatewayOptions::default());
    let db = database_path(&gateway.dir.path().join("state"));
    assert!(
        db.is_file(),
        "no {}; output:\n{}",
        db.display(),
        gateway.output()
    );
    assert_eq!(
        tables(&db),
        [
            "device_auth_tokens",
            "device_bootstrap_tokens",
            "device_identities",
            "device_pairing_paired",
            "device_pairing_pending"
        ]
    );
}

/// Start our gateway on a state dir whose database is `contents`; it must
/// exit 1 naming the file, and leave it byte for byte as it was.
fn refused_at_start(contents: &[u8], expected: &str) {
    let home = tempfile::tempdir().unwrap();
    let db = database_path(&home.path().join("state"));
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, contents).unwrap();
    let mut cmd = gateway_run_command(&our_binary(), home.path(), 0, "t");
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), contents);
}

#[test]
fn a_database_that_is_not_one_stops_the_start() {
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
        .collect();
    refused_at_start(&garbage, "cannot use the state database");
}

#[test]
fn a_newer_schema_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v19.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 19;")
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    refused_at_start(&bytes, "schema version 19");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The notes' claim (§2.1), with the file our code writes: the reference
/// takes a file holding only our tables, migrates it to its schema and
/// keeps our rows; it lists our paired device, and ours reads the
/// migrated file back (our client identity included).
#[test]
fn the_reference_adopts_a_file_we_created() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let now = now_ms();
    let device = PairedDevice {
        device_id: "a".repeat(64),
        public_key: "wpGxDOg4k5-Bb83ngPmUzwNjjTKBjZcf2wmksiidb90".into(),
        display_name: Some("Made by ours".into()),
        platform: Some("linux".into()),
        client_id: Some("cli".into()),
        client_mode: Some("cli".into()),
        role: Some("operator".into()),
        roles: Some(vec!["operator".into()]),
        scopes: Some(vec!["operator.read".into()]),
        approved_scopes: Some(vec!["operator.read".into()]),
        approved_via: Some("owner".into()),
        created_at_ms: now,
        approved_at_ms: now,
        ..Default::default()
    };
    let pending = PendingRequest {
        request_id: "6d1f1b8e-3a53-4d5c-9a59-1d1c3f0b7e21".into(),
        device_id: "b".repeat(64),
        public_key: "g52sS1qYuy3z6YD0q3rNSDfe-drxsJ_ad6qOt3EzhgA".into(),
        role: Some("operator".into()),
        roles: Some(vec!["operator".into()]),
        scopes: Some(vec!["operator.read".into()]),
        silent: Some(false),
        is_repair: Some(false),
        ts: now,
        ..Default::default()
    };
    let mut store = PairingStore::open(&state).unwrap();
    store
        .apply(&[
            PairingChange::PutPaired(device.clone()),
            PairingChange::PutPending(pending.clone()),
        ])
        .unwrap();
    drop(store);
    let key = ClientIdentityStore::open(&state)
        .unwrap()
        .load_or_create_identity()
        .unwrap();
    let db = database_path(&state);
    let Some(mut reference) = ReferenceGateway::start_in("v4", "interop-token", home) else {
        return;
    };
    let port = reference.port.to_string();
    let out = cli.run(
        reference.dir.path(),
        &["devices", "list", "--json"],
        &[
            ("OPENCLAW_GATEWAY_PORT", &port),
            ("OPENCLAW_GATEWAY_TOKEN", "interop-token"),
        ],
        Duration::from_secs(60),
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "devices list --json ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let paired = listed["paired"].as_array().expect("paired list");
    assert!(
        paired
            .iter()
            .any(|d| d["deviceId"] == device.device_id.as_str()
                && d["displayName"] == "Made by ours"),
        "{listed:#}"
    );
    let pending_list = listed["pending"].as_array().expect("pending list");
    assert!(
        pending_list
            .iter()
            .any(|p| p["requestId"] == pending.request_id.as_str()),
        "{listed:#}"
    );
    reference.stop();
    // The reference migrated the file to its full schema...
    let version: i64 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 18);
    assert!(tables(&db).len() > 50);
    // ...and ours still reads every row of it.
    let snapshot = PairingStore::open(&state).unwrap().load().unwrap();
    assert!(snapshot
        .paired
        .iter()
        .any(|d| d.device_id == device.device_id));
    assert!(snapshot
        .pending
        .iter()
        .any(|p| p.request_id == pending.request_id));
    let again = ClientIdentityStore::open(&state)
        .unwrap()
        .load_identity()
        .unwrap()
        .expect("identity kept");
    assert_eq!(again.device_id(), key.device_id());
}
