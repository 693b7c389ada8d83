//! The gateway side of one connection.
