//! Store speed: appending mined blocks (one transaction each, and in
//! batches), opening, verifying, exporting and importing a long chain
//! built at difficulty 1 in a temporary folder. Prints figures; nothing
//! here passes or fails.
//!
//! `cargo bench --bench store -- --blocks 100000`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use jbc::chain::ChainState;
use jbc::chaindata;
use jbc::consensus::Block;
use jbc::store::Durability;

#[derive(Parser)]
struct Args {
    /// Length of the chain to build.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    blocks: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    store(Args::parse().blocks)
}

fn rate(count: u64, seconds: f64) -> String {
    format!("{:.0}", count as f64 / seconds.max(1e-9))
}

fn store(blocks: u64) -> Result<()> {
    // Difficulty 1: blocks cost ~16 hashes, so long chains are quick to
    // build, while validating them costs what it costs at any difficulty.
    let params = common::easy_params(1, "bench store");
    let scratch = tempfile::tempdir()?;
    println!(
        "building a {blocks}-block chain at difficulty 1 in {}",
        scratch.path().display()
    );
    let started = Instant::now();
    let chain_blocks: Vec<Block> =
        common::blocks_on(&params, params.genesis(), blocks, "bench block");
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
