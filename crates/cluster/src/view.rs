//! Scheduler views of engines, built from their caches.

use shoal_api_types::NodeStatus;
use shoal_engine::{CachedContainer, Engine};
use shoal_scheduler::{ContainerView, ImageView, NodeView, PortBinding};

use crate::nodes::ImageSet;

/// The scheduler's view of one engine as its cache stands.
pub fn node_view(engine: &Engine) -> NodeView {
    built(engine).1
}

/// [`node_view`], with the generation of the cache it was read from and the
/// names the node's images answer to. The cache is read first, under its
/// lock with the generation: if the engine changes before the rest is read,
/// the view is newer than its generation says, and is only rebuilt again.
pub(crate) fn built(engine: &Engine) -> (u64, NodeView, ImageSet) {
    let (generation, containers, images, image_set) = engine.with_cache(|c| {
        (
            engine.generation(),
            c.containers
                .values()
                .map(container_view)
                .collect::<Vec<_>>(),
            c.images
                .iter()
                .map(|i| ImageView {
                    id: i.id.clone(),
                    repo_tags: i.repo_tags.clone(),
                })
                .collect::<Vec<_>>(),
            ImageSet::new(&c.images),
        )
    });
    let snap = engine.snapshot();
    let reserved = engine.with_cache(|c| c.reserved(snap.cpus));
    let healthy = snap.status == NodeStatus::Healthy;
    let health_indicator = if healthy {
        (100 - 25 * snap.failures as i64).max(0)
    } else {
        0
    };
    let view = NodeView {
        id: snap.id,
        name: snap.name,
        addr: snap.addr,
        labels: snap.labels,
        total_cpus: snap.cpus,
        total_memory: snap.memory,
        reserved_cpus: reserved.0,
        reserved_memory: reserved.1,
        healthy,
        health_indicator,
        containers,
        images,
    };
    (generation, view, image_set)
}

/// One cached container as the scheduler sees it.
pub fn container_view(c: &CachedContainer) -> ContainerView {
    ContainerView {
        id: c.id().to_string(),
        names: vec![format!("/{}", c.name())],
        image: c.image().to_string(),
        labels: c.labels().to_map(),
        port_bindings: c
            .host_ports()
            .iter()
            .map(|p| PortBinding {
                host_ip: p.host_ip.to_string(),
                host_port: p.host_port,
                protocol: p.proto.to_string(),
            })
            .collect(),
        host_network: c.network_mode() == "host",
        exposed_ports: c.exposed_ports().iter().map(|p| p.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_view_merges_ports() {
        let i: shoal_api_types::ContainerInspect =
            serde_json::from_value(json!({"Id":"a","Name":"/web",
            "Config":{"Image":"nginx","ExposedPorts":{"80/tcp":{}}},
            "HostConfig":{"NetworkMode":"default",
                "PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}},
            "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],
                "81/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"}]}}}))
            .unwrap();
        let c = CachedContainer::from_inspect(&i);
        let v = container_view(&c);
        assert_eq!(v.names, vec!["/web"]);
        assert_eq!(v.image, "nginx");
        let ports: Vec<u16> = v.port_bindings.iter().map(|p| p.host_port).collect();
        assert_eq!(ports, vec![8080, 32768]);
        assert_eq!(v.exposed_ports, vec!["80/tcp"]);
    }
}
