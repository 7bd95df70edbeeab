//! `jbc bench`: measurements that print figures. Nothing here is a pass/fail
//! test; the figures go into issue notes. Where two things are compared,
//! both are measured in the same run and the ratio is printed, because this
//! machine is shared and noisy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;

use jbc::chain::ChainState;
use jbc::chaindata;
use jbc::consensus::Block;
use jbc::miner;
use jbc::store::Durability;
use jbc::testkit;

mod node;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Store speed: appending mined blocks, verifying, exporting and
    /// importing a long chain (built at difficulty 1 in a temporary folder).
    Store {
        /// Length of the chain to build.
        #[arg(long, value_name = "N", default_value_t = 100_000)]
        blocks: u64,
    },
    /// Node speed over loopback: fresh sync, catching up one block,
    /// serving /blockchain.json, propagation along 5 nodes, and memory and
    /// start-up time with a very long chain.
    Node {
        /// Length of the chain to sync.
        #[arg(long, value_name = "N", default_value_t = 100_000)]
        blocks: u64,
        /// Length of the chain for the memory test (0 skips it).
        #[arg(long, value_name = "N", default_value_t = 1_000_000)]
        big: u64,
    },
    /// Miner speed: raw SHA-256 compressions, the miner on 1 thread and on
    /// all threads, and how fast a stop signal ends a search.
    Mine {
        /// Seconds per measurement.
        #[arg(long, value_name = "S", default_value_t = 3.0)]
        seconds: f64,
        /// Threads for the "all threads" measurement (default: all cores).
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Store { blocks } => store(blocks),
        BenchCommand::Node { blocks, big } => node::run(blocks, big),
        BenchCommand::Mine { seconds, threads } => {
            mine(seconds, threads.unwrap_or_else(miner::default_threads))
        }
    }
}

/// A folder under the system's temp dir, removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(label: &str) -> Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("jbc-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rate(count: u64, seconds: f64) -> String {
    format!("{:.0}", count as f64 / seconds.max(1e-9))
}

fn store(blocks: u64) -> Result<()> {
    // Difficulty 1: blocks cost ~16 hashes, so long chains are quick to
    // build, while validating them costs what it costs at any difficulty.
    let params = testkit::easy_params(1, "bench store");
    let scratch = ScratchDir::new("store")?;
    println!(
        "building a {blocks}-block chain at difficulty 1 in {}",
        scratch.path().display()
    );
    let started = Instant::now();
    let chain_blocks: Vec<Block> =
        testkit::blocks_on(&params, params.genesis(), blocks, "bench block");
    println!(
        "  mined {blocks} blocks in {:.2} s (not a store figure)",
        started.elapsed().as_secs_f64()
    );

    // Appending one block per transaction: what `jbc mine` and the node do
    // for each block they mine. Each commit waits for the disk.
    let single = blocks.min(1000) as usize;
    let mut chain = ChainState::open(&scratch.path().join("a"), params.clone())?;
    let started = Instant::now();
    for block in &chain_blocks[..single] {
        chain.add_block(block.clone())?;
    }
    let single_secs = started.elapsed().as_secs_f64();
    // Appending in batches: what sync and import do.
    let started = Instant::now();
    for batch in chain_blocks[single..].chunks(2000) {
        let outcome = chain.add_blocks(batch.iter().cloned(), Durability::Bulk);
        if let Some((_, e)) = outcome.error {
            return Err(e.into());
        }
    }
    let batched = chain_blocks.len() - single;
    let batch_secs = started.elapsed().as_secs_f64();
    println!(
        "append, one transaction per block: {} blocks/s ({single} blocks, {:.3} ms each)",
        rate(single as u64, single_secs),
        single_secs * 1e3 / single.max(1) as f64
    );
    println!(
        "append, 2000 blocks per transaction: {} blocks/s ({batched} blocks)",
        rate(batched as u64, batch_secs)
    );
    drop(chain);

    let started = Instant::now();
    let chain = ChainState::open(&scratch.path().join("a"), params.clone())?;
    println!(
        "open a {}-block store: {:.1} ms",
        blocks + 1,
        started.elapsed().as_secs_f64() * 1e3
    );

    let started = Instant::now();
    let report = chain.verify(|_| {})?;
    let verify_secs = started.elapsed().as_secs_f64();
    println!(
        "verify: {} blocks/s ({} blocks in {:.3} s)",
        rate(report.blocks, verify_secs),
        report.blocks,
        verify_secs
    );

    let folder = scratch.path().join("chaindata");
    let started = Instant::now();
    let written = chaindata::export(chain.store(), &folder, |_| {})?;
    let export_secs = started.elapsed().as_secs_f64();
    println!(
        "export: {} blocks/s ({written} files)",
        rate(written, export_secs)
    );

    let mut fresh = ChainState::open(&scratch.path().join("b"), params)?;
    let started = Instant::now();
    let report = chaindata::import(&folder, &mut fresh, |_, _| {})?;
    let import_secs = started.elapsed().as_secs_f64();
    println!(
        "import: {} blocks/s ({} files in {:.3} s)",
        rate(report.blocks, import_secs),
        report.blocks,
        import_secs
    );
    Ok(())
}

fn mine(seconds: f64, threads: usize) -> Result<()> {
    // A header whose tail (after the midstate) fits in one block: the data
    // is chosen so that the prefix leaves ~20 bytes for the nonce.
    let data = "bench";
    println!("measuring for {seconds} s each; {threads} threads for the all-threads figure");

    let raw = miner::raw_compress_rate(seconds);
    println!("raw SHA-256 compressions, 1 thread: {:.2} M/s", raw / 1e6);

    let (hashes, secs) = miner::measure_rate(data, 1, seconds);
    let one = hashes as f64 / secs;
    println!("miner, 1 thread: {:.2} MH/s", one / 1e6);

    let (hashes, secs) = miner::measure_rate(data, threads, seconds);
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
        "ratio miner 1 thread / raw compression: {:.2} (target >= 0.8)",
        one / raw
    );
    println!(
        "ratio miner {threads} threads / 1 thread: {:.2} (target >= 1.8 on 2 idle cores)",
        all / one
    );
    Ok(())
}
