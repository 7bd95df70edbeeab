//! Original peers kept caught up. An original node never syncs after its
//! start, and it takes each `POST /mined` as one job under a fixed name,
//! so a block that arrives while the one before is still queued is
//! dropped: relay alone leaves it behind, or with a hole it never fills.
//! So after each read of an original's chain (`sync`), when it holds
//! fewer blocks of our main chain than we have, we post the ones it lacks,
//! in order, one at a time with a pause between (`GAP`), at most `BATCH`
//! a round. The next round reads its chain again and goes on from where it
//! stands, sending again what it dropped. An original overwrites whatever
//! block it holds at a height, so one on a losing branch is brought onto
//! ours the same way.

use std::sync::Arc;
use std::time::Duration;

use crate::consensus::{BlockHash, Height};
use crate::store::{BlockReads, StoreError};

use super::handle::Net;
use super::relay;

/// Blocks posted to one original in one round, at most.
const BATCH: usize = 32;
/// The pause between two posts (and before the original's chain is read
/// again): an original's job takes a few milliseconds; a post arriving
/// sooner may be dropped.
pub const GAP: Duration = Duration::from_millis(150);

/// Where catching up one original stands, from round to round.
#[derive(Clone, Copy, Debug, Default)]
pub struct CatchUp {
    /// Blocks from genesis it shared with our main chain at the last read.
    shared: u64,
    /// Blocks sent in this round, and whether the round before sent any.
    sent: usize,
    sent_last: bool,
    /// Rounds in a row that sent blocks and saw none of them taken.
    stalled: u32,
}

/// Rounds without progress after which an original is read at the usual
/// pace again (and sent one block a round).
const STALLED_ROUNDS: u32 = 3;

impl CatchUp {
    /// Called as a round starts, with an original or not.
    pub fn new_round(&mut self) {
        self.sent_last = self.sent > 0;
        self.sent = 0;
    }

    /// True when the round just run sent blocks and the original is still
    /// taking them: read it again soon (after `GAP`) to send the rest.
    pub fn again_soon(&self) -> bool {
        self.sent > 0 && self.stalled < STALLED_ROUNDS
    }
}

/// Posts to the original at `url` the blocks of our main chain after the
/// ones it holds. `held` is its chain as read: the hashes of its blocks
/// from genesis, each linking to the one before. An original that took
/// none of what the last round sent (it refuses our blocks, or forgot
/// them) is sent only the next block it lacks, not a whole batch again.
pub async fn run(net: &Arc<Net>, url: &str, held: Vec<BlockHash>, state: &mut CatchUp) {
    let tip = net.chain.tip();
    if held.get(tip.index.0 as usize) == Some(&tip.hash) {
        *state = CatchUp::default();
        return;
    }
    let (before, stalled) = (state.shared, state.stalled);
    let read = net
        .chain
        .read(move |store| {
            let shared = shared_prefix(store, &held)?;
            if shared == 0 {
                return Ok((0, Vec::new())); // another genesis: not ours to fix
            }
            let batch = if shared > before || stalled == 0 {
                BATCH
            } else {
                1
            };
            Ok((shared, store.main_blocks(Height(shared), batch)?))
        })
        .await;
    let (shared, blocks) = match read {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(peer = %url, "cannot read the blocks an original lacks: {e}");
            return;
        }
    };
    let sent_before = state.sent_last;
    if shared > before {
        state.stalled = 0;
    } else if sent_before {
        state.stalled += 1;
    }
    state.shared = shared;
    if let Some(first) = blocks.first() {
        tracing::info!(
            peer = %url,
            from = first.index.0,
            blocks = blocks.len(),
            "sending an original peer the blocks it lacks"
        );
    }
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            tokio::select! {
                _ = tokio::time::sleep(GAP) => {}
                _ = net.shutdown.wait() => return,
            }
        }
        state.sent += 1;
        match relay::resend_to_original(net, url, block).await {
            // An original answers anything it takes, or drops, with 200;
            // another answer means it refused this block, and the ones
            // after it would not link either: the next round goes on.
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => {
                tracing::debug!(peer = %url, status, "an original refused a block it lacked");
                return;
            }
            Err(e) => {
                tracing::debug!(peer = %url, "catching up an original failed: {e}");
                return;
            }
        }
    }
}

/// How many blocks from genesis `held` shares with our main chain. Both
/// are hash chains, so once they differ they differ for good: a binary
/// search, a few reads.
fn shared_prefix(store: &impl BlockReads, held: &[BlockHash]) -> Result<u64, StoreError> {
    let ours = |i: usize| -> Result<bool, StoreError> {
        Ok(store.main_hash_at(Height(i as u64))? == Some(held[i]))
    };
    // Invariant: held[..low] is ours, held[high..] is not.
    let (mut low, mut high) = (0usize, held.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if ours(mid)? {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(low as u64)
}
