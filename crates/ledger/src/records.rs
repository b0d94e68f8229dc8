//! What the state holds, and under which keys ([`keys`]).
//!
//! Values are stored canonically encoded. Anything that changes at a height and must
//! be judged "as of" a past height (keys, accreditation, authority status) is kept as
//! a [`History`]; such changes take effect from the **next** height, so every check
//! within one block sees the same rules, and evidence about a past block is judged
//! exactly as that block would have been.

use mpms_crypto::{EncryptionKey, Hash, PublicKey, Signature, SignerSealed};
use serde::{Deserialize, Serialize};

use crate::params::Params;
use crate::transaction::{CredentialClaim, GovernanceAction, OrganizationKind};
use crate::vote::AuthoritySet;
use crate::{AccountId, CredentialId, GrantId, History, ProposalId, RequestId};

/// State key layout: one prefix byte per record kind, then the record's id.
pub mod keys {
    use super::*;

    const ACCOUNT: u8 = 0x01;
    const SUBJECT: u8 = 0x02;
    const ORGANIZATION: u8 = 0x03;
    const CERTIFIER: u8 = 0x04;
    const AUTHORITY: u8 = 0x05;
    const SCHEMA: u8 = 0x06;
    const CREDENTIAL: u8 = 0x07;
    const HELD: u8 = 0x08;
    const REQUEST: u8 = 0x09;
    const GRANT: u8 = 0x0a;
    const PROPOSAL: u8 = 0x0b;
    const OFFENCE: u8 = 0x0c;
    // 0x0d is unused: a subject's credentials are found through its HELD lists.
    const NODE: u8 = 0x0e;
    const META: u8 = 0x0f;
    const BLOCK_HASH: u8 = 0x10;
    const INSPECTION: u8 = 0x11;
    const AUTHORITY_CHANGE: u8 = 0x12;
    const SUBJECT_ACCESS: u8 = 0x13;
    const DELEGATION: u8 = 0x14;
    const GRANT_SET: u8 = 0x15;
    const PUNISHED: u8 = 0x16;
    const CERTIFIER_REVOCATIONS: u8 = 0x17;
    const STATUS_SLOT: u8 = 0x18;
    const STATUS_NEXT: u8 = 0x19;

    fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
        k.push(prefix);
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }

    /// An [`Account`].
    pub fn account(id: &AccountId) -> Vec<u8> {
        key(ACCOUNT, &[id.as_bytes()])
    }
    /// A [`Subject`].
    pub fn subject(id: &AccountId) -> Vec<u8> {
        key(SUBJECT, &[id.as_bytes()])
    }
    /// An [`Organization`].
    pub fn organization(id: &AccountId) -> Vec<u8> {
        key(ORGANIZATION, &[id.as_bytes()])
    }
    /// A [`Certifier`].
    pub fn certifier(id: &AccountId) -> Vec<u8> {
        key(CERTIFIER, &[id.as_bytes()])
    }
    /// The [`CertifierRevocations`] governance made of a certifier's credentials.
    pub fn certifier_revocations(id: &AccountId) -> Vec<u8> {
        key(CERTIFIER_REVOCATIONS, &[id.as_bytes()])
    }
    /// The credential ([`CredentialId`]) at entry `index` of `certifier`'s status
    /// lists.
    pub fn status_slot(certifier: &AccountId, index: u64) -> Vec<u8> {
        key(STATUS_SLOT, &[certifier.as_bytes(), &index.to_be_bytes()])
    }
    /// The key prefix of `certifier`'s status entries (in index order).
    pub fn status_slot_prefix(certifier: &AccountId) -> Vec<u8> {
        key(STATUS_SLOT, &[certifier.as_bytes()])
    }
    /// One more than the highest status index `certifier` used (`u64`): where a
    /// client starts looking for a free entry.
    pub fn status_next(certifier: &AccountId) -> Vec<u8> {
        key(STATUS_NEXT, &[certifier.as_bytes()])
    }
    /// An [`Authority`], by operator.
    pub fn authority(operator: &AccountId) -> Vec<u8> {
        key(AUTHORITY, &[operator.as_bytes()])
    }
    /// A [`GrantSet`].
    pub fn grant_set(id: &GrantId) -> Vec<u8> {
        key(GRANT_SET, &[id.as_bytes()])
    }

    /// A [`Delegation`] of `certifier` to `practitioner`.
    pub fn delegation(certifier: &AccountId, practitioner: &AccountId) -> Vec<u8> {
        key(DELEGATION, &[certifier.as_bytes(), practitioner.as_bytes()])
    }

    /// The prefix of every delegation `certifier` made.
    pub fn delegation_prefix(certifier: &AccountId) -> Vec<u8> {
        key(DELEGATION, &[certifier.as_bytes()])
    }

    /// A [`Schema`].
    pub fn schema(id: &str) -> Vec<u8> {
        key(SCHEMA, &[id.as_bytes()])
    }
    /// A [`Credential`].
    pub fn credential(id: &CredentialId) -> Vec<u8> {
        key(CREDENTIAL, &[id.as_bytes()])
    }
    /// The credentials issued to a subject of one schema (`Vec<CredentialId>`, in
    /// issuance order, revoked ones included). All of a subject's lists share the
    /// prefix [`held_prefix`], so they also index the subject's credentials.
    pub fn held(subject: &AccountId, schema: &str) -> Vec<u8> {
        key(HELD, &[subject.as_bytes(), schema.as_bytes()])
    }
    /// The key prefix of a subject's [`held`] lists (the subject id has a fixed
    /// length, so the prefix names exactly this subject's lists).
    pub fn held_prefix(subject: &AccountId) -> Vec<u8> {
        key(HELD, &[subject.as_bytes()])
    }
    /// A subject's access record: an [`AccessRequest`] (`kind` [`ACCESS_REQUEST`])
    /// or a [`Grant`] (`kind` [`ACCESS_GRANT`]) concerning its credentials, made at
    /// `height`, indexed for its audit trail in the order they were made (the value
    /// is empty).
    pub fn subject_access(subject: &AccountId, height: u64, kind: u8, id: &Hash) -> Vec<u8> {
        key(
            SUBJECT_ACCESS,
            &[
                subject.as_bytes(),
                &height.to_be_bytes(),
                &[kind],
                id.as_bytes(),
            ],
        )
    }
    /// The key prefix of a subject's [`subject_access`] entries.
    pub fn subject_access_prefix(subject: &AccountId) -> Vec<u8> {
        key(SUBJECT_ACCESS, &[subject.as_bytes()])
    }
    /// [`subject_access`] kind of an access request.
    pub const ACCESS_REQUEST: u8 = b'r';
    /// [`subject_access`] kind of a grant.
    pub const ACCESS_GRANT: u8 = b'g';
    /// An [`AccessRequest`].
    pub fn request(id: &RequestId) -> Vec<u8> {
        key(REQUEST, &[id.as_bytes()])
    }
    /// A [`Grant`].
    pub fn grant(id: &GrantId) -> Vec<u8> {
        key(GRANT, &[id.as_bytes()])
    }
    /// The `n`-th [`Inspection`] recorded under a grant.
    pub fn inspection(grant: &GrantId, n: u64) -> Vec<u8> {
        key(INSPECTION, &[grant.as_bytes(), &n.to_be_bytes()])
    }
    /// A [`Proposal`].
    pub fn proposal(id: ProposalId) -> Vec<u8> {
        key(PROPOSAL, &[&id.to_be_bytes()])
    }
    /// An offence punished by evidence ([`Offence`]).
    pub fn offence(id: &Hash) -> Vec<u8> {
        key(OFFENCE, &[id.as_bytes()])
    }
    /// A [`NodeRecord`] of the node registry, by peer id.
    pub fn node(peer_id: &str) -> Vec<u8> {
        key(NODE, &[peer_id.as_bytes()])
    }
    /// The peer ids on the node registry (`Vec<String>`).
    pub fn node_index() -> Vec<u8> {
        key(META, &[b"node-index"])
    }
    /// The chain id (`String`).
    pub fn chain_id() -> Vec<u8> {
        key(META, &[b"chain-id"])
    }
    /// The [`Params`].
    pub fn params() -> Vec<u8> {
        key(META, &[b"params"])
    }
    /// The next proposal id (`u64`).
    pub fn next_proposal() -> Vec<u8> {
        key(META, &[b"next-proposal"])
    }
    /// Every authority operator ever added, in order (`Vec<AccountId>`).
    pub fn authority_index() -> Vec<u8> {
        key(META, &[b"authority-index"])
    }
    /// The [`AuthoritySet`] that finalizes the next block.
    pub fn authority_set() -> Vec<u8> {
        key(META, &[b"authority-set"])
    }
    /// The authority set in force before the last change of the set, and the height
    /// of the block that changed it ([`PreviousAuthoritySet`]): a block's certificate
    /// for its parent is checked against the set that finalized the parent.
    pub fn previous_authority_set() -> Vec<u8> {
        key(META, &[b"previous-authority-set"])
    }
    /// The [`AuthoritySet`] that a block at `height` changed the set to (it
    /// finalizes the blocks after `height`): the chain of these, from genesis, is
    /// what a verifier follows to learn the set of any height.
    pub fn authority_change(height: u64) -> Vec<u8> {
        key(AUTHORITY_CHANGE, &[&height.to_be_bytes()])
    }
    /// The key prefix of every [`authority_change`].
    pub fn authority_change_prefix() -> Vec<u8> {
        key(AUTHORITY_CHANGE, &[])
    }
    /// The hash of the committed block at a height ([`mpms_crypto::Hash`]), kept from
    /// the history floor on ([`HistoryFloor`]): fake-credential evidence names a header
    /// whose parent must be the committed block.
    pub fn block_hash(height: u64) -> Vec<u8> {
        key(BLOCK_HASH, &[&height.to_be_bytes()])
    }
    /// The [`HistoryFloor`]: the lowest height whose history the chain still holds.
    pub fn history_floor() -> Vec<u8> {
        key(META, &[b"history-floor"])
    }
    /// The height of the block that last punished an authority (`u64`): every offence
    /// it committed at or before that height is covered by that punishment.
    pub fn punished(operator: &AccountId) -> Vec<u8> {
        key(PUNISHED, &[operator.as_bytes()])
    }
}

/// An account: keys, nonce and money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    /// Transaction-signing keys by height.
    pub signing_keys: History<PublicKey>,
    /// The next expected nonce.
    pub nonce: u64,
    /// Spendable balance.
    pub balance: u64,
    /// Bonded stake.
    pub bonded: u64,
    /// Stake being unbonded.
    pub unbonding: Vec<Unbonding>,
}

impl Account {
    /// A fresh account created at `height`, signing with its own id.
    pub fn new(id: AccountId, height: u64) -> Account {
        Account {
            signing_keys: History::new(height, id),
            nonce: 0,
            balance: 0,
            bonded: 0,
            unbonding: Vec::new(),
        }
    }

    /// The signing key in force at `height`.
    pub fn signing_key_at(&self, id: &AccountId, height: u64) -> PublicKey {
        self.signing_keys.at(height).copied().unwrap_or(*id)
    }
}

/// Stake that becomes withdrawable at a height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unbonding {
    /// Height from which it may be withdrawn.
    pub release_height: u64,
    /// Amount.
    pub amount: u64,
}

/// A subject (intern or patient): pseudonymous, known by key only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subject {
    /// Key that content keys are sealed to.
    pub encryption_key: EncryptionKey,
    /// Height of registration.
    pub registered_height: u64,
}

/// A member organization acting as a verifier (hospital, licensing board, agency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    /// Public name.
    pub name: String,
    /// Kind.
    pub kind: OrganizationKind,
    /// Key that granted content keys are sealed to.
    pub encryption_key: EncryptionKey,
    /// Height of registration.
    pub registered_height: u64,
    /// Whether governance admitted it: only an admitted organization asks subjects
    /// for access (anyone may register one, under any name).
    pub admission: Admission,
}

/// Where an organization stands with governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Admission {
    /// Registered, not (yet) admitted: subjects may grant it access, it may not ask.
    Pending,
    /// Admitted by governance at this height (genesis organizations at 0).
    Admitted(u64),
    /// Suspended by governance, with the reason: it may no longer ask.
    Suspended(String),
}

/// Accreditation state of a certifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AccreditationStatus {
    /// Registered, never accredited.
    Pending,
    /// Accredited.
    Accredited,
    /// Suspended by governance.
    Suspended(String),
    /// Slashed and suspended by governance because credentials it signed were shown
    /// fraudulent: a verifier refuses every credential of a certifier in this state.
    Slashed(String),
}

impl AccreditationStatus {
    /// Whether the certifier may not issue: suspended, or slashed.
    pub fn is_suspended(&self) -> bool {
        matches!(self, Self::Suspended(_) | Self::Slashed(_))
    }
}

/// The most [`RevokedRange`]s one certifier's record holds: governance revokes a wider
/// range rather than many narrow ones.
pub const MAX_REVOKED_RANGES: usize = 64;

/// Credentials of one certifier that governance revoked, by the heights they were
/// issued at (the certifier's own revocations stay on each credential's record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertifierRevocations {
    /// The revoked ranges, in the order governance revoked them.
    pub ranges: Vec<RevokedRange>,
}

/// Every credential a certifier issued at heights `from_height..=to_height`, revoked
/// by governance at `height`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedRange {
    /// Lowest issue height covered.
    pub from_height: u64,
    /// Highest issue height covered.
    pub to_height: u64,
    /// Why.
    pub reason: String,
    /// The block that revoked them: they count as held up to it, not after.
    pub height: u64,
}

impl CertifierRevocations {
    /// The range that revokes a credential issued at `issued_height`, as of the state
    /// after block `as_of` (ranges revoked later do not count).
    pub fn covering(&self, issued_height: u64, as_of: u64) -> Option<&RevokedRange> {
        self.ranges.iter().find(|r| {
            r.height <= as_of && r.from_height <= issued_height && issued_height <= r.to_height
        })
    }
}

/// A certifier's accreditation as in force from some height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accreditation {
    /// Status.
    pub status: AccreditationStatus,
    /// Schema ids it may register and issue (exact, or prefixes ending in `.*`).
    pub scope: Vec<String>,
    /// Start of validity (Unix milliseconds).
    pub valid_from_ms: u64,
    /// End of validity (Unix milliseconds).
    pub valid_until_ms: u64,
}

impl Accreditation {
    /// Whether `schema` is within the scope.
    pub fn covers(&self, schema: &str) -> bool {
        self.scope
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => schema.starts_with(prefix),
                None => pattern == schema,
            })
    }
}

/// A credential issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Certifier {
    /// Public name.
    pub name: String,
    /// Encryption key.
    pub encryption_key: EncryptionKey,
    /// Height of registration.
    pub registered_height: u64,
    /// Accreditation by height.
    pub accreditation: History<Accreditation>,
}

/// Status of an authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AuthorityStatus {
    /// In the set.
    Active,
    /// Removed for misbehaviour (evidence executed).
    Jailed,
    /// Removed by governance.
    Removed,
}

/// A validator institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Authority {
    /// The operator account (holds the stake).
    pub operator: AccountId,
    /// Consensus keys by height.
    pub consensus_keys: History<PublicKey>,
    /// Status by height.
    pub status: History<AuthorityStatus>,
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// Total stake burned by slashing.
    pub slashed: u64,
}

impl Authority {
    /// Whether the authority was in the set at `height`.
    pub fn active_at(&self, height: u64) -> bool {
        self.status.at(height) == Some(&AuthorityStatus::Active)
    }
}

/// A node admitted by governance to a permissioned network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeRecord {
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// The institution's account that runs it.
    pub operator: AccountId,
    /// The height from which it is admitted.
    pub admitted_height: u64,
}

/// The digest of practitioner role `role` under `salt`:
/// SHA-256(`"mpms/role/v1"` ‖ salt ‖ role). The salt keeps a guess of the role from
/// being checked against it.
pub fn role_digest(role: &str, salt: &[u8; 16]) -> Hash {
    Hash::digest_parts(&[b"mpms/role/v1", salt, role.as_bytes()])
}

/// The terms on which a practitioner signs claims for a certifier, as in force from
/// some height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DelegationTerm {
    /// The practitioner's role ("attending cardiologist") as a salted digest
    /// ([`role_digest`]): a role names a specialty, and a specialty on an entry of
    /// a patient's record says what it is about. The certifier keeps the role and its
    /// salt, and shows them to whom it chooses.
    pub role: Hash,
    /// Schemas the practitioner may sign: exact ids, or prefixes ending in `*`.
    pub schemas: Vec<String>,
    /// Start of validity (Unix milliseconds).
    pub valid_from_ms: u64,
    /// End of validity (Unix milliseconds).
    pub valid_until_ms: u64,
    /// Why the certifier revoked it, once it has.
    pub revoked: Option<String>,
}

impl DelegationTerm {
    /// Whether the practitioner may sign claims of `schema` under these terms.
    pub fn covers(&self, schema: &str) -> bool {
        self.schemas
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => schema.starts_with(prefix),
                None => pattern == schema,
            })
    }

    /// Whether the terms allow signing at `time_ms`.
    pub fn valid_at(&self, time_ms: u64) -> bool {
        self.revoked.is_none() && self.valid_from_ms <= time_ms && time_ms < self.valid_until_ms
    }
}

/// A certifier's (a hospital's) delegation of claim signing to one of its
/// practitioners: the hospital-internal key hierarchy, on chain. Each change (a new
/// delegation, new terms, a revocation) applies from the height after the block that
/// recorded it, and every version is kept, so that an issuance is always judged by
/// the terms in force at its height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delegation {
    /// The delegating certifier.
    pub certifier: AccountId,
    /// The practitioner's account (its key signs the claims).
    pub practitioner: AccountId,
    /// The terms by height.
    pub terms: History<DelegationTerm>,
}

/// A credential schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schema {
    /// Id.
    pub id: String,
    /// The certifier that registered it.
    pub owner: AccountId,
    /// Description.
    pub description: String,
    /// Prerequisite schema ids.
    pub prerequisites: Vec<String>,
    /// Output.
    pub output: String,
    /// Completion condition.
    pub completion_condition: String,
    /// Longest allowed validity (milliseconds).
    pub max_validity_ms: Option<u64>,
    /// The fields its credentials' content gives.
    pub fields: Vec<crate::claims::FieldSpec>,
    /// The FHIR resource type its content maps to and from, if any.
    pub fhir_resource: Option<String>,
    /// Height of registration.
    pub registered_height: u64,
}

/// Status of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum CredentialStatus {
    /// Valid (within its dates).
    Active,
    /// Revoked by its certifier.
    Revoked {
        /// Why.
        reason: String,
        /// Block height of the revocation.
        height: u64,
    },
}

/// An issued credential. The encrypted content and the subject's sealed key are not
/// repeated here: they stay in the issuing transaction (`issued_tx`), in its block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    /// The certifier's claim (schema, subject, certifier, commitment, dates).
    pub claim: CredentialClaim,
    /// The certifier's signature over the claim.
    pub certifier_signature: Signature,
    /// Height of issuance.
    pub issued_height: u64,
    /// Hash of the issuing transaction.
    pub issued_tx: Hash,
    /// Status.
    pub status: CredentialStatus,
    /// The correction that superseded it, if one did (the newest entry of a chain of
    /// corrections has none).
    pub superseded_by: Option<CredentialId>,
    /// The height at which its subject had its content erased, if it did: the
    /// claim and its commitment stay, nodes no longer hold the ciphertext or the
    /// sealed keys.
    pub erased_height: Option<u64>,
}

impl Credential {
    /// The status as of the state after block `as_of`: its own, or revoked by
    /// governance with its certifier's credentials of a height range.
    pub fn status_with(
        &self,
        revocations: Option<&CertifierRevocations>,
        as_of: u64,
    ) -> CredentialStatus {
        if self.status != CredentialStatus::Active {
            return self.status.clone();
        }
        match revocations.and_then(|r| r.covering(self.issued_height, as_of)) {
            Some(range) => CredentialStatus::Revoked {
                reason: format!(
                    "revoked by governance with its certifier's credentials issued at heights {} to {}: {}",
                    range.from_height, range.to_height, range.reason
                ),
                height: range.height,
            },
            None => CredentialStatus::Active,
        }
    }

    /// Whether this credential counts as held at `height` and time `time_ms`: issued in
    /// an earlier block, not revoked before `height`, and within its dates.
    pub fn held_at(&self, height: u64, time_ms: u64) -> bool {
        self.held_at_with(height, time_ms, None)
    }

    /// [`Credential::held_at`], with the governance revocations of its certifier.
    pub fn held_at_with(
        &self,
        height: u64,
        time_ms: u64,
        revocations: Option<&CertifierRevocations>,
    ) -> bool {
        // A revocation recorded at block r counts from block r + 1.
        let revoked_by_governance = revocations
            .and_then(|r| r.covering(self.issued_height, height.saturating_sub(1)))
            .is_some();
        if revoked_by_governance {
            return false;
        }
        let not_revoked = match &self.status {
            CredentialStatus::Active => true,
            CredentialStatus::Revoked {
                height: revoked, ..
            } => *revoked >= height,
        };
        self.issued_height < height
            && not_revoked
            && self.claim.valid_from_ms <= time_ms
            && time_ms < self.claim.valid_until_ms
    }
}

/// An organization's request for a subject's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRequest {
    /// Requesting organization.
    pub requester: AccountId,
    /// Subject asked.
    pub subject: AccountId,
    /// Credentials asked for.
    pub credentials: Vec<CredentialId>,
    /// Why it asks, sealed to the subject ([`crate::transaction::PURPOSE_INFO`]).
    pub purpose: SignerSealed,
    /// Height of the request.
    pub height: u64,
}

/// A recorded inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Inspection {
    /// Height.
    pub height: u64,
    /// What the inspection found, an [`crate::transaction::InspectionOutcome`] sealed to the subject
    /// ([`crate::transaction::OUTCOME_INFO`]).
    pub outcome: SignerSealed,
}

/// Access to one credential granted by its subject to an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// The credential.
    pub credential: CredentialId,
    /// The subject who granted it.
    pub subject: AccountId,
    /// The organization granted access.
    pub grantee: AccountId,
    /// The request answered, if any.
    pub request: Option<RequestId>,
    /// The digest of the content key sealed to the grantee; the sealed key itself
    /// is in the granting transaction (so that erasing it changes no state).
    pub sealed_key: Hash,
    /// The granting transaction.
    pub granted_tx: Hash,
    /// The grant's entry in that transaction (0 for a single grant; the entry's
    /// position in a set grant).
    pub entry: u32,
    /// Expiry (Unix milliseconds).
    pub expires_at_ms: u64,
    /// Height of the grant.
    pub granted_height: u64,
    /// Height of revocation, if revoked.
    pub revoked_height: Option<u64>,
    /// Inspections recorded under this grant (each its own record,
    /// [`keys::inspection`], numbered from 0): a grant stays small however often its
    /// grantee inspects.
    pub inspection_count: u64,
}

/// A set grant: one subject's grant of several credentials to one organization in
/// one transaction. Each entry is a [`Grant`] of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantSet {
    /// The subject who granted it.
    pub subject: AccountId,
    /// The organization granted access.
    pub grantee: AccountId,
    /// The request answered, if any.
    pub request: Option<RequestId>,
    /// How the entries were chosen.
    pub selection: crate::transaction::GrantSelection,
    /// Each entry's credential and grant id, in the transaction's order.
    pub grants: Vec<(CredentialId, GrantId)>,
    /// Expiry (Unix milliseconds).
    pub expires_at_ms: u64,
    /// Height of the grant.
    pub granted_height: u64,
    /// Height of revocation, if revoked.
    pub revoked_height: Option<u64>,
}

/// Status of a governance proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ProposalStatus {
    /// Open for votes.
    Open,
    /// Passed and executed.
    Executed {
        /// Height.
        height: u64,
    },
    /// Passed, but its action could no longer be applied.
    Failed {
        /// Height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// Voted down (more than 1/3 against).
    Rejected {
        /// Height.
        height: u64,
    },
}

/// A governance proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Proposal {
    /// Id.
    pub id: ProposalId,
    /// Proposing authority.
    pub proposer: AccountId,
    /// The action.
    pub action: GovernanceAction,
    /// Height of creation.
    pub created_height: u64,
    /// Last height at which votes are accepted.
    pub voting_ends_height: u64,
    /// Authorities that voted for.
    pub approvals: Vec<AccountId>,
    /// Authorities that voted against.
    pub rejections: Vec<AccountId>,
    /// Status.
    pub status: ProposalStatus,
}

/// Which misbehaviour evidence proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OffenceKind {
    /// Two different signed statements for one (height, round, step).
    Equivocation,
    /// A signed proposal of, or vote for, a block holding a fake credential.
    FakeCredential,
}

/// An offence proven by evidence and punished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Offence {
    /// What was proven.
    pub kind: OffenceKind,
    /// The authority punished (its operator).
    pub authority: AccountId,
    /// The height the offending statement was about.
    pub offence_height: u64,
    /// The height of the block that executed the evidence.
    pub punished_height: u64,
    /// Stake burned.
    pub burned: u64,
}

/// The authority set that finalized the block which last changed the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviousAuthoritySet {
    /// Height of the block that changed the set (the set below finalized it).
    pub changed_at: u64,
    /// The set before the change.
    pub set: AuthoritySet,
}

/// How far back the chain holds the history evidence is judged on: the hashes of
/// committed blocks, every account's signing keys and every delegation's terms in
/// force at each height. One rule prunes all of it, whatever the evidence window
/// did: the floor of block `N` is `max(floor of N-1, N - evidence_max_age_blocks)`,
/// so it never goes down (a window raised after it was lowered does not bring back
/// what was pruned), and evidence about a height below it is refused ("history
/// pruned") rather than judged on history the chain no longer holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryFloor {
    /// Evidence about a height below this is refused; never decreases.
    pub floor: u64,
    /// The lowest height whose block hash may still be stored: hashes below the
    /// floor are deleted from here on, a bounded number per block.
    pub hashes_from: u64,
}

/// Everything genesis and execution read about the chain itself.
#[derive(Debug, Clone)]
pub struct ChainMeta {
    /// Chain id.
    pub chain_id: String,
    /// Parameters.
    pub params: Params,
    /// The authority set for the block being executed.
    pub authority_set: AuthoritySet,
    /// The history floor as the previous block left it.
    pub history: HistoryFloor,
}

impl ChainMeta {
    /// The history floor of the block at `height`: the lowest height whose history
    /// that block still holds (see [`HistoryFloor`]).
    pub fn history_floor(&self, height: u64) -> u64 {
        self.history
            .floor
            .max(height.saturating_sub(self.params.evidence_max_age_blocks))
    }
}
