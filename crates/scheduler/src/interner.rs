//! One copy of equal per-node data shared by every node that has it: the
//! nodes of a cluster mostly carry the same labels (a region, a kernel, a
//! storage driver) and the same images. Shared, the copy stays in the CPU
//! caches across a selection of thousands of nodes, and a selection tells
//! two nodes' data equal by its address (the answers of its expressions
//! are remembered per copy met), instead of reading each node's own.
//!
//! Process-wide, by a hash of the content; equal content is confirmed by
//! comparing it (a hash never decides). A copy lives while a node holds
//! it; the entries of copies no longer held are swept as the table grows.

use std::sync::{Arc, Mutex, Weak};

use rustc_hash::FxHashMap;

/// Shared copies of `T`, by a hash of their content.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    copies: Mutex<Copies<T>>,
}

#[derive(Debug)]
struct Copies<T> {
    by_hash: FxHashMap<u64, Vec<Weak<T>>>,
    /// Sweep when the table has this many hashes.
    sweep_at: usize,
}

/// How many hashes the table holds before its first sweep.
const FIRST_SWEEP: usize = 64;

impl<T: PartialEq> Interner<T> {
    /// An empty interner.
    pub(crate) fn new() -> Self {
        Interner {
            copies: Mutex::new(Copies {
                by_hash: FxHashMap::default(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }

    /// The shared copy of `value`, whose content hashes to `hash`: one
    /// already held somewhere if equal, else `value` itself, now shared.
    pub(crate) fn intern(&self, hash: u64, value: T) -> Arc<T> {
        // a panic elsewhere while the lock was held leaves the table usable
        let mut copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
        let list = copies.by_hash.entry(hash).or_default();
        list.retain(|copy| copy.strong_count() > 0);
        if let Some(shared) = list
            .iter()
            .filter_map(Weak::upgrade)
            .find(|shared| **shared == value)
        {
            return shared;
        }
        let shared = Arc::new(value);
        list.push(Arc::downgrade(&shared));
        if copies.by_hash.len() >= copies.sweep_at {
            copies.by_hash.retain(|_, list| {
                list.retain(|copy| copy.strong_count() > 0);
                !list.is_empty()
            });
            copies.sweep_at = (2 * copies.by_hash.len()).max(FIRST_SWEEP);
        }
        shared
    }

    /// How many hashes the table holds (live or not swept yet).
    #[cfg(test)]
    fn hashes(&self) -> usize {
        self.copies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_hash
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_a_hash_never_decides() {
        let interner: Interner<String> = Interner::new();
        let a = interner.intern(1, "us-east".to_string());
        let b = interner.intern(1, "us-east".to_string());
        assert!(Arc::ptr_eq(&a, &b));
        // the same hash, another value: a copy of its own
        let c = interner.intern(1, "eu-west".to_string());
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, "eu-west");
        // once no node holds it, an equal value gets a new copy
        drop((a, b));
        let d = interner.intern(1, "us-east".to_string());
        assert_eq!(*d, "us-east");
        assert!(Arc::ptr_eq(&d, &interner.intern(1, "us-east".to_string())));
    }

    #[test]
    fn copies_no_longer_held_are_swept() {
        let interner: Interner<u64> = Interner::new();
        for i in 0..10_000u64 {
            drop(interner.intern(i, i));
        }
        assert!(
            interner.hashes() <= 2 * FIRST_SWEEP,
            "{}",
            interner.hashes()
        );
        let held: Vec<Arc<u64>> = (0..1_000u64).map(|i| interner.intern(i, i)).collect();
        assert!(interner.hashes() >= 1_000);
        drop(held);
        for i in 0..10_000u64 {
            drop(interner.intern(50_000 + i, i));
        }
        assert!(
            interner.hashes() <= 4 * FIRST_SWEEP + 2_000,
            "{}",
            interner.hashes()
        );
    }
}
