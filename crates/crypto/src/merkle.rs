//! A binary Merkle tree over SHA-256 with inclusion proofs.
//!
//! Construction:
//! - a leaf is hashed as `H(0x00 || data)` and an inner node as `H(0x01 || left || right)`;
//!   the distinct prefixes stop a leaf from being passed off as an inner node (the
//!   second-preimage attack on plain Merkle trees);
//! - **odd-leaf rule**: at each level nodes are paired left to right; when a level has
//!   an odd number of nodes the last one is carried up to the next level unchanged (it
//!   is never paired with a copy of itself, which would let two different lists share
//!   a root);
//! - the published root binds the number of leaves: `root = H(0x02 || n as u64 LE || top)`
//!   where `top` is the single node left at the top (absent for an empty tree). A proof
//!   therefore cannot be re-read against a tree of another size.

use serde::{Deserialize, Serialize};

use crate::Hash;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;
const ROOT_PREFIX: u8 = 0x02;

/// The hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::digest_parts(&[&[LEAF_PREFIX], data])
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::digest_parts(&[&[NODE_PREFIX], left.as_bytes(), right.as_bytes()])
}

fn finish_root(leaf_count: u64, top: Option<&Hash>) -> Hash {
    let count = leaf_count.to_le_bytes();
    match top {
        Some(top) => Hash::digest_parts(&[&[ROOT_PREFIX], &count, top.as_bytes()]),
        None => Hash::digest_parts(&[&[ROOT_PREFIX], &count]),
    }
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node_hash(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `leaf_hashes` (each made with [`leaf_hash`]), without keeping the
/// tree. Use [`MerkleTree`] when proofs are needed.
pub fn root_of(leaf_hashes: &[Hash]) -> Hash {
    if leaf_hashes.is_empty() {
        return finish_root(0, None);
    }
    let mut level = next_level(leaf_hashes);
    while level.len() > 1 {
        level = next_level(&level);
    }
    // A single leaf is its own top: next_level of one item returns it unchanged.
    finish_root(leaf_hashes.len() as u64, level.first())
}

/// The tops of consecutive subtrees of `chunk` leaves each (`chunk` a power of two;
/// the last subtree may hold fewer). Since each subtree starts at a multiple of
/// `chunk`, the tree never pairs nodes across subtrees below their tops: the tops are
/// exactly the tree's level `log2(chunk)`. Parts of one list of leaves cut at
/// multiples of `chunk` can therefore be reduced separately (on several threads) and
/// their tops concatenated for [`root_of_tops`].
pub fn subtree_tops(leaf_hashes: &[Hash], chunk: usize) -> Vec<Hash> {
    debug_assert!(chunk.is_power_of_two());
    leaf_hashes
        .chunks(chunk.max(1))
        .map(|subtree| {
            let mut level = next_level(subtree);
            while level.len() > 1 {
                level = next_level(&level);
            }
            // A subtree of one leaf is its own top.
            level.first().copied().unwrap_or(Hash::ZERO)
        })
        .collect()
}

/// The root of a tree of `leaf_count` leaves from its subtree tops (see
/// [`subtree_tops`]); equal to [`root_of`] over the same leaves.
pub fn root_of_tops(leaf_count: u64, tops: &[Hash]) -> Hash {
    if tops.is_empty() {
        return finish_root(leaf_count, None);
    }
    let mut level = tops.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    finish_root(leaf_count, level.first())
}

/// A Merkle tree that keeps every level, to produce inclusion proofs.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// A tree over leaves that are already hashed with [`leaf_hash`].
    pub fn from_leaf_hashes(leaf_hashes: Vec<Hash>) -> MerkleTree {
        let mut levels = vec![leaf_hashes];
        while levels.last().map_or(0, Vec::len) > 1 {
            let next = next_level(levels.last().map_or(&[][..], Vec::as_slice));
            levels.push(next);
        }
        MerkleTree { levels }
    }

    /// A tree over raw leaf data.
    pub fn from_data<T: AsRef<[u8]>>(leaves: &[T]) -> MerkleTree {
        MerkleTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
    }

    /// The number of leaves.
    pub fn leaf_count(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// The root (see the module docs).
    pub fn root(&self) -> Hash {
        let top = self.levels.last().and_then(|l| l.first());
        finish_root(self.leaf_count() as u64, top)
    }

    /// The inclusion proof of leaf `index`, or `None` if out of range.
    pub fn proof(&self, index: usize) -> Option<MerkleProof> {
        if index >= self.leaf_count() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut idx = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = idx ^ 1;
            if let Some(hash) = level.get(sibling) {
                siblings.push(*hash);
            }
            idx /= 2;
        }
        Some(MerkleProof {
            index: index as u64,
            leaf_count: self.leaf_count() as u64,
            siblings,
        })
    }
}

/// Proof that a leaf sits at `index` of a tree of `leaf_count` leaves with a given root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MerkleProof {
    /// Position of the leaf.
    pub index: u64,
    /// Number of leaves in the tree.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf level upwards (levels where the node was carried
    /// up unpaired contribute none).
    pub siblings: Vec<Hash>,
}

impl MerkleProof {
    /// Whether `data` is the leaf at `index` of the tree with `root`.
    pub fn verify(&self, root: &Hash, data: &[u8]) -> bool {
        self.verify_leaf_hash(root, &leaf_hash(data))
    }

    /// Whether the leaf with hash `leaf` (made by [`leaf_hash`]) is at `index` of the
    /// tree with `root`.
    pub fn verify_leaf_hash(&self, root: &Hash, leaf: &Hash) -> bool {
        if self.index >= self.leaf_count {
            return false;
        }
        let mut hash = *leaf;
        let mut idx = self.index;
        let mut width = self.leaf_count;
        let mut siblings = self.siblings.iter();
        while width > 1 {
            let carried_up = idx == width - 1 && width % 2 == 1;
            if !carried_up {
                let Some(sibling) = siblings.next() else {
                    return false;
                };
                hash = if idx.is_multiple_of(2) {
                    node_hash(&hash, sibling)
                } else {
                    node_hash(sibling, &hash)
                };
            }
            idx /= 2;
            width = width.div_ceil(2);
        }
        siblings.next().is_none() && finish_root(self.leaf_count, Some(&hash)) == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect()
    }

    #[test]
    fn root_of_matches_tree_root() {
        for n in 0..40 {
            let data = leaves(n);
            let tree = MerkleTree::from_data(&data);
            let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
            assert_eq!(root_of(&hashes), tree.root(), "n = {n}");
        }
    }

    #[test]
    fn subtree_tops_give_the_same_root() {
        for n in 0..300usize {
            let hashes: Vec<Hash> = leaves(n).iter().map(|d| leaf_hash(d)).collect();
            let expected = root_of(&hashes);
            for chunk in [1usize, 2, 4, 8, 64] {
                let tops = subtree_tops(&hashes, chunk);
                assert_eq!(
                    root_of_tops(n as u64, &tops),
                    expected,
                    "n = {n}, chunk = {chunk}"
                );
                // Cut at any multiple of the chunk and reduced apart: same tops.
                for cut in (0..=n).step_by(chunk) {
                    let mut parts = subtree_tops(&hashes[..cut], chunk);
                    parts.extend(subtree_tops(&hashes[cut..], chunk));
                    assert_eq!(parts, tops, "n = {n}, chunk = {chunk}, cut = {cut}");
                }
            }
        }
    }

    #[test]
    fn known_shapes() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let c = leaf_hash(b"c");
        assert_eq!(root_of(&[a]), finish_root(1, Some(&a)));
        assert_eq!(root_of(&[a, b]), finish_root(2, Some(&node_hash(&a, &b))));
        // Odd leaf carried up, not duplicated.
        let ab = node_hash(&a, &b);
        assert_eq!(
            root_of(&[a, b, c]),
            finish_root(3, Some(&node_hash(&ab, &c)))
        );
    }

    #[test]
    fn duplicate_last_leaf_changes_root() {
        let data = leaves(3);
        let mut dup = data.clone();
        dup.push(data[2].clone());
        assert_ne!(
            MerkleTree::from_data(&data).root(),
            MerkleTree::from_data(&dup).root()
        );
    }

    #[test]
    fn empty_tree() {
        let tree = MerkleTree::from_data::<Vec<u8>>(&[]);
        assert_eq!(tree.root(), root_of(&[]));
        assert!(tree.proof(0).is_none());
    }

    #[test]
    fn leaf_is_not_an_inner_node() {
        // An inner node's preimage presented as a leaf must not verify.
        let data = leaves(4);
        let tree = MerkleTree::from_data(&data);
        let l0 = leaf_hash(&data[0]);
        let l1 = leaf_hash(&data[1]);
        let mut fake_leaf = Vec::new();
        fake_leaf.extend_from_slice(l0.as_bytes());
        fake_leaf.extend_from_slice(l1.as_bytes());
        let proof = MerkleProof {
            index: 0,
            leaf_count: 2,
            siblings: vec![node_hash(&leaf_hash(&data[2]), &leaf_hash(&data[3]))],
        };
        assert!(!proof.verify(&tree.root(), &fake_leaf));
    }
}
