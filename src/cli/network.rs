//! `jbc network new` and `jbc network show`: the network file.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use jbc::consensus::{Difficulty, EntryRules, Network};

use super::{Config, mine};

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Start a new network: mine its genesis block and print its network
    /// file. Save it (`> network.json`) and give it to every node with
    /// `--network network.json`. Blocks must meet `--difficulty` (default
    /// 5 leading zeros), and entries are checked strictly: a block carrying
    /// an invalid entry is invalid.
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
    /// (bad entries are just not indexed), as on the article's network.
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
    /// The genesis block's timestamp (default: now, in unix seconds).
    #[arg(long, value_name = "T")]
    timestamp: Option<u128>,
    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::threads)]
    threads: Option<usize>,
}

pub fn new(difficulty: Difficulty, args: NewArgs) -> Result<()> {
    let rules = EntryRules {
        strict: !args.original_rules,
        max_entry_bytes: args.max_entry_bytes,
        max_block_data_bytes: args.max_block_data_bytes,
        stamp_bits: args.stamp_bits,
    };
    if rules.max_entry_bytes + 64 > rules.max_block_data_bytes {
        anyhow::bail!(
            "--max-block-data-bytes {} leaves no room for an entry of --max-entry-bytes {}",
            rules.max_block_data_bytes,
            rules.max_entry_bytes
        );
    }
    let started = Instant::now();
    let genesis = mine::mine_genesis(difficulty, args.data, args.timestamp, args.threads)?;
    let network = Network::new(args.name, genesis, difficulty, rules).context("the new network")?;
    eprintln!(
        "mined the genesis block at difficulty {} in {:.1} s; network id {}",
        difficulty.zeros(),
        started.elapsed().as_secs_f64(),
        network.id()
    );
    print!("{}", jbc::wire::network::to_json(&network));
    Ok(())
}

pub fn run(config: &Config, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::New(_) => unreachable!("a new network needs no data directory"),
        NetworkCommand::Show => {
            print!("{}", jbc::wire::network::to_json(&config.params));
            Ok(())
        }
    }
}
