//! Measurements of the miner for benchmarks and `jbc network new` (which
//! sets a new network's first target from this machine's hash rate): the
//! search's rate against an impossible target, the raw compression rates
//! it is bounded by, and how fast a stop reaches every thread.

use std::time::Instant;

use sha2::compress256;

use super::search::{Block64, IV};
use super::{Job, Lanes, MinerStats, Settings, StopSignal, mine, sha_ni, unix_clock};
use crate::consensus::{BlockHash, Height, Target, Timestamp};

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
pub fn measure_rate(data: &str, threads: usize, seconds: f64, lanes: Lanes) -> (u64, f64) {
    let job = endless_job(data);
    let stop = StopSignal::new();
    let stats = MinerStats::new(threads);
    let settings = Settings {
        lanes,
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

/// How many nonces the miner hashes at once on this CPU (measured once per
/// process); `None` without the SHA extensions.
pub fn lanes_in_use() -> Option<usize> {
    sha_ni::ShaNi::detect().map(sha_ni::ShaNi::best_lanes)
}

/// SHA-NI compressions per second on one thread, `lanes` (1 to
/// `MAX_LANES`) at a time; `None` on a CPU without the SHA extensions or
/// for another count.
pub fn raw_lanes_rate(lanes: usize, seconds: f64) -> Option<f64> {
    let sha = sha_ni::ShaNi::detect()?;
    let time = std::time::Duration::from_secs_f64(seconds);
    Some(match lanes {
        1 => sha.rate::<1>(time),
        2 => sha.rate::<2>(time),
        3 => sha.rate::<3>(time),
        4 => sha.rate::<4>(time),
        5 => sha.rate::<5>(time),
        6 => sha.rate::<6>(time),
        _ => return None,
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
