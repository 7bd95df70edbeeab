//! Every assertion of the seed article's `test.py`, on our types.
// The negated comparisons are test.py's own assertions, kept as written.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::nonminimal_bool)]

mod common;

use common::seed_blocks;
use jbc::consensus::validate::check_block;
use jbc::consensus::{Block, Chain, Network};

fn is_valid(block: &Block) -> bool {
    check_block(block, &Network::seed().easiest_target()).is_ok()
}

#[test]
fn blocks_are_valid_and_equal_to_their_copies() {
    let blocks = seed_blocks();
    let (block_zero, block_one, block_two, block_three) =
        (&blocks[0], &blocks[1], &blocks[2], &blocks[3]);
    // As test.py does, "another" block is built anew from the same values
    // (here: parsed again from the fixture), not copied.
    let another = seed_blocks();
    let another_block_zero = another[0].clone();
    assert!(is_valid(block_zero));
    assert!(*block_zero == another_block_zero);
    assert!(!(*block_zero != another_block_zero));

    let another_block_one = another[1].clone();
    assert!(is_valid(block_one));
    assert!(*block_one == another_block_one);
    assert!(!(*block_one != another_block_one));

    assert!(is_valid(block_two));
    assert!(is_valid(block_three));
    assert!(block_zero != block_one);
}

#[test]
fn an_invalid_prev_hash_makes_the_block_invalid() {
    let mut block_one_invalid = seed_blocks()[1].clone();
    block_one_invalid.prev_hash = Some(
        "00000c575050241e0a4df1acd7e6fb90cc1f599e2cc2908ec8225e10915006cc"
            .parse()
            .unwrap(),
    );
    assert!(!is_valid(&block_one_invalid));
    let chain = Chain::new(vec![seed_blocks()[0].clone(), block_one_invalid]);
    assert!(chain.validate(&Network::seed()).is_err());
}

#[test]
fn a_wrong_nonce_makes_the_block_invalid() {
    let mut block_one_bad_nonce = seed_blocks()[1].clone();
    block_one_bad_nonce.nonce.0 = 1225517;
    assert!(!is_valid(&block_one_bad_nonce));
}

#[test]
fn chains_validate_and_count_their_blocks() {
    let blocks = seed_blocks();
    let blockchain = Chain::new(blocks[..3].to_vec());
    assert!(blockchain.validate(&Network::seed()).is_ok());
    assert_eq!(blockchain.len(), 3);

    let mut empty_chain = Chain::new(vec![]);
    assert_eq!(empty_chain.len(), 0);
    empty_chain.add_block(blocks[0].clone());
    assert_eq!(empty_chain.len(), 1);
    // A new empty chain shares nothing with the one just filled.
    let new_empty_chain = Chain::new(vec![]);
    assert_eq!(new_empty_chain.len(), 0);
    assert_eq!(empty_chain.len(), 1);
    let empty_chain = new_empty_chain;
    // An empty chain is not a valid chain: it lacks the genesis block.
    assert!(empty_chain.validate(&Network::seed()).is_err());
}

#[test]
fn chains_compare_by_length_of_valid_work() {
    let blocks = seed_blocks();
    let mut blockchain = Chain::new(blocks[..3].to_vec());
    let another_blockchain = Chain::new(blocks[..3].to_vec());
    assert!(blockchain == another_blockchain);
    assert!(!(blockchain != another_blockchain));
    assert!(blockchain <= another_blockchain);
    assert!(blockchain >= another_blockchain);
    assert!(!(blockchain > another_blockchain));
    assert!(!(another_blockchain < blockchain));

    blockchain.add_block(blocks[3].clone());
    assert!(blockchain.validate(&Network::seed()).is_ok());
    assert_eq!(blockchain.len(), 4);
    assert!(!(blockchain == another_blockchain));
    assert!(blockchain != another_blockchain);
    assert!(!(blockchain <= another_blockchain));
    assert!(blockchain >= another_blockchain);
    assert!(blockchain > another_blockchain);
    assert!(another_blockchain < blockchain);
}

#[test]
fn competing_chains_of_equal_work_are_not_ordered() {
    // 0-1-2-3 and 0-1-2-3b: both valid, same work; neither is better, so
    // a node keeps the one it saw first.
    let blocks = seed_blocks();
    let chain_a = Chain::new(blocks[..4].to_vec());
    let chain_b = Chain::new([&blocks[..3], &blocks[4..]].concat());
    assert!(chain_b.validate(&Network::seed()).is_ok());
    assert_eq!(
        chain_a.work(&Network::seed()),
        chain_b.work(&Network::seed())
    );
    assert!(!(chain_a > chain_b) && !(chain_a < chain_b) && !(chain_a >= chain_b));
    assert!(chain_a != chain_b);
}
