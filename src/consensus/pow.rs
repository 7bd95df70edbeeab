//! Proof of work: `Difficulty`, `Target` and `Work`.
//!
//! The original's rule is "the hash begins with N hex zeros". Here that rule
//! is a 256-bit `Target` (`16^(64-N) - 1`): a hash meets it when, read as a
//! 256-bit big-endian number, it is at most the target. The `Work` a block
//! proves is `2^256 / (target + 1)`, computed exactly, and a chain's work is
//! the exact sum over its blocks. No floats, no overflow: work is a 320-bit
//! number, enough for 2^64 blocks of the hardest possible target.
//!
//! This module knows nothing of blocks or chains beyond a hash.

use std::cmp::Ordering;
use std::fmt;

use super::hash::BlockHash;

/// The network's difficulty as the original states it: how many leading hex
/// zeros a block hash needs (0 to 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a difficulty is a number of leading hex zeros from 0 to 64, not {0}")]
pub struct DifficultyError(pub u64);

impl Difficulty {
    pub fn new(zeros: u64) -> Result<Difficulty, DifficultyError> {
        u8::try_from(zeros)
            .ok()
            .filter(|z| *z <= 64)
            .map(Difficulty)
            .ok_or(DifficultyError(zeros))
    }

    /// For constants; out of range fails at compile time.
    pub const fn const_new(zeros: u8) -> Difficulty {
        assert!(zeros <= 64, "a difficulty is at most 64 leading zeros");
        Difficulty(zeros)
    }

    pub fn zeros(self) -> u8 {
        self.0
    }

    /// `16^(64-N) - 1`: N zero hex digits followed by `f`s.
    pub fn target(self) -> Target {
        let mut bytes = [0xffu8; 32];
        for nibble in 0..usize::from(self.0) {
            bytes[nibble / 2] &= if nibble % 2 == 0 { 0x0f } else { 0xf0 };
        }
        Target(bytes)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} leading zeros", self.0)
    }
}

/// The largest hash value a valid block may have, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target([u8; 32]);

impl Target {
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Target {
        Target(bytes)
    }

    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// True when `hash`, read as a big-endian number, is at most the target.
    /// (Comparing big-endian byte arrays is comparing the numbers.)
    pub fn is_met_by(&self, hash: &BlockHash) -> bool {
        hash.as_bytes() <= &self.0
    }

    /// The work one block at this target proves: `2^256 / (target + 1)`.
    pub fn work(&self) -> Work {
        let divisor = U320::from_be_bytes(&self.0).add(&U320::ONE);
        Work(U320::TWO_POW_256.div(&divisor))
    }

    /// `self * factor * 2^shift` (a negative shift divides, rounding
    /// down), saturating at the largest target. Exact integer arithmetic:
    /// the retarget rule scales targets with it.
    pub fn scaled(&self, factor: u64, shift: i64) -> Target {
        let product = U320::from_be_bytes(&self.0).mul_small(factor);
        let scaled = if shift >= 0 {
            // Past 2^256 is past every target: saturate.
            let room = 320 - product.bits();
            if shift as u64 >= u64::from(room) {
                return Target::MAX;
            }
            product.shl(shift as u32)
        } else {
            product.shr(shift.unsigned_abs().min(320) as u32)
        };
        scaled.to_target().unwrap_or(Target::MAX)
    }

    /// The easiest target: every hash meets it.
    pub const MAX: Target = Target([0xff; 32]);

    /// The target a hash rate of `hashes` per block time asks for: each
    /// hash meets it with probability `1 / hashes` (`2^256 / hashes - 1`,
    /// at least 0). For calibrating a new network, not for consensus.
    pub fn for_expected_hashes(hashes: u64) -> Target {
        let hashes = U320::from_u64(hashes.max(1));
        U320::TWO_POW_256
            .div(&hashes)
            .sub(&U320::ONE)
            .to_target()
            .unwrap_or(Target::MAX)
    }
}

/// Reads the 64 hex digits `Display` writes.
impl std::str::FromStr for Target {
    type Err = crate::consensus::HashParseError;

    fn from_str(text: &str) -> Result<Target, Self::Err> {
        Ok(Target(*text.parse::<BlockHash>()?.as_bytes()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&BlockHash::from_bytes(self.0), f)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// An amount of proof of work: of one block, or summed over a chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Work(U320);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("work must be a decimal number (or {HEX_DIGITS} hex digits when stored), found {0:?}")]
pub struct WorkParseError(pub String);

const HEX_DIGITS: usize = 80;

impl Work {
    pub const ZERO: Work = Work(U320::ZERO);

    /// Work of `n` blocks each proving `self`.
    pub fn times(self, n: u64) -> Work {
        Work(self.0.mul_small(n))
    }

    /// Fixed-width (80 digit) lowercase hex, so stored values sort as numbers.
    pub fn to_hex(self) -> String {
        self.0
            .limbs
            .iter()
            .rev()
            .map(|limb| format!("{limb:016x}"))
            .collect()
    }

    pub fn from_hex(text: &str) -> Result<Work, WorkParseError> {
        let err = || WorkParseError(text.to_owned());
        if text.len() != HEX_DIGITS || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        let mut limbs = [0u64; 5];
        for (i, limb) in limbs.iter_mut().rev().enumerate() {
            *limb = u64::from_str_radix(&text[16 * i..16 * (i + 1)], 16).map_err(|_| err())?;
        }
        Ok(Work(U320 { limbs }))
    }

    /// An approximation for gauges and charts; never used to compare chains.
    pub fn as_f64(self) -> f64 {
        self.0.limbs.iter().rev().fold(0.0, |acc, limb| {
            acc * 18_446_744_073_709_551_616.0 + *limb as f64
        })
    }
}

/// In JSON, work is its exact decimal text (a JSON number would lose
/// digits in most readers).
impl serde::Serialize for Work {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Work {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Work, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses the decimal form `Display` writes.
impl std::str::FromStr for Work {
    type Err = WorkParseError;

    fn from_str(text: &str) -> Result<Work, WorkParseError> {
        let err = || WorkParseError(text.to_owned());
        if text.is_empty() || text.len() > 97 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let mut value = U320::ZERO;
        for digit in text.bytes() {
            let next = value
                .mul_small(10)
                .add(&U320::from_u64(u64::from(digit - b'0')));
            // mul_small/add saturate; a saturated value is out of range.
            if next == U320::MAX {
                return Err(err());
            }
            value = next;
        }
        Ok(Work(value))
    }
}

/// Exact sum. Saturates at 2^320 - 1, which no chain can reach (it would
/// take more than 2^64 blocks at the hardest target).
impl std::ops::Add for Work {
    type Output = Work;

    fn add(self, other: Work) -> Work {
        Work(self.0.add(&other.0))
    }
}

/// Decimal, exact.
impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_decimal())
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({self})")
    }
}

/// A 320-bit unsigned integer, little-endian 64-bit limbs. Just the
/// operations work needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
struct U320 {
    limbs: [u64; 5],
}

impl U320 {
    const ZERO: U320 = U320 { limbs: [0; 5] };
    const ONE: U320 = U320::from_u64(1);
    const TWO_POW_256: U320 = U320 {
        limbs: [0, 0, 0, 0, 1],
    };
    const MAX: U320 = U320 {
        limbs: [u64::MAX; 5],
    };

    const fn from_u64(n: u64) -> U320 {
        U320 {
            limbs: [n, 0, 0, 0, 0],
        }
    }

    fn from_be_bytes(bytes: &[u8; 32]) -> U320 {
        let mut limbs = [0u64; 5];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
            *limb = u64::from_be_bytes(chunk.try_into().expect("chunks of 8 bytes"));
        }
        U320 { limbs }
    }

    fn add(&self, other: &U320) -> U320 {
        let mut limbs = [0u64; 5];
        let mut carry = false;
        for (i, limb) in limbs.iter_mut().enumerate() {
            let (sum, c1) = self.limbs[i].overflowing_add(other.limbs[i]);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            *limb = sum;
            carry = c1 || c2;
        }
        if carry { U320::MAX } else { U320 { limbs } }
    }

    fn sub(&self, other: &U320) -> U320 {
        let mut limbs = [0u64; 5];
        let mut borrow = false;
        for (i, limb) in limbs.iter_mut().enumerate() {
            let (diff, b1) = self.limbs[i].overflowing_sub(other.limbs[i]);
            let (diff, b2) = diff.overflowing_sub(u64::from(borrow));
            *limb = diff;
            borrow = b1 || b2;
        }
        U320 { limbs }
    }

    fn mul_small(&self, factor: u64) -> U320 {
        let mut limbs = [0u64; 5];
        let mut carry = 0u128;
        for (i, limb) in limbs.iter_mut().enumerate() {
            let product = u128::from(self.limbs[i]) * u128::from(factor) + carry;
            *limb = product as u64;
            carry = product >> 64;
        }
        if carry != 0 {
            U320::MAX
        } else {
            U320 { limbs }
        }
    }

    /// The number of significant bits (0 for zero).
    fn bits(&self) -> u32 {
        let top = self.limbs.iter().rposition(|limb| *limb != 0);
        top.map_or(0, |i| 64 * i as u32 + (64 - self.limbs[i].leading_zeros()))
    }

    fn shl(&self, n: u32) -> U320 {
        let (words, bits) = ((n / 64) as usize, n % 64);
        let mut limbs = [0u64; 5];
        for (i, limb) in limbs.iter_mut().enumerate().skip(words) {
            let from = i - words;
            *limb = self.limbs[from] << bits;
            if bits > 0 && from > 0 {
                *limb |= self.limbs[from - 1] >> (64 - bits);
            }
        }
        U320 { limbs }
    }

    fn shr(&self, n: u32) -> U320 {
        let (words, bits) = ((n / 64) as usize, n % 64);
        let mut limbs = [0u64; 5];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let from = i + words;
            if from >= 5 {
                break;
            }
            *limb = self.limbs[from] >> bits;
            if bits > 0 && from + 1 < 5 {
                *limb |= self.limbs[from + 1] << (64 - bits);
            }
        }
        U320 { limbs }
    }

    /// The value as a target, when it is below 2^256.
    fn to_target(self) -> Option<Target> {
        if self.limbs[4] != 0 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, limb) in self.limbs[..4].iter().rev().enumerate() {
            bytes[8 * i..8 * i + 8].copy_from_slice(&limb.to_be_bytes());
        }
        Some(Target(bytes))
    }

    fn bit(&self, i: usize) -> bool {
        (self.limbs[i / 64] >> (i % 64)) & 1 == 1
    }

    fn shl1_with(&self, low_bit: bool) -> U320 {
        let mut limbs = [0u64; 5];
        let mut carry = u64::from(low_bit);
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = (self.limbs[i] << 1) | carry;
            carry = self.limbs[i] >> 63;
        }
        U320 { limbs }
    }

    /// Schoolbook binary long division; `divisor` must not be zero (callers
    /// always add one first). Only the quotient's possible bits are
    /// visited: for a real target's work that is a few dozen, so a
    /// retargeting chain can afford one division per block.
    fn div(&self, divisor: &U320) -> U320 {
        let Some(top) = self.bits().checked_sub(divisor.bits()) else {
            return U320::ZERO;
        };
        let top = top as usize;
        let mut quotient = U320::ZERO;
        // The bits above `top` can only ever make a remainder below the
        // divisor: start with them in place.
        let mut remainder = self.shr(top as u32 + 1);
        for i in (0..=top).rev() {
            remainder = remainder.shl1_with(self.bit(i));
            if remainder >= *divisor {
                remainder = remainder.sub(divisor);
                quotient.limbs[i / 64] |= 1 << (i % 64);
            }
        }
        quotient
    }

    fn divmod_small(&self, divisor: u64) -> (U320, u64) {
        let mut limbs = [0u64; 5];
        let mut rem = 0u128;
        for i in (0..5).rev() {
            let cur = (rem << 64) | u128::from(self.limbs[i]);
            limbs[i] = (cur / u128::from(divisor)) as u64;
            rem = cur % u128::from(divisor);
        }
        (U320 { limbs }, rem as u64)
    }

    fn to_decimal(self) -> String {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let (high, low) = self.divmod_small(CHUNK);
        if high == U320::ZERO {
            low.to_string()
        } else {
            format!("{}{low:019}", high.to_decimal())
        }
    }
}

impl Ord for U320 {
    fn cmp(&self, other: &U320) -> Ordering {
        self.limbs.iter().rev().cmp(other.limbs.iter().rev())
    }
}

impl PartialOrd for U320 {
    fn partial_cmp(&self, other: &U320) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn difficulty(n: u64) -> Difficulty {
        Difficulty::new(n).unwrap()
    }

    #[test]
    fn target_is_zeros_then_fs() {
        for zeros in [0, 2, 5, 64] {
            let expected = format!("{}{}", "0".repeat(zeros), "f".repeat(64 - zeros));
            assert_eq!(difficulty(zeros as u64).target().to_string(), expected);
        }
    }

    #[test]
    fn difficulty_out_of_range_is_an_error() {
        assert_eq!(Difficulty::new(65), Err(DifficultyError(65)));
        assert!(Difficulty::new(300).is_err());
    }

    #[test]
    fn target_comparison_matches_leading_zeros() {
        let target = difficulty(5).target();
        let ok: BlockHash = "00000fffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            .parse()
            .unwrap();
        let too_big: BlockHash = "0000100000000000000000000000000000000000000000000000000000000000"
            .parse()
            .unwrap();
        assert!(target.is_met_by(&ok));
        assert!(!target.is_met_by(&too_big));
    }

    #[test]
    fn work_of_n_zeros_is_16_pow_n() {
        for n in 0..=64u64 {
            let work = difficulty(n).target().work();
            // 16^n = 2^(4n): one bit set.
            let mut expected = U320::ZERO;
            let bit = (4 * n) as usize;
            expected.limbs[bit / 64] = 1 << (bit % 64);
            assert_eq!(work.0, expected, "difficulty {n}");
        }
        assert_eq!(difficulty(5).target().work().to_string(), "1048576");
        assert_eq!(
            difficulty(64).target().work().to_string(),
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
        );
    }

    #[test]
    fn work_of_an_arbitrary_target_is_exact() {
        // target = 2^255 - 1  ->  work = 2^256 / 2^255 = 2
        let mut bytes = [0xffu8; 32];
        bytes[0] = 0x7f;
        assert_eq!(Target::from_be_bytes(bytes).work().to_string(), "2");
        // target = 2 -> work = floor(2^256 / 3)
        let mut three = [0u8; 32];
        three[31] = 2;
        assert_eq!(
            Target::from_be_bytes(three).work().to_string(),
            "38597363079105398474523661669562635951089994888546854679819194669304376546645"
        );
    }

    /// The division before it skipped to the quotient's bits.
    fn slow_div(n: &U320, d: &U320) -> U320 {
        let mut quotient = U320::ZERO;
        let mut remainder = U320::ZERO;
        for i in (0..320).rev() {
            remainder = remainder.shl1_with(n.bit(i));
            if remainder >= *d {
                remainder = remainder.sub(d);
                quotient.limbs[i / 64] |= 1 << (i % 64);
            }
        }
        quotient
    }

    fn pseudo_random(seed: &mut u64) -> u64 {
        // splitmix64
        *seed = seed.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    #[test]
    fn fast_division_agrees_with_the_schoolbook_one() {
        let mut seed = 7;
        for _ in 0..2000 {
            let mut n = U320::ZERO;
            let mut d = U320::ZERO;
            for limb in 0..5 {
                n.limbs[limb] = pseudo_random(&mut seed);
                d.limbs[limb] = pseudo_random(&mut seed);
            }
            // Divisors and dividends of every size.
            let n = n.shr((pseudo_random(&mut seed) % 320) as u32);
            let d = d
                .shr((pseudo_random(&mut seed) % 320) as u32)
                .add(&U320::ONE);
            assert_eq!(n.div(&d), slow_div(&n, &d), "{n:?} / {d:?}");
            assert_eq!(U320::TWO_POW_256.div(&d), slow_div(&U320::TWO_POW_256, &d));
        }
        assert_eq!(U320::ONE.div(&U320::MAX), U320::ZERO);
        assert_eq!(U320::MAX.div(&U320::ONE), U320::MAX);
    }

    #[test]
    fn shifts_and_scaling_are_exact() {
        let one = U320::ONE;
        assert_eq!(one.shl(256), U320::TWO_POW_256);
        assert_eq!(U320::TWO_POW_256.shr(256), one);
        assert_eq!(U320::TWO_POW_256.shr(257), U320::ZERO);
        assert_eq!(U320::MAX.shr(320), U320::ZERO);
        assert_eq!(U320::MAX.bits(), 320);
        assert_eq!(U320::ZERO.bits(), 0);
        assert_eq!(
            U320::from_u64(0x1234).shl(70).shr(70),
            U320::from_u64(0x1234)
        );
        let five = difficulty(5).target();
        // Doubling a target of 5 zeros (2^236 - 1) twice, then halving.
        assert_eq!(
            five.scaled(1, 4).to_string(),
            format!("0000{}0", "f".repeat(59))
        );
        assert_eq!(five.scaled(1, -4), difficulty(6).target());
        assert_eq!(
            five.scaled(3, 0).to_string(),
            format!("00002{}d", "f".repeat(58))
        );
        assert_eq!(five.scaled(1, 21), Target::MAX);
        assert_eq!(five.scaled(1, 400), Target::MAX);
        assert_eq!(five.scaled(u64::MAX, 200), Target::MAX);
        assert_eq!(five.scaled(1, -400), Target::from_be_bytes([0; 32]));
        assert_eq!(Target::for_expected_hashes(1 << 20), difficulty(5).target());
        assert_eq!(Target::for_expected_hashes(1), Target::MAX);
        assert_eq!(Target::for_expected_hashes(0), Target::MAX);
        let parsed: Target = five.to_string().parse().unwrap();
        assert_eq!(parsed, five);
    }

    #[test]
    fn cumulative_work_is_exact_and_ordered() {
        let one = difficulty(64).target().work();
        let many = one.times(1_000_000);
        assert!(many > one);
        assert_eq!(one + one, one.times(2));
        let hex = many.to_hex();
        assert_eq!(hex.len(), 80);
        assert_eq!(Work::from_hex(&hex).unwrap(), many);
        assert!(Work::from_hex("xyz").is_err());
        assert_eq!(many.to_string().parse::<Work>().unwrap(), many);
        assert_eq!("0".parse::<Work>().unwrap(), Work::ZERO);
        assert!("-1".parse::<Work>().is_err());
        assert!("".parse::<Work>().is_err());
        assert!("9".repeat(97).parse::<Work>().is_err());
        assert_eq!(Work::ZERO.to_string(), "0");
        assert_eq!(
            difficulty(5).target().work().times(3).to_string(),
            "3145728"
        );
    }
}
