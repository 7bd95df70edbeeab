//! The Merkle tree a block commits its entries with: RFC 6962's (the tree
//! of Certificate Transparency), over the entries' canonical lines in
//! block order. A leaf is SHA-256(0x00 || line), an inner node
//! SHA-256(0x01 || left || right); a tree of n leaves splits at the
//! largest power of two below n, so no leaf is ever paired with itself
//! (Bitcoin's tree duplicates the last leaf of an odd level, which lets
//! two different lists of transactions share a root: CVE-2012-2459). The
//! root of no leaves is SHA-256 of nothing.
//!
//! `path` gives the audit path of one leaf (RFC 6962 §2.1.1); `root_from`
//! climbs it back to the root (RFC 9162 §2.1.3.2), which is all a receipt's
//! verifier needs: the entry, its position, the count and the path.

use sha2::{Digest, Sha256};

/// A node of the tree: 32 bytes.
pub type Node = [u8; 32];

/// SHA-256(0x00 || line): a leaf.
pub fn leaf(line: &[u8]) -> Node {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(line)
        .finalize()
        .into()
}

/// The leaves of these lines, in order.
pub fn leaves_of(lines: &[impl AsRef<str>]) -> Vec<Node> {
    lines
        .iter()
        .map(|line| leaf(line.as_ref().as_bytes()))
        .collect()
}

/// SHA-256(0x01 || left || right): an inner node.
pub fn inner(left: &Node, right: &Node) -> Node {
    let hasher = Sha256::new().chain_update([1u8]).chain_update(left);
    hasher.chain_update(right).finalize().into()
}

/// The root of a list of leaves (MTH of RFC 6962).
pub fn root(leaves: &[Node]) -> Node {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            inner(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n >= 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The audit path of leaf `index` among `leaves`: the sibling subtrees'
/// roots from the leaf up (PATH(m, D[n]) of RFC 6962, whose order is from
/// the bottom). `None` when `index` is out of range.
pub fn path(leaves: &[Node], index: usize) -> Option<Vec<Node>> {
    if index >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    collect(leaves, index, &mut out);
    Some(out)
}

fn collect(leaves: &[Node], index: usize, out: &mut Vec<Node>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        collect(&leaves[..k], index, out);
        out.push(root(&leaves[k..]));
    } else {
        collect(&leaves[k..], index - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// Why a path does not lead to a root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("position {index} is not among {count} entries")]
    OutOfRange { index: u64, count: u64 },
    #[error("the path has {found} steps; a tree of {count} leaves needs another number")]
    WrongLength { found: usize, count: u64 },
}

/// The root a leaf at `index` of `count` leaves leads to by `path`
/// (RFC 9162 §2.1.3.2). Errors when the path cannot be the path of such a
/// leaf; a wrong leaf or path gives another root.
pub fn root_from(leaf: Node, index: u64, count: u64, path: &[Node]) -> Result<Node, PathError> {
    if index >= count {
        return Err(PathError::OutOfRange { index, count });
    }
    let wrong_length = || PathError::WrongLength {
        found: path.len(),
        count,
    };
    let (mut fn_, mut sn) = (index, count - 1);
    let mut r = leaf;
    for p in path {
        if sn == 0 {
            return Err(wrong_length());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = inner(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = inner(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_length());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Node> {
        (0..n)
            .map(|i| leaf(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_climbs_back_to_the_root() {
        for n in 1..=70 {
            let leaves = leaves(n);
            let top = root(&leaves);
            for i in 0..n {
                let path = path(&leaves, i).unwrap();
                assert!(path.len() <= 7, "n {n}: {} steps", path.len());
                assert_eq!(root_from(leaves[i], i as u64, n as u64, &path), Ok(top));
                // Another leaf, or this one at another place, misses it.
                let other = leaf(b"another entry");
                assert_ne!(root_from(other, i as u64, n as u64, &path), Ok(top));
                if n > 1 {
                    let moved = (i + 1) % n;
                    assert_ne!(
                        root_from(leaves[i], moved as u64, n as u64, &path),
                        Ok(top),
                        "n {n} i {i}"
                    );
                }
            }
            assert!(path(&leaves, n).is_none());
        }
    }

    #[test]
    fn the_tree_is_rfc_6962s_not_bitcoins() {
        // Three leaves: h(h(a,b), c), c never paired with itself.
        let l = leaves(3);
        assert_eq!(root(&l), inner(&inner(&l[0], &l[1]), &l[2]));
        // So [a, b, c] and [a, b, c, c] differ (CVE-2012-2459).
        let mut four = l.clone();
        four.push(l[2]);
        assert_ne!(root(&l), root(&four));
        // The empty tree is SHA-256 of nothing; leaves and nodes are
        // domain-separated.
        assert_eq!(
            crate::consensus::entry::hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(leaf(b""), root(&[]));
    }

    #[test]
    fn a_path_of_the_wrong_length_is_refused() {
        let l = leaves(5);
        let mut p = path(&l, 2).unwrap();
        p.push(l[0]);
        assert!(matches!(
            root_from(l[2], 2, 5, &p),
            Err(PathError::WrongLength { .. })
        ));
        assert!(matches!(
            root_from(l[2], 5, 5, &p),
            Err(PathError::OutOfRange { .. })
        ));
    }
}
