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

/// UTC calendar fields of a Unix time in milliseconds: year, month, day,
/// hour, minute, second, millisecond (Howard Hinnant's days-to-civil).
pub fn civil_from_unix_ms(unix_ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (unix_ms / 1000) as i64;
    let ms = (unix_ms % 1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms)
}

/// `2026-11-24T06:20:04.255Z`, as JavaScript's `toISOString` writes it.
pub fn iso_utc(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s, ms) = civil_from_unix_ms(unix_ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn iso_like_javascript() {
        assert_eq!(iso_utc(1_795_501_204_255), "2026-11-24T06:20:04.255Z");
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(iso_utc(1_709_208_000_000), "2024-02-29T12:00:00.000Z");
    }
}
