//! Chains to make receipts from, on every kind of network a receipt may
//! come from (shared by the receipts tests and the explorer's browser
//! test of its verify page).

use jbc::chain::ChainState;
use jbc::consensus::entry::Content;
use jbc::consensus::receipt::Receipt;
use jbc::consensus::{
    Block, BlockAndBody, DifficultyRule, Entry, EntryRules, Height, Network, RetargetRule, Target,
    Timestamp,
};
use jbc::miner::Job;
use jbc::store::{BlockReads, StoreReader};

use super::chains::mine_here;
use super::{easy_params, strict_network};

pub const SECRET: [u8; 32] = [7; 32];

/// A block-time network whose blocks are quick to mine here, committing
/// entries by a Merkle root.
pub fn block_time_network(label: &str) -> Network {
    let mut rule = RetargetRule::new(1000, Target::for_expected_hashes(1 << 10));
    // Some target is easier than the network allows (the default, 2^16
    // times the initial one, is every hash here).
    rule.max_target = Target::for_expected_hashes(1 << 4);
    let genesis = mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: format!("genesis of {label}"),
        timestamp: Timestamp(1_700_000_000_000),
        target: rule.initial_target,
    });
    Network::new(
        label.into(),
        genesis,
        DifficultyRule::Retarget(rule),
        EntryRules::STRICT,
    )
    .unwrap()
}

/// The four kinds of network a receipt may come from.
pub fn every_kind() -> Vec<(&'static str, Network)> {
    let lax = easy_params(1, "receipts lax");
    let inline_strict = Network::new(
        "inline strict".into(),
        lax.genesis().clone(),
        *lax.difficulty(),
        EntryRules {
            strict: true,
            ..EntryRules::ORIGINAL
        },
    )
    .unwrap();
    vec![
        ("fixed, merkle", strict_network(1, "receipts fixed", 0)),
        (
            "block time, merkle",
            block_time_network("receipts block time"),
        ),
        ("the original's rules, inline", lax),
        ("strict, inline", inline_strict),
    ]
}

/// Entries of every kind: text, a file's digest, a signed one.
pub fn entries(label: &str, network: &Network, count: usize) -> Vec<Entry> {
    let mut entries: Vec<Entry> = (0..count)
        .map(|i| Entry::new(Content::Text(format!("{label} entry {i}"))))
        .collect();
    entries.push(Entry::new(Content::Sha256([0xab; 32])));
    entries.push(
        Entry::new(Content::Text(format!("{label} signed")))
            .signed(&SECRET, &network.genesis_hash()),
    );
    entries
}

/// A chain in a store: some blocks, one carrying `carried`, some after.
pub struct Built {
    _dir: tempfile::TempDir,
    pub chain: ChainState,
    pub network: Network,
}

impl Built {
    pub fn new(network: &Network) -> Built {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainState::open(dir.path(), network.clone()).unwrap();
        Built {
            _dir: dir,
            chain,
            network: network.clone(),
        }
    }

    /// Mines the next block on the tip (a second after the last) with
    /// these entries, and stores it.
    pub fn grow(&mut self, note: &str, carried: &[Entry]) -> Block {
        let template = self.chain.template().unwrap();
        let tip = self
            .chain
            .store()
            .block(&template.prev_hash)
            .unwrap()
            .unwrap();
        let unit = self.network.timestamp_unit_ms() as u128;
        let time = Timestamp(tip.block.timestamp.0 + 1000 / unit);
        let lines: Vec<String> = carried.iter().map(Entry::encoding).collect();
        let (data, body) = match lines.is_empty() {
            true => (note.to_owned(), Vec::new()),
            false => self.network.entry_rules().commit.encode(note, lines),
        };
        let block = mine_here(&Job {
            index: template.index,
            prev_hash: Some(template.prev_hash),
            data,
            timestamp: template.timestamp(time),
            target: template.target,
        });
        let accepted = self.chain.add_block(BlockAndBody {
            block: block.clone(),
            body,
        });
        assert!(accepted.is_ok(), "{accepted:?}");
        block
    }

    pub fn receipt(&self, entry: &Entry, after: u64) -> Receipt {
        let reader = StoreReader::open(self.chain.store().path()).unwrap();
        jbc::receipts::make(&reader, &self.network, &entry.id(), after).unwrap()
    }
}

/// A chain of 3 blocks, one with `carried`, 3 after.
pub fn chain_with(network: &Network, carried: &[Entry]) -> Built {
    let mut built = Built::new(network);
    for i in 0..3 {
        built.grow(&format!("before {i}"), &[]);
    }
    built.grow("the entries' block", carried);
    for i in 0..3 {
        built.grow(&format!("after {i}"), &[]);
    }
    built
}
