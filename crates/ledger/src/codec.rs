//! The canonical binary encoding: bincode 1 with one fixed configuration
//! (little-endian, fixed-width integers), rejecting trailing bytes and any length
//! that would exceed the input. Every node encodes the same value to the same bytes.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest encoded value accepted (32 MiB); blocks are far below this.
pub const MAX_ENCODED_BYTES: usize = 32 << 20;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than [`MAX_ENCODED_BYTES`].
    #[error("input of {0} bytes exceeds the {MAX_ENCODED_BYTES}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed encoding: {0}")]
    Malformed(String),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Encodes `value` canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Our types have no maps of unknown length and no size limit is set for writing,
    // so serialization cannot fail.
    options()
        .serialize(value)
        .expect("ledger types always serialize")
}

/// The length of `value`'s canonical encoding, without allocating it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    options()
        .serialized_size(value)
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Decodes exactly one `T` from `bytes`: trailing bytes, truncation and lengths
/// running past the input are errors.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    options()
        .with_limit(bytes.len() as u64)
        .deserialize(bytes)
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trailing_and_truncated() {
        let bytes = encode(&(7u64, String::from("abc")));
        assert_eq!(
            decode::<(u64, String)>(&bytes).expect("decodes"),
            (7, "abc".into())
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<(u64, String)>(&longer).is_err());
        assert!(decode::<(u64, String)>(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        assert!(decode::<Vec<u8>>(&bytes).is_err());
        assert!(decode::<String>(&bytes).is_err());
    }
}
