//! One WebSocket connection: a reader feeding the hub and a writer draining the
//! connection's queue, raced in one task so either ending ends both.
//!
//! A peer that breaks the WebSocket rules (a message over the size limit, a
//! text message that is not UTF-8, a bad frame, pings it never reads the
//! pongs of) gets a close frame with the matching code before the socket is
//! dropped, as RFC 6455 §7.1.7 asks and the reference does, not a bare TCP drop.

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use futures_util::{FutureExt, StreamExt};
use gateway_proto::gateway::Peer;
use gateway_proto::ConnId;
use smol::channel::Sender;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::frame_out::{FrameWriter, RawSocket};
use crate::hub::{HubMsg, ToConn};
use crate::outbox::{HubSide, Next, Outbox};
use crate::preauth::{ConnectionSlot, PreauthGuard};
use crate::prefixed::is_over_budget;
use crate::server::Shared;

/// The reader lets other tasks run after this many bytes of messages: a peer
/// whose data is always ready would otherwise keep the (single) server thread.
const YIELD_EVERY_BYTES: usize = 256 * 1024;
/// … or after this many messages, however small.
const YIELD_EVERY_MESSAGES: usize = 64;
/// A message at least this large is handed to the hub alone: the reader waits
/// until the hub has handled it before reading the next. The hub's inbox is
/// bounded by count, so without this one peer could queue many messages of
/// up to maxPayload each (memory), all handled before anyone else's next
/// request (latency).
const LARGE_MESSAGE: usize = 64 * 1024;

/// After a close frame sent because the peer broke the rules: the longest we
/// keep reading (and discarding) what it still sends, so that our close frame
/// is not lost to a TCP reset caused by unread data.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// … and the most bytes we read that way.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// What the socket around the WebSocket stream is, for the ending.
pub(crate) struct Socket {
    /// The same TCP socket: the writer writes to it, and it is half-closed
    /// and drained after a close.
    pub(crate) raw: RawSocket,
    pub(crate) remote: SocketAddr,
    pub(crate) peer: Peer,
    /// Where the hub's frames and the WebSocket layer's control frames wait.
    pub(crate) outbox: Arc<Outbox>,
    /// Most control bytes (pongs) that may wait for a peer that does not
    /// read them.
    pub(crate) max_backlog: usize,
    /// Held for the life of the connection.
    pub(crate) slot: ConnectionSlot,
}

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed, went away, or the hub is gone.
    Done,
    /// The peer broke a rule: close with this code and reason.
    Refuse { code: u16, reason: &'static str },
}

/// Serve one upgraded connection. Its halves come split (not the whole
/// stream): an argument stays in the task's memory for the task's whole
/// life, and the halves are a pointer each.
pub(crate) async fn run<S>(
    (mut sink, stream): (WebSocketSender<S>, WebSocketReceiver<S>),
    socket: Box<Socket>,
    guard: PreauthGuard,
    authenticated: Arc<AtomicBool>,
    shared: Arc<Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = shared.next_conn_id();
    let Socket {
        raw,
        remote,
        peer,
        outbox,
        max_backlog,
        slot,
    } = *socket;
    if shared
        .hub_tx
        .send(HubMsg::Opened {
            conn,
            peer,
            remote,
            outbox: HubSide::new(&outbox),
        })
        .await
        .is_err()
    {
        return;
    }
    let mut out = FrameWriter::new(Arc::clone(&raw));
    // Held until the hub authenticates the connection or the socket is gone
    // (also while a refused peer is drained).
    let mut guard = Some(guard);
    // Set when a ping goes out, cleared by its pong.
    let awaiting_pong = AtomicBool::new(false);
    let reader = Reader {
        conn,
        hub: &shared.hub_tx,
        awaiting_pong: &awaiting_pong,
        authenticated: &authenticated,
        outbox: &outbox,
        max_backlog,
    };
    let writer = Writer {
        conn,
        shared: &shared,
        outbox: &outbox,
        awaiting_pong: &awaiting_pong,
        authenticated: &authenticated,
    };
    // The reader is polled only when its socket (or the hub) woke it, not
    // on each of the writer's wakes (see `race`).
    let end = crate::race::or_gated(reader.read(stream), async {
        writer.write(&mut sink, &mut out, &mut guard).await;
        ReadEnd::Done
    })
    .await;
    // The core stops sending to this connection at once, also while a
    // refused peer is drained below.
    let _ = shared.hub_tx.send(HubMsg::Closed { conn }).await;
    match end {
        ReadEnd::Refuse { code, reason } => {
            log::info!(target: "gateway/ws", "{conn}: closing {code} {reason}");
            // Boxed: rare, and its state would otherwise make every
            // connection's task larger.
            Box::pin(refuse(sink, out, &outbox, &raw, code, reason, &shared)).await;
        }
        ReadEnd::Done => {
            // The WebSocket layer's answer to the peer's close (or a frame
            // the writer had not finished) still goes out, briefly.
            let _ = within(shared.opts.close_linger, out.flush_control(&outbox)).await;
        }
    }
    drop(guard);
    drop(slot);
}

/// Close with `code` after the peer broke a rule: send the close frame (if
/// the socket takes it soon), end our direction, and read what the peer still
/// sends for a while, so the close frame reaches it instead of a reset.
async fn refuse<S>(
    mut sink: WebSocketSender<S>,
    mut out: FrameWriter,
    outbox: &Outbox,
    raw: &RawSocket,
    code: u16,
    reason: &'static str,
    shared: &Shared,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    };
    // The close frame lands in the outbox (after any pongs still waiting).
    let _ = sink.send(Message::Close(Some(frame))).await;
    drop(sink);
    let limit = shared.opts.close_linger.max(Duration::from_millis(500));
    if within(limit, out.flush_control(outbox)).await.is_err() {
        // A peer that does not read cannot be told; just drop it.
        return;
    }
    drop(out);
    let _ = raw.get_ref().shutdown(Shutdown::Write);
    let mut raw: &smol::Async<std::net::TcpStream> = raw;
    let drain = async {
        let mut scratch = vec![0u8; 64 * 1024];
        let mut total = 0;
        while total < DRAIN_BYTES {
            match raw.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            // Data that is always ready must not keep the server thread.
            smol::future::yield_now().await;
        }
    };
    smol::future::or(drain, async {
        smol::Timer::after(DRAIN_TIME).await;
    })
    .await;
}

/// The read half of a connection and what it needs to judge the peer.
struct Reader<'a> {
    conn: ConnId,
    hub: &'a Sender<HubMsg>,
    awaiting_pong: &'a AtomicBool,
    authenticated: &'a AtomicBool,
    outbox: &'a Outbox,
    /// Most control bytes that may wait for the peer.
    max_backlog: usize,
}

impl Reader<'_> {
    /// Feed whole messages to the hub until the peer goes away or breaks a rule.
    async fn read<S>(self, mut stream: WebSocketReceiver<S>) -> ReadEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let conn = self.conn;
        let (mut bytes_since_yield, mut messages_since_yield) = (0usize, 0usize);
        while let Some(message) = stream.next().await {
            messages_since_yield += 1;
            let text = match message {
                Ok(Message::Text(text)) => text,
                // The reference reads a binary message exactly like a text
                // one (its bytes as UTF-8, invalid sequences replaced).
                Ok(Message::Binary(data)) => binary_as_text(data),
                Ok(Message::Pong(_)) => {
                    self.awaiting_pong.store(false, Ordering::Relaxed);
                    continue;
                }
                // tungstenite queues the pong itself; count it, and stop a
                // peer that makes pongs pile up without reading them.
                Ok(Message::Ping(_)) => {
                    if self.outbox.control_backlog() > self.max_backlog {
                        return ReadEnd::Refuse {
                            code: 1008,
                            reason: "slow consumer",
                        };
                    }
                    if messages_since_yield >= YIELD_EVERY_MESSAGES {
                        messages_since_yield = 0;
                        smol::future::yield_now().await;
                    }
                    continue;
                }
                // A peer's close is answered on the next read, which then ends the stream.
                Ok(Message::Close(_) | Message::Frame(_)) => continue,
                Err(e) => {
                    log::debug!(target: "gateway/ws", "{conn} read error: {e}");
                    return self.refusal(&e);
                }
            };
            bytes_since_yield += text.len();
            let (handled, wait) = if text.len() >= LARGE_MESSAGE {
                let (tx, rx) = smol::channel::bounded::<()>(1);
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            let msg = HubMsg::Text {
                conn,
                text,
                handled,
            };
            if self.hub.send(msg).await.is_err() {
                return ReadEnd::Done;
            }
            if let Some(wait) = wait {
                // Ends when the hub drops the sender.
                let _ = wait.recv().await;
            }
            if bytes_since_yield >= YIELD_EVERY_BYTES
                || messages_since_yield >= YIELD_EVERY_MESSAGES
            {
                (bytes_since_yield, messages_since_yield) = (0, 0);
                smol::future::yield_now().await;
            }
        }
        ReadEnd::Done
    }

    /// The close a read error calls for (codes of RFC 6455 §7.4.1, as the
    /// reference's `ws` sends them); `Done` when the peer just went away.
    fn refusal(&self, error: &WsError) -> ReadEnd {
        let authenticated = self.authenticated.load(Ordering::Relaxed);
        let too_big = ReadEnd::Refuse {
            code: 1009,
            reason: if authenticated {
                "payload too large"
            } else {
                "preauth payload too large"
            },
        };
        match error {
            WsError::Capacity(_) => too_big,
            WsError::Io(e) if is_over_budget(e) => too_big,
            WsError::Utf8(_) => ReadEnd::Refuse {
                code: 1007,
                reason: "invalid UTF-8",
            },
            WsError::Protocol(
                ProtocolError::ResetWithoutClosingHandshake | ProtocolError::ReceivedAfterClosing,
            ) => ReadEnd::Done,
            WsError::Protocol(_) => ReadEnd::Refuse {
                code: 1002,
                reason: "protocol error",
            },
            _ => ReadEnd::Done,
        }
    }
}

/// A binary message as the text the core reads: zero-copy when it is UTF-8,
/// else with each invalid sequence replaced by U+FFFD (as Node's
/// `Buffer.toString("utf8")` does in the reference).
fn binary_as_text(data: bytes::Bytes) -> Utf8Bytes {
    match Utf8Bytes::try_from(data.clone()) {
        Ok(text) => text,
        Err(_) => Utf8Bytes::from(String::from_utf8_lossy(&data).into_owned()),
    }
}

enum WriterEvent {
    Queue(Next),
    PingDue,
}

/// Run one socket write, giving up after `limit`: a peer that keeps its TCP
/// connection open but stops reading would otherwise block the writer for
/// ever, and with it the keepalive pings and the core's own close (which is
/// queued behind the frames that no longer go out).
///
/// Built from combinators rather than `async` blocks, which would each keep
/// a second copy of `write` in every connection's task.
fn within<T, E>(
    limit: Duration,
    write: impl Future<Output = Result<T, E>>,
) -> impl Future<Output = Result<T, ()>> {
    smol::future::or(
        write.map(|result| result.map_err(|_| ())),
        FutureExt::map(smol::Timer::after(limit), |_| Err(())),
    )
}

/// How long one write may make no progress before the peer counts as gone:
/// two keepalive periods, the same patience a silent peer gets for its pong.
fn write_deadline(shared: &Shared) -> Duration {
    shared.opts.ping_interval.saturating_mul(2)
}

/// The write half of a connection: the only writer of its socket.
struct Writer<'a> {
    conn: ConnId,
    shared: &'a Shared,
    outbox: &'a Outbox,
    awaiting_pong: &'a AtomicBool,
    authenticated: &'a AtomicBool,
}

impl Writer<'_> {
    /// Tell the hub how many bytes went out.
    async fn report(&self, unreported: &mut usize) -> Result<(), ()> {
        let bytes = std::mem::take(unreported);
        self.shared
            .hub_tx
            .send(HubMsg::Sent {
                conn: self.conn,
                bytes,
            })
            .await
            .map_err(|_| ())
    }

    /// Write the hub's frames in order, report written bytes, keep the socket alive.
    async fn write<S>(
        &self,
        sink: &mut WebSocketSender<S>,
        out: &mut FrameWriter,
        guard: &mut Option<PreauthGuard>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (conn, shared) = (self.conn, self.shared);
        let deadline = write_deadline(shared);
        let mut ping: Option<smol::Timer> = None;
        // Written bytes not yet reported: they are reported in steps (see
        // `write_report_step`), not per frame.
        let mut unreported = 0usize;
        loop {
            let event = smol::future::or(
                async { WriterEvent::Queue(self.outbox.next().await) },
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
                WriterEvent::Queue(Next::Control(frames)) => {
                    if within(deadline, out.raw(frames)).await.is_err() {
                        return;
                    }
                }
                WriterEvent::Queue(Next::Frame(ToConn::Frame(frame))) => {
                    if within(deadline, out.text(&frame)).await.is_err() {
                        return;
                    }
                    unreported += frame.len();
                    if unreported >= shared.admission.write_report_step()
                        && self.report(&mut unreported).await.is_err()
                    {
                        return;
                    }
                }
                WriterEvent::Queue(Next::Frame(ToConn::Close { code, reason })) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: Utf8Bytes::from(reason),
                    };
                    // Through the WebSocket layer, so that it knows the
                    // closing handshake started; the frame lands in the outbox.
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    if within(deadline, out.flush_control(self.outbox))
                        .await
                        .is_ok()
                    {
                        // Give the peer a moment to answer; the reader ends on its close.
                        smol::Timer::after(shared.opts.close_linger).await;
                    }
                    return;
                }
                WriterEvent::Queue(Next::Frame(ToConn::Authenticated)) => {
                    // Lift the pre-auth read budget and give back the pre-auth slot.
                    self.authenticated.store(true, Ordering::Relaxed);
                    guard.take();
                    ping = Some(smol::Timer::interval(shared.opts.ping_interval));
                }
                // The hub dropped this connection (a new generation started).
                WriterEvent::Queue(Next::Released) => return,
                WriterEvent::PingDue => {
                    if self.awaiting_pong.swap(true, Ordering::Relaxed) {
                        log::info!(target: "gateway/ws", "{conn}: no pong within {:?}; closing", shared.opts.ping_interval);
                        return;
                    }
                    // The ping lands in the outbox and goes out on the next turn.
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
