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
//! Containers appended after indexing (in-flight ones) are fine: the filters
//! look at those one by one.

use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::expr::Expr;
use crate::filter::affinity::{bare_id, container_names, image_names};
use crate::node::{ContainerView, NodeView, PortBinding};

/// Precomputed lookups over a node's containers and images.
#[derive(Debug, Clone, Default)]
pub struct NodeIndex {
    /// How many of the node's containers (from the first) it covers.
    covered: usize,
    /// Per container with a name: the name (no `/`), the ID, the short ID.
    container_names: FxHashSet<Box<str>>,
    /// Per container label key: the values seen, and how many carry it.
    labels: FxHashMap<Box<str>, LabelValues>,
    /// Per image: the ID, the ID without `sha256:`, every `repo:tag`, every
    /// repository.
    image_names: FxHashSet<Box<str>>,
    /// Image IDs without `sha256:`, for prefix matches.
    image_ids: Vec<Box<str>>,
    /// Every host port binding of the covered containers.
    bindings: Vec<PortBinding>,
    /// Exposed ports of the covered host-networked containers.
    host_exposed: Vec<Box<str>>,
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
        for image in &node.images {
            index.image_names.extend(image_names(image).map(Box::from));
            index.image_ids.push(bare_id(image).into());
        }
        index
    }

    /// How many of the node's containers the index covers.
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
pub struct IndexedNode {
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

/// Something the scheduler can place on: a [`NodeView`], an
/// [`IndexedNode`], or a reference, `Box`, `Rc` or `Arc` of one.
pub trait NodeSource {
    /// The node.
    fn view(&self) -> &NodeView;

    /// Its index, if it has one.
    fn index(&self) -> Option<&NodeIndex> {
        None
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

macro_rules! forward_node_source {
    ($($wrapper:ty),*) => {$(
        impl<T: NodeSource + ?Sized> NodeSource for $wrapper {
            fn view(&self) -> &NodeView {
                (**self).view()
            }

            fn index(&self) -> Option<&NodeIndex> {
                (**self).index()
            }
        }
    )*};
}

forward_node_source!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

/// What a filter looks at: the node, and its index when there is one.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    view: &'a NodeView,
    index: Option<&'a NodeIndex>,
}

impl<'a> NodeRef<'a> {
    /// A node without index.
    pub fn new(view: &'a NodeView) -> Self {
        NodeRef { view, index: None }
    }

    /// The node of `source`, with its index if any.
    pub fn of<S: NodeSource + ?Sized>(source: &'a S) -> Self {
        NodeRef {
            view: source.view(),
            index: source.index(),
        }
    }

    /// The node.
    pub fn view(&self) -> &'a NodeView {
        self.view
    }

    /// The index, when there is one that is still usable (the node has at
    /// least the containers it covered).
    pub fn index(&self) -> Option<&'a NodeIndex> {
        self.index
            .filter(|index| index.covered() <= self.view.containers.len())
    }

    /// The containers the index does not cover (all of them without index).
    pub fn unindexed_containers(&self) -> &'a [ContainerView] {
        let covered = self.index().map_or(0, NodeIndex::covered);
        &self.view.containers[covered..]
    }
}

impl Deref for NodeRef<'_> {
    type Target = NodeView;

    fn deref(&self) -> &NodeView {
        self.view
    }
}
