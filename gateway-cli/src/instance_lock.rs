//! One gateway per state dir: an exclusive `flock` on `<stateDir>/gateway.lock`,
//! held (through its open file) for the life of the process. The kernel drops
//! it when the process dies, so a crash never leaves a stale lock behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

pub struct InstanceLock {
    _file: File,
}

pub enum LockError {
    /// Another process holds it; its pid when it wrote one.
    Held(Option<u32>),
    Io(std::io::Error),
}

/// Take the lock without waiting, and write our pid into the file (for the
/// message another gateway prints).
pub fn acquire(state_dir: &Path) -> Result<InstanceLock, LockError> {
    let path = state_dir.join("gateway.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(LockError::Io)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held(text.trim().parse().ok()));
        }
        Err(e) => return Err(LockError::Io(e.into())),
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(InstanceLock { _file: file })
}
