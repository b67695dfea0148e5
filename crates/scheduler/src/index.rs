//! An opt-in index of one node, for the filters that otherwise walk every
//! container and image of every node (`affinity`, `port`).
//!
//! Without it, a label anti-affinity such as
//! `com.docker.compose.service!=web` reads a label of every container in the
//! cluster: three dependent memory loads per container, about 1 ms per
//! thousand nodes of thirty containers. With it, that is one hash lookup per
//! node. Build an [`IndexedNode`] when a node changes (not per placement) and
//! keep it with the node; pass the indexed nodes to
//! [`Scheduler::select`](crate::Scheduler::select) as you would plain views.
//! Placements are the same either way (a property test holds them equal).
//!
//! The hash sets use FxHash (`rustc-hash`): several times faster than the
//! standard SipHash on short keys, and the keys are a node's own labels and
//! names, not input chosen to collide.
//!
//! Containers appended after indexing, or laid over the node by an
//! [`Overlay`] (in-flight ones), are fine: the filters look at those one by
//! one.
//!
//! A placement that must not change the nodes it looks at (the manager's
//! cached nodes, shared between requests) passes [`Overlaid`] nodes: each
//! borrows its node and adds what is in flight there (containers,
//! reservations) and whether the node is left out this time.

use std::hash::Hasher;
use std::rc::Rc;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::expr::Expr;
use crate::filter::affinity::{bare_id, container_names, image_names};
use crate::hashing::{hash_pair, hash_str};
use crate::node::{
    count_prefixed, find_in, is_exactly, on_node, short_id, ContainerView, NodeView, PortBinding,
    MIN_ID_PREFIX,
};
use crate::node_labels::NodeLabels;
use crate::str_table::StrTable;

/// Precomputed lookups over a node's containers and images.
///
/// Laid out in the order written (`repr(C)`): what every placement reads
/// of every node first, so that it shares cache lines, then the lookups of
/// the compiled filters, then what only some requests need.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub struct NodeIndex {
    /// How many of the node's containers (from the first) it covers.
    covered: usize,
    /// The node's `containerslots` label as a number (none when missing or
    /// not a number): read per placement, a label lookup on every node.
    slots: Option<i64>,
    /// [`hash_str`] of the node's name and of its ID.
    name_hash: u64,
    id_hash: u64,
    /// The node's own labels, inline (none when they do not fit).
    node_labels: Option<NodeLabels>,
    /// Every distinct label pair (`key`, `value`) of the covered
    /// containers, by [`hash_pair`] (none when too large to lay out).
    label_pairs: Option<StrTable>,
    /// Every distinct string an image offers to `image==`, by [`hash_str`].
    image_set: Option<StrTable>,
    /// Every distinct string a covered container offers to `container==`
    /// (name, ID, short ID), by [`hash_str`].
    name_set: Option<StrTable>,
    /// Every host port binding of the covered containers.
    bindings: Vec<PortBinding>,
    /// Per container with a name: the name (no `/`), the ID, the short ID.
    container_names: FxHashSet<Box<str>>,
    /// Per container label key: the values seen, and how many carry it.
    labels: FxHashMap<Box<str>, LabelValues>,
    /// Per image: the ID, the ID without `sha256:`, every `repo:tag`, every
    /// repository.
    image_names: FxHashSet<Box<str>>,
    /// Image IDs without `sha256:`, for prefix matches.
    image_ids: Vec<Box<str>>,
    /// Exposed ports of the covered host-networked containers.
    host_exposed: Vec<Box<str>>,
    /// Per container, the hash of each key it answers to exactly (ID,
    /// short ID, Swarm ID, short Swarm ID, every name as listed) with the
    /// container's position, sorted: a lookup hashes the query and checks
    /// the few containers found (no strings kept twice).
    exact: Vec<(u64, u32)>,
    /// Per container, its position with whether the key is its Swarm ID
    /// (else its ID), sorted by that key: for prefix lookups.
    prefixes: Vec<(u32, bool)>,
}

/// The hash an exact key is filed under.
fn key_hash(key: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(key.as_bytes());
    h.finish()
}

/// The key of a `prefixes` entry.
fn prefix_key(containers: &[ContainerView], (position, swarm): (u32, bool)) -> &str {
    let c = &containers[position as usize];
    if swarm {
        c.swarm_id()
    } else {
        &c.id
    }
}

#[derive(Debug, Clone, Default)]
struct LabelValues {
    values: FxHashSet<Box<str>>,
    carriers: usize,
}

impl NodeIndex {
    /// Indexes the containers and images of `node`.
    pub fn new(node: &NodeView) -> Self {
        let mut index = NodeIndex {
            covered: node.containers.len(),
            slots: crate::filter::containerslots::slots_of(node),
            ..Default::default()
        };
        for container in &node.containers {
            index
                .container_names
                .extend(container_names(container).map(Box::from));
            for (key, value) in &container.labels {
                let entry = index.labels.entry(key.as_str().into()).or_default();
                entry.values.insert(value.as_str().into());
                entry.carriers += 1;
            }
            for binding in &container.port_bindings {
                if !index.bindings.contains(binding) {
                    index.bindings.push(binding.clone());
                }
            }
            if container.host_network {
                index
                    .host_exposed
                    .extend(container.exposed_ports.iter().map(|p| p.as_str().into()));
            }
        }
        for (position, container) in node.containers.iter().enumerate() {
            let position = position as u32;
            let swarm_id = Some(container.swarm_id()).filter(|s| !s.is_empty());
            for (id, swarm) in [(Some(container.id.as_str()), false), (swarm_id, true)] {
                let Some(id) = id else { continue };
                index.exact.push((key_hash(id), position));
                if let Some(short) = short_id(id) {
                    index.exact.push((key_hash(short), position));
                }
                index.prefixes.push((position, swarm));
            }
            for name in &container.names {
                index.exact.push((key_hash(name), position));
            }
        }
        index.exact.sort_unstable();
        index.exact.dedup();
        let containers = &node.containers;
        index
            .prefixes
            .sort_unstable_by(|a, b| prefix_key(containers, *a).cmp(prefix_key(containers, *b)));
        for image in &node.images {
            index.image_names.extend(image_names(image).map(Box::from));
            index.image_ids.push(bare_id(image).into());
        }
        index.compact(node);
        index
    }

    /// Builds the hashed lookups of the compiled filters.
    fn compact(&mut self, node: &NodeView) {
        let mut pairs: FxHashSet<(&str, &str)> = FxHashSet::default();
        let mut names: FxHashSet<&str> = FxHashSet::default();
        for container in &node.containers {
            pairs.extend(
                container
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            names.extend(container_names(container));
        }
        let images: FxHashSet<&str> = node.images.iter().flat_map(image_names).collect();
        let pairs: Vec<(u64, &str, Option<&str>)> = pairs
            .into_iter()
            .map(|(k, v)| (hash_pair(k, v), k, Some(v)))
            .collect();
        let strings = |set: FxHashSet<&str>| {
            let items: Vec<(u64, &str, Option<&str>)> =
                set.into_iter().map(|s| (hash_str(s), s, None)).collect();
            StrTable::new(&items)
        };
        self.label_pairs = StrTable::new(&pairs);
        self.name_set = strings(names);
        self.image_set = strings(images);
        self.node_labels =
            NodeLabels::new(node.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.name_hash = hash_str(&node.name);
        self.id_hash = hash_str(&node.id);
    }

    /// Whether a covered container carries the label `key=value`, whose
    /// [`hash_pair`] is `hash`; `None` when the index cannot tell.
    pub(crate) fn has_label_pair(&self, key: &str, value: &str, hash: u64) -> Option<bool> {
        Some(self.label_pairs.as_ref()?.contains(hash, key, Some(value)))
    }

    /// Whether a covered container offers `value` (whose [`hash_str`] is
    /// `hash`) to `container==`; `None` when the index cannot tell.
    pub(crate) fn has_container_name(&self, value: &str, hash: u64) -> Option<bool> {
        Some(self.name_set.as_ref()?.contains(hash, value, None))
    }

    /// Whether an image offers `value` (whose [`hash_str`] is `hash`) to
    /// `image==` by name (ID prefixes aside); `None` when the index cannot
    /// tell.
    pub(crate) fn has_image_name(&self, value: &str, hash: u64) -> Option<bool> {
        Some(self.image_set.as_ref()?.contains(hash, value, None))
    }

    /// Every string starting with `prefix` that a covered container offers
    /// to `container==`, when the index has them laid out.
    pub(crate) fn container_names_with_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> Option<impl Iterator<Item = &'a [u8]> + 'a> {
        Some(self.name_set.as_ref()?.with_prefix(prefix))
    }

    /// The node's own labels, inline.
    #[inline]
    pub(crate) fn node_labels(&self) -> Option<&NodeLabels> {
        self.node_labels.as_ref()
    }

    /// [`hash_str`] of the node's name and of its ID.
    #[inline]
    pub(crate) fn identity_hashes(&self) -> (u64, u64) {
        (self.name_hash, self.id_hash)
    }

    /// How many of the node's containers the index covers.
    #[inline]
    pub fn covered(&self) -> usize {
        self.covered
    }

    /// Whether a covered container matches `expr` as a `container` affinity.
    pub(crate) fn any_container(&self, expr: &Expr) -> bool {
        match expr.plain_value() {
            Some(value) => self.container_names.contains(value),
            None => self
                .container_names
                .iter()
                .any(|name| expr.pattern_matches(name)),
        }
    }

    /// Whether an image matches `expr` as an `image` affinity.
    pub(crate) fn any_image(&self, expr: &Expr) -> bool {
        match expr.plain_value() {
            Some(value) => {
                self.image_names.contains(value)
                    || (is_id_prefix(value)
                        && self.image_ids.iter().any(|id| id.starts_with(value)))
            }
            None => self
                .image_names
                .iter()
                .any(|name| expr.pattern_matches(name)),
        }
    }

    /// Whether a covered container's label matches `expr` as a label
    /// affinity; `None` when the index cannot tell (a key written with
    /// upper-case letters, looked up two ways).
    pub(crate) fn any_label(&self, expr: &Expr) -> Option<bool> {
        if expr.has_written_key() {
            return None;
        }
        let entry = self.labels.get(expr.key());
        let carriers = entry.map_or(0, |e| e.carriers);
        let some_lack = carriers < self.covered;
        let matched = match (expr.plain_value(), entry) {
            (Some(value), Some(entry)) => entry.values.contains(value),
            (Some(_), None) => false,
            (None, entry) => {
                entry.is_some_and(|e| e.values.iter().any(|v| expr.pattern_matches(v)))
                    || (some_lack && expr.pattern_matches(""))
            }
        };
        Some(matched)
    }

    /// Whether a covered container answers to `id_or_name` exactly, on the
    /// node named `node_name` with ID `node_id` (see
    /// [`NodeView::find_container`]).
    /// `node` is the node indexed (its covered containers are looked at).
    pub(crate) fn has_exactly(&self, node: &NodeView, id_or_name: &str) -> bool {
        let (name, id) = (node.name.as_str(), node.id.as_str());
        let slashed = format!("/{id_or_name}");
        // every key a container answering to the query exactly is filed under
        let keys = [
            Some(id_or_name),
            Some(slashed.as_str()),
            on_node(name, id_or_name),
            on_node(id, id_or_name),
        ];
        let found = keys.into_iter().flatten().any(|key| {
            let hash = key_hash(key);
            let start = self.exact.partition_point(|&(h, _)| h < hash);
            self.exact[start..]
                .iter()
                .take_while(|&&(h, _)| h == hash)
                .any(|&(_, position)| {
                    is_exactly(&node.containers[position as usize], name, id, id_or_name)
                })
        });
        found
    }

    /// How many IDs and Swarm IDs of the covered containers start with
    /// `prefix`, up to `limit`; `node` is the node indexed.
    pub(crate) fn count_prefixed(&self, node: &NodeView, prefix: &str, limit: usize) -> usize {
        let key = |entry: &(u32, bool)| prefix_key(&node.containers, *entry);
        let start = self.prefixes.partition_point(|e| key(e) < prefix);
        self.prefixes[start..]
            .iter()
            .take(limit)
            .take_while(|e| key(e).starts_with(prefix))
            .count()
    }

    /// The host port bindings of the covered containers.
    pub(crate) fn bindings(&self) -> &[PortBinding] {
        &self.bindings
    }

    /// The exposed ports of the covered host-networked containers.
    pub(crate) fn host_exposed(&self) -> impl Iterator<Item = &str> {
        self.host_exposed.iter().map(|p| &**p)
    }
}

/// A plain hexadecimal value of 3 or more characters also matches image IDs
/// by prefix.
pub(crate) fn is_id_prefix(value: &str) -> bool {
    value.len() >= 3 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A node with its index. Build it when the node changes; the per-placement
/// changes (in-flight containers, reservations, health) go through its
/// methods, which keep the index true.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct IndexedNode {
    /// First, then the index (`repr(C)`): the fields of both that every
    /// placement reads end up on neighbouring cache lines.
    view: NodeView,
    index: NodeIndex,
}

impl IndexedNode {
    /// Indexes `view`.
    pub fn new(view: NodeView) -> Self {
        let index = NodeIndex::new(&view);
        IndexedNode { view, index }
    }

    /// The node.
    pub fn view(&self) -> &NodeView {
        &self.view
    }

    /// The index.
    pub fn index(&self) -> &NodeIndex {
        &self.index
    }

    /// Adds a container (one being created): the filters look at it one by
    /// one until the node is indexed again.
    pub fn add_container(&mut self, container: ContainerView) {
        self.view.containers.push(container);
    }

    /// Sets the reservations.
    pub fn set_reserved(&mut self, cpus: i64, memory: i64) {
        self.view.reserved_cpus = cpus;
        self.view.reserved_memory = memory;
    }

    /// Sets the health.
    pub fn set_health(&mut self, healthy: bool, health_indicator: i64) {
        self.view.healthy = healthy;
        self.view.health_indicator = health_indicator;
    }

    /// Indexes the node again (after many [`IndexedNode::add_container`]).
    pub fn reindex(&mut self) {
        self.index = NodeIndex::new(&self.view);
    }

    /// The node, without its index.
    pub fn into_view(self) -> NodeView {
        self.view
    }
}

impl From<NodeView> for IndexedNode {
    fn from(view: NodeView) -> Self {
        IndexedNode::new(view)
    }
}

/// What is laid over a node for one placement without changing it: the
/// containers in flight there (being created, not yet in the node's view)
/// and their reservations, and whether the node is left out this time (an
/// engine that just failed a create). Filters and strategies see the node
/// as if the containers were on it and the reservations added.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overlay<'a> {
    /// Containers in flight on the node.
    pub containers: &'a [ContainerView],
    /// CPUs they reserve.
    pub cpus: i64,
    /// Memory they reserve, in bytes.
    pub memory: i64,
    /// Left out: seen as unhealthy, with a health indicator of 0.
    pub unavailable: bool,
}

/// A node (any [`NodeSource`]) with an [`Overlay`].
#[derive(Debug, Clone, Copy)]
pub struct Overlaid<'a, N: ?Sized> {
    /// The node.
    pub node: &'a N,
    /// What is laid over it.
    pub overlay: Overlay<'a>,
}

impl<'a, N: NodeSource + ?Sized> Overlaid<'a, N> {
    /// `node` with `overlay`.
    pub fn new(node: &'a N, overlay: Overlay<'a>) -> Self {
        Overlaid { node, overlay }
    }
}

/// Something the scheduler can place on: a [`NodeView`], an
/// [`IndexedNode`], an [`Overlaid`] node, or a reference, `Box`, `Rc` or
/// `Arc` of one.
pub trait NodeSource {
    /// The node.
    fn view(&self) -> &NodeView;

    /// Its index, if it has one.
    fn index(&self) -> Option<&NodeIndex> {
        None
    }

    /// What is laid over it (nothing by default).
    fn overlay(&self) -> Overlay<'_> {
        Overlay::default()
    }
}

impl NodeSource for NodeView {
    fn view(&self) -> &NodeView {
        self
    }
}

impl NodeSource for IndexedNode {
    fn view(&self) -> &NodeView {
        &self.view
    }

    fn index(&self) -> Option<&NodeIndex> {
        Some(&self.index)
    }
}

impl<N: NodeSource + ?Sized> NodeSource for Overlaid<'_, N> {
    fn view(&self) -> &NodeView {
        self.node.view()
    }

    fn index(&self) -> Option<&NodeIndex> {
        self.node.index()
    }

    fn overlay(&self) -> Overlay<'_> {
        self.overlay
    }
}

macro_rules! forward_node_source {
    ($($wrapper:ty),*) => {$(
        impl<T: NodeSource + ?Sized> NodeSource for $wrapper {
            fn view(&self) -> &NodeView {
                (**self).view()
            }

            fn index(&self) -> Option<&NodeIndex> {
                (**self).index()
            }

            fn overlay(&self) -> Overlay<'_> {
                (**self).overlay()
            }
        }
    )*};
}

forward_node_source!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

/// What a filter looks at: the node, its index when there is one, and what
/// is laid over it. Read the node's containers, reservations and health
/// through its methods, which count the overlay in.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    view: &'a NodeView,
    index: Option<&'a NodeIndex>,
    overlay: Overlay<'a>,
}

impl<'a> From<&'a NodeView> for NodeRef<'a> {
    fn from(view: &'a NodeView) -> Self {
        NodeRef::new(view)
    }
}

impl<'a> NodeRef<'a> {
    /// A node without index.
    pub fn new(view: &'a NodeView) -> Self {
        NodeRef {
            view,
            index: None,
            overlay: Overlay::default(),
        }
    }

    /// The node of `source`, with its index and overlay if any.
    #[inline]
    pub fn of<S: NodeSource + ?Sized>(source: &'a S) -> Self {
        NodeRef {
            view: source.view(),
            index: source.index(),
            overlay: source.overlay(),
        }
    }

    /// The node as viewed, without the overlay: its identity and labels,
    /// images and totals.
    #[inline]
    pub fn view(&self) -> &'a NodeView {
        self.view
    }

    /// What is laid over the node.
    pub fn overlay(&self) -> Overlay<'a> {
        self.overlay
    }

    /// The index whether or not it still covers the node's containers: for
    /// what does not change after indexing (the node's labels, name, ID and
    /// images).
    #[inline]
    pub(crate) fn raw_index(&self) -> Option<&'a NodeIndex> {
        self.index
    }

    /// The index, when there is one that is still usable (the node has at
    /// least the containers it covered).
    #[inline]
    pub fn index(&self) -> Option<&'a NodeIndex> {
        self.index
            .filter(|index| index.covered() <= self.view.containers.len())
    }

    /// The node's `containerslots` cap, if any (from the index when there
    /// is one: labels do not change after indexing).
    #[inline]
    pub fn container_slots(&self) -> Option<i64> {
        match self.index {
            Some(index) => index.slots,
            None => crate::filter::containerslots::slots_of(self.view),
        }
    }

    /// Healthy, and not left out.
    #[inline]
    pub fn healthy(&self) -> bool {
        self.view.healthy && !self.overlay.unavailable
    }

    /// The health indicator (0 when left out).
    #[inline]
    pub fn health_indicator(&self) -> i64 {
        if self.overlay.unavailable {
            0
        } else {
            self.view.health_indicator
        }
    }

    /// CPUs reserved, in-flight containers included.
    #[inline]
    pub fn reserved_cpus(&self) -> i64 {
        self.view.reserved_cpus.saturating_add(self.overlay.cpus)
    }

    /// Memory reserved, in-flight containers included.
    #[inline]
    pub fn reserved_memory(&self) -> i64 {
        self.view
            .reserved_memory
            .saturating_add(self.overlay.memory)
    }

    /// How many containers the node has, in-flight ones included.
    #[inline]
    pub fn container_count(&self) -> usize {
        self.view.containers.len() + self.overlay.containers.len()
    }

    /// Every container, in-flight ones last.
    pub fn containers(&self) -> impl Iterator<Item = &'a ContainerView> + Clone {
        self.view.containers.iter().chain(self.overlay.containers)
    }

    /// The containers the index does not cover (all of them without index),
    /// in-flight ones included.
    pub fn unindexed_containers(&self) -> impl Iterator<Item = &'a ContainerView> + Clone {
        let covered = self.index().map_or(0, NodeIndex::covered);
        self.view.containers[covered..]
            .iter()
            .chain(self.overlay.containers)
    }

    /// [`NodeView::find_container`], in-flight containers included.
    pub fn find_container(&self, id_or_name: &str) -> Option<&'a ContainerView> {
        find_in(
            &self.view.name,
            &self.view.id,
            self.containers(),
            id_or_name,
        )
    }

    /// Whether [`NodeRef::find_container`] finds something, through the
    /// index when there is one.
    pub fn has_container(&self, id_or_name: &str) -> bool {
        let Some(index) = self.index() else {
            return self.find_container(id_or_name).is_some();
        };
        if id_or_name.is_empty() {
            return false;
        }
        let (name, id) = (self.view.name.as_str(), self.view.id.as_str());
        if index.has_exactly(self.view, id_or_name)
            || self
                .unindexed_containers()
                .any(|c| is_exactly(c, name, id, id_or_name))
        {
            return true;
        }
        if id_or_name.len() < MIN_ID_PREFIX {
            return false;
        }
        let indexed = index.count_prefixed(self.view, id_or_name, 2);
        indexed + count_prefixed(self.unindexed_containers(), id_or_name, 2 - indexed) == 1
    }
}
