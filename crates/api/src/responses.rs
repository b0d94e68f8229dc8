//! The JSON bodies the routes answer with, one type per answer.

use mpms_crypto::{EncryptionKey, Hash, MerkleProof, PublicKey, SignerSealed};
use mpms_ledger::records::{
    Account, Authority, Credential, Grant, Inspection, OffenceKind, Proposal, Schema,
};
use mpms_ledger::state::tree::StateProof;
use mpms_ledger::{AuthoritySet, CommitCertificate, Header, SignedTransaction};
use mpms_light::AuthorityChange;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every 4xx and 5xx answer: what went wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Why the request failed.
    pub error: String,
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TxState {
    /// In the mempool, not yet in a block.
    Pending,
    /// In a final block.
    Committed,
}

/// `POST /v1/transactions`: the transaction was admitted to the mempool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    /// The transaction's hash: follow it with `GET /v1/transactions/{hash}`.
    pub hash: Hash,
    /// Always `pending`.
    pub status: TxState,
}

/// `POST /v1/transactions` with a list of transactions: what became of each, in
/// the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchSubmitted {
    /// One result per transaction sent.
    pub results: Vec<BatchResult>,
    /// Present when no transaction of the batch was admitted: the answer's status
    /// is then its first refusal's (400, 422, 500), as for one transaction sent
    /// alone, and this says so with that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One transaction of a batch: admitted (`status` is `pending`) or refused (`code`
/// and `error` say why, as a submission of it alone would have).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// The transaction's hash: follow it with `GET /v1/transactions/{hash}`.
    pub hash: Hash,
    /// `pending` when admitted to the mempool; absent when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TxState>,
    /// When refused: the HTTP status its submission alone would have had (400 for
    /// another chain, 422 refused by the ledger's rules or the mempool, 500 a fault
    /// of this node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// When refused: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/transactions/{hash}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionStatus {
    /// The transaction's hash.
    pub hash: Hash,
    /// Pending or committed.
    pub status: TxState,
    /// Committed: the block height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Committed: the position in the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Committed: the block's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Hash>,
    /// Committed: the transaction (erased content shows as its digest alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<SignedTransaction>,
    /// Committed: its canonical bytes, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^([0-9a-f]{2})*$")]
    pub transaction_bytes: Option<String>,
}

/// `GET /v1/status`: the node and its view of the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The node's name.
    pub moniker: String,
    /// The chain.
    pub chain_id: String,
    /// The node's peer id.
    pub peer_id: String,
    /// The last committed (final) height.
    pub height: u64,
    /// Its block hash.
    pub last_block_hash: Hash,
    /// Its time (Unix ms).
    pub last_block_time_ms: u64,
    /// The consensus round at the next height.
    pub round: u32,
    /// Connected peers.
    pub peers: u64,
    /// Whether the node is catching up.
    pub syncing: bool,
    /// Whether this node is in the current authority set.
    pub authority: bool,
    /// Transactions in the mempool.
    pub mempool_transactions: u64,
    /// Bytes in the mempool.
    pub mempool_bytes: u64,
    /// Why consensus stopped, if it did.
    pub failure: Option<String>,
    /// The consensus key this validator signs with.
    pub consensus_key: Option<PublicKey>,
    /// Every consensus key this validator holds (in use, and a rotation's next one).
    pub held_consensus_keys: Vec<PublicKey>,
    /// The consensus key the chain names for this validator, when this node does not
    /// hold it: it then signs nothing.
    pub missing_consensus_key: Option<PublicKey>,
    /// Whether the peers this node dials refuse it (it is not, or no longer, in the
    /// chain's node registry) and it has no peer.
    pub not_admitted: bool,
}

/// `GET /v1/blocks/latest`, `GET /v1/blocks/{height}`: a block, its transactions by
/// hash, and the certificate that made it final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The block's hash.
    pub hash: Hash,
    /// Its header.
    pub header: Header,
    /// Its transactions' hashes, in order.
    pub transactions: Vec<Hash>,
    /// The certificate of the previous block carried in this one.
    pub last_commit: Option<CommitCertificate>,
    /// The certificate of this block (absent for genesis).
    pub certificate: Option<CommitCertificate>,
}

/// `GET /v1/accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The account id (its first signing key).
    pub id: PublicKey,
    /// Whether the chain holds the account.
    pub exists: bool,
    /// The committed nonce: the next transaction the chain will apply.
    pub nonce: u64,
    /// The nonce to sign the next transaction with, counting this node's pending
    /// transactions from the account.
    pub next_nonce: u64,
    /// The account record.
    pub account: Option<Account>,
}

/// One credential of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeldCredential {
    /// The credential id.
    pub id: Hash,
    /// Its record.
    pub credential: Credential,
}

/// `GET /v1/subjects/{id}/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubjectCredentials {
    /// The subject.
    pub subject: PublicKey,
    /// Its credentials, by schema, then in issue order.
    pub credentials: Vec<HeldCredential>,
}

/// One issuance as a subject's wallet scans for its entries: the subject its claim
/// names and the `enc` of the content key sealed to the subject, from which the
/// subject (only) derives whether that is one of its entry keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuanceNote {
    /// The height it was issued at.
    pub height: u64,
    /// The credential.
    pub credential: Hash,
    /// The subject the claim names.
    pub subject: PublicKey,
    /// `enc` of the content key sealed to the subject (HPKE's encapsulated key).
    pub enc: EncryptionKey,
}

/// `GET /v1/issuances`: the issuances of a range of blocks, for wallets scanning for
/// their entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuanceNotes {
    /// The issuances read, in chain order (erased ones left out).
    pub issuances: Vec<IssuanceNote>,
    /// The height to ask from next: one past the last block read.
    pub next_height: u64,
    /// The last final height.
    pub height: u64,
}

/// `GET /v1/certifiers/{id}/status-lists`: where a certifier's status entries
/// stand, for a client choosing a free one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusListsInfo {
    /// The certifier.
    pub certifier: PublicKey,
    /// One more than the highest status index its credentials hold (0 if none): the
    /// entry a client takes next.
    pub next_index: u64,
    /// Entries per status list.
    pub list_bits: u64,
    /// The status lists in use (`GET /v1/status-lists/{certifier}/{list}` for
    /// each `list` below this).
    pub lists: u64,
}

/// One entry of a subject's access audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum AuditEvent {
    /// An organization asked for access.
    Request {
        /// The request.
        request: Hash,
        /// Who asked.
        requester: PublicKey,
        /// What for.
        credentials: Vec<Hash>,
        /// Why.
        /// Why, sealed to the subject (see `mpms_ledger::notes`).
        purpose: SignerSealed,
        /// The block height.
        height: u64,
        /// The block's time (Unix ms).
        time_ms: u64,
    },
    /// The subject granted access.
    Grant {
        /// The grant.
        grant: Hash,
        /// The credential.
        credential: Hash,
        /// Who may read it.
        grantee: PublicKey,
        /// The request it answers, if any.
        request: Option<Hash>,
        /// When it expires (Unix ms).
        expires_at_ms: u64,
        /// How many inspections were recorded under it.
        inspection_count: u64,
        /// The block height.
        height: u64,
        /// The block's time (Unix ms).
        time_ms: u64,
    },
    /// The subject revoked a grant.
    GrantRevoked {
        /// The grant.
        grant: Hash,
        /// The credential.
        credential: Hash,
        /// Who could read it.
        grantee: PublicKey,
        /// The block height.
        height: u64,
        /// The block's time (Unix ms).
        time_ms: u64,
    },
    /// The grantee recorded an inspection.
    Inspection {
        /// The grant.
        grant: Hash,
        /// The credential.
        credential: Hash,
        /// Who inspected.
        grantee: PublicKey,
        /// What the inspection found.
        /// What it found, sealed to the subject (see `mpms_ledger::notes`).
        outcome: SignerSealed,
        /// The block height.
        height: u64,
        /// The block's time (Unix ms).
        time_ms: u64,
    },
    /// A grant expired while in force (a time, not a block: no height).
    GrantExpired {
        /// The grant.
        grant: Hash,
        /// The credential.
        credential: Hash,
        /// Who could read it.
        grantee: PublicKey,
        /// When it expired (Unix ms).
        expires_at_ms: u64,
        /// The same time (Unix ms).
        time_ms: u64,
    },
}

impl AuditEvent {
    /// When it happened (Unix ms).
    pub fn time_ms(&self) -> u64 {
        match self {
            AuditEvent::Request { time_ms, .. }
            | AuditEvent::Grant { time_ms, .. }
            | AuditEvent::GrantRevoked { time_ms, .. }
            | AuditEvent::Inspection { time_ms, .. }
            | AuditEvent::GrantExpired { time_ms, .. } => *time_ms,
        }
    }

    /// The party other than the subject it concerns: the requester or the grantee.
    pub fn party(&self) -> PublicKey {
        match self {
            AuditEvent::Request { requester, .. } => *requester,
            AuditEvent::Grant { grantee, .. }
            | AuditEvent::GrantRevoked { grantee, .. }
            | AuditEvent::Inspection { grantee, .. }
            | AuditEvent::GrantExpired { grantee, .. } => *grantee,
        }
    }
}

/// `GET /v1/subjects/{id}/audit`: who asked for, was granted, lost or used access to
/// the subject's credentials, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubjectAudit {
    /// The subject.
    pub subject: PublicKey,
    /// The last block when this was read.
    pub as_of_height: u64,
    /// Whether more records exist than `limit` allowed.
    pub truncated: bool,
    /// The events, oldest first.
    pub events: Vec<AuditEvent>,
    /// When more exist: the cursor of the next page (pass it as `after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /v1/credentials/{id}/proof`: the issuing transaction, its Merkle proof, the
/// block's header and certificate, and the certified authority-set changes up to
/// that block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialProof {
    /// The credential.
    pub credential_id: Hash,
    /// Its record.
    pub credential: Credential,
    /// The issuing transaction.
    pub transaction: SignedTransaction,
    /// Its canonical bytes, hex.
    #[schema(pattern = "^([0-9a-f]{2})*$")]
    pub transaction_bytes: String,
    /// Its position in the block.
    pub tx_index: u32,
    /// The block's header.
    pub header: Header,
    /// The transaction's Merkle proof against the header's `tx_root`.
    pub proof: MerkleProof,
    /// The block's commit certificate.
    pub certificate: Option<CommitCertificate>,
    /// The certified authority-set changes from genesis up to the block.
    pub authority_changes: Vec<AuthorityChange>,
}

/// `GET /v1/state/proof`: one state key's value or absence after a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateProofView {
    /// The height.
    pub height: u64,
    /// Its header (whose `state_root` the proof is against).
    pub header: Option<Header>,
    /// Its certificate.
    pub certificate: Option<CommitCertificate>,
    /// The proof.
    pub proof: StateProof,
}

/// `GET /v1/grants/{id}`: a grant and its latest inspections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    /// The grant.
    #[serde(flatten)]
    pub grant: Grant,
    /// Its latest inspections (at most 100; `inspection_count` gives them all).
    pub inspections: Vec<Inspection>,
}

/// `GET /v1/schemas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchemaList {
    /// The schemas, in id order.
    pub schemas: Vec<Schema>,
}

/// `GET /v1/authorities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthoritiesView {
    /// The authority set in force.
    pub active_set: AuthoritySet,
    /// Its hash (what headers name).
    pub active_set_hash: Hash,
    /// Every authority's record, active or not.
    pub authorities: Vec<Authority>,
}

/// `GET /v1/proposals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalList {
    /// The newest proposals first.
    pub proposals: Vec<Proposal>,
}

/// A punished offence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OffenceView {
    /// The offence's id (the evidence's hash).
    pub offence: Hash,
    /// What was proven.
    pub kind: OffenceKind,
    /// The authority punished (its operator).
    pub authority: PublicKey,
    /// The height the offending statement was about.
    pub offence_height: u64,
    /// The height of the block that executed the evidence.
    pub punished_height: u64,
    /// Stake burned.
    pub burned: u64,
}

/// `GET /v1/evidence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OffenceList {
    /// The offences, in id order.
    pub offences: Vec<OffenceView>,
}

/// `GET /health/live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Liveness {
    /// Always true: the process answers.
    pub live: bool,
}

/// `GET /health/ready`: 200 when ready, 503 with the reasons otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// Whether the node is synced, running consensus and (with other authorities)
    /// peered.
    pub ready: bool,
    /// Why not, with what to do.
    pub reasons: Vec<String>,
    /// The last committed height.
    pub height: u64,
    /// Connected peers.
    pub peers: u64,
}

/// `GET /admin/peers` (the admin address only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Peers {
    /// This node's peer id.
    pub peer_id: String,
    /// The addresses it listens on.
    pub listen: Vec<String>,
    /// Connected peers.
    pub peers: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pending_transaction_names_only_its_hash_and_status() {
        let pending = TransactionStatus {
            hash: Hash::ZERO,
            status: TxState::Pending,
            height: None,
            index: None,
            block: None,
            transaction: None,
            transaction_bytes: None,
        };
        let value = serde_json::to_value(&pending).unwrap();
        assert_eq!(
            value,
            json!({ "hash": "00".repeat(32), "status": "pending" })
        );
        let back: TransactionStatus = serde_json::from_value(value).unwrap();
        assert_eq!(back, pending);
    }

    #[test]
    fn audit_events_are_tagged_by_kind_and_an_expiry_has_no_height() {
        let key: PublicKey = "07".repeat(32).parse().unwrap();
        let expired = AuditEvent::GrantExpired {
            grant: Hash::ZERO,
            credential: Hash::ZERO,
            grantee: key,
            expires_at_ms: 5,
            time_ms: 5,
        };
        let value = serde_json::to_value(&expired).unwrap();
        assert_eq!(value["event"], "grant-expired");
        assert!(value.get("height").is_none());
        assert_eq!(expired.time_ms(), 5);
        let back: AuditEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, expired);
    }
}
