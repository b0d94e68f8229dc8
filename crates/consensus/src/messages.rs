//! The consensus protocol's messages between nodes: signed proposals (with their
//! block) and votes, re-sends of a node's statements, and finalized blocks with
//! their commit certificates; and the check a node applies to a finalized block it
//! did not see decided.

use mpms_ledger::block::Header;
use mpms_ledger::vote::{CommitCertificate, SignedVote};
use mpms_ledger::{AuthoritySet, Block};
use serde::{Deserialize, Serialize};

/// A consensus message on the consensus topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusMessage {
    /// A signed proposal with its block and, for a re-proposal, the prevotes of its
    /// valid round that justify it.
    Proposal {
        /// The signed proposal (kind `Proposal`).
        proposal: SignedVote,
        /// The proposed block.
        block: Box<Block>,
        /// Proof of lock for a re-proposal; empty otherwise.
        proof: Vec<SignedVote>,
    },
    /// A signed prevote or precommit.
    Vote(SignedVote),
    /// A node's statements of a height that is not being decided, sent again so that
    /// peers that were away or restarted get them (gossip never repeats a message).
    /// `sent_at_ms` only makes each re-send new to gossip's duplicate filter. The
    /// statements are proposals and votes, never nested re-sends; at most
    /// [`MAX_RESENT`].
    Resent {
        /// The statements.
        statements: Vec<ConsensusMessage>,
        /// When this re-send was made (Unix ms).
        sent_at_ms: u64,
    },
}

/// Most statements in one [`ConsensusMessage::Resent`].
pub const MAX_RESENT: usize = 16;

impl ConsensusMessage {
    /// The height the message is about (the first statement's, for a re-send).
    pub fn height(&self) -> Option<u64> {
        match self {
            ConsensusMessage::Proposal { proposal, .. } => Some(proposal.vote.height),
            ConsensusMessage::Vote(v) => Some(v.vote.height),
            ConsensusMessage::Resent { statements, .. } => {
                statements.first().and_then(ConsensusMessage::height)
            }
        }
    }
}

/// A finalized block with the certificate that finalized it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizedBlock {
    /// The block.
    pub block: Block,
    /// More than 2/3 of its authority set's precommits for it.
    pub certificate: CommitCertificate,
}

/// Checks a fetched block against what the syncing node already knows: it follows
/// `parent`, and its certificate carries more than 2/3 of `authorities` (the set
/// that finalizes its height) for exactly this block.
pub fn check_finalized(
    chain_id: &str,
    parent: &Header,
    authorities: &AuthoritySet,
    finalized: &FinalizedBlock,
) -> Result<(), String> {
    let header = &finalized.block.header;
    if header.chain_id != chain_id {
        return Err("block for another chain".into());
    }
    header
        .check_link(parent)
        .map_err(|e| format!("block {}: {e}", header.height))?;
    finalized
        .certificate
        .verify_for(
            chain_id,
            authorities,
            header.height,
            &finalized.block.hash(),
        )
        .map_err(|e| format!("certificate of block {}: {e}", header.height))
}
