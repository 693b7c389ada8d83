//! smol runtime for the gateway core.
