//! `jbc network new` and `jbc network show`: the network file.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use jbc::consensus::{
    Block, Commit, Difficulty, DifficultyRule, EntryRules, Network, RetargetRule, Target,
};

use super::args::{duration_ms, threads};
use super::config::Config;
use super::mine;

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Start a new network: mine its genesis block and print its network
    /// file. Save it (`> network.json`) and give it to every node with
    /// `--network network.json`. With `--block-time` the difficulty follows
    /// the network's hash rate (starting from this machine's); without it,
    /// blocks must meet `--difficulty` leading zeros (default 5) forever.
    /// Entries are checked strictly (a block carrying an invalid entry is
    /// invalid) and travel beside their block, which commits to them by a
    /// Merkle root: an entry's receipt is then a few KB.
    New(NewArgs),
    /// Print the network file of this data directory's network.
    Show,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The text of the genesis block's `data`.
    #[arg(long, value_name = "TEXT")]
    data: String,
    /// A name for people (not part of the network's identity).
    #[arg(long, value_name = "NAME", default_value = "")]
    name: String,
    /// Keep the original's rules: blocks are valid whatever their entries
    /// (bad entries are just not indexed), as on the article's network,
    /// and carry them in their data (a receipt then holds the whole data).
    #[arg(long)]
    original_rules: bool,
    /// Largest entry, in bytes of its canonical form.
    #[arg(long, value_name = "BYTES", default_value_t = EntryRules::ORIGINAL.max_entry_bytes)]
    max_entry_bytes: usize,
    /// Largest `data` of a block, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = EntryRules::ORIGINAL.max_block_data_bytes)]
    max_block_data_bytes: usize,
    /// Leading zero bits an entry's id must have (a stamp against spam,
    /// found by `jbc submit`); 0: none.
    #[arg(long, value_name = "BITS", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=64))]
    stamp_bits: u8,
    /// A target time between blocks (for example 2s, 500ms, 1m): the
    /// difficulty then follows the hash rate, block by block (ASERT).
    #[arg(long, value_name = "TIME", value_parser = duration_ms)]
    block_time: Option<u64>,
    /// How fast the difficulty follows: a chain one half-life behind its
    /// schedule mines at half the difficulty. Default: 20 block times.
    #[arg(long, value_name = "TIME", value_parser = duration_ms, requires = "block_time")]
    halflife: Option<u64>,
    /// How far ahead of a node's clock a block's timestamp may be.
    /// Default: half the half-life.
    #[arg(long, value_name = "TIME", value_parser = duration_ms, requires = "block_time")]
    max_future: Option<u64>,
    /// Hashes a block should take at first. Default: measured, this
    /// machine's hash rate on --threads times the block time.
    #[arg(long, value_name = "N", requires = "block_time", value_parser = clap::value_parser!(u64).range(1..))]
    hashes_per_block: Option<u64>,
    /// The genesis block's timestamp (default: now, in unix seconds; in
    /// milliseconds with --block-time).
    #[arg(long, value_name = "T")]
    timestamp: Option<u128>,
    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = threads)]
    threads: Option<usize>,
}

/// `--difficulty` as given (None: not given).
pub fn new(difficulty: Option<Difficulty>, args: NewArgs) -> Result<()> {
    let rules = EntryRules {
        strict: !args.original_rules,
        max_entry_bytes: args.max_entry_bytes,
        max_block_data_bytes: args.max_block_data_bytes,
        stamp_bits: args.stamp_bits,
        // A strict network's blocks commit to their entries by a Merkle
        // root, so an entry's receipt is a path, not a whole block.
        commit: if args.original_rules {
            Commit::Inline
        } else {
            Commit::Merkle
        },
    };
    if rules.max_entry_bytes + 64 > rules.max_block_data_bytes {
        bail!(
            "--max-block-data-bytes {} leaves no room for an entry of --max-entry-bytes {}",
            rules.max_block_data_bytes,
            rules.max_entry_bytes
        );
    }
    let started = Instant::now();
    let (rule, genesis) = match args.block_time {
        Some(block_time_ms) => {
            if difficulty.is_some() {
                bail!(
                    "--difficulty and --block-time disagree: a network has fixed leading zeros \
                     or a target block time, not both"
                );
            }
            let timing = Timing {
                block_time_ms,
                halflife_ms: args.halflife,
                max_future_ms: args.max_future,
                hashes_per_block: args.hashes_per_block,
            };
            retarget_genesis(&timing, args.data, args.timestamp, args.threads)?
        }
        None => {
            let difficulty = difficulty.unwrap_or(jbc::consensus::network::SEED_DIFFICULTY);
            let genesis =
                mine::mine_genesis(difficulty.target(), args.data, args.timestamp, args.threads)?;
            (DifficultyRule::leading_zeros(difficulty), genesis)
        }
    };
    let network = Network::new(args.name, genesis, rule, rules).context("the new network")?;
    eprintln!(
        "mined the genesis block in {:.1} s; difficulty: {}; network id {}",
        started.elapsed().as_secs_f64(),
        network.difficulty(),
        network.id()
    );
    print!("{}", jbc::wire::network::to_json(&network));
    Ok(())
}

/// What a network with a target block time is asked to be.
pub struct Timing {
    pub block_time_ms: u64,
    pub halflife_ms: Option<u64>,
    pub max_future_ms: Option<u64>,
    /// None: measure this machine.
    pub hashes_per_block: Option<u64>,
}

/// The retarget rule `timing` describes, starting from a target that takes
/// `hashes_per_block` (or this machine's rate on `threads` for one block
/// time), and a genesis block mined at it (timestamp in milliseconds).
pub fn retarget_genesis(
    timing: &Timing,
    data: String,
    timestamp: Option<u128>,
    threads: Option<usize>,
) -> Result<(DifficultyRule, Block)> {
    let hashes = timing.hashes_per_block.unwrap_or_else(|| {
        let threads = threads.unwrap_or_else(jbc::miner::default_threads);
        let (hashes, seconds) =
            jbc::miner::measure_rate("calibration", threads, 0.5, jbc::miner::Lanes::Best);
        let rate = hashes as f64 / seconds.max(1e-9);
        let per_block = (rate * timing.block_time_ms as f64 / 1000.0).max(1.0) as u64;
        eprintln!(
            "this machine hashes {:.1} MH/s on {threads} threads: a block every {} ms \
                 starts at {per_block} hashes",
            rate / 1e6,
            timing.block_time_ms
        );
        per_block
    });
    let mut rule = RetargetRule::new(timing.block_time_ms, Target::for_expected_hashes(hashes));
    if let Some(halflife_ms) = timing.halflife_ms {
        rule.halflife_ms = halflife_ms;
        rule.max_future_ms = halflife_ms / 2;
    }
    if let Some(max_future_ms) = timing.max_future_ms {
        rule.max_future_ms = max_future_ms;
    }
    rule.check().context("the retarget rule")?;
    let timestamp = timestamp.unwrap_or_else(jbc::clock::unix_ms);
    let genesis = mine::mine_genesis(rule.initial_target, data, Some(timestamp), threads)?;
    Ok((DifficultyRule::Retarget(rule), genesis))
}

/// `jbc network show`.
pub fn show(config: &Config) -> Result<()> {
    print!("{}", jbc::wire::network::to_json(&config.params));
    Ok(())
}
