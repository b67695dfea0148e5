//! What the scheduler sees of the cluster: one [`NodeView`] per node, built by
//! the manager from its cached engine state. Plain data, no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::container_labels::ContainerLabels;

/// Key/value labels (engine labels, request labels).
pub type Labels = BTreeMap<String, String>;

/// One node as the scheduler sees it at the moment of a placement.
///
/// Laid out in the order written (`repr(C)`): what every placement reads
/// of every node (its container count, totals, reservations and health)
/// last, next to the index of an [`IndexedNode`](crate::IndexedNode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[repr(C)]
pub struct NodeView {
    /// Engine ID (from `/info`).
    pub id: String,
    /// Node name (the engine's hostname).
    pub name: String,
    /// `host:port` of the engine.
    pub addr: String,
    /// Engine `--label` pairs plus the standard labels `storagedriver`,
    /// `kernelversion`, `operatingsystem`, `ostype` (and `executiondriver`
    /// where known), exactly as `docker info` shows them.
    pub labels: Labels,
    /// Images present on the node.
    pub images: Vec<ImageView>,
    /// Every container on the node: running, stopped, and the ones being
    /// created (in flight) through the manager.
    pub containers: Vec<ContainerView>,
    /// CPUs of the engine (`NCPU`), without overcommit: the scheduler applies
    /// `swarm.overcommit` itself.
    pub total_cpus: i64,
    /// Memory of the engine in bytes (`MemTotal`), without overcommit.
    pub total_memory: i64,
    /// CPUs reserved by the containers on the node (running, stopped and
    /// in-flight ones), as a count of CPUs.
    pub reserved_cpus: i64,
    /// Memory in bytes reserved by the containers on the node.
    pub reserved_memory: i64,
    /// Degree of health, 0 to 100: 100 when the last contact succeeded, lower
    /// after recent failures, 0 when unhealthy or pending. Weighs into
    /// `spread` and `binpack`.
    pub health_indicator: i64,
    /// Whether the engine is healthy (only healthy nodes pass the `health`
    /// filter).
    pub healthy: bool,
}

/// One container on a node.
///
/// Compact: its strings are shared (`Arc<str>`) with the engine's record
/// of the container (ID, name, label values) or interned (image, label
/// keys, host IPs, protocols, exposed ports), its lists boxed slices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerView {
    /// Full container ID.
    pub id: Arc<str>,
    /// The container's name as the engine lists it (`/web`); empty when it
    /// has none (a container being created without a name).
    pub name: Arc<str>,
    /// Image the container was created from.
    pub image: Arc<str>,
    /// Container labels (including `com.docker.swarm.id`).
    pub labels: ContainerLabels,
    /// Host ports the container binds: from `HostConfig.PortBindings`
    /// (requested, also when stopped) and `NetworkSettings.Ports` (actual,
    /// dynamically allocated ones too), merged.
    pub port_bindings: Box<[PortBinding]>,
    /// `HostConfig.NetworkMode == "host"`.
    pub host_network: bool,
    /// `Config.ExposedPorts` keys (`80/tcp`); compared for host networking.
    pub exposed_ports: Box<[Arc<str>]>,
}

/// A host port binding, as in Docker's `PortBindings` values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortBinding {
    /// Host interface address; empty or `0.0.0.0` means every interface.
    pub host_ip: Arc<str>,
    /// Host port; 0 means "not given" (the engine picks one) and never
    /// conflicts.
    pub host_port: u16,
    /// `tcp` (also when empty), `udp` or `sctp`.
    pub protocol: Arc<str>,
}

impl PortBinding {
    /// A TCP binding on every interface.
    pub fn tcp(host_port: u16) -> Self {
        PortBinding {
            host_ip: Arc::default(),
            host_port,
            protocol: Arc::default(),
        }
    }

    /// Whether the binding covers every interface.
    pub fn binds_all_interfaces(&self) -> bool {
        self.host_ip.is_empty() || &*self.host_ip == "0.0.0.0"
    }

    /// The protocol, `tcp` when none is given.
    pub fn protocol(&self) -> &str {
        if self.protocol.is_empty() {
            "tcp"
        } else {
            &self.protocol
        }
    }
}

/// One image on a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageView {
    /// Image ID (`sha256:...`).
    pub id: String,
    /// `repo:tag` names of the image.
    pub repo_tags: Vec<String>,
}

impl NodeView {
    /// The value of the node label `key`, compared exactly.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Length of a short (truncated) ID, as `docker ps` shows it.
pub const SHORT_ID_LEN: usize = 12;

pub use shoal_api_types::SWARM_ID_LABEL;

/// The 12-character short form of an ID longer than that.
/// The shortest ID prefix a dependency or affinity may name a container by.
pub const MIN_ID_PREFIX: usize = 5;

pub(crate) fn short_id(id: &str) -> Option<&str> {
    id.get(..SHORT_ID_LEN)
        .filter(|short| short.len() < id.len())
}

impl ContainerView {
    /// The container's own name, without the leading `/`.
    pub fn name(&self) -> Option<&str> {
        self.names()
            .next()
            .map(|name| name.strip_prefix('/').unwrap_or(name))
    }

    /// Its names as the engine lists them (`/web`): its own, when it has
    /// one.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        Some(&*self.name).filter(|n| !n.is_empty()).into_iter()
    }

    /// The Swarm ID (label `com.docker.swarm.id`), empty when there is none.
    pub fn swarm_id(&self) -> &str {
        self.labels.get(SWARM_ID_LABEL).unwrap_or("")
    }
}

impl NodeView {
    /// Finds a container on this node as classic Swarm did: by full or short
    /// ID, by full or short Swarm ID, by name (`name`, `/name`,
    /// `NODE-NAME/name` or `NODE-ID/name`), then by a unique ID or Swarm ID
    /// prefix.
    pub fn find_container(&self, id_or_name: &str) -> Option<&ContainerView> {
        find_in(&self.name, &self.id, self.containers.iter(), id_or_name)
    }
}

/// Whether `container` answers to `id_or_name` exactly (ID, short ID, Swarm
/// ID, short Swarm ID, or a name as [`NodeView::find_container`] reads it)
/// on the node named `node_name` with ID `node_id`.
pub(crate) fn is_exactly(
    container: &ContainerView,
    node_name: &str,
    node_id: &str,
    id_or_name: &str,
) -> bool {
    by_id(container, id_or_name)
        || by_swarm_id(container, id_or_name)
        || by_name(container, node_name, node_id, id_or_name)
}

fn by_id(c: &ContainerView, id_or_name: &str) -> bool {
    &*c.id == id_or_name || short_id(&c.id) == Some(id_or_name)
}

fn by_swarm_id(c: &ContainerView, id_or_name: &str) -> bool {
    let swarm_id = c.swarm_id();
    !swarm_id.is_empty() && (swarm_id == id_or_name || short_id(swarm_id) == Some(id_or_name))
}

/// `NODE/name` on the node whose name or ID is `node`: `/name`.
pub(crate) fn on_node<'q>(node: &str, id_or_name: &'q str) -> Option<&'q str> {
    id_or_name
        .strip_prefix(node)
        .filter(|rest| rest.starts_with('/'))
}

fn by_name(c: &ContainerView, node_name: &str, node_id: &str, id_or_name: &str) -> bool {
    c.names().any(|name| {
        name == id_or_name
            || name.strip_prefix('/') == Some(id_or_name)
            || on_node(node_name, id_or_name) == Some(name)
            || on_node(node_id, id_or_name) == Some(name)
    })
}

/// How many IDs and Swarm IDs of `containers` start with `prefix` (a
/// container whose ID and Swarm ID both do counts twice), up to `limit`.
pub(crate) fn count_prefixed<'a>(
    containers: impl Iterator<Item = &'a ContainerView>,
    prefix: &str,
    limit: usize,
) -> usize {
    let mut count = 0;
    for c in containers {
        if count >= limit {
            break;
        }
        count += usize::from(c.id.starts_with(prefix));
        let swarm_id = c.swarm_id();
        count += usize::from(!swarm_id.is_empty() && swarm_id.starts_with(prefix));
    }
    count.min(limit)
}

/// [`NodeView::find_container`] over any list of a node's containers (its
/// own and those in flight).
pub(crate) fn find_in<'a, I>(
    node_name: &str,
    node_id: &str,
    containers: I,
    id_or_name: &str,
) -> Option<&'a ContainerView>
where
    I: Iterator<Item = &'a ContainerView> + Clone,
{
    if id_or_name.is_empty() {
        return None;
    }
    if let Some(found) = containers.clone().find(|c| by_id(c, id_or_name)) {
        return Some(found);
    }
    if let Some(found) = containers.clone().find(|c| by_swarm_id(c, id_or_name)) {
        return Some(found);
    }
    if let Some(found) = containers
        .clone()
        .find(|c| by_name(c, node_name, node_id, id_or_name))
    {
        return Some(found);
    }
    // An ID prefix only when it is long enough to mean one: a short
    // name ("db") is also a hex prefix of some container's ID or swarm
    // ID on some node in a cluster, which must not pass for it.
    if id_or_name.len() < MIN_ID_PREFIX {
        return None;
    }
    let mut by_prefix = containers
        .clone()
        .filter(|c| c.id.starts_with(id_or_name))
        .chain(containers.filter(|c| {
            let swarm_id = c.swarm_id();
            !swarm_id.is_empty() && swarm_id.starts_with(id_or_name)
        }));
    match (by_prefix.next(), by_prefix.next()) {
        (Some(found), None) => Some(found),
        _ => None,
    }
}
