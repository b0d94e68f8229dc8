//! Building a block as a proposer: apply candidate transactions in order, leave out
//! those the rules reject, and fill in the header from the outcome.

use mpms_crypto::Hash;

use super::error::TxError;
use std::ops::ControlFlow;

use super::pipeline::{self, Step};
use super::{BlockContext, BlockOutcome, Executor, SignatureCheck};
use crate::block::{tx_root_of_hashes, Block, Header};
use crate::state::State;
use crate::transaction::SignedTransaction;
use crate::vote::CommitCertificate;
use crate::AccountId;

/// A transaction left out of a block, and why.
#[derive(Debug, Clone)]
pub struct Excluded {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// The reason.
    pub error: TxError,
}

/// A built block and what executing it did.
#[derive(Debug, Clone)]
pub struct BuiltBlock {
    /// The block, header complete.
    pub block: Block,
    /// The execution outcome (state writes, commitment, receipts).
    pub outcome: BlockOutcome,
    /// Candidates left out.
    pub excluded: Vec<Excluded>,
}

impl BuiltBlock {
    /// The hashes of the block's transactions, in order.
    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.outcome.receipts.iter().map(|r| r.tx_hash).collect()
    }
}

/// Builds the block after `parent` (whose own certificate is `parent_commit`) on top
/// of `state`, from `candidates` in order, within the block limits. Candidates are
/// verified one by one (`check`), or taken as verified by the caller.
pub fn build_block<'t>(
    state: &dyn State,
    parent: &Header,
    parent_commit: Option<CommitCertificate>,
    proposer: AccountId,
    time_ms: u64,
    candidates: impl IntoIterator<Item = &'t SignedTransaction>,
    check: SignatureCheck,
) -> Result<BuiltBlock, TxError> {
    let ctx = BlockContext {
        height: parent.height + 1,
        time_ms,
        proposer,
        parent: parent.hash(),
    };
    let mut executor = Executor::new(state, ctx)?;
    let authority_set = executor.authority_set().hash();
    let chain_id = executor.chain_id().to_string();
    let max_txs = executor.params().max_block_transactions as usize;
    let max_bytes = executor.params().max_block_bytes;
    let mut included = Vec::new();
    let mut excluded = Vec::new();
    let candidates: Vec<&SignedTransaction> = candidates.into_iter().collect();
    let failed = pipeline::run(state, &candidates, |step| {
        let (tx, prepared) = match step {
            Step::Warm(values) => {
                executor.warm(values);
                return ControlFlow::Continue(());
            }
            Step::Apply(tx, prepared) => (tx, prepared),
        };
        if included.len() >= max_txs {
            return ControlFlow::Break(None);
        }
        if executor.block_bytes() + prepared.size > max_bytes {
            return ControlFlow::Continue(());
        }
        match executor.apply_prepared(tx, prepared, check) {
            Ok(_) => included.push(tx.clone()),
            Err(error) if error.is_node_fault() => return ControlFlow::Break(Some(error)),
            Err(error) => excluded.push(Excluded {
                tx_hash: prepared.hash,
                error,
            }),
        }
        ControlFlow::Continue(())
    });
    if let Some(Some(error)) = failed {
        return Err(error);
    }
    let outcome = executor.finish()?;
    let header = Header {
        chain_id,
        height: parent.height + 1,
        parent: parent.hash(),
        time_ms,
        proposer,
        tx_root: tx_root_of_hashes(outcome.receipts.iter().map(|r| &r.tx_hash)),
        tx_count: u32::try_from(included.len()).unwrap_or(u32::MAX),
        state_root: outcome.state_root,
        authority_set,
        next_authority_set: outcome.next_authority_set_hash,
        last_commit: parent_commit
            .as_ref()
            .map_or(Hash::ZERO, CommitCertificate::hash),
    };
    Ok(BuiltBlock {
        block: Block {
            header,
            last_commit: parent_commit,
            transactions: included,
        },
        outcome,
        excluded,
    })
}
