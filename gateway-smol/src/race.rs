//! Two futures raced in one task, one of them polled only when its own waker
//! fired.
//!
//! `smol::future::or` polls both futures on every wake of the task. A
//! connection races its reader with its writer, and the writer is woken for
//! every frame the hub queues: each of those wakes would also poll the
//! reader, whose socket `read` can then only answer "would block" — one
//! wasted system call per recipient of every broadcast. [`or_gated`] polls
//! the reader only after the reactor (or a channel, or a yield) woke it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The gated future's waker: notes that it fired, then wakes the task.
struct Fired {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

pin_project_lite::pin_project! {
    /// The output of whichever of `gated` and `other` finishes first (see
    /// [`or_gated`]). A plain struct rather than an `async fn`: an async
    /// function would keep a second slot for each future it pins, doubling
    /// what every connection's task holds.
    pub(crate) struct OrGated<G, O> {
        #[pin]
        gated: G,
        #[pin]
        other: O,
        fired: Arc<Fired>,
        gated_waker: Waker,
    }
}

/// Race `gated` and `other`: `gated` is polled first, and after that only
/// when its waker fired; `other` on every wake of the task.
pub(crate) fn or_gated<T, G, O>(gated: G, other: O) -> OrGated<G, O>
where
    G: Future<Output = T>,
    O: Future<Output = T>,
{
    let fired = Arc::new(Fired {
        fired: AtomicBool::new(true),
        task: AtomicWaker::new(),
    });
    let gated_waker = Waker::from(Arc::clone(&fired));
    OrGated {
        gated,
        other,
        fired,
        gated_waker,
    }
}

impl<T, G, O> Future for OrGated<G, O>
where
    G: Future<Output = T>,
    O: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.project();
        // Registered before the flag is read: a wake between the two is not lost.
        this.fired.task.register(cx.waker());
        if this.fired.fired.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(value) = this.gated.poll(&mut Context::from_waker(this.gated_waker))
            {
                return Poll::Ready(value);
            }
        }
        this.other.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Counts its polls; ready once `ready` is set, and wakes itself when asked.
    #[derive(Default)]
    struct Probe {
        polls: Cell<u32>,
        ready: Cell<bool>,
        wake_self: bool,
    }

    impl Future for &Probe {
        type Output = &'static str;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            self.polls.set(self.polls.get() + 1);
            if self.ready.get() {
                return Poll::Ready("probe");
            }
            if self.wake_self {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
    }

    /// A probe that wakes its task on every poll, or one that waits.
    fn probe(wake_self: bool) -> Probe {
        Probe {
            wake_self,
            ..Probe::default()
        }
    }

    /// Poll `future` once with a waker that does nothing.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        let waker = futures_util::task::noop_waker();
        future.poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn the_gated_future_is_polled_only_when_its_waker_fired() {
        let gated = probe(false);
        // The other side keeps waking the task (a writer fed frame after frame).
        let other = probe(true);
        let mut race = std::pin::pin!(or_gated(&gated, &other));
        for _ in 0..10 {
            assert!(poll_once(race.as_mut()).is_pending());
        }
        assert_eq!(
            gated.polls.get(),
            1,
            "polled once at the start, never since"
        );
        assert_eq!(other.polls.get(), 10);
        other.ready.set(true);
        assert_eq!(poll_once(race.as_mut()), Poll::Ready("probe"));
    }

    #[test]
    fn a_self_waking_gated_future_is_polled_again_and_can_finish() {
        let (gated, other) = (probe(true), probe(false));
        let mut race = std::pin::pin!(or_gated(&gated, &other));
        assert!(poll_once(race.as_mut()).is_pending());
        assert!(poll_once(race.as_mut()).is_pending());
        assert_eq!(gated.polls.get(), 2, "its own wake lets it be polled again");
        gated.ready.set(true);
        assert!(poll_once(race.as_mut()).is_ready());
        assert_eq!(gated.polls.get(), 3);
    }
}
