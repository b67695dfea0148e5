//! An engine's cached containers by full ID, with how many of them carry
//! a rescheduling policy: kept on every insert, removal and change, so the
//! watchdog passes over an engine without one in O(1) instead of reading
//! the labels of every container it has.

use std::collections::BTreeMap;
use std::ops::Deref;

use super::CachedContainer;

pub use shoal_api_types::RESCHEDULE_POLICIES_LABEL;

/// Containers by full ID. Reads go to the map itself (`Deref`); writes go
/// through [`ContainerMap::insert`] and [`ContainerMap::remove`], which
/// keep the count, or change a record in place ([`ContainerMap::get_mut`]:
/// its state; a record's labels change only with the record).
#[derive(Debug, Clone, Default)]
pub struct ContainerMap {
    by_id: BTreeMap<String, CachedContainer>,
    /// How many records carry [`RESCHEDULE_POLICIES_LABEL`].
    with_policy: usize,
}

impl ContainerMap {
    /// Stores `c` under `id`; answers the record it replaces.
    pub fn insert(&mut self, id: String, c: CachedContainer) -> Option<CachedContainer> {
        self.with_policy += usize::from(c.has_reschedule_policy());
        let old = self.by_id.insert(id, c);
        if let Some(o) = &old {
            self.with_policy -= usize::from(o.has_reschedule_policy());
        }
        old
    }

    /// Drops the record of `id`, answering it.
    pub fn remove(&mut self, id: &str) -> Option<CachedContainer> {
        let old = self.by_id.remove(id);
        if let Some(o) = &old {
            self.with_policy -= usize::from(o.has_reschedule_policy());
        }
        old
    }

    /// The record of `id`, to change in place: its state (a record
    /// replaced as a whole goes through [`ContainerMap::insert`], which
    /// counts its labels).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut CachedContainer> {
        self.by_id.get_mut(id)
    }

    /// How many containers carry a rescheduling policy label (whatever
    /// policy it names).
    pub fn with_reschedule_policy(&self) -> usize {
        self.with_policy
    }
}

impl Deref for ContainerMap {
    type Target = BTreeMap<String, CachedContainer>;

    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

impl<'a> IntoIterator for &'a ContainerMap {
    type Item = (&'a String, &'a CachedContainer);
    type IntoIter = std::collections::btree_map::Iter<'a, String, CachedContainer>;

    fn into_iter(self) -> Self::IntoIter {
        self.by_id.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::RunState;
    use serde_json::json;

    fn record(id: &str, policy: Option<&str>) -> CachedContainer {
        let mut labels = json!({"com.docker.swarm.id": format!("s-{id}")});
        if let Some(p) = policy {
            labels[RESCHEDULE_POLICIES_LABEL] = json!(p);
        }
        let summary = serde_json::from_value(json!({
            "Id": id, "Names": [format!("/{id}")], "State": "running", "Labels": labels
        }))
        .unwrap();
        CachedContainer::from_summary(&summary)
    }

    /// The count is what a scan of every record would say.
    fn counted(m: &ContainerMap) -> usize {
        m.values().filter(|c| c.has_reschedule_policy()).count()
    }

    #[test]
    fn the_count_follows_inserts_replacements_removals_and_changes() {
        let mut m = ContainerMap::default();
        assert_eq!(m.with_reschedule_policy(), 0);
        m.insert("a".into(), record("a", Some(r#"["on-node-failure"]"#)));
        m.insert("b".into(), record("b", None));
        // a label naming another policy counts too: the watchdog reads it
        m.insert("c".into(), record("c", Some(r#"["off"]"#)));
        assert_eq!(m.with_reschedule_policy(), 2);
        assert_eq!(m.with_reschedule_policy(), counted(&m));

        // replaced: by a record without the label, then with it again
        let old = m.insert("a".into(), record("a", None));
        assert!(old.is_some_and(|o| o.has_reschedule_policy()));
        assert_eq!(m.with_reschedule_policy(), 1);
        m.insert("b".into(), record("b", Some(r#"["on-node-failure"]"#)));
        assert_eq!(m.with_reschedule_policy(), 2);

        // removed: once; a second removal and an unknown ID change nothing
        assert!(m.remove("c").is_some());
        assert!(m.remove("c").is_none());
        assert!(m.remove("zz").is_none());
        assert_eq!(m.with_reschedule_policy(), 1);
        assert_eq!(m.with_reschedule_policy(), counted(&m));

        // changed in place: a state change keeps the count
        m.get_mut("b").unwrap().set_state(RunState::Exited, 0);
        assert_eq!(m["b"].state(), RunState::Exited);
        assert!(m.get_mut("zz").is_none());
        assert_eq!(m.with_reschedule_policy(), 1);
        assert_eq!(m.with_reschedule_policy(), counted(&m));

        // reads go to the map
        assert_eq!(m.len(), 2);
        assert_eq!(
            (&m).into_iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
