//! 64-bit hashes of the strings the compiled filters compare, and a
//! one-cache-line Bloom filter over them.
//!
//! A request's plain values are hashed once per placement; a node's strings
//! once when it is indexed. A node then answers "certainly not here" from
//! its Bloom filter without touching any string, and "maybe" from a table
//! of hashes whose hits are compared with the strings themselves (see
//! [`StrTable`](crate::str_table::StrTable)): a hash never decides a match
//! alone, so a collision costs time, not a wrong placement.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// Murmur3's 64-bit finalizer: FxHash leaves the low bits of short keys
/// poorly mixed, and the Bloom filter takes its bit positions from them.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The hash of one string.
pub(crate) fn hash_str(text: &str) -> u64 {
    hash_bytes(text.as_bytes())
}

/// The hash of a run of bytes ([`hash_str`] of a string's bytes).
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    mix(h.finish())
}

/// The hash of a `key=value` pair (a container label). `0xff` never occurs
/// in UTF-8, so no two pairs write the same bytes.
pub(crate) fn hash_pair(key: &str, value: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(key.as_bytes());
    h.write_u8(0xff);
    h.write(value.as_bytes());
    mix(h.finish())
}

/// A Bloom filter of 512 bits (one cache line), three bits per hash.
///
/// With the ~40 distinct label pairs of a node of 30 containers it answers
/// "maybe" for about 1 % of the pairs it does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bloom([u64; 8]);

impl Bloom {
    fn bits(hash: u64) -> [u32; 3] {
        [
            (hash & 511) as u32,
            ((hash >> 9) & 511) as u32,
            ((hash >> 18) & 511) as u32,
        ]
    }

    /// Adds `hash`.
    pub(crate) fn insert(&mut self, hash: u64) {
        for bit in Self::bits(hash) {
            self.0[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
    }

    /// False when `hash` was certainly never added.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        Self::bits(hash)
            .iter()
            .all(|&bit| self.0[(bit >> 6) as usize] & (1 << (bit & 63)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_holds_what_was_added_and_rejects_most_else() {
        let mut bloom = Bloom::default();
        let added: Vec<u64> = (0..40).map(|i| hash_str(&format!("web-{i}"))).collect();
        added.iter().for_each(|&h| bloom.insert(h));
        assert!(added.iter().all(|&h| bloom.may_contain(h)));
        let false_hits = (0..10_000)
            .filter(|i| bloom.may_contain(hash_str(&format!("db-{i}"))))
            .count();
        // about 1 % expected
        assert!(false_hits < 400, "{false_hits}");
    }

    #[test]
    fn pairs_are_not_confused_with_their_concatenation() {
        assert_ne!(hash_pair("ab", "c"), hash_pair("a", "bc"));
        assert_ne!(hash_pair("a", "b"), hash_str("ab"));
    }
}
