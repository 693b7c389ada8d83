//! A socket with some already-read bytes in front (bytes that arrived right
//! behind the HTTP head are the start of the WebSocket stream), a budget on
//! what an unauthenticated peer may send, and a write side that hands the
//! WebSocket layer's own frames (pongs, close replies) to the connection's
//! [`Outbox`] instead of the socket: only the connection's writer writes to
//! the socket, so those frames never land in the middle of one of ours.
//!
//! The WebSocket layer accepts messages up to `maxPayload` (25 MiB) and only
//! then hands them over; the core refuses anything over 64 KiB before the
//! handshake, but only once it has the whole message. The budget stops the
//! reading well before that: an unauthenticated socket may deliver at most
//! [`PreauthBudget::limit`] bytes in all, then the read fails (the connection
//! then closes 1009), so pre-auth memory stays small whatever a peer sends.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use smol::io::{AsyncRead, AsyncWrite};

use crate::outbox::Outbox;

/// The read error of a peer over its pre-auth budget (see [`is_over_budget`]).
#[derive(Debug)]
struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unauthenticated peer sent more than the pre-auth limit")
    }
}

impl std::error::Error for OverBudget {}

/// Whether a read failed because an unauthenticated peer spent its budget.
pub(crate) fn is_over_budget(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<OverBudget>())
}

/// Bytes an unauthenticated peer may still send; unlimited once the
/// connection is authenticated.
pub(crate) struct PreauthBudget {
    authenticated: Arc<AtomicBool>,
    remaining: usize,
}

impl PreauthBudget {
    /// Room for one first frame at the core's pre-auth limit (which the core
    /// answers with its own 1009 close), its framing, and a few control frames.
    pub(crate) fn limit(max_preauth_payload: usize) -> usize {
        max_preauth_payload.saturating_mul(2).saturating_add(4096)
    }

    pub(crate) fn new(max_preauth_payload: usize, authenticated: Arc<AtomicBool>) -> Self {
        PreauthBudget {
            authenticated,
            remaining: Self::limit(max_preauth_payload),
        }
    }

    /// Account for `n` bytes read; an error once an unauthenticated peer is over budget.
    fn spend(&mut self, n: usize) -> io::Result<()> {
        if self.authenticated.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.remaining.checked_sub(n) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(io::Error::other(OverBudget)),
        }
    }
}

pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
    budget: Option<PreauthBudget>,
    outbox: Option<Arc<Outbox>>,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
            budget: None,
            outbox: None,
        }
    }

    /// Send what the WebSocket layer writes to `outbox` instead of the socket.
    pub(crate) fn with_outbox(mut self, outbox: Arc<Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    pub(crate) fn with_budget(mut self, budget: PreauthBudget) -> Self {
        self.budget = Some(budget);
        self
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = if this.pos < this.prefix.len() {
            let n = buf.len().min(this.prefix.len() - this.pos);
            buf[..n].copy_from_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            Poll::Ready(Ok(n))
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        };
        match (read, this.budget.as_mut()) {
            (Poll::Ready(Ok(n)), Some(budget)) => Poll::Ready(budget.spend(n).map(|()| n)),
            (read, _) => read,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match &this.outbox {
            Some(outbox) => {
                outbox.push_control(buf);
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.outbox.is_some() {
            // The connection's writer sends the outbox's frames.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.outbox.is_some() {
            // The connection ends the socket itself, after its writer is done.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_an_unauthenticated_flood_but_not_an_authenticated_one() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut budget = PreauthBudget::new(100, Arc::clone(&flag));
        assert!(budget.spend(PreauthBudget::limit(100)).is_ok());
        assert!(budget.spend(1).is_err_and(|e| is_over_budget(&e)));
        assert!(!is_over_budget(&io::Error::other("something else")));
        flag.store(true, Ordering::Relaxed);
        assert!(budget.spend(1 << 30).is_ok());
    }
}
