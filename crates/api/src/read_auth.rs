//! Signed reads: what only some parties may read (a subject's credential listing,
//! its audit trail, the ciphertext and sealed keys a transaction carries) is served
//! to a request signed by one of them.
//!
//! The request carries `Authorization: MPMS-Sig key=HEX, time=MS, signature=HEX`:
//! the reader's ed25519 key, the Unix time in milliseconds, and its signature (domain
//! [`Domain::Read`], on the node's chain) over `"GET\n" || path-and-query || "\n" ||
//! time`. A node accepts it within [`READ_MAX_SKEW_MS`] of its clock, so a signature
//! seen once reads the same path for a few minutes at most, and nothing else.

use mpms_crypto::{Domain, PublicKey, Signature, SigningKey};

/// The authorization scheme's name.
pub const READ_SCHEME: &str = "MPMS-Sig";

/// How far a signed read's time may be from the node's clock, either way.
pub const READ_MAX_SKEW_MS: u64 = 5 * 60 * 1_000;

/// The longest `Authorization` value read.
const MAX_HEADER: usize = 512;

/// The bytes a signed read signs for `path` (path and query) at `time_ms`.
pub fn read_message(path: &str, time_ms: u64) -> Vec<u8> {
    format!("GET\n{path}\n{time_ms}").into_bytes()
}

/// The `Authorization` value of a read of `path` on `chain_id` by `key` at `time_ms`.
pub fn authorization(chain_id: &str, key: &SigningKey, path: &str, time_ms: u64) -> String {
    let signature = key.sign(chain_id, Domain::Read, &read_message(path, time_ms));
    format!(
        "{READ_SCHEME} key={}, time={time_ms}, signature={}",
        key.public_key(),
        signature
    )
}

/// Why a signed read was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadAuthError {
    /// The header is not `MPMS-Sig key=…, time=…, signature=…`.
    Malformed(String),
    /// The time is too far from the node's clock.
    Stale {
        /// The request's time.
        time_ms: u64,
        /// The node's.
        now_ms: u64,
    },
    /// The signature does not verify for this path under the key.
    BadSignature,
}

impl std::fmt::Display for ReadAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadAuthError::Malformed(why) => write!(
                f,
                "authorization: {why} (expected {READ_SCHEME} key=HEX, time=MS, signature=HEX)"
            ),
            ReadAuthError::Stale { time_ms, now_ms } => write!(
                f,
                "authorization: signed at {time_ms}, more than {} s from this node's clock ({now_ms})",
                READ_MAX_SKEW_MS / 1_000
            ),
            ReadAuthError::BadSignature => {
                write!(f, "authorization: the signature does not verify for this path")
            }
        }
    }
}

/// The reader a signed read of `path` names, checked against `chain_id` and the
/// node's clock `now_ms`.
pub fn verify_authorization(
    header: &str,
    chain_id: &str,
    path: &str,
    now_ms: u64,
) -> Result<PublicKey, ReadAuthError> {
    let malformed = |why: &str| ReadAuthError::Malformed(why.to_string());
    if header.len() > MAX_HEADER {
        return Err(malformed("too long"));
    }
    let rest = header
        .strip_prefix(READ_SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| malformed("another scheme"))?;
    let (mut key, mut time, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("a parameter without a value"))?;
        let slot = match name {
            "key" => &mut key,
            "time" => &mut time,
            "signature" => &mut signature,
            _ => return Err(malformed("an unknown parameter")),
        };
        if slot.replace(value).is_some() {
            return Err(malformed("a parameter given twice"));
        }
    }
    let key: PublicKey = key
        .ok_or_else(|| malformed("no key"))?
        .parse()
        .map_err(|_| malformed("the key is not 64 hex digits"))?;
    let time_ms: u64 = time
        .ok_or_else(|| malformed("no time"))?
        .parse()
        .map_err(|_| malformed("the time is not a number"))?;
    let signature: Signature = signature
        .ok_or_else(|| malformed("no signature"))?
        .parse()
        .map_err(|_| malformed("the signature is not 128 hex digits"))?;
    if time_ms.abs_diff(now_ms) > READ_MAX_SKEW_MS {
        return Err(ReadAuthError::Stale { time_ms, now_ms });
    }
    key.verify(
        chain_id,
        Domain::Read,
        &read_message(path, time_ms),
        &signature,
    )
    .map_err(|_| ReadAuthError::BadSignature)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signed_read_names_its_reader_for_its_path_chain_and_time_only() {
        let key = SigningKey::from_seed(&[3; 32]);
        let path = "/v1/subjects/ab/audit?limit=1";
        let header = authorization("chain", &key, path, 1_000_000);
        assert_eq!(
            verify_authorization(&header, "chain", path, 1_000_000 + 60_000),
            Ok(key.public_key())
        );
        // Another path, chain, or a time out of the window: refused.
        assert_eq!(
            verify_authorization(&header, "chain", "/v1/subjects/ab/audit", 1_000_000),
            Err(ReadAuthError::BadSignature)
        );
        assert_eq!(
            verify_authorization(&header, "other", path, 1_000_000),
            Err(ReadAuthError::BadSignature)
        );
        assert!(matches!(
            verify_authorization(&header, "chain", path, 1_000_000 + READ_MAX_SKEW_MS + 1),
            Err(ReadAuthError::Stale { .. })
        ));
        // Another key's signature under this key, or a malformed header: refused.
        let other = authorization("chain", &SigningKey::from_seed(&[4; 32]), path, 1_000_000);
        let swapped = format!(
            "{READ_SCHEME} key={}, {}",
            key.public_key(),
            other.split_once(", ").unwrap().1
        );
        assert_eq!(
            verify_authorization(&swapped, "chain", path, 1_000_000),
            Err(ReadAuthError::BadSignature)
        );
        for bad in [
            "Bearer x",
            "MPMS-Sig key=00",
            "MPMS-Sig key=ab, key=ab",
            "MPMS-Sig nothing",
            &"x".repeat(600),
        ] {
            assert!(matches!(
                verify_authorization(bad, "chain", path, 1_000_000),
                Err(ReadAuthError::Malformed(_))
            ));
        }
    }
}
