//! Chain parameters, set at genesis and changed by governance.

use serde::{Deserialize, Serialize};

/// Parameters every node applies. Changes take effect from the next height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Zero bits the proof of work of a registration (a new identity) must have
    /// ([`crate::work`]); each bit doubles what creating an account costs a client.
    /// At most [`MAX_ACCOUNT_CREATION_WORK_BITS`].
    #[serde(default = "default_account_creation_work_bits")]
    pub account_creation_work_bits: u8,
    /// Consensus timing: every validator must use the same, so it belongs to the
    /// chain, not to each node's configuration (defaults if omitted).
    #[serde(default)]
    pub consensus: ConsensusTiming,
}

/// Consensus timing, in milliseconds. Part of the chain's parameters so that every
/// validator waits the same: a validator that waited longer than the others before
/// proposing would see them give up on its turn every time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusTiming {
    /// Wait for a proposal in round 0, on top of the heartbeat.
    pub propose_timeout_ms: u64,
    /// Wait for more prevotes once more than 2/3 arrived.
    pub prevote_timeout_ms: u64,
    /// Wait for more precommits once more than 2/3 arrived.
    pub precommit_timeout_ms: u64,
    /// Added to every timeout per round.
    pub timeout_delta_ms: u64,
    /// Upper bound of any single timeout.
    pub max_timeout_ms: u64,
    /// Longest a proposer waits for transactions before proposing an empty block.
    pub heartbeat_ms: u64,
    /// Least time between two blocks.
    pub min_block_interval_ms: u64,
}

impl Default for ConsensusTiming {
    fn default() -> Self {
        ConsensusTiming {
            propose_timeout_ms: 1_000,
            prevote_timeout_ms: 500,
            precommit_timeout_ms: 500,
            timeout_delta_ms: 500,
            max_timeout_ms: 30_000,
            heartbeat_ms: 5_000,
            min_block_interval_ms: 200,
        }
    }
}

/// Largest block the parameters may allow, in bytes: half the largest encoding a node
/// decodes, so a block with its certificate and a proposal's envelope always fits.
pub const MAX_BLOCK_BYTES_LIMIT: u64 = (crate::codec::MAX_ENCODED_BYTES as u64) / 2;

/// Most transactions a block may be allowed.
pub const MAX_BLOCK_TRANSACTIONS_LIMIT: u32 = 100_000;

/// Longest a proposal may stay open, and the longest evidence window or unbonding
/// period, in blocks: bounds that keep every height derived from them far from
/// overflow.
pub const MAX_PROPOSAL_TTL_BLOCKS: u64 = 1_000_000;
/// See [`MAX_PROPOSAL_TTL_BLOCKS`].
pub const MAX_PERIOD_BLOCKS: u64 = 10_000_000;

/// The highest proof-of-work requirement governance may set: 2^28 hashes is minutes
/// of a phone's time, past which honest subjects could no longer register.
pub const MAX_ACCOUNT_CREATION_WORK_BITS: u8 = 28;

fn default_account_creation_work_bits() -> u8 {
    Params::default().account_creation_work_bits
}

/// Longest any consensus duration may be set to: one hour. Keeps every sum of
/// timings far from overflow and a mistyped value from halting the chain for days.
pub const MAX_TIMING_MS: u64 = 3_600_000;

impl ConsensusTiming {
    /// Checks that the timing is usable; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, u64, u64); 7] = [
            ("propose_timeout_ms", self.propose_timeout_ms, 10),
            ("prevote_timeout_ms", self.prevote_timeout_ms, 10),
            ("precommit_timeout_ms", self.precommit_timeout_ms, 10),
            ("timeout_delta_ms", self.timeout_delta_ms, 0),
            ("max_timeout_ms", self.max_timeout_ms, 100),
            ("heartbeat_ms", self.heartbeat_ms, 10),
            ("min_block_interval_ms", self.min_block_interval_ms, 0),
        ];
        for (field, value, min) in checks {
            if value < min || value > MAX_TIMING_MS {
                return Err(format!(
                    "parameter consensus.{field} must be {min} to {MAX_TIMING_MS} ms"
                ));
            }
        }
        if self.min_block_interval_ms > self.heartbeat_ms {
            return Err(
                "parameter consensus.min_block_interval_ms must not exceed heartbeat_ms".into(),
            );
        }
        Ok(())
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_authority_stake: 1_000,
            min_certifier_stake: 100,
            unbonding_period_blocks: 100_000,
            proposal_ttl_blocks: 10_000,
            slash_fraction_bps: 1_000,
            evidence_max_age_blocks: 100_000,
            max_block_transactions: 5_000,
            max_block_bytes: 8 << 20,
            max_transaction_bytes: 256 << 10,
            account_creation_work_bits: 18,
            consensus: ConsensusTiming::default(),
        }
    }
}

/// One parameter change, as voted by governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// See [`Params::account_creation_work_bits`].
    AccountCreationWorkBits(u8),
    /// See [`ConsensusTiming::propose_timeout_ms`].
    ProposeTimeoutMs(u64),
    /// See [`ConsensusTiming::prevote_timeout_ms`].
    PrevoteTimeoutMs(u64),
    /// See [`ConsensusTiming::precommit_timeout_ms`].
    PrecommitTimeoutMs(u64),
    /// See [`ConsensusTiming::timeout_delta_ms`].
    TimeoutDeltaMs(u64),
    /// See [`ConsensusTiming::max_timeout_ms`].
    MaxTimeoutMs(u64),
    /// See [`ConsensusTiming::heartbeat_ms`].
    HeartbeatMs(u64),
    /// See [`ConsensusTiming::min_block_interval_ms`].
    MinBlockIntervalMs(u64),
}

impl Params {
    /// Checks that the parameters are usable; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, bool, String); 9] = [
            (
                "account_creation_work_bits",
                self.account_creation_work_bits <= MAX_ACCOUNT_CREATION_WORK_BITS,
                format!("0 to {MAX_ACCOUNT_CREATION_WORK_BITS}"),
            ),
            (
                "slash_fraction_bps",
                self.slash_fraction_bps <= 10_000,
                "0 to 10000".into(),
            ),
            (
                "proposal_ttl_blocks",
                (1..=MAX_PROPOSAL_TTL_BLOCKS).contains(&self.proposal_ttl_blocks),
                format!("1 to {MAX_PROPOSAL_TTL_BLOCKS}"),
            ),
            (
                "evidence_max_age_blocks",
                (1..=MAX_PERIOD_BLOCKS).contains(&self.evidence_max_age_blocks),
                format!("1 to {MAX_PERIOD_BLOCKS}"),
            ),
            // Stake must not leave before the misbehaviour it backs can be proven.
            (
                "unbonding_period_blocks",
                (self.evidence_max_age_blocks..=MAX_PERIOD_BLOCKS)
                    .contains(&self.unbonding_period_blocks),
                format!("evidence_max_age_blocks to {MAX_PERIOD_BLOCKS}"),
            ),
            (
                "max_block_transactions",
                (1..=MAX_BLOCK_TRANSACTIONS_LIMIT).contains(&self.max_block_transactions),
                format!("1 to {MAX_BLOCK_TRANSACTIONS_LIMIT}"),
            ),
            (
                "max_transaction_bytes",
                self.max_transaction_bytes >= 1024,
                "at least 1024".into(),
            ),
            (
                "max_block_bytes",
                self.max_block_bytes >= self.max_transaction_bytes
                    && self.max_block_bytes <= MAX_BLOCK_BYTES_LIMIT,
                format!("max_transaction_bytes to {MAX_BLOCK_BYTES_LIMIT}"),
            ),
            (
                "min_authority_stake",
                self.min_authority_stake > 0,
                "positive".into(),
            ),
        ];
        match checks.iter().find(|(_, ok, _)| !ok) {
            Some((field, _, range)) => Err(format!("parameter {field} is out of range: {range}")),
            None => self.consensus.validate(),
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
            ParameterChange::AccountCreationWorkBits(v) => next.account_creation_work_bits = v,
            ParameterChange::ProposeTimeoutMs(v) => next.consensus.propose_timeout_ms = v,
            ParameterChange::PrevoteTimeoutMs(v) => next.consensus.prevote_timeout_ms = v,
            ParameterChange::PrecommitTimeoutMs(v) => next.consensus.precommit_timeout_ms = v,
            ParameterChange::TimeoutDeltaMs(v) => next.consensus.timeout_delta_ms = v,
            ParameterChange::MaxTimeoutMs(v) => next.consensus.max_timeout_ms = v,
            ParameterChange::HeartbeatMs(v) => next.consensus.heartbeat_ms = v,
            ParameterChange::MinBlockIntervalMs(v) => next.consensus.min_block_interval_ms = v,
        }
        next.validate()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn consensus_timing_is_bounded() {
        let p = Params::default();
        assert!(p.validate().is_ok());
        let next = p.with_change(&ParameterChange::HeartbeatMs(2_000)).unwrap();
        assert_eq!(next.consensus.heartbeat_ms, 2_000);
        for bad in [
            ParameterChange::HeartbeatMs(0),
            ParameterChange::HeartbeatMs(u64::MAX),
            ParameterChange::ProposeTimeoutMs(MAX_TIMING_MS + 1),
            ParameterChange::MinBlockIntervalMs(p.consensus.heartbeat_ms + 1),
            ParameterChange::MaxTimeoutMs(5),
        ] {
            let err = p.with_change(&bad).unwrap_err();
            assert!(err.contains("consensus."), "{bad:?}: {err}");
        }
    }

    #[test]
    fn timing_may_be_omitted_in_json() {
        let mut value = serde_json::to_value(Params::default()).unwrap();
        value.as_object_mut().unwrap().remove("consensus");
        let p: Params = serde_json::from_value(value).unwrap();
        assert_eq!(p.consensus, ConsensusTiming::default());
    }
}
