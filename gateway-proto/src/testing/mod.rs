//! Shared harnesses for scenario tests, proptest, fuzzing and simulation.
//! Not a stable API.

pub mod harness;
pub mod transcript;

pub use harness::{Harness, Seen};
pub use transcript::{Transcript, TranscriptLine};
