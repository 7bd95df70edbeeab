//! What a target that follows the clock costs: the same number of blocks
//! on a fixed network and on a retargeting one (the target recomputed
//! from the chain for every block, its exact work summed), stored in
//! batches as sync stores them, re-verified from genesis as `chain
//! verify` does, and synced fresh by a node over HTTP. Ratios compare
//! the two in the same run. Prints figures; nothing here passes or fails.
//!
//! `cargo bench --bench retarget -- --blocks 100000`

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
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let blocks = Args::parse().blocks;
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
