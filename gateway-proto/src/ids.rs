//! Identifiers and the seeded random source.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// A connection handle chosen by the runtime, unique for the life of a `Gateway`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// The one CSPRNG of a state machine, seeded by the caller (from the OS in a
/// runtime, from a number in tests and simulations).
pub struct Rng(ChaCha20Rng);

impl Rng {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Rng(ChaCha20Rng::from_seed(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out)
    }

    /// A random (version 4) UUID in its usual text form.
    pub fn uuid_v4(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            push_hex(&mut s, *byte);
        }
        s
    }

    /// `n` random bytes as lowercase hex.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 2);
        for _ in 0..n {
            let mut b = [0u8; 1];
            self.fill(&mut b);
            push_hex(&mut s, b[0]);
        }
        s
    }
}

pub(crate) fn push_hex(s: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.push(HEX[(byte >> 4) as usize] as char);
    s.push(HEX[(byte & 0x0f) as usize] as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let mut rng = Rng::from_seed([7; 32]);
        let u = rng.uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, rng.uuid_v4());
    }

    #[test]
    fn same_seed_same_values() {
        let a = Rng::from_seed([1; 32]).uuid_v4();
        let b = Rng::from_seed([1; 32]).uuid_v4();
        assert_eq!(a, b);
    }
}
