//! What a target that follows the clock costs: the same number of blocks
//! on a fixed network and on a retargeting one (the target recomputed
//! from the chain for every block, its exact work summed), stored in
//! batches as sync stores them, re-verified from genesis as `chain
//! verify` does, and synced fresh by a node over HTTP. Ratios compare
//! the two in the same run. Prints figures; nothing here passes or fails.
//!
//! `cargo bench --bench retarget -- --blocks 100000`
//!
//! With `--devnet`, instead: a real devnet of three mining nodes (1 s
//! blocks by default) runs for a minute of chain time on this machine, and
//! the bench prints how close the blocks came to the target: the mean
//! interval, its spread, the shortest and the longest. That depends on the
//! machine and its load (tests/devnet_pace.rs checks what the code
//! controls: the rule's answer to the intervals that happened).
//!
//! `cargo bench --bench retarget -- --devnet --seconds 60 --block-time 1s`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use jbc::chain::ChainState;
use jbc::consensus::{
    Block, DifficultyRule, EntryRules, Height, Network, ParentContext, RetargetRule, Target,
    Timestamp,
};
use jbc::miner::Job;
use jbc::store::Durability;

#[derive(Parser)]
struct Args {
    /// Length of each chain.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    blocks: u64,
    /// Measure a real devnet's block times instead.
    #[arg(long)]
    devnet: bool,
    /// With --devnet: the chain time to run, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    seconds: u64,
    /// With --devnet: its target block time (as `jbc devnet` takes it).
    #[arg(long, value_name = "TIME", default_value = "1s")]
    block_time: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let args = Args::parse();
    if args.devnet {
        return devnet(args.seconds, &args.block_time);
    }
    let blocks = args.blocks;
    let fixed = common::easy_params(1, "bench fixed");
    println!("building two {blocks}-block chains (blocks of ~16 hashes each)");
    let fixed_chain = common::blocks_on(&fixed, fixed.genesis(), blocks, "fixed");
    let (retarget, retarget_chain) = retarget_chain(blocks);

    // Twice each, alternating, keeping the better: the first run also
    // warms the disk and the allocator.
    let (mut fixed_store, mut fixed_verify, mut re_store, mut re_verify) = (0f64, 0f64, 0f64, 0f64);
    for _ in 0..2 {
        let (store, verify) = store_and_verify(&fixed, &fixed_chain)?;
        (fixed_store, fixed_verify) = (fixed_store.max(store), fixed_verify.max(verify));
        let (store, verify) = store_and_verify(&retarget, &retarget_chain)?;
        (re_store, re_verify) = (re_store.max(store), re_verify.max(verify));
    }
    println!(
        "store in batches of 2000: fixed {:.0} blocks/s, retarget {:.0} blocks/s: ratio {:.2}",
        fixed_store,
        re_store,
        re_store / fixed_store
    );
    println!(
        "verify from genesis:      fixed {:.0} blocks/s, retarget {:.0} blocks/s: ratio {:.2}",
        fixed_verify,
        re_verify,
        re_verify / fixed_verify
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let fixed_sync = runtime.block_on(fresh_sync(&fixed, &fixed_chain))?;
    let re_sync = runtime.block_on(fresh_sync(&retarget, &retarget_chain))?;
    println!(
        "fresh sync over HTTP:     fixed {:.0} blocks/s, retarget {:.0} blocks/s: ratio {:.2}",
        fixed_sync,
        re_sync,
        re_sync / fixed_sync
    );
    // The division behind each block's work: its cost grows with the
    // difficulty (the bits of the quotient), so measure a real one too.
    for hashes in [16u64, 1 << 32] {
        let target = Target::for_expected_hashes(hashes);
        let rounds = 200_000;
        let started = Instant::now();
        let mut sum = jbc::consensus::Work::ZERO;
        for _ in 0..rounds {
            sum = sum + std::hint::black_box(target).work();
        }
        std::hint::black_box(sum);
        println!(
            "work of one target of {hashes} hashes: {:.0} ns",
            started.elapsed().as_nanos() as f64 / rounds as f64
        );
    }
    Ok(())
}

/// A retargeting network (1 s blocks, ~16 hashes each) and a chain on it
/// whose timestamps wander around the target time, so every block's
/// target differs from its parent's.
fn retarget_chain(blocks: u64) -> (Network, Vec<Block>) {
    let rule = RetargetRule::new(1000, Target::for_expected_hashes(16));
    let genesis = common::chains::mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: "bench retarget genesis".into(),
        timestamp: Timestamp(1_600_000_000_000),
        target: rule.initial_target,
    });
    let network = Network::new(
        "bench retarget".into(),
        genesis,
        DifficultyRule::Retarget(rule),
        EntryRules::ORIGINAL,
    )
    .expect("a mined genesis is valid");
    let mut context = ParentContext::genesis(&network);
    let mut time = network.genesis().timestamp.0;
    let mut chain = Vec::with_capacity(blocks as usize);
    let mut seed = 1u64;
    for i in 0..blocks {
        // 700..1300 ms apart.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        time += 700 + u128::from((seed >> 33) % 601);
        let template = network.template(&context);
        let block = common::chains::mine_here(&Job {
            index: template.index,
            prev_hash: Some(template.prev_hash),
            data: format!("retarget #{i}"),
            timestamp: Timestamp(time),
            target: template.target,
        });
        let checked = jbc::consensus::CheckedBlock::new(block.clone(), &network).unwrap();
        let validated =
            jbc::consensus::validate::validate_child(checked, &context, &network, None).unwrap();
        context = context.child(&validated);
        chain.push(block);
    }
    (network, chain)
}

/// Blocks per second stored in batches, then verified.
fn store_and_verify(network: &Network, blocks: &[Block]) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let mut chain = ChainState::open(dir.path(), network.clone())?;
    let started = Instant::now();
    for batch in blocks.chunks(2000) {
        let outcome = chain.add_blocks(batch.iter().cloned(), Durability::Bulk);
        if let Some((_, e)) = outcome.error {
            return Err(e.into());
        }
    }
    chain.checkpoint()?;
    let store = blocks.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = chain.verify(|_| {})?;
    let verify = report.blocks as f64 / started.elapsed().as_secs_f64();
    Ok((store, verify))
}

/// Blocks per second a fresh node syncs from one peer holding `chain`.
async fn fresh_sync(network: &Network, chain: &[Block]) -> Result<f64> {
    Ok(chain.len() as f64 / common::net::fresh_sync_seconds(network, chain).await)
}

/// Runs a devnet of three mining nodes until `seconds` of chain time have
/// passed since every node mined, and prints the block intervals of that
/// stretch.
fn devnet(seconds: u64, block_time: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut devnet = common::devnet::Devnet::start(
        &dir.path().join("devnet"),
        3,
        &[],
        &["--mine", "--block-time", block_time],
    );
    println!("devnet of 3 mining nodes, target {block_time}: measuring this machine, starting");
    devnet.wait_ready();
    let start = devnet.tip(0).map_or(0, |t| t.0);
    let run_ms = seconds as f64 * 1000.0;
    let chain_time = |devnet: &common::devnet::Devnet| -> f64 {
        let Some(pace) = devnet.get(0, "/v1/pace?blocks=1000") else {
            return 0.0;
        };
        let times: Vec<f64> = pace["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["index"].as_u64().is_some_and(|i| i > start))
            .filter_map(|p| p["time_ms"].as_f64())
            .collect();
        match (times.first(), times.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0.0,
        }
    };
    devnet.wait_until(
        "the chain time to pass",
        std::time::Duration::from_secs(seconds * 4 + 60),
        |devnet| chain_time(devnet) >= run_ms,
    );
    let status = devnet.interrupt();
    anyhow::ensure!(status.success(), "the devnet ended with {status}");
    // The blocks of that stretch, from node 0's store.
    let reader = jbc::store::StoreReader::open(&devnet.data_dir(0).join(jbc::store::DB_FILE))?;
    let tip = reader.tip()?;
    let times: Vec<f64> =
        jbc::store::BlockReads::main_chain_times(&reader, Height(start + 1), tip.index)?
            .iter()
            .map(|t| t.timestamp.0 as f64)
            .collect();
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    anyhow::ensure!(intervals.len() > 1, "too few blocks to measure");
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    let spread =
        (intervals.iter().map(|i| (i - mean).powi(2)).sum::<f64>() / intervals.len() as f64).sqrt();
    println!(
        "{} blocks in {:.0} s of chain time: mean interval {mean:.0} ms, standard deviation {spread:.0} ms, shortest {:.0} ms, longest {:.0} ms",
        intervals.len(),
        (times[times.len() - 1] - times[0]) / 1000.0,
        intervals.iter().cloned().fold(f64::INFINITY, f64::min),
        intervals.iter().cloned().fold(0.0, f64::max),
    );
    Ok(())
}
