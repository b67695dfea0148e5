//! Cluster logic on engines whose state is set by hand (no I/O): lookup,
//! reservations, network placement.

use std::sync::Arc;

use serde_json::{json, Value};
use shoal_api_types::{Info, NodeStatus, SWARM_ID_LABEL};
use shoal_engine::{CachedContainer, Engine, EngineCache, EngineOpts, EventHub};
use shoal_scheduler::{ContainerRequest, Scheduler, SchedulerConfig};

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
    let e = Engine::new(addr, EngineOpts::default(), Arc::new(EventHub::new(8))).unwrap();
    let info = Info {
        id: format!("ID-{name}"),
        name: name.into(),
        ncpu: 2,
        mem_total: 1000,
        ..Default::default()
    };
    let mut cache = EngineCache::default();
    for c in containers {
        cache.containers.insert(c.id().to_string(), c);
    }
    cache.networks = networks;
    e.seed_for_tests(info, NodeStatus::Healthy, cache);
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
