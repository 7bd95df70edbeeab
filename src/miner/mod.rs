//! The miner: searches nonces on its own OS threads until one gives a hash
//! that meets the target, or until it is told to stop.
//!
//! Per nonce it does as little as the header allows. The header text before
//! the nonce never changes during a search, so its full 64-byte blocks are
//! compressed once (the "midstate"). The nonce is kept as decimal text inside
//! the final, pre-padded block(s) and incremented in place, so one try costs
//! one SHA-256 compression when the header's tail fits in one block (two
//! when it does not). Threads take disjoint ranges of the nonce space from a
//! shared allocator; with one thread the search is the original's (nonce 0,
//! 1, 2, ...). When the nonce space of a timestamp is used up, the allocator
//! moves to a fresh timestamp, so the search never runs dry. On a network
//! whose target follows the clock it also refreshes the timestamp with
//! every range it hands out (a few times a second), so a block carries
//! when it was found, not when its search began: the next block's target
//! is computed from it.
//!
//! The stop flag and the statistics are checked and published every
//! `BATCH` nonces, so a stop reaches every thread within a fraction of a
//! millisecond. The miner never touches the store: it returns a block, which
//! it has re-checked with the consensus validator, and the caller stores it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod sha_ni;

use sha_ni::ShaNi;
use sha2::compress256;
use sha2::digest::generic_array::{GenericArray, typenum::U64};

use crate::chain::Clock;
use crate::consensus::block::header_prefix;
use crate::consensus::validate::check_block;
use crate::consensus::{
    Block, BlockHash, Height, Network, Nonce, Target, Template, Timestamp, ValidationError,
};

/// Nonces tried between two looks at the stop flag.
pub const BATCH: u64 = 4096;
/// Nonces a thread takes from the allocator at once.
const RANGE: u64 = 1 << 22;

/// What to mine: everything of the block but the nonce (and the timestamp
/// may be refreshed if a search ever exhausts its nonce space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub index: Height,
    pub prev_hash: Option<BlockHash>,
    pub data: String,
    pub timestamp: Timestamp,
    pub target: Target,
}

impl Job {
    /// The job of mining the child `template` describes, carrying `data`,
    /// timestamped `now` (or the earliest time the rules allow).
    pub fn from_template(template: &Template, data: String, now: Timestamp) -> Job {
        Job {
            index: template.index,
            prev_hash: Some(template.prev_hash),
            data,
            timestamp: template.timestamp(now),
            target: template.target,
        }
    }
}

/// A flag that stops a search; cheap to clone and share.
#[derive(Clone, Debug, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub fn reset(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Hashes tried, per thread, readable while mining.
#[derive(Debug)]
pub struct MinerStats {
    per_thread: Vec<AtomicU64>,
}

impl MinerStats {
    pub fn new(threads: usize) -> MinerStats {
        MinerStats {
            per_thread: (0..threads.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn threads(&self) -> usize {
        self.per_thread.len()
    }

    /// Hashes tried so far by each thread.
    pub fn per_thread(&self) -> Vec<u64> {
        self.per_thread
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.per_thread().iter().sum()
    }
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Found(Block),
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The fast hash disagreed with the validator: a bug, never a block.
    #[error("the miner produced a block the validator rejects: {0}")]
    Rejected(#[from] ValidationError),
}

/// Search settings.
#[derive(Clone)]
pub struct Settings {
    pub threads: usize,
    /// Nonces per timestamp before the timestamp is refreshed (default: the
    /// whole `u64` range). Small values exist for tests.
    pub nonce_limit: u64,
    /// Where a fresh timestamp comes from.
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// Move to the clock's time with every nonce range (when it is later
    /// than the job's), not only when the nonce space runs out.
    pub refresh_timestamp: bool,
    /// Hash `LANES` nonces at once with the SHA extensions where the CPU
    /// has them (off: one `compress256` stream, to compare).
    pub sha_ni: bool,
}

impl Settings {
    pub fn new(threads: usize, clock: Arc<dyn Fn() -> Timestamp + Send + Sync>) -> Settings {
        Settings {
            threads: threads.max(1),
            nonce_limit: u64::MAX,
            clock,
            refresh_timestamp: false,
            sha_ni: true,
        }
    }

    /// Settings for mining on `network`: its timestamps from `clock`,
    /// refreshed during the search where the target follows the clock.
    pub fn for_network(threads: usize, network: &Network, clock: Clock) -> Settings {
        Settings {
            refresh_timestamp: network.retarget().is_some(),
            ..Settings::new(threads, network_clock(network, clock))
        }
    }
}

/// `clock` (Unix milliseconds) in `network`'s timestamp unit.
pub fn network_clock(network: &Network, clock: Clock) -> Arc<dyn Fn() -> Timestamp + Send + Sync> {
    let network = network.clone();
    Arc::new(move || network.timestamp_at(clock()))
}

/// The number of threads `--threads` means by default: all cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Mines `job` on `settings.threads` threads until a block is found or
/// `stop` is raised. Blocks the calling thread; call it from a thread of
/// its own, never from an async task.
pub fn mine(
    job: &Job,
    settings: &Settings,
    stop: &StopSignal,
    stats: &MinerStats,
) -> Result<Outcome, MinerError> {
    let search = Search {
        job,
        settings,
        stop,
        allocator: Mutex::new(Allocator {
            timestamp: job.timestamp,
            next: 0,
            limit: settings.nonce_limit.max(1),
            refresh: settings.refresh_timestamp,
        }),
        done: AtomicBool::new(false),
        found: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for t in 0..settings.threads.max(1) {
            let counter = &stats.per_thread[t % stats.per_thread.len()];
            let search = &search;
            scope.spawn(move || search.work(counter));
        }
    });
    let hit = search.found.into_inner().ok().flatten();
    let Some((timestamp, nonce)) = hit else {
        return Ok(Outcome::Stopped);
    };
    let block = Block::with_computed_hash(
        job.index,
        job.prev_hash,
        job.data.clone(),
        timestamp,
        Nonce(nonce),
    );
    // Trust, but verify: the fast path must agree with the rules.
    check_block(&block, &job.target)?;
    Ok(Outcome::Found(block))
}

/// One search, shared by its threads.
struct Search<'a> {
    job: &'a Job,
    settings: &'a Settings,
    stop: &'a StopSignal,
    allocator: Mutex<Allocator>,
    /// Set by the thread that finds a nonce; the others then end.
    done: AtomicBool,
    /// The first hit: its timestamp and nonce.
    found: Mutex<Option<(Timestamp, u64)>>,
}

impl Search<'_> {
    fn searcher(&self, prefix: &[u8]) -> Searcher {
        let searcher = Searcher::new(prefix, &self.job.target);
        match self.settings.sha_ni {
            true => searcher,
            false => searcher.without_sha_ni(),
        }
    }

    fn keep_going(&self) -> bool {
        !self.done.load(Ordering::Relaxed) && !self.stop.is_stopped()
    }

    /// One thread's work: take a nonce range, search it, report the count,
    /// until someone finds a nonce or the search is stopped.
    fn work(&self, counter: &AtomicU64) {
        let mut searcher: Option<(Timestamp, Searcher)> = None;
        while self.keep_going() {
            let (timestamp, start, end) = match self.allocator.lock() {
                Ok(mut alloc) => alloc.next_range(self.settings.clock.as_ref()),
                Err(_) => return,
            };
            // A new timestamp changes the header: a new midstate.
            let searcher = match &mut searcher {
                Some((ts, s)) if *ts == timestamp => s,
                slot => {
                    let job = self.job;
                    let prefix =
                        header_prefix(job.index, job.prev_hash.as_ref(), &job.data, timestamp);
                    &mut slot.insert((timestamp, self.searcher(&prefix))).1
                }
            };
            let hit = searcher.search(start, end, |tried| {
                counter.fetch_add(tried, Ordering::Relaxed);
                self.keep_going()
            });
            if let Some(nonce) = hit {
                if let Ok(mut slot) = self.found.lock() {
                    slot.get_or_insert((timestamp, nonce));
                }
                self.done.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Hands out disjoint nonce ranges; moves to a new timestamp when the
/// current one's nonces are used up.
struct Allocator {
    timestamp: Timestamp,
    next: u64,
    limit: u64,
    refresh: bool,
}

impl Allocator {
    fn next_range(
        &mut self,
        clock: &(dyn Fn() -> Timestamp + Send + Sync),
    ) -> (Timestamp, u64, u64) {
        if self.refresh {
            // Timestamps only move forward, so never below the job's
            // (which the rules allow).
            let now = clock();
            if now > self.timestamp {
                self.timestamp = now;
                self.next = 0;
            }
        }
        if self.next >= self.limit {
            let now = clock();
            self.timestamp = if now > self.timestamp {
                now
            } else {
                Timestamp(self.timestamp.0.saturating_add(1))
            };
            self.next = 0;
        }
        let start = self.next;
        let end = start.saturating_add(RANGE).min(self.limit);
        self.next = end;
        (self.timestamp, start, end)
    }
}

type Block64 = GenericArray<u8, U64>;

/// Nonces hashed at once on a CPU with the SHA extensions: four streams
/// keep its SHA unit busy (`cargo bench --bench mine` measures 1 to 8;
/// four is twice one `compress256`, five no better).
pub const LANES: usize = 4;

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

    /// Adds `by` to the decimal nonce in place. False when the digit count
    /// would grow (the caller lays the tail out again).
    #[inline]
    fn advance(&mut self, by: u8) -> bool {
        let mut carry = by;
        let mut pos = self.digits_end;
        while carry > 0 {
            if pos == self.digits_start {
                return false;
            }
            pos -= 1;
            let byte = &mut self.blocks[pos >> 6][pos & 63];
            let digit = *byte - b'0' + carry;
            *byte = b'0' + digit % 10;
            carry = digit / 10;
        }
        true
    }

    fn block(&self, i: usize) -> &[u8; 64] {
        self.blocks[i]
            .as_slice()
            .try_into()
            .expect("a block is 64 bytes")
    }
}

/// The per-nonce search state for one header prefix: the midstate and the
/// tail of the current nonce (`LANES` consecutive nonces' tails where the
/// SHA extensions hash them together).
pub struct Searcher {
    midstate: [u32; 8],
    /// Prefix bytes left over after its full 64-byte blocks.
    rest: Vec<u8>,
    /// Length of the whole prefix, for the padding's bit count.
    prefix_len: usize,
    target: [u32; 8],
    tail: Tail,
    lanes: [Tail; LANES],
    sha_ni: Option<ShaNi>,
}

const IV: [u32; 8] = [
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
        for (i, word) in target_words.iter_mut().enumerate() {
            *word = u32::from_be_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ]);
        }
        let rest = prefix[full..].to_vec();
        let tail = Tail::new(&rest, prefix.len(), 0);
        Searcher {
            midstate,
            prefix_len: prefix.len(),
            target: target_words,
            tail,
            lanes: [tail; LANES],
            rest,
            sha_ni: ShaNi::detect(),
        }
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

    /// Adds one to the decimal nonce in place. Returns false when the digit
    /// count grew (the caller re-lays the tail).
    #[inline]
    fn increment(&mut self) -> bool {
        self.tail.advance(1)
    }

    /// The digest of the header with the current nonce, as state words.
    #[inline]
    fn hash_words(&self) -> [u32; 8] {
        let mut state = self.midstate;
        compress256(&mut state, &self.tail.blocks[..self.tail.count]);
        state
    }

    /// The digests of the `LANES` nonces laid out in `lanes`.
    #[inline]
    fn lane_words(&self, sha: ShaNi) -> [[u32; 8]; LANES] {
        let mut states = [self.midstate; LANES];
        let count = self.lanes[0].count;
        if self.lanes.iter().all(|tail| tail.count == count) {
            for i in 0..count {
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
        words_to_hash(&self.hash_words())
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
            if let Some(sha) = self.sha_ni
                && let Some(hit) = self.search_lanes(sha, &mut nonce, batch_end)
            {
                keep_going(hit - batch_start + 1);
                return Some(hit);
            }
            // What the lanes left (fewer than `LANES`), or everything
            // without the SHA extensions: one nonce at a time.
            self.set_nonce(nonce);
            while nonce < batch_end {
                let state = self.hash_words();
                if self.meets_target(&state) {
                    keep_going(nonce - batch_start + 1);
                    return Some(nonce);
                }
                nonce += 1;
                if !self.increment() {
                    self.set_nonce(nonce);
                }
            }
            if !keep_going(nonce - batch_start) {
                return None;
            }
        }
        None
    }

    /// Tries `LANES` nonces at a time from `*nonce` while a whole group
    /// fits below `end`; the first hit, in nonce order.
    #[inline]
    fn search_lanes(&mut self, sha: ShaNi, nonce: &mut u64, end: u64) -> Option<u64> {
        let lanes = LANES as u64;
        if end.saturating_sub(*nonce) < lanes {
            return None;
        }
        for (k, tail) in self.lanes.iter_mut().enumerate() {
            *tail = Tail::new(&self.rest, self.prefix_len, *nonce + k as u64);
        }
        while end - *nonce >= lanes {
            let states = self.lane_words(sha);
            for (k, state) in states.iter().enumerate() {
                if self.meets_target(state) {
                    return Some(*nonce + k as u64);
                }
            }
            *nonce += lanes;
            for k in 0..LANES {
                if !self.lanes[k].advance(LANES as u8) {
                    self.lanes[k] = self.tail_for(*nonce + k as u64);
                }
            }
        }
        None
    }

    /// The hashes of `LANES` consecutive nonces from `start` through the
    /// lanes (for tests).
    #[cfg(test)]
    fn lane_hashes(&mut self, start: u64) -> Option<Vec<BlockHash>> {
        let sha = self.sha_ni?;
        for (k, tail) in self.lanes.iter_mut().enumerate() {
            *tail = Tail::new(&self.rest, self.prefix_len, start + k as u64);
        }
        Some(self.lane_words(sha).iter().map(words_to_hash).collect())
    }
}

fn words_to_hash(state: &[u32; 8]) -> BlockHash {
    let mut bytes = [0u8; 32];
    for (i, word) in state.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    BlockHash::from_bytes(bytes)
}

/// A clock for `Settings` that reads unix seconds (the original's unit).
pub fn unix_clock() -> Arc<dyn Fn() -> Timestamp + Send + Sync> {
    network_clock(&Network::seed(), crate::chain::system_clock())
}

/// A job no search can finish (target zero), for measurements.
fn endless_job(data: &str) -> Job {
    Job {
        index: Height(1),
        prev_hash: Some(BlockHash::from_bytes([0xab; 32])),
        data: data.to_owned(),
        timestamp: Timestamp(1_700_000_000),
        target: Target::from_be_bytes([0; 32]),
    }
}

/// Runs a search for `seconds` on `threads` threads against an impossible
/// target, and returns hashes tried and the elapsed time (for `jbc bench`).
pub fn measure_rate(data: &str, threads: usize, seconds: f64, sha_ni: bool) -> (u64, f64) {
    let job = endless_job(data);
    let stop = StopSignal::new();
    let stats = MinerStats::new(threads);
    let settings = Settings {
        sha_ni,
        ..Settings::new(threads, unix_clock())
    };
    let started = Instant::now();
    std::thread::scope(|scope| {
        let stopper = stop.clone();
        scope.spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
            stopper.stop();
        });
        let _ = mine(&job, &settings, &stop, &stats);
    });
    (stats.total(), started.elapsed().as_secs_f64())
}

/// SHA-256 compressions per second on one thread, in a tight loop over
/// `compress256`: the ceiling for the miner's per-thread rate.
pub fn raw_compress_rate(seconds: f64) -> f64 {
    let mut block = Block64::default();
    let mut state = IV;
    let mut count = 0u64;
    let started = Instant::now();
    let deadline = std::time::Duration::from_secs_f64(seconds);
    while started.elapsed() < deadline {
        for i in 0..65536u32 {
            block[0..4].copy_from_slice(&i.to_le_bytes());
            compress256(&mut state, std::slice::from_ref(&block));
        }
        count += 65536;
    }
    std::hint::black_box(state);
    count as f64 / started.elapsed().as_secs_f64()
}

/// SHA-NI compressions per second on one thread, `lanes` (1 to 4) at a
/// time; `None` on a CPU without the SHA extensions.
pub fn raw_lanes_rate(lanes: usize, seconds: f64) -> Option<f64> {
    let sha = sha_ni::ShaNi::detect()?;
    fn run<const N: usize>(sha: sha_ni::ShaNi, seconds: f64) -> f64 {
        let mut blocks = [[0u8; 64]; N];
        let mut states = [IV; N];
        let mut count = 0u64;
        let started = Instant::now();
        let deadline = std::time::Duration::from_secs_f64(seconds);
        while started.elapsed() < deadline {
            for i in 0..65536u32 {
                for (lane, block) in blocks.iter_mut().enumerate() {
                    block[0..4].copy_from_slice(&(i + lane as u32).to_le_bytes());
                }
                let refs: [&[u8; 64]; N] = std::array::from_fn(|l| &blocks[l]);
                sha.compress(&mut states, refs);
            }
            count += 65536 * N as u64;
        }
        std::hint::black_box(states);
        count as f64 / started.elapsed().as_secs_f64()
    }
    Some(match lanes {
        1 => run::<1>(sha, seconds),
        2 => run::<2>(sha, seconds),
        3 => run::<3>(sha, seconds),
        4 => run::<4>(sha, seconds),
        5 => run::<5>(sha, seconds),
        6 => run::<6>(sha, seconds),
        _ => run::<8>(sha, seconds),
    })
}

/// Time from raising the stop signal to every mining thread having ended,
/// measured `tries` times on `threads` threads.
pub fn stop_latencies(threads: usize, tries: usize) -> Vec<std::time::Duration> {
    let job = endless_job("stop latency");
    let settings = Settings::new(threads, unix_clock());
    (0..tries)
        .map(|_| {
            let stop = StopSignal::new();
            let stats = MinerStats::new(threads);
            std::thread::scope(|scope| {
                let worker = scope.spawn(|| mine(&job, &settings, &stop, &stats));
                // Raise the signal only once every thread is hashing.
                while stats.per_thread().contains(&0) {
                    std::thread::yield_now();
                }
                let sent = Instant::now();
                stop.stop();
                let _ = worker.join();
                sent.elapsed()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{Difficulty, Network};
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
                let state = searcher.hash_words();
                let mut bytes = [0u8; 32];
                for (i, word) in state.iter().enumerate() {
                    bytes[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
                }
                prop_assert_eq!(BlockHash::from_bytes(bytes), plain(&prefix, nonce));
                if nonce == u64::MAX { break; }
                nonce += 1;
                if !searcher.increment() { searcher.set_nonce(nonce); }
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
            u64::MAX - 3,
        ];
        for len in 0..=200usize {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut searcher = Searcher::new(&prefix, &impossible());
            for start in starts {
                let Some(hashes) = searcher.lane_hashes(start) else {
                    return; // no SHA extensions here: nothing to compare
                };
                let plain: Vec<BlockHash> = (0..LANES as u64)
                    .map(|k| plain(&prefix, start + k))
                    .collect();
                assert_eq!(hashes, plain, "len {len} start {start}");
            }
        }
    }

    proptest! {
        #[test]
        fn lanes_and_one_at_a_time_find_the_same_first_nonce(
            len in 0usize..=130,
            start in prop_oneof![Just(0u64), Just(95u64), Just(9_995u64), Just(999_999_990u64), 0u64..1_000_000],
            zeros in 1u64..=2,
        ) {
            let prefix: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
            let target = Difficulty::new(zeros).unwrap().target();
            let end = start + 20_000;
            let (mut tried_lanes, mut tried_one) = (0, 0);
            let lanes = Searcher::new(&prefix, &target).search(start, end, |n| {
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

    fn seed_job(index: u64, prev: &str, data: &str, timestamp: u128) -> Job {
        Job {
            index: Height(index),
            prev_hash: Some(prev.parse().unwrap()),
            data: data.into(),
            timestamp: Timestamp(timestamp),
            target: Network::seed().easiest_target(),
        }
    }

    fn one_thread() -> Settings {
        Settings::new(1, unix_clock())
    }

    #[test]
    fn single_thread_search_is_the_originals_block_one() {
        let job = seed_job(
            1,
            "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c",
            "I block #1",
            1508895386,
        );
        let outcome = mine(&job, &one_thread(), &StopSignal::new(), &MinerStats::new(1)).unwrap();
        let Outcome::Found(block) = outcome else {
            panic!("stopped")
        };
        assert_eq!(block.nonce, Nonce(1225518));
        assert_eq!(
            block.hash.to_string(),
            "00000c575050241e0a4df1acd7e6fb90cc1f599e2cc2908ec8225e10915006cc"
        );
    }

    #[test]
    fn single_thread_search_is_the_originals_block_three() {
        let job = seed_job(
            3,
            "000003cf81f6b17e60ef1e3d8d24793450aecaf65cbe95086a29c1e48a5043b1",
            "I block #3",
            1508895777,
        );
        let stats = MinerStats::new(1);
        let outcome = mine(&job, &one_thread(), &StopSignal::new(), &stats).unwrap();
        assert!(
            matches!(outcome, Outcome::Found(ref b) if b.nonce == Nonce(24959)),
            "{outcome:?}"
        );
        // Every nonce from 0 to the answer was tried, no more than a batch beyond.
        assert!(
            stats.total() >= 24960 && stats.total() <= 24960 + BATCH,
            "{}",
            stats.total()
        );
    }

    #[test]
    fn many_threads_find_a_valid_block() {
        let job = Job {
            index: Height(1),
            prev_hash: Some(BlockHash::from_bytes([7; 32])),
            data: "threads".into(),
            timestamp: Timestamp(42),
            target: Difficulty::new(3).unwrap().target(),
        };
        let stats = MinerStats::new(4);
        let outcome = mine(
            &job,
            &Settings::new(4, unix_clock()),
            &StopSignal::new(),
            &stats,
        )
        .unwrap();
        let Outcome::Found(block) = outcome else {
            panic!("stopped")
        };
        // The block is the job's, and valid.
        assert_eq!(
            (block.index, block.prev_hash, &block.data, block.timestamp),
            (job.index, job.prev_hash, &job.data, job.timestamp)
        );
        check_block(&block, &job.target).unwrap();
        // Its nonce lies in a range the threads were handed, and the
        // threads counted at least the tries up to it within their range.
        assert!(block.nonce.0 < 4 * RANGE, "{}", block.nonce);
        assert!(
            stats.total() > block.nonce.0 % RANGE,
            "{} hashes counted for nonce {}",
            stats.total(),
            block.nonce
        );
    }

    #[test]
    fn exhausted_nonce_space_moves_to_a_new_timestamp() {
        // 100 nonces per timestamp at 3 zeros (1 in 4096): the search must
        // go through many timestamps, each from the clock or one past the last.
        let job = Job {
            index: Height(1),
            prev_hash: Some(BlockHash::from_bytes([9; 32])),
            data: "refresh".into(),
            timestamp: Timestamp(1000),
            target: Difficulty::new(3).unwrap().target(),
        };
        let mut settings = Settings::new(2, Arc::new(|| Timestamp(5)));
        settings.nonce_limit = 100;
        let outcome = mine(&job, &settings, &StopSignal::new(), &MinerStats::new(2)).unwrap();
        let Outcome::Found(block) = outcome else {
            panic!("stopped")
        };
        assert!(block.nonce.0 < 100);
        assert!(block.timestamp.0 > 1000, "timestamp {}", block.timestamp);
    }

    #[test]
    fn stop_ends_an_impossible_search_quickly() {
        let job = Job {
            index: Height(1),
            prev_hash: Some(BlockHash::from_bytes([1; 32])),
            data: "years".into(),
            timestamp: Timestamp(1),
            target: Difficulty::new(12).unwrap().target(),
        };
        let stop = StopSignal::new();
        let stats = MinerStats::new(2);
        let (sent_tx, sent_rx) = std::sync::mpsc::channel();
        let outcome = std::thread::scope(|scope| {
            let stopper = stop.clone();
            let stats = &stats;
            scope.spawn(move || {
                // Wait until every thread has really started hashing.
                while stats.per_thread().contains(&0) {
                    std::thread::yield_now();
                }
                stopper.stop();
                let _ = sent_tx.send(Instant::now());
            });
            mine(&job, &Settings::new(2, unix_clock()), &stop, stats).unwrap()
        });
        let ended = Instant::now();
        let sent = sent_rx.recv().unwrap();
        assert_eq!(outcome, Outcome::Stopped);
        assert!(ended.duration_since(sent) < std::time::Duration::from_secs(1));
    }
}
