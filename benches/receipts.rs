//! Receipts (`jbc-receipt/1`, docs/RECEIPTS.md): the size of an entry's
//! receipt with 6 confirmations in a block of 5000 entries, on a fixed and
//! on a block-time network committing by a Merkle root (and on an inline
//! network, for comparison); the time to read and check one; the time to
//! make one from a store of 100,000 blocks; the time to commit to 5000
//! entries against the time to check such a block. Prints figures, each
//! with its target where it has one.
//!
//! `cargo bench --bench receipts -- --blocks 100000 --iterations 2000`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use common::chains::mine_here;
use common::receipts::block_time_network;
use common::{block_with_entries, blocks_on, easy_params, strict_network};
use jbc::chain::ChainState;
use jbc::consensus::entry::Content;
use jbc::consensus::receipt::Receipt;
use jbc::consensus::{Block, BlockAndBody, Entry, Height, IntoChecked, Network, Timestamp};
use jbc::miner::Job;
use jbc::store::{BlockReads, Durability, StoreReader};

#[derive(Parser)]
struct Args {
    /// Blocks in the store a receipt is made from.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    blocks: u64,
    /// Times each quick measurement is repeated (the mean is printed).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    iterations: u32,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Entries in the block a receipt is for.
const ENTRIES: usize = 5000;
/// The block itself and 5 after it, counted as `/v1/entries` counts them.
const CONFIRMATIONS: u64 = 6;
const MAX_SIZE: usize = 3 * 1024;
const MAX_MAKE_MS: f64 = 5.0;

fn main() -> Result<()> {
    let args = Args::parse();
    let iterations = args.iterations.max(1);
    println!("receipts of an entry in a block of {ENTRIES} entries, {CONFIRMATIONS} confirmations");
    let fixed = strict_network(1, "bench receipts fixed", 0);
    let fixed_text = small_chain(&fixed)?;
    size_line("fixed target, merkle", &fixed_text, true);
    let block_time = small_chain(&block_time_network("bench receipts block time"))?;
    size_line("block time, merkle", &block_time, true);
    let inline = small_chain(&easy_params(1, "bench receipts inline"))?;
    size_line("the original's rules, inline", &inline, false);

    let now = jbc::clock::unix_ms();
    for (kind, text) in [
        ("fixed target, merkle", &fixed_text),
        ("block time, merkle", &block_time),
    ] {
        let mean = mean_time(iterations, || {
            Receipt::parse(text)
                .and_then(|r| r.verify(now))
                .map(|_| ())
                .map_err(anyhow::Error::from)
        })?;
        println!(
            "  parse + verify, {kind}: {:.3} ms (mean of {iterations}): no target, for information",
            ms(mean)
        );
    }
    let inline_iterations = (iterations / 20).max(1);
    let mean = mean_time(inline_iterations, || {
        Receipt::parse(&inline)
            .and_then(|r| r.verify(now))
            .map(|_| ())
            .map_err(anyhow::Error::from)
    })?;
    println!(
        "  parse + verify, the original's rules, inline: {:.3} ms (mean of {inline_iterations}): no target, for comparison",
        ms(mean)
    );

    big_store(&fixed, args.blocks, iterations)?;
    commit_against_check(&fixed)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The mean time of `run` over `n` runs (each must succeed).
fn mean_time(n: u32, mut run: impl FnMut() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    for _ in 0..n {
        run()?;
    }
    Ok(started.elapsed() / n)
}

fn size_line(kind: &str, text: &str, has_target: bool) {
    let size = text.len();
    let verdict = match (has_target, size <= MAX_SIZE) {
        (false, _) => "no target: it holds the block's data, for comparison".to_owned(),
        (true, true) => "ok".to_owned(),
        (true, false) => "OVER TARGET".to_owned(),
    };
    match has_target {
        true => println!("  receipt size, {kind}: {size} bytes (target <= {MAX_SIZE}): {verdict}"),
        false => println!("  receipt size, {kind}: {size} bytes: {verdict}"),
    }
}

/// `count` text entries, and the one in the middle.
fn entries(label: &str, count: usize) -> (Vec<String>, Entry) {
    let entries: Vec<Entry> = (0..count)
        .map(|i| Entry::new(Content::Text(format!("{label} entry {i}"))))
        .collect();
    let lines = entries.iter().map(Entry::encoding).collect();
    (lines, entries[count / 2].clone())
}

/// Mines the next block on the chain's tip, a second after it, with these
/// entry lines (none: a plain note), and stores it.
fn grow(chain: &mut ChainState, network: &Network, note: &str, lines: Vec<String>) -> Result<()> {
    let template = chain.template()?;
    let tip = chain
        .store()
        .block(&template.prev_hash)?
        .context("the tip is missing")?;
    let unit = network.timestamp_unit_ms() as u128;
    let time = Timestamp(tip.block.timestamp.0 + 1000 / unit);
    let (data, body) = match lines.is_empty() {
        true => (note.to_owned(), Vec::new()),
        false => network.entry_rules().commit.encode(note, lines),
    };
    let block = mine_here(&Job {
        index: template.index,
        prev_hash: Some(template.prev_hash),
        data,
        timestamp: template.timestamp(time),
        target: template.target,
    });
    chain.add_block(BlockAndBody { block, body })?;
    Ok(())
}

/// A store with 20 blocks (a full time window on a block-time network),
/// a block of `ENTRIES` entries, and enough after it for
/// `CONFIRMATIONS`; the receipt of its entry in the middle, as text.
fn small_chain(network: &Network) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let mut chain = ChainState::open(dir.path(), network.clone())?;
    for i in 0..20 {
        grow(&mut chain, network, &format!("before {i}"), Vec::new())?;
    }
    let (lines, wanted) = entries("small", ENTRIES);
    grow(&mut chain, network, "the entries' block", lines)?;
    for i in 1..CONFIRMATIONS {
        grow(&mut chain, network, &format!("after {i}"), Vec::new())?;
    }
    let reader = StoreReader::open(chain.store().path())?;
    let receipt = jbc::receipts::make(&reader, network, &wanted.id(), CONFIRMATIONS - 1)?;
    if receipt.blocks.len() as u64 != CONFIRMATIONS {
        bail!("the receipt has {} blocks", receipt.blocks.len());
    }
    Ok(receipt.to_text())
}

/// A store of `count` blocks at difficulty 1, mostly notes, one with
/// `ENTRIES` entries a tenth of the way up: the time to make the receipt
/// of one of them, and to check it.
fn big_store(network: &Network, count: u64, iterations: u32) -> Result<()> {
    let count = count.max(CONFIRMATIONS + 2);
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let deep = (count / 10).max(1);
    let before: Vec<Block> = blocks_on(network, network.genesis(), deep - 1, "before");
    let (lines, wanted) = entries("big", ENTRIES);
    let carrier = block_with_entries(network, before.last().unwrap_or(network.genesis()), &lines);
    let after = blocks_on(network, &carrier.block, count - deep, "after");
    let mut chain = ChainState::open(dir.path(), network.clone())?;
    let mut store = |blocks: Vec<BlockAndBody>| -> Result<()> {
        for batch in blocks.chunks(2000) {
            let outcome = chain.add_blocks(batch.iter().cloned(), Durability::Bulk);
            if let Some((_, e)) = outcome.error {
                bail!("storing the chain: {e}");
            }
        }
        Ok(())
    };
    let plain = |blocks: Vec<Block>| {
        blocks
            .into_iter()
            .map(|block| BlockAndBody {
                block,
                body: Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    store(plain(before))?;
    store(vec![carrier])?;
    store(plain(after))?;
    println!(
        "a store of {} blocks, the block of {ENTRIES} entries at height {deep}: built in {:.1} s (not a receipt figure)",
        count + 1,
        started.elapsed().as_secs_f64()
    );

    // A node on a long chain takes a block of ENTRIES new entries: each
    // is looked up on the main chain (a strict network's rule).
    let tip = chain.store().block(&chain.tip().hash)?.context("the tip")?;
    let (fresh, _) = entries("fresh", ENTRIES);
    let next = block_with_entries(network, &tip.block, &fresh);
    let started = Instant::now();
    chain.add_block(next)?;
    println!(
        "  add a block of {ENTRIES} new entries on its tip: {:.1} ms: no target, for information",
        ms(started.elapsed())
    );

    let reader = StoreReader::open(chain.store().path())?;
    let make = |after: u64| {
        jbc::receipts::make(&reader, network, &wanted.id(), after).map_err(anyhow::Error::from)
    };
    let started = Instant::now();
    let first = make(CONFIRMATIONS - 1)?;
    let first_ms = ms(started.elapsed());
    if first.blocks[0].index != Height(deep) || first.blocks.len() as u64 != CONFIRMATIONS {
        bail!("the receipt is not of the deep block with {CONFIRMATIONS} confirmations");
    }
    let make_iterations = (iterations / 10).max(1);
    let mean = ms(mean_time(make_iterations, || {
        make(CONFIRMATIONS - 1).map(|_| ())
    })?);
    let verdict = |t: f64| match t < MAX_MAKE_MS {
        true => "ok",
        false => "OVER TARGET",
    };
    println!(
        "  make a receipt ({CONFIRMATIONS} confirmations) from it: {mean:.3} ms (mean of {make_iterations}) (target < {MAX_MAKE_MS} ms): {}",
        verdict(mean)
    );
    println!(
        "  the first one, on a fresh reader: {first_ms:.3} ms (target < {MAX_MAKE_MS} ms): {}",
        verdict(first_ms)
    );
    let text = first.to_text();
    let now = jbc::clock::unix_ms();
    let mean = mean_time(iterations, || {
        Receipt::parse(&text)
            .and_then(|r| r.verify(now))
            .map(|_| ())
            .map_err(anyhow::Error::from)
    })?;
    println!(
        "  parse + verify it ({} bytes): {:.3} ms (mean of {iterations}): no target, for information",
        text.len(),
        ms(mean)
    );
    let default_after = jbc::receipts::DEFAULT_BLOCKS_AFTER;
    let started = Instant::now();
    let long = make(default_after)?;
    let long_ms = ms(started.elapsed());
    if long.blocks.len() as u64 != default_after + 1 {
        bail!("the long receipt has {} blocks", long.blocks.len());
    }
    let long_text = long.to_text();
    let started = Instant::now();
    Receipt::parse(&long_text)?.verify(now)?;
    println!(
        "  with {default_after} blocks after it (the default of jbc proof): made in {long_ms:.2} ms, {} bytes, verified in {:.2} ms: no target, for information",
        long_text.len(),
        ms(started.elapsed())
    );
    Ok(())
}

/// Committing to `ENTRIES` entries (their Merkle root, what a miner does)
/// against checking such a block as a node receiving it does (stage 1:
/// its hash, every entry, the root).
fn commit_against_check(network: &Network) -> Result<()> {
    let (lines, _) = entries("commit", ENTRIES);
    let rounds = 20;
    let mut data = String::new();
    let mean = mean_time(rounds, || {
        data = network
            .entry_rules()
            .commit
            .encode("a note", lines.clone())
            .0;
        Ok(())
    })?;
    println!(
        "the Merkle root of {ENTRIES} entries (the block's data): {:.2} ms (mean of {rounds}, one copy of the lines included): no target, for information",
        ms(mean)
    );
    let block = block_with_entries(network, network.genesis(), &lines);
    let mut copies: Vec<BlockAndBody> = (0..rounds).map(|_| block.clone()).collect();
    let mean = mean_time(rounds, || {
        let copy = copies.pop().context("a copy")?;
        copy.into_checked(network)?;
        Ok(())
    })?;
    println!(
        "checking a block of {ENTRIES} entries (hash, every entry, the root): {:.2} ms (mean of {rounds}): no target, for information",
        ms(mean)
    );
    Ok(())
}
