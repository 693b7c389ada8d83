//! Whole WebSocket frames written straight to the socket.
//!
//! A frame of the core's goes out as three slices in one vectored write: the
//! header (encoded by tungstenite's `FrameHeader`), the message body — the
//! same reference-counted bytes for every recipient of a broadcast, never
//! copied — and the recipient's seq tail. Nothing is buffered between
//! messages, so an idle connection holds no write buffer, whatever it was
//! sent before.
//!
//! A write can be cut short (a deadline, the connection ending); the frame in
//! progress stays here with its offset, so whatever is written next (a close
//! frame) never lands in the middle of it.

use std::io::{self, IoSlice};

use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::FrameHeader;
use bytes::Bytes;
use gateway_proto::wire::{OutFrame, SeqTail};
use smol::io::AsyncWriteExt;
use smol::Async;

/// The socket, as the writer needs it (writable through a shared reference).
pub(crate) type RawSocket = std::sync::Arc<Async<std::net::TcpStream>>;

use crate::outbox::Outbox;

/// The longest header of an unmasked frame (RFC 6455 §5.2).
const MAX_HEADER: usize = 10;

/// One frame on its way out.
struct Pending {
    header: [u8; MAX_HEADER],
    header_len: u8,
    body: Bytes,
    tail: Option<SeqTail>,
    /// Bytes of header + body + tail already written.
    written: usize,
}

impl Pending {
    fn parts(&self) -> [&[u8]; 3] {
        [
            &self.header[..self.header_len as usize],
            &self.body,
            self.tail.as_ref().map_or(&[], SeqTail::as_bytes),
        ]
    }
}

pub(crate) struct FrameWriter {
    socket: RawSocket,
    pending: Option<Pending>,
}

impl FrameWriter {
    pub(crate) fn new(socket: RawSocket) -> FrameWriter {
        FrameWriter {
            socket,
            pending: None,
        }
    }

    /// Write one text message of the core's.
    pub(crate) async fn text(&mut self, frame: &OutFrame) -> io::Result<()> {
        self.finish().await?;
        let header = FrameHeader {
            is_final: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Data(Data::Text),
            mask: None,
        };
        let mut encoded = [0u8; MAX_HEADER];
        let mut out = &mut encoded[..];
        header
            .format(frame.len() as u64, &mut out)
            .map_err(io::Error::other)?;
        let header_len = (MAX_HEADER - out.len()) as u8;
        self.pending = Some(Pending {
            header: encoded,
            header_len,
            body: frame.body().clone(),
            tail: Some(frame.tail()),
            written: 0,
        });
        self.finish().await
    }

    /// Write bytes that are already whole frames (the WebSocket layer's own).
    pub(crate) async fn raw(&mut self, frames: Vec<u8>) -> io::Result<()> {
        self.finish().await?;
        self.pending = Some(Pending {
            header: [0; MAX_HEADER],
            header_len: 0,
            body: Bytes::from(frames),
            tail: None,
            written: 0,
        });
        self.finish().await
    }

    /// Finish a frame cut short, then write every control frame waiting in `outbox`.
    pub(crate) async fn flush_control(&mut self, outbox: &Outbox) -> io::Result<()> {
        self.finish().await?;
        while let Some(control) = outbox.take_control() {
            self.raw(control).await?;
        }
        Ok(())
    }

    /// Write what is left of the frame in progress. Safe to cancel: the
    /// offset is updated as soon as each write returns.
    async fn finish(&mut self) -> io::Result<()> {
        let FrameWriter { socket, pending } = self;
        let mut socket: &Async<std::net::TcpStream> = socket;
        while let Some(frame) = pending {
            let mut skip = frame.written;
            let mut slices = [IoSlice::new(&[]); 3];
            let mut count = 0;
            for part in frame.parts() {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                slices[count] = IoSlice::new(&part[skip..]);
                skip = 0;
                count += 1;
            }
            if count == 0 {
                *pending = None;
                break;
            }
            let n = AsyncWriteExt::write_vectored(&mut socket, &slices[..count]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            frame.written += n;
        }
        Ok(())
    }
}
