//! Helpers shared by the integration tests: easy networks, chains of
//! blocks, the seed vectors, and the `jbc` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jbc::consensus::{Block, Difficulty, Height, Params, Timestamp};
use jbc::miner::{self, Job};

/// The spec's five seed blocks (0, 1, 2, 3, 3b), read from the fixture.
pub fn seed_blocks() -> Vec<Block> {
    let text = std::fs::read(fixture("seed_vectors.json")).expect("fixture");
    jbc::wire::chain_from_slice(&text).expect("seed vectors parse")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A network at `zeros` difficulty with a genesis mined for it.
pub fn easy_params(zeros: u64, label: &str) -> Params {
    let difficulty = Difficulty::new(zeros).unwrap();
    let genesis = miner::mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: format!("genesis of {label}"),
        timestamp: Timestamp(1_600_000_000),
        target: difficulty.target(),
    })
    .unwrap();
    Params::new(genesis, difficulty).unwrap()
}

/// `count` blocks on top of `parent`, with data naming `branch`.
pub fn blocks_on(params: &Params, parent: &Block, count: u64, branch: &str) -> Vec<Block> {
    let branch = branch.to_owned();
    miner::mine_chain_here(
        parent,
        count,
        params.target(),
        Timestamp(1_600_000_001),
        move |index| format!("{branch} #{index}"),
    )
    .unwrap()
}

/// The path of the built `jbc` binary.
pub fn jbc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jbc")
}
