//! Chain parameters, set at genesis and changed by governance.

use serde::{Deserialize, Serialize};

/// Parameters every node applies. Changes take effect from the next height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Bonded stake an authority must hold.
    pub min_authority_stake: u64,
    /// Bonded stake a certifier must hold to be accredited.
    pub min_certifier_stake: u64,
    /// Blocks between unbonding and the stake becoming withdrawable.
    pub unbonding_period_blocks: u64,
    /// Blocks a governance proposal stays open for votes.
    pub proposal_ttl_blocks: u64,
    /// Share of stake burned by executed evidence, in basis points (1/100 of a percent).
    pub slash_fraction_bps: u32,
    /// Evidence about a height older than this many blocks is refused.
    pub evidence_max_age_blocks: u64,
    /// Most transactions in one block.
    pub max_block_transactions: u32,
    /// Most bytes of transactions in one block.
    pub max_block_bytes: u64,
    /// Largest encoded transaction.
    pub max_transaction_bytes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_authority_stake: 1_000,
            min_certifier_stake: 100,
            unbonding_period_blocks: 1_000,
            proposal_ttl_blocks: 10_000,
            slash_fraction_bps: 1_000,
            evidence_max_age_blocks: 100_000,
            max_block_transactions: 5_000,
            max_block_bytes: 8 << 20,
            max_transaction_bytes: 256 << 10,
        }
    }
}

/// One parameter change, as voted by governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterChange {
    /// See [`Params::min_authority_stake`].
    MinAuthorityStake(u64),
    /// See [`Params::min_certifier_stake`].
    MinCertifierStake(u64),
    /// See [`Params::unbonding_period_blocks`].
    UnbondingPeriodBlocks(u64),
    /// See [`Params::proposal_ttl_blocks`].
    ProposalTtlBlocks(u64),
    /// See [`Params::slash_fraction_bps`].
    SlashFractionBps(u32),
    /// See [`Params::evidence_max_age_blocks`].
    EvidenceMaxAgeBlocks(u64),
    /// See [`Params::max_block_transactions`].
    MaxBlockTransactions(u32),
    /// See [`Params::max_block_bytes`].
    MaxBlockBytes(u64),
    /// See [`Params::max_transaction_bytes`].
    MaxTransactionBytes(u64),
}

impl Params {
    /// Checks that the parameters are usable; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, bool); 7] = [
            ("slash_fraction_bps", self.slash_fraction_bps <= 10_000),
            ("proposal_ttl_blocks", self.proposal_ttl_blocks > 0),
            ("evidence_max_age_blocks", self.evidence_max_age_blocks > 0),
            ("max_block_transactions", self.max_block_transactions > 0),
            ("max_transaction_bytes", self.max_transaction_bytes >= 1024),
            (
                "max_block_bytes",
                self.max_block_bytes >= self.max_transaction_bytes
                    && self.max_block_bytes <= (crate::codec::MAX_ENCODED_BYTES as u64) / 2,
            ),
            ("min_authority_stake", self.min_authority_stake > 0),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((field, _)) => Err(format!("parameter {field} is out of range")),
            None => Ok(()),
        }
    }

    /// These parameters with `change` applied, if the result is valid.
    pub fn with_change(&self, change: &ParameterChange) -> Result<Params, String> {
        let mut next = self.clone();
        match *change {
            ParameterChange::MinAuthorityStake(v) => next.min_authority_stake = v,
            ParameterChange::MinCertifierStake(v) => next.min_certifier_stake = v,
            ParameterChange::UnbondingPeriodBlocks(v) => next.unbonding_period_blocks = v,
            ParameterChange::ProposalTtlBlocks(v) => next.proposal_ttl_blocks = v,
            ParameterChange::SlashFractionBps(v) => next.slash_fraction_bps = v,
            ParameterChange::EvidenceMaxAgeBlocks(v) => next.evidence_max_age_blocks = v,
            ParameterChange::MaxBlockTransactions(v) => next.max_block_transactions = v,
            ParameterChange::MaxBlockBytes(v) => next.max_block_bytes = v,
            ParameterChange::MaxTransactionBytes(v) => next.max_transaction_bytes = v,
        }
        next.validate()?;
        Ok(next)
    }
}
