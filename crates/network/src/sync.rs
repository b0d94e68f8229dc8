//! Block sync: serving finalized blocks, and catching up from peers.
//!
//! A node that was offline, or is new, asks its peers for their last finalized
//! height, then fetches the missing blocks in batches, spreading the batches over the
//! peers that have them. Every block is checked by the [`BlockSink`] (link to its
//! parent, commit certificate against the authority set of its height, execution)
//! before the next is asked for. A peer that serves a block that fails is banned and
//! the range is fetched again from another.

use std::collections::BTreeMap;
use std::sync::Arc;

use mpms_consensus::messages::FinalizedBlock;
use mpms_store::Store;

use crate::service::{NetworkError, NetworkHandle};
use crate::wire::{SyncRequest, SyncResponse};
use crate::PeerId;

/// Where the swarm task reads the finalized blocks it serves.
pub trait BlockSource: Send + Sync + 'static {
    /// The last finalized height (0 before the first block).
    fn last_height(&self) -> u64;
    /// The finalized block at `height` with its certificate.
    fn finalized(&self, height: u64) -> Option<FinalizedBlock>;
}

/// Serves the blocks of a [`Store`].
pub struct StoreSource<S: ?Sized>(pub Arc<S>);

impl<S: Store + Send + Sync + ?Sized + 'static> BlockSource for StoreSource<S> {
    fn last_height(&self) -> u64 {
        self.0.last_height().ok().flatten().unwrap_or(0)
    }

    fn finalized(&self, height: u64) -> Option<FinalizedBlock> {
        let block = self.0.block(height).ok()??;
        let certificate = self.0.certificate(height).ok()??;
        Some(FinalizedBlock { block, certificate })
    }
}

/// Where synced blocks go.
pub trait BlockSink {
    /// The height of the last block applied.
    fn height(&self) -> u64;
    /// Checks the next block (see [`mpms_consensus::messages::check_finalized`]), executes and commits it. An
    /// error means the block is wrong: the peer that served it is lying.
    fn apply(&mut self, finalized: FinalizedBlock) -> Result<(), String>;
}

/// Why sync stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No connected peer has the blocks still missing.
    #[error("no peer can serve height {height} (best known {target})")]
    NoPeers {
        /// The next height needed.
        height: u64,
        /// The best height peers announced.
        target: u64,
    },
    /// The network stopped.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The height reached.
    pub height: u64,
    /// Blocks applied.
    pub applied: u64,
    /// Peers banned for serving bad blocks, with the reason.
    pub banned: Vec<(PeerId, String)>,
}

/// Catches `sink` up to the best height its connected peers announce, `batch`
/// blocks per request.
pub async fn sync_to(
    network: &NetworkHandle,
    sink: &mut (dyn BlockSink + Send),
    batch: u64,
) -> Result<SyncReport, SyncError> {
    let mut heights = BTreeMap::new();
    for peer in network.peers().await? {
        match network.sync_request(peer, SyncRequest::Status).await {
            Ok(SyncResponse::Status { height }) => {
                heights.insert(peer, height);
            }
            Ok(_) => tracing::debug!(%peer, "status answered with blocks"),
            Err(e) => tracing::debug!(%peer, error = %e, "status request failed"),
        }
    }
    let target = heights.values().copied().max().unwrap_or(0);
    let mut report = SyncReport {
        height: sink.height(),
        ..SyncReport::default()
    };
    let mut turn = 0usize;
    while sink.height() < target {
        let next = sink.height() + 1;
        let candidates: Vec<PeerId> = heights
            .iter()
            .filter(|(_, h)| **h >= next)
            .map(|(p, _)| *p)
            .collect();
        if candidates.is_empty() {
            return Err(SyncError::NoPeers {
                height: next,
                target,
            });
        }
        let peer = candidates[turn % candidates.len()];
        turn += 1;
        let request = SyncRequest::Blocks {
            from: next,
            count: batch.max(1),
        };
        let blocks = match network.sync_request(peer, request).await {
            Ok(SyncResponse::Blocks(blocks)) if !blocks.is_empty() => blocks,
            Ok(_) => {
                // It announced the height but serves nothing: stop asking it.
                heights.remove(&peer);
                continue;
            }
            Err(NetworkError::Stopped) => return Err(NetworkError::Stopped.into()),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "sync request failed");
                heights.remove(&peer);
                continue;
            }
        };
        for finalized in blocks {
            let expected = sink.height() + 1;
            let height = finalized.block.header.height;
            let verdict = if height != expected {
                Err(format!("served height {height} where {expected} was asked"))
            } else {
                sink.apply(finalized)
            };
            if let Err(reason) = verdict {
                network.ban(peer, reason.clone()).await?;
                heights.remove(&peer);
                report.banned.push((peer, reason));
                break;
            }
            report.applied += 1;
        }
        report.height = sink.height();
    }
    Ok(report)
}
