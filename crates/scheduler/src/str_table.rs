//! A set of strings (or pairs of strings: a label's key and value) for the
//! exact lookups of the compiled filters: a Bloom filter that settles most
//! misses without a memory access beyond the node, then an open-addressing
//! table of hashes whose hit is confirmed on the string itself.
//!
//! Small on purpose (12 bytes a slot, at most 3 slots for 2 strings, the
//! strings back to back): what a placement touches of a node should stay in
//! the CPU caches across a large cluster.

use crate::hashing::Bloom;

/// One slot: the high half of the hash, where the string starts in the
/// text, its length (`EMPTY` for a free slot).
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: u32,
    start: u32,
    len: u32,
}

const EMPTY: u32 = u32::MAX;

/// Between the key and the value of a pair in the text: never in UTF-8, so
/// `a` + `bc` and `ab` + `c` differ.
const SEPARATOR: u8 = 0xff;

/// A set of distinct strings or string pairs, by hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    bloom: Bloom,
    slots: Box<[Slot]>,
    /// The strings back to back; a pair as key, [`SEPARATOR`], value.
    text: Box<[u8]>,
}

/// The bytes of `first` then, for a pair, the separator and `second`.
fn write(text: &mut Vec<u8>, first: &str, second: Option<&str>) {
    text.extend_from_slice(first.as_bytes());
    if let Some(second) = second {
        text.push(SEPARATOR);
        text.extend_from_slice(second.as_bytes());
    }
}

/// Whether `stored` is `first` then, for a pair, the separator and `second`.
fn same(stored: &[u8], first: &str, second: Option<&str>) -> bool {
    let (first, second_len) = (first.as_bytes(), second.map_or(0, |s| s.len() + 1));
    stored.len() == first.len() + second_len
        && stored[..first.len()] == *first
        && match second {
            Some(second) => {
                stored[first.len()] == SEPARATOR && stored[first.len() + 1..] == *second.as_bytes()
            }
            None => true,
        }
}

impl StrTable {
    /// The table of `items`: each a hash and its string, or its pair of
    /// strings, distinct. `None` when the strings do not fit 32-bit offsets.
    pub(crate) fn new(items: &[(u64, &str, Option<&str>)]) -> Option<Self> {
        let mut table = StrTable::default();
        if items.is_empty() {
            return Some(table);
        }
        let free = Slot {
            tag: 0,
            start: 0,
            len: EMPTY,
        };
        let mut slots = vec![free; items.len() + items.len() / 2 + 1];
        let mut text = Vec::new();
        for &(hash, first, second) in items {
            table.bloom.insert(hash);
            let start = u32::try_from(text.len()).ok()?;
            write(&mut text, first, second);
            let len = u32::try_from(text.len() - start as usize)
                .ok()
                .filter(|&n| n != EMPTY)?;
            u32::try_from(text.len()).ok()?;
            let mut slot = home(hash, slots.len());
            while slots[slot].len != EMPTY {
                slot = (slot + 1) % slots.len();
            }
            slots[slot] = Slot {
                tag: (hash >> 32) as u32,
                start,
                len,
            };
        }
        table.slots = slots.into_boxed_slice();
        table.text = text.into_boxed_slice();
        Some(table)
    }

    /// Whether the table holds `first` (or the pair `first`, `second`),
    /// whose hash is `hash`.
    #[inline]
    pub(crate) fn contains(&self, hash: u64, first: &str, second: Option<&str>) -> bool {
        if !self.bloom.may_contain(hash) || self.slots.is_empty() {
            return false;
        }
        let tag = (hash >> 32) as u32;
        let mut slot = home(hash, self.slots.len());
        loop {
            let Slot { tag: t, start, len } = self.slots[slot];
            if len == EMPTY {
                return false;
            }
            if t == tag {
                let start = start as usize;
                if self
                    .text
                    .get(start..start + len as usize)
                    .is_some_and(|stored| same(stored, first, second))
                {
                    return true;
                }
            }
            slot = (slot + 1) % self.slots.len();
        }
    }

    /// Every string held (for a table of single strings).
    pub(crate) fn strings(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.slots
            .iter()
            .filter(|slot| slot.len != EMPTY)
            .filter_map(|slot| {
                let start = slot.start as usize;
                self.text.get(start..start + slot.len as usize)
            })
    }
}

/// The first slot `hash` may be in, of `slots`: the low half of the hash
/// scaled to the table (no power-of-two size needed).
#[inline]
fn home(hash: u64, slots: usize) -> usize {
    (((hash & 0xffff_ffff) * slots as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::{hash_pair, hash_str};

    #[test]
    fn holds_its_strings_and_pairs_only() {
        let names = ["web", "db", "", "cache-1"];
        let items: Vec<_> = names.iter().map(|n| (hash_str(n), *n, None)).collect();
        let table = StrTable::new(&items).unwrap();
        for n in names {
            assert!(table.contains(hash_str(n), n, None), "{n}");
        }
        assert!(!table.contains(hash_str("api"), "api", None));
        let mut held: Vec<&[u8]> = table.strings().collect();
        held.sort();
        assert_eq!(held, [&b""[..], b"cache-1", b"db", b"web"]);
        let pairs = StrTable::new(&[(hash_pair("ab", "c"), "ab", Some("c"))]).unwrap();
        assert!(pairs.contains(hash_pair("ab", "c"), "ab", Some("c")));
        assert!(!pairs.contains(hash_pair("a", "bc"), "a", Some("bc")));
        assert!(!StrTable::default().contains(hash_str("x"), "x", None));
    }

    #[test]
    fn a_hash_collision_is_told_apart_by_the_strings() {
        // two different strings filed under one hash, and a third asked for
        let table = StrTable::new(&[(7, "one", None), (7, "two", None)]).unwrap();
        assert!(table.contains(7, "one", None));
        assert!(table.contains(7, "two", None));
        assert!(!table.contains(7, "three", None));
        // the split of a pair counts, not only its bytes
        let table = StrTable::new(&[(9, "ab", Some("c"))]).unwrap();
        assert!(!table.contains(9, "a", Some("bc")));
        assert!(table.contains(9, "ab", Some("c")));
    }

    #[test]
    fn a_full_run_of_slots_wraps_around() {
        // every string in the last slot first: the probe wraps to the start
        let items: Vec<(u64, String)> = (0..6).map(|i| (0xffff_ffff, format!("s{i}"))).collect();
        let refs: Vec<_> = items.iter().map(|(h, s)| (*h, s.as_str(), None)).collect();
        let table = StrTable::new(&refs).unwrap();
        for (h, s) in &items {
            assert!(table.contains(*h, s, None));
        }
        assert!(!table.contains(0xffff_ffff, "s6", None));
    }
}
