//! Credential content off chain: what a certifier writes, how it is committed,
//! encrypted and signed, and how a subject or a grantee opens and checks it.
//!
//! The content holds the personal fields and never goes on chain in plaintext. The
//! chain stores its commitment, the content encrypted under a random content key,
//! and that key sealed (HPKE) to the subject; a grant re-seals the same key to a
//! grantee. Whoever holds the content can check it against the commitment and the
//! certifier's signature.

use mpms_crypto::seal::CONTENT_KEY_INFO;
use mpms_crypto::{
    ContentKey, DecryptionKey, EncryptionKey, EntryTweak, Hash, PublicKey, SealError, Sealed,
    Sealer, SigningKey,
};
use mpms_crypto::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::claims::{ClaimError, FieldSpec, FieldValue};
use crate::erasable::Erasable;
use crate::records::Schema;
use crate::transaction::{CredentialClaim, CredentialIssuance, SchemaDefinition};
use crate::{codec, AccountId, CredentialId};

/// The digest of a supporting document (e.g. a diploma scan), never the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentDigest {
    /// What the document is.
    pub label: String,
    /// SHA-256 of the document.
    pub sha256: Hash,
}

/// The personal content of a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialContent {
    /// Random salt so that low-entropy content cannot be guessed from its commitment.
    pub salt: [u8; 32],
    /// The holder's full name.
    pub holder_name: String,
    /// Date of birth (ISO 8601).
    pub date_of_birth: String,
    /// Digests of legal documents.
    pub documents: Vec<DocumentDigest>,
    /// The claims, by field name, typed as the credential's schema declares
    /// ([`crate::claims`]).
    pub fields: BTreeMap<String, FieldValue>,
}

/// What an issuance's encrypted content holds: the content, and optionally the
/// certifier's signed forms of it, which the subject can show outside the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The content (what the claim's commitment covers).
    pub content: CredentialContent,
    /// The W3C Verifiable Credential (a VC-JOSE-COSE `vc+jwt` signed with the
    /// issuer's key), if the certifier made one.
    pub vc_jwt: Option<String>,
    /// The SD-JWT VC (`dc+sd-jwt`, every disclosure included), if the certifier made
    /// one: the holder shows a verifier only the fields it chooses.
    pub sd_jwt: Option<String>,
}

/// The forms of a credential its issuer signs beside the claim, delivered inside the
/// encrypted content ([`Delivery`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedForms {
    /// The W3C Verifiable Credential (`vc+jwt`).
    pub vc_jwt: Option<String>,
    /// The SD-JWT VC (`dc+sd-jwt`).
    pub sd_jwt: Option<String>,
}

impl CredentialContent {
    /// The value of field `name`, as one line of text (empty if not given).
    pub fn field_text(&self, name: &str) -> String {
        self.fields
            .get(name)
            .map(FieldValue::display)
            .unwrap_or_default()
    }

    /// The commitment stored on chain: `H("mpms/credential-content/v1" || encoding)`.
    pub fn commitment(&self) -> Hash {
        Hash::digest_parts(&[b"mpms/credential-content/v1", &codec::encode(self)])
    }
}

/// Why content could not be opened or did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Decryption failed (wrong key, or tampered data).
    #[error("cannot decrypt: {0}")]
    Decrypt(#[from] SealError),
    /// The plaintext is not valid content.
    #[error("content does not decode: {0}")]
    Decode(String),
    /// The content does not match the on-chain commitment.
    #[error("content does not match its commitment")]
    CommitmentMismatch,
    /// The certifier's signature over the claim does not verify.
    #[error("certifier signature does not verify")]
    BadSignature,
    /// The content, or the key sealed to this reader, was erased at its subject's
    /// request.
    #[error("content erased")]
    Erased,
}

/// The content key `issuance` sealed to its subject, unless erased.
pub fn subject_sealed(issuance: &CredentialIssuance) -> Result<&Sealed, ContentError> {
    issuance.subject_key.get().ok_or(ContentError::Erased)
}

/// The schema an issuance is for, as its issuer knows it: its id and its fields.
#[derive(Debug, Clone, Copy)]
pub struct SchemaRef<'a> {
    /// The schema id.
    pub id: &'a str,
    /// The fields it declares.
    pub fields: &'a [FieldSpec],
}

impl<'a> From<&'a Schema> for SchemaRef<'a> {
    fn from(schema: &'a Schema) -> SchemaRef<'a> {
        SchemaRef {
            id: &schema.id,
            fields: &schema.fields,
        }
    }
}

impl<'a> From<&'a SchemaDefinition> for SchemaRef<'a> {
    fn from(schema: &'a SchemaDefinition) -> SchemaRef<'a> {
        SchemaRef {
            id: &schema.id,
            fields: &schema.fields,
        }
    }
}

/// Why an issuance could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The content does not match its schema's fields: nothing was sealed.
    #[error("content does not match schema {schema}: {source}")]
    Content {
        /// The schema.
        schema: String,
        /// What does not match.
        source: ClaimError,
    },
    /// Encryption failed.
    #[error("cannot seal the content: {0}")]
    Seal(#[from] SealError),
    /// The subject's signing key is not a usable ed25519 key: no entry key derives
    /// from it.
    #[error("the subject's key {0} is not a usable ed25519 key")]
    SubjectKey(PublicKey),
}

/// Whom an issuance goes to, and so what its claim names as subject.
#[derive(Debug, Clone, Copy)]
pub enum Recipient<'a> {
    /// A fresh **entry key** of the subject (see [`mpms_crypto::entry`]): the claim
    /// names a key that only the subject can sign with and that nobody else can link
    /// to the subject or to its other entries. The content key is sealed to the
    /// subject's encryption key, and the entry key is derived from that seal.
    Entry {
        /// The subject's signing key (its account's current one).
        signing_key: PublicKey,
        /// The subject's encryption key.
        encryption_key: &'a EncryptionKey,
    },
    /// `subject` itself: what a stackable credential needs (its prerequisites are
    /// held by the same subject) and what a correction names (the entry it corrects).
    Named {
        /// The subject the claim names: an account, or an entry key.
        subject: AccountId,
        /// The key the content key is sealed to (the subject's owner's).
        encryption_key: &'a EncryptionKey,
    },
}

/// Builds an issuance: checks `content` against the schema's fields, commits to it,
/// encrypts it under a fresh content key, seals that key to the subject and signs the
/// claim with the certifier's key.
#[allow(clippy::too_many_arguments)]
pub fn prepare_issuance<R: RngCore + CryptoRng>(
    chain_id: &str,
    certifier_key: &SigningKey,
    certifier: AccountId,
    schema: SchemaRef<'_>,
    subject: AccountId,
    subject_encryption_key: &EncryptionKey,
    content: &CredentialContent,
    terms: ClaimTerms,
    rng: &mut R,
) -> Result<CredentialIssuance, IssueError> {
    prepare_issuance_with_vc(
        chain_id,
        Issuer {
            certifier,
            signing_key: certifier_key,
            practitioner: None,
        },
        schema,
        Recipient::Named {
            subject,
            encryption_key: subject_encryption_key,
        },
        content,
        terms,
        |_| SignedForms::default(),
        rng,
    )
}

/// What a claim says besides its schema, subject and content: its validity, and the
/// earlier entry it corrects, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimTerms {
    /// Start of validity (Unix milliseconds).
    pub valid_from_ms: u64,
    /// End of validity (Unix milliseconds).
    pub valid_until_ms: u64,
    /// The earlier entry this one corrects.
    pub supersedes: Option<CredentialId>,
    /// Its entry in the certifier's status lists (unused by the certifier's other
    /// credentials).
    pub status_index: u64,
}

impl ClaimTerms {
    /// Valid from `from` until `until`, at entry `status_index` of the certifier's
    /// status lists, correcting nothing.
    pub fn new(from: u64, until: u64, status_index: u64) -> ClaimTerms {
        ClaimTerms {
            valid_from_ms: from,
            valid_until_ms: until,
            supersedes: None,
            status_index,
        }
    }

    /// The same terms, correcting `earlier`.
    pub fn correcting(self, earlier: CredentialId) -> ClaimTerms {
        ClaimTerms {
            supersedes: Some(earlier),
            ..self
        }
    }
}

/// Who issues: the certifier whose accreditation covers the credential, and the key
/// that signs the claim (the certifier's own, or that of a practitioner it delegated
/// signing to).
#[derive(Clone, Copy)]
pub struct Issuer<'a> {
    /// The certifier (a hospital, a college).
    pub certifier: AccountId,
    /// The key that signs the claim.
    pub signing_key: &'a SigningKey,
    /// The practitioner signing for the certifier, if it is not the certifier itself.
    pub practitioner: Option<AccountId>,
}

impl<'a> Issuer<'a> {
    /// The certifier signs for itself with `key`.
    pub fn certifier(key: &'a SigningKey, certifier: AccountId) -> Issuer<'a> {
        Issuer {
            certifier,
            signing_key: key,
            practitioner: None,
        }
    }

    /// Practitioner `practitioner` signs with `key` for `certifier`, under its
    /// delegation.
    pub fn practitioner(
        key: &'a SigningKey,
        practitioner: AccountId,
        certifier: AccountId,
    ) -> Issuer<'a> {
        Issuer {
            certifier,
            signing_key: key,
            practitioner: Some(practitioner),
        }
    }
}

/// [`prepare_issuance`] for any [`Issuer`], delivering with the content the signed
/// forms (Verifiable Credential, SD-JWT VC) that `forms` makes of the claim (it runs
/// once the claim, and so the credential id, is known).
#[allow(clippy::too_many_arguments)]
pub fn prepare_issuance_with_vc<R: RngCore + CryptoRng>(
    chain_id: &str,
    issuer: Issuer<'_>,
    schema: SchemaRef<'_>,
    recipient: Recipient<'_>,
    content: &CredentialContent,
    terms: ClaimTerms,
    forms: impl FnOnce(&CredentialClaim) -> SignedForms,
    rng: &mut R,
) -> Result<CredentialIssuance, IssueError> {
    crate::claims::validate_fields(schema.fields, &content.fields).map_err(|source| {
        IssueError::Content {
            schema: schema.id.to_string(),
            source,
        }
    })?;
    // The content key's seal is set up first: an entry key derives from it.
    let (subject, encryption_key) = match recipient {
        Recipient::Entry {
            signing_key: subject,
            encryption_key,
        }
        | Recipient::Named {
            subject,
            encryption_key,
        } => (subject, encryption_key),
    };
    let sealer = Sealer::new(encryption_key, CONTENT_KEY_INFO, rng)?;
    let subject = match recipient {
        Recipient::Entry { .. } => EntryTweak::of_sealer(&sealer)?
            .entry_key(&subject)
            .ok_or(IssueError::SubjectKey(subject))?,
        Recipient::Named { .. } => subject,
    };
    let claim = CredentialClaim {
        schema: schema.id.to_string(),
        subject,
        certifier: issuer.certifier,
        commitment: content.commitment(),
        valid_from_ms: terms.valid_from_ms,
        valid_until_ms: terms.valid_until_ms,
        practitioner: issuer.practitioner,
        supersedes: terms.supersedes,
        status_index: terms.status_index,
    };
    let id = claim.id();
    let forms = forms(&claim);
    let delivery = Delivery {
        content: content.clone(),
        vc_jwt: forms.vc_jwt,
        sd_jwt: forms.sd_jwt,
    };
    let key = ContentKey::generate(rng);
    let encrypted = key.encrypt(id.as_bytes(), &codec::encode(&delivery), rng)?;
    let subject_key = key.seal_with(sealer, id.as_bytes())?;
    let certifier_signature = issuer.signing_key.sign(
        chain_id,
        mpms_crypto::Domain::CredentialClaim,
        &codec::encode(&claim),
    );
    Ok(CredentialIssuance {
        claim,
        certifier_signature,
        content: Erasable::new(encrypted),
        subject_key: Erasable::new(subject_key),
    })
}

/// The tweak under which `entry` (a claim's subject) is an entry key of `subject`
/// (its signing key, whose owner holds `reader`), found from `enc` of the content
/// key sealed to `subject` at issuance; `None` when `entry` is not one of its entry
/// keys (another subject's, or an account named directly).
pub fn entry_tweak(
    entry: &AccountId,
    subject: &PublicKey,
    reader: &DecryptionKey,
    enc: &EncryptionKey,
) -> Option<EntryTweak> {
    let tweak = EntryTweak::received(reader, enc).ok()?;
    (tweak.entry_key(subject).as_ref() == Some(entry)).then_some(tweak)
}

/// Opens the content key of credential `id` from `sealed` with `reader`'s key.
pub fn open_key(
    id: &CredentialId,
    sealed: &Sealed,
    reader: &DecryptionKey,
) -> Result<ContentKey, ContentError> {
    Ok(ContentKey::open_from(reader, id.as_bytes(), sealed)?)
}

/// The subject re-seals credential `id`'s key to a grantee (for a grant).
pub fn reseal_key<R: RngCore + CryptoRng>(
    id: &CredentialId,
    subject_sealed: &Sealed,
    subject: &DecryptionKey,
    grantee: &EncryptionKey,
    rng: &mut R,
) -> Result<Sealed, ContentError> {
    let key = open_key(id, subject_sealed, subject)?;
    Ok(key.seal_to(grantee, id.as_bytes(), rng)?)
}

/// Decrypts an issued credential's delivery (content and Verifiable Credential) with
/// the key sealed in `sealed` (the subject's own, `issuance.subject_key`, or a
/// grant's) and checks the content against the claim's commitment.
pub fn open_delivery(
    issuance: &CredentialIssuance,
    sealed: &Sealed,
    reader: &DecryptionKey,
) -> Result<Delivery, ContentError> {
    let id = issuance.claim.id();
    let key = open_key(&id, sealed, reader)?;
    let ciphertext = issuance.content.get().ok_or(ContentError::Erased)?;
    let plaintext = key.decrypt(id.as_bytes(), ciphertext)?;
    let delivery: Delivery =
        codec::decode(&plaintext).map_err(|e| ContentError::Decode(e.to_string()))?;
    if delivery.content.commitment() != issuance.claim.commitment {
        return Err(ContentError::CommitmentMismatch);
    }
    Ok(delivery)
}

/// Decrypts an issued credential's content (see [`open_delivery`]).
pub fn open_content(
    issuance: &CredentialIssuance,
    sealed: &Sealed,
    reader: &DecryptionKey,
) -> Result<CredentialContent, ContentError> {
    open_delivery(issuance, sealed, reader).map(|d| d.content)
}

/// The content key `tx` sealed to a grantee in its grant `entry` (0 for a single
/// grant, the position in a set grant), if `tx` grants access and holds that entry.
pub fn granted_key(tx: &crate::SignedTransaction, entry: u32) -> Option<&Erasable<Sealed>> {
    match &tx.tx.payload {
        crate::Payload::GrantAccess { sealed_key, .. } if entry == 0 => Some(sealed_key),
        crate::Payload::GrantAccessSet { entries, .. } => {
            entries.get(entry as usize).map(|e| &e.sealed_key)
        }
        _ => None,
    }
}

/// The issuance carried by `tx`, if it issues a credential.
pub fn issuance_of(tx: &crate::SignedTransaction) -> Option<&CredentialIssuance> {
    match &tx.tx.payload {
        crate::Payload::IssueCredential(issuance) => Some(issuance),
        _ => None,
    }
}

/// Checks, offline, that `content` is what the certifier with key `certifier_key`
/// signed in `claim`.
pub fn verify_content(
    chain_id: &str,
    claim: &CredentialClaim,
    certifier_signature: &mpms_crypto::Signature,
    certifier_key: &PublicKey,
    content: &CredentialContent,
) -> Result<(), ContentError> {
    if content.commitment() != claim.commitment {
        return Err(ContentError::CommitmentMismatch);
    }
    certifier_key
        .verify(
            chain_id,
            mpms_crypto::Domain::CredentialClaim,
            &codec::encode(claim),
            certifier_signature,
        )
        .map_err(|_| ContentError::BadSignature)
}
