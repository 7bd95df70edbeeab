//! Property tests of the consensus core: one-field mutations are rejected
//! with the matching error, the JSON round trip is the identity, and the
//! hash depends on the canonical fields only.

mod common;

use jbc::consensus::validate::{ValidationError, check_block, check_link};
use jbc::consensus::{Block, BlockHash, Difficulty, Height, Nonce, Target, Timestamp};
use jbc::miner::Job;
use proptest::prelude::*;

fn target() -> Target {
    // 2 zeros: quick to mine (256 tries), and a random hash passes only
    // once in 256, so recomputed hashes fail as they should.
    Difficulty::new(2).unwrap().target()
}

fn mine(index: u64, prev: Option<BlockHash>, data: String, timestamp: u128) -> Block {
    common::chains::mine_here(&Job {
        index: Height(index),
        prev_hash: prev,
        data,
        timestamp: Timestamp(timestamp),
        target: target(),
    })
}

prop_compose! {
    /// A parent and a valid child of it.
    fn parent_and_child()(
        index in 1u64..1_000_000,
        parent_data in ".{0,40}",
        data in ".{0,80}",
        timestamp in prop_oneof![0u128..2_000_000_000, 10_000_000_000_000_000_000u128..99_999_999_999_999_999_999],
    ) -> (Block, Block) {
        let grandparent = BlockHash::from_bytes([0x11; 32]);
        let parent = mine(index - 1, (index > 1).then_some(grandparent), parent_data, timestamp);
        let child = mine(index, Some(parent.hash), data, timestamp + 5);
        (parent, child)
    }
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Index,
    Timestamp,
    Data,
    PrevHash,
    Nonce,
    Hash,
}

fn any_field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Index),
        Just(Field::Timestamp),
        Just(Field::Data),
        Just(Field::PrevHash),
        Just(Field::Nonce),
        Just(Field::Hash),
    ]
}

/// Changes one field to a different value of the same shape.
fn mutate(block: &Block, field: Field, salt: u64) -> Block {
    let mut out = block.clone();
    let bump = salt.max(1);
    match field {
        Field::Index => out.index = Height(block.index.0 + bump),
        Field::Timestamp => out.timestamp = Timestamp(block.timestamp.0 ^ u128::from(bump)),
        Field::Data => out.data.push_str(&bump.to_string()),
        Field::PrevHash => {
            let mut bytes = *block.prev_hash.unwrap().as_bytes();
            bytes[31] ^= (bump as u8) | 1;
            out.prev_hash = Some(BlockHash::from_bytes(bytes));
        }
        Field::Nonce => out.nonce = Nonce(block.nonce.0 ^ bump),
        Field::Hash => {
            let mut bytes = *block.hash.as_bytes();
            bytes[31] ^= (bump as u8) | 1;
            out.hash = BlockHash::from_bytes(bytes);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_one_field_mutation_breaks_the_stated_hash((_parent, child) in parent_and_child(), field in any_field(), salt in 1u64..1000) {
        prop_assert!(check_block(&child, &target()).is_ok());
        let mutated = mutate(&child, field, salt);
        prop_assert_ne!(&mutated, &child);
        let err = check_block(&mutated, &target()).unwrap_err();
        prop_assert!(matches!(err, ValidationError::HashMismatch { .. }), "{:?}: {}", field, err);
    }

    #[test]
    fn a_mutation_with_its_hash_recomputed_lacks_the_work((_parent, child) in parent_and_child(), field in prop_oneof![Just(Field::Index), Just(Field::Timestamp), Just(Field::Data), Just(Field::PrevHash), Just(Field::Nonce)], salt in 1u64..1000) {
        let mut mutated = mutate(&child, field, salt);
        mutated.hash = mutated.compute_hash();
        // One hash in 256 meets 2 zeros by luck; then the block is simply valid.
        prop_assume!(!target().is_met_by(&mutated.hash));
        let err = check_block(&mutated, &target()).unwrap_err();
        prop_assert!(matches!(err, ValidationError::InsufficientWork { .. }), "{:?}: {}", field, err);
    }

    #[test]
    fn a_remined_mutation_fails_against_its_parent((parent, child) in parent_and_child(), salt in 1u64..1000, index_not_prev in any::<bool>()) {
        prop_assert!(check_link(&child, (&parent).into()).is_ok());
        let field = if index_not_prev { Field::Index } else { Field::PrevHash };
        let shape = mutate(&child, field, salt);
        let remined = mine(shape.index.0, shape.prev_hash, shape.data.clone(), shape.timestamp.0);
        prop_assert!(check_block(&remined, &target()).is_ok());
        let err = check_link(&remined, (&parent).into()).unwrap_err();
        if index_not_prev {
            prop_assert!(matches!(err, ValidationError::WrongIndex { .. }), "{}", err);
        } else {
            prop_assert!(matches!(err, ValidationError::WrongPrevHash { .. }), "{}", err);
        }
    }

    #[test]
    fn json_round_trip_is_the_identity(
        index in any::<u64>(),
        timestamp in any::<u128>(),
        nonce in any::<u64>(),
        data in any::<String>(),
        prev in proptest::option::of(any::<[u8; 32]>()),
        hash in any::<[u8; 32]>(),
    ) {
        let block = Block {
            index: Height(index),
            timestamp: Timestamp(timestamp),
            data,
            prev_hash: prev.map(BlockHash::from_bytes),
            nonce: Nonce(nonce),
            hash: BlockHash::from_bytes(hash),
        };
        let json = jbc::wire::block_to_json(&block);
        prop_assert_eq!(jbc::wire::block_from_slice(&json).unwrap(), block.clone());
        // The original's string form: every value a string.
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        for (key, v) in value.as_object().unwrap() {
            prop_assert!(v.is_string(), "{} is not a string", key);
        }
        // And numbers where the original sends numbers.
        let mut numeric = value.clone();
        for key in ["index", "timestamp", "nonce"] {
            let digits = numeric[key].as_str().unwrap().to_owned();
            numeric[key] = serde_json::from_str(&digits).unwrap();
        }
        prop_assert_eq!(jbc::wire::block_from_value(&numeric).unwrap(), block);
    }

    #[test]
    fn the_hash_depends_only_on_the_canonical_fields(
        (_parent, child) in parent_and_child(),
        leading_zeros in 1usize..4,
    ) {
        // Non-canonical spellings (leading zeros, numbers vs strings) give
        // the same block and the same hash.
        let mut value = jbc::wire::block_to_value(&child);
        for key in ["index", "timestamp", "nonce"] {
            let padded = format!("{}{}", "0".repeat(leading_zeros), value[key].as_str().unwrap());
            value[key] = serde_json::Value::String(padded);
        }
        let parsed = jbc::wire::block_from_value(&value).unwrap();
        prop_assert_eq!(parsed.compute_hash(), child.hash);
        // The stated hash is not an input of the hash.
        let mut other = child.clone();
        other.hash = BlockHash::from_bytes([0; 32]);
        prop_assert_eq!(other.compute_hash(), child.compute_hash());
    }
}
