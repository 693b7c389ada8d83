//! Deterministic simulation: one [`Gateway`] and N [`ClientConnection`]s in
//! virtual time, every choice drawn from one seed.
//!
//! Faults: clients that stop reading for a while (slow consumers), abrupt
//! disconnects, reconnects through the client's backoff schedule, bursts of
//! broadcasts, gateway shutdown and restart, and time jumps. After every step
//! the invariants in [`invariants`] are checked; the first violation ends the
//! run with the seed and step, and `SIM_SEED=<seed>` replays it exactly.

mod client;
mod invariants;
mod world;

pub use world::{run, SimConfig, SimFailure, SimReport};
