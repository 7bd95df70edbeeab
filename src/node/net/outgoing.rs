//! A block on its way out to peers (`relay`): the forms it is sent in,
//! each made once however many peers get it. The compact form's salt is
//! this node's own, drawn per block, so whoever mined the block cannot
//! have chosen entries whose short ids collide with others'.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use crate::consensus::BlockAndBody;
use crate::wire;
use crate::wire::compact::{CompactBlock, Salt};

/// A block on its way out, each of its forms made once for all peers.
#[derive(Debug)]
pub struct OutgoingBlock {
    pub block: Arc<BlockAndBody>,
    compact: OnceLock<(CompactBlock, Vec<u8>)>,
    full: OnceLock<Vec<u8>>,
}

impl OutgoingBlock {
    pub fn new(block: Arc<BlockAndBody>) -> OutgoingBlock {
        OutgoingBlock {
            block,
            compact: OnceLock::new(),
            full: OnceLock::new(),
        }
    }

    /// The block and body as `/v1/blocks` takes them.
    pub fn full(&self) -> &[u8] {
        self.full
            .get_or_init(|| wire::block_and_body_to_json(&self.block))
    }

    /// The compact form under a salt of this node's (unknown to whoever
    /// mined the block: nobody can craft entries to collide with others).
    pub fn compact(&self) -> &(CompactBlock, Vec<u8>) {
        self.compact.get_or_init(|| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write(self.block.block.hash.as_bytes());
            let salt = Salt(hasher.finish().to_le_bytes());
            let compact = CompactBlock::of(&self.block, salt);
            let json = compact.to_json();
            (compact, json)
        })
    }
}
