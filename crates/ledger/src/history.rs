//! Values that change at known heights and must be readable as of any past height
//! (keys, accreditation, authority status), so that evidence about an old height is
//! judged by the rules in force then.

use serde::{Deserialize, Serialize};

/// A value with the heights from which each version applies, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct History<T> {
    entries: Vec<(u64, T)>,
}

impl<T> History<T> {
    /// A history whose first version applies from `height`.
    pub fn new(height: u64, value: T) -> History<T> {
        History {
            entries: vec![(height, value)],
        }
    }

    /// The version in force at `height`, if any.
    pub fn at(&self, height: u64) -> Option<&T> {
        self.entries
            .iter()
            .rev()
            .find(|(from, _)| *from <= height)
            .map(|(_, value)| value)
    }

    /// The newest version (which may apply only from a future height).
    pub fn latest(&self) -> Option<&T> {
        self.entries.last().map(|(_, value)| value)
    }

    /// Sets the version that applies from `height`. A later change for the same
    /// height replaces the earlier one.
    pub fn set(&mut self, height: u64, value: T) {
        match self.entries.last_mut() {
            Some((from, last)) if *from == height => *last = value,
            _ => self.entries.push((height, value)),
        }
    }

    /// All versions with their starting heights.
    pub fn entries(&self) -> &[(u64, T)] {
        &self.entries
    }

    /// Forgets the versions no height from `height` on can need: every version
    /// before the one in force at `height`.
    pub fn forget_before(&mut self, height: u64) {
        let in_force = self
            .entries
            .iter()
            .rposition(|(from, _)| *from <= height)
            .unwrap_or(0);
        self.entries.drain(..in_force);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_keeps_what_later_heights_need() {
        let mut h = History::new(5, 'a');
        h.set(10, 'b');
        h.set(20, 'c');
        h.forget_before(15);
        assert_eq!(h.entries(), &[(10, 'b'), (20, 'c')]);
        assert_eq!(h.at(15), Some(&'b'));
        h.forget_before(3);
        assert_eq!(h.entries().len(), 2);
        h.forget_before(100);
        assert_eq!(h.entries(), &[(20, 'c')]);
    }

    #[test]
    fn versions_by_height() {
        let mut h = History::new(5, 'a');
        h.set(10, 'b');
        h.set(10, 'c');
        assert_eq!(h.at(4), None);
        assert_eq!(h.at(5), Some(&'a'));
        assert_eq!(h.at(9), Some(&'a'));
        assert_eq!(h.at(10), Some(&'c'));
        assert_eq!(h.latest(), Some(&'c'));
        assert_eq!(h.entries().len(), 2);
    }
}
