//! One connection's outgoing side, shared by the hub (which queues the core's
//! frames), the WebSocket layer (which writes control frames of its own: pongs,
//! close replies) and the connection's writer (the only task that writes to
//! the socket).
//!
//! Both queues hold nothing while the connection is idle: the frame queue
//! gives its memory back once it has drained a burst, and the control bytes
//! are taken out whole by the writer. An idle connection's outbox is a few
//! dozen bytes whatever it has sent before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::hub::ToConn;

/// A drained frame queue keeps at most this many slots (a handful of frames
/// is the common burst: response plus an event or two).
const KEPT_SLOTS: usize = 4;

#[derive(Default)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The writer, woken by every push and by the hub letting go.
    writer: AtomicWaker,
    /// Set when the hub dropped the connection (its [`HubSide`] is gone).
    released: AtomicBool,
}

#[derive(Default)]
struct State {
    frames: VecDeque<ToConn>,
    /// Whole control frames from the WebSocket layer, in wire form.
    control: Vec<u8>,
}

/// What the writer is to do next.
pub(crate) enum Next {
    /// Write these control frames first (pongs, a close reply).
    Control(Vec<u8>),
    Frame(ToConn),
    /// The hub let go of the connection and nothing is left to write.
    Released,
}

impl Outbox {
    pub(crate) fn new() -> Arc<Outbox> {
        Arc::new(Outbox::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still has consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a frame of the core's (hub side).
    fn push(&self, item: ToConn) {
        self.state().frames.push_back(item);
        self.writer.wake();
    }

    /// Append control frames written by the WebSocket layer.
    pub(crate) fn push_control(&self, bytes: &[u8]) {
        self.state().control.extend_from_slice(bytes);
        self.writer.wake();
    }

    /// Control bytes not yet taken by the writer (a peer that sends pings
    /// and never reads makes these pile up).
    pub(crate) fn control_backlog(&self) -> usize {
        self.state().control.len()
    }

    /// Take the pending control bytes, if any.
    pub(crate) fn take_control(&self) -> Option<Vec<u8>> {
        let mut state = self.state();
        (!state.control.is_empty()).then(|| std::mem::take(&mut state.control))
    }

    /// The writer's next job, or `Pending` (with the writer's waker kept).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        self.writer.register(cx.waker());
        let mut state = self.state();
        if !state.control.is_empty() {
            return Poll::Ready(Next::Control(std::mem::take(&mut state.control)));
        }
        if let Some(item) = state.frames.pop_front() {
            if state.frames.is_empty() && state.frames.capacity() > KEPT_SLOTS {
                state.frames.shrink_to(KEPT_SLOTS);
            }
            return Poll::Ready(Next::Frame(item));
        }
        if state.frames.capacity() > 0 {
            // Idle: keep nothing.
            state.frames = VecDeque::new();
        }
        if self.released.load(Ordering::Acquire) {
            return Poll::Ready(Next::Released);
        }
        Poll::Pending
    }

    pub(crate) async fn next(&self) -> Next {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

/// The hub's handle on a connection's outbox: dropping it (the connection
/// left the hub, or the hub generation ended) tells the writer to stop once
/// what is queued is written.
pub(crate) struct HubSide(Arc<Outbox>);

impl HubSide {
    pub(crate) fn new(outbox: &Arc<Outbox>) -> HubSide {
        HubSide(Arc::clone(outbox))
    }

    pub(crate) fn push(&self, item: ToConn) {
        self.0.push(item);
    }

    /// Drop the queued frames the writer has not started (a slow consumer's
    /// backlog); markers such as `Authenticated` stay.
    pub(crate) fn discard_frames(&self) {
        let mut state = self.0.state();
        state
            .frames
            .retain(|item| !matches!(item, ToConn::Frame(_)));
        state.frames.shrink_to_fit();
    }
}

impl Drop for HubSide {
    fn drop(&mut self) {
        self.0.released.store(true, Ordering::Release);
        self.0.writer.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_proto::wire::OutFrame;

    fn frame(text: &'static str) -> ToConn {
        ToConn::Frame(OutFrame::whole(bytes::Bytes::from_static(text.as_bytes())))
    }

    fn poll(outbox: &Outbox) -> Poll<Next> {
        let waker = futures_util::task::noop_waker();
        outbox.poll_next(&mut Context::from_waker(&waker))
    }

    #[test]
    fn control_first_then_frames_then_released() {
        let outbox = Outbox::new();
        let hub = HubSide::new(&outbox);
        hub.push(frame("a"));
        outbox.push_control(b"pong");
        assert!(matches!(poll(&outbox), Poll::Ready(Next::Control(c)) if c == b"pong"));
        assert!(matches!(poll(&outbox), Poll::Ready(Next::Frame(_))));
        assert!(poll(&outbox).is_pending());
        hub.push(frame("b"));
        drop(hub);
        // What was queued before the hub let go is still written.
        assert!(matches!(poll(&outbox), Poll::Ready(Next::Frame(_))));
        assert!(matches!(poll(&outbox), Poll::Ready(Next::Released)));
    }

    #[test]
    fn a_slow_consumers_backlog_is_discarded_before_its_close() {
        let outbox = Outbox::new();
        let hub = HubSide::new(&outbox);
        hub.push(ToConn::Authenticated);
        for _ in 0..1_000 {
            hub.push(frame("x"));
        }
        hub.discard_frames();
        hub.push(ToConn::Close {
            code: 1008,
            reason: "slow consumer".into(),
        });
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Frame(ToConn::Authenticated))
        ));
        assert!(matches!(
            poll(&outbox),
            Poll::Ready(Next::Frame(ToConn::Close { code: 1008, .. }))
        ));
        assert!(poll(&outbox).is_pending());
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let outbox = Outbox::new();
        let hub = HubSide::new(&outbox);
        for _ in 0..10_000 {
            hub.push(frame("x"));
        }
        outbox.push_control(&[0; 4096]);
        while poll(&outbox).is_ready() {}
        let state = outbox.state();
        assert_eq!(state.frames.capacity(), 0);
        assert_eq!(state.control.capacity(), 0);
    }
}
