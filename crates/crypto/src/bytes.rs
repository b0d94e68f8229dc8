//! Serde support for fixed-size byte arrays: hex strings in human-readable formats
//! (JSON, TOML), raw fixed-length tuples in binary formats (bincode), so that the
//! canonical encoding carries no length prefix for them.
//!
//! In binary formats an array of `N` bytes (`N` a multiple of 8) is a tuple of
//! `N / 8` little-endian `u64` words. The canonical codec writes a `u64` as its 8
//! little-endian bytes, so the encoding is exactly the raw bytes, in an eighth of the
//! serializer calls of a byte-by-byte tuple (keys, hashes and signatures are most of
//! what the ledger encodes and hashes).

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};
use std::fmt;

use crate::ParseError;

/// Decodes `text` as hex into exactly `N` bytes.
pub(crate) fn from_hex<const N: usize>(text: &str) -> Result<[u8; N], ParseError> {
    let bytes = hex::decode(text.trim()).map_err(|e| ParseError::Hex(e.to_string()))?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| ParseError::Length { expected: N, got })
}

/// Bytes per word of the binary form.
const WORD: usize = 8;

/// A chunk of exactly [`WORD`] bytes as an array.
fn word_array(chunk: &[u8]) -> [u8; WORD] {
    let mut word = [0u8; WORD];
    word.copy_from_slice(chunk);
    word
}

pub(crate) fn serialize<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        let mut tuple = serializer.serialize_tuple(N / WORD)?;
        for word in bytes.chunks_exact(WORD) {
            tuple.serialize_element(&u64::from_le_bytes(word_array(word)))?;
        }
        tuple.end()
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{N} bytes, or a hex string of {N} bytes")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            from_hex::<N>(text).map_err(E::custom)
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            bytes
                .try_into()
                .map_err(|_| E::invalid_length(bytes.len(), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.chunks_exact_mut(WORD).enumerate() {
                let word: u64 = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i * WORD, &self))?;
                slot.copy_from_slice(&word.to_le_bytes());
            }
            Ok(out)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(ArrayVisitor::<N>)
    } else {
        deserializer.deserialize_tuple(N / WORD, ArrayVisitor::<N>)
    }
}

/// The OpenAPI schema of an `n`-byte value in its JSON form: lowercase hex.
pub(crate) fn hex_schema(
    n: usize,
    what: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[0-9a-f]{{{}}}$", 2 * n)))
        .description(Some(format!("{what}: {n} bytes, lowercase hex")))
        .examples([serde_json::Value::String("00".repeat(n))])
        .into()
}

/// Implements `Serialize`, `Deserialize`, `Debug`, `Display`, `FromStr` (hex) and the
/// OpenAPI schema for a
/// newtype over `[u8; N]` that exposes `as_bytes` and `from_array`.
macro_rules! fixed_bytes_type {
    ($ty:ident, $n:expr) => {
        const _: () = assert!($n % 8 == 0, "fixed byte arrays are whole 8-byte words");

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                crate::bytes::serialize::<S, $n>(self.as_bytes(), s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bytes = crate::bytes::deserialize::<D, $n>(d)?;
                $ty::from_array(bytes).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.as_bytes()))
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let hex = hex::encode(self.as_bytes());
                write!(f, "{}({}…)", stringify!($ty), &hex[..12])
            }
        }

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::bytes::hex_schema($n, stringify!($ty))
            }
        }

        impl utoipa::ToSchema for $ty {}

        impl std::str::FromStr for $ty {
            type Err = crate::ParseError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $ty::from_array(crate::bytes::from_hex::<$n>(text)?)
            }
        }
    };
}
pub(crate) use fixed_bytes_type;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{Hash, PublicKey, Signature};
    use bincode::Options;

    /// The canonical codec's configuration (the ledger's `codec`).
    fn canonical() -> impl Options {
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_little_endian()
            .reject_trailing_bytes()
    }

    #[test]
    fn binary_form_is_exactly_the_raw_bytes() {
        let bytes: [u8; 64] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let signature = Signature::from_bytes(bytes);
        let encoded = canonical().serialize(&signature).unwrap();
        assert_eq!(encoded, bytes.to_vec());
        let decoded: Signature = canonical().deserialize(&encoded).unwrap();
        assert_eq!(decoded, signature);

        let hash = Hash::digest(b"words");
        let encoded = canonical().serialize(&hash).unwrap();
        assert_eq!(encoded, hash.as_bytes().to_vec());
        let key: PublicKey = canonical().deserialize(&encoded).unwrap();
        assert_eq!(key.as_bytes(), hash.as_bytes());
    }

    #[test]
    fn truncated_binary_form_is_an_error() {
        let encoded = canonical().serialize(&Hash::digest(b"x")).unwrap();
        for len in 0..encoded.len() {
            assert!(canonical().deserialize::<Hash>(&encoded[..len]).is_err());
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(canonical().deserialize::<Hash>(&longer).is_err());
    }

    #[test]
    fn human_readable_form_is_hex() {
        let hash = Hash::digest(b"hex");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{}\"", hex::encode(hash.as_bytes())));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), hash);
    }
}
