//! The authenticated state tree: a Jellyfish Merkle Tree (the `jmt` crate) over every
//! state entry, one version per block height.
//!
//! A leaf is `SHA-256(key)` with the value's hash; the tree's root after block `h` is
//! the header's `state_root`, so one key's value at height `h`, or its absence, is
//! proven by a [`StateProof`] against that header.
//!
//! **Two tree versions per block.** Block `h` writes tree version `2h` (its
//! deletions, one key at a time: usually none or one) and then version `2h + 1` (every
//! other write, inserted as one sorted batch that visits and hashes each touched node
//! once, where one key at a time would rehash the top of the tree for every key).
//! Version `2h + 1` is the block's: its root is the header's `state_root`, proofs are
//! read from it, and pruning keeps it. Versions are internal to the store; headers,
//! proofs and their checks know only heights and roots.
//!
//! **Stored entries.** A store keeps the tree in its own key space, written in the
//! block's commit like everything else ([`TreeUpdate`]):
//!
//! | key | value |
//! |---|---|
//! | `n` ‖ node key (borsh) | the node (borsh) |
//! | `v` ‖ key hash ‖ version (u64 BE) | the value written then, or `None` (deleted) |
//! | `s` ‖ version (u64 BE) | the node keys (borsh list) stale from this version |
//! | `w` ‖ version (u64 BE) | the key hashes (32 bytes each) written at this version |
//!
//! (The two indexes hold one entry per version, not one per node or key: a block's
//! commit inserts two entries for them instead of thousands.)
//!
//! [`prune`] lists what may be deleted once versions before a height are no longer
//! kept: stale nodes, and values superseded before it.

use std::collections::BTreeMap;

use borsh::BorshDeserialize;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, RootHash, Sha256Jmt, Version};
use mpms_crypto::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{State, StateError};
use crate::codec;

const NODE: u8 = b'n';
const VALUE: u8 = b'v';
const STALE: u8 = b's';
const WRITTEN: u8 = b'w';

/// The largest encoded proof accepted: a path of at most 256 siblings of under 70
/// bytes each, with room to spare. Larger input is refused before decoding.
pub const MAX_PROOF_BYTES: usize = 32 << 10;

/// The root of an empty tree.
pub fn empty_root() -> Hash {
    Hash::from_bytes(Sha256Jmt::<EmptyReader>::EMPTY_ROOT.0)
}

/// The tree's key for a state key: its SHA-256.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash(Sha256::digest(key).into())
}

/// The stored entries that one block adds to the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUpdate {
    /// The block height whose tree this is; `None` for a change set that does not
    /// touch the tree.
    pub height: Option<u64>,
    /// Entries to store, in the layout of the module docs.
    pub puts: Vec<(Vec<u8>, Vec<u8>)>,
    /// The new nodes near the root, decoded, for a store's [`NodeCache`].
    pub upper_nodes: Vec<(NodeKey, Node)>,
}

/// Nodes at most this many nibbles below the root are cached: 1 + 16 + 256 + 4,096
/// paths, the part of the tree every block rewrites (a few MB).
const CACHED_DEPTH: usize = 3;

/// The latest committed node at each path near the root, decoded: every block's
/// update reads most of them, and a store read and decode of each costs more than
/// the rest of the update. A node under a key (path and version) never changes, so
/// a cached node is returned only for exactly its key; anything else is read from
/// the store. Bounded by the number of paths of [`CACHED_DEPTH`] nibbles.
#[derive(Debug, Default)]
pub struct NodeCache {
    nodes: std::sync::RwLock<std::collections::HashMap<jmt::storage::NibblePath, (Version, Node)>>,
}

impl NodeCache {
    /// An empty cache.
    pub fn new() -> NodeCache {
        NodeCache::default()
    }

    fn get(&self, key: &NodeKey) -> Option<Node> {
        if key.nibble_path().num_nibbles() > CACHED_DEPTH {
            return None;
        }
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        match nodes.get(key.nibble_path()) {
            Some((version, node)) if *version == key.version() => Some(node.clone()),
            _ => None,
        }
    }

    /// Keeps `node`, committed under `key`, if it is near the root and newer than
    /// the node cached for its path.
    fn offer(&self, key: &NodeKey, node: &Node) {
        if key.nibble_path().num_nibbles() > CACHED_DEPTH {
            return;
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        match nodes.get(key.nibble_path()) {
            Some((version, _)) if *version >= key.version() => {}
            _ => {
                nodes.insert(key.nibble_path().clone(), (key.version(), node.clone()));
            }
        }
    }

    /// Takes the nodes of a committed update (call only once it is committed: a
    /// proposal's update that is never committed has other nodes under the same keys).
    pub fn committed(&self, update: &TreeUpdate) {
        for (key, node) in &update.upper_nodes {
            self.offer(key, node);
        }
    }

    /// Number of cached nodes.
    pub fn len(&self) -> usize {
        self.nodes.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn tree_err(e: impl std::fmt::Display) -> StateError {
    StateError(format!("state tree: {e}"))
}

fn node_key(key: &NodeKey) -> Result<Vec<u8>, StateError> {
    let mut out = vec![NODE];
    borsh::to_writer(&mut out, key).map_err(tree_err)?;
    Ok(out)
}

fn value_key(key_hash: &KeyHash, version: Version) -> Vec<u8> {
    let mut out = Vec::with_capacity(41);
    out.push(VALUE);
    out.extend_from_slice(&key_hash.0);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// The key after every `value_key(key_hash, v)` with `v <= max_version`.
fn value_key_after(key_hash: &KeyHash, max_version: Version) -> Vec<u8> {
    match max_version.checked_add(1) {
        Some(next) => value_key(key_hash, next),
        None => {
            let mut out = value_key(key_hash, 0);
            out.truncate(33);
            out.extend_from_slice(&[0xff; 9]);
            out
        }
    }
}

/// The key of an index entry (`tag` is [`STALE`] or [`WRITTEN`]) of `version`.
fn index_key(tag: u8, version: Version) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(tag);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// The tree version of block `height`'s deletions.
fn deletions_version(height: u64) -> Result<Version, StateError> {
    height
        .checked_mul(2)
        .ok_or_else(|| tree_err(format!("height {height} is out of the tree's range")))
}

/// The tree version whose root is block `height`'s state root.
fn block_version(height: u64) -> Result<Version, StateError> {
    deletions_version(height)?
        .checked_add(1)
        .ok_or_else(|| tree_err(format!("height {height} is out of the tree's range")))
}

/// The tree as `jmt` reads it, over a [`State`]'s stored tree entries.
struct Reader<'a>(&'a dyn State);

impl TreeReader for Reader<'_> {
    fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let cache = self.0.tree_node_cache();
        if let Some(node) = cache.and_then(|c| c.get(key)) {
            return Ok(Some(node));
        }
        match self.0.tree_get(&node_key(key)?)? {
            None => Ok(None),
            Some(bytes) => {
                let node = Node::try_from_slice(&bytes)?;
                if let Some(cache) = cache {
                    // Stored, so committed.
                    cache.offer(key, &node);
                }
                Ok(Some(node))
            }
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let from = value_key(&key_hash, 0);
        let until = value_key_after(&key_hash, max_version);
        match self.0.tree_last(&from, &until)? {
            None => Ok(None),
            Some((_, bytes)) => Ok(codec::decode::<Option<Vec<u8>>>(&bytes)?),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only restoring a tree from chunks needs it; nodes rebuild from blocks.
        anyhow::bail!("the state tree is not restored from chunks")
    }
}

/// A reader of no tree, to name the tree type's constants.
struct EmptyReader;

impl TreeReader for EmptyReader {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(None)
    }
    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}

/// The stored tree with one uncommitted version on top: what the block's second
/// version is computed over.
struct Overlay<'a> {
    stored: Reader<'a>,
    /// The version the batch wrote (every value in it is of that version).
    version: Version,
    batch: &'a jmt::storage::NodeBatch,
}

impl TreeReader for Overlay<'_> {
    fn get_node_option(&self, key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.batch.get_node(key) {
            Some(node) => Ok(Some(node.clone())),
            None => self.stored.get_node_option(key),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        if max_version >= self.version {
            if let Some(value) = self.batch.values().get(&(self.version, key_hash)) {
                return Ok(value.clone());
            }
        }
        self.stored.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.stored.get_rightmost_leaf()
    }
}

impl From<anyhow::Error> for StateError {
    fn from(e: anyhow::Error) -> Self {
        tree_err(e)
    }
}

/// The root of block `height`'s tree stored in `state`, if stored.
pub fn root_at(state: &dyn State, height: u64) -> Result<Option<Hash>, StateError> {
    let reader = Reader(state);
    let tree = Sha256Jmt::new(&reader);
    Ok(tree
        .get_root_hash_option(block_version(height)?)?
        .map(|root| Hash::from_bytes(root.0)))
}

/// Computes block `height`'s tree: the tree of block `height - 1` stored in `state`
/// with `writes` applied. Returns the new root and the entries to store.
///
/// Heights are consecutive: the tree refuses a height whose predecessor is not
/// stored (it would silently start from an empty tree) or that is stored already.
pub fn update(
    state: &dyn State,
    height: u64,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Result<(Hash, TreeUpdate), StateError> {
    let reader = Reader(state);
    let tree = Sha256Jmt::new(&reader);
    if let Some(previous) = height.checked_sub(1) {
        if tree
            .get_root_hash_option(block_version(previous)?)?
            .is_none()
        {
            return Err(tree_err(format!(
                "height {height} needs height {previous}, which is not stored"
            )));
        }
    }
    let first = deletions_version(height)?;
    let version = block_version(height)?;
    if tree.get_root_hash_option(first)?.is_some() {
        return Err(tree_err(format!("height {height} is stored already")));
    }
    // Deletions first, one key at a time (the batch below only inserts). With none,
    // this version is the previous root under a new version.
    let (_, removed) = tree.put_value_set(
        writes
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| (key_hash(k), None)),
        first,
    )?;
    let overlay = Overlay {
        stored: Reader(state),
        version: first,
        batch: &removed.node_batch,
    };
    let on_top = Sha256Jmt::new(&overlay);
    let inserts: Vec<(KeyHash, OwnedValue)> = writes
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (key_hash(k), v.clone())))
        .collect();
    let (roots, added) = if inserts.is_empty() {
        let (root, batch) = on_top.put_value_set(std::iter::empty(), version)?;
        (vec![root], batch)
    } else {
        on_top.batch_put_value_sets(vec![inserts], None, version)?
    };
    let root = *roots
        .first()
        .ok_or_else(|| tree_err("the tree returned no root"))?;

    let mut puts = Vec::new();
    let mut upper_nodes = Vec::new();
    let mut written: BTreeMap<Version, Vec<u8>> = BTreeMap::new();
    let mut stale: BTreeMap<Version, Vec<NodeKey>> = BTreeMap::new();
    for batch in [&removed, &added] {
        for (key, node) in batch.node_batch.nodes() {
            puts.push((node_key(key)?, borsh::to_vec(node).map_err(tree_err)?));
            if key.nibble_path().num_nibbles() <= CACHED_DEPTH {
                upper_nodes.push((key.clone(), node.clone()));
            }
        }
        for ((at, key_hash), value) in batch.node_batch.values() {
            puts.push((value_key(key_hash, *at), codec::encode(value)));
            written
                .entry(*at)
                .or_default()
                .extend_from_slice(&key_hash.0);
        }
        for index in &batch.stale_node_index_batch {
            stale
                .entry(index.stale_since_version)
                .or_default()
                .push(index.node_key.clone());
        }
    }
    // Each version's root replaces the one before it. `jmt` does not say so when a
    // version changes nothing (it copies the root under the new version) or starts
    // from the empty tree: without these entries a replaced root would never be
    // pruned, and a pruned height would still look provable.
    for (at, batch) in [(first, &removed), (version, &added)] {
        let Some(before) = at.checked_sub(1) else {
            continue;
        };
        // The root's key at `before`: this version's root key (the empty path).
        let Some(root) = batch
            .node_batch
            .nodes()
            .keys()
            .find(|key| key.nibble_path().num_nibbles() == 0)
        else {
            continue;
        };
        let replaced = NodeKey::new(before, root.nibble_path().clone());
        let listed = stale.entry(at).or_default();
        if !listed.contains(&replaced) {
            listed.push(replaced);
        }
    }
    for (at, hashes) in written {
        puts.push((index_key(WRITTEN, at), hashes));
    }
    for (at, keys) in stale {
        puts.push((
            index_key(STALE, at),
            borsh::to_vec(&keys).map_err(tree_err)?,
        ));
    }
    Ok((
        Hash::from_bytes(root.0),
        TreeUpdate {
            height: Some(height),
            puts,
            upper_nodes,
        },
    ))
}

/// The stored tree entries to delete so that only heights from `oldest` on stay
/// provable: nodes stale by then, and values superseded by then (with deletions
/// that no kept height needs to see). Index entries of heights before `from` are
/// taken as pruned already (so that a store need not walk over their deletions).
pub fn prune(state: &dyn State, from: u64, oldest: u64) -> Result<Vec<Vec<u8>>, StateError> {
    if from > oldest {
        return Ok(Vec::new());
    }
    // Every version up to block `oldest`'s own: nothing from `oldest` on reads a
    // node stale by then, or a value superseded by then.
    let from = deletions_version(from)?;
    let until = match block_version(oldest)?.checked_add(1) {
        Some(next) => next,
        None => return Ok(Vec::new()),
    };
    let mut dead = Vec::new();
    for (key, list) in state.tree_range(
        &index_key(STALE, from),
        &index_key(STALE, until),
        usize::MAX,
    )? {
        let nodes = Vec::<NodeKey>::try_from_slice(&list).map_err(tree_err)?;
        for node in &nodes {
            dead.push(node_key(node)?);
        }
        dead.push(key);
    }
    for (key, hashes) in state.tree_range(
        &index_key(WRITTEN, from),
        &index_key(WRITTEN, until),
        usize::MAX,
    )? {
        let Some(version) = key.get(1..9) else {
            return Err(tree_err("malformed write index entry"));
        };
        let mut version_bytes = [0u8; 8];
        version_bytes.copy_from_slice(version);
        let written = u64::from_be_bytes(version_bytes);
        if hashes.len() % 32 != 0 {
            return Err(tree_err("malformed write index entry"));
        }
        for hash in hashes.chunks_exact(32) {
            let mut hash_bytes = [0u8; 32];
            hash_bytes.copy_from_slice(hash);
            let key_hash = KeyHash(hash_bytes);
            for (older, value) in state.tree_range(
                &value_key(&key_hash, 0),
                &value_key_after(&key_hash, written),
                usize::MAX,
            )? {
                let is_current = older == value_key(&key_hash, written);
                let deleted = codec::decode::<Option<Vec<u8>>>(&value)
                    .map_err(tree_err)?
                    .is_none();
                if !is_current || deleted {
                    dead.push(older);
                }
            }
        }
        dead.push(key);
    }
    Ok(dead)
}

/// Why a state proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateProofError {
    /// The proof's bytes are too long or do not decode.
    #[error("malformed state proof: {0}")]
    Malformed(String),
    /// The proof does not lead to the expected root for this key and value.
    #[error("state proof does not match the state root: {0}")]
    Mismatch(String),
}

/// A proof of one state key's value, or of its absence, in the state after a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateProof {
    /// The block height whose `state_root` the proof is against.
    pub height: u64,
    /// The state key.
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub key: Vec<u8>,
    /// Its value then, or `None` if absent.
    #[serde(with = "hex_option")]
    #[schema(value_type = Option<String>, pattern = "^([0-9a-f]{2})*$")]
    pub value: Option<Vec<u8>>,
    /// The tree path (a `jmt` sparse Merkle proof, borsh-encoded).
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub proof: Vec<u8>,
}

/// Proves `key`'s value (or absence) in block `height`'s tree stored in `state`.
pub fn prove(state: &dyn State, height: u64, key: &[u8]) -> Result<StateProof, StateError> {
    let reader = Reader(state);
    let tree = Sha256Jmt::new(&reader);
    let version = block_version(height)?;
    // A version's root is pruned first (it is replaced by the very next version): no
    // root, no proof, rather than a walk into nodes that are gone.
    if tree.get_root_hash_option(version)?.is_none() {
        return Err(tree_err(format!("height {height}'s state is not kept")));
    }
    let (value, proof) = tree.get_with_proof(key_hash(key), version)?;
    Ok(StateProof {
        height,
        key: key.to_vec(),
        value,
        proof: borsh::to_vec(&proof).map_err(tree_err)?,
    })
}

impl StateProof {
    /// Checks the proof against `state_root`, the root of the header at
    /// [`StateProof::height`]: the key has exactly [`StateProof::value`] there.
    pub fn verify(&self, state_root: &Hash) -> Result<(), StateProofError> {
        if self.proof.len() > MAX_PROOF_BYTES {
            return Err(StateProofError::Malformed(format!(
                "{} bytes, at most {MAX_PROOF_BYTES}",
                self.proof.len()
            )));
        }
        let proof = jmt::proof::SparseMerkleProof::<Sha256>::try_from_slice(&self.proof)
            .map_err(|e| StateProofError::Malformed(e.to_string()))?;
        proof
            .verify(
                RootHash(*state_root.as_bytes()),
                key_hash(&self.key),
                self.value.as_ref(),
            )
            .map_err(|e| StateProofError::Mismatch(e.to_string()))
    }

    /// The proven value decoded as a record, or `None` if the key is absent.
    pub fn record<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, codec::DecodeError> {
        self.value.as_deref().map(codec::decode).transpose()
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            hex::decode(text).map_err(serde::de::Error::custom)
        } else {
            serde_bytes::ByteBuf::deserialize(d).map(|b| b.into_vec())
        }
    }
}

mod hex_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Bytes(#[serde(with = "super::hex_bytes")] Vec<u8>);

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        bytes.as_ref().map(|b| Bytes(b.clone())).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Bytes>::deserialize(d)?.map(|b| b.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::state::{MemState, StateChanges};

    fn writes(items: &[(&str, Option<&str>)]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        items
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    fn commit(state: &mut MemState, version: u64, items: &[(&str, Option<&str>)]) -> Hash {
        let writes = writes(items);
        let (root, tree) = update(&*state, version, &writes).unwrap();
        state.apply(&StateChanges { writes, tree });
        root
    }

    #[test]
    fn proves_presence_and_absence_at_each_version() {
        let mut state = MemState::new();
        let r0 = commit(&mut state, 0, &[("a", Some("A0")), ("b", Some("B0"))]);
        let r1 = commit(&mut state, 1, &[]);
        let r2 = commit(&mut state, 2, &[("b", None), ("a", Some("A2"))]);
        assert_eq!(r0, r1, "an empty block keeps the root");
        assert_ne!(r1, r2);
        assert_eq!(root_at(&state, 2).unwrap(), Some(r2));

        let p = prove(&state, 0, b"b").unwrap();
        assert_eq!(p.value.as_deref(), Some(&b"B0"[..]));
        p.verify(&r0).unwrap();
        let p = prove(&state, 2, b"b").unwrap();
        assert_eq!(p.value, None);
        p.verify(&r2).unwrap();
        // A proof checked against another version's root fails.
        assert!(prove(&state, 0, b"b").unwrap().verify(&r2).is_err());
        // A value swapped in the proof fails.
        let mut forged = prove(&state, 2, b"a").unwrap();
        forged.value = Some(b"A0".to_vec());
        assert!(matches!(
            forged.verify(&r2),
            Err(StateProofError::Mismatch(_))
        ));
        // Claiming absence of a present key fails.
        forged.value = None;
        assert!(forged.verify(&r2).is_err());
        // Garbage is refused, not a panic.
        forged.proof = vec![0xff; 40];
        assert!(matches!(
            forged.verify(&r2),
            Err(StateProofError::Malformed(_))
        ));
        forged.proof = vec![0; MAX_PROOF_BYTES + 1];
        assert!(matches!(
            forged.verify(&r2),
            Err(StateProofError::Malformed(_))
        ));
    }

    #[test]
    fn versions_are_consecutive() {
        let mut state = MemState::new();
        commit(&mut state, 0, &[("a", Some("1"))]);
        assert!(update(&state, 2, &writes(&[("b", Some("2"))])).is_err());
        assert!(update(&state, 0, &writes(&[("b", Some("2"))])).is_err());
        assert!(update(&MemState::new(), 3, &BTreeMap::new()).is_err());
    }

    #[test]
    fn the_root_depends_only_on_the_entries() {
        let mut one = MemState::new();
        commit(&mut one, 0, &[("a", Some("1"))]);
        let r1 = commit(&mut one, 1, &[("b", Some("2")), ("c", Some("3"))]);
        let mut two = MemState::new();
        commit(&mut two, 0, &[("c", Some("3")), ("b", Some("2"))]);
        let r2 = commit(&mut two, 1, &[("a", Some("1"))]);
        assert_eq!(r1, r2);
        let mut empty = MemState::new();
        assert_eq!(commit(&mut empty, 0, &[]), empty_root());
    }

    /// The root of `entries` inserted one key at a time into an empty tree: the
    /// reference the batched two-version update must match.
    fn reference_root(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        let (root, _) = Sha256Jmt::new(&EmptyReader)
            .put_value_set(
                entries.iter().map(|(k, v)| (key_hash(k), Some(v.clone()))),
                0,
            )
            .unwrap();
        Hash::from_bytes(root.0)
    }

    #[test]
    fn a_batched_block_has_the_root_of_its_entries_inserted_one_by_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(28);
        let mut state = MemState::with_history(3);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for height in 0..60u64 {
            let mut writes = BTreeMap::new();
            // Inserts, overwrites and deletions (of present and absent keys) over a
            // small key space, so that leaves split, merge and move between blocks.
            for _ in 0..rng.gen_range(0..40) {
                let key = format!("k{}", rng.gen_range(0..150)).into_bytes();
                let value = if rng.gen_bool(0.3) {
                    None
                } else {
                    Some(format!("v{height}-{}", rng.gen::<u16>()).into_bytes())
                };
                writes.insert(key, value);
            }
            for (key, value) in &writes {
                match value {
                    Some(v) => model.insert(key.clone(), v.clone()),
                    None => model.remove(key),
                };
            }
            let (root, tree) = update(&state, height, &writes).unwrap();
            let expected = if model.is_empty() {
                empty_root()
            } else {
                reference_root(&model)
            };
            assert_eq!(root, expected, "height {height}");
            state.apply(&StateChanges { writes, tree });
            assert_eq!(root_at(&state, height).unwrap(), Some(root));
            for key in ["k0", "k7", "k149", "absent"] {
                let proof = prove(&state, height, key.as_bytes()).unwrap();
                proof.verify(&root).unwrap();
                assert_eq!(proof.value.as_ref(), model.get(key.as_bytes()));
            }
        }
    }

    #[test]
    fn the_pruned_tree_stops_growing_under_constant_churn() {
        let mut state = MemState::with_history(4);
        let mut sizes = Vec::new();
        for height in 0..200u64 {
            // The same live keys every block: 50 rewritten, one added and one deleted.
            let v = format!("value-{height}");
            let mut items: Vec<(String, Option<String>)> = (0..50)
                .map(|i| (format!("churn-{i}"), Some(v.clone())))
                .collect();
            items.push((format!("new-{height}"), Some(v.clone())));
            items.push((format!("new-{}", height.wrapping_sub(1)), None));
            let items: Vec<(&str, Option<&str>)> = items
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            commit(&mut state, height, &items);
            sizes.push(state.tree_len());
        }
        // Once the window is full, every block frees what the block it pushed out
        // wrote: the entry count stops growing.
        let settled = &sizes[20..];
        let (low, high) = (settled.iter().min().unwrap(), settled.iter().max().unwrap());
        assert!(high - low <= high / 20, "tree entries: {settled:?}");
        assert!(sizes[199] <= sizes[50] + sizes[50] / 20, "{sizes:?}");
    }

    #[test]
    fn pruning_keeps_the_window_provable_and_bounds_the_store() {
        let mut pruned = MemState::with_history(4);
        let mut full = MemState::new();
        let mut roots = Vec::new();
        for version in 0..40u64 {
            let v = format!("value-{version}");
            let items: Vec<(String, Option<String>)> = vec![
                ("hot".into(), Some(v.clone())),
                (format!("cold-{}", version % 5), Some(v.clone())),
                (format!("gone-{version}"), Some(v)),
                (format!("gone-{}", version.wrapping_sub(1)), None),
            ];
            let items: Vec<(&str, Option<&str>)> = items
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            let a = commit(&mut pruned, version, &items);
            let b = commit(&mut full, version, &items);
            assert_eq!(a, b);
            roots.push(a);
        }
        // The last four versions prove exactly what the unpruned tree proves.
        for version in 36..40u64 {
            for key in ["hot", "cold-1", "cold-4", "gone-37", "gone-38", "gone-3"] {
                let p = prove(&pruned, version, key.as_bytes()).unwrap();
                p.verify(&roots[version as usize]).unwrap();
                assert_eq!(p, prove(&full, version, key.as_bytes()).unwrap());
            }
        }
        // Older versions are gone, and the store holds a fraction of the full one.
        assert!(prove(&pruned, 30, b"hot").is_err());
        assert!(
            pruned.tree_len() * 3 < full.tree_len(),
            "{} vs {}",
            pruned.tree_len(),
            full.tree_len()
        );
    }
}
