//! Store speed: appending mined blocks (one transaction each, and in
//! batches), opening, verifying, exporting and importing a long chain
//! built at difficulty 1 in a temporary folder; and storing blocks of
//! 5,000 entries that were pending (the writer's CPU, the bytes written
//! to the WAL). Prints figures; nothing here passes or fails.
//!
//! `cargo bench --bench store -- --blocks 100000 [--entries-only]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use jbc::chain::ChainState;
use jbc::chaindata;
use jbc::consensus::Block;
use jbc::store::{Durability, EntryKey, EntryReads};

#[derive(Parser)]
struct Args {
    /// Length of the chain to build.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    blocks: u64,
    /// Only the blocks of pending entries.
    #[arg(long)]
    entries_only: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.entries_only {
        store(args.blocks)?;
    }
    blocks_of_pending_entries()
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

/// Entries in each block of [`blocks_of_pending_entries`].
const ENTRIES_PER_BLOCK: usize = 5000;

/// On a strict network, 21 rounds of: 5,000 new entries into the pool,
/// then a block carrying them (checked beforehand, as a node checks a
/// block before it writes it). What storing each block cost the writer's
/// thread in CPU and in bytes written to the WAL, the first round left
/// out; the store grows by 5,000 entries a round, so a cost that grows
/// with the store shows here as a rising worst.
/// Blocks stored by `blocks_of_pending_entries`, the first two not timed.
const ROUNDS: usize = 42;

fn blocks_of_pending_entries() -> Result<()> {
    use jbc::chain::{FromPool, PendingSeen};
    use jbc::consensus::entry::{CheckedEntry, Content};
    use jbc::consensus::{Entry, IntoChecked};
    let network = common::strict_network(1, "bench store entries", 0);
    let dir = tempfile::tempdir()?;
    let wal = dir.path().join(format!("{}-wal", jbc::store::DB_FILE));
    let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let mut chain = ChainState::open(dir.path(), network.clone())?;
    let mut parent = network.genesis().clone();
    let (mut cpu, mut written) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for round in 0..ROUNDS {
        let lines: Vec<String> = (0..ENTRIES_PER_BLOCK)
            .map(|i| Entry::new(Content::Text(format!("round {round} entry {i}"))).encoding())
            .collect();
        let entries = lines
            .iter()
            .map(|line| {
                CheckedEntry::new(
                    Entry::parse_line(line)?,
                    network.entry_rules(),
                    &network.genesis_hash(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        chain.add_entries(&entries, "bench")?;
        let block = common::block_with_entries(&network, &parent, &lines);
        let parent_hash = parent.hash;
        parent = block.block.clone();
        // Every other block as a compact block's receiver has it: rebuilt
        // from the pool, with the rows the scan read.
        let rebuilt = round % 2 == 1;
        let rows = match rebuilt {
            true => pool_rows(&chain, &block.body)?,
            false => Vec::new(),
        };
        let seen = PendingSeen {
            tip: parent_hash,
            rows,
            forgotten: chain.store().entries_forgotten()?,
        };
        let checked = block.into_checked(&network)?;
        let (cpu_before, wal_before) = (common::cpu_time(common::CpuOf::Thread), wal_len());
        match rebuilt {
            true => chain.add_block(FromPool {
                block: checked,
                seen,
            })?,
            false => chain.add_block(checked)?,
        };
        if round > 1 {
            cpu[round % 2].push(common::cpu_time(common::CpuOf::Thread) - cpu_before);
            written[round % 2].push(wal_len().saturating_sub(wal_before));
        }
    }
    for (how, (cpu, written)) in ["as posted", "rebuilt from the pool"]
        .iter()
        .zip(cpu.iter_mut().zip(written.iter_mut()))
    {
        cpu.sort();
        written.sort();
        println!(
            "store a block of {ENTRIES_PER_BLOCK} pending entries {how} (strict network, {} \
             blocks, the store growing to {} entries): writer's CPU median {:.1} ms, worst \
             {:.1} ms; WAL written median {} KB, most {} KB",
            cpu.len(),
            ROUNDS * ENTRIES_PER_BLOCK,
            cpu[cpu.len() / 2].as_secs_f64() * 1e3,
            cpu[cpu.len() - 1].as_secs_f64() * 1e3,
            written[written.len() / 2] / 1024,
            written[written.len() - 1] / 1024,
        );
    }
    Ok(())
}

/// The rows of `lines` in the pool, by place, as a compact block's scan
/// reads them.
fn pool_rows(chain: &ChainState, lines: &[String]) -> Result<Vec<Option<EntryKey>>> {
    let mut rows = std::collections::HashMap::new();
    chain.store().for_each_pending_line(|line, row| {
        rows.insert(line.to_owned(), row);
        true
    })?;
    Ok(lines.iter().map(|line| rows.get(line).copied()).collect())
}
