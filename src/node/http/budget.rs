//! Bytes a stranger can make the node hold, counted: in all, and by
//! source group (`SourceGroup`), so that one network holding many
//! addresses gets no more than one address. Request bodies being read
//! (`body`) and answers being sent (`answers`) each have one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::super::lock;
use super::server::SourceGroup;

/// Bytes held, in all and by source group, under two limits.
pub struct Budget {
    total: usize,
    per_group: usize,
    held: Mutex<(usize, HashMap<SourceGroup, usize>)>,
}

impl Budget {
    pub fn new(total: usize, per_group: usize) -> Arc<Budget> {
        Arc::new(Budget {
            total,
            per_group,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// Nothing taken yet, for `group`: `Held::grow` takes bytes.
    pub fn start(self: &Arc<Self>, group: SourceGroup) -> Held {
        Held {
            budget: Arc::clone(self),
            group,
            bytes: 0,
        }
    }

    /// True when `group` could take `bytes` now (nothing is taken).
    pub fn has_room(&self, group: SourceGroup, bytes: usize) -> bool {
        let held = lock(&self.held);
        let (total, by_group) = &*held;
        let here = by_group.get(&group).copied().unwrap_or(0);
        *total + bytes <= self.total && here + bytes <= self.per_group
    }

    /// Bytes held now, in all.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        lock(&self.held).0
    }
}

/// Bytes taken from a budget for one body, given back on drop.
pub struct Held {
    budget: Arc<Budget>,
    group: SourceGroup,
    bytes: usize,
}

impl Held {
    /// Takes `more` bytes; false (nothing taken) when either limit would
    /// be passed.
    pub fn grow(&mut self, more: usize) -> bool {
        let budget = &self.budget;
        let mut held = lock(&budget.held);
        let (total, by_group) = &mut *held;
        let here = by_group.get(&self.group).copied().unwrap_or(0);
        if *total + more > budget.total || here + more > budget.per_group {
            return false;
        }
        *total += more;
        by_group.insert(self.group, here + more);
        self.bytes += more;
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = lock(&self.budget.held);
        let (total, by_group) = &mut *held;
        *total -= self.bytes;
        if let Some(here) = by_group.get_mut(&self.group) {
            *here -= self.bytes;
            if *here == 0 {
                by_group.remove(&self.group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn group(text: &str) -> SourceGroup {
        SourceGroup::of(text.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn limits_hold_in_all_and_by_group_and_bytes_come_back_on_drop() {
        let budget = Budget::new(100, 60);
        let mut a = budget.start(group("203.0.113.1"));
        assert!(a.grow(50));
        // The same /24 is the same group.
        let mut same = budget.start(group("203.0.113.9"));
        assert!(!same.grow(11));
        assert!(same.grow(10));
        let mut other = budget.start(group("198.51.100.1"));
        assert!(!other.grow(41), "past the total");
        assert!(budget.has_room(group("198.51.100.1"), 40));
        assert!(!budget.has_room(group("198.51.100.1"), 41));
        assert!(
            !budget.has_room(group("203.0.113.5"), 1),
            "its group is full"
        );
        assert!(other.grow(40));
        assert_eq!(budget.in_use(), 100);
        drop(a);
        assert_eq!(budget.in_use(), 50);
        let mut again = budget.start(group("203.0.113.2"));
        assert!(again.grow(50));
        drop((same, other, again));
        assert_eq!(budget.in_use(), 0);
    }
}
