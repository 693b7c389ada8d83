//! What one connection's WebSocket layer still owes its peer, in wire bytes.
//!
//! The core bounds the frames it queues for a connection (`maxBufferedBytes`),
//! but tungstenite also writes frames of its own: a pong for every ping the
//! peer sends. A peer that sends pings and never reads would make those pile
//! up in tungstenite's write buffer, outside the core's count. The ledger
//! counts every frame handed to the WebSocket layer (ours and its pongs)
//! against the bytes that actually reached the socket; the difference is the
//! backlog, which the reader checks against the connection's budget.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct WireLedger {
    /// Wire bytes of every frame handed to the WebSocket layer.
    owed: AtomicU64,
    /// Bytes written to the socket.
    written: AtomicU64,
}

impl WireLedger {
    /// A frame with `payload` bytes was handed to the WebSocket layer.
    pub(crate) fn owe_frame(&self, payload: usize) {
        self.owed
            .fetch_add(server_frame_len(payload) as u64, Ordering::Relaxed);
    }

    /// `n` bytes reached the socket.
    pub(crate) fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Bytes handed over but not yet written. Frames tungstenite adds on its
    /// own and we do not count (its reply to the peer's close) can make the
    /// written side run a little ahead; that only ever lowers the backlog.
    pub(crate) fn backlog(&self) -> u64 {
        self.owed
            .load(Ordering::Relaxed)
            .saturating_sub(self.written.load(Ordering::Relaxed))
    }
}

/// Length on the wire of an unmasked (server-sent) frame: RFC 6455 §5.2
/// header of 2, 4 or 10 bytes, then the payload.
pub(crate) fn server_frame_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    header + payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_follow_rfc6455() {
        assert_eq!(server_frame_len(0), 2);
        assert_eq!(server_frame_len(125), 127);
        assert_eq!(server_frame_len(126), 130);
        assert_eq!(server_frame_len(65535), 65539);
        assert_eq!(server_frame_len(65536), 65546);
    }

    #[test]
    fn backlog_is_owed_minus_written_and_never_negative() {
        let ledger = WireLedger::default();
        ledger.owe_frame(125);
        ledger.owe_frame(0);
        assert_eq!(ledger.backlog(), 129);
        ledger.wrote(100);
        assert_eq!(ledger.backlog(), 29);
        ledger.wrote(1000);
        assert_eq!(ledger.backlog(), 0);
    }
}
