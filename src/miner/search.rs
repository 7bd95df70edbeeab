//! The search kernel: per nonce, as little as the header allows. The
//! header text before the nonce is compressed once (the midstate); the
//! nonce is decimal text inside the final, pre-padded block(s), advanced in
//! place; with the SHA extensions several consecutive nonces are hashed at
//! once (`sha_ni`), the final block's rounds over bytes that come before
//! the digits are done once per header, and a try is decided by the
//! digest's first word unless it ties the target's. A `Searcher` is one thread's state for one header
//! prefix; `mod.rs` runs the threads.

use sha2::compress256;
use sha2::digest::generic_array::{GenericArray, typenum::U64};

use super::sha_ni::{ShaNi, Start};
use crate::consensus::{BlockHash, Target};

/// Nonces tried between two looks at the stop flag.
pub const BATCH: u64 = 4096;

/// One 64-byte block of SHA-256 input.
pub(super) type Block64 = GenericArray<u8, U64>;

/// Most nonces hashed at once on a CPU with the SHA extensions. How many
/// keep its SHA unit busiest differs between CPUs (`cargo bench --bench
/// mine` measures 1 to 8): `ShaNi::best_lanes` measures it once.
pub const MAX_LANES: usize = 6;

/// The end of a header for one nonce: the prefix bytes left after the
/// midstate, the nonce's decimal digits and the padding, in one or two
/// 64-byte blocks.
#[derive(Clone, Copy)]
struct Tail {
    blocks: [Block64; 2],
    /// Where the nonce's digits are (byte offsets into `blocks`).
    digits_start: usize,
    digits_end: usize,
    /// 1 or 2.
    count: usize,
}

impl Tail {
    /// Lays out the tail for `nonce` after `rest` (the prefix bytes past
    /// the midstate), for a prefix of `prefix_len` bytes.
    fn new(rest: &[u8], prefix_len: usize, nonce: u64) -> Tail {
        let digits = nonce.to_string();
        let mut flat = [0u8; 128];
        flat[..rest.len()].copy_from_slice(rest);
        let used = rest.len() + digits.len();
        flat[rest.len()..used].copy_from_slice(digits.as_bytes());
        flat[used] = 0x80;
        let count = if used + 9 <= 64 { 1 } else { 2 };
        let bits = ((prefix_len + digits.len()) as u64) * 8;
        let end = count * 64;
        flat[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        let mut blocks = [Block64::default(); 2];
        blocks[0].copy_from_slice(&flat[..64]);
        blocks[1].copy_from_slice(&flat[64..]);
        Tail {
            blocks,
            digits_start: rest.len(),
            digits_end: used,
            count,
        }
    }

    /// Adds `by` (at most 10) to the decimal nonce in place. False when
    /// the digit count would grow (the caller lays the tail out again).
    #[inline]
    fn advance(&mut self, by: u8) -> bool {
        // The last digit alone changes in most steps: no division, one
        // branch that follows a short cycle (the miner's hot path).
        let mut pos = self.digits_end - 1;
        let last = &mut self.blocks[pos >> 6][pos & 63];
        let sum = *last + by;
        if sum <= b'9' {
            *last = sum;
            return true;
        }
        *last = sum - 10;
        loop {
            if pos == self.digits_start {
                return false;
            }
            pos -= 1;
            let digit = &mut self.blocks[pos >> 6][pos & 63];
            if *digit < b'9' {
                *digit += 1;
                return true;
            }
            *digit = b'0';
        }
    }

    fn block(&self, i: usize) -> &[u8; 64] {
        self.blocks[i]
            .as_slice()
            .try_into()
            .expect("a block is 64 bytes")
    }
}

/// The per-nonce search state for one header prefix: the midstate and the
/// tail of the current nonce (`lane_count` consecutive nonces' tails where
/// the SHA extensions hash them together).
pub struct Searcher {
    midstate: [u32; 8],
    /// Prefix bytes left over after its full 64-byte blocks.
    rest: Vec<u8>,
    /// Length of the whole prefix, for the padding's bit count.
    prefix_len: usize,
    target: [u32; 8],
    tail: Tail,
    lanes: [Tail; MAX_LANES],
    lane_count: usize,
    /// With the SHA extensions: the final block's shared rounds, done.
    sha_ni: Option<(ShaNi, Start)>,
}

pub(super) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

impl Searcher {
    pub fn new(prefix: &[u8], target: &Target) -> Searcher {
        let full = prefix.len() / 64 * 64;
        let mut midstate = IV;
        let blocks: Vec<Block64> = prefix[..full]
            .chunks_exact(64)
            .map(|c| *Block64::from_slice(c))
            .collect();
        compress256(&mut midstate, &blocks);
        let bytes = target.to_be_bytes();
        let mut target_words = [0u32; 8];
        for (word, chunk) in target_words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().expect("chunks of 4 bytes"));
        }
        let rest = prefix[full..].to_vec();
        let tail = Tail::new(&rest, prefix.len(), 0);
        let sha_ni = ShaNi::detect();
        // The rest's whole 16-byte groups come before the nonce's digits.
        let shared = sha_ni.map(|sha| (sha, sha.start(&midstate, tail.block(0), rest.len() / 16)));
        Searcher {
            midstate,
            prefix_len: prefix.len(),
            target: target_words,
            tail,
            lanes: [tail; MAX_LANES],
            lane_count: sha_ni.map_or(1, ShaNi::best_lanes),
            rest,
            sha_ni: shared,
        }
    }

    /// With `count` lanes (2 to `MAX_LANES`) instead of this CPU's best.
    pub fn with_lanes(mut self, count: usize) -> Searcher {
        self.lane_count = count.clamp(2, MAX_LANES);
        self
    }

    /// Without the SHA extensions even where the CPU has them (to compare
    /// the two paths).
    pub fn without_sha_ni(mut self) -> Searcher {
        self.sha_ni = None;
        self
    }

    fn tail_for(&self, nonce: u64) -> Tail {
        Tail::new(&self.rest, self.prefix_len, nonce)
    }

    /// Lays out the tail for `nonce`.
    fn set_nonce(&mut self, nonce: u64) {
        self.tail = self.tail_for(nonce);
    }

    /// The digest of the header with the nonce laid out in `tail`, as
    /// state words.
    #[inline]
    fn words_of(&self, tail: &Tail) -> [u32; 8] {
        let mut state = self.midstate;
        compress256(&mut state, &tail.blocks[..tail.count]);
        state
    }

    /// The digests of the `N` nonces laid out in `lanes`; `uniform` when
    /// their tails have the same number of blocks.
    #[inline]
    fn lane_words<const N: usize>(&self, sha: ShaNi, uniform: bool) -> [[u32; 8]; N] {
        let mut states = [self.midstate; N];
        if uniform {
            for i in 0..self.lanes[0].count {
                sha.compress(&mut states, std::array::from_fn(|l| self.lanes[l].block(i)));
            }
        } else {
            // Lanes astride a digit-count change: one at a time.
            for (state, tail) in states.iter_mut().zip(&self.lanes) {
                compress256(state, &tail.blocks[..tail.count]);
            }
        }
        states
    }

    /// Lays out the first `n` lanes for the nonces from `start`; true
    /// when their tails have the same number of blocks (`uniform`).
    fn lay_lanes(&mut self, n: usize, start: u64) -> bool {
        for k in 0..n {
            self.lanes[k] = self.tail_for(start + k as u64);
        }
        self.uniform(n)
    }

    /// True when the first `n` lanes' tails have the same number of blocks.
    fn uniform(&self, n: usize) -> bool {
        self.lanes[..n]
            .iter()
            .all(|t| t.count == self.lanes[0].count)
    }

    #[inline]
    fn meets_target(&self, state: &[u32; 8]) -> bool {
        // Almost every try is decided by the first word.
        if state[0] != self.target[0] {
            return state[0] < self.target[0];
        }
        state <= &self.target
    }

    /// The hash the searcher computes for `nonce` (for tests and benches).
    pub fn hash_of(&mut self, nonce: u64) -> BlockHash {
        self.set_nonce(nonce);
        words_to_hash(&self.words_of(&self.tail))
    }

    /// Tries nonces `start..end` in order. Every `BATCH` tries it reports the
    /// count to `keep_going`, which says whether to continue. Returns the
    /// first nonce that meets the target.
    pub fn search(
        &mut self,
        start: u64,
        end: u64,
        mut keep_going: impl FnMut(u64) -> bool,
    ) -> Option<u64> {
        self.set_nonce(start);
        let mut nonce = start;
        while nonce < end {
            let batch_end = end.min(nonce.saturating_add(BATCH));
            let batch_start = nonce;
            let lanes = self.sha_ni.and_then(|(sha, _)| match self.lane_count {
                2 => self.search_lanes::<2>(sha, &mut nonce, batch_end),
                3 => self.search_lanes::<3>(sha, &mut nonce, batch_end),
                5 => self.search_lanes::<5>(sha, &mut nonce, batch_end),
                6 => self.search_lanes::<6>(sha, &mut nonce, batch_end),
                _ => self.search_lanes::<4>(sha, &mut nonce, batch_end),
            });
            if let Some(hit) = lanes {
                keep_going(hit - batch_start + 1);
                return Some(hit);
            }
            // What the lanes left (fewer than `LANES`), or everything
            // without the SHA extensions: one nonce at a time.
            self.set_nonce(nonce);
            while nonce < batch_end {
                let state = self.words_of(&self.tail);
                if self.meets_target(&state) {
                    keep_going(nonce - batch_start + 1);
                    return Some(nonce);
                }
                nonce += 1;
                if !self.tail.advance(1) {
                    self.set_nonce(nonce);
                }
            }
            if !keep_going(nonce - batch_start) {
                return None;
            }
        }
        None
    }

    /// Tries `N` nonces at a time from `*nonce` while a whole group fits
    /// below `end`; the first hit, in nonce order.
    #[inline]
    fn search_lanes<const N: usize>(
        &mut self,
        sha: ShaNi,
        nonce: &mut u64,
        end: u64,
    ) -> Option<u64> {
        let lanes = N as u64;
        if end.saturating_sub(*nonce) < lanes {
            return None;
        }
        // Whether the lanes' tails have as many blocks as one another only
        // changes when a tail is laid out again (the digit count grew).
        let mut uniform = self.lay_lanes(N, *nonce);
        let start = self.sha_ni.map(|(_, start)| start)?;
        while end - *nonce >= lanes {
            if uniform && self.lanes[0].count == 1 {
                // The common case: one final block from the shared
                // rounds, decided by the digest's first word.
                let words =
                    sha.first_words::<N>(&start, std::array::from_fn(|l| self.lanes[l].block(0)));
                for (k, word) in words.iter().enumerate() {
                    if *word <= self.target[0] && self.meets_target(&self.words_of(&self.lanes[k]))
                    {
                        return Some(*nonce + k as u64);
                    }
                }
            } else {
                let states = self.lane_words::<N>(sha, uniform);
                for (k, state) in states.iter().enumerate() {
                    if self.meets_target(state) {
                        return Some(*nonce + k as u64);
                    }
                }
            }
            *nonce += lanes;
            for k in 0..N {
                if !self.lanes[k].advance(N as u8) {
                    self.lanes[k] = self.tail_for(*nonce + k as u64);
                    uniform = self.uniform(N);
                }
            }
        }
        None
    }

    /// The hashes of `N` consecutive nonces from `start` through the
    /// lanes (for tests).
    #[cfg(test)]
    fn lane_hashes<const N: usize>(&mut self, start: u64) -> Option<Vec<BlockHash>> {
        let (sha, _) = self.sha_ni?;
        let uniform = self.lay_lanes(N, start);
        let words = self.lane_words::<N>(sha, uniform);
        Some(words.iter().map(words_to_hash).collect())
    }
}

fn words_to_hash(state: &[u32; 8]) -> BlockHash {
    let mut bytes = [0u8; 32];
    for (i, word) in state.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    BlockHash::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Difficulty;
    use proptest::prelude::*;

    fn plain(prefix: &[u8], nonce: u64) -> BlockHash {
        let mut text = prefix.to_vec();
        text.extend_from_slice(nonce.to_string().as_bytes());
        BlockHash::of(&text)
    }

    fn impossible() -> Target {
        Target::from_be_bytes([0; 32])
    }

    const EDGE_NONCES: [u64; 10] = [
        0,
        9,
        10,
        99,
        100,
        999_999_999,
        1_000_000_000,
        u64::MAX / 10,
        u64::MAX - 1,
        u64::MAX,
    ];

    proptest! {
        #[test]
        fn fast_hash_equals_plain_sha256(
            prefix in proptest::collection::vec(any::<u8>(), 0..=200),
            nonce in prop_oneof![proptest::sample::select(EDGE_NONCES.to_vec()), any::<u64>()],
        ) {
            let mut searcher = Searcher::new(&prefix, &impossible());
            prop_assert_eq!(searcher.hash_of(nonce), plain(&prefix, nonce));
        }

        #[test]
        fn incrementing_in_place_matches_across_digit_changes(
            len in proptest::sample::select(vec![0usize, 1, 40, 44, 45, 46, 54, 55, 56, 57, 63, 64, 65, 100, 119, 120, 127, 128, 200]),
            around in proptest::sample::select(vec![0u64, 9, 99, 999, 9_999_999, 999_999_999, 9_999_999_999_999_999_999]),
        ) {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut searcher = Searcher::new(&prefix, &impossible());
            let start = around.saturating_sub(3);
            searcher.set_nonce(start);
            let mut nonce = start;
            for _ in 0..8 {
                prop_assert_eq!(words_to_hash(&searcher.words_of(&searcher.tail)), plain(&prefix, nonce));
                if nonce == u64::MAX { break; }
                nonce += 1;
                if !searcher.tail.advance(1) { searcher.set_nonce(nonce); }
            }
        }
    }

    #[test]
    fn lanes_hash_like_plain_sha256_for_every_prefix_length_and_digit_change() {
        let starts = [
            0u64,
            7,
            96,
            997,
            999_999_997,
            9_999_999_999_999_999_997,
            u64::MAX - (MAX_LANES as u64 - 1),
        ];
        for len in 0..=200usize {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut searcher = Searcher::new(&prefix, &impossible());
            for start in starts {
                let all = [
                    searcher.lane_hashes::<2>(start),
                    searcher.lane_hashes::<3>(start),
                    searcher.lane_hashes::<4>(start),
                    searcher.lane_hashes::<5>(start),
                    searcher.lane_hashes::<6>(start),
                ];
                for hashes in all {
                    let Some(hashes) = hashes else {
                        return; // no SHA extensions here: nothing to compare
                    };
                    let plain: Vec<BlockHash> = (0..hashes.len() as u64)
                        .map(|k| plain(&prefix, start + k))
                        .collect();
                    assert_eq!(hashes, plain, "len {len} start {start}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn lanes_and_one_at_a_time_find_the_same_first_nonce(
            len in 0usize..=130,
            start in prop_oneof![Just(0u64), Just(95u64), Just(9_995u64), Just(999_999_990u64), 0u64..1_000_000],
            zeros in 1u64..=2,
            lanes in 2usize..=MAX_LANES,
        ) {
            let prefix: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
            let target = Difficulty::new(zeros).unwrap().target();
            let end = start + 20_000;
            let (mut tried_lanes, mut tried_one) = (0, 0);
            let lanes = Searcher::new(&prefix, &target).with_lanes(lanes).search(start, end, |n| {
                tried_lanes += n;
                true
            });
            let one = Searcher::new(&prefix, &target).without_sha_ni().search(start, end, |n| {
                tried_one += n;
                true
            });
            prop_assert_eq!(lanes, one);
            prop_assert_eq!(tried_lanes, tried_one);
            if let Some(nonce) = lanes {
                prop_assert!(target.is_met_by(&plain(&prefix, nonce)));
            }
        }
    }

    proptest! {
        // A digest whose first word equals the target's is decided by the
        // words after it: the lanes see only first words, then check such
        // a tie in full.
        #[test]
        fn a_tie_on_the_first_word_is_decided_like_one_at_a_time(
            len in 0usize..=130,
            start in 0u64..1_000_000,
            lower in any::<bool>(),
            lanes in 2usize..=MAX_LANES,
        ) {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            // The nonce with the lowest digest of the range: no nonce
            // before it wins on the first word alone.
            let best = (start..start + 64)
                .min_by_key(|n| *plain(&prefix, *n).as_bytes())
                .unwrap();
            let mut bytes = *plain(&prefix, best).as_bytes();
            // The same first word; the rest just below or just above.
            bytes[4..].fill(if lower { 0 } else { 0xff });
            let target = Target::from_be_bytes(bytes);
            let end = start + 64;
            let lanes = Searcher::new(&prefix, &target).with_lanes(lanes).search(start, end, |_| true);
            let one = Searcher::new(&prefix, &target).without_sha_ni().search(start, end, |_| true);
            prop_assert_eq!(lanes, one);
            prop_assert_eq!(one, (!lower).then_some(best));
        }
    }

    #[test]
    fn boundary_lengths_named_in_the_issue() {
        for len in [0usize, 55, 56, 63, 64, 119, 120, 200] {
            let prefix = vec![b'x'; len];
            let mut searcher = Searcher::new(&prefix, &impossible());
            for nonce in EDGE_NONCES {
                assert_eq!(
                    searcher.hash_of(nonce),
                    plain(&prefix, nonce),
                    "len {len} nonce {nonce}"
                );
            }
        }
    }
}
