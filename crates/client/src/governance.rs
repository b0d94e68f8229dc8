//! Governance: an authority proposes an action, the authorities vote; a proposal
//! passes with more than 2/3 of them.

use mpms_crypto::PublicKey;
use mpms_ledger::params::ParameterChange;
use mpms_ledger::records::{Proposal, ProposalStatus};
use mpms_ledger::transaction::GovernanceAction;
use mpms_ledger::Payload;
use serde_json::{json, Value};

use crate::api::Client;
use crate::build::validity;
use crate::error::Result;

/// An authority proposes `action`.
pub fn propose(action: GovernanceAction) -> Payload {
    Payload::Propose { action }
}

/// An authority votes on `proposal`: for if `approve`, else against.
pub fn vote(proposal: u64, approve: bool) -> Payload {
    Payload::Vote { proposal, approve }
}

/// Accredit `certifier` for schema patterns `scope` (`cardio.*`), for `days` from
/// `now_ms`.
pub fn accredit_certifier(
    certifier: PublicKey,
    scope: Vec<String>,
    now_ms: u64,
    days: u64,
) -> GovernanceAction {
    let (valid_from_ms, valid_until_ms) = validity(now_ms, days);
    GovernanceAction::AccreditCertifier {
        certifier,
        scope,
        valid_from_ms,
        valid_until_ms,
    }
}

/// Admit `organization`: it may then ask subjects for access.
pub fn admit_organization(organization: PublicKey) -> GovernanceAction {
    GovernanceAction::AdmitOrganization { organization }
}

/// Suspend `organization`: it may no longer ask subjects for access.
pub fn suspend_organization(organization: PublicKey, reason: String) -> GovernanceAction {
    GovernanceAction::SuspendOrganization {
        organization,
        reason,
    }
}

/// Suspend `certifier`.
pub fn suspend_certifier(certifier: PublicKey, reason: String) -> GovernanceAction {
    GovernanceAction::SuspendCertifier { certifier, reason }
}

/// Slash `certifier`: burn `fraction_bps` basis points of its stake and suspend it.
pub fn slash_certifier(
    certifier: PublicKey,
    fraction_bps: u32,
    reason: String,
) -> GovernanceAction {
    GovernanceAction::SlashCertifier {
        certifier,
        fraction_bps,
        reason,
    }
}

/// Revoke every credential `certifier` issued at heights `from_height` to `to_height`
/// (inclusive; `None`: up to the block that applies it).
pub fn revoke_certifier_credentials(
    certifier: PublicKey,
    from_height: u64,
    to_height: Option<u64>,
    reason: String,
) -> GovernanceAction {
    GovernanceAction::RevokeCertifierCredentials {
        certifier,
        from_height,
        to_height,
        reason,
    }
}

/// Add the authority run by `operator` (who must have bonded the minimum stake),
/// signing consensus messages with `consensus_key` on node `peer_id`.
pub fn add_authority(
    operator: PublicKey,
    consensus_key: PublicKey,
    peer_id: String,
) -> GovernanceAction {
    GovernanceAction::AddAuthority {
        operator,
        consensus_key,
        peer_id,
    }
}

/// Remove the authority run by `operator`.
pub fn remove_authority(operator: PublicKey) -> GovernanceAction {
    GovernanceAction::RemoveAuthority { operator }
}

/// Switch the authority run by `operator` to `consensus_key`.
pub fn rotate_authority_key(operator: PublicKey, consensus_key: PublicKey) -> GovernanceAction {
    GovernanceAction::RotateAuthorityKey {
        operator,
        consensus_key,
    }
}

/// Change a chain parameter.
pub fn set_parameter(change: ParameterChange) -> GovernanceAction {
    GovernanceAction::SetParameter(change)
}

/// Admit node `peer_id`, run by `operator`, to the permissioned network.
pub fn admit_node(peer_id: String, operator: PublicKey) -> GovernanceAction {
    GovernanceAction::AdmitNode { peer_id, operator }
}

/// Remove node `peer_id` from the node registry.
pub fn remove_node(peer_id: String) -> GovernanceAction {
    GovernanceAction::RemoveNode { peer_id }
}

/// How many of `authorities` must approve for a proposal to pass: more than 2/3.
pub fn votes_needed(authorities: usize) -> usize {
    authorities * 2 / 3 + 1
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    /// Open for votes.
    Open,
    /// Passed and executed.
    Executed,
    /// Passed but could not be applied.
    Failed,
    /// Voted down.
    Rejected,
}

impl ProposalState {
    /// Its name: `open`, `executed`, `failed` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Open => "open",
            ProposalState::Executed => "executed",
            ProposalState::Failed => "failed",
            ProposalState::Rejected => "rejected",
        }
    }
}

/// Where a proposal stands, with a sentence saying what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalOutcome {
    /// The state.
    pub state: ProposalState,
    /// What it means (for an open proposal: how many approve, how many are needed).
    pub summary: String,
}

impl ProposalOutcome {
    /// The outcome of `proposal` with `authorities` authorities in the set.
    pub fn of(proposal: &Proposal, authorities: usize) -> ProposalOutcome {
        let (state, summary) = match &proposal.status {
            ProposalStatus::Executed { height } => (
                ProposalState::Executed,
                format!("passed and executed at height {height}: no more votes are needed"),
            ),
            ProposalStatus::Failed { height, reason } => (
                ProposalState::Failed,
                format!("passed at height {height} but could not be applied: {reason}"),
            ),
            ProposalStatus::Rejected { height } => (
                ProposalState::Rejected,
                format!("voted down at height {height}"),
            ),
            ProposalStatus::Open => (
                ProposalState::Open,
                format!(
                    "open: {} of {authorities} authorities approve; it passes with more than 2/3 ({} votes)",
                    proposal.approvals.len(),
                    votes_needed(authorities)
                ),
            ),
        };
        ProposalOutcome { state, summary }
    }

    /// `{"status": state, "summary": summary}`.
    pub fn to_json(&self) -> Value {
        json!({ "status": self.state.as_str(), "summary": self.summary })
    }
}

/// How proposal `id` stands on the node's chain.
pub fn proposal_outcome(client: &Client, id: u64) -> Result<ProposalOutcome> {
    let proposal = client.proposal(id)?;
    let authorities = client.authority_set()?.len();
    Ok(ProposalOutcome::of(&proposal, authorities))
}

/// The newest proposal by `proposer` among the node's latest ones.
pub fn latest_proposal_by(client: &Client, proposer: &PublicKey) -> Result<Option<u64>> {
    Ok(client
        .proposals()?
        .iter()
        .find(|p| &p.proposer == proposer)
        .map(|p| p.id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::build::DAY_MS;
    use crate::testing::{party, rng};

    #[test]
    fn a_vote_and_a_proposal_are_the_authoritys() {
        let mut rng = rng(40);
        let (authority, hospital) = (party(&mut rng), party(&mut rng));
        let action = accredit_certifier(hospital.id(), vec!["cardio.*".into()], 10 * DAY_MS, 365);
        assert_eq!(
            action,
            GovernanceAction::AccreditCertifier {
                certifier: hospital.id(),
                scope: vec!["cardio.*".into()],
                valid_from_ms: 9 * DAY_MS,
                valid_until_ms: 375 * DAY_MS,
            }
        );
        let tx = crate::sign("mpms-test", &authority.signing, 2, propose(action.clone()));
        tx.verify(&authority.id()).unwrap();
        assert_eq!(tx.tx.payload, Payload::Propose { action });
        assert_eq!(
            vote(4, false),
            Payload::Vote {
                proposal: 4,
                approve: false
            }
        );
    }

    #[test]
    fn an_outcome_says_how_many_votes_are_missing() {
        let mut rng = rng(41);
        let a = party(&mut rng);
        let mut proposal = Proposal {
            id: 3,
            proposer: a.id(),
            action: remove_node("peer".into()),
            created_height: 1,
            voting_ends_height: 100,
            approvals: vec![a.id()],
            rejections: vec![],
            status: ProposalStatus::Open,
        };
        assert_eq!(votes_needed(4), 3);
        assert_eq!(votes_needed(3), 3);
        let open = ProposalOutcome::of(&proposal, 4);
        assert_eq!(open.state, ProposalState::Open);
        assert_eq!(
            open.summary,
            "open: 1 of 4 authorities approve; it passes with more than 2/3 (3 votes)"
        );
        proposal.status = ProposalStatus::Failed {
            height: 9,
            reason: "no stake".into(),
        };
        assert_eq!(
            ProposalOutcome::of(&proposal, 4).to_json(),
            json!({"status": "failed", "summary": "passed at height 9 but could not be applied: no stake"})
        );
    }
}
