//! Agents: model turns, runs, sessions and their transcripts.

pub mod catalog;
pub mod model;
