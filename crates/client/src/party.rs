//! Who acts: an account's keys.

use mpms_crypto::{CryptoRng, DecryptionKey, EntryTweak, PublicKey, RngCore, SigningKey};

use crate::error::{Error, Result};

/// An account's keys: the signing key (its id) and, for an account that receives
/// sealed content (a subject, an organization, a certifier), its decryption key.
#[derive(Clone)]
pub struct Party {
    /// Signs transactions.
    pub signing: SigningKey,
    /// Opens what is sealed to the account (absent for keys that only sign, such as
    /// an authority's operator key or a practitioner's).
    pub decryption: Option<DecryptionKey>,
}

impl Party {
    /// An account of these keys.
    pub fn new(signing: SigningKey, decryption: DecryptionKey) -> Party {
        Party {
            signing,
            decryption: Some(decryption),
        }
    }

    /// An account that only signs.
    pub fn signing_only(signing: SigningKey) -> Party {
        Party {
            signing,
            decryption: None,
        }
    }

    /// Fresh keys, both of them, from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Party {
        Party::new(SigningKey::generate(rng), DecryptionKey::generate(rng))
    }

    /// The account id.
    pub fn id(&self) -> PublicKey {
        self.signing.public_key()
    }

    /// The party that acts for one entry of this subject's record: the entry key
    /// `tweak` makes of this signing key, opening with the same decryption key.
    pub fn entry(&self, tweak: &EntryTweak) -> Party {
        Party {
            signing: tweak.entry_signing_key(&self.signing),
            decryption: self.decryption.clone(),
        }
    }

    /// The decryption key; [`Error::NoDecryptionKey`] naming `what` needs it when
    /// the party only signs.
    pub fn decryption(&self, what: &str) -> Result<&DecryptionKey> {
        self.decryption
            .as_ref()
            .ok_or_else(|| Error::NoDecryptionKey(what.to_string()))
    }
}
