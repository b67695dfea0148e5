//! What the watchdog last saw of each engine, read again only for the
//! engines whose generation moved since: a pass costs the engines that
//! changed. With nothing changed, a pass over 10,000 engines is 10,000
//! generation loads: no lock of an engine, no hash lookup, no allocation
//! (the engine list is copied only when the registry changes).

use std::collections::HashMap;
use std::sync::Arc;

use shoal_engine::Engine;

use crate::cluster::Cluster;

/// One engine and what was last read of it.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub(crate) engine: Arc<Engine>,
    /// The generation `seen` was read at (loaded before it was read).
    generation: u64,
    /// None: not read yet, or forgotten.
    pub(crate) seen: Option<T>,
}

/// Per engine of the registry (in its order, by address), what a reader
/// made of it at some generation.
#[derive(Debug)]
pub(crate) struct EngineMemo<T> {
    /// The registry version the slots were built for.
    registry_version: Option<u64>,
    slots: Vec<Slot<T>>,
}

impl<T> Default for EngineMemo<T> {
    fn default() -> Self {
        Self {
            registry_version: None,
            slots: Vec::new(),
        }
    }
}

impl<T> EngineMemo<T> {
    /// Brings every slot up to date: `read(engine, before)` for each engine
    /// new since the last call, forgotten, or whose generation moved
    /// (`before`: what was seen of it then). A change made while an engine
    /// is read moves its generation again, so the next call reads it anew.
    pub(crate) fn update(
        &mut self,
        cluster: &Cluster,
        mut read: impl FnMut(&Arc<Engine>, Option<&T>) -> T,
    ) {
        self.follow_registry(cluster);
        for slot in &mut self.slots {
            let generation = slot.engine.generation();
            if slot.seen.is_some() && slot.generation == generation {
                continue;
            }
            let now = read(&slot.engine, slot.seen.as_ref());
            slot.generation = generation;
            slot.seen = Some(now);
        }
    }

    /// Rebuilds the slots when engines were added or removed (keeping what
    /// was seen of the engines that stay).
    fn follow_registry(&mut self, cluster: &Cluster) {
        let registry = cluster.registry();
        // read under the registry lock: the version that goes with it
        let version = cluster.registry_version();
        if self.registry_version == Some(version) {
            return;
        }
        let mut kept: HashMap<u64, Slot<T>> = self
            .slots
            .drain(..)
            .map(|s| (s.engine.serial(), s))
            .collect();
        self.slots = registry
            .values()
            .map(|e| {
                kept.remove(&e.serial()).unwrap_or_else(|| Slot {
                    engine: e.clone(),
                    generation: 0,
                    seen: None,
                })
            })
            .collect();
        self.registry_version = Some(version);
    }

    /// The engines and what was seen of them at the last update.
    pub(crate) fn slots(&self) -> &[Slot<T>] {
        &self.slots
    }

    /// Forgets what was seen of the engine `serial`: the next update reads
    /// it as if new.
    pub(crate) fn forget(&mut self, serial: u64) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.engine.serial() == serial) {
            s.seen = None;
        }
    }

    /// Forgets what was seen of every engine.
    pub(crate) fn forget_all(&mut self) {
        for s in &mut self.slots {
            s.seen = None;
        }
    }
}
