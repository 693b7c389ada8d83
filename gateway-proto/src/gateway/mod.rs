//! The hub: every connection of one gateway, presence, health, broadcasts and
//! method routing, as one sans-IO state machine.

mod config;
mod io;

use std::time::Instant;

pub use config::{AuthConfig, Config, HostInfo, Limits};
pub use io::{Effect, EffectResult, Input, LogSlice, Output, Peer};

/// The gateway hub. See the crate docs for the drive loop.
pub struct Gateway {
    _private: (),
}

impl Gateway {
    pub fn new(config: Config, seed: [u8; 32], now: Instant, unix_ms: u64) -> Self {
        let _ = (config, seed, now, unix_ms);
        todo!("hub")
    }

    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        let _ = (input, now);
        todo!("hub")
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!("hub")
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!("hub")
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!("hub")
    }

    /// Replace the configuration while running (auth, limits, host facts).
    pub fn reconfigure(&mut self, config: Config) {
        let _ = config;
        todo!("hub")
    }
}
