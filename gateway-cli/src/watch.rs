//! Config hot reload: poll the file's metadata every second; on a change,
//! re-resolve the settings and hand them to the running server (auth changes
//! in place, address changes as an in-process restart).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use gateway_smol::ServerHandle;

use crate::config_file;
use crate::settings::Settings;

const POLL: Duration = Duration::from_secs(1);

/// What identifies one version of the file (absent = `None`).
fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Spawn the watcher thread. `resolve` turns a freshly loaded file into settings
/// (with the same flags and environment as at start-up); `apply` builds the
/// hub config from them.
pub fn spawn(
    path: PathBuf,
    mut current: Settings,
    handle: ServerHandle,
    resolve: impl Fn(&config_file::ConfigFile) -> Result<Settings, String> + Send + 'static,
    apply: impl Fn(&Settings) -> gateway_proto::gateway::Config + Send + 'static,
) {
    let spawned = std::thread::Builder::new().name("config-watch".into()).spawn(move || {
        let mut last = stamp(&path);
        loop {
            std::thread::sleep(POLL);
            let now = stamp(&path);
            if now == last {
                continue;
            }
            last = now;
            let next = config_file::load(&path).and_then(|file| resolve(&file));
            let next = match next {
                Ok(next) => next,
                Err(e) => {
                    log::error!(target: "gateway", "config change ignored: {e}");
                    continue;
                }
            };
            if next == current {
                continue;
            }
            if next.addr != current.addr {
                log::info!(target: "gateway", "config changed: moving to {} (restart)", next.addr);
                handle.restart(Some(next.addr), Some(apply(&next)));
            } else {
                log::info!(target: "gateway", "config changed: applying in place");
                handle.reconfigure(apply(&next));
            }
            current = next;
        }
    });
    if let Err(e) = spawned {
        log::warn!(target: "gateway", "config hot reload disabled: {e}");
    }
}
