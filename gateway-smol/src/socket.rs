//! One accepted TCP socket: read its request heads and answer probes (in
//! order, kept alive while the client wants), refuse, or upgrade it to a
//! WebSocket connection.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// Read buffer of a WebSocket connection. Most client messages are a few
/// hundred bytes; a larger one is read in steps of this size into a buffer
/// reserved for its full length (the WebSocket layer knows it from the frame
/// header). Every idle connection keeps this much.
const READ_BUFFER_BYTES: usize = 1024;
/// Most control bytes (pongs) kept for a peer that sends pings and does not
/// read: past this the reader closes it "slow consumer".
const MAX_CONTROL_BACKLOG: usize = 1024 * 1024;
/// The WebSocket layer writes only its small control frames (to the
/// outbox, which takes them at once): a tiny write buffer is plenty.
const MAX_WRITE_BUFFER_BYTES: usize = 64 * 1024;
use async_tungstenite::WebSocketStream;
use gateway_proto::gateway::Peer;
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;

use crate::http::{self, HeadError, Response};
use crate::outbox::Outbox;
use crate::prefixed::{PreauthBudget, Prefixed};
use crate::proxy::{self, Attribution};
use crate::readiness::Phase;
use crate::server::Shared;
use crate::{conn, upgrade};

const LIVE: &str = r#"{"ok":true,"status":"live"}"#;

/// Requests one kept-alive connection may make before it is closed.
const MAX_REQUESTS_PER_SOCKET: usize = 100;
/// Largest request body skipped to keep a connection (probes take none).
const MAX_SKIPPED_BODY: usize = 64 * 1024;

/// The probe routes (the reference's names), answered to `GET` and `HEAD`.
#[derive(Clone, Copy)]
enum Probe {
    Live,
    Ready,
    Startup,
}

fn probe(path: &str) -> Option<Probe> {
    match path {
        "/health" | "/healthz" => Some(Probe::Live),
        "/ready" | "/readyz" => Some(Probe::Ready),
        "/startup" | "/startupz" => Some(Probe::Startup),
        _ => None,
    }
}

/// Serve one accepted socket: HTTP requests in order (kept alive while the
/// client wants it) until one is a WebSocket upgrade or the socket is done.
pub(crate) async fn serve(mut stream: TcpStream, remote: SocketAddr, shared: Arc<Shared>) {
    let mut buffered = Vec::new();
    for served in 1..=MAX_REQUESTS_PER_SOCKET {
        // The first request has the head timeout; later ones the keep-alive idle time.
        let timeout = if served == 1 {
            shared.opts.http_head_timeout
        } else {
            shared.opts.http_keep_alive
        };
        let (head, rest) = match http::read_head(
            &mut stream,
            buffered,
            shared.opts.max_http_head,
            timeout,
        )
        .await
        {
            Ok(ok) => ok,
            Err(HeadError::Malformed) => {
                return http::respond_text(&mut stream, 400, "Bad Request").await;
            }
            Err(HeadError::TooLarge) => {
                return http::respond_text(&mut stream, 431, "Request Header Fields Too Large")
                    .await;
            }
            Err(HeadError::Gone) => return,
        };
        if upgrade::is_upgrade(&head) {
            return upgrade(stream, head, rest, remote, shared).await;
        }
        // Keep the connection only if the next request can be found: after a
        // body of known, small length.
        let body = head.body_len().filter(|n| *n <= MAX_SKIPPED_BODY);
        let keep_alive =
            served < MAX_REQUESTS_PER_SOCKET && head.wants_keep_alive() && body.is_some();
        let (status, json);
        // Liveness answers anyone; every other route refuses a request that
        // carries forwarded-client headers nobody here vouches for, as the
        // reference does.
        let unattributable = !matches!(probe(&head.path), Some(Probe::Live))
            && proxy::attribute(remote.ip(), &head, &shared.proxy_trust())
                == Attribution::Unattributable;
        // The OpenAI-compatible routes, when enabled (else the 404 below).
        let head = if !unattributable && crate::openai_http::is_api_path(&head.path) {
            match crate::openai_http::serve(&mut stream, head, rest.clone(), &shared).await {
                Ok(Some(after)) if served < MAX_REQUESTS_PER_SOCKET => {
                    buffered = after;
                    continue;
                }
                Ok(_) => return,
                Err(head) => head,
            }
        } else {
            head
        };
        // The Control UI takes every other page path it serves.
        if !unattributable && probe(&head.path).is_none() {
            if let Some(written) =
                crate::control_ui::serve(&mut stream, &head, keep_alive, &shared).await
            {
                if !written || !keep_alive {
                    return;
                }
                let timeout = shared.opts.http_head_timeout;
                match http::skip_body(&mut stream, rest, body.unwrap_or(0), timeout).await {
                    Some(after_body) => {
                        buffered = after_body;
                        continue;
                    }
                    None => return,
                }
            }
        }
        let response = match (probe(&head.path), head.method.as_str()) {
            _ if unattributable => Response::json(403, proxy::UNATTRIBUTABLE_BODY, false),
            (Some(route), "GET" | "HEAD") => {
                (status, json) = match route {
                    Probe::Live => (200, LIVE.to_owned()),
                    Probe::Startup => shared
                        .readiness
                        .startupz(&shared.opts.config.server_version),
                    Probe::Ready => shared.readiness.readyz(),
                };
                Response::json(status, &json, head.method == "HEAD")
            }
            (Some(_), _) => Response {
                extra_headers: "Allow: GET, HEAD\r\n",
                ..Response::text(405, "Method Not Allowed")
            },
            (None, _) => Response::text(404, "Not Found"),
        };
        if !http::respond(
            &mut stream,
            &response,
            keep_alive,
            shared.opts.http_head_timeout,
        )
        .await
            || !keep_alive
        {
            return;
        }
        let Some(after_body) = http::skip_body(
            &mut stream,
            rest,
            body.unwrap_or(0),
            shared.opts.http_head_timeout,
        )
        .await
        else {
            return;
        };
        buffered = after_body;
    }
}

/// Answer a WebSocket upgrade: refuse it, or switch protocols and run the connection.
async fn upgrade(
    mut stream: TcpStream,
    head: http::Head,
    rest: Vec<u8>,
    remote: SocketAddr,
    shared: Arc<Shared>,
) {
    // Who the client is, when a proxy may stand in between: refused before
    // anything else (the reference answers 403 even to a malformed key).
    let attribution = proxy::attribute(remote.ip(), &head, &shared.proxy_trust());
    let client_ip = match attribution.client_ip() {
        Some(ip) => ip,
        None if head.header_has_token("connection", "upgrade") => {
            log::warn!(target: "gateway/ws",
                "refused upgrade from {}: forwarded-client headers from a peer not in gateway.trustedProxies",
                remote.ip());
            return http::respond_json_403(&mut stream, proxy::UNATTRIBUTABLE_BODY).await;
        }
        None => remote.ip(),
    };
    let accept = match upgrade::accept_key(&head) {
        Ok(accept) => accept,
        Err(why) => return http::respond_text(&mut stream, 400, why).await,
    };
    if shared.readiness.phase() == Phase::Draining {
        return http::respond_text(&mut stream, 503, "Gateway restarting").await;
    }
    // The connection slot is held until the socket is gone.
    // Budgets are per client: behind a trusted proxy, per forwarded client.
    let (slot, guard) = match shared.admission.admit(client_ip) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            log::warn!(target: "gateway/ws", "refused upgrade from {client_ip}: {}", refusal.message());
            return http::respond_text(&mut stream, 503, refusal.message()).await;
        }
    };
    if stream
        .write_all(upgrade::switching_protocols(&accept).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    // Only a direct loopback client is local (silent pairing, local CLI
    // scopes); a client behind a trusted proxy is known by its forwarded address.
    let mut peer = Peer::new(client_ip, attribution.is_local());
    // A browser page announces itself with `Origin`; the core applies the
    // origin rules to such connections, comparing with `Host`.
    if let Some(origin) = head.header("origin").filter(|o| !o.trim().is_empty()) {
        peer = peer.with_origin(origin);
    }
    if let Some(host) = head.header("host") {
        peer = peer.with_host(host);
    }
    // One small read buffer per socket; nothing is buffered for writing
    // (frames go straight to the socket, see `frame_out`).
    let max_payload = shared.opts.config.limits.max_payload;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_payload))
        .max_frame_size(Some(max_payload));
    let authenticated = Arc::new(AtomicBool::new(false));
    let budget = PreauthBudget::new(
        shared.opts.config.limits.max_preauth_payload,
        Arc::clone(&authenticated),
    );
    let outbox = Outbox::new();
    let socket = Box::new(conn::Socket {
        raw: stream.clone().into(),
        remote,
        peer,
        outbox: Arc::clone(&outbox),
        max_backlog: MAX_CONTROL_BACKLOG,
        slot,
    });
    let ws = WebSocketStream::from_raw_socket(
        Prefixed::new(rest, stream)
            .with_budget(budget)
            .with_outbox(outbox),
        Role::Server,
        Some(config),
    )
    .await;
    // The connection gets a task of its own, sized for it alone: this
    // task's HTTP state (request head, read buffer) is freed now.
    let executor = Arc::clone(&shared.executor);
    executor
        .spawn(conn::run(ws.split(), socket, guard, authenticated, shared))
        .detach();
}
