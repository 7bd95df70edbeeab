//! The flags and their subcommands, then dispatch to one file per
//! subcommand group; what they share sits below them (`config.rs`: the
//! global flags resolved; `args.rs`: value parsers; `progress.rs`; and
//! `remote.rs`: talking to a running node). This is the only place that
//! uses `anyhow`: the library's errors are typed, and here they get
//! context for a person.

mod args;
mod chain;
mod chaos;
mod config;
mod control;
mod devnet;
mod entries;
mod mine;
mod network;
mod node;
mod progress;
mod receipt;
mod remote;
mod watch;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

use jbc::consensus::network::SEED_DIFFICULTY;

use config::{Config, difficulty, load_network};

/// A small proof-of-work blockchain node, compatible with the original jbc.
///
/// Each node keeps its chain in a data directory (`--data-dir`), mines
/// blocks, and syncs with its peers over HTTP. Blocks, the `chaindata/`
/// folder and the HTTP protocol are the original Python jbc's, so an
/// original node can be a peer.
#[derive(Parser, Debug)]
#[command(name = "jbc", version, max_term_width = 100)]
pub struct Cli {
    /// Where this node keeps its chain (a SQLite database, chain.sqlite3).
    #[arg(long, global = true, value_name = "DIR", default_value = "./chaindata")]
    data_dir: PathBuf,

    /// The network to be on: a network file (see `jbc network new`). Not
    /// needed once a data directory has a chain: it remembers its network.
    /// Default: the article's network.
    #[arg(long, global = true, value_name = "FILE", conflicts_with_all = ["genesis", "difficulty"])]
    network: Option<PathBuf>,

    /// Shorthand for a network with the original's rules: how many leading
    /// hex zeros a block hash needs (default 5, the article's).
    #[arg(long, global = true, value_name = "N")]
    difficulty: Option<u64>,

    /// Shorthand for a network with the original's rules: its first block,
    /// as a JSON file in the original's format (see `jbc genesis`).
    /// Default: block 0 of the article.
    #[arg(long, global = true, value_name = "FILE")]
    genesis: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mine a new genesis block and print it as JSON, to start a new network.
    ///
    /// Save the output to a file and give it to every node of the new
    /// network with `--genesis FILE` (and the same `--difficulty`).
    Genesis(mine::GenesisArgs),
    /// Mine blocks on top of the local chain and store them.
    Mine(mine::MineArgs),
    /// Look at, check, import or export the local chain.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Run a node: serve the chain over HTTP, sync with peers, relay blocks,
    /// and mine with --mine.
    Node(node::NodeArgs),
    /// Run a local network of several nodes (separate processes, each with
    /// its own data directory and port), all peered; Ctrl-C stops them all.
    Devnet(devnet::DevnetArgs),
    /// Make a network file for a new network, or show this one's.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Put an entry on the chain: send it to a node, print its id.
    Submit(entries::SubmitArgs),
    /// Where an entry stands: pending, or confirmed in block N.
    Entry(entries::EntryArgs),
    /// An entry's receipt: a small file that proves the entry is in a
    /// block of the chain, with the blocks after it (see `jbc verify`).
    Proof(receipt::ProofArgs),
    /// Check a receipt with nothing but the file: no node and no network
    /// needed. Exit status 0 only when everything checks.
    Verify(receipt::VerifyArgs),
    /// Make or show an ed25519 key for signing entries.
    #[command(subcommand)]
    Key(entries::KeyCommand),
    /// Switch a running node's miner on or off (its operator only: reads
    /// the token in --data-dir).
    Mining(control::MiningArgs),
    /// List a running node's peers, or add or remove one (operator only).
    Peers(control::PeersArgs),
    /// Stop a running node (operator only).
    Stop(control::StopArgs),
}

impl Cli {
    /// True for the commands that only print and exit (as opposed to
    /// servers): those may die quietly when their output pipe closes.
    pub fn only_prints(&self) -> bool {
        !matches!(self.command, Command::Node(_) | Command::Devnet(_))
    }
}

pub fn run(cli: Cli) -> Result<()> {
    // Making a genesis block is how a network starts: it needs a
    // difficulty, not a network. So does a network file.
    let chosen_difficulty = difficulty(cli.difficulty)?;
    let config = |network_file: Option<&Path>, genesis_file: Option<&Path>| {
        Config::from_flags(&cli.data_dir, network_file, genesis_file, cli.difficulty)
    };
    let (network_file, genesis_file) = (cli.network.as_deref(), cli.genesis.as_deref());
    match cli.command {
        Command::Genesis(args) => mine::genesis(chosen_difficulty, args),
        Command::Network(network::NetworkCommand::New(args)) => {
            network::new(cli.difficulty.map(|_| chosen_difficulty), args)
        }
        // Talking to a node needs no local chain.
        Command::Submit(args) => entries::submit(args),
        Command::Entry(args) => entries::entry(args),
        Command::Proof(args) => receipt::proof(args),
        Command::Verify(args) => {
            let network = network_file.map(load_network).transpose()?;
            receipt::verify(network.as_ref(), args)
        }
        Command::Key(command) => entries::key(command),
        Command::Mining(args) => control::mining(&cli.data_dir, args),
        Command::Peers(args) => control::peers(&cli.data_dir, args),
        Command::Stop(args) => control::stop(&cli.data_dir, args),
        Command::Mine(args) => mine::mine(&config(network_file, genesis_file)?, args),
        Command::Chain(command) => chain::run(&config(network_file, genesis_file)?, command),
        Command::Node(args) => node::run(&config(network_file, genesis_file)?, args),
        Command::Network(network::NetworkCommand::Show) => {
            network::show(&config(network_file, genesis_file)?)
        }
        Command::Devnet(args) => {
            let (mut network_file, mut genesis_file) = (cli.network.clone(), cli.genesis.clone());
            if network_file.is_none() && genesis_file.is_none() {
                if cli.difficulty.is_none() {
                    // A devnet's blocks come every --block-time on any machine: a
                    // network of its own, made once and kept in its folder.
                    network_file = Some(devnet::ensure_network(&args)?);
                } else if chosen_difficulty != SEED_DIFFICULTY {
                    // The article's genesis only meets 5 zeros: give the devnet one
                    // of its own for other difficulties, mined once and kept.
                    let path = args.dir.join("genesis.json");
                    devnet::ensure_genesis(&path, chosen_difficulty)?;
                    genesis_file = Some(path);
                }
            }
            let config = config(network_file.as_deref(), genesis_file.as_deref())?;
            devnet::run(&config, genesis_file.as_deref(), args)
        }
    }
}
