//! Notes sealed to a subject: why an organization asks for its credentials (an
//! access request's purpose) and what a grantee's inspection found. The chain holds
//! them sealed ([`mpms_crypto::signer_seal`]) to the subject's key as the request or
//! the grant names it (an entry key, or an account's key), so that only the subject
//! reads them; the chain bounds their size and reads nothing else of them.

use mpms_crypto::{open_as_signer, seal_to_signer, CryptoRng, PublicKey, RngCore, SealError};
use mpms_crypto::{SignerSealed, SigningKey};

use crate::codec;
use crate::transaction::{InspectionOutcome, OUTCOME_INFO, PURPOSE_INFO};
use crate::{AccountId, GrantId};

/// The longest purpose or failure reason, in bytes.
pub const MAX_NOTE_TEXT: usize = 256;

/// Why a note could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is empty or longer than [`MAX_NOTE_TEXT`] bytes.
    #[error("a note of 1 to {MAX_NOTE_TEXT} bytes")]
    Length,
    /// Sealing or opening failed (not this key's, or altered).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// It opened, but does not hold a note.
    #[error("the sealed note is malformed")]
    Malformed,
}

fn checked(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || text.len() > MAX_NOTE_TEXT {
        return Err(NoteError::Length);
    }
    Ok(())
}

/// `purpose` sealed to `subject` for the request `requester` makes.
pub fn seal_purpose<R: RngCore + CryptoRng>(
    subject: &PublicKey,
    requester: &AccountId,
    purpose: &str,
    rng: &mut R,
) -> Result<SignerSealed, NoteError> {
    checked(purpose)?;
    Ok(seal_to_signer(
        subject,
        PURPOSE_INFO,
        requester.as_bytes(),
        purpose.as_bytes(),
        rng,
    )?)
}

/// The purpose of `requester`'s request, opened with the subject's `key`.
pub fn open_purpose(
    key: &SigningKey,
    requester: &AccountId,
    sealed: &SignerSealed,
) -> Result<String, NoteError> {
    let bytes = open_as_signer(key, PURPOSE_INFO, requester.as_bytes(), sealed)?;
    String::from_utf8(bytes).map_err(|_| NoteError::Malformed)
}

/// `outcome` of an inspection under `grant`, sealed to the grant's `subject`.
pub fn seal_outcome<R: RngCore + CryptoRng>(
    subject: &PublicKey,
    grant: &GrantId,
    outcome: &InspectionOutcome,
    rng: &mut R,
) -> Result<SignerSealed, NoteError> {
    if let InspectionOutcome::Failed(reason) = outcome {
        checked(reason)?;
    }
    Ok(seal_to_signer(
        subject,
        OUTCOME_INFO,
        grant.as_bytes(),
        &codec::encode(outcome),
        rng,
    )?)
}

/// The outcome of an inspection under `grant`, opened with the subject's `key`.
pub fn open_outcome(
    key: &SigningKey,
    grant: &GrantId,
    sealed: &SignerSealed,
) -> Result<InspectionOutcome, NoteError> {
    let bytes = open_as_signer(key, OUTCOME_INFO, grant.as_bytes(), sealed)?;
    codec::decode(&bytes).map_err(|_| NoteError::Malformed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mpms_crypto::Hash;
    use rand::SeedableRng;

    #[test]
    fn notes_open_with_the_subjects_key_for_their_request_or_grant_only() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let subject = SigningKey::from_seed(&[1; 32]);
        let (board, insurer) = (
            PublicKey::from_bytes([2; 32]),
            PublicKey::from_bytes([3; 32]),
        );
        let sealed = seal_purpose(&subject.public_key(), &board, "licensing", &mut rng).unwrap();
        assert_eq!(
            open_purpose(&subject, &board, &sealed).unwrap(),
            "licensing"
        );
        // Moved to another requester's request, it does not open.
        assert!(open_purpose(&subject, &insurer, &sealed).is_err());
        assert!(open_purpose(&SigningKey::from_seed(&[9; 32]), &board, &sealed).is_err());
        assert_eq!(
            seal_purpose(&subject.public_key(), &board, "", &mut rng),
            Err(NoteError::Length)
        );
        let grant = Hash::digest(b"grant");
        let failed = InspectionOutcome::Failed("signature does not match".into());
        let sealed = seal_outcome(&subject.public_key(), &grant, &failed, &mut rng).unwrap();
        assert_eq!(open_outcome(&subject, &grant, &sealed).unwrap(), failed);
        assert!(open_outcome(&subject, &Hash::digest(b"other"), &sealed).is_err());
        // A purpose does not open as an outcome.
        let purpose = seal_purpose(&subject.public_key(), &board, "x", &mut rng).unwrap();
        assert!(open_outcome(&subject, &Hash::from_bytes(*board.as_bytes()), &purpose).is_err());
    }
}
