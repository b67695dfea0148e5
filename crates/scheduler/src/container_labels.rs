//! A container's labels as the scheduler keeps them: a sorted boxed slice
//! of shared strings. Keys and values come from the engine's record (its
//! keys interned, its values shared), so a view of a container costs a
//! slice of pointers, not a copy of every string.

use std::sync::Arc;

/// Container labels, sorted by key, each key once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLabels(Box<[(Arc<str>, Arc<str>)]>);

impl ContainerLabels {
    /// Labels from pairs already sorted by key without duplicates (as the
    /// engine's record holds them); sorted here when they are not.
    pub fn from_sorted(pairs: impl IntoIterator<Item = (Arc<str>, Arc<str>)>) -> Self {
        let pairs: Vec<(Arc<str>, Arc<str>)> = pairs.into_iter().collect();
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            Self(pairs.into_boxed_slice())
        } else {
            pairs.into_iter().collect()
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// Whether there is a label `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of `key`, shared.
    pub fn get_shared(&self, key: &str) -> Option<&Arc<str>> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `key` to `value` (rebuilds the slice: for building by hand).
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        let mut pairs = std::mem::take(&mut self.0).into_vec();
        let key = key.into();
        match pairs.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => pairs[i].1 = value.into(),
            Err(i) => pairs.insert(i, (key, value.into())),
        }
        self.0 = pairs.into_boxed_slice();
    }
}

/// From any pairs: sorted by key, the last value of a key kept (as a map
/// built from them would).
impl<K: Into<Arc<str>>, V: Into<Arc<str>>> FromIterator<(K, V)> for ContainerLabels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // stable: equal keys keep their order, the last one wins below
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        Self(out.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_from_pairs_sorts_and_keeps_the_last_value() {
        let labels: ContainerLabels = [("b", "1"), ("a", "2"), ("b", "3")].into_iter().collect();
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, vec![("a", "2"), ("b", "3")]);
        assert_eq!(labels.get("b"), Some("3"));
        assert_eq!(labels.get("c"), None);
        assert_eq!(labels.len(), 2);
    }

    #[test]
    fn insert_keeps_key_order_and_replaces() {
        let mut labels = ContainerLabels::default();
        labels.insert("z", "1");
        labels.insert("a", "2");
        labels.insert("z", "3");
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, vec![("a", "2"), ("z", "3")]);
        assert!(labels.contains_key("a"));
    }

    #[test]
    fn from_sorted_shares_the_strings_given() {
        let value: Arc<str> = Arc::from("v");
        let labels = ContainerLabels::from_sorted([(Arc::from("k"), value.clone())]);
        assert!(Arc::ptr_eq(labels.get_shared("k").expect("k"), &value));
        let unsorted = ContainerLabels::from_sorted([
            (Arc::from("b"), Arc::from("1")),
            (Arc::from("a"), Arc::from("2")),
        ]);
        assert_eq!(unsorted.iter().next(), Some(("a", "2")));
    }
}
