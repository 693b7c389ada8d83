//! The config file for the `config.*` RPCs: read it, and write it so that a
//! crash at any instant leaves the old text or the new one, never a mix.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gateway_proto::gateway::config_rpc::{self, ConfigFile, Write};
use gateway_proto::gateway::ConfigWriteError;

/// Checks a new config text; `Err` is the reason, in words.
pub type ConfigValidator = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Where the config file is and how a new text is checked before it is
/// written (the CLI's own checks: the same ones a hand edit goes through).
#[derive(Clone)]
pub struct ConfigFileAccess {
    pub path: PathBuf,
    pub validate: ConfigValidator,
}

impl std::fmt::Debug for ConfigFileAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigFileAccess({})", self.path.display())
    }
}

/// One writer at a time in this process: the hash check and the rename
/// happen together.
static WRITE_LOCK: Mutex<()> = Mutex::new(());

/// The file as it is now.
pub fn read(path: &Path) -> Result<ConfigFile, String> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(raw) => Ok(ConfigFile {
            path: shown,
            exists: true,
            raw,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile {
            path: shown,
            exists: false,
            raw: String::new(),
        }),
        Err(e) => Err(format!("cannot read config {shown}: {e}")),
    }
}

/// Write `write.text` if the file still is what the plan saw and the
/// validator accepts the new text.
pub fn write_if_unchanged(
    access: &ConfigFileAccess,
    write: &Write,
) -> Result<(), ConfigWriteError> {
    let _guard = WRITE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = read(&access.path).map_err(ConfigWriteError::Io)?;
    let unchanged = match &write.expected_hash {
        Some(expected) => now.exists && config_rpc::hash(&now.raw) == *expected,
        None => !now.exists,
    };
    if !unchanged {
        return Err(ConfigWriteError::Changed);
    }
    (access.validate)(&write.text).map_err(ConfigWriteError::Invalid)?;
    write_atomic(&access.path, &write.text).map_err(|e| ConfigWriteError::Io(e.to_string()))
}

/// Replace `path` with `text`: a temp file in the same directory, fsync,
/// rename over the old file, fsync of the directory. The old file's
/// permissions are kept (a new file gets 0600: it may hold secrets).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A new state dir is private, as the gateway makes it.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = path.file_name().map_or_else(
        || "openclaw.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let temp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // `mode` at creation is filtered by the umask; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// A per-process counter: two writers never share a temp name.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_permissions_and_refuses_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let first = "{ \"gateway\": { \"port\": 1 } }\n";
        write_atomic(&path, first).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );

        let access = ConfigFileAccess {
            path: path.clone(),
            validate: Arc::new(|text: &str| {
                if text.contains("bad") {
                    Err("bad value".into())
                } else {
                    Ok(())
                }
            }),
        };
        let file = read(&path).unwrap();
        let request = config_rpc::WriteRequest {
            method: config_rpc::WriteMethod::Patch,
            raw: "{ logging: { level: 'info' } }".into(),
            base_hash: Some(config_rpc::hash(&file.raw)),
            replace_paths: Vec::new(),
            note: None,
        };
        let config_rpc::Plan::Write(write) = config_rpc::plan(&file, &request).unwrap() else {
            panic!("no write")
        };
        std::fs::write(&path, "{ \"gateway\": { \"port\": 2 } }").unwrap();
        assert_eq!(
            write_if_unchanged(&access, &write),
            Err(ConfigWriteError::Changed)
        );
        std::fs::write(&path, first).unwrap();
        write_if_unchanged(&access, &write).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"info\""));
    }
}
