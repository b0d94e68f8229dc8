//! SHA-256 digests.

use sha2::{Digest, Sha256};

use crate::bytes::fixed_bytes_type;
use crate::ParseError;

/// A SHA-256 digest: block hashes, transaction hashes, Merkle roots, commitments.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The all-zero hash, used as the parent of the genesis block.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// SHA-256 of the concatenation of `parts`.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = Hasher::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finish()
    }

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_array(bytes: [u8; 32]) -> Result<Hash, ParseError> {
        Ok(Hash(bytes))
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fixed_bytes_type!(Hash, 32);

/// Incremental SHA-256.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    /// Feeds a length-prefixed field (u64 little-endian length, then the bytes), so
    /// that concatenated fields cannot be re-split differently.
    pub fn update_field(&mut self, data: &[u8]) -> &mut Self {
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }

    /// The digest.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_hash(h: Hash) -> String {
        h.to_string()
    }

    // NIST FIPS 180-2 examples.
    #[test]
    fn nist_known_answers() {
        assert_eq!(
            hex_hash(Hash::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_hash(Hash::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex_hash(Hash::digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let mut hasher = Hasher::new();
        let block = [b'a'; 1000];
        for _ in 0..1000 {
            hasher.update(&block);
        }
        assert_eq!(
            hex_hash(hasher.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn parts_equal_concatenation() {
        assert_eq!(Hash::digest_parts(&[b"ab", b"c"]), Hash::digest(b"abc"));
    }

    #[test]
    fn hex_round_trip() {
        let h = Hash::digest(b"x");
        let parsed: Hash = h.to_string().parse().expect("valid hex");
        assert_eq!(parsed, h);
        assert!("zz".parse::<Hash>().is_err());
        assert!("abcd".parse::<Hash>().is_err());
    }
}
