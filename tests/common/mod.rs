//! Helpers shared by the integration tests and the benchmarks (`benches/`
//! include this folder too): the seed vectors, the `jbc` binary, quick
//! networks and chains (`chains`), nodes in this process on real sockets
//! (`net`), a Prometheus text checker and a WebDriver client. None of it
//! is part of the node.
#![allow(dead_code, unused_imports)]

pub mod chains;
pub mod net;
pub mod prometheus;
pub mod webdriver;

use std::path::{Path, PathBuf};

use jbc::consensus::Block;

pub use chains::{block_with_entries, blocks_on, easy_params, strict_network};

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

/// The path of the built `jbc` binary.
pub fn jbc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jbc")
}
