//! Real WebSocket clients for load tests and benchmarks: connect and
//! handshake many at once, then drive round trips or measure fan-out.
#![allow(clippy::disallowed_methods)] // load measurement reads the clock

use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt;
use serde_json::{json, Value};
use smol::net::TcpStream;

/// Where to connect and with which token.
#[derive(Clone, Debug)]
pub struct LoadTarget {
    pub url: String,
    pub token: String,
}

/// The load clients' WebSocket settings. tungstenite zeroes a whole read
/// chunk on every read (128 KiB by default): with a thousand clients that
/// memset was most of loadgen's time, and loadgen, not the gateway, set the
/// fan-out figures. Messages of any size still arrive whole.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_CHUNK)
}

/// Bytes tungstenite asks the socket for per read. 32 KiB doubled the
/// fan-out p50 to 1,000 clients against 4 KiB; the flood's ~650 KB frames
/// were read no faster with it.
const READ_CHUNK: usize = 4096;

/// One authenticated connection.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
}

fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("only ws:// URLs are supported: {url}"))?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// Who a load client says it is (`connect.params.client`).
#[derive(Clone, Debug)]
pub struct ClientKind {
    pub id: String,
    pub mode: String,
    pub instance_id: Option<String>,
}

impl ClientKind {
    /// The CLI (`cli`/`cli`), which the gateway never tracks in presence.
    pub fn cli() -> Self {
        ClientKind {
            id: "cli".into(),
            mode: "cli".into(),
            instance_id: None,
        }
    }
}

impl ClientKind {
    /// Client `i` of a real mix, the way clients connect in practice: 40 %
    /// SDK backends (`gateway-client`/`backend`), 30 % CLIs, 20 % webchat
    /// pages (`webchat`/`webchat`, with `Origin`; the reference wants a paired
    /// device of an `openclaw-control-ui` client) and 10 % node hosts
    /// (`node-host`/`node`, in the operator role: a `node` role needs a
    /// paired device). All but the CLI carry an instance id; UI pages and
    /// node hosts are tracked in presence, backends and CLIs are not.
    pub fn mix(i: usize) -> Self {
        let (id, mode) = match i % 10 {
            0..=3 => ("gateway-client", "backend"),
            4..=6 => ("cli", "cli"),
            7 | 8 => ("webchat", "webchat"),
            _ => ("node-host", "node"),
        };
        ClientKind {
            id: id.into(),
            mode: mode.into(),
            instance_id: (mode != "cli").then(|| format!("{mode}-{i}")),
        }
    }

    /// A Control UI or webchat page (which a browser opens, with `Origin`).
    pub fn is_browser(&self) -> bool {
        matches!(
            self.id.as_str(),
            "openclaw-control-ui" | "webchat-ui" | "webchat"
        ) || matches!(self.mode.as_str(), "ui" | "webchat")
    }

    /// Whether the gateway tracks this client in presence.
    pub fn tracked(&self) -> bool {
        !matches!(self.mode.as_str(), "cli" | "backend" | "probe")
    }
}

/// Which clients a load run opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Every client a CLI (untracked, no instance id).
    Cli,
    /// [`ClientKind::mix`].
    Real,
}

impl Mix {
    pub fn kind(self, i: usize) -> ClientKind {
        match self {
            Mix::Cli => ClientKind::cli(),
            Mix::Real => ClientKind::mix(i),
        }
    }
}

impl Conn {
    /// Connect, wait for `connect.challenge`, send `connect` as a CLI with
    /// `scopes`, and wait for hello-ok.
    pub async fn open(target: &LoadTarget, scopes: &[&str]) -> Result<Conn, String> {
        Conn::open_as(target, &ClientKind::cli(), scopes).await
    }

    /// [`Conn::open`] as another kind of client.
    pub async fn open_as(
        target: &LoadTarget,
        kind: &ClientKind,
        scopes: &[&str],
    ) -> Result<Conn, String> {
        let stream = TcpStream::connect(host_port(&target.url)?)
            .await
            .map_err(|e| format!("connect {}: {e}", target.url))?;
        let mut request = target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("bad URL {}: {e}", target.url))?;
        if kind.is_browser() {
            // A Control UI page is a browser page: it sends `Origin`, which
            // the reference requires of it (the gateway's own host is allowed).
            let origin = format!("http://{}", host_port(&target.url)?);
            let value = origin
                .parse()
                .map_err(|e| format!("bad origin {origin}: {e}"))?;
            request.headers_mut().insert("origin", value);
        }
        let (ws, _) =
            async_tungstenite::client_async_with_config(request, stream, Some(client_config()))
                .await
                .map_err(|e| format!("upgrade: {e}"))?;
        let mut conn = Conn { ws, next_id: 1 };
        conn.next_event("connect.challenge", Duration::from_secs(15))
            .await?;
        let mut client = json!({"id": kind.id, "version": "loadgen", "platform": "linux",
                                "mode": kind.mode});
        if let Some(instance) = &kind.instance_id {
            client["instanceId"] = instance.as_str().into();
        }
        let connect = json!({
            "type": "req", "id": "c", "method": "connect",
            "params": {
                "minProtocol": 4, "maxProtocol": 4,
                "client": client,
                "role": "operator", "scopes": scopes, "caps": [],
                "auth": {"token": target.token},
            }
        });
        conn.send(&connect).await?;
        let res = conn.response("c", Duration::from_secs(15)).await?;
        if res["ok"] != true {
            return Err(format!("connect refused: {}", res["error"]));
        }
        Ok(conn)
    }

    pub async fn send(&mut self, frame: &Value) -> Result<(), String> {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// The next text message or close frame (pings are answered by the library).
    pub async fn recv(&mut self) -> crate::ws::Incoming {
        loop {
            if let Some(incoming) = crate::ws::incoming(self.ws.next().await) {
                return incoming;
            }
        }
    }

    /// Next text frame as JSON (pings are answered by the library).
    pub async fn next_frame(&mut self) -> Result<Value, String> {
        let text = self.next_text().await?;
        serde_json::from_str(&text).map_err(|e| format!("bad JSON from gateway: {e}"))
    }

    /// Next text frame, unparsed.
    pub async fn next_text(&mut self) -> Result<String, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("connection ended".to_owned()),
            }
        }
    }

    async fn with_timeout<T>(
        future: impl std::future::Future<Output = Result<T, String>>,
        timeout: Duration,
        what: &str,
    ) -> Result<T, String> {
        let timer = async {
            smol::Timer::after(timeout).await;
            Err(format!("timed out waiting for {what}"))
        };
        smol::future::or(future, timer).await
    }

    pub async fn next_event(&mut self, name: &str, timeout: Duration) -> Result<Value, String> {
        let what = format!("event {name}");
        Self::with_timeout(
            async {
                loop {
                    let frame = self.next_frame().await?;
                    if frame["type"] == "event" && frame["event"] == name {
                        return Ok(frame);
                    }
                }
            },
            timeout,
            &what,
        )
        .await
    }

    pub async fn response(&mut self, id: &str, timeout: Duration) -> Result<Value, String> {
        let what = format!("response {id}");
        Self::with_timeout(
            async {
                loop {
                    let frame = self.next_frame().await?;
                    if frame["type"] == "res" && frame["id"] == id {
                        return Ok(frame);
                    }
                }
            },
            timeout,
            &what,
        )
        .await
    }

    /// One request/response round trip.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        self.send(&json!({"type": "req", "id": id, "method": method, "params": params}))
            .await?;
        self.response(&id, Duration::from_secs(30)).await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Open `n` read-scoped CLI connections, at most `concurrency` handshakes at a time.
pub async fn connect_many(
    target: &LoadTarget,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Conn>, String> {
    connect_mix(target, Mix::Cli, n, concurrency).await
}

/// Open `n` read-scoped connections of `mix`, at most `concurrency` handshakes at a time.
pub async fn connect_mix(
    target: &LoadTarget,
    mix: Mix,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Conn>, String> {
    let results: Vec<Result<Conn, String>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let kind = mix.kind(i);
            async move { Conn::open_as(target, &kind, &["operator.read"]).await }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut conns = Vec::with_capacity(n);
    let mut failures = 0;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(conn) => conns.push(conn),
            Err(e) => {
                failures += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if failures > 0 {
        return Err(format!(
            "{failures} of {n} connections failed; first: {}",
            first_error.unwrap_or_default()
        ));
    }
    Ok(conns)
}

/// Open `n` connections of `mix` that read (and discard) everything from the
/// moment each is open, as real clients do: a client that does not read
/// while the others connect would make the gateway queue the presence
/// broadcasts of the tracked ones for it.
pub async fn connect_reading(
    target: &LoadTarget,
    mix: Mix,
    n: usize,
    concurrency: usize,
) -> Result<Vec<smol::Task<()>>, String> {
    let mut readers = Vec::with_capacity(n);
    let mut opened = futures_util::stream::iter(0..n)
        .map(|i| {
            let kind = mix.kind(i);
            async move { Conn::open_as(target, &kind, &["operator.read"]).await }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = opened.next().await {
        let mut conn = result?;
        readers.push(smol::spawn(async move {
            while conn.next_frame().await.is_ok() {}
        }));
    }
    Ok(readers)
}

/// Keep reading connections open for `duration` or until stdin closes.
/// Prints `READY <n> <connect seconds>` once they are all open.
pub async fn hold(
    readers: Vec<smol::Task<()>>,
    connect_secs: f64,
    duration: Duration,
) -> Result<Value, String> {
    let n = readers.len();
    println!("READY {n} {connect_secs:.3}");
    let stdin_closed = smol::unblock(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|read| read > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
    });
    smol::future::or(stdin_closed, async {
        smol::Timer::after(duration).await;
    })
    .await;
    drop(readers);
    Ok(json!({"mode": "hold", "held": n}))
}

/// Latency percentile (`q` in 0..=1) of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted_us.len() - 1) as f64 * q).round() as usize;
    sorted_us[rank.min(sorted_us.len() - 1)] as f64 / 1000.0
}

/// Every connection keeps one `health` request in flight for `duration`.
pub async fn round_trips(conns: Vec<Conn>, duration: Duration) -> Result<Value, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            smol::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let res = conn.call("health", json!({})).await?;
                    if res["ok"] != true {
                        return Err(format!("health failed: {}", res["error"]));
                    }
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                conn.close().await;
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(json!({
        "mode": "rps",
        "roundTrips": all.len(),
        "seconds": elapsed,
        "perSecond": all.len() as f64 / elapsed,
        "p50Ms": percentile_ms(&all, 0.50),
        "p99Ms": percentile_ms(&all, 0.99),
    }))
}

/// `rounds` times: an admin client sends `system-event`; every receiver times
/// its `presence` event from the moment of sending.
pub async fn fanout(
    target: &LoadTarget,
    receivers: Vec<Conn>,
    rounds: usize,
) -> Result<Value, String> {
    let n = receivers.len();
    let (tx, rx) = smol::channel::unbounded::<(usize, Instant)>();
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|mut conn| {
            let tx = tx.clone();
            smol::spawn(async move {
                let mut round = 0;
                // A substring test, not a parse: the receivers' own work must not
                // dominate the delay being measured. The round's own text, so
                // that a presence event of someone else's (a tracked client
                // connecting) is not taken for it.
                let mut wanted = format!("loadgen fan-out round {round}\"");
                while let Ok(text) = conn.next_text().await {
                    if text.contains(r#""event":"presence""#) && text.contains(&wanted) {
                        if tx.send((round, Instant::now())).await.is_err() {
                            break;
                        }
                        round += 1;
                        wanted = format!("loadgen fan-out round {round}\"");
                    }
                }
            })
        })
        .collect();
    let mut sender = Conn::open(target, &["operator.admin"]).await?;
    let mut delays = Vec::with_capacity(n * rounds);
    let mut missing = 0usize;
    // Round 0 is not timed: it counts the clients that receive presence
    // at all (of a real mix, some kinds are not sent it), which the timed
    // rounds then expect.
    let mut receiving = n;
    for round in 0..=rounds {
        let sent = Instant::now();
        let text = format!("loadgen fan-out round {round}");
        sender
            .send(
                &json!({"type": "req", "id": format!("e{round}"), "method": "system-event",
                "params": {"text": text, "instanceId": "loadgen-sender", "mode": "cli"}}),
            )
            .await?;
        let mut got = 0;
        let deadline = sent + Duration::from_secs(if round == 0 { 5 } else { 30 });
        while got < receiving {
            let wait = deadline.saturating_duration_since(Instant::now());
            let next = smol::future::or(async { rx.recv().await.ok() }, async {
                smol::Timer::after(wait).await;
                None
            })
            .await;
            match next {
                Some((r, at)) if r == round => {
                    got += 1;
                    if round > 0 {
                        delays.push(at.saturating_duration_since(sent).as_micros() as u64);
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        if round == 0 {
            receiving = got;
        } else {
            missing += receiving - got;
        }
        // Let the system settle between rounds.
        smol::Timer::after(Duration::from_millis(100)).await;
    }
    drop(tasks);
    delays.sort_unstable();
    Ok(json!({
        "mode": "fanout",
        "rounds": rounds,
        "receivers": receiving,
        "deliveries": delays.len(),
        "missing": missing,
        "p50Ms": percentile_ms(&delays, 0.50),
        "p99Ms": percentile_ms(&delays, 0.99),
    }))
}

/// The flood of issue 11: one client connects and reads nothing while an
/// admin sends `events` `system-event` presence updates with 4 KB texts from
/// 150 instance ids, at most 32 in flight, reading everything it is sent.
/// Prints `STALLED` once the stalled client is connected (so a caller can
/// sample the gateway's memory), and reports the admin's rate.
pub async fn flood(target: &LoadTarget, events: usize) -> Result<Value, String> {
    const INSTANCES: usize = 150;
    const BATCH: usize = 32;
    let mut admin = Conn::open(target, &["operator.admin"]).await?;
    let stalled = Conn::open(target, &["operator.read"]).await?;
    println!("STALLED");
    let started = Instant::now();
    let mut id = 0;
    while id < events {
        let batch = BATCH.min(events - id);
        for i in id..id + batch {
            let instance = i % INSTANCES;
            let text = format!("flood {i:08} {}", "x".repeat(4096 - 15));
            admin
                .send(
                    &json!({"type": "req", "id": format!("f{i}"), "method": "system-event",
                    "params": {"text": text, "instanceId": format!("flood-{instance:03}"),
                               "host": format!("flood-host-{instance:03}"), "mode": "backend"}}),
                )
                .await?;
        }
        let mut answered = 0;
        while answered < batch {
            let frame =
                Conn::with_timeout(admin.next_frame(), Duration::from_secs(60), "flood answer")
                    .await?;
            if frame["type"] == "res" {
                if frame["ok"] != true {
                    return Err(format!("system-event failed: {frame}"));
                }
                answered += 1;
            }
        }
        id += batch;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("FLOODED");
    drop(stalled);
    Ok(json!({
        "mode": "flood",
        "events": events,
        "seconds": seconds,
        "perSecond": events as f64 / seconds,
    }))
}
