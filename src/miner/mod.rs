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

mod measure;
mod search;
mod sha_ni;

pub use measure::{lanes_in_use, measure_rate, raw_compress_rate, raw_lanes_rate, stop_latencies};
pub use search::{BATCH, MAX_LANES, Searcher};

use crate::clock::Clock;
use crate::consensus::block::header_prefix;
use crate::consensus::validate::check_block;
use crate::consensus::{
    Block, BlockHash, Height, Network, Nonce, Target, Template, Timestamp, ValidationError,
};

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
    /// How many nonces to hash at once (to compare kernels in benches).
    pub lanes: Lanes,
}

/// How many nonces a search hashes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// As many as hash fastest on this CPU (measured once per process);
    /// one without the SHA extensions.
    Best,
    /// One `compress256` stream, even where the SHA extensions are.
    One,
    /// This many (2 to `MAX_LANES`) with the SHA extensions; one without.
    Exactly(usize),
}

impl Settings {
    pub fn new(threads: usize, clock: Arc<dyn Fn() -> Timestamp + Send + Sync>) -> Settings {
        Settings {
            threads: threads.max(1),
            nonce_limit: u64::MAX,
            clock,
            refresh_timestamp: false,
            lanes: Lanes::Best,
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
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
        match self.settings.lanes {
            Lanes::Best => searcher,
            Lanes::One => searcher.without_sha_ni(),
            Lanes::Exactly(count) => searcher.with_lanes(count),
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
            // The clock's time, or one past the last when it is not later.
            self.timestamp = clock().max(Timestamp(self.timestamp.0.saturating_add(1)));
            self.next = 0;
        }
        let start = self.next;
        let end = start.saturating_add(RANGE).min(self.limit);
        self.next = end;
        (self.timestamp, start, end)
    }
}

/// A clock for `Settings` that reads unix seconds (the original's unit).
pub fn unix_clock() -> Arc<dyn Fn() -> Timestamp + Send + Sync> {
    network_clock(&Network::seed(), crate::clock::system_clock())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_vectors::seed_blocks;
    use crate::consensus::{Difficulty, Network};
    use std::time::Instant;

    /// Block 1 after a made-up parent, at `zeros` leading zeros.
    fn job(parent: u8, data: &str, timestamp: u128, zeros: u64) -> Job {
        Job {
            index: Height(1),
            prev_hash: Some(BlockHash::from_bytes([parent; 32])),
            data: data.into(),
            timestamp: Timestamp(timestamp),
            target: Difficulty::new(zeros).unwrap().target(),
        }
    }

    #[test]
    fn single_thread_search_finds_the_originals_blocks_one_and_three() {
        for seed in [&seed_blocks()[1], &seed_blocks()[3]] {
            let job = Job {
                index: seed.index,
                prev_hash: seed.prev_hash,
                data: seed.data.clone(),
                timestamp: seed.timestamp,
                target: Network::seed().easiest_target(),
            };
            let (settings, stats) = (Settings::new(1, unix_clock()), MinerStats::new(1));
            let outcome = mine(&job, &settings, &StopSignal::new(), &stats).unwrap();
            assert_eq!(
                outcome,
                Outcome::Found(seed.clone()),
                "block {}",
                seed.index
            );
            // Every nonce from 0 to the answer was tried, no more than a batch beyond.
            let tried = seed.nonce.0 + 1;
            assert!(
                stats.total() >= tried && stats.total() <= tried + BATCH,
                "{}",
                stats.total()
            );
        }
    }

    #[test]
    fn many_threads_find_a_valid_block() {
        let job = job(7, "threads", 42, 3);
        let (settings, stats) = (Settings::new(4, unix_clock()), MinerStats::new(4));
        let outcome = mine(&job, &settings, &StopSignal::new(), &stats).unwrap();
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
        let job = job(9, "refresh", 1000, 3);
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
        let job = job(1, "years", 1, 12);
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
