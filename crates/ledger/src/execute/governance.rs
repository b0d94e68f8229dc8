//! Governance: proposals by authorities, votes, and the actions that pass with more
//! than 2/3 of the active authorities. Every change takes effect from the next height.

use super::accounts::{burn_stake, check_text, MAX_NAME};
use super::credentials::valid_scope_pattern;
use super::error::TxError;
use super::txn::Txn;
use super::Event;
use crate::records::{
    keys, Accreditation, AccreditationStatus, Admission, Authority, AuthorityStatus, Certifier,
    CertifierRevocations, NodeRecord, Organization, Proposal, ProposalStatus, RevokedRange,
    MAX_REVOKED_RANGES,
};
use crate::transaction::GovernanceAction;
use crate::{AccountId, History, ProposalId};

const MAX_SCOPE: usize = 32;
const MAX_REASON: usize = 256;

fn require_authority(txn: &Txn, sender: &AccountId) -> Result<(), TxError> {
    if txn.meta.authority_set.contains(sender) {
        Ok(())
    } else {
        Err(TxError::NotAuthority(*sender))
    }
}

pub(super) fn propose(
    txn: &mut Txn,
    sender: AccountId,
    action: &GovernanceAction,
) -> Result<(), TxError> {
    require_authority(txn, &sender)?;
    validate_action(txn, action)?;
    let id: ProposalId = txn.get(&keys::next_proposal())?.unwrap_or(1);
    txn.put(keys::next_proposal(), &(id + 1));
    let mut proposal = Proposal {
        id,
        proposer: sender,
        action: action.clone(),
        created_height: txn.height(),
        voting_ends_height: txn
            .height()
            .saturating_add(txn.meta.params.proposal_ttl_blocks),
        // Proposing counts as voting for.
        approvals: vec![sender],
        rejections: Vec::new(),
        status: ProposalStatus::Open,
    };
    txn.emit(Event::ProposalOpened(id));
    tally(txn, &mut proposal)?;
    txn.put(keys::proposal(id), &proposal);
    Ok(())
}

pub(super) fn vote(
    txn: &mut Txn,
    sender: AccountId,
    id: ProposalId,
    approve: bool,
) -> Result<(), TxError> {
    require_authority(txn, &sender)?;
    let mut proposal: Proposal = txn
        .get(&keys::proposal(id))?
        .ok_or(TxError::UnknownProposal(id))?;
    if proposal.status != ProposalStatus::Open {
        return Err(TxError::ProposalClosed(id));
    }
    if txn.height() > proposal.voting_ends_height {
        return Err(TxError::ProposalExpired(id));
    }
    if proposal.approvals.contains(&sender) || proposal.rejections.contains(&sender) {
        return Err(TxError::DoubleVote(sender));
    }
    if approve {
        proposal.approvals.push(sender);
    } else {
        proposal.rejections.push(sender);
    }
    tally(txn, &mut proposal)?;
    txn.put(keys::proposal(id), &proposal);
    Ok(())
}

/// Counts the votes of the authorities in the current set; executes the proposal once
/// more than 2/3 approve, rejects it once that has become impossible.
fn tally(txn: &mut Txn, proposal: &mut Proposal) -> Result<(), TxError> {
    let set = &txn.meta.authority_set;
    let approvals = proposal
        .approvals
        .iter()
        .filter(|a| set.contains(a))
        .count();
    let rejections = proposal
        .rejections
        .iter()
        .filter(|a| set.contains(a))
        .count();
    let height = txn.height();
    if set.is_quorum(approvals) {
        match validate_action(txn, &proposal.action) {
            Ok(()) => {
                apply_action(txn, &proposal.action)?;
                proposal.status = ProposalStatus::Executed { height };
                txn.emit(Event::ProposalExecuted(proposal.id));
            }
            Err(e) if e.is_node_fault() => return Err(e),
            Err(e) => {
                proposal.status = ProposalStatus::Failed {
                    height,
                    reason: e.to_string(),
                };
                txn.emit(Event::ProposalFailed(proposal.id, e.to_string()));
            }
        }
    } else if !set.is_quorum(set.len() - rejections) {
        proposal.status = ProposalStatus::Rejected { height };
        txn.emit(Event::ProposalRejected(proposal.id));
    }
    Ok(())
}

fn authority(txn: &Txn, operator: &AccountId) -> Result<Option<Authority>, TxError> {
    txn.get(&keys::authority(operator))
}

fn certifier(txn: &Txn, id: &AccountId) -> Result<Certifier, TxError> {
    txn.get(&keys::certifier(id))?
        .ok_or(TxError::NotRegistered {
            role: "certifier",
            account: *id,
        })
}

fn organization(txn: &Txn, id: &AccountId) -> Result<Organization, TxError> {
    txn.get(&keys::organization(id))?
        .ok_or(TxError::NotRegistered {
            role: "organization",
            account: *id,
        })
}

fn invalid(reason: impl Into<String>) -> TxError {
    TxError::InvalidAction(reason.into())
}

/// The authority set of the next height as this block has it so far (earlier
/// transactions of the block included), not as it was when the block started.
fn next_set(txn: &Txn) -> Result<crate::AuthoritySet, TxError> {
    super::derive_authority_set(txn, txn.next_height())
}

/// A consensus key for `operator` must be valid and used by no other authority of
/// the next height, this block's earlier changes included: two authorities sharing a
/// key would let one signer count twice toward a quorum.
fn check_consensus_key(
    txn: &Txn,
    operator: &AccountId,
    key: &mpms_crypto::PublicKey,
) -> Result<(), TxError> {
    if !key.is_valid() {
        return Err(invalid("consensus key is not a valid ed25519 key"));
    }
    let in_use = |set: &crate::AuthoritySet| {
        set.members
            .iter()
            .any(|m| &m.consensus_key == key && &m.operator != operator)
    };
    if in_use(&txn.meta.authority_set) || in_use(&next_set(txn)?) {
        return Err(invalid(
            "consensus key is already used by another authority",
        ));
    }
    Ok(())
}

/// The chain's parameters as this block has them so far (an earlier change in the
/// same block included); they take effect from the next height.
fn current_params(txn: &Txn) -> Result<crate::Params, TxError> {
    Ok(txn
        .get(&keys::params())?
        .unwrap_or_else(|| txn.meta.params.clone()))
}

/// Checks that `action` can be applied now, reading only.
fn validate_action(txn: &Txn, action: &GovernanceAction) -> Result<(), TxError> {
    let params = &txn.meta.params;
    let next = txn.next_height();
    match action {
        GovernanceAction::AddAuthority {
            operator,
            consensus_key,
            peer_id,
        } => {
            let account = txn.account(operator)?;
            check_text("peer_id", peer_id, MAX_NAME, true)?;
            if authority(txn, operator)?.is_some_and(|a| a.active_at(next)) {
                return Err(invalid("already an authority"));
            }
            check_consensus_key(txn, operator, consensus_key)?;
            if account.bonded < params.min_authority_stake {
                return Err(TxError::InsufficientStake {
                    needed: params.min_authority_stake,
                    available: account.bonded,
                });
            }
        }
        GovernanceAction::RemoveAuthority { operator } => {
            if !authority(txn, operator)?.is_some_and(|a| a.active_at(next)) {
                return Err(invalid("not an active authority"));
            }
            // The set as this block leaves it: two removals in one block must not
            // empty it.
            if next_set(txn)?
                .members
                .iter()
                .all(|m| m.operator == *operator)
            {
                return Err(invalid("cannot remove the last authority"));
            }
        }
        GovernanceAction::RotateAuthorityKey {
            operator,
            consensus_key,
        } => {
            if !authority(txn, operator)?.is_some_and(|a| a.active_at(next)) {
                return Err(invalid("not an active authority"));
            }
            check_consensus_key(txn, operator, consensus_key)?;
        }
        GovernanceAction::AccreditCertifier {
            certifier: id,
            scope,
            valid_from_ms,
            valid_until_ms,
        } => {
            certifier(txn, id)?;
            if valid_until_ms <= valid_from_ms {
                return Err(invalid("accreditation must end after it starts"));
            }
            if scope.is_empty() || scope.len() > MAX_SCOPE {
                return Err(invalid(format!("scope must list 1 to {MAX_SCOPE} entries")));
            }
            if let Some(bad) = scope.iter().find(|p| !valid_scope_pattern(p)) {
                return Err(invalid(format!("bad scope entry {bad:?}")));
            }
            let bonded = txn.account(id)?.bonded;
            if bonded < params.min_certifier_stake {
                return Err(TxError::InsufficientStake {
                    needed: params.min_certifier_stake,
                    available: bonded,
                });
            }
        }
        GovernanceAction::SuspendCertifier {
            certifier: id,
            reason,
        } => {
            certifier(txn, id)?;
            check_text("reason", reason, MAX_REASON, true)?;
        }
        GovernanceAction::SlashCertifier {
            certifier: id,
            fraction_bps,
            reason,
        } => {
            certifier(txn, id)?;
            check_text("reason", reason, MAX_REASON, true)?;
            if *fraction_bps == 0 || *fraction_bps > 10_000 {
                return Err(invalid("fraction_bps must be 1 to 10000"));
            }
        }
        GovernanceAction::SetParameter(change) => {
            current_params(txn)?.with_change(change).map_err(invalid)?;
        }
        GovernanceAction::RevokeCertifierCredentials {
            certifier: id,
            from_height,
            to_height,
            reason,
        } => {
            certifier(txn, id)?;
            check_text("reason", reason, MAX_REASON, true)?;
            if let Some(to) = to_height {
                if to < from_height {
                    return Err(invalid("to_height must not be below from_height"));
                }
                // Only what was issued can be revoked: a range reaching into the
                // future would refuse credentials before anyone saw them.
                if *to > txn.height() {
                    return Err(invalid(format!(
                        "to_height {to} is above the chain's height {}",
                        txn.height()
                    )));
                }
            } else if *from_height > txn.height() {
                return Err(invalid(format!(
                    "from_height {from_height} is above the chain's height {}",
                    txn.height()
                )));
            }
            let revocations: CertifierRevocations = txn
                .get(&keys::certifier_revocations(id))?
                .unwrap_or_default();
            if revocations.ranges.len() >= MAX_REVOKED_RANGES {
                return Err(invalid(format!(
                    "the certifier already has {MAX_REVOKED_RANGES} revoked ranges: revoke a wider range"
                )));
            }
        }
        GovernanceAction::AdmitOrganization { organization: id } => {
            if matches!(organization(txn, id)?.admission, Admission::Admitted(_)) {
                return Err(invalid("organization already admitted"));
            }
        }
        GovernanceAction::SuspendOrganization {
            organization: id,
            reason,
        } => {
            organization(txn, id)?;
            check_text("reason", reason, MAX_REASON, true)?;
        }
        GovernanceAction::AdmitNode { peer_id, operator } => {
            check_text("peer_id", peer_id, MAX_NAME, true)?;
            txn.account(operator)?;
            if txn.contains(&keys::node(peer_id))? {
                return Err(invalid("node already admitted"));
            }
        }
        GovernanceAction::RemoveNode { peer_id } => {
            if !txn.contains(&keys::node(peer_id))? {
                return Err(invalid("node not on the registry"));
            }
        }
    }
    Ok(())
}

/// Sets the certifier's accreditation to `status` (suspended or slashed) from the
/// next height, its scope and dates kept.
fn suspend(txn: &mut Txn, id: &AccountId, status: AccreditationStatus) -> Result<(), TxError> {
    let mut record = certifier(txn, id)?;
    let mut accreditation = record
        .accreditation
        .latest()
        .cloned()
        .unwrap_or(Accreditation {
            status: AccreditationStatus::Pending,
            scope: Vec::new(),
            valid_from_ms: 0,
            valid_until_ms: 0,
        });
    accreditation.status = status;
    record.accreditation.set(txn.next_height(), accreditation);
    txn.put(keys::certifier(id), &record);
    Ok(())
}

/// Applies a validated action.
fn apply_action(txn: &mut Txn, action: &GovernanceAction) -> Result<(), TxError> {
    let next = txn.next_height();
    match action {
        GovernanceAction::AddAuthority {
            operator,
            consensus_key,
            peer_id,
        } => {
            let record = match authority(txn, operator)? {
                Some(mut existing) => {
                    existing.status.set(next, AuthorityStatus::Active);
                    existing.consensus_keys.set(next, *consensus_key);
                    existing.peer_id = peer_id.clone();
                    existing
                }
                None => {
                    let mut index: Vec<AccountId> =
                        txn.get(&keys::authority_index())?.unwrap_or_default();
                    index.push(*operator);
                    txn.put(keys::authority_index(), &index);
                    Authority {
                        operator: *operator,
                        consensus_keys: History::new(next, *consensus_key),
                        status: History::new(next, AuthorityStatus::Active),
                        peer_id: peer_id.clone(),
                        slashed: 0,
                    }
                }
            };
            txn.put(keys::authority(operator), &record);
            txn.authorities_changed = true;
        }
        GovernanceAction::RemoveAuthority { operator } => {
            if let Some(mut record) = authority(txn, operator)? {
                record.status.set(next, AuthorityStatus::Removed);
                txn.put(keys::authority(operator), &record);
                txn.authorities_changed = true;
            }
        }
        GovernanceAction::RotateAuthorityKey {
            operator,
            consensus_key,
        } => {
            if let Some(mut record) = authority(txn, operator)? {
                record.consensus_keys.set(next, *consensus_key);
                txn.put(keys::authority(operator), &record);
                txn.authorities_changed = true;
            }
        }
        GovernanceAction::AccreditCertifier {
            certifier: id,
            scope,
            valid_from_ms,
            valid_until_ms,
        } => {
            let mut record = certifier(txn, id)?;
            record.accreditation.set(
                next,
                Accreditation {
                    status: AccreditationStatus::Accredited,
                    scope: scope.clone(),
                    valid_from_ms: *valid_from_ms,
                    valid_until_ms: *valid_until_ms,
                },
            );
            txn.put(keys::certifier(id), &record);
        }
        GovernanceAction::SuspendCertifier {
            certifier: id,
            reason,
        } => suspend(txn, id, AccreditationStatus::Suspended(reason.clone()))?,
        GovernanceAction::SlashCertifier {
            certifier: id,
            fraction_bps,
            reason,
        } => {
            let burned = burn_stake(txn, id, *fraction_bps)?;
            suspend(txn, id, AccreditationStatus::Slashed(reason.clone()))?;
            txn.emit(Event::CertifierSlashed {
                certifier: *id,
                burned,
            });
        }
        GovernanceAction::RevokeCertifierCredentials {
            certifier: id,
            from_height,
            to_height,
            reason,
        } => {
            let key = keys::certifier_revocations(id);
            let mut revocations: CertifierRevocations = txn.get(&key)?.unwrap_or_default();
            revocations.ranges.push(RevokedRange {
                from_height: *from_height,
                to_height: to_height.unwrap_or(txn.height()),
                reason: reason.clone(),
                height: txn.height(),
            });
            txn.put(key, &revocations);
            txn.emit(Event::CertifierCredentialsRevoked {
                certifier: *id,
                from_height: *from_height,
                to_height: to_height.unwrap_or(txn.height()),
            });
        }
        GovernanceAction::SetParameter(change) => {
            // On top of an earlier change in the same block, not over it.
            let params = current_params(txn)?.with_change(change).map_err(invalid)?;
            txn.put(keys::params(), &params);
        }
        GovernanceAction::AdmitOrganization { organization: id } => {
            let mut record = organization(txn, id)?;
            record.admission = Admission::Admitted(txn.height());
            txn.put(keys::organization(id), &record);
            txn.emit(Event::OrganizationAdmitted(*id));
        }
        GovernanceAction::SuspendOrganization {
            organization: id,
            reason,
        } => {
            let mut record = organization(txn, id)?;
            record.admission = Admission::Suspended(reason.clone());
            txn.put(keys::organization(id), &record);
            txn.emit(Event::OrganizationSuspended(*id));
        }
        GovernanceAction::AdmitNode { peer_id, operator } => {
            let mut index: Vec<String> = txn.get(&keys::node_index())?.unwrap_or_default();
            index.push(peer_id.clone());
            txn.put(keys::node_index(), &index);
            let record = NodeRecord {
                peer_id: peer_id.clone(),
                operator: *operator,
                admitted_height: next,
            };
            txn.put(keys::node(peer_id), &record);
            txn.emit(Event::NodeAdmitted(peer_id.clone()));
        }
        GovernanceAction::RemoveNode { peer_id } => {
            let mut index: Vec<String> = txn.get(&keys::node_index())?.unwrap_or_default();
            index.retain(|p| p != peer_id);
            txn.put(keys::node_index(), &index);
            txn.delete(keys::node(peer_id));
            txn.emit(Event::NodeRemoved(peer_id.clone()));
        }
    }
    Ok(())
}
