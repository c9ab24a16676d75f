//! The portable random stream behind every noise operator.
//!
//! ChaCha8 (`rand_chacha`) is specified bit for bit, so a seed gives the same noise on every
//! platform and run. Each example gets its own stream (`seed`, `index`), so results do not depend
//! on the order or thread examples are processed in. Uniform floats take the top 53 bits of a
//! `u64`; integers below `n` use rejection sampling, so neither depends on `rand`'s distribution
//! code.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// 64-bit FNV-1a of `key` (specified bit for bit, stable across platforms and releases).
pub fn stream_of(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A reproducible random stream.
#[derive(Debug, Clone)]
pub struct NoiseRng(ChaCha8Rng);

impl NoiseRng {
    /// The stream of example `index` under `seed`.
    pub fn new(seed: u64, index: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        Self(rng)
    }

    /// The stream of the example named `key` (its id) under `seed`: the stream index is the
    /// 64-bit FNV-1a hash of the key's bytes, so an example keeps its noise when others are
    /// added, removed or reordered.
    pub fn keyed(seed: u64, key: &str) -> Self {
        Self::new(seed, stream_of(key))
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `0..n` (`n` > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_as_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(stream_of(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_of("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| NoiseRng::new(7, 3).below(1000)).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = NoiseRng::new(7, 3);
        let mut y = NoiseRng::new(7, 4);
        let xs: Vec<u64> = (0..8).map(|_| x.below(1 << 40)).collect();
        let ys: Vec<u64> = (0..8).map(|_| y.below(1 << 40)).collect();
        assert_ne!(xs, ys);
        // Pinned values: the same on every platform (ChaCha8 is specified bit for bit).
        let mut z = NoiseRng::new(42, 0);
        let pinned: Vec<u64> = (0..3).map(|_| z.below(1_000_000)).collect();
        assert_eq!(pinned, PINNED);
    }

    // Recorded from this implementation; a change means seeds no longer reproduce old runs.
    const PINNED: [u64; 3] = [200_737, 322_312, 131_020];
}
