//! A seeded generator for deterministic test scenarios: splitmix64, so that a scenario is
//! the same on every machine and the seed in a failure message reproduces it.

use reel_types::U256;

/// splitmix64 from a fixed seed; no OS randomness.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0), with the negligible modulo bias of 64 bits.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Between `lo` and `hi` whole tokens (18 decimals), plus random base units below one
    /// token, so that amounts drawn this way never tie.
    pub fn amount(&mut self, lo: u64, hi: u64) -> U256 {
        let whole = lo.saturating_add(self.below(hi.saturating_sub(lo).saturating_add(1)));
        U256::from(whole) * U256::from(10u64).pow(U256::from(18u64))
            + U256::from(self.below(1_000_000_000_000_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws_and_amounts_stay_in_range() {
        let (mut a, mut b) = (SplitMix64(9), SplitMix64(9));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.amount(2, 3);
            b.amount(2, 3);
            let one = U256::from(10u64).pow(U256::from(18u64));
            assert!(
                x >= one * U256::from(2u8) && x < one * U256::from(4u8),
                "{x}"
            );
        }
        assert_eq!(a.below(0), 0);
    }
}
