//! Helpers shared by the end-to-end tests, the interop tests and the load tool.

pub mod load;
pub mod process;
pub mod ws;
