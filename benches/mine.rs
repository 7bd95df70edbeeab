//! Miner speed: raw SHA-256 compressions, the miner on one thread and on
//! all threads, and how fast a stop signal ends a search. Where two are
//! compared, both are measured in this run and the ratio is printed.
//!
//! `cargo bench --bench mine -- --seconds 3`

use anyhow::Result;
use clap::Parser;

use jbc::miner::{self, Lanes};

#[derive(Parser)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    seconds: f64,
    /// Threads for the "all threads" measurement (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    mine(
        args.seconds,
        args.threads.unwrap_or_else(miner::default_threads),
    )
}

fn mine(seconds: f64, threads: usize) -> Result<()> {
    // The measured job's header is 75 bytes and its data: 64 bytes of
    // data leave 11 bytes before the nonce in its final block, so the
    // miner shares none of that block's rounds between nonces (its worst
    // case with a one-block tail). 29 bytes leave 40: two groups shared.
    let data = "bench-data-".repeat(6)[..64].to_owned();
    let data = data.as_str();
    let sharing = "bench-data-".repeat(3)[..29].to_owned();
    println!("measuring for {seconds} s each; {threads} threads for the all-threads figure");

    let raw = miner::raw_compress_rate(seconds);
    println!("raw SHA-256 compressions, 1 thread: {:.2} M/s", raw / 1e6);
    // Each lane count's raw compression rate and the miner's rate with
    // that count, alternated in short slices and each kept at its best (a
    // shared machine's interruptions then favour neither): the share the
    // miner keeps of its own kernel's rate.
    let mut best_raw = (0f64, 0usize);
    let slice = (seconds / 5.0).max(0.1);
    for lanes in 1..=miner::MAX_LANES {
        let (mut rate, mut mined) = (0f64, 0f64);
        for _ in 0..5 {
            let Some(raw) = miner::raw_lanes_rate(lanes, slice) else {
                break;
            };
            rate = rate.max(raw);
            if lanes > 1 {
                let (hashes, secs) = miner::measure_rate(data, 1, slice, Lanes::Exactly(lanes));
                mined = mined.max(hashes as f64 / secs);
            }
        }
        if rate == 0.0 {
            break;
        }
        if rate > best_raw.0 {
            best_raw = (rate, lanes);
        }
        let kept = match mined > 0.0 {
            true => format!("; miner {:.2} MH/s, {:.2} of it", mined / 1e6, mined / rate),
            false => String::new(),
        };
        println!(
            "raw SHA-NI compressions, {lanes} at a time, 1 thread: {:.2} M/s ({:.2}x compress256){kept}",
            rate / 1e6,
            rate / raw
        );
    }

    let (hashes, secs) = miner::measure_rate(data, 1, seconds, Lanes::One);
    let single = hashes as f64 / secs;
    println!(
        "miner, 1 thread, one compress256 stream: {:.2} MH/s",
        single / 1e6
    );

    let (hashes, secs) = miner::measure_rate(data, 1, seconds, Lanes::Best);
    let one = hashes as f64 / secs;
    match miner::lanes_in_use() {
        Some(lanes) => println!(
            "miner, 1 thread: {:.2} MH/s ({lanes} nonces at a time, as measured at start)",
            one / 1e6
        ),
        None => println!("miner, 1 thread: {:.2} MH/s", one / 1e6),
    }

    let (hashes, secs) = miner::measure_rate(&sharing, 1, seconds, Lanes::Best);
    println!(
        "miner, 1 thread, a header whose final block starts with 32 shared bytes: {:.2} MH/s ({:.2}x the one above)",
        hashes as f64 / secs / 1e6,
        hashes as f64 / secs / one
    );

    let (hashes, secs) = miner::measure_rate(data, threads, seconds, Lanes::Best);
    let all = hashes as f64 / secs;
    println!("miner, {threads} threads: {:.2} MH/s", all / 1e6);

    let mut latencies = miner::stop_latencies(threads, 20);
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let worst = latencies[latencies.len() - 1];
    println!(
        "stop latency (signal to all {threads} threads ended, 20 tries): median {:.3} ms, worst {:.3} ms",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    if best_raw.1 > 0 {
        // The miner as it runs (its lane count chosen at start) against
        // the fastest raw count, alternated like the pairs above.
        let (mut raw_best, mut mined, mut stream) = (0f64, 0f64, 0f64);
        for _ in 0..5 {
            stream = stream.max(miner::raw_compress_rate(slice));
            raw_best = raw_best.max(miner::raw_lanes_rate(best_raw.1, slice).unwrap_or(0.0));
            let (hashes, secs) = miner::measure_rate(data, 1, slice, Lanes::Best);
            mined = mined.max(hashes as f64 / secs);
        }
        println!(
            "ratio miner 1 thread / best raw SHA-NI lane rate ({} at a time), alternated: {:.2} (target >= 0.9)",
            best_raw.1,
            mined / raw_best
        );
        println!(
            "ratio miner 1 thread / raw compress256, alternated: {:.2} (target >= 1.3)",
            mined / stream
        );
    }
    println!(
        "ratio miner {threads} threads / 1 thread: {:.2} (target >= 1.8 on 2 idle cores)",
        all / one
    );
    Ok(())
}
