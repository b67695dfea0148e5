//! A node's own labels laid out inline, for the constraint and whitelist
//! filters: a `BTreeMap` lookup compares the key with several keys, each a
//! separate allocation, then reads the value from another; here the labels
//! are one run of bytes inside the node's index, read in a cache line or
//! three. Nodes whose labels do not fit are read from their map.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use crate::interner::Interner;

/// Bytes of inline storage: the standard labels and a handful of engine
/// labels (the `docker info` labels of a node are about 150 bytes).
const CAPACITY: usize = 240;

/// How many labels fit at most.
const MAX_LABELS: usize = 24;

/// The labels of one node: per label its key length, its value length, the
/// key's [`tag`] (one byte each), the key, the value; and where each label
/// starts.
#[derive(Clone)]
pub(crate) struct NodeLabels {
    /// [`hash_bytes`](crate::hashing::hash_bytes) of the bytes used.
    fingerprint: u64,
    count: u8,
    /// How many of `bytes` are used.
    used: u8,
    starts: [u8; MAX_LABELS],
    bytes: [u8; CAPACITY],
}

impl std::fmt::Debug for NodeLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLabels")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl PartialEq for NodeLabels {
    fn eq(&self, other: &Self) -> bool {
        self.same_labels(other)
    }
}

impl NodeLabels {
    /// Lays out `labels`, shared with the nodes that have the same; `None`
    /// when they do not fit.
    pub(crate) fn shared<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Arc<Self>> {
        static SHARED: OnceLock<Interner<NodeLabels>> = OnceLock::new();
        let labels = NodeLabels::new(labels)?;
        Some(
            SHARED
                .get_or_init(Interner::new)
                .intern(labels.fingerprint, labels),
        )
    }

    /// Lays out `labels`; `None` when they do not fit.
    pub(crate) fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut table = NodeLabels {
            fingerprint: 0,
            count: 0,
            used: 0,
            starts: [0; MAX_LABELS],
            bytes: [0; CAPACITY],
        };
        let mut at = 0;
        for (i, (key, value)) in labels.into_iter().enumerate() {
            let key_at = at + HEAD;
            let end = key_at + key.len() + value.len();
            if i >= MAX_LABELS || end > CAPACITY || key.len() > 255 || value.len() > 255 {
                return None;
            }
            table.starts[i] = at as u8;
            table.count = i as u8 + 1;
            table.bytes[at] = key.len() as u8;
            table.bytes[at + 1] = value.len() as u8;
            table.bytes[at + 2] = tag(key);
            table.bytes[at + 3..at + HEAD].copy_from_slice(&value_hash(value).to_le_bytes());
            table.bytes[key_at..key_at + key.len()].copy_from_slice(key.as_bytes());
            table.bytes[key_at + key.len()..end].copy_from_slice(value.as_bytes());
            at = end;
        }
        table.used = at as u8;
        table.fingerprint = crate::hashing::hash_bytes(&table.bytes[..at]);
        Some(table)
    }

    /// A hash of the labels: equal for equal labels.
    #[inline]
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Whether `other` holds the same labels (in the same order).
    #[inline]
    pub(crate) fn same_labels(&self, other: &NodeLabels) -> bool {
        let used = self.used as usize;
        self.fingerprint == other.fingerprint
            && self.used == other.used
            && self.count == other.count
            && self.bytes[..used] == other.bytes[..used]
    }

    /// The value of `key`, whose [`tag`] is `key_tag`, as bytes (UTF-8:
    /// they were a `str`), with its [`value_hash`]. `hint` is where the key
    /// was found last (nodes mostly have the same keys in the same order):
    /// tried first, and set to where it is found.
    #[inline]
    pub(crate) fn get(&self, key: &str, key_tag: u8, hint: &Cell<u8>) -> Option<(&[u8], u32)> {
        let count = self.count as usize;
        let first = hint.get() as usize;
        if first < count {
            if let Some(value) = self.value_at(first, key, key_tag) {
                return Some(value);
            }
        }
        (0..count).filter(|&i| i != first).find_map(|i| {
            let value = self.value_at(i, key, key_tag)?;
            hint.set(i as u8);
            Some(value)
        })
    }

    /// The value of label `i` if its key is `key` (tagged `key_tag`).
    #[inline]
    fn value_at(&self, i: usize, key: &str, key_tag: u8) -> Option<(&[u8], u32)> {
        let at = self.starts[i] as usize;
        let key = key.as_bytes();
        let head = self.bytes.get(at..at + HEAD)?;
        if head[0] as usize != key.len() || head[2] != key_tag {
            return None;
        }
        let value_at = at + HEAD + key.len();
        let end = value_at + head[1] as usize;
        if !same_bytes(self.bytes.get(at + HEAD..value_at)?, key) {
            return None;
        }
        let hash = u32::from_le_bytes([head[3], head[4], head[5], head[6]]);
        Some((self.bytes.get(value_at..end)?, hash))
    }
}

/// Bytes before each label's key: the lengths, the tag, the value's hash.
const HEAD: usize = 7;

/// A 32-bit hash of a label value, compared before the value itself.
pub(crate) fn value_hash(value: &str) -> u32 {
    (crate::hashing::hash_str(value) >> 32) as u32
}

/// A byte of a key's hash, compared before the key itself.
pub(crate) fn tag(key: &str) -> u8 {
    key.bytes().fold(0x9du8, |h, b| h.rotate_left(3) ^ b)
}

/// `a == b`, without a call to `memcmp` for strings of up to 16 bytes
/// (label keys and values mostly are).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // two loads that overlap cover every length of a range
    let u64_at =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let u32_at =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_key_and_nothing_else() {
        let labels = [("region", "us-east"), ("ostype", "linux"), ("e", "")];
        let table = NodeLabels::new(labels).unwrap();
        let hint = Cell::new(0);
        let get = |key: &str| table.get(key, tag(key), &hint).map(|(v, _)| v);
        assert_eq!(get("region"), Some(&b"us-east"[..]));
        assert_eq!(get("ostype"), Some(&b"linux"[..]));
        assert_eq!(get("e"), Some(&b""[..]));
        assert_eq!(get("regio"), None);
        assert_eq!(get("us-east"), None);
        // a wrong tag finds nothing: the tag only ever skips keys
        assert_eq!(table.get("region", tag("region") ^ 1, &hint), None);
        assert_eq!(
            table.get("region", tag("region"), &hint).map(|(_, h)| h),
            Some(value_hash("us-east"))
        );
        // the hint is where the key was last found, and only a hint
        assert_eq!(get("ostype"), Some(&b"linux"[..]));
        assert_eq!(hint.get(), 1);
        hint.set(2);
        assert_eq!(get("region"), Some(&b"us-east"[..]));
        assert_eq!(hint.get(), 0);
        hint.set(200);
        assert_eq!(get("e"), Some(&b""[..]));
        assert_eq!(hint.get(), 2);
        let empty = NodeLabels::new([]).unwrap();
        assert!(empty.get("region", tag("region"), &hint).is_none());
    }

    #[test]
    fn same_bytes_is_equality() {
        let words = [
            "b",
            "abc",
            "abd",
            "abcd",
            "abcdf",
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
        ];
        for a in words {
            for b in words {
                assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
        }
        assert!(!same_bytes(b"us-east", b"us-west"));
        assert!(!same_bytes(b"abcdefghijkl", b"abcdXfghijkl"));
        let long = "x".repeat(40);
        assert!(same_bytes(long.as_bytes(), long.as_bytes()));
        assert!(!same_bytes(long.as_bytes(), "y".repeat(40).as_bytes()));
    }

    #[test]
    fn same_labels_are_told_by_their_bytes() {
        let a = NodeLabels::new([("region", "us"), ("ostype", "linux")]).unwrap();
        let b = NodeLabels::new([("region", "us"), ("ostype", "linux")]).unwrap();
        assert!(a.same_labels(&b));
        assert_eq!(a.fingerprint(), b.fingerprint());
        for other in [
            NodeLabels::new([("region", "eu"), ("ostype", "linux")]),
            NodeLabels::new([("region", "us")]),
            NodeLabels::new([("region", "us"), ("ostype", "linux"), ("e", "")]),
            NodeLabels::new([("regio", "nus"), ("ostype", "linux")]),
        ] {
            assert!(!a.same_labels(&other.unwrap()));
        }
        // equal hashes alone do not make equal labels
        let mut forged = NodeLabels::new([("region", "eu"), ("ostype", "linux")]).unwrap();
        forged.fingerprint = a.fingerprint;
        assert!(!a.same_labels(&forged));
    }

    #[test]
    fn labels_that_do_not_fit_are_refused() {
        let long = "v".repeat(CAPACITY);
        assert!(NodeLabels::new([("key", long.as_str())]).is_none());
        let many: Vec<(String, String)> = (0..MAX_LABELS + 1)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(NodeLabels::new(many.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_none());
    }
}
