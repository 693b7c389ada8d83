//! The core's own monotonic time.
//!
//! The state machines never read a clock: every call takes `now` as a
//! [`Timestamp`], a count of nanoseconds from an origin the embedder picks
//! (its start, usually). `std::time::Instant` would do the same job, but it
//! cannot be created without reading the OS clock, which does not exist on
//! `wasm32-unknown-unknown`; a plain number can come from anywhere: a
//! runtime's `Instant`, a browser's `performance.now()`, a test's virtual
//! clock (`Timestamp::ZERO` and arithmetic).

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in monotonic time, in nanoseconds since the embedder's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// The point `elapsed` after the origin (saturating at about 584 years).
    pub fn from_elapsed(elapsed: Duration) -> Self {
        Timestamp(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the origin.
    pub const fn elapsed_since_origin(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    pub fn checked_add(self, duration: Duration) -> Option<Timestamp> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Timestamp)
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        self.checked_add(duration).unwrap_or(Timestamp(u64::MAX))
    }
}

/// Saturating: a deadline past the end of time is the end of time.
impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, duration: Duration) -> Timestamp {
        self.saturating_add(duration)
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, duration: Duration) {
        *self = *self + duration;
    }
}

/// Saturating at zero, like [`Timestamp::saturating_duration_since`].
impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(1500);
        assert_eq!(t + Duration::from_millis(500), Timestamp::from_millis(2000));
        assert_eq!(t - Timestamp::from_millis(500), Duration::from_secs(1));
        assert_eq!(Timestamp::ZERO - t, Duration::ZERO);
        assert_eq!(
            Timestamp::from_nanos(u64::MAX) + Duration::from_secs(1),
            Timestamp::from_nanos(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_elapsed(Duration::from_secs(2)).elapsed_since_origin(),
            Duration::from_secs(2)
        );
    }
}
