//! Cluster logic on engines whose state is set by hand (no I/O): lookup,
//! reservations, network placement.

use std::sync::Arc;

use serde_json::{json, Value};
use shoal_api_types::ImageSummary;
use shoal_api_types::{Info, NodeStatus, SWARM_ID_LABEL};
use shoal_engine::{CachedContainer, Engine, EngineCache, EngineOpts, EventHub};
use shoal_scheduler::{ContainerRequest, PortBinding, Scheduler, SchedulerConfig};

use crate::{Cluster, ClusterError, ClusterOpts};

fn container(id: &str, name: &str, swarm_id: &str) -> CachedContainer {
    let summary = serde_json::from_value(json!({
        "Id": id, "Names": [format!("/{name}")], "State": "running", "Labels": {SWARM_ID_LABEL: swarm_id}
    }))
    .unwrap();
    CachedContainer::from_summary(&summary)
}

fn engine(
    addr: &str,
    name: &str,
    containers: Vec<CachedContainer>,
    networks: Vec<Value>,
) -> Arc<Engine> {
    let mut cache = EngineCache::default();
    for c in containers {
        cache.containers.insert(c.id().to_string(), c);
    }
    cache.networks = networks;
    seeded(addr, name, cache)
}

fn seeded(addr: &str, name: &str, cache: EngineCache) -> Arc<Engine> {
    seeded_engine(addr, name, NodeStatus::Healthy, cache)
}

/// An engine at `addr` named `name` (2 CPUs, 1000 B), in `status`, holding
/// `cache`, without any call to it.
pub(crate) fn seeded_engine(
    addr: &str,
    name: &str,
    status: NodeStatus,
    cache: EngineCache,
) -> Arc<Engine> {
    let e = Engine::new(addr, EngineOpts::default(), Arc::new(EventHub::new(8))).unwrap();
    let info = Info {
        id: format!("ID-{name}"),
        name: name.into(),
        ncpu: 2,
        mem_total: 1000,
        ..Default::default()
    };
    e.seed_for_tests(info, status, cache);
    e
}

fn cluster(engines: Vec<Arc<Engine>>) -> Arc<Cluster> {
    let c = Cluster::new(
        Scheduler::new(&SchedulerConfig::default()).unwrap(),
        ClusterOpts::default(),
    );
    for e in engines {
        c.insert_engine(e);
    }
    c
}

fn found(c: &Cluster, q: &str) -> Option<(String, String)> {
    c.find_cached(q).unwrap().map(|(e, id)| (e.name(), id))
}

#[test]
fn lookup_by_id_prefix_swarm_id_name_and_node_name() {
    let c = cluster(vec![
        engine(
            "10.0.0.1:2375",
            "n1",
            vec![container("abc123", "web", "s1")],
            vec![],
        ),
        engine(
            "10.0.0.2:2375",
            "n2",
            vec![
                container("abd456", "db", "s2"),
                container("fff789", "web", "s3"),
            ],
            vec![],
        ),
    ]);
    let some = |n: &str, id: &str| Some((n.to_string(), id.to_string()));
    assert_eq!(found(&c, "abc123"), some("n1", "abc123"));
    assert_eq!(found(&c, "abc"), some("n1", "abc123"));
    assert_eq!(found(&c, "db"), some("n2", "abd456"));
    assert_eq!(found(&c, "/db"), some("n2", "abd456"));
    assert_eq!(found(&c, "s2"), some("n2", "abd456"));
    assert_eq!(found(&c, "n2/web"), some("n2", "fff789"));
    assert_eq!(found(&c, "/n1/web"), some("n1", "abc123"));
    assert_eq!(found(&c, "zzz"), None);
    assert!(
        matches!(c.find_cached("web"), Err(ClusterError::Ambiguous(_))),
        "one name on two nodes"
    );
    assert!(
        matches!(c.find_cached("ab"), Err(ClusterError::Ambiguous(_))),
        "a prefix of two IDs"
    );
    assert_eq!(c.name_taken("db").as_deref(), Some("abd456"));
    assert_eq!(c.name_taken("nope"), None);
}

#[test]
fn reservations_are_taken_before_the_engine_answers() {
    let c = cluster(vec![
        engine("10.0.0.1:2375", "n1", vec![], vec![]),
        engine("10.0.0.2:2375", "n2", vec![], vec![]),
    ]);
    let req = ContainerRequest {
        image: "busybox".into(),
        memory: 600,
        ..Default::default()
    };
    // 1000 bytes a node (+5% overcommit): one 600-byte container each, held in flight
    let (e1, g1) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
    let (e2, g2) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
    assert_ne!(e1.addr(), e2.addr(), "the second goes to the other node");
    let full = c.reserve(None, &req, &Default::default(), &[]);
    assert!(
        matches!(full, Err(ClusterError::Schedule(_))),
        "no room left while both are in flight"
    );
    drop(g1);
    let (e3, _g3) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
    assert_eq!(e3.addr(), e1.addr(), "room again once a create is over");
    drop(g2);

    // a name in flight, or in a cache, is taken
    let small = ContainerRequest {
        image: "busybox".into(),
        ..Default::default()
    };
    let _named = c
        .reserve(Some("web"), &small, &Default::default(), &[])
        .unwrap();
    assert!(matches!(
        c.reserve(Some("web"), &small, &Default::default(), &[]),
        Err(ClusterError::NameInUse { .. })
    ));
}

#[test]
fn excluded_nodes_are_skipped() {
    let c = cluster(vec![
        engine("10.0.0.1:2375", "n1", vec![], vec![]),
        engine("10.0.0.2:2375", "n2", vec![], vec![]),
    ]);
    let req = ContainerRequest {
        image: "busybox".into(),
        ..Default::default()
    };
    for _ in 0..4 {
        let (e, _g) = c
            .reserve(
                None,
                &req,
                &Default::default(),
                &["10.0.0.1:2375".to_string()],
            )
            .unwrap();
        assert_eq!(e.name(), "n2");
    }
}

#[test]
fn local_networks_pin_containers_global_ones_do_not() {
    let local = json!({"Name": "mynet", "Id": "1111111111111111", "Scope": "local"});
    let global = json!({"Name": "ov", "Id": "2222222222222222", "Scope": "global"});
    let c = cluster(vec![
        engine("10.0.0.1:2375", "n1", vec![], vec![local, global]),
        engine("10.0.0.2:2375", "n2", vec![], vec![]),
    ]);
    assert_eq!(c.nodes_without_network("mynet"), vec!["10.0.0.2:2375"]);
    assert_eq!(
        c.nodes_without_network("111111111111"),
        vec!["10.0.0.2:2375"]
    );
    assert!(
        c.nodes_without_network("ov").is_empty(),
        "an overlay reaches every node"
    );
    assert!(c.nodes_without_network("unknown").is_empty());
    assert!(c.nodes_without_network("bridge").is_empty());
    assert!(c.nodes_without_network("container:web").is_empty());
}

/// A cluster of n1, with container `web` (abc123, Swarm ID s1), and an
/// empty n2: n2 and the cluster.
fn web_on_n1_and_empty_n2() -> (Arc<Engine>, Arc<Cluster>) {
    let n1 = engine(
        "10.0.0.1:2375",
        "n1",
        vec![container("abc123", "web", "s1")],
        vec![],
    );
    let n2 = engine("10.0.0.2:2375", "n2", vec![], vec![]);
    let c = cluster(vec![n1, n2.clone()]);
    (n2, c)
}

#[test]
fn the_index_follows_the_caches() {
    let (n2, c) = web_on_n1_and_empty_n2();
    let some = |n: &str, id: &str| Some((n.to_string(), id.to_string()));
    assert_eq!(found(&c, "web"), some("n1", "abc123"));
    // a container arrives on n2: found by name, ID prefix and Swarm ID
    n2.insert_container(container("abd456", "db", "s2"));
    assert_eq!(found(&c, "db"), some("n2", "abd456"));
    assert_eq!(found(&c, "abd"), some("n2", "abd456"));
    assert_eq!(found(&c, "s2"), some("n2", "abd456"));
    assert_eq!(c.name_taken("db").as_deref(), Some("abd456"));
    assert!(matches!(
        c.find_cached("ab"),
        Err(ClusterError::Ambiguous(_))
    ));
    // it goes: its name is free again, its prefix no longer ambiguous
    n2.forget_container("abd456");
    assert_eq!(found(&c, "db"), None);
    assert_eq!(c.name_taken("db"), None);
    assert_eq!(found(&c, "ab"), some("n1", "abc123"));
    // a name given on two nodes is ambiguous, one in flight on none
    n2.insert_container(container("fff789", "web", "s3"));
    assert!(matches!(
        c.find_cached("web"),
        Err(ClusterError::Ambiguous(_))
    ));
    assert_eq!(found(&c, "fff789"), some("n2", "fff789"));
    // an exact name wins over ID prefixes
    n2.insert_container(container("dddd01", "ddd", "s4"));
    n2.insert_container(container("ddd002", "other", "s5"));
    assert_eq!(found(&c, "ddd"), some("n2", "dddd01"));
    assert!(matches!(
        c.find_cached("dd"),
        Err(ClusterError::Ambiguous(_))
    ));
    // renamed (same ID, new name and Swarm ID): the old name is free
    n2.insert_container(container("fff789", "api", "s6"));
    assert_eq!(found(&c, "web"), some("n1", "abc123"));
    assert_eq!(found(&c, "api"), some("n2", "fff789"));
    assert_eq!(found(&c, "s6"), some("n2", "fff789"));
    assert_eq!(found(&c, "s3"), None);
}

#[test]
fn nodes_are_rebuilt_only_when_their_engine_changed() {
    let (n2, c) = web_on_n1_and_empty_n2();
    let before = c.nodes().list().clone();
    let again = c.nodes().list().clone();
    for (a, b) in before.iter().zip(again.iter()) {
        assert!(Arc::ptr_eq(a, b), "unchanged engines keep their node");
    }
    n2.insert_container(container("abd456", "db", "s2"));
    let after = c.nodes().list().clone();
    assert!(Arc::ptr_eq(&before[0], &after[0]), "n1 did not change");
    assert!(!Arc::ptr_eq(&before[1], &after[1]), "n2 did");
    assert_eq!(after[1].view().containers.len(), 1);
    assert_eq!(&*after[1].view().containers[0].id, "abd456");
}

#[test]
fn in_flight_containers_count_for_ports_labels_and_slots() {
    let c = cluster(vec![
        engine("10.0.0.1:2375", "n1", vec![], vec![]),
        engine("10.0.0.2:2375", "n2", vec![], vec![]),
    ]);
    // one host port per node: the third is refused while two are in flight
    let web = ContainerRequest {
        image: "nginx".into(),
        port_bindings: vec![PortBinding::tcp(8080)],
        ..Default::default()
    };
    let (e1, _g1) = c.reserve(None, &web, &Default::default(), &[]).unwrap();
    let (e2, _g2) = c.reserve(None, &web, &Default::default(), &[]).unwrap();
    assert_ne!(e1.addr(), e2.addr());
    assert!(matches!(
        c.reserve(None, &web, &Default::default(), &[]),
        Err(ClusterError::Schedule(_))
    ));
    // label anti-affinity sees the labels of replicas in flight
    let replica = ContainerRequest {
        image: "busybox".into(),
        affinities: vec!["service!=db".into()],
        ..Default::default()
    };
    let labels = [("service".to_string(), "db".to_string())].into();
    let (r1, _h1) = c.reserve(None, &replica, &labels, &[]).unwrap();
    let (r2, _h2) = c.reserve(None, &replica, &labels, &[]).unwrap();
    assert_ne!(r1.addr(), r2.addr());
    assert!(c.reserve(None, &replica, &labels, &[]).is_err());
}

#[test]
fn nodes_with_the_image_are_preferred() {
    let with_image = seeded(
        "10.0.0.2:2375",
        "n2",
        EngineCache {
            images: vec![ImageSummary {
                id: "sha256:0123456789abcdef".into(),
                repo_tags: vec!["redis:6".into()],
                repo_digests: vec!["redis@sha256:feed".into()],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    let c = cluster(vec![
        engine("10.0.0.1:2375", "n1", vec![], vec![]),
        with_image,
        engine("10.0.0.3:2375", "n3", vec![], vec![]),
    ]);
    for image in [
        "redis:6",
        "docker.io/library/redis:6",
        "redis@sha256:feed",
        "0123456789",
    ] {
        let req = ContainerRequest {
            image: image.into(),
            ..Default::default()
        };
        // even with containers in flight there already
        let (e, _g) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
        let (again, _h) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
        assert_eq!(
            (e.name(), again.name()),
            ("n2".into(), "n2".into()),
            "{image}"
        );
    }
    let other = ContainerRequest {
        image: "redis:7".into(),
        ..Default::default()
    };
    let (e, _g) = c.reserve(None, &other, &Default::default(), &[]).unwrap();
    assert_eq!(e.name(), "n1", "no node has it: spread as usual");
}

#[test]
fn an_engine_removed_takes_its_containers_out_of_the_index() {
    let (n2, c) = web_on_n1_and_empty_n2();
    n2.insert_container(container("abd456", "db", "s2"));
    assert_eq!(c.name_taken("db").as_deref(), Some("abd456"));
    c.set_engines(&["10.0.0.1:2375".to_string()]);
    assert_eq!(c.name_taken("db"), None);
    assert_eq!(found(&c, "abd"), None);
    assert_eq!(
        found(&c, "ab"),
        Some(("n1".to_string(), "abc123".to_string())),
        "a prefix no longer ambiguous"
    );
    assert_eq!(c.nodes().list().clone().len(), 1);
}

/// How many healthy nodes have an image is kept as engines change (an
/// image pulled, a node turning unhealthy), without asking every node.
#[test]
fn image_presence_follows_the_engines() {
    let redis = || EngineCache {
        images: vec![ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["redis:6".into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let info = |name: &str| Info {
        id: format!("ID-{name}"),
        name: name.into(),
        ncpu: 2,
        mem_total: 1000,
        ..Default::default()
    };
    let n1 = engine("10.0.0.1:2375", "n1", vec![], vec![]);
    let n2 = seeded("10.0.0.2:2375", "n2", redis());
    let n3 = engine("10.0.0.3:2375", "n3", vec![], vec![]);
    let c = cluster(vec![n1.clone(), n2, n3.clone()]);
    let req = ContainerRequest {
        image: "redis:6".into(),
        ..Default::default()
    };
    let presence = |c: &Cluster| {
        let mut cache = c.nodes();
        cache.image_presence(&crate::nodes::WantedImage::new("redis:6"))
    };
    assert_eq!(presence(&c), (3, 1));
    assert_eq!(
        c.reserve(None, &req, &Default::default(), &[])
            .unwrap()
            .0
            .name(),
        "n2"
    );
    // pulled on n3: kept up to date, not recounted
    n3.seed_for_tests(info("n3"), NodeStatus::Healthy, redis());
    assert_eq!(presence(&c), (3, 2));
    // n1 unhealthy: every healthy node has it
    n1.seed_for_tests(info("n1"), NodeStatus::Unhealthy, EngineCache::default());
    assert_eq!(presence(&c), (2, 2));
    // an engine added: counted afresh
    c.insert_engine(engine("10.0.0.4:2375", "n4", vec![], vec![]));
    assert_eq!(presence(&c), (3, 2));
    let (e, _g) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
    assert!(["n2", "n3"].contains(&e.name().as_str()), "{}", e.name());
}

/// Containers asking for nothing go where the pass over every node would
/// put them: the healthiest node with the fewest containers (in flight
/// counted), the first on a tie; a node the filters refuse is passed over.
#[test]
fn plain_placements_follow_the_spread_order() {
    let slots = |name: &str, n: &str| {
        let e = engine(&format!("10.0.1.{}:2375", name.len()), name, vec![], vec![]);
        let info = Info {
            id: format!("ID-{name}"),
            name: name.into(),
            ncpu: 2,
            mem_total: 1000,
            labels: vec![format!("containerslots={n}")],
            ..Default::default()
        };
        e.seed_for_tests(info, NodeStatus::Healthy, EngineCache::default());
        e
    };
    let n1 = engine(
        "10.0.0.1:2375",
        "n1",
        vec![container("a1", "a1", "s1"), container("a2", "a2", "s2")],
        vec![],
    );
    let n2 = engine(
        "10.0.0.2:2375",
        "n2",
        vec![container("b1", "b1", "s3")],
        vec![],
    );
    // no room at all: first in the order, refused by containerslots
    let full = slots("n0", "0");
    let c = cluster(vec![full, n1, n2.clone()]);
    let req = ContainerRequest::new("busybox");
    let mut held = Vec::new();
    let mut placed = Vec::new();
    for _ in 0..4 {
        let (e, g) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
        placed.push(e.name());
        held.push(g);
    }
    // n2 (1) -> n2 (2, ties n1 at 2: n1 is first) ... counted in flight
    assert_eq!(placed, ["n2", "n1", "n2", "n1"]);
    drop(held);
    // a node emptied comes first again
    n2.seed_for_tests(
        Info {
            id: "ID-n2".into(),
            name: "n2".into(),
            ncpu: 2,
            mem_total: 1000,
            ..Default::default()
        },
        NodeStatus::Healthy,
        EngineCache::default(),
    );
    let (e, _g) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
    assert_eq!(e.name(), "n2", "emptied: fewest containers");
    // with a constraint the filters decide: n1 only
    let on_n1 = ContainerRequest {
        constraints: vec!["node==n1".into()],
        ..ContainerRequest::new("busybox")
    };
    let (e, _g) = c.reserve(None, &on_n1, &Default::default(), &[]).unwrap();
    assert_eq!(e.name(), "n1");
}

/// On clusters of every shape (containers, health, slots, images), with
/// containers in flight, a placement through the spread order lands where
/// the scheduler's pass over every node would.
#[test]
fn the_spread_order_agrees_with_the_pass_over_every_node() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for round in 0..60 {
        // the image on no node, on every node, or on some (then the nodes
        // with it are preferred, through the pass over every node)
        let image_odds = [0.0, 1.0, 0.5][round % 3];
        let engines: Vec<Arc<Engine>> = (0..rng.gen_range(1..12))
            .map(|n| {
                let name = format!("n{n}");
                let containers: Vec<CachedContainer> = (0..rng.gen_range(0..5))
                    .map(|k| {
                        let id = format!("{round:02}{n:02}{k:02}");
                        container(&id, &format!("c{id}"), &format!("s{id}"))
                    })
                    .collect();
                let mut cache = EngineCache::default();
                for c in containers {
                    cache.containers.insert(c.id().to_string(), c);
                }
                if rng.gen_bool(image_odds) {
                    cache.images = vec![ImageSummary {
                        id: "sha256:0123456789abcdef".into(),
                        repo_tags: vec!["busybox:latest".into()],
                        ..Default::default()
                    }];
                }
                let mut labels = Vec::new();
                if rng.gen_bool(0.2) {
                    labels.push(format!("containerslots={}", rng.gen_range(0..6)));
                }
                let status = if rng.gen_bool(0.8) {
                    NodeStatus::Healthy
                } else {
                    NodeStatus::Unhealthy
                };
                let e = Engine::new(
                    &format!("10.0.{round}.{n}:2375"),
                    EngineOpts::default(),
                    Arc::new(EventHub::new(8)),
                )
                .unwrap();
                let info = Info {
                    id: format!("ID-{name}"),
                    name,
                    ncpu: 2,
                    mem_total: 1000,
                    labels,
                    ..Default::default()
                };
                e.seed_for_tests(info, status, cache);
                e
            })
            .collect();
        let c = cluster(engines);
        let req = ContainerRequest::new("busybox");
        let mut held = Vec::new();
        for _ in 0..8 {
            let Some(expected) = c.full_pass_choice(&req) else {
                // nowhere to go: the placement is refused too
                assert!(c.reserve(None, &req, &Default::default(), &[]).is_err());
                break;
            };
            let (e, g) = c.reserve(None, &req, &Default::default(), &[]).unwrap();
            assert_eq!(e.addr(), expected, "round {round}");
            held.push(g);
        }
    }
}
