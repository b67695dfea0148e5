//! Where a node's containers are, by the keys a dependency names them by:
//! per container, the 32-bit hash of each key it answers to exactly (ID,
//! Swarm ID, every name as listed), with its
//! position in the node's list. A lookup hashes the query and checks the
//! few containers found (no string is kept twice); a hash never decides.
//! (Short IDs and ID prefixes are searched in an order of the IDs built on
//! demand, see `NodeIndex::count_prefixed`: keys shared by many containers,
//! such as the first characters of synthetic IDs, would make long runs of
//! equal keys here.)
//!
//! An open-addressing multimap of 8-byte entries, changed one container at
//! a time in amortized constant time (linear probing: a removal shifts the
//! run after it back).

use crate::hashing::hash_bytes;
use crate::node::ContainerView;

/// One entry: a key's hash and a container's position (`FREE` for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u32,
    position: u32,
}

const FREE: Entry = Entry {
    key: 0,
    position: u32::MAX,
};

/// The keys of a node's containers, to their positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContainerKeys {
    entries: Box<[Entry]>,
    used: usize,
}

/// The hash an exact key is filed under.
#[inline]
pub(crate) fn exact_key(key: &str) -> u32 {
    hash_bytes(key.as_bytes()) as u32
}

/// Every key `container` is filed under (a key twice when two of its
/// strings hash alike: as often when filed as when taken out).
pub(crate) fn keys_of(container: &ContainerView) -> impl Iterator<Item = u32> + '_ {
    let swarm_id = Some(container.swarm_id()).filter(|s| !s.is_empty());
    let ids = [Some(&*container.id), swarm_id];
    ids.into_iter()
        .flatten()
        .map(exact_key)
        .chain(container.names().map(exact_key))
}

/// The first entry `key` may be in, of `entries`.
#[inline]
fn home(key: u32, entries: usize) -> usize {
    ((u64::from(key) * entries as u64) >> 32) as usize
}

impl ContainerKeys {
    /// Room for `keys` keys without growing.
    pub(crate) fn with_capacity(keys: usize) -> Self {
        ContainerKeys {
            entries: vec![FREE; keys + keys / 2 + 1].into(),
            used: 0,
        }
    }

    /// Files `position` under `key`.
    pub(crate) fn insert(&mut self, key: u32, position: u32) {
        let needed = self.used + 1;
        if self.entries.len() < needed + needed / 2 + 1 {
            self.grow();
        }
        let n = self.entries.len();
        let mut at = home(key, n);
        while self.entries[at] != FREE {
            at = (at + 1) % n;
        }
        self.entries[at] = Entry { key, position };
        self.used += 1;
    }

    fn grow(&mut self) {
        let old = std::mem::replace(self, ContainerKeys::with_capacity(2 * (self.used + 1)));
        for entry in old.entries.iter().filter(|e| **e != FREE) {
            self.insert(entry.key, entry.position);
        }
    }

    /// The slot of the entry (`key`, `position`).
    fn find(&self, key: u32, position: u32) -> Option<usize> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        let wanted = Entry { key, position };
        let mut at = home(key, n);
        loop {
            match self.entries[at] {
                FREE => return None,
                entry if entry == wanted => return Some(at),
                _ => at = (at + 1) % n,
            }
        }
    }

    /// Takes `position` out from under `key` (once).
    pub(crate) fn remove(&mut self, key: u32, position: u32) {
        let Some(at) = self.find(key, position) else {
            return;
        };
        let n = self.entries.len();
        let mut hole = at;
        let mut next = (at + 1) % n;
        while self.entries[next] != FREE {
            let home = home(self.entries[next].key, n);
            // `next` may move to the hole unless its home lies in (hole, next]
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.entries[hole] = self.entries[next];
                hole = next;
            }
            next = (next + 1) % n;
        }
        self.entries[hole] = FREE;
        self.used -= 1;
    }

    /// Files what was at position `from` under `key` at `to` instead.
    pub(crate) fn repoint(&mut self, key: u32, from: u32, to: u32) {
        if let Some(at) = self.find(key, from) {
            self.entries[at].position = to;
        }
    }

    /// The positions filed under `key` (and perhaps others: check them).
    #[inline]
    pub(crate) fn positions(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        let n = self.entries.len();
        let mut at = if n == 0 { 0 } else { home(key, n) };
        std::iter::from_fn(move || loop {
            let entry = *self.entries.get(at)?;
            if entry == FREE {
                return None;
            }
            at = (at + 1) % n;
            if entry.key == key {
                return Some(entry.position);
            }
        })
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<Entry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_removes_and_repoints_positions() {
        let mut keys = ContainerKeys::default();
        // crowded: every key homes at the last entry, runs wrap
        for position in 0..50 {
            keys.insert(u32::MAX - (position % 3), position);
        }
        let under = |keys: &ContainerKeys, key| {
            let mut p: Vec<u32> = keys.positions(key).collect();
            p.sort_unstable();
            p
        };
        assert_eq!(under(&keys, u32::MAX).len(), 17);
        for position in (0..50).step_by(2) {
            keys.remove(u32::MAX - (position % 3), position);
        }
        keys.repoint(u32::MAX, 3, 100);
        let expected: Vec<u32> = (0..50)
            .filter(|p| p % 2 == 1 && p % 3 == 0 && *p != 3)
            .chain([100])
            .collect();
        assert_eq!(under(&keys, u32::MAX), expected);
        assert_eq!(keys.used, 25);
        assert!(under(&keys, 7).is_empty());
    }
}
