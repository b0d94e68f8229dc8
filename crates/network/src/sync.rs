//! Block sync: serving finalized blocks, and catching up from peers.
//!
//! A node that was offline, or is new, asks its peers for their last finalized
//! height, then fetches the missing blocks in batches, spreading the batches over the
//! peers that have them. Every block is checked by the [`BlockSink`] (link to its
//! parent, commit certificate against the authority set of its height, execution)
//! before the next is asked for. A peer that serves a block that fails is banned and
//! the range is fetched again from another.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mpms_consensus::messages::FinalizedBlock;
use mpms_crypto::Hash;
use mpms_ledger::Block;
use mpms_store::Store;

use crate::service::{NetworkError, NetworkHandle};
use crate::wire::{SyncRequest, SyncResponse};
use crate::PeerId;

/// Where the swarm task reads the blocks it serves.
pub trait BlockSource: Send + Sync + 'static {
    /// The last finalized height (0 before the first block).
    fn last_height(&self) -> u64;
    /// The finalized block at `height` with its certificate.
    fn finalized(&self, height: u64) -> Option<FinalizedBlock>;
    /// A whole block of the height being decided, by hash (none by default: a node
    /// that only serves its store).
    fn proposed(&self, hash: &Hash) -> Option<Arc<Block>> {
        let _ = hash;
        None
    }
}

/// Serves the blocks of a [`Store`].
pub struct StoreSource<S: ?Sized>(pub Arc<S>);

impl<S: Store + Send + Sync + ?Sized + 'static> BlockSource for StoreSource<S> {
    fn last_height(&self) -> u64 {
        self.0.last_height().ok().flatten().unwrap_or(0)
    }

    /// A block this node stored without content the chain did not erase (caught up
    /// from a withholding peer, not repaired yet) is not served: the peer asking
    /// would take this node for the withholder. A batch stops before it.
    fn finalized(&self, height: u64) -> Option<FinalizedBlock> {
        if self.0.is_incomplete(height).unwrap_or(true) {
            return None;
        }
        let block = self.0.block(height).ok()??;
        let certificate = self.0.certificate(height).ok()??;
        Some(FinalizedBlock { block, certificate })
    }
}

/// Where synced blocks go: in a node, its core (which may run elsewhere: the calls
/// are asynchronous).
pub trait BlockSink: Send {
    /// The height of the last block applied; `None` if the sink has stopped.
    fn height(&mut self) -> impl Future<Output = Option<u64>> + Send;
    /// Checks each block in order (see
    /// [`mpms_consensus::messages::check_finalized`]), executes and commits it,
    /// stopping at the first that fails; `None` if the sink has stopped.
    fn apply(
        &mut self,
        blocks: Vec<FinalizedBlock>,
    ) -> impl Future<Output = Option<Applied>> + Send;
    /// Of `heights` (blocks applied that lacked some transaction's ciphertext or
    /// sealed keys), those whose missing values the sink's chain has not erased:
    /// withheld by the peer that served them. Asked once a sync run is over, when
    /// the sink knows of the erasures its peers knew of. None by default.
    fn unexplained(&mut self, heights: Vec<u64>) -> impl Future<Output = Vec<u64>> + Send {
        let _ = heights;
        std::future::ready(Vec::new())
    }
}

/// What [`BlockSink::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Blocks applied, from the first.
    pub count: usize,
    /// Why the next block was refused, if one was: the peer that served it lied.
    pub refused: Option<String>,
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
    /// The sink stopped (the node is shutting down).
    #[error("the node stopped")]
    SinkStopped,
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
    /// Peers penalized for serving blocks without content the chain did not erase,
    /// each with the first such height (one offence per peer and run).
    pub withheld: Vec<(PeerId, u64)>,
}

/// How a sync run asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Blocks per request.
    pub batch: u64,
    /// How long one peer may take to answer before sync goes on without it.
    pub peer_timeout: Duration,
}

/// Catches `sink` up to the best height its connected peers announce. Every peer is
/// asked for its height at once, so a silent peer delays sync by at most one
/// `peer_timeout`; blocks are then fetched in batches, spread over the peers that
/// have them, and a peer that does not answer in time is dropped from this run.
pub async fn sync_to<S: BlockSink>(
    network: &NetworkHandle,
    sink: &mut S,
    options: SyncOptions,
) -> Result<SyncReport, SyncError> {
    let peers = network.peers().await?;
    let asks = peers.into_iter().map(|peer| async move {
        let answer = tokio::time::timeout(
            options.peer_timeout,
            network.sync_request(peer, SyncRequest::Status),
        )
        .await;
        (peer, answer)
    });
    let mut heights = BTreeMap::new();
    for (peer, answer) in futures::future::join_all(asks).await {
        match answer {
            Ok(Ok(SyncResponse::Status { height })) => {
                heights.insert(peer, height);
            }
            Ok(Ok(_)) => tracing::debug!(%peer, "status answered with blocks"),
            Ok(Err(NetworkError::Stopped)) => return Err(NetworkError::Stopped.into()),
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "status request failed"),
            Err(_) => tracing::debug!(%peer, "status request timed out"),
        }
    }
    let target = heights.values().copied().max().unwrap_or(0);
    let announced = heights.clone();
    // Blocks applied without some erasable value, and who served them.
    let mut incomplete: Vec<(u64, PeerId)> = Vec::new();
    let mut height = sink.height().await.ok_or(SyncError::SinkStopped)?;
    let mut report = SyncReport {
        height,
        ..SyncReport::default()
    };
    let mut turn = 0usize;
    while height < target {
        let next = height + 1;
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
            count: options.batch.max(1),
        };
        let answer =
            tokio::time::timeout(options.peer_timeout, network.sync_request(peer, request)).await;
        let mut blocks = match answer {
            Ok(Ok(SyncResponse::Blocks(blocks))) if !blocks.is_empty() => blocks,
            Ok(Ok(_)) => {
                // It announced the height but serves nothing: stop asking it.
                heights.remove(&peer);
                continue;
            }
            Ok(Err(NetworkError::Stopped)) => return Err(NetworkError::Stopped.into()),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "sync request failed");
                heights.remove(&peer);
                continue;
            }
            Err(_) => {
                tracing::debug!(%peer, "sync request timed out");
                heights.remove(&peer);
                continue;
            }
        };
        // Only the consecutive heights asked for go to the sink.
        let served = blocks.len();
        let consecutive = blocks
            .iter()
            .zip(next..)
            .take_while(|(b, h)| b.block.header.height == *h)
            .count();
        blocks.truncate(consecutive);
        let lacking: Vec<u64> = blocks
            .iter()
            .filter(|b| b.block.first_erased().is_some())
            .map(|b| b.block.header.height)
            .collect();
        let mut applied = sink.apply(blocks).await.ok_or(SyncError::SinkStopped)?;
        incomplete.extend(
            lacking
                .into_iter()
                .filter(|h| *h < next + applied.count as u64)
                .map(|h| (h, peer)),
        );
        if applied.refused.is_none() && consecutive < served {
            applied.refused = Some(format!(
                "served height out of order after {}",
                next + consecutive as u64 - 1
            ));
        }
        height += applied.count as u64;
        report.applied += applied.count as u64;
        report.height = height;
        if let Some(reason) = applied.refused {
            network.ban(peer, reason.clone()).await?;
            heights.remove(&peer);
            report.banned.push((peer, reason));
        }
    }
    // A peer may serve a block without the content of a credential the chain erased
    // (it keeps no more). Content missing for a credential the chain did not erase,
    // by a peer that announced no more than this node reached, was withheld.
    if !incomplete.is_empty() {
        let unexplained = sink
            .unexplained(incomplete.iter().map(|(h, _)| *h).collect())
            .await;
        for (height, peer) in incomplete {
            let within = announced.get(&peer).is_some_and(|h| *h <= report.height);
            // One offence per peer and run, however many blocks it withheld.
            let counted = report.withheld.iter().any(|(p, _)| *p == peer);
            if within && !counted && unexplained.contains(&height) {
                network
                    .penalize(
                        peer,
                        format!("served block {height} without content the chain did not erase"),
                    )
                    .await?;
                report.withheld.push((peer, height));
            }
        }
    }
    Ok(report)
}

/// Fetches the whole block `hash` of `height` from connected peers, one at a time
/// (starting at a different peer each call, by `start`), each within `timeout`. An
/// answer that is not that block, or that lacks a transaction's ciphertext or sealed
/// keys, is a lie (a block is whole until a later block erases a credential, and
/// then its hash still names it): that peer's score drops. `None` when no peer had
/// it.
pub async fn fetch_block(
    network: &NetworkHandle,
    height: u64,
    hash: Hash,
    start: usize,
    timeout: Duration,
) -> Result<Option<Block>, NetworkError> {
    let peers = network.peers().await?;
    let count = peers.len();
    for k in 0..count {
        let peer = peers[(start + k) % count];
        let request = SyncRequest::Block { height, hash };
        let answer = match tokio::time::timeout(timeout, network.sync_request(peer, request)).await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(NetworkError::Stopped)) => return Err(NetworkError::Stopped),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "block fetch failed");
                continue;
            }
            Err(_) => continue,
        };
        match answer {
            SyncResponse::Block(Some(block)) => {
                if block.hash() != hash || !block.matches_header() {
                    network
                        .penalize(peer, "answered a block fetch with another block")
                        .await?;
                } else if block.first_erased().is_some() {
                    network
                        .penalize(
                            peer,
                            "served a block without a transaction's ciphertext or sealed keys",
                        )
                        .await?;
                } else {
                    return Ok(Some(*block));
                }
            }
            SyncResponse::Block(None) => {}
            _ => {
                network
                    .penalize(peer, "answered a block fetch with something else")
                    .await?;
            }
        }
    }
    Ok(None)
}
