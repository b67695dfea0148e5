//! Builders for the unit tests.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::filter::PreparedRequest;
use crate::index::{IndexedNode, NodeRef, Overlaid, Overlay};
pub use crate::node::{ContainerView, ImageView, NodeView, PortBinding};
use crate::request::ContainerRequest;

pub const GIB: i64 = 1 << 30;

/// A 64-hex-digit ID derived from `seed`.
pub fn hex_id(seed: &str) -> String {
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    let h = hasher.finish();
    format!(
        "{h:016x}{:016x}{h:016x}{:016x}",
        h.rotate_left(17),
        h.rotate_left(41)
    )
}

/// A healthy node with 4 CPUs and 4 GiB, nothing reserved, nothing on it.
pub fn node(name: &str) -> NodeView {
    NodeView {
        id: format!("ID-{}", name.to_uppercase()),
        name: name.to_string(),
        addr: format!("10.0.0.{}:2375", name.len()),
        total_cpus: 4,
        total_memory: 4 * GIB,
        healthy: true,
        health_indicator: 100,
        ..Default::default()
    }
}

/// A container named `name`.
pub fn container(name: &str) -> ContainerView {
    ContainerView {
        id: hex_id(name).into(),
        name: format!("/{name}").into(),
        image: "busybox".into(),
        ..Default::default()
    }
}

pub trait NodeBuilder {
    fn label(self, key: &str, value: &str) -> Self;
    fn with(self, container: ContainerView) -> Self;
    fn image(self, id: &str, tags: &[&str]) -> Self;
    fn reserved(self, cpus: i64, memory: i64) -> Self;
    fn health(self, healthy: bool, indicator: i64) -> Self;
}

impl NodeBuilder for NodeView {
    fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
    fn with(mut self, container: ContainerView) -> Self {
        self.containers.push(container);
        self
    }
    fn image(mut self, id: &str, tags: &[&str]) -> Self {
        self.images.push(ImageView {
            id: id.to_string(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
        });
        self
    }
    fn reserved(mut self, cpus: i64, memory: i64) -> Self {
        self.reserved_cpus = cpus;
        self.reserved_memory = memory;
        self
    }
    fn health(mut self, healthy: bool, indicator: i64) -> Self {
        self.healthy = healthy;
        self.health_indicator = indicator;
        self
    }
}

pub trait ContainerBuilder {
    fn label(self, key: &str, value: &str) -> Self;
    fn bind(self, host_ip: &str, host_port: u16, protocol: &str) -> Self;
    fn host_exposing(self, ports: &[&str]) -> Self;
}

impl ContainerBuilder for ContainerView {
    fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key, value);
        self
    }
    fn bind(mut self, host_ip: &str, host_port: u16, protocol: &str) -> Self {
        let mut bindings = std::mem::take(&mut self.port_bindings).into_vec();
        bindings.push(PortBinding {
            host_ip: host_ip.into(),
            host_port,
            protocol: protocol.into(),
        });
        self.port_bindings = bindings.into();
        self
    }
    fn host_exposing(mut self, ports: &[&str]) -> Self {
        self.host_network = true;
        self.exposed_ports = ports.iter().map(|&p| p.into()).collect();
        self
    }
}

/// A request with these constraints and affinities.
pub fn request(constraints: &[&str], affinities: &[&str]) -> ContainerRequest {
    ContainerRequest {
        image: "busybox".to_string(),
        constraints: constraints.iter().map(|c| c.to_string()).collect(),
        affinities: affinities.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

/// The names of the nodes `filter` accepts, soft expressions in force or
/// not. Checks on the way that indexed nodes get the same answers, also with
/// half of their containers added after indexing or laid over the node in
/// flight.
pub fn accepted<'n>(
    filter: &dyn crate::filter::Filter,
    request: &ContainerRequest,
    nodes: &'n [NodeView],
    soft: bool,
) -> Vec<&'n str> {
    let prepared = PreparedRequest::new(request).expect("request parses");
    let plain: Vec<&str> = nodes
        .iter()
        .filter(|n| filter.accepts(&prepared, NodeRef::new(n), soft))
        .map(|n| n.name.as_str())
        .collect();
    for node in nodes {
        let expected = plain.contains(&node.name.as_str());
        let indexed = IndexedNode::new(node.clone());
        assert_eq!(
            filter.accepts(&prepared, NodeRef::of(&indexed), soft),
            expected,
            "indexed {}",
            node.name
        );
        let mut half = node.clone();
        let tail = half.containers.split_off(node.containers.len() / 2);
        let overlay = Overlay {
            containers: &tail,
            ..Default::default()
        };
        let half_indexed = IndexedNode::new(half.clone());
        assert_eq!(
            filter.accepts(
                &prepared,
                NodeRef::of(&Overlaid::new(&half_indexed, overlay)),
                soft
            ),
            expected,
            "indexed {} with the rest in flight",
            node.name
        );
        assert_eq!(
            filter.accepts(&prepared, NodeRef::of(&Overlaid::new(&half, overlay)), soft),
            expected,
            "{} with the rest in flight",
            node.name
        );
        let mut partly = IndexedNode::new(half);
        tail.into_iter().for_each(|c| partly.add_container(c));
        assert_eq!(
            filter.accepts(&prepared, NodeRef::of(&partly), soft),
            expected,
            "partly indexed {}",
            node.name
        );
    }
    plain
}

/// The conditions `filter` lists for `request`.
pub fn conditions(filter: &dyn crate::filter::Filter, request: &ContainerRequest) -> Vec<String> {
    let prepared = PreparedRequest::new(request).expect("request parses");
    let mut out = Vec::new();
    filter.conditions(&prepared, &mut out);
    out
}
