//! jbc: a small proof-of-work blockchain node that speaks the formats of the
//! original Python "jbc" from "How to Build Your Own Blockchain, Part 2".
//!
//! # Layout
//!
//! - `consensus`: the pure rules: blocks, hashes, targets and work, network
//!   parameters, validation. No I/O of any kind.
//! - `wire`: the original's JSON form of a block (strings or numbers in,
//!   strings out).
//! - `store`: SQLite: the block tree, the main chain and the tip; one
//!   transaction per change.
//! - `chain`: `ChainState`, the rules applied to the store: validate, store,
//!   pick the most-work tip, reorganise.
//! - `receipts`: an entry's receipt made from the store (its format and
//!   its offline check are `consensus::receipt`).
//! - `search`: what a search box finds: a height, or the start of a block
//!   hash or an entry id, looked up in the store.
//! - `chaindata`: import and export of the original's `chaindata/` folder.
//! - `clock`: Unix time in milliseconds, swappable (tests, a wrong clock).
//! - `datadir`: one writer per data directory (a lock the kernel frees).
//! - `miner`: the nonce search, on its own threads.
//! - `node`: the running node: HTTP API, peers, sync, relay, mining.
//!
//! The `jbc` binary (`src/main.rs`, `src/cli/`) parses flags and calls these.
//! Helpers for tests and benchmarks live with them, in `tests/common/`.

pub mod chain;
pub mod chaindata;
pub mod clock;
pub mod consensus;
pub mod datadir;
pub mod miner;
pub mod node;
pub mod receipts;
pub mod search;
pub mod store;
pub mod wire;
