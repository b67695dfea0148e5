//! What a node's containers reserve, kept per container so that one
//! container added, changed or removed moves the node's totals without a
//! recount of all of them.

use rustc_hash::FxHashMap;

/// The CPUs and memory the containers of one node reserve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reservations {
    /// Only the containers that reserve something (most reserve nothing).
    by_container: FxHashMap<Box<str>, (i64, i64)>,
    /// Exact sums (each term is at least 0), clamped when read: the same
    /// as a saturating sum of the terms in any order.
    cpus: i128,
    memory: i128,
}

impl Reservations {
    /// Container `id` now reserves `reserved` (CPUs, memory; 0 or more).
    pub(crate) fn set(&mut self, id: &str, reserved: (i64, i64)) {
        self.remove(id);
        if reserved != (0, 0) {
            self.cpus += i128::from(reserved.0);
            self.memory += i128::from(reserved.1);
            self.by_container.insert(id.into(), reserved);
        }
    }

    /// Container `id` is gone.
    pub(crate) fn remove(&mut self, id: &str) {
        if let Some((cpus, memory)) = self.by_container.remove(id) {
            self.cpus -= i128::from(cpus);
            self.memory -= i128::from(memory);
        }
    }

    /// (CPUs, memory) reserved on the node.
    pub(crate) fn totals(&self) -> (i64, i64) {
        let clamp = |x: i128| i64::try_from(x).unwrap_or(i64::MAX);
        (clamp(self.cpus), clamp(self.memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_each_container() {
        let mut r = Reservations::default();
        r.set("a", (1, 100));
        r.set("b", (0, 0));
        r.set("c", (2, 50));
        assert_eq!(r.totals(), (3, 150));
        r.set("a", (0, 10));
        assert_eq!(r.totals(), (2, 60));
        r.remove("c");
        r.remove("nope");
        assert_eq!(r.totals(), (0, 10));
        r.set("a", (0, 0));
        assert_eq!(r, Reservations::default());
    }

    /// Clamped like the saturating sum the engine cache computes, whatever
    /// the order containers come and go in.
    #[test]
    fn huge_reservations_saturate_like_a_recount() {
        let mut r = Reservations::default();
        r.set("a", (i64::MAX, i64::MAX));
        r.set("b", (5, 5));
        assert_eq!(r.totals(), (i64::MAX, i64::MAX));
        r.remove("a");
        assert_eq!(r.totals(), (5, 5));
    }
}
