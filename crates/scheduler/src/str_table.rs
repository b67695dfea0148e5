//! A set of strings (or pairs of strings: a label's key and value) for the
//! exact lookups of the compiled filters: a Bloom filter that settles most
//! misses without a memory access beyond the node, then an open-addressing
//! table of hashes whose hit is confirmed on the string itself.
//!
//! Small on purpose (16 bytes a slot, 3 slots for 2 strings, strings of up
//! to 8 bytes in their slot, longer ones back to back): what a placement
//! touches of a node should stay in the CPU caches across a large cluster.

use crate::hashing::Bloom;
use crate::node_labels::same_bytes;

/// One slot: the high half of the hash, the string's length (`EMPTY` for a
/// free slot) and the string itself when it has at most 8 bytes (no second
/// memory access to confirm a hit), else where it starts in the text.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: u32,
    len: u32,
    data: [u8; INLINE],
}

const INLINE: usize = 8;

const EMPTY: u32 = u32::MAX;

/// Between the key and the value of a pair: never in UTF-8, so `a` + `bc`
/// and `ab` + `c` differ.
const SEPARATOR: u8 = 0xff;

/// A set of distinct strings or string pairs, by hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    bloom: Bloom,
    slots: Box<[Slot]>,
    /// The strings longer than [`INLINE`] back to back; a pair as key,
    /// [`SEPARATOR`], value.
    text: Box<[u8]>,
    /// The used slots in the order of their strings, for prefix searches.
    sorted: Box<[u32]>,
}

/// The bytes of `first` then, for a pair, the separator and `second`.
fn encode(out: &mut Vec<u8>, first: &str, second: Option<&str>) {
    out.extend_from_slice(first.as_bytes());
    if let Some(second) = second {
        out.push(SEPARATOR);
        out.extend_from_slice(second.as_bytes());
    }
}

/// Whether `stored` is `first` then, for a pair, the separator and `second`.
#[inline]
fn same(stored: &[u8], first: &str, second: Option<&str>) -> bool {
    let first = first.as_bytes();
    let Some(head) = stored.get(..first.len()) else {
        return false;
    };
    let rest = &stored[first.len()..];
    same_bytes(head, first)
        && match second {
            Some(second) => {
                rest.first() == Some(&SEPARATOR) && same_bytes(&rest[1..], second.as_bytes())
            }
            None => rest.is_empty(),
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
            len: EMPTY,
            data: [0; INLINE],
        };
        let mut slots = vec![free; items.len() + items.len() / 2 + 1];
        let mut text = Vec::new();
        let mut bytes = Vec::new();
        for &(hash, first, second) in items {
            table.bloom.insert(hash);
            bytes.clear();
            encode(&mut bytes, first, second);
            let len = u32::try_from(bytes.len()).ok().filter(|&n| n != EMPTY)?;
            let mut data = [0; INLINE];
            if bytes.len() <= INLINE {
                data[..bytes.len()].copy_from_slice(&bytes);
            } else {
                let start = u32::try_from(text.len()).ok()?;
                data[..4].copy_from_slice(&start.to_le_bytes());
                text.extend_from_slice(&bytes);
                u32::try_from(text.len()).ok()?;
            }
            let mut slot = home(hash, slots.len());
            while slots[slot].len != EMPTY {
                slot = (slot + 1) % slots.len();
            }
            slots[slot] = Slot {
                tag: (hash >> 32) as u32,
                len,
                data,
            };
        }
        table.slots = slots.into_boxed_slice();
        table.text = text.into_boxed_slice();
        let mut sorted: Vec<u32> = (0..table.slots.len() as u32)
            .filter(|&i| table.slots[i as usize].len != EMPTY)
            .collect();
        sorted.sort_by(|&a, &b| table.string(a).cmp(table.string(b)));
        table.sorted = sorted.into_boxed_slice();
        Some(table)
    }

    /// The string of slot `at` (empty for a free one).
    #[inline]
    fn string(&self, at: u32) -> &[u8] {
        let slot = &self.slots[at as usize];
        let len = slot.len as usize;
        if slot.len == EMPTY {
            &[]
        } else if len <= INLINE {
            &slot.data[..len]
        } else {
            let start =
                u32::from_le_bytes([slot.data[0], slot.data[1], slot.data[2], slot.data[3]]);
            let start = start as usize;
            self.text.get(start..start + len).unwrap_or(&[])
        }
    }

    /// Whether the table holds `first` (or the pair `first`, `second`),
    /// whose hash is `hash`.
    #[inline]
    pub(crate) fn contains(&self, hash: u64, first: &str, second: Option<&str>) -> bool {
        if !self.bloom.may_contain(hash) || self.slots.is_empty() {
            return false;
        }
        let tag = (hash >> 32) as u32;
        let mut at = home(hash, self.slots.len());
        loop {
            let slot = &self.slots[at];
            if slot.len == EMPTY {
                return false;
            }
            if slot.tag == tag && same(self.string(at as u32), first, second) {
                return true;
            }
            at = (at + 1) % self.slots.len();
        }
    }

    /// The strings held that start with `prefix` (for a table of single
    /// strings), found by binary search.
    pub(crate) fn with_prefix<'t>(
        &'t self,
        prefix: &'t [u8],
    ) -> impl Iterator<Item = &'t [u8]> + 't {
        let start = self.sorted.partition_point(|&at| self.string(at) < prefix);
        self.sorted[start..]
            .iter()
            .map(|&at| self.string(at))
            .take_while(move |s| s.starts_with(prefix))
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
        let held: Vec<&[u8]> = table.with_prefix(b"").collect();
        assert_eq!(held, [&b""[..], b"cache-1", b"db", b"web"]);
        let long = ["api-1-22-long", "api-1-3", "api-10", "apx", "ap", "b"];
        let items: Vec<_> = long.iter().map(|n| (hash_str(n), *n, None)).collect();
        let table = StrTable::new(&items).unwrap();
        let api: Vec<&[u8]> = table.with_prefix(b"api-1").collect();
        assert_eq!(api, [&b"api-1-22-long"[..], b"api-1-3", b"api-10"]);
        assert_eq!(table.with_prefix(b"c").count(), 0);
        assert!(table.contains(hash_str("api-1-22-long"), "api-1-22-long", None));
        assert!(!table.contains(hash_str("api-1-22-lonG"), "api-1-22-lonG", None));
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
