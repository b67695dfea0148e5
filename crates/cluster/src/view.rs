//! Scheduler views of engines, built from their caches.

use shoal_api_types::container::split_port_key;
use shoal_api_types::NodeStatus;
use shoal_engine::{CachedContainer, Engine};
use shoal_scheduler::{ContainerView, ImageView, NodeView, PortBinding};

/// The scheduler's view of one engine as its cache stands.
pub fn node_view(engine: &Engine) -> NodeView {
    let snap = engine.snapshot();
    let healthy = snap.status == NodeStatus::Healthy;
    let (containers, images, reserved) = engine.with_cache(|c| {
        (
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
            c.reserved(snap.cpus),
        )
    });
    let health_indicator = if healthy {
        (100 - 25 * snap.failures as i64).max(0)
    } else {
        0
    };
    NodeView {
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
    }
}

/// One cached container as the scheduler sees it.
pub fn container_view(c: &CachedContainer) -> ContainerView {
    let mut port_bindings: Vec<PortBinding> = Vec::new();
    let mut push = |b: PortBinding| {
        if b.host_port != 0 && !port_bindings.contains(&b) {
            port_bindings.push(b);
        }
    };
    let (image, host_network, exposed_ports) = match &c.inspect {
        Some(i) => {
            for (key, list) in &i.host_config.port_bindings {
                let (_, proto) = split_port_key(key);
                for b in list.iter().flatten() {
                    push(PortBinding {
                        host_ip: b.host_ip.clone(),
                        host_port: b.host_port.parse().unwrap_or(0),
                        protocol: proto.clone(),
                    });
                }
            }
            (
                i.config.image.clone(),
                i.host_config.network_mode == "host",
                i.config.exposed_ports.keys().cloned().collect(),
            )
        }
        None => (c.summary.image.clone(), false, Vec::new()),
    };
    for p in &c.summary.ports {
        push(PortBinding {
            host_ip: p.ip.clone(),
            host_port: p.public_port,
            protocol: p.proto.clone(),
        });
    }
    ContainerView {
        id: c.summary.id.clone(),
        names: vec![format!("/{}", c.name())],
        image,
        labels: c.labels().clone(),
        port_bindings,
        host_network,
        exposed_ports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_view_merges_ports() {
        let c = CachedContainer {
            summary: serde_json::from_value(json!({"Id":"a","Names":["/web"],
                "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                         {"IP":"0.0.0.0","PrivatePort":81,"PublicPort":32768,"Type":"tcp"}]}))
            .unwrap(),
            inspect: Some(
                serde_json::from_value(json!({"Id":"a","Name":"/web",
                    "Config":{"Image":"nginx","ExposedPorts":{"80/tcp":{}}},
                    "HostConfig":{"NetworkMode":"default",
                        "PortBindings":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}}}))
                .unwrap(),
            ),
        };
        let v = container_view(&c);
        assert_eq!(v.names, vec!["/web"]);
        assert_eq!(v.image, "nginx");
        let ports: Vec<u16> = v.port_bindings.iter().map(|p| p.host_port).collect();
        assert_eq!(ports, vec![8080, 32768]);
        assert_eq!(v.exposed_ports, vec!["80/tcp"]);
    }
}
