//! The seed article's five blocks (0, 1, 2, 3 and the competing 3b), as
//! values, for unit tests. `tests/fixtures/seed_vectors.json` holds the same
//! blocks in the original's JSON form; a wire test checks the two agree.

use super::block::{Block, Height, Nonce, Timestamp};
use super::hash::BlockHash;

/// Blocks 0, 1, 2, 3 and 3b (index 4 in the returned vector), each after
/// the block of the index before its own.
pub fn seed_blocks() -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for (index, timestamp, data, nonce, hash) in [
        (
            0usize,
            1508895381,
            "First block data",
            631412,
            "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c",
        ),
        (
            1,
            1508895386,
            "I block #1",
            1225518,
            "00000c575050241e0a4df1acd7e6fb90cc1f599e2cc2908ec8225e10915006cc",
        ),
        (
            2,
            1508895393,
            "I block #2",
            1315081,
            "000003cf81f6b17e60ef1e3d8d24793450aecaf65cbe95086a29c1e48a5043b1",
        ),
        (
            3,
            1508895777,
            "I block #3",
            24959,
            "00000221653e89d7b04704d4690abcf83fdb144106bb0453683c8183253fabad",
        ),
        (
            3,
            1508961173,
            "I block #3",
            46053,
            "000000257df186344486c2c3c1ebaa159e812ca1c5c29947651672e2588efe1e",
        ),
    ] {
        let prev_hash = index.checked_sub(1).map(|i| blocks[i].hash);
        blocks.push(Block {
            index: Height(index as u64),
            timestamp: Timestamp(timestamp),
            data: data.to_owned(),
            prev_hash,
            nonce: Nonce(nonce),
            hash: hash.parse::<BlockHash>().expect("seed vector hash"),
        });
    }
    blocks
}
