//! Miner speed: raw SHA-256 compressions, the miner on one thread and on
//! all threads, and how fast a stop signal ends a search. Where two are
//! compared, both are measured in this run and the ratio is printed.
//!
//! `cargo bench --bench mine -- --seconds 3`

use anyhow::Result;
use clap::Parser;

use jbc::miner;

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
    // A header whose tail (after the midstate) fits in one block: the data
    // is chosen so that the prefix leaves ~20 bytes for the nonce.
    let data = "bench";
    println!("measuring for {seconds} s each; {threads} threads for the all-threads figure");

    let raw = miner::raw_compress_rate(seconds);
    println!("raw SHA-256 compressions, 1 thread: {:.2} M/s", raw / 1e6);
    for lanes in [1, 2, 3, 4, 5, 6, 8] {
        if let Some(rate) = miner::raw_lanes_rate(lanes, seconds) {
            println!(
                "raw SHA-NI compressions, {lanes} at a time, 1 thread: {:.2} M/s ({:.2}x compress256)",
                rate / 1e6,
                rate / raw
            );
        }
    }

    let (hashes, secs) = miner::measure_rate(data, 1, seconds, false);
    let single = hashes as f64 / secs;
    println!(
        "miner, 1 thread, one compress256 stream: {:.2} MH/s",
        single / 1e6
    );

    let (hashes, secs) = miner::measure_rate(data, 1, seconds, true);
    let one = hashes as f64 / secs;
    match miner::lanes_in_use() {
        Some(lanes) => println!(
            "miner, 1 thread: {:.2} MH/s ({lanes} nonces at a time, as measured at start)",
            one / 1e6
        ),
        None => println!("miner, 1 thread: {:.2} MH/s", one / 1e6),
    }

    let (hashes, secs) = miner::measure_rate(data, threads, seconds, true);
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
    println!(
        "ratio miner 1 thread / raw compress256: {:.2} (target >= 1.3 with the SHA extensions; one stream alone: {:.2})",
        one / raw,
        single / raw
    );
    println!(
        "ratio miner {threads} threads / 1 thread: {:.2} (target >= 1.8 on 2 idle cores)",
        all / one
    );
    Ok(())
}
