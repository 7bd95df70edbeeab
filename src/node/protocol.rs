//! The `/v1` protocol: one type per request answer, used by the server to
//! write it and by a client (a syncing peer, a test, `jbc` itself) to read
//! it, so the two sides can never drift. Blocks inside are always
//! `wire::BlockText`, the original's form.
//!
//! Answers that carry many blocks (`/v1/blocks`, `/v1/sync`) are written
//! straight from the store's rows by the `write_*` functions here, beside
//! the type a client reads them into: parsing and re-printing every block
//! would cost more than the rest of the request.

use serde::{Deserialize, Serialize};

use crate::consensus::entry::COMMITTED_FORMAT_LINE;
use crate::consensus::{BlockHash, EntryId, EntryRules, Height, Work};
use crate::search::{Found, Hit};
use crate::store::pool::PoolStats;
use crate::store::{EntryReads, StoreError, Tip};
use crate::wire::BlockText;

use super::net::addresses::SharedAddress;
use super::net::peers::PeerInfo;

/// Most blocks in one `/v1/blocks` or `/v1/sync` answer.
pub const MAX_BLOCKS_PER_REPLY: usize = 2000;
/// Most locator hashes `/v1/sync` reads.
pub const MAX_LOCATOR: usize = 101;
/// An answer stops growing past this many bytes of blocks, whatever the
/// count (blocks carry free text, so 2000 of them can be large).
pub const REPLY_BYTE_BUDGET: usize = 16 * 1024 * 1024;

/// Which network a node is on: two nodes with different values never sync.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkInfo {
    pub genesis_hash: BlockHash,
    /// Leading hex zeros of the genesis target: the whole rule on a fixed
    /// network, only where the target starts on one whose difficulty
    /// follows the clock (`rule` says which). Kept for older peers, which
    /// compare it.
    pub difficulty: u8,
    /// The difficulty rule for people: "5 leading zeros", or "a block every
    /// 1000 ms (asert-median/2, ...)" (absent from older nodes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule: String,
    /// The hash of the genesis and every rule (`Network::id`); absent from
    /// nodes older than the network file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<BlockHash>,
    /// What entries may be on this network (absent from older nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_rules: Option<EntryRules>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The miner's state in `/v1/status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MiningInfo {
    pub enabled: bool,
    pub threads: u64,
    /// Hashes per second over the last second, all threads.
    pub hash_rate: f64,
    pub hash_rate_per_thread: Vec<f64>,
    /// Hashes tried since the node started.
    pub hashes: u64,
    pub hashes_per_thread: Vec<u64>,
}

/// How hard the next block is and how fast blocks come, in `/v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DifficultyInfo {
    /// `fixed` (one target for every block), or the version of the rule
    /// that makes the target follow the clock: `asert-median/2` (networks
    /// made since it exists) or `asert-per-block/1`.
    pub rule: String,
    /// The target the next block must meet, 64 hex digits.
    pub target: String,
    /// The hashes one block takes on average at that target.
    pub hashes_per_block: f64,
    /// The network's target time between blocks, when it has one.
    #[serde(default)]
    pub block_time_ms: Option<u64>,
    /// The mean time between the last `measured_blocks` blocks of the
    /// main chain.
    #[serde(default)]
    pub mean_block_time_ms: Option<f64>,
    #[serde(default)]
    pub measured_blocks: u64,
    /// The network's hash rate as its latest blocks show it (their work
    /// over the time they took).
    #[serde(default)]
    pub network_hashes_per_second: Option<f64>,
    /// How long the next block takes on average at that rate.
    #[serde(default)]
    pub next_block_expected_ms: Option<f64>,
    /// Set when the next block is out of reach for the network (more than
    /// 2^20 times the work of the latest blocks): the chain has stopped,
    /// and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `GET /v1/addresses`: the node addresses this node vouches for (it
/// reached them, or they contacted it themselves).
#[derive(Debug, Serialize, Deserialize)]
pub struct AddressesReply {
    pub version: u64,
    pub addresses: Vec<SharedAddress>,
}

/// `GET /v1/addresses?all` (operator only): the whole address book.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddressBookReply {
    pub addresses: Vec<KnownAddress>,
}

/// One address of the book, for the operator.
#[derive(Debug, Serialize, Deserialize)]
pub struct KnownAddress {
    pub url: String,
    /// `new` (heard of) or `tried` (reached).
    pub table: String,
    pub source: String,
    pub manual: bool,
    /// Whether it is a peer now.
    pub connected: bool,
    pub last_success_s_ago: Option<u64>,
    pub failures: u32,
}

/// `GET /v1/pace`: the latest main-chain blocks' times and difficulty.
#[derive(Debug, Serialize, Deserialize)]
pub struct PaceReply {
    pub difficulty: Option<DifficultyInfo>,
    /// Oldest first.
    pub points: Vec<PacePoint>,
}

/// One block in `/v1/pace`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PacePoint {
    pub index: Height,
    /// Its timestamp, in Unix milliseconds.
    pub time_ms: f64,
    /// Since the block before (`None` for the first block listed when it
    /// is the genesis block).
    pub interval_ms: Option<f64>,
    /// The work of the target it met: hashes it took on average.
    pub hashes_per_block: f64,
}

/// `GET /v1/status`. A syncing peer needs only `node_id`, `network` and
/// `tip`; the rest has defaults so that nodes of other versions still
/// understand each other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReply {
    #[serde(default)]
    pub software: String,
    pub node_id: String,
    pub network: NetworkInfo,
    pub tip: Tip,
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
    #[serde(default)]
    pub mining: MiningInfo,
    #[serde(default)]
    pub syncing: bool,
    /// Absent from older nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<DifficultyInfo>,
    /// Its address book's version: a peer reads `/v1/addresses` again
    /// when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses_version: Option<u64>,
    #[serde(default)]
    pub pool: PoolStats,
    #[serde(default)]
    pub uptime_seconds: u64,
}

/// `GET /v1/blocks?from=I&limit=N`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlocksReply<'a> {
    #[serde(borrow)]
    pub blocks: Vec<BlockText<'a>>,
}

/// `GET /v1/sync?locator=...`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncReply<'a> {
    pub tip: Tip,
    /// The index of the locator block found on the server's main chain.
    pub fork_index: Height,
    #[serde(borrow)]
    pub blocks: Vec<BlockText<'a>>,
}

/// `GET /v1/blocks/{hash}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlockReply<'a> {
    #[serde(borrow)]
    pub block: BlockText<'a>,
    pub chain_work: Work,
    pub main_chain: bool,
    /// The block's entries, when its data carries some.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryInBlock>,
}

/// One entry line of a block, as the explorer shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntryInBlock {
    /// The entry's id, when the line is an entry at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntryId>,
    /// The entry object (or the line as a string when it is not one).
    pub entry: serde_json::Value,
    pub signed: bool,
    /// Whether it passes this network's rules (signature, stamp, size).
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A block of `GET /v1/tree`: the block and whether it is on the main chain.
#[derive(Debug, Serialize, Deserialize)]
pub struct TreeBlock<'a> {
    #[serde(flatten, borrow)]
    pub block: BlockText<'a>,
    pub main_chain: bool,
}

/// `GET /v1/tree?depth=N`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TreeReply<'a> {
    pub tip: Tip,
    #[serde(borrow)]
    pub blocks: Vec<TreeBlock<'a>>,
}

/// What became of a posted block, as the `status` word of the answer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    TipMoved,
    SideBranch,
    AlreadyKnown,
    ParentUnknown,
    /// From too far in the future for this node's clock: send it again
    /// later.
    TooEarly,
    Invalid,
    Error,
    /// A compact block whose entries at `missing` are not in this node's
    /// pool: post it again with those prefilled.
    MissingEntries,
    /// A compact block rebuilt from the pool that missed its root (a
    /// short id matched the wrong entry): post the whole block to
    /// `/v1/blocks`.
    SendBlock,
}

/// `POST /v1/blocks` and `POST /v1/blocks/compact`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostBlockReply {
    pub status: PostStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `missing_entries`: the places of the entries to send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u32>,
    pub tip: Tip,
}

/// `GET /v1/peers`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PeersReply {
    pub peers: Vec<PeerInfo>,
}

/// `POST /v1/peers` with `{"url": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddPeerRequest {
    pub url: String,
}

/// The answer to `POST /v1/peers`: the URL as the node wrote it, and
/// whether it was new.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddPeerReply {
    pub url: String,
    pub added: bool,
}

/// `POST /v1/mining` with `{"mine": true|false}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MiningRequest {
    pub mine: bool,
}

/// The answer to `POST /v1/mining`, sent once the miner has really
/// stopped when switched off.
#[derive(Debug, Serialize, Deserialize)]
pub struct MiningReply {
    pub mining: bool,
    pub tip: Tip,
}

/// Where an entry stands, in a word.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatusWord {
    Pending,
    Confirmed,
    /// Taken out of a full pool (its source held the largest share); not
    /// on its way into a block. Submit it again to try again.
    Evicted,
}

/// The answer to `POST /v1/entries` with one entry (a list of entries is
/// answered with the list of their ids, in order).
#[derive(Debug, Serialize, Deserialize)]
pub struct SubmittedEntry {
    pub id: EntryId,
    pub status: EntryStatusWord,
    /// False when this node had it already (pending or confirmed).
    pub new: bool,
}

/// A block that carries an entry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockRef {
    pub index: Height,
    pub hash: BlockHash,
}

/// `GET /v1/entries/{id}`, and each entry of `GET /v1/entries?author=KEY`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntryReply {
    pub id: EntryId,
    pub status: EntryStatusWord,
    /// The entry itself (its canonical JSON object).
    pub entry: serde_json::Value,
    /// The main-chain block that confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<BlockRef>,
    /// 1 when its block is the tip, and one more for each block on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// When it was evicted (unix seconds), for an evicted entry (whose
    /// `entry` is null: the node keeps only its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evicted_at: Option<u64>,
}

/// A pending entry in `GET /v1/entries?pending`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingEntry {
    pub id: EntryId,
    pub entry: serde_json::Value,
    /// Its place in arrival order: ask `after=SEQ` for the next page.
    pub seq: i64,
}

/// `GET /v1/entries?pending` (oldest first) or `?author=KEY` (newest
/// first).
#[derive(Debug, Serialize, Deserialize)]
pub struct EntriesReply<T> {
    pub entries: Vec<T>,
    /// What the pool holds (with `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolStats>,
}

/// `GET /v1/search?q=TEXT[&kind=block|entry]`: what a height, a block
/// hash or an entry id (or its first 8 or more hex digits) names here,
/// tagged by `found`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum SearchReply {
    Block(SearchBlock),
    Entry(SearchEntry),
    Nothing,
    /// More than one thing: which (at most 10), and whether there are more.
    Ambiguous {
        candidates: Vec<SearchHit>,
        more: bool,
    },
}

/// One of the candidates of an ambiguous search, tagged by `kind`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchHit {
    Block(SearchBlock),
    Entry(SearchEntry),
}

/// A block a search found (on the main chain, or a side branch).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SearchBlock {
    pub index: Height,
    pub hash: BlockHash,
    pub main_chain: bool,
}

/// An entry a search found (pending, or confirmed on the main chain).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SearchEntry {
    pub id: EntryId,
}

impl From<Hit> for SearchHit {
    fn from(hit: Hit) -> SearchHit {
        match hit {
            Hit::Block(b) => SearchHit::Block(SearchBlock {
                index: b.index,
                hash: b.hash,
                main_chain: b.on_main_chain,
            }),
            Hit::Entry(id) => SearchHit::Entry(SearchEntry { id }),
        }
    }
}

impl From<Found> for SearchReply {
    fn from(found: Found) -> SearchReply {
        match found {
            Found::Nothing => SearchReply::Nothing,
            Found::One(hit) => match SearchHit::from(hit) {
                SearchHit::Block(block) => SearchReply::Block(block),
                SearchHit::Entry(entry) => SearchReply::Entry(entry),
            },
            Found::Ambiguous { candidates, more } => SearchReply::Ambiguous {
                candidates: candidates.into_iter().map(SearchHit::from).collect(),
                more,
            },
        }
    }
}

/// Any error: a 4xx or 5xx status and what was wrong, with the value.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: String,
}

/// Reads the `locator` of `GET /v1/sync`: 1 to `MAX_LOCATOR` block hashes,
/// comma-separated, newest first.
pub fn parse_locator(text: &str) -> Result<Vec<BlockHash>, String> {
    let mut hashes = Vec::new();
    for part in text.split(',').filter(|h| !h.is_empty()) {
        if hashes.len() == MAX_LOCATOR {
            return Err(format!("a locator has at most {MAX_LOCATOR} hashes"));
        }
        hashes.push(
            part.parse::<BlockHash>()
                .map_err(|e| format!("bad locator: {e}"))?,
        );
    }
    if hashes.is_empty() {
        return Err(format!(
            "a locator has 1 to {MAX_LOCATOR} hashes, this one none"
        ));
    }
    Ok(hashes)
}

/// Writes `BlocksReply` for up to `limit` main-chain blocks from `from`.
pub fn write_blocks_reply(
    reader: &impl EntryReads,
    from: Height,
    limit: usize,
) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![b'{'];
    write_blocks_field(reader, from, limit, &mut out)?;
    out.push(b'}');
    // Held until sent, counted by its length (`http::answers`).
    out.shrink_to_fit();
    Ok(out)
}

/// Writes `SyncReply`: our tip, the fork point, and up to `limit`
/// main-chain blocks after it.
pub fn write_sync_reply(
    reader: &impl EntryReads,
    tip: Tip,
    fork_index: Height,
    limit: usize,
) -> Result<Vec<u8>, StoreError> {
    let mut out = b"{\"tip\": ".to_vec();
    serde_json::to_writer(&mut out, &tip).expect("a tip serializes into a Vec");
    out.extend_from_slice(format!(", \"fork_index\": {fork_index}, ").as_bytes());
    write_blocks_field(reader, fork_index.next(), limit, &mut out)?;
    out.push(b'}');
    out.shrink_to_fit();
    Ok(out)
}

/// `"blocks": [...]` with up to `limit` main-chain blocks from `from`,
/// stopping early past the reply byte budget.
fn write_blocks_field(
    reader: &impl EntryReads,
    from: Height,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.extend_from_slice(b"\"blocks\": [");
    let start = out.len();
    let mut count = 0;
    reader.for_each_main_text(from, |mut block| {
        if count > 0 {
            out.extend_from_slice(b", ");
        }
        if block.data.starts_with(COMMITTED_FORMAT_LINE) {
            // The entries beside it travel with it.
            let hash = block.hash.parse().map_err(|e| {
                StoreError::Corrupt(format!("a stored block hash does not parse: {e}"))
            })?;
            block.entries = reader.block_body(&hash)?;
        }
        block.write_v1_json(out);
        count += 1;
        Ok::<_, StoreError>(
            if count >= limit || out.len() - start >= REPLY_BYTE_BUDGET {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            },
        )
    })?;
    out.push(b']');
    Ok(())
}
