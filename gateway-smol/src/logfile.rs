//! The JSON-lines log file that `logs.tail` serves, in the reference's shape:
//! `{"time":"2026-11-24T06:20:04.255+00:00","level":"info","subsystem":"gateway/ws","message":"…"}`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the reference writes its daily log: `/tmp/openclaw/openclaw-YYYY-MM-DD.log`.
pub fn default_path(now: SystemTime) -> PathBuf {
    let (y, m, d, ..) = civil(now);
    PathBuf::from(format!("/tmp/openclaw/openclaw-{y:04}-{m:02}-{d:02}.log"))
}

/// An append-only JSON-lines log file, safe to share between threads.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    /// Open (creating the directory and the file) for appending.
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record. The line is written with one `write` call so a reader
    /// never sees half a line from this writer. Errors are swallowed: logging
    /// must not take the gateway down.
    pub fn write(&self, now: SystemTime, level: &str, subsystem: &str, message: &str) {
        let mut line = format!(
            r#"{{"time":{},"level":{},"subsystem":{},"message":{}}}"#,
            json_str(&timestamp(now)),
            json_str(level),
            json_str(subsystem),
            json_str(message)
        );
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.write_all(line.as_bytes());
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// RFC 3339 UTC with milliseconds, as the reference prints it: `2026-11-24T06:20:04.255+00:00`.
pub fn timestamp(now: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(now);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+00:00")
}

/// UTC calendar fields of `t` (the core's calendar arithmetic).
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
    gateway_proto::time::civil_from_unix_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_the_reference() {
        // 2026-11-24T06:20:04.255Z
        let t = UNIX_EPOCH + Duration::from_millis(1_795_501_204_255);
        assert_eq!(timestamp(t), "2026-11-24T06:20:04.255+00:00");
        assert_eq!(
            default_path(t),
            PathBuf::from("/tmp/openclaw/openclaw-2026-11-24.log")
        );
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000+00:00");
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000+00:00");
    }

    #[test]
    fn writes_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/log.jsonl");
        let log = LogFile::open(&path).unwrap();
        log.write(UNIX_EPOCH, "info", "gateway/ws", "hello \"x\"\n");
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["message"], "hello \"x\"\n");
        assert_eq!(v["subsystem"], "gateway/ws");
    }
}
