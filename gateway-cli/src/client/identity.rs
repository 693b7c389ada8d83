//! This machine's device identity for client commands: an Ed25519 key kept
//! in `<state>/identity/device-ed25519.json` (mode 0600, written atomically),
//! created on first use. Signing the challenge with it lets gateways that
//! grant scopes only to paired devices (protocol 3 gateways, and remote
//! protocol 4 ones) pair this CLI; on loopback they pair it silently.
//!
//! The file is ours, separate from the reference CLI's own identity store, so
//! both can share one state dir.

use std::io::Write;
use std::path::{Path, PathBuf};

use gateway_proto::client::DeviceKey;
use serde_json::{json, Value};

use super::target::state_dir;

const FILE: &str = "identity/device-ed25519.json";

fn path() -> PathBuf {
    state_dir().join(FILE)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn load(path: &Path) -> Option<DeviceKey> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    let secret = hex32(value.get("secretKeyHex")?.as_str()?)?;
    Some(DeviceKey::from_secret(secret))
}

/// Write `contents` to `path` so that a crash leaves the old file or the new
/// one, never a torn one: temp file, fsync, rename; mode 0600.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".device-ed25519.{}.tmp", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The device key, created and saved on first use. `None` when no key can be
/// had (no randomness, unwritable state dir): the command then connects
/// without a device, as before.
pub fn device_key() -> Option<DeviceKey> {
    let path = path();
    if let Some(key) = load(&path) {
        return Some(key);
    }
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).ok()?;
    let key = DeviceKey::from_secret(secret);
    let record = json!({
        "version": 1,
        "deviceId": key.device_id(),
        "publicKey": key.public_key_b64url(),
        "secretKeyHex": to_hex(&secret),
    });
    match write_atomically(&path, &format!("{record:#}\n")) {
        Ok(()) => Some(key),
        Err(e) => {
            log::debug!("cannot save the device identity at {}: {e}", path.display());
            // Still usable for this command; a new one is made next time.
            Some(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes = [0xabu8; 32];
        assert_eq!(hex32(&to_hex(&bytes)), Some(bytes));
        assert_eq!(hex32("zz"), None);
    }

    #[test]
    fn atomic_write_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity/device-ed25519.json");
        let key = DeviceKey::from_secret([3; 32]);
        let record = json!({"secretKeyHex": to_hex(&key.secret())});
        write_atomically(&path, &record.to_string()).unwrap();
        assert_eq!(load(&path).unwrap().device_id(), key.device_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
