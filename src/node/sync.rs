//! Sync: learn what peers have and fetch only what we lack.
//!
//! A round asks every peer at once (each with its own timeouts, so a dead or
//! slow peer delays nobody) and runs at startup, every few seconds, and
//! whenever a block arrives whose parent we lack. With a jbc peer it costs
//! one small status request when nothing is new; when the peer has more
//! work we send a block locator (our tip, ten blocks back one by one, then
//! doubling steps down to genesis) and get back only the blocks after the
//! last one we share, in batches, fetching the next batch while the current
//! one is stored. A peer that speaks only the original protocol has no such
//! thing: we read its whole `/blockchain.json` and adopt it if it has more
//! work. A peer that sends an invalid block is ignored for a while.

use std::sync::Arc;

use futures_util::future::join_all;

use crate::chain::AddError;
use crate::consensus::{Block, BlockHash, Height};
use crate::store::{BlockReads, Durability};
use crate::wire;

use super::client::PeerError;
use super::peers::PeerKind;
use super::protocol::{MAX_BLOCKS_PER_REPLY, StatusSummary, SyncReply};
use super::state::{NodeError, Shared, Source};

/// Caps on what we read from a peer.
const STATUS_CAP: usize = 1024 * 1024;
const SYNC_REPLY_CAP: usize = 40 * 1024 * 1024;
const WHOLE_CHAIN_CAP: usize = 512 * 1024 * 1024;
/// Syncs of at least this many blocks report progress.
const PROGRESS_FROM: u64 = 10_000;
/// Blocks stored per transaction when adopting an original peer's chain.
const ADOPT_BATCH: usize = 2000;

/// How a sync with one peer went wrong, and so whom to blame.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// Unreachable, slow, or answering nonsense: the peer is down.
    #[error("{0}")]
    Down(String),
    /// It sent an invalid block or chain: ignore it for a while.
    #[error("{0}")]
    Broke(String),
    /// Our side failed (the store).
    #[error("{0}")]
    Node(#[from] NodeError),
}

impl From<PeerError> for SyncError {
    fn from(e: PeerError) -> SyncError {
        SyncError::Down(e.to_string())
    }
}

/// Runs a sync round every `sync_interval`, or sooner when asked, until
/// shutdown. (The startup round runs before this.)
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.watch_shutdown();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.sync_interval) => {}
            _ = shared.sync_wanted.notified() => {}
            _ = shutdown.changed() => break,
        }
        round(&shared).await;
    }
}

/// One round: every peer, concurrently.
pub async fn round(shared: &Arc<Shared>) {
    shared
        .syncing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    shared.metrics.inc("jbc_sync_rounds_total", &[]);
    let urls = shared.peers.urls();
    join_all(urls.into_iter().map(|url| sync_peer(shared, url))).await;
    shared
        .syncing
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

async fn sync_peer(shared: &Arc<Shared>, url: String) {
    let now = std::time::Instant::now();
    let Some((kind, ignored)) = shared.peers.with(&url, |p| (p.kind, p.is_ignored(now))) else {
        return;
    };
    if kind == PeerKind::Myself || ignored {
        return;
    }
    let result = match kind {
        PeerKind::Original => sync_original(shared, &url).await,
        _ => sync_jbc(shared, &url).await,
    };
    match result {
        Ok(()) => {
            if shared.peers.mark_up(&url) {
                let kind = shared
                    .peers
                    .with(&url, |p| p.kind)
                    .unwrap_or(PeerKind::Unknown);
                let detail = match kind {
                    PeerKind::Original => "speaks the original protocol",
                    PeerKind::Myself => "is this node",
                    _ => "jbc",
                };
                shared.events.peer_changed(&url, "up", detail);
            }
        }
        Err(SyncError::Down(reason)) => {
            if shared.peers.mark_down(&url, reason.clone()) {
                shared.events.peer_changed(&url, "down", &reason);
            }
        }
        Err(SyncError::Broke(reason)) => {
            let period = shared.config.ignore_period;
            shared.peers.ignore(&url, period, reason.clone());
            shared.events.peer_changed(
                &url,
                "ignored",
                &format!("{reason}; ignoring it for {} s", period.as_secs()),
            );
        }
        Err(SyncError::Node(e)) => tracing::error!(peer = %url, "sync failed on our side: {e}"),
    }
}

async fn sync_jbc(shared: &Arc<Shared>, url: &str) -> Result<(), SyncError> {
    let timeouts = shared.client.timeouts();
    let status = match shared
        .client
        .get(&format!("{url}v1/status"), STATUS_CAP, timeouts.request)
        .await
    {
        Err(PeerError::Status { status: 404, .. }) => {
            shared.peers.with(url, |p| p.kind = PeerKind::Original);
            return sync_original(shared, url).await;
        }
        other => other?,
    };
    let status: StatusSummary = serde_json::from_slice(&status)
        .map_err(|e| SyncError::Down(format!("its /v1/status is not ours: {e}")))?;
    if status.node_id == shared.node_id {
        shared.peers.with(url, |p| {
            p.kind = PeerKind::Myself;
            p.node_id = Some(status.node_id.clone());
        });
        tracing::info!(
            peer = url,
            "this peer URL leads back to this node; it will not be used"
        );
        return Ok(());
    }
    let params = shared.params();
    if status.network.genesis_hash != params.genesis_hash().to_string()
        || status.network.difficulty != params.difficulty().zeros()
    {
        return Err(SyncError::Broke(format!(
            "it is on another network (genesis {}, difficulty {})",
            status.network.genesis_hash, status.network.difficulty
        )));
    }
    let peer_tip = status
        .tip
        .parse()
        .map_err(|e| SyncError::Down(format!("bad tip in its status: {e}")))?;
    shared.peers.with(url, |p| {
        p.kind = PeerKind::Jbc;
        p.node_id = Some(status.node_id.clone());
        p.tip = Some(peer_tip);
    });
    if peer_tip.chain_work <= shared.tip().chain_work {
        return Ok(());
    }

    tracing::info!(
        peer = url,
        their_tip = peer_tip.index.0,
        our_tip = shared.tip().index.0,
        "peer has more work; syncing"
    );
    let locator = shared.read(locator).await?;
    let mut batch = fetch_batch(shared, url, &locator).await?;
    let mut fetched = 0usize;
    let start_index = shared.tip().index.0;
    let expected = peer_tip.index.0.saturating_sub(start_index);
    let progress = shared
        .config
        .sync_progress
        .clone()
        .filter(|_| expected >= PROGRESS_FROM);
    while !batch.is_empty() {
        fetched += batch.len();
        let full = batch.len() >= MAX_BLOCKS_PER_REPLY;
        let next_locator = batch.last().map(|b| vec![b.hash]).unwrap_or_default();
        // Store this batch while the next one is on its way.
        let (stored, next) = tokio::join!(
            shared.submit(
                batch,
                Source::Sync {
                    peer: url.to_owned()
                },
                Durability::Bulk
            ),
            async {
                if full {
                    Some(fetch_batch(shared, url, &next_locator).await)
                } else {
                    None
                }
            }
        );
        let outcome = stored?;
        shared.metrics.add(
            "jbc_sync_blocks_total",
            &[],
            (outcome.added + outcome.already_known) as f64,
        );
        match outcome.error {
            None => {}
            Some((_, AddError::Store(e))) => return Err(NodeError::Store(e).into()),
            Some((_, error)) => {
                return Err(SyncError::Broke(format!(
                    "it sent an invalid block: {error}"
                )));
            }
        }
        if let Some(progress) = &progress {
            let done = shared.tip().index.0.saturating_sub(start_index);
            progress(done.min(expected), expected);
        }
        batch = match next {
            Some(next) => next?,
            None => Vec::new(),
        };
    }
    tracing::info!(
        peer = url,
        blocks = fetched,
        tip = shared.tip().index.0,
        "sync with peer done"
    );
    Ok(())
}

/// `GET /v1/sync` with this locator; the blocks, parsed off the runtime.
async fn fetch_batch(
    shared: &Arc<Shared>,
    url: &str,
    locator: &[BlockHash],
) -> Result<Vec<Block>, SyncError> {
    let hashes: Vec<String> = locator.iter().map(|h| h.to_string()).collect();
    let request = format!(
        "{url}v1/sync?locator={}&limit={MAX_BLOCKS_PER_REPLY}",
        hashes.join(",")
    );
    let body = shared
        .client
        .get(&request, SYNC_REPLY_CAP, shared.client.timeouts().request)
        .await?;
    let (tip, fork_index, blocks) = tokio::task::spawn_blocking(move || {
        let reply: SyncReply = serde_json::from_slice(&body)
            .map_err(|e| SyncError::Broke(format!("its /v1/sync answer is malformed: {e}")))?;
        let blocks = reply
            .blocks
            .iter()
            .map(wire::block_from_text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SyncError::Broke(format!("it sent a malformed block: {e}")))?;
        Ok::<_, SyncError>((reply.tip, reply.fork_index, blocks))
    })
    .await
    .map_err(|e| SyncError::Node(NodeError::Task(e.to_string())))??;
    tracing::debug!(
        peer = url,
        fork_index,
        blocks = blocks.len(),
        "sync batch received"
    );
    if let Ok(tip) = tip.parse() {
        shared.peers.with(url, |p| p.tip = Some(tip));
    }
    Ok(blocks)
}

/// A peer without `/v1`: read its whole chain, adopt it if it has more work.
async fn sync_original(shared: &Arc<Shared>, url: &str) -> Result<(), SyncError> {
    let timeouts = shared.client.timeouts();
    let body = shared
        .client
        .get(
            &format!("{url}blockchain.json"),
            WHOLE_CHAIN_CAP,
            timeouts.whole_chain,
        )
        .await?;
    shared.peers.with(url, |p| p.kind = PeerKind::Original);
    let blocks = tokio::task::spawn_blocking(move || wire::chain_from_slice(&body))
        .await
        .map_err(|e| SyncError::Node(NodeError::Task(e.to_string())))?
        .map_err(|e| SyncError::Broke(format!("its /blockchain.json is malformed: {e}")))?;
    let params = shared.params();
    let Some(first) = blocks.first() else {
        return Ok(());
    };
    if first.hash != params.genesis_hash() {
        return Err(SyncError::Broke(format!(
            "its chain starts with another genesis block, {}",
            first.hash
        )));
    }
    let work = params.block_work().times(blocks.len() as u64);
    if let Some(last) = blocks.last() {
        shared.peers.with(url, |p| {
            p.tip = Some(super::peers::PeerTip {
                index: last.index,
                hash: last.hash,
                chain_work: work,
            })
        });
    }
    if work <= shared.tip().chain_work {
        return Ok(());
    }
    tracing::info!(
        peer = url,
        blocks = blocks.len(),
        "an original peer has a longer chain; adopting it"
    );
    let mut blocks = blocks;
    while !blocks.is_empty() {
        let rest = blocks.split_off(blocks.len().min(ADOPT_BATCH));
        let outcome = shared
            .submit(
                blocks,
                Source::Sync {
                    peer: url.to_owned(),
                },
                Durability::Bulk,
            )
            .await?;
        match outcome.error {
            None => {}
            Some((_, AddError::Store(e))) => return Err(NodeError::Store(e).into()),
            Some((_, error)) => {
                return Err(SyncError::Broke(format!("its chain is invalid: {error}")));
            }
        }
        blocks = rest;
    }
    Ok(())
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
pub fn locator(store: &impl BlockReads) -> Result<Vec<BlockHash>, crate::store::StoreError> {
    let tip = store.recorded_tip()?;
    let mut hashes = Vec::new();
    for height in locator_heights(tip.index.0) {
        if let Some(hash) = store.main_hash_at(Height(height))? {
            hashes.push(hash);
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(
                h.len() <= super::super::protocol::MAX_LOCATOR,
                "{}",
                h.len()
            );
            assert!(h.windows(2).all(|w| w[0] > w[1]));
        }
    }
}
