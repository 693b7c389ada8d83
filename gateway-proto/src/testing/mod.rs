//! Shared harnesses for proptest, fuzzing and simulation.
