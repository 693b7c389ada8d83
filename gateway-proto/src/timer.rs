//! One deadline queue for every state machine of the crate.
//!
//! Each timer has a kind `K` (an `enum` naming why it exists) and at most one
//! deadline. `poll_timeout` of a state machine is [`DeadlineQueue::next`];
//! its `handle_timeout` pops [`DeadlineQueue::pop_due`] in deadline order
//! (ties in `K` order), so the firing order is fixed and a test can ask which
//! timer is next and why.

use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Deadlines by kind; re-arming a kind moves its deadline.
#[derive(Clone, Debug)]
pub struct DeadlineQueue<K: Ord + Copy> {
    by_deadline: BTreeSet<(Timestamp, K)>,
    by_kind: BTreeMap<K, Timestamp>,
}

impl<K: Ord + Copy> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue {
            by_deadline: BTreeSet::new(),
            by_kind: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> DeadlineQueue<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arm `kind` at `at`, replacing its earlier deadline.
    pub fn set(&mut self, kind: K, at: Timestamp) {
        if let Some(old) = self.by_kind.insert(kind, at) {
            self.by_deadline.remove(&(old, kind));
        }
        self.by_deadline.insert((at, kind));
    }

    /// Arm `kind` at `at`, or disarm it with `None`.
    pub fn set_or_clear(&mut self, kind: K, at: Option<Timestamp>) {
        match at {
            Some(at) => self.set(kind, at),
            None => self.clear(kind),
        }
    }

    pub fn clear(&mut self, kind: K) {
        if let Some(old) = self.by_kind.remove(&kind) {
            self.by_deadline.remove(&(old, kind));
        }
    }

    /// The deadline of `kind`, if armed.
    pub fn deadline(&self, kind: K) -> Option<Timestamp> {
        self.by_kind.get(&kind).copied()
    }

    /// The earliest deadline and its kind.
    pub fn next(&self) -> Option<(Timestamp, K)> {
        self.by_deadline.first().copied()
    }

    /// Remove and return the earliest timer due at `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, K)> {
        let (at, kind) = self.next()?;
        if at > now {
            return None;
        }
        self.by_deadline.pop_first();
        self.by_kind.remove(&kind);
        Some((at, kind))
    }

    /// Disarm every timer `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(K) -> bool) {
        self.by_kind.retain(|kind, _| keep(*kind));
        self.by_deadline.retain(|(_, kind)| keep(*kind));
    }

    pub fn len(&self) -> usize {
        self.by_kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn earliest_first_and_rearming_moves_a_timer() {
        let mut q = DeadlineQueue::new();
        q.set('b', at(20));
        q.set('a', at(30));
        q.set('c', at(20));
        assert_eq!(q.next(), Some((at(20), 'b')), "ties in kind order");
        q.set('b', at(40));
        assert_eq!(q.next(), Some((at(20), 'c')));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop_due(at(10)), None, "nothing due yet");
        assert_eq!(q.pop_due(at(35)), Some((at(20), 'c')));
        assert_eq!(q.pop_due(at(35)), Some((at(30), 'a')));
        assert_eq!(q.pop_due(at(35)), None);
        q.set_or_clear('b', None);
        assert!(q.is_empty());
    }

    #[test]
    fn retain_disarms() {
        let mut q = DeadlineQueue::new();
        for k in 0..5u8 {
            q.set(k, at(u64::from(k)));
        }
        q.retain(|k| k % 2 == 0);
        assert_eq!(q.len(), 3);
        assert_eq!(q.deadline(1), None);
        assert_eq!(q.deadline(2), Some(at(2)));
    }
}
