//! Crash safety of the pairing store: a child process applies pairing
//! writes in a loop and prints `committed N` after each `apply` returns; it
//! is killed with SIGKILL at a random instant, over and over. After every
//! kill the store must open, pass `PRAGMA integrity_check`, hold every write
//! the child reported, and hold each write whole (never half of one).
//!
//! Kills: 100 by default, within 60 s in all (a busy machine stops early
//! and says so); `OPENCLAW_CRASH_LOOPS=N` asks for N, within 500 ms a kill.
//! `OPENCLAW_CRASH_LOOPS=1000 cargo test -p gateway-smol --release --test
//! pairing_store_crash -- --nocapture` is the long run.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gateway_proto::gateway::pairing::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
use gateway_smol::store::{database_path, PairingStore};

/// Set (to the state dir) in the child: run the write loop instead of a test.
const CHILD_ENV: &str = "OPENCLAW_STORE_CRASH_CHILD";
const LOOPS_ENV: &str = "OPENCLAW_CRASH_LOOPS";
const TIME_BUDGET: Duration = Duration::from_secs(60);
const TIME_PER_KILL: Duration = Duration::from_millis(500);

/// The row every write updates: its `last_seen_at_ms` is the write's number.
const COUNTER: &str = "counter";

fn device_id(seq: u64) -> String {
    format!("dev-{seq:08}")
}

fn request_id(seq: u64) -> String {
    format!("req-{seq:08}")
}

/// Write `seq`: a new paired device with a token, the counter row replaced,
/// the previous pending request replaced by this one, and (every tenth) an
/// older device removed. A half-applied write breaks one of the checks.
fn changes(seq: u64) -> Vec<PairingChange> {
    let token = DeviceTokenRecord {
        token: format!("token-{seq}"),
        role: "operator".into(),
        scopes: vec!["operator.read".into()],
        created_at_ms: seq,
        ..Default::default()
    };
    let mut out = vec![
        PairingChange::PutPaired(PairedDevice {
            device_id: device_id(seq),
            public_key: format!("key-{seq}"),
            display_name: Some(format!("device {seq}")),
            roles: Some(vec!["operator".into()]),
            tokens: Some(BTreeMap::from([("operator".to_string(), token)])),
            created_at_ms: seq,
            approved_at_ms: seq,
            ..Default::default()
        }),
        PairingChange::PutPaired(PairedDevice {
            device_id: COUNTER.into(),
            public_key: "counter".into(),
            created_at_ms: 0,
            approved_at_ms: 0,
            last_seen_at_ms: Some(seq),
            ..Default::default()
        }),
        PairingChange::DeletePending {
            request_id: request_id(seq.saturating_sub(1)),
        },
        PairingChange::PutPending(PendingRequest {
            request_id: request_id(seq),
            device_id: device_id(seq),
            public_key: format!("key-{seq}"),
            ts: seq,
            ..Default::default()
        }),
    ];
    if seq % 10 == 0 {
        out.push(PairingChange::DeletePaired {
            device_id: device_id(seq - 5),
        });
    }
    out
}

/// The last write in the store (0: none).
fn last_write(snapshot: &PairingSnapshot) -> u64 {
    snapshot
        .paired
        .iter()
        .find(|d| d.device_id == COUNTER)
        .and_then(|d| d.last_seen_at_ms)
        .unwrap_or(0)
}

/// The child: write forever from where the store stands.
#[test]
fn crash_child() {
    let Ok(state_dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = PairingStore::open(Path::new(&state_dir)).expect("child: open");
    let mut seq = last_write(&store.load().expect("child: load")) + 1;
    loop {
        store.apply(&changes(seq)).expect("child: apply");
        // Only after `apply` returned: the write is committed. Flushed at
        // once, so a kill cannot swallow a report that was made.
        let mut out = std::io::stdout().lock();
        writeln!(out, "committed {seq}").expect("child: report");
        out.flush().expect("child: flush");
        seq += 1;
    }
}

/// Check the store after a kill; returns the last write found.
fn check_store(state_dir: &Path, reported: u64) -> u64 {
    let db = database_path(state_dir);
    if !db.exists() {
        // Killed before the child's open created the state folder or the
        // file: nothing can have been committed.
        assert_eq!(reported, 0, "a write was reported but no store exists");
        return 0;
    }
    let integrity: String = rusqlite::Connection::open(&db)
        .expect("open after kill")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let store = PairingStore::open(state_dir).expect("the store opens after a kill");
    let snapshot = store.load().expect("load after kill");
    let last = last_write(&snapshot);
    // Every reported write is there; at most one more (committed, then
    // killed before it was printed).
    assert!(
        last >= reported && last <= reported + 1,
        "reported {reported}, found {last}"
    );
    let pending: Vec<&str> = snapshot
        .pending
        .iter()
        .map(|p| p.request_id.as_str())
        .collect();
    if last == 0 {
        assert!(pending.is_empty(), "{pending:?}");
    } else {
        assert_eq!(pending, [request_id(last)], "pending after write {last}");
    }
    let present: Vec<u64> = snapshot
        .paired
        .iter()
        .filter_map(|d| d.device_id.strip_prefix("dev-")?.parse().ok())
        .collect();
    let expected: Vec<u64> = (1..=last)
        .filter(|n| !(n % 10 == 5 && n + 5 <= last))
        .collect();
    assert_eq!(present, expected, "paired devices after write {last}");
    for device in snapshot.paired.iter().filter(|d| d.device_id != COUNTER) {
        let token = &device.tokens.as_ref().expect("tokens")["operator"];
        assert_eq!(token.token, format!("token-{}", device.created_at_ms));
    }
    last
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("randomness");
    u64::from_le_bytes(bytes)
}

#[test]
fn committed_writes_survive_kill_9() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let asked: Option<u64> = std::env::var(LOOPS_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let loops = asked.unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let budget = match asked {
        Some(n) => TIME_PER_KILL * u32::try_from(n).unwrap_or(u32::MAX),
        None => TIME_BUDGET,
    };
    let started = Instant::now();
    let mut last = 0;
    let (mut kills, mut unreported, mut before_first) = (0u64, 0u64, 0u64);
    for _ in 0..loops {
        if started.elapsed() > budget {
            break;
        }
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let (tx, rx) = mpsc::channel::<u64>();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness's "test crash_child ... " may precede
                // the first report on its line.
                if let Some((_, n)) = line.split_once("committed ") {
                    let _ = tx.send(n.trim().parse().expect("a write number"));
                }
            }
        });
        let roll = random_u64();
        let mut first = None;
        if roll % 5 == 0 {
            // Any instant, opening included.
            std::thread::sleep(Duration::from_micros(roll % 20_000));
        } else {
            // Mid-stream: after the first commit, a random instant later.
            first = Some(
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("the child commits a first write"),
            );
            std::thread::sleep(Duration::from_micros(roll % 15_000));
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        reader.join().unwrap();
        let reported = rx.try_iter().chain(first).max().unwrap_or(last);
        kills += 1;
        let found = check_store(dir.path(), reported.max(last));
        if found > reported.max(last) {
            unreported += 1;
        }
        if found == last {
            before_first += 1;
        }
        last = found;
    }
    eprintln!(
        "crash test: {kills} of {loops} kills in {:.1} s, {last} writes; {unreported} kills after \
         a commit not yet reported, {before_first} before any commit of that run",
        started.elapsed().as_secs_f64()
    );
    assert!(
        kills >= loops.min(20),
        "only {kills} kills in the time budget"
    );
    assert!(last > 0, "no write ever committed");
}
