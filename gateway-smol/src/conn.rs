//! One WebSocket connection: a reader feeding the hub and a writer draining the
//! connection's queue, raced in one task so either ending ends both.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_util::{SinkExt, StreamExt};
use gateway_proto::gateway::Peer;
use gateway_proto::ConnId;
use smol::channel::{Receiver, Sender};
use smol::io::{AsyncRead, AsyncWrite};

use crate::hub::{HubMsg, ToConn};
use crate::preauth::PreauthGuard;
use crate::server::Shared;

/// Written bytes are reported (and the socket flushed) at least this often, so
/// a connection whose queue never empties still tells the core its progress.
const REPORT_EVERY: usize = 64 * 1024;

pub(crate) async fn run<S>(
    ws: WebSocketStream<S>,
    remote: SocketAddr,
    peer: Peer,
    guard: PreauthGuard,
    authenticated: Arc<AtomicBool>,
    shared: Arc<Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = shared.next_conn_id();
    let (tx, rx) = smol::channel::unbounded();
    if shared
        .hub_tx
        .send(HubMsg::Opened {
            conn,
            peer,
            remote,
            tx,
        })
        .await
        .is_err()
    {
        return;
    }
    let (sink, stream) = ws.split();
    // Set when a ping goes out, cleared by its pong.
    let awaiting_pong = AtomicBool::new(false);
    smol::future::or(
        read(stream, conn, &shared.hub_tx, &awaiting_pong),
        write(
            sink,
            rx,
            conn,
            &shared,
            &awaiting_pong,
            guard,
            &authenticated,
        ),
    )
    .await;
    let _ = shared.hub_tx.send(HubMsg::Closed { conn }).await;
}

/// Feed whole messages to the hub until the peer goes away.
async fn read<S>(
    mut stream: WebSocketReceiver<S>,
    conn: ConnId,
    hub: &Sender<HubMsg>,
    awaiting_pong: &AtomicBool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = stream.next().await {
        let msg = match message {
            Ok(Message::Text(text)) => HubMsg::Text { conn, text },
            Ok(Message::Binary(data)) => HubMsg::Binary {
                conn,
                len: data.len(),
            },
            Ok(Message::Pong(_)) => {
                awaiting_pong.store(false, Ordering::Relaxed);
                continue;
            }
            // Pings are answered by tungstenite; a peer's close is answered on the
            // next read, which then ends the stream.
            Ok(Message::Ping(_) | Message::Close(_) | Message::Frame(_)) => continue,
            Err(e) => {
                log::debug!(target: "gateway/ws", "{conn} read error: {e}");
                return;
            }
        };
        if hub.send(msg).await.is_err() {
            return;
        }
    }
}

enum WriterEvent {
    Queue(Option<ToConn>),
    PingDue,
}

/// Run one socket write, giving up after `limit`: a peer that keeps its TCP
/// connection open but stops reading would otherwise block the writer for
/// ever, and with it the keepalive pings and the core's own close (which is
/// queued behind the frames that no longer go out).
async fn within<T, E>(limit: Duration, write: impl Future<Output = Result<T, E>>) -> Result<T, ()> {
    smol::future::or(async { write.await.map_err(|_| ()) }, async {
        smol::Timer::after(limit).await;
        Err(())
    })
    .await
}

/// Flush the socket and tell the hub how many bytes went out.
async fn flush_and_report<S>(
    sink: &mut WebSocketSender<S>,
    unreported: &mut usize,
    conn: ConnId,
    shared: &Shared,
) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    within(write_deadline(shared), sink.flush()).await?;
    let bytes = std::mem::take(unreported);
    shared
        .hub_tx
        .send(HubMsg::Sent { conn, bytes })
        .await
        .map_err(|_| ())
}

/// How long one write may make no progress before the peer counts as gone:
/// two keepalive periods, the same patience a silent peer gets for its pong.
fn write_deadline(shared: &Shared) -> Duration {
    shared.opts.ping_interval.saturating_mul(2)
}

/// Write the hub's frames in order, report written bytes, keep the socket alive.
async fn write<S>(
    mut sink: WebSocketSender<S>,
    queue: Receiver<ToConn>,
    conn: ConnId,
    shared: &Shared,
    awaiting_pong: &AtomicBool,
    guard: PreauthGuard,
    authenticated: &AtomicBool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut guard = Some(guard);
    let mut ping: Option<smol::Timer> = None;
    let mut unreported = 0usize;
    loop {
        // Whatever is buffered goes out as soon as nothing else is queued behind
        // it, whichever kind of message came last (a hello-ok is followed by
        // `Authenticated`, not by another frame).
        if unreported > 0
            && queue.is_empty()
            && flush_and_report(&mut sink, &mut unreported, conn, shared)
                .await
                .is_err()
        {
            return;
        }
        let event = smol::future::or(
            async { WriterEvent::Queue(queue.recv().await.ok()) },
            async {
                match &mut ping {
                    Some(timer) => {
                        timer.next().await;
                        WriterEvent::PingDue
                    }
                    None => std::future::pending().await,
                }
            },
        )
        .await;
        match event {
            WriterEvent::Queue(Some(ToConn::Frame(frame))) => {
                let len = frame.len();
                let Ok(text) = Utf8Bytes::try_from(frame.to_bytes()) else {
                    // The core only encodes JSON; skip rather than kill the connection.
                    log::error!(target: "gateway/ws", "{conn}: dropped a non-UTF-8 frame");
                    continue;
                };
                if within(write_deadline(shared), sink.feed(Message::Text(text)))
                    .await
                    .is_err()
                {
                    return;
                }
                unreported += len;
                if unreported >= REPORT_EVERY
                    && flush_and_report(&mut sink, &mut unreported, conn, shared)
                        .await
                        .is_err()
                {
                    return;
                }
            }
            WriterEvent::Queue(Some(ToConn::Close { code, reason })) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: Utf8Bytes::from(reason),
                };
                if within(
                    write_deadline(shared),
                    sink.send(Message::Close(Some(frame))),
                )
                .await
                .is_ok()
                {
                    // Give the peer a moment to answer; the reader ends on its close.
                    smol::Timer::after(shared.opts.close_linger).await;
                }
                return;
            }
            WriterEvent::Queue(Some(ToConn::Authenticated)) => {
                // Lift the pre-auth read budget and give back the pre-auth slot.
                authenticated.store(true, Ordering::Relaxed);
                guard.take();
                ping = Some(smol::Timer::interval(shared.opts.ping_interval));
            }
            // The hub dropped this connection (a new generation started).
            WriterEvent::Queue(None) => return,
            WriterEvent::PingDue => {
                if awaiting_pong.swap(true, Ordering::Relaxed) {
                    log::info!(target: "gateway/ws", "{conn}: no pong within {:?}; closing", shared.opts.ping_interval);
                    return;
                }
                if within(
                    write_deadline(shared),
                    sink.send(Message::Ping(Default::default())),
                )
                .await
                .is_err()
                {
                    return;
                }
            }
        }
    }
}
