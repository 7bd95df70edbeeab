//! The flags every command shares (`--data-dir`, `--network`,
//! `--genesis`, `--difficulty`) resolved into a `Config`: the data
//! directory and the network to be on, read from a network file, made
//! from a genesis block and a difficulty, or remembered by the chain.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use jbc::consensus::{Difficulty, Network, network::SEED_DIFFICULTY};

/// The flags every command shares, resolved.
pub struct Config {
    pub data_dir: PathBuf,
    pub params: Network,
    /// The network file given, if any (a devnet passes it on).
    pub network_file: Option<PathBuf>,
}

impl Config {
    /// From the global flags as given: `--network`, else the network the
    /// data directory remembers, else the article's; `--genesis` and
    /// `--difficulty` make one with the original's rules.
    pub fn from_flags(
        data_dir: &Path,
        network: Option<&Path>,
        genesis: Option<&Path>,
        zeros: Option<u64>,
    ) -> Result<Config> {
        let params = match (network, genesis, zeros) {
            (Some(path), _, _) => load_network(path)?,
            (None, None, None) => jbc::store::Store::network_in(data_dir)
                .with_context(|| format!("cannot read the chain in {}", data_dir.display()))?
                .unwrap_or_else(Network::seed),
            (None, genesis, _) => shorthand_network(genesis, difficulty(zeros)?)?,
        };
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            params,
            network_file: network.map(Path::to_path_buf),
        })
    }

    pub fn open_chain(&self) -> Result<jbc::chain::ChainState> {
        jbc::chain::ChainState::open(&self.data_dir, self.params.clone())
            .with_context(|| format!("cannot open the chain in {}", self.data_dir.display()))
    }
}

pub fn load_network(path: &Path) -> Result<Network> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read --network {}", path.display()))?;
    jbc::wire::network::from_json(&bytes)
        .with_context(|| format!("--network {} is not a usable network file", path.display()))
}

/// A network with the original's rules from `--genesis` and `--difficulty`.
pub fn shorthand_network(genesis: Option<&Path>, difficulty: Difficulty) -> Result<Network> {
    let Some(path) = genesis else {
        return Network::original(Network::seed().genesis().clone(), difficulty).with_context(|| {
            format!(
                "the default genesis block (the article's block 0) has only {} leading zeros, \
                 so it cannot start a network at difficulty {}; mine one with \
                 `jbc --difficulty {} genesis --data TEXT > genesis.json` and pass --genesis genesis.json",
                Network::seed().genesis().hash.leading_zero_digits(),
                difficulty.zeros(),
                difficulty.zeros()
            )
        });
    };
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

/// `--difficulty`, 5 (the article's) when not given.
pub fn difficulty(zeros: Option<u64>) -> Result<Difficulty> {
    zeros.map_or(Ok(SEED_DIFFICULTY), |zeros| {
        Difficulty::new(zeros).context("invalid --difficulty")
    })
}
