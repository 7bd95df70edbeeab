//! Difficulty that follows the clock: the rule of networks with a target
//! block time, and the time rules such a rule needs.
//!
//! **The rule** is ASERT (aserti3-2d, Bitcoin Cash since 2020), applied
//! block to block: a block's target is its parent's, multiplied by
//! `2^((solve_time - block_time) / halflife)`, where `solve_time` is the
//! parent's timestamp minus the grandparent's. A block found twice as slow
//! as wanted makes the next one a little easier, and so on, so the chain's
//! timestamps follow the schedule. Multiplied out over a chain this is
//! exactly ASERT's absolute form (target = genesis target ×
//! 2^((time elapsed − block_time × blocks) / halflife)), with one change
//! for small networks that stop and start: a solve time counts for at most
//! `block_time + halflife` (one halving of difficulty per block). Without
//! it, a chain left off overnight would owe its schedule 8 hours and mine
//! 28,800 nearly free blocks in a burst when it came back. ARCHITECTURE.md
//! says why ASERT and not Bitcoin's window or LWMA.
//!
//! **Integers only.** `2^x` for the fractional part is the cubic
//! polynomial of aserti3-2d in 16-bit fixed point, exact to 0.013%, and
//! every division rounds down (toward minus infinity), so every node
//! computes the same 256-bit target from the same blocks. The target never
//! leaves `[1, max_target]`.
//!
//! **Time** on these networks is Unix time in milliseconds. A block's
//! timestamp must be greater than the median of the previous 11 blocks'
//! (`TimeWindow::median`), so no miner can drag the clock back; and, when
//! a node receives it, not more than `max_future_ms` ahead of that node's
//! clock (the clock is an argument; see `validate::validate_child`).

use super::block::Timestamp;
use super::pow::Target;

/// How many of the latest blocks the median-time rule looks at.
pub const MEDIAN_SPAN: usize = 11;

/// Fixed-point scale of the exponent: 16 bits of fraction.
const FIXED_ONE: i128 = 1 << 16;

/// The parameters of a network with a target block time. All times in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetargetRule {
    /// The wanted time between blocks.
    pub block_time_ms: u64,
    /// How fast the target reacts: a chain one half-life behind schedule
    /// mines at half the difficulty.
    pub halflife_ms: u64,
    /// The target of the genesis block and of block 1.
    pub initial_target: Target,
    /// The easiest target the rule may reach.
    pub max_target: Target,
    /// How far ahead of a node's clock a block's timestamp may be.
    pub max_future_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetargetRuleError {
    #[error("block_time_ms must be at least 1")]
    ZeroBlockTime,
    #[error("halflife_ms must be at least 1")]
    ZeroHalflife,
    #[error("initial_target {initial} is easier than max_target {max}")]
    InitialAboveMax { initial: Target, max: Target },
    #[error("initial_target must not be zero: no hash could meet it")]
    ZeroTarget,
}

impl RetargetRule {
    /// A rule for `block_time_ms` with the defaults for the rest: a
    /// half-life of 20 block times (fast enough that a network whose hash
    /// rate changes tenfold is back on time within about a hundred blocks,
    /// slow enough that one lucky block moves the target by 3%), blocks up
    /// to half a half-life ahead of the clock, and a `max_target` 2^16
    /// times easier than the initial one.
    pub fn new(block_time_ms: u64, initial_target: Target) -> RetargetRule {
        let halflife_ms = block_time_ms.saturating_mul(20);
        RetargetRule {
            block_time_ms,
            halflife_ms,
            initial_target,
            max_target: initial_target.scaled(1, 16),
            max_future_ms: halflife_ms / 2,
        }
    }

    pub fn check(&self) -> Result<(), RetargetRuleError> {
        if self.block_time_ms == 0 {
            return Err(RetargetRuleError::ZeroBlockTime);
        }
        if self.halflife_ms == 0 {
            return Err(RetargetRuleError::ZeroHalflife);
        }
        if self.initial_target.to_be_bytes() == [0; 32] {
            return Err(RetargetRuleError::ZeroTarget);
        }
        if self.initial_target.to_be_bytes() > self.max_target.to_be_bytes() {
            return Err(RetargetRuleError::InitialAboveMax {
                initial: self.initial_target,
                max: self.max_target,
            });
        }
        Ok(())
    }

    /// The target of a block whose parent had `parent_target` and took
    /// `parent_solve_ms` to find (the parent's timestamp minus its
    /// parent's; `None` when the parent is the genesis block, which counts
    /// as on time).
    pub fn next_target(&self, parent_target: &Target, parent_solve_ms: Option<i128>) -> Target {
        let block_time = i128::from(self.block_time_ms);
        let halflife = i128::from(self.halflife_ms);
        let solve = parent_solve_ms.unwrap_or(block_time);
        // At most one halving of difficulty per block (see the module
        // comment). The lower bound changes nothing (a target that small
        // ends at 1 anyway) but keeps the product below in range.
        let solve = solve.clamp(block_time - 320 * halflife, block_time + halflife);
        let exponent = ((solve - block_time) * FIXED_ONE).div_euclid(halflife);
        let shifts = exponent.div_euclid(FIXED_ONE);
        let fraction = exponent.rem_euclid(FIXED_ONE) as u128;
        // 2^fraction in 16-bit fixed point: aserti3-2d's cubic.
        let factor = 65536
            + ((195_766_423_245_049 * fraction
                + 971_821_376 * fraction * fraction
                + 5127 * fraction * fraction * fraction
                + (1 << 47))
                >> 48);
        let factor = u64::try_from(factor).expect("2^fraction in fixed point is below 2^17");
        let shift = i64::try_from(shifts - 16).expect("shifts are within [-321, 1]");
        let next = parent_target.scaled(factor, shift);
        if next.to_be_bytes() > self.max_target.to_be_bytes() {
            self.max_target
        } else if next.to_be_bytes() == [0; 32] {
            Target::from_be_bytes(ONE)
        } else {
            next
        }
    }
}

const ONE: [u8; 32] = {
    let mut one = [0u8; 32];
    one[31] = 1;
    one
};

/// The timestamps of the latest blocks of a chain (at most
/// `MEDIAN_SPAN`), oldest first: what the time rules and the retarget rule
/// need of a block's ancestors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// A ring: `times[(start + i) % MEDIAN_SPAN]` is the i-th oldest.
    times: [u128; MEDIAN_SPAN],
    start: usize,
    len: usize,
}

impl TimeWindow {
    /// A window of these timestamps, oldest first; only the last
    /// `MEDIAN_SPAN` are kept.
    pub fn of(times: impl IntoIterator<Item = Timestamp>) -> TimeWindow {
        let mut window = TimeWindow::default();
        for time in times {
            window.push(time);
        }
        window
    }

    /// Adds the newest timestamp, dropping the oldest beyond the span.
    pub fn push(&mut self, time: Timestamp) {
        if self.len < MEDIAN_SPAN {
            self.times[(self.start + self.len) % MEDIAN_SPAN] = time.0;
            self.len += 1;
        } else {
            self.times[self.start] = time.0;
            self.start = (self.start + 1) % MEDIAN_SPAN;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn nth_newest(&self, n: usize) -> Option<u128> {
        (n < self.len).then(|| self.times[(self.start + self.len - 1 - n) % MEDIAN_SPAN])
    }

    /// The newest timestamp (the parent's).
    pub fn newest(&self) -> Option<Timestamp> {
        self.nth_newest(0).map(Timestamp)
    }

    /// The newest timestamp minus the one before (the parent's solve
    /// time), if there are two.
    pub fn newest_interval(&self) -> Option<i128> {
        let newest = signed(self.nth_newest(0)?);
        let before = signed(self.nth_newest(1)?);
        Some(newest - before)
    }

    /// The median of the window: the middle value, or the upper of the
    /// two middle ones for an even count (a chain younger than
    /// `MEDIAN_SPAN` blocks).
    pub fn median(&self) -> Option<Timestamp> {
        if self.len == 0 {
            return None;
        }
        let mut sorted = [0u128; MEDIAN_SPAN];
        for (i, slot) in sorted[..self.len].iter_mut().enumerate() {
            *slot = self.times[(self.start + i) % MEDIAN_SPAN];
        }
        let sorted = &mut sorted[..self.len];
        sorted.sort_unstable();
        Some(Timestamp(sorted[self.len / 2]))
    }
}

/// Timestamps are unsigned and may exceed `i128`; such a value is far
/// outside any rule's bounds either way.
fn signed(time: u128) -> i128 {
    i128::try_from(time).unwrap_or(i128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Difficulty;

    fn rule() -> RetargetRule {
        RetargetRule::new(1000, Difficulty::new(5).unwrap().target())
    }

    #[test]
    fn on_time_keeps_the_target_and_a_halflife_late_doubles_it() {
        let rule = rule();
        let start = rule.initial_target;
        assert_eq!(rule.next_target(&start, None), start);
        // Exactly on time: factor 65536, then >> 16.
        assert_eq!(rule.next_target(&start, Some(1000)), start);
        // One half-life late: doubles (2^236 - 1 -> 2^237 - 2).
        assert_eq!(rule.next_target(&start, Some(21_000)), start.scaled(2, 0));
        // Later than that counts as one half-life late.
        assert_eq!(
            rule.next_target(&start, Some(10_000_000)),
            start.scaled(2, 0)
        );
        // One half-life early (a timestamp 19 s before its parent's): halves.
        assert_eq!(rule.next_target(&start, Some(-19_000)), start.scaled(1, -1));
        // Half a half-life: sqrt(2) within the cubic's precision.
        let half = rule.next_target(&start, Some(11_000));
        let sqrt2 = start.work().as_f64() / half.work().as_f64();
        assert!((sqrt2 - std::f64::consts::SQRT_2).abs() < 2e-4, "{sqrt2}");
    }

    #[test]
    fn the_target_stays_within_its_bounds() {
        let rule = rule();
        let mut target = rule.initial_target;
        for _ in 0..100 {
            target = rule.next_target(&target, Some(1_000_000));
        }
        assert_eq!(target, rule.max_target);
        for _ in 0..1000 {
            target = rule.next_target(&target, Some(-1_000_000_000));
        }
        assert_eq!(target, Target::from_be_bytes(ONE));
        assert_eq!(
            rule.next_target(&target, Some(i128::MIN)),
            Target::from_be_bytes(ONE)
        );
        assert_eq!(
            rule.next_target(&rule.max_target, Some(i128::MAX)),
            rule.max_target
        );
    }

    #[test]
    fn a_rule_with_impossible_values_is_refused() {
        let good = rule();
        good.check().unwrap();
        let zero_time = RetargetRule {
            block_time_ms: 0,
            ..good
        };
        assert_eq!(zero_time.check(), Err(RetargetRuleError::ZeroBlockTime));
        let inverted = RetargetRule {
            max_target: Difficulty::new(6).unwrap().target(),
            ..good
        };
        assert!(matches!(
            inverted.check(),
            Err(RetargetRuleError::InitialAboveMax { .. })
        ));
    }

    #[test]
    fn the_window_keeps_the_last_eleven_and_their_median() {
        let mut window = TimeWindow::default();
        assert_eq!(window.median(), None);
        window.push(Timestamp(10));
        assert_eq!(window.median(), Some(Timestamp(10)));
        assert_eq!(window.newest_interval(), None);
        window.push(Timestamp(5));
        // Two values: the upper middle.
        assert_eq!(window.median(), Some(Timestamp(10)));
        assert_eq!(window.newest_interval(), Some(-5));
        let window = TimeWindow::of((1..=20).map(|t| Timestamp(t * 100)));
        assert_eq!(window.len(), MEDIAN_SPAN);
        // 1000..=2000 kept; the middle is 1500.
        assert_eq!(window.median(), Some(Timestamp(1500)));
        assert_eq!(window.newest(), Some(Timestamp(2000)));
        let shuffled = TimeWindow::of([9, 1, 8, 2, 7, 3, 6, 4, 5, 100, 0].map(Timestamp));
        assert_eq!(shuffled.median(), Some(Timestamp(5)));
    }
}
