//! Which containers of one engine's cache changed since its reader last
//! looked: what lets the cluster bring its view of a node up to date at the
//! cost of the containers that changed, not of every container the node
//! has (a node of 100 containers rebuilt on every `docker run` placed there).
//!
//! Every change of a cached container (added, updated, removed) files its
//! ID here, under the engine's state lock. The reader takes the journal
//! ([`crate::Engine::read_changes`]) under the same lock, with the
//! generation it read it at; the next take tells it the IDs filed since.
//! What IDs cannot express (the whole cache replaced, the images or the
//! node's resources or labels changed, a reader that missed a take, too
//! many changes at once) makes the next take say [`Changes::All`]: the
//! reader rebuilds from the whole cache, as it did for every change before.

/// IDs kept before the journal gives up and says [`Changes::All`] (a
/// rebuild then costs less than the deltas would).
const MAX_IDS: usize = 1024;

/// What changed in an engine's cache since a reader took the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Read the whole cache again.
    All,
    /// Only these containers (full IDs, sorted, each once) were added,
    /// updated or removed; look each up in the cache to know which.
    Containers(Vec<Box<str>>),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Journal {
    /// The generation the journal was last taken at; `None` before the
    /// first take and after a change IDs cannot express.
    base: Option<u64>,
    ids: Vec<Box<str>>,
}

impl Journal {
    /// Files a change of container `id`.
    pub(crate) fn touch(&mut self, id: &str) {
        if self.base.is_none() {
            return;
        }
        if self.ids.len() >= MAX_IDS {
            self.invalidate();
            return;
        }
        self.ids.push(id.into());
    }

    /// Something changed that IDs cannot express: the next take says
    /// [`Changes::All`].
    pub(crate) fn invalidate(&mut self) {
        self.base = None;
        self.ids = Vec::new();
    }

    /// What changed since the reader's take at generation `seen` (`None`:
    /// it has nothing yet); the journal starts again from `now`.
    pub(crate) fn take(&mut self, seen: Option<u64>, now: u64) -> Changes {
        let changes = match (self.base, seen) {
            (Some(base), Some(seen)) if base == seen => {
                let mut ids = std::mem::take(&mut self.ids);
                ids.sort_unstable();
                ids.dedup();
                Changes::Containers(ids)
            }
            _ => Changes::All,
        };
        self.base = Some(now);
        self.ids.clear();
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Changes {
        Changes::Containers(list.iter().map(|s| Box::from(*s)).collect())
    }

    #[test]
    fn a_reader_gets_the_ids_filed_since_its_take() {
        let mut j = Journal::default();
        j.touch("a");
        // nothing taken yet: all
        assert_eq!(j.take(None, 1), Changes::All);
        j.touch("b");
        j.touch("a");
        j.touch("b");
        assert_eq!(j.take(Some(1), 4), ids(&["a", "b"]));
        assert_eq!(j.take(Some(4), 4), ids(&[]));
        // a reader that did not see the last take: all
        j.touch("c");
        assert_eq!(j.take(Some(1), 5), Changes::All);
        assert_eq!(j.take(Some(5), 5), ids(&[]));
    }

    #[test]
    fn what_ids_cannot_say_is_all() {
        let mut j = Journal::default();
        j.take(None, 1);
        j.touch("a");
        j.invalidate();
        j.touch("b");
        assert_eq!(j.take(Some(1), 3), Changes::All);
        for i in 0..=MAX_IDS {
            j.touch(&i.to_string());
        }
        assert_eq!(j.take(Some(3), 4), Changes::All);
        j.touch("x");
        assert_eq!(j.take(Some(4), 5), ids(&["x"]));
    }
}
