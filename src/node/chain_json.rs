//! The body of `GET /blockchain.json`, kept ready. Serving the whole chain
//! is the original's only way to sync, so it is asked for often; building
//! it means reading and printing every block. This cache keeps the printed
//! chain and, when the tip has only moved forward, prints just the new
//! blocks. A reorg rebuilds it. Chains whose JSON passes `MAX_CACHED` are
//! not cached (memory stays flat); they are streamed from the store, and
//! the length that passed it is remembered, so that a request for a long
//! chain costs nothing here (printing 32 MiB to learn it again took a
//! blocking thread 55 ms a request, and a flood of requests from one
//! address stopped every other read of the store for minutes).

use std::ops::ControlFlow;
use std::sync::Mutex;

use axum::body::Bytes;

use crate::consensus::{BlockHash, Height};
use crate::store::{BlockReads, StoreError, StoreReader};
use crate::wire::Numbers;

use super::lock;

/// Largest body kept in memory (it is held twice: the growing buffer and
/// the last finished body handed to requests).
pub const MAX_CACHED: usize = 32 * 1024 * 1024;

#[derive(Default)]
pub struct ChainJson {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// A main chain of this many blocks passed `MAX_CACHED`: one as long
    /// or longer is streamed without another try.
    too_long: Option<u64>,
}

struct Cached {
    /// `[` and the blocks so far, joined by `, `; no closing bracket.
    open: Vec<u8>,
    /// The hash of each block in `open`, by index.
    hashes: Vec<BlockHash>,
    /// `open` + `]` for the tip it was made for.
    finished: Bytes,
}

impl ChainJson {
    /// The whole main chain as the original's JSON, if it is small enough
    /// to cache; `None` means "stream it".
    pub fn body(&self, reader: &StoreReader) -> Result<Option<Bytes>, StoreError> {
        reader.snapshot(|reader| {
            let tip = reader.tip()?;
            let mut state = lock(&self.state);
            if state
                .too_long
                .is_some_and(|blocks| tip.index.0 + 1 >= blocks)
            {
                return Ok(None);
            }
            if let Some(cached) = state.cached.as_ref()
                && cached.hashes.last() == Some(&tip.hash)
            {
                return Ok(Some(cached.finished.clone()));
            }
            // Keep what is still on the main chain, print the rest.
            let mut cached = state.cached.take().unwrap_or_else(|| Cached {
                open: b"[".to_vec(),
                hashes: Vec::new(),
                finished: Bytes::new(),
            });
            if let Some(last) = cached.hashes.last()
                && reader.main_hash_at(Height(cached.hashes.len() as u64 - 1))? != Some(*last)
            {
                cached.open.truncate(1);
                cached.hashes.clear();
            }
            let mut too_big = false;
            reader.for_each_main_text(Height(cached.hashes.len() as u64), |block| {
                let hash = block
                    .hash
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("stored hash: {e}")))?;
                cached.hashes.push(hash);
                if cached.hashes.len() > 1 {
                    cached.open.extend_from_slice(b", ");
                }
                block.write_json(Numbers::AsStrings, &mut cached.open);
                too_big = cached.open.len() > MAX_CACHED;
                Ok::<_, StoreError>(if too_big {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
            if too_big {
                state.too_long = Some(cached.hashes.len() as u64);
                return Ok(None);
            }
            cached.finished = Bytes::from([&cached.open[..], b"]"].concat());
            Ok(Some(state.cached.insert(cached).finished.clone()))
        })
    }
}
