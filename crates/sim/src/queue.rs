//! The discrete-event queue: events ordered by virtual time, ties broken by insertion
//! order, so a run is a pure function of its seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Events of type `E` in virtual time (microseconds).
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    seq: u64,
    now_us: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            now_us: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// The current virtual time.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Schedules `event` `delay_us` from now.
    pub fn push(&mut self, delay_us: u64, event: E) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.heap.push(Reverse((
            self.now_us.saturating_add(delay_us),
            self.seq,
            slot,
        )));
    }

    /// The next event, advancing time to it.
    pub fn pop(&mut self) -> Option<E> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        self.now_us = at;
        self.free.push(slot);
        self.slots[slot].take()
    }
}
