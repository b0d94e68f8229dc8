//! Gossip topics. Each chain has its own three topics, so nodes of different chains
//! never exchange messages even if they connect.

use serde::{Deserialize, Serialize};

/// What a gossip message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    /// Signed transactions ([`mpms_ledger::SignedTransaction`]).
    Transactions,
    /// Proposals and votes ([`mpms_consensus::ConsensusMessage`]).
    Consensus,
    /// Finalized blocks with their certificates ([`mpms_consensus::FinalizedBlock`]).
    Blocks,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 3] = [Topic::Transactions, Topic::Consensus, Topic::Blocks];

    /// The gossipsub topic name on chain `chain_id`.
    pub fn name(self, chain_id: &str) -> String {
        format!("/mpms/{chain_id}/{}/1", self.label())
    }

    /// A short label, for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Topic::Transactions => "tx",
            Topic::Consensus => "consensus",
            Topic::Blocks => "blocks",
        }
    }

    /// Position in [`Topic::ALL`].
    pub fn index(self) -> usize {
        match self {
            Topic::Transactions => 0,
            Topic::Consensus => 1,
            Topic::Blocks => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_chain_and_distinct() {
        let a: Vec<String> = Topic::ALL.iter().map(|t| t.name("a")).collect();
        let b: Vec<String> = Topic::ALL.iter().map(|t| t.name("b")).collect();
        assert_eq!(a[0], "/mpms/a/tx/1");
        assert!(a.iter().all(|n| !b.contains(n)));
        assert_eq!(a.len(), 3);
        for (i, t) in Topic::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }
}
