//! Work the core hands to the runtime, and what it does with the results.
//!
//! An effect is asked for with a token; its result comes back as an
//! [`EffectResult`] with the same token. What the core promises:
//!
//! - **A waiter gets one answer.** A request that waits on an effect is
//!   answered with the result, or with `UNAVAILABLE` when the effect's
//!   deadline passes first (a late result then only commits, see below).
//! - **Results commit even when nobody waits any more.** An effect that
//!   changes state (a store write) is applied when its result arrives, even
//!   if the connection that asked has gone or its deadline has passed.
//! - **Writes to one store are applied in order.** Only one write per store
//!   is with the runtime at a time; the next leaves when the previous one's
//!   result is in, so a runtime with a worker pool cannot reorder them.
//! - **Bounded.** At most `max_pending` effects are pending or queued; past
//!   that, new ones are refused and the caller answers `UNAVAILABLE`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::time::Timestamp;

use super::io::Effect;
use crate::ConnId;

/// A store whose writes must be applied in the order they were asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreKey(pub &'static str);

/// Who is waiting for an effect's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiter {
    /// A request: answer it.
    Request { conn: ConnId, request_id: String },
    /// A handshake (its `connect` is answered once the effect is done).
    Handshake { conn: ConnId },
}

impl Waiter {
    pub fn conn(&self) -> ConnId {
        match self {
            Waiter::Request { conn, .. } | Waiter::Handshake { conn } => *conn,
        }
    }
}

/// An effect the core is waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub waiter: Option<Waiter>,
    /// The result changes state: apply it whenever it arrives.
    pub commits: bool,
    pub store: Option<StoreKey>,
    deadline: Option<Timestamp>,
}

/// The effects component: pending tokens, per-store write queues, deadlines.
#[derive(Debug)]
pub(crate) struct Effects {
    pending: BTreeMap<u64, Pending>,
    /// Writes waiting for an earlier write of the same store.
    queued: BTreeMap<StoreKey, VecDeque<Effect>>,
    /// Stores with a write at the runtime.
    busy: BTreeMap<StoreKey, u64>,
    next_token: u64,
    max_pending: usize,
    timeout: Duration,
}

/// Why an effect was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooManyEffects;

/// An effect to start, built around the token it is given.
pub(crate) struct Request {
    pub waiter: Option<Waiter>,
    pub commits: bool,
    pub store: Option<StoreKey>,
    /// Answer the waiter with a timeout if no result comes within the
    /// effect timeout.
    pub deadline: bool,
}

impl Request {
    /// A read that answers request `request_id` of `conn`: nothing to
    /// commit, no store, and a timeout answer if no result comes.
    pub(crate) fn read_for(conn: ConnId, request_id: &str) -> Request {
        Request {
            waiter: Some(Waiter::Request {
                conn,
                request_id: request_id.to_owned(),
            }),
            commits: false,
            store: None,
            deadline: true,
        }
    }
}

impl Effects {
    /// `first_token` should be random: a late result from an earlier hub
    /// (the runtime keeps its workers across a restart) must not match.
    pub(crate) fn new(first_token: u64, max_pending: usize, timeout: Duration) -> Self {
        Effects {
            pending: BTreeMap::new(),
            queued: BTreeMap::new(),
            busy: BTreeMap::new(),
            next_token: first_token,
            max_pending,
            timeout,
        }
    }

    pub(crate) fn set_limits(&mut self, max_pending: usize, timeout: Duration) {
        self.max_pending = max_pending;
        self.timeout = timeout;
    }

    /// A fresh token for an effect its owner tracks itself (a model call
    /// streams many results, so it is not a pending effect here).
    pub(crate) fn take_token(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        token
    }

    /// Register an effect; `build` makes it from its token. Returns the
    /// effect to hand to the runtime now (`None` when it waits behind an
    /// earlier write of the same store).
    pub(crate) fn start(
        &mut self,
        request: Request,
        now: Timestamp,
        build: impl FnOnce(u64) -> Effect,
    ) -> Result<Option<Effect>, TooManyEffects> {
        // Queued writes are pending too: one count bounds both.
        if self.pending.len() >= self.max_pending {
            return Err(TooManyEffects);
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        let effect = build(token);
        self.pending.insert(
            token,
            Pending {
                waiter: request.waiter,
                // A store write holds its store until its result arrives,
                // so it stays pending even if nobody waits for it any more.
                commits: request.commits || request.store.is_some(),
                store: request.store,
                deadline: request.deadline.then(|| now + self.timeout),
            },
        );
        match request.store {
            Some(store) if self.busy.contains_key(&store) => {
                self.queued.entry(store).or_default().push_back(effect);
                Ok(None)
            }
            Some(store) => {
                self.busy.insert(store, token);
                Ok(Some(effect))
            }
            None => Ok(Some(effect)),
        }
    }

    /// A result arrived: the effect is no longer pending. Returns what was
    /// waiting for it (or `None` for an unknown or timed-out token) and, for
    /// a store write, the store's next queued write to hand out.
    pub(crate) fn finish(&mut self, token: u64) -> (Option<Pending>, Option<Effect>) {
        let Some(pending) = self.pending.remove(&token) else {
            return (None, None);
        };
        let mut next = None;
        if let Some(store) = pending.store {
            if self.busy.get(&store) == Some(&token) {
                self.busy.remove(&store);
                if let Some(queue) = self.queued.get_mut(&store) {
                    if let Some(effect) = queue.pop_front() {
                        self.busy.insert(store, effect.token());
                        next = Some(effect);
                    }
                    if queue.is_empty() {
                        self.queued.remove(&store);
                    }
                }
            }
        }
        (Some(pending), next)
    }

    /// The connection went away: nobody waits for its effects any more, but
    /// committing effects stay pending until their results arrive.
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.pending.retain(|_, p| {
            if p.waiter.as_ref().is_some_and(|w| w.conn() == conn) {
                p.waiter = None;
                return p.commits;
            }
            true
        });
    }

    /// Waiters whose deadline has passed at `now`; their effects stop being
    /// waited for (a committing one stays pending for its result).
    pub(crate) fn expire(&mut self, now: Timestamp) -> Vec<Waiter> {
        let mut expired = Vec::new();
        self.pending.retain(|_, p| {
            if p.deadline.is_some_and(|at| at <= now) {
                p.deadline = None;
                if let Some(waiter) = p.waiter.take() {
                    expired.push(waiter);
                }
                return p.commits;
            }
            true
        });
        expired
    }

    /// The earliest waiter deadline.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    /// Effects pending or queued.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Drop everything (shutdown): no answer will be sent.
    pub(crate) fn clear_waiters(&mut self) {
        for pending in self.pending.values_mut() {
            pending.waiter = None;
            pending.deadline = None;
        }
        self.pending.retain(|_, p| p.commits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn read(token: u64) -> Effect {
        Effect::ReadLogs {
            token,
            cursor: None,
            limit: 1,
            max_bytes: 1,
        }
    }

    fn request(conn: u64, id: &str) -> Option<Waiter> {
        Some(Waiter::Request {
            conn: ConnId(conn),
            request_id: id.to_owned(),
        })
    }

    const STORE: StoreKey = StoreKey("pairing");

    fn write(waiter: Option<Waiter>) -> Request {
        Request {
            waiter,
            commits: true,
            store: Some(STORE),
            deadline: true,
        }
    }

    #[test]
    fn writes_to_one_store_leave_one_at_a_time_in_order() {
        let mut fx = Effects::new(100, 10, Duration::from_secs(30));
        let first = fx.start(write(request(1, "a")), at(0), read).unwrap();
        assert_eq!(first.as_ref().map(Effect::token), Some(100));
        // The next two wait behind the first.
        assert_eq!(fx.start(write(request(1, "b")), at(0), read), Ok(None));
        assert_eq!(fx.start(write(None), at(0), read), Ok(None));
        assert_eq!(fx.len(), 3);
        let (done, next) = fx.finish(100);
        assert_eq!(done.and_then(|p| p.waiter), request(1, "a"));
        assert_eq!(next.map(|e| e.token()), Some(101));
        // A result for a write that is not the store's current one releases nothing.
        assert_eq!(fx.finish(999), (None, None));
        let (_, next) = fx.finish(101);
        assert_eq!(next.map(|e| e.token()), Some(102));
        let (_, next) = fx.finish(102);
        assert_eq!(next, None);
        assert_eq!(fx.len(), 0);
    }

    #[test]
    fn commits_survive_their_requester_and_their_deadline() {
        let mut fx = Effects::new(1, 10, Duration::from_secs(30));
        fx.start(write(request(7, "w")), at(0), read).unwrap();
        let plain = Request {
            waiter: request(7, "r"),
            commits: false,
            store: None,
            deadline: true,
        };
        fx.start(plain, at(0), read).unwrap();
        // The connection goes: the read is forgotten, the write is not.
        fx.forget_conn(ConnId(7));
        assert_eq!(fx.len(), 1);
        let (done, _) = fx.finish(1);
        let done = done.expect("the write still lands");
        assert!(done.commits && done.waiter.is_none());
        assert_eq!(fx.finish(2), (None, None));
    }

    #[test]
    fn a_waiter_is_answered_when_its_deadline_passes() {
        let mut fx = Effects::new(1, 10, Duration::from_secs(30));
        let read_request = Request {
            waiter: request(3, "r"),
            commits: false,
            store: None,
            deadline: true,
        };
        fx.start(read_request, at(0), read).unwrap();
        fx.start(
            write(Some(Waiter::Handshake { conn: ConnId(4) })),
            at(1000),
            read,
        )
        .unwrap();
        assert_eq!(fx.next_deadline(), Some(at(30_000)));
        assert!(fx.expire(at(29_999)).is_empty());
        assert_eq!(fx.expire(at(30_000)), vec![request(3, "r").unwrap()]);
        assert_eq!(
            fx.expire(at(31_000)),
            vec![Waiter::Handshake { conn: ConnId(4) }]
        );
        // The timed-out write still commits when its result arrives.
        assert_eq!(fx.len(), 1);
        assert_eq!(fx.next_deadline(), None);
    }

    #[test]
    fn bounded_with_queued_writes_counted_once() {
        let mut fx = Effects::new(1, 3, Duration::from_secs(30));
        assert!(fx.start(write(None), at(0), read).is_ok());
        assert_eq!(fx.start(write(None), at(0), read), Ok(None), "queued");
        assert!(fx.start(write(None), at(0), read).is_ok(), "third of three");
        assert_eq!(fx.start(write(None), at(0), read), Err(TooManyEffects));
    }

    #[test]
    fn a_store_is_not_blocked_by_a_write_whose_requester_left() {
        let mut fx = Effects::new(1, 10, Duration::from_secs(30));
        let quiet = Request {
            waiter: request(5, "w"),
            commits: false,
            store: Some(STORE),
            deadline: true,
        };
        fx.start(quiet, at(0), read).unwrap();
        assert_eq!(fx.start(write(None), at(0), read), Ok(None));
        fx.forget_conn(ConnId(5));
        assert!(fx.expire(at(60_000)).is_empty());
        // The first write's result still releases the store.
        let (_, next) = fx.finish(1);
        assert_eq!(next.map(|e| e.token()), Some(2));
    }
}
