//! A raw WebSocket client for protocol-level checks: no handshake done for
//! you, every message and the close frame (code and reason) visible.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt;
use serde_json::Value;
use smol::net::TcpStream;

/// What arrived from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A text message that parsed as JSON.
    Json(Value),
    /// A text message that did not parse.
    Text(String),
    /// A close frame: `(code, reason)`, `None` when it carried no status.
    Close(Option<(u16, String)>),
    /// The stream ended without a close frame (or failed).
    Ended(String),
}

/// One raw socket.
pub struct RawWs {
    ws: WebSocketStream<TcpStream>,
}

fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("only ws:// URLs are supported: {url}"))?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

pub(crate) fn incoming(
    message: Option<Result<Message, impl std::fmt::Display>>,
) -> Option<Incoming> {
    match message {
        Some(Ok(Message::Text(text))) => Some(match serde_json::from_str(text.as_str()) {
            Ok(v) => Incoming::Json(v),
            Err(_) => Incoming::Text(text.as_str().to_owned()),
        }),
        Some(Ok(Message::Close(frame))) => Some(Incoming::Close(
            frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
        )),
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(Incoming::Ended(format!("read: {e}"))),
        None => Some(Incoming::Ended("connection ended".to_owned())),
    }
}

impl RawWs {
    /// TCP connect and WebSocket upgrade; nothing else.
    pub async fn open(url: &str) -> Result<RawWs, String> {
        let stream = TcpStream::connect(host_port(url)?)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        let (ws, _) = async_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        Ok(RawWs { ws })
    }

    /// [`RawWs::open`] with extra upgrade headers (e.g. a browser's `Origin`).
    pub async fn open_with_headers(url: &str, headers: &[(&str, &str)]) -> Result<RawWs, String> {
        use async_tungstenite::tungstenite::client::IntoClientRequest;
        use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let stream = TcpStream::connect(host_port(url)?)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        let mut request = url
            .into_client_request()
            .map_err(|e| format!("request {url}: {e}"))?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            request.headers_mut().insert(name, value);
        }
        let (ws, _) = async_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        Ok(RawWs { ws })
    }

    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), String> {
        self.ws
            .send(Message::text(text.into()))
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// Send any message, also a hand-made frame (e.g. text that is not UTF-8).
    pub async fn send_message(&mut self, message: Message) -> Result<(), String> {
        self.ws
            .send(message)
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// The TCP socket underneath, for writing raw frames (anything tungstenite
    /// had read ahead is lost).
    pub fn into_tcp(self) -> TcpStream {
        self.ws.into_inner()
    }

    pub async fn send_json(&mut self, frame: &Value) -> Result<(), String> {
        self.send_text(frame.to_string()).await
    }

    /// The next text message or close (pings are answered by the library).
    pub async fn recv(&mut self) -> Incoming {
        loop {
            if let Some(incoming) = incoming(self.ws.next().await) {
                return incoming;
            }
        }
    }

    /// [`RawWs::recv`] with a deadline; `None` on timeout.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Incoming> {
        smol::future::or(async { Some(self.recv().await) }, async {
            smol::Timer::after(timeout).await;
            None
        })
        .await
    }

    /// Read until the server closes (or `timeout`): the JSON frames seen and the
    /// close, `None` on timeout.
    pub async fn until_close(
        &mut self,
        timeout: Duration,
    ) -> (Vec<Value>, Option<Option<(u16, String)>>) {
        let mut frames = Vec::new();
        let close = smol::future::or(
            async {
                loop {
                    match self.recv().await {
                        Incoming::Json(v) => frames.push(v),
                        Incoming::Text(_) => {}
                        Incoming::Close(close) => return Some(close),
                        Incoming::Ended(_) => return Some(None),
                    }
                }
            },
            async {
                smol::Timer::after(timeout).await;
                None
            },
        )
        .await;
        (frames, close)
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
