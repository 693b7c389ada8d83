//! Where the runtime reads the clock for the core.
//!
//! The core counts time as a [`Timestamp`] from an origin its driver picks;
//! this runtime's origin is the first reading in the process, shared by every
//! hub generation and client, so timestamps from any of them compare.

use std::sync::OnceLock;
use std::time::Instant;

use gateway_proto::time::Timestamp;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The core's `now`.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_elapsed(origin().elapsed())
}

/// The instant a core deadline stands for (for the runtime's timers).
pub(crate) fn instant_of(at: Timestamp) -> Instant {
    origin() + at.elapsed_since_origin()
}
