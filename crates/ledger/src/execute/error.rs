//! Typed reasons a transaction is rejected.

use crate::state::StateError;
use crate::{AccountId, CredentialId, GrantId, ProposalId, RequestId};

/// Why a credential issuance breaks the rules. These are the violations that make a
/// block holding the issuance a "fake credential" block, punishable by evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRuleError {
    /// The claimed certifier is not registered.
    #[error("certifier {0} is not registered")]
    UnknownCertifier(AccountId),
    /// The certifier has never been accredited.
    #[error("certifier {0} is not accredited")]
    NotAccredited(AccountId),
    /// The certifier is suspended.
    #[error("certifier {certifier} is suspended: {reason}")]
    CertifierSuspended {
        /// The certifier.
        certifier: AccountId,
        /// Why it was suspended.
        reason: String,
    },
    /// The accreditation does not cover the block time.
    #[error("certifier {0}'s accreditation is not valid at this time")]
    AccreditationNotValid(AccountId),
    /// The schema does not exist.
    #[error("schema {0} is not registered")]
    UnknownSchema(String),
    /// The schema is outside the certifier's accredited scope.
    #[error("schema {schema} is outside the scope of certifier {certifier}")]
    OutOfScope {
        /// The schema.
        schema: String,
        /// The certifier.
        certifier: AccountId,
    },
    /// The dates are impossible or already past.
    #[error("invalid dates: {0}")]
    InvalidDates(String),
    /// The subject is not registered.
    #[error("subject {0} is not registered")]
    UnknownSubject(AccountId),
    /// The subject does not hold a prerequisite.
    #[error("subject lacks prerequisite {0}")]
    MissingPrerequisite(String),
    /// The certifier's signature over the claim does not verify.
    #[error("bad certifier signature")]
    BadCertifierSignature,
    /// The practitioner named by the claim holds no delegation from the certifier
    /// in force at the height.
    #[error("practitioner {practitioner} holds no delegation from certifier {certifier}")]
    NoDelegation {
        /// The certifier.
        certifier: AccountId,
        /// The practitioner.
        practitioner: AccountId,
    },
    /// The practitioner's delegation was revoked.
    #[error("practitioner {practitioner}'s delegation was revoked: {reason}")]
    DelegationRevoked {
        /// The practitioner.
        practitioner: AccountId,
        /// Why.
        reason: String,
    },
    /// The practitioner's delegation does not cover the block time.
    #[error("practitioner {0}'s delegation is not valid at this time")]
    DelegationNotValid(AccountId),
    /// The claim's status index is beyond the status lists.
    #[error("status index {0} is not below {max}", max = crate::transaction::MAX_STATUS_INDEX)]
    StatusIndexOutOfRange(u64),
    /// The entry a correction names does not exist.
    #[error("the corrected entry {0} does not exist")]
    UnknownCorrected(CredentialId),
    /// A correction names an entry of another certifier, subject or schema: only the
    /// original issuer's hospital corrects its entries, and a correction is of the
    /// same kind as what it corrects.
    #[error("entry {0} was issued by another certifier, to another subject or of another schema")]
    CorrectionMismatch(CredentialId),
    /// The schema is outside the practitioner's delegation.
    #[error("schema {schema} is outside the delegation of practitioner {practitioner}")]
    DelegationOutOfScope {
        /// The schema.
        schema: String,
        /// The practitioner.
        practitioner: AccountId,
    },
}

/// Why a transaction was rejected. A rejected transaction changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Signed for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The transaction's.
        got: String,
    },
    /// Larger than the transaction size limit.
    #[error("transaction of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Encoded size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// The sender's signature does not verify under its current key.
    #[error("bad signature: not signed by the sender's current key")]
    BadSignature,
    /// The account does not exist.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// The nonce was already used (a replay).
    #[error("nonce {got} already used (expected {expected})")]
    NonceReplayed {
        /// The next nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The nonce skips ahead.
    #[error("nonce {got} skips ahead (expected {expected})")]
    NonceGap {
        /// The next nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// A field is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The sender already has this role.
    #[error("already registered as {0}")]
    AlreadyRegistered(&'static str),
    /// An organization asks for access before governance admitted it (or after it
    /// suspended it).
    #[error("organization {0} is not admitted by governance: it may not ask for access")]
    NotAdmitted(AccountId),
    /// An account lacks a role the action needs.
    #[error("{account} is not a registered {role}")]
    NotRegistered {
        /// The role.
        role: &'static str,
        /// The account.
        account: AccountId,
    },
    /// Not enough balance.
    #[error("insufficient balance: need {needed}, have {available}")]
    InsufficientBalance {
        /// Needed.
        needed: u64,
        /// Available.
        available: u64,
    },
    /// Not enough bonded stake.
    #[error("insufficient stake: need {needed}, have {available}")]
    InsufficientStake {
        /// Needed.
        needed: u64,
        /// Available.
        available: u64,
    },
    /// Unbonding would take an active authority or accredited certifier below its minimum.
    #[error("stake is locked: {0}")]
    StakeLocked(String),
    /// No unbonded stake has matured.
    #[error("nothing to withdraw")]
    NothingToWithdraw,
    /// The schema id is taken.
    #[error("schema {0} already exists")]
    SchemaExists(String),
    /// The entry was corrected already: a correction supersedes the newest entry.
    #[error("credential {credential} was already corrected by {by}")]
    AlreadySuperseded {
        /// The entry.
        credential: CredentialId,
        /// Its correction.
        by: CredentialId,
    },
    /// The credential's content was erased: nothing of it can be granted or read.
    #[error("credential {0}'s content was erased")]
    ContentErased(CredentialId),
    /// The sender has no delegation in force to this practitioner.
    #[error("no delegation in force to practitioner {0}")]
    UnknownDelegation(AccountId),
    /// The credential breaks an issuance rule.
    #[error("credential rejected: {0}")]
    Credential(#[from] CredentialRuleError),
    /// The issuance relies on something not final before its block: registered in the
    /// same block (it can go in a later one), or, for evidence about a past block,
    /// established at or after that block's height (the block may have established it
    /// itself, so it cannot prove the credential fake).
    #[error("not final before the block: {0}")]
    NotFinalYet(String),
    /// The credential already exists.
    #[error("credential {0} already issued")]
    DuplicateCredential(CredentialId),
    /// Another credential of the certifier holds the claim's status index.
    #[error("status index {index} of certifier {certifier} is held by credential {by}: choose a free one (from GET /v1/certifiers/{{id}}/status-lists)")]
    StatusIndexTaken {
        /// The certifier.
        certifier: AccountId,
        /// The index.
        index: u64,
        /// The credential that holds it.
        by: CredentialId,
    },
    /// The credential does not exist.
    #[error("unknown credential {0}")]
    UnknownCredential(CredentialId),
    /// The credential is revoked.
    #[error("credential {0} is revoked")]
    CredentialRevoked(CredentialId),
    /// The credential has expired.
    #[error("credential {0} has expired")]
    CredentialExpired(CredentialId),
    /// Only the credential's certifier may do this.
    #[error("only the issuing certifier may do this")]
    NotIssuer,
    /// Only the credential's subject may do this.
    #[error("only the credential's subject may do this")]
    NotSubject,
    /// The access request does not exist.
    #[error("unknown access request {0}")]
    UnknownRequest(RequestId),
    /// The request does not match the grant.
    #[error("grant does not answer request {0}")]
    RequestMismatch(RequestId),
    /// The grant does not exist.
    #[error("unknown grant {0}")]
    UnknownGrant(GrantId),
    /// The grant is revoked.
    #[error("grant {0} is revoked")]
    GrantRevoked(GrantId),
    /// The grant has expired.
    #[error("grant {0} has expired")]
    GrantExpired(GrantId),
    /// Only the grantee may do this.
    #[error("only the grantee may do this")]
    NotGrantee,
    /// The sender is not an active authority.
    #[error("{0} is not an active authority")]
    NotAuthority(AccountId),
    /// The proposal does not exist.
    #[error("unknown proposal {0}")]
    UnknownProposal(ProposalId),
    /// The proposal is decided.
    #[error("proposal {0} is closed")]
    ProposalClosed(ProposalId),
    /// The proposal's voting period is over.
    #[error("proposal {0}'s voting period has ended")]
    ProposalExpired(ProposalId),
    /// The authority already voted.
    #[error("{0} already voted on this proposal")]
    DoubleVote(AccountId),
    /// The proposed action cannot apply.
    #[error("invalid governance action: {0}")]
    InvalidAction(String),
    /// The evidence does not prove an offence.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(String),
    /// The evidence is about a height too long ago.
    #[error("evidence about height {height} is older than {max_age} blocks")]
    EvidenceTooOld {
        /// The offence height.
        height: u64,
        /// The limit.
        max_age: u64,
    },
    /// The evidence is about a height below the history floor: the chain no longer
    /// holds what it would be judged on (block hashes, keys and delegations then).
    #[error("history pruned: evidence about height {height} cannot be judged; the chain keeps history from height {floor}")]
    HistoryPruned {
        /// The offence height.
        height: u64,
        /// The lowest height whose history the chain holds.
        floor: u64,
    },
    /// The offence was already punished.
    #[error("offence already punished")]
    OffenceAlreadyPunished,
    /// The state could not be read (not a verdict on the transaction).
    #[error(transparent)]
    Storage(#[from] StateError),
    /// The state holds bytes that do not decode (not a verdict on the transaction).
    #[error("corrupt state: {0}")]
    CorruptState(String),
}

impl TxError {
    /// Whether the error is a node fault rather than a verdict on the transaction.
    pub fn is_node_fault(&self) -> bool {
        matches!(self, TxError::Storage(_) | TxError::CorruptState(_))
    }

    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> TxError {
        TxError::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}
