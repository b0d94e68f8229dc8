//! Signed transactions and their payloads: every action of the domain.

use mpms_crypto::{
    BatchItem, Domain, EncryptedContent, EncryptionKey, Hash, PublicKey, Sealed, Signature,
    SignatureError, SignerSealed, SigningKey,
};
use serde::{Deserialize, Serialize};

use crate::claims::FieldSpec;
use crate::erasable::Erasable;
use crate::evidence::Evidence;
use crate::params::ParameterChange;
use crate::{codec, AccountId, CredentialId, GrantId, ProposalId, RequestId};

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transaction {
    /// The chain this transaction is for (also part of the signed message).
    pub chain_id: String,
    /// The sending account.
    pub sender: AccountId,
    /// The sender's next nonce: each account's transactions apply in nonce order, once.
    pub nonce: u64,
    /// What the transaction does.
    pub payload: Payload,
}

impl Transaction {
    /// The bytes its signature covers: its encoding with every erasable value
    /// replaced by its digest (see [`crate::erasable`]).
    pub fn signing_bytes(&self) -> Vec<u8> {
        if self.payload.holds_erasable() {
            let mut bare = self.clone();
            bare.payload.erase_all();
            codec::encode(&bare)
        } else {
            codec::encode(self)
        }
    }

    /// Signs with `key` (the sender's current signing key).
    pub fn sign(self, key: &SigningKey) -> SignedTransaction {
        let signature = key.sign(&self.chain_id, Domain::Transaction, &self.signing_bytes());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with the sender's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// Signature by the sender's signing key over the encoded transaction.
    pub signature: Signature,
}

impl SignedTransaction {
    /// The transaction hash: SHA-256 of the canonical encoding, signature included,
    /// with every erasable value replaced by its digest (so it is the same before
    /// and after erasure).
    pub fn hash(&self) -> Hash {
        if self.tx.payload.holds_erasable() {
            Hash::digest(&codec::encode(&self.erased()))
        } else {
            Hash::digest(&codec::encode(self))
        }
    }

    /// Erases what this transaction carries of credential `id`: its ciphertext and
    /// the key sealed to its subject if it issues it, the key sealed to a grantee if
    /// it grants access to it (in a set grant, that entry only). Its hash and
    /// signature are unchanged. Whether anything was erased.
    pub fn erase_credential(&mut self, id: &CredentialId) -> bool {
        let held = |e: &Erasable<Sealed>| !e.is_erased();
        match &mut self.tx.payload {
            Payload::IssueCredential(issuance) if &issuance.claim.id() == id => {
                let any = !issuance.content.is_erased() || held(&issuance.subject_key);
                issuance.content.erase();
                issuance.subject_key.erase();
                any
            }
            Payload::GrantAccess {
                credential,
                sealed_key,
                ..
            } if credential == id => {
                let any = held(sealed_key);
                sealed_key.erase();
                any
            }
            Payload::GrantAccessSet { entries, .. } => {
                let mut any = false;
                for entry in entries.iter_mut().filter(|e| &e.credential == id) {
                    any |= held(&entry.sealed_key);
                    entry.sealed_key.erase();
                }
                any
            }
            _ => false,
        }
    }

    /// This transaction with every erasable value erased: what a node keeps once a
    /// credential's content is erased. Its hash and signature are unchanged.
    pub fn erased(&self) -> SignedTransaction {
        let mut bare = self.clone();
        bare.tx.payload.erase_all();
        bare
    }

    /// Verifies the signature under `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        key.verify(
            &self.tx.chain_id,
            Domain::Transaction,
            &self.tx.signing_bytes(),
            &self.signature,
        )
    }

    /// The batch-verification item for this signature under `key`.
    pub fn batch_item(&self, key: PublicKey) -> BatchItem {
        BatchItem::new(
            &self.tx.chain_id,
            Domain::Transaction,
            &self.tx.signing_bytes(),
            self.signature,
            key,
        )
    }
}

/// Kinds of member organizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OrganizationKind {
    /// A hospital or clinic.
    Hospital,
    /// A university.
    University,
    /// A medical college.
    MedicalCollege,
    /// A medical licensing board.
    LicensingBoard,
    /// A government agency.
    GovernmentAgency,
    /// A course or training provider.
    CourseProvider,
    /// Anything else.
    Other,
    /// An employer (verifies sick-leave and fitness certificates its employees share).
    Employer,
    /// A health insurer (verifies the certificates behind a claim).
    Insurer,
}

/// A credential schema ("course tool") as registered by a certifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchemaDefinition {
    /// Unique id: 1 to 64 characters of `a-z 0-9 . _ -`, e.g. `cardiology.bls`.
    pub id: String,
    /// What the credential attests.
    pub description: String,
    /// Schemas the subject must already hold (this is what makes credentials stackable).
    pub prerequisites: Vec<String>,
    /// What holding the credential means, e.g. "certified in basic life support".
    pub output: String,
    /// The condition for completion, e.g. "pass mark 80% and 20 supervised hours".
    pub completion_condition: String,
    /// Longest validity a credential of this schema may have, in milliseconds.
    pub max_validity_ms: Option<u64>,
    /// The fields a credential's content gives (checked by the issuer before
    /// sealing, and by whoever opens the content).
    pub fields: Vec<FieldSpec>,
    /// The FHIR resource type its content maps to and from (`Observation`,
    /// `Condition`, ...), if any: 1 to 64 ASCII letters.
    pub fhir_resource: Option<String>,
}

/// What a certifier attests and signs for one credential. Carries no personal data:
/// the content is represented by its commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialClaim {
    /// The schema issued.
    pub schema: String,
    /// The subject (intern or patient) it is issued to.
    pub subject: AccountId,
    /// The issuing certifier.
    pub certifier: AccountId,
    /// Commitment to the full content (see [`crate::credential`]).
    pub commitment: Hash,
    /// Start of validity (Unix milliseconds).
    pub valid_from_ms: u64,
    /// End of validity (Unix milliseconds), after the start.
    pub valid_until_ms: u64,
    /// The practitioner who signed the claim for the certifier, under the
    /// certifier's delegation; `None` when the certifier signed it itself.
    pub practitioner: Option<AccountId>,
    /// The earlier entry this one corrects: same subject, same schema, issued by the
    /// same certifier. Both stay provable; the earlier one is marked superseded.
    pub supersedes: Option<CredentialId>,
    /// The credential's entry in its certifier's status lists (W3C Bitstring Status
    /// List): list `status_index / STATUS_LIST_BITS`, bit `status_index %
    /// STATUS_LIST_BITS`. Chosen by the signer, unused by any other credential of the
    /// certifier, below [`MAX_STATUS_INDEX`].
    pub status_index: u64,
}

/// The entries of one status list: the W3C minimum, 16 KiB of bits.
pub const STATUS_LIST_BITS: u64 = 131_072;

/// The largest status index plus one: 32,768 lists of [`STATUS_LIST_BITS`] per
/// certifier.
pub const MAX_STATUS_INDEX: u64 = 1 << 32;

impl CredentialClaim {
    /// The account whose key signs the claim: the practitioner, if one signed for
    /// the certifier, else the certifier.
    pub fn signer(&self) -> AccountId {
        self.practitioner.unwrap_or(self.certifier)
    }

    /// The credential id: the hash of the encoded claim.
    pub fn id(&self) -> CredentialId {
        Hash::digest(&codec::encode(self))
    }
}

/// A credential issuance as carried by a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialIssuance {
    /// What is attested.
    pub claim: CredentialClaim,
    /// The certifier's signature over the claim (domain `CredentialClaim`).
    pub certifier_signature: Signature,
    /// The content, encrypted under a random content key (erasable).
    pub content: Erasable<EncryptedContent>,
    /// The content key sealed (HPKE) to the subject's encryption key (erasable).
    pub subject_key: Erasable<Sealed>,
}

/// How a set grant chose its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GrantSelection {
    /// Every entry of the subject's of this schema, corrected ones included (the
    /// history), that is neither revoked nor expired: the chain checks none is left
    /// out.
    Schema(String),
    /// The entries listed.
    Listed,
}

/// One credential of a set grant, with its content key sealed to the grantee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantedEntry {
    /// The credential.
    pub credential: CredentialId,
    /// Its content key, sealed to the grantee's encryption key (erasable).
    pub sealed_key: Erasable<Sealed>,
}

/// The `info` under which an access request's purpose is sealed to its subject.
pub const PURPOSE_INFO: &[u8] = b"mpms/request-purpose/v1";
/// The `info` under which an inspection's outcome is sealed to the grant's subject.
pub const OUTCOME_INFO: &[u8] = b"mpms/inspection-outcome/v1";
/// The longest sealed purpose or outcome (a text of at most 256 bytes, its encoding
/// and the tag).
pub const MAX_SEALED_NOTE: usize = 320;

/// Outcome of a verifier's inspection of a granted credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum InspectionOutcome {
    /// Content decrypted, commitment and certifier signature checked.
    Verified,
    /// The check failed, with the reason.
    Failed(String),
}

/// Actions that governance votes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum GovernanceAction {
    /// Make `operator` an authority with `consensus_key`, running the node `peer_id`.
    AddAuthority {
        /// The operating account (holds the bonded stake).
        operator: AccountId,
        /// The key that signs consensus messages.
        consensus_key: PublicKey,
        /// The node's libp2p peer id (text form).
        peer_id: String,
    },
    /// Remove an authority from the set.
    RemoveAuthority {
        /// The authority's operator.
        operator: AccountId,
    },
    /// Replace an authority's consensus key.
    RotateAuthorityKey {
        /// The authority's operator.
        operator: AccountId,
        /// The new consensus key.
        consensus_key: PublicKey,
    },
    /// Accredit a certifier for a scope and a validity period.
    AccreditCertifier {
        /// The certifier.
        certifier: AccountId,
        /// Schema ids it may register and issue: exact ids, or prefixes ending in `.*`.
        scope: Vec<String>,
        /// Start of the accreditation (Unix milliseconds).
        valid_from_ms: u64,
        /// End of the accreditation (Unix milliseconds).
        valid_until_ms: u64,
    },
    /// Suspend a certifier.
    SuspendCertifier {
        /// The certifier.
        certifier: AccountId,
        /// Why.
        reason: String,
    },
    /// Slash and suspend a certifier whose credentials were shown fraudulent.
    SlashCertifier {
        /// The certifier.
        certifier: AccountId,
        /// Share of its stake to burn, in basis points.
        fraction_bps: u32,
        /// Why.
        reason: String,
    },
    /// Change a chain parameter.
    SetParameter(ParameterChange),
    /// Admit a node (by libp2p peer id) to a permissioned network: a full node of a
    /// member institution, or a future authority's node before it is voted in.
    AdmitNode {
        /// The node's libp2p peer id (text form).
        peer_id: String,
        /// The institution's account that runs it.
        operator: AccountId,
    },
    /// Remove a node from the registry; permissioned peers disconnect it.
    RemoveNode {
        /// The node's libp2p peer id.
        peer_id: String,
    },
    /// Revoke every credential `certifier` issued at heights `from_height` to
    /// `to_height` (inclusive; `None`: up to the block that applies the action), as
    /// when its credentials were shown fraudulent. Status proofs carry it, so every
    /// verifier refuses them.
    RevokeCertifierCredentials {
        /// The certifier.
        certifier: AccountId,
        /// Lowest issue height revoked (0: from its first credential).
        from_height: u64,
        /// Highest issue height revoked; `None`: up to the applying block.
        to_height: Option<u64>,
        /// Why.
        reason: String,
    },
    /// Admit a registered organization: from then on it may ask subjects for access
    /// (as governance accredits certifiers, it vets who asks).
    AdmitOrganization {
        /// The organization.
        organization: AccountId,
    },
    /// Suspend an admitted organization: it may no longer ask for access.
    SuspendOrganization {
        /// The organization.
        organization: AccountId,
        /// Why.
        reason: String,
    },
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Payload {
    /// Move unbonded balance to another existing account.
    Transfer {
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: u64,
    },
    /// Rotate the sender's signing key (from the next height) and/or the encryption
    /// key of its registered roles.
    RotateKeys {
        /// New transaction-signing key.
        signing_key: Option<PublicKey>,
        /// New X25519 encryption key.
        encryption_key: Option<EncryptionKey>,
    },
    /// Register the sender as a subject (intern or patient); pseudonymous.
    RegisterSubject {
        /// Key that credential content keys are sealed to.
        encryption_key: EncryptionKey,
        /// The account's proof of work ([`crate::work`]).
        work: u64,
    },
    /// Register the sender as an organization (a verifier: hospital, board, agency).
    RegisterOrganization {
        /// Public name of the institution.
        name: String,
        /// Kind of institution.
        kind: OrganizationKind,
        /// Key that granted content keys are sealed to.
        encryption_key: EncryptionKey,
        /// The account's proof of work ([`crate::work`]).
        work: u64,
    },
    /// Register the sender as a certifier (pending accreditation by governance).
    RegisterCertifier {
        /// Public name of the issuing body.
        name: String,
        /// The certifier's encryption key.
        encryption_key: EncryptionKey,
        /// The account's proof of work ([`crate::work`]).
        work: u64,
    },
    /// Bond balance as stake.
    Bond {
        /// Amount.
        amount: u64,
    },
    /// Start unbonding stake; it becomes withdrawable after the unbonding period.
    Unbond {
        /// Amount.
        amount: u64,
    },
    /// Move all matured unbonded stake back to the balance.
    WithdrawUnbonded,
    /// Register a credential schema (sender: an accredited certifier, id in scope).
    RegisterSchema(Box<SchemaDefinition>),
    /// Issue a credential (the claim names and is signed by the certifier).
    IssueCredential(Box<CredentialIssuance>),
    /// Revoke a credential (sender: its certifier).
    RevokeCredential {
        /// The credential.
        credential: CredentialId,
        /// Why.
        reason: String,
    },
    /// Ask a subject for access to credentials (sender: an organization).
    RequestAccess {
        /// The subject asked.
        subject: AccountId,
        /// The credentials asked for.
        credentials: Vec<CredentialId>,
        /// Why, e.g. "license application review": UTF-8 text sealed to the subject
        /// (its key as named above, [`PURPOSE_INFO`], the requester's id as
        /// associated data), so that only the subject reads it.
        purpose: SignerSealed,
    },
    /// Grant an organization access to one credential (sender: its subject).
    GrantAccess {
        /// The credential.
        credential: CredentialId,
        /// The organization granted access.
        grantee: AccountId,
        /// The request this answers, if any.
        request: Option<RequestId>,
        /// The credential's content key, sealed to the grantee's encryption key
        /// (erasable).
        sealed_key: Erasable<Sealed>,
        /// When the grant lapses (Unix milliseconds).
        expires_at_ms: u64,
    },
    /// Grant an organization access to a set of credentials in one transaction
    /// (sender: their subject), e.g. on a referral or a transfer. Each entry becomes
    /// a grant of its own (see [`set_member_grant_id`]); revoking the set revokes
    /// them all.
    GrantAccessSet {
        /// The organization granted access.
        grantee: AccountId,
        /// The request this answers, if any (it must ask for every entry).
        request: Option<RequestId>,
        /// How the entries were chosen.
        selection: GrantSelection,
        /// The entries, each with its sealed content key.
        entries: Vec<GrantedEntry>,
        /// When the grants lapse (Unix milliseconds).
        expires_at_ms: u64,
    },
    /// Revoke a grant, or a set grant with all its entries (sender: the subject who
    /// made it).
    RevokeGrant {
        /// The grant.
        grant: GrantId,
    },
    /// Record an inspection under a live grant (sender: the grantee).
    RecordInspection {
        /// The grant used.
        grant: GrantId,
        /// What the inspection found: an encoded [`InspectionOutcome`] sealed to the
        /// grant's subject ([`OUTCOME_INFO`], the grant's id as associated data).
        outcome: SignerSealed,
    },
    /// Open a governance proposal (sender: an active authority).
    Propose {
        /// What is proposed.
        action: GovernanceAction,
    },
    /// Vote on a proposal (sender: an active authority).
    Vote {
        /// The proposal.
        proposal: ProposalId,
        /// For or against.
        approve: bool,
    },
    /// Submit evidence of an authority's misbehaviour (sender: any account).
    SubmitEvidence(Box<Evidence>),
    /// Delegate claim signing to a practitioner, or replace its terms (sender: an
    /// accredited certifier). Applies from the next height.
    Delegate {
        /// The practitioner's account.
        practitioner: AccountId,
        /// Its role ("attending cardiologist") as a salted digest
        /// ([`crate::records::role_digest`]): the chain never holds the role itself.
        role: Hash,
        /// Schemas it may sign: exact ids, or prefixes ending in `*`.
        schemas: Vec<String>,
        /// Start of validity (Unix milliseconds).
        valid_from_ms: u64,
        /// End of validity (Unix milliseconds).
        valid_until_ms: u64,
    },
    /// Revoke a practitioner's delegation (sender: the certifier that made it).
    /// Claims it signed before stay valid; from the next height it signs nothing.
    RevokeDelegation {
        /// The practitioner.
        practitioner: AccountId,
        /// Why.
        reason: String,
    },
    /// Erase a credential's content (sender: its subject): the chain keeps the
    /// claim, its commitment and the fact of issuance; every node deletes the
    /// ciphertext and the content keys sealed to the subject and its grantees from
    /// its storage, and the credential's grants end.
    EraseContent {
        /// The credential.
        credential: CredentialId,
    },
}

impl Payload {
    /// Whether it carries erasable values (directly, or in the transaction a piece
    /// of evidence carries).
    pub fn holds_erasable(&self) -> bool {
        match self {
            Payload::IssueCredential(_)
            | Payload::GrantAccess { .. }
            | Payload::GrantAccessSet { .. } => true,
            Payload::SubmitEvidence(evidence) => match evidence.as_ref() {
                Evidence::FakeCredential { transaction, .. } => {
                    transaction.tx.payload.holds_erasable()
                }
                Evidence::Equivocation { .. } => false,
            },
            _ => false,
        }
    }

    /// Whether a value it carries itself (not through evidence) was erased: a new
    /// transaction carries all of them.
    pub fn any_erased(&self) -> bool {
        match self {
            Payload::IssueCredential(issuance) => {
                issuance.content.is_erased() || issuance.subject_key.is_erased()
            }
            Payload::GrantAccess { sealed_key, .. } => sealed_key.is_erased(),
            Payload::GrantAccessSet { entries, .. } => {
                entries.iter().any(|e| e.sealed_key.is_erased())
            }
            _ => false,
        }
    }

    /// Erases every erasable value it carries.
    pub fn erase_all(&mut self) {
        match self {
            Payload::IssueCredential(issuance) => {
                issuance.content.erase();
                issuance.subject_key.erase();
            }
            Payload::GrantAccess { sealed_key, .. } => sealed_key.erase(),
            Payload::GrantAccessSet { entries, .. } => {
                for entry in entries {
                    entry.sealed_key.erase();
                }
            }
            Payload::SubmitEvidence(evidence) => {
                if let Evidence::FakeCredential { transaction, .. } = evidence.as_mut() {
                    transaction.tx.payload.erase_all();
                }
            }
            _ => {}
        }
    }

    /// A short name for logs, metrics and the API.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Transfer { .. } => "transfer",
            Payload::RotateKeys { .. } => "rotate-keys",
            Payload::RegisterSubject { .. } => "register-subject",
            Payload::RegisterOrganization { .. } => "register-organization",
            Payload::RegisterCertifier { .. } => "register-certifier",
            Payload::Bond { .. } => "bond",
            Payload::Unbond { .. } => "unbond",
            Payload::WithdrawUnbonded => "withdraw-unbonded",
            Payload::RegisterSchema(_) => "register-schema",
            Payload::IssueCredential(_) => "issue-credential",
            Payload::RevokeCredential { .. } => "revoke-credential",
            Payload::RequestAccess { .. } => "request-access",
            Payload::GrantAccess { .. } => "grant-access",
            Payload::GrantAccessSet { .. } => "grant-access-set",
            Payload::RevokeGrant { .. } => "revoke-grant",
            Payload::RecordInspection { .. } => "record-inspection",
            Payload::Propose { .. } => "propose",
            Payload::Vote { .. } => "vote",
            Payload::SubmitEvidence(_) => "submit-evidence",
            Payload::Delegate { .. } => "delegate",
            Payload::RevokeDelegation { .. } => "revoke-delegation",
            Payload::EraseContent { .. } => "erase-content",
        }
    }

    /// Whether this payload may come from an account that does not exist yet.
    pub fn registers_new_account(&self) -> bool {
        matches!(
            self,
            Payload::RegisterSubject { .. }
                | Payload::RegisterOrganization { .. }
                | Payload::RegisterCertifier { .. }
        )
    }
}

fn derived_id(tag: &[u8], sender: &AccountId, nonce: u64) -> Hash {
    Hash::digest_parts(&[tag, sender.as_bytes(), &nonce.to_le_bytes()])
}

/// The id of the access request made by `sender`'s transaction with `nonce`.
pub fn request_id(sender: &AccountId, nonce: u64) -> RequestId {
    derived_id(b"mpms/request", sender, nonce)
}

/// The id of the grant (or set grant) made by `sender`'s transaction with `nonce`.
pub fn grant_id(sender: &AccountId, nonce: u64) -> GrantId {
    derived_id(b"mpms/grant", sender, nonce)
}

/// The id of the grant of entry `index` (from 0) of set grant `set`.
pub fn set_member_grant_id(set: &GrantId, index: u32) -> GrantId {
    Hash::digest_parts(&[
        b"mpms/grant-set-member",
        set.as_bytes(),
        &index.to_le_bytes(),
    ])
}
