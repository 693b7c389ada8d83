//! Config hot reload: poll the file's metadata every second; on a change,
//! re-resolve the settings and hand them to the running server (auth changes
//! in place, address changes as an in-process restart).
//!
//! A reload never weakens auth silently: a missing, empty or `{}` file is
//! skipped (an editor that truncates before writing leaves one for a moment),
//! an invalid one is skipped with the reason, and a valid change that lowers
//! the auth mode is applied with a warning.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gateway_proto::gateway::AuthConfig;
use gateway_smol::ServerHandle;

use crate::config_file::{self, Loaded};
use crate::settings::Settings;

const POLL: Duration = Duration::from_secs(1);

/// What identifies one version of the file (absent = `None`).
pub type Stamp = Option<(SystemTime, u64)>;

/// The file's current [`Stamp`]. Take it before reading the file at start-up,
/// so that an edit made between that read and the watcher's start is seen.
pub fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Spawn the watcher thread; `loaded` is the stamp of the version `current`
/// came from. `resolve` turns a freshly loaded file into settings
/// (with the same flags and environment as at start-up); `apply` builds the
/// hub config from them.
pub fn spawn(
    path: PathBuf,
    loaded: Stamp,
    mut current: Settings,
    handle: ServerHandle,
    resolve: impl Fn(&config_file::ConfigFile) -> Result<Settings, String> + Send + 'static,
    apply: impl Fn(&Settings) -> gateway_proto::gateway::Config + Send + 'static,
) {
    let spawned = std::thread::Builder::new().name("config-watch".into()).spawn(move || {
        let mut last = loaded;
        loop {
            std::thread::sleep(POLL);
            let now = stamp(&path);
            if now == last {
                continue;
            }
            last = now;
            let Some(next) = reload(&path, &resolve) else {
                continue;
            };
            if next == current {
                continue;
            }
            // Each change is handed over before it is logged: the log line
            // means "in effect for what comes next" (tests and operators
            // act on it).
            if next.proxy_trust != current.proxy_trust {
                // Applies to the next upgrade; open connections keep their attribution.
                handle.set_proxy_trust(next.proxy_trust.clone());
                log::info!(target: "gateway", "config changed: gateway.trustedProxies applied");
            }
            if next.tls != current.tls {
                // The listener's TLS is set when it is bound.
                log::warn!(target: "gateway",
                    "config changed: gateway.tls takes effect when the gateway is restarted");
            }
            if let Some(why) = weakening(&current.auth, &next.auth) {
                log::warn!(target: "gateway", "config reload weakens auth: {why}");
            }
            if next.addr != current.addr {
                log::info!(target: "gateway", "config changed: moving to {} (restart)", next.addr);
                handle.restart(Some(next.addr), Some(apply(&next)));
            } else {
                handle.reconfigure(apply(&next));
                log::info!(target: "gateway", "config changed: applying in place");
            }
            current = next;
        }
    });
    if let Err(e) = spawned {
        log::warn!(target: "gateway", "config hot reload disabled: {e}");
    }
}

/// The settings the changed file asks for, or `None` (with a log line saying
/// why) when the running ones must stay.
fn reload(
    path: &Path,
    resolve: &impl Fn(&config_file::ConfigFile) -> Result<Settings, String>,
) -> Option<Settings> {
    let file = match config_file::load(path) {
        Ok(Loaded::Config(file)) => *file,
        Ok(Loaded::Missing) => {
            log::warn!(target: "gateway",
                "config reload skipped: {} not found; keeping the current config", path.display());
            return None;
        }
        Ok(Loaded::Empty) => {
            log::warn!(target: "gateway",
                "config reload skipped: {} is empty; keeping the current config", path.display());
            return None;
        }
        Err(e) => {
            log::error!(target: "gateway", "config reload skipped: {e}; keeping the current config");
            return None;
        }
    };
    match resolve(&file) {
        Ok(next) => Some(next),
        Err(e) => {
            log::error!(target: "gateway",
                "config reload skipped: {e}; keeping the current config");
            None
        }
    }
}

/// Why going from `old` to `new` auth lets in clients that were refused, if it does.
fn weakening(old: &AuthConfig, new: &AuthConfig) -> Option<String> {
    match (old, new) {
        (AuthConfig::None, _) | (_, AuthConfig::Token(_) | AuthConfig::Password(_)) => None,
        (old, AuthConfig::None) => Some(format!(
            "auth mode {} -> none (the shared secret is gone: any local client can connect)",
            old.mode_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dropping_the_secret_weakens() {
        let token = AuthConfig::Token("t".into());
        let password = AuthConfig::Password("p".into());
        assert!(weakening(&token, &AuthConfig::None).is_some());
        assert!(weakening(&password, &AuthConfig::None).is_some());
        assert_eq!(weakening(&AuthConfig::None, &token), None);
        assert_eq!(weakening(&token, &password), None);
        assert_eq!(weakening(&token, &AuthConfig::Token("t2".into())), None);
    }
}
