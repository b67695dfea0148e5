//! The nodes updated with what changed in the engines' caches are the
//! nodes a read of every cache from scratch gives: views, reservations,
//! health, the container index, lookups and placements.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shoal_api_types::{ContainerInspect, Info, NodeStatus, SWARM_ID_LABEL};
use shoal_engine::{CachedContainer, Engine, EngineCache, EngineOpts, EventHub, RunState};
use shoal_scheduler::{
    ContainerRequest, IndexedNode, NodeRef, NodeView, PortBinding, Scheduler, SchedulerConfig,
};

use crate::nodes::ContainerIndex;
use crate::{Cluster, ClusterOpts};

const IDS: usize = 40;
const NAMES: [&str; 6] = ["web", "db", "cache", "api", "worker", "web2"];

fn id(n: usize) -> String {
    format!("{n:02x}").repeat(32)
}

/// A container as an inspect gives it: random name, labels, reservation
/// and ports, from small pools so that they collide.
fn random_container(rng: &mut StdRng) -> CachedContainer {
    let name = NAMES[rng.gen_range(0..NAMES.len())];
    let mut labels = BTreeMap::new();
    labels.insert(
        SWARM_ID_LABEL.to_string(),
        format!("s{}", rng.gen_range(0..8)),
    );
    if rng.gen_bool(0.5) {
        labels.insert("tier".to_string(), format!("t{}", rng.gen_range(0..3)));
    }
    let port = rng.gen_bool(0.3).then(|| 8000 + rng.gen_range(0..4));
    let bindings = port
        .map(|p| json!({"80/tcp": [{"HostIp": "", "HostPort": p.to_string()}]}))
        .unwrap_or(json!({}));
    let host = rng.gen_bool(0.1);
    let inspect: ContainerInspect = serde_json::from_value(json!({
        "Id": id(rng.gen_range(0..IDS)),
        "Name": format!("/{name}"),
        "State": {"Status": if rng.gen_bool(0.5) { "running" } else { "created" }},
        "Config": {"Image": if rng.gen_bool(0.5) { "busybox" } else { "redis:6" },
                   "Labels": labels, "ExposedPorts": {"80/tcp": {}}},
        "HostConfig": {
            "NanoCpus": if rng.gen_bool(0.2) { 1_000_000_000i64 } else { 0 },
            "CpuShares": if rng.gen_bool(0.2) { 512 } else { 0 },
            "Memory": if rng.gen_bool(0.3) { rng.gen_range(1..100) } else { 0 },
            "NetworkMode": if host { "host" } else { "default" },
            "PortBindings": bindings
        }
    }))
    .unwrap();
    CachedContainer::from_inspect(&inspect)
}

fn info(name: &str, ncpu: i64) -> Info {
    Info {
        id: format!("ID-{name}"),
        name: name.into(),
        ncpu,
        mem_total: 1000,
        ..Default::default()
    }
}

fn random_cache(rng: &mut StdRng) -> EngineCache {
    let mut cache = EngineCache::default();
    for _ in 0..rng.gen_range(0..10) {
        let c = random_container(rng);
        cache.containers.insert(c.id().to_string(), c);
    }
    cache
}

/// One random change of engine `e` (named `name`), through the calls the
/// manager and the engine lifecycle make.
fn random_change(rng: &mut StdRng, e: &Engine, name: &str) {
    match rng.gen_range(0..100) {
        // created or inspected again (maybe renamed, relabelled)
        0..=44 => e.insert_container(random_container(rng)),
        // destroyed
        45..=69 => e.forget_container(&id(rng.gen_range(0..IDS))),
        // started or stopped by the manager
        70..=84 => {
            let state = if rng.gen_bool(0.5) {
                RunState::Running
            } else {
                RunState::Exited
            };
            e.set_container_state(&id(rng.gen_range(0..IDS)), state);
        }
        // a full reload: new cache, maybe another health or CPU count
        85..=94 => {
            let status = if rng.gen_bool(0.8) {
                NodeStatus::Healthy
            } else {
                NodeStatus::Unhealthy
            };
            let ncpu = if rng.gen_bool(0.5) { 2 } else { 4 };
            e.seed_for_tests(info(name, ncpu), status, random_cache(rng));
        }
        // nothing the node shows (a container not there forgotten by name)
        _ => e.forget_container("nope"),
    }
}

/// The node of `e` read from scratch, containers in ID order.
fn fresh_view(e: &Engine) -> NodeView {
    let mut v = crate::view::node_view(e);
    v.containers.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

#[test]
fn nodes_updated_by_deltas_equal_nodes_read_from_scratch() {
    let scheduler = Scheduler::new(&SchedulerConfig::default()).unwrap();
    for seed in 0..12u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let names = ["n1", "n2", "n3"];
        let engines: Vec<Arc<Engine>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let e = Engine::new(
                    &format!("10.0.0.{}:2375", i + 1),
                    EngineOpts::default(),
                    Arc::new(EventHub::new(8)),
                )
                .unwrap();
                e.seed_for_tests(info(name, 2), NodeStatus::Healthy, random_cache(&mut rng));
                e
            })
            .collect();
        let c = Cluster::new(
            Scheduler::new(&SchedulerConfig::default()).unwrap(),
            ClusterOpts::default(),
        );
        for e in &engines {
            c.insert_engine(e.clone());
        }
        for step in 0..300 {
            let k = rng.gen_range(0..engines.len());
            random_change(&mut rng, &engines[k], names[k]);
            // a placement may hold the node list while nodes change
            let held = rng.gen_bool(0.2).then(|| c.nodes().list().clone());
            if rng.gen_bool(0.6) {
                continue;
            }
            let cache = c.nodes();
            let nodes = cache.list().clone();
            let mut index = ContainerIndex::default();
            for (n, e) in nodes.iter().zip(&engines) {
                let fresh = fresh_view(e);
                let mut got = n.view().clone();
                got.containers.sort_by(|a, b| a.id.cmp(&b.id));
                assert_eq!(got, fresh, "seed {seed} step {step} {}", e.addr());
                for cv in &fresh.containers {
                    index.insert(e, cv);
                }
                // the node's own index answers as one built afresh
                let rebuilt = IndexedNode::new(fresh.clone());
                let mut queries: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
                queries.extend((0..IDS).step_by(7).map(id));
                queries.extend((0..IDS).step_by(7).map(|i| id(i)[..12].to_string()));
                queries.extend((0..8).map(|i| format!("s{i}")));
                for q in &queries {
                    assert_eq!(
                        NodeRef::of(&n.node).has_container(q),
                        NodeRef::of(&rebuilt).has_container(q),
                        "seed {seed} step {step} {q}"
                    );
                }
            }
            assert_eq!(
                cache.containers.dump(),
                index.dump(),
                "seed {seed} step {step}"
            );
            drop(cache);
            // placements over them agree with placements over fresh nodes
            let fresh: Vec<IndexedNode> = engines
                .iter()
                .map(|e| IndexedNode::new(crate::view::node_view(e)))
                .collect();
            let requests = [
                ContainerRequest {
                    affinities: vec![format!("container=={}", NAMES[step % NAMES.len()])],
                    ..Default::default()
                },
                ContainerRequest {
                    affinities: vec!["tier!=t1".into()],
                    ..Default::default()
                },
                ContainerRequest {
                    port_bindings: vec![PortBinding::tcp(8000 + (step % 4) as u16)],
                    memory: 10,
                    ..Default::default()
                },
            ];
            for req in &requests {
                let cached: Vec<&IndexedNode> = nodes.iter().map(|n| &n.node).collect();
                let a = scheduler.select(&cached, req).map(|p| p.index).ok();
                let b = scheduler.select(&fresh, req).map(|p| p.index).ok();
                assert_eq!(a, b, "seed {seed} step {step} {req:?}");
            }
            drop(held);
        }
        let stats = c.node_cache_stats();
        assert!(
            stats.delta_reads > stats.whole_reads,
            "seed {seed}: most updates are deltas: {stats:?}"
        );
        assert!(stats.containers_changed > 0, "{stats:?}");
    }
}
