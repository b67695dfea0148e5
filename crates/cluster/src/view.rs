//! Scheduler views of engines, built from their caches: the whole node, or
//! only the containers that changed since the node was last read.

use shoal_api_types::NodeStatus;
use shoal_engine::{CacheRead, CachedContainer, Changes, Engine, EngineCache, EngineSnapshot};
use shoal_scheduler::{ContainerLabels, ContainerView, ImageView, NodeView, PortBinding};

use crate::nodes::ImageSet;
use crate::reservations::Reservations;

/// The scheduler's view of one engine as its cache stands.
pub fn node_view(engine: &Engine) -> NodeView {
    let snap = engine.snapshot();
    let (containers, images, reserved) = engine.with_cache(|c| {
        (
            c.containers.values().map(container_view).collect(),
            image_views(c),
            c.reserved(snap.cpus),
        )
    });
    let mut view = bare_view(&snap, containers, images);
    (view.reserved_cpus, view.reserved_memory) = reserved;
    view
}

/// What the cluster reads of an engine for its node.
pub(crate) enum Read {
    /// The whole node (the first read, or a change deltas cannot express).
    Whole(Box<WholeNode>),
    /// Only what changed since the last read.
    Changed(NodeDelta),
}

/// A node read in full, at `generation`.
pub(crate) struct WholeNode {
    pub(crate) generation: u64,
    pub(crate) view: NodeView,
    pub(crate) images: ImageSet,
    pub(crate) reservations: Reservations,
}

/// What changed in a node since it was last read.
pub(crate) struct NodeDelta {
    pub(crate) generation: u64,
    pub(crate) healthy: bool,
    pub(crate) health_indicator: i64,
    /// Per container changed (full ID, in ID order): what it is now, or
    /// `None` when it is gone.
    pub(crate) containers: Vec<(Box<str>, Option<ContainerNow>)>,
}

/// A container as a node holds it.
pub(crate) struct ContainerNow {
    pub(crate) view: ContainerView,
    /// (CPUs, memory) it reserves.
    pub(crate) reserved: (i64, i64),
}

/// Reads engine `engine` for its node, which holds what the engine had at
/// generation `seen` (`None`: nothing yet). The cache is read under its
/// lock with the generation; the engine's own identity and resources after
/// it (a change of those meanwhile makes the next read whole again).
pub(crate) fn read(engine: &Engine, seen: Option<u64>) -> Read {
    let mut read = engine.read_changes(seen, |r: CacheRead<'_>| match r.changes {
        Changes::Containers(ids) => {
            let (healthy, health_indicator) = health(r.status, r.failures);
            let containers = ids
                .into_iter()
                .map(|id| {
                    let now = r.cache.containers.get(&*id).map(|c| ContainerNow {
                        view: container_view(c),
                        reserved: c.reserved(r.ncpu),
                    });
                    (id, now)
                })
                .collect();
            Read::Changed(NodeDelta {
                generation: r.generation,
                healthy,
                health_indicator,
                containers,
            })
        }
        Changes::All => {
            let mut reservations = Reservations::default();
            let containers = r
                .cache
                .containers
                .values()
                .map(|c| {
                    reservations.set(c.id(), c.reserved(r.ncpu));
                    container_view(c)
                })
                .collect::<Vec<_>>();
            let view = NodeView {
                containers,
                images: image_views(r.cache),
                ..Default::default()
            };
            Read::Whole(Box::new(WholeNode {
                generation: r.generation,
                view,
                images: ImageSet::new(&r.cache.images),
                reservations,
            }))
        }
    });
    if let Read::Whole(w) = &mut read {
        let containers = std::mem::take(&mut w.view.containers);
        let images = std::mem::take(&mut w.view.images);
        w.view = bare_view(&engine.snapshot(), containers, images);
        (w.view.reserved_cpus, w.view.reserved_memory) = w.reservations.totals();
    }
    read
}

fn image_views(cache: &EngineCache) -> Vec<ImageView> {
    cache
        .images
        .iter()
        .map(|i| ImageView {
            id: i.id.clone(),
            repo_tags: i.repo_tags.clone(),
        })
        .collect()
}

/// Whether a node is healthy, and its health indicator.
pub(crate) fn health(status: NodeStatus, failures: u32) -> (bool, i64) {
    let healthy = status == NodeStatus::Healthy;
    let indicator = if healthy {
        (100 - 25 * failures as i64).max(0)
    } else {
        0
    };
    (healthy, indicator)
}

/// The view of an engine with these containers and images, nothing
/// reserved.
fn bare_view(
    snap: &EngineSnapshot,
    containers: Vec<ContainerView>,
    images: Vec<ImageView>,
) -> NodeView {
    let (healthy, health_indicator) = health(snap.status, snap.failures);
    NodeView {
        id: snap.id.clone(),
        name: snap.name.clone(),
        addr: snap.addr.clone(),
        labels: snap.labels.clone(),
        total_cpus: snap.cpus,
        total_memory: snap.memory,
        reserved_cpus: 0,
        reserved_memory: 0,
        healthy,
        health_indicator,
        containers,
        images,
    }
}

/// One cached container as the scheduler sees it: its strings shared with
/// the record (ID, name, image, labels, ports), nothing copied.
pub fn container_view(c: &CachedContainer) -> ContainerView {
    ContainerView {
        id: c.shared_id().clone(),
        name: c.slashed_name().clone(),
        image: c.shared_image().clone(),
        labels: ContainerLabels::from_sorted(c.labels().shared().iter().cloned()),
        port_bindings: c
            .host_ports()
            .iter()
            .map(|p| PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port,
                protocol: p.proto.clone(),
            })
            .collect(),
        host_network: c.network_mode() == "host",
        exposed_ports: c.exposed_ports().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

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
        assert_eq!(v.names().collect::<Vec<_>>(), vec!["/web"]);
        assert_eq!(v.name(), Some("web"));
        assert_eq!(&*v.image, "nginx");
        let ports: Vec<u16> = v.port_bindings.iter().map(|p| p.host_port).collect();
        assert_eq!(ports, vec![8080, 32768]);
        assert_eq!(&*v.exposed_ports, [Arc::<str>::from("80/tcp")]);
        // shared with the record, not copied
        assert!(Arc::ptr_eq(&v.id, c.shared_id()));
        assert!(Arc::ptr_eq(&v.name, c.slashed_name()));
        assert!(Arc::ptr_eq(&v.image, c.shared_image()));
    }

    #[test]
    fn container_view_shares_the_labels_of_the_record() {
        let i: shoal_api_types::ContainerInspect = serde_json::from_value(json!({"Id":"b",
            "Name":"/db","Config":{"Image":"redis","Labels":{"z":"1","com.docker.swarm.id":"s1"}}}))
        .unwrap();
        let c = CachedContainer::from_inspect(&i);
        let v = container_view(&c);
        assert_eq!(v.swarm_id(), "s1");
        assert_eq!(
            v.labels.iter().collect::<Vec<_>>(),
            c.labels().iter().collect::<Vec<_>>()
        );
        let (_, record_value) = &c.labels().shared()[0];
        let view_value = v
            .labels
            .get_shared("com.docker.swarm.id")
            .expect("swarm id");
        assert!(Arc::ptr_eq(view_value, record_value));
    }
}
