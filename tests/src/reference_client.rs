//! Running the unmodified reference CLI as a *device*: what it takes to make
//! it sign its connects with its own identity against a gateway on loopback.
//!
//! Facts (reference 2026.9.6, `src/gateway/call.ts`): with a shared token or
//! password and a loopback gateway URL the CLI leaves its device identity out
//! (it is the local admin CLI), and its read-only commands (`gateway call`,
//! `health`, `status`, `devices …`) only use an identity that already exists.
//! A command that talks to a gateway it believes remote (a non-loopback host
//! name) and is not read-only (`agent`) creates the identity, pairs, and
//! caches the device token per gateway origin; later calls with
//! `gateway.mode: "remote"` and no shared secret then authenticate with that
//! token. So these tests point the CLI at `ws://gateway.local:<port>` (a
//! `.local` name, which the CLI allows over plain ws) and resolve that name to
//! 127.0.0.1 with a `--require`d shim: a hosts-file entry for the Node
//! process only. The CLI's code is not touched, and every byte stays on
//! loopback. The v3 CLI (2026.5.6) always signs, so it needs none of this.

use std::path::Path;

/// The host name the shim resolves to 127.0.0.1.
pub const GATEWAY_HOST: &str = "gateway.local";

const SHIM: &str = r#"// Test shim: resolve gateway.local to 127.0.0.1 (a hosts entry for this process).
const dns = require("dns");
const NAME = "gateway.local";
const ADDRESS = { address: "127.0.0.1", family: 4 };
const isOurs = (host) => typeof host === "string" && host.toLowerCase() === NAME;
const options = (opts) => (typeof opts === "number" ? { family: opts } : opts || {});
const lookup = dns.lookup;
dns.lookup = function (host, opts, cb) {
  if (typeof opts === "function") { cb = opts; opts = {}; }
  if (!isOurs(host)) return lookup.call(this, host, opts, cb);
  if (options(opts).all) return process.nextTick(cb, null, [ADDRESS]);
  return process.nextTick(cb, null, ADDRESS.address, ADDRESS.family);
};
const lookupPromise = dns.promises.lookup;
dns.promises.lookup = async function (host, opts) {
  if (!isOurs(host)) return lookupPromise.call(this, host, opts);
  return options(opts).all ? [ADDRESS] : ADDRESS;
};
"#;

/// Write the resolver shim into `dir`; the `NODE_OPTIONS` value that loads it.
pub fn resolver_shim(dir: &Path) -> String {
    let path = dir.join("resolve-gateway-local.cjs");
    std::fs::write(&path, SHIM).expect("write the resolver shim");
    format!("--require {}", path.display())
}

/// `ws://gateway.local:<port>`.
pub fn remote_url(port: u16) -> String {
    format!("ws://{GATEWAY_HOST}:{port}")
}

/// The CLI config that makes it use `url` as its remote gateway, with no
/// shared secret: it then authenticates with its cached device token.
pub fn remote_mode_config(home: &Path, url: &str) {
    let state = home.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(
        state.join("openclaw.json"),
        format!(r#"{{"gateway":{{"mode":"remote","remote":{{"url":"{url}"}}}}}}"#),
    )
    .expect("write the CLI config");
}

/// The device id of a v4 CLI's identity (`device_identities`, key
/// `primary`, in its own state database).
pub fn v4_device_id(home: &Path) -> Option<String> {
    let db = home.join("state/state/openclaw.sqlite");
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row(
        "SELECT device_id FROM device_identities WHERE identity_key = 'primary'",
        [],
        |row| row.get(0),
    )
    .ok()
}

/// The device id of a v3 CLI's identity (`identity/device.json`).
pub fn v3_device_id(home: &Path) -> Option<String> {
    let text = std::fs::read_to_string(home.join("state/identity/device.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["deviceId"].as_str().map(str::to_owned)
}
