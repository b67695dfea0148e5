//! Cluster types: a node's health and what `docker info` shows about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::bytes_size;

/// Lifecycle of an engine as the manager sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    /// Added, not validated yet.
    Pending,
    /// Validated and answering.
    Healthy,
    /// Failed `engine-failure-retry` times in a row.
    Unhealthy,
    /// Refused at validation (it stays refused until it answers differently).
    Disconnected,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "Pending",
            NodeStatus::Healthy => "Healthy",
            NodeStatus::Unhealthy => "Unhealthy",
            NodeStatus::Disconnected => "Disconnected",
        }
    }
}

/// One node for the SystemStatus block of `docker info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    pub name: String,
    pub addr: String,
    pub id: String,
    pub status: NodeStatus,
    pub containers: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
    pub reserved_cpus: i64,
    pub total_cpus: i64,
    pub reserved_memory: i64,
    pub total_memory: i64,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, seconds, UTC.
    pub updated_at: String,
    pub server_version: String,
    pub error: String,
}

/// The SystemStatus pairs of `docker info` through the manager, exactly in
/// classic Swarm's layout. `nodes` is sorted here by name.
pub fn system_status(
    role: &str,
    strategy: &str,
    filters: &[&str],
    nodes: &[NodeSummary],
) -> Vec<[String; 2]> {
    let mut out = vec![
        ["Role".to_string(), role.to_string()],
        ["Strategy".to_string(), strategy.to_string()],
        ["Filters".to_string(), filters.join(", ")],
        ["Nodes".to_string(), nodes.len().to_string()],
    ];
    let mut sorted: Vec<&NodeSummary> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then(a.addr.cmp(&b.addr)));
    for n in sorted {
        out.extend(node_lines(n));
    }
    out
}

/// The SystemStatus pairs of one node (see [`system_status`]).
pub fn node_lines(n: &NodeSummary) -> Vec<[String; 2]> {
    let mut out = Vec::with_capacity(11);
    let name = if n.name.is_empty() {
        n.addr.clone()
    } else {
        n.name.clone()
    };
    out.push([format!(" {name}"), n.addr.clone()]);
    out.push(["  └ ID".into(), n.id.clone()]);
    out.push(["  └ Status".into(), n.status.as_str().into()]);
    out.push([
        "  └ Containers".into(),
        format!(
            "{} ({} Running, {} Paused, {} Stopped)",
            n.containers, n.running, n.paused, n.stopped
        ),
    ]);
    out.push([
        "  └ Reserved CPUs".into(),
        format!("{} / {}", n.reserved_cpus, n.total_cpus),
    ]);
    out.push([
        "  └ Reserved Memory".into(),
        format!(
            "{} / {}",
            bytes_size(n.reserved_memory as f64),
            bytes_size(n.total_memory as f64)
        ),
    ]);
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push(["  └ Labels".into(), labels.join(", ")]);
    if !n.error.is_empty() {
        out.push(["  └ Error".into(), n.error.clone()]);
    }
    out.push(["  └ UpdatedAt".into(), n.updated_at.clone()]);
    out.push(["  └ ServerVersion".into(), n.server_version.clone()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_classic_swarm() {
        let mut labels = BTreeMap::new();
        labels.insert("ostype".into(), "linux".into());
        labels.insert("kernelversion".into(), "6.1".into());
        let n = |name: &str| NodeSummary {
            name: name.into(),
            addr: format!("{name}:2375"),
            id: "ID1".into(),
            status: NodeStatus::Healthy,
            containers: 1,
            running: 1,
            paused: 0,
            stopped: 0,
            reserved_cpus: 0,
            total_cpus: 2,
            reserved_memory: 0,
            total_memory: 2 * 1024 * 1024 * 1024,
            labels: labels.clone(),
            updated_at: "2026-11-29T16:25:40Z".into(),
            server_version: "20.10.24+dfsg1".into(),
            error: String::new(),
        };
        let s = system_status(
            "primary",
            "spread",
            &["health", "port"],
            &[n("node-2"), n("node-1")],
        );
        // docker info prints each pair as "<key>: <value>" after one space
        let text: Vec<String> = s.iter().map(|[k, v]| format!(" {k}: {v}")).collect();
        assert_eq!(text[0], " Role: primary");
        assert_eq!(text[2], " Filters: health, port");
        assert_eq!(text[3], " Nodes: 2");
        assert_eq!(text[4], "  node-1: node-1:2375");
        assert_eq!(text[6], "   └ Status: Healthy");
        assert_eq!(
            text[7],
            "   └ Containers: 1 (1 Running, 0 Paused, 0 Stopped)"
        );
        assert_eq!(text[8], "   └ Reserved CPUs: 0 / 2");
        assert_eq!(text[9], "   └ Reserved Memory: 0 B / 2 GiB");
        assert_eq!(text[10], "   └ Labels: kernelversion=6.1, ostype=linux");
        assert_eq!(text[12], "   └ ServerVersion: 20.10.24+dfsg1");
        assert_eq!(text[13], "  node-2: node-2:2375");
    }
}
