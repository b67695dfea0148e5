//! An opt-in index of one node, for the filters that otherwise walk every
//! container and image of every node (`affinity`, `port`, `dependency`).
//!
//! Without it, a label anti-affinity such as
//! `com.docker.compose.service!=web` reads a label of every container in the
//! cluster: three dependent memory loads per container, about 1 ms per
//! thousand nodes of thirty containers. With it, that is one hash lookup per
//! node. Build an [`IndexedNode`] when a node is first seen and keep it with
//! the node, changing it one container at a time
//! ([`IndexedNode::insert_container`], [`IndexedNode::remove_container`],
//! [`IndexedNode::replace_container`]: the cost of that one container);
//! pass the indexed nodes to [`Scheduler::select`](crate::Scheduler::select)
//! as you would plain views. Placements are the same either way (a property
//! test holds them equal).
//!
//! Containers appended without indexing ([`IndexedNode::add_container`]),
//! or laid over the node by an [`Overlay`] (in-flight ones), are fine: the
//! filters look at those one by one.
//!
//! A placement that must not change the nodes it looks at (the manager's
//! cached nodes, shared between requests) passes [`Overlaid`] nodes: each
//! borrows its node and adds what is in flight there (containers,
//! reservations) and whether the node is left out this time.

use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use crate::container_keys::{exact_key, keys_of, ContainerKeys};
use crate::expr::Expr;
use crate::filter::affinity::{bare_id, container_names, image_names};
use crate::hashing::{hash_bytes, hash_pair, hash_str};
use crate::interner::Interner;
use crate::node::{
    count_prefixed, find_in, is_exactly, on_node, ContainerView, ImageView, NodeView, PortBinding,
    MIN_ID_PREFIX, SHORT_ID_LEN,
};
use crate::node_labels::NodeLabels;
use crate::str_table::{split_pair, StrTable};

/// Precomputed lookups over a node's containers and images.
///
/// Laid out in the order written (`repr(C)`): what every placement reads
/// of every node first, so that it shares cache lines, then the lookups of
/// the compiled filters, then what only some requests need.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub struct NodeIndex {
    /// The node's `containerslots` label as a number (none when missing or
    /// not a number): read per placement, a label lookup on every node.
    slots: Option<i64>,
    /// How many of the node's containers (from the first) it covers.
    covered: usize,
    /// [`hash_str`] of the node's name and of its ID.
    name_hash: u64,
    id_hash: u64,
    /// One bit per host port and protocol bound ([`port_bit`]): most nodes
    /// answer the port filter without reading `bindings`.
    port_bits: u64,
    /// The node's own labels, laid out (none when they do not fit), shared
    /// with the nodes that have the same.
    node_labels: Option<Arc<NodeLabels>>,
    /// Every label pair (`key`, `value`) of the covered containers, by
    /// [`hash_pair`], with how many carry it (none when too large to lay
    /// out).
    label_pairs: Option<StrTable>,
    /// Every string an image offers to `image==`, by [`hash_str`], shared
    /// with the nodes that have the same images.
    image_set: Option<Arc<ImageNames>>,
    /// Every string a covered container offers to `container==` (name, ID,
    /// short ID), by [`hash_str`].
    name_set: Option<StrTable>,
    /// Every host port binding of the covered containers (one per container
    /// binding it).
    bindings: Vec<PortBinding>,
    /// Exposed ports of the covered host-networked containers.
    host_exposed: Vec<Arc<str>>,
    /// Where the covered containers are by the keys they answer to
    /// exactly.
    keys: ContainerKeys,
    /// The IDs and Swarm IDs of the covered containers in order, each as
    /// its container's position and whether it is the Swarm ID: for prefix
    /// searches, sorted on the first one after a change.
    id_order: OnceLock<Box<[(u32, bool)]>>,
}

impl NodeIndex {
    /// Indexes the containers and images of `node`.
    pub fn new(node: &NodeView) -> Self {
        let keys: usize = node.containers.iter().map(|c| keys_of(c).count()).sum();
        let mut index = NodeIndex {
            slots: crate::filter::containerslots::slots_of(node),
            label_pairs: Some(StrTable::default()),
            name_set: Some(StrTable::default()),
            keys: ContainerKeys::with_capacity(keys),
            ..Default::default()
        };
        for position in 0..node.containers.len() {
            index.cover(&node.containers, position);
        }
        for table in [&mut index.label_pairs, &mut index.name_set]
            .into_iter()
            .flatten()
        {
            table.fit();
        }
        index.bindings.shrink_to_fit();
        index.image_set = ImageNames::shared(&node.images);
        index.node_labels =
            NodeLabels::shared(node.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        index.name_hash = hash_str(&node.name);
        index.id_hash = hash_str(&node.id);
        index
    }

    /// Indexes `containers[position]`, the first one not covered yet.
    fn cover(&mut self, containers: &[ContainerView], position: usize) {
        debug_assert_eq!(position, self.covered);
        self.learn(&containers[position], position);
        self.covered += 1;
    }

    /// Takes the covered `containers[position]` out of the index; the last
    /// covered container then moves to `position` (`swap_remove`).
    fn uncover(&mut self, containers: &[ContainerView], position: usize) {
        self.forget(&containers[position], position);
        let last = self.covered - 1;
        if position != last {
            for key in keys_of(&containers[last]) {
                self.keys.repoint(key, last as u32, position as u32);
            }
            self.id_order = OnceLock::new();
        }
        self.covered -= 1;
    }

    /// Files `container`, at `position` in the node's list.
    fn learn(&mut self, container: &ContainerView, position: usize) {
        if let Some(table) = &mut self.label_pairs {
            let fits = container
                .labels
                .iter()
                .try_for_each(|(k, v)| table.insert(hash_pair(k, v), k, Some(v)));
            if fits.is_err() {
                self.label_pairs = None;
            }
        }
        if let Some(table) = &mut self.name_set {
            let fits = container_names(container)
                .try_for_each(|name| table.insert(hash_str(name), name, None));
            if fits.is_err() {
                self.name_set = None;
            }
        }
        for binding in &container.port_bindings {
            self.port_bits |= port_bit(binding.host_port, binding.protocol());
            self.bindings.push(binding.clone());
        }
        if container.host_network {
            self.host_exposed
                .extend(container.exposed_ports.iter().cloned());
        }
        for key in keys_of(container) {
            self.keys.insert(key, position as u32);
        }
        self.id_order = OnceLock::new();
    }

    /// Takes out what [`NodeIndex::learn`] filed of `container`.
    fn forget(&mut self, container: &ContainerView, position: usize) {
        if let Some(table) = &mut self.label_pairs {
            for (k, v) in container.labels.iter() {
                table.remove(hash_pair(k, v), k, Some(v));
            }
        }
        if let Some(table) = &mut self.name_set {
            for name in container_names(container) {
                table.remove(hash_str(name), name, None);
            }
        }
        if !container.port_bindings.is_empty() {
            for binding in &container.port_bindings {
                if let Some(at) = self.bindings.iter().position(|b| b == binding) {
                    self.bindings.swap_remove(at);
                }
            }
            self.port_bits = self
                .bindings
                .iter()
                .fold(0, |bits, b| bits | port_bit(b.host_port, b.protocol()));
        }
        if container.host_network {
            for port in &container.exposed_ports {
                if let Some(at) = self.host_exposed.iter().position(|p| **p == **port) {
                    self.host_exposed.swap_remove(at);
                }
            }
        }
        for key in keys_of(container) {
            self.keys.remove(key, position as u32);
        }
        self.id_order = OnceLock::new();
    }

    /// Where the covered container whose ID is `id` is.
    fn position_of(&self, containers: &[ContainerView], id: &str) -> Option<usize> {
        self.keys
            .positions(exact_key(id))
            .map(|p| p as usize)
            .find(|&p| p < self.covered && &*containers[p].id == id)
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
        Some(self.image_set.as_ref()?.table.contains(hash, value, None))
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
        self.node_labels.as_deref()
    }

    /// The shared names of the node's images, when laid out.
    #[inline]
    pub(crate) fn image_names(&self) -> Option<&ImageNames> {
        self.image_set.as_deref()
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

    /// Whether a covered container matches `expr` as a `container`
    /// affinity; `None` when the index cannot tell.
    pub(crate) fn any_container(&self, expr: &Expr) -> Option<bool> {
        let names = self.name_set.as_ref()?;
        Some(match expr.plain_value() {
            Some(value) => names.contains(hash_str(value), value, None),
            None => names.iter().any(|(name, _)| matches_bytes(expr, name)),
        })
    }

    /// Whether an image of `node` (the node indexed) matches `expr` as an
    /// `image` affinity; `None` when the index cannot tell.
    pub(crate) fn any_image(&self, node: &NodeView, expr: &Expr) -> Option<bool> {
        let images = &self.image_set.as_ref()?.table;
        Some(match expr.plain_value() {
            Some(value) => {
                images.contains(hash_str(value), value, None)
                    || (is_id_prefix(value)
                        && node.images.iter().any(|i| bare_id(i).starts_with(value)))
            }
            None => images.iter().any(|(name, _)| matches_bytes(expr, name)),
        })
    }

    /// Whether a covered container's label matches `expr` as a label
    /// affinity; `None` when the index cannot tell (a key written with
    /// upper-case letters, looked up two ways).
    pub(crate) fn any_label(&self, expr: &Expr) -> Option<bool> {
        if expr.has_written_key() {
            return None;
        }
        let pairs = self.label_pairs.as_ref()?;
        if let Some(value) = expr.plain_value() {
            return Some(pairs.contains(hash_pair(expr.key(), value), expr.key(), Some(value)));
        }
        let key = expr.key().as_bytes();
        // a container carries a key once: the counts of its pairs add up to
        // the containers carrying it
        let mut carriers = 0usize;
        for (pair, count) in pairs.iter() {
            let (k, v) = split_pair(pair);
            if k == key {
                if matches_bytes(expr, v) {
                    return Some(true);
                }
                carriers += count as usize;
            }
        }
        Some(carriers < self.covered && expr.pattern_matches(""))
    }

    /// Whether a covered container answers to `id_or_name` exactly (see
    /// [`NodeView::find_container`]); `node` is the node indexed.
    pub(crate) fn has_exactly(&self, node: &NodeView, id_or_name: &str) -> bool {
        let (name, id) = (node.name.as_str(), node.id.as_str());
        // every key a container answering to the query exactly is filed
        // under: the query, `/` and the query (hashed without allocating
        // for a query of usual length), a name on this node
        let mut slashed = [0u8; 128];
        let slashed_key = match slashed.get_mut(..id_or_name.len() + 1) {
            Some(bytes) => {
                bytes[0] = b'/';
                bytes[1..].copy_from_slice(id_or_name.as_bytes());
                hash_bytes(bytes) as u32
            }
            None => exact_key(&format!("/{id_or_name}")),
        };
        let keys = [
            Some(exact_key(id_or_name)),
            Some(slashed_key),
            on_node(name, id_or_name).map(exact_key),
            on_node(id, id_or_name).map(exact_key),
        ];
        let found = keys.into_iter().flatten().any(|key| {
            self.keys.positions(key).any(|position| {
                let position = position as usize;
                position < self.covered
                    && is_exactly(&node.containers[position], name, id, id_or_name)
            })
        });
        // a short ID or short Swarm ID: an ID longer than the query that
        // starts with it (short IDs are not filed: synthetic IDs often share
        // their first 12 characters, which would make long runs of one key)
        found
            || (id_or_name.len() == SHORT_ID_LEN
                && self
                    .ids_starting(node, id_or_name)
                    .any(|id| id.len() > SHORT_ID_LEN))
    }

    /// How many IDs and Swarm IDs of the covered containers start with
    /// `prefix` (of at least [`MIN_ID_PREFIX`] bytes), up to `limit`;
    /// `node` is the node indexed.
    pub(crate) fn count_prefixed(&self, node: &NodeView, prefix: &str, limit: usize) -> usize {
        debug_assert!(prefix.len() >= MIN_ID_PREFIX);
        self.ids_starting(node, prefix).take(limit).count()
    }

    /// The IDs and Swarm IDs of the covered containers that start with
    /// `prefix`, in order (sorted on the first search after a change).
    fn ids_starting<'a>(
        &'a self,
        node: &'a NodeView,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let containers = &node.containers[..self.covered.min(node.containers.len())];
        let key = move |&(position, swarm): &(u32, bool)| -> &'a str {
            let c = &containers[position as usize];
            if swarm {
                c.swarm_id()
            } else {
                &c.id
            }
        };
        let order = self.id_order.get_or_init(|| {
            let mut order: Vec<(u32, bool)> = Vec::with_capacity(2 * containers.len());
            for (position, c) in containers.iter().enumerate() {
                order.push((position as u32, false));
                if !c.swarm_id().is_empty() {
                    order.push((position as u32, true));
                }
            }
            order.sort_by(|a, b| key(a).cmp(key(b)));
            order.into_boxed_slice()
        });
        let start = order.partition_point(|entry| key(entry) < prefix);
        order[start..]
            .iter()
            .map(key)
            .take_while(move |id| id.starts_with(prefix))
    }

    /// The host port bindings of the covered containers.
    pub(crate) fn bindings(&self) -> &[PortBinding] {
        &self.bindings
    }

    /// False when no covered container binds `port` for `protocol` (as
    /// [`PortBinding::protocol`] gives it); true when one may.
    #[inline]
    pub(crate) fn may_bind(&self, port: u16, protocol: &str) -> bool {
        self.port_bits & port_bit(port, protocol) != 0
    }

    /// The exposed ports of the covered host-networked containers.
    pub(crate) fn host_exposed(&self) -> impl Iterator<Item = &str> {
        self.host_exposed.iter().map(|p| &**p)
    }

    /// Bytes the index takes, on the heap and in place; not counted: the
    /// node labels and image names it shares with the nodes that have the
    /// same (see [`NodeIndex::shared_memory`]).
    pub fn memory(&self) -> usize {
        let tables = [&self.label_pairs, &self.name_set];
        std::mem::size_of::<Self>()
            + tables
                .iter()
                .filter_map(|t| t.as_ref())
                .map(StrTable::heap_bytes)
                .sum::<usize>()
            // the strings of bindings and exposed ports are shared with
            // the containers' views
            + self.bindings.capacity() * std::mem::size_of::<PortBinding>()
            + self.host_exposed.capacity() * std::mem::size_of::<Arc<str>>()
            + self.keys.heap_bytes()
            + self.id_order.get().map_or(0, |o| o.len() * 8)
    }

    /// Bytes of what the index shares with the nodes that have the same
    /// labels or images (its node labels, its image names): counted once
    /// per distinct set, not once per node.
    pub fn shared_memory(&self) -> usize {
        self.node_labels
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<NodeLabels>())
            + self
                .image_set
                .as_ref()
                .map_or(0, |i| std::mem::size_of::<ImageNames>() + i.heap_bytes())
    }
}

/// The bit of `port_bits` for a host port and protocol.
#[inline]
fn port_bit(port: u16, protocol: &str) -> u64 {
    let p = protocol.as_bytes();
    let code = u64::from(p.first().copied().unwrap_or(0)) << 24 | (p.len() as u64) << 16;
    1 << ((code | u64::from(port)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58)
}

/// What a node's images offer to `image==` (every name of
/// [`image_names`]), shared by the nodes that have the same images.
#[derive(Debug)]
pub(crate) struct ImageNames {
    /// The names in order, each followed by a `0xff` byte (never in
    /// UTF-8): what equal image names are told by.
    names: Box<[u8]>,
    table: StrTable,
}

impl PartialEq for ImageNames {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl ImageNames {
    /// The names of `images`, shared; `None` when they do not fit a table.
    fn shared(images: &[ImageView]) -> Option<Arc<Self>> {
        static SHARED: OnceLock<Interner<ImageNames>> = OnceLock::new();
        let mut names = Vec::new();
        let mut items = Vec::new();
        for name in images.iter().flat_map(image_names) {
            names.extend_from_slice(name.as_bytes());
            names.push(0xff);
            items.push((hash_str(name), name, None));
        }
        let shared = ImageNames {
            table: StrTable::new(&items)?,
            names: names.into_boxed_slice(),
        };
        let hash = hash_bytes(&shared.names);
        Some(SHARED.get_or_init(Interner::new).intern(hash, shared))
    }

    /// Bytes on the heap.
    fn heap_bytes(&self) -> usize {
        self.names.len() + self.table.heap_bytes()
    }
}

/// Whether the pattern of `expr` matches `text` (the bytes of a `str`).
fn matches_bytes(expr: &Expr, text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok_and(|t| expr.pattern_matches(t))
}

/// A plain hexadecimal value of 3 or more characters also matches image IDs
/// by prefix.
pub(crate) fn is_id_prefix(value: &str) -> bool {
    value.len() >= 3 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A node with its index. Build it once; changes to its containers
/// ([`IndexedNode::insert_container`], [`IndexedNode::remove_container`],
/// [`IndexedNode::replace_container`]), reservations and health go through
/// its methods, which keep the index true.
///
/// The index needs no order of the containers. `insert_container` appends;
/// `remove_container` moves the last container into the place of the one
/// removed (`Vec::swap_remove`); `replace_container` keeps the place. A list
/// kept in ID order does not stay so.
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

    /// Adds a container (one being created) without indexing it: the
    /// filters look at it one by one until the node is indexed again (or
    /// the next `insert_container`, `remove_container` or
    /// `replace_container` indexes it).
    pub fn add_container(&mut self, container: ContainerView) {
        self.view.containers.push(container);
    }

    /// Indexes the containers added by [`IndexedNode::add_container`].
    fn cover_all(&mut self) {
        while self.index.covered < self.view.containers.len() {
            self.index.cover(&self.view.containers, self.index.covered);
        }
    }

    /// Adds a container and indexes it, at the cost of that one container
    /// (amortized).
    pub fn insert_container(&mut self, container: ContainerView) {
        self.cover_all();
        self.view.containers.push(container);
        self.index.cover(&self.view.containers, self.index.covered);
    }

    /// Removes the container whose full ID is `id` and returns it; its
    /// index entries go too. The last container takes its place.
    pub fn remove_container(&mut self, id: &str) -> Option<ContainerView> {
        self.cover_all();
        let position = self.index.position_of(&self.view.containers, id)?;
        self.index.uncover(&self.view.containers, position);
        Some(self.view.containers.swap_remove(position))
    }

    /// Replaces the container with the same full ID (or inserts it);
    /// returns the old one.
    pub fn replace_container(&mut self, container: ContainerView) -> Option<ContainerView> {
        self.cover_all();
        let Some(position) = self.index.position_of(&self.view.containers, &container.id) else {
            self.insert_container(container);
            return None;
        };
        self.index.forget(&self.view.containers[position], position);
        let old = std::mem::replace(&mut self.view.containers[position], container);
        self.index.learn(&self.view.containers[position], position);
        Some(old)
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
