//! Shared harnesses for scenario tests, proptest, fuzzing and simulation.
//! Not a stable API.

pub mod conn_model;
pub mod fuzz;
pub mod fuzz_nodes;
pub mod fuzz_pairing;
pub mod harness;
pub mod model;
pub mod node_host;
pub mod ops;
pub mod transcript;

pub use conn_model::{ConnOp, ConnSim, ConnText};
pub use harness::{Harness, Seen};
pub use model::GatewaySim;
pub use ops::{ByteReader, Op, SimParams};
pub use transcript::{Transcript, TranscriptLine};
pub mod sim;
