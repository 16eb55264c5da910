//! splitmix64 (Steele, Lea and Flood, 2014), the one copy in the project:
//! a tiny, seedable, well-mixed 64-bit generator and its finaliser.
//!
//! It is not for anything an adversary could steer: the engine uses it to
//! spread a value over slots (the pipeline's simulated latency), to derive
//! a resumed workload's seed, and the tests and the harness use it for
//! reproducible randomness that needs no RNG crate.

/// The increment of the generator's state: 2⁶⁴ divided by the golden ratio,
/// odd, so the state visits every 64-bit value once per period.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finaliser (Stafford's "Mix13"): a bijection on `u64` whose
/// every output bit depends on every input bit.
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator's output after one step from state `x`: a well-mixed hash
/// of `x`, and the first value of `SplitMix64::new(x)`.
pub const fn hash(x: u64) -> u64 {
    mix(x.wrapping_add(GOLDEN_GAMMA))
}

/// The generator: the same seed gives the same stream on every machine.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// Uniform in `0..bound` up to a modulo bias below 2⁻⁴⁰ for the bounds
    /// its users draw (under 2²⁴); `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SplitMix64::below needs a positive bound");
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference outputs of splitmix64 from seed 1234567 (the values
    /// published with Vigna's C reference, splitmix64.c).
    #[test]
    fn matches_the_reference_stream() {
        let mut rng = SplitMix64::new(1_234_567);
        let first: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
        assert_eq!(hash(1_234_567), first[0]);
    }

    #[test]
    fn below_stays_below() {
        let mut rng = SplitMix64::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        assert_eq!(SplitMix64::new(7).below(1), 0);
    }
}
