//! `Block`: the original's six fields, and the canonical header string whose
//! SHA-256 is the block's hash.
//!
//! The header string is `index + prev_hash + data + timestamp + nonce`, with
//! no separators and every number in canonical decimal (no sign, no leading
//! zeros). The hash is always computed from that string, never from any JSON
//! form. This module does not decide whether a block is valid (`validate`
//! does) and does not parse JSON (`crate::wire` does).

use std::fmt;

use sha2::{Digest, Sha256};

use super::hash::BlockHash;

/// A block's position in its chain; the original calls it `index`. Genesis is 0.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

/// The original's timestamp: an opaque non-negative integer. It is either unix
/// seconds or a 20-digit `YYYYmmddHHMMSSffffff` reading, which does not fit in
/// 64 bits, hence `u128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u128);

/// The number a miner varies until the hash meets the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nonce(pub u64);

impl Height {
    pub fn next(self) -> Height {
        Height(self.0.saturating_add(1))
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A block as it arrives or is stored: six fields, not yet known to be valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub index: Height,
    pub timestamp: Timestamp,
    pub data: String,
    /// `None` only for a genesis block (the original writes `""`).
    pub prev_hash: Option<BlockHash>,
    pub nonce: Nonce,
    /// The hash the block claims; `validate` checks it against `compute_hash`.
    pub hash: BlockHash,
}

impl Block {
    /// Builds a block and fills in its hash from the header (no mining: the
    /// result meets a target only if the nonce happens to be right).
    pub fn with_computed_hash(
        index: Height,
        prev_hash: Option<BlockHash>,
        data: String,
        timestamp: Timestamp,
        nonce: Nonce,
    ) -> Block {
        let mut block = Block {
            index,
            timestamp,
            data,
            prev_hash,
            nonce,
            hash: BlockHash::from_bytes([0; 32]),
        };
        block.hash = block.compute_hash();
        block
    }

    /// SHA-256 of the canonical header string.
    pub fn compute_hash(&self) -> BlockHash {
        let mut hasher = Sha256::new();
        let mut digits = DecimalBuf::new();
        hasher.update(digits.format(u128::from(self.index.0)));
        if let Some(prev) = &self.prev_hash {
            hasher.update(prev.hex_digits());
        }
        hasher.update(self.data.as_bytes());
        hasher.update(digits.format(self.timestamp.0));
        hasher.update(digits.format(u128::from(self.nonce.0)));
        BlockHash::from_bytes(hasher.finalize().into())
    }

    /// The canonical header string, whole (for display and tests).
    pub fn header_string(&self) -> String {
        let mut text = header_prefix(
            self.index,
            self.prev_hash.as_ref(),
            &self.data,
            self.timestamp,
        );
        text.extend_from_slice(self.nonce.0.to_string().as_bytes());
        String::from_utf8(text)
            .expect("every part is UTF-8: digits, hex, and `data`, which is a String")
    }
}

/// The header string up to (not including) the nonce: what a miner keeps
/// constant while it tries nonces.
pub fn header_prefix(
    index: Height,
    prev_hash: Option<&BlockHash>,
    data: &str,
    timestamp: Timestamp,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 64 + data.len() + 40);
    let mut digits = DecimalBuf::new();
    out.extend_from_slice(digits.format(u128::from(index.0)));
    if let Some(prev) = prev_hash {
        out.extend_from_slice(&prev.hex_digits());
    }
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(digits.format(timestamp.0));
    out
}

/// Canonical decimal text of an integer without allocating.
struct DecimalBuf([u8; 39]);

impl DecimalBuf {
    fn new() -> DecimalBuf {
        DecimalBuf([0; 39])
    }

    fn format(&mut self, mut n: u128) -> &[u8] {
        let mut pos = self.0.len();
        loop {
            pos -= 1;
            self.0[pos] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &self.0[pos..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_vectors::seed_blocks;

    fn seed_block_one() -> Block {
        seed_blocks().swap_remove(1)
    }

    #[test]
    fn header_string_is_the_plain_concatenation() {
        let block = seed_block_one();
        assert_eq!(
            block.header_string(),
            "1000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03cI block #115088953861225518"
        );
    }

    #[test]
    fn hash_of_seed_block_matches_the_original() {
        let block = seed_block_one();
        assert_eq!(block.compute_hash(), block.hash);
        assert_eq!(BlockHash::of(block.header_string().as_bytes()), block.hash);
    }

    #[test]
    fn decimal_formatting_extremes() {
        let mut buf = DecimalBuf::new();
        assert_eq!(buf.format(0), b"0");
        assert_eq!(buf.format(u128::MAX), u128::MAX.to_string().as_bytes());
        assert_eq!(buf.format(20171025134501123456), b"20171025134501123456");
    }

    #[test]
    fn genesis_header_has_no_prev_hash() {
        let genesis = Block::with_computed_hash(
            Height(0),
            None,
            "First block data".into(),
            Timestamp(1508895381),
            Nonce(631412),
        );
        assert_eq!(genesis.header_string(), "0First block data1508895381631412");
        assert_eq!(
            genesis.hash.to_string(),
            "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c"
        );
    }
}
