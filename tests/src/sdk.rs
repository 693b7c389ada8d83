//! The `openclaw-node` SDK from npm (a third-party Node.js client of the
//! gateway protocol), installed once under `~/.cache` and run with the
//! reference's Node 24 (which has the WebSocket the SDK needs).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::{install_reference, path_with, reference_unavailable};

/// The SDK version the interop tests pin.
pub const SDK_VERSION: &str = "0.14.0";

/// A directory whose `node_modules` holds `openclaw-node`, and the Node 24
/// bin dir to run scripts with; `None` with a skip note when npm or the
/// reference's Node is unavailable.
pub fn install_sdk() -> Option<(PathBuf, PathBuf)> {
    let node_bin = install_reference("v4")?;
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let dir = home.join(format!(".cache/openclaw-node-sdk-{SDK_VERSION}"));
    let marker = dir.join("node_modules/openclaw-node/package.json");
    if !marker.exists() {
        std::fs::create_dir_all(&dir).ok()?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("openclaw-node@{SDK_VERSION}"))
            .env("PATH", path_with(&node_bin))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) || !marker.exists() {
            reference_unavailable(&format!("openclaw-node@{SDK_VERSION} not installable"));
            return None;
        }
    }
    Some((dir, node_bin))
}

/// `node <script>` run in the SDK's directory (so `import "openclaw-node"`
/// resolves), with `env`; its output.
pub fn run_script(script: &str, env: &[(&str, &str)]) -> Option<std::process::Output> {
    let (dir, node_bin) = install_sdk()?;
    let file = dir.join(format!("script-{}.mjs", std::process::id()));
    std::fs::write(&file, script).ok()?;
    let out = Command::new(node_bin.join("node"))
        .arg(&file)
        .current_dir(&dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .ok();
    let _ = std::fs::remove_file(&file);
    out
}
