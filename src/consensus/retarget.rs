//! Difficulty that follows the clock: the rule of networks with a target
//! block time, and the time rules such a rule needs.
//!
//! **The rule** is ASERT (aserti3-2d, Bitcoin Cash since 2020), applied
//! block to block: a block's target is its parent's, multiplied by
//! `2^((solve_time - block_time) / halflife)`. A block found twice as slow
//! as wanted makes the next one a little easier, and so on, so the chain's
//! timestamps follow the schedule. Multiplied out over a chain the solve
//! times add up (telescope), so this is ASERT's absolute form (target =
//! genesis target × 2^((time elapsed − block_time × blocks) / halflife)),
//! with one change for small networks that stop and start: a solve time
//! counts for at most `block_time + halflife` (one halving of difficulty
//! per block). Without it, a chain left off overnight would owe its
//! schedule 8 hours and mine 28,800 nearly free blocks in a burst when it
//! came back. ARCHITECTURE.md says why ASERT and not Bitcoin's window or
//! LWMA.
//!
//! **Two versions** (`RuleVersion`), which differ in what a solve time is:
//!
//! - `asert-median/2`, every network `jbc network new` makes: the
//!   parent's *median time* minus the grandparent's (each the median of
//!   the 11 timestamps ending at that block), clamped symmetrically to
//!   `block_time ± halflife`. The median moves forward only, and one
//!   timestamp moves it by at most one place among its neighbours, so a
//!   block dated in the past or the future changes the next targets by
//!   about one honest interval, and its effect is gone once it leaves the
//!   window. A target can harden by at most `2^(block_time / halflife)` a
//!   block (3.5% with the defaults), so no timestamp can make the next
//!   block out of reach.
//! - `asert-per-block/1`, networks made before version 2: the parent's
//!   timestamp minus the grandparent's, clamped to
//!   `[block_time − 320 × halflife, block_time + halflife]`. Kept bit for
//!   bit so their chains stay valid, with its hole: after an idle gap, a
//!   block stamped just after the median makes its child `2^(gap /
//!   halflife)` times harder, and no honest timestamp undoes it (the
//!   positive solve time that should is capped). A network that stops
//!   this way stops for good; the node says so (`Pace::out_of_reach`).
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

/// Timestamps a `TimeWindow` keeps: the median span, and one more so that
/// the median before the newest block is known too (`asert-median/2`).
pub const WINDOW_SPAN: usize = MEDIAN_SPAN + 1;

/// Fixed-point scale of the exponent: 16 bits of fraction.
const FIXED_ONE: i128 = 1 << 16;

/// Which version of the rule a network follows: what counts as a block's
/// solve time, and how it is clamped (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleVersion {
    /// `asert-per-block/1`: the parent's timestamp minus the
    /// grandparent's, at most `block_time + halflife`. Networks made
    /// before version 2 keep it.
    PerBlock1,
    /// `asert-median/2`: the parent's median time minus the
    /// grandparent's, within `block_time ± halflife`.
    Median2,
}

impl RuleVersion {
    /// The name a network file and a network's id give it.
    pub fn name(self) -> &'static str {
        match self {
            RuleVersion::PerBlock1 => "asert-per-block/1",
            RuleVersion::Median2 => "asert-median/2",
        }
    }

    /// The version named `name`.
    pub fn from_name(name: &str) -> Option<RuleVersion> {
        [RuleVersion::PerBlock1, RuleVersion::Median2]
            .into_iter()
            .find(|version| version.name() == name)
    }
}

impl std::fmt::Display for RuleVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The parameters of a network with a target block time. All times in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetargetRule {
    pub version: RuleVersion,
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
    /// A rule of the current version for `block_time_ms` with the defaults
    /// for the rest: a half-life of 20 block times (fast enough that a
    /// network whose hash rate changes tenfold is back on time within
    /// about a hundred blocks, slow enough that one lucky block moves the
    /// target by 3%), blocks up to half a half-life ahead of the clock,
    /// and a `max_target` 2^16 times easier than the initial one.
    pub fn new(block_time_ms: u64, initial_target: Target) -> RetargetRule {
        let halflife_ms = block_time_ms.saturating_mul(20);
        RetargetRule {
            version: RuleVersion::Median2,
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

    /// The target of a block whose parent had `parent_target` and whose
    /// parent and ancestors have the timestamps in `times` (the parent's
    /// newest).
    pub fn next_target(&self, parent_target: &Target, times: &TimeWindow) -> Target {
        let solve = match self.version {
            RuleVersion::PerBlock1 => times.newest_interval(),
            RuleVersion::Median2 => times.median_interval(),
        };
        self.target_after(parent_target, solve)
    }

    /// The target of a block whose parent had `parent_target` and took
    /// `solve_ms` to find, as this rule's version measures it (`None`: the
    /// parent is the genesis block, which counts as on time).
    pub fn target_after(&self, parent_target: &Target, solve_ms: Option<i128>) -> Target {
        let block_time = i128::from(self.block_time_ms);
        let halflife = i128::from(self.halflife_ms);
        let solve = solve_ms.unwrap_or(block_time);
        let solve = match self.version {
            // At most one halving of difficulty per block (see the module
            // comment). The lower bound changes nothing (a target that
            // small ends at 1 anyway) but keeps the product below in range.
            RuleVersion::PerBlock1 => {
                solve.clamp(block_time - 320 * halflife, block_time + halflife)
            }
            // At most one halving or doubling a block: what a timestamp can
            // do is bounded the same way both ways.
            RuleVersion::Median2 => solve.clamp(block_time - halflife, block_time + halflife),
        };
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
/// `WINDOW_SPAN`), oldest first: what the time rules and the retarget rule
/// need of a block's ancestors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// A ring: `times[(start + i) % WINDOW_SPAN]` is the i-th oldest.
    times: [u128; WINDOW_SPAN],
    start: usize,
    len: usize,
}

impl TimeWindow {
    /// A window of these timestamps, oldest first; only the last
    /// `WINDOW_SPAN` are kept.
    pub fn of(times: impl IntoIterator<Item = Timestamp>) -> TimeWindow {
        let mut window = TimeWindow::default();
        times.into_iter().for_each(|time| window.push(time));
        window
    }

    /// Adds the newest timestamp, dropping the oldest beyond the span.
    pub fn push(&mut self, time: Timestamp) {
        if self.len < WINDOW_SPAN {
            self.times[(self.start + self.len) % WINDOW_SPAN] = time.0;
            self.len += 1;
        } else {
            self.times[self.start] = time.0;
            self.start = (self.start + 1) % WINDOW_SPAN;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The timestamps, oldest first.
    pub fn to_vec(&self) -> Vec<Timestamp> {
        (0..self.len)
            .rev()
            .filter_map(|n| self.nth_newest(n).map(Timestamp))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn nth_newest(&self, n: usize) -> Option<u128> {
        (n < self.len).then(|| self.times[(self.start + self.len - 1 - n) % WINDOW_SPAN])
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

    /// The median of the last `MEDIAN_SPAN` timestamps: the middle value,
    /// or the upper of the two middle ones for an even count (a chain
    /// younger than `MEDIAN_SPAN` blocks).
    pub fn median(&self) -> Option<Timestamp> {
        self.median_skipping(0).map(Timestamp)
    }

    /// The median of the window ending `skip` blocks before the newest.
    fn median_skipping(&self, skip: usize) -> Option<u128> {
        let len = self.len.checked_sub(skip)?.min(MEDIAN_SPAN);
        if len == 0 {
            return None;
        }
        let mut sorted = [0u128; MEDIAN_SPAN];
        for (n, slot) in sorted[..len].iter_mut().enumerate() {
            *slot = self.nth_newest(skip + n).expect("within the window");
        }
        let sorted = &mut sorted[..len];
        sorted.sort_unstable();
        Some(sorted[len / 2])
    }

    /// The median now minus the median before the newest block (the
    /// parent's solve time as `asert-median/2` measures it), once the
    /// window is full: the median of a chain younger than that moves at
    /// half its pace (the middle of a growing list), so until the chain
    /// has `WINDOW_SPAN` blocks every block counts as on time. Never
    /// negative on a valid chain: each timestamp is above the median
    /// before it, so the median never moves back.
    pub fn median_interval(&self) -> Option<i128> {
        if self.len < WINDOW_SPAN {
            return None;
        }
        let now = signed(self.median_skipping(0)?);
        let before = signed(self.median_skipping(1)?);
        Some(now - before)
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
        assert_eq!(rule.target_after(&start, None), start);
        // Exactly on time: factor 65536, then >> 16.
        assert_eq!(rule.target_after(&start, Some(1000)), start);
        // One half-life late: doubles (2^236 - 1 -> 2^237 - 2).
        assert_eq!(rule.target_after(&start, Some(21_000)), start.scaled(2, 0));
        // Later than that counts as one half-life late.
        assert_eq!(
            rule.target_after(&start, Some(10_000_000)),
            start.scaled(2, 0)
        );
        // One half-life early (a timestamp 19 s before its parent's): halves.
        assert_eq!(
            rule.target_after(&start, Some(-19_000)),
            start.scaled(1, -1)
        );
        // Half a half-life: sqrt(2) within the cubic's precision.
        let half = rule.target_after(&start, Some(11_000));
        let sqrt2 = start.work().as_f64() / half.work().as_f64();
        assert!((sqrt2 - std::f64::consts::SQRT_2).abs() < 2e-4, "{sqrt2}");
    }

    #[test]
    fn the_target_stays_within_its_bounds() {
        let rule = rule();
        let mut target = rule.initial_target;
        for _ in 0..100 {
            target = rule.target_after(&target, Some(1_000_000));
        }
        assert_eq!(target, rule.max_target);
        for _ in 0..1000 {
            target = rule.target_after(&target, Some(-1_000_000_000));
        }
        assert_eq!(target, Target::from_be_bytes(ONE));
        assert_eq!(
            rule.target_after(&target, Some(i128::MIN)),
            Target::from_be_bytes(ONE)
        );
        assert_eq!(
            rule.target_after(&rule.max_target, Some(i128::MAX)),
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
    fn version_2_clamps_both_ways_and_version_1_only_one_way() {
        let v2 = rule();
        let v1 = RetargetRule {
            version: RuleVersion::PerBlock1,
            ..v2
        };
        let start = v2.initial_target;
        // An hour early: version 2 halves, version 1 is 2^-180 as hard.
        assert_eq!(
            v2.target_after(&start, Some(-3_600_000)),
            start.scaled(1, -1)
        );
        let v1_early = v1.target_after(&start, Some(-3_600_000));
        assert!(v1_early.to_be_bytes() < start.scaled(1, -170).to_be_bytes());
        // An hour late: both at most double.
        assert_eq!(v1.target_after(&start, Some(3_600_000)), start.scaled(2, 0));
        assert_eq!(v2.target_after(&start, Some(3_600_000)), start.scaled(2, 0));
    }

    #[test]
    fn version_2_measures_the_median_and_version_1_the_parent() {
        let v2 = rule();
        let v1 = RetargetRule {
            version: RuleVersion::PerBlock1,
            ..v2
        };
        // Ten blocks a second apart, then one an hour later and one stamped
        // just after the median (an hour back).
        let mut times: Vec<u128> = (0..10).map(|n| n * 1000).collect();
        times.push(3_600_000);
        let window = TimeWindow::of(times.iter().copied().map(Timestamp));
        let median = window.median().unwrap().0;
        times.push(median + 1);
        let window = TimeWindow::of(times.iter().copied().map(Timestamp));
        assert_eq!(
            window.newest_interval(),
            Some(median as i128 + 1 - 3_600_000)
        );
        // The median moved by one place among its neighbours (to the
        // backdated block itself, 1 ms above the old median).
        assert_eq!(window.median_interval(), Some(1));
        let start = v2.initial_target;
        // So the next block is 2^(-999/20000) as hard: 3.4% harder.
        let v2_next = v2.next_target(&start, &window);
        let harder = start.work().as_f64() / v2_next.work().as_f64();
        assert!((0.96..1.0).contains(&harder), "{harder}");
        let v1_next = v1.next_target(&start, &window);
        assert!(v1_next.to_be_bytes() < start.scaled(1, -100).to_be_bytes());
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
        assert_eq!(window.len(), WINDOW_SPAN);
        // 1000..=2000 kept; the middle is 1500.
        assert_eq!(window.median(), Some(Timestamp(1500)));
        assert_eq!(window.newest(), Some(Timestamp(2000)));
        // The median before the newest: 900..=1900, so 1400.
        assert_eq!(window.median_interval(), Some(100));
        // A young chain counts as on time: its median moves at half pace.
        let young = TimeWindow::of((1..=11).map(|t| Timestamp(t * 100)));
        assert_eq!(young.median_interval(), None);
        let shuffled = TimeWindow::of([9, 1, 8, 2, 7, 3, 6, 4, 5, 100, 0].map(Timestamp));
        assert_eq!(shuffled.median(), Some(Timestamp(5)));
    }
}
