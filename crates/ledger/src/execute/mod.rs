//! The deterministic state machine.
//!
//! An [`Executor`] applies the transactions of one block on top of committed state.
//! Each transaction runs in its own overlay ([`txn`]): if any rule rejects it, the
//! overlay is dropped and nothing changes; otherwise its writes join the block's.
//! [`Executor::finish`] returns the block's net writes and the state tree's new
//! version (with its root, the header's `state_root`), for the store to commit in one
//! batch.

mod access;
mod accounts;
mod builder;
mod credentials;
pub use credentials::MAX_DELEGATION_VERSIONS;
pub mod error;
mod evidence;
mod governance;
mod pipeline;
mod txn;

use mpms_crypto::{verify_batch, BatchItem, Domain, Hash};
use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockError, Header};
use crate::records::{keys, Account, Authority, ChainMeta};
use crate::state::{State, StateChanges};
use crate::transaction::{Payload, SignedTransaction};
use crate::vote::{AuthorityMember, AuthoritySet};
use crate::{codec, AccountId, CredentialId, GrantId, Params, ProposalId, RequestId};
pub use builder::{build_block, BuiltBlock, Excluded};
pub use credentials::valid_scope_pattern;
use error::TxError;
use pipeline::{Prepared, Step};
use std::ops::ControlFlow;
use txn::{BlockWrites, ReadCache, Txn};

/// The block being executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockContext {
    /// Its height.
    pub height: u64,
    /// Its time (Unix milliseconds).
    pub time_ms: u64,
    /// Its proposer.
    pub proposer: AccountId,
    /// The hash of its parent, the last committed block.
    pub parent: Hash,
}

/// Which state an issuance is judged by. Every rule about an issuance (schema,
/// subject, prerequisites, certifier) reads only state committed before the block
/// holding it, so that a vote for a block valid on its parent can never be evidence,
/// whatever is committed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuanceView {
    /// Executing a block (building or validating it): something registered by the
    /// block itself is [`TxError::NotFinalYet`]; the issuance waits for a later block.
    Block,
    /// Mempool admission: the sender's earlier pending transactions count as if
    /// committed (the issuance is held until they are, then goes in a later block).
    Pending,
    /// Judging evidence about a past block: what was not committed before its height
    /// was not in the state its voters judged it by. Every honest validator refused
    /// a block relying on it (in the [`IssuanceView::Block`] view), so a statement
    /// for such a block is evidence like any other fake issuance, whatever was
    /// registered since.
    Evidence,
}

/// Whether [`Executor::apply`] checks the sender's signature and the certifier's
/// claim signature itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify every signature one by one.
    Verify,
    /// The caller already verified them with [`verify_signatures`] against the same
    /// state (e.g. as one batch for the whole block).
    Preverified,
}

/// Something a transaction did, for receipts, events and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Event {
    /// A new account.
    AccountCreated(AccountId),
    /// A schema was registered.
    SchemaRegistered(String),
    /// A credential was issued.
    CredentialIssued(CredentialId),
    /// A credential was revoked.
    CredentialRevoked(CredentialId),
    /// An organization asked for access.
    AccessRequested(RequestId),
    /// A subject granted access.
    AccessGranted(GrantId),
    /// A subject had a credential's content erased: nodes delete its ciphertext and
    /// the content keys sealed for it.
    ContentErased(CredentialId),
    /// A subject granted access to a set of credentials (each entry's grant has its
    /// own [`Event::AccessGranted`]).
    AccessSetGranted(GrantId),
    /// A subject revoked a grant.
    GrantRevoked(GrantId),
    /// A grantee recorded an inspection.
    InspectionRecorded(GrantId),
    /// A proposal was opened.
    ProposalOpened(ProposalId),
    /// A proposal passed and was executed.
    ProposalExecuted(ProposalId),
    /// A proposal passed but could not be applied.
    ProposalFailed(ProposalId, String),
    /// A proposal was voted down.
    ProposalRejected(ProposalId),
    /// An authority was slashed, jailed and removed.
    AuthoritySlashed {
        /// The authority.
        operator: AccountId,
        /// Stake burned.
        burned: u64,
    },
    /// A certifier was slashed.
    CertifierSlashed {
        /// The certifier.
        certifier: AccountId,
        /// Stake burned.
        burned: u64,
    },
    /// A node was admitted to the network (peer id).
    NodeAdmitted(String),
    /// Governance admitted an organization: it may ask subjects for access.
    OrganizationAdmitted(AccountId),
    /// Governance suspended an organization: it may no longer ask.
    OrganizationSuspended(AccountId),
    /// A node was removed from the registry (peer id).
    NodeRemoved(String),
    /// A certifier delegated claim signing to a practitioner, changed its terms, or
    /// revoked it (from the next height).
    DelegationChanged {
        /// The certifier.
        certifier: AccountId,
        /// The practitioner.
        practitioner: AccountId,
    },
    /// Governance revoked every credential a certifier issued in a height range.
    CertifierCredentialsRevoked {
        /// The certifier.
        certifier: AccountId,
        /// Lowest issue height revoked.
        from_height: u64,
        /// Highest issue height revoked.
        to_height: u64,
    },
}

/// The peer ids admitted to a permissioned network by the chain at `height` (the
/// next height to execute): the nodes of the active authorities and of the node
/// registry.
pub fn admitted_peers(
    state: &dyn State,
    height: u64,
) -> Result<std::collections::BTreeSet<String>, TxError> {
    let mut peers = std::collections::BTreeSet::new();
    let index: Vec<AccountId> = read_record(state, &keys::authority_index())?.unwrap_or_default();
    for operator in index {
        if let Some(authority) = read_record::<Authority>(state, &keys::authority(&operator))? {
            if authority.active_at(height) {
                peers.insert(authority.peer_id);
            }
        }
    }
    peers.extend(read_record::<Vec<String>>(state, &keys::node_index())?.unwrap_or_default());
    Ok(peers)
}

/// The result of one accepted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// What it did.
    pub events: Vec<Event>,
}

/// The result of executing a block.
#[derive(Debug, Clone)]
pub struct BlockOutcome {
    /// The block's net writes.
    pub changes: StateChanges,
    /// The state tree's root after the block.
    pub state_root: Hash,
    /// The hash of the authority set that finalizes the next block.
    pub next_authority_set_hash: Hash,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The authority set for the next height, if it changed.
    pub next_authority_set: Option<AuthoritySet>,
}

/// Why a block cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockExecError {
    /// The body does not match the header or breaks limits.
    #[error("malformed block: {0}")]
    Malformed(#[from] BlockError),
    /// The block is for another chain.
    #[error("block is for chain {0}")]
    WrongChain(String),
    /// A transaction is rejected.
    #[error("transaction {index} rejected: {error}")]
    Transaction {
        /// Its position.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// The header's state root differs from the computed one.
    #[error("state root mismatch: header {header}, computed {computed}")]
    StateMismatch {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// The header's authority set hash differs from the set in state.
    #[error("authority set mismatch")]
    AuthoritySetMismatch,
    /// The header's next authority set hash differs from the set the block leaves.
    #[error("next authority set mismatch")]
    NextAuthoritySetMismatch,
    /// The header names a proposer outside the authority set.
    #[error("proposer {0} is not an authority")]
    NotAnAuthority(AccountId),
    /// The state could not be read.
    #[error("state: {0}")]
    State(TxError),
}

/// Reads the chain's id, parameters and current authority set from state.
pub fn read_meta(state: &dyn State) -> Result<ChainMeta, TxError> {
    fn get<T: serde::de::DeserializeOwned>(
        state: &dyn State,
        key: &[u8],
        what: &str,
    ) -> Result<T, TxError> {
        read_record(state, key)?
            .ok_or_else(|| TxError::CorruptState(format!("{what} missing: state not initialized")))
    }
    Ok(ChainMeta {
        chain_id: get(state, &keys::chain_id(), "chain id")?,
        params: get::<Params>(state, &keys::params(), "parameters")?,
        authority_set: get(state, &keys::authority_set(), "authority set")?,
        history: read_record(state, &keys::history_floor())?.unwrap_or_default(),
    })
}

/// The authority set that finalized the committed block at `height`, the last block
/// of `state` (its successor's certificate for it is checked against this set).
pub fn finalizing_set_of_last_block(
    state: &dyn State,
    height: u64,
) -> Result<AuthoritySet, TxError> {
    let previous: Option<crate::records::PreviousAuthoritySet> =
        read_record(state, &keys::previous_authority_set())?;
    match previous {
        // The last block changed the set: the set before it finalized it.
        Some(p) if p.changed_at == height => Ok(p.set),
        _ => Ok(read_meta(state)?.authority_set),
    }
}

/// A record of committed state, decoded; undecodable bytes are corrupt state.
fn read_record<T: serde::de::DeserializeOwned>(
    state: &dyn State,
    key: &[u8],
) -> Result<Option<T>, TxError> {
    match state.get(key)? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| TxError::CorruptState(format!("{e} at key {}", hex::encode(key)))),
    }
}

/// The next nonce of account `id` in committed `state` (0 for an account that does
/// not exist yet, or that cannot be read).
pub fn account_nonce(state: &dyn State, id: &AccountId) -> u64 {
    read_record::<Account>(state, &keys::account(id))
        .ok()
        .flatten()
        .map_or(0, |a| a.nonce)
}

/// The key account `id` signs with at `height` in committed `state` (its own id for
/// an account that does not exist yet, or that cannot be read).
pub fn signing_key(state: &dyn State, id: &AccountId, height: u64) -> mpms_crypto::PublicKey {
    read_record::<Account>(state, &keys::account(id))
        .ok()
        .flatten()
        .map_or(*id, |a| a.signing_key_at(id, height))
}

/// Most stored block hashes a block deletes below the history floor (more than one
/// only after the evidence window was lowered).
const MAX_HASHES_PRUNED: u64 = 64;

/// Applies the transactions of one block.
pub struct Executor<'a> {
    base: &'a dyn State,
    ctx: BlockContext,
    view: IssuanceView,
    meta: ChainMeta,
    block: BlockWrites,
    cache: ReadCache,
    receipts: Vec<Receipt>,
    authorities_changed: bool,
    block_bytes: u64,
}

impl<'a> Executor<'a> {
    /// An executor for the block described by `ctx` on top of `state`.
    pub fn new(state: &'a dyn State, ctx: BlockContext) -> Result<Executor<'a>, TxError> {
        Executor::with_view(state, ctx, IssuanceView::Block)
    }

    /// An executor for mempool admission: like [`Executor::new`], except that an
    /// issuance may rely on earlier transactions applied to it
    /// ([`IssuanceView::Pending`]). Never used to build or check a block.
    pub fn for_admission(state: &'a dyn State, ctx: BlockContext) -> Result<Executor<'a>, TxError> {
        Executor::with_view(state, ctx, IssuanceView::Pending)
    }

    fn with_view(
        state: &'a dyn State,
        ctx: BlockContext,
        view: IssuanceView,
    ) -> Result<Executor<'a>, TxError> {
        Ok(Executor {
            base: state,
            meta: read_meta(state)?,
            view,
            ctx,
            block: BlockWrites::default(),
            cache: ReadCache::default(),
            receipts: Vec::new(),
            authorities_changed: false,
            block_bytes: 0,
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.meta.chain_id
    }

    /// The parameters in force for this block.
    pub fn params(&self) -> &Params {
        &self.meta.params
    }

    /// The authority set that finalizes this block.
    pub fn authority_set(&self) -> &AuthoritySet {
        &self.meta.authority_set
    }

    /// Transactions accepted so far.
    pub fn accepted(&self) -> usize {
        self.receipts.len()
    }

    /// Applies one transaction. On error nothing changes.
    pub fn apply(
        &mut self,
        tx: &SignedTransaction,
        check: SignatureCheck,
    ) -> Result<Receipt, TxError> {
        self.apply_prepared(tx, Prepared::of(tx), check)
    }

    /// Puts values of committed state, fetched ahead, into the block's read cache.
    fn warm(&self, values: pipeline::Prefetched) {
        self.cache.warm(values);
    }

    /// Applies one transaction whose size and hash are already known.
    fn apply_prepared(
        &mut self,
        tx: &SignedTransaction,
        prepared: Prepared,
        check: SignatureCheck,
    ) -> Result<Receipt, TxError> {
        if tx.tx.chain_id != self.meta.chain_id {
            return Err(TxError::WrongChain {
                expected: self.meta.chain_id.clone(),
                got: shown(&tx.tx.chain_id),
            });
        }
        let Prepared {
            size,
            hash: tx_hash,
            ..
        } = prepared;
        let limit = transaction_limit(&self.meta.params, &tx.tx.payload);
        if size > limit {
            return Err(TxError::TooLarge { size, limit });
        }
        let mut txn = Txn::new(
            self.base,
            &self.cache,
            &self.block,
            &self.ctx,
            &self.meta,
            self.view,
        );
        let sender = tx.tx.sender;
        let account = match txn.get::<Account>(&keys::account(&sender))? {
            Some(account) => account,
            None if tx.tx.payload.registers_new_account() => Account::new(sender, self.ctx.height),
            None => return Err(TxError::UnknownAccount(sender)),
        };
        if check == SignatureCheck::Verify {
            let key = account.signing_key_at(&sender, self.ctx.height);
            tx.verify(&key).map_err(|_| TxError::BadSignature)?;
        }
        if tx.tx.nonce < account.nonce {
            return Err(TxError::NonceReplayed {
                expected: account.nonce,
                got: tx.tx.nonce,
            });
        }
        if tx.tx.nonce > account.nonce {
            return Err(TxError::NonceGap {
                expected: account.nonce,
                got: tx.tx.nonce,
            });
        }
        let is_new = account.nonce == 0 && !txn.contains(&keys::account(&sender))?;
        let mut account = account;
        account.nonce += 1;
        txn.put_account(&sender, &account);
        if is_new {
            txn.emit(Event::AccountCreated(sender));
        }
        dispatch(&mut txn, tx, &prepared, check)?;
        let (writes, events, authorities_changed) = txn.into_writes();
        self.block.extend(writes);
        self.authorities_changed |= authorities_changed;
        self.block_bytes += size;
        let receipt = Receipt { tx_hash, events };
        self.receipts.push(receipt.clone());
        Ok(receipt)
    }

    /// Bytes of transactions accepted so far.
    pub fn block_bytes(&self) -> u64 {
        self.block_bytes
    }

    /// The net writes of the transactions applied so far, without ending the block
    /// (the mempool keeps them to admit a sender's next transaction on top of its
    /// pending ones).
    pub fn into_writes(self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.block.into_iter().collect()
    }

    /// Ends the block: derives the next authority set if it changed, and returns the
    /// net writes with the state tree's version for this height and its root.
    pub fn finish(mut self) -> Result<BlockOutcome, TxError> {
        let mut next_authority_set = None;
        if self.authorities_changed {
            let set = {
                let txn = Txn::new(
                    self.base,
                    &self.cache,
                    &self.block,
                    &self.ctx,
                    &self.meta,
                    self.view,
                );
                derive_authority_set(&txn, self.ctx.height + 1)?
            };
            if set != self.meta.authority_set {
                self.block
                    .insert(keys::authority_set(), Some(codec::encode(&set)));
                let previous = crate::records::PreviousAuthoritySet {
                    changed_at: self.ctx.height,
                    set: self.meta.authority_set.clone(),
                };
                self.block.insert(
                    keys::previous_authority_set(),
                    Some(codec::encode(&previous)),
                );
                self.block.insert(
                    keys::authority_change(self.ctx.height),
                    Some(codec::encode(&set)),
                );
                next_authority_set = Some(set);
            }
        }
        // The parent's hash, for evidence about the blocks above the history floor
        // (whose parents must be committed blocks); those below it go, a bounded
        // number per block (a lowered window leaves a backlog).
        if let Some(parent_height) = self.ctx.height.checked_sub(1) {
            self.block.insert(
                keys::block_hash(parent_height),
                Some(codec::encode(&self.ctx.parent)),
            );
        }
        let mut history = self.meta.history;
        history.floor = self.meta.history_floor(self.ctx.height);
        // Evidence about the floor's height needs the hash of the block before it.
        let keep_from = history.floor.saturating_sub(1);
        let until = keep_from.min(history.hashes_from.saturating_add(MAX_HASHES_PRUNED));
        for height in history.hashes_from..until {
            self.block.insert(keys::block_hash(height), None);
        }
        history.hashes_from = history.hashes_from.max(until);
        if history != self.meta.history {
            self.block
                .insert(keys::history_floor(), Some(codec::encode(&history)));
        }
        let writes = self.block.into_iter().collect();
        let (state_root, tree) = crate::state::tree::update(self.base, self.ctx.height, &writes)?;
        let next_authority_set_hash = next_authority_set
            .as_ref()
            .map_or_else(|| self.meta.authority_set.hash(), AuthoritySet::hash);
        Ok(BlockOutcome {
            changes: StateChanges { writes, tree },
            state_root,
            next_authority_set_hash,
            receipts: self.receipts,
            next_authority_set,
        })
    }
}

/// Text from an input, as an error shows it: at most 64 characters (a valid chain id
/// is never longer), so that a hostile input cannot fill logs.
fn shown(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A registration creates an identity: it carries the account's proof of work.
fn account_work(txn: &Txn, sender: &AccountId, work: u64) -> Result<(), TxError> {
    let bits = txn.meta.params.account_creation_work_bits;
    if crate::work::meets(&txn.meta.chain_id, sender, work, bits) {
        Ok(())
    } else {
        Err(TxError::field(
            "work",
            format!("not a proof of work of {bits} bits for this account on this chain (clients compute it: mpms_ledger::work::stamp)"),
        ))
    }
}

fn dispatch(
    txn: &mut Txn,
    tx: &SignedTransaction,
    prepared: &Prepared,
    check: SignatureCheck,
) -> Result<(), TxError> {
    let sender = tx.tx.sender;
    let nonce = tx.tx.nonce;
    match &tx.tx.payload {
        Payload::Transfer { to, amount } => accounts::transfer(txn, sender, *to, *amount),
        Payload::RotateKeys {
            signing_key,
            encryption_key,
        } => accounts::rotate_keys(txn, sender, *signing_key, *encryption_key),
        Payload::RegisterSubject {
            encryption_key,
            work,
        } => {
            account_work(txn, &sender, *work)?;
            accounts::register_subject(txn, sender, *encryption_key)
        }
        Payload::RegisterOrganization {
            name,
            kind,
            encryption_key,
            work,
        } => {
            account_work(txn, &sender, *work)?;
            accounts::register_organization(txn, sender, name, *kind, *encryption_key)
        }
        Payload::RegisterCertifier {
            name,
            encryption_key,
            work,
        } => {
            account_work(txn, &sender, *work)?;
            accounts::register_certifier(txn, sender, name, *encryption_key)
        }
        Payload::Bond { amount } => accounts::bond(txn, sender, *amount),
        Payload::Unbond { amount } => accounts::unbond(txn, sender, *amount),
        Payload::WithdrawUnbonded => accounts::withdraw(txn, sender),
        Payload::RegisterSchema(def) => credentials::register_schema(txn, sender, def),
        Payload::IssueCredential(issuance) => {
            let id = prepared.credential.unwrap_or_else(|| issuance.claim.id());
            credentials::issue(txn, sender, issuance, id, &prepared.hash, check)
        }
        Payload::RevokeCredential { credential, reason } => {
            credentials::revoke(txn, sender, credential, reason)
        }
        Payload::RequestAccess {
            subject,
            credentials,
            purpose,
        } => access::request(txn, sender, nonce, *subject, credentials, purpose),
        Payload::GrantAccess {
            credential,
            grantee,
            request,
            sealed_key,
            expires_at_ms,
        } => access::grant(
            txn,
            sender,
            nonce,
            access::GrantArgs {
                credential: *credential,
                grantee: *grantee,
                request: *request,
                sealed_key: sealed_key.digest(),
                tx: prepared.hash,
                expires_at_ms: *expires_at_ms,
            },
        ),
        Payload::GrantAccessSet {
            grantee,
            request,
            selection,
            entries,
            expires_at_ms,
        } => access::grant_set(
            txn,
            sender,
            nonce,
            access::SetArgs {
                tx: prepared.hash,
                grantee: *grantee,
                request: *request,
                selection,
                entries,
                expires_at_ms: *expires_at_ms,
            },
        ),
        Payload::RevokeGrant { grant } => access::revoke_grant(txn, sender, grant),
        Payload::RecordInspection { grant, outcome } => {
            access::record_inspection(txn, sender, grant, outcome)
        }
        Payload::Propose { action } => governance::propose(txn, sender, action),
        Payload::Vote { proposal, approve } => governance::vote(txn, sender, *proposal, *approve),
        Payload::SubmitEvidence(evidence) => evidence::execute(txn, evidence),
        Payload::Delegate {
            practitioner,
            role,
            schemas,
            valid_from_ms,
            valid_until_ms,
        } => credentials::delegate(
            txn,
            sender,
            *practitioner,
            crate::records::DelegationTerm {
                role: *role,
                schemas: schemas.clone(),
                valid_from_ms: *valid_from_ms,
                valid_until_ms: *valid_until_ms,
                revoked: None,
            },
        ),
        Payload::RevokeDelegation {
            practitioner,
            reason,
        } => credentials::revoke_delegation(txn, sender, *practitioner, reason),
        Payload::EraseContent { credential } => credentials::erase(txn, sender, credential),
    }
}

/// The authority set in force at `height` according to the authority records.
pub(super) fn derive_authority_set(txn: &Txn, height: u64) -> Result<AuthoritySet, TxError> {
    let index: Vec<AccountId> = txn.get(&keys::authority_index())?.unwrap_or_default();
    let mut members = Vec::with_capacity(index.len());
    for operator in index {
        let authority: Authority = txn
            .get(&keys::authority(&operator))?
            .ok_or_else(|| TxError::CorruptState(format!("authority {operator} missing")))?;
        if authority.active_at(height) {
            if let Some(key) = authority.consensus_keys.at(height) {
                members.push(AuthorityMember {
                    operator,
                    consensus_key: *key,
                });
            }
        }
    }
    Ok(AuthoritySet { members })
}

/// Every signature `tx` carries, with the key each must verify under at the height
/// of `executor`'s block: the sender's, and for issuances the claim's signer's (the
/// certifier, or the practitioner signing for it).
fn signature_items(txn: &Txn, tx: &SignedTransaction) -> Result<Vec<BatchItem>, TxError> {
    let height = txn.height();
    let sender = tx.tx.sender;
    let sender_key = match txn.get::<Account>(&keys::account(&sender))? {
        Some(account) => account.signing_key_at(&sender, height),
        None => sender,
    };
    let mut items = vec![tx.batch_item(sender_key)];
    if let Payload::IssueCredential(issuance) = &tx.tx.payload {
        let key = credentials::claim_key(txn, &issuance.claim, height)?;
        items.push(BatchItem::new(
            &tx.tx.chain_id,
            Domain::CredentialClaim,
            &codec::encode(&issuance.claim),
            issuance.certifier_signature,
            key,
        ));
    }
    Ok(items)
}

/// Verifies every signature of `transactions` as one batch against committed `state`
/// at `height`. Keys only change from the height after a rotation, so committed state
/// determines every key a block's signatures need. On failure returns the index of
/// the first offending transaction.
pub fn verify_signatures(
    state: &dyn State,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
) -> Result<(), (usize, TxError)> {
    let meta = read_meta(state).map_err(|e| (0, e))?;
    let empty = BlockWrites::default();
    let cache = ReadCache::default();
    let txn = Txn::new(state, &cache, &empty, ctx, &meta, IssuanceView::Block);
    let mut items = Vec::with_capacity(transactions.len() + transactions.len() / 2);
    let mut owner = Vec::with_capacity(items.capacity());
    for (index, tx) in transactions.iter().enumerate() {
        for item in signature_items(&txn, tx).map_err(|e| (index, e))? {
            items.push(item);
            owner.push(index);
        }
    }
    verify_batch(&items).map_err(|e| {
        let item = match e {
            mpms_crypto::SignatureError::Batch { index: Some(i) } => i,
            _ => 0,
        };
        let index = owner.get(item).copied().unwrap_or(0);
        let is_claim = item > 0 && owner.get(item - 1) == Some(&index);
        let error = if is_claim {
            TxError::Credential(error::CredentialRuleError::BadCertifierSignature)
        } else {
            TxError::BadSignature
        };
        (index, error)
    })
}

/// Room evidence may take beyond the largest transaction: it carries an offending
/// transaction (up to the limit) with a header, a statement and a Merkle proof.
pub const EVIDENCE_ALLOWANCE_BYTES: u64 = 16 << 10;

/// The largest encoded transaction with `payload` the parameters allow: evidence gets
/// [`EVIDENCE_ALLOWANCE_BYTES`] more, so that a fake issuance padded to the limit can
/// still be proven.
pub fn transaction_limit(params: &Params, payload: &Payload) -> u64 {
    match payload {
        Payload::SubmitEvidence(_) => params
            .max_transaction_bytes
            .saturating_add(EVIDENCE_ALLOWANCE_BYTES),
        _ => params.max_transaction_bytes,
    }
}

/// Checks and executes a whole block on top of `state`, whose last block is `parent`.
/// Signatures are verified as one batch. (The block's `last_commit` certificate is
/// checked by consensus or sync against the parent's authority set, not here.)
pub fn execute_block(
    state: &dyn State,
    parent: &Header,
    block: &Block,
) -> Result<BlockOutcome, BlockExecError> {
    let meta = read_meta(state).map_err(BlockExecError::State)?;
    if block.header.chain_id != meta.chain_id {
        return Err(BlockExecError::WrongChain(shown(&block.header.chain_id)));
    }
    block.header.check_link(parent)?;
    if block.header.authority_set != meta.authority_set.hash() {
        return Err(BlockExecError::AuthoritySetMismatch);
    }
    if !meta.authority_set.contains(&block.header.proposer) {
        return Err(BlockExecError::NotAnAuthority(block.header.proposer));
    }
    block.check_body(
        meta.params.max_block_transactions,
        meta.params.max_block_bytes,
    )?;
    let ctx = BlockContext {
        height: block.header.height,
        time_ms: block.header.time_ms,
        proposer: block.header.proposer,
        parent: block.header.parent,
    };
    verify_signatures(state, &ctx, &block.transactions)
        .map_err(|(index, error)| BlockExecError::Transaction { index, error })?;
    let mut executor = Executor::new(state, ctx).map_err(BlockExecError::State)?;
    let txs: Vec<&SignedTransaction> = block.transactions.iter().collect();
    let mut index = 0;
    let failed = pipeline::run(state, &txs, |step| match step {
        Step::Warm(values) => {
            executor.warm(values);
            ControlFlow::Continue(())
        }
        Step::Apply(tx, prepared) => {
            match executor.apply_prepared(tx, prepared, SignatureCheck::Preverified) {
                Ok(_) => {
                    index += 1;
                    ControlFlow::Continue(())
                }
                Err(error) => ControlFlow::Break(BlockExecError::Transaction { index, error }),
            }
        }
    });
    if let Some(error) = failed {
        return Err(error);
    }
    let outcome = executor.finish().map_err(BlockExecError::State)?;
    if outcome.state_root != block.header.state_root {
        return Err(BlockExecError::StateMismatch {
            header: block.header.state_root,
            computed: outcome.state_root,
        });
    }
    if outcome.next_authority_set_hash != block.header.next_authority_set {
        return Err(BlockExecError::NextAuthoritySetMismatch);
    }
    Ok(outcome)
}
