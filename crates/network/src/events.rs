//! The queue of [`NetworkEvent`]s from the swarm task to the node, bounded by bytes
//! as well as by count: a message is counted from the moment it is queued until the
//! node takes it, so the gossip waiting for a slow (or catching-up) core never holds
//! more than the configured bytes, however large each message may be.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::service::NetworkEvent;

/// What every queued event is counted at besides its bytes (the event itself, the
/// peer id, the channel slot).
const EVENT_OVERHEAD: usize = 256;

/// Most events queued, whatever their size.
pub(crate) const MAX_QUEUED_EVENTS: usize = 16 * 1024;

impl NetworkEvent {
    /// The bytes this event holds while queued.
    pub fn weight(&self) -> usize {
        EVENT_OVERHEAD
            + match self {
                NetworkEvent::Message { data, .. } => data.len(),
                _ => 0,
            }
    }
}

struct Queued {
    event: NetworkEvent,
    weight: usize,
}

/// The swarm task's end.
pub(crate) struct EventSender {
    tx: mpsc::Sender<Queued>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The node's end: events in the order they were queued.
pub struct EventReceiver {
    rx: mpsc::Receiver<Queued>,
    bytes: Arc<AtomicUsize>,
}

/// A queue holding at most [`MAX_QUEUED_EVENTS`] events and `max_bytes` of
/// messages.
pub(crate) fn channel(max_bytes: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
    let bytes = Arc::new(AtomicUsize::new(0));
    (
        EventSender {
            tx,
            bytes: bytes.clone(),
            max_bytes,
        },
        EventReceiver { rx, bytes },
    )
}

impl EventSender {
    /// Queues `event`, or gives it back when the queue is full (by count, or, for a
    /// message, by bytes: connection events always fit the byte bound).
    pub(crate) fn try_send(&self, event: NetworkEvent) -> Result<(), NetworkEvent> {
        let weight = event.weight();
        let before = self.bytes.fetch_add(weight, Ordering::AcqRel);
        let message = matches!(event, NetworkEvent::Message { .. });
        if message && before.saturating_add(weight) > self.max_bytes {
            self.bytes.fetch_sub(weight, Ordering::AcqRel);
            return Err(event);
        }
        self.tx.try_send(Queued { event, weight }).map_err(|e| {
            let queued = match e {
                mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
            };
            self.bytes.fetch_sub(queued.weight, Ordering::AcqRel);
            queued.event
        })
    }

    /// Bytes queued now.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

impl EventReceiver {
    /// The next event; `None` once the network stopped. Cancel-safe.
    pub async fn recv(&mut self) -> Option<NetworkEvent> {
        let queued = self.rx.recv().await?;
        self.bytes.fetch_sub(queued.weight, Ordering::AcqRel);
        Some(queued.event)
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<NetworkEvent> {
        let queued = self.rx.try_recv().ok()?;
        self.bytes.fetch_sub(queued.weight, Ordering::AcqRel);
        Some(queued.event)
    }

    /// Bytes queued now (messages and the fixed cost of each event).
    pub fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Topic;

    fn message(bytes: usize) -> NetworkEvent {
        NetworkEvent::Message {
            topic: Topic::Consensus,
            data: vec![0; bytes],
            from: libp2p::PeerId::random(),
        }
    }

    #[test]
    fn messages_are_bounded_by_bytes_and_released_when_taken() {
        let (tx, mut rx) = channel(10 << 20);
        let mut queued = 0;
        for _ in 0..40 {
            if tx.try_send(message(1 << 20)).is_ok() {
                queued += 1;
            }
        }
        assert_eq!(
            queued, 9,
            "nine 1 MiB messages (and their overhead) fit 10 MiB"
        );
        assert!(rx.queued_bytes() <= 10 << 20);
        // Connection events still get through a full byte bound.
        tx.try_send(NetworkEvent::PeerConnected(libp2p::PeerId::random()))
            .unwrap();
        // Taking a message frees its bytes for the next.
        assert!(matches!(rx.try_recv(), Some(NetworkEvent::Message { .. })));
        tx.try_send(message(1 << 20)).unwrap();
        let mut taken = 0;
        while rx.try_recv().is_some() {
            taken += 1;
        }
        assert_eq!(taken, 10);
        assert_eq!(rx.queued_bytes(), 0);
        assert_eq!(tx.queued_bytes(), 0);
    }
}
