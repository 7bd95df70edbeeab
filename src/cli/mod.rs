//! Flags and their resolution into a configuration, then dispatch to one
//! file per subcommand group. This is the only place that uses `anyhow`: the
//! library's errors are typed, and here they get context for a person.

mod chain;
mod devnet;
mod mine;
mod node;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use jbc::consensus::{Difficulty, Network, network::SEED_DIFFICULTY};

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

    /// How many leading hex zeros a block hash needs. Every node of a
    /// network must use the same value.
    #[arg(long, global = true, value_name = "N", default_value_t = u64::from(SEED_DIFFICULTY.zeros()))]
    difficulty: u64,

    /// The network's first block, as a JSON file in the original's format
    /// (see `jbc genesis`). Default: block 0 of the original article.
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
}

impl Cli {
    /// True for the commands that only print and exit (as opposed to
    /// servers): those may die quietly when their output pipe closes.
    pub fn only_prints(&self) -> bool {
        matches!(
            self.command,
            Command::Genesis(_) | Command::Mine(_) | Command::Chain(_)
        )
    }
}

/// `--threads N`: at least one.
pub fn threads(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The flags every command shares, resolved.
pub struct Config {
    pub data_dir: PathBuf,
    pub params: Network,
}

impl Config {
    fn from_cli(cli: &Cli) -> Result<Config> {
        let difficulty = difficulty(cli)?;
        let params = match &cli.genesis {
            None if difficulty == SEED_DIFFICULTY => Network::seed(),
            None => Network::original(Network::seed().genesis().clone(), difficulty).with_context(|| {
                format!(
                    "the default genesis block (the article's block 0) has only {} leading zeros, \
                     so it cannot start a network at difficulty {}; mine one with \
                     `jbc --difficulty {} genesis --data TEXT > genesis.json` and pass --genesis genesis.json",
                    Network::seed().genesis().hash.leading_zero_digits(),
                    difficulty.zeros(),
                    difficulty.zeros()
                )
            })?,
            Some(path) => load_params(path, difficulty)?,
        };
        Ok(Config {
            data_dir: cli.data_dir.clone(),
            params,
        })
    }

    pub fn open_chain(&self) -> Result<jbc::chain::ChainState> {
        jbc::chain::ChainState::open(&self.data_dir, self.params.clone())
            .with_context(|| format!("cannot open the chain in {}", self.data_dir.display()))
    }
}

fn load_params(path: &Path, difficulty: Difficulty) -> Result<Network> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read --genesis {}", path.display()))?;
    let block = jbc::wire::block_from_slice(&bytes)
        .with_context(|| format!("--genesis {} is not a block", path.display()))?;
    Network::original(block, difficulty).with_context(|| {
        format!(
            "--genesis {} is not a valid genesis block at difficulty {}",
            path.display(),
            difficulty.zeros()
        )
    })
}

fn difficulty(cli: &Cli) -> Result<Difficulty> {
    Difficulty::new(cli.difficulty).context("invalid --difficulty")
}

pub fn run(mut cli: Cli) -> Result<()> {
    // Making a genesis block is how a network starts: it needs a
    // difficulty, not a network.
    let chosen_difficulty = difficulty(&cli)?;
    if let Command::Genesis(args) = cli.command {
        return mine::genesis(chosen_difficulty, args);
    }
    if let Command::Devnet(args) = &cli.command
        && cli.genesis.is_none()
        && cli.difficulty != u64::from(SEED_DIFFICULTY.zeros())
    {
        // The article's genesis only meets 5 zeros: give the devnet one of
        // its own for other difficulties, mined once and kept in its folder.
        let path = devnet::genesis_path(args);
        ensure_genesis(&path, chosen_difficulty)?;
        cli.genesis = Some(path);
    }
    let config = Config::from_cli(&cli)?;
    match cli.command {
        Command::Genesis(_) => unreachable!("handled above"),
        Command::Mine(args) => mine::mine(&config, args),
        Command::Chain(command) => chain::run(&config, command),
        Command::Node(args) => node::run(&config, args),
        Command::Devnet(args) => devnet::run(&config, cli.genesis.as_deref(), args),
    }
}

/// Mines a genesis block for `difficulty` into `path`, unless the file
/// already holds one that is valid there.
fn ensure_genesis(path: &Path, difficulty: Difficulty) -> Result<()> {
    if load_params(path, difficulty).is_ok() {
        return Ok(());
    }
    eprintln!(
        "mining a genesis block at difficulty {} into {}",
        difficulty.zeros(),
        path.display()
    );
    let block = mine::mine_genesis(difficulty, "jbc devnet genesis".into(), None, None)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, jbc::wire::block_to_json(&block))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A progress bar on stderr; drawn only when stderr is a terminal.
pub fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} blocks, {per_sec}, eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}
