//! Serde support for fixed-size byte arrays: hex strings in human-readable formats
//! (JSON, TOML), raw fixed-length tuples in binary formats (bincode), so that the
//! canonical encoding carries no length prefix for them.

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

pub(crate) fn serialize<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        let mut tuple = serializer.serialize_tuple(N)?;
        for byte in bytes {
            tuple.serialize_element(byte)?;
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
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(ArrayVisitor::<N>)
    } else {
        deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

/// Implements `Serialize`, `Deserialize`, `Debug`, `Display` and `FromStr` (hex) for a
/// newtype over `[u8; N]` that exposes `as_bytes` and `from_array`.
macro_rules! fixed_bytes_type {
    ($ty:ident, $n:expr) => {
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

        impl std::str::FromStr for $ty {
            type Err = crate::ParseError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $ty::from_array(crate::bytes::from_hex::<$n>(text)?)
            }
        }
    };
}
pub(crate) use fixed_bytes_type;
