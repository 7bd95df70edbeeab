//! Quick networks at low difficulty and chains of blocks mined on the
//! calling thread (at difficulty 1 a block costs ~16 hashes, so even long
//! chains are quick to build, while storing or validating them costs what
//! it costs at any difficulty).

use std::path::Path;

use jbc::chain::ChainState;
use jbc::consensus::entry::BlockEntries;
use jbc::consensus::entry::Content;
use jbc::consensus::validate::check_block;
use jbc::consensus::{
    Block, BlockAndBody, Difficulty, Entry, EntryRules, Height, IntoChecked, Network, Nonce,
    Timestamp,
};
use jbc::miner::{Job, Searcher};
use jbc::store::Durability;

/// Mines `job` on the calling thread from nonce 0 (no threads, no
/// statistics: spawning threads per block would cost more than the search).
pub fn mine_here(job: &Job) -> Block {
    let mut timestamp = job.timestamp;
    loop {
        let prefix = jbc::consensus::block::header_prefix(
            job.index,
            job.prev_hash.as_ref(),
            &job.data,
            timestamp,
        );
        let mut searcher = Searcher::new(&prefix, &job.target);
        if let Some(nonce) = searcher.search(0, u64::MAX, |_| true) {
            let block = Block::with_computed_hash(
                job.index,
                job.prev_hash,
                job.data.clone(),
                timestamp,
                Nonce(nonce),
            );
            check_block(&block, &job.target).expect("the searcher agrees with the rules");
            return block;
        }
        timestamp = Timestamp(timestamp.0 + 1);
    }
}

/// A network at `zeros` difficulty with a genesis mined for it; `label`
/// makes the genesis (and so the network) distinct.
pub fn easy_params(zeros: u64, label: &str) -> Network {
    let difficulty = Difficulty::new(zeros).expect("difficulty 0-64");
    let genesis = mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: format!("genesis of {label}"),
        timestamp: Timestamp(1_600_000_000),
        target: difficulty.target(),
    });
    Network::original(genesis, difficulty).expect("a mined genesis is valid")
}

/// `count` blocks on top of `parent`, with data naming `branch`.
pub fn blocks_on(params: &Network, parent: &Block, count: u64, branch: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::with_capacity(count as usize);
    for i in 0..count {
        let tip = blocks.last().unwrap_or(parent);
        let index = tip.index.next();
        blocks.push(mine_here(&Job {
            index,
            prev_hash: Some(tip.hash),
            data: format!("{branch} #{index}"),
            timestamp: Timestamp(1_600_000_001 + u128::from(i)),
            target: params.easiest_target(),
        }));
    }
    blocks
}

/// Puts `blocks` into the store in `dir` before a node opens it.
pub fn preload<B: Clone + IntoChecked>(dir: &Path, params: &Network, blocks: &[B]) {
    let mut chain = ChainState::open(dir, params.clone()).expect("open store");
    for batch in blocks.chunks(2000) {
        let outcome = chain.add_blocks(batch.iter().cloned(), Durability::Bulk);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
}

/// A network made as `jbc network new` makes one: entries checked
/// strictly and committed by a Merkle root, with `stamp_bits` of stamp
/// required.
pub fn strict_network(zeros: u64, label: &str, stamp_bits: u8) -> Network {
    let original = easy_params(zeros, label);
    let rules = EntryRules {
        stamp_bits,
        ..EntryRules::STRICT
    };
    Network::new(
        label.to_owned(),
        original.genesis().clone(),
        *original.difficulty(),
        rules,
    )
    .expect("a mined genesis is valid")
}

/// A block on `parent` carrying these entries (canonical lines) after a
/// note, in its data or beside it as the network says.
pub fn block_with_entries(network: &Network, parent: &Block, lines: &[String]) -> BlockAndBody {
    let (data, body) = network
        .entry_rules()
        .commit
        .encode("test block", lines.to_vec());
    let block = mine_here(&Job {
        index: parent.index.next(),
        prev_hash: Some(parent.hash),
        data,
        timestamp: Timestamp(1_700_000_000),
        target: network.easiest_target(),
    });
    BlockAndBody { block, body }
}

/// Two text entries whose ids share their first 8 hex digits, `3be05835`
/// (found once by trying texts `twin N`: about 80,000 tries, the birthday
/// bound of 32 bits), for searches that must come out ambiguous.
pub fn twin_entries() -> (Entry, Entry, &'static str) {
    let a = Entry::new(Content::Text("twin 19535".into()));
    let b = Entry::new(Content::Text("twin 95418".into()));
    let prefix = "3be05835";
    assert!(
        a.id().to_string().starts_with(prefix) && b.id().to_string().starts_with(prefix),
        "the twins' ids no longer share {prefix}: {} {}",
        a.id(),
        b.id()
    );
    (a, b, prefix)
}
