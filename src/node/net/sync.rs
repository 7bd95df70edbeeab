//! Sync: learn what peers have and fetch only what we lack.
//!
//! Each peer has its own loop (`spawn_peer`), so a dead, slow or hostile
//! peer delays nobody else: it tries at once, then every few seconds, and
//! whenever a block arrives whose parent we lack. With a jbc peer it costs
//! one small status request when nothing is new; when the peer has more
//! work we send a block locator (our tip, ten blocks back one by one, then
//! doubling steps down to genesis) and get back only the blocks after the
//! last one we share, in batches, fetching (and hashing) the next batch
//! while the current one is stored. A peer that speaks only the original
//! protocol has no such thing: we read its whole `/blockchain.json` as it
//! arrives, block by block (never holding it whole), storing what is valid
//! and stopping at the first block that is not.
//!
//! Blame: a peer that sends an invalid block is ignored for a while; one
//! that is unreachable, slow, or claims more work and sends none is backed
//! off (each failure doubles the wait) and dropped for a while after too
//! many failures in a row (`Net::peer_failed`). A block too far in the
//! future is nobody's fault yet: the sync stops there and the next round
//! asks again.

use std::sync::Arc;

use std::time::Instant;

use crate::chain::{AddError, BatchOutcome};
use crate::consensus::entry::CheckedEntry;
use crate::consensus::{BlockHash, ChainChecker, CheckedBlock, Height};
use crate::store::{BlockReads, Durability, StoreError, Tip};
use crate::wire;
use crate::wire::stream::ArraySplitter;

use super::super::chain::NodeError;
use super::super::notify::Source;
use super::super::protocol::{
    EntriesReply, MAX_BLOCKS_PER_REPLY, PendingEntry, StatusReply, SyncReply,
};
use super::catch_up::CatchUp;
use super::client::PeerError;
use super::handle::Net;
use super::peers::{PeerKind, answers_as_original};
use super::trouble::{PeerFault, Trouble};

/// Caps on what we read from a peer.
const STATUS_CAP: usize = 1024 * 1024;
const SYNC_REPLY_CAP: usize = 40 * 1024 * 1024;
const WHOLE_CHAIN_CAP: usize = 512 * 1024 * 1024;
/// The largest block object accepted from an original's chain.
const MAX_BLOCK_JSON: usize = 2 * 1024 * 1024;
/// The smallest block object the original writes: a chain of fewer bytes
/// than ours times this cannot have as many blocks.
const MIN_BLOCK_JSON: u64 = 180;
/// Raw block objects checked together off the runtime, at most.
const CHECK_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Syncs of at least this many blocks report progress.
const PROGRESS_FROM: u64 = 10_000;

/// How a sync with one peer went wrong, and so whom to blame.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// Unreachable, slow, or answering nonsense: the peer is down.
    #[error("{0}")]
    Down(PeerFault),
    /// It sent an invalid block or chain: ignore it for a while.
    #[error("{0}")]
    Broke(PeerFault),
    /// It answered, but wasted our time (claimed work it did not send).
    #[error("{0}")]
    Wasted(PeerFault),
    /// It sent a block from too far in the future: nobody's fault yet;
    /// the next round asks again.
    #[error("{0}")]
    Early(String),
    /// It sent a block that may be valid but cannot be taken now (without
    /// the entries beside it, as an original node on a network whose
    /// blocks commit to them sends it; or from the future): nobody's
    /// fault.
    #[error("{0}")]
    Incomplete(String),
    /// Our side failed (the store).
    #[error("{0}")]
    Node(#[from] NodeError),
}

impl SyncError {
    fn down(trouble: Trouble, detail: String) -> SyncError {
        SyncError::Down(PeerFault::new(trouble, detail))
    }

    fn broke(trouble: Trouble, detail: String) -> SyncError {
        SyncError::Broke(PeerFault::new(trouble, detail))
    }
}

impl From<PeerError> for SyncError {
    fn from(e: PeerError) -> SyncError {
        SyncError::Down(PeerFault::from(&e))
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> SyncError {
        SyncError::Node(e.into())
    }
}

/// What a peer's sync loop shares with its listener (`listen`).
#[derive(Default)]
pub struct SyncSignals {
    /// Rung by the listener: the peer announced a tip with more work.
    pub wake: tokio::sync::Notify,
    /// Rung by the sync loop when its first round ends (the listener
    /// starts then: that round already fetches what the peer has).
    pub first_round_done: tokio::sync::Notify,
    /// True while the listener holds the peer's announcements open: the
    /// loop then polls the peer only every `QUIET_ROUNDS` intervals (its
    /// news arrive anyway; polling is what a node's idle time went to).
    pub hearing: std::sync::atomic::AtomicBool,
}

/// How many sync intervals apart a peer whose announcements this node
/// hears is polled: status, addresses, pending entries (a block it
/// announces wakes the loop at once).
const QUIET_ROUNDS: u32 = 4;

/// Starts the sync loop of the peer at `url`: it tries at once, then every
/// `sync_interval`, when asked, or when the peer announces a tip with more
/// work (`signals.wake`), never before the peer's backoff ends; until the
/// node stops or the peer is removed.
pub fn spawn_peer(net: Arc<Net>, url: String, signals: Arc<SyncSignals>) {
    tokio::spawn(async move {
        let mut requests = net.watch_sync_requests();
        let mut first = true;
        let mut caught_up = CatchUp::default();
        let mut again = false;
        let mut last_round = Instant::now();
        loop {
            if !first {
                // An original just sent blocks it lacked, and taking them,
                // is read again soon, to send what it dropped.
                let hearing = signals.hearing.load(std::sync::atomic::Ordering::Relaxed);
                let wait = match (again, hearing) {
                    (true, _) => super::catch_up::GAP,
                    (false, true) => net.config.sync_interval * QUIET_ROUNDS,
                    (false, false) => net.config.sync_interval,
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = requests.changed() => {
                        // Anyone can ask (a block with an unknown parent
                        // posted to us): not more often than this.
                        let due = last_round + REQUESTED_GAP;
                        tokio::select! {
                            _ = tokio::time::sleep_until(due.into()) => {}
                            _ = net.shutdown.wait() => return,
                        }
                    }
                    _ = signals.wake.notified() => {}
                    _ = net.shutdown.wait() => return,
                }
            }
            let Some(ready_at) = net.peers.ready_at(&url) else {
                return; // removed
            };
            if let Some(at) = ready_at.filter(|at| *at > Instant::now()) {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = net.shutdown.wait() => return,
                }
            }
            if net.shutdown.is_requested() {
                return;
            }
            last_round = Instant::now();
            sync_peer(&net, &url, &mut caught_up).await;
            again = caught_up.again_soon();
            if first {
                first = false;
                net.first_sync_done();
                signals.first_round_done.notify_one();
            }
        }
    });
}

/// The least time between the start of a round and one asked for
/// (`Net::request_sync`): strangers posting blocks whose parent is unknown
/// make this node ask its peers at most this often.
pub const REQUESTED_GAP: std::time::Duration = std::time::Duration::from_millis(500);

/// One round with one peer (with an original, catching it up goes on from
/// `catch_up`).
async fn sync_peer(net: &Arc<Net>, url: &str, catch_up: &mut CatchUp) {
    catch_up.new_round();
    let Some((kind, ignored)) = net.peers.sync_view(url) else {
        return;
    };
    if kind == PeerKind::Myself || ignored {
        return;
    }
    let _syncing = net.syncing();
    net.metrics.sync_rounds.inc();
    let result = match kind {
        PeerKind::Original => sync_original(net, url).await.map(Some),
        _ => sync_jbc(net, url).await,
    };
    match result {
        Ok(Some(held)) => {
            net.peer_answered(url);
            super::catch_up::run(net, url, held, catch_up).await;
        }
        Ok(None) => {
            // A peer found to be this node was logged as such; it is not "up".
            let (kind, pending) = (net.peers.kind(url), net.peers.pending_entries(url));
            if kind != PeerKind::Myself
                && net.peer_answered(url)
                && kind == PeerKind::Jbc
                && pending > 0
            {
                // Just met (or back): learn what it has pending.
                if let Err(e) = fetch_pending(net, url).await {
                    tracing::debug!(peer = %url, "fetching pending entries failed: {e}");
                }
            }
        }
        Err(SyncError::Down(reason)) => net.peer_failed(url, reason, true).await,
        Err(SyncError::Wasted(reason)) => net.peer_failed(url, reason, false).await,
        Err(SyncError::Broke(reason)) => net.ignore_peer(url, reason).await,
        Err(SyncError::Early(reason)) => {
            tracing::info!(peer = %url, "sync paused until our clock catches up: {reason}");
        }
        Err(SyncError::Incomplete(reason)) => {
            tracing::info!(peer = %url, "sync stopped at a block not taken for now: {reason}");
        }
        Err(SyncError::Node(e)) => tracing::error!(peer = %url, "sync failed on our side: {e}"),
    }
}

/// What a peer turned out to be when asked for its status.
enum Probe {
    Jbc(Box<StatusReply>),
    /// No `/v1`: an original node.
    Original,
    /// This very node, behind some URL.
    Myself,
}

/// Syncs with a peer taken for a jbc node; one that turns out to be an
/// original is read as one, and the hashes of its chain come back.
async fn sync_jbc(net: &Arc<Net>, url: &str) -> Result<Option<Vec<BlockHash>>, SyncError> {
    let status = match probe(net, url).await? {
        Probe::Jbc(status) => status,
        Probe::Original => return sync_original(net, url).await.map(Some),
        Probe::Myself => return Ok(None),
    };
    check_network(net, &status)?;
    let peer_tip = status.tip;
    net.peers
        .record_status(url, &status.node_id, peer_tip, status.pool.entries);
    if net.config.discover {
        super::discovery::maybe_exchange(net, url, status.addresses_version).await;
    }
    if peer_tip.chain_work <= net.chain.tip().chain_work {
        return Ok(None);
    }
    tracing::info!(
        peer = url,
        their_tip = peer_tip.index.0,
        our_tip = net.chain.tip().index.0,
        "peer has more work; syncing"
    );
    fetch_from(net, url, peer_tip).await?;
    let ours = net.chain.tip();
    if ours.chain_work < peer_tip.chain_work {
        return Err(SyncError::Wasted(PeerFault::new(
            Trouble::ClaimedWork,
            format!(
                "it claims more work ({}, tip {}) than it sent (ours is now {}, tip {})",
                peer_tip.chain_work, peer_tip.index, ours.chain_work, ours.index
            ),
        )));
    }
    Ok(None)
}

/// Asks a peer for `/v1/status` and tells what it is.
async fn probe(net: &Arc<Net>, url: &str) -> Result<Probe, SyncError> {
    let timeout = net.client.timeouts().request;
    let body = match net
        .client
        .get(&format!("{url}v1/status"), STATUS_CAP, timeout)
        .await
    {
        Err(PeerError::Status { status, .. }) if answers_as_original(status) => {
            net.peers.mark_original(url);
            return Ok(Probe::Original);
        }
        other => other?,
    };
    let status: StatusReply = serde_json::from_slice(&body).map_err(|e| {
        SyncError::down(Trouble::NotJbc, format!("its /v1/status is not ours: {e}"))
    })?;
    if status.node_id == net.node_id() {
        net.peers.mark_myself(url, &status.node_id);
        tracing::info!(
            peer = url,
            "this peer URL leads back to this node; it will not be used"
        );
        net.found_myself(url);
        return Ok(Probe::Myself);
    }
    Ok(Probe::Jbc(Box::new(status)))
}

/// A peer on another network is of no use, and says so by its status.
fn check_network(net: &Net, status: &StatusReply) -> Result<(), SyncError> {
    let params = net.chain.params();
    if status.network.genesis_hash != params.genesis_hash()
        || status.network.difficulty != params.difficulty().zeros()
        || status.network.id.is_some_and(|id| id != params.id())
    {
        return Err(SyncError::broke(
            Trouble::OtherNetwork,
            format!(
                "it is on another network (genesis {}, difficulty {})",
                status.network.genesis_hash, status.network.difficulty
            ),
        ));
    }
    Ok(())
}

/// Fetches and stores everything the peer has after our locator, one
/// batch in flight while the previous one is stored.
async fn fetch_from(net: &Arc<Net>, url: &str, peer_tip: Tip) -> Result<(), SyncError> {
    let locator = net.chain.read(locator).await?;
    let mut batch = fetch_batch(net, url, &locator).await?;
    let mut fetched = 0usize;
    let start_index = net.chain.tip().index.0;
    let expected = peer_tip.index.0.saturating_sub(start_index);
    let progress = net
        .config
        .sync_progress
        .clone()
        .filter(|_| expected >= PROGRESS_FROM);
    while !batch.is_empty() {
        fetched += batch.len();
        let full = batch.len() >= MAX_BLOCKS_PER_REPLY;
        let next_locator: Vec<BlockHash> =
            batch.last().map(|b| b.block().hash).into_iter().collect();
        let source = Source::Sync {
            peer: url.to_owned(),
        };
        let (stored, next) =
            tokio::join!(net.chain.submit(batch, source, Durability::Bulk), async {
                match full {
                    true => Some(fetch_batch(net, url, &next_locator).await),
                    false => None,
                }
            });
        let outcome = stored?;
        net.metrics
            .sync_blocks
            .inc_by((outcome.added + outcome.already_known) as u64);
        blame(outcome, "it sent an invalid block")?;
        if let Some(progress) = &progress {
            let done = net.chain.tip().index.0.saturating_sub(start_index);
            progress(done.min(expected), expected);
        }
        batch = next.transpose()?.unwrap_or_default();
    }
    tracing::info!(
        peer = url,
        blocks = fetched,
        tip = net.chain.tip().index.0,
        "sync with peer done"
    );
    Ok(())
}

/// A refused block in a batch from a peer: the peer's fault when it broke
/// a rule, ours when the store failed.
fn blame(outcome: BatchOutcome, what: &str) -> Result<(), SyncError> {
    match outcome.error {
        None => Ok(()),
        Some((_, AddError::Store(e))) => Err(e.into()),
        Some((_, error)) if error.is_early() => Err(SyncError::Early(error.to_string())),
        Some((_, error)) => Err(SyncError::broke(
            Trouble::InvalidBlock,
            format!("{what}: {error}"),
        )),
    }
}

/// Pages of pending entries read from a peer when it comes up, at most.
const PENDING_PAGES: usize = 50;
/// Entries per page.
const PENDING_PAGE: usize = 1000;

/// Reads a peer's pending entries (oldest first, page by page) and puts the
/// valid ones in our pool; new ones are relayed on like any others.
async fn fetch_pending(net: &Arc<Net>, url: &str) -> Result<(), SyncError> {
    let timeout = net.client.timeouts().request;
    let network = net.chain.params().clone();
    let mut after = 0i64;
    for _ in 0..PENDING_PAGES {
        let request = format!("{url}v1/entries?pending&after={after}&limit={PENDING_PAGE}");
        let body = net.client.get(&request, SYNC_REPLY_CAP, timeout).await?;
        let reply: EntriesReply<PendingEntry> = serde_json::from_slice(&body).map_err(|e| {
            SyncError::down(
                Trouble::BadAnswer,
                format!("its pending entries are not ours: {e}"),
            )
        })?;
        let Some(last) = reply.entries.last() else {
            return Ok(());
        };
        after = last.seq;
        let full = reply.entries.len() >= PENDING_PAGE;
        let (rules, genesis) = (network.entry_rules(), network.genesis_hash());
        let entries: Vec<CheckedEntry> = reply
            .entries
            .iter()
            .filter_map(|p| CheckedEntry::from_json(&p.entry, rules, &genesis).ok())
            .collect();
        let source = Source::Sync {
            peer: url.to_owned(),
        };
        net.chain.submit_entries(entries, source).await?;
        if !full {
            return Ok(());
        }
    }
    Ok(())
}

/// `GET /v1/sync` with this locator: the blocks, parsed and hashed off the
/// runtime (while the previous batch is being stored).
async fn fetch_batch(
    net: &Arc<Net>,
    url: &str,
    locator: &[BlockHash],
) -> Result<Vec<CheckedBlock>, SyncError> {
    let hashes: Vec<String> = locator.iter().map(|h| h.to_string()).collect();
    let request = format!(
        "{url}v1/sync?locator={}&limit={MAX_BLOCKS_PER_REPLY}",
        hashes.join(",")
    );
    let timeout = net.client.timeouts().request;
    let body = net.client.get(&request, SYNC_REPLY_CAP, timeout).await?;
    let params = net.chain.params().clone();
    let (tip, fork_index, blocks) = tokio::task::spawn_blocking(move || {
        let reply: SyncReply<'_> = serde_json::from_slice(&body).map_err(|e| {
            SyncError::broke(
                Trouble::BadAnswer,
                format!("its /v1/sync answer is malformed: {e}"),
            )
        })?;
        let mut checker = ChainChecker::continuing(&params);
        let mut blocks = Vec::with_capacity(reply.blocks.len());
        for text in &reply.blocks {
            let block = text.to_block_and_body().map_err(|e| {
                SyncError::broke(
                    Trouble::InvalidBlock,
                    format!("it sent a malformed block: {e}"),
                )
            })?;
            let checked = checker.check(block).map_err(|e| {
                SyncError::broke(
                    Trouble::InvalidBlock,
                    format!("it sent an invalid block: {}", e.error),
                )
            })?;
            blocks.push(checked);
        }
        Ok::<_, SyncError>((reply.tip, reply.fork_index, blocks))
    })
    .await
    .map_err(NodeError::from)??;
    tracing::debug!(
        peer = url,
        fork_index = fork_index.0,
        blocks = blocks.len(),
        "sync batch received"
    );
    net.peers.set_tip(url, tip);
    Ok(blocks)
}

/// A peer without `/v1`: read its whole chain as it arrives, block by
/// block, storing what is valid (our chain state keeps the most-work tip)
/// and stopping at the first block that is not. A chain too short to have
/// as many blocks as ours is only read for the hashes of its blocks from
/// genesis, as far as each links to the one before. Either way, the
/// hashes read go to `catch_up`, which sends the original what it lacks.
async fn sync_original(net: &Arc<Net>, url: &str) -> Result<Vec<BlockHash>, SyncError> {
    let timeout = net.client.timeouts().whole_chain;
    let mut download = net
        .client
        .download(&format!("{url}blockchain.json"), WHOLE_CHAIN_CAP, timeout)
        .await?;
    net.peers.mark_original(url);
    let ours = net.chain.tip().index.0 + 1;
    let shorter = download
        .declared()
        .is_some_and(|len| len / MIN_BLOCK_JSON <= ours);
    let mut splitter = ArraySplitter::new(MAX_BLOCK_JSON);
    let malformed = |e| {
        SyncError::broke(
            Trouble::BadAnswer,
            format!("its /blockchain.json is malformed: {e}"),
        )
    };
    let mut reading = Checking {
        checker: ChainChecker::from_genesis(net.chain.params()),
        pending: Vec::new(),
        pending_bytes: 0,
        held: Vec::new(),
        hashes_only: shorter.then(|| net.chain.params().genesis_hash()),
        ended: false,
    };
    while let Some(piece) = download.next().await? {
        let objects = splitter.feed(&piece).map_err(malformed)?;
        for object in objects {
            reading.pending_bytes += object.len();
            reading.pending.push(object);
        }
        if reading.pending_bytes >= CHECK_BATCH_BYTES {
            reading = reading.check_and_store(net, url).await?;
        }
        if reading.ended {
            return Ok(reading.held);
        }
    }
    reading = reading.check_and_store(net, url).await?;
    splitter.finish().map_err(malformed)?;
    if let (Some(hash), None) = (reading.held.last(), reading.hashes_only) {
        let tip = Tip {
            index: Height(reading.held.len() as u64 - 1),
            hash: *hash,
            chain_work: reading.checker.work(),
        };
        net.peers.set_tip(url, tip);
    }
    Ok(reading.held)
}

/// An original's chain being read: the checker (where the chain stands),
/// the block objects read but not checked yet, and the hashes of the
/// blocks read so far.
struct Checking {
    checker: ChainChecker,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    held: Vec<BlockHash>,
    /// Reading only the hashes, from this genesis on, of blocks that link.
    hashes_only: Option<BlockHash>,
    /// Read as far as it is worth.
    ended: bool,
}

impl Checking {
    /// Parses and checks the pending objects off the runtime, then stores
    /// the valid ones. An invalid block ends the chain: `Broke`. Reading
    /// hashes only, a block that does not link ends it quietly.
    async fn check_and_store(mut self, net: &Arc<Net>, url: &str) -> Result<Checking, SyncError> {
        if self.pending.is_empty() {
            return Ok(self);
        }
        let objects = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let (this, checked, broken) = tokio::task::spawn_blocking(move || {
            let mut checked: Vec<CheckedBlock> = Vec::with_capacity(objects.len());
            let mut broken = None;
            for object in objects {
                let block = serde_json::from_slice::<serde_json::Value>(&object)
                    .map_err(|e| e.to_string())
                    .and_then(|value| wire::block_from_value(&value).map_err(|e| e.to_string()))
                    .map_err(|e| (true, e));
                if let Some(genesis) = self.hashes_only {
                    let links = |b: &crate::consensus::Block| match self.held.last() {
                        None => b.hash == genesis,
                        Some(last) => b.prev_hash == Some(*last),
                    };
                    match block {
                        Ok(b) if b.index.0 == self.held.len() as u64 && links(&b) => {
                            self.held.push(b.hash);
                            continue;
                        }
                        _ => {
                            self.ended = true;
                            break;
                        }
                    }
                }
                let result = block.and_then(|block| {
                    self.checker
                        .check(block)
                        .map_err(|e| (e.error.blames_sender(), e.to_string()))
                });
                match result {
                    Ok(block) => {
                        self.held.push(block.block().hash);
                        checked.push(block);
                    }
                    Err((blames, e)) => {
                        broken = Some(match blames {
                            true => SyncError::broke(
                                Trouble::InvalidBlock,
                                format!("its chain is invalid: {e}"),
                            ),
                            false => SyncError::Incomplete(e),
                        });
                        break;
                    }
                }
            }
            (self, checked, broken)
        })
        .await
        .map_err(NodeError::from)?;
        if checked.is_empty() {
            return broken.map_or(Ok(this), Err);
        }
        let source = Source::Sync {
            peer: url.to_owned(),
        };
        let outcome = net.chain.submit(checked, source, Durability::Bulk).await?;
        blame(outcome, "its chain is invalid")?;
        broken.map_or(Ok(this), Err)
    }
}

/// The heights a locator names for a tip at `tip`: the tip, the nine before
/// it, then steps doubling, always ending at genesis (0).
pub fn locator_heights(tip: u64) -> Vec<u64> {
    let mut heights = Vec::new();
    let mut height = tip;
    let mut step = 1u64;
    loop {
        heights.push(height);
        if height == 0 {
            return heights;
        }
        if heights.len() >= 10 {
            step = step.saturating_mul(2);
        }
        height = height.saturating_sub(step);
    }
}

/// Our main chain's locator.
pub fn locator(store: &impl BlockReads) -> Result<Vec<BlockHash>, StoreError> {
    let tip = store.recorded_tip()?;
    locator_heights(tip.index.0)
        .into_iter()
        .filter_map(|height| store.main_hash_at(Height(height)).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::protocol::MAX_LOCATOR;

    #[test]
    fn locators_are_dense_near_the_tip_then_sparse() {
        assert_eq!(locator_heights(0), vec![0]);
        assert_eq!(locator_heights(5), vec![5, 4, 3, 2, 1, 0]);
        let h = locator_heights(100);
        assert_eq!(&h[..10], &[100, 99, 98, 97, 96, 95, 94, 93, 92, 91]);
        assert_eq!(&h[10..], &[89, 85, 77, 61, 29, 0]);
        for tip in [1_000_000u64, u64::MAX] {
            let h = locator_heights(tip);
            assert_eq!(*h.last().unwrap(), 0);
            assert!(h.len() <= MAX_LOCATOR, "{}", h.len());
            assert!(h.windows(2).all(|w| w[0] > w[1]));
        }
    }
}
