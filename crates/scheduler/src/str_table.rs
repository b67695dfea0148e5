//! A set of strings (or pairs of strings: a label's key and value) for the
//! exact lookups of the compiled filters: a Bloom filter that settles most
//! misses without a memory access beyond the node, then an open-addressing
//! table of hashes whose hit is confirmed on the string itself, kept in one
//! buffer with the others.

use crate::hashing::Bloom;

#[derive(Debug, Clone, Copy)]
struct Record {
    hash: u64,
    /// Where the string starts in `text`.
    start: u32,
    /// Lengths of its first and second part; `first == EMPTY` marks a free
    /// slot.
    first: u32,
    second: u32,
}

const EMPTY: u32 = u32::MAX;

/// A set of distinct strings or string pairs, by hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    bloom: Bloom,
    /// A power-of-two number of slots, at most half of them used.
    records: Box<[Record]>,
    text: Box<str>,
}

impl StrTable {
    /// The table of `items`: each a hash and its string as one or two parts
    /// (the second one empty for a single string), distinct. `None` when the
    /// strings do not fit 32-bit offsets.
    pub(crate) fn new(items: &[(u64, [&str; 2])]) -> Option<Self> {
        let mut table = StrTable::default();
        if items.is_empty() {
            return Some(table);
        }
        let slots = (items.len() * 2).next_power_of_two();
        let mask = slots - 1;
        let mut records = vec![
            Record {
                hash: 0,
                start: 0,
                first: EMPTY,
                second: 0,
            };
            slots
        ];
        let mut text = String::new();
        for &(hash, [first, second]) in items {
            table.bloom.insert(hash);
            let record = Record {
                hash,
                start: u32::try_from(text.len()).ok()?,
                first: u32::try_from(first.len()).ok().filter(|&n| n != EMPTY)?,
                second: u32::try_from(second.len()).ok()?,
            };
            text.push_str(first);
            text.push_str(second);
            u32::try_from(text.len()).ok()?;
            let mut slot = hash as usize & mask;
            while records[slot].first != EMPTY {
                slot = (slot + 1) & mask;
            }
            records[slot] = record;
        }
        table.records = records.into_boxed_slice();
        table.text = text.into_boxed_str();
        Some(table)
    }

    /// Whether the table holds the string `first` + `second` (split there),
    /// whose hash is `hash`.
    pub(crate) fn contains(&self, hash: u64, first: &str, second: &str) -> bool {
        if !self.bloom.may_contain(hash) || self.records.is_empty() {
            return false;
        }
        let mask = self.records.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            let record = &self.records[slot];
            if record.first == EMPTY {
                return false;
            }
            if record.hash == hash
                && record.first as usize == first.len()
                && record.second as usize == second.len()
            {
                let start = record.start as usize;
                let split = start + first.len();
                if self.text.get(start..split) == Some(first)
                    && self.text.get(split..split + second.len()) == Some(second)
                {
                    return true;
                }
            }
            slot = (slot + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::{hash_pair, hash_str};

    #[test]
    fn holds_its_strings_and_pairs_only() {
        let names = ["web", "db", "", "cache-1"];
        let items: Vec<(u64, [&str; 2])> = names.iter().map(|n| (hash_str(n), [*n, ""])).collect();
        let table = StrTable::new(&items).unwrap();
        for n in names {
            assert!(table.contains(hash_str(n), n, ""), "{n}");
        }
        assert!(!table.contains(hash_str("api"), "api", ""));
        let pairs = StrTable::new(&[(hash_pair("ab", "c"), ["ab", "c"])]).unwrap();
        assert!(pairs.contains(hash_pair("ab", "c"), "ab", "c"));
        assert!(!pairs.contains(hash_pair("a", "bc"), "a", "bc"));
        assert!(!StrTable::default().contains(hash_str("x"), "x", ""));
    }

    #[test]
    fn a_hash_collision_is_told_apart_by_the_strings() {
        // two different strings filed under one hash, and a third asked for
        let table = StrTable::new(&[(7, ["one", ""]), (7, ["two", ""])]).unwrap();
        assert!(table.contains(7, "one", ""));
        assert!(table.contains(7, "two", ""));
        assert!(!table.contains(7, "three", ""));
        // the split of a pair counts, not only its bytes
        let table = StrTable::new(&[(9, ["ab", "c"])]).unwrap();
        assert!(!table.contains(9, "a", "bc"));
    }
}
