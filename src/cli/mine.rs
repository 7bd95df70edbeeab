//! `jbc genesis` and `jbc mine`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use jbc::chain::Accepted;
use jbc::consensus::{Block, Difficulty, Height, Target, Timestamp};
use jbc::miner::{self, Job, MinerStats, Outcome, Settings, StopSignal};

use super::config::Config;

#[derive(Args, Debug)]
pub struct GenesisArgs {
    /// The text of the genesis block's `data`.
    #[arg(long, value_name = "TEXT")]
    data: String,
    /// The block's timestamp (default: now, in unix seconds).
    #[arg(long, value_name = "T")]
    timestamp: Option<u128>,
    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::args::threads)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct MineArgs {
    /// How many blocks to mine.
    #[arg(long, value_name = "N", default_value_t = 1)]
    blocks: u64,
    /// The `data` of the mined blocks (default: the text of data.txt in the
    /// data directory, as the original did, else a line naming jbc).
    #[arg(long, value_name = "TEXT")]
    data: Option<String>,
    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::args::threads)]
    threads: Option<usize>,
}

/// Mines a genesis block (index 0, no parent) meeting `target`.
pub fn mine_genesis(
    target: Target,
    data: String,
    timestamp: Option<u128>,
    threads: Option<usize>,
) -> Result<Block> {
    let threads = threads.unwrap_or_else(miner::default_threads);
    let settings = Settings::new(threads, miner::unix_clock());
    let job = Job {
        index: Height(0),
        prev_hash: None,
        data,
        timestamp: timestamp.map_or_else(|| (settings.clock)(), Timestamp),
        target,
    };
    let stats = MinerStats::new(settings.threads);
    match miner::mine(&job, &settings, &StopSignal::new(), &stats)? {
        Outcome::Found(block) => Ok(block),
        Outcome::Stopped => bail!("mining stopped before a block was found"),
    }
}

pub fn genesis(difficulty: Difficulty, args: GenesisArgs) -> Result<()> {
    let started = Instant::now();
    let block = mine_genesis(difficulty.target(), args.data, args.timestamp, args.threads)?;
    eprintln!(
        "mined a genesis block at difficulty {} in {:.1} s; save it and pass it to every node with --genesis FILE --difficulty {}",
        difficulty.zeros(),
        started.elapsed().as_secs_f64(),
        difficulty.zeros(),
    );
    let json = jbc::wire::block_to_json(&block);
    println!("{}", String::from_utf8_lossy(&json));
    Ok(())
}

pub fn mine(config: &Config, args: MineArgs) -> Result<()> {
    let threads = args.threads.unwrap_or_else(miner::default_threads);
    let clock = jbc::clock::system_clock();
    let settings = Settings::for_network(threads, &config.params, clock);
    let mut chain = config.open_chain()?;
    let data = match args.data {
        Some(data) => data,
        None => jbc::chaindata::mining_data(&config.data_dir)
            .context("cannot read data.txt")?
            .unwrap_or_else(|| "Mined by jbc".to_owned()),
    };
    let stats = MinerStats::new(settings.threads);
    let stop = StopSignal::new();
    let started = Instant::now();
    for _ in 0..args.blocks {
        let template = chain.template().context("reading the tip")?;
        while let Some(wait_ms) = config
            .params
            .too_early_to_mine(&template, (settings.clock)())
        {
            std::thread::sleep(std::time::Duration::from_millis(wait_ms.min(100)));
        }
        let job = Job::from_template(&template, data.clone(), (settings.clock)());
        let block_started = Instant::now();
        let before = stats.total();
        let Outcome::Found(block) = miner::mine(&job, &settings, &stop, &stats)? else {
            bail!("mining stopped");
        };
        let seconds = block_started.elapsed().as_secs_f64();
        let hashes = stats.total() - before;
        let (index, hash, nonce) = (block.index, block.hash, block.nonce);
        match chain.add_block(block).context("storing the mined block")? {
            Accepted::TipMoved { .. } => println!(
                "mined block {index} {hash} nonce {nonce} in {seconds:.2} s ({:.2} MH/s)",
                hashes as f64 / seconds.max(1e-9) / 1e6
            ),
            other => bail!("the mined block {hash} did not extend the chain: {other}"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let tip = chain.tip();
    println!(
        "mined {} blocks in {:.1} s, {:.2} MH/s on {} thread{}; tip is block {} {}",
        args.blocks,
        seconds,
        stats.total() as f64 / seconds.max(1e-9) / 1e6,
        settings.threads,
        if settings.threads == 1 { "" } else { "s" },
        tip.index,
        tip.hash
    );
    Ok(())
}
