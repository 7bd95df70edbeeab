//! Stage 1 of validation: what a block's header proves on its own. The
//! stated hash must be the hash of the header (computed here, once, and
//! never again on the way to the store), the hash must meet the target,
//! and only block 0 may lack a parent.

use super::block::Block;
use super::error::ValidationError;
use super::hash::BlockHash;
use super::pow::Target;

/// Stage 1: the block on its own. Returns the hash it computed (which is
/// the stated hash), as rust-bitcoin's `validate_pow` does.
pub fn check_block(block: &Block, target: &Target) -> Result<BlockHash, ValidationError> {
    match (block.index.0, &block.prev_hash) {
        (0, Some(prev_hash)) => {
            return Err(ValidationError::GenesisWithPrevHash {
                prev_hash: *prev_hash,
            });
        }
        (index, None) if index != 0 => {
            return Err(ValidationError::MissingPrevHash { index: block.index });
        }
        _ => {}
    }
    let computed = block.compute_hash();
    if computed != block.hash {
        return Err(ValidationError::HashMismatch {
            index: block.index,
            stated: block.hash,
            computed,
        });
    }
    if !target.is_met_by(&block.hash) {
        return Err(ValidationError::InsufficientWork {
            index: block.index,
            hash: block.hash,
            target: *target,
        });
    }
    Ok(computed)
}
