//! A node's own labels laid out inline, for the constraint and whitelist
//! filters: a `BTreeMap` lookup compares the key with several keys, each a
//! separate allocation, then reads the value from another; here the labels
//! are one run of bytes inside the node's index, read in a cache line or
//! three. Nodes whose labels do not fit are read from their map.

/// Bytes of inline storage: the standard labels and a handful of engine
/// labels (the `docker info` labels of a node are about 150 bytes).
const CAPACITY: usize = 240;

/// The labels of one node: per label its key length, its value length (one
/// byte each), the key, the value.
#[derive(Clone)]
pub(crate) struct NodeLabels {
    used: u8,
    bytes: [u8; CAPACITY],
}

impl std::fmt::Debug for NodeLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLabels")
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl NodeLabels {
    /// Lays out `labels`; `None` when they do not fit.
    pub(crate) fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut table = NodeLabels {
            used: 0,
            bytes: [0; CAPACITY],
        };
        let mut at = 0;
        for (key, value) in labels {
            let end = at + 2 + key.len() + value.len();
            if end > CAPACITY || key.len() > 255 || value.len() > 255 {
                return None;
            }
            table.bytes[at] = key.len() as u8;
            table.bytes[at + 1] = value.len() as u8;
            table.bytes[at + 2..at + 2 + key.len()].copy_from_slice(key.as_bytes());
            table.bytes[at + 2 + key.len()..end].copy_from_slice(value.as_bytes());
            at = end;
        }
        table.used = at as u8;
        Some(table)
    }

    /// The value of `key`, as bytes (UTF-8: they were a `str`).
    pub(crate) fn get(&self, key: &str) -> Option<&[u8]> {
        let key = key.as_bytes();
        let bytes = &self.bytes[..self.used as usize];
        let mut at = 0;
        while at + 2 <= bytes.len() {
            let key_len = bytes[at] as usize;
            let value_at = at + 2 + key_len;
            let end = value_at + bytes[at + 1] as usize;
            if key_len == key.len()
                && bytes
                    .get(at + 2..value_at)
                    .is_some_and(|k| same_bytes(k, key))
            {
                return bytes.get(value_at..end);
            }
            at = end;
        }
        None
    }
}

/// `a == b`, without a call to `memcmp` for strings of up to 16 bytes
/// (label keys and values mostly are).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    match n {
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
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
        assert_eq!(table.get("region"), Some(&b"us-east"[..]));
        assert_eq!(table.get("ostype"), Some(&b"linux"[..]));
        assert_eq!(table.get("e"), Some(&b""[..]));
        assert_eq!(table.get("regio"), None);
        assert_eq!(table.get("us-east"), None);
        assert!(NodeLabels::new([]).unwrap().get("region").is_none());
    }

    #[test]
    fn same_bytes_is_equality() {
        let words = [
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
    fn labels_that_do_not_fit_are_refused() {
        let long = "v".repeat(CAPACITY);
        assert!(NodeLabels::new([("key", long.as_str())]).is_none());
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("key{i}"), "value".to_string()))
            .collect();
        assert!(NodeLabels::new(many.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_none());
    }
}
