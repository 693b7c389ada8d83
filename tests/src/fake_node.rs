//! A node host played by a raw WebSocket client: it signs in with its own
//! key as `node-host`/`node` and declares the commands it is given. Tests
//! drive the invoke frames themselves.

// Real sockets in real time: signatures need the wall clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway_proto::client::DeviceKey;
use gateway_proto::testing::node_host::NodeHost;
use serde_json::Value;

use crate::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(20);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The next frame for which `wanted` holds (others are skipped), within 20 s.
pub async fn next_matching(
    ws: &mut RawWs,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.recv_timeout(left).await {
            Some(Incoming::Json(v)) if wanted(&v) => return Ok(v),
            Some(Incoming::Json(_)) | Some(Incoming::Text(_)) => {}
            other => return Err(format!("{what} not seen: {other:?}")),
        }
    }
}

/// Sign in at `url` as a Linux node host named `name` declaring `commands`;
/// the socket after hello-ok.
pub async fn connect(
    url: &str,
    token: &str,
    key: &DeviceKey,
    name: &str,
    commands: &[&str],
) -> Result<RawWs, String> {
    let mut ws = RawWs::open(url).await?;
    let challenge = next_matching(&mut ws, "connect.challenge", |v| {
        v["event"] == "connect.challenge"
    })
    .await?;
    let nonce = challenge["payload"]["nonce"].as_str().unwrap_or_default();
    let host = NodeHost {
        key,
        token,
        display_name: name,
        commands,
    };
    ws.send_text(host.connect_frame(nonce, unix_ms())).await?;
    let answer = next_matching(&mut ws, "hello-ok", |v| {
        v["type"] == "res" && v["id"] == "c0"
    })
    .await?;
    if answer["ok"] != true {
        return Err(format!("node connect refused: {answer}"));
    }
    Ok(ws)
}
