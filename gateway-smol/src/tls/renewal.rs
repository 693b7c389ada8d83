//! Certificate renewal without a restart, as the reference does it: the
//! certificate, key and `caPath` files are polled (their size, modification
//! time and inode, every second by default); a change is read after a short
//! settle delay, so a renewal tool's two writes land together, and a new
//! pair is served from the next handshake on ([`ServerTls::renew`]).
//!
//! Open connections keep the session they negotiated. A pair that cannot
//! be used (half written, a key of another certificate) is logged and the
//! pair already served stays, as the reference keeps "accepted material".

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::ServerTls;

/// How long a change is left to settle before the files are read.
const SETTLE: Duration = Duration::from_millis(300);

/// The watcher thread; dropping it stops the thread.
pub struct TlsRenewal {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsRenewal {
    /// Watch `tls`'s files every `interval`.
    pub fn start(tls: ServerTls, interval: Duration) -> std::io::Result<TlsRenewal> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tls-renewal".into())
            .spawn(move || watch(&tls, interval, &stopped))?;
        Ok(TlsRenewal {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for TlsRenewal {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What identifies a file's content without reading it.
type Stamp = Vec<Option<(u64, SystemTime, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.len(), meta.modified().ok()?, meta.ino()))
        })
        .collect()
}

fn watch(tls: &ServerTls, interval: Duration, stopped: &mpsc::Receiver<()>) {
    let settings = &tls.settings;
    let mut paths = vec![settings.cert_path.clone(), settings.key_path.clone()];
    paths.extend(settings.ca_path.clone());
    let mut seen = stamp(&paths);
    // Until the sender is dropped, a timeout is the tick.
    let wait = |d: Duration| matches!(stopped.recv_timeout(d), Err(RecvTimeoutError::Timeout));
    while wait(interval) {
        if stamp(&paths) == seen {
            continue;
        }
        if !wait(SETTLE) {
            return;
        }
        seen = stamp(&paths);
        match tls.renew() {
            Ok(Some(fingerprint)) => log::info!(target: "gateway/tls",
                "gateway TLS certificate renewed without restarting listeners (fingerprint sha256 {fingerprint})"),
            Ok(None) => {}
            Err(e) => log::warn!(target: "gateway/tls",
                "gateway TLS renewal failed; keeping accepted material: {e}"),
        }
    }
}
