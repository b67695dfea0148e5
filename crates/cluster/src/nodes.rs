//! What the cluster derives from the engines' caches, kept per engine and
//! rebuilt only for the engines whose cache changed (their generation moved):
//!
//! - per node, a [`CachedNode`]: the scheduler's view of the engine with its
//!   index ([`IndexedNode`]: container names, IDs, labels, host ports,
//!   images) and the set of its normalized image names, shared by every
//!   placement behind an `Arc` (a placement lays what is in flight over it,
//!   it never copies it);
//! - cluster-wide, a [`ContainerIndex`]: full ID -> engine (ordered, for
//!   unique-prefix lookups), name -> IDs, Swarm ID -> IDs.
//!
//! Both are brought up to date lazily by [`Cluster::nodes`], for the
//! engines in the change log (every engine when the registry changed),
//! comparing each one's generation with the one its node was read at. A
//! changed node is updated with what changed in its engine's cache (the
//! engine's journal: which containers were added, updated or removed), at
//! the cost of those containers; it is read in full only when the journal
//! cannot say (first sight, images or the node's resources changed, a full
//! refresh that changed much).
//!
//! A node is updated in place when nothing else holds it; a placement
//! choosing over every node holds the nodes it chose from, and a node
//! changed meanwhile is copied first (copy on write, counted in
//! [`NodeCacheStats`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, MutexGuard};

use rustc_hash::{FxHashMap, FxHashSet};
use shoal_api_types::image::normalize_ref;
use shoal_engine::{ChangeLog, Engine};
use shoal_scheduler::{ContainerView, IndexedNode, NodeView};

use crate::cluster::Cluster;
use crate::reservations::Reservations;
use crate::spread_order::SpreadOrder;
use crate::view::{NodeDelta, Read, WholeNode};

/// One engine as placements see it, read from its cache.
#[derive(Debug, Clone)]
pub(crate) struct CachedNode {
    pub(crate) engine: Arc<Engine>,
    pub(crate) node: IndexedNode,
    images: ImageSet,
    /// What each container reserves (the view's totals are their sum).
    reservations: Reservations,
}

impl CachedNode {
    /// The node of `engine` read in full.
    fn whole(engine: &Arc<Engine>, w: Box<WholeNode>) -> Self {
        CachedNode {
            engine: engine.clone(),
            node: IndexedNode::new(w.view),
            images: w.images,
            reservations: w.reservations,
        }
    }

    /// The scheduler's view of the node.
    pub(crate) fn view(&self) -> &NodeView {
        self.node.view()
    }

    /// Whether the node has the image `wanted` names.
    pub(crate) fn has_image(&self, wanted: &WantedImage) -> bool {
        self.images.has(wanted)
    }
}

/// An image name as asked for, normalized once per request.
#[derive(Debug, Clone)]
pub(crate) struct WantedImage {
    raw: String,
    normalized: String,
    /// Whether it can be an ID prefix (4 or more hex digits, after an
    /// optional `sha256:`).
    id_prefix: bool,
}

impl WantedImage {
    pub(crate) fn new(raw: &str) -> Self {
        let q = raw.trim_start_matches("sha256:");
        WantedImage {
            raw: raw.to_string(),
            normalized: normalize_ref(raw),
            id_prefix: q.len() >= 4 && q.chars().all(|c| c.is_ascii_hexdigit()),
        }
    }

    /// The name as asked for.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// Without `sha256:`, when it can be an ID prefix.
    fn id_prefix(&self) -> Option<&str> {
        self.id_prefix
            .then(|| self.raw.trim_start_matches("sha256:"))
    }
}

/// The names a node's images answer to, as `ImageSummary::matches` reads
/// them: normalized tags, digests as given, IDs by prefix.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageSet {
    tags: FxHashSet<Box<str>>,
    digests: FxHashSet<Box<str>>,
    /// IDs without `sha256:`.
    ids: Vec<Box<str>>,
}

impl ImageSet {
    pub(crate) fn new(images: &[shoal_api_types::ImageSummary]) -> Self {
        let mut set = ImageSet::default();
        for i in images {
            set.tags.extend(
                i.repo_tags
                    .iter()
                    .map(|t| normalize_ref(t).into_boxed_str()),
            );
            set.digests
                .extend(i.repo_digests.iter().map(|d| Box::from(d.as_str())));
            set.ids.push(i.id.trim_start_matches("sha256:").into());
        }
        set
    }

    fn has(&self, wanted: &WantedImage) -> bool {
        self.tags.contains(wanted.normalized.as_str())
            || self.digests.contains(wanted.raw())
            || wanted
                .id_prefix()
                .is_some_and(|q| self.ids.iter().any(|id| id.starts_with(q)))
    }
}

/// Where the containers of the whole cluster are, by ID, name and Swarm ID.
#[derive(Debug, Default)]
pub(crate) struct ContainerIndex {
    /// Full ID -> the engines that have it (one, but for copies made by hand).
    ids: BTreeMap<Arc<str>, Few<Arc<Engine>>>,
    /// Name (without `/`) -> IDs.
    names: HashMap<Name, Few<Arc<str>>>,
    /// Swarm ID -> IDs.
    swarm_ids: HashMap<Arc<str>, Few<Arc<str>>>,
}

/// What the index files under one key: almost always one value, held
/// without an allocation of its own; several in a `Vec`.
#[derive(Debug, Clone)]
enum Few<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few::Many(Vec::new())
    }
}

impl<T> Few<T> {
    fn push(&mut self, value: T) {
        match self {
            Few::Many(values) if values.is_empty() => *self = Few::One(value),
            Few::Many(values) => values.push(value),
            Few::One(_) => {
                if let Few::One(first) = std::mem::take(self) {
                    *self = Few::Many(vec![first, value]);
                }
            }
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Few::One(value) => std::slice::from_ref(value).iter(),
            Few::Many(values) => values.iter(),
        }
    }

    /// Takes out the first value `matches` accepts (the last one takes its
    /// place).
    fn remove(&mut self, matches: impl Fn(&T) -> bool) {
        match self {
            Few::One(value) if matches(value) => *self = Few::default(),
            Few::One(_) => {}
            Few::Many(values) => {
                if let Some(i) = values.iter().position(matches) {
                    values.swap_remove(i);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Few::Many(values) if values.is_empty())
    }
}

/// A container's name as its view holds it (`/web`, shared with the view
/// and the engine's record), hashed, compared and looked up without its
/// `/` (`web`).
#[derive(Debug, Clone)]
struct Name(Arc<str>);

impl Name {
    /// Without its `/`.
    fn bare(&self) -> &str {
        self.0.strip_prefix('/').unwrap_or(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.bare()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.bare() == other.bare()
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bare().hash(state)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.bare())
    }
}

/// A container found in the index.
pub(crate) type Found = (Arc<Engine>, String);

impl ContainerIndex {
    /// Replaces what `old` contributed by what `new` does (either may be
    /// missing: an engine added or removed).
    fn replace(&mut self, old: Option<&CachedNode>, new: Option<&CachedNode>) {
        if let (Some(old), Some(new)) = (old, new) {
            let (before, after) = (&old.view().containers, &new.view().containers);
            if Arc::ptr_eq(&old.engine, &new.engine) && sorted(before) && sorted(after) {
                // the same engine again: only what changed (both lists are
                // in ID order, as the cache keeps them)
                self.update(&new.engine, before, after);
                return;
            }
        }
        if let Some(old) = old {
            for c in &old.view().containers {
                self.remove(&old.engine, c);
            }
        }
        if let Some(new) = new {
            for c in &new.view().containers {
                self.insert(&new.engine, c);
            }
        }
    }

    /// Replaces the containers `before` of `engine` by `after`, both in ID
    /// order, touching only the entries of containers added, removed or
    /// renamed.
    fn update(&mut self, engine: &Arc<Engine>, before: &[ContainerView], after: &[ContainerView]) {
        let (mut i, mut j) = (0, 0);
        while i < before.len() || j < after.len() {
            let order = match (before.get(i), after.get(j)) {
                (Some(b), Some(a)) => b.id.cmp(&a.id),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, _) => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    self.remove(engine, &before[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    self.insert(engine, &after[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (b, a) = (&before[i], &after[j]);
                    if b.name() != a.name() || swarm_id(b) != swarm_id(a) {
                        self.remove(engine, b);
                        self.insert(engine, a);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// Container `old` of `engine` became `new` (either may be missing:
    /// added, removed).
    fn change(
        &mut self,
        engine: &Arc<Engine>,
        old: Option<&ContainerView>,
        new: Option<&ContainerView>,
    ) {
        if let (Some(b), Some(a)) = (old, new) {
            if b.id == a.id && b.name() == a.name() && swarm_id(b) == swarm_id(a) {
                return;
            }
        }
        if let Some(old) = old {
            self.remove(engine, old);
        }
        if let Some(new) = new {
            self.insert(engine, new);
        }
    }

    /// Files `c` of `engine`, its ID, name and Swarm ID shared with its
    /// view (the index holds no copy of them).
    pub(crate) fn insert(&mut self, engine: &Arc<Engine>, c: &ContainerView) {
        let id = c.id.clone();
        self.ids.entry(id.clone()).or_default().push(engine.clone());
        self.names
            .entry(Name(c.name.clone()))
            .or_default()
            .push(id.clone());
        if let Some(swarm_id) = swarm_id(c) {
            self.swarm_ids.entry(swarm_id.clone()).or_default().push(id);
        }
    }

    fn remove(&mut self, engine: &Arc<Engine>, c: &ContainerView) {
        let id = &*c.id;
        if let Some(engines) = self.ids.get_mut(id) {
            engines.remove(|e| Arc::ptr_eq(e, engine));
            if engines.is_empty() {
                self.ids.remove(id);
            }
        }
        remove_one(&mut self.names, c.name().unwrap_or_default(), id);
        if let Some(swarm_id) = swarm_id(c) {
            remove_one(&mut self.swarm_ids, swarm_id, id);
        }
    }

    /// The index as sorted lists (engines by address): for comparisons.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (id, engines) in &self.ids {
            let mut addrs: Vec<String> = engines.iter().map(|e| e.addr().to_string()).collect();
            addrs.sort();
            out.push((format!("id {id}"), addrs));
        }
        let names = self.names.iter().map(|(k, ids)| (k.to_string(), ids));
        let swarm_ids = self.swarm_ids.iter().map(|(k, ids)| (k.to_string(), ids));
        let maps: [(&str, Vec<_>); 2] = [("name", names.collect()), ("swarm", swarm_ids.collect())];
        for (kind, map) in maps {
            let mut keys: Vec<(String, Vec<String>)> = map
                .into_iter()
                .map(|(k, ids)| {
                    let mut ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                    ids.sort();
                    (format!("{kind} {k}"), ids)
                })
                .collect();
            keys.sort();
            out.extend(keys);
        }
        out
    }

    /// Every (engine, ID) under one ID.
    fn by_id<'a>(&'a self, id: &str) -> impl Iterator<Item = Found> + 'a {
        let id_string = id.to_string();
        self.ids
            .get(id)
            .into_iter()
            .flat_map(Few::iter)
            .map(move |e| (e.clone(), id_string.clone()))
    }

    fn by_ids<'a>(&'a self, ids: Option<&'a Few<Arc<str>>>) -> impl Iterator<Item = Found> + 'a {
        ids.into_iter()
            .flat_map(Few::iter)
            .flat_map(|id| self.by_id(id))
    }

    /// The containers named `name` (without `/`).
    pub(crate) fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = Found> + 'a {
        self.by_ids(self.names.get(name))
    }

    /// A cache query as classic Swarm read it: a full ID wins outright; then
    /// the one container whose name or Swarm ID it is; then the one whose
    /// ID it starts with. `Err(())` when more than one is meant.
    pub(crate) fn find(&self, query: &str) -> Result<Option<Found>, ()> {
        if query.is_empty() {
            return Ok(None);
        }
        if let Some(found) = self.by_id(query).next() {
            return Ok(Some(found));
        }
        let name = query.strip_prefix('/').unwrap_or(query);
        let mut exact: Vec<Found> = self.named(name).collect();
        for found in self.by_ids(self.swarm_ids.get(query)) {
            if !exact
                .iter()
                .any(|(e, id)| Arc::ptr_eq(e, &found.0) && *id == found.1)
            {
                exact.push(found);
            }
        }
        match exact.len() {
            0 => {}
            1 => return Ok(exact.pop()),
            _ => return Err(()),
        }
        let mut prefixed = self
            .ids
            .range::<str, _>((std::ops::Bound::Included(query), std::ops::Bound::Unbounded))
            .take_while(|(id, _)| id.starts_with(query))
            .flat_map(|(id, engines)| engines.iter().map(move |e| (e.clone(), id.to_string())));
        match (prefixed.next(), prefixed.next()) {
            (None, _) => Ok(None),
            (Some(found), None) => Ok(Some(found)),
            (Some(_), Some(_)) => Err(()),
        }
    }
}

/// Whether the containers are in ID order.
fn sorted(containers: &[ContainerView]) -> bool {
    containers.windows(2).all(|w| w[0].id <= w[1].id)
}

/// The Swarm ID label, as the index files it.
fn swarm_id(c: &ContainerView) -> Option<&Arc<str>> {
    c.labels.get_shared(shoal_api_types::SWARM_ID_LABEL)
}

fn remove_one<K>(map: &mut HashMap<K, Few<Arc<str>>>, key: &str, id: &str)
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    if let Some(ids) = map.get_mut(key) {
        ids.remove(|x| &**x == id);
        if ids.is_empty() {
            map.remove(key);
        }
    }
}

/// The cached nodes, in the order of the engines they were last brought up
/// to date with, and what goes with them: the container index, and how
/// many healthy nodes have the images placements asked for.
#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    nodes: Arc<Vec<Arc<CachedNode>>>,
    /// Per node, the generation of its engine it was read at.
    generations: Vec<u64>,
    pub(crate) containers: ContainerIndex,
    /// The registry version the nodes were matched with (none before the
    /// first time): while it holds, only engines in the change log are
    /// looked at.
    registry_version: Option<u64>,
    /// Engine serial -> its node's position.
    positions: FxHashMap<u64, usize>,
    images: ImagePresence,
    spread: SpreadOrder,
    pub(crate) stats: NodeCacheStats,
}

/// How the nodes were brought up to date (since the start).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCacheStats {
    /// Nodes read in full.
    pub whole_reads: u64,
    /// Nodes updated with what changed.
    pub delta_reads: u64,
    /// Containers changed in those.
    pub containers_changed: u64,
    /// Updates that had to copy the node list or a node first (a
    /// placement held them).
    pub copies: u64,
}

impl NodeCache {
    /// Brings the nodes up to date with `engines` (rebuilding those whose
    /// engine changed, dropping those of removed engines), in the order of
    /// `engines`. Every engine is looked at: for a registry that changed.
    /// The change log is drained and every mark cleared first, so a change
    /// made meanwhile is either seen here or logged again.
    fn sync(&mut self, engines: &[&Arc<Engine>], changes: &ChangeLog) {
        changes.drain();
        for e in engines {
            e.clear_change_mark();
        }
        let aligned = self.nodes.len() == engines.len()
            && self
                .nodes
                .iter()
                .zip(engines)
                .all(|(n, e)| Arc::ptr_eq(&n.engine, e));
        if aligned {
            for (i, e) in engines.iter().enumerate() {
                if self.generations[i] != e.generation() {
                    self.update(i);
                }
            }
            return;
        }
        // the engines changed: match the nodes by engine
        let mut old: HashMap<*const Engine, (Arc<CachedNode>, u64)> = self
            .nodes
            .iter()
            .zip(&self.generations)
            .map(|(n, g)| (Arc::as_ptr(&n.engine), (n.clone(), *g)))
            .collect();
        let mut nodes = Vec::with_capacity(engines.len());
        let mut generations = Vec::with_capacity(engines.len());
        for &e in engines {
            let prev = old.remove(&Arc::as_ptr(e));
            let (node, generation) = match prev {
                Some((n, g)) if g == e.generation() => (n, g),
                prev => {
                    let Read::Whole(w) = crate::view::read(e, None) else {
                        unreachable!("a read with nothing seen is whole")
                    };
                    self.stats.whole_reads += 1;
                    let generation = w.generation;
                    let fresh = Arc::new(CachedNode::whole(e, w));
                    let prev = prev.map(|(n, _)| n);
                    self.containers.replace(prev.as_deref(), Some(&fresh));
                    (fresh, generation)
                }
            };
            nodes.push(node);
            generations.push(generation);
        }
        for (gone, _) in old.values() {
            self.containers.replace(Some(gone), None);
        }
        self.generations = generations;
        self.positions = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.engine.serial(), i))
            .collect();
        self.images.reset(&nodes);
        self.spread.reset(&nodes);
        self.nodes = Arc::new(nodes);
    }

    /// Brings up to date the nodes of the engines in the change log (the
    /// registry is the one the nodes were matched with).
    fn sync_changed(&mut self, changes: &ChangeLog) {
        for serial in changes.drain() {
            // an engine not among the nodes is newer than them: the
            // registry moved, and the next call matches every engine
            let Some(&i) = self.positions.get(&serial) else {
                continue;
            };
            let engine = &self.nodes[i].engine;
            engine.clear_change_mark();
            if self.generations[i] != engine.generation() {
                self.update(i);
            }
        }
    }

    /// Brings the node at `i` up to date with its engine's cache: with
    /// what changed when the engine can say, else read in full.
    fn update(&mut self, i: usize) {
        let engine = self.nodes[i].engine.clone();
        match crate::view::read(&engine, Some(self.generations[i])) {
            Read::Whole(w) => {
                self.stats.whole_reads += 1;
                self.generations[i] = w.generation;
                let fresh = Arc::new(CachedNode::whole(&engine, w));
                self.containers.replace(Some(&self.nodes[i]), Some(&fresh));
                self.images.replace(&self.nodes[i], &fresh);
                self.spread.replace(i, &fresh);
                if Arc::get_mut(&mut self.nodes).is_none() {
                    self.stats.copies += 1;
                }
                Arc::make_mut(&mut self.nodes)[i] = fresh;
            }
            Read::Changed(delta) => self.apply(i, delta),
        }
    }

    /// Applies what changed in the node at `i`: each container changed
    /// goes into (or out of) the node's index, the container index and the
    /// reservations; the spread order and image presence follow.
    fn apply(&mut self, i: usize, delta: NodeDelta) {
        self.stats.delta_reads += 1;
        self.generations[i] = delta.generation;
        let view = self.nodes[i].view();
        let health = (delta.healthy, delta.health_indicator);
        let health_moved = (view.healthy, view.health_indicator) != health;
        if delta.containers.is_empty() && !health_moved {
            return;
        }
        self.stats.containers_changed += delta.containers.len() as u64;
        if health_moved {
            self.images.leave(&self.nodes[i]);
        }
        let shared =
            Arc::get_mut(&mut self.nodes).is_none_or(|nodes| Arc::get_mut(&mut nodes[i]).is_none());
        if shared {
            self.stats.copies += 1;
        }
        let nodes = Arc::make_mut(&mut self.nodes);
        let node = Arc::make_mut(&mut nodes[i]);
        for (id, now) in delta.containers {
            match now {
                Some(crate::view::ContainerNow { view, reserved }) => {
                    node.reservations.set(&id, reserved);
                    let old = node.node.remove_container(&id);
                    self.containers
                        .change(&node.engine, old.as_ref(), Some(&view));
                    node.node.insert_container(view);
                }
                None => {
                    node.reservations.remove(&id);
                    if let Some(old) = node.node.remove_container(&id) {
                        self.containers.change(&node.engine, Some(&old), None);
                    }
                }
            }
        }
        let (cpus, memory) = node.reservations.totals();
        node.node.set_reserved(cpus, memory);
        node.node.set_health(health.0, health.1);
        self.spread.replace(i, node);
        if health_moved {
            self.images.join(node);
        }
    }

    /// The nodes, in the order of the engines.
    pub(crate) fn list(&self) -> &Arc<Vec<Arc<CachedNode>>> {
        &self.nodes
    }

    /// The node `spread` would choose for a container asking for no CPU
    /// and no memory, if the filters accept it, with `in_flight` (position,
    /// containers in flight there) counted (see [`SpreadOrder`]).
    pub(crate) fn spread_first(&self, in_flight: &[(usize, usize)]) -> Option<usize> {
        self.spread.first(in_flight)
    }

    /// How many nodes are healthy, and how many of those have `wanted`.
    pub(crate) fn image_presence(&mut self, wanted: &WantedImage) -> (usize, usize) {
        self.images.count(wanted, &self.nodes)
    }
}

/// How many cached nodes are healthy, and per image asked for lately how
/// many of those have it: kept as nodes are rebuilt, so that a placement
/// learns whether to prefer some nodes without asking each node.
#[derive(Debug, Default)]
struct ImagePresence {
    healthy: usize,
    /// Image as asked for -> (it, healthy nodes that have it).
    with: HashMap<String, (WantedImage, usize)>,
}

/// Images whose presence is kept (each costs a probe of the image set of
/// every rebuilt node).
const IMAGES_KEPT: usize = 16;

impl ImagePresence {
    fn reset(&mut self, nodes: &[Arc<CachedNode>]) {
        self.healthy = nodes.iter().filter(|n| n.view().healthy).count();
        self.with.clear();
    }

    fn replace(&mut self, old: &CachedNode, new: &CachedNode) {
        self.leave(old);
        self.join(new);
    }

    /// Takes `node` out of the counts (before it changes).
    fn leave(&mut self, node: &CachedNode) {
        if !node.view().healthy {
            return;
        }
        self.healthy -= 1;
        for (wanted, count) in self.with.values_mut() {
            *count -= usize::from(node.has_image(wanted));
        }
    }

    /// Counts `node` in (after it changed).
    fn join(&mut self, node: &CachedNode) {
        if !node.view().healthy {
            return;
        }
        self.healthy += 1;
        for (wanted, count) in self.with.values_mut() {
            *count += usize::from(node.has_image(wanted));
        }
    }

    fn count(&mut self, wanted: &WantedImage, nodes: &[Arc<CachedNode>]) -> (usize, usize) {
        if let Some((_, count)) = self.with.get(wanted.raw()) {
            return (self.healthy, *count);
        }
        let count = nodes
            .iter()
            .filter(|n| n.view().healthy && n.has_image(wanted))
            .count();
        if self.with.len() >= IMAGES_KEPT {
            self.with.clear();
        }
        self.with
            .insert(wanted.raw().to_string(), (wanted.clone(), count));
        (self.healthy, count)
    }
}

impl Cluster {
    /// The node cache, locked, with every engine's node up to date with
    /// its cache, in the order of [`Cluster::engines`]
    /// ([`NodeCache::list`]), and the container index current with them.
    /// Hold the node list past the lock only when needed (a pass over every
    /// node): a node changed meanwhile is copied before it is updated.
    ///
    /// While the registry is the one the nodes were matched with, only the
    /// engines that logged a change are looked at; else every engine is
    /// (lock order: registry, then node cache).
    pub(crate) fn nodes(&self) -> MutexGuard<'_, NodeCache> {
        {
            let mut cache = self.node_cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.registry_version == Some(self.registry_version()) {
                cache.sync_changed(self.changes());
                return cache;
            }
        }
        // the registry is read in place: no reference count of every engine
        // touched per call
        let registry = self.registry();
        let version = self.registry_version();
        let engines: Vec<&Arc<Engine>> = registry.values().collect();
        let mut cache = self.node_cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.sync(&engines, self.changes());
        cache.registry_version = Some(version);
        cache
    }

    /// How the nodes were brought up to date so far.
    pub fn node_cache_stats(&self) -> NodeCacheStats {
        self.node_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_api_types::ImageSummary;

    /// The image set answers as `ImageSummary::matches` does, name by name.
    #[test]
    fn image_sets_answer_like_image_matches() {
        let images = vec![
            ImageSummary {
                id: "sha256:abcdef0123456789".into(),
                repo_tags: vec!["busybox:latest".into(), "localhost:5000/x:1".into()],
                repo_digests: vec!["busybox@sha256:feedbeef".into()],
                ..Default::default()
            },
            ImageSummary {
                id: "sha256:9999aaaa".into(),
                repo_tags: vec!["docker.io/library/redis:6".into()],
                ..Default::default()
            },
        ];
        let set = ImageSet::new(&images);
        let names = [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:1",
            "localhost:5000/x:1",
            "localhost:5000/x",
            "busybox@sha256:feedbeef",
            "busybox@sha256:other",
            "abcd",
            "abc",
            "sha256:abcdef",
            "9999",
            "redis:6",
            "redis",
            "nginx",
            "",
        ];
        for name in names {
            let expected = images.iter().any(|i| i.matches(name));
            assert_eq!(set.has(&WantedImage::new(name)), expected, "{name:?}");
        }
    }
}

#[cfg(test)]
mod few_tests {
    use super::Few;

    #[test]
    fn holds_one_inline_and_several_in_a_vec() {
        let mut few = Few::default();
        assert!(few.is_empty());
        few.push(1);
        assert!(matches!(few, Few::One(1)));
        few.push(2);
        few.push(3);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
        few.remove(|&v| v == 1);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), vec![3, 2]);
        few.remove(|&v| v == 9);
        few.remove(|&v| v == 3);
        few.remove(|&v| v == 2);
        assert!(few.is_empty());
        few.push(4);
        few.remove(|&v| v == 5);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), vec![4]);
        few.remove(|&v| v == 4);
        assert!(few.is_empty());
    }
}
