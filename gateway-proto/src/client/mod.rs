//! The client side of one connection.
