//! A multiset of strings (or pairs of strings: a label's key and value) for
//! the exact lookups of the compiled filters: a Bloom filter that settles
//! most misses without a memory access beyond the node, then an
//! open-addressing table of hashes whose hit is confirmed on the string
//! itself.
//!
//! Small on purpose (16 bytes a slot, 3 slots for 2 strings, strings of up
//! to 8 bytes in their slot, longer ones back to back): what a placement
//! touches of a node should stay in the CPU caches across a large cluster.
//!
//! Changed one string at a time ([`StrTable::insert`], [`StrTable::remove`],
//! amortized constant time): each string counts how often it was inserted
//! and goes when that falls to zero (linear probing, so a removal shifts
//! the run after it back: no tombstones). The Bloom filter cannot forget:
//! a removed string may answer "maybe" until the table is rebuilt (after as
//! many removals as strings held), and the lookup rejects it.

use std::sync::OnceLock;

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

const FREE: Slot = Slot {
    tag: 0,
    len: EMPTY,
    data: [0; INLINE],
};

/// What only changes read of a slot: the low half of the hash (where the
/// string belongs) and how many times the string is held.
#[derive(Debug, Clone, Copy, Default)]
struct Cold {
    low: u32,
    count: u32,
}

/// Between the key and the value of a pair: never in UTF-8, so `a` + `bc`
/// and `ab` + `c` differ.
const SEPARATOR: u8 = 0xff;

/// A multiset of strings or string pairs, by hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    bloom: Bloom,
    slots: Box<[Slot]>,
    /// Per slot, what only changes read.
    cold: Box<[Cold]>,
    /// The strings longer than [`INLINE`] back to back; a pair as key,
    /// [`SEPARATOR`], value. Removed ones stay until the next rebuild.
    text: Vec<u8>,
    /// Distinct strings held.
    held: u32,
    /// Bytes of `text` no slot points at any more.
    dead_text: u32,
    /// Strings removed since the Bloom filter was last built.
    removed: u32,
    /// The used slots in the order of their strings, each with its first 8
    /// bytes as a number ([`head`]), for prefix searches: sorted on the
    /// first search after a change.
    sorted: OnceLock<Box<[(u64, u32)]>>,
}

/// The strings do not fit the table's 32-bit lengths and offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// The bytes of `first` then, for a pair, the separator and `second`.
fn encode(out: &mut Vec<u8>, first: &str, second: Option<&str>) {
    out.clear();
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

/// A stored pair split into key and value (all of it the key for a single
/// string).
pub(crate) fn split_pair(stored: &[u8]) -> (&[u8], &[u8]) {
    match stored.iter().position(|&b| b == SEPARATOR) {
        Some(at) => (&stored[..at], &stored[at + 1..]),
        None => (stored, &[]),
    }
}

/// How many slots `held` strings get: a load of at most 2/3.
fn capacity_for(held: usize) -> usize {
    held + held / 2 + 1
}

impl StrTable {
    /// The table of `items`: each a hash and its string, or its pair of
    /// strings; held once each time it is listed. `None` when the strings
    /// do not fit 32-bit offsets.
    pub(crate) fn new(items: &[(u64, &str, Option<&str>)]) -> Option<Self> {
        let mut table = StrTable::default();
        table.rebuild(capacity_for(items.len()));
        for &(hash, first, second) in items {
            table.insert(hash, first, second).ok()?;
        }
        table.fit();
        Some(table)
    }

    /// Rebuilds the table at the size its strings need, its text and Bloom
    /// filter without what was removed.
    pub(crate) fn fit(&mut self) {
        self.rebuild(capacity_for(self.held as usize));
    }

    /// The slot holding `bytes` (whose hash is `hash`), if any.
    #[inline]
    fn find_bytes(&self, hash: u64, bytes: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = (hash >> 32) as u32;
        let mut at = home(hash as u32, self.slots.len());
        loop {
            let slot = &self.slots[at];
            if slot.len == EMPTY {
                return None;
            }
            if slot.tag == tag && same_bytes(self.string(at as u32), bytes) {
                return Some(at);
            }
            at = (at + 1) % self.slots.len();
        }
    }

    /// Holds `first` (or the pair `first`, `second`), whose hash is `hash`,
    /// once more.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        first: &str,
        second: Option<&str>,
    ) -> Result<(), TooLarge> {
        let mut bytes = Vec::new();
        encode(&mut bytes, first, second);
        if let Some(at) = self.find_bytes(hash, &bytes) {
            self.cold[at].count = self.cold[at].count.saturating_add(1);
            return Ok(());
        }
        if self.slots.len() < capacity_for(self.held as usize + 1) {
            self.rebuild(capacity_for(2 * (self.held as usize + 1)));
        }
        self.place(hash, &bytes, 1)
    }

    /// Holds `first` (or the pair) once less; false when it was not held.
    pub(crate) fn remove(&mut self, hash: u64, first: &str, second: Option<&str>) -> bool {
        let mut bytes = Vec::new();
        encode(&mut bytes, first, second);
        let Some(at) = self.find_bytes(hash, &bytes) else {
            return false;
        };
        self.cold[at].count -= 1;
        if self.cold[at].count > 0 {
            return true;
        }
        let len = self.slots[at].len;
        if len as usize > INLINE {
            self.dead_text += len;
        }
        self.vacate(at);
        self.held -= 1;
        self.removed += 1;
        self.sorted = OnceLock::new();
        if self.removed > self.held + 8 || self.dead_text as usize > self.text.len() / 2 + 64 {
            self.fit();
        }
        true
    }

    /// Frees slot `at`, shifting back the strings after it that belong
    /// before it (so that every probe still finds what it looks for).
    fn vacate(&mut self, at: usize) {
        let n = self.slots.len();
        let mut hole = at;
        let mut next = (at + 1) % n;
        while self.slots[next].len != EMPTY {
            let home = home(self.cold[next].low, n);
            // `next` may move to the hole unless its home lies in (hole, next]
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = self.slots[next];
                self.cold[hole] = self.cold[next];
                hole = next;
            }
            next = (next + 1) % n;
        }
        self.slots[hole] = FREE;
        self.cold[hole] = Cold::default();
    }

    /// Puts `bytes` (not held yet) in a free slot; there is one.
    fn place(&mut self, hash: u64, bytes: &[u8], count: u32) -> Result<(), TooLarge> {
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&n| n != EMPTY)
            .ok_or(TooLarge)?;
        let mut data = [0; INLINE];
        if bytes.len() <= INLINE {
            data[..bytes.len()].copy_from_slice(bytes);
        } else {
            let start = u32::try_from(self.text.len()).map_err(|_| TooLarge)?;
            u32::try_from(self.text.len() + bytes.len()).map_err(|_| TooLarge)?;
            data[..4].copy_from_slice(&start.to_le_bytes());
            self.text.extend_from_slice(bytes);
        }
        let mut at = home(hash as u32, self.slots.len());
        while self.slots[at].len != EMPTY {
            at = (at + 1) % self.slots.len();
        }
        self.slots[at] = Slot {
            tag: (hash >> 32) as u32,
            len,
            data,
        };
        self.cold[at] = Cold {
            low: hash as u32,
            count,
        };
        self.bloom.insert(hash);
        self.held += 1;
        self.sorted = OnceLock::new();
        Ok(())
    }

    /// Lays the strings held out again in `slots` slots (at least as many
    /// as they need), with a fresh text and Bloom filter.
    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(
            self,
            StrTable {
                slots: vec![FREE; slots.max(capacity_for(self.held as usize))].into(),
                cold: vec![Cold::default(); slots.max(capacity_for(self.held as usize))].into(),
                ..StrTable::default()
            },
        );
        let live_text: usize = old
            .slots
            .iter()
            .filter(|s| s.len != EMPTY && s.len as usize > INLINE)
            .map(|s| s.len as usize)
            .sum();
        self.text.reserve_exact(live_text);
        for at in 0..old.slots.len() {
            if old.slots[at].len == EMPTY {
                continue;
            }
            let hash = (u64::from(old.slots[at].tag) << 32) | u64::from(old.cold[at].low);
            // the strings fitted before: they fit again
            let placed = self.place(hash, old.string(at as u32), old.cold[at].count);
            debug_assert!(placed.is_ok());
        }
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
        let mut at = home(hash as u32, self.slots.len());
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

    /// Every string held (once, whatever its count), with its count.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        (0..self.slots.len())
            .filter(|&at| self.slots[at].len != EMPTY)
            .map(|at| (self.string(at as u32), self.cold[at].count))
    }

    /// The strings held that start with `prefix` (for a table of single
    /// strings), found by binary search.
    pub(crate) fn with_prefix<'t>(
        &'t self,
        prefix: &'t [u8],
    ) -> impl Iterator<Item = &'t [u8]> + 't {
        let sorted = self.sorted.get_or_init(|| {
            let mut sorted: Vec<(u64, u32)> = (0..self.slots.len() as u32)
                .filter(|&i| self.slots[i as usize].len != EMPTY)
                .map(|i| (head(self.string(i)), i))
                .collect();
            sorted.sort_by(|a, b| self.string(a.1).cmp(self.string(b.1)));
            sorted.into_boxed_slice()
        });
        // the heads of the strings in order are in order; those of the
        // strings starting with `prefix` are `first` in its bytes
        let (first, mask) = head_mask(prefix);
        let start = sorted.partition_point(|&(h, _)| h < first);
        sorted[start..]
            .iter()
            .take_while(move |&&(h, _)| h & mask == first)
            .map(|&(_, at)| self.string(at))
            .filter(move |s| s.starts_with(prefix))
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
            + self.cold.len() * std::mem::size_of::<Cold>()
            + self.text.capacity()
            + self.sorted.get().map_or(0, |s| s.len() * 16)
    }
}

/// [`head`] of `prefix`, and the mask of the bytes of a head it fixes:
/// the heads of the strings starting with `prefix` are `head & mask`.
#[inline]
fn head_mask(prefix: &[u8]) -> (u64, u64) {
    let mask = match prefix.len() {
        0 => 0,
        n if n >= 8 => u64::MAX,
        n => !(u64::MAX >> (8 * n)),
    };
    (head(prefix), mask)
}

/// The first 8 bytes of `bytes` (zeros past its end) as a big-endian
/// number: in the order of the strings.
#[inline]
fn head(bytes: &[u8]) -> u64 {
    let mut head = [0; 8];
    let n = bytes.len().min(8);
    head[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(head)
}

/// The first slot a string whose hash's low half is `low` may be in, of
/// `slots`: scaled to the table (no power-of-two size needed).
#[inline]
fn home(low: u32, slots: usize) -> usize {
    ((u64::from(low) * slots as u64) >> 32) as usize
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
        assert_eq!(table.with_prefix(b"api-1-22-long").count(), 1);
        assert_eq!(table.with_prefix(b"api-1-22-lon").count(), 1);
        assert_eq!(table.with_prefix(b"api-1-22-longer").count(), 0);
        // a prefix ending in zero bytes is not the shorter string
        let nul = StrTable::new(&[(1, "ab", None), (2, "ab\0", None)]).unwrap();
        let found: Vec<&[u8]> = nul.with_prefix(b"ab\0").collect();
        assert_eq!(found, [&b"ab\0"[..]]);
        assert!(table.contains(hash_str("api-1-22-long"), "api-1-22-long", None));
        assert!(!table.contains(hash_str("api-1-22-lonG"), "api-1-22-lonG", None));
        let pairs = StrTable::new(&[(hash_pair("ab", "c"), "ab", Some("c"))]).unwrap();
        assert!(pairs.contains(hash_pair("ab", "c"), "ab", Some("c")));
        assert!(!pairs.contains(hash_pair("a", "bc"), "a", Some("bc")));
        assert_eq!(
            pairs.iter().map(|(s, _)| split_pair(s)).collect::<Vec<_>>(),
            [(&b"ab"[..], &b"c"[..])]
        );
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

    #[test]
    fn a_string_goes_when_removed_as_often_as_inserted() {
        let mut table = StrTable::default();
        let h = hash_str("web-1-long-name");
        table.insert(h, "web-1-long-name", None).unwrap();
        table.insert(h, "web-1-long-name", None).unwrap();
        assert!(table.remove(h, "web-1-long-name", None));
        assert!(table.contains(h, "web-1-long-name", None));
        assert!(table.remove(h, "web-1-long-name", None));
        assert!(!table.contains(h, "web-1-long-name", None));
        assert!(!table.remove(h, "web-1-long-name", None));
        assert_eq!(table.iter().count(), 0);
    }

    /// Random inserts and removals, hashes crowded into few slots (runs that
    /// wrap, shifts back over them), against a counting map.
    #[test]
    fn changes_one_by_one_keep_what_a_map_would() {
        let mut table = StrTable::default();
        let mut model: std::collections::BTreeMap<String, u32> = Default::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = state % 40;
            let text = if n % 3 == 0 {
                format!("s{n}")
            } else {
                format!("a-longer-string-{n}")
            };
            // crowded: 8 distinct homes and tags, from the top of the range
            let hash = (n % 8) << 32 | (0xffff_fff0 + n % 8);
            if state >> 40 & 1 == 0 {
                table.insert(hash, &text, None).unwrap();
                *model.entry(text).or_default() += 1;
            } else {
                let held = model.get(&text).copied().unwrap_or(0);
                assert_eq!(table.remove(hash, &text, None), held > 0, "step {step}");
                if held > 1 {
                    model.insert(text, held - 1);
                } else {
                    model.remove(&text);
                }
            }
            if step % 97 == 0 {
                for n in 0..40u64 {
                    let text = if n % 3 == 0 {
                        format!("s{n}")
                    } else {
                        format!("a-longer-string-{n}")
                    };
                    let hash = (n % 8) << 32 | (0xffff_fff0 + n % 8);
                    assert_eq!(table.contains(hash, &text, None), model.contains_key(&text));
                }
                let mut held: Vec<(String, u32)> = table
                    .iter()
                    .map(|(s, c)| (String::from_utf8(s.to_vec()).unwrap(), c))
                    .collect();
                held.sort();
                assert_eq!(
                    held,
                    model
                        .iter()
                        .map(|(s, c)| (s.clone(), *c))
                        .collect::<Vec<_>>()
                );
                let sorted: Vec<&[u8]> = table.with_prefix(b"a-").collect();
                assert!(sorted.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(
                    sorted.len(),
                    model.keys().filter(|k| k.starts_with("a-")).count()
                );
            }
        }
        // what churn left behind goes with a rebuild
        assert!(table.text.len() <= 2 * model.keys().map(String::len).sum::<usize>() + 128);
    }
}
