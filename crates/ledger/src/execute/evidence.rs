//! Judging and executing evidence: a proven offence burns a share of the authority's
//! stake, jails it and removes it from the set from the next height.

use super::accounts::burn_stake;
use super::credentials::check_issuance;
use super::error::TxError;
use super::txn::Txn;
use super::{Event, IssuanceView};
use crate::block::verify_tx_inclusion;
use crate::evidence::Evidence;
use crate::records::{keys, Authority, AuthorityStatus, Offence, OffenceKind};
use crate::transaction::Payload;
use crate::vote::SignedVote;

fn invalid(reason: impl Into<String>) -> TxError {
    TxError::InvalidEvidence(reason.into())
}

/// Checks that evidence about `height` can be judged: not a future height, within
/// the evidence window, and not below the history floor (the chain would judge it on
/// history it no longer holds).
fn check_height(txn: &Txn, height: u64) -> Result<(), TxError> {
    if height > txn.height() {
        return Err(invalid("statement is about a future height"));
    }
    let max_age = txn.meta.params.evidence_max_age_blocks;
    if txn.height() - height > max_age {
        return Err(TxError::EvidenceTooOld { height, max_age });
    }
    let floor = txn.history_floor();
    if height < floor {
        return Err(TxError::HistoryPruned { height, floor });
    }
    Ok(())
}

/// Checks that `vote` was validly signed by an authority in the set at its height,
/// and returns that authority.
fn check_signed_vote(txn: &Txn, vote: &SignedVote) -> Result<Authority, TxError> {
    let height = vote.vote.height;
    check_height(txn, height)?;
    let authority: Authority = txn
        .get(&keys::authority(&vote.validator))?
        .filter(|a: &Authority| a.active_at(height))
        .ok_or_else(|| invalid("signer was not an authority at that height"))?;
    let key = authority
        .consensus_keys
        .at(height)
        .ok_or_else(|| invalid("signer had no consensus key at that height"))?;
    vote.verify(&txn.meta.chain_id, key)
        .map_err(|_| invalid("statement signature does not verify"))?;
    Ok(authority)
}

/// The hash of the committed block at `height`: the current block's parent comes
/// from the block context (it is written to state when the block ends), older ones
/// from state, within the evidence window.
fn committed_hash(txn: &Txn, height: u64) -> Result<Option<mpms_crypto::Hash>, TxError> {
    if height.checked_add(1) == Some(txn.height()) {
        return Ok(Some(txn.ctx.parent));
    }
    txn.get(&keys::block_hash(height))
}

pub(super) fn execute(txn: &mut Txn, evidence: &Evidence) -> Result<(), TxError> {
    let offence = evidence.offence_id();
    if txn.contains(&keys::offence(&offence))? {
        return Err(TxError::OffenceAlreadyPunished);
    }
    // An authority already jailed (by earlier evidence, possibly in this very block)
    // is out and punished; it is not burned again and again.
    let accused = evidence.statement().validator;
    let jailed = |h| {
        txn.get::<Authority>(&keys::authority(&accused))
            .map(|a| a.is_some_and(|a| a.status.at(h) == Some(&AuthorityStatus::Jailed)))
    };
    if jailed(txn.height())? || jailed(txn.next_height())? {
        return Err(TxError::OffenceAlreadyPunished);
    }
    // An offence committed before the authority was last punished is covered by
    // that punishment (it may have been re-admitted since: only what it does after
    // is punished again).
    let statement_height = evidence.statement().vote.height;
    if txn
        .get::<u64>(&keys::punished(&accused))?
        .is_some_and(|punished_at| statement_height <= punished_at)
    {
        return Err(TxError::OffenceAlreadyPunished);
    }
    let (offender, kind, offence_height) = match evidence {
        Evidence::Equivocation { first, second } => {
            let (a, b) = (&first.vote, &second.vote);
            if first.validator != second.validator {
                return Err(invalid("statements are by different authorities"));
            }
            if (a.height, a.round, a.kind) != (b.height, b.round, b.kind) {
                return Err(invalid(
                    "statements are for different (height, round, step)",
                ));
            }
            if a == b {
                return Err(invalid("statements are identical"));
            }
            check_signed_vote(txn, first)?;
            let authority = check_signed_vote(txn, second)?;
            (authority, OffenceKind::Equivocation, a.height)
        }
        Evidence::FakeCredential {
            header,
            vote,
            transaction,
            proof,
        } => {
            if header.chain_id != txn.meta.chain_id {
                return Err(invalid("header is for another chain"));
            }
            if vote.vote.height != header.height || vote.vote.block != Some(header.hash()) {
                return Err(invalid("statement is not for this block"));
            }
            check_height(txn, header.height)?;
            // The issuance is judged by the state committed before its block, which is
            // the state the voter saw only if the block extends the committed chain.
            if committed_hash(txn, header.height.saturating_sub(1))? != Some(header.parent) {
                return Err(invalid(
                    "the block's parent is not the committed block of the height before",
                ));
            }
            let authority = check_signed_vote(txn, vote)?;
            if !verify_tx_inclusion(header, transaction, proof) {
                return Err(invalid("transaction is not in the block"));
            }
            let Payload::IssueCredential(issuance) = &transaction.tx.payload else {
                return Err(invalid("transaction is not a credential issuance"));
            };
            // Evidence judges the claim, never the content, and stays on chain for
            // good: it must not carry a subject's ciphertext or sealed key, which the
            // subject could never have erased.
            if !issuance.content.is_erased() || !issuance.subject_key.is_erased() {
                return Err(invalid(
                    "the transaction carries its ciphertext or sealed key: submit it erased",
                ));
            }
            let judged = check_issuance(
                txn,
                issuance,
                header.height,
                header.time_ms,
                true,
                IssuanceView::Evidence,
            );
            match judged {
                Ok(()) => return Err(invalid("the credential was valid at that height")),
                Err(TxError::Credential(_)) => {
                    (authority, OffenceKind::FakeCredential, header.height)
                }
                Err(e) if e.is_node_fault() => return Err(e),
                Err(e) => return Err(invalid(e.to_string())),
            }
        }
    };
    let authority = offender.operator;
    let burned = punish(txn, offender)?;
    txn.put(keys::punished(&authority), &txn.height());
    let record = Offence {
        kind,
        authority,
        offence_height,
        punished_height: txn.height(),
        burned,
    };
    txn.put(keys::offence(&offence), &record);
    Ok(())
}

/// Burns a share of the authority's stake and jails it from the next height, unless
/// it is the last authority the next height would have (an empty set could never
/// propose again: it is burned but keeps its seat); returns the stake burned.
fn punish(txn: &mut Txn, mut authority: Authority) -> Result<u64, TxError> {
    let operator = authority.operator;
    let burned = burn_stake(txn, &operator, txn.meta.params.slash_fraction_bps)?;
    authority.slashed = authority.slashed.saturating_add(burned);
    let others = super::derive_authority_set(txn, txn.next_height())?
        .members
        .iter()
        .any(|m| m.operator != operator);
    if others {
        authority
            .status
            .set(txn.next_height(), AuthorityStatus::Jailed);
        txn.authorities_changed = true;
    }
    txn.put(keys::authority(&operator), &authority);
    txn.emit(Event::AuthoritySlashed { operator, burned });
    Ok(burned)
}
