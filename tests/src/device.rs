//! Raw WebSocket clients for pairing tests: a device that signs its connect
//! with its own Ed25519 key (as the apps and the CLIs do), and an operator
//! (shared token, no device) that calls methods such as `device.pair.approve`.
#![allow(clippy::disallowed_methods)] // real time for signatures and deadlines

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gateway_proto::client::{DeviceKey, SignInput};
use serde_json::{json, Value};

use crate::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Read until the `res` with `id` (events in between are skipped).
async fn response(ws: &mut RawWs, id: &str) -> Result<Value, String> {
    loop {
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["type"] == "res" && v["id"] == id => return Ok(v),
            Some(Incoming::Json(_)) | Some(Incoming::Text(_)) => {}
            other => return Err(format!("no response to {id}: {other:?}")),
        }
    }
}

/// A device with its own key, connecting as an operator.
#[derive(Clone)]
pub struct Device {
    pub key: DeviceKey,
    pub client_id: String,
    pub mode: String,
    pub platform: String,
    pub family: String,
    /// `client.buildId`: the Control UI's build (a gateway that served the
    /// page holds it to its own).
    pub build_id: Option<String>,
}

impl Device {
    /// A macOS app UI (`openclaw-macos`/`ui`) whose key is derived from `seed`.
    pub fn mac(seed: u8) -> Device {
        Device {
            key: DeviceKey::from_secret([seed; 32]),
            client_id: "openclaw-macos".into(),
            mode: "ui".into(),
            platform: "macos".into(),
            family: "Mac".into(),
            build_id: None,
        }
    }

    pub fn id(&self) -> String {
        self.key.device_id()
    }

    /// The browser Control UI (`openclaw-control-ui`/`webchat`); connect it
    /// with [`Device::connect_from`] and the page's Origin.
    pub fn control_ui(seed: u8) -> Device {
        Device {
            key: DeviceKey::from_secret([seed; 32]),
            client_id: "openclaw-control-ui".into(),
            mode: "webchat".into(),
            platform: "Linux x86_64".into(),
            family: String::new(),
            build_id: None,
        }
    }

    /// Open `url`, sign a connect for `scopes` with `auth` (`{"token": …}`,
    /// `{"deviceToken": …}` or `{"bootstrapToken": …}`): the socket and the
    /// connect's response.
    pub async fn connect(
        &self,
        url: &str,
        scopes: &[&str],
        auth: Value,
    ) -> Result<(RawWs, Value), String> {
        self.connect_from(url, None, scopes, auth).await
    }

    /// [`Device::connect`] from a page at `origin` (its `Origin` header).
    pub async fn connect_from(
        &self,
        url: &str,
        origin: Option<&str>,
        scopes: &[&str],
        auth: Value,
    ) -> Result<(RawWs, Value), String> {
        let mut ws = match origin {
            Some(origin) => RawWs::open_with_headers(url, &[("Origin", origin)]).await?,
            None => RawWs::open(url).await?,
        };
        let nonce = match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => v["payload"]["nonce"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            other => return Err(format!("expected connect.challenge, got {other:?}")),
        };
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        // The signature covers whichever secret the connect carries.
        let token = auth["token"]
            .as_str()
            .or(auth["deviceToken"].as_str())
            .or(auth["bootstrapToken"].as_str())
            .unwrap_or("")
            .to_owned();
        let proof = self.key.sign(
            &SignInput {
                client_id: &self.client_id,
                client_mode: &self.mode,
                role: "operator",
                scopes: &scopes,
                token: &token,
                nonce: &nonce,
                platform: &self.platform,
                device_family: &self.family,
            },
            unix_ms(),
        );
        let mut client = json!({"id": self.client_id, "version": "e2e", "platform": self.platform,
                       "mode": self.mode, "displayName": "e2e device"});
        if !self.family.is_empty() {
            client["deviceFamily"] = self.family.clone().into();
        }
        if let Some(build) = &self.build_id {
            client["buildId"] = build.clone().into();
        }
        let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
            "minProtocol": 3, "maxProtocol": 4,
            "client": client,
            "role": "operator", "scopes": scopes, "caps": [], "auth": auth,
            "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                       "signedAt": proof.signed_at, "nonce": proof.nonce},
        }});
        ws.send_json(&frame).await?;
        let res = response(&mut ws, "c0").await?;
        Ok((ws, res))
    }
}

/// An operator on loopback with the shared token and no device: a local
/// CLI, which keeps the admin scopes it asks for.
pub struct Operator {
    ws: RawWs,
    next_id: u64,
}

impl Operator {
    pub async fn connect(url: &str, token: &str) -> Result<Operator, String> {
        let mut ws = RawWs::open(url).await?;
        match ws.recv_timeout(WAIT).await {
            Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
            other => return Err(format!("expected connect.challenge, got {other:?}")),
        }
        let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
            "minProtocol": 3, "maxProtocol": 4,
            "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
            "role": "operator",
            "scopes": ["operator.admin", "operator.read", "operator.write", "operator.pairing"],
            "caps": [], "auth": {"token": token},
        }});
        ws.send_json(&frame).await?;
        let res = response(&mut ws, "c0").await?;
        if res["ok"] != true {
            return Err(format!("operator connect refused: {res}"));
        }
        Ok(Operator { ws, next_id: 1 })
    }

    /// Call `method` and return the whole response frame.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send_json(&frame).await?;
        response(&mut self.ws, &id).await
    }

    /// `device.pair.list`'s payload.
    pub async fn pair_list(&mut self) -> Result<Value, String> {
        let res = self.call("device.pair.list", json!({})).await?;
        if res["ok"] != true {
            return Err(format!("device.pair.list failed: {res}"));
        }
        Ok(res["payload"].clone())
    }
}

/// The paired row of `device_id` in a `device.pair.list` payload.
pub fn paired_row(list: &Value, device_id: &str) -> Option<Value> {
    list["paired"]
        .as_array()?
        .iter()
        .find(|d| d["deviceId"] == device_id)
        .cloned()
}

/// The pending requests of `device_id` in a `device.pair.list` payload.
pub fn pending_of(list: &Value, device_id: &str) -> Vec<Value> {
    list["pending"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter(|r| r["deviceId"] == device_id)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The one-time token in an `openclaw dashboard` link's fragment
/// (`…/#bootstrapToken=…&bootstrapProfile=owner&gatewayUrl=…`).
pub fn bootstrap_token_of(browser_url: &str) -> Option<String> {
    let (_, fragment) = browser_url.split_once('#')?;
    let value = fragment
        .split('&')
        .find_map(|pair| pair.strip_prefix("bootstrapToken="))?;
    gateway_proto::text::percent_decode(value)
}
