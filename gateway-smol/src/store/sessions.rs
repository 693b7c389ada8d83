//! Sessions and transcripts on disk, in the reference's v3 layout:
//! `<stateDir>/agents/<agentId>/sessions/sessions.json` (rows keyed by
//! session key) and `<sessionId>.jsonl` beside it (one transcript entry a
//! line). Pure storage: no threads, no knowledge of the hub.
//!
//! A batch is applied transcripts first, index last, each step durable
//! before the next (appends `fsync`ed, replacements and the index written
//! to a temp file, `fsync`ed, renamed, directory `fsync`ed). When a step
//! fails, the appends already made by the batch are cut back to their
//! length before it, so the core's retry of the same batch does not
//! duplicate lines; a reader at the end sees either the whole batch or
//! the old index.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use gateway_proto::gateway::agents::journal::{SessionChange, StoredSession, TranscriptChange};
use serde_json::{Map, Value};

/// At most this many lines of a transcript are read back at start-up (the
/// last ones: the core only needs the recent history).
pub const MAX_LINES_READ: usize = 1000;
/// At most this many bytes of a transcript are read back (its tail).
pub const MAX_TRANSCRIPT_READ: u64 = 8 * 1024 * 1024;
/// A `sessions.json` larger than this is not read (it is never that big
/// when written by a gateway: the core bounds its sessions).
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many agent directories are looked at.
pub const MAX_AGENTS: usize = 1000;
/// At most this many sessions are loaded (the core keeps no more).
pub const MAX_SESSIONS_LOADED: usize = gateway_proto::gateway::agents::sessions::MAX_SESSIONS;
/// Transcript bytes read at start-up, all sessions together: past it, the
/// remaining sessions come back with their rows but no history.
pub const MAX_TOTAL_TRANSCRIPT_READ: u64 = 256 * 1024 * 1024;

const INDEX_FILE: &str = "sessions.json";

pub struct SessionStore {
    state_dir: PathBuf,
}

impl SessionStore {
    pub fn new(state_dir: &Path) -> Self {
        SessionStore {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// `<stateDir>/agents/<agentId>/sessions`.
    pub fn sessions_dir(&self, agent_id: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent_id)
            .join("sessions")
    }

    /// Store `changes` durably, all of them, or return `Err` (the caller
    /// retries the same changes, merged with later ones).
    pub fn apply(&self, changes: &[SessionChange]) -> io::Result<()> {
        let mut appended: Vec<(PathBuf, u64)> = Vec::new();
        let result = self.apply_inner(changes, &mut appended);
        if result.is_err() {
            for (path, len) in appended.iter().rev() {
                if let Err(e) = cut_back(path, *len) {
                    log::error!(target: "gateway/store",
                        "cannot undo a partial append to {}: {e}; a retry may repeat lines", path.display());
                }
            }
        }
        result
    }

    fn apply_inner(
        &self,
        changes: &[SessionChange],
        appended: &mut Vec<(PathBuf, u64)>,
    ) -> io::Result<()> {
        let mut by_agent: BTreeMap<&str, Vec<&SessionChange>> = BTreeMap::new();
        for change in changes {
            if !safe_name(&change.agent_id)
                || (!safe_name(&change.session_id) && change.transcript != TranscriptChange::Keep)
            {
                // Never the core's own ids; writing it anywhere could escape
                // the state dir, and refusing would make the batch retry forever.
                log::warn!(target: "gateway/store",
                    "session {} not stored: unusable agent or session id", change.session_key);
                continue;
            }
            by_agent.entry(&change.agent_id).or_default().push(change);
        }
        for (agent_id, changes) in &by_agent {
            let dir = self.sessions_dir(agent_id);
            create_private_dir(&dir)?;
            for change in changes {
                let path = dir.join(format!("{}.jsonl", change.session_id));
                match &change.transcript {
                    TranscriptChange::Keep => {}
                    TranscriptChange::Append(lines) => {
                        let before = append_lines(&path, lines)?;
                        appended.push((path, before));
                    }
                    TranscriptChange::Replace(lines) => {
                        write_atomically(&dir, &path, joined(lines).as_bytes())?
                    }
                    TranscriptChange::Delete => match fs::remove_file(&path) {
                        Ok(()) => sync_dir(&dir)?,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    },
                }
            }
        }
        for (agent_id, changes) in &by_agent {
            let dir = self.sessions_dir(agent_id);
            let index_path = dir.join(INDEX_FILE);
            let mut index = read_index_for_update(&index_path)?;
            for change in changes {
                match &change.entry {
                    Some(entry) => index.insert(change.session_key.clone(), entry.clone()),
                    None => index.remove(&change.session_key),
                };
            }
            let text = serde_json::to_string_pretty(&Value::Object(index))
                .map_err(|e| io::Error::other(e.to_string()))?;
            write_atomically(&dir, &index_path, text.as_bytes())?;
        }
        Ok(())
    }

    /// Every session the store holds. Unreadable parts are skipped with a
    /// warning: a damaged file never stops the gateway.
    pub fn load(&self) -> Vec<StoredSession> {
        self.load_within(MAX_TOTAL_TRANSCRIPT_READ)
    }

    /// [`SessionStore::load`] reading at most `budget` transcript bytes.
    fn load_within(&self, mut budget: u64) -> Vec<StoredSession> {
        let mut out = Vec::new();
        let agents_dir = self.state_dir.join("agents");
        let entries = match fs::read_dir(&agents_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
            Err(e) => {
                log::warn!(target: "gateway/store", "cannot list {}: {e}", agents_dir.display());
                return out;
            }
        };
        let mut agents: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| safe_name(name))
            .take(MAX_AGENTS)
            .collect();
        agents.sort();
        for agent_id in agents {
            let dir = self.sessions_dir(&agent_id);
            let index_path = dir.join(INDEX_FILE);
            let index = match read_index(&index_path) {
                Ok(Some(index)) => index,
                Ok(None) => continue,
                Err(e) => {
                    log::warn!(target: "gateway/store", "{} skipped: {e}", index_path.display());
                    continue;
                }
            };
            for (session_key, entry) in index {
                if out.len() >= MAX_SESSIONS_LOADED {
                    log::warn!(target: "gateway/store", "more than {MAX_SESSIONS_LOADED} sessions stored; the rest are not loaded");
                    return out;
                }
                let session_id = entry.get("sessionId").and_then(Value::as_str);
                let lines = match session_id.filter(|id| safe_name(id)) {
                    Some(id) => read_transcript(&dir.join(format!("{id}.jsonl")), &mut budget),
                    None => Vec::new(),
                };
                out.push(StoredSession {
                    agent_id: agent_id.clone(),
                    session_key,
                    entry,
                    lines,
                });
            }
        }
        out
    }
}

/// A file or directory name we write: no separators, no dot names.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn joined(lines: &[String]) -> String {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Append `lines` with `O_APPEND` and `fsync`; returns the length before.
fn append_lines(path: &Path, lines: &[String]) -> io::Result<u64> {
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let before = file.metadata()?.len();
    let written = file
        .write_all(joined(lines).as_bytes())
        .and_then(|_| file.sync_all());
    if let Err(e) = written {
        // Undo a short write here; the caller undoes it for later failures.
        let _ = file.set_len(before);
        return Err(e);
    }
    if created {
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
    }
    Ok(before)
}

/// Truncate `path` back to `len` (the length before a failed batch).
fn cut_back(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Temp file in the same directory, `fsync`, rename over `path`, `fsync`
/// the directory: a reader sees the old or the new contents, never a mix.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The index, `None` when there is none.
fn read_index(path: &Path) -> io::Result<Option<Map<String, Value>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() > MAX_INDEX_BYTES {
        return Err(io::Error::other("larger than the gateway ever writes"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_INDEX_BYTES).read_to_end(&mut bytes)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(io::Error::other("not a JSON object")),
        Err(e) => Err(io::Error::other(format!("not JSON: {e}"))),
    }
}

/// The index to update: a damaged one is moved aside (kept for a person
/// to look at) rather than blocking every later write.
fn read_index_for_update(path: &Path) -> io::Result<Map<String, Value>> {
    match read_index(path) {
        Ok(index) => Ok(index.unwrap_or_default()),
        Err(e) if e.kind() == io::ErrorKind::Other => {
            let aside = path.with_extension("json.damaged");
            log::warn!(target: "gateway/store",
                "{} unreadable ({e}); moved to {} and started afresh", path.display(), aside.display());
            fs::rename(path, &aside)?;
            Ok(Map::new())
        }
        Err(e) => Err(e),
    }
}

/// The last lines of a transcript, parsed; bad lines are skipped. What is
/// read is taken from `budget`; an empty budget reads nothing.
fn read_transcript(path: &Path, budget: &mut u64) -> Vec<Value> {
    let mut read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let wanted = len.min(MAX_TRANSCRIPT_READ);
        if wanted > *budget {
            return Err(io::Error::other(
                "over the start-up read budget; history not loaded",
            ));
        }
        *budget -= wanted;
        let start = len - wanted;
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.take(wanted).read_to_end(&mut bytes)?;
        if start > 0 {
            // Started mid-line: drop the partial first line.
            let cut = bytes
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| i + 1);
            bytes.drain(..cut);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let text = match read() {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            log::warn!(target: "gateway/store", "cannot read {}: {e}", path.display());
            return Vec::new();
        }
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let skip = lines.len().saturating_sub(MAX_LINES_READ);
    let mut out = Vec::with_capacity(lines.len() - skip);
    for (i, line) in lines.iter().enumerate().skip(skip) {
        match serde_json::from_str::<Value>(line) {
            Ok(value) => out.push(value),
            Err(e) => log::warn!(target: "gateway/store",
                "{} line {} skipped: {e}", path.display(), i + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;

    use super::*;

    fn change(key: &str, id: &str, entry: Option<Value>, t: TranscriptChange) -> SessionChange {
        SessionChange {
            agent_id: "main".into(),
            session_key: key.into(),
            session_id: id.into(),
            entry,
            transcript: t,
        }
    }

    fn line(n: u32) -> String {
        json!({"type": "message", "id": format!("m{n}"), "message": {"role": "user", "content": n}})
            .to_string()
    }

    fn file_lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn index(store: &SessionStore) -> Value {
        serde_json::from_str(
            &fs::read_to_string(store.sessions_dir("main").join(INDEX_FILE)).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn append_replace_delete_and_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let row = json!({"sessionId": "s1", "status": "done"});
        store
            .apply(&[change(
                "agent:main:main",
                "s1",
                Some(row.clone()),
                TranscriptChange::Append(vec![line(1), line(2)]),
            )])
            .unwrap();
        store
            .apply(&[change(
                "agent:main:main",
                "s1",
                Some(row.clone()),
                TranscriptChange::Append(vec![line(3)]),
            )])
            .unwrap();
        let sessions = store.sessions_dir("main");
        let transcript = sessions.join("s1.jsonl");
        assert_eq!(file_lines(&transcript), [line(1), line(2), line(3)]);
        assert_eq!(index(&store), json!({"agent:main:main": row}));
        // Private like the other state files.
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sessions), 0o700);
        assert_eq!(mode(&transcript), 0o600);
        assert_eq!(mode(&sessions.join(INDEX_FILE)), 0o600);

        store
            .apply(&[change(
                "agent:main:main",
                "s1",
                Some(row.clone()),
                TranscriptChange::Replace(vec![line(9)]),
            )])
            .unwrap();
        assert_eq!(file_lines(&transcript), [line(9)]);

        store
            .apply(&[change(
                "agent:main:main",
                "s1",
                None,
                TranscriptChange::Delete,
            )])
            .unwrap();
        assert!(!transcript.exists());
        assert_eq!(index(&store), json!({}));
        // No temp files left behind.
        let names: Vec<String> = fs::read_dir(&sessions)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [INDEX_FILE]);
    }

    #[test]
    fn load_reads_rows_and_skips_a_corrupt_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let row = json!({"sessionId": "s1", "updatedAt": 5});
        store
            .apply(&[change(
                "agent:main:main",
                "s1",
                Some(row.clone()),
                TranscriptChange::Append(vec![line(1)]),
            )])
            .unwrap();
        let transcript = store.sessions_dir("main").join("s1.jsonl");
        let mut f = OpenOptions::new().append(true).open(&transcript).unwrap();
        f.write_all(b"{not json\n").unwrap();
        f.write_all(format!("{}\n", line(2)).as_bytes()).unwrap();
        drop(f);
        let loaded = store.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].agent_id, "main");
        assert_eq!(loaded[0].session_key, "agent:main:main");
        assert_eq!(loaded[0].entry, row);
        let ids: Vec<&str> = loaded[0]
            .lines
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["m1", "m2"]);
    }

    #[test]
    fn load_is_bounded_to_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let lines: Vec<String> = (0..MAX_LINES_READ as u32 + 50).map(line).collect();
        store
            .apply(&[change(
                "k",
                "s1",
                Some(json!({"sessionId": "s1"})),
                TranscriptChange::Append(lines),
            )])
            .unwrap();
        let loaded = store.load();
        assert_eq!(loaded[0].lines.len(), MAX_LINES_READ);
        assert_eq!(loaded[0].lines[0]["id"], "m50");
    }

    #[test]
    fn past_the_read_budget_sessions_load_without_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        for (key, id) in [("a", "s1"), ("b", "s2")] {
            let row = json!({"sessionId": id});
            let t = TranscriptChange::Append(vec![line(1)]);
            store.apply(&[change(key, id, Some(row), t)]).unwrap();
        }
        let one = fs::metadata(store.sessions_dir("main").join("s1.jsonl"))
            .unwrap()
            .len();
        let loaded = store.load_within(one);
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].lines.len(), 1);
        assert!(loaded[1].lines.is_empty());
    }

    #[test]
    fn a_damaged_index_is_skipped_at_load_and_moved_aside_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let sessions = store.sessions_dir("main");
        create_private_dir(&sessions).unwrap();
        fs::write(sessions.join(INDEX_FILE), "{oops").unwrap();
        assert!(store.load().is_empty());
        store
            .apply(&[change(
                "k",
                "s1",
                Some(json!({"sessionId": "s1"})),
                TranscriptChange::Keep,
            )])
            .unwrap();
        assert_eq!(index(&store), json!({"k": {"sessionId": "s1"}}));
        assert_eq!(
            fs::read_to_string(sessions.join("sessions.json.damaged")).unwrap(),
            "{oops"
        );
    }

    /// A directory that cannot be written fails the batch; the appends the
    /// batch made are cut back, so the retry (once writable) stores each
    /// line once, and the index never showed the failed batch.
    #[test]
    fn a_failed_batch_is_err_and_its_retry_does_not_duplicate() {
        // Permission bits would not stop root: the failure is made another
        // way (a non-empty directory where the index file goes).
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let row = |n: u32| json!({"sessionId": "s1", "n": n});
        store
            .apply(&[change(
                "a",
                "s1",
                Some(row(1)),
                TranscriptChange::Append(vec![line(1)]),
            )])
            .unwrap();
        // The index cannot be replaced: a directory blocks the rename.
        let sessions = store.sessions_dir("main");
        let index_path = sessions.join(INDEX_FILE);
        let saved = fs::read(&index_path).unwrap();
        fs::remove_file(&index_path).unwrap();
        fs::create_dir(&index_path).unwrap();
        fs::write(index_path.join("x"), "keeps it non-empty").unwrap();
        let batch = [change(
            "a",
            "s1",
            Some(row(2)),
            TranscriptChange::Append(vec![line(2), line(3)]),
        )];
        assert!(store.apply(&batch).is_err());
        assert_eq!(
            file_lines(&sessions.join("s1.jsonl")),
            [line(1)],
            "the append was cut back"
        );

        fs::remove_dir_all(&index_path).unwrap();
        fs::write(&index_path, saved).unwrap();
        store.apply(&batch).unwrap();
        assert_eq!(
            file_lines(&sessions.join("s1.jsonl")),
            [line(1), line(2), line(3)]
        );
        assert_eq!(index(&store), json!({"a": row(2)}));
    }

    #[test]
    fn a_state_dir_that_cannot_hold_directories_is_err() {
        let dir = tempfile::tempdir().unwrap();
        // `agents` is a file: no directory can be made under it.
        fs::write(dir.path().join("agents"), "").unwrap();
        let store = SessionStore::new(dir.path());
        let batch = [change(
            "k",
            "s1",
            Some(json!({})),
            TranscriptChange::Append(vec![line(1)]),
        )];
        assert!(store.apply(&batch).is_err());
        assert!(store.load().is_empty());
    }

    #[test]
    fn unusable_ids_are_never_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path());
        let mut evil = change(
            "k",
            "../../escape",
            Some(json!({})),
            TranscriptChange::Append(vec![line(1)]),
        );
        store.apply(std::slice::from_ref(&evil)).unwrap();
        evil.agent_id = "..".into();
        evil.session_id = "s".into();
        store.apply(&[evil]).unwrap();
        assert!(!dir.path().join("agents/escape.jsonl").exists());
        assert!(!dir.path().join("agents/sessions").exists());
    }
}
